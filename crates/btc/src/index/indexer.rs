//! [`BtcIndexer`]: one block in, one atomic batch out.
//!
//! For each block the indexer first works out a [`Plan`]: the address of
//! every output, what every input spends and the history rows and totals
//! that follow, reading what the caches lack with a few `multi_get`s (spent
//! outputs: txids to tx numbers, then the rows; unknown addresses; the
//! totals of addresses seen before; the block's txid prefixes). Building the
//! plan checks the block; only then is the batch
//! built (block and transaction rows with their inputs, outputs, spent-by
//! links, new addresses, history rows and each address's new totals, the id
//! counters and the tip, and the clustering of the block buried
//! [`ClusterOptions::depth`] below it, see [`super::cluster`]) and written. A
//! fault found on the way leaves the store untouched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Network, OutPoint, Transaction, Txid};
use chainsleuth_core::{AddressId, BlockRef, Height, Sats, TxNum};
use chainsleuth_store::{Batch, Meta, OpenMode, Store, StoreConfig, Undo};
use chainsleuth_sync::{Indexer, UndoPolicy};
use rustc_hash::FxHashMap;

use super::cache::GenCache;
use super::cluster::{cluster_through, clustered_height, Candidate, ClusterOptions};
use super::error::{BlockFault, IndexError};
use super::script::AddrKey;
use super::tables::{
    addr_id_rows, addr_ids_of, tx_nums_of, AddrHash, AddrIdByKey, AddrIds, AddrKeyById, AddrTotals, BlockByHeight,
    BlockRow, HeightByHash, History, HistoryRow, OutputRow, Outputs, Spend, Totals, TxByNum, TxNumByTxid, TxNums,
    TxRow, TxidPrefix, NETWORK_KEY, NEXT_ADDR_KEY, NEXT_TX_KEY, SCAN_ONLY, SCHEMA,
};
use crate::{to_core_hash, BtcBlock};

/// Entries per generation of each in-memory cache (address ids, addresses'
/// totals, unspent outputs) for [`BtcIndexer::new`]; each cache holds at
/// most twice as many, about 230 MB in all at this default.
/// [`BtcIndexer::open`] sizes them from its memory bound instead.
pub const DEFAULT_CACHE_CAPACITY: usize = 1 << 19;

/// The memory bound of [`BtcIndexer::open`]: 4 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

/// Bytes of memory per unit of cache capacity: two generations of three
/// caches, each entry with its hash table overhead.
const CACHE_BYTES_PER_UNIT: u64 = 450;

/// The cache capacity (entries per generation) that keeps the indexer's
/// caches within a quarter of `memory_limit`; see [`BtcIndexer::open_within`].
pub fn cache_capacity_within(memory_limit: u64) -> usize {
    usize::try_from(memory_limit / 4 / CACHE_BYTES_PER_UNIT).unwrap_or(usize::MAX).max(1 << 10)
}

/// The deepest clustering for which the indexer holds the clustering
/// candidates of the blocks waiting to be clustered in memory; deeper, it
/// reads them back from the store.
const MAX_HELD_DEPTH: u64 = 144;

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

/// What the indexer keeps in memory between blocks: the tip, the next ids
/// and the last block clustered.
#[derive(Debug, Clone, Copy)]
struct State {
    tip: Option<BlockRef>,
    next_tx: u64,
    next_addr: u64,
    clustered: Option<Height>,
}

/// The Bitcoin indexer: writes each block's rows into the `btc` store and
/// unwinds them on reorgs. See the crate's `SCHEMA.md` for the tables.
///
/// It keeps bounded caches of what the store holds (address ids, each
/// address's totals, recent unspent outputs), filled only
/// after a block's batch is written and dropped whole on unwind, so they
/// never disagree with the store. (A coin leaves its cache when an input
/// spends it, before the write: should the block fail, the coin is read
/// back from the store.)
///
/// Each block's batch also clusters the block [`ClusterOptions::depth`]
/// below it by the multi-input rule (see the crate's `SCHEMA.md`).
#[derive(Debug)]
pub struct BtcIndexer {
    store: Arc<Store>,
    state: Option<State>,
    clustering: ClusterOptions,
    /// The clustering candidates of the blocks not yet clustered, as their
    /// plans gave them (written blocks only; dropped on unwind).
    recent: BTreeMap<Height, Vec<Candidate>>,
    addresses: GenCache<AddrKey, AddressId>,
    totals: GenCache<AddressId, AddrTotals>,
    coins: GenCache<OutPoint, (TxNum, OutputRow)>,
}

