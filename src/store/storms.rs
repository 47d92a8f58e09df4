//! The storm registry: the storms the alerter has declared, open or recently ended, in one
//! item of the status table keyed [`STORMS_KEY`]. What makes and ends a storm is
//! `crate::alert::storm::watch`'s; this is the item and its conditional writes.
//!
//! One item, because a pass must see every storm before it plans any client, with one
//! strongly consistent read. It changes only when a storm is declared, grows, ends or is
//! forgotten (a few writes per storm), never per client. Like the shard settings item it has
//! no index attributes, so no listing or alert pass sees it, and the event parser refuses its
//! key as a client id.
//!
//! Writes are optimistic: each one requires the `version` it read and writes the next. A write
//! that sends notices first takes the item's lease (`leaseUntil`, `leasePass`), as a client's
//! claim does, so two passes never send the same storm notice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::expr::{n, s, Expr};
use super::item::{from_item, ItemProblem, MalformedItem};
use super::schema::attr;
use super::{Store, StoreError};

/// The `clientId` of the registry item; the parser refuses it as a client id.
pub const STORMS_KEY: &str = "$iot-presence/storms";

/// How many reasons and prefixes a breakdown lists (the rest are counted as `others`).
pub const TOP: usize = 5;

/// The registry item's attributes (besides `clientId`).
pub mod field {
    pub const VERSION: &str = "version";
    pub const STORMS: &str = "storms";
    pub const LEASE_UNTIL: &str = "leaseUntil";
    pub const LEASE_PASS: &str = "leasePass";
}

/// A count by key, largest first, with what the top [`TOP`] leave out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    pub top: Vec<(String, u64)>,
    pub others: u64,
}

impl Breakdown {
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a str>) -> Breakdown {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for key in keys {
            *counts.entry(key).or_insert(0) += 1;
        }
        let mut sorted: Vec<(String, u64)> =
            counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        // Largest first; ties by key, so the order is stable.
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let others = sorted.iter().skip(TOP).map(|(_, n)| n).sum();
        sorted.truncate(TOP);
        Breakdown {
            top: sorted,
            others,
        }
    }
}

/// One declared storm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StormRecord {
    /// Stable: `storm/<scope>/<first drop ms>`, the scope `*` for the fleet. The storm notice's
    /// alert id is this; the recovery notice's is this with `/recovery`.
    pub id: String,
    /// The client-id prefix (device class) the storm is limited to; `None`: the whole fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    pub first_drop_at: u64,
    pub last_drop_at: u64,
    /// Clients that dropped in it (grows while drops go on).
    pub clients: u64,
    /// The size of the fleet (or of the prefix) when it was declared.
    pub scope_size: u64,
    pub reasons: Breakdown,
    pub prefixes: Breakdown,
    pub sample: Vec<String>,
    pub detected_at: u64,
    /// When the storm notice went out; `None` while it is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<u64>,
    /// When the storm was found over (see `watch::ends`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    /// Of `clients`, how many were still offline when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_offline: Option<u64>,
    /// When the recovery notice went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_notified_at: Option<u64>,
}

/// The registry item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StormRegistry {
    /// 0 for a table without the item.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub storms: Vec<StormRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_pass: Option<String>,
}

