//! The Ethereum indexer: writes each decoded block into the store in one
//! atomic batch (address ids, assets, transfers, per-address history and
//! balances, freezable tokens' reconciliations and frozen holders, the new
//! tip and the block's undo record) and unwinds blocks with their undo
//! records. Fetching and decoding happen in the source;
//! this module only reads and writes the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use alloy::primitives::{Address, U256};
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_store::{Batch, Codec, Direction, Meta, Store, Undo};
use chainsleuth_sync::{Indexer, UndoPolicy};

use crate::error::IndexError;
use crate::query::EthQuery;
use crate::schema::{
    dir, BalanceRow, EthAddrIds, EthAddrs, EthAssets, EthBalances, EthBlockTxs, EthBlocks, EthFrozen, EthHistory,
    EthStatus, EthTokenMeta, EthTokens, EthTransfers, EthTxs, HistoryRow, TransferRow, GENESIS_CREDITS,
    NEXT_ADDRESS_ID, NEXT_ASSET_ID, STATUS_PRUNED_BELOW, STATUS_TRACES_MISSING, STATUS_TRACE_MODE, TRANSFER_COUNT,
};
use crate::source::{EthBlock, EthSource, Finalized, SourceConfig};
use crate::transfer::{Asset, TraceCoverage, TransferKind, BLOCK_POS, GENESIS_POS};

/// Writes Ethereum blocks into the `eth` store.
#[derive(Debug)]
pub struct EthIndexer {
    store: Arc<Store>,
    finalized: Option<Finalized>,
    /// Undo records below this height have been pruned as final.
    pruned_below: u64,
    last_coverage: Option<TraceCoverage>,
    hot: Hot,
}

/// Entries at most in each map of [`Hot`]: about 40 MB of address ids and
/// 160 MB of balances.
const HOT_ENTRIES: usize = 1 << 20;

/// Address ids and balances as last committed, kept across blocks so that
/// a block reads from the store only what it has not seen lately; each map
/// is forgotten whole when full, and both on an unwind.
#[derive(Debug, Default)]
struct Hot {
    ids: HashMap<[u8; 20], u64>,
    balances: HashMap<(u64, u32), BalanceRow>,
}

impl Hot {
    /// Records what a block committed.
    fn commit(&mut self, ids: &HashMap<Address, u64>, balances: &BTreeMap<(u64, u32), Working>) {
        if self.ids.len() + ids.len() > HOT_ENTRIES {
            self.ids.clear();
        }
        self.ids.extend(ids.iter().map(|(a, id)| (a.0 .0, *id)));
        if self.balances.len() + balances.len() > HOT_ENTRIES {
            self.balances.clear();
        }
        self.balances.extend(balances.iter().map(|(key, w)| (*key, w.new.clone())));
    }
}

fn read_counter<T: Codec>(store: &Store, key: &str) -> Result<Option<T>, IndexError> {
    match store.get::<Meta>(&key.to_owned())? {
        None => Ok(None),
        Some(bytes) => T::decode(&bytes).map(Some).map_err(|_| IndexError::Corrupt { what: "a meta counter" }),
    }
}

/// One (address id, asset id) balance being updated by a block.
struct Working {
    old: Option<BalanceRow>,
    new: BalanceRow,
}

/// One side of a transfer as it lands in an address's history.
struct Posting {
    key: (u64, u32),
    at: (u64, u32, u32),
    kind: TransferKind,
    direction: u8,
    counterparty: u64,
    amount: U256,
}

/// A history row to write: (address id, asset, height, tx position, ordinal) and the row.
type HistoryEntry = ((u64, u32, u64, u32, u32), HistoryRow);

/// Writes `rows` in key order: RocksDB's memtable inserts a key next to the
/// one before it far more cheaply than one elsewhere in its skip list.
fn insert_sorted<T: chainsleuth_store::Table>(
    batch: &mut Batch<'_>,
    mut rows: Vec<(T::Key, T::Value)>,
) -> Result<(), IndexError>
where
    T::Key: Ord,
{
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in &rows {
        batch.insert::<T>(key, value)?;
    }
    Ok(())
}

