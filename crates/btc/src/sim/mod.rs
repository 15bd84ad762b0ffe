//! A deterministic builder of real Bitcoin regtest chains, for tests, benchmarks and the demo.
//!
//! It is not a node and checks nothing it is given: it makes chains whose blocks a node would accept (regtest
//! proof of work, merkle roots, witness commitments, BIP34 heights, coinbase maturity, subsidy plus fees, real
//! secp256k1 signatures, no double spends), writes them as Bitcoin Core's block files ([`write_blocks_dir`]) and
//! says what an index of them must contain ([`GroundTruth`]). The same [`SimConfig`] always gives the same chain.
//!
//! Traffic comes from a wallet model of miners, exchanges and users, each holding keys and mature coins: payments
//! and exchange deposits over P2PKH, P2WPKH, P2TR and P2SH 2-of-3 multisig (now and then a bare P2PK or OP_RETURN
//! output), batch payouts with 20-100 outputs, consolidations of 20-60 inputs, peel chains that hop once a block,
//! and CoinJoin-like transactions. Outputs become spendable one block after they confirm (coinbase outputs after
//! 100), so transactions within a block never depend on each other. [`Scenario`] steers the one generator; see
//! [`scenario`] for how to add one. [`Scenario::Laundering`] adds a laundering case, with its tags and ground truth
//! ([`Case`]).

mod blkdir;
mod gen;
mod laundering;
pub mod scenario;
mod sign;
mod truth;
mod wallet;

use std::path::{Path, PathBuf};

use bitcoin::{Block, BlockHash};
use chainsleuth_core::Height;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

pub use blkdir::{write_blocks_dir, BlkDirLayout, BlkDirOptions, BlkDirStream, BlkRecord, CORE_MAX_FILE_SIZE};
pub use gen::Shape;
pub use laundering::{
    AgreedPath, Case, CaseCoin, CaseTag, Deposit, MixedTx, MixerTruth, Offramp, Seed, Taint, TAGS_FILE,
};
pub use scenario::{ParseScenarioError, Scenario};
pub use truth::{AddressTruth, GroundTruth};

use gen::Generator;

/// What chain to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Blocks to mine on top of the genesis block (the tip's height).
    pub blocks: u32,
    /// Seed of all randomness: keys, amounts, shapes, timestamps.
    pub seed: u64,
    /// Transactions per block besides the coinbase, a target: the first 100 blocks hold only coinbases (nothing is
    /// mature yet) and the next few fewer while coins fan out.
    pub txs_per_block: u32,
    /// What happens besides everyday traffic.
    pub scenario: Scenario,
}

impl Default for SimConfig {
    /// 300 blocks of 20 transactions each (about 4,000 transactions), seed 1, the basic scenario.
    fn default() -> Self {
        SimConfig { blocks: 300, seed: 1, txs_per_block: 20, scenario: Scenario::Basic }
    }
}

/// A built chain and what an index of it must report.
#[derive(Clone, Debug)]
pub struct SimChain {
    /// The best chain, genesis (the regtest genesis block) at index 0, so `blocks[h]` is at height `h`.
    pub blocks: Vec<Block>,
    /// Ground truth of exactly these blocks.
    pub truth: GroundTruth,
    /// The scenario's case, when it has one and the chain was long enough to play it out.
    pub case: Option<Case>,
    config: SimConfig,
    /// Branch points this chain took: (fork height, branch seed), by height.
    forks: Vec<(u32, u64)>,
}

/// Builds the chain `cfg` describes.
pub fn build_chain(cfg: &SimConfig) -> SimChain {
    let (blocks, truth, case) = replay(cfg, &[], cfg.blocks).finish();
    SimChain { blocks, truth, case, config: cfg.clone(), forks: Vec::new() }
}

/// Builds `len` valid blocks that fork from `chain` after `fork_height` (the first one's parent is
/// `chain.blocks[fork_height]`), spending the coins the wallets held there. With `fork_height + len` at most the
/// tip's height they are stale blocks; longer, they are a branch that wins a reorg.
///
/// # Panics
///
/// When `fork_height` is above the tip, or `chain.blocks` was changed after it was built.
pub fn build_stale_branch(chain: &SimChain, fork_height: Height, len: u32, seed: u64) -> Vec<Block> {
    let fork = chain.fork_index(fork_height);
    chain.with_branch(fork_height, len, seed).blocks.split_off(fork + 1)
}

