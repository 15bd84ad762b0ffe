//! The watcher's scan of the chain stores: one pass opens a chain's store
//! read-only (a snapshot beside its running indexer), takes back the blocks
//! a reorg removed since the last pass, and scans the blocks indexed since,
//! storing an alert for each movement into or out of a watched address.
//!
//! Bitcoin blocks are read from the index rows (transactions, the coins
//! their inputs spend, their outputs), so the cost is the block's, however
//! many addresses are watched; a watched cluster is resolved through the
//! cluster tables as they stand at the pass (clustering runs a few blocks
//! behind the tip, so a new member counts from the pass that sees it
//! clustered). Ethereum blocks are their transfers (`EthQuery::block_txs`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Network, Txid};
use chainsleuth_btc::index::tables::{addr_id_of, AddrKeyById, BlockByHeight, ClusterOf, Outputs, TxByNum};
use chainsleuth_btc::index::{self, query, AddrKey};
use chainsleuth_core::{AddressId, Height, TxNum, U256};
use chainsleuth_eth::EthQuery;
use chainsleuth_store::{Direction, OpenMode, Store};

use super::store::{Movement, WatchItem, WatchStore};
use super::{FlowDirection, Watch, WatchChain, WatchError};

/// What a pass needs of a chain store.
trait ChainReader {
    /// The indexed tip's height.
    fn tip(&self) -> Result<Option<u64>, WatchError>;
    /// The hash of the indexed block at `height`, and its text.
    fn block(&self, height: u64) -> Result<Option<([u8; 32], String)>, WatchError>;
    /// The movements of watched addresses in block `height`.
    fn movements(&self, height: u64) -> Result<Vec<Movement>, WatchError>;
    /// Whether any item watches this chain.
    fn watches_any(&self) -> bool;
}

/// What one pass over one chain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PassOutcome {
    /// Alerts stored.
    pub alerts: usize,
    /// Alerts retracted.
    pub retracted: usize,
    /// Deliveries queued.
    pub deliveries: usize,
    /// The scan reached the chain's tip.
    pub caught_up: bool,
}

/// The network a Bitcoin store indexes (mainnet when it does not say).
pub(crate) fn btc_network(store: &Store) -> Result<Network, index::IndexError> {
    Ok(query::status(store)?
        .network
        .as_deref()
        .and_then(|name| Network::from_core_arg(name).ok())
        .unwrap_or(Network::Bitcoin))
}

/// One pass over `chain`: reorg check, then up to `max_blocks` new blocks.
pub(crate) fn pass(watch: &Watch, chain: WatchChain, max_blocks: u64) -> Result<PassOutcome, WatchError> {
    let store = watch.store()?;
    let Some(chain_store) = open_chain(&watch.data_dir, chain)? else {
        // Nothing indexed yet: everything this data directory will index is new.
        if store.start(chain)?.is_none() {
            store.set_start(chain, 0)?;
        }
        return Ok(PassOutcome { caught_up: true, ..PassOutcome::default() });
    };
    // The items are read after the chain's snapshot is taken: an item added
    // before a block was indexed is in force when that block is scanned.
    let items: Vec<WatchItem> = store.items()?.into_iter().filter(|item| item.chain == chain).collect();
    let hooked: Vec<u64> = items.iter().filter(|item| item.webhook.is_some()).map(|item| item.id).collect();
    let reader: Box<dyn ChainReader + '_> = match chain {
        WatchChain::Btc => Box::new(BtcReader::new(&chain_store, &items)?),
        WatchChain::Eth => Box::new(EthReader::new(&chain_store, &items)),
    };
    scan_chain(&store, chain, reader.as_ref(), &hooked, max_blocks)
}

fn open_chain(data_dir: &Path, chain: WatchChain) -> Result<Option<Store>, WatchError> {
    let (path, schema) = match chain {
        WatchChain::Btc => (index::store_path(data_dir), &index::SCHEMA),
        WatchChain::Eth => (chainsleuth_eth::store_path(data_dir), &chainsleuth_eth::SCHEMA),
    };
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(Store::open(&path, schema, OpenMode::ReadOnly)?))
}

