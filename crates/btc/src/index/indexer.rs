//! [`BtcIndexer`]: one block in, one atomic batch out.
//!
//! For each block the indexer reads what it needs first (the spent outputs
//! with two `multi_get`s, unknown addresses with one more, the summaries of
//! the addresses it touches with a last one), checks the block against it,
//! and only then builds the batch: block and transaction rows, outputs,
//! inputs, spent-by links, new addresses, history rows, summaries, the id
//! counters and the tip. A fault found on the way leaves the store untouched.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Network, OutPoint, Txid};
use chainsleuth_core::{AddressId, BlockRef, Height, Sats, TxNum};
use chainsleuth_store::{Batch, Meta, OpenMode, Store, Table, Undo};
use chainsleuth_sync::{Indexer, UndoPolicy};
use rustc_hash::FxHashMap;

use super::cache::GenCache;
use super::error::{BlockFault, IndexError};
use super::script::AddrKey;
use super::tables::{
    AddrIdByKey, AddrKeyById, BlockByHeight, BlockRow, HeightByHash, History, HistoryRow, Inputs, OutputRow, Outputs,
    Spend, Summaries, SummaryRow, TxByNum, TxNumByTxid, TxRow, NETWORK_KEY, NEXT_ADDR_KEY, NEXT_TX_KEY, SCHEMA,
};
use crate::{to_core_hash, BtcBlock};

/// Entries per generation of each in-memory cache (address ids, address
/// summaries, unspent outputs); each cache holds at most twice as many,
/// about 230 MB in all at this default.
pub const DEFAULT_CACHE_CAPACITY: usize = 1 << 19;

/// The directory of the Bitcoin store inside a data directory.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("btc")
}

/// Opens the Bitcoin store of `data_dir` for reading beside a running
/// indexer; it sees the store as it was when opened.
///
/// # Errors
/// [`IndexError::Store`] when there is no store or it has another layout.
pub fn open_read_only(data_dir: &Path) -> Result<Store, IndexError> {
    Ok(Store::open(&store_path(data_dir), &SCHEMA, OpenMode::ReadOnly)?)
}

/// Checks that `store` indexes `network` (an empty store indexes any).
///
/// # Errors
/// [`IndexError::NetworkMismatch`] naming both networks.
pub fn check_network(store: &Store, network: Network) -> Result<(), IndexError> {
    match store.get::<Meta>(&NETWORK_KEY.to_owned())? {
        Some(found) if found != network.to_core_arg().as_bytes() => {
            Err(IndexError::NetworkMismatch { found: String::from_utf8_lossy(&found).into_owned(), expected: network })
        }
        _ => Ok(()),
    }
}

/// Reads a `u64be` counter from `meta`.
pub(crate) fn read_counter(store: &Store, key: &str) -> Result<Option<u64>, IndexError> {
    match store.get::<Meta>(&key.to_owned())? {
        None => Ok(None),
        Some(bytes) => {
            let array: [u8; 8] =
                bytes.try_into().map_err(|_| IndexError::Corrupt(format!("meta {key} is not a u64")))?;
            Ok(Some(u64::from_be_bytes(array)))
        }
    }
}

/// What the indexer keeps in memory between blocks: the tip and the next ids.
#[derive(Debug, Clone, Copy)]
struct State {
    tip: Option<BlockRef>,
    next_tx: u64,
    next_addr: u64,
}

/// The Bitcoin indexer: writes each block's rows into the `btc` store and
/// unwinds them on reorgs. See the crate's `SCHEMA.md` for the tables.
///
/// It keeps bounded caches of what the store holds (address ids, address
/// summaries, recent unspent outputs), updated only after a block's batch
/// is written and dropped whole on unwind, so they never disagree with the
/// store.
#[derive(Debug)]
pub struct BtcIndexer {
    store: Arc<Store>,
    state: Option<State>,
    addresses: GenCache<AddrKey, AddressId>,
    summaries: GenCache<AddressId, SummaryRow>,
    coins: GenCache<OutPoint, (TxNum, OutputRow)>,
}

