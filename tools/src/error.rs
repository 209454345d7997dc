//! The two ways a command can fail, and the exit code each one maps to.

use std::process::ExitCode;

/// Exit code of a usage error (clap uses the same for its own parse errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the broker refused a request or could not be reached.
pub const EXIT_FAILED: u8 = 1;

/// A whole-command failure. Per-item broker errors (one link or topic of several) are not
/// `ToolError`s: they are collected in [`crate::Report::errors`] so the other items still
/// print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// Bad flags, or a config/filter file that cannot be read or is invalid. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The broker could not be reached or rejected the request as a whole. Exit 1.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    pub fn usage(message: impl Into<String>) -> Self {
        ToolError::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ToolError::Usage(_) => EXIT_USAGE,
            ToolError::Failed(_) => EXIT_FAILED,
        }
    }
}

/// Prints `Error: ...` on stderr and returns the matching exit code.
pub fn report_error(e: &ToolError) -> ExitCode {
    eprintln!("Error: {}", one_line(&e.to_string()));
    ExitCode::from(e.exit_code())
}

/// Collapses a message onto one line, so every error is exactly one line of stderr.
pub fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
