//! Multi-input clustering as the indexer keeps it: inputs of one owner are
//! merged with stable ids and aliases, CoinJoins and super-cluster merges are
//! flagged and not merged, a simulated chain's clusters equal a reference
//! union-find of the same rule, and reorgs shallower than the cluster depth
//! leave the cluster tables as they were while deeper ones unwind them
//! exactly (the digest equals a clean index of the winning chain).

mod index_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bitcoin::{Network, OutPoint, ScriptBuf, Transaction, Txid};
use chainsleuth_btc::index::coinjoin::{detect, CoinJoinKind, TxShape};
use chainsleuth_btc::index::tables::{ClusterAlias, ClusterFlag, ClusterFlags, ClusterMembers, ClusterOf, ClusterSize};
use chainsleuth_btc::index::{open_read_only, query, AddrKey, BtcGraph, ClusterOptions, IndexError};
use chainsleuth_btc::sim::{build_chain, Scenario, SimChain, SimConfig};
use chainsleuth_btc::BtcIndexer;
use chainsleuth_core::{AddressId, ClusterId, Height, Sats, UtxoGraph};
use chainsleuth_store::{Store, Table};
use chainsleuth_sync::{Indexer, SyncOptions, UndoPolicy};
use index_support::{btc_block, coinbase, sync, tx, ChainBuilder, MemSource};

const KEEP: UndoPolicy = UndoPolicy { keep: true, prune: None };
const COIN: u64 = 100_000_000;

/// A P2WPKH script whose key hash ends in `n`: address `n` of the hand-made chains.
fn addr(n: u16) -> ScriptBuf {
    let mut script = vec![0x00, 20];
    script.extend_from_slice(&[0xab; 18]);
    script.extend_from_slice(&n.to_be_bytes());
    ScriptBuf::from_bytes(script)
}

fn text(n: u16) -> String {
    AddrKey::of_script(addr(n).as_bytes()).unwrap().to_text(Network::Regtest)
}

/// A hand-made chain whose blocks 1 and 2 each pay one coin of 1 BTC to
/// addresses 1 to 300, indexed block by block as it grows.
struct Hand {
    chain: ChainBuilder,
    funding: [Txid; 2],
    indexer: BtcIndexer,
    _dir: tempfile::TempDir,
}

impl Hand {
    fn new(clustering: ClusterOptions) -> Hand {
        let dir = tempfile::tempdir().unwrap();
        let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap().with_clustering(clustering);
        let mut chain = ChainBuilder::default();
        indexer.execute(&btc_block(0, &chain.blocks[0]), KEEP).unwrap();
        let outputs: Vec<(ScriptBuf, u64)> = (1..=300).map(|n| (addr(n), COIN)).collect();
        let mut funding = [Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()); 2];
        for txid in &mut funding {
            let cb = coinbase(chain.height() + 1, &outputs);
            *txid = cb.compute_txid();
            chain.push(vec![cb]);
            indexer.execute(&btc_block(chain.height(), chain.blocks.last().unwrap()), KEEP).unwrap();
        }
        Hand { chain, funding, indexer, _dir: dir }
    }

    /// The coin of round `round` (0 or 1) of address `n`.
    fn coin(&self, n: u16, round: usize) -> OutPoint {
        OutPoint { txid: self.funding[round], vout: u32::from(n) - 1 }
    }

    /// Spends round `round` coins of `inputs` into `outputs` (address, sat).
    fn spend(&self, inputs: &[u16], round: usize, outputs: &[(u16, u64)]) -> Transaction {
        let prevs: Vec<OutPoint> = inputs.iter().map(|n| self.coin(*n, round)).collect();
        let outputs: Vec<(ScriptBuf, u64)> = outputs.iter().map(|(n, v)| (addr(*n), *v)).collect();
        tx(&prevs, &outputs)
    }

    /// Mines and indexes a block holding `txs` after a coinbase.
    fn mine(&mut self, txs: Vec<Transaction>) -> Vec<Txid> {
        let height = self.chain.height() + 1;
        let mut all = vec![coinbase(height, &[(addr(9_999), 50 * COIN)])];
        all.extend(txs);
        let txids = all.iter().map(Transaction::compute_txid).collect();
        self.chain.push(all);
        self.indexer.execute(&btc_block(height, self.chain.blocks.last().unwrap()), KEEP).unwrap();
        txids
    }

    fn store(&self) -> &Store {
        self.indexer.store()
    }

    fn cluster(&self, query: &str) -> query::ClusterView {
        query::cluster(self.store(), query, Network::Regtest, None, query::MAX_PAGE).unwrap()
    }

    fn id(&self, n: u16) -> u64 {
        BtcGraph::new(self.store()).unwrap().address_id(&text(n)).unwrap().unwrap().0
    }

    fn members(&self, query: &str) -> BTreeSet<String> {
        self.cluster(query).members.into_iter().map(|m| m.address).collect()
    }
}