/// One distinct address of a block.
struct BlockAddress {
    key: AddrKey,
    id: Option<AddressId>,
    /// Whether the id came from the cache (which then holds it already).
    cached: bool,
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

impl BtcIndexer {
    /// Opens (creating if needed) the Bitcoin store under `data_dir` for
    /// indexing `network`.
    ///
    /// # Errors
    /// [`IndexError::Store`] when the store cannot be opened (another writer
    /// holds it, another layout), [`IndexError::NetworkMismatch`].
    pub fn open(data_dir: &Path, network: Network) -> Result<BtcIndexer, IndexError> {
        BtcIndexer::open_within(data_dir, network, DEFAULT_MEMORY_LIMIT)
    }

    /// [`BtcIndexer::open`] within a memory bound of `memory_limit` bytes,
    /// split as follows: 3/8 to RocksDB (its block cache, with the
    /// memtables, 1/8, charged to it: [`StoreConfig::within`]), 1/4 to the
    /// indexer's caches ([`cache_capacity_within`]), and 3/8 left for the
    /// blocks in flight, the batch being built and the allocator. Peak
    /// memory stays under the bound at any store size: every part is sized
    /// from it, none from the data.
    ///
    /// # Errors
    /// As [`BtcIndexer::open`].
    pub fn open_within(data_dir: &Path, network: Network, memory_limit: u64) -> Result<BtcIndexer, IndexError> {
        let path = store_path(data_dir);
        std::fs::create_dir_all(&path)
            .map_err(|source| IndexError::Io { what: format!("creating {}", path.display()), source })?;
        let config = StoreConfig::within(memory_limit, SCAN_ONLY);
        let store = Store::open_with(&path, &SCHEMA, OpenMode::ReadWrite, &config)?;
        Ok(BtcIndexer::new(Arc::new(store), network)?.with_cache_capacity(cache_capacity_within(memory_limit)))
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
            clustering: ClusterOptions::default(),
            recent: BTreeMap::new(),
            addresses: GenCache::new(DEFAULT_CACHE_CAPACITY),
            totals: GenCache::new(DEFAULT_CACHE_CAPACITY),
            coins: GenCache::new(DEFAULT_CACHE_CAPACITY),
        })
    }

    /// Sets how many entries each generation of each cache holds; memory
    /// grows by about 450 bytes per unit (two generations of three caches).
    pub fn with_cache_capacity(mut self, capacity: usize) -> BtcIndexer {
        self.addresses = GenCache::new(capacity);
        self.totals = GenCache::new(capacity);
        self.coins = GenCache::new(capacity);
        self
    }

    /// Sets how deep a block must be before it is clustered, and the guard
    /// size above which clusters are not merged. A store indexed with one
    /// depth can be resumed with another: the next block clusters every
    /// block up to its new depth, or none until it gets there.
    pub fn with_clustering(mut self, clustering: ClusterOptions) -> BtcIndexer {
        self.clustering = clustering;
        self
    }

    fn clear_caches(&mut self) {
        self.recent.clear();
        self.addresses.clear();
        self.totals.clear();
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
            clustered: clustered_height(&self.store)?,
        };
        self.state = Some(state);
        Ok(state)
    }

    /// Indexes one block: works out and checks everything first ([`Plan`]),
    /// then writes one batch, then updates the caches.
    fn index_block(&mut self, block: &BtcBlock, undo: UndoPolicy) -> Result<(), IndexError> {
        let state = self.state()?;
        let b = &block.block;
        let mut plan = Plan::new(block, state.next_tx)?;
        plan.check_position(state.tip)?;
        if self.store.get::<HeightByHash>(&plan.hash.to_byte_array())?.is_some() {
            return Err(plan.fault(BlockFault::Duplicate));
        }
        self.resolve_outputs(&mut plan, &b.txdata, state.next_addr)?;
        self.resolve_inputs(&mut plan, &b.txdata)?;
        self.resolve_prefixes(&mut plan)?;
        plan.link_spends()?;
        plan.account()?;
        let old_totals = self.old_totals(&plan, state.next_addr)?;
        let Built { batch, totals, clustered } = self.build_batch(&plan, &b.header, &old_totals, state, undo)?;
        self.store.write(batch)?;

        // Written: the caches follow the store.
        let next_tx = plan.first_tx + u64::from(plan.tx_count);
        self.state = Some(State { tip: Some(plan.block_ref()), next_tx, next_addr: plan.next_addr, clustered });
        for addr in plan.addrs.iter().filter(|addr| !addr.cached) {
            if let Some(id) = addr.id {
                self.addresses.insert(addr.key, id);
            }
        }
        for (id, row) in totals {
            self.totals.insert(id, row);
        }
        if self.clustering.depth <= MAX_HELD_DEPTH {
            self.recent.insert(plan.height, plan.candidates());
        }
        if let Some(clustered) = clustered {
            self.recent = self.recent.split_off(&clustered.next());
        }
        // The coins the block spent left the cache as they were looked up.
        for (pos, txid) in (0u32..).zip(&plan.txids) {
            let tx_num = plan.tx_num(pos);
            for (vout, index) in (0u32..).zip(plan.outputs_of(pos)) {
                // Spent or OP_RETURN outputs will not be looked up as coins.
                if let (Some(slot), None) = (plan.outs[index].0, plan.out_spent[index]) {
                    let row =
                        OutputRow { address: Some(plan.id_of(slot)), value: Sats(plan.outs[index].1), spent_by: None };
                    self.coins.insert(OutPoint { txid: *txid, vout }, (tx_num, row));
                }
            }
        }
        Ok(())
    }

    /// The address of every output, and ids for the block's addresses: from
    /// the cache, the store ([`addr_ids_of`]), or new ones in order of first
    /// appearance.
    fn resolve_outputs(&mut self, plan: &mut Plan, txs: &[Transaction], next_addr: u64) -> Result<(), IndexError> {
        let mut addr_slot: FxHashMap<AddrKey, u32> = FxHashMap::default();
        addr_slot.reserve(txs.len() * 2);
        let mut lookups: Vec<u32> = Vec::new();
        for tx in txs {
            plan.out_start.push(plan.outs.len());
            for out in &tx.output {
                // OP_RETURN outputs are recorded but pay no address.
                let slot = AddrKey::of_script(out.script_pubkey.as_bytes()).map(|key| {
                    *addr_slot.entry(key).or_insert_with(|| {
                        let slot = plan.addrs.len() as u32;
                        let id = self.addresses.get(&key);
                        if id.is_none() {
                            lookups.push(slot);
                        }
                        plan.addrs.push(BlockAddress { key, id, cached: id.is_some() });
                        slot
                    })
                });
                plan.outs.push((slot, out.value.to_sat()));
            }
        }
        plan.out_start.push(plan.outs.len());
        plan.out_spent = vec![None; plan.outs.len()];
        if !lookups.is_empty() {
            let keys: Vec<AddrKey> = lookups.iter().map(|slot| plan.addrs[*slot as usize].key).collect();
            let found = addr_ids_of(&self.store, &keys)?;
            for (slot, id) in lookups.iter().zip(found.ids) {
                plan.addrs[*slot as usize].id = id;
            }
            plan.collided = found.collided;
        }
        plan.next_addr = next_addr;
        for addr in &mut plan.addrs {
            if addr.id.is_none() {
                let id = AddressId(plan.next_addr);
                plan.next_addr += 1;
                addr.id = Some(id);
                plan.new_addrs.push((addr.key, id));
            }
        }
        Ok(())
    }

    /// What every input spends: an output of an earlier transaction of this
    /// block, a cached coin, or a row read from the store (two `multi_get`s:
    /// txids to tx numbers, then the outputs). The coinbase spends nothing.
    fn resolve_inputs(&mut self, plan: &mut Plan, txs: &[Transaction]) -> Result<(), IndexError> {
        let mut position_of: FxHashMap<Txid, u32> = FxHashMap::default();
        position_of.reserve(txs.len());
        for (pos, txid) in (0u32..).zip(&plan.txids) {
            if position_of.insert(*txid, pos).is_some() {
                return Err(plan.fault(BlockFault::DuplicateTxid { txid: *txid }));
            }
        }
        let mut external: Vec<usize> = Vec::new();
        let mut external_txids: Vec<[u8; 32]> = Vec::new();
        let mut external_slot: FxHashMap<Txid, u32> = FxHashMap::default();
        for (pos, tx) in (0u32..).zip(txs).skip(1) {
            for (vin, input) in (0u32..).zip(&tx.input) {
                let (prev_txid, vout) = (input.previous_output.txid, input.previous_output.vout);
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
                if let Some(&prev_pos) = position_of.get(&prev_txid) {
                    let index = plan.out_start[prev_pos as usize] + vout as usize;
                    if prev_pos >= pos || index >= plan.out_start[prev_pos as usize + 1] {
                        return Err(plan.fault(entry.unknown(&plan.txids)));
                    }
                    let (slot, value) = plan.outs[index];
                    entry.prev_tx = plan.tx_num(prev_pos);
                    entry.prev = OutputRow { address: slot.map(|s| plan.id_of(s)), value: Sats(value), spent_by: None };
                    entry.in_block = Some(index);
                } else if let Some((prev_tx, prev)) = self.coins.remove(&input.previous_output) {
                    // Spent now: it leaves the cache (a double spend later in
                    // the block reads the store and is caught by `link_spends`).
                    entry.prev_tx = prev_tx;
                    entry.prev = prev;
                } else {
                    let next = external_txids.len() as u32;
                    entry.lookup = *external_slot.entry(prev_txid).or_insert(next);
                    if entry.lookup == next {
                        external_txids.push(prev_txid.to_byte_array());
                    }
                    external.push(plan.spent.len());
                }
                plan.spent.push(entry);
            }
        }
        if external.is_empty() {
            return Ok(());
        }
        let nums = tx_nums_of(&self.store, &external_txids)?;
        let mut keys: Vec<(TxNum, u32)> = Vec::with_capacity(external.len());
        for &i in &external {
            let entry = &mut plan.spent[i];
            let Some(num) = nums[entry.lookup as usize] else {
                return Err(plan.fault(plan.spent[i].unknown(&plan.txids)));
            };
            entry.prev_tx = num;
            keys.push((num, entry.vout));
        }
        for (&i, row) in external.iter().zip(self.store.multi_get::<Outputs>(&keys)?) {
            match row {
                None => return Err(plan.fault(plan.spent[i].unknown(&plan.txids))),
                Some(row) if row.spent_by.is_some() => return Err(plan.fault(plan.spent[i].double(&plan.txids))),
                Some(row) => plan.spent[i].prev = row,
            }
        }
        Ok(())
    }

    /// The block's txid prefixes and what `btc_txid` holds under them (one
    /// `multi_get`, nearly always all misses that the bloom filters answer).
    fn resolve_prefixes(&self, plan: &mut Plan) -> Result<(), IndexError> {
        let mut by_prefix: Vec<(TxidPrefix, TxNum)> = (0u32..)
            .zip(&plan.txids)
            .map(|(pos, txid)| (TxidPrefix::of(&txid.to_byte_array()), plan.tx_num(pos)))
            .collect();
        by_prefix.sort_unstable();
        let mut grouped: Vec<(TxidPrefix, Option<TxNums>, Vec<TxNum>)> = Vec::with_capacity(by_prefix.len());
        for (prefix, num) in by_prefix {
            match grouped.last_mut() {
                Some((last, _, nums)) if *last == prefix => nums.push(num),
                _ => grouped.push((prefix, None, vec![num])),
            }
        }
        let keys: Vec<TxidPrefix> = grouped.iter().map(|(prefix, _, _)| *prefix).collect();
        for (entry, old) in grouped.iter_mut().zip(self.store.multi_get::<TxNumByTxid>(&keys)?) {
            entry.1 = old;
        }
        plan.by_prefix = grouped;
        Ok(())
    }

    /// The totals, before this block, of the addresses it touches that
    /// existed already: from the cache, else from `btc_addr_total` (one
    /// `multi_get` for all).
    fn old_totals(&mut self, plan: &Plan, next_addr: u64) -> Result<FxHashMap<AddressId, AddrTotals>, IndexError> {
        let mut old_of: FxHashMap<AddressId, AddrTotals> = FxHashMap::default();
        old_of.reserve(plan.history.len());
        let mut unknown: Vec<AddressId> = Vec::new();
        let mut last = None;
        // History keys are sorted: each address's rows are together.
        for id in plan.history.iter().map(|((id, _), _)| *id) {
            if last == Some(id) || id.0 >= next_addr {
                continue;
            }
            last = Some(id);
            match self.totals.get(&id) {
                Some(row) => {
                    old_of.insert(id, row);
                }
                None => unknown.push(id),
            }
        }
        for (id, found) in unknown.iter().zip(self.store.multi_get::<Totals>(&unknown)?) {
            let row = found.ok_or_else(|| IndexError::Corrupt(format!("address id {id} has no totals")))?;
            old_of.insert(*id, row);
        }
        Ok(old_of)
    }

    /// The block's batch, each touched address's new running totals and the
    /// height clustered through. Each table's rows go
    /// in in key order, which lets RocksDB insert each next key into its
    /// memtable from where the previous one went instead of from the top.
    fn build_batch(
        &self,
        plan: &Plan,
        header: &bitcoin::block::Header,
        old_totals: &FxHashMap<AddressId, AddrTotals>,
        state: State,
        undo: UndoPolicy,
    ) -> Result<Built<'_>, IndexError> {
        let (height, first_tx) = (plan.height, TxNum(plan.first_tx));
        let block_ref = plan.block_ref();
        let mut w = self.store.batch_tracking(undo.keep);
        let mut header_bytes = [0u8; 80];
        header_bytes.copy_from_slice(&bitcoin::consensus::serialize(header));
        let row = BlockRow { hash: block_ref.hash.0, header: header_bytes, tx_count: plan.tx_count, first_tx };
        w.insert::<BlockByHeight>(&height, &row)?;
        w.insert::<HeightByHash>(&block_ref.hash.0, &height)?;

        // Each txid prefix's list gains the block's transactions; a prefix
        // seen before (a 64-bit collision, or one of the two early coinbases
        // that repeat older txids, BIP30) keeps its older numbers.
        for (prefix, old, nums) in &plan.by_prefix {
            let mut all = old.clone().unwrap_or(TxNums(Vec::new()));
            all.0.extend_from_slice(nums);
            w.update::<TxNumByTxid>(prefix, &all, old.as_ref())?;
        }

        let mut inputs = plan.spent.iter().peekable();
        for (pos, txid) in (0u32..).zip(&plan.txids) {
            let tx_num = plan.tx_num(pos);
            let mut spends = Vec::new();
            while let Some(entry) = inputs.next_if(|entry| entry.tx_pos == pos) {
                spends.push(Spend { tx: entry.prev_tx, index: entry.vout });
            }
            w.insert::<TxByNum>(&tx_num, &TxRow { txid: txid.to_byte_array(), height, position: pos, spends })?;
            for (vout, index) in (0u32..).zip(plan.outputs_of(pos)) {
                let (slot, value) = plan.outs[index];
                let row = OutputRow {
                    address: slot.map(|s| plan.id_of(s)),
                    value: Sats(value),
                    spent_by: plan.out_spent[index],
                };
                w.insert::<Outputs>(&(tx_num, vout), &row)?;
            }
        }
        let mut earlier: Vec<&SpentInput> = plan.spent.iter().filter(|entry| entry.in_block.is_none()).collect();
        earlier.sort_unstable_by_key(|entry| (entry.prev_tx, entry.vout));
        for entry in earlier {
            let spender = Spend { tx: plan.tx_num(entry.tx_pos), index: entry.vin };
            let row = OutputRow { spent_by: Some(spender), ..entry.prev };
            w.update::<Outputs>(&(entry.prev_tx, entry.vout), &row, Some(&entry.prev))?;
        }

        for (key, id) in &plan.new_addrs {
            w.insert::<AddrKeyById>(id, key)?;
        }
        for (hash, old, ids) in addr_id_rows(&plan.new_addrs, &plan.collided) {
            w.update::<AddrIdByKey>(&hash, &ids, old)?;
        }
        // Each address's rows in chain order, and its totals after the
        // block, from its totals before it (or nothing, for a new address).
        let mut totals: Vec<(AddressId, AddrTotals)> = Vec::new();
        let mut rows = plan.history.iter().peekable();
        while let Some(&&((id, _), _)) = rows.peek() {
            let corrupt = || IndexError::Corrupt(format!("the totals of address id {id} overflow at height {height}"));
            let mut running = old_totals.get(&id).copied().unwrap_or(AddrTotals::empty(height));
            while let Some(((_, tx), (received, sent))) = rows.next_if(|((next, _), _)| *next == id) {
                running.received = Sats(running.received.0.checked_add(*received).ok_or_else(corrupt)?);
                running.sent = Sats(running.sent.0.checked_add(*sent).ok_or_else(corrupt)?);
                running.tx_count += 1;
                running.balance().map_err(|_| corrupt())?;
                w.insert::<History>(&(id, *tx), &HistoryRow { received: Sats(*received), sent: Sats(*sent) })?;
            }
            totals.push((id, running));
        }
        for (id, running) in &totals {
            w.update::<Totals>(id, running, old_totals.get(id))?;
        }

        let clustered = cluster_through(&self.store, &mut w, height, state.clustered, self.clustering, &self.recent)?;

        let counter = |value: u64| value.to_be_bytes().to_vec();
        let next_tx = plan.first_tx + u64::from(plan.tx_count);
        let old_next_tx = state.tip.is_some().then(|| counter(state.next_tx));
        w.update::<Meta>(&NEXT_TX_KEY.to_owned(), &counter(next_tx), old_next_tx.as_ref())?;
        if plan.next_addr != state.next_addr {
            let old_next_addr = (state.next_addr > 0).then(|| counter(state.next_addr));
            w.update::<Meta>(&NEXT_ADDR_KEY.to_owned(), &counter(plan.next_addr), old_next_addr.as_ref())?;
        }
        let mut batch = w;
        batch.set_tip(block_ref, state.tip)?;
        if undo.keep {
            batch.keep_undo(height, undo.prune)?;
        } else if let Some(prune) = undo.prune {
            batch.delete::<Undo>(&prune.get())?;
        }
        Ok(Built { batch, totals, clustered })
    }
}

