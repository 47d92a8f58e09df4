//! How errors are classified and shown: which SDK failures a retry may fix, one line that
//! keeps every cause (SDK errors hide the service's message in their sources), and the two
//! ways untrusted text (client ids, reasons, thing names, any value a message quotes) is made
//! safe to show: [`shown`] caps and quotes a value echoed in an error message, and
//! [`display_safe`] escapes the characters that could rewrite an operator's terminal.

use std::borrow::Cow;
use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// At most this many characters of a value go into a message ([`shown`]).
pub const SHOWN_CHARS: usize = 200;

/// A user-supplied value as an error message quotes it: at most [`SHOWN_CHARS`] characters (cut
/// at a character boundary), quoted and escaped as Rust's `{:?}` does (control characters and
/// bidi controls become `\u{..}`), and when cut, a note of the full length:
/// `"aaaa…" (131072 bytes, first 200 characters shown)`. A value of at most [`SHOWN_CHARS`]
/// characters reads exactly as `{:?}` shows it.
///
/// Every message that quotes a value it was given goes through this: an event field, a widget
/// parameter, a CLI argument may be 128 KiB long, and a message (logged, stored as an event's
/// invalid reason, printed) should stay short.
pub fn shown(value: &str) -> Shown<'_> {
    Shown {
        value,
        quoted: true,
    }
}

/// See [`shown`].
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    value: &'a str,
    quoted: bool,
}

impl Shown<'_> {
    /// Without the quotes or `{:?}`'s escapes, for a message that quotes the value itself (clap
    /// does): the characters [`display_safe`] escapes are still escaped.
    pub fn bare(self) -> Self {
        Shown {
            quoted: false,
            ..self
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = self
            .value
            .char_indices()
            .nth(SHOWN_CHARS)
            .map_or(self.value.len(), |(at, _)| at);
        let head = &self.value[..cut];
        let more = if cut < self.value.len() { "…" } else { "" };
        if self.quoted {
            // `{:?}` of the head, with the ellipsis inside its closing quote.
            let quoted = format!("{head:?}");
            write!(f, "{}{more}\"", &quoted[..quoted.len() - 1])?;
        } else {
            write!(f, "{}{more}", display_safe(head))?;
        }
        if cut < self.value.len() {
            write!(
                f,
                " ({} bytes, first {SHOWN_CHARS} characters shown)",
                self.value.len()
            )?;
        }
        Ok(())
    }
}

/// Whether a character could rewrite or reorder what a terminal shows: the C0 controls (ESC,
/// CR, LF, TAB, ... ), DEL, the C1 controls, the Unicode bidi controls (U+061C, U+200E, U+200F,
/// U+202A to U+202E, U+2066 to U+2069), the line and paragraph separators (U+2028, U+2029)
/// and the invisible zero-width characters (U+200B to U+200D, U+FEFF).
pub fn is_unsafe_to_display(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// Text for a terminal (tables and plain-text lines): every character of
/// [`is_unsafe_to_display`] as a `\u{..}` escape (ESC is `\u{1b}`, U+202E is `\u{202e}`), the
/// rest as it is. Client ids, thing names, reasons and session ids are the devices' own
/// strings: shown raw, `ESC[2J` would clear the operator's screen and U+202E reverse the line.
/// Borrowed when there is nothing to escape (the usual case). JSON output does not need this
/// (serde escapes control characters, and JSON keeps the exact value).
///
/// A backslash is not escaped: `\u{1b}` typed as text shows as it does escaped; `-o json`
/// tells the two apart.
pub fn display_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_to_display) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_to_display(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The error and all its causes, `: `-separated (SDK errors hide the service's message in
/// their sources).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// DynamoDB error codes worth a retry.
const TRANSIENT_CODES: [&str; 7] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];

pub fn sdk_error_is_transient<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service
                    .err()
                    .code()
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_read_as_debug() {
        for v in [
            "",
            "abc",
            "a\"b",
            "a'b",
            "\u{1b}[2J",
            &"é".repeat(SHOWN_CHARS),
        ] {
            assert_eq!(shown(v).to_string(), format!("{v:?}"));
        }
    }

    #[test]
    fn long_values_are_cut_at_a_character_and_say_how_long_they_were() {
        let v = "é".repeat(SHOWN_CHARS + 1);
        let text = shown(&v).to_string();
        assert_eq!(
            text,
            format!(
                "\"{}…\" (402 bytes, first 200 characters shown)",
                "é".repeat(SHOWN_CHARS)
            )
        );
        let v = format!("{}\u{1b}", "x".repeat(SHOWN_CHARS - 1));
        assert!(!shown(&v).bare().to_string().contains('\u{1b}'));
        assert_eq!(shown("a'b").bare().to_string(), "a'b");
    }

    #[test]
    fn terminal_controls_are_escaped_and_the_rest_kept() {
        assert!(matches!(display_safe("pump-7 é 漢"), Cow::Borrowed(_)));
        assert_eq!(
            display_safe("a\u{1b}[2J\r\n\t\u{202e}b\u{2066}\u{200f}\u{85}\u{9b}\u{7f}"),
            "a\\u{1b}[2J\\u{d}\\u{a}\\u{9}\\u{202e}b\\u{2066}\\u{200f}\\u{85}\\u{9b}\\u{7f}"
        );
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let bidi = matches!(c as u32, 0x202a..=0x202e | 0x2066..=0x2069 | 0x200e | 0x200f);
            if c.is_control() || bidi {
                assert!(is_unsafe_to_display(c), "{c:?}");
            }
        }
    }
}