fn texts(ns: &[u16]) -> BTreeSet<String> {
    ns.iter().map(|n| text(*n)).collect()
}

#[test]
fn inputs_of_one_owner_merge_with_stable_ids_aliases_and_evidence() {
    let mut hand = Hand::new(ClusterOptions { depth: 2, guard_size: 10_000 });
    // Owner X spends addresses 1 and 2 together, owner Y 3, 4 and 5.
    let block3 = hand.mine(vec![
        hand.spend(&[1, 2], 0, &[(1_000, 2 * COIN - 1_000)]),
        hand.spend(&[3, 4, 5], 0, &[(1_001, 3 * COIN - 1_000)]),
    ]);
    // Block 4: not clustered yet (depth 2): an address first seen in block 3
    // has no cluster, one seen earlier is its own.
    hand.mine(Vec::new());
    let graph = BtcGraph::new(hand.store()).unwrap();
    let (id_1, id_2, id_1000) = (AddressId(hand.id(1)), AddressId(hand.id(2)), AddressId(hand.id(1_000)));
    assert_eq!(graph.cluster_of(id_1).unwrap(), Some(ClusterId(id_1.0)));
    assert_eq!(graph.cluster_of(id_1000).unwrap(), None);
    assert_eq!(hand.cluster(&text(1)).size, 1);

    // Block 5 clusters block 3.
    hand.mine(Vec::new());
    let x = hand.cluster(&text(2));
    assert_eq!((x.id, x.size), (ClusterId(hand.id(1)), 2));
    assert_eq!(hand.members(&text(1)), texts(&[1, 2]));
    assert!(x.members.iter().all(|m| m.linked_by == Some(block3[1])));
    let y = hand.cluster(&text(5));
    assert_eq!((y.id, y.size), (ClusterId(hand.id(3)), 3));
    assert_eq!(hand.cluster(&text(1_000)).size, 1);
    let graph = BtcGraph::new(hand.store()).unwrap();
    assert_eq!(graph.cluster_of(id_1000).unwrap(), Some(ClusterId(id_1000.0)));
    assert_eq!(graph.cluster_link(id_2).unwrap(), graph.tx_num(&block3[1].to_string()).unwrap());

    // X (2) and Y (3) merge: Y keeps its id, X's id becomes an alias that
    // still resolves; X's members keep the transaction that linked them.
    // In the same block two clusters of 2 form and, a block later, merge:
    // on a tie the smaller id keeps.
    let block6 = hand.mine(vec![
        hand.spend(&[2, 4], 1, &[(1_002, 2 * COIN - 1_000)]),
        hand.spend(&[6, 7], 0, &[(1_003, COIN)]),
        hand.spend(&[8, 9], 0, &[(1_004, COIN)]),
    ]);
    let block7 = hand.mine(vec![hand.spend(&[9, 6], 1, &[(1_005, COIN)])]);
    hand.mine(Vec::new());
    hand.mine(Vec::new());
    let merged = hand.cluster(&text(1));
    assert_eq!((merged.id, merged.size), (ClusterId(hand.id(3)), 5));
    assert_eq!(hand.members(&text(4)), texts(&[1, 2, 3, 4, 5]));
    let alias: Vec<(ClusterId, Txid)> = merged.aliases.iter().map(|a| (a.id, a.merged_by)).collect();
    assert_eq!(alias, vec![(ClusterId(hand.id(1)), block6[1])]);
    let by_old_id = hand.cluster(&hand.id(1).to_string());
    assert_eq!((by_old_id.id, by_old_id.size), (merged.id, 5));
    let links: BTreeMap<String, Option<Txid>> =
        merged.members.iter().map(|m| (m.address.clone(), m.linked_by)).collect();
    assert_eq!(links[&text(1)], Some(block3[1]));
    assert_eq!(links[&text(5)], Some(block3[2]));

    let tie = hand.cluster(&text(8));
    assert_eq!((tie.id, tie.size), (ClusterId(hand.id(6)), 4));
    assert_eq!(
        tie.aliases.iter().map(|a| (a.id, a.merged_by)).collect::<Vec<_>>(),
        vec![(ClusterId(hand.id(8)), block7[1])]
    );

    // Paging through members: two pages of 3 and 2, in address id order.
    let first = query::cluster(hand.store(), &text(3), Network::Regtest, None, 3).unwrap();
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = query::cluster(hand.store(), &text(3), Network::Regtest, Some(&cursor), 3).unwrap();
    assert_eq!((first.members.len(), second.members.len(), second.next_cursor), (3, 2, None));
    let all: BTreeSet<String> = first.members.iter().chain(&second.members).map(|m| m.address.clone()).collect();
    assert_eq!(all, texts(&[1, 2, 3, 4, 5]));

    // Bad input.
    let err = |q: &str| query::cluster(hand.store(), q, Network::Regtest, None, 10).unwrap_err();
    assert!(matches!(err("not-an-address"), IndexError::InvalidAddress { .. }));
    assert!(matches!(err("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"), IndexError::InvalidAddress { .. }));
    assert!(matches!(err(&text(4_444)), IndexError::UnknownAddress(_)));
    assert!(matches!(err("99999999"), IndexError::UnknownCluster(99_999_999)));
    assert!(matches!(
        query::cluster(hand.store(), &text(1), Network::Regtest, Some("zz"), 10),
        Err(IndexError::BadCursor(_))
    ));
}

