//! Narrowed reads: a DynamoDB client that reads only named attributes, for the fleet widget
//! and the HTTP API (`functions::api`, whose role has the same conditions), which show neither.
//!
//! The widget renders the fleet from the status table and a client's timeline from the event
//! log. It never shows how a device connects (`principalIdentifier`, `ipAddress`) nor the raw
//! event (`payload`, which carries both), so its role may not read them: the template's
//! `dynamodb:Attributes` conditions allow exactly [`STATUS_ATTRIBUTES`] and
//! [`EVENT_ATTRIBUTES`] (`tests/template_security.rs` checks the lists are these). IAM grants
//! such a read only when the request names its attributes (`ProjectionExpression`, or a
//! `COUNT`), so every request of a narrowed client does: [`NarrowReads`] gives a read without
//! a projection the table's (or the index's) allowed attributes, and refuses one whose
//! projection names any other. The reads themselves (`crate::read`) stay the CLI's; what they
//! do not get back decodes as absent.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{get_item::GetItemInput, query::QueryInput};
use aws_sdk_dynamodb::types::Select;
use aws_sdk_dynamodb::Client;

use super::schema::{attr, ALERT_INDEX, STATUS_INDEX};
use super::{shards, storms};

/// What the widget may read from the status table and its alert index: the status without
/// its principal and IP address (nor `connectedSession`, which holds the connection's IP
/// address), the alert state, and the two settings items it reads (the shard count and the
/// storm registry).
pub const STATUS_ATTRIBUTES: [&str; 35] = [
    attr::CLIENT_ID,
    attr::CONNECTED,
    attr::EVENT_TYPE,
    attr::SESSION,
    attr::VERSION,
    attr::EVENT_TIMESTAMP,
    attr::DISCONNECT_REASON,
    attr::CLIENT_INITIATED,
    attr::CONNECTED_AT,
    attr::DISCONNECTED_AT,
    attr::THING_NAME,
    attr::UPDATED_AT,
    attr::LAST_EVENT_KEY,
    attr::STATUS_SHARD,
    attr::EXPIRES_AT,
    attr::RECONCILED_AT,
    attr::CLEAN_SESSION,
    attr::SESSION_EXPIRY,
    attr::KEEP_ALIVE,
    attr::BROKER_CHECKED_AT,
    attr::OFFLINE_THRESHOLD,
    attr::ALERT_SHARD,
    attr::ALERT_DUE_AT,
    attr::ALERT_LEASE,
    attr::ALERT_PASS,
    attr::OUTAGE,
    attr::PENDING_OUTAGE,
    attr::FLAPPING,
    shards::field::STATUS_SHARDS,
    shards::field::MIGRATING_FROM,
    shards::field::MIGRATION_CURSOR,
    storms::field::VERSION,
    storms::field::STORMS,
    storms::field::LEASE_UNTIL,
    storms::field::LEASE_PASS,
];

/// What the widget may read from the event log: every column but the raw payload.
pub const EVENT_ATTRIBUTES: [&str; 12] = [
    attr::CLIENT_ID,
    attr::EVENT_KEY,
    attr::EVENT_TYPE,
    attr::SESSION,
    attr::VERSION,
    attr::EVENT_TIMESTAMP,
    attr::RECEIVED_AT,
    attr::OUTCOME,
    attr::EXPIRES_AT,
    attr::DISCONNECT_REASON,
    attr::CONNECT_FAILURE_REASON,
    attr::INVALID_REASON,
];

/// The attributes the status index holds: its keys, the table's key and its `INCLUDE`
/// projection (template.yaml; `tests/template.rs` checks). A projection on the index names
/// only these.
pub const STATUS_INDEX_ATTRIBUTES: [&str; 11] = [
    attr::CLIENT_ID,
    attr::STATUS_SHARD,
    attr::EVENT_TIMESTAMP,
    attr::CONNECTED,
    attr::DISCONNECT_REASON,
    attr::SESSION,
    attr::VERSION,
    attr::CONNECTED_AT,
    attr::DISCONNECTED_AT,
    attr::THING_NAME,
    attr::OUTAGE,
];

