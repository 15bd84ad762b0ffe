//! The Bitcoin index's tables and the rows they hold.
//!
//! Keys are fixed-width and big-endian (so a prefix scan runs in chain
//! order); values that are mostly small numbers use LEB128 varints to keep
//! the store small. `SCHEMA.md` beside this crate documents every table;
//! a test keeps the two in step.

use bitcoin::hashes::{sha256, Hash};
use chainsleuth_core::{AddressId, ClusterId, Height, Sats, TxNum};
use chainsleuth_store::{tables, take, Codec, CodecError, Schema, Store, StoreError, Table};

use super::coinjoin::CoinJoinKind;
use super::script::AddrKey;

tables! {
    /// Block by height: hash, 80-byte header, tx count and first tx number.
    /// Written by each block's batch; undone by its undo record.
    BlockByHeight("btc_block"): Height => BlockRow;
    /// Height by block hash (internal byte order). Written by each block's
    /// batch; undone by its undo record.
    HeightByHash("btc_block_height"): [u8; 32] => Height;
    /// The numbers of the transactions whose txid (internal byte order)
    /// starts with the key's 8 bytes: nearly always one. Look txids up with
    /// [`tx_nums_of`], which checks each candidate's full txid.
    TxNumByTxid("btc_txid"): TxidPrefix => TxNums;
    /// Txid, height, position in block and spent outputs by transaction number.
    TxByNum("btc_tx"): TxNum => TxRow;
    /// Every output by `(tx number, vout)`: its address, value and spender.
    Outputs("btc_output"): (TxNum, u32) => OutputRow;
    /// The ids of the addresses whose key hashes to the key's 8 bytes (see
    /// [`AddrHash`]), oldest first: nearly always one. Look addresses up
    /// with [`addr_ids_of`], which checks each candidate's key in
    /// `btc_addr_key`.
    AddrIdByKey("btc_addr_id"): AddrHash => AddrIds;
    /// Address key by address id.
    AddrKeyById("btc_addr_key"): AddressId => AddrKey;
    /// One row per (address, transaction touching it), in chain order, with
    /// what the transaction paid the address and took from it.
    History("btc_addr_history"): (AddressId, TxNum) => HistoryRow;
    /// Every address's totals: its summary.
    Totals("btc_addr_total"): AddressId => AddrTotals;
    /// The cluster of every address in a cluster of two or more, with the
    /// transaction that first linked it to another address. Written by the
    /// block that clusters the linking transaction; undone by its undo record.
    ClusterOf("btc_cluster_of"): AddressId => ClusterLink;
    /// The members of every cluster of two or more, by `(cluster id, address
    /// id)`.
    ClusterMembers("btc_cluster_members"): (AddressId, AddressId) => ();
    /// The size of every live cluster of two or more.
    ClusterSize("btc_cluster_size"): AddressId => u64;
    /// The ids of clusters merged into a cluster, by `(cluster id, old id)`,
    /// with the merging transaction.
    ClusterAlias("btc_cluster_alias"): (AddressId, AddressId) => TxNum;
    /// Transactions whose inputs were not merged, with the reason.
    ClusterFlags("btc_cluster_flag"): TxNum => ClusterFlag;
}

/// The Bitcoin store's schema: its name, layout version and tables.
pub static SCHEMA: Schema = Schema {
    name: "btc",
    format: 5,
    tables: &[
        BlockByHeight::NAME,
        HeightByHash::NAME,
        TxNumByTxid::NAME,
        TxByNum::NAME,
        Outputs::NAME,
        AddrIdByKey::NAME,
        AddrKeyById::NAME,
        History::NAME,
        Totals::NAME,
        ClusterOf::NAME,
        ClusterMembers::NAME,
        ClusterSize::NAME,
        ClusterAlias::NAME,
        ClusterFlags::NAME,
    ],
    digest_excludes: &[],
};

/// The tables only ever read by prefix scans and seeks, whose files need
/// no bloom filter.
pub const SCAN_ONLY: &[&str] = &[History::NAME];

