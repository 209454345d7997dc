//! Mirror and link states, with Confluent's names.

/// A mirror topic's persisted state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MirrorState {
    /// Mirroring; the topic is read-only.
    Active,
    /// Mirroring paused by an operator; still read-only.
    Paused,
    /// Promote requested: the fetcher copies up to the source high watermark read after
    /// the request, is fenced, then one commit makes it STOPPED (see `crate::cutover`).
    /// Client produce requests are held meanwhile.
    PendingStopped,
    /// Promoted or failed over: a normal writable topic.
    Stopped,
    /// Mirroring failed (reason says why); still read-only until failed over.
    Failed,
}

impl MirrorState {
    pub fn name(self) -> &'static str {
        match self {
            MirrorState::Active => "ACTIVE",
            MirrorState::Paused => "PAUSED",
            MirrorState::PendingStopped => "PENDING_STOPPED",
            MirrorState::Stopped => "STOPPED",
            MirrorState::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ACTIVE" => MirrorState::Active,
            "PAUSED" => MirrorState::Paused,
            "PENDING_STOPPED" => MirrorState::PendingStopped,
            "STOPPED" => MirrorState::Stopped,
            "FAILED" => MirrorState::Failed,
            _ => return None,
        })
    }

    /// Is the link still copying into this mirror?
    pub fn is_mirroring(self) -> bool {
        matches!(self, MirrorState::Active | MirrorState::PendingStopped)
    }

    /// Are client writes refused?
    pub fn is_read_only(self) -> bool {
        self != MirrorState::Stopped
    }
}

/// A link's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Active,
    Paused,
    /// The source cannot be reached; mirroring resumes when it returns.
    Unavailable,
    /// The source rejected us (authentication, authorization): needs an operator.
    Failed,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Active => "ACTIVE",
            LinkState::Paused => "PAUSED",
            LinkState::Unavailable => "UNAVAILABLE",
            LinkState::Failed => "FAILED",
        }
    }
}
