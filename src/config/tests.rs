use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

const TABLES: [(&str, &str); 2] = [(STATUS_TABLE_VAR, "status"), (EVENTS_TABLE_VAR, "events")];

fn reconcile_config(vars: &[(&str, &str)]) -> Result<ReconcileConfig, ConfigError> {
    let map: HashMap<String, String> = TABLES
        .iter()
        .chain(vars)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ReconcileConfig::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn reconcile_settings_default_and_bad_ones_name_the_variable() {
    let c = reconcile_config(&[]).unwrap();
    assert_eq!(c.scope, Scope::ConnectedFor(Duration::from_secs(3600)));
    assert_eq!(c.rate, 10.0);
    let c = reconcile_config(&[(RECONCILE_SCOPE_VAR, "all"), (RECONCILE_RATE_VAR, "50")]);
    assert_eq!(
        (c.as_ref().unwrap().scope.clone(), c.unwrap().rate),
        (Scope::All, 50.0)
    );
    for (var, value) in [
        (RECONCILE_SCOPE_VAR, "everything"),
        (RECONCILE_SCOPE_VAR, "connected-for=never"),
        (RECONCILE_RATE_VAR, "0"),
        (RECONCILE_RATE_VAR, "1001"),
    ] {
        let err = reconcile_config(&[(var, value)]).unwrap_err().to_string();
        assert!(err.contains(var) && err.contains(value), "{err}");
    }
}

#[test]
fn defaults() {
    let c = config(&TABLES).unwrap();
    assert_eq!(c.status_table, "status");
    assert_eq!(c.events_table, "events");
    assert_eq!(c.window, Window(120_000));
    assert_eq!(c.retention_days, 30);
    assert_eq!(c.future_skew_ms, DEFAULT_FUTURE_SKEW_MS);
    assert_eq!(c.status_retention_days, 0);
    assert_eq!(c, Config::with_tables("status", "events"));
}

#[test]
fn skew_and_status_retention_are_bounded() {
    let with = |var, value| {
        let mut vars = TABLES.to_vec();
        vars.push((var, value));
        config(&vars)
    };
    assert_eq!(with(FUTURE_SKEW_VAR, "0").unwrap().future_skew_ms, 0);
    assert_eq!(
        with(STATUS_RETENTION_VAR, "90")
            .unwrap()
            .status_retention_days,
        90
    );
    assert_eq!(
        with(FUTURE_SKEW_VAR, "3600001").unwrap_err().to_string(),
        "environment variable FUTURE_SKEW_MS=\"3600001\" is invalid: expected an integer from 0 to 3600000"
    );
    assert!(with(STATUS_RETENTION_VAR, "-1").is_err());
}

#[test]
fn missing_tables_name_the_variable() {
    assert_eq!(config(&[]), Err(ConfigError::Missing("STATUS_TABLE_NAME")));
    assert_eq!(
        config(&[(STATUS_TABLE_VAR, "s"), (EVENTS_TABLE_VAR, " ")]),
        Err(ConfigError::Missing("EVENTS_TABLE_NAME"))
    );
    assert_eq!(
        ConfigError::Missing("STATUS_TABLE_NAME").to_string(),
        "environment variable STATUS_TABLE_NAME is not set (it names a DynamoDB table)"
    );
}

#[test]
fn alert_settings_default_and_validate() {
    let get = |vars: Vec<(&'static str, &'static str)>| {
        let map: HashMap<&str, &str> = vars.into_iter().collect();
        AlertConfig::from_lookup(move |k| map.get(k).map(|v| v.to_string()))
    };
    let mut vars = TABLES.to_vec();
    assert_eq!(
        get(vars.clone()),
        Err(ConfigError::MissingTopic("ALERT_TOPIC_ARN"))
    );
    vars.push((ALERT_TOPIC_VAR, "arn:aws:sns:us-east-1:123456789012:alerts"));
    let c = get(vars.clone()).unwrap();
    assert_eq!(c.settings, AlertSettings::DEFAULT);
    assert_eq!(c.tables.status_table, "status");
    for (var, bad) in [
        (OFFLINE_THRESHOLD_VAR, "59999"),
        (OFFLINE_THRESHOLD_VAR, "604800001"),
        (FLAPPING_SESSIONS_VAR, "1001"),
        (FLAPPING_WINDOW_VAR, "1000"),
        (OFFLINE_THRESHOLDS_VAR, "gw-*=2m,sensor-*"),
        (OFFLINE_THRESHOLDS_VAR, "gw-*=5s"),
    ] {
        let mut bad_vars = vars.clone();
        bad_vars.push((var, bad));
        let err = get(bad_vars).unwrap_err();
        assert!(err.to_string().contains(var), "{err}");
    }
    vars.extend([
        (OFFLINE_THRESHOLD_VAR, "60000"),
        (FLAPPING_SESSIONS_VAR, "0"),
        (FLAPPING_WINDOW_VAR, "120000"),
        (OFFLINE_THRESHOLDS_VAR, "gw-*=2m"),
    ]);
    let c = get(vars).unwrap();
    assert_eq!(
        c.settings,
        AlertSettings {
            offline_threshold_ms: 60_000,
            flapping_sessions: 0,
            flapping_window_ms: 120_000,
            thresholds: "gw-*=2m".parse().unwrap(),
            storm: StormSettings::DEFAULT,
        }
    );
}

#[test]
fn numbers_are_validated() {
    let mut vars = TABLES.to_vec();
    vars.push((WINDOW_VAR, "60000"));
    vars.push((RETENTION_VAR, "7"));
    let c = config(&vars).unwrap();
    assert_eq!((c.window, c.retention_days), (Window(60_000), 7));

    for (var, bad) in [
        (WINDOW_VAR, "-1"),
        (WINDOW_VAR, "2m"),
        (WINDOW_VAR, "1800001"),
        (RETENTION_VAR, "0"),
        (RETENTION_VAR, "3651"),
    ] {
        let mut vars = TABLES.to_vec();
        vars.push((var, bad));
        let err = config(&vars).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { var: v, .. } if *v == var),
            "{var}={bad} gave {err:?}"
        );
        assert!(err.to_string().contains(var), "{err}");
    }
}
