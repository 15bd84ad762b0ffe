//! The laundering scenario of the chain builder: the chain is the same bytes for a seed, every block and input
//! passes the rules a node applies (Bitcoin Core's script interpreter included), the case's ground truth agrees with
//! the chain and with an index of it, and its tag file imports through the real tags importer.

mod consensus_support;
mod index_support;

use std::collections::{BTreeSet, HashMap};

use bitcoin::{consensus, Block, Network, OutPoint, Transaction, TxOut, Txid};
use chainsleuth_btc::index::{open_read_only, query, BtcGraph};
use chainsleuth_btc::sim::{
    build_chain, simulate_to_dir, Case, CaseCoin, GroundTruth, Scenario, SimChain, SimConfig, Taint, TAGS_FILE,
};
use chainsleuth_core::{Chain, Labels, Sats, UtxoGraph};
use chainsleuth_sync::SyncOptions;
use chainsleuth_tags::{Format, ImportOptions, TagStore};
use consensus_support::{address_of, verify_with_core};
use index_support::{sync, MemSource};

fn config(seed: u64) -> SimConfig {
    SimConfig { blocks: 120, seed, txs_per_block: 8, scenario: Scenario::Laundering }
}

fn bytes(chain: &SimChain) -> Vec<u8> {
    chain.blocks.iter().flat_map(consensus::serialize).collect()
}

/// What a walk over the chain saw: every transaction by txid and the coins left unspent.
struct Seen {
    txs: HashMap<Txid, Transaction>,
    unspent: HashMap<OutPoint, TxOut>,
}

/// Walks the chain as a node would, failing on any broken rule, and recounts every address into `truth`'s shape.
fn walk(blocks: &[Block], truth: &GroundTruth) -> Seen {
    let mut unspent: HashMap<OutPoint, (TxOut, usize, bool)> = HashMap::new();
    let mut txs = HashMap::new();
    let mut figures: HashMap<String, (u64, u64)> = HashMap::new();
    for (height, block) in blocks.iter().enumerate().skip(1) {
        assert_eq!(block.header.prev_blockhash, blocks[height - 1].block_hash());
        block.header.validate_pow(block.header.target()).expect("proof of work");
        assert!(block.check_merkle_root() && block.check_witness_commitment(), "block {height}");
        let mut fees = 0;
        for (pos, tx) in block.txdata.iter().enumerate() {
            assert_eq!(tx.is_coinbase(), pos == 0);
            let txid = tx.compute_txid();
            if !tx.is_coinbase() {
                let spent: Vec<TxOut> = tx
                    .input
                    .iter()
                    .map(|input| {
                        let (out, at, coinbase) = unspent.remove(&input.previous_output).expect("an unspent coin");
                        assert!(!coinbase || height - at >= 100, "coinbase maturity");
                        out
                    })
                    .collect();
                verify_with_core(tx, &spent);
                for out in &spent {
                    figures.entry(address_of(&out.script_pubkey).unwrap()).or_default().1 += out.value.to_sat();
                }
                let total_in: u64 = spent.iter().map(|o| o.value.to_sat()).sum();
                fees += total_in - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>();
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if let Some(address) = address_of(&out.script_pubkey) {
                    figures.entry(address).or_default().0 += out.value.to_sat();
                }
                if !out.script_pubkey.is_op_return() {
                    let outpoint = OutPoint { txid, vout: vout as u32 };
                    unspent.insert(outpoint, (out.clone(), height, tx.is_coinbase()));
                }
            }
            txs.insert(txid, tx.clone());
        }
        let subsidy = (50 * 100_000_000u64) >> (height / 150);
        let claimed: u64 = block.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(claimed, subsidy + fees, "coinbase of block {height}");
    }
    for (address, want) in &truth.addresses {
        if let Some(&(received, sent)) = figures.get(address) {
            assert_eq!((Sats(received), Sats(sent)), (want.received, want.sent), "figures of {address}");
        }
    }
    Seen { txs, unspent: unspent.into_iter().map(|(k, (out, _, _))| (k, out)).collect() }
}

fn outpoint(coin: &CaseCoin) -> OutPoint {
    OutPoint { txid: coin.txid, vout: coin.vout }
}

/// The coin exists on the chain as the case says.
fn check_coin(seen: &Seen, coin: &CaseCoin) {
    let out = &seen.txs[&coin.txid].output[coin.vout as usize];
    assert_eq!(address_of(&out.script_pubkey).as_deref(), Some(coin.address.as_str()));
    assert_eq!(Sats(out.value.to_sat()), coin.value);
}

fn inputs(tx: &Transaction) -> BTreeSet<OutPoint> {
    tx.input.iter().map(|i| i.previous_output).collect()
}

fn tagged(case: &Case) -> BTreeSet<String> {
    case.tags.iter().map(|t| t.address.clone()).collect()
}

