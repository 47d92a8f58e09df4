use super::*;
use crate::read::Alerted;
use crate::rule::Outcome;
use crate::store::item::{Episode, Outage};
use crate::store::storms::StormRecord;

const NOW: u64 = 1_800_000_000_000;
const MIN: u64 = 60_000;

fn offline(client_id: &str, since: u64, reason: Option<&str>) -> Status {
    Status {
        client_id: client_id.to_owned(),
        connected: false,
        session_identifier: Some("s".into()),
        event_timestamp: Some(since),
        disconnected_at: Some(since),
        disconnect_reason: reason.map(str::to_owned),
        ..Status::default()
    }
}

fn fleet_of(offline: Vec<Status>, connected: u64, disconnected: u64) -> Fleet {
    Fleet {
        connected,
        disconnected,
        offline,
        recent: Vec::new(),
        dropped: Vec::new(),
        storms: vec![],
        flapping: Vec::new(),
        pending: Vec::new(),
        limit: 20,
        now: NOW,
    }
}

#[test]
fn dropped_recently_newest_first_with_the_counts_a_storm_and_the_legend() {
    use crate::alert::storm::{Dropped, DROP_WINDOWS_MS};
    let mut f = fleet_of(vec![], 900, 100);
    let page = text(&fleet(&f, Theme::Light));
    assert!(
        page.contains("No client dropped in the last hour."),
        "{page}"
    );
    assert!(!page.contains("Storm:"), "{page}");
    assert!(page.contains("Legend."), "{page}");
    assert!(
        page.contains(
            "at least 50 clients and 1% of the fleet (or of one client-id prefix) dropped within 2m"
        ),
        "the legend states the storm bounds: {page}"
    );

    f.recent = vec![
        offline("gw-2", NOW - 30_000, Some("CONNECTION_LOST")),
        offline("gw-1", NOW - 4 * MIN, None),
    ];
    f.dropped = DROP_WINDOWS_MS
        .iter()
        .zip([60, 70, 80])
        .map(|(&within_ms, clients)| Dropped { within_ms, clients })
        .collect();
    f.storms = vec![StormRecord {
        id: format!("storm/*/{}", NOW - 3 * MIN),
        prefix: None,
        first_drop_at: NOW - 3 * MIN,
        last_drop_at: NOW - 2 * MIN,
        clients: 60,
        scope_size: 1_000,
        reasons: Default::default(),
        prefixes: Default::default(),
        sample: vec![],
        detected_at: NOW - MIN,
        notified_at: Some(NOW - MIN),
        ended_at: None,
        still_offline: None,
        recovery_notified_at: None,
    }];
    let page = text(&fleet(&f, Theme::Dark));
    assert!(
        page.contains(
            "Storm: 60 clients (6.0% of the fleet) dropped from 2027-01-15T07:57:00Z to \
             2027-01-15T07:58:00Z; their single offline notices are held until it is over."
        ),
        "{page}"
    );
    assert!(
        page.contains("Dropped recently (still offline: 60 in 5m, 70 in 15m, 80 in 1h)"),
        "{page}"
    );
    let (first, second) = (page.find("gw-2").unwrap(), page.find("gw-1").unwrap());
    assert!(first < second, "newest first: {page}");
    assert!(
        page.contains("gw-2 2027-01-15T07:59:30Z (30s ago) CONNECTION_LOST"),
        "{page}"
    );
    assert!(
        page.contains("gw-1 2027-01-15T07:56:00Z (4m ago) UNKNOWN"),
        "{page}"
    );
}