#[test]
fn coinjoins_are_flagged_and_not_merged() {
    let mut hand = Hand::new(ClusterOptions { depth: 1, guard_size: 10_000 });
    let pool: Vec<(u16, u64)> = (0..5).map(|i| (2_001 + i, 1_000_000)).collect();
    let whirlpool = hand.spend(&[1, 2, 3, 4, 5], 0, &pool);
    let wasabi2 = {
        let denominations = [5_000u64, 6_561, 8_192, 10_000, 100_000];
        let mut outputs: Vec<(u16, u64)> = (0..60).map(|i| (2_100 + i, denominations[i as usize % 5])).collect();
        outputs.extend([(2_200, 12_345_678), (2_201, 9_876_543)]);
        hand.spend(&(10..60).collect::<Vec<u16>>(), 0, &outputs)
    };
    let wasabi1 = {
        let mut outputs: Vec<(u16, u64)> = (0..12).map(|i| (2_300 + i, 10_003_000)).collect();
        outputs.extend([(2_320, 4_567_890), (2_321, 30_000)]);
        hand.spend(&(60..75).collect::<Vec<u16>>(), 0, &outputs)
    };
    let blocksci = hand.spend(
        &[80, 81, 82, 83],
        0,
        &[
            (2_400, 5_000_000),
            (2_401, 93_000_000),
            (2_402, 5_000_000),
            (2_403, 94_000_000),
            (2_404, 5_000_000),
            (2_405, 92_000_000),
            (2_406, 5_000_000),
            (2_407, 91_000_000),
        ],
    );
    let joinmarket = hand.spend(
        &[90, 91, 92, 93, 94],
        0,
        &[
            (2_500, 20_000_000),
            (2_501, 20_000_000),
            (2_502, 20_000_000),
            (2_503, 20_000_000),
            (2_504, 79_000_000),
            (2_505, 81_000_000),
        ],
    );
    let control = hand.spend(&[100, 101], 0, &[(2_600, 150_000_000), (2_601, 49_000_000)]);
    let txids = hand.mine(vec![whirlpool, wasabi2, wasabi1, blocksci, joinmarket, control]);
    hand.mine(Vec::new());

    let graph = BtcGraph::new(hand.store()).unwrap();
    let kinds = [
        (1, CoinJoinKind::Whirlpool, 1..6),
        (2, CoinJoinKind::Wasabi2, 10..60),
        (3, CoinJoinKind::Wasabi1, 60..75),
        (4, CoinJoinKind::BlockSci, 80..84),
        (5, CoinJoinKind::JoinMarket, 90..95),
    ];
    for (pos, kind, inputs) in kinds {
        let num = graph.tx_num(&txids[pos].to_string()).unwrap().unwrap();
        assert_eq!(query::cluster_flag(hand.store(), num).unwrap(), Some(ClusterFlag::CoinJoin(kind)));
        for n in inputs {
            let view = hand.cluster(&text(n));
            assert_eq!((view.id, view.size), (ClusterId(hand.id(n)), 1), "{kind:?} input {n}");
        }
    }
    assert_eq!(hand.members(&text(101)), texts(&[100, 101]));
    let control = graph.tx_num(&txids[6].to_string()).unwrap().unwrap();
    assert_eq!(query::cluster_flag(hand.store(), control).unwrap(), None);
}

