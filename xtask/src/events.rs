//! Shared by replay and sam-compare: reading event files, invoking a function through the
//! Lambda Invoke API, and printing status items.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use iot_presence::store::item::Status;
use iot_presence::store::schema::attr;
use iot_presence::time::iso_seconds;
use serde_json::Value;

use crate::{http, local, Result};

pub type Item = std::collections::HashMap<String, AttributeValue>;

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "json" || e == "jsonl")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// (source, raw JSON text) of every event under `paths`, files in name order:
/// `*.json` is one event or a JSON array of events, `*.jsonl` one event per line (blank lines
/// skipped). A `.json` file that is not JSON is sent as it is: the function says what is wrong.
pub fn load(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("replay: no such file or folder: {}", path.display()).into());
        }
    }
    let mut files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    files.sort();
    let mut events = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
        if file.ends_with(".jsonl") {
            for (number, line) in text.lines().enumerate() {
                if !line.trim().is_empty() {
                    events.push((format!("{file}:{}", number + 1), line.to_owned()));
                }
            }
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(list)) => {
                    for (index, event) in list.iter().enumerate() {
                        events.push((format!("{file}[{index}]"), event.to_string()));
                    }
                }
                _ => events.push((file, text)),
            }
        }
    }
    Ok(events)
}

/// Invokes the function: Ok(answer) with an outcome, or Err(body) for a function error (the
/// body then has errorType and errorMessage).
pub fn invoke(url: &str, payload: &str) -> Result<std::result::Result<Value, Value>> {
    let response = http::post(url, payload.as_bytes(), Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let failed = response.status >= 400 || response.headers.contains_key("x-amz-function-error");
    let parsed = if text.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    if !parsed.is_object() {
        return Ok(Err(
            serde_json::json!({"errorType": "Unknown", "errorMessage": text}),
        ));
    }
    if failed || parsed.get("outcome").is_none() {
        return Ok(Err(parsed));
    }
    Ok(Ok(parsed))
}

/// The status items of `clients`, read by key (BatchGetItem, consistent; no Scan).
pub async fn status_items(
    endpoint: &str,
    table: &str,
    clients: &BTreeSet<String>,
) -> Result<BTreeMap<String, Item>> {
    let client = local::dynamodb(endpoint)?;
    let ids: Vec<&String> = clients.iter().collect();
    let mut items = BTreeMap::new();
    for chunk in ids.chunks(100) {
        let mut keys = KeysAndAttributes::builder().consistent_read(true);
        for id in chunk {
            keys =
                keys.keys([(attr::CLIENT_ID.to_owned(), AttributeValue::S((*id).clone()))].into());
        }
        let mut request = Some([(table.to_owned(), keys.build()?)].into());
        // Bounded: the local server returns everything at once; a stuck UnprocessedKeys loop
        // would be a bug worth stopping on.
        for _ in 0..100 {
            let Some(pending) = request.take() else { break };
            let response = client
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| local::sdk_error("BatchGetItem", e))?;
            for item in response
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                if let Some(AttributeValue::S(id)) = item.get(attr::CLIENT_ID) {
                    items.insert(id.clone(), item);
                }
            }
            request = response.unprocessed_keys.filter(|k| !k.is_empty());
        }
    }
    Ok(items)
}

pub const HEADERS: [&str; 6] = [
    "CLIENT",
    "CONNECTED",
    "SINCE",
    "REASON",
    "SESSION",
    "VERSION",
];

/// One row of the status table, from the typed status item ("?" where a time is unknown, or
/// the item does not decode).
pub fn row(item: &Item) -> Vec<String> {
    let Ok(st) = Status::from_item(item.clone()) else {
        return vec!["?".to_owned(); HEADERS.len()];
    };
    let since = if st.connected {
        st.connected_at
    } else {
        st.disconnected_at
    };
    vec![
        st.client_id,
        if st.connected { "yes" } else { "no" }.to_owned(),
        since.map_or_else(|| "?".to_owned(), iso_seconds),
        st.disconnect_reason.unwrap_or_default(),
        st.session_identifier
            .unwrap_or_default()
            .chars()
            .take(8)
            .collect(),
        st.version_number.map(|v| v.to_string()).unwrap_or_default(),
    ]
}

/// Columns padded to their widest cell, two spaces apart, no trailing blanks.
pub fn print_table(rows: &[Vec<String>]) {
    let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
    let all: Vec<&Vec<String>> = std::iter::once(&headers).chain(rows).collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in all {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
