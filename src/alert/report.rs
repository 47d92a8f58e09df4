//! What one alert pass did ([`RunReport`]): the counts the function logs and the metrics take.

use serde::Serialize;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Due entries read from the index.
    pub due: u64,
    pub offline: u64,
    pub back_online: u64,
    pub flapping: u64,
    /// Storm notices sent: one per mass disconnect.
    pub storms: u64,
    /// Recovery notices sent: one per storm's end.
    pub recoveries: u64,
    /// Offline notices held by a storm (recorded on the client, not sent).
    pub held: u64,
    /// Outages that ended in a storm: their notices folded into its recovery notice.
    pub folded: u64,
    /// Items that stay in the index with a later `alertDueAt`.
    pub scheduled: u64,
    /// Items that left the index (nothing to watch, or waiting for a status change).
    pub settled: u64,
    /// Items another pass or a status change got to first (they are due again if needed).
    pub skipped: u64,
    /// Items whose status changed while their notices were in flight: what was sent is
    /// recorded and the item stays due, so the next pass plans the new status.
    pub raced: u64,
    /// Due clients read but left for the next pass: the pass's deadline came first. They stay
    /// due, unclaimed, so nothing is lost and nothing is sent twice.
    pub deferred: u64,
    /// Failures, each with its causes; the items stay due (or leased) and are retried.
    pub errors: Vec<String>,
}

impl RunReport {
    pub(super) fn add(&mut self, other: RunReport) {
        self.due += other.due;
        self.offline += other.offline;
        self.back_online += other.back_online;
        self.flapping += other.flapping;
        self.storms += other.storms;
        self.recoveries += other.recoveries;
        self.held += other.held;
        self.folded += other.folded;
        self.scheduled += other.scheduled;
        self.settled += other.settled;
        self.skipped += other.skipped;
        self.raced += other.raced;
        self.deferred += other.deferred;
        self.errors.extend(other.errors);
    }

    pub fn notices(&self) -> u64 {
        self.offline + self.back_online + self.flapping + self.storms + self.recoveries
    }
}
