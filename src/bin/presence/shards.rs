//! `presence shards`: the status index's shard count, and `migrate --to N` to change it on a
//! live table (`iot_presence::migrate`).

use indicatif::{ProgressBar, ProgressStyle};
use iot_presence::migrate::{MigrateError, Progress};
use iot_presence::store::Store;

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
    }) = action
    else {
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
        return Ok(());
    };
    eprintln!("presence: starting the migration to {to} shards (waiting {settle:?} for the functions to see it)");
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    let migrated = store
        .migrate(to, settle, page_size, |progress| {
            bar.set_message(format!(
                "{} items scanned, {} re-keyed to {to} shards",
                progress.scanned, progress.rekeyed
            ));
            bar.tick();
        })
        .await;
    bar.finish_and_clear();
    let Some(progress) = migrated? else {
        eprintln!("presence: the status index has {to} shards already; nothing to do");
        return report(
            &Progress {
                from: to,
                to,
                scanned_all: true,
                ..Progress::default()
            },
            format,
        );
    };
    report(&progress, format)
}

fn report(progress: &Progress, format: Format) -> Result<(), Failure> {
    if format == Format::Json {
        print_json(progress);
    } else {
        println!(
            "status index: {} shards (was {}); {} items scanned, {} re-keyed, {} changed by a writer meanwhile",
            progress.to, progress.from, progress.scanned, progress.rekeyed, progress.skipped
        );
    }
    Ok(())
}
