//! The error a handler answers with: a Kafka error code plus a message for the client.

use strait_protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: Some(message.into()),
        }
    }
    pub fn code(code: ErrorCode) -> Self {
        ApiError {
            code,
            message: None,
        }
    }
    pub fn error_code(&self) -> i16 {
        self.code.code()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{}: {m}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl std::error::Error for ApiError {}
