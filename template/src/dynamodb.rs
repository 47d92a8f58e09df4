//! The template's tables on a DynamoDB endpoint (the local server of the tests and of
//! `cargo xtask tables`): CreateTable from the typed definitions, then TTL.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::{Key, Table, Template};

/// The status and event tables' logical ids in template.yaml.
pub const STATUS_TABLE: &str = "StatusTable";
pub const EVENTS_TABLE: &str = "EventsTable";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn keys(schema: &[Key]) -> Result<Vec<KeySchemaElement>, BoxError> {
    schema
        .iter()
        .map(|k| {
            let kind = match k.kind {
                crate::KeyType::Hash => KeyType::Hash,
                crate::KeyType::Range => KeyType::Range,
            };
            Ok(KeySchemaElement::builder()
                .attribute_name(&k.name)
                .key_type(kind)
                .build()?)
        })
        .collect()
}

/// Creates `name` with `table`'s shape, and its TTL.
pub async fn create_table(client: &Client, name: &str, table: &Table) -> Result<(), BoxError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(keys(&table.key_schema)?));
    for a in &table.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.name)
                .attribute_type(ScalarAttributeType::from(a.kind.as_str()))
                .build()?,
        );
    }
    for index in &table.global_indexes {
        let projection = match &index.projection {
            crate::Projection::All => Projection::builder().projection_type(ProjectionType::All),
            crate::Projection::KeysOnly => {
                Projection::builder().projection_type(ProjectionType::KeysOnly)
            }
            crate::Projection::Include(attributes) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(attributes.clone())),
        };
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(keys(&index.key_schema)?))
                .projection(projection.build())
                .build()?,
        );
    }
    if let Some(mode) = &table.billing_mode {
        request = request.billing_mode(BillingMode::from(mode.as_str()));
    }
    if let Some(view) = &table.stream_view_type {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()?,
        );
    }
    request.send().await.map_err(|e| {
        format!(
            "CreateTable {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )
    })?;
    if let Some(ttl) = &table.time_to_live {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute)
                    .enabled(ttl.enabled)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "UpdateTimeToLive {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(())
}

/// Whether the local status table gets the stream template.yaml gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// As template.yaml: the status table's stream on (the replay, and the tests that read it).
    AsTemplate,
    /// No stream: for tests that never read it. A stream changes no write's result or consumed
    /// capacity, but dynoxide's streamed writes slow down with every stream record it holds
    /// (docs/development.md, "Local servers", says why and by how much).
    Off,
}

/// Creates the template's status and event tables under the given names.
pub async fn create_tables(
    client: &Client,
    template: &Template,
    status: &str,
    events: &str,
    streams: Streams,
) -> Result<(), BoxError> {
    let mut status_table = template.table(STATUS_TABLE)?;
    if streams == Streams::Off {
        status_table.stream_view_type = None;
    }
    create_table(client, status, &status_table).await?;
    create_table(client, events, &template.table(EVENTS_TABLE)?).await?;
    Ok(())
}
