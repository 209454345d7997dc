//! Confluent's flag form to clap subcommands.
//!
//! Confluent's tools select the operation with a flag anywhere on the line
//! (`kafka-cluster-links --bootstrap-server b:9092 --create --link l`), ours with a
//! subcommand (`cluster-links create --bootstrap-server b:9092 --link l`). Both must work,
//! so before clap sees argv we find the operation, remove it and put the subcommand first.
//! A subcommand word given after some flags is moved first too.
//!
//! To tell a subcommand word from a flag's value (`--link create` names a link "create"),
//! the scan skips the value of every flag that takes one; that set is read from the clap
//! definition itself, so it cannot drift from the real flags.

use std::collections::HashSet;
use std::ffi::OsString;

use crate::error::ToolError;

/// The operation flags of one tool: `(flag, subcommand)`, e.g. `("--unpause", "resume")`.
pub type OpFlags = &'static [(&'static str, &'static str)];
/// Confluent operations Strait does not implement: `(flag, why)`.
pub type Unsupported = &'static [(&'static str, &'static str)];

/// Rewrites `args` (program name first) into subcommand form.
pub fn normalize(
    args: Vec<OsString>,
    command: &clap::Command,
    ops: OpFlags,
    unsupported: Unsupported,
) -> Result<Vec<OsString>, ToolError> {
    let mut value_flags: HashSet<String> = HashSet::new();
    let mut subcommands: HashSet<String> = HashSet::new();
    for sub in command.get_subcommands() {
        subcommands.insert(sub.get_name().to_string());
        subcommands.extend(sub.get_all_aliases().map(str::to_string));
        for arg in sub.get_arguments() {
            if !arg.get_action().takes_values() {
                continue;
            }
            if let Some(long) = arg.get_long() {
                value_flags.insert(format!("--{long}"));
            }
            if let Some(aliases) = arg.get_all_aliases() {
                value_flags.extend(aliases.into_iter().map(|a| format!("--{a}")));
            }
            if let Some(short) = arg.get_short() {
                value_flags.insert(format!("-{short}"));
            }
        }
    }

    let mut op: Option<(usize, &str, &str)> = None; // (index, flag, subcommand)
    let mut word: Option<(usize, String)> = None;
    let mut i = 1;
    while i < args.len() {
        // Non-UTF-8 arguments can only be values; clap reports them if they are not.
        let Some(tok) = args[i].to_str() else {
            i += 1;
            continue;
        };
        if tok == "--" {
            break;
        }
        if let Some((flag, why)) = unsupported.iter().find(|(f, _)| *f == tok) {
            return Err(ToolError::usage(format!("{flag} is not supported: {why}")));
        }
        if let Some((flag, sub)) = ops.iter().find(|(f, _)| *f == tok) {
            if let Some((_, other, _)) = op {
                return Err(ToolError::usage(format!(
                    "give only one operation: both {other} and {flag} were given"
                )));
            }
            op = Some((i, flag, sub));
        } else if tok.starts_with('-') {
            if !tok.contains('=') && value_flags.contains(tok) {
                i += 1; // skip the flag's value
            }
        } else if word.is_none() && subcommands.contains(tok) {
            word = Some((i, tok.to_string()));
        }
        i += 1;
    }

    let mut out = args;
    match (op, word) {
        (Some((oi, flag, sub)), Some((wi, w))) => {
            let same = command
                .find_subcommand(&w)
                .is_some_and(|s| s.get_name() == sub);
            if !same {
                return Err(ToolError::usage(format!(
                    "give only one operation: both '{w}' and {flag} were given"
                )));
            }
            out.remove(oi);
            let wi = if oi < wi { wi - 1 } else { wi };
            let w = out.remove(wi);
            out.insert(1, w);
        }
        (Some((oi, _, sub)), None) => {
            out.remove(oi);
            out.insert(1, OsString::from(sub));
        }
        (None, Some((wi, _))) => {
            let w = out.remove(wi);
            out.insert(1, w);
        }
        (None, None) => {
            // Without an operation clap would blame the first flag ("unexpected argument
            // '--bootstrap-server'"); say what is actually missing. Bare help/version
            // requests still reach clap.
            let asks_help = out.iter().skip(1).any(|a| {
                matches!(
                    a.to_str(),
                    Some("-h" | "--help" | "-V" | "--version" | "help")
                )
            });
            if out.len() > 1 && !asks_help {
                let flags: Vec<&str> = ops.iter().map(|(f, _)| *f).collect();
                let words: Vec<&str> = command.get_subcommands().map(|s| s.get_name()).collect();
                return Err(ToolError::usage(format!(
                    "no operation given: use one of {} (or a subcommand: {})",
                    flags.join(", "),
                    words.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// Why argv could not become a command.
#[derive(Debug)]
pub enum ParseError {
    /// Our own check (conflicting or unsupported operations): exit 2.
    Usage(ToolError),
    /// clap's error, or its `--help` / `--version` output (exit 0).
    Clap(clap::Error),
}

impl ParseError {
    /// Prints the error (or help) and returns the exit code.
    pub fn exit(self) -> std::process::ExitCode {
        match self {
            ParseError::Usage(e) => crate::error::report_error(&e),
            ParseError::Clap(e) => {
                let _ = e.print();
                let code = u8::try_from(e.exit_code()).unwrap_or(crate::error::EXIT_USAGE);
                std::process::ExitCode::from(code)
            }
        }
    }
}

/// Normalises `args` and parses them into `C`.
pub fn parse_cli<C: clap::Parser>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
    ops: OpFlags,
    unsupported: Unsupported,
) -> Result<C, ParseError> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = C::command();
    let args = normalize(args, &command, ops, unsupported).map_err(ParseError::Usage)?;
    C::try_parse_from(args).map_err(ParseError::Clap)
}

/// Runs an async command on a small runtime (the tools make a handful of requests).
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, ToolError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ToolError::failed(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(f))
}
