//! The Ethereum store's tables, row types and meta counters; the layout is
//! written down in `crates/eth/SCHEMA.md`, which a test keeps in step.

use chainsleuth_core::U256;
use chainsleuth_store::{tables, take, Codec, CodecError, Schema, Table};

/// The Ethereum store's schema: `<data-dir>/eth`.
pub static SCHEMA: Schema = Schema {
    name: "eth",
    format: 2,
    tables: &[
        EthBlocks::NAME,
        EthTxs::NAME,
        EthBlockTxs::NAME,
        EthTransfers::NAME,
        EthAddrIds::NAME,
        EthAddrs::NAME,
        EthTokens::NAME,
        EthAssets::NAME,
        EthHistory::NAME,
        EthBalances::NAME,
        EthTokenMeta::NAME,
        EthStatus::NAME,
        EthFrozen::NAME,
    ],
    // Token metadata comes from eth_call answers and status from this
    // run's node: neither is chain data, and both may differ between two
    // indexes of the same chain.
    digest_excludes: &[EthTokenMeta::NAME, EthStatus::NAME],
};

tables! {
    /// Indexed blocks by height: hash, timestamp, transaction count.
    EthBlocks("eth_blocks"): u64 => ([u8; 32], u64, u32);
    /// Transaction hash -> (height, position).
    EthTxs("eth_txs"): [u8; 32] => (u64, u32);
    /// (height, position) -> (transaction hash, sender id, success).
    EthBlockTxs("eth_block_txs"): (u64, u32) => ([u8; 32], u64, bool);
    /// Every transfer by (height, tx position, ordinal).
    EthTransfers("eth_transfers"): (u64, u32, u32) => TransferRow;
    /// Address -> compact id (ids start at 1; 0 means "none").
    EthAddrIds("eth_addr_ids"): [u8; 20] => u64;
    /// Compact id -> address.
    EthAddrs("eth_addrs"): u64 => [u8; 20];
    /// Token contract -> asset id (ids start at 1; 0 is ETH).
    EthTokens("eth_tokens"): [u8; 20] => u32;
    /// Asset id -> token contract.
    EthAssets("eth_assets"): u32 => [u8; 20];
    /// Per address and asset, one row per transfer in chain order:
    /// (addr id, asset id, height, tx position, ordinal).
    EthHistory("eth_history"): (u64, u32, u64, u32, u32) => HistoryRow;
    /// Per address and asset: balance and totals.
    EthBalances("eth_balances"): (u64, u32) => BalanceRow;
    /// Token contract -> symbol and decimals, read once with eth_call.
    EthTokenMeta("eth_token_meta"): [u8; 20] => TokenMeta;
    /// Status facts of the indexer (trace coverage, receipts fallback).
    EthStatus("eth_status"): String => Vec<u8>;
    /// (addr id, asset id) of a holder a freezable token's issuer froze ->
    /// (height, transaction hash) of the freeze in effect.
    EthFrozen("eth_frozen"): (u64, u32) => (u64, [u8; 32]);
}

/// Meta key of the next address id to hand out (`u64be`).
pub const NEXT_ADDRESS_ID: &str = "eth.next_address_id";
/// Meta key of the next asset id to hand out (`u32be`).
pub const NEXT_ASSET_ID: &str = "eth.next_asset_id";
/// Meta key of the number of genesis credits written (`u32be`).
pub const GENESIS_CREDITS: &str = "eth.genesis_credits";
/// Meta key of the number of transfers indexed (`u64be`).
pub const TRANSFER_COUNT: &str = "eth.transfers";

/// Status key: the first height indexed without call traces because the
/// node lacks the method (`u64be`).
pub const STATUS_TRACES_MISSING: &str = "traces_unavailable_since";
/// Status key: the trace mode last used (utf-8).
pub const STATUS_TRACE_MODE: &str = "trace_mode";
/// Status key: the height below which undo records were pruned as final (`u64be`).
pub const STATUS_PRUNED_BELOW: &str = "undo_pruned_below";

/// A stored transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    /// [`TransferKind`](crate::TransferKind) code.
    pub kind: u8,
    /// Trace, log or withdrawal index.
    pub index: u32,
    /// Payer id, 0 for none.
    pub from: u64,
    /// Payee id, 0 for none.
    pub to: u64,
    /// Asset id, 0 for ETH.
    pub asset: u32,
    /// Amount in base units.
    pub amount: U256,
}

impl Codec for TransferRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (self.kind, self.index, self.from, self.to, self.asset).encode_to(out);
        self.amount.encode_to(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let (kind, index, from, to, asset) = <(u8, u32, u64, u64, u32)>::decode_from(input)?;
        Ok(TransferRow { kind, index, from, to, asset, amount: U256::decode_from(input)? })
    }
}

/// Direction of a history row from the address's point of view.
pub mod dir {
    /// Received.
    pub const IN: u8 = 0;
    /// Sent.
    pub const OUT: u8 = 1;
    /// Sent to itself (balance unchanged).
    pub const SELF: u8 = 2;
}

