//! template.yaml, parsed. The template is the one source of truth for the tables (keys,
//! indexes, TTL), the parameters and the functions' environments; the tests and the tooling read
//! those facts from here instead of matching text.
//!
//! CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, `!If`, ...) stay tagged values
//! ([`Value::Tagged`]); [`intrinsic`], [`reference`] and [`sub`] take them apart.

use std::collections::BTreeMap;
use std::path::Path;

pub use serde_norway::Value;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "streams")]
pub mod stream;
mod table;

pub use table::{AttributeDefinition, Index, Key, KeyType, Projection, Table, TimeToLive};

/// Why the template could not be read, or lacks what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template: {0}")]
    Shape(String),
}

fn shape(message: impl Into<String>) -> Error {
    Error::Shape(message.into())
}

/// CloudFormation's short-form tags (without the `!`). A tag outside this list is refused at
/// parse time, so a typo such as `!GetAt` is an error here rather than a surprise at deploy.
pub const TAGS: [&str; 18] = [
    "Ref",
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "Condition",
    "Select",
    "Join",
    "Split",
    "FindInMap",
    "Base64",
    "Cidr",
    "GetAZs",
    "ImportValue",
    // Rules' assertions (Fn::Contains).
    "Contains",
];

/// The tag of a short-form intrinsic without its `!` (`Ref`, `Sub`, ...), and its argument.
pub fn intrinsic(v: &Value) -> Option<(&'static str, &Value)> {
    match v {
        Value::Tagged(t) => TAGS
            .iter()
            .find(|name| t.tag == **name)
            .map(|name| (*name, &t.value)),
        _ => None,
    }
}

/// Refuses tags that are not CloudFormation's, wherever they are.
fn check_tags(v: &Value, at: &str) -> Result<(), Error> {
    match v {
        Value::Tagged(t) => {
            if intrinsic(v).is_none() {
                return Err(shape(format!("unknown tag {} at {at}", t.tag)));
            }
            check_tags(&t.value, at)
        }
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_tags(item, &format!("{at}[{i}]"))),
        Value::Mapping(m) => m.iter().try_for_each(|(k, item)| {
            let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
            check_tags(item, &format!("{at}.{key}"))
        }),
        _ => Ok(()),
    }
}

/// The target of a `!Ref`.
pub fn reference(v: &Value) -> Option<&str> {
    match intrinsic(v) {
        Some(("Ref", target)) => target.as_str(),
        _ => None,
    }
}

/// The string of a `!Sub` (the one-argument form).
pub fn sub(v: &Value) -> Option<&str> {
    match intrinsic(v) {
        Some(("Sub", target)) => target.as_str(),
        _ => None,
    }
}

/// A template parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// `String`, `Number`, ...
    pub kind: String,
    pub default: Option<Value>,
    pub allowed_values: Vec<Value>,
}

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

impl Template {
    /// The repository's template.yaml, as compiled in.
    pub fn repository() -> Self {
        Self::parse(include_str!("../../template.yaml"))
            .expect("the repository's template.yaml parses")
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let root: Value = serde_norway::from_str(text)?;
        if !root.get("Resources").is_some_and(Value::is_mapping) {
            return Err(shape("no Resources mapping"));
        }
        check_tags(&root, "template")?;
        Ok(Self { root })
    }

    /// The whole document, for checks that need more than the typed views.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// Every resource, by logical id, in template order.
    pub fn resources(&self) -> Vec<(&str, &Value)> {
        self.root["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
            .collect()
    }

    pub fn resource(&self, logical_id: &str) -> Result<&Value, Error> {
        self.root["Resources"]
            .get(logical_id)
            .ok_or_else(|| shape(format!("no resource {logical_id}")))
    }

    /// The resources of one type (e.g. `AWS::CloudWatch::Alarm`).
    pub fn of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.resources()
            .into_iter()
            .filter(|(_, r)| r["Type"] == kind)
            .collect()
    }

    /// Every parameter, by name.
    pub fn parameters(&self) -> Result<BTreeMap<String, Parameter>, Error> {
        let mut out = BTreeMap::new();
        for (name, p) in self.root["Parameters"].as_mapping().into_iter().flatten() {
            let name = name
                .as_str()
                .ok_or_else(|| shape("a parameter name is not a string"))?;
            let kind = p["Type"]
                .as_str()
                .ok_or_else(|| shape(format!("parameter {name} has no Type")))?;
            let allowed_values = p
                .get("AllowedValues")
                .and_then(Value::as_sequence)
                .cloned()
                .unwrap_or_default();
            out.insert(
                name.to_owned(),
                Parameter {
                    kind: kind.to_owned(),
                    default: p.get("Default").cloned(),
                    allowed_values,
                },
            );
        }
        Ok(out)
    }

    pub fn parameter(&self, name: &str) -> Result<Parameter, Error> {
        self.parameters()?
            .remove(name)
            .ok_or_else(|| shape(format!("no parameter {name}")))
    }

