//! Reconciliation against the local server and a local GetConnection stand-in
//! (`common::broker`): repairs and their records, the guarantees after a repair, a status that
//! changes while the broker is asked, every broker failure, throttling, and the CLI.

mod common;

use std::time::Duration;

use common::broker::{Reply, StandIn};
use common::local::{self, event_rows, n, s, status_item, Tables};
use iot_presence::functions::ingest::handle;
use iot_presence::reconcile::broker::{Broker, Pace};
use iot_presence::reconcile::pass::{Action, Check, Reconciler, Sweep};
use iot_presence::reconcile::rule::{settling_ms, REPAIR_VERSION};
use iot_presence::rule::{Outcome, Window};
use iot_presence::store::schema::attr;
use iot_presence::store::Store;
use serde_json::{json, Value};

/// Q, the time of the checks: 2026-09-21T14:13:20Z.
const NOW: u64 = 1_790_000_000_000;
const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const W: Window = Window::DEFAULT;

fn event(client: &str, kind: &str, session: &str, version: u64, ts: u64) -> String {
    let mut e = json!({"clientId": client, "timestamp": ts, "eventType": kind,
        "sessionIdentifier": session, "versionNumber": version, "ipAddress": "192.0.2.7"});
    if kind == "disconnected" {
        e["disconnectReason"] = json!("CONNECTION_LOST");
    }
    e.to_string()
}

struct Fixture {
    client: aws_sdk_dynamodb::Client,
    tables: Tables,
    store: Store,
    stand_in: StandIn,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::of(local::create_tables().await).await
    }

    /// With the status table's stream on, for the tests that read it.
    async fn with_stream() -> Fixture {
        Fixture::of(local::create_tables_with_stream().await).await
    }

    async fn of(tables: Tables) -> Fixture {
        let client = local::client();
        let store = local::store(&client, &tables, W);
        Fixture {
            client,
            tables,
            store,
            stand_in: StandIn::start().await,
        }
    }

    fn reconciler(&self, apply: bool) -> Reconciler {
        let broker = Broker::new(self.stand_in.client(Duration::from_secs(2)));
        Reconciler::new(self.store.clone(), broker, apply)
    }

    async fn record(&self, payload: &str) -> Outcome {
        self.record_at(payload, NOW).await
    }

    async fn record_at(&self, payload: &str, received: u64) -> Outcome {
        handle(&self.store, payload, received)
            .await
            .unwrap()
            .outcome
    }

    async fn sweep(&self, ids: &[&str], apply: bool) -> (Sweep, Vec<Check>) {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let mut checks = Vec::new();
        let sweep = self
            .reconciler(apply)
            .sweep(
                &ids,
                &mut Pace::new(200.0),
                || NOW,
                || true,
                |c| checks.push(c.clone()),
            )
            .await;
        (sweep, checks)
    }

    async fn item(&self, id: &str) -> local::Item {
        status_item(&self.client, &self.tables, id).await.unwrap()
    }
}

