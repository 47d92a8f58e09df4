//! `GET /clients` page by page against the local DynamoDB: more clients than a page, many
//! sharing a millisecond, over 16 shards. Every client is on exactly one page, in one global
//! order (newest change first, then client id), whatever the page size; a prefix and a
//! `droppedWithin` window page the same way, the window fixed by the first page.

mod common;
#[path = "api/fleet.rs"]
mod fleet;
#[path = "api/support.rs"]
mod support;

use std::collections::BTreeSet;

use fleet::{connect_event, disconnect_event, Fixture, MINUTE};
use iot_presence::time::now_ms;
use serde_json::Value;

/// Every page of `query` (with `&limit=` and `&cursor=` added), at `now` for the first page
/// and `later` for the rest: the clients' (id, timestamp) in answer order, and the page count.
async fn walk(
    f: &mut Fixture,
    query: &str,
    limit: usize,
    now: u64,
    later: u64,
) -> (Vec<(String, String)>, usize) {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let target = match &cursor {
            None => format!("/clients?{query}&limit={limit}"),
            Some(c) => format!("/clients?{query}&limit={limit}&cursor={c}"),
        };
        let page = f.get(&target, if pages == 0 { now } else { later }).await;
        pages += 1;
        let clients = page["clients"].as_array().unwrap();
        assert!(clients.len() <= limit, "{target}");
        for c in clients {
            seen.push((
                c["clientId"].as_str().unwrap().to_owned(),
                c["timestamp"].as_str().unwrap().to_owned(),
            ));
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => {
                assert_eq!(clients.len(), limit, "only a full page has a next one");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
        assert!(pages < 1000, "the listing does not end");
    }
    (seen, pages)
}

/// Newest change first (RFC 3339 in milliseconds sorts as the time), then client id.
fn in_order(seen: &[(String, String)]) -> bool {
    seen.windows(2)
        .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0))
}

#[tokio::test]
async fn pages_hold_every_client_once_in_one_order() {
    let mut f = Fixture::new().await;
    let now = now_ms();
    let base = now - 30 * MINUTE;
    // 250 connected clients on 10 milliseconds (25 to a millisecond), and 20 disconnected.
    let mut connected = BTreeSet::new();
    for i in 0..250u64 {
        let id = format!("dev-{i}");
        f.send(connect_event(&id, "s", 1, base + i % 10), now).await;
        connected.insert(id);
    }
    for i in 0..20u64 {
        let id = format!("gone-{i}");
        f.send(connect_event(&id, "s", 1, base), now).await;
        f.send(
            disconnect_event(&id, "s", 1, now - i * MINUTE - 1, "CONNECTION_LOST"),
            now,
        )
        .await;
    }
    for limit in [1, 7, 100, 1000] {
        let (seen, pages) = walk(&mut f, "state=connected", limit, now, now).await;
        let ids: BTreeSet<String> = seen.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(
            seen.len(),
            250,
            "limit {limit}: a client twice, or one missing"
        );
        assert_eq!(ids, connected, "limit {limit}");
        assert!(in_order(&seen), "limit {limit}");
        assert_eq!(pages, 250usize.div_ceil(limit), "limit {limit}");
    }
    // A prefix: a filter on the same pages.
    let (seen, _) = walk(&mut f, "state=connected&prefix=dev-1", 10, now, now).await;
    let expected: BTreeSet<&String> = connected
        .iter()
        .filter(|id| id.starts_with("dev-1"))
        .collect();
    assert_eq!(expected.len(), 111);
    assert_eq!(
        seen.iter().map(|(id, _)| id).collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(seen.len(), 111);
    assert!(in_order(&seen));
    // Dropped within 10 minutes: gone-0 .. gone-9 (the drops at 0..9 minutes ago). The later
    // pages are asked 15 minutes on; the window stays the first page's.
    let (seen, pages) = walk(
        &mut f,
        "state=disconnected&droppedWithin=10m",
        3,
        now,
        now + 15 * MINUTE,
    )
    .await;
    let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("gone-{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(pages, 4);
}