fn scan_chain(
    store: &WatchStore,
    chain: WatchChain,
    reader: &dyn ChainReader,
    hooked: &[u64],
    max_blocks: u64,
) -> Result<PassOutcome, WatchError> {
    let mut outcome = PassOutcome::default();
    let tip = reader.tip()?;
    // Blocks scanned that the chain no longer has, newest first, until one it still has.
    let mut removed = Vec::new();
    for row in store.scanned(chain)? {
        let (height, hash) = row?;
        if tip.is_some_and(|tip| height <= tip) && reader.block(height)?.is_some_and(|(now, _)| now == hash) {
            break;
        }
        removed.push(height);
    }
    for height in removed {
        let (alerts, deliveries) = store.retract_block(chain, height, hooked)?;
        tracing::info!(chain = chain.as_str(), height, alerts, "watch: block left the chain; its alerts are retracted");
        outcome.retracted += alerts;
        outcome.deliveries += deliveries;
    }
    let next = match store.last_scanned(chain)? {
        Some((height, _)) => height + 1,
        None => match store.start(chain)? {
            Some(start) => start,
            None => {
                // First sight of a store indexed before the watcher ran: what
                // it holds is history (the history pages have it); watch from here.
                let start = tip.map_or(0, |tip| tip + 1);
                store.set_start(chain, start)?;
                start
            }
        },
    };
    let Some(tip) = tip.filter(|tip| *tip >= next) else {
        outcome.caught_up = true;
        return Ok(outcome);
    };
    let last = tip.min(next.saturating_add(max_blocks.max(1) - 1));
    for height in next..=last {
        let (hash, text) = reader.block(height)?.ok_or_else(|| {
            WatchError::Corrupt(format!("{} block {height} is below the tip {tip} but has no row", chain.as_str()))
        })?;
        let movements = if reader.watches_any() { reader.movements(height)? } else { Vec::new() };
        let (alerts, deliveries) = store.record_block(chain, (height, hash, &text), &movements, hooked)?;
        outcome.alerts += alerts;
        outcome.deliveries += deliveries;
    }
    outcome.caught_up = last == tip;
    Ok(outcome)
}

/// Adds `amount` to the movement of (`key`) in `sums`, with `watch_ids`.
fn add<K: Ord>(sums: &mut BTreeMap<K, (U256, Vec<u64>)>, key: K, amount: U256, watch_ids: &[u64]) {
    let entry = sums.entry(key).or_insert_with(|| (U256::ZERO, watch_ids.to_vec()));
    entry.0 = entry.0.saturating_add(amount);
}

/// A Bitcoin store with the watch items resolved against it.
struct BtcReader<'s> {
    store: &'s Store,
    network: Network,
    /// Watched address ids and the items watching each.
    addresses: HashMap<AddressId, Vec<u64>>,
    /// Watched clusters (by current id) and the items watching each.
    clusters: HashMap<AddressId, Vec<u64>>,
    any: bool,
}