#[tokio::test]
async fn a_lost_disconnect_is_repaired_logged_and_late_events_still_order() {
    let f = Fixture::with_stream().await;
    assert_eq!(
        f.record(&event("dev-1", "connected", "s1", 4, NOW - 3 * HOUR))
            .await,
        Outcome::Applied
    );
    let gone = NOW - 2 * HOUR;
    f.stand_in.always(
        "dev-1",
        Reply::disconnected(Some(gone), "MQTT_KEEP_ALIVE_TIMEOUT"),
    );
    let before = event_rows(&f.client, &f.tables, "dev-1").await.len();

    let check = f.reconciler(true).check("dev-1", NOW).await.unwrap();
    assert_eq!(check.action, Action::Repaired);

    let item = f.item("dev-1").await;
    assert_eq!(local::b(&item, attr::CONNECTED), Some(false));
    assert_eq!(n(&item, attr::DISCONNECTED_AT), Some(gone));
    assert_eq!(n(&item, attr::EVENT_TIMESTAMP), Some(gone));
    assert_eq!(n(&item, attr::RECONCILED_AT), Some(NOW));
    assert_eq!(s(&item, attr::SESSION), Some(""));
    assert_eq!(n(&item, attr::VERSION), Some(REPAIR_VERSION));
    assert_eq!(
        s(&item, attr::DISCONNECT_REASON),
        Some("MQTT_KEEP_ALIVE_TIMEOUT")
    );
    assert!(s(&item, attr::STATUS_SHARD)
        .unwrap()
        .starts_with("disconnected#"));
    assert!(
        s(&item, attr::ALERT_SHARD).is_some(),
        "the alerter must see the outage"
    );
    assert_eq!(n(&item, attr::KEEP_ALIVE), Some(30));
    // A repair is a status change: the second, after the connect, and PresenceChanged says it
    // came from the broker (its stream record, read as the function reads it).
    assert_eq!(n(&item, attr::CHANGE_SEQ), Some(2));
    let records = common::stream::Stream::of(&f.tables.status)
        .await
        .records()
        .await;
    let batch = serde_json::from_value(json!({ "Records": records })).unwrap();
    let changes = iot_presence::functions::changes::changes_of(&batch).unwrap();
    let last = &changes.last().expect("the repair's change").1;
    assert_eq!((last.event_id.as_str(), last.reconciled), ("dev-1#2", true));
    assert_eq!(
        last.disconnect_reason.as_deref(),
        Some("MQTT_KEEP_ALIVE_TIMEOUT")
    );

    // The repair's record: outcome reconciled, the broker's answer as payload.
    let rows = event_rows(&f.client, &f.tables, "dev-1").await;
    assert_eq!(rows.len(), before + 1);
    let row = rows
        .iter()
        .find(|r| s(r, attr::OUTCOME) == Some("reconciled"))
        .expect("a reconciled row");
    assert_eq!(s(row, attr::EVENT_KEY), s(&item, attr::LAST_EVENT_KEY));
    let payload: Value = serde_json::from_str(s(row, attr::PAYLOAD).unwrap()).unwrap();
    assert_eq!(payload["connected"], json!(false));
    assert_eq!(payload["disconnectedSince"], json!(gone));
    assert_eq!(payload["observedAt"], json!(NOW));

    // Late events: the lost disconnect itself (older than the answer) is stale, and so is a
    // connect of another connection inside W of the repair; a connect after the answer applies.
    let lost = event("dev-1", "disconnected", "s1", 4, gone + MIN);
    assert_eq!(f.record(&lost).await, Outcome::Stale);
    let inside = event("dev-1", "connected", "s2", 9, gone + W.ms());
    assert_eq!(f.record(&inside).await, Outcome::Stale);
    assert_eq!(
        local::b(&f.item("dev-1").await, attr::CONNECTED),
        Some(false)
    );
    let newer = event("dev-1", "connected", "s3", 0, NOW + MIN);
    assert_eq!(f.record(&newer).await, Outcome::Applied);
    let item = f.item("dev-1").await;
    assert_eq!(local::b(&item, attr::CONNECTED), Some(true));
    assert_eq!(
        n(&item, attr::RECONCILED_AT),
        None,
        "an event replaces the repair"
    );
}

#[tokio::test]
async fn a_lost_connect_is_repaired_and_its_disconnect_applies() {
    let f = Fixture::new().await;
    f.record(&event("dev-2", "disconnected", "s1", 2, NOW - 5 * HOUR))
        .await;
    let since = NOW - HOUR;
    f.stand_in.always("dev-2", Reply::connected(since));
    let (sweep, checks) = f.sweep(&["dev-2"], true).await;
    assert_eq!((sweep.repaired, sweep.checked), (1, 1), "{checks:?}");
    let item = f.item("dev-2").await;
    assert_eq!(local::b(&item, attr::CONNECTED), Some(true));
    assert_eq!(n(&item, attr::CONNECTED_AT), Some(since));
    assert_eq!(
        s(&item, attr::IP_ADDRESS),
        None,
        "not the last connection's address"
    );
    assert_eq!(local::b(&item, attr::CLEAN_SESSION), Some(false));
    assert_eq!(n(&item, attr::SESSION_EXPIRY), Some(3600));
    // The device drops after the check: its disconnect applies, whatever its version.
    let drop = event("dev-2", "disconnected", "s9", 0, NOW + 4 * MIN);
    assert_eq!(f.record_at(&drop, NOW + 4 * MIN).await, Outcome::Applied);
}

#[tokio::test]
async fn a_client_never_seen_that_the_broker_shows_online_gets_a_status() {
    let f = Fixture::new().await;
    f.stand_in.always("fresh", Reply::connected(NOW - HOUR));
    let check = f.reconciler(true).check("fresh", NOW).await.unwrap();
    assert_eq!((check.action, check.ours), (Action::Repaired, None));
    assert_eq!(
        local::b(&f.item("fresh").await, attr::CONNECTED),
        Some(true)
    );
    // One the broker shows offline is left alone: no item is created.
    f.stand_in
        .always("ghost", Reply::disconnected(None, "CONNECTION_LOST"));
    let check = f.reconciler(true).check("ghost", NOW).await.unwrap();
    assert_eq!(check.action, Action::Agree);
    assert!(status_item(&f.client, &f.tables, "ghost").await.is_none());
}

