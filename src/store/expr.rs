//! The one expression builder: placeholders and clauses of DynamoDB update, condition, key and
//! projection expressions, for the store, the read path, the alerter and the reconciler.
//!
//! Every attribute name goes through a `#name` placeholder, so reserved words never bite. A
//! placeholder bound twice to the *same* thing is fine (clauses share `:now`, say); bound twice
//! to different things is a bug that would otherwise silently keep the last binding and write the
//! wrong value, so [`Expr::build`] refuses it with [`ExprError`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use thiserror::Error;

/// A number attribute value.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A string attribute value.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A placeholder bound to two different things: the expression would be wrong.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprError {
    #[error("expression name placeholder {placeholder} bound to both {first:?} and {second:?}")]
    NameRebound {
        placeholder: String,
        first: String,
        second: String,
    },
    #[error("expression value placeholder {placeholder} bound to both {first:?} and {second:?}")]
    ValueRebound {
        placeholder: String,
        /// The values, as `Debug` shows them (kept small: this is a bug report).
        first: String,
        second: String,
    },
}

/// An expression under construction. Clauses are added in order; [`Expr::build`] checks the
/// bindings and renders the texts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    set: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
    /// A query's filter clauses (applied after the read: they save transfer, not capacity).
    filters: Vec<String>,
    /// The first conflicting binding, reported by `build` (binding methods return the
    /// placeholder either way, so that building reads straight through).
    conflict: Option<ExprError>,
}

/// A built expression, ready for a request. Empty maps are `None`: DynamoDB rejects an empty
/// `ExpressionAttributeValues`.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// `SET … REMOVE …`, when any clause was added.
    pub update: Option<String>,
    /// The conditions, joined with `AND`.
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<HashMap<String, AttributeValue>>,
    /// A query's `FilterExpression`, the filters joined with `AND`.
    pub filter: Option<String>,
}

/// Clauses joined with `AND` (each parenthesised when there are several).
fn all_of(clauses: Vec<String>) -> Option<String> {
    match clauses.len() {
        0 => None,
        1 => clauses.into_iter().next(),
        _ => Some(
            clauses
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    }
}

impl Expr {
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder `#attr` of an attribute name (names in the schema are identifiers).
    pub fn name(&mut self, attr: &str) -> String {
        self.alias(attr, attr)
    }

    /// The placeholder `#{key}` of an attribute name chosen at run time (e.g. a map key that
    /// holds `#`), which cannot be its own placeholder.
    pub fn alias(&mut self, key: &str, attr: &str) -> String {
        let placeholder = format!("#{key}");
        match self.names.get(&placeholder) {
            Some(first) if first != attr => self.conflict(ExprError::NameRebound {
                placeholder: placeholder.clone(),
                first: first.clone(),
                second: attr.to_owned(),
            }),
            Some(_) => {}
            None => {
                self.names.insert(placeholder.clone(), attr.to_owned());
            }
        }
        placeholder
    }

    /// The placeholder `:{key}` bound to `value`.
    pub fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        match self.values.get(&placeholder) {
            Some(first) if *first != value => self.conflict(ExprError::ValueRebound {
                placeholder: placeholder.clone(),
                first: format!("{first:?}"),
                second: format!("{value:?}"),
            }),
            Some(_) => {}
            None => {
                self.values.insert(placeholder.clone(), value);
            }
        }
        placeholder
    }

    fn conflict(&mut self, err: ExprError) {
        self.conflict.get_or_insert(err);
    }

    /// `SET #attr = :attr`.
    pub fn set(&mut self, attr: &str, value: AttributeValue) {
        let value = self.value(attr, value);
        self.set_to(attr, &value);
    }

    /// `SET #attr = {operand}`, for an operand that is already an expression (a placeholder
    /// bound elsewhere, or `if_not_exists(…)`).
    pub fn set_to(&mut self, attr: &str, operand: &str) {
        let name = self.name(attr);
        self.set.push(format!("{name} = {operand}"));
    }

    /// `REMOVE #attr`.
    pub fn remove(&mut self, attr: &str) {
        let name = self.name(attr);
        self.remove.push(name);
    }

    /// One more condition, `AND`-ed to the others (parenthesised when there are several).
    pub fn require(&mut self, clause: impl Into<String>) {
        self.conditions.push(clause.into());
    }

    /// Adds a query filter clause (`FilterExpression`).
    pub fn filter(&mut self, clause: impl Into<String>) {
        self.filters.push(clause.into());
    }

    /// Checks the bindings and renders the texts.
    pub fn build(self) -> Result<Built, ExprError> {
        if let Some(err) = self.conflict {
            return Err(err);
        }
        let mut update = Vec::new();
        if !self.set.is_empty() {
            update.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            update.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        Ok(Built {
            update: (!update.is_empty()).then(|| update.join(" ")),
            condition: all_of(self.conditions),
            filter: all_of(self.filters),
            names: (!self.names.is_empty()).then_some(self.names),
            values: (!self.values.is_empty()).then_some(self.values),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_a_value_placeholder_twice_to_different_values_is_an_error() {
        let mut e = Expr::new();
        e.set("ts", n(1));
        let again = e.value("ts", n(2));
        assert_eq!(again, ":ts");
        assert_eq!(
            e.build(),
            Err(ExprError::ValueRebound {
                placeholder: ":ts".into(),
                first: format!("{:?}", n(1)),
                second: format!("{:?}", n(2)),
            })
        );
    }

    #[test]
    fn binding_a_name_placeholder_twice_to_different_names_is_an_error() {
        let mut e = Expr::new();
        e.alias("this", "s1#1");
        e.alias("this", "s1#2");
        assert!(matches!(e.build(), Err(ExprError::NameRebound { .. })));
    }

    #[test]
    fn the_same_binding_twice_is_one_placeholder() {
        let mut e = Expr::new();
        let a = e.value("now", n(5));
        let b = e.value("now", n(5));
        e.require(format!("#x < {a}"));
        e.require(format!("#y < {b}"));
        e.name("x");
        e.name("y");
        let built = e.build().unwrap();
        assert_eq!(built.values.unwrap().len(), 1);
        assert_eq!(built.condition.unwrap(), "(#x < :now) AND (#y < :now)");
        assert_eq!(built.update, None);
    }

    #[test]
    fn updates_render_set_then_remove_and_empty_maps_are_none() {
        let mut e = Expr::new();
        e.remove("a");
        assert_eq!(
            e.clone().build().unwrap().update.as_deref(),
            Some("REMOVE #a")
        );
        e.set("b", s("x"));
        let built = e.build().unwrap();
        assert_eq!(built.update.as_deref(), Some("SET #b = :b REMOVE #a"));
        assert_eq!(Expr::new().build().unwrap().names, None);
    }
}
