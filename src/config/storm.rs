//! The storm settings (see `crate::alert::storm`): how many clients, and what share of the
//! fleet, must drop within one window to make a storm. Read by the alerter at cold start and by
//! `presence incident` from its flags; a bad value stops either with the variable's or flag's
//! name.

use super::ConfigError;

pub const STORM_MIN_SHARE_VAR: &str = "STORM_MIN_SHARE";
pub const STORM_MIN_CLIENTS_VAR: &str = "STORM_MIN_CLIENTS";
pub const STORM_WINDOW_VAR: &str = "STORM_WINDOW_MS";

/// Bounds: a window from 10 s (the timestamps' own jitter) to an hour (the incident view's
/// longest window); at least one client, at most ten million.
pub const MIN_STORM_WINDOW_MS: u64 = 10_000;
pub const MAX_STORM_WINDOW_MS: u64 = 3_600_000;
pub const MAX_STORM_MIN_CLIENTS: u64 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StormSettings {
    /// The share of the fleet, in (0, 1].
    pub min_share: f64,
    pub min_clients: u64,
    pub window_ms: u64,
}

impl StormSettings {
    /// At least 1% of the fleet and at least 50 clients within 2 minutes.
    pub const DEFAULT: StormSettings = StormSettings {
        min_share: 0.01,
        min_clients: 50,
        window_ms: 120_000,
    };

    /// The strictest bounds: all of the fleet, and ten million clients, within 10 s: in
    /// practice no storm, every client gets its single notices (`STORM_MIN_SHARE=1`).
    pub const OFF: StormSettings = StormSettings {
        min_share: 1.0,
        min_clients: MAX_STORM_MIN_CLIENTS,
        window_ms: MIN_STORM_WINDOW_MS,
    };

    /// Whether `clients` drops in one window make a storm in a fleet of `fleet_size`.
    pub fn is_storm(&self, clients: u64, fleet_size: u64) -> bool {
        clients >= self.min_clients && clients as f64 >= self.min_share * fleet_size as f64
    }

    /// Reads the three variables through `get` (unset: the default).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = StormSettings::DEFAULT;
        let min_share = match get(STORM_MIN_SHARE_VAR) {
            None => d.min_share,
            Some(value) => parse_share(&value).ok_or_else(|| ConfigError::Invalid {
                var: STORM_MIN_SHARE_VAR,
                value,
                expected: SHARE_EXPECTED.into(),
            })?,
        };
        Ok(StormSettings {
            min_share,
            min_clients: super::number(
                &get,
                STORM_MIN_CLIENTS_VAR,
                d.min_clients,
                1,
                MAX_STORM_MIN_CLIENTS,
            )?,
            window_ms: super::number(
                &get,
                STORM_WINDOW_VAR,
                d.window_ms,
                MIN_STORM_WINDOW_MS,
                MAX_STORM_WINDOW_MS,
            )?,
        })
    }
}

/// What a share must be, for error messages.
pub const SHARE_EXPECTED: &str = "a fraction above 0 and at most 1 (0.01 is 1%)";

/// A share in (0, 1]: `0.01`, `1`. NaN, infinities, 0 and negatives are refused.
pub fn parse_share(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|share| *share > 0.0 && *share <= 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> Result<StormSettings, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StormSettings::from_lookup(|var| {
            pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_when_unset() {
        assert_eq!(lookup(&[]).unwrap(), StormSettings::DEFAULT);
    }

    #[test]
    fn values_within_bounds_are_taken() {
        let s = lookup(&[
            (STORM_MIN_SHARE_VAR, "0.25"),
            (STORM_MIN_CLIENTS_VAR, "3"),
            (STORM_WINDOW_VAR, "60000"),
        ])
        .unwrap();
        assert_eq!(
            s,
            StormSettings {
                min_share: 0.25,
                min_clients: 3,
                window_ms: 60_000
            }
        );
        assert_eq!(
            lookup(&[(STORM_MIN_SHARE_VAR, "1")]).unwrap().min_share,
            1.0
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            (STORM_MIN_SHARE_VAR, "0"),
            (STORM_MIN_SHARE_VAR, "-0.1"),
            (STORM_MIN_SHARE_VAR, "1.5"),
            (STORM_MIN_SHARE_VAR, "NaN"),
            (STORM_MIN_SHARE_VAR, "inf"),
            (STORM_MIN_SHARE_VAR, "1%"),
            (STORM_MIN_CLIENTS_VAR, "0"),
            (STORM_MIN_CLIENTS_VAR, "-1"),
            (STORM_MIN_CLIENTS_VAR, "many"),
            (STORM_WINDOW_VAR, "0"),
            (STORM_WINDOW_VAR, "9999"),
            (STORM_WINDOW_VAR, "3600001"),
        ] {
            let err = lookup(&[(var, value)]).unwrap_err();
            assert!(
                err.to_string().contains(var) && err.to_string().contains(value),
                "{var}={value}: {err}"
            );
        }
    }

    #[test]
    fn a_storm_needs_both_the_count_and_the_share() {
        let s = StormSettings::DEFAULT;
        assert!(s.is_storm(50, 5_000));
        assert!(!s.is_storm(49, 100), "below the count");
        assert!(!s.is_storm(50, 5_001), "below 1%");
        assert!(s.is_storm(2_000, 200_000));
    }
}
