//! docs/cost.md and `presence cost` agree with the library: the page holds each table exactly
//! as `iot_presence::cost::report` renders it from the committed measurements
//! (`iot_presence::cost::measured`, which `tests/capacity.rs` keeps equal to what the code
//! consumes), and the binary's totals are the page's. No server: the figures are arithmetic.

use iot_presence::config::DEFAULT_RETENTION_DAYS;
use iot_presence::cost::{measured, model, report};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cost.md"))
        .expect("docs/cost.md")
}

/// Every rendered table, with what it is, as docs/cost.md must hold it.
fn rendered() -> Vec<(&'static str, String)> {
    let inputs = measured::inputs(DEFAULT_RETENTION_DAYS);
    let (devices, per_day) = report::CELL;
    vec![
        ("the units per path", report::units(&measured::PATHS)),
        ("the cost per million events", report::per_million(&inputs)),
        ("the month by fleet", report::grid(&inputs)),
        (
            "the line-by-line cell",
            report::month(&inputs, devices, per_day),
        ),
        ("the prices", report::prices()),
    ]
}

/// Prose as one line: runs of whitespace (the page's line breaks) as one space.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_page_shows_what_the_library_renders_from_the_measurements() {
    let doc = doc();
    let mut missing: Vec<String> = rendered()
        .into_iter()
        .filter(|(_, text)| !doc.contains(text.as_str()))
        .map(|(what, text)| format!("{what}:\n{text}"))
        .collect();
    let sizes = format!(
        "From the replay's run of {}: {}.",
        measured::REPLAY_DATE,
        report::sizes(&measured::SIZES)
    );
    if !flat(&doc).contains(&sizes) {
        missing.push(format!("the replay's sizes:\n{sizes}\n"));
    }
    assert!(
        missing.is_empty(),
        "docs/cost.md lacks, as rendered from src/cost/measured.rs:\n\n{}",
        missing.join("\n")
    );
}

/// The figures the prose repeats: the README's totals, and the handler's part without alerts.
#[test]
fn the_prose_quotes_the_tables() {
    let inputs = measured::inputs(DEFAULT_RETENTION_DAYS);
    let lines = model::per_events(&inputs, 1e6);
    let per_million = model::dollars(model::total(&lines));
    let (devices, per_day) = report::CELL;
    let cell = model::dollars(model::monthly(&inputs, devices, per_day));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let readme = flat(&readme);
    let writes: f64 = lines
        .iter()
        .filter(|l| l.item.starts_with("DynamoDB writes"))
        .map(|l| l.dollars)
        .sum();
    for quoted in [
        format!(
            "**{per_million} per million events with alerts on**, of which DynamoDB writes are {}",
            model::dollars(writes)
        ),
        format!("24 times a day cost about {cell} a month"),
    ] {
        assert!(readme.contains(&quoted), "README.md lacks {quoted:?}");
    }
    let alerts = [
        "DynamoDB writes, alerts",
        "DynamoDB reads, alerts",
        "SNS notices",
    ];
    let handler: f64 = lines
        .iter()
        .filter(|l| !alerts.contains(&l.item))
        .map(|l| l.dollars)
        .sum();
    let quoted = format!(
        "Without alerts the handler's part is {} per million events",
        model::dollars(handler)
    );
    assert!(
        flat(&doc()).contains(&quoted),
        "docs/cost.md lacks {quoted:?}"
    );
}

/// The month grid as docs/cost.md shows it: the cell of (devices, reconnects a day), by their
/// printed forms (`200,000`, `24`).
fn doc_grid(doc: &str) -> Vec<((String, String), String)> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with("| devices |"));
    let header: Vec<String> = cells(lines.next().expect("docs/cost.md has the month grid"));
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|row| {
            let row = cells(row);
            let header = header.clone();
            (1..row.len()).map(move |c| {
                let rate = header[c].trim_end_matches(" a day").to_owned();
                ((row[0].clone(), rate), row[c].clone())
            })
        })
        .collect()
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

#[test]
fn the_grid_parser_reads_the_page_s_nine_cells() {
    let grid = doc_grid(&doc());
    assert_eq!(
        grid.len(),
        report::FLEETS.len() * report::RECONNECTS_PER_DAY.len()
    );
}

#[test]
fn the_cell_shown_line_by_line_is_the_grid_s() {
    let inputs = measured::inputs(DEFAULT_RETENTION_DAYS);
    let (devices, per_day) = report::CELL;
    let cell = model::dollars(model::monthly(&inputs, devices, per_day));
    assert!(report::grid(&inputs).contains(&format!(" {cell} ")));
    assert!(report::month(&inputs, devices, per_day).contains(&format!("**{cell}**")));
}

/// The `presence` binary exists with the `cli` feature only.
#[cfg(feature = "cli")]
mod cli {
    use std::process::{Command, Output};

    use iot_presence::config::DEFAULT_RETENTION_DAYS;
    use iot_presence::cost::{measured, model, report};
    use serde_json::Value;

    /// `presence ARGS` with an empty environment: no region, credentials, tables or endpoints,
    /// so a success shows the command needs none.
    fn presence(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_presence"))
            .args(args)
            .env_clear()
            .output()
            .expect("presence runs")
    }

    fn stdout(out: &Output) -> String {
        assert!(
            out.status.success(),
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout.clone()).expect("UTF-8")
    }

    fn json(args: &[&str]) -> Value {
        let args = [args, &["-o", "json"]].concat();
        serde_json::from_str(&stdout(&presence(&args))).expect("one JSON object")
    }