/// `meta` key of the next transaction number to hand out (`u64be`).
pub const NEXT_TX_KEY: &str = "btc_next_tx_num";
/// `meta` key of the next address id to hand out (`u64be`).
pub const NEXT_ADDR_KEY: &str = "btc_next_address_id";
/// `meta` key of the network the store indexes (its name, utf-8).
pub const NETWORK_KEY: &str = "btc_network";
/// `meta` key of the height of the last block clustered (`u64be`).
pub const CLUSTERED_KEY: &str = "btc_clustered_height";

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads one unsigned LEB128 varint off the front of `input`.
pub(crate) fn get_varint(input: &mut &[u8]) -> Result<u64, CodecError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = take(input, 1)?[0];
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(CodecError::Invalid { what: "varint" });
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(CodecError::Invalid { what: "varint" })
}

/// Appends `value` as an unsigned LEB128 varint (for values that may pass
/// 64 bits, such as an amount shifted to make room for a flag).
fn put_wide_varint(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint written by [`put_wide_varint`] (at most 65 bits).
fn get_wide_varint(input: &mut &[u8]) -> Result<u128, CodecError> {
    let mut value = 0u128;
    for shift in (0..70).step_by(7) {
        let byte = take(input, 1)?[0];
        value |= u128::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (value >> 65 == 0).then_some(value).ok_or(CodecError::Invalid { what: "varint" });
        }
    }
    Err(CodecError::Invalid { what: "varint" })
}

fn get_u32_varint(input: &mut &[u8], what: &'static str) -> Result<u32, CodecError> {
    u32::try_from(get_varint(input)?).map_err(|_| CodecError::Invalid { what })
}

/// Reads varints to the end of `input`: at least one.
fn get_varint_list(input: &mut &[u8]) -> Result<Vec<u64>, CodecError> {
    let mut values = Vec::with_capacity(1);
    while !input.is_empty() || values.is_empty() {
        values.push(get_varint(input)?);
    }
    Ok(values)
}

/// A block's row: what the header list and queries need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRow {
    /// The block hash (internal byte order).
    pub hash: [u8; 32],
    /// The 80-byte serialized header.
    pub header: [u8; 80],
    /// How many transactions the block holds.
    pub tx_count: u32,
    /// The transaction number of its coinbase.
    pub first_tx: TxNum,
}

impl Codec for BlockRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash);
        out.extend_from_slice(&self.header);
        self.tx_count.encode_to(out);
        self.first_tx.encode_to(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(BlockRow {
            hash: <[u8; 32]>::decode_from(input)?,
            header: <[u8; 80]>::decode_from(input)?,
            tx_count: u32::decode_from(input)?,
            first_tx: TxNum::decode_from(input)?,
        })
    }
}

/// A transaction's row: `txid[32] ‖ height:varint ‖ position:varint ‖
/// inputs:varint ‖ (prev_tx_num:varint ‖ prev_vout:varint)*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRow {
    /// The txid (internal byte order).
    pub txid: [u8; 32],
    /// The height of its block.
    pub height: Height,
    /// Its position in the block (0 is the coinbase).
    pub position: u32,
    /// The output each input spends, in input order; empty for the coinbase,
    /// whose input spends nothing.
    pub spends: Vec<Spend>,
}

impl Codec for TxRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.txid);
        put_varint(out, self.height.get());
        put_varint(out, u64::from(self.position));
        put_varint(out, self.spends.len() as u64);
        for spend in &self.spends {
            spend.encode_to(out);
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let txid = <[u8; 32]>::decode_from(input)?;
        let height = Height::new(get_varint(input)?);
        let position = get_u32_varint(input, "tx position")?;
        let count = get_varint(input)?;
        // Each spend takes at least two bytes: a count beyond that is corrupt.
        if count > input.len() as u64 / 2 {
            return Err(CodecError::Invalid { what: "input count" });
        }
        let spends = (0..count).map(|_| Spend::decode_from(input)).collect::<Result<_, _>>()?;
        Ok(TxRow { txid, height, position, spends })
    }
}

/// A reference to one input (as spender) or one output (as spent coin):
/// `tx:varint ‖ index:varint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spend {
    /// The transaction number.
    pub tx: TxNum,
    /// The input (vin) or output (vout) index.
    pub index: u32,
}

