//! Offline thresholds by client-id pattern (`OFFLINE_THRESHOLDS`), for device classes that need
//! a longer grace period (sleepy, LoRaWAN, cellular devices) or a shorter one (gateways).
//!
//! Syntax: comma-separated `PATTERN=DURATION` entries, e.g. `sensor-*=30m,gw-*=2m`. A pattern
//! matches the whole client id; `*` stands for any run of characters (also none), `?` for exactly
//! one; everything else is literal. A duration is humantime's (`90s`, `30m`, `2h`, `1d`) or a
//! number of milliseconds, within the per-client bounds (1 minute to 7 days). Whitespace around
//! entries is ignored; an empty value means no patterns.
//!
//! The threshold of a client: its own `offlineThresholdMs` first, then the first pattern that
//! matches, then the stack default (`OFFLINE_THRESHOLD_MS`). First match, not best match: the
//! order is the operator's to choose, and it is the order they read.

use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// Thresholds below a minute would be shorter than the alerter's period; above a week, an
/// alert is no longer news. The bounds of every threshold: the default, a pattern's, a client's.
pub const MIN_THRESHOLD_MS: u64 = 60_000;
pub const MAX_THRESHOLD_MS: u64 = 7 * 86_400_000;

/// Client-id patterns and their thresholds (ms), in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThresholdPatterns(Vec<(String, u64)>);

/// What is wrong with an `OFFLINE_THRESHOLDS` value; the entry is numbered from 1.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("entry {index} ({}) is not PATTERN=DURATION", crate::errors::shown(.entry))]
    NoEquals { index: usize, entry: String },
    #[error("entry {index} has an empty pattern")]
    EmptyPattern { index: usize },
    #[error(
        "entry {index} ({}): {} is neither a duration (30m, 2h) nor milliseconds",
        crate::errors::shown(.pattern).bare(),
        crate::errors::shown(.duration)
    )]
    BadDuration {
        index: usize,
        pattern: String,
        duration: String,
    },
    #[error("entry {index} ({}): {ms} ms is outside {MIN_THRESHOLD_MS}..={MAX_THRESHOLD_MS} ms (1 minute to 7 days)", crate::errors::shown(.pattern).bare())]
    OutOfBounds {
        index: usize,
        pattern: String,
        ms: u64,
    },
}

impl ThresholdPatterns {
    /// No patterns: every client without its own threshold gets the default.
    pub const NONE: ThresholdPatterns = ThresholdPatterns(Vec::new());

    /// The threshold of the first pattern matching `client_id`.
    pub fn threshold_for(&self, client_id: &str) -> Option<u64> {
        self.0
            .iter()
            .find(|(pattern, _)| matches(pattern.as_bytes(), client_id.as_bytes()))
            .map(|(_, ms)| *ms)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for ThresholdPatterns {
    type Err = PatternError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let mut patterns = Vec::new();
        for (i, entry) in value.split(',').map(str::trim).enumerate() {
            let index = i + 1;
            if entry.is_empty() && value.trim().is_empty() {
                break;
            }
            let Some((pattern, duration)) = entry.split_once('=') else {
                return Err(PatternError::NoEquals {
                    index,
                    entry: entry.to_owned(),
                });
            };
            let (pattern, duration) = (pattern.trim(), duration.trim());
            if pattern.is_empty() {
                return Err(PatternError::EmptyPattern { index });
            }
            let ms = duration
                .parse::<u64>()
                .ok()
                .or_else(|| {
                    humantime::parse_duration(duration)
                        .ok()
                        .map(|d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                })
                .ok_or_else(|| PatternError::BadDuration {
                    index,
                    pattern: pattern.to_owned(),
                    duration: duration.to_owned(),
                })?;
            if !(MIN_THRESHOLD_MS..=MAX_THRESHOLD_MS).contains(&ms) {
                return Err(PatternError::OutOfBounds {
                    index,
                    pattern: pattern.to_owned(),
                    ms,
                });
            }
            patterns.push((pattern.to_owned(), ms));
        }
        Ok(ThresholdPatterns(patterns))
    }
}

/// Wildcard match of the whole text: `*` any run, `?` one character (of UTF-8: one byte of an
/// ASCII id; client ids are ASCII in practice, and a `?` against a multi-byte character simply
/// fails to match it, never panics). Iterative with one backtrack point: linear in practice.
fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn first_match_wins() {
        let p: ThresholdPatterns = "sensor-*=30m, gw-*=2m ,*-test=600000,sensor-9*=1h"
            .parse()
            .unwrap();
        assert_eq!(p.threshold_for("sensor-17"), Some(30 * MIN));
        // Listed later, so never reached for sensor-9x.
        assert_eq!(p.threshold_for("sensor-99"), Some(30 * MIN));
        assert_eq!(p.threshold_for("gw-1"), Some(2 * MIN));
        assert_eq!(p.threshold_for("pump-test"), Some(10 * MIN));
        assert_eq!(p.threshold_for("pump-7"), None);
        assert!("".parse::<ThresholdPatterns>().unwrap().is_empty());
        assert!("  ".parse::<ThresholdPatterns>().unwrap().is_empty());
    }

    #[test]
    fn wildcards_match_the_whole_id() {
        for (pattern, text, expected) in [
            ("gw-*", "gw-", true),
            ("gw-*", "gw-12", true),
            ("gw-*", "xgw-12", false),
            ("*gw*", "my-gw-12", true),
            ("gw-??", "gw-12", true),
            ("gw-??", "gw-123", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("exact", "exact", true),
            ("**x", "abx", true),
            ("a*", "ü", false),
        ] {
            assert_eq!(
                matches(pattern.as_bytes(), text.as_bytes()),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn bad_values_name_the_entry() {
        let err = |v: &str| v.parse::<ThresholdPatterns>().unwrap_err().to_string();
        assert_eq!(
            err("sensor-*=30m,gw-*2m"),
            "entry 2 (\"gw-*2m\") is not PATTERN=DURATION"
        );
        assert_eq!(err("=5m"), "entry 1 has an empty pattern");
        assert_eq!(
            err("gw-*=soon"),
            "entry 1 (gw-*): \"soon\" is neither a duration (30m, 2h) nor milliseconds"
        );
        assert!(err("gw-*=5s").contains("5000 ms is outside 60000..=604800000 ms"));
        assert!(err("gw-*=8d").contains("outside"));
        assert!(err("a=1m,,b=2m").starts_with("entry 2"));
    }
}