#[test]
fn the_super_cluster_guard_refuses_to_merge_two_large_clusters() {
    let mut hand = Hand::new(ClusterOptions { depth: 1, guard_size: 2 });
    hand.mine(vec![hand.spend(&[1, 2, 3], 0, &[(3_000, 2 * COIN)]), hand.spend(&[4, 5, 6], 0, &[(3_001, 2 * COIN)])]);
    let txids = hand.mine(vec![
        hand.spend(&[1, 4], 1, &[(3_002, COIN)]),
        hand.spend(&[2, 7], 1, &[(3_003, COIN)]),
        hand.spend(&[8, 9], 0, &[(3_004, COIN)]),
    ]);
    // A third cluster larger than 2 meets a cluster of 2: allowed.
    let last = hand.mine(vec![hand.spend(&[3, 8], 1, &[(3_005, COIN)])]);
    hand.mine(Vec::new());

    let graph = BtcGraph::new(hand.store()).unwrap();
    let flagged = graph.tx_num(&txids[1].to_string()).unwrap().unwrap();
    let flag = query::cluster_flag(hand.store(), flagged).unwrap();
    let (x, y) = (ClusterId(hand.id(1)), ClusterId(hand.id(4)));
    assert_eq!(flag, Some(ClusterFlag::SuperCluster { largest: x, second: y }));
    assert_eq!(hand.members(&text(1)), texts(&[1, 2, 3, 7, 8, 9]));
    assert_eq!(hand.members(&text(4)), texts(&[4, 5, 6]));
    let merged = graph.tx_num(&last[1].to_string()).unwrap().unwrap();
    assert_eq!(query::cluster_flag(hand.store(), merged).unwrap(), None);
}

/// Every row of the cluster tables, as text.
fn cluster_rows(store: &Store) -> Vec<String> {
    fn dump<T: Table>(store: &Store, out: &mut Vec<String>)
    where
        T::Key: std::fmt::Debug,
        T::Value: std::fmt::Debug,
    {
        for row in store.scan::<T>(&[], None, chainsleuth_store::Direction::Forward).unwrap() {
            out.push(format!("{} {:?}", T::NAME, row.unwrap()));
        }
    }
    let mut out = Vec::new();
    dump::<ClusterOf>(store, &mut out);
    dump::<ClusterMembers>(store, &mut out);
    dump::<ClusterSize>(store, &mut out);
    dump::<ClusterAlias>(store, &mut out);
    dump::<ClusterFlags>(store, &mut out);
    out
}

fn clean_digest(blocks: &[bitcoin::Block]) -> [u8; 32] {
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(blocks.to_vec()), Network::Regtest, &SyncOptions::default());
    open_read_only(dir.path()).unwrap().digest().unwrap()
}

