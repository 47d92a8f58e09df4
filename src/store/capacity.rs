//! Consumed capacity, measured on every DynamoDB request.
//!
//! [`CapacityMeter`] is an SDK interceptor on the process's one DynamoDB client
//! ([`crate::config::dynamodb_client`]): it asks every request for
//! `ReturnConsumedCapacity=INDEXES` (free: DynamoDB charges nothing for reporting it) and adds
//! what each answer reports, by table and by index, to a [`Ledger`]. One place, so that no
//! call site can forget to ask, and the handler, the alerter, the CLI, the replay and the tests
//! all measure the same way.
//!
//! A conditional write that DynamoDB refuses is charged too, but the refusal carries no
//! `ConsumedCapacity`. AWS documents the charge ("the amount consumed is dependent on the size
//! of the existing item, or a minimum of 1"): the meter derives it from the item that the
//! refusal returns (`ALL_OLD`, which our conditional writes ask for) with [`item_size`], and
//! counts it apart as `refused`, so that measured and derived units are never mixed up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item, batch_write_item, delete_item, get_item, put_item, query, scan,
    transact_write_items, update_item,
};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::client::interceptors::context::{Error as ErasedError, Input, Output};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde::Serialize;

use super::Item;

/// Units on one table or one of its indexes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Units {
    /// Read units, as the answers report them (0.5 per 4 KB eventually consistent).
    pub read: f64,
    /// Write units, as the answers report them.
    pub write: f64,
    /// Write units of refused conditional writes, derived from the returned item's size.
    pub refused: f64,
}

impl Units {
    pub fn add(&mut self, other: Units) {
        self.read += other.read;
        self.write += other.write;
        self.refused += other.refused;
    }

    /// These units `times` over (a path's share of a traffic mix).
    pub fn times(self, times: f64) -> Units {
        Units {
            read: self.read * times,
            write: self.write * times,
            refused: self.refused * times,
        }
    }

    /// Write units charged, measured and derived.
    pub fn writes(&self) -> f64 {
        self.write + self.refused
    }
}

/// Where units were consumed: a table, or one of its indexes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Target {
    pub table: String,
    /// `None` for the table itself.
    pub index: Option<String>,
}

/// What a run of requests consumed, by target, and how many requests it made.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub requests: u64,
    #[serde(serialize_with = "as_list")]
    pub by_target: BTreeMap<Target, Units>,
}

fn as_list<S: serde::Serializer>(by: &BTreeMap<Target, Units>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Row<'a> {
        table: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        index: Option<&'a str>,
        #[serde(flatten)]
        units: &'a Units,
    }
    s.collect_seq(by.iter().map(|(t, units)| Row {
        table: &t.table,
        index: t.index.as_deref(),
        units,
    }))
}

impl Tally {
    /// Everything, tables and indexes together.
    pub fn total(&self) -> Units {
        let mut total = Units::default();
        for units in self.by_target.values() {
            total.add(*units);
        }
        total
    }

    /// The units on one table (`index: None`) or index.
    pub fn on(&self, table: &str, index: Option<&str>) -> Units {
        let target = Target {
            table: table.to_owned(),
            index: index.map(str::to_owned),
        };
        self.by_target.get(&target).copied().unwrap_or_default()
    }

    pub fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        for (target, units) in &other.by_target {
            self.by_target
                .entry(target.clone())
                .or_default()
                .add(*units);
        }
    }

    fn add(&mut self, table: &str, index: Option<&str>, units: Units) {
        self.by_target
            .entry(Target {
                table: table.to_owned(),
                index: index.map(str::to_owned),
            })
            .or_default()
            .add(units);
    }

    /// Adds one answer's `ConsumedCapacity`. DynamoDB reports the table's part under `Table`
    /// and each index's under its name; an answer with neither (a server that only gives the
    /// total) counts the total on the table. The `CapacityUnits` of an index entry holds both
    /// kinds of unit for that request; which kind it is follows from the operation.
    fn add_consumed(&mut self, consumed: &ConsumedCapacity, write: bool) {
        let Some(table) = consumed.table_name() else {
            return;
        };
        let units = |n: f64| {
            if write {
                Units {
                    write: n,
                    ..Units::default()
                }
            } else {
                Units {
                    read: n,
                    ..Units::default()
                }
            }
        };
        let parts = consumed.table().is_some()
            || consumed.global_secondary_indexes().is_some()
            || consumed.local_secondary_indexes().is_some();
        if !parts {
            self.add(table, None, units(consumed.capacity_units().unwrap_or(0.0)));
            return;
        }
        if let Some(on_table) = consumed.table() {
            self.add(table, None, units(on_table.capacity_units().unwrap_or(0.0)));
        }
        let indexes = consumed.global_secondary_indexes().into_iter().flatten();
        let local = consumed.local_secondary_indexes().into_iter().flatten();
        for (index, capacity) in indexes.chain(local) {
            self.add(
                table,
                Some(index),
                units(capacity.capacity_units().unwrap_or(0.0)),
            );
        }
    }
}

