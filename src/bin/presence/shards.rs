//! `presence shards`: the status index's shard count, and `migrate --to N` to change it on a
//! live table (`iot_presence::migrate`): `--dry-run` to see what it moves and costs, a question
//! on a terminal before it writes, `--yes` for scripts.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use iot_presence::migrate::{MigrateError, Plan, Progress};
use iot_presence::store::capacity::{self, Tally};
use iot_presence::store::Store;
use serde::Serialize;

use crate::args::{Format, ShardsAction};
use crate::output::print_json;
use crate::Failure;

impl From<MigrateError> for Failure {
    fn from(err: MigrateError) -> Self {
        match err {
            MigrateError::Store(err) => Failure::Write(err),
            MigrateError::Read(err) => Failure::Read(err),
            // Bounds, a migration to another count, settings changed under us.
            usage => Failure::Usage(usage.to_string()),
        }
    }
}

pub async fn run(
    store: &Store,
    action: Option<ShardsAction>,
    format: Format,
) -> Result<(), Failure> {
    let Some(ShardsAction::Migrate {
        to,
        page_size,
        settle,
        dry_run,
        yes,
    }) = action
    else {
        return show(store, format).await;
    };
    if dry_run {
        return plan(store, to, page_size, format).await;
    }
    if !yes {
        // Before any request: a script that forgot --yes changes nothing.
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Usage(format!(
                "shards migrate --to {to} re-keys every status item and asks first, but stdin \
                 is not a terminal: pass --yes to migrate without asking (run it with --dry-run \
                 first to see what it moves and what it costs)"
            )));
        }
        let Some(plan) = scan_plan(store, to, page_size).await? else {
            return nothing_to_do(to, format);
        };
        let question = question(&plan);
        let confirmed = confirm(
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
            &question,
        )
        .map_err(|err| Failure::Usage(format!("could not read the answer: {err}")))?;
        if !confirmed {
            return Err(Failure::Usage(
                "not confirmed: nothing written (answer y to migrate, or pass --yes)".to_owned(),
            ));
        }
    }
    migrate(store, to, page_size, settle, format).await
}

async fn show(store: &Store, format: Format) -> Result<(), Failure> {
    let settings = store.shard_settings().await?;
    let layout = settings
        .as_ref()
        .map_or(iot_presence::store::shards::ShardLayout::DEFAULT, |s| {
            s.layout()
        });
    if format == Format::Json {
        print_json(&layout);
    } else {
        match layout.migrating_from {
            Some(from) => println!(
                "status index: migrating from {from} to {} shards (readers query {})",
                layout.status_shards,
                layout.read_shards()
            ),
            None if settings.is_none() => println!(
                "status index: {} shards (the default: no settings item yet)",
                layout.status_shards
            ),
            None => println!("status index: {} shards", layout.status_shards),
        }
    }
    Ok(())
}

fn spinner() -> ProgressBar {
    ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    )
}

/// The dry run's scan, with a spinner.
async fn scan_plan(store: &Store, to: u32, page_size: i32) -> Result<Option<Plan>, Failure> {
    let bar = spinner();
    let planned = store
        .plan_migration(to, page_size, |plan| {
            bar.set_message(format!(
                "{} items scanned, {} to re-key to {to} shards (nothing written)",
                plan.scanned, plan.rekey
            ));
            bar.tick();
        })
        .await;
    bar.finish_and_clear();
    Ok(planned?)
}

/// `--dry-run`: what the migration would move and consume; writes nothing.
async fn plan(store: &Store, to: u32, page_size: i32, format: Format) -> Result<(), Failure> {
    let Some(plan) = scan_plan(store, to, page_size).await? else {
        eprintln!("presence: the status index has {to} shards already; a migration does nothing");
        let nothing = Plan {
            from: to,
            to,
            ..Plan::default()
        };
        print_plan(&nothing, format);
        return Ok(());
    };
    print_plan(&plan, format);
    Ok(())
}

