//! `cargo xtask sam-compare`: checks `sam local` against the `cargo lambda watch` path: same
//! events, same results (used by scripts/sam-local.sh).
//!
//! The sample events (`events/*.json`) went through `sam local invoke -e FILE` one by one
//! (their answers are in --sam-results, one JSON line per file: {"source", "answer"}); this
//! sends the same files, in the same order, to the reference function (--ref-invoke-url), then
//! sends every scenario event to both (--sam-invoke-url is `sam local start-lambda`). It then
//! compares every answer and, per client, the status items of the two table pairs, prints the
//! status table, and fails on any difference, listing it.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use iot_presence::store::schema::attr;
use serde_json::Value;

use crate::{events, Result};

/// The status attributes that must be equal between the two paths.
const COMPARED: [&str; 9] = [
    attr::CONNECTED,
    attr::EVENT_TYPE,
    attr::SESSION,
    attr::VERSION,
    attr::EVENT_TIMESTAMP,
    attr::DISCONNECT_REASON,
    attr::CONNECTED_AT,
    attr::DISCONNECTED_AT,
    attr::LAST_EVENT_KEY,
];

#[derive(clap::Args)]
/// Compare `sam local` answers and status items with the `cargo lambda watch` run's
pub struct Args {
    #[arg(long, num_args = 1.., required = true)]
    samples: Vec<PathBuf>,
    #[arg(long)]
    scenarios: PathBuf,
    #[arg(long)]
    sam_results: PathBuf,
    #[arg(long)]
    sam_invoke_url: String,
    #[arg(long)]
    ref_invoke_url: String,
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    sam_status_table: String,
    #[arg(long)]
    ref_status_table: String,
}

/// What must match between the two paths: the outcome, or the kind of failure.
fn answer_key(answer: &std::result::Result<Value, Value>) -> (String, Value, Value, Value) {
    match answer {
        Ok(b) => (
            "ok".into(),
            b["clientId"].clone(),
            b["eventKey"].clone(),
            b["outcome"].clone(),
        ),
        Err(b) => (
            "error".into(),
            b["errorType"].clone(),
            Value::Null,
            Value::Null,
        ),
    }
}

fn show(k: &(String, Value, Value, Value)) -> String {
    if k.0 == "ok" {
        format!("(ok, {}, {}, {})", k.1, k.2, k.3)
    } else {
        format!("(error, {})", k.1)
    }
}

/// Compares one event's two answers, and notes the client the sam path wrote.
fn note(
    differences: &mut Vec<String>,
    clients: &mut BTreeSet<String>,
    source: &str,
    sam: &std::result::Result<Value, Value>,
    reference: std::result::Result<Value, Value>,
) {
    let (sam_key, ref_key) = (answer_key(sam), answer_key(&reference));
    if sam_key != ref_key {
        differences.push(format!(
            "{source}: sam {} != cargo lambda {}",
            show(&sam_key),
            show(&ref_key)
        ));
    }
    if let (true, Some(id)) = (sam_key.0 == "ok", sam_key.1.as_str()) {
        clients.insert(id.to_owned());
    }
}

pub async fn run(a: Args) -> Result {
    let mut differences = Vec::new();
    let mut clients = BTreeSet::new();
    let text = std::fs::read_to_string(&a.sam_results)
        .map_err(|e| format!("{}: {e}", a.sam_results.display()))?;
    let mut sam_answers: HashMap<String, Value> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: Value =
            serde_json::from_str(line).map_err(|e| format!("{}: {e}", a.sam_results.display()))?;
        let source = r["source"].as_str().ok_or("a sam result without source")?;
        sam_answers.insert(source.to_owned(), r["answer"].clone());
    }
    let samples = events::load(&a.samples)?;
    for (source, payload) in &samples {
        let Some(sam_body) = sam_answers.get(source) else {
            differences.push(format!("{source}: no `sam local invoke` answer"));
            continue;
        };
        let sam = if sam_body.get("outcome").is_some() {
            Ok(sam_body.clone())
        } else {
            Err(sam_body.clone())
        };
        note(
            &mut differences,
            &mut clients,
            source,
            &sam,
            events::invoke(&a.ref_invoke_url, payload)?,
        );
    }
    let scenario_events = events::load(std::slice::from_ref(&a.scenarios))?;
    for (source, payload) in &scenario_events {
        let sam = events::invoke(&a.sam_invoke_url, payload)?;
        note(
            &mut differences,
            &mut clients,
            source,
            &sam,
            events::invoke(&a.ref_invoke_url, payload)?,
        );
    }

    let sam_items = events::status_items(&a.endpoint, &a.sam_status_table, &clients).await?;
    let ref_items = events::status_items(&a.endpoint, &a.ref_status_table, &clients).await?;
    let empty = HashMap::new();
    for client in &clients {
        let sam = sam_items.get(client).unwrap_or(&empty);
        let reference = ref_items.get(client).unwrap_or(&empty);
        for name in COMPARED {
            if sam.get(name) != reference.get(name) {
                differences.push(format!(
                    "{client}.{name}: sam {:?} != cargo lambda {:?}",
                    sam.get(name),
                    reference.get(name)
                ));
            }
        }
    }

    println!();
    let rows: Vec<Vec<String>> = sam_items.values().map(events::row).collect();
    events::print_table(&rows);
    println!();
    if !differences.is_empty() {
        eprintln!("sam local and cargo lambda DIFFER ({}):", differences.len());
        for d in &differences {
            eprintln!("  {d}");
        }
        return Err("sam local and cargo lambda differ".into());
    }
    println!(
        "{} sample files through `sam local invoke -e`, {} scenario events through `sam local start-lambda`: every answer and all {} status items equal the cargo lambda watch run's ({} events)",
        samples.len(),
        scenario_events.len(),
        clients.len(),
        samples.len() + scenario_events.len()
    );
    Ok(())
}

#[derive(clap::Args)]
/// Print one `sam local invoke` answer as a --sam-results line ({"source", "answer"})
pub struct AnswerArgs {
    /// The event file that was invoked
    source: String,
    /// sam local invoke's stdout: the answer is its last line
    output: PathBuf,
}

pub fn answer(a: AnswerArgs) -> Result {
    let text =
        std::fs::read_to_string(&a.output).map_err(|e| format!("{}: {e}", a.output.display()))?;
    let last = text.trim().lines().last().unwrap_or("");
    let answer: Value = serde_json::from_str(last)
        .map_err(|e| format!("the last line is not JSON ({e}): {last:?}"))?;
    if answer.get("outcome").is_none() && answer.get("errorType").is_none() {
        return Err(format!("unexpected answer: {answer}").into());
    }
    println!(
        "{}",
        serde_json::json!({"source": a.source, "answer": answer})
    );
    Ok(())
}

#[derive(clap::Args)]
/// Create an SNS topic on the local server and print its ARN
pub struct TopicArgs {
    #[arg(long)]
    endpoint: String,
    #[arg(long, default_value = "presence-alerts")]
    name: String,
}

pub async fn topic(a: TopicArgs) -> Result {
    let sns = aws_sdk_sns::Client::new(&crate::local::sdk_config(&a.endpoint)?);
    let arn = crate::local::create_topic(&sns, &a.name).await?;
    println!("{arn}");
    Ok(())
}