    #[test]
    fn every_grid_cell_is_what_the_command_prints() {
        let doc = super::doc();
        let grid = super::doc_grid(&doc);
        for devices in report::FLEETS {
            for per_day in report::RECONNECTS_PER_DAY {
                let (d, r) = (format!("{devices}"), format!("{per_day}"));
                let args = ["cost", "--devices", &d, "--reconnects-per-day", &r];
                let key = (model::count(devices), model::count(per_day));
                let cell = &grid.iter().find(|(k, _)| *k == key).expect("a cell").1;
                let v = json(&args);
                let total = v["totalDollars"].as_f64().expect("totalDollars");
                assert_eq!(&model::dollars(total), cell, "{args:?}");
                let table = stdout(&presence(&args));
                let last = table.lines().last().expect("a total line").trim();
                assert!(
                    last.starts_with("total") && last.ends_with(cell.as_str()),
                    "{args:?}: {last:?}, page {cell}"
                );
            }
        }
    }

    #[test]
    fn the_page_shows_the_command_s_real_output() {
        let args = ["cost", "--devices", "200000", "--reconnects-per-day", "24"];
        let shown = format!(
            "$ presence {}\n{}",
            args.join(" "),
            stdout(&presence(&args))
        );
        assert!(
            super::doc().contains(&shown),
            "docs/cost.md lacks the output of `presence {}`:\n{shown}",
            args.join(" ")
        );
    }

    #[test]
    fn json_holds_the_lines_and_the_fleet() {
        let v = json(&["cost", "--devices", "200000", "--reconnects-per-day", "24"]);
        assert_eq!(v["devices"], 200_000);
        assert_eq!(v["reconnectsPerDay"], 24.0);
        assert_eq!(v["retentionDays"], DEFAULT_RETENTION_DAYS);
        let lines = v["lines"].as_array().expect("lines");
        let inputs = measured::inputs(DEFAULT_RETENTION_DAYS);
        let expected = model::month(&inputs, 200_000.0, 24.0);
        assert_eq!(lines.len(), expected.len());
        for (got, want) in lines.iter().zip(&expected) {
            assert_eq!(got["item"], want.item);
            assert_eq!(got["arithmetic"], want.arithmetic.as_str());
            // serde_json's reading of a float may differ from the printed one in the last bit.
            let dollars = got["dollars"].as_f64().expect("dollars");
            assert!(
                (dollars - want.dollars).abs() <= 1e-12 * want.dollars.abs(),
                "{}: {dollars} vs {}",
                want.item,
                want.dollars
            );
        }
        let sum: f64 = lines.iter().filter_map(|l| l["dollars"].as_f64()).sum();
        let total = v["totalDollars"].as_f64().expect("totalDollars");
        assert!((sum - total).abs() < 1e-6, "{sum} vs {total}");
    }

    #[test]
    fn a_longer_retention_costs_more_storage_and_nothing_else() {
        let fleet = ["cost", "--devices", "10000", "--reconnects-per-day", "24"];
        let default = json(&fleet);
        let longer = json(&[&fleet[..], &["--retention-days", "90"]].concat());
        assert_eq!(longer["retentionDays"], 90);
        let storage = ["DynamoDB storage", "point-in-time recovery"];
        let lines = |v: &Value| v["lines"].as_array().expect("lines").clone();
        for (a, b) in lines(&default).iter().zip(&lines(&longer)) {
            let (a_cost, b_cost) = (a["dollars"].as_f64(), b["dollars"].as_f64());
            if storage.contains(&a["item"].as_str().unwrap_or_default()) {
                assert!(b_cost > a_cost, "{a} then {b}");
            } else {
                assert_eq!(a_cost, b_cost, "{}", a["item"]);
            }
        }
        assert!(longer["totalDollars"].as_f64() > default["totalDollars"].as_f64());
    }

    #[test]
    fn bad_input_is_a_usage_error_naming_the_flag() {
        let fleet = ["--devices", "10", "--reconnects-per-day", "1"];
        let with = |flag: &str, value: &str| -> Vec<String> {
            let mut args: Vec<String> = ["cost"]
                .iter()
                .chain(&fleet)
                .map(|s| s.to_string())
                .collect();
            match args.iter().position(|a| a == flag) {
                Some(i) => args[i + 1] = value.to_owned(),
                None => args.extend([flag.to_owned(), value.to_owned()]),
            }
            args
        };
        let without = |flag: &str| -> Vec<String> {
            let i = fleet.iter().position(|a| *a == flag).expect("a flag");
            let mut args = vec!["cost".to_owned()];
            args.extend(
                fleet
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i && *j != i + 1)
                    .map(|(_, a)| a.to_string()),
            );
            args
        };
        let cases = [
            (with("--devices", "0"), "--devices"),
            (with("--devices", "100000001"), "--devices"),
            (with("--devices", "many"), "--devices"),
            (with("--reconnects-per-day", "-1"), "--reconnects-per-day"),
            (with("--reconnects-per-day", "1441"), "--reconnects-per-day"),
            (with("--reconnects-per-day", "NaN"), "--reconnects-per-day"),
            (with("--reconnects-per-day", "inf"), "--reconnects-per-day"),
            (with("--retention-days", "0"), "--retention-days"),
            (with("--retention-days", "3651"), "--retention-days"),
            (without("--devices"), "--devices"),
            (without("--reconnects-per-day"), "--reconnects-per-day"),
        ];
        for (args, flag) in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = presence(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(flag), "{args:?}: {stderr}");
        }
        // The bounds themselves are accepted.
        for (flag, value) in [
            ("--devices", "100000000"),
            ("--reconnects-per-day", "0"),
            ("--reconnects-per-day", "1440"),
            ("--reconnects-per-day", "0.5"),
            ("--retention-days", "3650"),
        ] {
            let args = with(flag, value);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            stdout(&presence(&args));
        }
    }
}