impl<'s> BtcReader<'s> {
    fn new(store: &'s Store, items: &[WatchItem]) -> Result<BtcReader<'s>, WatchError> {
        let network = btc_network(store)?;
        let mut reader =
            BtcReader { store, network, addresses: HashMap::new(), clusters: HashMap::new(), any: !items.is_empty() };
        for item in items {
            if let Some(address) = &item.address {
                if let Some(id) = reader.address_id(address)? {
                    reader.addresses.entry(id).or_default().push(item.id);
                }
            }
            if let Some(subject) = &item.cluster {
                let id = match subject.parse::<u64>() {
                    Ok(id) => Some(AddressId(id)),
                    Err(_) => reader.address_id(subject)?,
                };
                if let Some(id) = id {
                    let cluster = reader.cluster_of(&[id])?[0];
                    reader.clusters.entry(cluster).or_default().push(item.id);
                }
            }
        }
        Ok(reader)
    }

    /// The id of `address`; `None` before it first appears on chain.
    fn address_id(&self, address: &str) -> Result<Option<AddressId>, WatchError> {
        // Items were checked against this network when they were added.
        let Ok(key) = AddrKey::parse(address, self.network) else { return Ok(None) };
        Ok(addr_id_of(self.store, &key)?)
    }

    /// The current cluster of each of `ids` (an address in none is its own).
    fn cluster_of(&self, ids: &[AddressId]) -> Result<Vec<AddressId>, WatchError> {
        let links = self.store.multi_get::<ClusterOf>(ids)?;
        Ok(ids.iter().zip(links).map(|(id, link)| link.map_or(*id, |link| AddressId(link.cluster.0))).collect())
    }
}

impl ChainReader for BtcReader<'_> {
    fn tip(&self) -> Result<Option<u64>, WatchError> {
        Ok(self.store.tip()?.map(|tip| tip.height.get()))
    }

    fn block(&self, height: u64) -> Result<Option<([u8; 32], String)>, WatchError> {
        Ok(self
            .store
            .get::<BlockByHeight>(&Height::new(height))?
            .map(|row| (row.hash, BlockHash::from_byte_array(row.hash).to_string())))
    }

    fn watches_any(&self) -> bool {
        self.any
    }

    fn movements(&self, height: u64) -> Result<Vec<Movement>, WatchError> {
        let corrupt = |what: String| WatchError::Corrupt(format!("btc block {height}: {what}"));
        let block = self.store.get::<BlockByHeight>(&Height::new(height))?.ok_or_else(|| corrupt("no row".into()))?;
        let end = block.first_tx.0 + u64::from(block.tx_count);
        let nums: Vec<TxNum> = (block.first_tx.0..end).map(TxNum).collect();
        let txs = self.store.multi_get::<TxByNum>(&nums)?;
        // (tx, address, direction, satoshi) for every input and output with an address.
        let mut flows: Vec<(TxNum, AddressId, FlowDirection, u64)> = Vec::new();
        let mut spent = Vec::new();
        for (num, tx) in nums.iter().zip(&txs) {
            let tx = tx.as_ref().ok_or_else(|| corrupt(format!("tx number {num} has no row")))?;
            spent.extend(tx.spends.iter().map(|spend| (*num, (spend.tx, spend.index))));
        }
        let keys: Vec<(TxNum, u32)> = spent.iter().map(|(_, key)| *key).collect();
        for ((num, (tx, vout)), coin) in spent.iter().zip(self.store.multi_get::<Outputs>(&keys)?) {
            let coin = coin.ok_or_else(|| corrupt(format!("tx {num} spends {tx}:{vout}, which has no row")))?;
            // OP_RETURN outputs pay no address.
            if let Some(address) = coin.address {
                flows.push((*num, address, FlowDirection::Out, coin.value.0));
            }
        }
        for row in self.store.scan::<Outputs>(&[], Some(&block.first_tx.0.to_be_bytes()), Direction::Forward)? {
            let ((num, _), out) = row?;
            if num.0 >= end {
                break;
            }
            if let Some(address) = out.address {
                flows.push((num, address, FlowDirection::In, out.value.0));
            }
        }
        let mut touched: Vec<AddressId> = flows.iter().map(|flow| flow.1).collect();
        touched.sort_unstable();
        touched.dedup();
        let clusters = if self.clusters.is_empty() { touched.clone() } else { self.cluster_of(&touched)? };
        let watchers: HashMap<AddressId, Vec<u64>> = touched
            .iter()
            .zip(&clusters)
            .filter_map(|(id, cluster)| {
                let mut ids: Vec<u64> = self.addresses.get(id).into_iter().flatten().copied().collect();
                ids.extend(self.clusters.get(cluster).into_iter().flatten().copied());
                ids.sort_unstable();
                ids.dedup();
                (!ids.is_empty()).then_some((*id, ids))
            })
            .collect();
        let mut sums = BTreeMap::new();
        for (num, address, direction, value) in flows {
            if let Some(ids) = watchers.get(&address) {
                add(&mut sums, (num, address, direction), U256::from(value), ids);
            }
        }
        let ids: Vec<AddressId> = watchers.keys().copied().collect();
        let texts: HashMap<AddressId, String> = ids
            .iter()
            .zip(self.store.multi_get::<AddrKeyById>(&ids)?)
            .map(|(id, key)| {
                Ok((*id, key.ok_or_else(|| corrupt(format!("address id {id} has no key")))?.to_text(self.network)))
            })
            .collect::<Result<_, WatchError>>()?;
        sums.into_iter()
            .map(|((num, address, direction), (amount, watch_ids))| {
                let index = usize::try_from(num.0 - block.first_tx.0).expect("a block's transactions fit in memory");
                let tx = txs[index].as_ref().expect("checked above");
                Ok(Movement {
                    txid: Some(Txid::from_byte_array(tx.txid).to_string()),
                    address: texts[&address].clone(),
                    direction,
                    asset: "BTC".to_owned(),
                    amount: amount.to_string(),
                    watch_ids,
                })
            })
            .collect()
    }
}

