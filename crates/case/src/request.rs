//! What a trace or an exposure is asked, as the command line's flags and
//! the API's JSON bodies both give it, and the checks every request passes
//! before a store is opened.

use std::collections::BTreeSet;

use chainsleuth_core::{Chain, U256};
use chainsleuth_trace::{Direction, Model};
use serde::{Deserialize, Serialize};

use crate::error::{CaseError, Field, FieldError};

/// The most hops a trace may follow: far past where taint means anything,
/// low enough that a typo (`100000`) is refused rather than run.
pub const MAX_HOPS: u32 = 1000;

/// A trace: the seeds and every parameter, with the command line's
/// defaults. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// Seeds: `btc:ADDRESS`, `btc:TXID:VOUT` or `eth:0xADDRESS`, all on one
    /// chain.
    #[serde(default)]
    pub seeds: Vec<String>,
    /// Seed every address with an active tag: `category=NAME` or
    /// `entity=NAME`.
    #[serde(default)]
    pub seed_tag: Vec<String>,
    /// The chain (`btc`, `eth`), needed when only `seed_tag` names seeds.
    #[serde(default)]
    pub chain: Option<String>,
    /// The asset on Ethereum: `ETH` or a token contract [default: ETH].
    #[serde(default)]
    pub asset: Option<String>,
    /// Forward (where the funds went) or backward (where they came from).
    #[serde(default)]
    pub direction: TraceDirection,
    /// The models [default: all forward, poison and haircut backward].
    #[serde(default)]
    pub model: Option<ModelChoice>,
    /// Follow at most this many hops from a seed (1 to 1000).
    #[serde(default = "default_max_hops")]
    pub max_hops: u32,
    /// Stop following taint below this, in the smallest unit (sat, wei), as
    /// a decimal string or a number.
    #[serde(default = "default_min_amount", deserialize_with = "de_amount")]
    #[schema(value_type = String)]
    pub min_amount: String,
    /// Follow funds that left at or after this block [default: 0].
    #[serde(default)]
    pub from_block: Option<u64>,
    /// Follow until the end of this block [default: the indexed tip].
    #[serde(default)]
    pub to_block: Option<u64>,
    /// Continue through mixers under haircut instead of stopping there.
    #[serde(default)]
    pub through_mixers: bool,
}

impl Default for TraceRequest {
    fn default() -> Self {
        TraceRequest {
            seeds: Vec::new(),
            seed_tag: Vec::new(),
            chain: None,
            asset: None,
            direction: TraceDirection::Forward,
            model: None,
            max_hops: default_max_hops(),
            min_amount: default_min_amount(),
            from_block: None,
            to_block: None,
            through_mixers: false,
        }
    }
}

fn default_max_hops() -> u32 {
    10
}

fn default_min_amount() -> String {
    "0".to_owned()
}

/// A whole amount as a JSON string or number.
fn de_amount<'de, D: serde::Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Number(u64),
        Text(String),
    }
    Ok(match Text::deserialize(de)? {
        Text::Number(n) => n.to_string(),
        Text::Text(t) => t,
    })
}

/// Which way a trace goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TraceDirection {
    /// Where the funds went.
    #[default]
    Forward,
    /// Where they came from.
    Backward,
}

/// The models of a trace: one, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelChoice {
    /// Poison.
    Poison,
    /// Haircut.
    Haircut,
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
    /// All four (forward) or both (backward).
    All,
}

impl ModelChoice {
    /// The name as given.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelChoice::All => "all",
            ModelChoice::Poison => "poison",
            ModelChoice::Haircut => "haircut",
            ModelChoice::Fifo => "fifo",
            ModelChoice::Lifo => "lifo",
        }
    }

    /// The one model, or `None` for `all`.
    pub fn one(self) -> Option<Model> {
        match self {
            ModelChoice::All => None,
            ModelChoice::Poison => Some(Model::Poison),
            ModelChoice::Haircut => Some(Model::Haircut),
            ModelChoice::Fifo => Some(Model::Fifo),
            ModelChoice::Lifo => Some(Model::Lifo),
        }
    }
}

/// An exposure: of what one address received (sent), the share that came
/// from (went to) each tagged category and entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureRequest {
    /// `btc` or `eth`.
    pub chain: String,
    /// The address.
    pub address: String,
    /// Received (backward) or sent (forward).
    #[serde(default)]
    pub direction: ExposureDirection,
    /// Follow at most this many hops (1 to 1000).
    #[serde(default = "default_max_hops")]
    pub max_hops: u32,
    /// One model [default: haircut].
    #[serde(default = "default_exposure_model")]
    pub model: ModelChoice,
    /// The asset on Ethereum [default: ETH].
    #[serde(default)]
    pub asset: Option<String>,
}