impl Codec for Spend {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint(out, self.tx.0);
        put_varint(out, u64::from(self.index));
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(Spend { tx: TxNum(get_varint(input)?), index: get_u32_varint(input, "input or output index")? })
    }
}

/// An output's row: `flags:u8 ‖ [address id:varint] ‖ value:varint ‖
/// [spender tx:varint ‖ vin:varint]`; flag bit 0 says an address is present
/// (absent for OP_RETURN), bit 1 that the output is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputRow {
    /// The address it pays, `None` for OP_RETURN outputs.
    pub address: Option<AddressId>,
    /// Its value.
    pub value: Sats,
    /// The input that spent it, if any.
    pub spent_by: Option<Spend>,
}

const HAS_ADDRESS: u8 = 1;
const IS_SPENT: u8 = 2;

impl Codec for OutputRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        let flags =
            if self.address.is_some() { HAS_ADDRESS } else { 0 } | if self.spent_by.is_some() { IS_SPENT } else { 0 };
        out.push(flags);
        if let Some(address) = self.address {
            put_varint(out, address.0);
        }
        put_varint(out, self.value.0);
        if let Some(spend) = self.spent_by {
            spend.encode_to(out);
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let flags = u8::decode_from(input)?;
        if flags & !(HAS_ADDRESS | IS_SPENT) != 0 {
            return Err(CodecError::Invalid { what: "output flags" });
        }
        let address = if flags & HAS_ADDRESS != 0 { Some(AddressId(get_varint(input)?)) } else { None };
        let value = Sats(get_varint(input)?);
        let spent_by = if flags & IS_SPENT != 0 { Some(Spend::decode_from(input)?) } else { None };
        Ok(OutputRow { address, value, spent_by })
    }
}

/// One history row: what the row's transaction paid the address and took
/// from it, `received << 1 | (sent > 0)` as a varint, then `sent:varint` when
/// it is not zero (most rows only receive or only spend). Its height and
/// position are in its [`TxRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryRow {
    /// The value of the transaction's outputs paying the address.
    pub received: Sats,
    /// The value of the address's outputs the transaction spent.
    pub sent: Sats,
}

impl Codec for HistoryRow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        let head = (u128::from(self.received.0) << 1) | u128::from(self.sent.0 > 0);
        put_wide_varint(out, head);
        if self.sent.0 > 0 {
            put_varint(out, self.sent.0);
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let head = get_wide_varint(input)?;
        let received = u64::try_from(head >> 1).map_err(|_| CodecError::Invalid { what: "history amount" })?;
        let sent = if head & 1 == 1 { get_varint(input)? } else { 0 };
        if head & 1 == 1 && sent == 0 {
            return Err(CodecError::Invalid { what: "history amount" });
        }
        Ok(HistoryRow { received: Sats(received), sent: Sats(sent) })
    }
}

/// An address's totals over all its transactions: `received:varint ‖
/// sent:varint ‖ tx_count:varint ‖ first_seen:varint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrTotals {
    /// The value of every output paying the address.
    pub received: Sats,
    /// The value of its outputs spent.
    pub sent: Sats,
    /// Transactions that pay it or spend from it, each counted once.
    pub tx_count: u64,
    /// The height of its first transaction.
    pub first_seen: Height,
}

impl AddrTotals {
    /// The totals before an address's first transaction, which is at `height`.
    pub fn empty(height: Height) -> AddrTotals {
        AddrTotals { received: Sats(0), sent: Sats(0), tx_count: 0, first_seen: height }
    }

    /// Received minus sent: the value of its unspent outputs.
    ///
    /// # Errors
    /// [`CodecError::Invalid`] when more was sent than received (a corrupt row).
    pub fn balance(&self) -> Result<Sats, CodecError> {
        self.received.0.checked_sub(self.sent.0).map(Sats).ok_or(CodecError::Invalid { what: "address totals" })
    }
}

impl Codec for AddrTotals {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint(out, self.received.0);
        put_varint(out, self.sent.0);
        put_varint(out, self.tx_count);
        put_varint(out, self.first_seen.get());
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let row = AddrTotals {
            received: Sats(get_varint(input)?),
            sent: Sats(get_varint(input)?),
            tx_count: get_varint(input)?,
            first_seen: Height::new(get_varint(input)?),
        };
        row.balance()?;
        Ok(row)
    }
}

