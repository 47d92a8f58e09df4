//! The broker's view of a client: iot-data `GetConnection`, paced under the API quota.
//!
//! `GetConnection` needs no thing registry and no fleet indexing: it answers for any client id
//! (IAM action `iot:GetConnection` on `arn:aws:iot:REGION:ACCOUNT:client/CLIENT_ID`). Its
//! endpoint is the account's data endpoint; the SDK takes it from the standard configuration
//! (`AWS_ENDPOINT_URL_IOT_DATA_PLANE`, or `--iot-endpoint` on the CLI).
//!
//! Every failure names the client and is one of: throttled (the caller slows down and tries
//! again), refused (403: the role lacks `iot:GetConnection`), unknown to the broker (404), or
//! failed (5xx, timeouts, anything else). None of them writes anything.

use std::time::Duration;

use aws_sdk_iotdataplane::error::SdkError;
use aws_sdk_iotdataplane::operation::get_connection::{GetConnectionError, GetConnectionOutput};
use thiserror::Error;
use tokio::time::Instant;

use crate::reconcile::rule::BrokerAnswer;

/// The default pace of `GetConnection` calls. AWS lists no per-API quota for `GetConnection` in
/// the documents this project could reach (see docs/operations.md, "Reconciliation with the broker"): 10 a second is a
/// conservative start, and throttling halves the pace (see [`Pace`]).
pub const DEFAULT_RATE_PER_SECOND: f64 = 10.0;
/// The slowest pace throttling can push a sweep to.
pub const MIN_RATE_PER_SECOND: f64 = 0.5;
/// The fastest pace a caller may ask for.
pub const MAX_RATE_PER_SECOND: f64 = 1000.0;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("GetConnection for client {client_id:?} was throttled")]
    Throttled {
        client_id: String,
        #[source]
        source: Box<SdkError<GetConnectionError>>,
    },
    #[error("GetConnection for client {client_id:?} was refused (403): the caller needs iot:GetConnection on it")]
    Forbidden {
        client_id: String,
        #[source]
        source: Box<SdkError<GetConnectionError>>,
    },
    #[error("the broker does not know client {client_id:?} (404)")]
    NotFound {
        client_id: String,
        #[source]
        source: Box<SdkError<GetConnectionError>>,
    },
    #[error("GetConnection for client {client_id:?} failed")]
    Failed {
        client_id: String,
        #[source]
        source: Box<SdkError<GetConnectionError>>,
    },
}

impl BrokerError {
    fn new(client_id: &str, err: SdkError<GetConnectionError>) -> Self {
        let client_id = client_id.to_owned();
        let kind = err.as_service_error().map(|e| {
            (
                e.is_throttling_exception(),
                e.is_forbidden_exception(),
                e.is_resource_not_found_exception(),
            )
        });
        let source = Box::new(err);
        match kind {
            Some((true, _, _)) => BrokerError::Throttled { client_id, source },
            Some((_, true, _)) => BrokerError::Forbidden { client_id, source },
            Some((_, _, true)) => BrokerError::NotFound { client_id, source },
            _ => BrokerError::Failed { client_id, source },
        }
    }

    pub fn is_throttling(&self) -> bool {
        matches!(self, BrokerError::Throttled { .. })
    }
}

/// The broker, asked through one SDK client.
#[derive(Debug, Clone)]
pub struct Broker {
    client: aws_sdk_iotdataplane::Client,
}

impl Broker {
    pub fn new(client: aws_sdk_iotdataplane::Client) -> Self {
        Broker { client }
    }

    /// Asks the broker about one client; `now_ms` is when (recorded in the answer).
    pub async fn ask(&self, client_id: &str, now_ms: u64) -> Result<BrokerAnswer, BrokerError> {
        let output = self
            .client
            .get_connection()
            .client_id(client_id)
            .send()
            .await
            .map_err(|err| BrokerError::new(client_id, err))?;
        Ok(answer(client_id, &output, now_ms))
    }
}

