//! The storm phase of an alert pass: before any client is planned, the pass reads the storm
//! registry and the recent drops, declares, grows and ends storms
//! ([`crate::alert::storm::watch`]), and sends their storm and recovery notices. The clients
//! are then planned against the storms it returns.
//!
//! Exactly once, as for a client: a pass with notices to send first claims the registry (its
//! lease), then publishes, then writes the registry with what was sent and drops the lease. A
//! crash in between leaves the lease to expire, and the next pass sends again with the same
//! alert id. A pass that finds the registry leased by another pass, or loses the race to write
//! it, sends nothing and plans its clients against the storms it computed, so a storm's
//! clients are held from the first pass that sees it, whoever sends its notice.
//!
//! Reads: one strongly consistent GetItem, then one query per disconnected shard for the
//! drops of the lookback (three attributes each). A candidate burst adds the fleet's size
//! (`DescribeTable`, free) or a prefix's (COUNT queries of the whole index, only while a
//! prefix bursts and no storm covers it); a quiet open storm adds a COUNT of its clients still
//! offline.

use tracing::{info, warn};

use super::clauses::LEASE_MS;
use super::notify::{StormMessage, StormNotice};
use super::pass::{AlertError, Alerter, RunReport};
use super::storm::watch::{self, lookback_ms};
use crate::store::storms::{RegistryWrite, StormRecord, StormRegistry};

impl Alerter {
    /// The storm phase at `now`: the storms to plan the clients against, and what it sent.
    /// An unreadable registry is an error (planning without it could page a whole storm); a
    /// failed drops read keeps the storms as they were, and reports the failure.
    pub(super) async fn watch_storms(
        &self,
        now: u64,
        pass: &str,
    ) -> Result<(Vec<StormRecord>, RunReport), AlertError> {
        let mut report = RunReport::default();
        let registry = self
            .store
            .storm_registry()
            .await
            .map_err(|source| self.registry_error(source))?;
        let mut storms = registry.storms.clone();
        let changed = match self.advance(&mut storms, now).await {
            Ok(changed) => changed,
            Err(err) => {
                report.errors.push(crate::errors::error_chain(&err));
                return Ok((registry.storms, report));
            }
        };
        let pending = storms.iter().any(|s| {
            s.notified_at.is_none() || (s.ended_at.is_some() && s.recovery_notified_at.is_none())
        });
        if !changed && !pending {
            return Ok((storms, report));
        }
        if registry.lease_until.is_some_and(|until| until >= now) {
            // Another pass holds the registry: it sends; this pass only holds.
            return Ok((storms, report));
        }
        if !pending {
            let how = RegistryWrite::Free { now };
            self.write_registry(&registry, &storms, how).await?;
            return Ok((storms, report));
        }
        let until = now + LEASE_MS;
        let claim = RegistryWrite::Claim { now, until, pass };
        if let Some(old) = self.write_registry(&registry, &storms, claim).await? {
            let own = old.as_ref().is_some_and(|o| {
                o.version == registry.version + 1 && o.lease_pass.as_deref() == Some(pass)
            });
            if !own {
                return Ok((storms, report));
            }
            info!("storm registry claim answered late: this pass holds it");
        }
        let sent = self.send_pending(&mut storms, now, &mut report).await;
        let claimed = StormRegistry {
            version: registry.version + 1,
            ..registry
        };
        let release = RegistryWrite::Release { pass };
        if let Some(old) = self.write_registry(&claimed, &storms, release).await? {
            let own = old.as_ref().is_some_and(|o| {
                o.version == claimed.version + 1 && o.lease_pass.is_none() && o.storms == storms
            });
            if !own {
                return Err(AlertError::StormLeaseLost);
            }
        }
        if let Err(err) = sent {
            report.errors.push(crate::errors::error_chain(&err));
        }
        Ok((storms, report))
    }