/// The first 8 bytes of a txid (internal byte order): the key of
/// `btc_txid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxidPrefix(pub [u8; 8]);

impl TxidPrefix {
    /// The prefix of `txid`.
    pub fn of(txid: &[u8; 32]) -> TxidPrefix {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&txid[..8]);
        TxidPrefix(prefix)
    }
}

impl Codec for TxidPrefix {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(TxidPrefix(<[u8; 8]>::decode_from(input)?))
    }
}

/// The transaction numbers under one txid prefix, oldest first, as
/// varints (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxNums(pub Vec<TxNum>);

impl Codec for TxNums {
    fn encode_to(&self, out: &mut Vec<u8>) {
        for num in &self.0 {
            put_varint(out, num.0);
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(TxNums(get_varint_list(input)?.into_iter().map(TxNum).collect()))
    }
}

/// The numbers of the transactions with each of `txids` (internal byte
/// order), in the order of `txids`: `btc_txid` gives the candidates under
/// each prefix, and each candidate's `btc_tx` row says whether its full txid
/// matches. Of two transactions with one txid (BIP30) the newer wins.
///
/// # Errors
/// [`StoreError::Read`] or [`StoreError::Decode`].
pub fn tx_nums_of(store: &Store, txids: &[[u8; 32]]) -> Result<Vec<Option<TxNum>>, StoreError> {
    let prefixes: Vec<TxidPrefix> = txids.iter().map(TxidPrefix::of).collect();
    let found = store.multi_get::<TxNumByTxid>(&prefixes)?;
    let candidates: Vec<TxNum> = found.iter().flatten().flat_map(|nums| nums.0.iter().copied()).collect();
    let mut rows = store.multi_get::<TxByNum>(&candidates)?.into_iter();
    Ok(txids
        .iter()
        .zip(found)
        .map(|(txid, nums)| {
            let nums = nums.map(|nums| nums.0).unwrap_or_default();
            let rows: Vec<Option<TxRow>> = rows.by_ref().take(nums.len()).collect();
            nums.into_iter()
                .zip(rows)
                .rev()
                .find(|(_, row)| row.as_ref().is_some_and(|row| &row.txid == txid))
                .map(|(num, _)| num)
        })
        .collect())
}

/// The first 8 bytes of the SHA-256 of an address key: the key of
/// `btc_addr_id`. SHA-256 is in every build already (for nonstandard
/// scripts' pseudo-keys), spreads keys evenly, and costs about as much as a
/// point read's key compare for keys of at most 42 bytes; unlike an unkeyed
/// fast hash (xxHash, FxHash) its collisions cannot be made at will, so
/// nobody can pile addresses under one hash to slow lookups down. An
/// accidental collision is expected about once in 4 billion addresses, and
/// [`addr_ids_of`] resolves it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrHash(pub [u8; 8]);

impl AddrHash {
    /// The hash of `key`.
    pub fn of(key: &AddrKey) -> AddrHash {
        let digest = sha256::Hash::hash(key.as_bytes()).to_byte_array();
        let mut hash = [0u8; 8];
        hash.copy_from_slice(&digest[..8]);
        #[cfg(test)]
        if tests::NARROW_ADDR_HASH.with(std::cell::Cell::get) {
            // 16 hashes in all, so that a small chain collides often.
            hash = [hash[0] & 0x0f, 0, 0, 0, 0, 0, 0, 0];
        }
        AddrHash(hash)
    }
}

impl Codec for AddrHash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(AddrHash(<[u8; 8]>::decode_from(input)?))
    }
}

/// The address ids under one [`AddrHash`], oldest first, as varints (at
/// least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrIds(pub Vec<AddressId>);

