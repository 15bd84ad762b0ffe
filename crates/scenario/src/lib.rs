//! A national crackdown case on Ethereum, played on an anvil dev node for
//! the demo and its end-to-end test: dozens of shut-down unlicensed
//! platforms, licensed bank-connected exchanges whose per-customer deposit
//! addresses are swept into their hot wallets, a cash-out network, a mixer,
//! and four seized platform wallets whose earlier outflows were laundered
//! (a peel chain, a consolidation with clean funds, direct deposits), in
//! ETH and in a USDT-like token whose issuer can freeze holders (one holder
//! frozen, the rest still freezable), among everyday traffic.
//!
//! [`Node`] starts anvil on a free loopback port and kills it when dropped;
//! [`play`] drives the case on it and returns its ground truth
//! ([`EthCase`]): the tags an investigator would hold (written as JSON
//! Lines for the tag importer) and, for the flows where every taint model
//! must agree, the amounts that reach each off-ramp, the mixer, and what is
//! still held. Nothing here knows of the index or the tracer.

mod crackdown;
mod node;

use std::path::{Path, PathBuf};

pub use crackdown::{play, CrackdownConfig, EthCase, Holding, OfframpTruth, Reach, SeedTruth, TokenTruth};
pub use node::{anvil_path, Node};

/// An error of starting the node or playing the case; each says what.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// No anvil binary was found.
    #[error(
        "anvil not found: set ANVIL_BIN, or run scripts/install-test-deps.sh --demo (it installs .tools/anvil/bin/anvil)"
    )]
    NoAnvil,
    /// Anvil could not be started or did not answer.
    #[error("starting {}: {reason}", anvil.display())]
    Start {
        /// The binary.
        anvil: PathBuf,
        /// Why.
        reason: String,
    },
    /// The node refused or failed a request. The message says what was
    /// asked; the node's answer is the source (an error chain prints both).
    #[error("{what}")]
    Rpc {
        /// What was asked.
        what: String,
        /// The node's answer.
        #[source]
        source: chainsleuth_eth::RpcError,
    },
    /// A transaction of the case was not mined or reverted.
    #[error("{what}: {reason}")]
    Failed {
        /// The step of the case.
        what: String,
        /// Why.
        reason: String,
    },
    /// The case's tag file could not be written.
    #[error(transparent)]
    Tags(#[from] chainsleuth_btc::sim::SimError),
    /// A file of the case could not be written. The message names the
    /// file; the cause is the source.
    #[error("writing {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ScenarioError {
    fn start(anvil: &Path, reason: impl Into<String>) -> Self {
        ScenarioError::Start { anvil: anvil.to_owned(), reason: reason.into() }
    }

    fn io(path: &Path, source: std::io::Error) -> Self {
        ScenarioError::Io { path: path.to_owned(), source }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// `err` and its sources, outermost first, as an error chain printer
    /// (the CLI's `{:#}`) shows them.
    fn chain(err: &ScenarioError) -> Vec<String> {
        let mut chain = vec![err.to_string()];
        let mut cause = err.source();
        while let Some(err) = cause {
            chain.push(err.to_string());
            cause = err.source();
        }
        chain
    }

    #[test]
    fn each_error_says_its_context_once_and_its_cause_is_the_source() {
        let rpc = ScenarioError::Rpc {
            what: "funding the platforms".into(),
            source: chainsleuth_eth::RpcError::Setup { url: "http://127.0.0.1:1".into(), reason: "bad url" },
        };
        let io = ScenarioError::io(Path::new("/case/tags.jsonl"), std::io::Error::other("disk full"));
        for (err, context, cause) in
            [(rpc, "funding the platforms", "bad url"), (io, "writing /case/tags.jsonl", "disk full")]
        {
            let chain = chain(&err);
            assert_eq!(chain[0], context, "{chain:?}");
            assert!(chain[1].contains(cause), "the cause is the source: {chain:?}");
            let printed = chain.join(": ");
            assert_eq!(printed.matches(cause).count(), 1, "{printed}");
            assert_eq!(printed.matches(context).count(), 1, "{printed}");
        }
    }
}