#[test]
fn same_seed_same_bytes_and_case_and_a_short_chain_has_none() {
    let a = build_chain(&config(11));
    let b = build_chain(&config(11));
    assert_eq!(bytes(&a), bytes(&b));
    assert!(a.case.is_some());
    assert_eq!(a.case, b.case);
    let other = build_chain(&config(12));
    assert_ne!(other.case, a.case);

    let least = Scenario::Laundering.min_blocks();
    assert!(build_chain(&SimConfig { blocks: least, ..config(11) }).case.is_some());
    assert!(build_chain(&SimConfig { blocks: least - 1, ..config(11) }).case.is_none());
    assert!(build_chain(&SimConfig { scenario: Scenario::Basic, ..config(11) }).case.is_none());
    assert_eq!("laundering".parse::<Scenario>(), Ok(Scenario::Laundering));
}

#[test]
fn chain_is_valid_and_the_case_matches_it() {
    let chain = build_chain(&config(11));
    let case = chain.case.as_ref().expect("the case played out");
    let seen = walk(&chain.blocks, &chain.truth);

    // Seeds: every coin a seized hot wallet received, at that address.
    assert_eq!(case.seeds.len(), 3);
    for seed in &case.seeds {
        for coin in &seed.coins {
            check_coin(&seen, coin);
            assert_eq!(coin.address, seed.address);
        }
        let received: u64 = seed.coins.iter().map(|c| c.value.0).sum();
        assert_eq!(chain.truth.addresses[&seed.address].received, Sats(received));
    }

    // The agreed path: one coin in and one out at every hop, from a seed coin to the cash-out address.
    let path = &case.agreed_path;
    assert!(case.seeds[0].coins.contains(&path.seed));
    let mut previous = outpoint(&path.seed);
    for txid in &path.txids {
        let tx = &seen.txs[txid];
        assert_eq!((tx.input.len(), tx.output.len()), (1, 1), "hop {txid}");
        assert_eq!(tx.input[0].previous_output, previous);
        previous = OutPoint { txid: *txid, vout: 0 };
    }
    assert_eq!(previous, outpoint(&path.reached));
    check_coin(&seen, &path.reached);
    assert!(path.reached.value < path.seed.value && path.reached.value.0 > 0);
    let cash = case.offramps.iter().find(|o| o.category == "cash_out_network").unwrap();
    assert_eq!(cash.tagged, vec![path.reached.address.clone()]);
    assert_eq!((&cash.reached, cash.agreed_amount), (&cash.tagged, path.reached.value));
    assert_eq!(chain.truth.addresses[&path.reached.address].received, path.reached.value);

    // Exchanges: every deposit is swept with a coin of the tagged hot wallet into it.
    let categories: Vec<&str> = case.offramps.iter().map(|o| o.category.as_str()).collect();
    assert_eq!(categories, ["exchange_licensed", "exchange_unlicensed", "cash_out_network"]);
    assert_eq!(case.offramps[0].licensed_by.as_deref(), Some("AFSA"));
    let tags = tagged(case);
    for exchange in &case.offramps[..2] {
        let sweep = &seen.txs[&exchange.sweeps[0]];
        let swept = inputs(sweep);
        for deposit in &exchange.deposits {
            check_coin(&seen, &deposit.coin);
            assert!(swept.contains(&outpoint(&deposit.coin)));
            assert!(!tags.contains(&deposit.coin.address), "deposit addresses are untagged");
        }
        assert!(exchange.deposits.iter().any(|d| d.taint == Taint::Full));
        assert!(exchange.deposits.iter().any(|d| d.taint == Taint::Partial));
        assert!(exchange.deposits.iter().any(|d| d.taint == Taint::Clean));
        let spenders: Vec<String> = sweep
            .input
            .iter()
            .map(|i| {
                let prev = &seen.txs[&i.previous_output.txid].output[i.previous_output.vout as usize];
                address_of(&prev.script_pubkey).unwrap()
            })
            .collect();
        assert!(spenders.contains(&exchange.tagged[0]), "the hot wallet co-spends with its deposits");
        assert_eq!(sweep.output.len(), 1);
        assert_eq!(address_of(&sweep.output[0].script_pubkey).as_ref(), Some(&exchange.tagged[0]));
        let full: Vec<&CaseCoin> =
            exchange.deposits.iter().filter(|d| d.taint == Taint::Full).map(|d| &d.coin).collect();
        let mut reached: Vec<String> = full.iter().map(|c| c.address.clone()).collect();
        reached.sort();
        assert_eq!(exchange.reached, reached);
        assert_eq!(exchange.agreed_amount, Sats(full.iter().map(|c| c.value.0).sum()));
    }

    // The mixer keeps what it was paid; the tainted coins left unspent are unspent.
    for coin in case.mixer.payments.iter().chain(&case.unspent).chain([&path.reached]) {
        check_coin(&seen, coin);
        assert!(seen.unspent.contains_key(&outpoint(coin)), "{coin:?} is unspent");
    }
    assert_eq!(case.mixer.payments.len(), 3);
    let paid: u64 = case.mixer.payments.iter().map(|c| c.value.0).sum();
    assert_eq!(chain.truth.addresses[&case.mixer.address].balance, Sats(paid));

    // The consolidation and the CoinJoin spend exactly their tainted and clean coins.
    for mixed in [&case.consolidation, &case.coinjoin] {
        let want: BTreeSet<OutPoint> = mixed.tainted_inputs.iter().chain(&mixed.clean_inputs).map(outpoint).collect();
        assert_eq!(inputs(&seen.txs[&mixed.txid]), want);
    }
    let join = &seen.txs[&case.coinjoin.txid];
    let denomination = case.coinjoin.denomination.unwrap();
    let equal = join.output.iter().filter(|o| o.value.to_sat() == denomination.0).count();
    assert_eq!(equal, join.input.len());
    assert!(join.input.len() >= 4);
    assert_eq!(seen.txs[&case.consolidation.txid].output.len(), 1);

    // Tags: platforms, seized wallets, exchanges' hot wallets, the cash-out network and the mixer.
    let mut want: BTreeSet<String> =
        case.seeds.iter().flat_map(|s| [s.address.clone(), s.platform_address.clone()]).collect();
    want.extend(case.offramps.iter().flat_map(|o| o.tagged.clone()));
    want.insert(case.mixer.address.clone());
    assert_eq!(tags, want);
    assert_eq!(case.tags.len(), want.len());
}

