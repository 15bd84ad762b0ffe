//! Fund-flow tracing: from seed addresses or coins, follow tainted value
//! through a UTXO graph (Bitcoin) or an account graph (Ethereum) under four
//! taint models at once, stop at off-ramps, mixers, dust and the hop
//! horizon, and say where the rest is held.
//!
//! The kernels read chains only through `chainsleuth_core`'s [`UtxoGraph`]
//! and [`AccountGraph`] and learn who is behind an address through an
//! [`AddressLabels`]; they know no store and no tag format. Amounts are
//! exact integers in the chain's smallest unit ([`U256`]) throughout.
//!
//! The models, per transaction (UTXO) or per outgoing transfer (account):
//!
//! | model | UTXO transaction | account address |
//! |---|---|---|
//! | poison | any tainted input taints every output in full | once tainted, every later outflow is tainted in full |
//! | haircut | output i gets floor(v_i × T / V) | an outflow of a carries floor(a × t / B) |
//! | FIFO | inputs' part lists joined in input order, poured into outputs in order | received parts leave oldest first |
//! | LIFO | the joined list reversed, poured in output order | received parts leave newest first |
//!
//! An address labelled mixer ends the path (`mixers`) unless
//! `through_mixers` is set; then it is followed under haircut whatever the
//! model. UTXO: the mixer's own transaction (one spending a tainted coin at
//! an address labelled mixer) shares all its taint by the haircut rule, each output's share in
//! the model's own form (FIFO and LIFO: the tainted share, then the clean
//! rest). Account: a mixer that receives taint keeps it as a haircut amount,
//! and each outflow carries floor(a × t / B) (FIFO and LIFO: as the tainted
//! share, then the clean rest; poison: only that share). Past the mixer each
//! model's own rule applies again. Passing a mixer adds to no total; each
//! pass is listed in [`Flows::mixers_passed`] and a report lists the mixers
//! passed under `mixers`.
//!
//! What a fee takes (rounding and the fee under haircut, the leftover parts
//! under FIFO and LIFO) leaves the trace as `fees`. For every model but
//! poison each unit of seeded taint ends in exactly one bucket:
//! `seeded = reached + held + fees + dust + horizon + mixers`.
//!
//! [`UtxoGraph`]: chainsleuth_core::UtxoGraph
//! [`AccountGraph`]: chainsleuth_core::AccountGraph
//! [`U256`]: chainsleuth_core::U256

mod account;
mod account_back;
mod backward;
mod budget;
mod exposure;
mod flows;
mod html;
mod labels;
mod params;
mod parts;
mod report;
mod resolve;
mod sankey;
mod table;
mod utxo;

pub use account::{trace_account, trace_account_within};
pub use budget::{Budget, Stopped, CLOCK_EVERY};
pub use exposure::{exposure, Exposure, ExposureRow};
pub use flows::{End, EndKind, Flows, Hop, PathNode, Step, Totals};
pub use labels::{AddressLabels, MapLabels};
pub use params::{Direction, Model, Params, ParamsError};
pub use report::{
    format_units, Amount, Case, Describe, Holder, HopView, ModelReport, Offramp, PathView, Report, TipView, TotalsView,
    Unit,
};
pub use resolve::{ClusterLabels, DepositLabels, DEPOSIT_ETH_SLACK, DEPOSIT_WINDOW_BLOCKS};
pub use table::{Align, Table};
pub use utxo::{trace_utxo, trace_utxo_within, UtxoSeed};

/// Why a trace could not run.
#[derive(Debug, thiserror::Error)]
pub enum TraceError<E: std::error::Error + 'static> {
    /// Reading the chain index failed.
    #[error("reading the index")]
    Graph(#[source] E),
    /// Looking up labels failed.
    #[error("reading the tags: {0}")]
    Labels(String),
    /// The index disagrees with itself (a coin's spender does not spend it).
    #[error("the index is inconsistent: {0}")]
    Inconsistent(String),
    /// The trace was cancelled or ran over its [`Budget`].
    #[error(transparent)]
    Stopped(Stopped),
}

impl<E: std::error::Error + 'static> From<Stopped> for TraceError<E> {
    fn from(stopped: Stopped) -> Self {
        TraceError::Stopped(stopped)
    }
}