#[tokio::test]
async fn without_apply_nothing_is_written() {
    let f = Fixture::new().await;
    f.record(&event("dev-3", "connected", "s1", 1, NOW - 3 * HOUR))
        .await;
    f.stand_in
        .always("dev-3", Reply::disconnected(None, "CONNECTION_LOST"));
    let item = f.item("dev-3").await;
    let rows = event_rows(&f.client, &f.tables, "dev-3").await;
    let (sweep, checks) = f.sweep(&["dev-3"], false).await;
    assert_eq!(sweep.would_repair, 1);
    assert_eq!(
        checks[0].repair.as_ref().unwrap().since,
        NOW - settling_ms(W)
    );
    assert_eq!(f.item("dev-3").await, item);
    assert_eq!(event_rows(&f.client, &f.tables, "dev-3").await, rows);
}

#[tokio::test]
async fn agreement_and_recent_changes_write_no_repair() {
    let f = Fixture::new().await;
    f.record(&event("ok", "connected", "s1", 1, NOW - 3 * HOUR))
        .await;
    f.stand_in.always("ok", Reply::connected(NOW - 3 * HOUR));
    // Changed a minute ago: events may still be in flight.
    f.record(&event("recent", "connected", "s1", 1, NOW - MIN))
        .await;
    f.stand_in.always(
        "recent",
        Reply::disconnected(Some(NOW - 2 * HOUR), "CONNECTION_LOST"),
    );
    let (sweep, checks) = f.sweep(&["ok", "recent"], true).await;
    assert_eq!(
        (sweep.agreed, sweep.unsettled, sweep.repaired),
        (1, 1, 0),
        "{checks:?}"
    );
    assert_eq!(
        local::b(&f.item("recent").await, attr::CONNECTED),
        Some(true)
    );
    // Agreement still keeps the broker's settings on the item.
    let ok = f.item("ok").await;
    assert_eq!(n(&ok, attr::KEEP_ALIVE), Some(60));
    assert_eq!(n(&ok, attr::BROKER_CHECKED_AT), Some(NOW));
    assert_eq!(n(&ok, attr::RECONCILED_AT), None);
}