#[test]
fn written_case_imports_as_tags_and_an_index_agrees_with_it() {
    let out = tempfile::tempdir().unwrap();
    let summary = simulate_to_dir(out.path(), &config(5), false).unwrap();
    let chain = build_chain(&config(5));
    let case = chain.case.clone().unwrap();
    assert_eq!(summary.case_file.as_deref(), Some(out.path().join("case.json").as_path()));
    assert_eq!(Case::read_json(summary.case_file.as_ref().unwrap()).unwrap(), case);
    let tags_file = summary.tags_file.unwrap();
    assert_eq!(tags_file, out.path().join(TAGS_FILE));

    // The tag file through the real importer, and the labels the tracer reads from it.
    let tag_dir = tempfile::tempdir().unwrap();
    let store = TagStore::open(&TagStore::path_in(tag_dir.path())).unwrap().with_network(Network::Regtest);
    let report = store.import(&tags_file, Format::Jsonl, "case", &ImportOptions::default()).unwrap();
    assert_eq!((report.tags, report.invalid_count), (case.tags.len() as u64, 0));
    let label = |address: &str| store.label(Chain::Bitcoin, address).unwrap();
    for seed in &case.seeds {
        let seized = label(&seed.address).unwrap();
        assert_eq!((seized.category.as_str(), seized.entity.as_str()), ("seized", seed.entity.as_str()));
        assert_eq!(label(&seed.platform_address).unwrap().category, "platform_shut_down");
    }
    let licensed = label(&case.offramps[0].tagged[0]).unwrap();
    assert_eq!(
        (licensed.licensed_by.as_deref(), licensed.jurisdiction.as_deref(), licensed.custodial, licensed.off_ramp),
        (Some("AFSA"), Some("KZ"), true, true)
    );
    assert_eq!(label(&case.offramps[1].tagged[0]).unwrap().category, "exchange_unlicensed");
    assert_eq!(label(&case.agreed_path.reached.address).unwrap().category, "cash_out_network");
    assert!(label(&case.mixer.address).unwrap().mixer);
    for deposit in case.offramps.iter().flat_map(|o| &o.deposits) {
        assert_eq!(label(&deposit.coin.address), None);
    }
    assert_eq!(store.labelled(Chain::Bitcoin).unwrap().len(), case.tags.len());

    // An index of the chain: balances of the coins left, and the agreed path as the tracer reads it.
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    let index = open_read_only(dir.path()).unwrap();
    let summary = |address: &str| query::address_summary(&index, address, Network::Regtest).unwrap();
    for seed in &case.seeds {
        let kept = case.unspent.iter().find(|c| c.address == seed.address).expect("each hot wallet keeps a coin");
        assert_eq!(summary(&seed.address).balance, kept.value);
    }
    for coin in &case.unspent {
        assert!(summary(&coin.address).balance >= coin.value);
    }
    let reached = &case.agreed_path.reached;
    let cash = summary(&reached.address);
    assert_eq!((cash.balance, cash.received, cash.tx_count), (reached.value, reached.value, 1));
    for deposit in case.offramps.iter().flat_map(|o| &o.deposits) {
        let figures = summary(&deposit.coin.address);
        assert_eq!((figures.received, figures.balance), (deposit.coin.value, Sats(0)));
    }
    let paid: u64 = case.mixer.payments.iter().map(|c| c.value.0).sum();
    assert_eq!(summary(&case.mixer.address).balance, Sats(paid));

    let graph = BtcGraph::new(&index).unwrap();
    let mut value = case.agreed_path.seed.value.0;
    for txid in &case.agreed_path.txids {
        let tx = graph.tx(graph.tx_num(&txid.to_string()).unwrap().unwrap()).unwrap();
        assert_eq!((tx.inputs.len(), tx.outputs.len()), (1, 1));
        assert_eq!(tx.inputs[0].value.0, value);
        value = tx.outputs[0].value.0;
    }
    assert_eq!(Sats(value), reached.value);
}
