//! Read-side queries of the `eth` store, as typed serde structs for the CLI
//! and the API: an address's balances per asset, its history in one asset
//! (newest first, paged with an opaque cursor, one seek per page), the
//! transfers of one transaction, balances at a height, and the indexer's
//! status. Wei and token amounts are decimal strings, since they overflow
//! JSON numbers.
//!
//! Queries work on a store opened read-only beside a running indexer.

use std::collections::HashMap;
use std::str::FromStr;

use alloy::primitives::{Address, B256, U256};
use chainsleuth_store::{Codec, Direction, Meta, Store};
use serde::Serialize;

use crate::error::QueryError;
use crate::schema::{
    dir, EthAddrIds, EthAddrs, EthAssets, EthBalances, EthBlockTxs, EthBlocks, EthHistory, EthStatus, EthTokenMeta,
    EthTokens, EthTransfers, EthTxs, TokenMeta, NEXT_ADDRESS_ID, NEXT_ASSET_ID, STATUS_PRUNED_BELOW,
    STATUS_TRACES_MISSING, STATUS_TRACE_MODE, TRANSFER_COUNT,
};
use crate::transfer::{Asset, TransferKind, BLOCK_POS, GENESIS_POS};

/// Parses `0x` and 40 hex digits (any case) into an address.
///
/// # Errors
/// [`QueryError::BadAddress`].
pub fn parse_address(text: &str) -> Result<Address, QueryError> {
    let trimmed = text.trim();
    if !trimmed.starts_with("0x") && !trimmed.starts_with("0X") {
        return Err(QueryError::BadAddress(text.to_owned()));
    }
    Address::from_str(trimmed).map_err(|_| QueryError::BadAddress(text.to_owned()))
}

/// Parses `ETH` (any case) or a token contract address.
///
/// # Errors
/// [`QueryError::BadAsset`].
pub fn parse_asset(text: &str) -> Result<Asset, QueryError> {
    if text.trim().eq_ignore_ascii_case("eth") {
        return Ok(Asset::Eth);
    }
    parse_address(text).map(Asset::Token).map_err(|_| QueryError::BadAsset(text.to_owned()))
}

/// Shows a two's-complement balance as a signed decimal string.
pub fn format_balance(balance: U256) -> String {
    if balance.bit(255) {
        format!("-{}", balance.wrapping_neg())
    } else {
        balance.to_string()
    }
}

/// An asset as shown: `ETH` or the token's address, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetInfo {
    /// `ETH` or the token contract (checksummed).
    pub asset: String,
    /// The token's symbol (`ETH` for ether), if it answered.
    pub symbol: Option<String>,
    /// The token's decimals (18 for ether), if it answered.
    pub decimals: Option<u8>,
}

/// An address's standing in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetBalance {
    /// Which asset.
    #[serde(flatten)]
    pub asset: AssetInfo,
    /// Balance in base units (decimal; negative only when a token's
    /// events do not add up).
    pub balance: String,
    /// Total received (decimal).
    pub received: String,
    /// Total sent (decimal).
    pub sent: String,
    /// History rows in this asset.
    pub transfers: u64,
    /// Height of the first row.
    pub first_block: u64,
    /// Height of the last row.
    pub last_block: u64,
}

/// An address's balances in every asset it has touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressSummary {
    /// The address (checksummed).
    pub address: String,
    /// ETH first, then tokens by asset id.
    pub assets: Vec<AssetBalance>,
}