    /// A function's environment variables (`Properties.Environment.Variables`), by name.
    pub fn environment(&self, function: &str) -> Result<BTreeMap<String, Value>, Error> {
        let variables = &self.resource(function)?["Properties"]["Environment"]["Variables"];
        let variables = variables
            .as_mapping()
            .ok_or_else(|| shape(format!("{function} has no Environment.Variables")))?;
        variables
            .iter()
            .map(|(k, v)| {
                let k = k
                    .as_str()
                    .ok_or_else(|| shape(format!("{function}: a variable name is not a string")))?;
                Ok((k.to_owned(), v.clone()))
            })
            .collect()
    }

    /// A table's definition (an `AWS::DynamoDB::Table` resource).
    pub fn table(&self, logical_id: &str) -> Result<Table, Error> {
        let resource = self.resource(logical_id)?;
        if resource["Type"] != "AWS::DynamoDB::Table" {
            return Err(shape(format!(
                "{logical_id} is not an AWS::DynamoDB::Table"
            )));
        }
        Table::from_properties(logical_id, &resource["Properties"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "
Parameters:
  Size:
    Type: Number
    Default: 3
    AllowedValues: [1, 3]
  Name:
    Type: String
Conditions:
  Big: !Not [!Equals [!Ref Size, 1]]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE: !Ref T
          ARN: !GetAtt T.Arn
          URL: !Sub 'https://${AWS::Region}/x'
          MAYBE: !If [Big, !Select [0, [a, b]], !Ref AWS::NoValue]
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
        - {AttributeName: at, AttributeType: N}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: by-at
          KeySchema:
            - {AttributeName: at, KeyType: HASH}
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [x, y]}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
";

    #[test]
    fn short_tags_stay_inspectable() {
        let t = Template::parse(SMALL).unwrap();
        let env = t.environment("Fn").unwrap();
        assert_eq!(reference(&env["TABLE"]), Some("T"));
        assert_eq!(intrinsic(&env["ARN"]).map(|(tag, _)| tag), Some("GetAtt"));
        assert_eq!(intrinsic(&env["ARN"]).unwrap().1, "T.Arn");
        assert_eq!(sub(&env["URL"]), Some("https://${AWS::Region}/x"));
        let (tag, choice) = intrinsic(&env["MAYBE"]).unwrap();
        assert_eq!(tag, "If");
        assert_eq!(intrinsic(&choice[1]).map(|(tag, _)| tag), Some("Select"));
        assert_eq!(reference(&choice[2]), Some("AWS::NoValue"));
        let (tag, inner) = intrinsic(&t.root()["Conditions"]["Big"]).unwrap();
        assert_eq!(tag, "Not");
        assert_eq!(intrinsic(&inner[0]).map(|(tag, _)| tag), Some("Equals"));
        // Plain values are not intrinsics.
        assert_eq!(intrinsic(&t.root()["Parameters"]["Size"]["Default"]), None);
        assert_eq!(sub(&env["TABLE"]), None);
    }

    #[test]
    fn parameters_with_their_defaults() {
        let t = Template::parse(SMALL).unwrap();
        let size = t.parameter("Size").unwrap();
        assert_eq!(size.kind, "Number");
        assert_eq!(size.default, Some(Value::from(3)));
        assert_eq!(size.allowed_values, [Value::from(1), Value::from(3)]);
        assert_eq!(t.parameter("Name").unwrap().default, None);
        assert!(t.parameter("Missing").is_err());
    }

    #[test]
    fn tables_are_typed() {
        let t = Template::parse(SMALL).unwrap();
        let table = t.table("T").unwrap();
        assert_eq!(table.key_schema, [Key::hash("id")]);
        assert_eq!(table.attribute_type("at"), Some("N"));
        assert_eq!(table.attribute_type("nope"), None);
        let index = table.index("by-at").unwrap();
        assert_eq!(index.key_schema, [Key::hash("at")]);
        assert_eq!(
            index.projection,
            Projection::Include(vec!["x".into(), "y".into()])
        );
        assert_eq!(
            table.time_to_live,
            Some(TimeToLive {
                attribute: "ttl".into(),
                enabled: true
            })
        );
        assert!(t.table("Fn").is_err(), "a function is not a table");
    }

    #[test]
    fn bad_input_gets_a_clear_error() {
        let e = Template::parse("Resources: [").unwrap_err().to_string();
        assert!(e.contains("not valid YAML"), "{e}");
        let e = Template::parse("Parameters: {}").unwrap_err().to_string();
        assert!(e.contains("no Resources"), "{e}");
        let e = Template::parse(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      KeySchema: [{AttributeName: id, KeyType: SIDEWAYS}]\n",
        )
        .unwrap()
        .table("T")
        .unwrap_err()
        .to_string();
        assert!(e.contains("SIDEWAYS"), "{e}");
        let e = Template::parse("Resources:\n  X:\n    Type: !GetAt T.Arn\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown tag !GetAt at template.Resources.X.Type"),
            "{e}"
        );
        let e = Template::load("/nonexistent/template.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/template.yaml"), "{e}");
    }

    #[test]
    fn the_repository_template_has_its_tables() {
        let t = Template::repository();
        for table in ["StatusTable", "EventsTable"] {
            let table = t.table(table).unwrap();
            assert!(!table.key_schema.is_empty());
            for key in table.all_keys() {
                assert!(
                    table.attribute_type(&key.name).is_some(),
                    "{} key {} has no attribute definition",
                    table.logical_id,
                    key.name
                );
            }
        }
    }
}