    /// Grows, declares, ends and forgets storms at `now`; true when any changed.
    async fn advance(&self, storms: &mut Vec<StormRecord>, now: u64) -> Result<bool, AlertError> {
        let settings = self.settings.storm;
        let since = now.saturating_sub(lookback_ms(&settings));
        let mut drops = self
            .store
            .drops(
                since,
                Some(now.saturating_add(1)),
                Some(watch::MAX_WATCHED_DROPS),
            )
            .await
            .map_err(|e| AlertError::Drops(Box::new(e)))?;
        drops.sort_by(|a, b| (a.at, &a.client_id).cmp(&(b.at, &b.client_id)));
        let mut changed = watch::extend(storms, &drops, settings.window_ms);
        let mut fleet_declared = false;
        for candidate in watch::candidates(storms, &drops, &settings) {
            if candidate.prefix.is_some() && fleet_declared {
                continue;
            }
            let size = match &candidate.prefix {
                None => self.store.status_item_count().await,
                Some(prefix) => self.store.clients_with_prefix(prefix).await,
            }
            .map_err(|e| AlertError::Drops(Box::new(e)))?;
            if let Some(storm) = watch::declare(&candidate, size, &settings, now) {
                info!(storm = storm.id, clients = storm.clients, "storm declared");
                fleet_declared |= storm.prefix.is_none();
                storms.push(storm);
                changed = true;
            }
        }
        drop(drops);
        for storm in storms.iter_mut() {
            if !watch::quiet(storm, &settings, now) {
                continue;
            }
            let still = self
                .store
                .dropped_between(
                    storm.first_drop_at,
                    storm.last_drop_at.saturating_add(1),
                    storm.prefix.as_deref(),
                )
                .await
                .map_err(|e| AlertError::Drops(Box::new(e)))?;
            if watch::ends(storm, still, now) {
                info!(storm = storm.id, still_offline = still, "storm over");
                storm.ended_at = Some(now);
                storm.still_offline = Some(still);
                changed = true;
            }
        }
        Ok(watch::forget(storms, now) || changed)
    }

    /// Sends the storm and recovery notices not sent yet, marking each on its record.
    async fn send_pending(
        &self,
        storms: &mut [StormRecord],
        now: u64,
        report: &mut RunReport,
    ) -> Result<(), AlertError> {
        for storm in storms.iter_mut() {
            if storm.notified_at.is_none() {
                self.publish_storm(storm, StormNotice::Storm, now).await?;
                storm.notified_at = Some(now);
                report.storms += 1;
            }
            if storm.ended_at.is_some() && storm.recovery_notified_at.is_none() {
                self.publish_storm(storm, StormNotice::Recovery, now)
                    .await?;
                storm.recovery_notified_at = Some(now);
                report.recoveries += 1;
            }
        }
        Ok(())
    }

    async fn publish_storm(
        &self,
        storm: &StormRecord,
        notice: StormNotice,
        now: u64,
    ) -> Result<(), AlertError> {
        let message = StormMessage::new(storm, notice, now);
        let prefix = watch::scope_name(storm.prefix.as_deref());
        self.send(
            &message.subject,
            message.to_json(),
            notice.kind(),
            prefix,
            None,
        )
        .await
        .map_err(|source| AlertError::PublishStorm {
            kind: notice.kind(),
            storm_id: storm.id.clone(),
            topic: self.topic_arn.clone(),
            source: Box::new(source),
        })?;
        info!(
            storm = storm.id,
            kind = notice.kind(),
            alert_id = message.alert_id,
            "sent"
        );
        Ok(())
    }

    /// One registry write from `read`; `Some(item as it is)` when refused.
    async fn write_registry(
        &self,
        read: &StormRegistry,
        storms: &[StormRecord],
        how: RegistryWrite<'_>,
    ) -> Result<Option<Option<StormRegistry>>, AlertError> {
        let result = self
            .store
            .write_storm_registry(read.version, storms, how)
            .await
            .map_err(|source| self.registry_error(source))?;
        if result.is_some() {
            warn!(
                ?how,
                "storm registry write refused: another pass changed it"
            );
        }
        Ok(result)
    }

    fn registry_error(&self, source: crate::store::StoreError) -> AlertError {
        AlertError::Storms {
            table: self.store.status_table.clone(),
            source: Box::new(source),
        }
    }
}