fn default_exposure_model() -> ModelChoice {
    ModelChoice::Haircut
}

/// Which side of an address an exposure looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExposureDirection {
    /// Where the funds came from.
    #[default]
    Received,
    /// Where the funds went.
    Sent,
}

impl ExposureDirection {
    /// `received` or `sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExposureDirection::Received => "received",
            ExposureDirection::Sent => "sent",
        }
    }
}

/// A seed as given, before it is resolved against the index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SeedText {
    Address(String),
    Coin(String, u32),
}

/// A seed tag query: `category=NAME` or `entity=NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeedTag {
    Category(String),
    Entity(String),
}

/// A trace request after the checks that need no store.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The chain, when the seeds or `chain` name it (`seed_tag` alone needs
    /// `chain`).
    pub chain: Chain,
    pub seeds: BTreeSet<SeedText>,
    pub tags: Vec<(String, SeedTag)>,
    pub models: Vec<Model>,
    pub direction: Direction,
    pub min_amount: U256,
}

impl TraceRequest {
    /// Checks everything that needs no store (as [`crate::run_trace`] does
    /// first) and returns the trace's chain: for refusing a bad request
    /// before it is queued.
    ///
    /// # Errors
    /// [`CaseError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<Chain, CaseError> {
        self.check().map(|checked| checked.chain)
    }

    /// Checks everything that needs no store: the seeds parse and share a
    /// chain, the numbers are in range, the models fit the direction.
    pub(crate) fn check(&self) -> Result<Checked, CaseError> {
        let invalid = |field, value: &str, why: &str| CaseError::Invalid(FieldError::new(field, value, why));
        let asked = self
            .chain
            .as_deref()
            .map(|c| c.parse::<Chain>().map_err(|e| invalid(Field::Chain, &format!("{c:?}"), &e.to_string())))
            .transpose()?;
        let mut chain = asked;
        let mut seeds = BTreeSet::new();
        for text in &self.seeds {
            let (c, seed) = parse_seed(text).map_err(|why| invalid(Field::Seeds, &format!("{text:?}"), &why))?;
            match chain {
                Some(prev) if prev != c => {
                    let why = format!("is on {c}, but the trace is on {prev} (one chain per trace)");
                    return Err(invalid(Field::Seeds, &format!("{text:?}"), &why));
                }
                _ => chain = Some(c),
            }
            seeds.insert(seed);
        }
        let mut tags = Vec::new();
        for query in &self.seed_tag {
            let shown = format!("{query:?}");
            let (key, value) = query
                .split_once('=')
                .ok_or_else(|| invalid(Field::SeedTag, &shown, "expected category=NAME or entity=NAME"))?;
            let tag = match key.trim() {
                "category" => SeedTag::Category(value.trim().to_owned()),
                "entity" => SeedTag::Entity(value.trim().to_owned()),
                other => {
                    let why = format!("unknown key {other:?} (expected category or entity)");
                    return Err(invalid(Field::SeedTag, &shown, &why));
                }
            };
            tags.push((query.clone(), tag));
        }
        let Some(chain) = chain else {
            let why = if tags.is_empty() {
                "no seeds: give CHAIN:ADDRESS or btc:TXID:VOUT seeds, or a seed tag"
            } else {
                "a seed tag needs the chain: give chain btc or eth (or a seed)"
            };
            let field = if tags.is_empty() { Field::Seeds } else { Field::Chain };
            return Err(CaseError::Invalid(FieldError::whole(field, why)));
        };
        if chain == Chain::Ethereum && seeds.iter().any(|s| matches!(s, SeedText::Coin(..))) {
            return Err(CaseError::Invalid(FieldError::whole(
                Field::Seeds,
                "Ethereum seeds are addresses, not outpoints",
            )));
        }
        let direction = match self.direction {
            TraceDirection::Forward => Direction::Forward,
            TraceDirection::Backward => Direction::Backward,
        };
        let models = match self.model.map(ModelChoice::one) {
            Some(Some(model)) => vec![model],
            None if direction == Direction::Backward => vec![Model::Poison, Model::Haircut],
            Some(None) | None => Model::ALL.to_vec(),
        };
        check_models(&models, direction)?;
        check_hops(self.max_hops)?;
        let min_amount: U256 = self.min_amount.trim().parse().map_err(|_| {
            invalid(Field::MinAmount, &format!("{:?}", self.min_amount), "expected a whole number of the smallest unit")
        })?;
        if let (Some(from), Some(to)) = (self.from_block, self.to_block) {
            if from > to {
                return Err(invalid(Field::FromBlock, &from.to_string(), &format!("is after to_block {to}")));
            }
        }
        Ok(Checked { chain, seeds, tags, models, direction, min_amount })
    }
}

