//! `presence rebuild`: a client's status recomputed from its event log, through the same
//! conditional update as the function (so it is idempotent, and safe while the function keeps
//! writing).

use crate::event::LifecycleEvent;
use crate::read::{dynamo_error, ReadError};
use crate::rule::Outcome;
use crate::store::expr::Expr;
use crate::store::item::{ItemProblem, MalformedItem, Status};
use crate::store::schema::attr;
use crate::store::Store;

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
            let (outcome, rule) = self
                .apply_status(&event, &entry.event_key, received)
                .await?;
            if outcome == Outcome::Applied && rule.is_some() {
                applied += 1;
            }
        }
        Ok(Rebuilt {
            client_id: client_id.to_owned(),
            events: history.len(),
            applied,
            status: self.status(client_id).await?,
        })
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