/// A block's batch, ready to write, and what the indexer keeps once it is.
struct Built<'s> {
    batch: Batch<'s>,
    /// Each touched address's new totals.
    totals: Vec<(AddressId, AddrTotals)>,
    /// The height clustered through.
    clustered: Option<Height>,
}

/// A block worked out before anything is written: its transactions, each
/// output's address, what each input spends, the history rows and the
/// per-address totals. Building it checks the block; a fault leaves no trace.
struct Plan {
    height: Height,
    hash: BlockHash,
    parent: BlockHash,
    tx_count: u32,
    /// The tx number of the coinbase.
    first_tx: u64,
    txids: Vec<Txid>,
    /// Index into `outs` of each transaction's first output, and one past the last.
    out_start: Vec<usize>,
    /// Every output: the slot of its address in `addrs` (none for OP_RETURN), and its value.
    outs: Vec<(Option<u32>, u64)>,
    /// The spender of each output, when spent in this block.
    out_spent: Vec<Option<Spend>>,
    /// The block's distinct addresses, in order of first appearance.
    addrs: Vec<BlockAddress>,
    /// Addresses seen for the first time, with their new ids.
    new_addrs: Vec<(AddrKey, AddressId)>,
    /// The `btc_addr_id` lists under the hashes of the new addresses, when
    /// older addresses share them (nearly always none).
    collided: Vec<(AddrHash, AddrIds)>,
    /// The address id counter after this block.
    next_addr: u64,
    /// Every non-coinbase input, in block order.
    spent: Vec<SpentInput>,
    /// What each transaction paid each of its addresses and took from it
    /// (received, sent), by history key, in key order.
    history: Vec<((AddressId, TxNum), (u64, u64))>,
    /// The block's txid prefixes in key order, each with the numbers it held
    /// before the block (nearly always none) and the block's numbers.
    by_prefix: Vec<(TxidPrefix, Option<TxNums>, Vec<TxNum>)>,
}

