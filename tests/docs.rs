//! The documentation and the code must not drift apart: every relative link in README.md,
//! ARCHITECTURE.md and docs/*.md resolves (file and heading anchor), every template.yaml
//! parameter is listed in docs/configuration.md with its default, and every environment
//! variable the code reads (or the template sets on a function) is named there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use presence_template::{Template, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CONFIGURATION: &str = "docs/configuration.md";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// README.md, ARCHITECTURE.md and every docs/*.md, as paths relative to the repository.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| Path::new("docs").join(p.file_name().unwrap()))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of a markdown text outside fenced code blocks.
fn prose_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// A line with its inline code spans removed (text between backticks is not markdown).
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// GitHub's heading anchor: lowercase, punctuation dropped except `-` and `_`, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every heading anchor of a markdown text, repeats numbered as GitHub does (`name-1`, ...).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links and images of a markdown text: `[text](target)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            // `(path "title")`: the target is the first word.
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push(target.to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// What is wrong with the relative links of `file` (a path relative to `root`), read as `text`.
fn broken_links(root: &Path, file: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for target in link_targets(text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        let resolved = if path.is_empty() {
            root.join(file)
        } else {
            root.join(file.parent().unwrap()).join(path)
        };
        if !resolved.is_file() {
            problems.push(format!("{}: link ({target}) names no file", file.display()));
            continue;
        }
        if let Some(anchor) = anchor {
            let headings = anchors(&read(&resolved));
            if !headings.contains(anchor) {
                problems.push(format!(
                    "{}: link ({target}): no heading with anchor #{anchor} in {}",
                    file.display(),
                    resolved.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn the_slug_rule_is_github_s() {
    assert_eq!(slug("Build, test and CI times"), "build-test-and-ci-times");
    assert_eq!(
        slug("Passes that drain: the alerter's deadline at scale"),
        "passes-that-drain-the-alerters-deadline-at-scale"
    );
    assert_eq!(
        slug("The local demo: `scripts/replay.sh`"),
        "the-local-demo-scriptsreplaysh"
    );
    assert_eq!(
        slug("A storm of 200,000 clients"),
        "a-storm-of-200000-clients"
    );
    let repeated = anchors("# Notes\n## Notes\n```\n# not a heading\n```\n#nope\n");
    assert_eq!(
        repeated,
        BTreeSet::from(["notes".to_owned(), "notes-1".to_owned()])
    );
}

#[test]
fn the_link_check_finds_a_broken_link_and_a_missing_anchor() {
    let root = Path::new(ROOT);
    let text = "[ok](cost.md) [file](no-such-file.md) [anchor](cost.md#no-such-heading) \
                [web](https://example.com/x) `[code](not-checked.md)`\n\
                ```\n[fenced](not-checked-either.md)\n```\n";
    let problems = broken_links(root, Path::new("docs/example.md"), text);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("no-such-file.md"), "{problems:#?}");
    assert!(problems[1].contains("#no-such-heading"), "{problems:#?}");
}

#[test]
fn every_relative_link_resolves() {
    let root = Path::new(ROOT);
    let files = markdown_files();
    assert!(
        files.iter().any(|f| f.ends_with("configuration.md")) && files.len() > 5,
        "found only {files:?}"
    );
    let mut links = 0;
    let mut problems = Vec::new();
    for file in &files {
        let text = read(&root.join(file));
        links += link_targets(&text).len();
        problems.extend(broken_links(root, file, &text));
    }
    assert!(
        links > 50,
        "only {links} links found: the link parser is broken"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_links_every_doc() {
    let readme = read(&Path::new(ROOT).join("README.md"));
    let targets: BTreeSet<String> = link_targets(&readme)
        .into_iter()
        .map(|t| t.split('#').next().unwrap().to_owned())
        .collect();
    for file in markdown_files().iter().skip(1) {
        let name = file.to_str().unwrap();
        assert!(targets.contains(name), "README.md does not link {name}");
    }
}

/// The table rows of docs/configuration.md, by their first cell (backticks removed), each as its
/// cells (trimmed, backticks removed).
fn configuration_rows() -> BTreeMap<String, Vec<Vec<String>>> {
    let text = read(&Path::new(ROOT).join(CONFIGURATION));
    let mut rows: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for line in prose_lines(&text) {
        let line = line.trim();
        if !line.starts_with('|') {
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect();
        rows.entry(cells[0].clone()).or_default().push(cells);
    }
    rows
}

/// A parameter's default as the docs write it: `""` for an empty string.
fn default_text(name: &str, default: &Option<Value>) -> String {
    match default {
        Some(Value::String(s)) if s.is_empty() => "\"\"".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        other => panic!("parameter {name}: a default docs/configuration.md cannot show: {other:?}"),
    }
}

#[test]
fn every_template_parameter_is_documented_with_its_default() {
    let template = Template::load(Path::new(ROOT).join("template.yaml")).unwrap();
    let parameters = template.parameters().unwrap();
    assert!(
        parameters.len() > 10 && parameters.contains_key("TimestampWindowMs"),
        "template.yaml's parameters not read: {:?}",
        parameters.keys()
    );
    let rows = configuration_rows();
    let mut problems = Vec::new();
    for (name, parameter) in &parameters {
        let default = default_text(name, &parameter.default);
        match rows.get(name) {
            None => problems.push(format!("{name}: no table row in {CONFIGURATION}")),
            Some(rows) if !rows.iter().any(|cells| cells[1..].contains(&default)) => problems.push(
                format!("{name}: its row in {CONFIGURATION} does not show the default {default}"),
            ),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Whether `s` looks like an environment variable's name.
fn is_variable_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The string literal that starts right after each occurrence of `prefix` in `text`.
fn literals_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(prefix).filter_map(move |(at, _)| {
        let rest = &text[at + prefix.len()..];
        rest.find('"').map(|end| &rest[..end])
    })
}

/// The environment variables the code reads, from its source text: the `*_VAR` name constants
/// (`pub const WINDOW_VAR: &str = "TIMESTAMP_WINDOW_MS";`, read through `from_lookup`), and the
/// literal names given to `env::var`, `var_os`, a `var(..)` helper or a clap `env = ..`.
fn variables_read_by_the_code() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in rust_files(&Path::new(ROOT).join("src")) {
        let text = read(&file);
        for line in text.lines() {
            if let Some((lhs, _)) = line.split_once(": &str = \"") {
                if lhs.trim_end().ends_with("_VAR") {
                    names.extend(literals_after(line, ": &str = \"").map(str::to_owned));
                }
            }
        }
        for prefix in ["var(\"", "var_os(\"", "env = \""] {
            names.extend(
                literals_after(&text, prefix)
                    .filter(|name| is_variable_name(name))
                    .map(str::to_owned),
            );
        }
    }
    names
}

#[test]
fn every_environment_variable_is_documented() {
    let read_by_code = variables_read_by_the_code();
    // One of each kind the scan must find: a name constant, `env::var("..")`, a `var("..")`
    // helper. Missing one means the scan is broken, not that the docs are complete.
    for expected in [
        "STATUS_TABLE_NAME",
        "STORM_WINDOW_MS",
        "METRICS_NAMESPACE",
        "RUST_LOG",
        "AWS_LAMBDA_LOG_LEVEL",
    ] {
        assert!(
            read_by_code.contains(expected),
            "the source scan missed {expected}: found {read_by_code:?}"
        );
    }
    let template = Template::load(Path::new(ROOT).join("template.yaml")).unwrap();
    let functions = template.of_type("AWS::Serverless::Function");
    assert!(functions.len() >= 4, "functions not read: {functions:?}");
    let mut set_by_template = BTreeSet::new();
    for (id, _) in functions {
        set_by_template.extend(template.environment(id).unwrap().into_keys());
    }
    assert!(set_by_template.contains("AWS_ENDPOINT_URL_DYNAMODB"));

    let rows = configuration_rows();
    let missing: Vec<_> = read_by_code
        .iter()
        .chain(&set_by_template)
        .filter(|name| !rows.contains_key(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "variables without a row in {CONFIGURATION}: {missing:?}"
    );
}

/// The deploy guide's outputs table names every output the template defines, and no other:
/// a first-time user reads what each is for there.
#[test]
fn the_deploy_guide_names_every_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = read(&root.join("docs/deploy.md"));
    let section = text
        .split("## The outputs, and what each is for")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/deploy.md has the outputs section");
    let mut named = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for part in first.split('`').skip(1).step_by(2) {
            named.insert(part.to_owned());
        }
    }
    let template = Template::repository();
    let outputs: BTreeSet<String> = template.root()["Outputs"]
        .as_mapping()
        .expect("Outputs")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    assert_eq!(named, outputs);
}