fn print_plan(plan: &Plan, format: Format) {
    if format == Format::Json {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct DryRun<'a> {
            dry_run: bool,
            #[serde(flatten)]
            plan: &'a Plan,
        }
        print_json(&DryRun {
            dry_run: true,
            plan,
        });
        return;
    }
    let units = &plan.rekey_write_units;
    let joins = if plan.resumes {
        " (joins the migration under way, from its saved position)"
    } else {
        ""
    };
    println!(
        "dry run, nothing written: status index {} -> {} shards{joins}\n\
         scanned {} ({}): {} to re-key, {} on their shard under {} already, {}\n\
         write units of the migration: {} = {} for the re-keys (table {}, status-index {}, \
         alert-index {}) + {} for the settings item (its start, its position after each page, \
         its finish)\n\
         read units of this scan: {} (the migration reads the same pages)",
        plan.from,
        plan.to,
        plural(plan.scanned, "item"),
        plural(plan.pages, "page"),
        plural(plan.rekey, "status item"),
        plan.in_place,
        plan.to,
        plural(plan.other, "settings item"),
        plan.write_units,
        units.total(),
        units.table,
        units.status_index,
        units.alert_index,
        plan.settings_write_units,
        plan.scan_read_units,
    );
}

fn plural(count: u64, word: &str) -> String {
    let s = if count == 1 { "" } else { "s" };
    format!("{count} {word}{s}")
}

/// The question asked on a terminal before migrating.
fn question(plan: &Plan) -> String {
    format!(
        "Re-key {} items from {} to {} shards (~{} write units)?",
        plan.rekey, plan.from, plan.to, plan.write_units
    )
}

/// Asks `question` on `ask` and reads one line from `answer`: true only for `y` or `yes`
/// (any case); anything else, or no answer, is a no.
fn confirm(
    answer: &mut impl BufRead,
    ask: &mut impl Write,
    question: &str,
) -> std::io::Result<bool> {
    write!(ask, "{question} [y/N] ")?;
    ask.flush()?;
    let mut line = String::new();
    answer.read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

async fn migrate(
    store: &Store,
    to: u32,
    page_size: i32,
    settle: Duration,
    format: Format,
) -> Result<(), Failure> {
    eprintln!("presence: starting the migration to {to} shards (waiting {settle:?} for the functions to see it)");
    let bar = spinner();
    let (migrated, consumed) =
        capacity::measure(store.migrate(to, settle, page_size, |progress| {
            bar.set_message(format!(
                "{} items scanned, {} re-keyed to {to} shards",
                progress.scanned, progress.rekeyed
            ));
            bar.tick();
        }))
        .await;
    bar.finish_and_clear();
    let Some(progress) = migrated? else {
        return nothing_to_do(to, format);
    };
    report(&progress, &consumed, format);
    Ok(())
}

fn nothing_to_do(to: u32, format: Format) -> Result<(), Failure> {
    eprintln!("presence: the status index has {to} shards already; nothing to do");
    let progress = Progress {
        from: to,
        to,
        scanned_all: true,
        ..Progress::default()
    };
    report(&progress, &Tally::default(), format);
    Ok(())
}

/// What the migration did, and what it consumed (measured, every request of the run).
fn report(progress: &Progress, consumed: &Tally, format: Format) {
    let total = consumed.total();
    if format == Format::Json {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Migrated<'a> {
            #[serde(flatten)]
            progress: &'a Progress,
            /// Every write unit the run consumed: the re-keys and the settings item's writes.
            write_units: f64,
            read_units: f64,
        }
        print_json(&Migrated {
            progress,
            write_units: total.writes(),
            read_units: total.read,
        });
    } else {
        println!(
            "status index: {} shards (was {}); {} items scanned, {} re-keyed, {} changed by a writer meanwhile; \
             {} write units ({} for the re-keys), {} read units",
            progress.to,
            progress.from,
            progress.scanned,
            progress.rekeyed,
            progress.skipped,
            total.writes(),
            progress.rekey_write_units.total(),
            total.read,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(input: &str) -> (bool, String) {
        let mut asked = Vec::new();
        let yes = confirm(&mut input.as_bytes(), &mut asked, "Re-key?").unwrap();
        (yes, String::from_utf8(asked).unwrap())
    }

    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y\n", "Y\n", "yes\n", " YES \n", "y"] {
            assert_eq!(
                answered(yes),
                (true, "Re-key? [y/N] ".to_owned()),
                "{yes:?}"
            );
        }
        for no in ["\n", "", "n\n", "no\n", "yep\n", "y es\n", "sure\n"] {
            assert!(!answered(no).0, "{no:?}");
        }
    }

    #[test]
    fn the_question_names_the_items_the_counts_and_the_units() {
        let plan = Plan {
            from: 16,
            to: 64,
            rekey: 70,
            write_units: 217.0,
            ..Plan::default()
        };
        assert_eq!(
            question(&plan),
            "Re-key 70 items from 16 to 64 shards (~217 write units)?"
        );
    }
}