impl Codec for AddrIds {
    fn encode_to(&self, out: &mut Vec<u8>) {
        for id in &self.0 {
            put_varint(out, id.0);
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(AddrIds(get_varint_list(input)?.into_iter().map(AddressId).collect()))
    }
}

/// What `btc_addr_id` says of some address keys (see [`addr_ids_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrLookup {
    /// The id of the address with each key, in the order of the keys.
    pub ids: Vec<Option<AddressId>>,
    /// For the keys not found whose hash lists other addresses (nearly
    /// always none), the hash and that list: a new address with one of
    /// these keys must join its list, not replace it.
    pub collided: Vec<(AddrHash, AddrIds)>,
}

/// The ids of the addresses with each of `keys`: `btc_addr_id` gives the
/// candidates under each key's hash, and each candidate's `btc_addr_key`
/// row says whether its key matches, so two addresses whose hashes collide
/// stay distinct. Two `multi_get`s in all.
///
/// # Errors
/// [`StoreError::Read`] or [`StoreError::Decode`].
pub fn addr_ids_of(store: &Store, keys: &[AddrKey]) -> Result<AddrLookup, StoreError> {
    let hashes: Vec<AddrHash> = keys.iter().map(AddrHash::of).collect();
    let found = store.multi_get::<AddrIdByKey>(&hashes)?;
    let candidates: Vec<AddressId> = found.iter().flatten().flat_map(|ids| ids.0.iter().copied()).collect();
    let mut stored = store.multi_get::<AddrKeyById>(&candidates)?.into_iter();
    let mut lookup = AddrLookup { ids: Vec::with_capacity(keys.len()), collided: Vec::new() };
    for ((key, hash), listed) in keys.iter().zip(hashes).zip(found) {
        let Some(listed) = listed else {
            lookup.ids.push(None);
            continue;
        };
        let stored: Vec<Option<AddrKey>> = stored.by_ref().take(listed.0.len()).collect();
        let id = listed.0.iter().zip(stored).find(|(_, stored)| stored.as_ref() == Some(key)).map(|(id, _)| *id);
        if id.is_none() {
            lookup.collided.push((hash, listed));
        }
        lookup.ids.push(id);
    }
    Ok(lookup)
}

/// The id of the address with `key`, if the index has it (see
/// [`addr_ids_of`]).
///
/// # Errors
/// [`StoreError::Read`] or [`StoreError::Decode`].
pub fn addr_id_of(store: &Store, key: &AddrKey) -> Result<Option<AddressId>, StoreError> {
    Ok(addr_ids_of(store, std::slice::from_ref(key))?.ids[0])
}

/// The `btc_addr_id` rows that a block's `new` addresses (each with its new
/// id, in order of id) change, in key order: each hash, its list before the
/// block (from [`AddrLookup::collided`]; nearly always none) and its list
/// after, which gains the new ids.
pub fn addr_id_rows<'a>(
    new: &[(AddrKey, AddressId)],
    collided: &'a [(AddrHash, AddrIds)],
) -> Vec<(AddrHash, Option<&'a AddrIds>, AddrIds)> {
    let mut by_hash: Vec<(AddrHash, AddressId)> = new.iter().map(|(key, id)| (AddrHash::of(key), *id)).collect();
    by_hash.sort_unstable();
    let mut rows: Vec<(AddrHash, Option<&AddrIds>, AddrIds)> = Vec::with_capacity(by_hash.len());
    for (hash, id) in by_hash {
        match rows.last_mut() {
            Some((last, _, ids)) if *last == hash => ids.0.push(id),
            _ => {
                let old = collided.iter().find(|(listed, _)| *listed == hash).map(|(_, ids)| ids);
                let mut ids = old.cloned().unwrap_or(AddrIds(Vec::with_capacity(1)));
                ids.0.push(id);
                rows.push((hash, old, ids));
            }
        }
    }
    rows
}

/// Where an address sits in the clusters: `cluster:varint ‖ tx:varint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLink {
    /// Its cluster.
    pub cluster: ClusterId,
    /// The transaction that first spent it together with another address:
    /// the evidence that linked it.
    pub tx: TxNum,
}

impl Codec for ClusterLink {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_varint(out, self.cluster.0);
        put_varint(out, self.tx.0);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(ClusterLink { cluster: ClusterId(get_varint(input)?), tx: TxNum(get_varint(input)?) })
    }
}

