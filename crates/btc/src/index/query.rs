//! Reading the index back: an address's summary and paged history, a
//! transaction with its inputs and outputs, an address's cluster with its
//! members paged, the store's status.
//!
//! Every function takes a [`Store`] opened either way, so the CLI and the
//! HTTP API can answer from a read-only store beside a running indexer.
//! Results are plain serialisable structs; amounts are integer satoshi.

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Network, Txid};
use chainsleuth_core::{AddressId, ClusterId, Height, Sats, TxNum};
use chainsleuth_store::{Codec, Direction, Meta, Store};
use serde::Serialize;

pub use super::cluster::clustered_height;
use super::error::IndexError;
use super::indexer::{check_network, read_counter};
use super::script::AddrKey;
use super::tables::{
    addr_id_of, tx_nums_of, AddrKeyById, BlockByHeight, ClusterAlias, ClusterFlag, ClusterFlags, ClusterLink,
    ClusterMembers, ClusterOf, ClusterSize, History, OutputRow, Outputs, Spend, Totals, TxByNum, TxRow, NETWORK_KEY,
    NEXT_ADDR_KEY, NEXT_TX_KEY,
};

/// The most rows one history page returns.
pub const MAX_PAGE: usize = 10_000;

/// An address's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressSummary {
    /// The address, as given back in its canonical form.
    pub address: String,
    /// The value of its unspent outputs, in satoshi.
    pub balance: Sats,
    /// The value of every output paying it, in satoshi.
    pub received: Sats,
    /// The value of its spent outputs, in satoshi.
    pub sent: Sats,
    /// Transactions that pay it or spend from it, each counted once.
    pub tx_count: u64,
    /// The height of its first transaction; `None` if it has none.
    pub first_seen: Option<Height>,
    /// The height of its latest transaction; `None` if it has none.
    pub last_seen: Option<Height>,
}

/// One transaction in an address's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The height of its block.
    pub height: Height,
    /// The transaction.
    pub txid: Txid,
    /// Its position in the block.
    pub position: u32,
    /// What it paid the address, in satoshi.
    pub received: Sats,
    /// What it spent from the address, in satoshi.
    pub sent: Sats,
}

/// One page of an address's history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryPage {
    /// The address, in its canonical form.
    pub address: String,
    /// The rows, newest first.
    pub rows: Vec<HistoryEntry>,
    /// Pass this to get the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The input that spent an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpentBy {
    /// The spending transaction.
    pub txid: Txid,
    /// The input's index in it.
    pub vin: u32,
}

/// One input of a transaction and the output it spends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxInputView {
    /// The input's index.
    pub vin: u32,
    /// The transaction whose output it spends.
    pub prev_txid: Txid,
    /// That output's index.
    pub prev_vout: u32,
    /// The address the spent output paid; `None` for OP_RETURN.
    pub address: Option<String>,
    /// The spent output's value, in satoshi.
    pub value: Sats,
}

/// One output of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxOutputView {
    /// The output's index.
    pub vout: u32,
    /// The address it pays; `None` for OP_RETURN.
    pub address: Option<String>,
    /// Its value, in satoshi.
    pub value: Sats,
    /// The input that spent it, if any.
    pub spent_by: Option<SpentBy>,
}

/// A transaction as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxView {
    /// The transaction.
    pub txid: Txid,
    /// The height of its block.
    pub height: Height,
    /// Its block.
    pub block_hash: BlockHash,
    /// Its position in the block.
    pub position: u32,
    /// Whether it is the block's coinbase (which spends nothing).
    pub coinbase: bool,
    /// Its inputs with the outputs they spend (empty for a coinbase).
    pub inputs: Vec<TxInputView>,
    /// Its outputs.
    pub outputs: Vec<TxOutputView>,
    /// Inputs minus outputs, in satoshi; `None` for a coinbase.
    pub fee: Option<Sats>,
}

/// One address of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMember {
    /// The address.
    pub address: String,
    /// The transaction that first spent from it together with another
    /// address: the evidence that it belongs here. `None` in a cluster of one.
    pub linked_by: Option<Txid>,
}

/// The id of a cluster that was merged into another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterAliasView {
    /// The old id; it still resolves to the cluster it was merged into.
    pub id: ClusterId,
    /// The transaction whose inputs merged it.
    pub merged_by: Txid,
}

