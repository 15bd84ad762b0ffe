//! `BtcGraph` against a simulated chain: every transaction's inputs are the
//! outputs it spends, every spent-by link points at a spender holding the
//! outpoint, fees are what the chain says, an address's unspent coins add up
//! to its ground-truth balance, and block windows bracket their transactions.

mod index_support;

use std::collections::HashMap;

use bitcoin::{Network, Transaction, Txid};
use chainsleuth_btc::index::{open_read_only, AddrKey, BtcGraph, IndexError};
use chainsleuth_btc::sim::{build_chain, Scenario, SimConfig};
use chainsleuth_core::{Height, OutPoint, Sats, TxNum, UtxoGraph};
use chainsleuth_sync::SyncOptions;
use index_support::{sync, MemSource};

fn address_of(graph: &BtcGraph<'_>, script: &bitcoin::ScriptBuf) -> Option<chainsleuth_core::AddressId> {
    let key = AddrKey::of_script(script.as_bytes())?;
    Some(graph.address_id(&key.to_text(Network::Regtest)).unwrap().expect("every paid address is indexed"))
}

#[test]
fn the_graph_matches_the_simulated_chain() {
    let chain = build_chain(&SimConfig { blocks: 230, seed: 21, txs_per_block: 12, scenario: Scenario::Basic });
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    let store = open_read_only(dir.path()).unwrap();
    let graph = BtcGraph::new(&store).unwrap();
    assert_eq!(graph.tip().unwrap().map(|t| t.height), Some(chain.tip_height()));

    let by_txid: HashMap<Txid, &Transaction> =
        chain.blocks.iter().flat_map(|b| &b.txdata).map(|tx| (tx.compute_txid(), tx)).collect();
    let mut checked_spends = 0;
    for (height, block) in chain.blocks.iter().enumerate() {
        let height = Height::new(height as u64);
        let (start, end) = graph.tx_range(height, height).unwrap();
        assert_eq!(end.0 - start.0, block.txdata.len() as u64, "block {height}");
        for (pos, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            let num = graph.tx_num(&txid.to_string()).unwrap().expect("indexed");
            assert_eq!(num, TxNum(start.0 + pos as u64));
            assert_eq!(graph.txid(num).unwrap(), txid.to_string());
            let view = graph.tx(num).unwrap();
            assert_eq!(view.height, height);

            // Inputs: the outputs they spend, with value, address and spender.
            let mut total_in = 0u64;
            if pos > 0 {
                assert_eq!(view.inputs.len(), tx.input.len());
                for (input, coin) in tx.input.iter().zip(&view.inputs) {
                    let prev = &by_txid[&input.previous_output.txid].output[input.previous_output.vout as usize];
                    assert_eq!(coin.value, Sats(prev.value.to_sat()));
                    assert_eq!(coin.address, address_of(&graph, &prev.script_pubkey));
                    assert_eq!(coin.spent_by, Some(num));
                    assert_eq!(coin.outpoint.vout, input.previous_output.vout);
                    assert_eq!(graph.txid(coin.outpoint.tx).unwrap(), input.previous_output.txid.to_string());
                    total_in += prev.value.to_sat();
                }
            } else {
                assert!(view.inputs.is_empty());
            }

            // Outputs: value, address, and a spender whose inputs hold the outpoint.
            assert_eq!(view.outputs.len(), tx.output.len());
            for (vout, (out, coin)) in tx.output.iter().zip(&view.outputs).enumerate() {
                assert_eq!(coin.outpoint, OutPoint { tx: num, vout: vout as u32 });
                assert_eq!(coin.value, Sats(out.value.to_sat()));
                assert_eq!(coin.address, address_of(&graph, &out.script_pubkey));
                assert_eq!(graph.coin(coin.outpoint).unwrap(), Some(*coin));
                if let Some(spender) = coin.spent_by {
                    let spender = graph.tx(spender).unwrap();
                    assert!(spender.inputs.iter().any(|c| c.outpoint == coin.outpoint), "{txid}:{vout}");
                    assert!(spender.num > num);
                    checked_spends += 1;
                }
            }
            let total_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            let fee = if pos == 0 { 0 } else { total_in - total_out };
            assert_eq!(view.fee(), Sats(fee), "fee of {txid}");
        }
    }
    assert!(checked_spends > 1_000, "only {checked_spends} spends checked");

    // Every address's coins: all it received, and the unspent ones its balance.
    for (text, truth) in &chain.truth.addresses {
        let id = graph.address_id(text).unwrap().expect("a ground-truth address is indexed");
        assert_eq!(graph.address_text(id).unwrap(), *text);
        let coins = graph.coins_of(id, TxNum(u64::MAX)).unwrap();
        assert!(coins.windows(2).all(|w| w[0].outpoint < w[1].outpoint), "coins of {text} in chain order");
        // Bounded by a transaction number: only the coins made before it.
        if let Some(mid) = coins.get(coins.len() / 2) {
            let before = graph.coins_of(id, mid.outpoint.tx).unwrap();
            assert_eq!(before, coins.iter().filter(|c| c.outpoint.tx < mid.outpoint.tx).copied().collect::<Vec<_>>());
        }
        assert!(coins.iter().all(|c| c.address == Some(id)));
        let unspent: u64 = coins.iter().filter(|c| c.spent_by.is_none()).map(|c| c.value.0).sum();
        let received: u64 = coins.iter().map(|c| c.value.0).sum();
        assert_eq!((Sats(unspent), Sats(received)), (truth.balance, truth.received), "{text}");
    }

    // Windows of several blocks bracket them; impossible ones are errors.
    let tip = chain.tip_height();
    let (start, end) = graph.tx_range(Height::GENESIS, tip).unwrap();
    assert_eq!((start, end), (TxNum(0), TxNum(chain.tx_count())));
    let (a, b) = graph.tx_range(Height::new(100), Height::new(150)).unwrap();
    assert_eq!(a, graph.tx_range(Height::new(100), Height::new(100)).unwrap().0);
    assert_eq!(b, graph.tx_range(Height::new(150), Height::new(150)).unwrap().1);
    assert!(matches!(graph.tx_range(tip, tip.next()), Err(IndexError::UnknownHeights { .. })));
    assert!(matches!(graph.tx_range(Height::new(5), Height::new(4)), Err(IndexError::UnknownHeights { .. })));
}

