//! Query strings, read strictly: every parameter known to its route, each given at most once,
//! percent-decoded to UTF-8. API Gateway's own parse (`queryStringParameters`) joins a repeated
//! parameter's values with commas, which would turn `state=a&state=b` into one value `a,b`;
//! the raw query string keeps them apart, so it is what is read.

use std::collections::BTreeMap;

use super::problem::Problem;

/// The longest query string read (API Gateway allows far more): anything longer is refused
/// before it is parsed.
pub const MAX_QUERY_BYTES: usize = 4096;

/// The parameters of one request, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `raw` (`a=1&b=x%20y`; `+` is a space, as forms send it) and refuses a name
    /// outside `known`, a repeated name, or an encoding that is not UTF-8.
    pub fn parse(raw: &str, known: &[&str]) -> Result<Params, Problem> {
        if raw.len() > MAX_QUERY_BYTES {
            return Err(Problem::invalid(
                "query",
                format!(
                    "the query string is {} bytes long; at most {MAX_QUERY_BYTES} are read",
                    raw.len()
                ),
            ));
        }
        let mut params = BTreeMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name).map_err(|why| Problem::invalid("query", why))?;
            if !known.contains(&name.as_str()) {
                let expected = if known.is_empty() {
                    "this route takes no query parameters".to_owned()
                } else {
                    format!("this route takes {}", known.join(", "))
                };
                return Err(Problem::invalid(
                    &capped(&name),
                    format!(
                        "unknown query parameter {}: {expected}",
                        crate::errors::shown(&name)
                    ),
                ));
            }
            let value = decode(value).map_err(|why| Problem::invalid(&name, why))?;
            if params.insert(name.clone(), value).is_some() {
                return Err(Problem::invalid(&name, "given more than once"));
            }
        }
        Ok(Params(params))
    }

    /// From API Gateway's map, when there is no raw query string (a hand-made event).
    pub fn from_map(map: &BTreeMap<String, String>, known: &[&str]) -> Result<Params, Problem> {
        for name in map.keys() {
            if !known.contains(&name.as_str()) {
                return Err(Problem::invalid(
                    &capped(name),
                    format!("unknown query parameter {}", crate::errors::shown(name)),
                ));
            }
        }
        Ok(Params(map.clone()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A parameter's name as a problem names it: at most 64 bytes of it.
fn capped(name: &str) -> String {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// Percent-decoding (and `+` as a space) to UTF-8.
pub fn decode(text: &str) -> Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("malformed percent-encoding (a % must be followed by two hex digits)")?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once percent-decoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_known_once_and_values_decoded() {
        let p = Params::parse(
            "state=connected&prefix=a%2Fb+c&limit=",
            &["state", "prefix", "limit"],
        )
        .unwrap();
        assert_eq!(p.get("state"), Some("connected"));
        assert_eq!(p.get("prefix"), Some("a/b c"));
        assert_eq!(p.get("limit"), Some(""));
        assert_eq!(Params::parse("", &[]).unwrap(), Params::default());
        let refused = |raw: &str| Params::parse(raw, &["state"]).unwrap_err().parameter;
        assert_eq!(refused("state=a&state=b").as_deref(), Some("state"));
        assert_eq!(refused("colour=red").as_deref(), Some("colour"));
        assert_eq!(refused("state=%zz").as_deref(), Some("state"));
        assert_eq!(refused("state=%ff").as_deref(), Some("state"));
        assert_eq!(refused("%=1").as_deref(), Some("query"));
        assert_eq!(refused(&"x".repeat(5000)).as_deref(), Some("query"));
        assert_eq!(refused(&format!("{}=1", "é".repeat(40))).unwrap().len(), 64);
    }
}
