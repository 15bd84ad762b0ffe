//! The tracer computed twice: once through `BtcGraph` over a RocksDB store
//! the binary indexed, once over a graph built here straight from the
//! simulator's blocks (no index code but the script-to-address mapping).
//! Under every model, forward and backward, with windows, hop limits, dust
//! and mixers, both give the same totals and the same stops at the same
//! addresses with the same amounts and hops.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use bitcoin::{Network, Txid};
use chainsleuth_btc::index::{open_read_only, AddrKey, BtcGraph};
use chainsleuth_btc::sim::SimChain;
use chainsleuth_core::{
    AddressId, BlockHash, BlockRef, ClusterId, Coin, Height, Label, OutPoint, Sats, TxNum, UtxoGraph, UtxoTx,
};
use chainsleuth_trace::{trace_utxo, Direction, EndKind, Flows, MapLabels, Model, Params, UtxoSeed};
use common::{chain_on_disk, run_ok};

/// A UTXO graph held in memory, built from blocks.
struct Blocks {
    txs: Vec<UtxoTx>,
    txids: Vec<Txid>,
    nums: HashMap<Txid, TxNum>,
    first_tx: Vec<TxNum>,
    ids: HashMap<String, AddressId>,
    texts: Vec<String>,
    coins: HashMap<AddressId, Vec<OutPoint>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Missing(String);

impl Blocks {
    fn new(chain: &SimChain) -> Blocks {
        let mut g = Blocks {
            txs: Vec::new(),
            txids: Vec::new(),
            nums: HashMap::new(),
            first_tx: Vec::new(),
            ids: HashMap::new(),
            texts: Vec::new(),
            coins: HashMap::new(),
        };
        let mut prevouts: Vec<Vec<bitcoin::OutPoint>> = Vec::new();
        for (height, block) in chain.blocks.iter().enumerate() {
            g.first_tx.push(TxNum(g.txs.len() as u64));
            for tx in &block.txdata {
                let num = TxNum(g.txs.len() as u64);
                let outputs = tx
                    .output
                    .iter()
                    .enumerate()
                    .map(|(vout, out)| {
                        let address = AddrKey::of_script(out.script_pubkey.as_bytes()).map(|key| {
                            let text = key.to_text(Network::Regtest);
                            let next = AddressId(g.texts.len() as u64);
                            *g.ids.entry(text.clone()).or_insert_with(|| {
                                g.texts.push(text);
                                next
                            })
                        });
                        let outpoint = OutPoint { tx: num, vout: vout as u32 };
                        if let Some(a) = address {
                            g.coins.entry(a).or_default().push(outpoint);
                        }
                        Coin { outpoint, address, value: Sats(out.value.to_sat()), spent_by: None }
                    })
                    .collect();
                g.nums.insert(tx.compute_txid(), num);
                g.txids.push(tx.compute_txid());
                let spends =
                    if tx.is_coinbase() { Vec::new() } else { tx.input.iter().map(|i| i.previous_output).collect() };
                prevouts.push(spends);
                g.txs.push(UtxoTx { num, height: Height::new(height as u64), inputs: Vec::new(), outputs });
            }
        }
        for (n, spends) in prevouts.iter().enumerate() {
            for prev in spends {
                let from = g.nums[&prev.txid].0 as usize;
                g.txs[from].outputs[prev.vout as usize].spent_by = Some(TxNum(n as u64));
            }
        }
        for (n, spends) in prevouts.iter().enumerate() {
            let inputs = spends.iter().map(|p| g.txs[g.nums[&p.txid].0 as usize].outputs[p.vout as usize]).collect();
            g.txs[n].inputs = inputs;
        }
        g
    }
}

impl UtxoGraph for Blocks {
    type Error = Missing;
    fn tip(&self) -> Result<Option<BlockRef>, Missing> {
        let height = Height::new(self.first_tx.len() as u64 - 1);
        Ok(Some(BlockRef { height, hash: BlockHash([0; 32]) }))
    }
    fn address_id(&self, text: &str) -> Result<Option<AddressId>, Missing> {
        Ok(self.ids.get(text).copied())
    }
    fn address_text(&self, id: AddressId) -> Result<String, Missing> {
        self.texts.get(id.0 as usize).cloned().ok_or_else(|| Missing(format!("address {id}")))
    }
    fn tx_num(&self, txid: &str) -> Result<Option<TxNum>, Missing> {
        Ok(txid.parse::<Txid>().ok().and_then(|t| self.nums.get(&t).copied()))
    }
    fn txid(&self, num: TxNum) -> Result<String, Missing> {
        Ok(self.txids[num.0 as usize].to_string())
    }
    fn tx(&self, num: TxNum) -> Result<UtxoTx, Missing> {
        self.txs.get(num.0 as usize).cloned().ok_or_else(|| Missing(format!("tx {num}")))
    }
    fn coin(&self, outpoint: OutPoint) -> Result<Option<Coin>, Missing> {
        Ok(self.txs.get(outpoint.tx.0 as usize).and_then(|t| t.outputs.get(outpoint.vout as usize)).copied())
    }
    fn coins_of(&self, address: AddressId, before: TxNum) -> Result<Vec<Coin>, Missing> {
        let outpoints = self.coins.get(&address).map(Vec::as_slice).unwrap_or_default();
        Ok(outpoints
            .iter()
            .filter(|o| o.tx < before)
            .map(|o| self.txs[o.tx.0 as usize].outputs[o.vout as usize])
            .collect())
    }
    fn tx_range(&self, from: Height, to: Height) -> Result<(TxNum, TxNum), Missing> {
        let end = self.first_tx.get(to.get() as usize + 1).copied().unwrap_or(TxNum(self.txs.len() as u64));
        Ok((self.first_tx[from.get() as usize], end))
    }
    fn cluster_of(&self, _: AddressId) -> Result<Option<ClusterId>, Missing> {
        Ok(None)
    }
    fn cluster_link(&self, _: AddressId) -> Result<Option<TxNum>, Missing> {
        Ok(None)
    }
}

fn label(category: &str, off_ramp: bool, mixer: bool) -> Arc<Label> {
    Arc::new(Label {
        entity: category.to_owned(),
        category: category.to_owned(),
        jurisdiction: None,
        licensed_by: None,
        off_ramp,
        mixer,
        custodial: off_ramp,
        inferred: None,
    })
}

/// Labels and seeds given by address text, resolved in one graph.
fn resolve<G: UtxoGraph>(graph: &G, tagged: &[(&str, Arc<Label>)], seeds: &[&str]) -> (MapLabels, Vec<UtxoSeed>) {
    let id = |text: &str| graph.address_id(text).unwrap().unwrap();
    let labels = MapLabels(tagged.iter().map(|(text, l)| (id(text), l.clone())).collect());
    (labels, seeds.iter().map(|s| UtxoSeed::Address(id(s))).collect())
}

/// A model's totals and every stop, with addresses as text.
type Seen = (Model, chainsleuth_trace::Totals, Vec<(EndKind, Option<String>, String, u32)>);

fn seen<G: UtxoGraph>(graph: &G, flows: &[Flows]) -> Vec<Seen> {
    flows
        .iter()
        .map(|f| {
            let ends = f
                .ends
                .iter()
                .map(|e| (e.kind, e.address.map(|a| graph.address_text(a).unwrap()), e.amount.to_string(), e.hops))
                .collect();
            (f.model, f.totals, ends)
        })
        .collect()
}

#[test]
fn store_backed_and_block_built_graphs_trace_alike() {
    let work = tempfile::tempdir().unwrap();
    let blocks = work.path().join("chain");
    let chain = chain_on_disk(&blocks, 260, 30, 21, None);
    let data = work.path().join("data");
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", blocks.to_str().unwrap()]);
    let store = open_read_only(&data).unwrap();
    let indexed = BtcGraph::new(&store).unwrap();
    let built = Blocks::new(&chain);

    let mut by_activity: Vec<(&String, u64)> = chain.truth.addresses.iter().map(|(a, t)| (a, t.tx_count)).collect();
    by_activity.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let texts: Vec<&str> = by_activity.iter().map(|(a, _)| a.as_str()).collect();
    let seeds = [texts[0], texts[3], texts[7]];
    let tagged = [
        (texts[10], label("exchange_licensed", true, false)),
        (texts[15], label("cash_out_network", true, false)),
        (texts[20], label("mixer", false, true)),
        (texts[25], label("gambling", false, false)),
    ];
    let tip = indexed.tip().unwrap().unwrap().height;
    let mut cases = Vec::new();
    for (hops, from, min, mixers, direction) in [
        (10, 0, 0, false, Direction::Forward),
        (3, 120, 5_000, false, Direction::Forward),
        (6, 150, 0, true, Direction::Forward),
        (4, 0, 0, false, Direction::Backward),
        (8, 130, 1_000, false, Direction::Backward),
    ] {
        let mut params = Params::new(tip);
        params.max_hops = hops;
        params.from_block = Height::new(from);
        params.min_amount = chainsleuth_core::U256::from(min);
        params.through_mixers = mixers;
        params.direction = direction;
        if direction == Direction::Backward {
            params.models = vec![Model::Poison, Model::Haircut];
        }
        params.check(tip).unwrap();
        cases.push(params);
    }
    let mut kinds = std::collections::BTreeSet::new();
    for params in &cases {
        let (mut l1, s1) = resolve(&indexed, &tagged, &seeds);
        let (mut l2, s2) = resolve(&built, &tagged, &seeds);
        let from_store = trace_utxo(&indexed, &mut l1, &s1, params).unwrap();
        let from_blocks = trace_utxo(&built, &mut l2, &s2, params).unwrap();
        let (a, b) = (seen(&indexed, &from_store), seen(&built, &from_blocks));
        assert!(a.iter().any(|(_, t, _)| !t.seeded.is_zero()), "the seeds carry something: {params:?}");
        assert_eq!(a, b, "store and blocks disagree for {params:?}");
        kinds.extend(a.iter().flat_map(|(_, _, ends)| ends.iter().map(|e| e.0)));
    }
    for kind in [EndKind::Reached, EndKind::Held, EndKind::Mixer, EndKind::Horizon, EndKind::Dust, EndKind::Mined] {
        assert!(kinds.contains(&kind), "no case ended in {kind:?}: {kinds:?}");
    }
}