#[test]
fn bad_input_is_an_error_and_unknown_input_is_none() {
    let chain = build_chain(&SimConfig { blocks: 3, seed: 2, txs_per_block: 2, scenario: Scenario::Basic });
    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(chain.blocks.clone()), Network::Regtest, &SyncOptions::default());
    let store = open_read_only(dir.path()).unwrap();
    let graph = BtcGraph::new(&store).unwrap();
    assert_eq!(graph.network(), Network::Regtest);

    for bad in ["", "not-an-address", "bcrt1qqqqq", "nonstandard:zz"] {
        assert!(matches!(graph.address_id(bad), Err(IndexError::InvalidAddress { .. })), "{bad:?}");
    }
    // A mainnet address in a regtest store.
    let mainnet = graph.address_id("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    assert!(matches!(mainnet, Err(IndexError::InvalidAddress { .. })));
    // Valid for regtest, never seen.
    assert_eq!(graph.address_id("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080").unwrap(), None);

    assert!(matches!(graph.tx_num("xyz"), Err(IndexError::InvalidTxid(_))));
    assert_eq!(graph.tx_num(&"00".repeat(32)).unwrap(), None);
    let unknown = TxNum(chain.tx_count());
    assert!(matches!(graph.tx(unknown), Err(IndexError::UnknownTxNum(n)) if n == unknown));
    assert!(matches!(graph.txid(unknown), Err(IndexError::UnknownTxNum(_))));
    assert_eq!(graph.coin(OutPoint { tx: unknown, vout: 0 }).unwrap(), None);
    let bad_id = chainsleuth_core::AddressId(1 << 40);
    assert!(matches!(graph.address_text(bad_id), Err(IndexError::UnknownAddressId(_))));
    assert!(graph.coins_of(bad_id, TxNum(u64::MAX)).unwrap().is_empty());
}