/// Applies `p` to its working balance and adds the history row to `history`.
fn post(
    balances: &mut BTreeMap<(u64, u32), Working>,
    history: &mut Vec<HistoryEntry>,
    p: Posting,
) -> Result<(), IndexError> {
    let w = balances.get_mut(&p.key).ok_or(IndexError::Corrupt { what: "a balance key" })?;
    let row = &mut w.new;
    match p.direction {
        dir::IN => {
            row.balance = row.balance.wrapping_add(p.amount);
            row.received = row.received.saturating_add(p.amount);
        }
        dir::OUT => {
            row.balance = row.balance.wrapping_sub(p.amount);
            row.sent = row.sent.saturating_add(p.amount);
        }
        _ => {
            row.received = row.received.saturating_add(p.amount);
            row.sent = row.sent.saturating_add(p.amount);
        }
    }
    if row.rows == 0 {
        row.first = p.at.0;
    }
    row.rows += 1;
    row.last = row.last.max(p.at.0);
    let entry = HistoryRow {
        kind: p.kind.code(),
        dir: p.direction,
        counterparty: p.counterparty,
        amount: p.amount,
        balance: row.balance,
    };
    history.push(((p.key.0, p.key.1, p.at.0, p.at.1, p.at.2), entry));
    Ok(())
}

/// Sets each checked holder's balance of a freezable token right to the
/// token's `balanceOf` after the block, with a block-level reconcile
/// transfer per difference (a credit or a debit) after the block's other
/// block-level transfers; returns how many it wrote.
fn reconcile(
    balances: &mut BTreeMap<(u64, u32), Working>,
    batch: &mut Batch<'_>,
    history: &mut Vec<HistoryEntry>,
    block: &EthBlock,
    ids: &HashMap<Address, u64>,
    assets: &HashMap<Address, u32>,
) -> Result<usize, IndexError> {
    let d = &block.decoded;
    let mut ordinal = d.transfers.iter().filter(|t| t.tx_pos == BLOCK_POS).count() as u32;
    let mut written = 0;
    for (n, (token, holder, want)) in block.balances.iter().enumerate() {
        let key = (ids[holder], assets[token]);
        let have = balances.get(&key).ok_or(IndexError::Corrupt { what: "a balance key" })?.new.balance;
        let diff = want.wrapping_sub(have);
        if diff.is_zero() {
            continue;
        }
        let (direction, amount, from, to) =
            if diff.bit(255) { (dir::OUT, diff.wrapping_neg(), key.0, 0) } else { (dir::IN, diff, 0, key.0) };
        let at = (d.number, BLOCK_POS, ordinal);
        let kind = TransferKind::Reconcile;
        let row = TransferRow { kind: kind.code(), index: n as u32, from, to, asset: key.1, amount };
        batch.insert::<EthTransfers>(&at, &row)?;
        post(balances, history, Posting { key, at, kind, direction, counterparty: 0, amount })?;
        ordinal += 1;
        written += 1;
    }
    Ok(written)
}

/// A freeze in effect: (height, transaction hash).
type FreezeRow = (u64, [u8; 32]);