#[test]
fn a_simulated_chain_clusters_as_a_reference_union_find_does() {
    let chain = build_chain(&SimConfig { blocks: 260, seed: 8, txs_per_block: 14, scenario: Scenario::Basic });
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    let store = open_read_only(dir.path()).unwrap();
    let clustered = chain.tip_height().get() - ClusterOptions::default().depth;
    assert_eq!(query::clustered_height(&store).unwrap(), Some(Height::new(clustered)));

    // The rule, by address text, over the blocks clustered so far.
    let by_txid: HashMap<Txid, &Transaction> =
        chain.blocks.iter().flat_map(|b| &b.txdata).map(|tx| (tx.compute_txid(), tx)).collect();
    let mut parent: HashMap<String, String> = HashMap::new();
    fn find(parent: &mut HashMap<String, String>, a: &str) -> String {
        let p = parent.get(a).cloned().unwrap_or_else(|| a.to_owned());
        if p == a {
            return p;
        }
        let root = find(parent, &p);
        parent.insert(a.to_owned(), root.clone());
        root
    }
    let mut coinjoins = 0;
    for block in &chain.blocks[..=clustered as usize] {
        for spend in block.txdata.iter().skip(1) {
            let prevs: Vec<&bitcoin::TxOut> = spend
                .input
                .iter()
                .map(|i| &by_txid[&i.previous_output.txid].output[i.previous_output.vout as usize])
                .collect();
            let mut addresses: Vec<String> = prevs
                .iter()
                .filter_map(|p| AddrKey::of_script(p.script_pubkey.as_bytes()))
                .map(|k| k.to_text(Network::Regtest))
                .collect();
            addresses.sort();
            addresses.dedup();
            if addresses.len() < 2 {
                continue;
            }
            let inputs: Vec<Sats> = prevs.iter().map(|p| Sats(p.value.to_sat())).collect();
            let outputs: Vec<Sats> = spend.output.iter().map(|o| Sats(o.value.to_sat())).collect();
            if detect(&TxShape { inputs: &inputs, input_addresses: addresses.len(), outputs: &outputs }).is_some() {
                coinjoins += 1;
                continue;
            }
            let root = find(&mut parent, &addresses[0]);
            for other in &addresses[1..] {
                let other = find(&mut parent, other);
                if other != root {
                    parent.insert(other, root.clone());
                }
            }
        }
    }
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for address in chain.truth.addresses.keys() {
        let root = find(&mut parent, address);
        groups.entry(root).or_default().insert(address.clone());
    }
    let merged: Vec<&BTreeSet<String>> = groups.values().filter(|g| g.len() > 1).collect();
    assert!(merged.len() > 20 && coinjoins > 0, "{} clusters, {coinjoins} coinjoins", merged.len());
    for group in groups.values() {
        let first = group.iter().next().unwrap();
        let view = query::cluster(&store, first, Network::Regtest, None, query::MAX_PAGE).unwrap();
        assert_eq!(view.size, group.len() as u64, "cluster of {first}");
        let members: BTreeSet<String> = view.members.into_iter().map(|m| m.address).collect();
        assert_eq!(&members, group);
    }
    let flags = store.scan::<ClusterFlags>(&[], None, chainsleuth_store::Direction::Forward).unwrap().count();
    assert_eq!(flags, coinjoins);
}

/// The cluster rows of `blocks` indexed one by one, clustering `depth` deep.
fn rows_at_depth(blocks: &[bitcoin::Block], depth: u64) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let clustering = ClusterOptions { depth, ..ClusterOptions::default() };
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap().with_clustering(clustering);
    for (height, block) in blocks.iter().enumerate() {
        indexer.execute(&btc_block(height as u64, block), KEEP).unwrap();
    }
    cluster_rows(indexer.store())
}