/// `client`, narrowed: its reads of `status_table` and `events_table` name only the allowed
/// attributes ([`NarrowReads`]).
pub fn client(client: &Client, status_table: &str, events_table: &str) -> Client {
    let narrow = NarrowReads {
        status_table: status_table.to_owned(),
        events_table: events_table.to_owned(),
    };
    Client::from_conf(client.config().to_builder().interceptor(narrow).build())
}

/// The interceptor of [`client`].
#[derive(Debug, Clone)]
pub struct NarrowReads {
    status_table: String,
    events_table: String,
}

/// Why a narrowed read was refused before it was sent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NarrowError {
    #[error("{operation} on {table}: a narrowed client reads only the status and event tables")]
    OtherTable {
        operation: &'static str,
        table: String,
    },
    #[error("{operation} on {table}: {attribute:?} is not an attribute this client may read")]
    NotAllowed {
        operation: &'static str,
        table: String,
        attribute: String,
    },
    #[error("{operation} on {table}: only GetItem and Query are allowed")]
    NotARead {
        operation: &'static str,
        table: String,
    },
}

/// One read, as the interceptor sees it.
pub struct Read<'a> {
    pub operation: &'static str,
    pub table: &'a str,
    pub index: Option<&'a str>,
    pub count_only: bool,
    pub projection: Option<&'a str>,
    pub names: Option<&'a HashMap<String, String>>,
}

/// What a read becomes.
#[derive(Debug, PartialEq, Eq)]
pub enum Narrowed {
    /// Sent as it is: a count, or a projection of allowed attributes.
    AsItIs,
    /// Sent with this projection (and these names added for it).
    Project {
        projection: String,
        names: Vec<(String, String)>,
    },
}