/// One distinct address of a block.
struct BlockAddress {
    key: AddrKey,
    id: Option<AddressId>,
}

/// One input of the block that spends an output (coinbase inputs excluded).
struct SpentInput {
    /// Position of the spending transaction in the block.
    tx_pos: u32,
    vin: u32,
    prev_txid: Txid,
    vout: u32,
    /// The spent output's tx number (once resolved) and its row (with
    /// `spent_by` still unset).
    prev_tx: TxNum,
    /// For an output of an earlier block: the slot of its txid among those
    /// looked up in the store.
    lookup: u32,
    prev: OutputRow,
    /// Where the output was created: `None` for an earlier block (its row
    /// must be updated), else its index in the block's output list.
    in_block: Option<usize>,
}

/// Totals of one address over one block.
#[derive(Clone, Copy, Default)]
struct Delta {
    received: u64,
    sent: u64,
    txs: u64,
}

/// A change set that records undo entries only when the block keeps its
/// undo record; untracked blocks skip the copying.
struct Writer<'s> {
    batch: Batch<'s>,
    track: bool,
}

impl Writer<'_> {
    fn create<T: Table>(&mut self, key: &T::Key, value: &T::Value) -> Result<(), IndexError> {
        if self.track {
            self.batch.insert::<T>(key, value)?;
        } else {
            self.batch.put::<T>(key, value)?;
        }
        Ok(())
    }

    fn change<T: Table>(&mut self, key: &T::Key, value: &T::Value, old: Option<&T::Value>) -> Result<(), IndexError> {
        if self.track {
            self.batch.update::<T>(key, value, old)?;
        } else {
            self.batch.put::<T>(key, value)?;
        }
        Ok(())
    }
}

impl BtcIndexer {
    /// Opens (creating if needed) the Bitcoin store under `data_dir` for
    /// indexing `network`.
    ///
    /// # Errors
    /// [`IndexError::Store`] when the store cannot be opened (another writer
    /// holds it, another layout), [`IndexError::NetworkMismatch`].
    pub fn open(data_dir: &Path, network: Network) -> Result<BtcIndexer, IndexError> {
        let path = store_path(data_dir);
        std::fs::create_dir_all(&path)
            .map_err(|source| IndexError::Io { what: format!("creating {}", path.display()), source })?;
        let store = Store::open(&path, &SCHEMA, OpenMode::ReadWrite)?;
        BtcIndexer::new(Arc::new(store), network)
    }

    /// An indexer writing into `store` (opened with [`SCHEMA`]) for
    /// `network`; records the network in a new store.
    ///
    /// # Errors
    /// [`IndexError::NetworkMismatch`] or store errors.
    pub fn new(store: Arc<Store>, network: Network) -> Result<BtcIndexer, IndexError> {
        check_network(&store, network)?;
        if store.get::<Meta>(&NETWORK_KEY.to_owned())?.is_none() {
            let mut batch = store.batch();
            batch.put::<Meta>(&NETWORK_KEY.to_owned(), &network.to_core_arg().as_bytes().to_vec())?;
            store.write(batch)?;
        }
        Ok(BtcIndexer {
            store,
            state: None,
            addresses: GenCache::new(DEFAULT_CACHE_CAPACITY),
            summaries: GenCache::new(DEFAULT_CACHE_CAPACITY),
            coins: GenCache::new(DEFAULT_CACHE_CAPACITY),
        })
    }

    /// Sets how many entries each generation of each cache holds; memory
    /// grows by about 450 bytes per unit (two generations of three caches).
    pub fn with_cache_capacity(mut self, capacity: usize) -> BtcIndexer {
        self.addresses = GenCache::new(capacity);
        self.summaries = GenCache::new(capacity);
        self.coins = GenCache::new(capacity);
        self
    }

    fn clear_caches(&mut self) {
        self.addresses.clear();
        self.summaries.clear();
        self.coins.clear();
    }