/// One row of an address's history in one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// [`TransferKind`](crate::TransferKind) code.
    pub kind: u8,
    /// [`dir`] code.
    pub dir: u8,
    /// The other side's id, 0 for none (mint, burn).
    pub counterparty: u64,
    /// Amount moved.
    pub amount: U256,
    /// Balance after this row, two's complement (see [`BalanceRow`]).
    pub balance: U256,
}

impl Codec for HistoryRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (self.kind, self.dir, self.counterparty, self.amount, self.balance).encode_to(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let (kind, dir, counterparty, amount, balance) = <(u8, u8, u64, U256, U256)>::decode_from(input)?;
        Ok(HistoryRow { kind, dir, counterparty, amount, balance })
    }
}

/// An address's standing in one asset.
///
/// The balance is kept in two's complement: a token whose events do not
/// add up (rebasing, fee-on-transfer without events) can drive the indexed
/// balance below zero, which reads as negative rather than wrapping silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceRow {
    /// Balance, two's complement.
    pub balance: U256,
    /// Total received (saturating).
    pub received: U256,
    /// Total sent (saturating).
    pub sent: U256,
    /// History rows.
    pub rows: u64,
    /// Height of the first row.
    pub first: u64,
    /// Height of the last row.
    pub last: u64,
}

impl Codec for BalanceRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        (self.balance, self.received, self.sent).encode_to(out);
        (self.rows, self.first, self.last).encode_to(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let (balance, received, sent) = <(U256, U256, U256)>::decode_from(input)?;
        let (rows, first, last) = <(u64, u64, u64)>::decode_from(input)?;
        Ok(BalanceRow { balance, received, sent, rows, first, last })
    }
}

/// A token's metadata; either part may be missing when the contract does
/// not answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenMeta {
    /// `decimals()`.
    pub decimals: Option<u8>,
    /// `symbol()`.
    pub symbol: Option<String>,
}

impl Codec for TokenMeta {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.decimals.encode_to(out);
        match &self.symbol {
            None => out.push(0),
            Some(symbol) => {
                out.push(1);
                symbol.encode_to(out);
            }
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let decimals = Option::<u8>::decode_from(input)?;
        let symbol = match take(input, 1)?[0] {
            0 => None,
            1 => Some(String::decode_from(input)?),
            _ => return Err(CodecError::Invalid { what: "token symbol tag" }),
        };
        Ok(TokenMeta { decimals, symbol })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainsleuth_store::{Meta, Undo};

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: T) {
        assert_eq!(T::decode(&value.encode()), Ok(value));
    }

    #[test]
    fn rows_round_trip() {
        round_trip(TransferRow { kind: 2, index: 7, from: 1, to: 0, asset: 3, amount: U256::MAX });
        round_trip(HistoryRow { kind: 1, dir: dir::OUT, counterparty: 9, amount: U256::from(5), balance: U256::MAX });
        round_trip(BalanceRow {
            balance: U256::from(1),
            received: U256::from(2),
            sent: U256::from(1),
            rows: 2,
            first: 0,
            last: 9,
        });
        round_trip(TokenMeta { decimals: Some(6), symbol: Some("USDT".into()) });
        round_trip(TokenMeta { decimals: None, symbol: Some(String::new()) });
        round_trip(TokenMeta::default());
        assert!(TokenMeta::decode(&[0, 7]).is_err());
    }

    #[test]
    fn schema_doc_lists_every_table() {
        let doc = include_str!("../SCHEMA.md");
        let headings: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
        let mut want: Vec<&str> = SCHEMA.tables.to_vec();
        want.extend([Meta::NAME, Undo::NAME]);
        for table in &want {
            assert!(headings.contains(table), "SCHEMA.md lacks a section for {table}");
        }
        for heading in &headings {
            assert!(want.contains(heading), "SCHEMA.md documents {heading}, which the schema lacks");
        }
        let names = [
            EthBlocks::NAME,
            EthTxs::NAME,
            EthBlockTxs::NAME,
            EthTransfers::NAME,
            EthAddrIds::NAME,
            EthAddrs::NAME,
            EthTokens::NAME,
            EthAssets::NAME,
            EthHistory::NAME,
            EthBalances::NAME,
            EthTokenMeta::NAME,
            EthStatus::NAME,
            EthFrozen::NAME,
        ];
        assert_eq!(names.as_slice(), SCHEMA.tables);
    }

    #[test]
    fn history_keys_sort_by_address_asset_then_chain_position() {
        let mut keys: Vec<Vec<u8>> =
            [(2u64, 0u32, 5u64, 0u32, 0u32), (1, 1, 0, 0, 0), (1, 0, 9, 1, 0), (1, 0, 9, 0, 3)]
                .iter()
                .map(Codec::encode)
                .collect();
        keys.sort();
        let back: Vec<(u64, u32, u64, u32, u32)> = keys.iter().map(|k| Codec::decode(k).unwrap()).collect();
        assert_eq!(back, vec![(1, 0, 9, 0, 3), (1, 0, 9, 1, 0), (1, 1, 0, 0, 0), (2, 0, 5, 0, 0)]);
    }
}