/// Applies the block's freezes and releases in order to the frozen holders;
/// a holder frozen again keeps the evidence of the freeze already in effect.
fn freeze(
    store: &Store,
    batch: &mut Batch<'_>,
    block: &EthBlock,
    ids: &HashMap<Address, u64>,
    assets: &HashMap<Address, u32>,
) -> Result<(), IndexError> {
    let d = &block.decoded;
    if d.freezes.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<(u64, u32)> = d.freezes.iter().map(|f| (ids[&f.holder], assets[&f.token])).collect();
    keys.sort_unstable();
    keys.dedup();
    let found = store.multi_get::<EthFrozen>(&keys)?;
    // Per (holder, asset): the freeze in effect before the block and after it.
    let mut frozen: BTreeMap<(u64, u32), (Option<FreezeRow>, Option<FreezeRow>)> =
        keys.into_iter().zip(found).map(|(key, old)| (key, (old, old))).collect();
    for f in &d.freezes {
        let state =
            frozen.get_mut(&(ids[&f.holder], assets[&f.token])).ok_or(IndexError::Corrupt { what: "a freeze key" })?;
        if !f.frozen {
            state.1 = None;
        } else if state.1.is_none() {
            let tx = d.txs.get(f.tx_pos as usize).ok_or(IndexError::Corrupt { what: "a freeze's transaction" })?;
            state.1 = Some((d.number, tx.hash.0));
        }
    }
    for (key, (old, new)) in &frozen {
        match (old, new) {
            (None, Some(new)) => batch.insert::<EthFrozen>(key, new)?,
            (Some(old), None) => batch.remove::<EthFrozen>(key, old)?,
            (Some(old), Some(new)) if old != new => batch.update::<EthFrozen>(key, new, Some(old))?,
            _ => {}
        }
    }
    Ok(())
}

impl EthIndexer {
    /// An indexer writing into `store` (opened with [`SCHEMA`](crate::SCHEMA)).
    ///
    /// # Errors
    /// Store read errors.
    pub fn new(store: Arc<Store>) -> Result<Self, IndexError> {
        let pruned_below = match store.get::<EthStatus>(&STATUS_PRUNED_BELOW.to_owned())? {
            Some(bytes) => u64::decode(&bytes).map_err(|_| IndexError::Corrupt { what: "the pruning status" })?,
            None => 0,
        };
        Ok(EthIndexer { store, finalized: None, pruned_below, last_coverage: None, hot: Hot::default() })
    }