/// The page's text without its tags, as a reader sees it (entities left as they are).
fn text(html: &str) -> String {
    let body = &html[html.find("</style>").expect("a style") + 8..];
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn escape_covers_the_five_html_specials() {
    assert_eq!(
        escape(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    assert_eq!(escape("plain-ID_42 é"), "plain-ID_42 é");
}

#[test]
fn a_script_in_a_client_id_or_reason_is_shown_never_run() {
    let evil = "<script>alert('x')</script>";
    let mut status = offline(evil, NOW - 5 * MIN, Some("<b>\"reason\"</b>"));
    status.session_identifier = Some(evil.into());
    let page = fleet(&fleet_of(vec![status.clone()], 0, 1), Theme::Light);
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(page.contains("&lt;b&gt;&quot;reason&quot;&lt;/b&gt;"));

    let timeline_page = timeline(
        &Timeline {
            client_id: evil.into(),
            status: Some(status),
            events: vec![EventRow {
                client_id: evil.into(),
                event_key: format!("{}#disconnected#{evil}", NOW - 5 * MIN),
                event_type: "disconnected".into(),
                session_identifier: evil.into(),
                version_number: Some(3),
                event_timestamp: NOW - 5 * MIN,
                payload: String::new(),
                received_at: None,
                outcome: Outcome::Applied,
                expires_at: None,
                disconnect_reason: Some("<i>x</i>".into()),
                connect_failure_reason: None,
                invalid_reason: None,
            }],
            limit: 20,
            range: None,
            now: NOW,
        },
        Theme::Dark,
    );
    assert!(!timeline_page.contains("<script"), "{timeline_page}");
    assert!(!timeline_page.contains("<i>"), "{timeline_page}");
    assert_eq!(
        timeline_page.matches("&lt;script&gt;").count(),
        2,
        "the id in the header and the event's session"
    );
}

#[test]
fn no_page_has_a_script_or_loads_anything() {
    let pages = [
        fleet(
            &fleet_of(vec![offline("a", NOW - MIN, None)], 3, 1),
            Theme::Light,
        ),
        fleet(&fleet_of(Vec::new(), 0, 0), Theme::Dark),
    ];
    for page in pages {
        for forbidden in ["<script", "src=", "href=", "url(", "@import", "javascript:"] {
            assert!(!page.contains(forbidden), "{forbidden} in {page}");
        }
        // No event-handler attribute (onload=, onclick=, ...).
        for (at, _) in page.match_indices(" on") {
            let rest = &page[at + 3..];
            let name_end = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            assert!(
                !rest[name_end..].starts_with('='),
                "an event handler in {page}"
            );
        }
    }
}

#[test]
fn an_empty_fleet_says_so() {
    let page = fleet(&fleet_of(Vec::new(), 0, 0), Theme::Light);
    let text = text(&page);
    assert!(text.starts_with("0 connected 0 disconnected"), "{text}");
    assert!(
        text.contains("Offline longest (all 0) No client is disconnected."),
        "{text}"
    );
    assert!(!page.contains("<table"));
    assert!(!text.contains("Flapping"));
}

#[test]
fn offline_rows_show_how_long_the_reason_and_any_alert() {
    let mut alerted = offline(
        "pump-07",
        NOW - 3 * 60 * MIN - 2 * MIN,
        Some("CONNECTION_LOST"),
    );
    alerted.outage = Some(Outage {
        session: "s".into(),
        version: Some(1),
        disconnected_at: NOW - 182 * MIN,
        reason: "CONNECTION_LOST".into(),
        alerted_at: Some(NOW - 170 * MIN),
        held_by: None,
    });
    let pending = offline("sensor-31", NOW - 2 * MIN, None);
    let quiet = offline("gw-1", NOW - 30_000, Some("CLIENT_INITIATED_DISCONNECT"));
    let mut f = fleet_of(vec![alerted, pending, quiet], 12, 9);
    f.pending = vec!["sensor-31".into()];
    f.flapping = vec![
        Alerted {
            client_id: "twin-04".into(),
            kind: "flapping",
            since: NOW - 20 * MIN,
            alerted_at: NOW - 10 * MIN,
            reason: None,
        },
        Alerted {
            client_id: "gw-1".into(),
            kind: "flapping",
            since: NOW - 20 * MIN,
            alerted_at: NOW - 10 * MIN,
            reason: None,
        },
    ];
    let page = fleet(&f, Theme::Light);
    let text = text(&page);
    assert!(text.starts_with("12 connected 9 disconnected"), "{text}");
    assert!(
        text.contains("Offline longest (the 3 longest of 9)"),
        "{text}"
    );
    assert!(
        text.contains("pump-07 3h 2m 2027-01-15T04:58:00Z CONNECTION_LOST offline alert sent 2027-01-15T05:10:00Z (2h 50m ago)"),
        "{text}"
    );
    assert!(text.contains("sensor-31 2m"), "{text}");
    assert!(
        text.contains(&format!("{REASON_UNKNOWN} pending")),
        "{text}"
    );
    assert!(
        text.contains("gw-1 30s 2027-01-15T07:59:30Z CLIENT_INITIATED_DISCONNECT flapping"),
        "{text}"
    );
    assert!(
        text.contains("Flapping Client Episode since (UTC) Alerted twin-04"),
        "{text}"
    );
    // Longest first, as given.
    let (p, s, g) = (
        text.find("pump-07").unwrap(),
        text.find("sensor-31").unwrap(),
        text.find("gw-1 30s").unwrap(),
    );
    assert!(p < s && s < g);
}

#[test]
fn a_timeline_shows_the_status_and_the_events_newest_first() {
    let mut status = offline("dev-1", NOW - 5 * MIN, Some("SERVER_INITIATED_DISCONNECT"));
    status.flapping = Some(Episode {
        since: NOW - 30 * MIN,
        alerted_at: NOW - 25 * MIN,
    });
    let row = |ts: u64, event_type: &str, outcome: Outcome, reason: Option<&str>| EventRow {
        client_id: "dev-1".into(),
        event_key: format!("{ts}#{event_type}#s1"),
        event_type: event_type.into(),
        session_identifier: "s1".into(),
        version_number: Some(2),
        event_timestamp: ts,
        payload: String::new(),
        received_at: None,
        outcome,
        expires_at: None,
        disconnect_reason: reason.map(str::to_owned),
        connect_failure_reason: None,
        invalid_reason: None,
    };
    let t = Timeline {
        client_id: "dev-1".into(),
        status: Some(status),
        events: vec![
            row(
                NOW - 5 * MIN,
                "disconnected",
                Outcome::Applied,
                Some("SERVER_INITIATED_DISCONNECT"),
            ),
            row(NOW - 6 * MIN, "connected", Outcome::Duplicate, None),
        ],
        limit: 2,
        range: Some(TimeRange {
            start: NOW - 60 * MIN,
            end: NOW,
        }),
        now: NOW,
    };
    let text = text(&timeline(&t, Theme::Light));
    assert!(
        text.starts_with("Client dev-1 disconnected since 2027-01-15T07:55:00Z (5m ago), reason SERVER_INITIATED_DISCONNECT Flapping since"),
        "{text}"
    );
    assert!(
        text.contains("Newest events between 2027-01-15T07:00:00Z and 2027-01-15T08:00:00Z (2 shown, at most 2)"),
        "{text}"
    );
    assert!(
        text.contains("2027-01-15T07:55:00.000Z disconnected applied s1 2 SERVER_INITIATED_DISCONNECT 2027-01-15T07:54:00.000Z connected duplicate s1 2"),
        "{text}"
    );
}

/// Every outcome a timeline row can show is explained under the table.
#[test]
fn the_timeline_legend_explains_every_outcome() {
    for o in Outcome::ALL {
        let named = format!(" {}:", o.as_str());
        assert!(TIMELINE_LEGEND.contains(&named), "{o:?}: {TIMELINE_LEGEND}");
    }
}

#[test]
fn an_unknown_client_has_an_empty_timeline() {
    let t = Timeline {
        client_id: "nobody".into(),
        status: None,
        events: Vec::new(),
        limit: 20,
        range: None,
        now: NOW,
    };
    let text = text(&timeline(&t, Theme::Light));
    assert_eq!(
        text,
        "Client nobody Never seen: no status item. Newest events (0 shown, at most 20) \
         No events in the event log. Read 2027-01-15T08:00:00Z."
    );
}

/// A page renders whatever times it is given (a time past year 9999 as its number): the
/// request's bounds keep such a range out, and a render never panics on one that got in.
#[test]
fn times_past_year_9999_render_as_numbers() {
    let t = Timeline {
        client_id: "c".into(),
        status: None,
        events: Vec::new(),
        limit: 20,
        range: Some(TimeRange {
            start: NOW,
            end: u64::MAX,
        }),
        now: u64::MAX,
    };
    let text = text(&timeline(&t, Theme::Light));
    assert!(
        text.contains(
            "between 2027-01-15T08:00:00Z and 18446744073709551615 ms after the epoch (past year 9999)"
        ),
        "{text}"
    );
}
