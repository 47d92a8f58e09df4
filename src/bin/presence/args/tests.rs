//! The command line's parsing: bounds, client ids, the stack option, the definition.

use super::*;

#[test]
fn time_arguments() {
    assert_eq!(parse_time("2025-11-21T08:00:00Z"), Ok(1_763_712_000_000));
    let an_hour_ago = parse_time("1h").unwrap();
    assert!(now_ms() - an_hour_ago >= 3_600_000 && now_ms() - an_hour_ago < 3_700_000);
    assert!(parse_time("yesterday")
        .unwrap_err()
        .to_string()
        .contains("neither a duration"));
}

/// Every time and duration flag refuses what it cannot represent, naming the flag and the
/// accepted range, and quotes a long value capped. Before the bounds, `--at +10000y`
/// panicked formatting the year 12026, `--offline-for` and thresholds wrapped round
/// (`18446744073709612s` was a 60-second threshold) and the whole value was echoed.
#[test]
fn time_and_duration_flags_are_bounded() {
    let parse = |args: &[&str]| Cli::parse_capped(args.iter().copied());
    let err = |args: &[&str]| match parse(args) {
        Ok(_) => panic!("{args:?} accepted"),
        Err(e) => e.to_string(),
    };
    let pass = ["presence", "alert-pass", "--topic-arn", "arn:aws:sns:x"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { [&pass[..], extra].concat() };
    for (args, flag, range) in [
        (with(&["--at", "+10000y"]), "--at", "100y"),
        (with(&["--at", "+99999999999999999999y"]), "--at", "100y"),
        (
            with(&["--at", "9999-01-01T00:00:00Z"]),
            "--at",
            "9999999999999",
        ),
        (
            vec!["presence", "history", "c", "--since", "101y"],
            "--since",
            "100y",
        ),
        (
            vec![
                "presence",
                "history",
                "c",
                "--until",
                "2300-01-01T00:00:00Z",
            ],
            "--until",
            "2286-11-20T17:46:39.999Z",
        ),
        (
            vec!["presence", "availability", "c", "--since", "1000y"],
            "--since",
            "100y",
        ),
        (
            vec![
                "presence",
                "list",
                "--disconnected",
                "--offline-for",
                "18446744073709612s",
            ],
            "--offline-for",
            "100y",
        ),
        (
            vec![
                "presence",
                "list",
                "--disconnected",
                "--dropped-within",
                "200y",
            ],
            "--dropped-within",
            "100y",
        ),
        (
            vec!["presence", "--timeout", "500y", "summary"],
            "--timeout",
            "100y",
        ),
        (
            vec![
                "presence",
                "reconcile",
                "--connected-for",
                "18446744073709612s",
            ],
            "--connected-for",
            "100y",
        ),
        (
            vec!["presence", "threshold", "c", "18446744073709612s"],
            "THRESHOLD",
            "1m..=7d",
        ),
        (
            vec!["presence", "incident", "--storm-window", "200y"],
            "--storm-window",
            "10s..=1h",
        ),
    ] {
        let e = err(&args);
        assert!(e.contains(flag) && e.contains(range), "{args:?}: {e}");
    }
    assert!(parse(&with(&["--at", "+10m"])).is_ok());
    assert!(parse(&with(&["--at", "2286-11-20T17:46:39Z"])).is_ok());
    assert!(parse(&["presence", "threshold", "c", "7d"]).is_ok());

    let long = format!("+{}", "9".repeat(128 * 1024));
    let e = err(&[&pass[..], &["--at", long.as_str()]].concat());
    assert!(
        e.len() < 1024 && e.contains("131073 bytes") && e.contains("--at"),
        "{e}"
    );
    let e = err(&["presence", &"z".repeat(128 * 1024)]);
    assert!(e.len() < 1024 && e.contains("131072 bytes"), "{e}");
    let e = err(&[
        "presence",
        "summary",
        &format!("--{}", "z".repeat(128 * 1024)),
    ]);
    assert!(e.len() < 1024 && e.contains("131074 bytes"), "{e}");
    let evil = format!("{}\u{1b}[2J{}", "x".repeat(100), "y".repeat(40));
    let e = err(&["presence", "status", &evil]);
    assert!(!e.contains('\u{1b}') && e.contains("\\u{1b}[2J"), "{e}");
}

/// Every command that takes a client id refuses an empty one, an over-long one and the
/// status table's own keys (a threshold on the storm registry would write onto it).
#[test]
fn client_ids_are_checked_before_anything_runs() {
    let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
    let err = |args: &[&str]| match parse(args) {
        Ok(_) => panic!("{args:?} accepted"),
        Err(e) => e.to_string(),
    };
    let long = "x".repeat(129);
    for id in [
        "",
        "$iot-presence/status-shards",
        "$iot-presence/storms",
        long.as_str(),
    ] {
        for args in [
            vec!["presence", "threshold", id, "5m"],
            vec!["presence", "status", id],
            vec!["presence", "history", id],
            vec!["presence", "rebuild", "--client", id],
            vec!["presence", "availability", id],
            vec!["presence", "reconcile", id],
        ] {
            let e = err(&args);
            assert!(e.contains("the client id"), "{args:?}: {e}");
        }
    }
    assert!(err(&["presence", "threshold", &long, "5m"]).contains("129 bytes"));
    assert!(err(&["presence", "status", "$iot-presence/storms"]).contains("reserved"));
    assert!(parse(&["presence", "threshold", "pump-7", "5m"]).is_ok());
}

#[test]
fn threshold_bounds_are_the_librarys() {
    assert_eq!(parse_threshold("1m"), Ok(MIN_THRESHOLD_MS));
    assert_eq!(parse_threshold("7d"), Ok(MAX_THRESHOLD_MS));
    assert_eq!(
        parse_threshold("59s").unwrap_err(),
        "59s is outside 1m..=7d"
    );
    assert!(parse_threshold("8d").is_err());
    // 18446744073709612 s is 60,384 ms once its milliseconds wrap u64.
    assert_eq!(
        parse_threshold("18446744073709612s").unwrap_err(),
        "it is outside 1m..=7d"
    );
}

#[test]
fn flapping_and_window_bounds_are_the_librarys() {
    let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
    let pass = ["presence", "alert-pass", "--topic-arn", "arn:aws:sns:x"];
    let with = |extra: &[&'static str]| [&pass[..], extra].concat();
    assert!(parse(&with(&["--flapping-sessions", "1000"])).is_ok());
    assert!(parse(&with(&["--flapping-sessions", "1001"])).is_err());
    assert!(parse(&with(&["--flapping-window-ms", "60000"])).is_ok());
    assert!(parse(&with(&["--flapping-window-ms", "59999"])).is_err());
    assert!(parse(&with(&["--flapping-window-ms", "86400001"])).is_err());
    let rebuild = |w: &str| {
        parse(&["presence", "rebuild", "--all", "--window-ms", w]).map(|cli| match cli.command {
            Command::Rebuild { window_ms, .. } => window_ms,
            _ => unreachable!(),
        })
    };
    assert_eq!(rebuild("1800000").ok(), Some(MAX_WINDOW_MS));
    assert!(rebuild("1800001").is_err());
}

#[test]
fn incident_and_list_arguments_are_checked() {
    let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
    let err = |args: &[&str]| match parse(args) {
        Ok(_) => panic!("{args:?} accepted"),
        Err(e) => e.to_string(),
    };
    for bad in ["0s", "0", "-5m", "soon"] {
        let arg = format!("--dropped-within={bad}");
        let e = err(&["presence", "list", "--disconnected", &arg]);
        assert!(
            e.contains("--dropped-within") && e.contains(bad),
            "{bad}: {e}"
        );
    }
    assert!(
        err(&["presence", "list", "--connected", "--dropped-within", "5m"])
            .contains("cannot be used with")
    );
    let e = err(&["presence", "list", "--disconnected", "--sort", "random"]);
    assert!(e.contains("--sort") && e.contains("newest"), "{e}");
    for bad in ["0", "1.5", "-0.1", "NaN"] {
        let arg = format!("--storm-min-share={bad}");
        let e = err(&["presence", "incident", &arg]);
        assert!(
            e.contains("--storm-min-share") && e.contains("at most 1"),
            "{bad}: {e}"
        );
    }
    assert!(
        err(&["presence", "incident", "--storm-min-clients", "0"]).contains("--storm-min-clients")
    );
    for bad in ["0s", "5s", "2h"] {
        assert!(err(&["presence", "incident", "--storm-window", bad]).contains("--storm-window"));
    }
    assert!(parse(&["presence", "incident", "--storm-window", "10s"]).is_ok());
}

/// `--stack` is global and checked; with it, `alert-pass` parses without `--topic-arn` (the
/// topic comes from the stack, or the run stops with a usage error naming what is missing).
#[test]
fn the_stack_option() {
    let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
    let cli = parse(&["presence", "status", "c", "--stack", "iot-presence"]).unwrap();
    assert_eq!(cli.stack.as_deref(), Some("iot-presence"));
    let cli = parse(&["presence", "--stack", "iot-presence", "alert-pass"]).unwrap();
    assert!(matches!(cli.command, Command::AlertPass { .. }));
    let long = "s".repeat(513);
    let e = parse(&["presence", "--stack", &long, "summary"])
        .err()
        .unwrap();
    assert!(e.to_string().contains("--stack"), "{e}");
}

#[test]
fn the_cli_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

/// Every subcommand's help has an example, and every example parses: the help cannot show a
/// command line that the CLI refuses.
#[test]
fn every_example_parses() {
    use clap::CommandFactory;
    fn examples(command: &clap::Command, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            path.push(sub.get_name().to_owned());
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let lines = help.split_once("Example:\n").map_or("", |(_, rest)| rest);
            assert!(!lines.trim().is_empty(), "{path:?} has no example");
            assert!(sub.get_about().is_some(), "{path:?} has no description");
            for line in lines.lines().filter(|l| !l.trim().is_empty()) {
                out.push((path.join(" "), line.trim().to_owned()));
            }
            examples(sub, path, out);
            path.pop();
        }
    }
    let mut all = Vec::new();
    examples(&Cli::command(), &mut Vec::new(), &mut all);
    assert!(all.len() >= 17, "{all:?}");
    for (command, line) in all {
        // A shell redirection ends the command line.
        let words: Vec<&str> = line.split_whitespace().take_while(|w| *w != ">").collect();
        if let Err(err) = Cli::try_parse_from(&words) {
            panic!("{command}'s example {line:?} does not parse: {err}");
        }
    }
}
