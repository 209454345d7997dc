//! Java `.properties` text, as Kafka reads `server.properties` and client config files.
//!
//! Supports `key=value`, `key: value` and `key value`, `#`/`!` comments, backslash line
//! continuations and the usual escapes (`\t \n \r \f \\ \uXXXX`, and any escaped character
//! standing for itself). Later keys override earlier ones. Parsing never fails on content;
//! only a `\u` escape that is not four hex digits is an error, reported with its line.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub struct PropertiesError {
    pub line: usize,
    pub message: String,
}

/// Parses properties text into an ordered map.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, PropertiesError> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let first_line = index + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues.
        let mut logical = String::from(trimmed);
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key, first_line)?;
        let value = unescape(value, first_line)?;
        out.insert(key, value);
    }
    Ok(out)
}

fn ends_with_continuation(s: &str) -> bool {
    s.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str, line: usize) -> Result<String, PropertiesError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| PropertiesError {
                        line,
                        message: format!("malformed \\u escape '\\u{hex}'"),
                    })?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_style_files() {
        let text = "# comment\n! also comment\nbootstrap.servers=a:1,b:2\n\
            sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n  \
            username=\"u\" password=\"p=q\";\nkey2 : spaced value \nkey3 plain\nempty=\n\
            path=C:\\\\dir\\u0041\n";
        let p = parse(text).unwrap();
        assert_eq!(p["bootstrap.servers"], "a:1,b:2");
        assert_eq!(
            p["sasl.jaas.config"],
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p=q\";"
        );
        assert_eq!(p["key2"], "spaced value ");
        assert_eq!(p["key3"], "plain");
        assert_eq!(p["empty"], "");
        assert_eq!(p["path"], "C:\\dirA");
    }

    #[test]
    fn bad_unicode_escape_names_the_line() {
        let e = parse("a=1\nb=\\uZZ\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
