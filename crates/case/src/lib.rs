//! Case work over a data directory: a trace or an exposure run from a
//! request ([`TraceRequest`], [`ExposureRequest`]) that the command line's
//! flags and the API's JSON both fill in, with the same defaults and the
//! same checks, and the labels an address inherits ([`inferred_btc`],
//! [`inferred_eth`], [`cluster_labels`]) for the address and cluster views.
//!
//! Errors say which request field is wrong ([`CaseError`], [`Field`]) so
//! each shell can name its own spelling of it. The kernels, models and
//! report formats are in `chainsleuth-trace`; this crate only wires them
//! to the stores and the tags. It prints nothing and keeps no state.

mod error;
mod labels;
mod request;
mod run;

pub use error::{CaseError, Field, FieldError};
pub use labels::{cluster_labels, inferred_btc, inferred_eth, ClusterTags};
pub use request::{ExposureDirection, ExposureRequest, ModelChoice, TraceDirection, TraceRequest, MAX_HOPS};
pub use run::{run_exposure, run_trace, smallest_unit, ExposureReport};

use chainsleuth_tags::OffRamps;

/// The settings a case reads besides the request: which tag categories are
/// fiat off-ramps (`[tags] off_ramps`) and which tokens' issuers can freeze
/// balances (`[trace] freezable_tokens` and `[eth] freezable_tokens`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseConfig {
    /// The categories a trace stops at as off-ramps.
    pub off_ramps: OffRamps,
    /// `[trace] freezable_tokens`: token contracts whose holders are flagged
    /// freezable [default: mainnet USDT and USDC].
    pub freezable_tokens: Vec<String>,
    /// `[eth] freezable_tokens`: the tokens the indexer decodes freezes of,
    /// which count too.
    pub indexed_freezable_tokens: Vec<String>,
}

impl Default for CaseConfig {
    fn default() -> Self {
        CaseConfig {
            off_ramps: OffRamps::default(),
            freezable_tokens: default_freezable_tokens(),
            indexed_freezable_tokens: Vec::new(),
        }
    }
}

impl CaseConfig {
    /// Whether holders of `asset` (a token contract, any case) can be frozen
    /// by its issuer.
    pub fn is_freezable(&self, asset: &str) -> bool {
        self.freezable_tokens.iter().chain(&self.indexed_freezable_tokens).any(|t| t.eq_ignore_ascii_case(asset))
    }
}

/// Tether USD and USD Coin on Ethereum mainnet.
pub fn default_freezable_tokens() -> Vec<String> {
    vec!["0xdAC17F958D2ee523a2206206994597C13D831ec7".into(), "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48".into()]
}
