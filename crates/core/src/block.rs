//! Block heights, block hashes and references to a block.

use std::fmt;

/// The height of a block: its distance from the genesis block (height 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Height(u64);

impl Height {
    /// The genesis block's height.
    pub const GENESIS: Height = Height(0);

    /// A height from its number.
    pub const fn new(height: u64) -> Self {
        Height(height)
    }

    /// The height as a number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The height of the next block.
    pub const fn next(self) -> Height {
        Height(self.0 + 1)
    }

    /// The height of the parent block, or `None` at genesis.
    pub const fn prev(self) -> Option<Height> {
        match self.0.checked_sub(1) {
            Some(h) => Some(Height(h)),
            None => None,
        }
    }

    /// How many blocks `self` is above `lower` (zero when it is not above).
    pub const fn blocks_above(self, lower: Height) -> u64 {
        self.0.saturating_sub(lower.0)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A 32-byte block hash, in the chain's internal byte order.
///
/// Bitcoin shows hashes byte-reversed (see [`BlockHash::to_reversed_hex`]);
/// Ethereum shows them as they are (see [`BlockHash::to_hex`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    /// The hash's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex of the bytes in stored order (Ethereum's display form).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Lowercase hex of the bytes reversed (Bitcoin's display form).
    pub fn to_reversed_hex(&self) -> String {
        let mut bytes = self.0;
        bytes.reverse();
        hex::encode(bytes)
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", self.to_hex())
    }
}

/// A block named by both its height and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRef {
    /// The block's height.
    pub height: Height,
    /// The block's hash.
    pub hash: BlockHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn height_steps() {
        assert_eq!(Height::GENESIS.prev(), None);
        assert_eq!(Height::new(5).next().prev(), Some(Height::new(5)));
        assert_eq!(Height::new(7).blocks_above(Height::new(3)), 4);
        assert_eq!(Height::new(3).blocks_above(Height::new(7)), 0);
    }

    #[test]
    fn hash_display_orders() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        let hash = BlockHash(bytes);
        assert!(hash.to_hex().starts_with("ab00"));
        assert!(hash.to_reversed_hex().ends_with("00ab"));
    }
}