impl Plan {
    fn new(block: &BtcBlock, first_tx: u64) -> Result<Plan, IndexError> {
        let b = &block.block;
        let txs = &b.txdata;
        let tx_count = u32::try_from(txs.len()).map_err(|_| IndexError::Corrupt("a block of 2^32 txs".into()))?;
        Ok(Plan {
            height: block.height,
            hash: b.block_hash(),
            parent: b.header.prev_blockhash,
            tx_count,
            first_tx,
            // Computed by `BtcBlock::new` already; recomputed only for a
            // block built by hand whose txid list does not fit.
            txids: if block.txids.len() == txs.len() {
                block.txids.clone()
            } else {
                txs.iter().map(Transaction::compute_txid).collect()
            },
            out_start: Vec::with_capacity(txs.len() + 1),
            outs: Vec::with_capacity(txs.len() * 3),
            out_spent: Vec::new(),
            addrs: Vec::with_capacity(txs.len() * 2),
            new_addrs: Vec::new(),
            collided: Vec::new(),
            next_addr: 0,
            spent: Vec::with_capacity(txs.len() * 2),
            history: Vec::with_capacity(txs.len() * 4),
            by_prefix: Vec::new(),
        })
    }

    /// The block's transactions that spend from two or more addresses, as
    /// clustering reads them.
    fn candidates(&self) -> Vec<Candidate> {
        let mut candidates = Vec::new();
        let mut spent = self.spent.iter().peekable();
        for pos in 1..self.tx_count {
            let mut inputs = Vec::new();
            while let Some(entry) = spent.next_if(|entry| entry.tx_pos == pos) {
                inputs.push((entry.prev.address, entry.prev.value));
            }
            let outputs = || self.outs[self.outputs_of(pos)].iter().map(|&(_, value)| Sats(value)).collect();
            candidates.extend(Candidate::of(self.tx_num(pos), inputs.into_iter(), outputs));
        }
        candidates
    }

