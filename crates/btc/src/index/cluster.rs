//! Multi-input clustering, kept by the indexer: all distinct input
//! addresses of a transaction share an owner (Nakamoto's white paper,
//! section 10; Meiklejohn et al., "A Fistful of Bitcoins", IMC 2013),
//! except in transactions shaped like CoinJoins (see [`super::coinjoin`]),
//! whose inputs belong to several owners on purpose.
//!
//! When [`BtcIndexer`](super::BtcIndexer) writes block `h` it also clusters
//! block `h - depth` (after the depth is made shallower, up to 64 of the
//! blocks not yet clustered up to there), taking that block's multi-address transactions from
//! memory (the indexer keeps them from writing the block) or, after a
//! restart or an unwind, reading them back from the store, and puts the
//! changes into block `h`'s batch with undo entries like every
//! other row. A reorg shallower than the depth unwinds and re-clusters the
//! same, buried block, leaving the clusters as they were; a deeper one
//! unwinds them with the blocks that clustered them. The tables are in the
//! crate's `SCHEMA.md`:
//!
//! - a cluster's id is the address id of its first member: the keeper of a
//!   merge is the larger cluster (on a tie, the smaller id), every member of
//!   the other is re-pointed (small to large, so an address moves at most
//!   `log2(n)` times) and the other's id stays listed as an alias; since it
//!   is the id of one of the members, it still resolves;
//! - an address in no cluster has no rows: it is its own cluster of one;
//! - a transaction that would merge two clusters each larger than the guard
//!   size is flagged and merges nothing (one wrong link between two large
//!   entities, say an exchange and a payment processor, would otherwise
//!   merge them), as is every CoinJoin.
//!
//! This is not change-address clustering, which guesses far more often.

use std::collections::BTreeMap;

use chainsleuth_core::{AddressId, ClusterId, Height, Sats, TxNum};
use chainsleuth_store::{Batch, Codec, Direction, Meta, Store, Table};

use super::coinjoin::{self, TxShape};
use super::error::IndexError;
use super::tables::{
    BlockByHeight, ClusterAlias, ClusterFlag, ClusterFlags, ClusterLink, ClusterMembers, ClusterOf, ClusterSize,
    Outputs, TxByNum, CLUSTERED_KEY,
};

/// Blocks a block waits below the tip before it is clustered, by default.
pub const DEFAULT_CLUSTER_DEPTH: u64 = 6;
/// The size above which two clusters are not merged, by default.
pub const DEFAULT_GUARD_SIZE: u64 = 10_000;

/// How the indexer clusters addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Block `h` clusters block `h - depth` (at least 1: a block's own rows
    /// are not in the store while its batch is built). Reorgs shallower
    /// than this leave the clusters untouched.
    pub depth: u64,
    /// A transaction that would merge two clusters each larger than this is
    /// flagged and not merged.
    pub guard_size: u64,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { depth: DEFAULT_CLUSTER_DEPTH, guard_size: DEFAULT_GUARD_SIZE }
    }
}

/// The height of the last block clustered, if any.
///
/// # Errors
/// [`IndexError::Corrupt`] for a malformed counter; store errors.
pub fn clustered_height(store: &Store) -> Result<Option<Height>, IndexError> {
    Ok(super::indexer::read_counter(store, CLUSTERED_KEY)?.map(Height::new))
}

/// The most blocks one batch clusters: after the depth is made shallower,
/// the blocks waiting are clustered this many per new block, so one batch
/// never holds a long stretch of the chain.
const MAX_BLOCKS_PER_PASS: u64 = 64;

/// Clusters the blocks from the one after `clustered` up to `tip - depth`
/// (at most [`MAX_BLOCKS_PER_PASS`]) into `w`, and records how far it got.
/// Returns the new clustered height.
/// `recent` holds the candidates of recent blocks the indexer still has in
/// memory; other blocks are read from the store.
///
/// # Errors
/// [`IndexError::Corrupt`] when a block's rows are missing; store errors.
pub(super) fn cluster_through(
    store: &Store,
    w: &mut Batch<'_>,
    tip: Height,
    clustered: Option<Height>,
    opts: ClusterOptions,
    recent: &BTreeMap<Height, Vec<Candidate>>,
) -> Result<Option<Height>, IndexError> {
    let Some(target) = tip.get().checked_sub(opts.depth.max(1)) else { return Ok(clustered) };
    let first = clustered.map_or(Height::GENESIS, Height::next);
    if first.get() > target {
        return Ok(clustered);
    }
    let target = Height::new(target.min(first.get() + MAX_BLOCKS_PER_PASS - 1));
    let mut clusters = Clusters::new(store, opts.guard_size);
    for height in first.get()..=target.get() {
        let height = Height::new(height);
        clusters.cluster_block(height, recent.get(&height).map(Vec::as_slice))?;
    }
    clusters.flush(w)?;
    let counter = |height: Height| height.get().to_be_bytes().to_vec();
    w.update::<Meta>(&CLUSTERED_KEY.to_owned(), &counter(target), clustered.map(counter).as_ref())?;
    Ok(Some(target))
}

