use super::*;

fn config(namespace: Option<&str>, dimensions: Option<&str>) -> Result<MetricsConfig, ConfigError> {
    MetricsConfig::from_lookup(|var| match var {
        NAMESPACE_VAR => namespace.map(str::to_owned),
        DIMENSIONS_VAR => dimensions.map(str::to_owned),
        _ => None,
    })
}

#[test]
fn defaults_and_good_values() {
    assert_eq!(
        config(None, None).unwrap(),
        MetricsConfig {
            namespace: DEFAULT_NAMESPACE.into(),
            dimensions: vec![],
        }
    );
    let c = config(
        Some("Fleet/Presence #1: prod"),
        Some("Stack=presence-prod, Stage=prod"),
    )
    .unwrap();
    assert_eq!(c.namespace, "Fleet/Presence #1: prod");
    assert_eq!(
        c.dimensions,
        [
            ("Stack".into(), "presence-prod".into()),
            ("Stage".into(), "prod".into())
        ]
    );
}

/// Each bad value names the variable, the value and what was expected.
#[test]
fn bad_namespaces_and_dimensions_name_the_variable() {
    let long = "N".repeat(256);
    let long_value = format!("Stack={}", "v".repeat(1025));
    let cases: [(Option<&str>, Option<&str>, &str, &str); 12] = [
        (Some(""), None, NAMESPACE_VAR, "1 to 255"),
        (Some("   "), None, NAMESPACE_VAR, "1 to 255"),
        (Some(&long), None, NAMESPACE_VAR, "1 to 255"),
        (Some("Fleet=Presence"), None, NAMESPACE_VAR, "found '='"),
        (Some("AWS/IoT"), None, NAMESPACE_VAR, "reserved"),
        (None, Some("Stack"), DIMENSIONS_VAR, "no '=' in \"Stack\""),
        (None, Some("=prod"), DIMENSIONS_VAR, "dimension names"),
        (None, Some("Stack="), DIMENSIONS_VAR, "dimension values"),
        (None, Some(&long_value), DIMENSIONS_VAR, "1 to 1024"),
        (
            None,
            Some("Outcome=x"),
            DIMENSIONS_VAR,
            "a metric's own label",
        ),
        (None, Some("A=1,A=2"), DIMENSIONS_VAR, "A twice"),
        (None, Some("A=1,B=2,C=3,D=4"), DIMENSIONS_VAR, "at most 3"),
    ];
    for (namespace, dimensions, var, expected) in cases {
        let err = config(namespace, dimensions).unwrap_err().to_string();
        assert!(err.contains(var), "{err}");
        assert!(
            err.contains(expected),
            "{namespace:?} {dimensions:?}: {err}"
        );
    }
}

#[test]
fn reasons_are_bounded() {
    for reason in DOCUMENTED_DISCONNECT_REASONS {
        assert_eq!(reason_dimension(Some(reason)), reason);
    }
    assert_eq!(reason_dimension(None), REASON_UNKNOWN);
    assert_eq!(reason_dimension(Some("client-42 went away")), REASON_OTHER);
}

#[test]
fn only_distinct_events_count_as_seen() {
    for outcome in Outcome::ALL {
        let expected = matches!(outcome, Outcome::Applied | Outcome::Stale);
        assert_eq!(is_seen(outcome, false), expected, "{outcome:?}");
        assert!(
            !is_seen(outcome, true),
            "a redelivery is not a new event: {outcome:?}"
        );
    }
}
