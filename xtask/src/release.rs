//! `cargo xtask release-template`: template.yaml as it is packaged from prebuilt bootstraps.
//! Each function's `CodeUri: .` becomes its zip (`<binary>.zip`, next to the written template)
//! and its build metadata goes (`sam build` is not run on a release); the `Architecture`
//! parameter allows only arm64, what the zips hold. Everything else, the
//! short tags and the comments included, is kept byte for byte. The result is parsed back and
//! checked: every function points at its zip and none keeps a build method.

use std::collections::BTreeMap;
use std::path::PathBuf;

use presence_template::Template;

use crate::Result;

#[derive(clap::Args)]
/// Write template.yaml for packaging prebuilt zips (scripts/release.sh)
pub struct Args {
    /// The template to package
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Where to write it
    #[arg(long)]
    output: PathBuf,
}

/// The functions' logical ids and their binaries (`Metadata.BuildProperties.Binary`).
fn binaries(template: &Template) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (id, function) in template.of_type("AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| format!("{id}: no Metadata.BuildProperties.Binary"))?;
        out.insert(id.to_owned(), binary.to_owned());
    }
    Ok(out)
}

/// The rewrite, on text: the resource a line belongs to is the last `  Name:` line under
/// `Resources:`; in a function, `CodeUri: .` is replaced and the `Metadata:` block dropped.
pub fn rewrite(text: &str, binaries: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_resources, mut current, mut skipping) = (false, None::<&str>, false);
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_end();
        if indent == 0 && !trimmed.is_empty() {
            in_resources = trimmed == "Resources:";
            current = None;
        } else if in_resources && indent == 2 && trimmed.ends_with(':') {
            current = Some(trimmed.trim().trim_end_matches(':'));
        }
        let function = current.and_then(|id| binaries.get(id));
        if skipping {
            if trimmed.is_empty() || indent > 4 {
                continue;
            }
            skipping = false;
        }
        match function {
            None if trimmed == "    AllowedValues: [arm64, x86_64]" => {
                out.push_str("    AllowedValues: [arm64]\n");
            }
            Some(_) if trimmed == "    Metadata:" => skipping = true,
            Some(binary) if trimmed == "      CodeUri: ." => {
                out.push_str(&format!("      CodeUri: {binary}.zip\n"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

pub fn run(a: Args) -> Result {
    let text = std::fs::read_to_string(&a.template)
        .map_err(|e| format!("{}: {e}", a.template.display()))?;
    let template = Template::parse(&text)?;
    let binaries = binaries(&template)?;
    let packaged = rewrite(&text, &binaries);
    let check = Template::parse(&packaged)?;
    for (id, binary) in &binaries {
        let function = check.resource(id)?;
        let uri = function["Properties"]["CodeUri"].as_str();
        if uri != Some(&format!("{binary}.zip")) {
            return Err(format!("{id}: CodeUri is {uri:?}, not {binary}.zip").into());
        }
        if function.get("Metadata").is_some() {
            return Err(format!("{id}: its build metadata is still there").into());
        }
    }
    let architecture = check.parameter("Architecture")?;
    if architecture
        .allowed_values
        .iter()
        .map(|v| v.as_str())
        .ne([Some("arm64")])
    {
        return Err(format!(
            "Architecture allows {:?}, not only arm64",
            architecture.allowed_values
        )
        .into());
    }
    if check.resources().len() != template.resources().len() {
        return Err("the rewrite lost or added a resource".into());
    }
    std::fs::write(&a.output, packaged)?;
    println!(
        "{}: {} functions from their zips",
        a.output.display(),
        binaries.len()
    );
    Ok(())
}