tokio::task_local! {
    /// The ledger of the [`measure`] call this task runs in, if any.
    static SCOPE: Ledger;
}

/// Runs `work` and returns what its own DynamoDB requests consumed, apart from any other
/// task's. The SDK runs a request's interceptors inside the caller's future, so every request
/// `work` awaits is counted here (and in the client's [`Ledger`] as well), and requests of
/// concurrent invocations are not: the handler reports exact per-event units even when many
/// invocations share one client, as in the tests.
/// Scopes nest: what an inner `measure` counts is added to the outer one's too.
pub async fn measure<F: std::future::Future>(work: F) -> (F::Output, Tally) {
    let outer = SCOPE.try_with(Ledger::clone).ok();
    let ledger = Ledger::default();
    let output = SCOPE.scope(ledger.clone(), work).await;
    let tally = ledger.take();
    if let Some(outer) = outer {
        outer.record(&tally);
    }
    (output, tally)
}

/// `work`, carrying the current [`measure`] scope (if any) into a task it is spawned as:
/// a task-local does not follow `tokio::spawn`, so every spawn site whose requests belong to
/// the caller's measurement wraps its future in this.
pub fn carried<F: std::future::Future>(work: F) -> impl std::future::Future<Output = F::Output> {
    let scope = SCOPE.try_with(Ledger::clone).ok();
    async move {
        match scope {
            Some(ledger) => SCOPE.scope(ledger, work).await,
            None => work.await,
        }
    }
}

/// The running total of one client's requests. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<Tally>>);

impl Ledger {
    /// What was consumed so far.
    pub fn snapshot(&self) -> Tally {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What was consumed since the last `take`, and starts again from zero.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, delta: &Tally) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(delta);
    }
}

/// The interceptor: asks for the capacity, and adds up the answers into its [`Ledger`].
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter {
    pub ledger: Ledger,
}

/// Sets `ReturnConsumedCapacity=INDEXES` on each input type that takes it.
macro_rules! ask {
    ($input:expr, $($module:ident::$ty:ident),+ $(,)?) => {
        $(if let Some(input) = $input.downcast_mut::<$module::$ty>() {
            input.return_consumed_capacity = Some(ReturnConsumedCapacity::Indexes);
            return Ok(());
        })+
    };
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The input is gone by the time the answer is read (serialization takes it): keep
        // the table of a single-item write for charging its refusal.
        if let Some(table) = written_table(context.input()) {
            cfg.interceptor_state().store_put(WrittenTable(table));
        }
        let input = context.input_mut();
        ask!(
            input,
            put_item::PutItemInput,
            update_item::UpdateItemInput,
            delete_item::DeleteItemInput,
            get_item::GetItemInput,
            query::QueryInput,
            scan::ScanInput,
            batch_write_item::BatchWriteItemInput,
            batch_get_item::BatchGetItemInput,
            transact_write_items::TransactWriteItemsInput,
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let result = context.output_or_error();
        let table = cfg.load::<WrittenTable>().map(|t| t.0.clone());
        let mut tally = Tally {
            requests: 1,
            ..Tally::default()
        };
        match result {
            Ok(output) => {
                let (consumed, write) = consumed_of(output);
                for c in consumed {
                    tally.add_consumed(c, write);
                }
            }
            Err(err) => {
                let refused = err.as_operation_error().and_then(refused_item);
                if let (Some(item), Some(table)) = (refused, table) {
                    let units = Units {
                        refused: refused_write_units(item.as_ref()),
                        ..Units::default()
                    };
                    tally.add(&table, None, units);
                }
            }
        }
        self.ledger.record(&tally);
        // Outside any `measure` (e.g. a background task) there is no scope: nothing to add.
        let _ = SCOPE.try_with(|scope| scope.record(&tally));
        Ok(())
    }
}

/// The table a single-item write goes to, kept in the request's config bag.
#[derive(Debug, Clone)]
struct WrittenTable(String);

impl Storable for WrittenTable {
    type Storer = StoreReplace<Self>;
}

