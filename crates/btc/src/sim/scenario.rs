//! Scenarios: what happens on a simulated chain besides everyday traffic.
//!
//! There is one generator (module `sim::gen`); a scenario only steers it through the `Plan` hook, so every
//! scenario gets valid blocks, signatures, the wallet model and ground truth for free.
//!
//! # Adding a scenario
//!
//! 1. Add a variant to [`Scenario`] with a doc comment, to [`Scenario::ALL`], and its name to [`Scenario::name`].
//! 2. Write a type implementing `Plan` holding the scenario's state (its actors' owner ids, the step it is at):
//!    - `setup` creates its actors with `World::add_owner` (for example a seized wallet, a mixer, an exchange's
//!      deposit and hot wallets) and remembers their owner ids;
//!    - `scripted` returns the transactions it needs in the block at `world.height`, built with the shape
//!      builders on `World` (`payment`, `batch_payout`, `consolidation`, `coinjoin`, `peel_from`, and `pay` plus
//!      `finish` for a custom shape), so a laundering case is a script of hops: seized wallet -> peel chain ->
//!      mixer -> exchange deposit. Coins are spendable from the block after the one that creates them;
//!    - `mix` may change the weights of everyday traffic;
//!    - `confirmed` hears the txids of the transactions `scripted` returned, in order, once they are signed;
//!    - `case` reports what the scenario played out (tags, the expected paths) once the chain is built.
//! 3. Return it from `Scenario::plan`. The laundering case (module `sim::laundering`) is a worked example: its actors
//!    are `Role::Scripted` owners, whose coins only the plan moves.
//!
//! A plan draws randomness only from `world.rng` and keeps its state in ordered collections, so a scenario chain
//! stays a pure function of its seed and branches (`SimChain::with_branch`) replay it exactly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use bitcoin::Txid;

use super::gen::{Draft, World};
use super::laundering::Case;

/// Which scenario a simulated chain plays out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scenario {
    /// Everyday traffic only: payments, exchange deposits, batch payouts, consolidations, peel chains and
    /// CoinJoin-like transactions over P2PKH, P2WPKH, P2TR, P2SH multisig, with the odd P2PK and OP_RETURN output.
    #[default]
    Basic,
    /// Everyday traffic plus a laundering case: shut-down platforms whose hot wallets are later seized, peel chains,
    /// a consolidation of tainted and clean coins, a CoinJoin, exchange deposit addresses swept into tagged hot
    /// wallets, a cash-out network, a mixer and tainted coins left unspent. The case's tags and ground truth come
    /// with the chain ([`crate::sim::SimChain::case`]); it needs [`Scenario::min_blocks`] blocks to play out.
    Laundering,
}

impl Scenario {
    /// Every scenario, for help texts.
    pub const ALL: &'static [Scenario] = &[Scenario::Basic, Scenario::Laundering];

    /// The scenario's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Basic => "basic",
            Scenario::Laundering => "laundering",
        }
    }

    /// The fewest blocks after genesis a chain needs to play the scenario out.
    pub fn min_blocks(self) -> u32 {
        match self {
            Scenario::Basic => 0,
            Scenario::Laundering => super::laundering::MIN_BLOCKS,
        }
    }

    /// The plan that steers the generator through this scenario.
    pub(crate) fn plan(self) -> Box<dyn Plan> {
        match self {
            Scenario::Basic => Box::new(Everyday),
            Scenario::Laundering => Box::new(super::laundering::Laundering::default()),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scenario name that is not known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scenario {0:?} (known: {known})", known = Scenario::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "))]
pub struct ParseScenarioError(pub String);

impl FromStr for Scenario {
    type Err = ParseScenarioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL.iter().copied().find(|sc| sc.name() == s).ok_or_else(|| ParseScenarioError(s.to_owned()))
    }
}

/// Weights of everyday transaction shapes in one block, and how peel chains start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mix {
    pub payment: u32,
    pub batch: u32,
    pub consolidation: u32,
    pub coinjoin: u32,
    /// Chance per block that a new peel chain starts.
    pub peel_start: f64,
    /// Most peel chains running at once.
    pub max_peels: usize,
}

impl Mix {
    /// The everyday mix, rebalanced so the pool of spendable coins neither runs dry nor grows without bound.
    pub fn everyday(world: &World) -> Mix {
        let target = world.target.max(1) as usize;
        let pool = world.wallet.spendable;
        let mut mix = Mix { payment: 70, batch: 5, consolidation: 4, coinjoin: 2, peel_start: 0.08, max_peels: 3 };
        if pool < target * 8 {
            mix.batch = 40;
            mix.consolidation = 0;
        } else if pool > target * 80 {
            mix.batch = 2;
            mix.consolidation = 20;
        }
        mix
    }
}

/// The hook a scenario steers the generator with; see the module docs.
pub(crate) trait Plan {
    /// Creates the scenario's actors, once, after the everyday population and before block 1.
    fn setup(&mut self, _world: &mut World) {}

    /// The scenario's own transactions for the block at `world.height`, placed before everyday traffic.
    fn scripted(&mut self, _world: &mut World) -> Vec<Draft> {
        Vec::new()
    }

    /// The everyday mix for the block at `world.height`.
    fn mix(&self, world: &World) -> Mix {
        Mix::everyday(world)
    }

    /// The txids of the transactions the last `scripted` call returned, in the same order.
    fn confirmed(&mut self, _txids: &[Txid]) {}

    /// What the scenario played out, once the chain is built; `None` when it has nothing to report or the chain
    /// ended before it was done.
    fn case(&self, _world: &World) -> Option<Case> {
        None
    }
}

/// The plan of [`Scenario::Basic`]: everyday traffic and nothing else.
struct Everyday;

impl Plan for Everyday {}
