//! The HTTP API's contract, without a table: docs/openapi.yaml documents exactly the routes and
//! query parameters the router knows, and the check every answer of tests/api.rs goes through
//! fails on an answer that breaks the document (so a passing test means something).

#[path = "api/support.rs"]
mod support;

use std::collections::BTreeSet;

use iot_presence::api::http::{HttpResponse, JSON, PROBLEM_JSON};
use iot_presence::api::route::ROUTES;
use iot_presence::api::{parse, HttpRequest, Limits, Problem};
use serde_json::{json, Value};
use support::{event, template_of, OpenApi};

#[test]
fn the_document_has_exactly_the_routes_and_parameters_of_the_router() {
    let api = OpenApi::load();
    let documented: BTreeSet<&str> = api.doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routed: BTreeSet<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
    assert_eq!(documented, routed);
    for (path, known) in ROUTES {
        let operation = &api.doc["paths"][path];
        let methods: Vec<&String> = operation.as_object().unwrap().keys().collect();
        assert_eq!(methods, ["get"], "{path}: read-only");
        let mut query = BTreeSet::new();
        let mut in_path = BTreeSet::new();
        for p in operation["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let p = match p["$ref"].as_str() {
                Some(r) => api.doc.pointer(r.trim_start_matches('#')).unwrap(),
                None => p,
            };
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str().unwrap() {
                "query" => query.insert(name),
                "path" => in_path.insert(name),
                other => panic!("{path}: parameter {name} in {other}"),
            };
        }
        assert_eq!(query, known.iter().copied().collect(), "{path}");
        let placeholders: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(in_path, placeholders, "{path}");
    }
}

fn response(status: u16, content_type: &str, body: Value) -> HttpResponse {
    HttpResponse::json(status, content_type, &body)
}

/// The check fails on each way an answer can break the document: it can fail, so the
/// answers tests/api.rs checks really are as documented.
#[test]
fn the_check_refuses_answers_that_break_the_document() {
    let mut api = OpenApi::load();
    let status = json!({"clientId": "c", "connected": true, "disconnectReason": "NONE",
                        "timestamp": "2026-12-07T14:00:00.000Z"});
    let client = Some("/clients/{clientId}");
    api.check(client, &response(200, JSON, status.clone()))
        .expect("a valid status");
    let mut broken = Vec::new();
    let mut without = status.clone();
    without.as_object_mut().unwrap().remove("connected");
    broken.push(("a missing required field", response(200, JSON, without)));
    let mut leaking = status.clone();
    leaking["sourceIp"] = json!("192.0.2.7");
    broken.push((
        "a field the document does not have",
        response(200, JSON, leaking),
    ));
    let mut typed = status.clone();
    typed["connected"] = json!("yes");
    broken.push(("a wrong type", response(200, JSON, typed)));
    let mut timed = status.clone();
    timed["timestamp"] = json!(1_796_653_800_000u64);
    broken.push(("a time that is not RFC 3339", response(200, JSON, timed)));
    broken.push((
        "an undocumented status",
        response(201, JSON, status.clone()),
    ));
    broken.push((
        "a success as problem+json",
        response(200, PROBLEM_JSON, status.clone()),
    ));
    let problem = Problem::invalid("since", "must be before until").response();
    let mut as_json = problem.clone();
    as_json.headers.insert("content-type".into(), JSON.into());
    broken.push(("a problem as application/json", as_json));
    let mut unnamed = Problem::invalid("since", "x");
    unnamed.parameter = None;
    broken.push(("a 400 that names no parameter", unnamed.response()));
    let mut no_allow = Problem::method_not_allowed("POST").response();
    no_allow.headers.remove("allow");
    broken.push(("a 405 without its allow header", no_allow));
    for (what, answer) in broken {
        assert!(
            api.check(client, &answer).is_err(),
            "the check passed {what}: {}",
            answer.body
        );
    }
    assert!(api
        .check(
            Some("/clients/{clientId}/history"),
            &response(200, JSON, status)
        )
        .is_err());
}

fn request(method: &str, target: &str) -> HttpRequest {
    serde_json::from_value(event(method, target)).unwrap()
}

const NOW: u64 = 1_796_653_800_000;
const LIMITS: Limits = Limits { retention_days: 30 };

