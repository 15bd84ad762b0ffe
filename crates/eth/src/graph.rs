//! The tracer's view of the `eth` store: [`AccountGraph`] over an address's
//! history rows and the frozen holders of freezable tokens, so that the
//! tracer reads transfers in chain order, balances at any position and
//! freezes without knowing the tables.

use alloy::primitives::{Address, B256, U256};
use chainsleuth_core::{AccountGraph, AddressId, AssetId, BlockRef, Height, Transfer, TransferKind, TransferPos};
use chainsleuth_store::{Codec, Direction, Store};

use crate::error::QueryError;
use crate::query::{parse_address, parse_asset};
use crate::schema::{dir, EthAddrIds, EthAddrs, EthAssets, EthBlockTxs, EthFrozen, EthHistory, EthTokens, HistoryRow};
use crate::transfer::{self, Asset, GENESIS_POS};

/// [`AccountGraph`] over an `eth` store (opened read-only beside a running
/// indexer, or read-write).
#[derive(Debug, Clone, Copy)]
pub struct EthGraph<'s> {
    store: &'s Store,
}

impl<'s> EthGraph<'s> {
    /// The graph of `store`.
    pub fn new(store: &'s Store) -> Self {
        EthGraph { store }
    }
}

/// The history key of `address`'s row at `pos` in `asset`.
fn history_key(address: AddressId, asset: AssetId, pos: TransferPos) -> Vec<u8> {
    (address.0, asset.0, pos.height.get(), pos.tx_pos, pos.ordinal).encode()
}

/// A history row as the tracer sees it: the address's side of a transfer.
fn to_transfer(address: u64, key: (u64, u32, u32), row: &HistoryRow) -> Result<Transfer, QueryError> {
    let kind = transfer::TransferKind::from_code(row.kind).ok_or(QueryError::Corrupt { what: "a history row" })?;
    let other = (row.counterparty != 0).then_some(AddressId(row.counterparty));
    let me = Some(AddressId(address));
    let (from, to) = match row.dir {
        dir::IN => (other, me),
        dir::OUT => (me, other),
        _ => (me, me),
    };
    let kind = match kind {
        transfer::TransferKind::Value | transfer::TransferKind::Internal | transfer::TransferKind::Token => {
            TransferKind::Move
        }
        transfer::TransferKind::FeeTip | transfer::TransferKind::FeeBurn => TransferKind::Fee,
        transfer::TransferKind::Mint
        | transfer::TransferKind::Withdrawal
        | transfer::TransferKind::Reward
        | transfer::TransferKind::Genesis => TransferKind::Credit,
        transfer::TransferKind::Burn => TransferKind::Debit,
        transfer::TransferKind::Reconcile if row.dir == dir::IN => TransferKind::Credit,
        transfer::TransferKind::Reconcile => TransferKind::Debit,
    };
    let (from, to) = match kind {
        TransferKind::Credit => (None, to),
        TransferKind::Debit => (from, None),
        _ => (from, to),
    };
    let pos = TransferPos { height: Height::new(key.0), tx_pos: key.1, ordinal: key.2 };
    Ok(Transfer { pos, kind, from, to, amount: row.amount })
}

impl AccountGraph for EthGraph<'_> {
    type Error = QueryError;

    fn tip(&self) -> Result<Option<BlockRef>, QueryError> {
        Ok(self.store.tip()?)
    }

    fn address_id(&self, text: &str) -> Result<Option<AddressId>, QueryError> {
        let address = parse_address(text)?;
        Ok(self.store.get::<EthAddrIds>(&address.0 .0)?.map(AddressId))
    }

    fn address_text(&self, id: AddressId) -> Result<String, QueryError> {
        let address = self
            .store
            .get::<EthAddrs>(&id.0)?
            .ok_or_else(|| QueryError::NotIndexed { what: "address id", id: id.0.to_string() })?;
        Ok(Address::from(address).to_checksum(None))
    }

    fn asset_id(&self, text: &str) -> Result<Option<AssetId>, QueryError> {
        match parse_asset(text)? {
            Asset::Eth => Ok(Some(AssetId::NATIVE)),
            Asset::Token(token) => Ok(self.store.get::<EthTokens>(&token.0 .0)?.map(AssetId)),
        }
    }

    fn asset_text(&self, asset: AssetId) -> Result<String, QueryError> {
        if asset == AssetId::NATIVE {
            return Ok("ETH".into());
        }
        let token = self
            .store
            .get::<EthAssets>(&asset.0)?
            .ok_or_else(|| QueryError::NotIndexed { what: "asset id", id: asset.0.to_string() })?;
        Ok(Address::from(token).to_checksum(None))
    }

    fn transfers(
        &self,
        address: AddressId,
        asset: AssetId,
        from: TransferPos,
        to: Height,
    ) -> Result<Vec<Transfer>, QueryError> {
        let prefix = (address.0, asset.0).encode();
        let start = history_key(address, asset, from);
        let mut out = Vec::new();
        for row in self.store.scan::<EthHistory>(&prefix, Some(&start), Direction::Forward)? {
            let ((_, _, height, tx_pos, ordinal), row) = row?;
            if height > to.get() {
                break;
            }
            out.push(to_transfer(address.0, (height, tx_pos, ordinal), &row)?);
        }
        Ok(out)
    }

    fn balance_before(&self, address: AddressId, asset: AssetId, pos: TransferPos) -> Result<U256, QueryError> {
        let prefix = (address.0, asset.0).encode();
        let at = (address.0, asset.0, pos.height.get(), pos.tx_pos, pos.ordinal);
        let start = at.encode();
        for row in self.store.scan::<EthHistory>(&prefix, Some(&start), Direction::Reverse)? {
            let (key, row) = row?;
            // The scan starts at `pos` itself when a row sits there.
            if key == at {
                continue;
            }
            // A negative balance (events that do not add up) holds nothing.
            return Ok(if row.balance.bit(255) { U256::ZERO } else { row.balance });
        }
        Ok(U256::ZERO)
    }

    fn tx_hash(&self, pos: TransferPos) -> Result<Option<String>, QueryError> {
        if pos.tx_pos >= GENESIS_POS {
            return Ok(None);
        }
        let (hash, _, _) = self.store.get::<EthBlockTxs>(&(pos.height.get(), pos.tx_pos))?.ok_or_else(|| {
            QueryError::NotIndexed { what: "transaction position", id: format!("{}:{}", pos.height, pos.tx_pos) }
        })?;
        Ok(Some(format!("{:#x}", B256::from(hash))))
    }

    fn frozen(&self, address: AddressId, asset: AssetId) -> Result<Option<String>, QueryError> {
        let found = self.store.get::<EthFrozen>(&(address.0, asset.0))?;
        Ok(found.map(|(_, hash)| format!("{:#x}", B256::from(hash))))
    }
}
