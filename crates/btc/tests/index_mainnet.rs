//! Real data: mainnet heights 0-255 (rust-bitcoin's genesis block, then the
//! Core block-file sample of heights 1-255) indexed through the real sync
//! loop. Every address's figures are checked against an independent
//! computation that walks the blocks with rust-bitcoin's own address code
//! and plain hash maps.

mod index_support;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;

use bitcoin::{Address, Block, Network, OutPoint, Txid};
use chainsleuth_btc::index::{open_read_only, query};
use chainsleuth_sync::SyncOptions;
use index_support::{sync, MemSource};

const MAGIC: [u8; 4] = [0xf9, 0xbe, 0xb4, 0xd9];

fn sample_path() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let local = manifest.join("tests/data/blocks1-256.bz2");
    if local.exists() {
        return local;
    }
    manifest.join("../../../shared/data/btc/btcd/database/testdata/blocks1-256.bz2")
}

fn mainnet_blocks() -> Vec<Block> {
    let path = sample_path();
    let mut bytes = Vec::new();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bzip2::read::BzDecoder::new(file).read_to_end(&mut bytes).unwrap();
    let mut blocks = vec![bitcoin::constants::genesis_block(Network::Bitcoin)];
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        assert_eq!(rest[..4], MAGIC);
        let len = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
        let height = blocks.len() as u64;
        let block =
            chainsleuth_btc::BtcBlock::decode(chainsleuth_core::Height::new(height), &rest[8..8 + len]).unwrap();
        assert_eq!(block.block.header.prev_blockhash, blocks.last().unwrap().block_hash(), "height {height}");
        blocks.push(block.block);
        rest = &rest[8 + len..];
    }
    assert_eq!(blocks.len(), 256);
    blocks
}

/// The address an output pays, by rust-bitcoin: P2PK as the P2PKH address of its key.
fn address_of(script: &bitcoin::Script) -> String {
    if let Some(key) = script.p2pk_public_key() {
        return Address::p2pkh(key.pubkey_hash(), Network::Bitcoin).to_string();
    }
    Address::from_script(script, Network::Bitcoin).unwrap_or_else(|_| panic!("unexpected script {script}")).to_string()
}

#[derive(Default, Debug)]
struct Figures {
    received: u64,
    sent: u64,
    txs: HashSet<Txid>,
    first: Option<u64>,
    last: u64,
    /// (txid, height, received, sent) per transaction, in chain order.
    rows: Vec<(Txid, u64, u64, u64)>,
}

#[test]
fn mainnet_heights_0_to_255_index_with_independently_checked_figures() {
    let blocks = mainnet_blocks();
    let mut coins: HashMap<OutPoint, (String, u64)> = HashMap::new();
    let mut figures: HashMap<String, Figures> = HashMap::new();
    for (height, block) in blocks.iter().enumerate() {
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            let mut touch = |address: &str, received: u64, sent: u64| {
                let f = figures.entry(address.to_owned()).or_default();
                f.received += received;
                f.sent += sent;
                f.txs.insert(txid);
                f.first.get_or_insert(height as u64);
                f.last = height as u64;
                match f.rows.last_mut() {
                    Some(row) if row.0 == txid => (row.2, row.3) = (row.2 + received, row.3 + sent),
                    _ => f.rows.push((txid, height as u64, received, sent)),
                }
            };
            if !tx.is_coinbase() {
                for input in &tx.input {
                    let (address, value) = coins.remove(&input.previous_output).expect("spends a known coin");
                    touch(&address, 0, value);
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                let address = address_of(&out.script_pubkey);
                touch(&address, out.value.to_sat(), 0);
                coins.insert(OutPoint { txid, vout: vout as u32 }, (address, out.value.to_sat()));
            }
        }
    }
    assert!(figures.values().any(|f| f.sent > 0), "the sample holds spends");

    let dir = tempfile::tempdir().unwrap();
    sync(dir.path(), &MemSource::new(blocks.clone()), Network::Bitcoin, &SyncOptions::default());
    let store = open_read_only(dir.path()).unwrap();
    let status = query::status(&store).unwrap();
    assert_eq!(status.tip_height.map(|h| h.get()), Some(255));
    assert_eq!(status.transactions, blocks.iter().map(|b| b.txdata.len() as u64).sum::<u64>());
    assert_eq!(status.addresses, figures.len() as u64);

    for (address, want) in &figures {
        let got = query::address_summary(&store, address, Network::Bitcoin).unwrap();
        assert_eq!(
            (got.received.0, got.sent.0, got.balance.0, got.tx_count),
            (want.received, want.sent, want.received - want.sent, want.txs.len() as u64),
            "{address}"
        );
        assert_eq!((got.first_seen.map(|h| h.get()), got.last_seen.map(|h| h.get())), (want.first, Some(want.last)));
    }
    // Each history row, newest first: pages of one row and of three, so
    // that every row's amounts come from its neighbour across page bounds.
    for (address, want) in &figures {
        for limit in [1, 3] {
            let mut got = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = query::address_history(&store, address, Network::Bitcoin, cursor.as_deref(), limit).unwrap();
                got.extend(page.rows.iter().map(|r| (r.txid, r.height.get(), r.received.0, r.sent.0)));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            got.reverse();
            assert_eq!(got, want.rows, "{address}, pages of {limit}");
        }
    }
    // The genesis coinbase is indexed like any output, under Satoshi's P2PKH address.
    let genesis = query::address_summary(&store, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", Network::Bitcoin).unwrap();
    assert_eq!((genesis.received.0, genesis.first_seen.map(|h| h.get())), (5_000_000_000, Some(0)));

    // Every transaction's view agrees with the block it came from.
    for (height, block) in blocks.iter().enumerate() {
        for (position, tx) in block.txdata.iter().enumerate() {
            let view = query::tx(&store, &tx.compute_txid().to_string(), Network::Bitcoin).unwrap();
            assert_eq!((view.height.get(), view.position as usize), (height as u64, position));
            assert_eq!(view.block_hash, block.block_hash());
            assert_eq!(view.outputs.len(), tx.output.len());
            for (out, want) in view.outputs.iter().zip(&tx.output) {
                assert_eq!(out.value.0, want.value.to_sat());
                assert_eq!(out.address.as_deref(), Some(address_of(&want.script_pubkey).as_str()));
            }
            if !tx.is_coinbase() {
                let prevs: Vec<OutPoint> =
                    view.inputs.iter().map(|i| OutPoint { txid: i.prev_txid, vout: i.prev_vout }).collect();
                let want: Vec<OutPoint> = tx.input.iter().map(|i| i.previous_output).collect();
                assert_eq!(prevs, want);
            }
        }
    }
}