/// The table of a single-item write, for charging its refusal.
fn written_table(input: &Input) -> Option<String> {
    if let Some(i) = input.downcast_ref::<put_item::PutItemInput>() {
        return i.table_name.clone();
    }
    if let Some(i) = input.downcast_ref::<update_item::UpdateItemInput>() {
        return i.table_name.clone();
    }
    if let Some(i) = input.downcast_ref::<delete_item::DeleteItemInput>() {
        return i.table_name.clone();
    }
    None
}

/// The `ConsumedCapacity` entries of an answer, and whether they are write units.
fn consumed_of(output: &Output) -> (Vec<&ConsumedCapacity>, bool) {
    macro_rules! one {
        ($($module:ident::$ty:ident => $write:expr),+ $(,)?) => {
            $(if let Some(o) = output.downcast_ref::<$module::$ty>() {
                return (o.consumed_capacity.iter().collect(), $write);
            })+
        };
    }
    macro_rules! many {
        ($($module:ident::$ty:ident => $write:expr),+ $(,)?) => {
            $(if let Some(o) = output.downcast_ref::<$module::$ty>() {
                return (o.consumed_capacity.iter().flatten().collect(), $write);
            })+
        };
    }
    one!(
        put_item::PutItemOutput => true,
        update_item::UpdateItemOutput => true,
        delete_item::DeleteItemOutput => true,
        get_item::GetItemOutput => false,
        query::QueryOutput => false,
        scan::ScanOutput => false,
    );
    many!(
        batch_write_item::BatchWriteItemOutput => true,
        batch_get_item::BatchGetItemOutput => false,
        transact_write_items::TransactWriteItemsOutput => true,
    );
    (Vec::new(), false)
}

/// A refused conditional write's error: `Some(item)` (the returned item, if any).
fn refused_item(err: &ErasedError) -> Option<Option<Item>> {
    if let Some(put_item::PutItemError::ConditionalCheckFailedException(e)) =
        err.downcast_ref::<put_item::PutItemError>()
    {
        return Some(e.item.clone());
    }
    if let Some(update_item::UpdateItemError::ConditionalCheckFailedException(e)) =
        err.downcast_ref::<update_item::UpdateItemError>()
    {
        return Some(e.item.clone());
    }
    if let Some(delete_item::DeleteItemError::ConditionalCheckFailedException(e)) =
        err.downcast_ref::<delete_item::DeleteItemError>()
    {
        return Some(e.item.clone());
    }
    None
}

/// What a refused conditional write is charged: one write unit per KB of the existing item,
/// at least one (AWS: "Condition expressions", capacity of failed conditional writes).
pub fn refused_write_units(existing: Option<&Item>) -> f64 {
    let bytes = existing.map(item_size).unwrap_or(0);
    bytes.div_ceil(1024).max(1) as f64
}

/// An item's size as DynamoDB counts it ("Item sizes and formats" in the DynamoDB developer
/// guide): each attribute's name in UTF-8 bytes plus its value; a string its UTF-8 bytes, a
/// number (its significant digits + 1) / 2 + 1 bytes, a binary its bytes, null and boolean 1
/// byte, a list or map 3 bytes plus 1 per element plus the elements (a map's element counts
/// its name), sets the sum of their elements.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits: String = n
        .trim_start_matches('-')
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn sizes_follow_dynamodb_s_rules() {
        let s = |v: &str| AttributeValue::S(v.into());
        let n = |v: &str| AttributeValue::N(v.into());
        assert_eq!(item_size(&item(&[("ab", s("xyz"))])), 5);
        assert_eq!(item_size(&item(&[("n", n("12345"))])), 1 + 4);
        assert_eq!(item_size(&item(&[("n", n("0"))])), 1 + 2);
        assert_eq!(item_size(&item(&[("n", n("-1500"))])), 1 + 2);
        assert_eq!(item_size(&item(&[("b", AttributeValue::Bool(true))])), 2);
        let list = AttributeValue::L(vec![s("ab"), n("1")]);
        assert_eq!(item_size(&item(&[("l", list)])), 1 + 3 + (1 + 2) + (1 + 2));
        let map = AttributeValue::M([("k".to_string(), s("v"))].into());
        assert_eq!(item_size(&item(&[("m", map)])), 1 + 3 + 1 + 1 + 1);
    }

    #[test]
    fn a_refusal_costs_a_unit_per_kb_of_the_existing_item_and_at_least_one() {
        assert_eq!(refused_write_units(None), 1.0);
        let small = item(&[("k", AttributeValue::S("v".into()))]);
        assert_eq!(refused_write_units(Some(&small)), 1.0);
        let big = item(&[("k", AttributeValue::S("v".repeat(1024)))]);
        assert_eq!(refused_write_units(Some(&big)), 2.0);
    }
}