    fn fault(&self, fault: BlockFault) -> IndexError {
        IndexError::Malformed { height: self.height, hash: self.hash, fault }
    }

    fn block_ref(&self) -> BlockRef {
        BlockRef { height: self.height, hash: to_core_hash(self.hash) }
    }

    fn tx_num(&self, pos: u32) -> TxNum {
        TxNum(self.first_tx + u64::from(pos))
    }

    fn outputs_of(&self, pos: u32) -> std::ops::Range<usize> {
        self.out_start[pos as usize]..self.out_start[pos as usize + 1]
    }

    fn id_of(&self, slot: u32) -> AddressId {
        self.addrs[slot as usize].id.expect("resolve_outputs gives every block address an id")
    }

    /// Checks that the block extends `tip` and holds transactions.
    fn check_position(&self, tip: Option<BlockRef>) -> Result<(), IndexError> {
        let expected = tip.map_or(Height::GENESIS, |tip| tip.height.next());
        if self.height != expected {
            return Err(self.fault(BlockFault::WrongHeight { expected }));
        }
        if let Some(tip) = tip {
            let parent = self.parent;
            if to_core_hash(parent) != tip.hash {
                let tip = BlockHash::from_byte_array(tip.hash.0);
                return Err(self.fault(BlockFault::NotOnTip { parent, tip }));
            }
        }
        if self.tx_count == 0 {
            return Err(self.fault(BlockFault::Empty));
        }
        Ok(())
    }