/// One row of an address's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Block height.
    pub block: u64,
    /// Transaction position, `None` for block-level and genesis rows.
    pub tx_index: Option<u32>,
    /// Transaction hash, `None` for block-level and genesis rows.
    pub tx_hash: Option<String>,
    /// What kind of transfer.
    pub kind: &'static str,
    /// `in`, `out` or `self`.
    pub direction: &'static str,
    /// The other side, `None` for mints and burns.
    pub counterparty: Option<String>,
    /// Amount in base units (decimal).
    pub amount: String,
    /// Balance after this row (decimal).
    pub balance_after: String,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryPage {
    /// The address (checksummed).
    pub address: String,
    /// The asset.
    #[serde(flatten)]
    pub asset: AssetInfo,
    /// The rows.
    pub entries: Vec<HistoryEntry>,
    /// Pass this to get the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// One transfer of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferView {
    /// Order within the transaction.
    pub ordinal: u32,
    /// What kind of transfer.
    pub kind: &'static str,
    /// Trace or log index it was read from.
    pub index: u32,
    /// Payer, `None` for mints.
    pub from: Option<String>,
    /// Payee, `None` for burns.
    pub to: Option<String>,
    /// The asset.
    #[serde(flatten)]
    pub asset: AssetInfo,
    /// Amount in base units (decimal).
    pub amount: String,
}

/// A transaction and its transfers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxTransfers {
    /// Transaction hash.
    pub hash: String,
    /// Block height.
    pub block: u64,
    /// Position in the block.
    pub tx_index: u32,
    /// Sender.
    pub from: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Its transfers, fees included.
    pub transfers: Vec<TransferView>,
}

/// The indexed tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TipView {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: String,
}

/// The indexer's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The indexed tip, `None` for an empty store.
    pub tip: Option<TipView>,
    /// Addresses with an id.
    pub addresses: u64,
    /// Token contracts seen.
    pub tokens: u32,
    /// Transfers indexed (genesis credits included).
    pub transfers: u64,
    /// Internal transfers: `indexed`, `off` or `unavailable` (the node
    /// lacks the trace method), as of the last block written.
    pub internal_transfers: Option<String>,
    /// First height indexed without traces because the node lacks them.
    pub traces_unavailable_since: Option<u64>,
    /// Undo records below this height were pruned as final.
    pub undo_pruned_below: Option<u64>,
}

/// Read access to an `eth` store.
#[derive(Debug)]
pub struct EthQuery<'s> {
    store: &'s Store,
}

fn corrupt(what: &'static str) -> impl Fn(chainsleuth_store::CodecError) -> QueryError {
    move |_| QueryError::Corrupt { what }
}

impl<'s> EthQuery<'s> {
    /// Queries over `store`.
    pub fn new(store: &'s Store) -> Self {
        EthQuery { store }
    }

    fn address_id(&self, address: Address) -> Result<Option<u64>, QueryError> {
        Ok(self.store.get::<EthAddrIds>(&address.0 .0)?)
    }

    fn asset_id(&self, asset: Asset) -> Result<Option<u32>, QueryError> {
        match asset {
            Asset::Eth => Ok(Some(0)),
            Asset::Token(token) => Ok(self.store.get::<EthTokens>(&token.0 .0)?),
        }
    }

    fn asset_info(&self, asset: Asset) -> Result<AssetInfo, QueryError> {
        Ok(match asset {
            Asset::Eth => AssetInfo { asset: "ETH".into(), symbol: Some("ETH".into()), decimals: Some(18) },
            Asset::Token(token) => {
                let meta: TokenMeta = self.store.get::<EthTokenMeta>(&token.0 .0)?.unwrap_or_default();
                AssetInfo { asset: token.to_checksum(None), symbol: meta.symbol, decimals: meta.decimals }
            }
        })
    }

    fn asset_by_id(&self, id: u32) -> Result<Asset, QueryError> {
        if id == 0 {
            return Ok(Asset::Eth);
        }
        let token = self.store.get::<EthAssets>(&id)?.ok_or(QueryError::Corrupt { what: "an asset id" })?;
        Ok(Asset::Token(Address::from(token)))
    }

