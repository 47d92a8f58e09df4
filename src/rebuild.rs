//! `presence rebuild`: a client's status recomputed from its event log, through the same
//! conditional update as the function (so it is idempotent, and safe while the function keeps
//! writing).

use crate::event::LifecycleEvent;
use crate::read::{dynamo_error, ReadError};
use crate::rule::Outcome;
use crate::store::expr::n;
use crate::store::expr::Expr;
use crate::store::item::{ItemProblem, MalformedItem, Status};
use crate::store::schema::attr;
use crate::store::status::Count;
use crate::store::Store;

/// A status that a consumer would see as different: its presence, since when, or the
/// connection that set it.
fn moved(before: Option<&Status>, after: Option<&Status>) -> bool {
    let key = |s: &Status| {
        (
            s.is_known(),
            s.connected,
            s.event_timestamp,
            s.session_identifier.clone(),
            s.version_number,
        )
    };
    match (before, after) {
        (_, None) => false,
        (None, Some(a)) => a.is_known(),
        (Some(b), Some(a)) => a.is_known() && key(a) != key(b),
    }
}

/// What `rebuild` did for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub client_id: String,
    pub events: usize,
    pub applied: usize,
    pub status: Option<Status>,
}

impl Store {
    /// Recomputes one client's status from its event log through the ordering rule: every
    /// logged event goes through the same conditional update as in the function, so this is
    /// idempotent and safe while the function keeps writing. `reset` first removes the status
    /// attributes (keeping any settings), so that the log alone decides, e.g. after changing
    /// the window.
    pub async fn rebuild(
        &self,
        client_id: &str,
        reset: bool,
        now_ms: u64,
    ) -> Result<Rebuilt, ReadError> {
        let history = self.history(client_id, None, None).await?;
        let before = self.status(client_id).await?;
        if reset {
            self.reset_status(client_id).await?;
        }
        let mut applied = 0;
        for entry in &history {
            // An event rejected on arrival (from the future) stays rejected; a broker repair's
            // row holds the broker's answer, not a lifecycle event.
            if matches!(entry.outcome, Outcome::Invalid | Outcome::Reconciled) {
                continue;
            }
            let event = LifecycleEvent::parse(&entry.payload).map_err(|err| {
                let problem = format!("payload of {}: {err}", entry.event_key);
                MalformedItem::new(&self.events_table, client_id, ItemProblem::Invalid(problem))
            })?;
            // As on arrival: a timestamp ahead of its receipt counts as the receipt.
            let received = entry.received_at.map_or(now_ms, |at| at.min(now_ms));
            // Not counted one by one: replaying the log is not a change of each event again.
            let (outcome, rule) = self
                .apply_status_with(&event, &entry.event_key, received, Count::Replay)
                .await?;
            if outcome == Outcome::Applied && rule.is_some() {
                applied += 1;
            }
        }
        // The end result is one change, if the status moved (a lost item restored, another
        // window's verdict): PresenceChanged reports it once. Its number comes after every
        // change the item or the log knows of, so that a restored item (whose count was lost
        // with it) never reuses an event id of the retained log.
        let mut status = self.status(client_id).await?;
        if moved(before.as_ref(), status.as_ref()) {
            let logged = history
                .iter()
                .filter(|e| matches!(e.outcome, Outcome::Applied | Outcome::Reconciled))
                .count() as u64;
            let known = before.as_ref().and_then(|b| b.change_seq).unwrap_or(0);
            self.count_rebuilt_change(client_id, known.max(logged) + 1)
                .await?;
            status = self.status(client_id).await?;
        }
        Ok(Rebuilt {
            client_id: client_id.to_owned(),
            events: history.len(),
            applied,
            status,
        })
    }

    async fn count_rebuilt_change(&self, client_id: &str, seq: u64) -> Result<(), ReadError> {
        let mut e = Expr::new();
        let id = e.name(attr::CLIENT_ID);
        e.require(format!("attribute_exists({id})"));
        // Never back: a write racing the rebuild may have counted one already.
        let current = e.name(attr::CHANGE_SEQ);
        let next = e.value("nextSeq", n(seq));
        e.require(format!(
            "attribute_not_exists({current}) OR {current} < {next}"
        ));
        e.set_to(attr::CHANGE_SEQ, &next);
        let expr = e.build()?;
        // Refused: a racing write counted past it already, which reports the change itself.
        self.update_status_item(client_id, expr, false)
            .await
            .map(|_| ())
            .map_err(|err| dynamo_error("UpdateItem", &self.status_table)(*err))
    }

    async fn reset_status(&self, client_id: &str) -> Result<(), ReadError> {
        let mut e = Expr::new();
        // Never create an item for a client that has none.
        let id = e.name(attr::CLIENT_ID);
        e.require(format!("attribute_exists({id})"));
        for attr in attr::STATUS {
            e.remove(attr);
        }
        let expr = e.build()?;
        // Refused: the client has no item, and none is created.
        self.update_status_item(client_id, expr, false)
            .await
            .map(|_| ())
            .map_err(|err| dynamo_error("UpdateItem", &self.status_table)(*err))
    }
}