/// A cluster of addresses believed to share an owner, with one page of its
/// members in address id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterView {
    /// The cluster's id: the address id of its first member.
    pub id: ClusterId,
    /// How many addresses it holds.
    pub size: u64,
    /// One page of its members.
    pub members: Vec<ClusterMember>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The ids of clusters merged into it (at most [`MAX_PAGE`]).
    pub aliases: Vec<ClusterAliasView>,
    /// The last block clustered: transactions above it have not been
    /// looked at yet. `None` before the first.
    pub clustered_height: Option<Height>,
}

/// What the Bitcoin store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BtcStatus {
    /// The network it indexes (Core's name: `main`, `test`, `signet`, `regtest`).
    pub network: Option<String>,
    /// The indexed tip's height; `None` for an empty store.
    pub tip_height: Option<Height>,
    /// The indexed tip's hash.
    pub tip_hash: Option<BlockHash>,
    /// Transactions indexed.
    pub transactions: u64,
    /// Distinct addresses seen.
    pub addresses: u64,
    /// Approximate bytes on disk.
    pub store_bytes: u64,
    /// The last block whose transactions are clustered (`None` before the
    /// first); clustering runs the configured depth behind the tip.
    pub clustered_height: Option<Height>,
}

fn parse_address(store: &Store, address: &str, network: Network) -> Result<AddrKey, IndexError> {
    check_network(store, network)?;
    AddrKey::parse(address.trim(), network).map_err(|reason| IndexError::InvalidAddress {
        address: address.to_owned(),
        network,
        reason,
    })
}

/// The totals of `address` (text, for `network`): its `btc_addr_total` row,
/// and the height of its newest history row (one reverse seek). An address
/// the index has never seen has zero totals and no first or last height.
///
/// # Errors
/// [`IndexError::InvalidAddress`] naming the address and the network;
/// [`IndexError::NetworkMismatch`]; store errors.
pub fn address_summary(store: &Store, address: &str, network: Network) -> Result<AddressSummary, IndexError> {
    let key = parse_address(store, address, network)?;
    let text = key.to_text(network);
    let found = match addr_id_of(store, &key)? {
        Some(id) => {
            let row = store
                .get::<Totals>(&id)?
                .ok_or_else(|| IndexError::Corrupt(format!("address id {id} has no totals")))?;
            let newest = store.scan::<History>(&id.encode(), None, Direction::Reverse)?.next().transpose()?;
            let ((_, tx), _) = newest.ok_or_else(|| IndexError::Corrupt(format!("address id {id} has no history")))?;
            Some((id, tx, row))
        }
        None => None,
    };
    Ok(match found {
        Some((id, tx, row)) => AddressSummary {
            address: text,
            balance: row.balance().map_err(|_| corrupt_totals(id))?,
            received: row.received,
            sent: row.sent,
            tx_count: row.tx_count,
            first_seen: Some(row.first_seen),
            last_seen: Some(tx_rows(store, &[tx])?[0].height),
        },
        None => AddressSummary {
            address: text,
            balance: Sats(0),
            received: Sats(0),
            sent: Sats(0),
            tx_count: 0,
            first_seen: None,
            last_seen: None,
        },
    })
}

fn corrupt_totals(id: AddressId) -> IndexError {
    IndexError::Corrupt(format!("the totals of address id {id} sent more than they received"))
}

fn encode_cursor(tx: TxNum) -> String {
    format!("{:016x}", tx.0)
}

fn decode_cursor(cursor: &str) -> Result<TxNum, IndexError> {
    let bad = || IndexError::BadCursor(cursor.to_owned());
    if cursor.len() != 16 {
        return Err(bad());
    }
    u64::from_str_radix(cursor, 16).map(TxNum).map_err(|_| bad())
}

