//! `presence status` and `presence list`: one client's connectivity, and the clients connected
//! or disconnected, from the status table.

use std::time::Duration;

use iot_presence::event::Presence;
use iot_presence::read::{Listing, Order};
use iot_presence::store::item::Status;
use iot_presence::store::schema::REASON_UNKNOWN;
use iot_presence::store::Store;
use iot_presence::time::{millis, now_ms};

use crate::args::{Format, Sort};
use crate::output::{
    ago, cell, iso_seconds, opt, print_json, safe, state_cell, state_color, table, StatusView,
};
use crate::Failure;

/// `status`: exit 1 (after printing the connectivity API's answer) for a client never seen.
pub async fn status(
    store: &Store,
    client_id: &str,
    socket: bool,
    principal: bool,
    format: Format,
) -> Result<(), Failure> {
    let status = store.status(client_id).await?;
    print_status(client_id, status.as_ref(), socket, principal, format);
    if status.is_none() {
        return Err(Failure::unknown(
            client_id,
            "no status item (no applied lifecycle event recorded)",
        ));
    }
    Ok(())
}

/// Which clients `list` shows, and in which order.
pub struct ListFilter {
    pub connected: bool,
    /// Disconnected for at least this long.
    pub offline_for: Option<Duration>,
    /// Disconnected within this long.
    pub dropped_within: Option<Duration>,
    pub sort: Sort,
}

/// `list`: connected, or disconnected (for at least `offline_for`, within `dropped_within`).
pub async fn list(
    store: &Store,
    filter: ListFilter,
    limit: Option<usize>,
    page_size: Option<i32>,
    format: Format,
) -> Result<(), Failure> {
    let now = now_ms();
    let ago = |d: Option<Duration>| d.map(|d| now.saturating_sub(millis(d)));
    let presence = if filter.connected {
        Presence::Connected
    } else {
        Presence::Disconnected
    };
    let listing = Listing {
        before: ago(filter.offline_for),
        from: ago(filter.dropped_within),
        order: match filter.sort {
            Sort::Newest => Order::NewestFirst,
            Sort::Oldest => Order::OldestFirst,
            Sort::Client => Order::ClientId,
        },
        limit,
        page_size,
        ..Listing::new(presence)
    };
    let statuses = store.listing(listing).await?;
    print_list(&statuses, format);
    Ok(())
}

fn print_status(
    client_id: &str,
    status: Option<&Status>,
    socket: bool,
    principal: bool,
    format: Format,
) {
    if format == Format::Json {
        match status {
            Some(st) => print_json(&StatusView::new(st, socket, principal)),
            None => print_json(&StatusView::unknown(client_id)),
        }
        return;
    }
    let Some(st) = status else {
        println!(
            "{}: never seen (no lifecycle event recorded); disconnectReason {REASON_UNKNOWN}",
            safe(client_id)
        );
        return;
    };
    let now = now_ms();
    let mut t = table();
    let since = st.since().map_or("-".to_owned(), |s| {
        format!("since {} ({})", iso_seconds(s), ago(now, s))
    });
    t.add_row(vec![cell("client"), cell(&st.client_id)]);
    t.add_row(vec![cell("thing"), cell(opt(st.thing_name.as_ref()))]);
    let state = if st.connected { "yes" } else { "no" };
    t.add_row(vec![
        cell("connected"),
        cell(format!("{state}, {since}")).fg(state_color(st.connected)),
    ]);
    if !st.connected {
        let reason = st.disconnect_reason.as_deref().unwrap_or(REASON_UNKNOWN);
        let who = match st.client_initiated_disconnect {
            Some(true) => " (client initiated)",
            Some(false) => " (not client initiated)",
            None => "",
        };
        t.add_row(vec![cell("reason"), cell(format!("{reason}{who}"))]);
        if let Some(at) = st.connected_at {
            t.add_row(vec![
                cell("last session"),
                cell(format!("connected {}", iso_seconds(at))),
            ]);
        }
    }
    let session = match st.reconciled_at {
        // A repair carries no session (see `iot_presence::reconcile`).
        Some(at) => format!(
            "unknown: set from the broker by reconcile {}",
            iso_seconds(at)
        ),
        None => format!(
            "{} (version {})",
            opt(st.session_identifier.as_ref()),
            opt(st.version_number)
        ),
    };
    t.add_row(vec![cell("session"), cell(session)]);
    if let Some(facts) = &st.broker() {
        let kind = if facts.clean_session {
            "clean session".to_owned()
        } else {
            format!("persistent session, expiry {} s", facts.session_expiry)
        };
        let detection = facts
            .dead_client_detection_ms()
            .map_or(String::new(), |ms| {
                format!(", a dead client shows up within {} s", ms / 1000)
            });
        t.add_row(vec![
            cell("broker"),
            cell(format!(
                "{kind}, keep-alive {} s{detection} (asked {})",
                facts.keep_alive_duration,
                iso_seconds(facts.checked_at)
            )),
        ]);
    }
    if let Some(storm) = crate::output::held_by(st) {
        t.add_row(vec![
            cell("alert"),
            cell(format!(
                "offline notice held by {storm} (presence storms): sent only if still offline a \
                 threshold past its end"
            )),
        ]);
    }
    if principal {
        t.add_row(vec![
            cell("principal"),
            cell(opt(st.principal_identifier.as_ref())),
        ]);
    }
    if socket {
        t.add_row(vec![cell("ip"), cell(opt(st.ip_address.as_ref()))]);
    }
    println!("{}", t.trim_fmt());
}

fn print_list(statuses: &[Status], format: Format) {
    if format == Format::Json {
        for st in statuses {
            print_json(&StatusView::new(st, false, false));
        }
        return;
    }
    let now = now_ms();
    let mut t = table();
    t.set_header(vec![
        "CLIENT",
        "CONNECTED",
        "SINCE",
        "FOR",
        "REASON",
        "VERSION",
        "THING",
    ]);
    for st in statuses {
        let since = st.since();
        t.add_row(vec![
            cell(&st.client_id),
            state_cell(st.connected),
            cell(since.map_or("-".into(), iso_seconds)),
            cell(since.map_or("-".into(), |s| ago(now, s).replace(" ago", ""))),
            cell(st.disconnect_reason.as_deref().unwrap_or("-")),
            cell(opt(st.version_number)),
            cell(opt(st.thing_name.as_ref())),
        ]);
    }
    println!("{}", t.trim_fmt());
    println!("{} clients", statuses.len());
}