impl NarrowReads {
    /// The rule, pure: see the module's documentation.
    pub fn narrow(&self, read: &Read<'_>) -> Result<Narrowed, NarrowError> {
        let (allowed, projectable): (&[&str], &[&str]) = if read.table == self.status_table {
            match read.index {
                Some(STATUS_INDEX) => (&STATUS_ATTRIBUTES, &STATUS_INDEX_ATTRIBUTES),
                None | Some(ALERT_INDEX) => (&STATUS_ATTRIBUTES, &STATUS_ATTRIBUTES),
                Some(_) => (&STATUS_ATTRIBUTES, &[]),
            }
        } else if read.table == self.events_table {
            (&EVENT_ATTRIBUTES, &EVENT_ATTRIBUTES)
        } else {
            return Err(NarrowError::OtherTable {
                operation: read.operation,
                table: read.table.to_owned(),
            });
        };
        if read.count_only {
            return Ok(Narrowed::AsItIs);
        }
        let Some(projection) = read.projection else {
            let names: Vec<(String, String)> = projectable
                .iter()
                .filter(|a| allowed.contains(a))
                .enumerate()
                .map(|(i, a)| (format!("#narrow{i}"), (*a).to_owned()))
                .collect();
            let projection = names
                .iter()
                .map(|(placeholder, _)| placeholder.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Ok(Narrowed::Project { projection, names });
        };
        for path in projection.split(',') {
            // The top-level attribute of a document path (`outage.alertedAt`, `list[0]`).
            let top = path.trim().split(['.', '[']).next().unwrap_or_default();
            let attribute = match top.strip_prefix('#') {
                Some(_) => read
                    .names
                    .and_then(|n| n.get(top))
                    .map_or(top, |a| a.as_str()),
                None => top,
            };
            if !allowed.contains(&attribute) {
                return Err(NarrowError::NotAllowed {
                    operation: read.operation,
                    table: read.table.to_owned(),
                    attribute: attribute.to_owned(),
                });
            }
        }
        Ok(Narrowed::AsItIs)
    }
}

impl Intercept for NarrowReads {
    fn name(&self) -> &'static str {
        "NarrowReads"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        if let Some(get) = input.downcast_mut::<GetItemInput>() {
            let read = Read {
                operation: "GetItem",
                table: get.table_name.as_deref().unwrap_or_default(),
                index: None,
                count_only: false,
                projection: get.projection_expression.as_deref(),
                names: get.expression_attribute_names.as_ref(),
            };
            if let Narrowed::Project { projection, names } = self.narrow(&read)? {
                get.projection_expression = Some(projection);
                get.expression_attribute_names
                    .get_or_insert_with(HashMap::new)
                    .extend(names);
            }
            return Ok(());
        }
        if let Some(query) = input.downcast_mut::<QueryInput>() {
            let read = Read {
                operation: "Query",
                table: query.table_name.as_deref().unwrap_or_default(),
                index: query.index_name.as_deref(),
                count_only: query.select == Some(Select::Count),
                projection: query.projection_expression.as_deref(),
                names: query.expression_attribute_names.as_ref(),
            };
            if let Narrowed::Project { projection, names } = self.narrow(&read)? {
                query.projection_expression = Some(projection);
                query
                    .expression_attribute_names
                    .get_or_insert_with(HashMap::new)
                    .extend(names);
            }
            return Ok(());
        }
        Err(NarrowError::NotARead {
            operation: "this operation",
            table: String::new(),
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narrow() -> NarrowReads {
        NarrowReads {
            status_table: "status".into(),
            events_table: "events".into(),
        }
    }

    fn read<'a>(table: &'a str, index: Option<&'a str>) -> Read<'a> {
        Read {
            operation: "Query",
            table,
            index,
            count_only: false,
            projection: None,
            names: None,
        }
    }

    fn projected(n: Narrowed) -> Vec<String> {
        match n {
            Narrowed::Project { projection, names } => {
                let names: HashMap<_, _> = names.into_iter().collect();
                projection.split(", ").map(|p| names[p].clone()).collect()
            }
            Narrowed::AsItIs => panic!("not projected"),
        }
    }

    const NEVER: [&str; 4] = [
        attr::PRINCIPAL,
        attr::IP_ADDRESS,
        attr::PAYLOAD,
        attr::CONNECTED_SESSION,
    ];

    #[test]
    fn a_read_without_a_projection_gets_the_allowed_attributes_of_its_table_or_index() {
        let n = narrow();
        let table = projected(n.narrow(&read("status", None)).unwrap());
        assert_eq!(table, STATUS_ATTRIBUTES);
        let alerts = projected(n.narrow(&read("status", Some(ALERT_INDEX))).unwrap());
        assert_eq!(alerts, STATUS_ATTRIBUTES);
        let index = projected(n.narrow(&read("status", Some(STATUS_INDEX))).unwrap());
        assert_eq!(index, STATUS_INDEX_ATTRIBUTES);
        let events = projected(n.narrow(&read("events", None)).unwrap());
        assert_eq!(events, EVENT_ATTRIBUTES);
        for never in NEVER {
            assert!(!STATUS_ATTRIBUTES.contains(&never) && !EVENT_ATTRIBUTES.contains(&never));
        }
        // What the index holds is what the widget may read of it.
        assert!(STATUS_INDEX_ATTRIBUTES
            .iter()
            .all(|a| STATUS_ATTRIBUTES.contains(a)));
    }

    #[test]
    fn a_projection_passes_only_when_it_names_allowed_attributes() {
        let n = narrow();
        let names = HashMap::from([
            ("#a".to_owned(), attr::OUTAGE.to_owned()),
            ("#ip".to_owned(), attr::IP_ADDRESS.to_owned()),
        ]);
        let with = |projection| Read {
            projection: Some(projection),
            names: Some(&names),
            ..read("status", None)
        };
        assert_eq!(
            n.narrow(&with("#a.alertedAt, clientId")),
            Ok(Narrowed::AsItIs)
        );
        for (projection, attribute) in [
            ("#a, #ip", attr::IP_ADDRESS),
            ("principalIdentifier", attr::PRINCIPAL),
            ("connectedSession.x", attr::CONNECTED_SESSION),
            ("#unknown", "#unknown"),
        ] {
            assert_eq!(
                n.narrow(&with(projection)),
                Err(NarrowError::NotAllowed {
                    operation: "Query",
                    table: "status".into(),
                    attribute: attribute.into(),
                }),
                "{projection}"
            );
        }
        let payload = Read {
            projection: Some("payload"),
            ..read("events", None)
        };
        assert!(n.narrow(&payload).is_err());
    }

    #[test]
    fn counts_pass_and_other_tables_are_refused() {
        let n = narrow();
        let count = Read {
            count_only: true,
            ..read("status", Some(STATUS_INDEX))
        };
        assert_eq!(n.narrow(&count), Ok(Narrowed::AsItIs));
        assert!(matches!(
            n.narrow(&read("other", None)),
            Err(NarrowError::OtherTable { .. })
        ));
    }
}
