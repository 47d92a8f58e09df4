//! Reading Embedded Metric Format lines back, summed by metric and dimensions: what CloudWatch
//! would make of a function's log. The replay (`cargo xtask replay --function-log`) and
//! tests/metrics.rs check them against what the functions did. Not used by the functions.

use std::collections::BTreeMap;

use serde_json::Value;

/// A line that is EMF but not well formed, or not what the deployment was told to write.
#[derive(Debug, thiserror::Error)]
#[error("EMF line {line}: {problem}")]
pub struct EmfError {
    pub line: usize,
    pub problem: String,
}

/// One metric with its dimensions (name and value, sorted), without the deployment's own.
pub type Series = (String, Vec<(String, String)>);

#[derive(Debug, Default)]
pub struct Emf {
    /// The sum of each series' values (a histogram line holds a list: its values are added).
    pub sums: BTreeMap<Series, f64>,
    /// How many values each series had.
    pub samples: BTreeMap<Series, usize>,
    pub lines: usize,
    pub bytes: usize,
}

impl Emf {
    /// Reads every EMF line of a log (lines whose JSON object has `_aws`; others are skipped),
    /// checking each is well formed: the namespace is `namespace`, every dimension and metric
    /// named in the metadata has its value in the line. `deployment` dimensions (e.g. `Stack`)
    /// must be on every line and are left out of the series.
    pub fn parse(
        text: &str,
        namespace: &str,
        deployment: &[(&str, &str)],
    ) -> Result<Emf, EmfError> {
        let mut emf = Emf::default();
        for (number, line) in text.lines().enumerate() {
            let Some(start) = line.find('{') else {
                continue;
            };
            let Ok(doc) = serde_json::from_str::<Value>(&line[start..]) else {
                continue;
            };
            let Some(aws) = doc.get("_aws") else { continue };
            let fail = |problem: String| EmfError {
                line: number + 1,
                problem,
            };
            emf.lines += 1;
            emf.bytes += line.len() + 1;
            if !aws["Timestamp"].is_u64() {
                return Err(fail("no numeric Timestamp".into()));
            }
            let Some(directives) = aws["CloudWatchMetrics"].as_array() else {
                return Err(fail("no CloudWatchMetrics".into()));
            };
            for directive in directives {
                if directive["Namespace"] != namespace {
                    return Err(fail(format!(
                        "namespace {} (expected {namespace:?})",
                        directive["Namespace"]
                    )));
                }
                let names: Vec<&str> = directive["Dimensions"]
                    .as_array()
                    .and_then(|sets| sets.first())
                    .and_then(Value::as_array)
                    .map(|set| set.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (name, value) in deployment {
                    if !names.contains(name) || doc[*name] != *value {
                        return Err(fail(format!("dimension {name}={value} missing")));
                    }
                }
                let mut dimensions = Vec::new();
                for name in names
                    .iter()
                    .filter(|n| !deployment.iter().any(|(d, _)| d == *n))
                {
                    let value = doc[*name]
                        .as_str()
                        .ok_or_else(|| fail(format!("dimension {name} has no string value")))?;
                    dimensions.push((name.to_string(), value.to_owned()));
                }
                dimensions.sort();
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    let name = metric["Name"]
                        .as_str()
                        .ok_or_else(|| fail("a metric without a Name".into()))?;
                    let values: Vec<f64> = match &doc[name] {
                        Value::Number(n) => n.as_f64().into_iter().collect(),
                        Value::Array(list) => list.iter().filter_map(Value::as_f64).collect(),
                        other => return Err(fail(format!("metric {name} has no value ({other})"))),
                    };
                    let series = (name.to_owned(), dimensions.clone());
                    *emf.sums.entry(series.clone()).or_default() += values.iter().sum::<f64>();
                    *emf.samples.entry(series).or_default() += values.len();
                }
            }
        }
        Ok(emf)
    }

    /// The sum of one metric over the series whose dimensions include `filter`.
    pub fn sum(&self, name: &str, filter: Option<(&str, &str)>) -> f64 {
        self.sums
            .iter()
            .filter(|((n, dims), _)| {
                n == name
                    && filter.is_none_or(|(k, v)| dims.iter().any(|(dk, dv)| dk == k && dv == v))
            })
            .map(|(_, v)| v)
            .sum()
    }

    pub fn samples(&self, name: &str) -> usize {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }
}
