//! [`BtcGraph`]: the Bitcoin store seen through the tracer's
//! [`UtxoGraph`] interface.
//!
//! Coins are `btc_output` rows, a transaction's inputs are the outputs its
//! `btc_tx` row says it spends, an address's coins are the outputs paying it
//! among the transactions of its `btc_addr_history`, and a block window's
//! transaction numbers come from `btc_block`, and an address's cluster from
//! `btc_cluster_of`. Txids are shown byte-reversed, as explorers show them.
//!
//! This is a read view for tracing; for the CLI's address and transaction
//! pages (with paging and text output) see [`super::query`].

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::{Network, Txid};
use chainsleuth_core::{AddressId, BlockRef, ClusterId, Coin, Height, OutPoint, Sats, TxNum, UtxoGraph, UtxoTx};
use chainsleuth_store::{Codec, Direction, Meta, Store};

use super::cluster::clustered_height;
use super::error::IndexError;
use super::script::AddrKey;
use super::tables::{
    addr_id_of, tx_nums_of, AddrKeyById, BlockByHeight, BlockRow, ClusterOf, History, OutputRow, Outputs, Totals,
    TxByNum, TxRow, NETWORK_KEY,
};

/// A read view of a Bitcoin store as a [`UtxoGraph`], for the network the
/// store records.
#[derive(Debug, Clone, Copy)]
pub struct BtcGraph<'s> {
    store: &'s Store,
    network: Network,
}

impl<'s> BtcGraph<'s> {
    /// A view of `store`, reading addresses for the network it records.
    ///
    /// # Errors
    /// [`IndexError::Corrupt`] when the store records no network or an
    /// unknown one (a store the indexer never wrote); store errors.
    pub fn new(store: &'s Store) -> Result<BtcGraph<'s>, IndexError> {
        let name = store
            .get::<Meta>(&NETWORK_KEY.to_owned())?
            .ok_or_else(|| IndexError::Corrupt("the store records no network".into()))?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let network = Network::from_core_arg(&name)
            .map_err(|_| IndexError::Corrupt(format!("the store records an unknown network {name:?}")))?;
        Ok(BtcGraph { store, network })
    }

    /// The network whose address encoding the view reads and writes.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The store it reads.
    pub fn store(&self) -> &'s Store {
        self.store
    }

    fn tx_row(&self, num: TxNum) -> Result<TxRow, IndexError> {
        self.store.get::<TxByNum>(&num)?.ok_or(IndexError::UnknownTxNum(num))
    }

    fn block_row(&self, height: Height) -> Result<Option<BlockRow>, IndexError> {
        Ok(self.store.get::<BlockByHeight>(&height)?)
    }
}

fn coin(tx: TxNum, vout: u32, row: OutputRow) -> Coin {
    Coin {
        outpoint: OutPoint { tx, vout },
        address: row.address,
        value: row.value,
        spent_by: row.spent_by.map(|spend| spend.tx),
    }
}

/// The outputs of transaction `num`, in output order.
pub(crate) fn outputs_of(store: &Store, num: TxNum) -> Result<Vec<Coin>, IndexError> {
    store
        .scan::<Outputs>(&num.encode(), None, Direction::Forward)?
        .map(|row| row.map(|((tx, vout), out)| coin(tx, vout, out)).map_err(IndexError::from))
        .collect()
}

impl UtxoGraph for BtcGraph<'_> {
    type Error = IndexError;

    fn tip(&self) -> Result<Option<BlockRef>, IndexError> {
        Ok(self.store.tip()?)
    }

    fn address_id(&self, text: &str) -> Result<Option<AddressId>, IndexError> {
        let key = AddrKey::parse(text.trim(), self.network).map_err(|reason| IndexError::InvalidAddress {
            address: text.to_owned(),
            network: self.network,
            reason,
        })?;
        Ok(addr_id_of(self.store, &key)?)
    }

    fn address_text(&self, id: AddressId) -> Result<String, IndexError> {
        let key = self.store.get::<AddrKeyById>(&id)?.ok_or(IndexError::UnknownAddressId(id))?;
        Ok(key.to_text(self.network))
    }

    fn tx_num(&self, txid: &str) -> Result<Option<TxNum>, IndexError> {
        let parsed = Txid::from_str(txid.trim()).map_err(|_| IndexError::InvalidTxid(txid.to_owned()))?;
        Ok(tx_nums_of(self.store, &[parsed.to_byte_array()])?[0])
    }

    fn txid(&self, num: TxNum) -> Result<String, IndexError> {
        Ok(Txid::from_byte_array(self.tx_row(num)?.txid).to_string())
    }

    fn tx(&self, num: TxNum) -> Result<UtxoTx, IndexError> {
        let row = self.tx_row(num)?;
        let keys: Vec<(TxNum, u32)> = row.spends.iter().map(|spend| (spend.tx, spend.index)).collect();
        let inputs = self
            .store
            .multi_get::<Outputs>(&keys)?
            .into_iter()
            .zip(&keys)
            .map(|(found, &(tx, vout))| {
                let out = found
                    .ok_or_else(|| IndexError::Corrupt(format!("tx {num} spends {tx}:{vout}, which has no row")))?;
                Ok(coin(tx, vout, out))
            })
            .collect::<Result<_, IndexError>>()?;
        Ok(UtxoTx { num, height: row.height, inputs, outputs: outputs_of(self.store, num)? })
    }

    fn coin(&self, outpoint: OutPoint) -> Result<Option<Coin>, IndexError> {
        let row = self.store.get::<Outputs>(&(outpoint.tx, outpoint.vout))?;
        Ok(row.map(|out| coin(outpoint.tx, outpoint.vout, out)))
    }

    fn coins_of(&self, address: AddressId, before: TxNum) -> Result<Vec<Coin>, IndexError> {
        let mut coins = Vec::new();
        for row in self.store.scan::<History>(&address.encode(), None, Direction::Forward)? {
            let ((_, tx), entry) = row?;
            if tx >= before {
                break;
            }
            // Only transactions that pay the address have outputs to read.
            if entry.received == Sats(0) {
                continue;
            }
            coins.extend(outputs_of(self.store, tx)?.into_iter().filter(|coin| coin.address == Some(address)));
        }
        Ok(coins)
    }

    fn tx_range(&self, from: Height, to: Height) -> Result<(TxNum, TxNum), IndexError> {
        let unknown = || IndexError::UnknownHeights { from, to };
        if from > to {
            return Err(unknown());
        }
        let first = self.block_row(from)?.ok_or_else(unknown)?;
        let last = self.block_row(to)?.ok_or_else(unknown)?;
        Ok((first.first_tx, TxNum(last.first_tx.0 + u64::from(last.tx_count))))
    }

    fn cluster_of(&self, address: AddressId) -> Result<Option<ClusterId>, IndexError> {
        if let Some(link) = self.store.get::<ClusterOf>(&address)? {
            return Ok(Some(link.cluster));
        }
        // In no cluster: its own cluster of one, once clustering has reached
        // the block it first appeared in.
        let Some(clustered) = clustered_height(self.store)? else { return Ok(None) };
        let totals = self.store.get::<Totals>(&address)?.ok_or(IndexError::UnknownAddressId(address))?;
        Ok((totals.first_seen <= clustered).then_some(ClusterId(address.0)))
    }

    fn cluster_link(&self, address: AddressId) -> Result<Option<TxNum>, IndexError> {
        Ok(self.store.get::<ClusterOf>(&address)?.map(|link| link.tx))
    }
}
