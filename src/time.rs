//! The clock and how times are shown and read: one place for epoch milliseconds, RFC 3339 and
//! human durations, used by the functions, the alerts and the CLI alike.
//!
//! Every time input (a CLI flag such as `--since`, `--until` or `--at`) goes through
//! [`parse_time`] and every duration input (`--offline-for`, `--timeout`, a threshold) through
//! [`parse_duration`]: both are bounded, so that no input reaches arithmetic that overflows or
//! a date that cannot be shown. A time is at most [`MAX_TIME_MS`] (13-digit epoch
//! milliseconds, the bound events have); a duration at most [`MAX_DURATION_MS`] (100 years).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::event::MAX_TIMESTAMP_MS;

/// The latest time any input may name: 13 decimal digits of epoch milliseconds
/// (2286-11-20T17:46:39.999Z), as for an event's `timestamp` ([`MAX_TIMESTAMP_MS`]).
pub const MAX_TIME_MS: u64 = MAX_TIMESTAMP_MS;

/// The longest duration any input may give: 100 years (of 365.25 days, humantime's `y`).
pub const MAX_DURATION_MS: u64 = 100 * 31_557_600_000;

/// The accepted range of a time, for messages.
const TIME_RANGE: &str =
    "1970-01-01T00:00:00Z to 2286-11-20T17:46:39.999Z (epoch milliseconds of at most 13 \
     digits, 9999999999999)";

/// Milliseconds since the epoch, by the wall clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// A duration in whole milliseconds, saturating at `u64::MAX` (never truncated: `as_millis()
/// as u64` wraps a long duration round to a short one).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The last millisecond humantime can show (9999-12-31T23:59:59.999Z).
const LAST_SHOWN_MS: u64 = 253_402_300_800_000 - 1;

/// A time RFC 3339 can show; `None` past year 9999 (humantime refuses those, and its
/// `to_string()` panics).
fn showable(ms: u64) -> Option<SystemTime> {
    (ms <= LAST_SHOWN_MS).then(|| UNIX_EPOCH + Duration::from_millis(ms))
}

/// A time past year 9999, which no record holds: the number, marked.
fn unshowable(ms: u64) -> String {
    format!("{ms} ms after the epoch (past year 9999)")
}

/// RFC 3339, UTC, seconds. Total: a time past year 9999 is shown as its number.
pub fn iso_seconds(ms: u64) -> String {
    showable(ms).map_or_else(
        || unshowable(ms),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

/// A duration in its two largest units, to the second: `12m 3s`, `5m`, `2h 5m`, `366d 10h`.
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    parts[first..(first + 2).min(4)]
        .iter()
        .filter(|(n, _)| *n > 0 || first == 3)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// RFC 3339, UTC, milliseconds. Total, as [`iso_seconds`].
pub fn iso_millis(ms: u64) -> String {
    showable(ms).map_or_else(
        || unshowable(ms),
        |t| humantime::format_rfc3339_millis(t).to_string(),
    )
}

/// Why a time or duration input was refused. The messages say what is accepted; they never
/// repeat the input (the caller names the flag and shows the value, capped: clap does both).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeInputError {
    #[error("not a duration: give a number and a unit (30s, 15m, 2h, 7d), at most 100y")]
    NotADuration,
    #[error("the duration is longer than 100y, the longest accepted")]
    DurationTooLong,
    #[error(
        "neither a duration ago (30m, 2h), {}nor an RFC 3339 time (2025-11-21T08:00:00Z)",
        if *ahead { "a duration ahead (+10m) " } else { "" }
    )]
    NotATime { ahead: bool },
    #[error("a duration ahead (+10m) is not accepted here: give a duration ago (30m) or an RFC 3339 time")]
    AheadNotAccepted,
    #[error("the time is out of range: times are from {TIME_RANGE}")]
    TimeOutOfRange,
    #[error(
        "neither an RFC 3339 time (2025-11-21T08:00:00Z) nor epoch milliseconds (1763712000000)"
    )]
    NotAnInstant,
}

/// A duration input: humantime's forms (`90s`, `15m`, `2h 30m`, `7d`, `1y`), at most
/// [`MAX_DURATION_MS`]. Never panics, whatever the text.
pub fn parse_duration(text: &str) -> Result<Duration, TimeInputError> {
    match humantime::parse_duration(text) {
        Ok(d) if d <= Duration::from_millis(MAX_DURATION_MS) => Ok(d),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => {
            Err(TimeInputError::DurationTooLong)
        }
        Err(_) => Err(TimeInputError::NotADuration),
    }
}

/// A time input, in epoch ms, at `now`: a duration ago (`1h`, `2d`; before the epoch is the
/// epoch), an RFC 3339 time (`2025-11-21T08:00:00Z`), and when `ahead`, `+DURATION` for a time
/// ahead (a simulated clock). Durations as [`parse_duration`]; the time at most
/// [`MAX_TIME_MS`]. Never panics, whatever the text.
pub fn parse_time(text: &str, now: u64, ahead: bool) -> Result<u64, TimeInputError> {
    let ms = if let Some(rest) = text.strip_prefix('+') {
        if !ahead {
            return Err(TimeInputError::AheadNotAccepted);
        }
        now.saturating_add(millis(parse_duration(rest)?))
    } else {
        match parse_duration(text) {
            Ok(ago) => now.saturating_sub(millis(ago)),
            Err(TimeInputError::DurationTooLong) => return Err(TimeInputError::DurationTooLong),
            Err(_) => match humantime::parse_rfc3339_weak(text) {
                Ok(t) => t.duration_since(UNIX_EPOCH).map_or(u64::MAX, millis),
                Err(humantime::TimestampError::OutOfRange) => {
                    return Err(TimeInputError::TimeOutOfRange)
                }
                Err(_) => return Err(TimeInputError::NotATime { ahead }),
            },
        }
    };
    if ms > MAX_TIME_MS {
        return Err(TimeInputError::TimeOutOfRange);
    }
    Ok(ms)
}

