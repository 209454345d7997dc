//! Rendering: aligned tables for people, JSON for scripts, one-line broker errors.
//!
//! Rendering is pure (responses in, text out) so the exact output is unit-tested without a
//! broker; the binaries only print what these functions return.

use serde::Serialize;
use strait_protocol::ErrorCode;

use crate::error::one_line;

/// `--output`: `table` (default) or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// What a command prints: `out` on stdout, then each of `errors` as `Error: <line>` on
/// stderr. Any error makes the exit code 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub out: String,
    pub errors: Vec<String>,
}

impl Report {
    /// Prints the report and returns the exit code (0, or 1 when any item failed).
    pub fn emit(&self) -> std::process::ExitCode {
        if !self.out.is_empty() {
            print!("{}", self.out);
            if !self.out.ends_with('\n') {
                println!();
            }
        }
        for e in &self.errors {
            eprintln!("Error: {e}");
        }
        if self.errors.is_empty() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(crate::error::EXIT_FAILED)
        }
    }
}

/// Left-aligned columns separated by two spaces; trailing spaces trimmed. Widths count
/// characters, not bytes, so non-ASCII names still line up in a terminal.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate().take(columns) {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            s.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// Pretty JSON with a trailing newline. Serialising our own plain structs cannot fail;
/// if it ever did, the error is reported as JSON rather than panicking.
pub fn json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(s) => s + "\n",
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

/// `-` for an absent value in a table cell.
pub fn or_dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}

/// `-` for the protocol's "unknown" (-1) in a numeric table cell.
pub fn num_or_dash(v: i64) -> String {
    if v < 0 {
        "-".to_string()
    } else {
        v.to_string()
    }
}

/// Kafka's name for an error code (`ResourceNotFound`), `None` for 0.
pub fn code_name(code: i16) -> Option<String> {
    ErrorCode::try_from_code(code).map(|c| c.to_string())
}

/// One line describing a failed item, or `None` when `code` is 0.
///
/// The broker's message is used as is when it already names the item (Strait's messages
/// usually do: "cluster link 'x' does not exist"); otherwise it is prefixed with
/// `<what> '<name>': `. Without a message, the Kafka error name and code are shown.
pub fn item_error(what: &str, name: &str, code: i16, message: Option<&str>) -> Option<String> {
    let err = ErrorCode::try_from_code(code)?;
    let message = message.map(one_line).filter(|m| !m.is_empty());
    Some(match message {
        Some(m) if m.contains(&format!("'{name}'")) => m,
        Some(m) => format!("{what} '{name}': {m}"),
        None => format!("{what} '{name}': {err} (error code {code})"),
    })
}

/// An error for a whole response (`error_code` at the top level), or `None` when 0.
///
/// A message that quotes a name ("cluster link 'x' does not exist") already says what
/// failed and is used as is; otherwise it is prefixed with `what`.
pub fn response_error(what: &str, code: i16, message: Option<&str>) -> Option<String> {
    let err = ErrorCode::try_from_code(code)?;
    let message = message.map(one_line).filter(|m| !m.is_empty());
    Some(match message {
        Some(m) if m.contains('\'') => m,
        Some(m) => format!("{what}: {m}"),
        None => format!("{what}: {err} (error code {code})"),
    })
}

/// The JSON shape of one per-item result.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ItemJson {
    pub name: String,
    pub error_code: i16,
    /// Kafka's error name, `null` on success.
    pub error: Option<String>,
    pub error_message: Option<String>,
    /// Failover: per partition, the open mirrored transactions aborted (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_transactions: Option<Vec<AbortedJson>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AbortedJson {
    pub partition: i32,
    pub aborted_transactions: i64,
}

impl ItemJson {
    pub fn from_result(r: &strait_protocol::admin::ItemResult) -> Self {
        ItemJson {
            name: r.name.clone(),
            error_code: r.error_code,
            error: code_name(r.error_code),
            error_message: r.error_message.clone(),
            aborted_transactions: (!r.aborted_transactions.is_empty()).then(|| {
                r.aborted_transactions
                    .iter()
                    .map(|c| AbortedJson {
                        partition: c.partition,
                        aborted_transactions: c.count,
                    })
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_trims() {
        let t = table(
            &["A", "LONGER"],
            &[
                vec!["xyz".into(), "1".into()],
                vec!["é".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A    LONGER\nxyz  1\né    22\n");
    }

    #[test]
    fn item_errors() {
        assert_eq!(item_error("cluster link", "x", 0, Some("ignored")), None);
        assert_eq!(
            item_error(
                "cluster link",
                "x",
                91,
                Some("cluster link 'x' does not exist")
            )
            .as_deref(),
            Some("cluster link 'x' does not exist")
        );
        assert_eq!(
            item_error("cluster link", "x", 42, Some("bad\nthing")).as_deref(),
            Some("cluster link 'x': bad thing")
        );
        assert_eq!(
            item_error("mirror topic", "t", 91, None).as_deref(),
            Some("mirror topic 't': ResourceNotFound (error code 91)")
        );
        assert_eq!(
            response_error("list", 91, Some("cluster link 'x' does not exist")).as_deref(),
            Some("cluster link 'x' does not exist")
        );
        assert_eq!(
            response_error("list", 7, Some("took too long")).as_deref(),
            Some("list: took too long")
        );
        assert_eq!(
            response_error("list", 7, None).as_deref(),
            Some("list: RequestTimedOut (error code 7)")
        );
        assert_eq!(response_error("list", 0, Some("x")), None);
    }
}