/// Backward traces take poison and haircut only.
pub(crate) fn check_models(models: &[Model], direction: Direction) -> Result<(), CaseError> {
    match models.iter().find(|m| matches!(m, Model::Fifo | Model::Lifo)) {
        Some(m) if direction == Direction::Backward => Err(CaseError::Invalid(FieldError::new(
            Field::Model,
            m.as_str(),
            "backward traces take the poison and haircut models only",
        ))),
        _ => Ok(()),
    }
}

/// From 1 to [`MAX_HOPS`].
pub(crate) fn check_hops(max_hops: u32) -> Result<(), CaseError> {
    let why = match max_hops {
        0 => "a trace follows at least 1 hop (0 would follow nothing)",
        n if n > MAX_HOPS => "more than the 1000 hops a trace may follow",
        _ => return Ok(()),
    };
    Err(CaseError::Invalid(FieldError::new(Field::MaxHops, max_hops.to_string(), why)))
}

fn parse_seed(text: &str) -> Result<(Chain, SeedText), String> {
    let (chain, rest) = text.trim().split_once(':').ok_or("expected CHAIN:ADDRESS or btc:TXID:VOUT")?;
    let chain: Chain = chain.parse().map_err(|e: chainsleuth_core::ParseChainError| e.to_string())?;
    if chain == Chain::Bitcoin {
        if let Some((txid, vout)) = rest.split_once(':') {
            let vout = vout.parse().map_err(|_| format!("output index {vout:?} is not a number"))?;
            if txid.len() != 64 || !txid.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("txid {txid:?} is not 64 hex digits"));
            }
            return Ok((chain, SeedText::Coin(txid.to_ascii_lowercase(), vout)));
        }
    }
    if rest.is_empty() {
        return Err(format!("no address after {chain}:"));
    }
    Ok((chain, SeedText::Address(rest.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<TraceRequest, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_command_lines() {
        let r = body(r#"{"seeds": ["btc:bcrt1qxyz"]}"#).unwrap();
        assert_eq!(r, TraceRequest { seeds: vec!["btc:bcrt1qxyz".into()], ..TraceRequest::default() });
        let checked = r.check().unwrap();
        assert_eq!((checked.chain, checked.models.len(), checked.min_amount), (Chain::Bitcoin, 4, U256::ZERO));
        let backward = body(r#"{"seeds": ["btc:a"], "direction": "backward", "min_amount": 5}"#).unwrap();
        assert_eq!(backward.check().unwrap().models, vec![Model::Poison, Model::Haircut]);
        assert_eq!(backward.min_amount, "5");
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert!(body(r#"{"seeds": [], "hops": 3}"#).unwrap_err().contains("hops"));
        assert!(body(r#"{"max_hops": -1}"#).is_err());
        for (json, start) in [
            (r#"{"seeds": ["btc:a", "eth:0x01"]}"#, "seeds: \"eth:0x01\": is on eth"),
            (r#"{"seeds": ["doge:a"]}"#, "seeds: \"doge:a\": unknown chain"),
            (r#"{}"#, "seeds: no seeds"),
            (r#"{"seed_tag": ["category=seized"]}"#, "chain: "),
            (r#"{"seed_tag": ["colour=red"], "chain": "btc"}"#, "seed_tag: \"colour=red\""),
            (r#"{"seeds": ["btc:a"], "max_hops": 0}"#, "max_hops: 0: "),
            (r#"{"seeds": ["btc:a"], "max_hops": 4000000}"#, "max_hops: 4000000: "),
            (r#"{"seeds": ["btc:a"], "min_amount": "lots"}"#, "min_amount: \"lots\""),
            (r#"{"seeds": ["btc:a"], "from_block": 9, "to_block": 3}"#, "from_block: 9: is after to_block 3"),
            (r#"{"seeds": ["btc:a"], "direction": "backward", "model": "fifo"}"#, "model: fifo: "),
            (r#"{"seeds": ["eth:0x01"], "chain": "mars"}"#, "chain: \"mars\""),
        ] {
            let err = body(json).unwrap().check().unwrap_err().to_string();
            assert!(err.starts_with(start), "{json}: {err}");
        }
    }
}
