//! Helpers of the source tests: small regtest chains with forks, and block
//! files written the way Bitcoin Core writes them (magic, length, block,
//! optional XOR obfuscation), with room to damage them.

#![allow(dead_code)]

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut,
    Witness,
};

/// Regtest's proof-of-work limit, which half of all hashes meet.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// The regtest genesis block followed by `n` blocks.
pub fn chain(n: usize) -> Vec<Block> {
    let genesis = bitcoin::constants::genesis_block(Network::Regtest);
    let mut blocks = vec![genesis];
    blocks.extend(extend(&blocks[0], 0, n, 0));
    blocks
}

/// `n` blocks on top of `parent` (at `parent_height`); `tag` makes
/// branches from the same parent differ.
pub fn extend(parent: &Block, parent_height: u32, n: usize, tag: u8) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::with_capacity(n);
    for i in 0..n {
        let prev = out.last().unwrap_or(parent);
        out.push(next_block(prev, parent_height + 1 + i as u32, tag));
    }
    out
}

/// A block with one coinbase transaction on top of `prev`, its nonce ground
/// until the header meets the regtest target.
pub fn next_block(prev: &Block, height: u32, tag: u8) -> Block {
    let coinbase = Transaction {
        version: Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new().push_int(i64::from(height)).push_slice([tag, 0x00]).into_script(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(5_000_000_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: prev.header.time + 600,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        },
        txdata: vec![coinbase],
    };
    block.header.merkle_root = block.compute_merkle_root().expect("a block with a transaction has a merkle root");
    grind(&mut block);
    block
}

/// Increments the nonce until the header meets its own target.
pub fn grind(block: &mut Block) {
    while !block.header.target().is_met_by(block.block_hash()) {
        block.header.nonce += 1;
    }
}

/// One record as Core stores it, unobfuscated.
pub fn record(block: &Block, network: Network) -> Vec<u8> {
    let bytes = bitcoin::consensus::serialize(block);
    let mut out = network.magic().to_bytes().to_vec();
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// XORs `bytes`, which sit at `offset` of a file, with `key` (Core's obfuscation).
pub fn xor(bytes: &mut [u8], offset: u64, key: Option<[u8; 8]>) {
    if let Some(key) = key {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b ^= key[((offset + i as u64) % 8) as usize];
        }
    }
}

/// Writes `plain` at `offset` of `path` (creating it), obfuscated with `key`.
pub fn write_at(path: &Path, offset: u64, plain: &[u8], key: Option<[u8; 8]>) {
    let mut bytes = plain.to_vec();
    xor(&mut bytes, offset, key);
    let file = OpenOptions::new().create(true).write(true).truncate(false).open(path).expect("open block file");
    file.write_all_at(&bytes, offset).expect("write block file");
}

/// Appends `plain` to `path` (creating it), obfuscated with `key`; returns
/// the offset it was written at.
pub fn append(path: &Path, plain: &[u8], key: Option<[u8; 8]>) -> u64 {
    let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    write_at(path, offset, plain, key);
    offset
}

/// Appends the records of `blocks` to `path`; returns each record's offset.
pub fn append_blocks(path: &Path, blocks: &[&Block], network: Network, key: Option<[u8; 8]>) -> Vec<u64> {
    blocks.iter().map(|block| append(path, &record(block, network), key)).collect()
}

/// A `blocks/` directory under `root`, with `xor.dat` holding `key` when given.
pub fn blocks_dir(root: &Path, key: Option<[u8; 8]>) -> PathBuf {
    let dir = root.join("blocks");
    std::fs::create_dir_all(&dir).expect("create blocks dir");
    if let Some(key) = key {
        std::fs::write(dir.join("xor.dat"), key).expect("write xor.dat");
    }
    dir
}

/// `blkNNNNN.dat` in `dir`.
pub fn blk(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("blk{n:05}.dat"))
}

/// A deterministic shuffle (no RNG needed): a fixed permutation by stride.
pub fn shuffled<T: Clone>(items: &[T]) -> Vec<T> {
    let n = items.len();
    let stride = (1..n.max(2)).rev().find(|s| gcd(*s, n) == 1 && *s > n / 3).unwrap_or(1);
    (0..n).map(|i| items[(i * stride + 3) % n].clone()).collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `bitcoin::BlockHash` as the sync crate's hash type.
pub fn core_hash(block: &Block) -> chainsleuth_core::BlockHash {
    chainsleuth_core::BlockHash(block.block_hash().to_byte_array())
}
