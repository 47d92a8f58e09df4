use serde_json::json;

use super::*;

fn render(event: Value) -> View {
    match parse(&event) {
        Ok(Request::Render(view)) => view,
        other => panic!("{event}: {other:?}"),
    }
}

fn refused(event: Value) -> String {
    match parse(&event) {
        Err(err) => err.to_string(),
        Ok(request) => panic!("{event} was accepted: {request:?}"),
    }
}

#[test]
fn no_parameters_is_the_fleet_with_the_default_limit() {
    let view = render(json!({}));
    assert_eq!(
        view,
        View {
            client_id: None,
            limit: DEFAULT_LIMIT,
            time_range: None,
            theme: Theme::Light,
        }
    );
}

#[test]
fn parameters_come_from_the_top_level_and_widget_context_params() {
    let context = json!({
        "dashboardName": "d", "widgetId": "widget-1", "theme": "dark",
        "timeRange": {"mode": "relative", "start": 1000, "end": 5000,
                      "zoom": {"start": 2000, "end": 3000}},
        "params": {"clientId": "dev-1", "limit": 7}, "width": 588, "height": 369
    });
    let both = render(json!({"clientId": "dev-1", "limit": 7, "widgetContext": context}));
    assert_eq!(both.client_id.as_deref(), Some("dev-1"));
    assert_eq!(both.limit, 7);
    assert_eq!(
        both.time_range,
        Some(TimeRange {
            start: 2000,
            end: 3000
        })
    );
    assert_eq!(both.theme, Theme::Dark);
    // Only in widgetContext.params (a test invocation), or only at the top level.
    let context_only = render(json!({"widgetContext": {"params": {"limit": 3}}}));
    assert_eq!(context_only.limit, 3);
    assert_eq!(render(json!({"limit": 50})).limit, MAX_LIMIT);
    let unzoomed = render(json!({"widgetContext": {"timeRange": {"start": 1, "end": 2}}}));
    assert_eq!(unzoomed.time_range, Some(TimeRange { start: 1, end: 2 }));
}

#[test]
fn describe_asks_for_the_documentation() {
    assert_eq!(
        parse(&json!({"describe": true, "widgetContext": {}})),
        Ok(Request::Describe)
    );
    assert!(matches!(
        parse(&json!({"describe": false})),
        Ok(Request::Render(_))
    ));
    let docs = describe();
    for param in PARAMS {
        assert!(docs.contains(&format!("| `{param}` |")), "{param}: {docs}");
    }
    assert!(
        docs.contains(&format!("integer, 1 to {MAX_LIMIT} |")),
        "{docs}"
    );
    assert!(docs.contains(&format!("| {DEFAULT_LIMIT} |")), "{docs}");
    assert!(
        docs.contains(&format!("1 to {MAX_CLIENT_ID_BYTES} bytes")),
        "{docs}"
    );
}

#[test]
fn every_bad_input_is_refused_with_a_message_that_names_it() {
    let long = "x".repeat(MAX_CLIENT_ID_BYTES + 1);
    for (event, message) in [
        (
            json!([1]),
            "the widget event must be a JSON object, got an array",
        ),
        (
            json!("x"),
            "the widget event must be a JSON object, got a string",
        ),
        (
            json!({"clientID": "a"}),
            "unknown parameter `clientID`; the widget takes `clientId` and `limit`",
        ),
        (
            json!({"widgetContext": {"params": {"rows": 5}}}),
            "unknown parameter `rows`; the widget takes `clientId` and `limit`",
        ),
        (
            json!({"limit": "20"}),
            "parameter `limit` must be an integer, got a string",
        ),
        (
            json!({"limit": 2.5}),
            "parameter `limit` must be an integer, got 2.5",
        ),
        (
            json!({"limit": 0}),
            "parameter `limit` must be from 1 to 50, got 0",
        ),
        (
            json!({"limit": 51}),
            "parameter `limit` must be from 1 to 50, got 51",
        ),
        (
            json!({"limit": -3}),
            "parameter `limit` must be from 1 to 50, got -3",
        ),
        (
            json!({"clientId": 42}),
            "parameter `clientId` must be a string, got a number",
        ),
        (
            json!({"clientId": null}),
            "parameter `clientId` must be a string, got null",
        ),
        (
            json!({"clientId": ""}),
            "parameter `clientId` must not be empty",
        ),
        (
            json!({"clientId": long}),
            "parameter `clientId` is 129 bytes long; AWS IoT client ids are at most 128",
        ),
        (
            json!({"clientId": "a", "widgetContext": {"params": {"clientId": "b"}}}),
            "parameter `clientId` differs between the event and `widgetContext.params`",
        ),
        (
            json!({"describe": "yes"}),
            "parameter `describe` must be a boolean, got a string",
        ),
        (
            json!({"widgetContext": 5}),
            "`widgetContext` must be an object",
        ),
        (
            json!({"widgetContext": {"params": [1]}}),
            "`widgetContext.params` must be an object",
        ),
    ] {
        assert_eq!(refused(event.clone()), message, "{event}");
    }
    for range in [
        json!({"start": 5, "end": 1}),
        json!({"start": "1", "end": 2}),
        json!({"end": 2}),
        json!({"start": 1, "end": 2, "zoom": {"start": 3}}),
        json!(7),
    ] {
        let message = refused(json!({"widgetContext": {"timeRange": range}}));
        assert!(
            message.starts_with("`widgetContext.timeRange` must be an object"),
            "{range}: {message}"
        );
    }
}

#[test]
fn the_bounds_are_inclusive() {
    assert_eq!(render(json!({"limit": 1})).limit, 1);
    let longest = "é".repeat(MAX_CLIENT_ID_BYTES / 2);
    assert_eq!(
        render(json!({ "clientId": longest }))
            .client_id
            .unwrap()
            .len(),
        MAX_CLIENT_ID_BYTES
    );
    // An unknown theme is CloudWatch's business, not a parameter: the light palette.
    let odd_theme = render(json!({"widgetContext": {"theme": "sepia"}}));
    assert_eq!(odd_theme.theme, Theme::Light);
}

#[test]
fn time_ranges_are_within_13_digit_epoch_milliseconds() {
    let range = |r: Value| json!({"widgetContext": {"timeRange": r}});
    let max = MAX_TIMESTAMP_MS;
    assert_eq!(
        render(range(json!({"start": 0, "end": max}))).time_range,
        Some(TimeRange { start: 0, end: max })
    );
    assert_eq!(
        refused(range(json!({"start": 0, "end": u64::MAX}))),
        "`widgetContext.timeRange.end` is 18446744073709551615; epoch milliseconds from 0 to \
         9999999999999 (13 digits, up to 2286-11-20T17:46:39.999Z) are accepted"
    );
    assert!(refused(range(json!({"start": max + 1, "end": max + 2})))
        .starts_with("`widgetContext.timeRange.start` is 10000000000000;"));
    assert!(refused(range(
        json!({"start": 0, "end": 1, "zoom": {"start": 0, "end": max + 1}})
    ))
    .starts_with("`widgetContext.timeRange.zoom.end` is 10000000000000;"));
}

#[test]
fn long_keys_are_quoted_capped() {
    let key = "k".repeat(100_000);
    let message = refused(json!({ key.clone(): 1 }));
    assert!(
        message.len() < 400 && message.contains("(100000 bytes, first 200 characters shown)"),
        "{message}"
    );
    let message = refused(json!({key.clone(): 1, "widgetContext": {"params": {key: 2}}}));
    assert!(
        message.len() < 400 && message.contains("100000 bytes"),
        "{message}"
    );
}