/// Every refusal the router makes is documented, and names its parameter; none needs a table.
#[test]
fn refusals_are_documented_problems_that_name_the_parameter() {
    let mut api = OpenApi::load();
    let long = "x".repeat(129);
    let cases: Vec<(String, Option<&str>, u16)> = vec![
        ("/fleet/summary?verbose=1".into(), Some("verbose"), 400),
        ("/fleet/incident?x".into(), Some("x"), 400),
        ("/clients".into(), Some("state"), 400),
        ("/clients?state=online".into(), Some("state"), 400),
        (
            "/clients?state=connected&state=disconnected".into(),
            Some("state"),
            400,
        ),
        (
            "/clients?state=connected&limit=0".into(),
            Some("limit"),
            400,
        ),
        (
            "/clients?state=connected&limit=1001".into(),
            Some("limit"),
            400,
        ),
        (
            "/clients?state=connected&limit=ten".into(),
            Some("limit"),
            400,
        ),
        (
            "/clients?state=connected&droppedWithin=5m".into(),
            Some("droppedWithin"),
            400,
        ),
        (
            "/clients?state=disconnected&droppedWithin=soon".into(),
            Some("droppedWithin"),
            400,
        ),
        (
            "/clients?state=disconnected&droppedWithin=101y".into(),
            Some("droppedWithin"),
            400,
        ),
        (
            "/clients?state=connected&prefix=".into(),
            Some("prefix"),
            400,
        ),
        (
            format!("/clients?state=connected&prefix={long}"),
            Some("prefix"),
            400,
        ),
        (
            "/clients?state=connected&cursor=abc".into(),
            Some("cursor"),
            400,
        ),
        (
            "/clients?state=connected&cursor=%ZZ".into(),
            Some("cursor"),
            400,
        ),
        (format!("/clients/{long}"), Some("clientId"), 400),
        (
            "/clients/%24iot-presence%2Fstatus-shards".into(),
            Some("clientId"),
            400,
        ),
        ("/clients/a%ZZb/history".into(), Some("clientId"), 400),
        (
            "/clients/a/history?since=yesterday".into(),
            Some("since"),
            400,
        ),
        (
            "/clients/a/history?until=10000000000000".into(),
            Some("until"),
            400,
        ),
        (
            "/clients/a/history?since=2026-12-07T00:00:00Z&until=2026-12-06T00:00:00Z".into(),
            Some("since"),
            400,
        ),
        (
            "/clients/a/history?since=5&until=5".into(),
            Some("since"),
            400,
        ),
        ("/clients/a/history?limit=5".into(), Some("limit"), 400),
        ("/clients/a/availability?since=1".into(), Some("since"), 400),
        (
            format!("/clients/a/availability?since={}", NOW + 1),
            Some("since"),
            400,
        ),
        ("/clients/a?since=1".into(), Some("since"), 400),
        ("/nowhere".into(), None, 404),
        ("/clients/a/b".into(), None, 404),
        ("/clients/a/history/more".into(), None, 404),
        ("//clients".into(), None, 404),
        ("/clients/".into(), None, 404),
        ("/".into(), None, 404),
    ];
    for (target, parameter, status) in cases {
        let problem = parse(&request("GET", &target), NOW, LIMITS).expect_err(&target);
        assert_eq!(problem.status, status, "{target}: {problem:?}");
        assert_eq!(
            problem.parameter.as_deref(),
            parameter,
            "{target}: {problem:?}"
        );
        let path = target.split('?').next().unwrap();
        api.check(template_of(path), &problem.response())
            .unwrap_or_else(|e| panic!("{target}: {e}"));
    }
    for (method, target) in [
        ("POST", "/clients"),
        ("DELETE", "/clients/a"),
        ("PUT", "/fleet/summary"),
        ("HEAD", "/clients/a/history"),
    ] {
        let problem = parse(&request(method, target), NOW, LIMITS).expect_err(target);
        assert_eq!(problem.status, 405, "{method} {target}");
        let answer = problem.response();
        assert_eq!(answer.headers["allow"], "GET");
        api.check(None, &answer).unwrap();
    }
}

/// API Gateway puts a named stage's name first in `rawPath`; a hand-made event may have
/// only the parsed query parameters.
#[test]
fn named_stages_and_events_without_a_raw_query_string_route_the_same() {
    let mut staged = event("GET", "/prod/clients/dev-1");
    staged["requestContext"]["stage"] = json!("prod");
    staged["pathParameters"] = Value::Null;
    let staged: HttpRequest = serde_json::from_value(staged).unwrap();
    let route = parse(&staged, NOW, LIMITS).unwrap();
    assert_eq!(
        route,
        iot_presence::api::Route::Client {
            client_id: "dev-1".into()
        }
    );
    let mut parsed_only = event("GET", "/clients?state=connected&limit=5");
    parsed_only["rawQueryString"] = json!("");
    let parsed_only: HttpRequest = serde_json::from_value(parsed_only).unwrap();
    match parse(&parsed_only, NOW, LIMITS).unwrap() {
        iot_presence::api::Route::Clients(q) => assert_eq!(q.limit, 5),
        other => panic!("{other:?}"),
    }
    // Not an API Gateway event at all: a 404, not a crash.
    let nothing: HttpRequest = serde_json::from_value(json!({"hello": 1})).unwrap_or_default();
    assert_eq!(parse(&nothing, NOW, LIMITS).unwrap_err().status, 404);
}
