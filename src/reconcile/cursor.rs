//! Where the scheduled reconciler left off: one item of the status table, keyed
//! [`CURSOR_KEY`], so that a scope larger than one run can check (10 calls a second for 14.5
//! minutes is 8,700 clients) is swept whole over several runs instead of its oldest part again
//! and again.
//!
//! The cursor is a place in the scope's oldest-first order ([`Position`]), written after each
//! page. A run resumes after it; a run that reaches the end of the scope clears it, so the next
//! run starts a new cycle from the oldest. A cursor written for another scope (the
//! `RECONCILE_SCOPE` changed) is ignored. Runs are scheduled hours apart; two that overlap
//! would each write their own place and the later write wins: a page is then checked twice or
//! skipped for one cycle, never lost for good.

use serde::{Deserialize, Serialize};

use crate::event::Presence;
use crate::read::{dynamo_error, Position, ReadError};
use crate::store::expr::{n, s, Expr};
use crate::store::item::{from_item, ItemProblem, MalformedItem};
use crate::store::schema::attr;
use crate::store::{Store, StoreError};

/// The `clientId` of the cursor item; the parser refuses it as a client id.
pub const CURSOR_KEY: &str = "$iot-presence/reconcile";

/// The cursor item's attributes (besides `clientId`).
mod field {
    pub const SCOPE: &str = "scope";
    pub const PRESENCE: &str = "presence";
    pub const AT: &str = "at";
    pub const AFTER: &str = "afterClientId";
    pub const UPDATED_AT: &str = "updatedAt";
}

/// A place in a scope: the state being swept (`All` sweeps connected, then disconnected) and
/// the last client checked in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// The scope it belongs to, as `RECONCILE_SCOPE` spells it.
    pub scope: String,
    pub presence: Presence,
    pub at: u64,
    #[serde(rename = "afterClientId")]
    pub client_id: String,
}

impl Cursor {
    pub fn position(&self) -> Position {
        Position {
            at: self.at,
            client_id: self.client_id.clone(),
        }
    }
}

impl Store {
    /// The reconciler's cursor for `scope`; `None` when there is none or it is another scope's.
    pub async fn reconcile_cursor(&self, scope: &str) -> Result<Option<Cursor>, ReadError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(CURSOR_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error("GetItem", &self.status_table))?;
        let Some(mut item) = output.item else {
            return Ok(None);
        };
        item.remove(attr::CLIENT_ID);
        item.remove(field::UPDATED_AT);
        if !item.contains_key(field::SCOPE) {
            return Ok(None); // cleared: a cycle ended
        }
        let cursor: Cursor = from_item(item).map_err(|err| {
            MalformedItem::new(&self.status_table, CURSOR_KEY, ItemProblem::from(err))
        })?;
        Ok((cursor.scope == scope).then_some(cursor))
    }

    /// Writes the cursor (`None`: clears it, a cycle is done).
    pub async fn set_reconcile_cursor(
        &self,
        cursor: Option<&Cursor>,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut e = Expr::new();
        match cursor {
            Some(c) => {
                e.set(field::SCOPE, s(&c.scope));
                e.set(field::PRESENCE, s(c.presence.as_str()));
                e.set(field::AT, n(c.at));
                e.set(field::AFTER, s(&c.client_id));
            }
            None => {
                for f in [field::SCOPE, field::PRESENCE, field::AT, field::AFTER] {
                    e.remove(f);
                }
            }
        }
        e.set(field::UPDATED_AT, n(now));
        // Unconditional: never refused.
        let _written = self
            .update_status_item(CURSOR_KEY, e.build()?, false)
            .await
            .map_err(|source| StoreError::UpdateStatus {
                table: self.status_table.clone(),
                client_id: CURSOR_KEY.to_owned(),
                source,
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_key_is_reserved_and_a_cursor_round_trips() {
        assert!(CURSOR_KEY.starts_with(crate::event::RESERVED_PREFIX));
        let c = Cursor {
            scope: "connected-for=1h".into(),
            presence: Presence::Connected,
            at: 7,
            client_id: "dev-1".into(),
        };
        let back: Cursor = from_item(serde_dynamo::to_item(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
