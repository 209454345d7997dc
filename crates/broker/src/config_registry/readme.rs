//! The README's configuration tables, rendered from the registry. The test below fails
//! when README.md's section between `<!-- config-tables:begin -->` and
//! `<!-- config-tables:end -->` differs from the rendering; run it with
//! `STRAIT_UPDATE_README=1` (`STRAIT_UPDATE_README=1 cargo test -p strait-broker --lib
//! readme`) to rewrite that section.

use super::topic_keys::{TopicEffect, TOPIC_KEYS};
use super::{broker_keys::BROKER_KEYS, security_keys::SECURITY_KEYS, KeyDef, Support};

pub const BEGIN: &str = "<!-- config-tables:begin -->";
pub const END: &str = "<!-- config-tables:end -->";

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn default_cell(d: Option<&str>) -> String {
    match d {
        None => "null".to_string(),
        Some("") => "\"\"".to_string(),
        Some(v) => format!("`{}`", cell(v)),
    }
}

fn what(d: &KeyDef) -> String {
    let mut s = cell(d.doc);
    match d.support {
        Support::Applied => {}
        Support::SingleNode => s.push_str(" *Other values are refused (single node).*"),
        Support::Replication => {
            s.push_str(" *Validated and stored; takes effect with replication.*")
        }
        Support::OnlyDefault(why) => s.push_str(&format!(" *Only the default: {}.*", cell(why))),
        Support::Refused(why) => s.push_str(&format!(" *Refused: {}.*", cell(why))),
    }
    s
}

fn key_table(out: &mut String, keys: &[KeyDef], listener_note: bool) {
    out.push_str("| key | type | default | Strait |\n|---|---|---|---|\n");
    for d in keys {
        let name = if listener_note && d.per_listener {
            format!("`{}` (per listener)", d.name)
        } else {
            format!("`{}`", d.name)
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            d.kind.name(),
            default_cell(d.default),
            what(d)
        ));
    }
}

/// The generated section, markers excluded.
pub fn render() -> String {
    let mut out = String::new();
    out.push_str("\n_Generated from `crates/broker/src/config_registry/` by its `readme` test; do not edit by hand._\n\n");
    out.push_str("**Broker keys** (static: `server.properties` or `--override`).\n\n");
    key_table(&mut out, BROKER_KEYS, false);
    out.push_str("\n**Security keys** (static). \"Per listener\": may be given as `listener.name.<listener>.<key>` (listener name lower-case), which wins over `<key>`; `listener.name.<listener>.<mechanism>.sasl.jaas.config` gives one mechanism its JAAS entry.\n\n");
    key_table(&mut out, SECURITY_KEYS, true);
    out.push_str("\n**Topic configs**, with the broker keys that set their cluster-wide default. Those broker keys are also dynamic: AlterConfigs / IncrementalAlterConfigs on the broker resource (`\"\"` for the cluster default, or the node id) persist them and apply them to every topic without an override.\n\n");
    out.push_str(
        "| topic key | type | default | broker keys (dynamic) | Strait |\n|---|---|---|---|---|\n",
    );
    for d in TOPIC_KEYS {
        let synonyms: Vec<String> = d.synonyms.iter().map(|s| format!("`{}`", s.key)).collect();
        let effect = match d.effect {
            TopicEffect::Log | TopicEffect::Produce => "",
            TopicEffect::Replication => " *Applied by the active controller's leader elections.*",
        };
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} | {}{effect} |\n",
            d.name,
            d.kind.name(),
            d.default,
            synonyms.join(", "),
            cell(d.doc)
        ));
    }
    out.push_str("\nAny other topic key is refused with INVALID_CONFIG naming it; any other broker key gets Kafka's warning (\"supplied but isn't a known config\") and is ignored.\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_tables_match_the_registry() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
            panic!("README.md has no {BEGIN} ... {END} section");
        };
        let current = &text[b + BEGIN.len()..e];
        let wanted = render();
        if current == wanted {
            return;
        }
        if std::env::var_os("STRAIT_UPDATE_README").is_some() {
            let updated = format!("{}{BEGIN}{wanted}{}", &text[..b], &text[e..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "README.md's configuration tables are out of date; rerun with STRAIT_UPDATE_README=1"
        );
    }
}