fn answer(client_id: &str, o: &GetConnectionOutput, now_ms: u64) -> BrokerAnswer {
    let time = |ms: i64| u64::try_from(ms).ok().filter(|&ms| ms > 0);
    let seconds = |s: i64| u64::try_from(s).unwrap_or(0);
    BrokerAnswer {
        client_id: o.client_id().unwrap_or(client_id).to_owned(),
        connected: o.connected(),
        connected_since: time(o.connected_since()).filter(|_| o.connected()),
        disconnected_since: time(o.disconnected_since()).filter(|_| !o.connected()),
        disconnect_reason: o
            .disconnect_reason()
            .filter(|r| !r.is_empty() && !o.connected())
            .map(str::to_owned),
        clean_session: o.clean_session(),
        session_expiry: seconds(o.session_expiry()),
        keep_alive_duration: seconds(o.keep_alive_duration().into()),
        thing_name: o.thing_name().filter(|t| !t.is_empty()).map(str::to_owned),
        observed_at: now_ms,
    }
}

/// A client-side pace: at most `rate` calls a second, evenly spaced. Throttling halves the
/// rate (down to [`MIN_RATE_PER_SECOND`]) for the rest of the sweep: the broker's quota is
/// shared with whatever else the account runs, so a sweep yields rather than competes.
#[derive(Debug)]
pub struct Pace {
    rate: f64,
    next: Instant,
}

impl Pace {
    /// `rate` calls a second; out-of-range rates are clamped to
    /// [`MIN_RATE_PER_SECOND`]..=[`MAX_RATE_PER_SECOND`] (the CLI and the config reject them
    /// before they get here).
    pub fn new(rate: f64) -> Self {
        Pace {
            rate: rate.clamp(MIN_RATE_PER_SECOND, MAX_RATE_PER_SECOND),
            next: Instant::now(),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    /// Waits for the next slot.
    pub async fn wait(&mut self) {
        let slot = self.take_slot(Instant::now());
        tokio::time::sleep_until(slot).await;
    }

    /// The next slot at `now`, taken. A sweep that fell behind (slow answers) does not burst to
    /// catch up: a slot is never earlier than `now`.
    fn take_slot(&mut self, now: Instant) -> Instant {
        let slot = self.next.max(now);
        self.next = slot + self.interval();
        slot
    }

    /// After a throttled call: half the rate, and a pause of one new interval.
    pub fn slow_down(&mut self) {
        self.rate = (self.rate / 2.0).max(MIN_RATE_PER_SECOND);
        self.next = Instant::now().max(self.next) + self.interval();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_spaces_calls_and_throttling_halves_it() {
        let mut pace = Pace::new(10.0);
        let start = pace.next;
        // Five calls at 10/s, each asked for at once: the first at once, then every 100 ms.
        let slots: Vec<_> = (0..5).map(|_| pace.take_slot(start) - start).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(slots, [ms(0), ms(100), ms(200), ms(300), ms(400)]);
        // A caller that fell behind gets its slot at once, and no burst after it.
        let late = start + Duration::from_secs(2);
        assert_eq!(pace.take_slot(late), late);
        assert_eq!(pace.take_slot(late) - late, ms(100));
        pace.slow_down();
        assert_eq!(pace.rate(), 5.0);
        for _ in 0..10 {
            pace.slow_down();
        }
        assert_eq!(pace.rate(), MIN_RATE_PER_SECOND);
        assert_eq!(Pace::new(1e9).rate(), MAX_RATE_PER_SECOND);
    }

    #[test]
    fn answers_map_zero_times_to_unknown() {
        let o = GetConnectionOutput::builder()
            .connected(false)
            .disconnected_since(0)
            .connected_since(1_700_000_000_000)
            .disconnect_reason("MQTT_KEEP_ALIVE_TIMEOUT")
            .keep_alive_duration(30)
            .session_expiry(3600)
            .build();
        let a = answer("dev", &o, 5);
        assert_eq!(a.client_id, "dev");
        assert_eq!((a.connected_since, a.disconnected_since), (None, None));
        assert_eq!(
            a.disconnect_reason.as_deref(),
            Some("MQTT_KEEP_ALIVE_TIMEOUT")
        );
        assert_eq!(
            (a.keep_alive_duration, a.session_expiry, a.observed_at),
            (30, 3600, 5)
        );
    }
}