/// An absolute time input, in epoch ms: an RFC 3339 time, or epoch milliseconds (digits
/// only), at most [`MAX_TIME_MS`]. For inputs that must not depend on when they are read (the
/// HTTP API's `since` and `until`): no duration ago. Never panics, whatever the text.
pub fn parse_instant(text: &str) -> Result<u64, TimeInputError> {
    let ms = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is out of range too, not malformed.
        text.parse::<u64>().unwrap_or(u64::MAX)
    } else {
        match humantime::parse_rfc3339_weak(text) {
            Ok(t) => t.duration_since(UNIX_EPOCH).map_or(u64::MAX, millis),
            Err(humantime::TimestampError::OutOfRange) => {
                return Err(TimeInputError::TimeOutOfRange)
            }
            Err(_) => return Err(TimeInputError::NotAnInstant),
        }
    };
    if ms > MAX_TIME_MS {
        return Err(TimeInputError::TimeOutOfRange);
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn durations_keep_their_two_largest_units() {
        for (ms, text) in [
            (0, "0s"),
            (999, "0s"),
            (5_000, "5s"),
            (5 * MIN, "5m"),
            (5 * MIN + 30_000, "5m 30s"),
            (2 * 3_600_000 + 5 * MIN + 7_000, "2h 5m"),
            (366 * 86_400_000 + 10 * 3_600_000 + 54 * MIN, "366d 10h"),
            (86_400_000 + 59_000, "1d"),
        ] {
            assert_eq!(duration(ms), text, "{ms}");
        }
    }

    #[test]
    fn every_time_can_be_shown() {
        assert_eq!(iso_seconds(MAX_TIME_MS), "2286-11-20T17:46:39Z");
        assert_eq!(iso_millis(MAX_TIME_MS), "2286-11-20T17:46:39.999Z");
        assert_eq!(iso_millis(LAST_SHOWN_MS), "9999-12-31T23:59:59.999Z");
        for ms in [LAST_SHOWN_MS + 1, u64::MAX] {
            assert_eq!(
                iso_seconds(ms),
                format!("{ms} ms after the epoch (past year 9999)")
            );
            assert_eq!(iso_millis(ms), iso_seconds(ms));
        }
    }

    #[test]
    fn durations_are_bounded_and_never_wrap() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(
            parse_duration("100y"),
            Ok(Duration::from_millis(MAX_DURATION_MS))
        );
        assert_eq!(parse_duration("101y"), Err(TimeInputError::DurationTooLong));
        // Seconds whose milliseconds wrap u64 round to 60,384 ms with `as u64`.
        assert_eq!(
            parse_duration("18446744073709612s"),
            Err(TimeInputError::DurationTooLong)
        );
        assert_eq!(
            parse_duration("99999999999999999999999y"),
            Err(TimeInputError::DurationTooLong)
        );
        for bad in ["", "5", "soon", "-5m", "+5m"] {
            assert_eq!(
                parse_duration(bad),
                Err(TimeInputError::NotADuration),
                "{bad:?}"
            );
        }
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn times_are_bounded() {
        let now = 1_763_712_000_000;
        assert_eq!(parse_time("2025-11-21T08:00:00Z", now, false), Ok(now));
        assert_eq!(parse_time("1h", now, false), Ok(now - 3_600_000));
        assert_eq!(parse_time("100y", now, false), Ok(0));
        assert_eq!(parse_time("+10m", now, true), Ok(now + 600_000));
        assert_eq!(
            parse_time("+10m", now, false),
            Err(TimeInputError::AheadNotAccepted)
        );
        assert_eq!(
            parse_time("+10000y", now, true),
            Err(TimeInputError::DurationTooLong)
        );
        assert_eq!(
            parse_time("+99y", MAX_TIME_MS - 1, true),
            Err(TimeInputError::TimeOutOfRange)
        );
        assert_eq!(
            parse_time("2286-11-20T17:46:39.999Z", now, false),
            Ok(MAX_TIME_MS)
        );
        for late in [
            "2286-11-20T17:46:40Z",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(
                parse_time(late, now, false),
                Err(TimeInputError::TimeOutOfRange),
                "{late}"
            );
        }
        assert_eq!(
            parse_time("yesterday", now, true),
            Err(TimeInputError::NotATime { ahead: true })
        );
        let message = TimeInputError::TimeOutOfRange.to_string();
        assert!(message.contains("9999999999999"), "{message}");
    }

    #[test]
    fn instants_are_rfc_3339_or_epoch_milliseconds_and_bounded() {
        assert_eq!(parse_instant("2025-11-21T08:00:00Z"), Ok(1_763_712_000_000));
        assert_eq!(parse_instant("1763712000000"), Ok(1_763_712_000_000));
        assert_eq!(parse_instant("0"), Ok(0));
        assert_eq!(parse_instant("9999999999999"), Ok(MAX_TIME_MS));
        for late in [
            "10000000000000",
            "99999999999999999999999",
            "2286-11-20T17:46:40Z",
        ] {
            assert_eq!(
                parse_instant(late),
                Err(TimeInputError::TimeOutOfRange),
                "{late}"
            );
        }
        for bad in ["", "1h", "-5", "+5m", "12.5", "yesterday", "2025-11-21"] {
            assert_eq!(
                parse_instant(bad),
                Err(TimeInputError::NotAnInstant),
                "{bad:?}"
            );
        }
    }
}
