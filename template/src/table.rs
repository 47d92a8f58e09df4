//! The typed view of an `AWS::DynamoDB::Table`: what shapes the data (keys, attribute types,
//! indexes, TTL). Deployment-only properties (name, encryption, PITR, deletion protection) are
//! left out: they mean nothing to the code or to a local server.

use crate::{intrinsic, shape, Error, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    Range,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Hash => "HASH",
            KeyType::Range => "RANGE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub kind: KeyType,
}

impl Key {
    pub fn hash(name: &str) -> Self {
        Key {
            name: name.to_owned(),
            kind: KeyType::Hash,
        }
    }

    pub fn range(name: &str) -> Self {
        Key {
            name: name.to_owned(),
            kind: KeyType::Range,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub name: String,
    /// `S`, `N` or `B`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub key_schema: Vec<Key>,
    pub projection: Projection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeToLive {
    pub attribute: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub logical_id: String,
    pub key_schema: Vec<Key>,
    pub attributes: Vec<AttributeDefinition>,
    pub global_indexes: Vec<Index>,
    pub time_to_live: Option<TimeToLive>,
    /// `PAY_PER_REQUEST` or `PROVISIONED` (absent: CloudFormation's default, provisioned).
    pub billing_mode: Option<String>,
    /// The stream's view type (`NEW_AND_OLD_IMAGES`, ...), when the table has a stream.
    pub stream_view_type: Option<String>,
}

fn text<'a>(v: &'a Value, what: &str) -> Result<&'a str, Error> {
    if let Some((tag, _)) = intrinsic(v) {
        // The local tables are created from these values as they stand: an intrinsic here
        // would need a stack to resolve it.
        return Err(shape(format!(
            "{what} is a !{tag}, expected a plain string"
        )));
    }
    v.as_str()
        .ok_or_else(|| shape(format!("{what} is not a string: {v:?}")))
}

fn list<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], Error> {
    v.as_sequence()
        .map(Vec::as_slice)
        .ok_or_else(|| shape(format!("{what} is not a list")))
}

fn parse_keys(v: &Value, what: &str) -> Result<Vec<Key>, Error> {
    list(v, what)?
        .iter()
        .map(|k| {
            let name = text(&k["AttributeName"], &format!("{what}.AttributeName"))?;
            let kind = match text(&k["KeyType"], &format!("{what}.KeyType"))? {
                "HASH" => KeyType::Hash,
                "RANGE" => KeyType::Range,
                other => {
                    return Err(shape(format!(
                        "{what}: key type {other} is neither HASH nor RANGE"
                    )))
                }
            };
            Ok(Key {
                name: name.to_owned(),
                kind,
            })
        })
        .collect()
}

fn projection(v: &Value, what: &str) -> Result<Projection, Error> {
    Ok(
        match text(&v["ProjectionType"], &format!("{what}.ProjectionType"))? {
            "ALL" => Projection::All,
            "KEYS_ONLY" => Projection::KeysOnly,
            "INCLUDE" => Projection::Include(
                list(&v["NonKeyAttributes"], &format!("{what}.NonKeyAttributes"))?
                    .iter()
                    .map(|a| text(a, &format!("{what}.NonKeyAttributes")).map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(shape(format!("{what}: unknown projection {other}"))),
        },
    )
}

impl Table {
    pub(crate) fn from_properties(logical_id: &str, p: &Value) -> Result<Self, Error> {
        let at = |field: &str| format!("{logical_id}.{field}");
        let key_schema = parse_keys(&p["KeySchema"], &at("KeySchema"))?;
        let attributes = list(&p["AttributeDefinitions"], &at("AttributeDefinitions"))?
            .iter()
            .map(|a| {
                Ok(AttributeDefinition {
                    name: text(&a["AttributeName"], &at("AttributeDefinitions"))?.to_owned(),
                    kind: text(&a["AttributeType"], &at("AttributeDefinitions"))?.to_owned(),
                })
            })
            .collect::<Result<_, Error>>()?;
        let global_indexes = match p.get("GlobalSecondaryIndexes") {
            None => Vec::new(),
            Some(v) => list(v, &at("GlobalSecondaryIndexes"))?
                .iter()
                .map(|i| {
                    let name = text(&i["IndexName"], &at("GlobalSecondaryIndexes.IndexName"))?;
                    let what = at(&format!("GlobalSecondaryIndexes.{name}"));
                    Ok(Index {
                        name: name.to_owned(),
                        key_schema: parse_keys(&i["KeySchema"], &format!("{what}.KeySchema"))?,
                        projection: projection(&i["Projection"], &format!("{what}.Projection"))?,
                    })
                })
                .collect::<Result<_, Error>>()?,
        };
        let time_to_live = match p.get("TimeToLiveSpecification") {
            None => None,
            Some(ttl) => Some(TimeToLive {
                attribute: text(&ttl["AttributeName"], &at("TimeToLiveSpecification"))?.to_owned(),
                enabled: ttl["Enabled"].as_bool().ok_or_else(|| {
                    shape(format!(
                        "{} is not true/false",
                        at("TimeToLiveSpecification.Enabled")
                    ))
                })?,
            }),
        };
        let billing_mode = match p.get("BillingMode") {
            None => None,
            Some(v) => Some(text(v, &at("BillingMode"))?.to_owned()),
        };
        let stream_view_type = match p.get("StreamSpecification") {
            None => None,
            Some(spec) => Some(
                text(
                    &spec["StreamViewType"],
                    &at("StreamSpecification.StreamViewType"),
                )?
                .to_owned(),
            ),
        };
        Ok(Table {
            logical_id: logical_id.to_owned(),
            key_schema,
            attributes,
            global_indexes,
            time_to_live,
            billing_mode,
            stream_view_type,
        })
    }

    /// The declared type of an attribute (`S`, `N`, `B`), if it is declared.
    pub fn attribute_type(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.kind.as_str())
    }

    pub fn index(&self, name: &str) -> Option<&Index> {
        self.global_indexes.iter().find(|i| i.name == name)
    }

    /// The table's keys and every index's keys.
    pub fn all_keys(&self) -> impl Iterator<Item = &Key> {
        self.key_schema
            .iter()
            .chain(self.global_indexes.iter().flat_map(|i| &i.key_schema))
    }
}
