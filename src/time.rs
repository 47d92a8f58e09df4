//! The clock and how times are shown: one place for epoch milliseconds, RFC 3339 and
//! human durations, used by the functions, the alerts and the CLI alike.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, by the wall clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// RFC 3339, UTC, seconds.
pub fn iso_seconds(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
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

/// RFC 3339, UTC, milliseconds.
pub fn iso_millis(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
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
}