    /// Prunes undo records at and below the node's finalized height, as
    /// the source reports it, besides the sync loop's window.
    pub fn with_finalized(mut self, finalized: Finalized) -> Self {
        self.finalized = Some(finalized);
        self
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn write_block(&mut self, block: &EthBlock, undo: UndoPolicy) -> Result<(), IndexError> {
        let store = &*self.store;
        let d = &block.decoded;
        let height = d.number;
        let old_tip = store.tip()?;
        let finalized = self.finalized.as_ref().and_then(Finalized::get);
        // A block the node calls final will not be reorged: no undo record.
        let keep_undo = undo.keep && finalized.is_none_or(|f| f < height);
        let mut batch = store.batch_tracking(keep_undo);

        // Addresses, in a fixed order so that ids do not depend on timing:
        // senders, then transfer parties, then genesis allocations.
        let mut order: Vec<Address> = Vec::new();
        let mut seen = HashSet::new();
        let candidates = d.txs.iter().map(|t| t.from).chain(d.addresses()).chain(block.genesis.iter().map(|(a, _)| *a));
        for address in candidates {
            if seen.insert(address) {
                order.push(address);
            }
        }
        let keys: Vec<[u8; 20]> = order.iter().map(|a| a.0 .0).filter(|a| !self.hot.ids.contains_key(a)).collect();
        let stored: HashMap<[u8; 20], u64> =
            keys.iter().zip(store.multi_get::<EthAddrIds>(&keys)?).filter_map(|(a, id)| Some((*a, id?))).collect();
        let found = order.iter().map(|a| self.hot.ids.get(&a.0 .0).or_else(|| stored.get(&a.0 .0)).copied());
        let old_next_id = read_counter::<u64>(store, NEXT_ADDRESS_ID)?;
        let mut next_id = old_next_id.unwrap_or(1);
        let mut ids: HashMap<Address, u64> = HashMap::with_capacity(order.len());
        let mut fresh: HashSet<Address> = HashSet::new();
        let mut new_ids: Vec<([u8; 20], u64)> = Vec::new();
        for (address, id) in order.iter().zip(found) {
            let id = match id {
                Some(id) => id,
                None => {
                    let id = next_id;
                    next_id += 1;
                    // Ids rise: eth_addrs is written in key order as it is.
                    batch.insert::<EthAddrs>(&id, &address.0 .0)?;
                    new_ids.push((address.0 .0, id));
                    fresh.insert(*address);
                    id
                }
            };
            ids.insert(*address, id);
        }
        insert_sorted::<EthAddrIds>(&mut batch, new_ids)?;
        if Some(next_id) != old_next_id {
            let old = old_next_id.map(|n| n.encode());
            batch.update::<Meta>(&NEXT_ADDRESS_ID.to_owned(), &next_id.encode(), old.as_ref())?;
        }

        // Assets: token contracts get ids on first sight.
        let tokens = d.tokens();
        let token_keys: Vec<[u8; 20]> = tokens.iter().map(|a| a.0 .0).collect();
        let found = store.multi_get::<EthTokens>(&token_keys)?;
        let old_next_asset = read_counter::<u32>(store, NEXT_ASSET_ID)?;
        let mut next_asset = old_next_asset.unwrap_or(1);
        let mut assets: HashMap<Address, u32> = HashMap::with_capacity(tokens.len());
        let metadata: HashMap<Address, &crate::schema::TokenMeta> = block.tokens.iter().map(|(a, m)| (*a, m)).collect();
        for (token, id) in tokens.iter().zip(found) {
            let id = match id {
                Some(id) => id,
                None => {
                    let id = next_asset;
                    next_asset += 1;
                    batch.insert::<EthTokens>(&token.0 .0, &id)?;
                    batch.insert::<EthAssets>(&id, &token.0 .0)?;
                    // Metadata is not chain data: kept across unwinds.
                    if let Some(meta) = metadata.get(token) {
                        batch.put::<EthTokenMeta>(&token.0 .0, meta)?;
                    }
                    id
                }
            };
            assets.insert(*token, id);
        }
        if Some(next_asset) != old_next_asset {
            let old = old_next_asset.map(|n| n.encode());
            batch.update::<Meta>(&NEXT_ASSET_ID.to_owned(), &next_asset.encode(), old.as_ref())?;
        }
        let asset_id = |asset: Asset| match asset {
            Asset::Eth => 0,
            Asset::Token(token) => assets[&token],
        };

        // Genesis credits of addresses new to the store, at height 0.
        let credits: Vec<(u64, U256)> = block
            .genesis
            .iter()
            .filter(|(a, balance)| fresh.contains(a) && !balance.is_zero())
            .map(|(a, balance)| (ids[a], *balance))
            .collect();

        // Balances touched by this block.
        let mut balance_keys: Vec<(u64, u32)> = credits.iter().map(|(id, _)| (*id, 0)).collect();
        for t in &d.transfers {
            let asset = asset_id(t.asset);
            balance_keys.extend(t.from.iter().chain(t.to.iter()).map(|a| (ids[a], asset)));
        }
        balance_keys.extend(block.balances.iter().map(|(token, holder, _)| (ids[holder], assets[token])));
        balance_keys.sort_unstable();
        balance_keys.dedup();
        let unknown: Vec<(u64, u32)> =
            balance_keys.iter().filter(|k| !self.hot.balances.contains_key(k)).copied().collect();
        let mut stored: HashMap<(u64, u32), BalanceRow> = unknown
            .iter()
            .zip(store.multi_get::<EthBalances>(&unknown)?)
            .filter_map(|(key, row)| Some((*key, row?)))
            .collect();
        let mut balances: BTreeMap<(u64, u32), Working> = balance_keys
            .iter()
            .map(|key| {
                let old = self.hot.balances.get(key).cloned().or_else(|| stored.remove(key));
                (*key, Working { new: old.clone().unwrap_or_default(), old })
            })
            .collect();

        // Two history rows per transfer at most, written sorted after the postings.
        let mut history: Vec<HistoryEntry> = Vec::with_capacity(2 * d.transfers.len() + credits.len());
        let old_credits = read_counter::<u32>(store, GENESIS_CREDITS)?;
        let mut credit_n = old_credits.unwrap_or(0);
        for (id, balance) in &credits {
            let at = (0u64, GENESIS_POS, credit_n);
            let row = TransferRow {
                kind: TransferKind::Genesis.code(),
                index: 0,
                from: 0,
                to: *id,
                asset: 0,
                amount: *balance,
            };
            batch.insert::<EthTransfers>(&at, &row)?;
            post(
                &mut balances,
                &mut history,
                Posting {
                    key: (*id, 0),
                    at,
                    kind: TransferKind::Genesis,
                    direction: dir::IN,
                    counterparty: 0,
                    amount: *balance,
                },
            )?;
            credit_n += 1;
        }
        if Some(credit_n) != old_credits {
            let old = old_credits.map(|n| n.encode());
            batch.update::<Meta>(&GENESIS_CREDITS.to_owned(), &credit_n.encode(), old.as_ref())?;
        }

        for t in &d.transfers {
            let asset = asset_id(t.asset);
            let from = t.from.map_or(0, |a| ids[&a]);
            let to = t.to.map_or(0, |a| ids[&a]);
            let at = (height, t.tx_pos, t.ordinal);
            let row = TransferRow { kind: t.kind.code(), index: t.index, from, to, asset, amount: t.amount };
            batch.insert::<EthTransfers>(&at, &row)?;
            if from != 0 && from == to {
                post(
                    &mut balances,
                    &mut history,
                    Posting {
                        key: (from, asset),
                        at,
                        kind: t.kind,
                        direction: dir::SELF,
                        counterparty: from,
                        amount: t.amount,
                    },
                )?;
                continue;
            }
            if from != 0 {
                post(
                    &mut balances,
                    &mut history,
                    Posting {
                        key: (from, asset),
                        at,
                        kind: t.kind,
                        direction: dir::OUT,
                        counterparty: to,
                        amount: t.amount,
                    },
                )?;
            }
            if to != 0 {
                post(
                    &mut balances,
                    &mut history,
                    Posting {
                        key: (to, asset),
                        at,
                        kind: t.kind,
                        direction: dir::IN,
                        counterparty: from,
                        amount: t.amount,
                    },
                )?;
            }
        }
        let reconciled = reconcile(&mut balances, &mut batch, &mut history, block, &ids, &assets)?;
        insert_sorted::<EthHistory>(&mut batch, history)?;
        for (key, w) in &balances {
            batch.update::<EthBalances>(key, &w.new, w.old.as_ref())?;
        }
        freeze(store, &mut batch, block, &ids, &assets)?;
        let added = (d.transfers.len() + credits.len() + reconciled) as u64;
        if added > 0 {
            let old = read_counter::<u64>(store, TRANSFER_COUNT)?;
            let new = old.unwrap_or(0) + added;
            batch.update::<Meta>(&TRANSFER_COUNT.to_owned(), &new.encode(), old.map(|n| n.encode()).as_ref())?;
        }

        let mut txs: Vec<([u8; 32], (u64, u32))> = Vec::with_capacity(d.txs.len());
        for (pos, tx) in d.txs.iter().enumerate() {
            let pos = pos as u32;
            txs.push((tx.hash.0, (height, pos)));
            batch.insert::<EthBlockTxs>(&(height, pos), &(tx.hash.0, ids[&tx.from], tx.success))?;
        }
        insert_sorted::<EthTxs>(&mut batch, txs)?;
        batch.insert::<EthBlocks>(&height, &(d.hash.0, d.timestamp, d.txs.len() as u32))?;
        self.status(&mut batch, block)?;

        let block_ref = BlockRef { height: Height::new(height), hash: BlockHash(d.hash.0) };
        batch.set_tip(block_ref, old_tip)?;
        if keep_undo {
            batch.keep_undo(Height::new(height), undo.prune)?;
        } else if let Some(prune) = undo.prune {
            batch.delete::<Undo>(&prune.get())?;
        }
        let pruned_to = match finalized {
            Some(f) if f >= self.pruned_below && self.pruned_below <= height => {
                Some(self.prune_final(&mut batch, f.min(height))?)
            }
            _ => None,
        };
        store.write(batch)?;
        self.hot.commit(&ids, &balances);
        if let Some(below) = pruned_to {
            self.pruned_below = below;
        }
        self.last_coverage = Some(block.traces);
        Ok(())
    }

    /// Deletes undo records at heights `pruned_below..=upto` (the node
    /// calls them final) and records the new bound; returns it.
    fn prune_final(&self, batch: &mut Batch<'_>, upto: u64) -> Result<u64, IndexError> {
        let from = self.pruned_below.encode();
        for row in self.store.scan::<Undo>(&[], Some(&from), Direction::Forward)? {
            let (height, _) = row?;
            if height > upto {
                break;
            }
            batch.delete::<Undo>(&height)?;
        }
        let below = upto + 1;
        batch.put::<EthStatus>(&STATUS_PRUNED_BELOW.to_owned(), &below.encode())?;
        Ok(below)
    }

    fn status(&self, batch: &mut Batch<'_>, block: &EthBlock) -> Result<(), IndexError> {
        if self.last_coverage == Some(block.traces) {
            return Ok(());
        }
        let mode = match block.traces {
            TraceCoverage::Indexed => "indexed",
            TraceCoverage::Off => "off",
            TraceCoverage::Unavailable => "unavailable",
        };
        batch.put::<EthStatus>(&STATUS_TRACE_MODE.to_owned(), &mode.as_bytes().to_vec())?;
        let key = STATUS_TRACES_MISSING.to_owned();
        match block.traces {
            TraceCoverage::Unavailable => {
                if self.store.get::<EthStatus>(&key)?.is_none() {
                    batch.put::<EthStatus>(&key, &block.decoded.number.encode())?;
                }
            }
            _ => batch.delete::<EthStatus>(&key)?,
        }
        Ok(())
    }
}

/// Builds the source for `config` and the indexer for `store`, wired
/// together: the indexer prunes undo records the source's node calls
/// final, and the source skips metadata of tokens the store already has.
/// Restartable from any committed tip: all state is in the store.
///
/// # Errors
/// [`IndexError::Source`] on a bad URL; store read errors.
pub fn connect(store: Arc<Store>, config: SourceConfig) -> Result<(EthSource, EthIndexer), IndexError> {
    let source = EthSource::new(config)?;
    source.preload_tokens(EthQuery::new(&store).all_tokens()?);
    let indexer = EthIndexer::new(store)?.with_finalized(source.finalized());
    Ok((source, indexer))
}

impl Indexer for EthIndexer {
    type Block = EthBlock;
    type Error = IndexError;

    fn tip(&self) -> Result<Option<BlockRef>, IndexError> {
        Ok(self.store.tip()?)
    }

    fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, IndexError> {
        Ok(self.store.get::<EthBlocks>(&height.get())?.map(|(hash, _, _)| BlockHash(hash)))
    }

    fn execute(&mut self, block: &EthBlock, undo: UndoPolicy) -> Result<(), IndexError> {
        let span = tracing::debug_span!("eth_block", height = block.decoded.number, txs = block.decoded.txs.len());
        let _enter = span.enter();
        self.write_block(block, undo)
    }

    fn unwind(&mut self, height: Height) -> Result<bool, IndexError> {
        self.hot = Hot::default();
        Ok(self.store.unwind_block(height)?)
    }

    fn set_bulk(&mut self, on: bool) -> Result<(), IndexError> {
        Ok(self.store.set_bulk(on)?)
    }

    fn checkpoint(&mut self) -> Result<(), IndexError> {
        Ok(self.store.checkpoint()?)
    }
}