/// One page of `address`'s history, newest first: up to `limit` rows
/// (clamped to 1..=[`MAX_PAGE`]) starting at `cursor` (a `next_cursor` of
/// an earlier page) or at the newest row. A page costs one seek at any depth.
///
/// # Errors
/// [`IndexError::InvalidAddress`], [`IndexError::BadCursor`],
/// [`IndexError::NetworkMismatch`]; store errors.
pub fn address_history(
    store: &Store,
    address: &str,
    network: Network,
    cursor: Option<&str>,
    limit: usize,
) -> Result<HistoryPage, IndexError> {
    let key = parse_address(store, address, network)?;
    let from = cursor.map(decode_cursor).transpose()?;
    let mut page = HistoryPage { address: key.to_text(network), rows: Vec::new(), next_cursor: None };
    let Some(id) = addr_id_of(store, &key)? else { return Ok(page) };
    let limit = limit.clamp(1, MAX_PAGE);
    let prefix = id.encode();
    let start = from.map(|tx| (id, tx).encode());
    // One row past the page says whether there is a next page (its
    // transaction is the next page's cursor).
    let mut rows = Vec::with_capacity(limit + 1);
    for row in store.scan::<History>(&prefix, start.as_deref(), Direction::Reverse)? {
        let ((_, tx), entry) = row?;
        rows.push((tx, entry));
        if rows.len() > limit {
            page.next_cursor = Some(encode_cursor(tx));
            break;
        }
    }
    rows.truncate(limit);
    let nums: Vec<TxNum> = rows.iter().map(|(tx, _)| *tx).collect();
    let txs = store.multi_get::<TxByNum>(&nums)?;
    page.rows = rows
        .into_iter()
        .zip(txs)
        .map(|((tx, entry), row)| {
            let row =
                row.ok_or_else(|| IndexError::Corrupt(format!("history of address id {id} names missing tx {tx}")))?;
            Ok(HistoryEntry {
                height: row.height,
                txid: Txid::from_byte_array(row.txid),
                position: row.position,
                received: entry.received,
                sent: entry.sent,
            })
        })
        .collect::<Result<_, IndexError>>()?;
    Ok(page)
}

fn tx_rows(store: &Store, nums: &[TxNum]) -> Result<Vec<TxRow>, IndexError> {
    store
        .multi_get::<TxByNum>(nums)?
        .into_iter()
        .zip(nums)
        .map(|(row, num)| row.ok_or_else(|| IndexError::Corrupt(format!("tx number {num} has no row"))))
        .collect()
}

fn address_texts(store: &Store, ids: &[AddressId], network: Network) -> Result<Vec<String>, IndexError> {
    store
        .multi_get::<AddrKeyById>(ids)?
        .into_iter()
        .zip(ids)
        .map(|(key, id)| {
            key.map(|key| key.to_text(network))
                .ok_or_else(|| IndexError::Corrupt(format!("address id {id} has no key")))
        })
        .collect()
}

/// The transaction `txid` (hex, as explorers show it) with its inputs (and
/// the outputs they spend) and its outputs (and what spent them); addresses
/// are written for `network`.
///
/// # Errors
/// [`IndexError::InvalidTxid`], [`IndexError::UnknownTx`]; store errors.
pub fn tx(store: &Store, txid: &str, network: Network) -> Result<TxView, IndexError> {
    let parsed = Txid::from_str(txid.trim()).map_err(|_| IndexError::InvalidTxid(txid.to_owned()))?;
    let num = tx_nums_of(store, &[parsed.to_byte_array()])?[0].ok_or(IndexError::UnknownTx(parsed))?;
    let row = tx_rows(store, &[num])?.remove(0);
    let block = store
        .get::<BlockByHeight>(&row.height)?
        .ok_or_else(|| IndexError::Corrupt(format!("tx {parsed} is in block {}, which has no row", row.height)))?;

    let prefix = num.encode();
    let outputs: Vec<(u32, OutputRow)> = store
        .scan::<Outputs>(&prefix, None, Direction::Forward)?
        .map(|r| r.map(|((_, vout), out)| (vout, out)))
        .collect::<Result<_, _>>()?;
    let inputs: Vec<(u32, Spend)> = (0u32..).zip(row.spends.iter().copied()).collect();

    let prev_keys: Vec<(TxNum, u32)> = inputs.iter().map(|(_, s)| (s.tx, s.index)).collect();
    let prevs = store.multi_get::<Outputs>(&prev_keys)?;
    let prevs: Vec<OutputRow> = prevs
        .into_iter()
        .zip(&prev_keys)
        .map(|(p, (tx, vout))| p.ok_or_else(|| IndexError::Corrupt(format!("spent output {tx}:{vout} has no row"))))
        .collect::<Result<_, _>>()?;
    let prev_txs = tx_rows(store, &prev_keys.iter().map(|k| k.0).collect::<Vec<_>>())?;
    let spender_nums: Vec<TxNum> = outputs.iter().filter_map(|(_, o)| o.spent_by.map(|s| s.tx)).collect();
    let spenders = tx_rows(store, &spender_nums)?;

    let mut ids: Vec<AddressId> =
        prevs.iter().chain(outputs.iter().map(|(_, o)| o)).filter_map(|o| o.address).collect();
    ids.sort_unstable();
    ids.dedup();
    let texts = address_texts(store, &ids, network)?;
    let text_of = |id: Option<AddressId>| id.and_then(|id| ids.binary_search(&id).ok()).map(|i| texts[i].clone());

    let input_views: Vec<TxInputView> = inputs
        .iter()
        .zip(&prevs)
        .zip(&prev_txs)
        .map(|(((vin, spend), prev), prev_tx)| TxInputView {
            vin: *vin,
            prev_txid: Txid::from_byte_array(prev_tx.txid),
            prev_vout: spend.index,
            address: text_of(prev.address),
            value: prev.value,
        })
        .collect();
    let mut spenders = spenders.iter();
    let output_views: Vec<TxOutputView> = outputs
        .iter()
        .map(|(vout, out)| TxOutputView {
            vout: *vout,
            address: text_of(out.address),
            value: out.value,
            spent_by: out
                .spent_by
                .and_then(|s| spenders.next().map(|t| SpentBy { txid: Txid::from_byte_array(t.txid), vin: s.index })),
        })
        .collect();
    let coinbase = row.position == 0;
    let fee = if coinbase {
        None
    } else {
        let total_in: u64 = input_views.iter().map(|i| i.value.0).sum();
        let total_out: u64 = output_views.iter().map(|o| o.value.0).sum();
        Some(Sats(total_in.saturating_sub(total_out)))
    };
    Ok(TxView {
        txid: parsed,
        height: row.height,
        block_hash: BlockHash::from_byte_array(block.hash),
        position: row.position,
        coinbase,
        inputs: input_views,
        outputs: output_views,
        fee,
    })
}