/// How a registry write leaves the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryWrite<'a> {
    /// Requires no live lease (at `now`); writes none.
    Free { now: u64 },
    /// Requires no live lease; takes it for `pass` until `until`.
    Claim { now: u64, until: u64, pass: &'a str },
    /// Requires `pass`'s lease; drops it.
    Release { pass: &'a str },
}

impl Store {
    /// The registry, read strongly consistent; empty (version 0) on a table without it.
    pub async fn storm_registry(&self) -> Result<StormRegistry, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.status_table)
            .key(attr::CLIENT_ID, s(STORMS_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|source| StoreError::GetSettings {
                table: self.status_table.clone(),
                key: STORMS_KEY,
                source: Box::new(source),
            })?;
        let Some(mut item) = output.item else {
            return Ok(StormRegistry::default());
        };
        item.remove(attr::CLIENT_ID);
        from_item(item).map_err(|err| {
            MalformedItem::new(&self.status_table, STORMS_KEY, ItemProblem::from(err)).into()
        })
    }

    /// Writes `storms` as the registry's version `read + 1`, if it is still at `read` (and the
    /// lease is as `how` requires). `Ok(None)`: written; `Ok(Some(item))`: refused, with the
    /// item as it is (absent when there is none).
    pub async fn write_storm_registry(
        &self,
        read: u64,
        storms: &[StormRecord],
        how: RegistryWrite<'_>,
    ) -> Result<Option<Option<StormRegistry>>, StoreError> {
        let mut e = Expr::new();
        let encoded = serde_dynamo::to_attribute_value(storms)
            .expect("storm records hold only strings, numbers and lists");
        e.set(field::STORMS, encoded);
        e.set(field::VERSION, n(read + 1));
        let version = e.name(field::VERSION);
        if read == 0 {
            e.require(format!("attribute_not_exists({version})"));
        } else {
            let v = e.value("read", n(read));
            e.require(format!("{version} = {v}"));
        }
        let (lease, holder) = (e.name(field::LEASE_UNTIL), e.name(field::LEASE_PASS));
        match how {
            RegistryWrite::Free { now } | RegistryWrite::Claim { now, .. } => {
                let v = e.value("now", n(now));
                e.require(format!("attribute_not_exists({lease}) OR {lease} < {v}"));
            }
            RegistryWrite::Release { pass } => {
                let v = e.value("pass", s(pass));
                e.require(format!("{holder} = {v}"));
            }
        }
        match how {
            RegistryWrite::Claim { until, pass, .. } => {
                e.set(field::LEASE_UNTIL, n(until));
                e.set(field::LEASE_PASS, s(pass));
            }
            RegistryWrite::Free { .. } | RegistryWrite::Release { .. } => {
                e.remove(field::LEASE_UNTIL);
                e.remove(field::LEASE_PASS);
            }
        }
        let result = self
            .update_status_item(STORMS_KEY, e.build()?, true)
            .await
            .map_err(|source| StoreError::UpdateStatus {
                table: self.status_table.clone(),
                client_id: STORMS_KEY.to_owned(),
                source,
            })?;
        match result {
            Ok(_) => Ok(None),
            Err(old) => {
                let old = match old {
                    None => None,
                    Some(mut item) => {
                        item.remove(attr::CLIENT_ID);
                        Some(from_item(item).map_err(|err| {
                            MalformedItem::new(
                                &self.status_table,
                                STORMS_KEY,
                                ItemProblem::from(err),
                            )
                        })?)
                    }
                };
                Ok(Some(old))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_key_is_reserved_and_a_registry_round_trips() {
        assert!(STORMS_KEY.starts_with(crate::event::RESERVED_PREFIX));
        let record = StormRecord {
            id: "storm/*/1".into(),
            prefix: None,
            first_drop_at: 1,
            last_drop_at: 2,
            clients: 3,
            scope_size: 4,
            reasons: Breakdown::of([
                "CONNECTION_LOST",
                "CONNECTION_LOST",
                "MQTT_KEEP_ALIVE_TIMEOUT",
            ]),
            prefixes: Breakdown::of(["a-"; 3]),
            sample: vec!["a-1".into()],
            detected_at: 5,
            notified_at: Some(6),
            ended_at: None,
            still_offline: None,
            recovery_notified_at: None,
        };
        let registry = StormRegistry {
            version: 7,
            storms: vec![record],
            lease_until: None,
            lease_pass: None,
        };
        let item = serde_dynamo::to_item(&registry).unwrap();
        let back: StormRegistry = from_item(item).unwrap();
        assert_eq!(back, registry);
        assert_eq!(
            back.storms[0].reasons.top,
            vec![
                ("CONNECTION_LOST".to_owned(), 2),
                ("MQTT_KEEP_ALIVE_TIMEOUT".to_owned(), 1)
            ]
        );
    }
}
