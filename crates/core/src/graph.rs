//! The narrow read interfaces the tracer follows funds through.
//!
//! Chain crates implement them over their stores; the tracer
//! (`chainsleuth-trace`) reads chain data only through them and never through
//! a chain crate's tables. Two shapes of chain, two traits:
//!
//! - [`UtxoGraph`] (Bitcoin): coins (transaction outputs) with their value,
//!   address and spender; a transaction's inputs and outputs in order; an
//!   address's coins.
//! - [`AccountGraph`] (Ethereum): an address's transfers of one asset in
//!   chain order, and its balance before any of them.
//!
//! [`Labels`] says who is behind an address (tags, direct or inferred through
//! a cluster); the tag store implements it.
//!
//! Every error is the implementor's own; the tracer only passes it on.

use std::fmt;

use alloy_primitives::U256;

use crate::{AddressId, BlockRef, Height, Sats, TxNum};

/// A cluster of addresses believed to share an owner. Ids are stable: when
/// two clusters merge one keeps its id and the other's id stays an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ClusterId(pub u64);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One output of a transaction, named by the transaction's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutPoint {
    /// The creating transaction.
    pub tx: TxNum,
    /// The output's index in it.
    pub vout: u32,
}

/// A coin: one transaction output, with who it pays and who spent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coin {
    /// Where it was created.
    pub outpoint: OutPoint,
    /// The address it pays (`None` for OP_RETURN and other unaddressable
    /// outputs, which can never be spent on).
    pub address: Option<AddressId>,
    /// Its value.
    pub value: Sats,
    /// The transaction that spent it, if any (at the graph's tip).
    pub spent_by: Option<TxNum>,
}

/// A transaction of a UTXO chain, as the tracer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtxoTx {
    /// Its number (chain order).
    pub num: TxNum,
    /// The height of its block.
    pub height: Height,
    /// The coins it spends, in input order (empty for a coinbase).
    pub inputs: Vec<Coin>,
    /// The coins it creates, in output order.
    pub outputs: Vec<Coin>,
}

impl UtxoTx {
    /// Inputs minus outputs (zero for a coinbase, whose outputs are new money).
    pub fn fee(&self) -> Sats {
        let inputs: u64 = self.inputs.iter().map(|c| c.value.0).sum();
        let outputs: u64 = self.outputs.iter().map(|c| c.value.0).sum();
        Sats(inputs.saturating_sub(outputs))
    }
}

/// Read access to a UTXO chain's index (Bitcoin).
pub trait UtxoGraph {
    /// What went wrong reading the index.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The indexed tip the graph reads at (`None` for an empty index).
    fn tip(&self) -> Result<Option<BlockRef>, Self::Error>;

    /// The id of an address given as text; `Ok(None)` when it is valid but
    /// the index has never seen it, an error when it is malformed or of
    /// another network.
    fn address_id(&self, text: &str) -> Result<Option<AddressId>, Self::Error>;

    /// An address's text.
    fn address_text(&self, id: AddressId) -> Result<String, Self::Error>;

    /// The number of a transaction given by its txid (hex, as explorers show
    /// it); `Ok(None)` when the index does not hold it.
    fn tx_num(&self, txid: &str) -> Result<Option<TxNum>, Self::Error>;

    /// A transaction's txid, as explorers show it.
    fn txid(&self, num: TxNum) -> Result<String, Self::Error>;

    /// A transaction with its inputs' and outputs' coins.
    fn tx(&self, num: TxNum) -> Result<UtxoTx, Self::Error>;

    /// One coin.
    fn coin(&self, outpoint: OutPoint) -> Result<Option<Coin>, Self::Error>;

    /// Every coin paid to an address by a transaction numbered below
    /// `before`, in chain order (so the cost follows the window asked, not
    /// the address's whole later history).
    fn coins_of(&self, address: AddressId, before: TxNum) -> Result<Vec<Coin>, Self::Error>;

    /// The transaction numbers of the blocks `from..=to`: the first number of
    /// block `from` and one past the last of block `to` (so a transaction
    /// `n` is in the window when `start <= n < end`).
    fn tx_range(&self, from: Height, to: Height) -> Result<(TxNum, TxNum), Self::Error>;

    /// The cluster an address belongs to (`None` when clustering has not
    /// reached it or the graph keeps no clusters).
    fn cluster_of(&self, address: AddressId) -> Result<Option<ClusterId>, Self::Error>;

    /// The transaction that put an address into its cluster of two or more
    /// (it spent from the address together with another member): the
    /// evidence for a label the address inherits from its cluster. `None`
    /// for an address in no such cluster.
    fn cluster_link(&self, address: AddressId) -> Result<Option<TxNum>, Self::Error>;
}

/// An asset of an account chain: 0 is the chain's native coin (ETH), tokens
/// are numbered by the index in order of first appearance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct AssetId(pub u32);

impl AssetId {
    /// The native coin.
    pub const NATIVE: AssetId = AssetId(0);
}

/// Where a transfer sits in chain order: block height, transaction position
/// (block-level transfers such as withdrawals after every transaction) and
/// its order inside the transaction. A transaction's fee comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferPos {
    /// Block height.
    pub height: Height,
    /// Transaction position in the block.
    pub tx_pos: u32,
    /// Order among the transaction's transfers.
    pub ordinal: u32,
}