    fn addresses(&self, ids: &[u64]) -> Result<HashMap<u64, String>, QueryError> {
        let mut wanted: Vec<u64> = ids.iter().copied().filter(|id| *id != 0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let found = self.store.multi_get::<EthAddrs>(&wanted)?;
        Ok(wanted
            .into_iter()
            .zip(found)
            .filter_map(|(id, a)| a.map(|a| (id, Address::from(a).to_checksum(None))))
            .collect())
    }

    /// The balances of `address` in every asset it touched; `None` when the
    /// store has never seen it.
    ///
    /// # Errors
    /// [`QueryError`] on bad input or store faults.
    pub fn address_summary(&self, address: &str) -> Result<Option<AddressSummary>, QueryError> {
        let address = parse_address(address)?;
        let Some(id) = self.address_id(address)? else { return Ok(None) };
        let mut assets = Vec::new();
        for row in self.store.scan::<EthBalances>(&id.encode(), None, Direction::Forward)? {
            let ((_, asset_id), row) = row?;
            let asset = self.asset_by_id(asset_id)?;
            assets.push(AssetBalance {
                asset: self.asset_info(asset)?,
                balance: format_balance(row.balance),
                received: row.received.to_string(),
                sent: row.sent.to_string(),
                transfers: row.rows,
                first_block: row.first,
                last_block: row.last,
            });
        }
        Ok(Some(AddressSummary { address: address.to_checksum(None), assets }))
    }

    /// The balance (two's complement, see [`format_balance`]) of `address`
    /// in `asset` after block `height`: one seek.
    ///
    /// # Errors
    /// Store faults.
    pub fn balance_at(&self, address: Address, asset: Asset, height: u64) -> Result<U256, QueryError> {
        let (Some(id), Some(asset_id)) = (self.address_id(address)?, self.asset_id(asset)?) else {
            return Ok(U256::ZERO);
        };
        let prefix = (id, asset_id).encode();
        let from = (id, asset_id, height, u32::MAX, u32::MAX).encode();
        let mut rows = self.store.scan::<EthHistory>(&prefix, Some(&from), Direction::Reverse)?;
        match rows.next() {
            Some(row) => Ok(row?.1.balance),
            None => Ok(U256::ZERO),
        }
    }

    /// A page of `address`'s history in `asset`, newest first: `limit` rows
    /// from `cursor` (a previous page's `next_cursor`) or from the newest.
    ///
    /// # Errors
    /// [`QueryError`] on a bad address, asset or cursor, or store faults.
    pub fn history(
        &self,
        address: &str,
        asset: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<HistoryPage, QueryError> {
        let address = parse_address(address)?;
        let asset = parse_asset(asset)?;
        let info = self.asset_info(asset)?;
        let empty = HistoryPage {
            address: address.to_checksum(None),
            asset: info.clone(),
            entries: Vec::new(),
            next_cursor: None,
        };
        let position =
            cursor.map(|c| decode_cursor(c).ok_or_else(|| QueryError::BadCursor(c.to_owned()))).transpose()?;
        let (Some(id), Some(asset_id)) = (self.address_id(address)?, self.asset_id(asset)?) else { return Ok(empty) };
        let prefix = (id, asset_id).encode();
        let from = position.map(|(h, p, o)| (id, asset_id, h, p, o).encode());
        let mut rows = Vec::with_capacity(limit.min(10_000));
        let mut next_cursor = None;
        for row in self.store.scan::<EthHistory>(&prefix, from.as_deref(), Direction::Reverse)? {
            let ((_, _, height, pos, ordinal), row) = row?;
            if rows.len() == limit {
                next_cursor = Some(encode_cursor(height, pos, ordinal));
                break;
            }
            rows.push((height, pos, ordinal, row));
        }
        let names = self.addresses(&rows.iter().map(|r| r.3.counterparty).collect::<Vec<_>>())?;
        let tx_keys: Vec<(u64, u32)> = rows.iter().filter(|r| r.1 < GENESIS_POS).map(|r| (r.0, r.1)).collect();
        let txs = self.store.multi_get::<EthBlockTxs>(&tx_keys)?;
        let hashes: HashMap<(u64, u32), String> = tx_keys
            .into_iter()
            .zip(txs)
            .filter_map(|(k, v)| v.map(|(hash, _, _)| (k, format!("{:#x}", B256::from(hash)))))
            .collect();
        let entries = rows
            .into_iter()
            .map(|(height, pos, _, row)| {
                let kind = TransferKind::from_code(row.kind).ok_or(QueryError::Corrupt { what: "a history row" })?;
                Ok(HistoryEntry {
                    block: height,
                    tx_index: (pos < GENESIS_POS).then_some(pos),
                    tx_hash: hashes.get(&(height, pos)).cloned(),
                    kind: kind.as_str(),
                    direction: match row.dir {
                        dir::IN => "in",
                        dir::OUT => "out",
                        _ => "self",
                    },
                    counterparty: names.get(&row.counterparty).cloned(),
                    amount: row.amount.to_string(),
                    balance_after: format_balance(row.balance),
                })
            })
            .collect::<Result<Vec<_>, QueryError>>()?;
        Ok(HistoryPage { entries, next_cursor, ..empty })
    }

    /// The transfers of transaction `hash`; `None` when it is not indexed.
    ///
    /// # Errors
    /// [`QueryError`] on a bad hash or store faults.
    pub fn tx_transfers(&self, hash: &str) -> Result<Option<TxTransfers>, QueryError> {
        let parsed = B256::from_str(hash.trim()).map_err(|_| QueryError::BadTxHash(hash.to_owned()))?;
        let Some((height, pos)) = self.store.get::<EthTxs>(&parsed.0)? else { return Ok(None) };
        let (_, from_id, success) =
            self.store.get::<EthBlockTxs>(&(height, pos))?.ok_or(QueryError::Corrupt { what: "a transaction row" })?;
        self.tx_view(parsed, (height, pos), from_id, success).map(Some)
    }

    fn tx_view(
        &self,
        hash: B256,
        (height, pos): (u64, u32),
        from_id: u64,
        success: bool,
    ) -> Result<TxTransfers, QueryError> {
        let names = self.addresses(&[from_id])?;
        Ok(TxTransfers {
            hash: format!("{hash:#x}"),
            block: height,
            tx_index: pos,
            from: names.get(&from_id).cloned().unwrap_or_default(),
            success,
            transfers: self.transfer_views(&(height, pos).encode())?,
        })
    }

    /// Every transaction of block `height` with its transfers, in block
    /// order (block-level transfers are in [`EthQuery::block_transfers`]).
    ///
    /// # Errors
    /// Store faults.
    pub fn block_txs(&self, height: u64) -> Result<Vec<TxTransfers>, QueryError> {
        let mut txs = Vec::new();
        for row in self.store.scan::<EthBlockTxs>(&height.encode(), None, Direction::Forward)? {
            let ((_, pos), (hash, from_id, success)) = row?;
            txs.push(self.tx_view(B256::from(hash), (height, pos), from_id, success)?);
        }
        Ok(txs)
    }

    /// The block-level transfers of block `height` (withdrawals, rewards).
    ///
    /// # Errors
    /// Store faults.
    pub fn block_transfers(&self, height: u64) -> Result<Vec<TransferView>, QueryError> {
        self.transfer_views(&(height, BLOCK_POS).encode())
    }

    pub(crate) fn transfer_views(&self, prefix: &[u8]) -> Result<Vec<TransferView>, QueryError> {
        let mut rows = Vec::new();
        for row in self.store.scan::<EthTransfers>(prefix, None, Direction::Forward)? {
            rows.push(row?);
        }
        let ids: Vec<u64> = rows.iter().flat_map(|(_, r)| [r.from, r.to]).collect();
        let names = self.addresses(&ids)?;
        let mut views = Vec::with_capacity(rows.len());
        for ((_, _, ordinal), row) in rows {
            let kind = TransferKind::from_code(row.kind).ok_or(QueryError::Corrupt { what: "a transfer row" })?;
            views.push(TransferView {
                ordinal,
                kind: kind.as_str(),
                index: row.index,
                from: names.get(&row.from).cloned(),
                to: names.get(&row.to).cloned(),
                asset: self.asset_info(self.asset_by_id(row.asset)?)?,
                amount: row.amount.to_string(),
            });
        }
        Ok(views)
    }

    /// The indexer's state.
    ///
    /// # Errors
    /// Store faults.
    pub fn status(&self) -> Result<Status, QueryError> {
        let counter =
            |key: &str| -> Result<Option<Vec<u8>>, QueryError> { Ok(self.store.get::<Meta>(&key.to_owned())?) };
        let next_address =
            counter(NEXT_ADDRESS_ID)?.map(|b| u64::decode(&b)).transpose().map_err(corrupt("a counter"))?;
        let next_asset = counter(NEXT_ASSET_ID)?.map(|b| u32::decode(&b)).transpose().map_err(corrupt("a counter"))?;
        let transfers = counter(TRANSFER_COUNT)?.map(|b| u64::decode(&b)).transpose().map_err(corrupt("a counter"))?;
        let status =
            |key: &str| -> Result<Option<Vec<u8>>, QueryError> { Ok(self.store.get::<EthStatus>(&key.to_owned())?) };
        let tip = self.store.tip()?.map(|t| TipView { height: t.height.get(), hash: format!("0x{}", t.hash.to_hex()) });
        Ok(Status {
            tip,
            addresses: next_address.map_or(0, |n| n.saturating_sub(1)),
            tokens: next_asset.map_or(0, |n| n.saturating_sub(1)),
            transfers: transfers.unwrap_or(0),
            internal_transfers: status(STATUS_TRACE_MODE)?.map(|b| String::from_utf8_lossy(&b).into_owned()),
            traces_unavailable_since: status(STATUS_TRACES_MISSING)?
                .map(|b| u64::decode(&b))
                .transpose()
                .map_err(corrupt("a status row"))?,
            undo_pruned_below: status(STATUS_PRUNED_BELOW)?
                .map(|b| u64::decode(&b))
                .transpose()
                .map_err(corrupt("a status row"))?,
        })
    }

    /// The indexed block at `height`: (hash, timestamp, transaction count).
    ///
    /// # Errors
    /// Store faults.
    pub fn block(&self, height: u64) -> Result<Option<(B256, u64, u32)>, QueryError> {
        Ok(self.store.get::<EthBlocks>(&height)?.map(|(hash, ts, n)| (B256::from(hash), ts, n)))
    }

    /// Every indexed address (for tests and exports; small stores only).
    ///
    /// # Errors
    /// Store faults.
    pub fn all_addresses(&self) -> Result<Vec<Address>, QueryError> {
        let mut out = Vec::new();
        for row in self.store.scan::<EthAddrs>(&[], None, Direction::Forward)? {
            out.push(Address::from(row?.1));
        }
        Ok(out)
    }

    /// Every indexed token contract, by asset id.
    ///
    /// # Errors
    /// Store faults.
    pub fn all_tokens(&self) -> Result<Vec<(Address, TokenMeta)>, QueryError> {
        let mut out = Vec::new();
        for row in self.store.scan::<EthAssets>(&[], None, Direction::Forward)? {
            let token = Address::from(row?.1);
            let meta = self.store.get::<EthTokenMeta>(&token.0 .0)?.unwrap_or_default();
            out.push((token, meta));
        }
        Ok(out)
    }
}

fn encode_cursor(height: u64, pos: u32, ordinal: u32) -> String {
    hex::encode((height, pos, ordinal).encode())
}

fn decode_cursor(cursor: &str) -> Option<(u64, u32, u32)> {
    let bytes = hex::decode(cursor.trim()).ok()?;
    <(u64, u32, u32)>::decode(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked() {
        assert!(parse_address("0x00000000000000000000000000000000000000a1").is_ok());
        assert!(matches!(parse_address("00000000000000000000000000000000000000a1"), Err(QueryError::BadAddress(_))));
        assert!(matches!(parse_address("0x12"), Err(QueryError::BadAddress(_))));
        assert_eq!(parse_asset("eth").unwrap(), Asset::Eth);
        assert!(matches!(parse_asset("BTC"), Err(QueryError::BadAsset(_))));
        assert_eq!(decode_cursor(&encode_cursor(7, 3, 2)), Some((7, 3, 2)));
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(format_balance(U256::ZERO.wrapping_sub(U256::from(5))), "-5");
        assert_eq!(format_balance(U256::from(5)), "5");
    }
}