    /// The store it writes.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn state(&mut self) -> Result<State, IndexError> {
        if let Some(state) = self.state {
            return Ok(state);
        }
        let state = State {
            tip: self.store.tip()?,
            next_tx: read_counter(&self.store, NEXT_TX_KEY)?.unwrap_or(0),
            next_addr: read_counter(&self.store, NEXT_ADDR_KEY)?.unwrap_or(0),
        };
        self.state = Some(state);
        Ok(state)
    }

    fn index_block(&mut self, block: &BtcBlock, undo: UndoPolicy) -> Result<(), IndexError> {
        let state = self.state()?;
        let b = &block.block;
        let height = block.height;
        let hash = b.block_hash();
        let fault = |fault| IndexError::Malformed { height, hash, fault };

        let expected = state.tip.map_or(Height::GENESIS, |tip| tip.height.next());
        if height != expected {
            return Err(fault(BlockFault::WrongHeight { expected }));
        }
        if let Some(tip) = state.tip {
            if to_core_hash(b.header.prev_blockhash) != tip.hash {
                let tip = BlockHash::from_byte_array(tip.hash.0);
                return Err(fault(BlockFault::NotOnTip { parent: b.header.prev_blockhash, tip }));
            }
        }
        if b.txdata.is_empty() {
            return Err(fault(BlockFault::Empty));
        }
        if self.store.get::<HeightByHash>(&hash.to_byte_array())?.is_some() {
            return Err(fault(BlockFault::Duplicate));
        }

        let txs = &b.txdata;
        let tx_count = u32::try_from(txs.len()).map_err(|_| IndexError::Corrupt("block with 2^32 txs".into()))?;
        let first_tx = state.next_tx;
        let txids: Vec<Txid> = txs.iter().map(bitcoin::Transaction::compute_txid).collect();
        let mut position_of: FxHashMap<Txid, u32> = FxHashMap::default();
        position_of.reserve(txs.len());
        for (pos, txid) in (0u32..).zip(&txids) {
            if position_of.insert(*txid, pos).is_some() {
                return Err(fault(BlockFault::Value { txid: *txid, what: "the txid occurs twice in the block" }));
            }
        }

        // Outputs: the address of each (key only, ids resolved below).
        let mut out_start: Vec<usize> = Vec::with_capacity(txs.len() + 1);
        let mut outs: Vec<(Option<u32>, u64)> = Vec::with_capacity(txs.len() * 3);
        let mut addrs: Vec<BlockAddress> = Vec::with_capacity(txs.len() * 2);
        let mut addr_slot: FxHashMap<AddrKey, u32> = FxHashMap::default();
        addr_slot.reserve(txs.len() * 2);
        let mut lookups: Vec<u32> = Vec::new();
        for tx in txs {
            out_start.push(outs.len());
            for out in &tx.output {
                // OP_RETURN outputs are recorded but pay no address.
                let slot = AddrKey::of_script(out.script_pubkey.as_bytes()).map(|key| {
                    *addr_slot.entry(key).or_insert_with(|| {
                        let slot = addrs.len() as u32;
                        let id = self.addresses.get(&key);
                        if id.is_none() {
                            lookups.push(slot);
                        }
                        addrs.push(BlockAddress { key, id });
                        slot
                    })
                });
                outs.push((slot, out.value.to_sat()));
            }
        }
        out_start.push(outs.len());
        if !lookups.is_empty() {
            let keys: Vec<AddrKey> = lookups.iter().map(|slot| addrs[*slot as usize].key).collect();
            for (slot, id) in lookups.iter().zip(self.store.multi_get::<AddrIdByKey>(&keys)?) {
                addrs[*slot as usize].id = id;
            }
        }
        // New addresses get ids in order of first appearance in the block.
        let mut next_addr = state.next_addr;
        let mut new_addrs: Vec<(AddrKey, AddressId)> = Vec::new();
        for addr in &mut addrs {
            if addr.id.is_none() {
                let id = AddressId(next_addr);
                next_addr += 1;
                addr.id = Some(id);
                new_addrs.push((addr.key, id));
            }
        }
        let id_of_slot = |slot: u32| addrs[slot as usize].id.expect("every block address has an id by now");

        // Inputs: what each spends, from this block or from the store.
        let mut spent: Vec<SpentInput> = Vec::with_capacity(txs.len() * 2);
        let mut external: Vec<usize> = Vec::new();
        let mut external_txids: Vec<[u8; 32]> = Vec::new();
        let mut external_slot: FxHashMap<Txid, u32> = FxHashMap::default();
        // The coinbase (position 0) spends nothing.
        for (pos, tx) in (0u32..).zip(txs).skip(1) {
            for (vin, input) in (0u32..).zip(&tx.input) {
                let prev_txid = input.previous_output.txid;
                let vout = input.previous_output.vout;
                let mut entry = SpentInput {
                    tx_pos: pos,
                    vin,
                    prev_txid,
                    vout,
                    prev_tx: TxNum(0),
                    lookup: 0,
                    prev: OutputRow { address: None, value: Sats(0), spent_by: None },
                    in_block: None,
                };
                match position_of.get(&prev_txid) {
                    Some(&prev_pos) => {
                        let index = out_start[prev_pos as usize] + vout as usize;
                        if prev_pos >= pos || index >= out_start[prev_pos as usize + 1] {
                            return Err(fault(BlockFault::UnknownOutput {
                                txid: txids[pos as usize],
                                vin,
                                prev_txid,
                                vout,
                            }));
                        }
                        let (slot, value) = outs[index];
                        entry.prev_tx = TxNum(first_tx + u64::from(prev_pos));
                        entry.prev = OutputRow { address: slot.map(id_of_slot), value: Sats(value), spent_by: None };
                        entry.in_block = Some(index);
                    }
                    None => {
                        if let Some((prev_tx, prev)) = self.coins.get(&input.previous_output) {
                            entry.prev_tx = prev_tx;
                            entry.prev = prev;
                            spent.push(entry);
                            continue;
                        }
                        let next = external_txids.len() as u32;
                        entry.lookup = *external_slot.entry(prev_txid).or_insert(next);
                        if entry.lookup == next {
                            external_txids.push(prev_txid.to_byte_array());
                        }
                        external.push(spent.len());
                    }
                }
                spent.push(entry);
            }
        }
        if !external.is_empty() {
            let nums = self.store.multi_get::<TxNumByTxid>(&external_txids)?;
            let mut keys: Vec<(TxNum, u32)> = Vec::with_capacity(external.len());
            for &i in &external {
                let entry = &mut spent[i];
                let Some(num) = nums[entry.lookup as usize] else {
                    return Err(fault(BlockFault::UnknownOutput {
                        txid: txids[entry.tx_pos as usize],
                        vin: entry.vin,
                        prev_txid: entry.prev_txid,
                        vout: entry.vout,
                    }));
                };
                entry.prev_tx = num;
                keys.push((num, entry.vout));
            }
            for (&i, row) in external.iter().zip(self.store.multi_get::<Outputs>(&keys)?) {
                let entry = &mut spent[i];
                let (txid, vin, prev_txid, vout) =
                    (txids[entry.tx_pos as usize], entry.vin, entry.prev_txid, entry.vout);
                match row {
                    None => return Err(fault(BlockFault::UnknownOutput { txid, vin, prev_txid, vout })),
                    Some(row) if row.spent_by.is_some() => {
                        return Err(fault(BlockFault::DoubleSpend { txid, vin, prev_txid, vout }))
                    }
                    Some(row) => entry.prev = row,
                }
            }
        }

        // Spent-by links; an output spent twice in this block is a double spend.
        let mut out_spent: Vec<Option<Spend>> = vec![None; outs.len()];
        let mut external_spent: FxHashMap<(TxNum, u32), ()> = FxHashMap::default();
        for entry in &spent {
            let spender = Spend { tx: TxNum(first_tx + u64::from(entry.tx_pos)), index: entry.vin };
            let twice = match entry.in_block {
                Some(index) => out_spent[index].replace(spender).is_some(),
                None => external_spent.insert((entry.prev_tx, entry.vout), ()).is_some(),
            };
            if twice {
                let (txid, vin, prev_txid, vout) =
                    (txids[entry.tx_pos as usize], entry.vin, entry.prev_txid, entry.vout);
                return Err(fault(BlockFault::DoubleSpend { txid, vin, prev_txid, vout }));
            }
        }

        // Per-transaction history rows and per-block address totals.
        let mut history: Vec<((AddressId, TxNum), HistoryRow)> = Vec::with_capacity(txs.len() * 3);
        let mut touched: Vec<(AddressId, Delta)> = Vec::with_capacity(addrs.len());
        let mut touched_slot: FxHashMap<AddressId, usize> = FxHashMap::default();
        touched_slot.reserve(addrs.len());
        let mut legs: Vec<(AddressId, u64, u64)> = Vec::new();
        let mut spent_cursor = 0usize;
        for pos in 0..tx_count {
            let txid = txids[pos as usize];
            let value_fault = |what| fault(BlockFault::Value { txid, what });
            legs.clear();
            let mut total_out = 0u64;
            for &(slot, value) in &outs[out_start[pos as usize]..out_start[pos as usize + 1]] {
                total_out = total_out.checked_add(value).ok_or_else(|| value_fault("output values overflow"))?;
                if let Some(slot) = slot {
                    legs.push((id_of_slot(slot), value, 0));
                }
            }
            let mut total_in = 0u64;
            while spent_cursor < spent.len() && spent[spent_cursor].tx_pos == pos {
                let entry = &spent[spent_cursor];
                total_in =
                    total_in.checked_add(entry.prev.value.0).ok_or_else(|| value_fault("input values overflow"))?;
                if let Some(address) = entry.prev.address {
                    legs.push((address, 0, entry.prev.value.0));
                }
                spent_cursor += 1;
            }
            if pos > 0 && total_out > total_in {
                return Err(value_fault("outputs exceed inputs"));
            }
            legs.sort_unstable_by_key(|leg| leg.0);
            let tx_num = TxNum(first_tx + u64::from(pos));
            let mut i = 0;
            while i < legs.len() {
                let address = legs[i].0;
                let (mut received, mut sent) = (0u64, 0u64);
                while i < legs.len() && legs[i].0 == address {
                    received = received.checked_add(legs[i].1).ok_or_else(|| value_fault("received overflows"))?;
                    sent = sent.checked_add(legs[i].2).ok_or_else(|| value_fault("sent overflows"))?;
                    i += 1;
                }
                let row = HistoryRow { height, position: pos, received: Sats(received), sent: Sats(sent) };
                history.push(((address, tx_num), row));
                let at = *touched_slot.entry(address).or_insert_with(|| {
                    touched.push((address, Delta::default()));
                    touched.len() - 1
                });
                let delta = &mut touched[at].1;
                delta.received =
                    delta.received.checked_add(received).ok_or_else(|| value_fault("received overflows"))?;
                delta.sent = delta.sent.checked_add(sent).ok_or_else(|| value_fault("sent overflows"))?;
                delta.txs += 1;
            }
        }

        // Summaries of addresses that existed before this block.
        let mut old_of: FxHashMap<AddressId, SummaryRow> = FxHashMap::default();
        old_of.reserve(touched.len());
        let mut unknown: Vec<AddressId> = Vec::new();
        for id in touched.iter().map(|t| t.0).filter(|id| id.0 < state.next_addr) {
            match self.summaries.get(&id) {
                Some(row) => {
                    old_of.insert(id, row);
                }
                None => unknown.push(id),
            }
        }
        for (id, old) in unknown.iter().zip(self.store.multi_get::<Summaries>(&unknown)?) {
            if let Some(old) = old {
                old_of.insert(*id, old);
            }
        }

        // Everything checked: build the batch. Each table's rows go in in key
        // order, which lets RocksDB insert each next key into its memtable
        // from where the previous one went instead of from the top.
        let track = undo.keep;
        let mut w = Writer { batch: self.store.batch(), track };
        let block_ref = BlockRef { height, hash: to_core_hash(hash) };
        let mut header = [0u8; 80];
        header.copy_from_slice(&bitcoin::consensus::serialize(&b.header));
        w.create::<BlockByHeight>(
            &height,
            &BlockRow { hash: block_ref.hash.0, header, tx_count, first_tx: TxNum(first_tx) },
        )?;
        w.create::<HeightByHash>(&block_ref.hash.0, &height)?;
        // Two early coinbases repeat older txids (BIP30); the newer one takes
        // the txid, as it did in Core's UTXO set.
        let coinbase_txid = txids[0].to_byte_array();
        let old_coinbase = self.store.get::<TxNumByTxid>(&coinbase_txid)?;
        w.change::<TxNumByTxid>(&coinbase_txid, &TxNum(first_tx), old_coinbase.as_ref())?;
        let mut by_txid: Vec<([u8; 32], TxNum)> = (1u32..)
            .zip(&txids[1..])
            .map(|(pos, txid)| (txid.to_byte_array(), TxNum(first_tx + u64::from(pos))))
            .collect();
        by_txid.sort_unstable();
        for (txid, tx_num) in &by_txid {
            w.create::<TxNumByTxid>(txid, tx_num)?;
        }
        for (pos, txid) in (0u32..).zip(&txids) {
            let tx_num = TxNum(first_tx + u64::from(pos));
            w.create::<TxByNum>(&tx_num, &TxRow { txid: txid.to_byte_array(), height, position: pos })?;
            let range = out_start[pos as usize]..out_start[pos as usize + 1];
            for (vout, index) in (0u32..).zip(range) {
                let (slot, value) = outs[index];
                let row = OutputRow { address: slot.map(id_of_slot), value: Sats(value), spent_by: out_spent[index] };
                w.create::<Outputs>(&(tx_num, vout), &row)?;
            }
        }
        let mut earlier: Vec<&SpentInput> = Vec::with_capacity(spent.len());
        for entry in &spent {
            let tx_num = TxNum(first_tx + u64::from(entry.tx_pos));
            w.create::<Inputs>(&(tx_num, entry.vin), &Spend { tx: entry.prev_tx, index: entry.vout })?;
            if entry.in_block.is_none() {
                earlier.push(entry);
            }
        }
        earlier.sort_unstable_by_key(|entry| (entry.prev_tx, entry.vout));
        for entry in earlier {
            let spender = Spend { tx: TxNum(first_tx + u64::from(entry.tx_pos)), index: entry.vin };
            let row = OutputRow { spent_by: Some(spender), ..entry.prev };
            w.change::<Outputs>(&(entry.prev_tx, entry.vout), &row, Some(&entry.prev))?;
        }
        for (key, id) in &new_addrs {
            w.create::<AddrKeyById>(id, key)?;
        }
        new_addrs.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (key, id) in &new_addrs {
            w.create::<AddrIdByKey>(key, id)?;
        }
        history.sort_unstable_by_key(|(key, _)| *key);
        for (key, row) in &history {
            w.create::<History>(key, row)?;
        }
        touched.sort_unstable_by_key(|(id, _)| *id);
        let mut new_summaries: Vec<(AddressId, SummaryRow)> = Vec::with_capacity(touched.len());
        for (id, delta) in &touched {
            let old = old_of.get(id);
            let base = old.copied().unwrap_or(SummaryRow {
                balance: Sats(0),
                received: Sats(0),
                sent: Sats(0),
                tx_count: 0,
                first_seen: height,
                last_seen: height,
            });
            let corrupt =
                || IndexError::Corrupt(format!("the summary of address id {id} overflows at height {height}"));
            let received = base.received.0.checked_add(delta.received).ok_or_else(corrupt)?;
            let sent = base.sent.0.checked_add(delta.sent).ok_or_else(corrupt)?;
            let row = SummaryRow {
                balance: Sats(received.checked_sub(sent).ok_or_else(corrupt)?),
                received: Sats(received),
                sent: Sats(sent),
                tx_count: base.tx_count + delta.txs,
                first_seen: base.first_seen,
                last_seen: height,
            };
            w.change::<Summaries>(id, &row, old)?;
            new_summaries.push((*id, row));
        }
        let counter = |value: u64| value.to_be_bytes().to_vec();
        let next_tx = first_tx + u64::from(tx_count);
        let old_next_tx = (state.tip.is_some()).then(|| counter(state.next_tx));
        w.change::<Meta>(&NEXT_TX_KEY.to_owned(), &counter(next_tx), old_next_tx.as_ref())?;
        if next_addr != state.next_addr {
            let old_next_addr = (state.next_addr > 0).then(|| counter(state.next_addr));
            w.change::<Meta>(&NEXT_ADDR_KEY.to_owned(), &counter(next_addr), old_next_addr.as_ref())?;
        }
        let mut batch = w.batch;
        batch.set_tip(block_ref, state.tip)?;
        if undo.keep {
            batch.keep_undo(height, undo.prune)?;
        } else if let Some(prune) = undo.prune {
            batch.delete::<Undo>(&prune.get())?;
        }
        self.store.write(batch)?;

        // Written: the caches follow the store.
        self.state = Some(State { tip: Some(block_ref), next_tx, next_addr });
        for addr in &addrs {
            if let Some(id) = addr.id {
                self.addresses.insert(addr.key, id);
            }
        }
        for (id, row) in new_summaries {
            self.summaries.insert(id, row);
        }
        for entry in spent.iter().filter(|e| e.in_block.is_none()) {
            self.coins.remove(&OutPoint { txid: entry.prev_txid, vout: entry.vout });
        }
        for (pos, txid) in (0u32..).zip(&txids) {
            let tx_num = TxNum(first_tx + u64::from(pos));
            let range = out_start[pos as usize]..out_start[pos as usize + 1];
            for (vout, index) in (0u32..).zip(range) {
                // Spent or OP_RETURN outputs will not be looked up as coins.
                if let (Some(slot), None) = (outs[index].0, out_spent[index]) {
                    let row = OutputRow { address: Some(id_of_slot(slot)), value: Sats(outs[index].1), spent_by: None };
                    self.coins.insert(OutPoint { txid: *txid, vout }, (tx_num, row));
                }
            }
        }
        Ok(())
    }
}

impl Indexer for BtcIndexer {
    type Block = BtcBlock;
    type Error = IndexError;

    fn tip(&self) -> Result<Option<BlockRef>, IndexError> {
        Ok(self.store.tip()?)
    }

    fn hash_at(&self, height: Height) -> Result<Option<chainsleuth_core::BlockHash>, IndexError> {
        Ok(self.store.get::<BlockByHeight>(&height)?.map(|row| chainsleuth_core::BlockHash(row.hash)))
    }

    fn execute(&mut self, block: &BtcBlock, undo: UndoPolicy) -> Result<(), IndexError> {
        let result = self.index_block(block, undo);
        if result.is_err() {
            // Nothing was written; reload the counters before the next block.
            self.state = None;
        }
        result
    }

    fn unwind(&mut self, height: Height) -> Result<bool, IndexError> {
        // The unwound block's ids, totals and coins are taken back: forget them.
        self.state = None;
        self.clear_caches();
        Ok(self.store.unwind_block(height)?)
    }

    fn set_bulk(&mut self, on: bool) -> Result<(), IndexError> {
        Ok(self.store.set_bulk(on)?)
    }

    fn flush(&mut self) -> Result<(), IndexError> {
        Ok(self.store.flush()?)
    }
}
