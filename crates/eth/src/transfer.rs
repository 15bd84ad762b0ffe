//! What the decoder makes of a block: value transfers of ETH and tokens,
//! each placed by (transaction position, ordinal) within its block.

use alloy::primitives::{Address, B256, U256};

/// Transaction position of block-level transfers (withdrawals, rewards),
/// which sort after every transaction of the block.
pub const BLOCK_POS: u32 = u32::MAX;

/// Transaction position of genesis credits, at height 0.
pub const GENESIS_POS: u32 = u32::MAX - 1;

/// What moves: ether or one token contract's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Asset {
    /// Ether, in wei.
    Eth,
    /// An ERC-20 (or WETH-like) token, in its base units.
    Token(Address),
}

/// Where a transfer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TransferKind {
    /// The transaction's own value (successful transactions only).
    Value = 0,
    /// A call frame with value (CALL, CREATE, CREATE2, SELFDESTRUCT).
    Internal = 1,
    /// An ERC-20 `Transfer` log between two addresses.
    Token = 2,
    /// Tokens created: `Transfer` from the zero address, or a WETH `Deposit`.
    Mint = 3,
    /// Tokens destroyed: `Transfer` to the zero address, or a WETH `Withdrawal`.
    Burn = 4,
    /// The priority fee, paid to the block's fee recipient.
    FeeTip = 5,
    /// The burned part of the fee: base fee and blob fee.
    FeeBurn = 6,
    /// An EIP-4895 withdrawal from the beacon chain.
    Withdrawal = 7,
    /// A block or uncle reward (from parity traces).
    Reward = 8,
    /// A balance the genesis block created.
    Genesis = 9,
    /// A freezable token's balance that its events do not explain (a
    /// constructor that credits without an event), set right to the
    /// token's own `balanceOf` at the block: a credit or a debit.
    Reconcile = 10,
}

impl TransferKind {
    /// Every kind, by code.
    pub const ALL: [TransferKind; 11] = [
        TransferKind::Value,
        TransferKind::Internal,
        TransferKind::Token,
        TransferKind::Mint,
        TransferKind::Burn,
        TransferKind::FeeTip,
        TransferKind::FeeBurn,
        TransferKind::Withdrawal,
        TransferKind::Reward,
        TransferKind::Genesis,
        TransferKind::Reconcile,
    ];

    /// The kind with stored code `code`.
    pub fn from_code(code: u8) -> Option<TransferKind> {
        TransferKind::ALL.get(usize::from(code)).copied()
    }

    /// The stored code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A short lowercase name for output.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Value => "value",
            TransferKind::Internal => "internal",
            TransferKind::Token => "token",
            TransferKind::Mint => "mint",
            TransferKind::Burn => "burn",
            TransferKind::FeeTip => "fee_tip",
            TransferKind::FeeBurn => "fee_burn",
            TransferKind::Withdrawal => "withdrawal",
            TransferKind::Reward => "reward",
            TransferKind::Genesis => "genesis",
            TransferKind::Reconcile => "reconcile",
        }
    }
}

/// One movement of value. `from` is `None` for mints, rewards, withdrawals
/// and genesis credits; `to` is `None` for burns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The transaction's position in the block, or [`BLOCK_POS`].
    pub tx_pos: u32,
    /// Order among the transfers of the same transaction (or block level).
    pub ordinal: u32,
    /// Where it comes from.
    pub kind: TransferKind,
    /// The trace index (pre-order in the call tree), log index or
    /// withdrawal position it was read from; `0` for value and fees.
    pub index: u32,
    /// Payer.
    pub from: Option<Address>,
    /// Payee.
    pub to: Option<Address>,
    /// What moved.
    pub asset: Asset,
    /// How much, in wei or token base units.
    pub amount: U256,
}

/// A freezable token's issuer freezing (blacklisting) or releasing a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freeze {
    /// The transaction's position in the block.
    pub tx_pos: u32,
    /// The token contract.
    pub token: Address,
    /// The holder.
    pub holder: Address,
    /// Frozen (`true`) or released.
    pub frozen: bool,
}

/// A transaction's identity and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub from: Address,
    /// Whether it succeeded.
    pub success: bool,
}

/// Whether a block's internal transfers were read from call traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceCoverage {
    /// Traces were read.
    Indexed,
    /// Tracing is switched off in the configuration.
    Off,
    /// The node lacks the tracing method.
    Unavailable,
}

/// A decoded block: the header fields the index keeps, its transactions and
/// all of its transfers in (tx position, ordinal) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBlock {
    /// Height.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Unix time in seconds.
    pub timestamp: u64,
    /// Transactions in block order.
    pub txs: Vec<TxInfo>,
    /// Transfers in (tx position, ordinal) order.
    pub transfers: Vec<Transfer>,
    /// Freezes and releases by freezable tokens' issuers, in block order.
    pub freezes: Vec<Freeze>,
    /// (token, holder) pairs of freezable tokens whose balance the index
    /// checks against the token's `balanceOf` after the block: the parties
    /// of its transfers and freezes, and its deployer in the block that
    /// creates it.
    pub checks: Vec<(Address, Address)>,
}

impl DecodedBlock {
    /// The addresses the block touches (transfer parties, then frozen or
    /// released holders, then checked holders), in order of first appearance.
    pub fn addresses(&self) -> Vec<Address> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let parties = self.transfers.iter().flat_map(|t| [t.from, t.to]).flatten();
        let others = self.freezes.iter().map(|f| f.holder).chain(self.checks.iter().map(|(_, holder)| *holder));
        for address in parties.chain(others) {
            if seen.insert(address) {
                out.push(address);
            }
        }
        out
    }

    /// The token contracts the block touches (by transfers, freezes and
    /// checks), in order of first appearance.
    pub fn tokens(&self) -> Vec<Address> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let moved = self.transfers.iter().filter_map(|t| match t.asset {
            Asset::Token(token) => Some(token),
            Asset::Eth => None,
        });
        let others = self.freezes.iter().map(|f| f.token).chain(self.checks.iter().map(|(token, _)| *token));
        for token in moved.chain(others) {
            if seen.insert(token) {
                out.push(token);
            }
        }
        out
    }
}