/// A transaction that spends from two or more addresses: what clustering
/// needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate {
    /// Its number.
    pub tx: TxNum,
    /// The values of the coins it spends, in input order.
    pub inputs: Vec<Sats>,
    /// The distinct addresses those coins paid, sorted.
    pub addresses: Vec<AddressId>,
    /// Its output values, in output order.
    pub outputs: Vec<Sats>,
}

impl Candidate {
    /// The candidate made of a transaction's spent coins (address, value)
    /// and output values, if it spends from two or more addresses.
    pub(super) fn of(
        tx: TxNum,
        spent: impl Iterator<Item = (Option<AddressId>, Sats)>,
        outputs: impl FnOnce() -> Vec<Sats>,
    ) -> Option<Candidate> {
        let mut inputs = Vec::new();
        let mut addresses = Vec::new();
        for (address, value) in spent {
            inputs.push(value);
            addresses.extend(address);
        }
        addresses.sort_unstable();
        addresses.dedup();
        (addresses.len() >= 2).then(|| Candidate { tx, inputs, addresses, outputs: outputs() })
    }
}

/// The candidates of block `height`, read from the store: its transaction
/// rows, the coins its multi-input transactions spend (one `multi_get`) and,
/// for those that spend from two or more addresses, their outputs (one scan
/// over the block's outputs).
fn read_candidates(store: &Store, height: Height) -> Result<Vec<Candidate>, IndexError> {
    let block = store
        .get::<BlockByHeight>(&height)?
        .ok_or_else(|| IndexError::Corrupt(format!("block {height} is to be clustered but has no row")))?;
    // The coinbase spends nothing.
    let nums: Vec<TxNum> = (1..u64::from(block.tx_count)).map(|i| TxNum(block.first_tx.0 + i)).collect();
    let mut txs = Vec::new();
    for (num, row) in nums.iter().zip(store.multi_get::<TxByNum>(&nums)?) {
        let row = row.ok_or_else(|| IndexError::Corrupt(format!("tx number {num} of block {height} has no row")))?;
        // A single input names a single address: nothing to merge.
        if row.spends.len() >= 2 {
            txs.push((*num, row.spends));
        }
    }
    let keys: Vec<(TxNum, u32)> = txs.iter().flat_map(|(_, spends)| spends.iter().map(|s| (s.tx, s.index))).collect();
    let mut coins = store.multi_get::<Outputs>(&keys)?.into_iter().zip(&keys);
    let mut candidates = Vec::new();
    for (num, spends) in txs {
        let mut spent = Vec::with_capacity(spends.len());
        for (coin, (tx, vout)) in coins.by_ref().take(spends.len()) {
            let coin =
                coin.ok_or_else(|| IndexError::Corrupt(format!("tx {num} spends {tx}:{vout}, which has no row")))?;
            spent.push((coin.address, coin.value));
        }
        candidates.extend(Candidate::of(num, spent.into_iter(), Vec::new));
    }
    let (Some(first), Some(last)) = (candidates.first(), candidates.last()) else { return Ok(candidates) };
    // Their output values, from one scan over the block's outputs.
    let (first, last) = (first.tx, last.tx);
    let mut next = candidates.iter_mut().peekable();
    for row in store.scan::<Outputs>(&[], Some(&(first, 0u32).encode()), Direction::Forward)? {
        let ((tx, _), out) = row?;
        if tx > last {
            break;
        }
        while next.next_if(|c| c.tx < tx).is_some() {}
        if let Some(candidate) = next.peek_mut().filter(|c| c.tx == tx) {
            candidate.outputs.push(out.value);
        }
    }
    Ok(candidates)
}

/// One key's value in the store (`old`) and as a clustering pass left it.
struct Change<V> {
    old: Option<V>,
    now: Option<V>,
}

