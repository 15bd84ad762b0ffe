//! The scale benchmark's chains: the streaming blk writer writes exactly what the batch writer writes, and a chain
//! built with mainnet-like shapes (`simulate_shaped_to_dir`) is consistent (every input spends an unspent output of
//! an earlier block, no output creates value) and has its shapes: coins spent long after they were made, a UTXO set
//! that grows, and addresses with far longer histories than the rest.

use std::collections::HashMap;

use bitcoin::{Network, OutPoint, ScriptBuf};
use chainsleuth_btc::sim::{
    build_chain, simulate_shaped_to_dir, write_blocks_dir, BlkDirOptions, BlkDirStream, Shape, SimConfig,
};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_core::Height;
use chainsleuth_sync::BlockSource;

#[test]
fn the_stream_writes_what_the_batch_writer_writes() {
    let chain = build_chain(&SimConfig { blocks: 140, txs_per_block: 4, ..SimConfig::default() });
    let options = BlkDirOptions {
        xor_key: Some([7, 1, 2, 3, 4, 5, 6, 9]),
        shuffle: true,
        max_file_size: 40_000,
        ..Default::default()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let batch = write_blocks_dir(a.path(), &chain.blocks, &options).unwrap();
    let mut stream = BlkDirStream::create(b.path(), &options).unwrap();
    for block in chain.blocks.iter().cloned() {
        stream.push(block).unwrap();
    }
    let streamed = stream.finish().unwrap();
    assert!(batch.files.len() > 1, "small files, so that the file roll-over is compared too");
    assert_eq!(batch.records, streamed.records);
    for name in batch.files.iter().map(|f| f.file_name().unwrap()).chain([std::ffi::OsStr::new("xor.dat")]) {
        let read = |dir: &std::path::Path| std::fs::read(dir.join("blocks").join(name)).unwrap();
        assert_eq!(read(a.path()), read(b.path()), "{name:?}");
    }
}

#[test]
fn a_shaped_chain_is_consistent_and_has_its_shapes() {
    let cfg = SimConfig { blocks: 260, txs_per_block: 60, ..SimConfig::default() };
    let shape = Shape { hold_max_blocks: 400, ..Shape::mainnet_like(60) };
    let dir = tempfile::tempdir().unwrap();
    let summary = simulate_shaped_to_dir(dir.path(), &cfg, &shape, |_, _| {}).unwrap();

    let config = BlkDirConfig { dir: dir.path().to_owned(), network: Network::Regtest, xor: XorMode::Auto };
    let source = BlkDirSource::open(&config).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let tip = rt.block_on(source.tip()).unwrap();
    assert_eq!(tip.height.get(), u64::from(cfg.blocks));

    // Unspent outputs: outpoint -> (value, height made, script).
    let mut utxos: HashMap<OutPoint, (u64, u64, ScriptBuf)> = HashMap::new();
    let mut history: HashMap<ScriptBuf, u64> = HashMap::new();
    let (mut txs, mut long_lived, mut utxo_at_middle) = (0u64, 0u64, 0usize);
    for height in 0..=tip.height.get() {
        let block = rt.block_on(source.block_at(Height::new(height))).unwrap().block;
        for (i, tx) in block.txdata.iter().enumerate() {
            txs += 1;
            let mut touched: Vec<ScriptBuf> = Vec::new();
            let mut value_in = 0;
            if i > 0 {
                for input in &tx.input {
                    let (value, made, script) = utxos.remove(&input.previous_output).unwrap_or_else(|| {
                        panic!("block {height} spends {} twice or before it exists", input.previous_output)
                    });
                    assert!(made < height, "a coin is spent in a later block than the one making it");
                    long_lived += u64::from(height - made > 100);
                    value_in += value;
                    touched.push(script);
                }
            }
            let txid = tx.compute_txid();
            let value_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            assert!(i == 0 || value_out <= value_in, "a transaction of block {height} creates value");
            for (vout, out) in tx.output.iter().enumerate() {
                if !out.script_pubkey.is_op_return() {
                    let outpoint = OutPoint { txid, vout: vout as u32 };
                    utxos.insert(outpoint, (out.value.to_sat(), height, out.script_pubkey.clone()));
                    touched.push(out.script_pubkey.clone());
                }
            }
            touched.sort();
            touched.dedup();
            for script in touched {
                *history.entry(script).or_default() += 1;
            }
        }
        if height == tip.height.get() / 2 {
            utxo_at_middle = utxos.len();
        }
    }
    assert_eq!(txs, summary.txs);
    assert!(summary.held_coins > 0);
    assert!(long_lived > 0, "some coins are spent more than 100 blocks after they were made");
    assert!(utxos.len() > utxo_at_middle * 3 / 2, "the UTXO set grows: {utxo_at_middle} then {}", utxos.len());
    // The hot wallets: each of the busiest addresses is in several percent of all transactions.
    let mut counts: Vec<u64> = history.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    assert!(counts[shape.hot_wallets as usize - 1] * 50 > txs, "busiest histories {:?} of {txs} txs", &counts[..5]);
    assert_eq!(summary.busiest[0].1, counts[0], "the summary names the busiest address's history");
}