/// Why a transaction's input addresses were not merged: `reason:u8 ‖
/// [cluster:varint ‖ cluster:varint]`. Reasons 1-5 are the CoinJoin shapes
/// (Whirlpool, Wasabi 2, Wasabi 1, BlockSci's rule, JoinMarket); 16 is the
/// super-cluster guard, followed by the two largest clusters it would have
/// merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterFlag {
    /// The transaction has a CoinJoin's shape.
    CoinJoin(CoinJoinKind),
    /// It would have merged two clusters each larger than the guard size.
    SuperCluster {
        /// The largest cluster among its inputs' clusters.
        largest: ClusterId,
        /// The second largest.
        second: ClusterId,
    },
}

const SUPER_CLUSTER: u8 = 16;

impl Codec for ClusterFlag {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            ClusterFlag::CoinJoin(kind) => {
                let code = CoinJoinKind::ALL.iter().position(|k| k == kind).expect("ALL lists every kind");
                out.push(code as u8 + 1);
            }
            ClusterFlag::SuperCluster { largest, second } => {
                out.push(SUPER_CLUSTER);
                put_varint(out, largest.0);
                put_varint(out, second.0);
            }
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let code = u8::decode_from(input)?;
        if code == SUPER_CLUSTER {
            let largest = ClusterId(get_varint(input)?);
            return Ok(ClusterFlag::SuperCluster { largest, second: ClusterId(get_varint(input)?) });
        }
        let kind = usize::from(code).checked_sub(1).and_then(|i| CoinJoinKind::ALL.get(i));
        kind.map(|kind| ClusterFlag::CoinJoin(*kind)).ok_or(CodecError::Invalid { what: "cluster flag" })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;

    use bitcoin::Network;
    use chainsleuth_store::{Direction, OpenMode};
    use chainsleuth_sync::{Indexer, UndoPolicy};

    use super::*;
    use crate::sim::{build_chain, SimConfig};
    use crate::{BtcBlock, BtcIndexer};

    thread_local! {
        /// Set by a test to cut [`AddrHash`] down to 16 values on its thread.
        pub(super) static NARROW_ADDR_HASH: Cell<bool> = const { Cell::new(false) };
    }

    /// Checks every `btc_addr_id` list against `btc_addr_key`: each address
    /// resolves to its own id, and each hash lists exactly the ids whose key
    /// has that hash, oldest first. Returns the number of addresses.
    fn check_address_lists(store: &Store) -> usize {
        let keys: Vec<(AddressId, AddrKey)> =
            store.scan::<AddrKeyById>(&[], None, Direction::Forward).unwrap().collect::<Result<_, _>>().unwrap();
        let found = addr_ids_of(store, &keys.iter().map(|(_, key)| *key).collect::<Vec<_>>()).unwrap();
        assert_eq!(found.ids, keys.iter().map(|(id, _)| Some(*id)).collect::<Vec<_>>());
        assert!(found.collided.is_empty());
        let mut expected: BTreeMap<AddrHash, Vec<AddressId>> = BTreeMap::new();
        for (id, key) in &keys {
            expected.entry(AddrHash::of(key)).or_default().push(*id);
        }
        let lists: Vec<(AddrHash, AddrIds)> =
            store.scan::<AddrIdByKey>(&[], None, Direction::Forward).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(lists, expected.into_iter().map(|(hash, ids)| (hash, AddrIds(ids))).collect::<Vec<_>>());
        keys.len()
    }