impl SimChain {
    /// The configuration this chain was built from.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Height of the tip.
    pub fn tip_height(&self) -> Height {
        self.truth.tip_height
    }

    /// Transactions on the chain, coinbases included.
    pub fn tx_count(&self) -> u64 {
        self.truth.tx_count
    }

    /// The chain that wins after a reorg to the branch [`build_stale_branch`] makes with the same arguments:
    /// `blocks[..=fork_height]` followed by that branch, with its own ground truth. Branches of branches work too.
    ///
    /// # Panics
    ///
    /// When `fork_height` is above the tip, or `blocks` was changed after it was built.
    pub fn with_branch(&self, fork_height: Height, len: u32, seed: u64) -> SimChain {
        let fork = self.fork_index(fork_height);
        let fork_u32 = u32::try_from(fork).expect("fork height is at most the tip, a u32");
        let mut forks: Vec<(u32, u64)> = self.forks.iter().copied().filter(|&(at, _)| at < fork_u32).collect();
        forks.push((fork_u32, seed));
        let generator = replay(&self.config, &forks, fork_u32 + len);
        assert_eq!(
            generator.blocks()[fork].block_hash(),
            self.blocks[fork].block_hash(),
            "replaying the chain must rebuild the block at the fork height"
        );
        let (blocks, truth, case) = generator.finish();
        SimChain { blocks, truth, case, config: self.config.clone(), forks }
    }

    /// `fork_height` as an index into `blocks`, checked against the tip.
    fn fork_index(&self, fork_height: Height) -> usize {
        let fork = usize::try_from(fork_height.get()).unwrap_or(usize::MAX);
        assert!(fork < self.blocks.len(), "fork height {fork_height} is above the tip {}", self.tip_height());
        fork
    }
}

/// Runs the generator for `cfg` up to height `until`, switching to each branch's randomness at its fork height.
fn replay(cfg: &SimConfig, forks: &[(u32, u64)], until: u32) -> Generator {
    let mut generator = Generator::new(cfg);
    while generator.height() < until {
        if let Some(&(_, seed)) = forks.iter().find(|&&(at, _)| at == generator.height()) {
            generator.branch(seed);
        }
        generator.step();
    }
    generator
}

/// An error of the chain builder's file output; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file or directory could not be created or written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A ground-truth file is not valid JSON of the expected shape.
    #[error("invalid ground truth JSON in {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

/// What [`simulate_to_dir`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimSummary {
    /// Blocks written, genesis included.
    pub blocks: u64,
    /// Transactions, coinbases included.
    pub txs: u64,
    /// Addresses in the ground truth.
    pub addresses: u64,
    /// Bytes written to blk files.
    pub bytes: u64,
    /// Number of blk files.
    pub files: u64,
    /// Height of the tip.
    pub tip_height: Height,
    /// Hash of the tip.
    pub tip_hash: BlockHash,
    /// The key in `blocks/xor.dat`, when obfuscated.
    pub xor_key: Option<[u8; 8]>,
    /// The blocks directory (`OUT/blocks`).
    pub blocks_dir: PathBuf,
    /// The ground-truth file (`OUT/truth.json`).
    pub truth_file: PathBuf,
    /// The scenario's case (`OUT/case.json`), when it has one.
    pub case_file: Option<PathBuf>,
    /// The case's tag file (`OUT/tags.jsonl`, JSON Lines), when it has one.
    pub tags_file: Option<PathBuf>,
}

