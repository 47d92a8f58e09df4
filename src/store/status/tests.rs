use super::*;

fn event(json: &str) -> LifecycleEvent {
    LifecycleEvent::parse(json).unwrap()
}

#[test]
fn connect_failed_builds_no_status_update() {
    let e = event(
        r#"{"clientId":"c","timestamp":1,"eventType":"connect_failed","sessionIdentifier":"s"}"#,
    );
    assert!(status_update(&e, &e.event_key(), Window::DEFAULT, 0, 0, 16)
        .unwrap()
        .is_none());
}

#[test]
fn every_placeholder_is_defined_and_used() {
    for json in [
        r#"{"clientId":"c","timestamp":5,"eventType":"connected","sessionIdentifier":"s","versionNumber":1,"ipAddress":"1.2.3.4","principalIdentifier":"p","thingName":"t"}"#,
        r#"{"clientId":"c","timestamp":5,"eventType":"connected","sessionIdentifier":"s","versionNumber":1,"ipAddress":""}"#,
        r#"{"clientId":"c","timestamp":5,"eventType":"disconnected","sessionIdentifier":"s","versionNumber":1,"disconnectReason":"CONNECTION_LOST","clientInitiatedDisconnect":false}"#,
        r#"{"clientId":"c","timestamp":5,"eventType":"disconnected","sessionIdentifier":"s","versionNumber":1}"#,
    ] {
        let e = event(json);
        let u = status_update(&e, &e.event_key(), Window::DEFAULT, 9_000, 30, 16)
            .unwrap()
            .unwrap();
        let text = format!(
            "{} {}",
            u.expr.update.as_deref().unwrap(),
            u.expr.condition.as_deref().unwrap()
        );
        let names = u.expr.names.clone().unwrap();
        let values = u.expr.values.clone().unwrap();
        for name in names.keys().chain(values.keys()) {
            assert!(text.contains(name.as_str()), "{name} unused in {text}");
        }
        // Every placeholder the expressions use is defined (DynamoDB rejects both kinds of
        // mismatch with a ValidationException).
        for token in text.split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':')) {
            if token.starts_with('#') {
                assert!(names.contains_key(token), "{token} undefined");
            } else if token.starts_with(':') {
                assert!(values.contains_key(token), "{token} undefined");
            }
        }
    }
}

#[test]
fn window_arithmetic_moves_to_the_value_side() {
    let e = event(
        r#"{"clientId":"c","timestamp":100,"eventType":"connected","sessionIdentifier":"s","versionNumber":1}"#,
    );
    let mut x = Expr::new();
    let cond = status_condition(&mut x, &e.observed().unwrap(), Window(120_000));
    let values = x.build().unwrap().values.unwrap();
    assert_eq!(values[":tsMinusW"], n(-119_900));
    assert_eq!(values[":tsPlusW"], n(120_100));
    assert!(
        !cond.contains(":connectedType"),
        "a connect never ends a session: {cond}"
    );
}