    #[test]
    fn colliding_address_hashes_stay_distinct_through_indexing_and_unwinding() {
        NARROW_ADDR_HASH.with(|narrow| narrow.set(true));
        let chain = build_chain(&SimConfig { blocks: 112, txs_per_block: 8, ..SimConfig::default() });
        let dir = tempfile::tempdir().unwrap();
        let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
        let keep = UndoPolicy { keep: true, prune: None };
        let index = |indexer: &mut BtcIndexer, heights: std::ops::Range<usize>| {
            for h in heights {
                let block = chain.blocks[h].clone();
                let size = block.total_size();
                indexer.execute(&BtcBlock::new(Height::new(h as u64), block, size), keep).unwrap();
            }
        };
        let tip = chain.blocks.len();
        index(&mut indexer, 0..tip);
        let store = indexer.store().clone();
        // Many more addresses than the 16 hashes: most ids joined a list
        // that an earlier block (or the same one) had started.
        let all = check_address_lists(&store);
        assert!(all > 16 * 4, "only {all} addresses");
        // A key the index lacks, under a hash that lists other addresses.
        let unknown = AddrKey::of_script(&[[0x00, 0x14].as_slice(), &[0xab; 20]].concat()).unwrap();
        let lookup = addr_ids_of(&store, &[unknown]).unwrap();
        assert_eq!(lookup.ids, vec![None]);
        assert_eq!(lookup.collided.len(), 1);
        assert_eq!(lookup.collided[0].0, AddrHash::of(&unknown));

        // Unwinding takes each list back to what it was; indexing the blocks
        // again hands out the same ids.
        for h in (tip - 6..tip).rev() {
            assert!(indexer.unwind(Height::new(h as u64)).unwrap());
        }
        let fewer = check_address_lists(&store);
        assert!(fewer < all, "the last 6 blocks added no address");
        index(&mut indexer, tip - 6..tip);
        assert_eq!(check_address_lists(&store), all);
        NARROW_ADDR_HASH.with(|narrow| narrow.set(false));
    }