/// Builds the chain `cfg` describes and writes `out/blocks/blk*.dat` (out of height order, as Core's files are;
/// with `xor`, obfuscated by a key drawn from the seed and stored in `out/blocks/xor.dat`) and `out/truth.json`;
/// for a scenario with a case also `out/case.json` and its tags, `out/tags.jsonl`.
///
/// # Errors
///
/// [`SimError::Write`] naming the file or directory that could not be written.
pub fn simulate_to_dir(out: &Path, cfg: &SimConfig, xor: bool) -> Result<SimSummary, SimError> {
    let chain = build_chain(cfg);
    let xor_key = xor.then(|| xor_key_for(cfg.seed));
    let options = BlkDirOptions { xor_key, shuffle: true, ..BlkDirOptions::default() };
    let layout = write_blocks_dir(out, &chain.blocks, &options)?;
    let truth_file = out.join("truth.json");
    chain.truth.write_json(&truth_file)?;
    let (mut case_file, mut tags_file) = (None, None);
    if let Some(case) = &chain.case {
        let (json, tags) = (out.join("case.json"), out.join(TAGS_FILE));
        case.write_json(&json)?;
        case.write_tags(&tags)?;
        (case_file, tags_file) = (Some(json), Some(tags));
    }
    Ok(SimSummary {
        blocks: chain.blocks.len() as u64,
        txs: chain.truth.tx_count,
        addresses: chain.truth.addresses.len() as u64,
        bytes: layout.bytes,
        files: layout.files.len() as u64,
        tip_height: chain.truth.tip_height,
        tip_hash: chain.truth.tip_hash,
        xor_key,
        blocks_dir: out.join("blocks"),
        truth_file,
        case_file,
        tags_file,
    })
}

/// A non-zero xor key drawn from `seed`.
fn xor_key_for(seed: u64) -> [u8; 8] {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(2);
    loop {
        let key: [u8; 8] = rng.gen();
        if key != [0; 8] {
            return key;
        }
    }
}

/// What [`simulate_shaped_to_dir`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapedSummary {
    /// The chain's configuration.
    pub config: SimConfig,
    /// The shapes it was built with.
    pub shape: Shape,
    /// Blocks written, genesis included.
    pub blocks: u64,
    /// Transactions, coinbases included.
    pub txs: u64,
    /// Addresses the wallets created.
    pub addresses: u64,
    /// Coins still held long at the tip (never spent on this chain).
    pub held_coins: u64,
    /// Bytes written to blk files.
    pub bytes: u64,
    /// Height of the tip.
    pub tip_height: Height,
    /// The busiest addresses: (address, transactions touching it), busiest first, at most ten.
    pub busiest: Vec<(String, u64)>,
}

/// Builds the chain `cfg` describes with mainnet-like `shape` and writes `out/blocks/blk*.dat` (shuffled within
/// windows and obfuscated as [`simulate_to_dir`] does) block by block, so chains far larger than memory can be
/// built; writes no ground truth (too large to be useful), only `out/summary.json`, the returned summary.
/// `progress` hears the height and transaction count now and then.
///
/// # Errors
///
/// [`SimError::Write`] naming the file or directory that could not be written.
pub fn simulate_shaped_to_dir(
    out: &Path,
    cfg: &SimConfig,
    shape: &Shape,
    mut progress: impl FnMut(u32, u64),
) -> Result<ShapedSummary, SimError> {
    let options = BlkDirOptions { xor_key: Some(xor_key_for(cfg.seed)), shuffle: true, ..BlkDirOptions::default() };
    let mut stream = BlkDirStream::create(out, &options)?;
    let mut generator = Generator::with_shape(cfg, Some(shape.clone()));
    while generator.height() < cfg.blocks {
        generator.step();
        if generator.height() % 64 == 0 {
            for block in generator.take_blocks(false) {
                stream.push(block)?;
            }
            progress(generator.height(), generator.tx_count());
        }
    }
    for block in generator.take_blocks(true) {
        stream.push(block)?;
    }
    let layout = stream.finish()?;
    let (addresses, busiest) = generator.busiest(10);
    let summary = ShapedSummary {
        config: cfg.clone(),
        shape: shape.clone(),
        blocks: layout.records.len() as u64,
        txs: generator.tx_count(),
        addresses,
        held_coins: generator.held_coins() as u64,
        bytes: layout.bytes,
        tip_height: Height::new(u64::from(generator.height())),
        busiest,
    };
    let path = out.join("summary.json");
    let json = serde_json::to_vec_pretty(&summary).expect("a summary serializes");
    std::fs::write(&path, json).map_err(|source| SimError::Write { path, source })?;
    Ok(summary)
}