/// An Ethereum store with the watched addresses (checksummed, as the
/// queries show them).
struct EthReader<'s> {
    query: EthQuery<'s>,
    addresses: HashMap<String, Vec<u64>>,
}

impl<'s> EthReader<'s> {
    fn new(store: &'s Store, items: &[WatchItem]) -> EthReader<'s> {
        let mut addresses: HashMap<String, Vec<u64>> = HashMap::new();
        for item in items {
            if let Some(address) = &item.address {
                addresses.entry(address.clone()).or_default().push(item.id);
            }
        }
        EthReader { query: EthQuery::new(store), addresses }
    }
}

impl ChainReader for EthReader<'_> {
    fn tip(&self) -> Result<Option<u64>, WatchError> {
        Ok(self.query.status()?.tip.map(|tip| tip.height))
    }

    fn block(&self, height: u64) -> Result<Option<([u8; 32], String)>, WatchError> {
        Ok(self.query.block(height)?.map(|(hash, _, _)| (hash.0, format!("{hash:#x}"))))
    }

    fn watches_any(&self) -> bool {
        !self.addresses.is_empty()
    }

    fn movements(&self, height: u64) -> Result<Vec<Movement>, WatchError> {
        let mut transfers: Vec<(Option<String>, chainsleuth_eth::TransferView)> = Vec::new();
        for tx in self.query.block_txs(height)? {
            transfers.extend(tx.transfers.into_iter().map(|transfer| (Some(tx.hash.clone()), transfer)));
        }
        transfers.extend(self.query.block_transfers(height)?.into_iter().map(|transfer| (None, transfer)));
        let mut sums = BTreeMap::new();
        for (tx, transfer) in transfers {
            let amount = U256::from_str_radix(&transfer.amount, 10)
                .map_err(|_| WatchError::Corrupt(format!("eth block {height}: amount {:?}", transfer.amount)))?;
            let sides = [(transfer.from, FlowDirection::Out), (transfer.to, FlowDirection::In)];
            for (address, direction) in sides {
                let Some(address) = address else { continue };
                if let Some(ids) = self.addresses.get(&address) {
                    add(&mut sums, (tx.clone(), address, direction, transfer.asset.asset.clone()), amount, ids);
                }
            }
        }
        Ok(sums
            .into_iter()
            .map(|((txid, address, direction, asset), (amount, watch_ids))| Movement {
                txid,
                address,
                direction,
                asset,
                amount: amount.to_string(),
                watch_ids,
            })
            .collect())
    }
}