    /// Records the spender of every output spent; an output spent twice is a double spend.
    fn link_spends(&mut self) -> Result<(), IndexError> {
        let mut earlier_spent: FxHashMap<(TxNum, u32), ()> = FxHashMap::default();
        for entry in &self.spent {
            let spender = Spend { tx: self.tx_num(entry.tx_pos), index: entry.vin };
            let twice = match entry.in_block {
                Some(index) => self.out_spent[index].replace(spender).is_some(),
                None => earlier_spent.insert((entry.prev_tx, entry.vout), ()).is_some(),
            };
            if twice {
                return Err(self.fault(entry.double(&self.txids)));
            }
        }
        Ok(())
    }

    /// What each transaction pays each address and takes from it; checks
    /// that amounts add up.
    fn account(&mut self) -> Result<(), IndexError> {
        let mut legs: Vec<(AddressId, u64, u64)> = Vec::new();
        let mut next_input = 0usize;
        let (height, hash) = (self.height, self.hash);
        for pos in 0..self.tx_count {
            let txid = self.txids[pos as usize];
            let value_fault = |what| IndexError::Malformed { height, hash, fault: BlockFault::Value { txid, what } };
            legs.clear();
            let mut total_out = 0u64;
            for &(slot, value) in &self.outs[self.outputs_of(pos)] {
                total_out = total_out.checked_add(value).ok_or_else(|| value_fault("output values overflow"))?;
                if let Some(slot) = slot {
                    legs.push((self.id_of(slot), value, 0));
                }
            }
            let mut total_in = 0u64;
            while next_input < self.spent.len() && self.spent[next_input].tx_pos == pos {
                let prev = &self.spent[next_input].prev;
                total_in = total_in.checked_add(prev.value.0).ok_or_else(|| value_fault("input values overflow"))?;
                if let Some(address) = prev.address {
                    legs.push((address, 0, prev.value.0));
                }
                next_input += 1;
            }
            if pos > 0 && total_out > total_in {
                return Err(value_fault("outputs exceed inputs"));
            }
            legs.sort_unstable_by_key(|leg| leg.0);
            let mut i = 0;
            while i < legs.len() {
                let address = legs[i].0;
                let (mut received, mut sent) = (0u64, 0u64);
                while i < legs.len() && legs[i].0 == address {
                    received = received.checked_add(legs[i].1).ok_or_else(|| value_fault("received overflows"))?;
                    sent = sent.checked_add(legs[i].2).ok_or_else(|| value_fault("sent overflows"))?;
                    i += 1;
                }
                self.history.push(((address, self.tx_num(pos)), (received, sent)));
            }
        }
        self.history.sort_unstable_by_key(|(key, _)| *key);
        Ok(())
    }
}

impl SpentInput {
    fn unknown(&self, txids: &[Txid]) -> BlockFault {
        let txid = txids[self.tx_pos as usize];
        BlockFault::UnknownOutput { txid, vin: self.vin, prev_txid: self.prev_txid, vout: self.vout }
    }

    fn double(&self, txids: &[Txid]) -> BlockFault {
        let txid = txids[self.tx_pos as usize];
        BlockFault::DoubleSpend { txid, vin: self.vin, prev_txid: self.prev_txid, vout: self.vout }
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

    fn checkpoint(&mut self) -> Result<(), IndexError> {
        Ok(self.store.checkpoint()?)
    }
}
