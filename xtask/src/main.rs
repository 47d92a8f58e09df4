//! The project's tooling, driven by the scripts under scripts/ (`cargo xtask --help`).
//! Facts such as table names, shards and attribute names come from the library and from
//! template.yaml (presence-template), never re-declared here.

mod alerts_demo;
mod bench;
mod capacity;
mod changes;
mod events;
mod http;
mod local;
mod release;
mod replay;
mod runtime_api;
mod sam_compare;
mod tables;
mod widget_shot;

use clap::{Parser, Subcommand};

/// What every subcommand returns: a message that says what went wrong.
pub type Result<T = (), E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "iot-presence tooling (run by scripts/*.sh)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Tables(tables::Args),
    Capacity(capacity::Args),
    Changes(changes::Args),
    Replay(replay::Args),
    AlertsDemo(alerts_demo::Args),
    Bench(bench::Args),
    SamCompare(sam_compare::Args),
    SamAnswer(sam_compare::AnswerArgs),
    Topic(sam_compare::TopicArgs),
    WidgetScreenshot(widget_shot::Args),
    ReleaseTemplate(release::Args),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tables(a) => tables::run(a).await,
        Command::Capacity(a) => capacity::run(a).await,
        Command::Changes(a) => changes::run(a).await,
        Command::Replay(a) => replay::run(a).await,
        Command::AlertsDemo(a) => alerts_demo::run(a).await,
        Command::Bench(a) => bench::run(a).await,
        Command::SamCompare(a) => sam_compare::run(a).await,
        Command::SamAnswer(a) => sam_compare::answer(a),
        Command::Topic(a) => sam_compare::topic(a).await,
        Command::WidgetScreenshot(a) => widget_shot::run(a).await,
        Command::ReleaseTemplate(a) => release::run(a),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