/// The cluster an address belongs to: its [`ClusterLink`] (cluster id and
/// the transaction that linked it), or `None` for an address in a cluster of
/// one (or one the clustering has not reached).
///
/// # Errors
/// Store errors.
pub fn cluster_link(store: &Store, address: AddressId) -> Result<Option<ClusterLink>, IndexError> {
    Ok(store.get::<ClusterOf>(&address)?)
}

/// Why the inputs of transaction `tx` were not merged, if they were not for
/// a reason (a CoinJoin shape, the super-cluster guard).
///
/// # Errors
/// Store errors.
pub fn cluster_flag(store: &Store, tx: TxNum) -> Result<Option<ClusterFlag>, IndexError> {
    Ok(store.get::<ClusterFlags>(&tx)?)
}

/// The address id that `query` names: a cluster id (decimal digits, an
/// address id whose cluster is wanted) or an address of `network`.
fn cluster_subject(store: &Store, query: &str, network: Network) -> Result<AddressId, IndexError> {
    let text = query.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let unknown = || IndexError::UnknownCluster(text.parse().unwrap_or(u64::MAX));
        let id = AddressId(text.parse().map_err(|_| unknown())?);
        return match store.get::<AddrKeyById>(&id)? {
            Some(_) => Ok(id),
            None => Err(unknown()),
        };
    }
    let key = parse_address(store, text, network)?;
    addr_id_of(store, &key)?.ok_or_else(|| IndexError::UnknownAddress(key.to_text(network)))
}

/// The id of the cluster `address` belongs to: the address itself while it
/// is in none (a cluster of one).
fn cluster_root(store: &Store, address: AddressId) -> Result<AddressId, IndexError> {
    Ok(store.get::<ClusterOf>(&address)?.map_or(address, |link| AddressId(link.cluster.0)))
}

/// A cluster in brief, as an address page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClusterRef {
    /// The cluster's id (see [`ClusterView::id`]).
    pub id: ClusterId,
    /// How many addresses it holds.
    pub size: u64,
}

/// The cluster `address` (text, for `network`) belongs to, in two point
/// reads; `None` when the index has never seen the address.
///
/// # Errors
/// [`IndexError::InvalidAddress`], [`IndexError::NetworkMismatch`]; store errors.
pub fn cluster_of(store: &Store, address: &str, network: Network) -> Result<Option<ClusterRef>, IndexError> {
    let key = parse_address(store, address, network)?;
    let Some(member) = addr_id_of(store, &key)? else { return Ok(None) };
    let id = cluster_root(store, member)?;
    let size = store.get::<ClusterSize>(&id)?.unwrap_or(1);
    Ok(Some(ClusterRef { id: ClusterId(id.0), size }))
}

