//! What can be wrong with a case request, and which field it is about, so
//! that the command line names its flag (`--max-hops 0: ...`) and the API
//! its JSON field (`max_hops: 0: ...`) from one error.

use chainsleuth_core::Chain;
use chainsleuth_trace::Stopped;

/// A field of a trace or exposure request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `seeds` (`--seed`).
    Seeds,
    /// `seed_tag` (`--seed-tag`).
    SeedTag,
    /// `chain` (`--chain`, or the exposure's chain).
    Chain,
    /// `asset` (`--asset`).
    Asset,
    /// `direction` (`--direction`).
    Direction,
    /// `model` (`--model`).
    Model,
    /// `max_hops` (`--max-hops`).
    MaxHops,
    /// `min_amount` (`--min-amount`).
    MinAmount,
    /// `from_block` (`--from-block`).
    FromBlock,
    /// `to_block` (`--to-block`).
    ToBlock,
    /// The exposure's address.
    Address,
}

impl Field {
    /// The field's name in a JSON request or a query string.
    pub fn name(self) -> &'static str {
        match self {
            Field::Seeds => "seeds",
            Field::SeedTag => "seed_tag",
            Field::Chain => "chain",
            Field::Asset => "asset",
            Field::Direction => "direction",
            Field::Model => "model",
            Field::MaxHops => "max_hops",
            Field::MinAmount => "min_amount",
            Field::FromBlock => "from_block",
            Field::ToBlock => "to_block",
            Field::Address => "address",
        }
    }

    /// The command line's flag (or argument) for the field.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Seeds => "--seed",
            Field::SeedTag => "--seed-tag",
            Field::Chain => "--chain",
            Field::Asset => "--asset",
            Field::Direction => "--direction",
            Field::Model => "--model",
            Field::MaxHops => "--max-hops",
            Field::MinAmount => "--min-amount",
            Field::FromBlock => "--from-block",
            Field::ToBlock => "--to-block",
            Field::Address => "ADDR",
        }
    }
}

/// A field's value and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field.
    pub field: Field,
    /// The value given, when one was (as given, or quoted when it is text).
    pub value: Option<String>,
    /// What is wrong, without the field's name.
    pub why: String,
}

impl FieldError {
    /// `field` with `value` is wrong because `why`.
    pub fn new(field: Field, value: impl Into<String>, why: impl Into<String>) -> FieldError {
        FieldError { field, value: Some(value.into()), why: why.into() }
    }

    /// `field` (as a whole) is wrong because `why`.
    pub fn whole(field: Field, why: impl Into<String>) -> FieldError {
        FieldError { field, value: None, why: why.into() }
    }

    /// The message with the command line's flag: `--max-hops 0: why`.
    pub fn for_cli(&self) -> String {
        match &self.value {
            Some(value) => format!("{} {value}: {}", self.field.flag(), self.why),
            None => format!("{}: {}", self.field.flag(), self.why),
        }
    }
}

/// The message with the request's field name: `max_hops: 0: why`.
impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}: {value}: {}", self.field.name(), self.why),
            None => write!(f, "{}: {}", self.field.name(), self.why),
        }
    }
}

/// Why a trace or an exposure did not give a report.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// A field of the request cannot be used (the API's 400).
    #[error("{0}")]
    Invalid(FieldError),
    /// A field names something the index does not hold (the API's 404).
    #[error("{0}")]
    NotFound(FieldError),
    /// Nothing is indexed for the chain in the data directory (404).
    #[error("no {} index in this data directory (run `chainsleuth index {}` first)", chain_name(*.0), .0)]
    NotIndexed(Chain),
    /// The trace was cancelled or ran over its budget.
    #[error(transparent)]
    Stopped(Stopped),
    /// A store could not be read, or contradicts itself (500).
    #[error("{what}")]
    Store {
        /// What was being read.
        what: String,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn chain_name(chain: Chain) -> &'static str {
    match chain {
        Chain::Bitcoin => "Bitcoin",
        Chain::Ethereum => "Ethereum",
    }
}

impl CaseError {
    /// A failure reading `what`.
    pub(crate) fn store(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> CaseError {
        CaseError::Store { what: what.into(), source: Box::new(source) }
    }

    /// A failure reading `what` known only by its message (the trace's
    /// label and description hooks report strings).
    pub(crate) fn text(what: impl Into<String>, message: String) -> CaseError {
        CaseError::Store { what: what.into(), source: message.into() }
    }

    /// The field the error is about, if it is about one.
    pub fn field(&self) -> Option<Field> {
        match self {
            CaseError::Invalid(e) | CaseError::NotFound(e) => Some(e.field),
            CaseError::NotIndexed(_) => Some(Field::Chain),
            CaseError::Stopped(_) | CaseError::Store { .. } => None,
        }
    }

    /// The message as the command line says it (flags instead of field
    /// names).
    pub fn for_cli(&self) -> String {
        match self {
            CaseError::Invalid(e) | CaseError::NotFound(e) => e.for_cli(),
            other => other.to_string(),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<chainsleuth_trace::TraceError<E>> for CaseError {
    fn from(err: chainsleuth_trace::TraceError<E>) -> CaseError {
        match err {
            chainsleuth_trace::TraceError::Stopped(stopped) => CaseError::Stopped(stopped),
            chainsleuth_trace::TraceError::Graph(source) => CaseError::store("tracing through the index", source),
            chainsleuth_trace::TraceError::Labels(message) => CaseError::text("reading the tags of the trace", message),
            chainsleuth_trace::TraceError::Inconsistent(message) => {
                CaseError::text("tracing: the index is inconsistent", message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_or_the_flag() {
        let err = CaseError::Invalid(FieldError::new(Field::MaxHops, "0", "a trace follows at least 1 hop"));
        assert_eq!(err.to_string(), "max_hops: 0: a trace follows at least 1 hop");
        assert_eq!(err.for_cli(), "--max-hops 0: a trace follows at least 1 hop");
        assert_eq!(err.field(), Some(Field::MaxHops));
        let none = CaseError::NotIndexed(Chain::Ethereum);
        assert_eq!(none.to_string(), "no Ethereum index in this data directory (run `chainsleuth index eth` first)");
    }
}
