//! `cargo xtask tables`: the local tables from template.yaml's own definitions, so that the
//! template is the one source of truth for key schemas, indexes and TTL.

use std::path::PathBuf;

use presence_template::dynamodb::Streams;
use presence_template::Template;

use crate::{local, Result};

#[derive(clap::Args)]
/// Create the status and event tables on a local server, from template.yaml
pub struct Args {
    /// The local server (loopback only)
    #[arg(long)]
    endpoint: String,
    /// Status table name
    #[arg(long)]
    status: String,
    /// Event table name
    #[arg(long)]
    events: String,
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
}

pub async fn run(a: Args) -> Result {
    let template = Template::load(&a.template)?;
    let client = local::dynamodb(&a.endpoint)?;
    presence_template::dynamodb::create_tables(
        &client,
        &template,
        &a.status,
        &a.events,
        Streams::AsTemplate,
    )
    .await
}