impl<V: Clone> Change<V> {
    fn unchanged(value: Option<V>) -> Self {
        Change { old: value.clone(), now: value }
    }
}

/// The rows of one table that a clustering pass touches. Each key is
/// written once, at the end, with its old value for the undo record.
struct Staged<T: Table> {
    rows: BTreeMap<T::Key, Change<T::Value>>,
}

impl<T: Table> Staged<T>
where
    T::Key: Ord + Clone,
    T::Value: Clone + PartialEq,
{
    fn new() -> Self {
        Staged { rows: BTreeMap::new() }
    }

    /// Reads the keys not staged yet with one `multi_get`.
    fn prefetch(&mut self, store: &Store, keys: &[T::Key]) -> Result<(), IndexError> {
        let missing: Vec<T::Key> = keys.iter().filter(|key| !self.rows.contains_key(key)).cloned().collect();
        for (key, value) in missing.iter().zip(store.multi_get::<T>(&missing)?) {
            self.rows.insert(key.clone(), Change::unchanged(value));
        }
        Ok(())
    }

    fn entry(&mut self, store: &Store, key: &T::Key) -> Result<&mut Change<T::Value>, IndexError> {
        if !self.rows.contains_key(key) {
            self.rows.insert(key.clone(), Change::unchanged(store.get::<T>(key)?));
        }
        Ok(self.rows.get_mut(key).expect("inserted above"))
    }

    fn get(&mut self, store: &Store, key: &T::Key) -> Result<Option<T::Value>, IndexError> {
        Ok(self.entry(store, key)?.now.clone())
    }

    fn set(&mut self, store: &Store, key: &T::Key, value: Option<T::Value>) -> Result<(), IndexError> {
        self.entry(store, key)?.now = value;
        Ok(())
    }

    /// Sets `key`, which the store does not hold (the caller knows), to
    /// `value` without reading it.
    fn set_new(&mut self, key: &T::Key, value: T::Value) {
        self.rows.entry(key.clone()).or_insert(Change { old: None, now: None }).now = Some(value);
    }

    fn flush(self, w: &mut Batch<'_>) -> Result<(), IndexError> {
        for (key, Change { old, now }) in self.rows {
            match (old, now) {
                (None, Some(new)) => w.insert::<T>(&key, &new)?,
                (Some(old), Some(new)) if old != new => w.update::<T>(&key, &new, Some(&old))?,
                (Some(old), None) => w.remove::<T>(&key, &old)?,
                _ => {}
            }
        }
        Ok(())
    }
}

impl<T: Table<Key = (AddressId, AddressId)>> Staged<T>
where
    T::Value: Clone + PartialEq,
{
    /// The rows under `first` (a cluster's members or aliases), as staged;
    /// the rows read from the store are staged too, so changing them needs
    /// no further read.
    fn under(&mut self, store: &Store, first: AddressId) -> Result<Vec<(AddressId, T::Value)>, IndexError> {
        let mut rows: BTreeMap<AddressId, T::Value> = BTreeMap::new();
        for row in store.scan::<T>(&first.encode(), None, Direction::Forward)? {
            let ((_, second), value) = row?;
            self.rows.entry((first, second)).or_insert_with(|| Change::unchanged(Some(value.clone())));
            rows.insert(second, value);
        }
        for ((_, second), Change { now, .. }) in self.rows.range((first, AddressId(0))..=(first, AddressId(u64::MAX))) {
            match now {
                Some(value) => rows.insert(*second, value.clone()),
                None => rows.remove(second),
            };
        }
        Ok(rows.into_iter().collect())
    }
}

/// One clustering pass: the cluster tables as it changes them.
struct Clusters<'s> {
    store: &'s Store,
    guard_size: u64,
    of: Staged<ClusterOf>,
    members: Staged<ClusterMembers>,
    sizes: Staged<ClusterSize>,
    aliases: Staged<ClusterAlias>,
    /// New flags (a transaction is clustered once, so its key is new).
    flags: Vec<(TxNum, ClusterFlag)>,
}

impl<'s> Clusters<'s> {
    fn new(store: &'s Store, guard_size: u64) -> Self {
        Clusters {
            store,
            guard_size,
            of: Staged::new(),
            members: Staged::new(),
            sizes: Staged::new(),
            aliases: Staged::new(),
            flags: Vec::new(),
        }
    }

