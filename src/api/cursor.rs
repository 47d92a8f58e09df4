//! The opaque cursor of `GET /clients`: where the last page stopped, and the query it belongs
//! to, so the next page is exact and a cursor cannot be replayed against another query.
//!
//! Its text is base64url (no padding) of a version byte, a JSON body and a 32-bit FNV-1a
//! checksum of both. The checksum catches a cursor that was cut, edited or mixed up; it is no
//! signature, and needs none: a cursor only says where to start reading what the caller may
//! list anyway, and every field of a decoded one is checked as input again.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::event::{client_id_problem, Presence};
use crate::read::Position;
use crate::time::MAX_TIME_MS;

/// The cursor format's version: a change of layout bumps it, and an old cursor is refused
/// (400), never misread.
pub const VERSION: u8 = 1;

/// The longest cursor text accepted (one with a 128-byte client id and prefix is under 600).
pub const MAX_CURSOR_CHARS: usize = 1024;

/// What a cursor holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The listing's state: `connected` or `disconnected`.
    pub state: String,
    pub prefix: Option<String>,
    /// `droppedWithin` in ms, as the first page was asked.
    pub within: Option<u64>,
    /// The first page's `now - droppedWithin`: every page of a listing reads the same range.
    pub from: Option<u64>,
    /// The last client of the previous page.
    pub at: u64,
    pub id: String,
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

impl Cursor {
    pub fn position(&self) -> Position {
        Position {
            at: self.at,
            client_id: self.id.clone(),
        }
    }

    pub fn presence(&self) -> Option<Presence> {
        Presence::parse(&self.state)
    }

    pub fn encode(&self) -> String {
        let mut bytes = vec![VERSION];
        bytes.extend(serde_json::to_vec(self).expect("a cursor serializes"));
        let sum = fnv1a(&bytes);
        bytes.extend(sum.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The cursor `text` holds; the error says what is wrong with it (the caller names the
    /// parameter).
    pub fn decode(text: &str) -> Result<Cursor, String> {
        const NOT_OURS: &str = "not a cursor this API returned (pass nextCursor as it came)";
        if text.len() > MAX_CURSOR_CHARS {
            return Err(format!(
                "longer than {MAX_CURSOR_CHARS} characters: {NOT_OURS}"
            ));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| format!("not base64url: {NOT_OURS}"))?;
        let Some((body, sum)) = bytes.split_last_chunk::<4>() else {
            return Err(format!("too short: {NOT_OURS}"));
        };
        if fnv1a(body) != u32::from_be_bytes(*sum) {
            return Err(format!(
                "its checksum does not match (cut or edited): {NOT_OURS}"
            ));
        }
        match body.first() {
            Some(&VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "version {v}, not {VERSION}: start the listing again without a cursor"
                ))
            }
            None => return Err(format!("empty: {NOT_OURS}")),
        }
        let cursor: Cursor = serde_json::from_slice(&body[1..])
            .map_err(|_| format!("its content is malformed: {NOT_OURS}"))?;
        // A decoded cursor is input like any other.
        if cursor.presence().is_none() {
            return Err(format!(
                "its state is neither connected nor disconnected: {NOT_OURS}"
            ));
        }
        if let Some(problem) = client_id_problem(&cursor.id) {
            return Err(format!("its client id {problem}: {NOT_OURS}"));
        }
        if cursor.at > MAX_TIME_MS || cursor.from.is_some_and(|f| f > MAX_TIME_MS) {
            return Err(format!("its time is out of range: {NOT_OURS}"));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> Cursor {
        Cursor {
            state: "disconnected".into(),
            prefix: Some("meter-".into()),
            within: Some(900_000),
            from: Some(1_763_711_100_000),
            at: 1_763_711_500_000,
            id: "meter-42".into(),
        }
    }

    #[test]
    fn a_cursor_round_trips_and_any_change_is_refused() {
        let text = cursor().encode();
        assert_eq!(Cursor::decode(&text), Ok(cursor()));
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        // Every single-character edit is caught (by base64url or the checksum).
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..text.len() {
            for c in alphabet.chars().step_by(7) {
                let mut edited = text.clone();
                edited.replace_range(i..=i, &c.to_string());
                if edited != text {
                    assert!(Cursor::decode(&edited).is_err(), "{edited}");
                }
            }
        }
        for bad in ["", "x", "!!!!", &text[..text.len() - 2], &"A".repeat(2000)] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_well_formed_cursor_is_still_checked_as_input() {
        let forge = |c: &Cursor, version: u8| {
            let mut bytes = vec![version];
            bytes.extend(serde_json::to_vec(c).unwrap());
            let sum = fnv1a(&bytes);
            bytes.extend(sum.to_be_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let e = |c: Cursor| Cursor::decode(&forge(&c, VERSION)).unwrap_err();
        assert!(e(Cursor {
            state: "gone".into(),
            ..cursor()
        })
        .contains("state"));
        assert!(e(Cursor {
            id: "$iot-presence/status-shards".into(),
            ..cursor()
        })
        .contains("reserved"));
        assert!(e(Cursor {
            at: MAX_TIME_MS + 1,
            ..cursor()
        })
        .contains("out of range"));
        assert!(Cursor::decode(&forge(&cursor(), 2))
            .unwrap_err()
            .contains("version 2"));
    }
}
