//! What a trace is asked: direction, models, stops and the block window.

use chainsleuth_core::{Height, U256};
use serde::Serialize;

/// Which way to follow the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Where did the seeds' funds go.
    Forward,
    /// Where did the seeds' funds come from.
    Backward,
}

/// A taint model (see the crate documentation for the exact rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Any taint taints everything it touches, in full.
    Poison,
    /// Taint is shared pro rata.
    Haircut,
    /// First in, first out.
    Fifo,
    /// Last in, first out.
    Lifo,
}

impl Model {
    /// Every model, in report order.
    pub const ALL: [Model; 4] = [Model::Poison, Model::Haircut, Model::Fifo, Model::Lifo];

    /// The model's name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Poison => "poison",
            Model::Haircut => "haircut",
            Model::Fifo => "fifo",
            Model::Lifo => "lifo",
        }
    }
}

/// The parameters of one trace. Recorded in full in every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Params {
    /// Forward (default) or backward.
    pub direction: Direction,
    /// The models to compute, each in the same run.
    pub models: Vec<Model>,
    /// Coins (transfers) more than this many hops from a seed end at the
    /// horizon. At least 1.
    pub max_hops: u32,
    /// Taint below this ends as dust (0: no dust stop).
    #[serde(serialize_with = "ser_u256")]
    pub min_amount: U256,
    /// Funds that left after the start of this block (default: genesis).
    pub from_block: Height,
    /// Followed until the end of this block (default: the tip).
    pub to_block: Height,
    /// Continue through addresses tagged as mixers, under haircut (see the
    /// crate documentation), instead of stopping there.
    pub through_mixers: bool,
    /// Stop at every labelled address, not only at off-ramps and mixers
    /// (exposure, and every backward trace: a source is any tagged actor).
    pub any_label: bool,
}

fn ser_u256<S: serde::Serializer>(value: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

/// A parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// `max_hops` of 0 would follow nothing.
    #[error("--max-hops must be at least 1 (0 would follow nothing)")]
    ZeroHops,
    /// The window ends before it starts.
    #[error("--from-block {from} is after --to-block {to}")]
    EmptyWindow {
        /// Start.
        from: u64,
        /// End.
        to: u64,
    },
    /// The window reaches past what is indexed.
    #[error("block {block} is beyond the indexed tip {tip}")]
    BeyondTip {
        /// The asked block.
        block: u64,
        /// The tip.
        tip: u64,
    },
    /// No models asked.
    #[error("no taint model given")]
    NoModels,
    /// A model that only traces forward.
    #[error("--direction backward supports the poison and haircut models, not {0}")]
    BackwardModel(&'static str),
}

impl Params {
    /// Forward, every model, 10 hops, no dust stop, the whole chain up to `tip`.
    pub fn new(tip: Height) -> Self {
        Params {
            direction: Direction::Forward,
            models: Model::ALL.to_vec(),
            max_hops: 10,
            min_amount: U256::ZERO,
            from_block: Height::GENESIS,
            to_block: tip,
            through_mixers: false,
            any_label: false,
        }
    }

    /// Checks the parameters against the indexed tip.
    pub fn check(&self, tip: Height) -> Result<(), ParamsError> {
        if self.max_hops == 0 {
            return Err(ParamsError::ZeroHops);
        }
        if self.models.is_empty() {
            return Err(ParamsError::NoModels);
        }
        if self.from_block > self.to_block {
            return Err(ParamsError::EmptyWindow { from: self.from_block.get(), to: self.to_block.get() });
        }
        if let Some(m) = self.models.iter().find(|m| matches!(m, Model::Fifo | Model::Lifo)) {
            if self.direction == Direction::Backward {
                return Err(ParamsError::BackwardModel(m.as_str()));
            }
        }
        if self.to_block > tip {
            return Err(ParamsError::BeyondTip { block: self.to_block.get(), tip: tip.get() });
        }
        Ok(())
    }
}
