//! The Lambda functions' handlers: what each invocation does, and how its errors map to
//! what Lambda should do (retry, or keep the event for a person). The `main`s in `src/bin/` only
//! read the configuration, build the SDK clients once and run these.

pub mod alerter;
pub mod api;
pub mod changes;
pub mod ingest;
pub mod reconciler;
pub mod widget;
