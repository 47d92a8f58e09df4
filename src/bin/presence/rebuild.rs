//! `presence rebuild`: status items recomputed from the event log through the ordering rule,
//! for one client or every client in the log.

use indicatif::{ProgressBar, ProgressStyle};
use iot_presence::rebuild::Rebuilt;
use iot_presence::store::Store;
use iot_presence::time::now_ms;
use tokio::task::JoinSet;

use crate::args::Format;
use crate::output::{print_json, safe, RebuiltView};
use crate::Failure;

/// Clients rebuilt at once with `--all`: each is one paged query of its log and one write.
const PARALLEL: usize = 8;

/// One client; exit 1 when nothing is recorded for it (a status item whose events expired is
/// kept as it is: the log has nothing to rebuild it from).
pub async fn one(
    store: &Store,
    client_id: &str,
    reset: bool,
    format: Format,
) -> Result<(), Failure> {
    let rebuilt = store.rebuild(client_id, reset, now_ms()).await?;
    print_rebuilt(&rebuilt, format);
    if rebuilt.events == 0 && rebuilt.status.is_none() {
        return Err(Failure::unknown(client_id, crate::NOTHING_RECORDED));
    }
    Ok(())
}

fn print_rebuilt(r: &Rebuilt, format: Format) {
    if format == Format::Json {
        print_json(&RebuiltView::from(r));
    } else {
        let state = match r.status.as_ref().map(|s| s.connected) {
            Some(true) => "connected",
            Some(false) => "disconnected",
            None => "no status",
        };
        println!(
            "{}: {} events replayed, {} applied; now {state}",
            safe(&r.client_id),
            r.events,
            r.applied
        );
    }
}

/// Rebuilds every client in the event log, `PARALLEL` at a time, with a progress bar on a terminal.
pub async fn all(store: &Store, reset: bool, format: Format) -> Result<(), Failure> {
    let ids = store.all_client_ids().await?;
    let progress = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} clients, {per_sec}, eta {eta}")
            .expect("valid template"),
    );
    let mut pending = ids.into_iter();
    let mut tasks = JoinSet::new();
    let (mut clients, mut events, mut applied) = (0, 0, 0);
    loop {
        while tasks.len() < PARALLEL {
            let Some(id) = pending.next() else { break };
            let store = store.clone();
            tasks.spawn(async move { store.rebuild(&id, reset, now_ms()).await });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let rebuilt = done.expect("rebuild task panicked")?;
        progress.inc(1);
        if format == Format::Json {
            progress.suspend(|| print_rebuilt(&rebuilt, format));
        }
        clients += 1;
        events += rebuilt.events;
        applied += rebuilt.applied;
    }
    progress.finish_and_clear();
    if format == Format::Table {
        println!("rebuilt {clients} clients: {events} events replayed, {applied} applied");
    }
    Ok(())
}