#[tokio::test]
async fn a_status_that_changes_while_the_broker_is_asked_is_not_overwritten() {
    let f = Fixture::new().await;
    f.record(&event("race", "connected", "s1", 1, NOW - 3 * HOUR))
        .await;
    // The broker answers slowly; meanwhile a genuine event changes the status.
    f.stand_in.always(
        "race",
        Reply::Slow(
            Duration::from_millis(800),
            Box::new(Reply::disconnected(Some(NOW - 2 * HOUR), "CONNECTION_LOST")),
        ),
    );
    let reconciler = f.reconciler(true);
    let check = tokio::spawn(async move { reconciler.check("race", NOW).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        f.stand_in.calls("race"),
        1,
        "the check is waiting on the broker"
    );
    let reconnect = event("race", "connected", "s2", 2, NOW - 3 * HOUR + 30 * MIN);
    assert_eq!(f.record(&reconnect).await, Outcome::Applied);
    let rows = event_rows(&f.client, &f.tables, "race").await;

    let check = check.await.unwrap().unwrap();
    assert_eq!(check.action, Action::Changed);
    let item = f.item("race").await;
    assert_eq!(
        s(&item, attr::SESSION),
        Some("s2"),
        "the event's status stands"
    );
    assert_eq!(
        event_rows(&f.client, &f.tables, "race").await,
        rows,
        "no row either"
    );
}

#[tokio::test]
async fn broker_failures_are_reported_by_client_write_nothing_and_the_sweep_goes_on() {
    let f = Fixture::new().await;
    let ids = [
        "throttled",
        "forbidden",
        "unknown",
        "broken",
        "hung",
        "fine",
    ];
    for id in ids {
        f.record(&event(id, "connected", "s1", 1, NOW - 3 * HOUR))
            .await;
    }
    f.stand_in.always("throttled", Reply::throttled());
    f.stand_in
        .always("forbidden", Reply::Error(403, "ForbiddenException"));
    // "unknown" has no script: the stand-in answers 404.
    f.stand_in
        .always("broken", Reply::Error(500, "InternalFailureException"));
    f.stand_in
        .always("hung", Reply::Hang(Duration::from_secs(10)));
    f.stand_in.then("fine", [Reply::throttled()]);
    f.stand_in.always(
        "fine",
        Reply::disconnected(Some(NOW - HOUR), "CONNECTION_LOST"),
    );
    let mut items = Vec::new();
    for id in &ids[..5] {
        items.push(f.item(id).await);
    }

    let (sweep, checks) = f.sweep(&ids, true).await;
    assert_eq!(
        (sweep.failed, sweep.repaired, sweep.checked),
        (5, 1, 6),
        "{checks:?}"
    );
    // "throttled": the first call and THROTTLE_RETRIES more; "fine": one throttled, then the answer.
    assert_eq!(f.stand_in.calls("throttled"), 4);
    assert_eq!(f.stand_in.calls("fine"), 2);
    assert_eq!(sweep.throttled, 4);
    assert!(sweep.final_rate < 200.0);
    let error = |id: &str| {
        checks
            .iter()
            .find(|c| c.client_id == id)
            .and_then(|c| c.error.clone())
            .unwrap()
    };
    assert!(error("throttled").contains("\"throttled\" was throttled"));
    assert!(error("forbidden").contains("refused (403)"));
    assert!(error("unknown").contains("does not know client \"unknown\" (404)"));
    assert!(error("broken").contains("\"broken\" failed"));
    assert!(error("hung").contains("\"hung\" failed"));
    for (id, item) in ids[..5].iter().zip(items) {
        assert_eq!(f.item(id).await, item, "{id} must be untouched");
    }
}

#[tokio::test]
async fn the_cli_reports_repairs_and_status_shows_the_brokers_settings() {
    let f = Fixture::new().await;
    let now = iot_presence::time::now_ms();
    for id in ["cli-a", "cli-b"] {
        let payload = event(id, "connected", "s1", 1, now - 3 * HOUR);
        handle(&f.store, &payload, now).await.unwrap();
    }
    f.stand_in.always(
        "cli-a",
        Reply::disconnected(Some(now - HOUR), "SERVER_ERROR"),
    );
    f.stand_in.always("cli-b", Reply::connected(now - 3 * HOUR));
    let run = |args: Vec<String>| {
        let mut command = local::presence_command(&f.tables);
        command.args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "reconcile",
            "--connected-for",
            "1h",
            "--iot-endpoint",
            &f.stand_in.url,
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let dry = run(args(&[])).await.unwrap();
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        out.contains("cli-a") && out.contains("would repair"),
        "{out}"
    );
    assert!(out.contains("checked 2: 1 agree, 1 to repair"), "{out}");

    let applied = run(args(&["--apply", "-o", "json"])).await.unwrap();
    let out = String::from_utf8_lossy(&applied.stdout);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["clientId"], json!("cli-a"));
    assert_eq!(lines[0]["action"], json!("repaired"));
    assert_eq!(lines[1]["repaired"], json!(1));

    let status = run(vec!["status".into(), "cli-b".into()]).await.unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        out.contains("persistent session, expiry 3600 s, keep-alive 60 s, a dead client shows up within 90 s"),
        "{out}"
    );
    let status = run(vec!["status".into(), "cli-a".into()]).await.unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(out.contains("set from the broker by reconcile"), "{out}");
    assert!(out.contains("SERVER_ERROR"), "{out}");

    // A failed check: reported on stderr with the client, exit status 4.
    let failed = run(vec![
        "reconcile".into(),
        "nobody".into(),
        "--iot-endpoint".into(),
        f.stand_in.url.clone(),
    ])
    .await
    .unwrap();
    assert_eq!(failed.status.code(), Some(4));
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("does not know client \"nobody\" (404)"),
        "{err}"
    );
}