impl TransferPos {
    /// The first position of a block.
    pub const fn block_start(height: Height) -> Self {
        TransferPos { height, tx_pos: 0, ordinal: 0 }
    }
}

/// What moved the value, as far as the tracer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// A transaction's value, an internal call's value or a token transfer.
    Move,
    /// A fee (gas) paid by the sender; it leaves the trace as "fees".
    Fee,
    /// New units credited from nowhere (mint, withdrawal, reward, genesis,
    /// a reconciliation of a balance that events do not explain).
    Credit,
    /// Units destroyed (burn).
    Debit,
}

/// One movement of one asset on an account chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Where it sits in chain order (unique per transfer).
    pub pos: TransferPos,
    /// What it is.
    pub kind: TransferKind,
    /// The payer (`None` for credits).
    pub from: Option<AddressId>,
    /// The payee (`None` for burns and burned fees).
    pub to: Option<AddressId>,
    /// How much, in the asset's smallest unit.
    pub amount: U256,
}

/// Read access to an account chain's index (Ethereum).
pub trait AccountGraph {
    /// What went wrong reading the index.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The indexed tip the graph reads at (`None` for an empty index).
    fn tip(&self) -> Result<Option<BlockRef>, Self::Error>;

    /// The id of an address given as text; `Ok(None)` when valid but never
    /// seen, an error when malformed.
    fn address_id(&self, text: &str) -> Result<Option<AddressId>, Self::Error>;

    /// An address's text (checksummed hex on Ethereum).
    fn address_text(&self, id: AddressId) -> Result<String, Self::Error>;

    /// The asset named by `text` (`ETH` or a token contract); `Ok(None)` when
    /// the index has never seen it.
    fn asset_id(&self, text: &str) -> Result<Option<AssetId>, Self::Error>;

    /// An asset's name as the user gives it (`ETH` or the contract address).
    fn asset_text(&self, asset: AssetId) -> Result<String, Self::Error>;

    /// An address's transfers of `asset`, in and out, from position `from`
    /// through the end of block `to`, in chain order.
    fn transfers(
        &self,
        address: AddressId,
        asset: AssetId,
        from: TransferPos,
        to: Height,
    ) -> Result<Vec<Transfer>, Self::Error>;

    /// An address's balance of `asset` just before position `pos`.
    fn balance_before(&self, address: AddressId, asset: AssetId, pos: TransferPos) -> Result<U256, Self::Error>;

    /// The hash of the transaction a transfer belongs to (hex with `0x`), or
    /// `None` for block-level transfers.
    fn tx_hash(&self, pos: TransferPos) -> Result<Option<String>, Self::Error>;

    /// Whether the asset's issuer has frozen (blacklisted) the address as of
    /// the graph's tip: the hash of the transaction that froze it, or `None`.
    fn frozen(&self, address: AddressId, asset: AssetId) -> Result<Option<String>, Self::Error>;
}

/// Who is behind an address, as the tracer needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    /// The entity's name.
    pub entity: String,
    /// The taxonomy category (`exchange_licensed`, `mixer`, ...).
    pub category: String,
    /// Where the entity is based, when known (ISO country code).
    pub jurisdiction: Option<String>,
    /// The regulator that licensed it, when known.
    pub licensed_by: Option<String>,
    /// Whether the category is a fiat off-ramp.
    pub off_ramp: bool,
    /// Whether the category is a mixer.
    pub mixer: bool,
    /// Whether the entity holds its users' funds (an exchange), so they can
    /// be frozen by an order to it.
    pub custodial: bool,
    /// How the label was found: `None` for a direct tag, or the rule and its
    /// evidence for an inferred one.
    pub inferred: Option<Inference>,
}

/// Why an untagged address carries another address's label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inference {
    /// The rule (`multi_input_cluster`, `deposit_address`).
    pub rule: String,
    /// The tagged address the label came from.
    pub via: String,
    /// The transaction that linked them.
    pub evidence: String,
}

/// A tag source and the version of it a result used (the evidence standard).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct SourceVersion {
    /// The source's name.
    pub source: String,
    /// Its current version.
    pub version: u32,
    /// The SHA-256 of the imported file, hex.
    pub sha256: String,
}

/// Tag lookups, as the tracer needs them (the tag store implements this).
pub trait Labels {
    /// What went wrong reading the tags.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The label of an address from its own active tags (the most confident
    /// one; ties go to the off-ramp category, then to the entity's name), or
    /// `None` when it has none. `chain` is `btc` or `eth`.
    fn label(&self, chain: crate::Chain, address: &str) -> Result<Option<Label>, Self::Error>;

    /// Every address of `chain` with an active tag, with its label, sorted by
    /// address (clusters and deposit addresses inherit from these).
    fn labelled(&self, chain: crate::Chain) -> Result<Vec<(String, Label)>, Self::Error>;

    /// Every tag source with its current version, sorted by name.
    fn sources(&self) -> Result<Vec<SourceVersion>, Self::Error>;
}
