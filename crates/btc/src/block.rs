//! A Bitcoin block as the sync loop sees it: the decoded block with its
//! height, txids and serialized size.

use bitcoin::consensus::Decodable;
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::ChainBlock;

/// A decoded block at a known height of the best chain.
#[derive(Debug, Clone)]
pub struct BtcBlock {
    /// Its height.
    pub height: Height,
    /// The decoded block.
    pub block: bitcoin::Block,
    /// The txid of each of its transactions, in block order: computed once,
    /// for the merkle-root check, and used again by the indexer. Build a
    /// `BtcBlock` with [`BtcBlock::new`] or [`BtcBlock::decode`] to keep the
    /// two in step.
    pub txids: Vec<bitcoin::Txid>,
    /// Its serialized size in bytes.
    pub size: usize,
}

/// Bytes that are not a valid block.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The bytes do not deserialize as a block.
    #[error("block {height} does not deserialize")]
    Decode {
        /// The height it was fetched for.
        height: Height,
        /// The decoder's reason.
        #[source]
        source: bitcoin::consensus::encode::Error,
    },
    /// Bytes were left after the block.
    #[error("block {height} has {extra} trailing bytes")]
    Trailing {
        /// The height it was fetched for.
        height: Height,
        /// How many bytes were left over.
        extra: usize,
    },
    /// The merkle root in the header does not match the transactions.
    #[error("block {height} ({hash}): merkle root does not match its transactions")]
    MerkleRoot {
        /// The height it was fetched for.
        height: Height,
        /// The block's hash.
        hash: bitcoin::BlockHash,
    },
}

impl BtcBlock {
    /// The block `block` at `height`, `size` bytes serialized, with its txids.
    pub fn new(height: Height, block: bitcoin::Block, size: usize) -> BtcBlock {
        let txids = block.txdata.iter().map(bitcoin::Transaction::compute_txid).collect();
        BtcBlock { height, block, txids, size }
    }

    /// Decodes `bytes` as the block at `height`, checking that nothing
    /// trails it and that its merkle root matches its transactions.
    ///
    /// # Errors
    /// [`BlockError`] naming the height.
    pub fn decode(height: Height, bytes: &[u8]) -> Result<BtcBlock, BlockError> {
        let mut reader = bytes;
        let block = bitcoin::Block::consensus_decode(&mut reader).map_err(|source| BlockError::Decode {
            height,
            source: match source {
                bitcoin::consensus::encode::Error::Io(_) => {
                    bitcoin::consensus::encode::Error::ParseFailed("block truncated")
                }
                other => other,
            },
        })?;
        if !reader.is_empty() {
            return Err(BlockError::Trailing { height, extra: reader.len() });
        }
        let block = BtcBlock::new(height, block, bytes.len());
        // As `bitcoin::Block::check_merkle_root`, from the txids just computed.
        let root = bitcoin::merkle_tree::calculate_root(block.txids.iter().map(|txid| txid.to_raw_hash()));
        if root.map(bitcoin::TxMerkleNode::from_raw_hash) != Some(block.block.header.merkle_root) {
            return Err(BlockError::MerkleRoot { height, hash: block.block.block_hash() });
        }
        Ok(block)
    }
}

impl ChainBlock for BtcBlock {
    fn block_ref(&self) -> BlockRef {
        BlockRef { height: self.height, hash: to_core_hash(self.block.block_hash()) }
    }
    fn parent_hash(&self) -> BlockHash {
        to_core_hash(self.block.header.prev_blockhash)
    }
    fn tx_count(&self) -> usize {
        self.block.txdata.len()
    }
    fn size_bytes(&self) -> usize {
        self.size
    }
}

/// A rust-bitcoin block hash as a chain-neutral one (internal byte order).
pub fn to_core_hash(hash: bitcoin::BlockHash) -> BlockHash {
    use bitcoin::hashes::Hash;
    BlockHash(hash.to_byte_array())
}