#[tokio::test]
async fn the_scheduled_function_sweeps_its_scope_and_keeps_to_its_deadline() {
    use iot_presence::config::Scope;
    use iot_presence::functions::reconciler::function_handler;
    use lambda_runtime::{Context, LambdaEvent};

    let f = Fixture::new().await;
    let now = iot_presence::time::now_ms();
    for id in ["fn-a", "fn-b"] {
        let payload = event(id, "connected", "s1", 1, now - 3 * HOUR);
        handle(&f.store, &payload, now).await.unwrap();
        f.stand_in
            .always(id, Reply::disconnected(Some(now - HOUR), "CONNECTION_LOST"));
    }
    let invoke = |deadline: u64| {
        let mut context = Context::default();
        context.deadline = deadline;
        LambdaEvent::new(json!({"source": "aws.events"}), context)
    };
    let scope = Scope::ConnectedFor(Duration::from_secs(3600));
    let reconciler = f.reconciler(true);

    // Too close to the deadline to start: nothing checked, nothing written.
    let sweep = function_handler(&reconciler, &scope, 100.0, invoke(now + 1_000))
        .await
        .unwrap();
    assert_eq!(sweep.sweep.checked, 0);
    assert_eq!(local::b(&f.item("fn-a").await, attr::CONNECTED), Some(true));

    let sweep = function_handler(&reconciler, &scope, 100.0, invoke(now + 300_000))
        .await
        .unwrap();
    assert_eq!((sweep.sweep.checked, sweep.sweep.repaired), (2, 2));
    for id in ["fn-a", "fn-b"] {
        assert_eq!(local::b(&f.item(id).await, attr::CONNECTED), Some(false));
    }

    // Every check failing is systemic (a role without iot:GetConnection): the run fails.
    for id in ["fn-c", "fn-d"] {
        let payload = event(id, "connected", "s1", 1, now - 3 * HOUR);
        handle(&f.store, &payload, now).await.unwrap();
        f.stand_in
            .always(id, Reply::Error(403, "ForbiddenException"));
    }
    let err = function_handler(&reconciler, &scope, 100.0, invoke(now + 300_000))
        .await
        .unwrap_err();
    assert_eq!(err.error_type, "ReconcileChecksFailed");
    assert!(
        err.error_message.contains("refused (403)"),
        "{}",
        err.error_message
    );
}

/// The scheduled run pages through its scope and resumes: a first run stopped by its deadline
/// mid-scope leaves a cursor, the next run checks exactly the rest (every client asked once,
/// none twice, ties at one timestamp across a page boundary included), and clears the cursor
/// at the end, so the run after that starts a new cycle from the oldest.
#[tokio::test]
async fn runs_page_through_the_scope_and_resume_where_the_last_one_stopped() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use iot_presence::config::Scope;
    use iot_presence::functions::reconciler::run;
    use iot_presence::reconcile::pass::SCOPE_PAGE;

    let f = Fixture::new().await;
    let n = 2 * SCOPE_PAGE + 200;
    let ids: Vec<String> = (0..n).map(|i| format!("rc-{i:05}")).collect();
    for (i, id) in ids.iter().enumerate() {
        // Forty clients share one timestamp, around the first page's end.
        let at = if (480..520).contains(&i) {
            NOW - 3 * HOUR + 480
        } else {
            NOW - 3 * HOUR + i as u64
        };
        f.record(&event(id, "connected", "s1", 1, at)).await;
        f.stand_in.always(id, Reply::connected(at));
    }
    let scope = Scope::ConnectedFor(Duration::from_secs(3600));
    let reconciler = f.reconciler(false);

    let budget = AtomicUsize::new(0);
    let spent = &budget;
    let first = run(&reconciler, &scope, 1000.0, move || {
        spent.fetch_add(1, Ordering::SeqCst) < 700
    })
    .await
    .unwrap();
    assert!(!first.finished && !first.resumed, "{first:?}");
    assert!(first.sweep.checked >= SCOPE_PAGE as u64 && first.sweep.checked < n as u64);
    let cursor = f.store.reconcile_cursor(&scope.to_string()).await.unwrap();
    assert!(cursor.is_some(), "the place is kept");
    assert_eq!(
        f.store.reconcile_cursor("all").await.unwrap(),
        None,
        "another scope's cursor"
    );

    let second = run(&reconciler, &scope, 1000.0, || true).await.unwrap();
    assert!(second.finished && second.resumed, "{second:?}");
    assert_eq!(first.sweep.checked + second.sweep.checked, n as u64);
    assert_eq!(second.sweep.agreed, second.sweep.checked);
    for id in &ids {
        assert_eq!(f.stand_in.calls(id), 1, "{id} asked once over the two runs");
    }
    assert_eq!(
        f.store.reconcile_cursor(&scope.to_string()).await.unwrap(),
        None
    );

    let third = run(&reconciler, &scope, 1000.0, || true).await.unwrap();
    assert!(third.finished && !third.resumed);
    assert_eq!(third.sweep.checked, n as u64, "a new cycle from the oldest");
    assert!(third.pages >= 3, "{} pages", third.pages);
}