/// The cluster named by `query` (an address, or a cluster id in decimal;
/// an old id resolves to the cluster it was merged into) with one page of
/// up to `limit` members (clamped to 1..=[`MAX_PAGE`]) from `cursor` (a
/// `next_cursor` of an earlier page), and its aliases. Addresses are
/// written for `network`. An address in no cluster is a cluster of one.
///
/// # Errors
/// [`IndexError::InvalidAddress`], [`IndexError::UnknownAddress`],
/// [`IndexError::UnknownCluster`], [`IndexError::BadCursor`]; store errors.
pub fn cluster(
    store: &Store,
    query: &str,
    network: Network,
    cursor: Option<&str>,
    limit: usize,
) -> Result<ClusterView, IndexError> {
    let subject = cluster_subject(store, query, network)?;
    let from = cursor.map(decode_cursor).transpose()?.map(|tx| AddressId(tx.0));
    let id = cluster_root(store, subject)?;
    let limit = limit.clamp(1, MAX_PAGE);
    let size = store.get::<ClusterSize>(&id)?;
    let mut next_cursor = None;
    let members: Vec<AddressId> = match size {
        None => from.is_none_or(|from| from <= id).then_some(id).into_iter().collect(),
        Some(_) => {
            let start = from.map(|from| (id, from).encode());
            let mut members = Vec::with_capacity(limit + 1);
            for row in store.scan::<ClusterMembers>(&id.encode(), start.as_deref(), Direction::Forward)? {
                let ((_, member), ()) = row?;
                if members.len() == limit {
                    next_cursor = Some(encode_cursor(TxNum(member.0)));
                    break;
                }
                members.push(member);
            }
            members
        }
    };
    let texts = address_texts(store, &members, network)?;
    let links = store.multi_get::<ClusterOf>(&members)?;
    let link_nums: Vec<TxNum> = links.iter().flatten().map(|link| link.tx).collect();
    let mut link_txs = tx_rows(store, &link_nums)?.into_iter();
    let members = texts
        .into_iter()
        .zip(links)
        .map(|(address, link)| ClusterMember {
            address,
            linked_by: link.and_then(|_| link_txs.next()).map(|row| Txid::from_byte_array(row.txid)),
        })
        .collect();

    let mut aliases: Vec<(AddressId, TxNum)> = Vec::new();
    for row in store.scan::<ClusterAlias>(&id.encode(), None, Direction::Forward)?.take(MAX_PAGE) {
        let ((_, old), merged_by) = row?;
        aliases.push((old, merged_by));
    }
    let merge_txs = tx_rows(store, &aliases.iter().map(|(_, tx)| *tx).collect::<Vec<_>>())?;
    let aliases = aliases
        .iter()
        .zip(merge_txs)
        .map(|((old, _), row)| ClusterAliasView { id: ClusterId(old.0), merged_by: Txid::from_byte_array(row.txid) })
        .collect();
    Ok(ClusterView {
        id: ClusterId(id.0),
        size: size.unwrap_or(1),
        members,
        next_cursor,
        aliases,
        clustered_height: clustered_height(store)?,
    })
}

/// The store's tip, counts and size.
///
/// # Errors
/// Store errors.
pub fn status(store: &Store) -> Result<BtcStatus, IndexError> {
    let tip = store.tip()?;
    let network = store.get::<Meta>(&NETWORK_KEY.to_owned())?.map(|n| String::from_utf8_lossy(&n).into_owned());
    Ok(BtcStatus {
        network,
        tip_height: tip.map(|t| t.height),
        tip_hash: tip.map(|t| BlockHash::from_byte_array(t.hash.0)),
        transactions: read_counter(store, NEXT_TX_KEY)?.unwrap_or(0),
        addresses: read_counter(store, NEXT_ADDR_KEY)?.unwrap_or(0),
        store_bytes: store.approximate_size(),
        clustered_height: super::cluster::clustered_height(store)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        assert_eq!(decode_cursor(&encode_cursor(TxNum(123_456))).unwrap(), TxNum(123_456));
        for bad in ["", "xyz", "00000000000000zz", "0000000000000000ff"] {
            assert!(matches!(decode_cursor(bad), Err(IndexError::BadCursor(_))), "{bad}");
        }
    }
}
