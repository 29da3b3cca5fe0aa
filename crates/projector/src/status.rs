//! What a projector tells the rest of the process about itself (readiness checks, metrics,
//! tests): which generation it feeds, how far, and where it stopped if the projection refused an
//! event.

/// What a projector reports about itself, for readiness checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectorStatus {
    pub name: &'static str,
    /// The generation this projector feeds (0 until it has one).
    pub generation: u32,
    /// The last position applied.
    pub position: u64,
    /// Everything of the projection's feed up to here is applied.
    pub watermark: u64,
    /// Messages of the feed not yet delivered, as last seen.
    pub pending: u64,
    /// The event `apply` refused, and why: the projector stopped there.
    pub failure: Option<(u64, String)>,
}

impl ProjectorStatus {
    pub(crate) fn new(name: &'static str) -> ProjectorStatus {
        ProjectorStatus {
            name,
            generation: 0,
            position: 0,
            watermark: 0,
            pending: 0,
            failure: None,
        }
    }

    /// How far a reader may consider the read model: the larger of position and watermark.
    pub fn reach(&self) -> u64 {
        self.position.max(self.watermark)
    }
}