#[test]
fn reorgs_shallower_than_the_depth_keep_clusters_and_deeper_ones_unwind_them() {
    let base = build_chain(&SimConfig { blocks: 240, seed: 12, txs_per_block: 12, scenario: Scenario::Basic });
    let tip = base.tip_height().get();
    let depth = ClusterOptions::default().depth;
    for reorg in [1u64, depth - 1, depth + 4, 40] {
        let fork = Height::new(tip - reorg);
        // One block longer than the base: it buries one more block.
        let winner: SimChain = base.with_branch(fork, reorg as u32 + 1, 3_000 + reorg);
        let dir = tempfile::tempdir().unwrap();
        let source = MemSource::new(base.blocks.clone());
        sync(dir.path(), &source, Network::Regtest, &SyncOptions::default());
        let before = cluster_rows(&open_read_only(dir.path()).unwrap());
        source.replace(winner.blocks.clone());
        let report = sync(dir.path(), &source, Network::Regtest, &SyncOptions::default());
        assert_eq!(report.unwound, reorg);
        let store = open_read_only(dir.path()).unwrap();
        assert_eq!(store.digest().unwrap(), clean_digest(&winner.blocks), "reorg of depth {reorg}");
        let after = cluster_rows(&store);
        if reorg < depth {
            // The same blocks of the base are clustered, plus the one the
            // longer winner buried (also the base's): exactly what the base
            // gives clustered one block shallower.
            assert_eq!(after, rows_at_depth(&base.blocks, depth - 1), "reorg of depth {reorg}");
        } else {
            assert_ne!(after, before, "reorg of depth {reorg}");
        }
    }
}

#[test]
fn one_indexer_unwinding_and_replaying_leaves_the_cluster_tables_as_they_were() {
    let chain = build_chain(&SimConfig { blocks: 200, seed: 4, txs_per_block: 12, scenario: Scenario::Basic });
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    for (height, block) in chain.blocks.iter().enumerate() {
        indexer.execute(&btc_block(height as u64, block), KEEP).unwrap();
    }
    let before = cluster_rows(indexer.store());
    let digest = indexer.store().digest().unwrap();
    assert!(before.len() > 50, "{} cluster rows", before.len());
    let tip = chain.tip_height().get();
    // Unwinding 3 blocks (less than the depth of 6) takes back the
    // clustering of 3 buried blocks, which replaying does again.
    for unwind in [3u64, 12] {
        for height in (tip - unwind + 1..=tip).rev() {
            assert!(indexer.unwind(Height::new(height)).unwrap());
        }
        if unwind == 12 {
            assert_ne!(cluster_rows(indexer.store()), before);
        }
        for height in tip - unwind + 1..=tip {
            indexer.execute(&btc_block(height, &chain.blocks[height as usize]), KEEP).unwrap();
        }
        assert_eq!(cluster_rows(indexer.store()), before);
        assert_eq!(indexer.store().digest().unwrap(), digest);
    }
}

#[test]
fn resuming_with_a_shallower_depth_clusters_waiting_blocks_from_the_store_64_at_a_time() {
    let chain = build_chain(&SimConfig { blocks: 200, seed: 6, txs_per_block: 12, scenario: Scenario::Basic });
    let tip = chain.tip_height().get() as usize;
    let dir = tempfile::tempdir().unwrap();
    // Deeper than the indexer holds in memory: every block is read back.
    let deep = ClusterOptions { depth: 180, ..ClusterOptions::default() };
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap().with_clustering(deep);
    for (height, block) in chain.blocks[..tip].iter().enumerate() {
        indexer.execute(&btc_block(height as u64, block), KEEP).unwrap();
    }
    drop(indexer);
    // One block at depth 6 clusters the next 64 waiting blocks at once.
    let mut indexer = BtcIndexer::open(dir.path(), Network::Regtest).unwrap();
    indexer.execute(&btc_block(tip as u64, &chain.blocks[tip]), KEEP).unwrap();
    let before = tip - 1 - 180;
    assert_eq!(query::clustered_height(indexer.store()).unwrap(), Some(Height::new(before as u64 + 64)));
    assert_eq!(cluster_rows(indexer.store()), rows_at_depth(&chain.blocks[..=before + 64 + 6], 6));
    // Unwinding that block takes all of it back.
    assert!(indexer.unwind(Height::new(tip as u64)).unwrap());
    assert_eq!(query::clustered_height(indexer.store()).unwrap(), Some(Height::new(before as u64)));
}