    /// Clusters the candidates of block `height`: `known` when the indexer
    /// still holds them, else read from the store.
    fn cluster_block(&mut self, height: Height, known: Option<&[Candidate]>) -> Result<(), IndexError> {
        let read;
        let candidates = match known {
            Some(candidates) => candidates,
            None => {
                read = read_candidates(self.store, height)?;
                &read
            }
        };
        let mut ids: Vec<AddressId> = candidates.iter().flat_map(|c| c.addresses.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        self.of.prefetch(self.store, &ids)?;
        let mut clusters: Vec<AddressId> =
            ids.iter().filter_map(|id| self.of.rows[id].now.map(|link| AddressId(link.cluster.0))).collect();
        clusters.sort_unstable();
        clusters.dedup();
        self.sizes.prefetch(self.store, &clusters)?;
        for candidate in candidates {
            let shape = TxShape {
                inputs: &candidate.inputs,
                input_addresses: candidate.addresses.len(),
                outputs: &candidate.outputs,
            };
            if let Some(kind) = coinjoin::detect(&shape) {
                self.flags.push((candidate.tx, ClusterFlag::CoinJoin(kind)));
                continue;
            }
            self.merge(candidate.tx, &candidate.addresses)?;
        }
        Ok(())
    }

    /// Merges the clusters of `addresses` (distinct, two or more), linked by
    /// transaction `tx`.
    fn merge(&mut self, tx: TxNum, addresses: &[AddressId]) -> Result<(), IndexError> {
        let store = self.store;
        // (size, id) of each distinct cluster; an address without a row is
        // its own cluster of one.
        let mut clusters: Vec<(u64, AddressId)> = Vec::new();
        for &address in addresses {
            let (id, linked) = match self.of.get(store, &address)? {
                Some(link) => (AddressId(link.cluster.0), true),
                None => (address, false),
            };
            if clusters.iter().any(|&(_, known)| known == id) {
                continue;
            }
            let size = match linked {
                true => self
                    .sizes
                    .get(store, &id)?
                    .ok_or_else(|| IndexError::Corrupt(format!("cluster {id} has no size")))?,
                false => 1,
            };
            clusters.push((size, id));
        }
        if clusters.len() < 2 {
            return Ok(());
        }
        // Largest first; on a tie the smaller id first, so it keeps its id.
        clusters.sort_unstable_by_key(|&(size, id)| (std::cmp::Reverse(size), id));
        let (keeper_size, keeper) = clusters[0];
        if clusters[1].0 > self.guard_size {
            let largest = ClusterId(keeper.0);
            self.flags.push((tx, ClusterFlag::SuperCluster { largest, second: ClusterId(clusters[1].1 .0) }));
            return Ok(());
        }
        let keeper_link = ClusterLink { cluster: ClusterId(keeper.0), tx };
        if keeper_size == 1 {
            self.of.set(store, &keeper, Some(keeper_link))?;
            self.members.set_new(&(keeper, keeper), ());
        }
        let mut total = keeper_size;
        for &(size, id) in &clusters[1..] {
            total += size;
            let members: Vec<AddressId> = if size == 1 {
                vec![id]
            } else {
                self.members.under(store, id)?.into_iter().map(|(member, ())| member).collect()
            };
            self.of.prefetch(store, &members)?;
            for member in members {
                // A member keeps the transaction that first linked it.
                let linked_by = self.of.get(store, &member)?.map_or(tx, |link| link.tx);
                self.of.set(store, &member, Some(ClusterLink { tx: linked_by, ..keeper_link }))?;
                if size > 1 {
                    self.members.set(store, &(id, member), None)?;
                }
                // Only members of a cluster have rows under its id, and an id
                // merged away never keeps again: the store has no such row.
                self.members.set_new(&(keeper, member), ());
            }
            if size > 1 {
                self.sizes.set(store, &id, None)?;
                for (old, merged_by) in self.aliases.under(store, id)? {
                    self.aliases.set(store, &(id, old), None)?;
                    self.aliases.set(store, &(keeper, old), Some(merged_by))?;
                }
                self.aliases.set(store, &(keeper, id), Some(tx))?;
            }
        }
        self.sizes.set(store, &keeper, Some(total))
    }

    fn flush(self, w: &mut Batch<'_>) -> Result<(), IndexError> {
        self.of.flush(w)?;
        self.members.flush(w)?;
        self.sizes.flush(w)?;
        self.aliases.flush(w)?;
        for (tx, flag) in &self.flags {
            w.insert::<ClusterFlags>(tx, flag)?;
        }
        Ok(())
    }
}