    #[test]
    fn a_format_4_store_is_refused_with_both_formats_named() {
        static FORMAT_4: Schema = Schema { name: "btc", format: 4, tables: &[], digest_excludes: &[] };
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(&crate::index::store_path(dir.path()), &FORMAT_4, OpenMode::ReadWrite).unwrap());
        let err = BtcIndexer::open(dir.path(), Network::Regtest).unwrap_err().to_string();
        assert!(err.contains("has format 4, this build reads format 5"), "{err}");
    }

    #[test]
    fn a_block_s_new_addresses_join_the_lists_of_their_hashes() {
        let key = |byte: u8| AddrKey::of_script(&[[0x00, 0x14].as_slice(), &[byte; 20]].concat()).unwrap();
        let (a, b, c) = (key(1), key(2), key(3));
        let old = AddrIds(vec![AddressId(4)]);
        // `a` and `c` are new in one block; `a`'s hash lists address 4 already.
        let collided = vec![(AddrHash::of(&a), old.clone())];
        let rows = addr_id_rows(&[(a, AddressId(9)), (c, AddressId(10))], &collided);
        let mut expected = vec![
            (AddrHash::of(&a), Some(&old), AddrIds(vec![AddressId(4), AddressId(9)])),
            (AddrHash::of(&c), None, AddrIds(vec![AddressId(10)])),
        ];
        expected.sort_by_key(|row| row.0);
        assert_eq!(rows, expected);
        // Two new addresses under one hash (cut to 16 values to find them).
        NARROW_ADDR_HASH.with(|narrow| narrow.set(true));
        let twin = (4..=u8::MAX).map(key).find(|k| AddrHash::of(k) == AddrHash::of(&b)).unwrap();
        let rows = addr_id_rows(&[(b, AddressId(11)), (twin, AddressId(12))], &[]);
        assert_eq!(rows, vec![(AddrHash::of(&b), None, AddrIds(vec![AddressId(11), AddressId(12)]))]);
        NARROW_ADDR_HASH.with(|narrow| narrow.set(false));
    }

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: T) {
        assert_eq!(T::decode(&value.encode()), Ok(value));
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for value in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut input = out.as_slice();
            assert_eq!(get_varint(&mut input), Ok(value));
            assert!(input.is_empty());
        }
        assert!(get_varint(&mut [0x80u8, 0x80].as_slice()).is_err());
        assert!(get_varint(&mut [0xffu8; 10].as_slice()).is_err());
    }

    #[test]
    fn rows_round_trip() {
        round_trip(BlockRow { hash: [7; 32], header: [9; 80], tx_count: 3, first_tx: TxNum(12) });
        round_trip(TxRow { txid: [1; 32], height: Height::new(800_000), position: 4_000, spends: Vec::new() });
        let spends = vec![Spend { tx: TxNum(3), index: 1 }, Spend { tx: TxNum(1 << 40), index: 70_000 }];
        round_trip(TxRow { txid: [2; 32], height: Height::new(1), position: 1, spends });
        round_trip(Spend { tx: TxNum(u64::MAX), index: u32::MAX });
        for address in [None, Some(AddressId(0)), Some(AddressId(1 << 40))] {
            for spent_by in [None, Some(Spend { tx: TxNum(5), index: 0 })] {
                round_trip(OutputRow { address, value: Sats(21_000_000 * 100_000_000), spent_by });
            }
        }
        for (received, sent) in [(0, 0), (50, 0), (0, 7), (3, 4), (u64::MAX, u64::MAX), (u64::MAX, 0)] {
            round_trip(HistoryRow { received: Sats(received), sent: Sats(sent) });
        }
        assert_eq!(HistoryRow { received: Sats(60), sent: Sats(0) }.encode().len(), 1);
        round_trip(AddrTotals { received: Sats(50), sent: Sats(0), tx_count: 1, first_seen: Height::GENESIS });
        round_trip(AddrTotals {
            received: Sats(u64::MAX),
            sent: Sats(u64::MAX),
            tx_count: 9,
            first_seen: Height::new(7),
        });
        round_trip(TxidPrefix([3; 8]));
        round_trip(TxNums(vec![TxNum(0)]));
        round_trip(TxNums(vec![TxNum(5), TxNum(1 << 40)]));
        round_trip(AddrHash([9; 8]));
        round_trip(AddrIds(vec![AddressId(0)]));
        round_trip(AddrIds(vec![AddressId(7), AddressId(1 << 40)]));
    }

    #[test]
    fn cluster_rows_round_trip() {
        round_trip(ClusterLink { cluster: ClusterId(0), tx: TxNum(0) });
        round_trip(ClusterLink { cluster: ClusterId(u64::MAX), tx: TxNum(1 << 40) });
        for kind in CoinJoinKind::ALL {
            round_trip(ClusterFlag::CoinJoin(kind));
        }
        round_trip(ClusterFlag::SuperCluster { largest: ClusterId(3), second: ClusterId(1 << 33) });
        assert!(ClusterFlag::decode(&[0]).is_err());
        assert!(ClusterFlag::decode(&[6]).is_err());
        assert!(ClusterFlag::decode(&[SUPER_CLUSTER, 1]).is_err());
    }

    #[test]
    fn corrupt_rows_are_errors() {
        assert!(OutputRow::decode(&[4, 1]).is_err());
        assert!(OutputRow::decode(&[HAS_ADDRESS]).is_err());
        assert!(TxRow::decode(&[0; 31]).is_err());
        let mut too_many = vec![0u8; 34];
        too_many.extend_from_slice(&[0xff, 0x01, 0, 0]);
        assert!(TxRow::decode(&too_many).is_err());
        assert!(Spend::decode(&[0, 0x80, 0x80, 0x80, 0x80, 0x10]).is_err());
        // More sent than received.
        assert!(AddrTotals::decode(&[1, 2, 1, 0]).is_err());
        // A history row flagged as spending that spends nothing; an amount past 64 bits.
        assert!(HistoryRow::decode(&[1, 0]).is_err());
        assert!(HistoryRow::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x04]).is_err());
        assert!(TxNums::decode(&[]).is_err());
        assert!(AddrIds::decode(&[]).is_err());
        assert!(AddrIds::decode(&[1, 0x80]).is_err());
    }

    #[test]
    fn every_table_has_a_section_in_schema_md() {
        let doc = include_str!("../../SCHEMA.md");
        let headings: Vec<&str> = doc.lines().filter_map(|line| line.strip_prefix("## ")).map(str::trim).collect();
        for name in SCHEMA.tables {
            assert!(headings.contains(name), "SCHEMA.md lacks a `## {name}` section");
        }
        let table_like = |h: &&&str| h.chars().all(|c| c.is_ascii_lowercase() || c == '_') && **h != "meta";
        for heading in headings.iter().filter(table_like) {
            assert!(SCHEMA.tables.contains(heading), "SCHEMA.md documents {heading}, which the schema lacks");
        }
    }
}
