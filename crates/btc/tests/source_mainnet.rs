//! Real mainnet data: Bitcoin Core's block-file format holding heights
//! 1-255 (btcd's sample, which lacks the genesis block), plain and
//! XOR-obfuscated, and single raw blocks (segwit among them) decoding with
//! the right hash and transaction count. See tests/data/README.md.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::Network;
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_btc::{to_core_hash, BtcBlock};
use chainsleuth_core::Height;
use chainsleuth_sync::{BlockSource, ChainBlock};

const GENESIS: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
const FIRST: &str = "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048";
const LAST: &str = "00000000d0a75c861fabf9ff7b92022f60e4afeed9331fe5aa073d8e4706fe3c";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn hash(hex: &str) -> chainsleuth_core::BlockHash {
    to_core_hash(bitcoin::BlockHash::from_str(hex).expect("valid hash"))
}

/// The sample's blk file, decompressed.
fn sample_blk() -> Vec<u8> {
    let compressed = std::fs::read(data("blocks1-256.bz2")).expect("read sample");
    let mut raw = Vec::new();
    bzip2::read::BzDecoder::new(compressed.as_slice()).read_to_end(&mut raw).expect("bunzip2 sample");
    raw
}

async fn check_sample(root: &Path) {
    let source =
        BlkDirSource::open(&BlkDirConfig { dir: root.to_owned(), network: Network::Bitcoin, xor: XorMode::Auto })
            .expect("open sample");
    let tip = source.tip().await.expect("tip");
    assert_eq!(tip.height, Height::new(255));
    assert_eq!(tip.hash, hash(LAST));
    assert_eq!(source.hash_at(Height::new(0)).await.expect("hash 0"), Some(hash(GENESIS)));
    assert_eq!(source.hash_at(Height::new(1)).await.expect("hash 1"), Some(hash(FIRST)));
    assert_eq!(source.hash_at(Height::new(256)).await.expect("hash 256"), None);
    let mut parent = None;
    let mut txs = 0;
    for h in 0..=255 {
        let block = source.block_at(Height::new(h)).await.expect("block");
        assert_eq!(block.block_ref().height, Height::new(h));
        assert_eq!(Some(block.block_ref().hash), source.hash_at(Height::new(h)).await.expect("hash"));
        if let Some(parent) = parent {
            assert_eq!(block.parent_hash(), parent, "height {h} links to its parent");
        }
        parent = Some(block.block_ref().hash);
        txs += block.tx_count();
    }
    // 262 transactions in heights 1-255, plus the genesis coinbase.
    assert_eq!(txs, 263);
}

#[tokio::test]
async fn mainnet_block_file_sample_gives_heights_0_to_255() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("blocks")).expect("mkdir");
    std::fs::write(tmp.path().join("blocks/blk00000.dat"), sample_blk()).expect("write blk");
    check_sample(tmp.path()).await;
}

#[tokio::test]
async fn mainnet_block_file_sample_obfuscated_as_core_28_writes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = [0x3c, 0x91, 0x07, 0xfe, 0x55, 0x20, 0xab, 0x6d];
    let blocks = tmp.path().join("blocks");
    std::fs::create_dir(&blocks).expect("mkdir");
    std::fs::write(blocks.join("xor.dat"), key).expect("write xor.dat");
    let mut raw = sample_blk();
    for (i, b) in raw.iter_mut().enumerate() {
        *b ^= key[i % 8];
    }
    std::fs::write(blocks.join("blk00000.dat"), raw).expect("write blk");
    check_sample(tmp.path()).await;
}

#[test]
fn raw_mainnet_blocks_decode_with_their_hash_and_tx_count() {
    let cases = [
        (
            "mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw",
            702_861,
            "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae",
            2500,
            2065,
        ),
        ("block169482.dat", 169_482, "0000000000000756935f1ee9d5987857b604046f846d3df56d024cdb5f368665", 14, 0),
        ("block227836.dat", 227_836, "00000000000000d0dfd4c9d588d325dce4f32c1b31b7c0064cba7025a9b9adcc", 100, 0),
        ("block_13b8a.hex", 100_000, "0000000000013b8ab2cd513b0261a14096412195a72a0c4827d229dcc7e0f7af", 9, 0),
    ];
    for (file, height, expected, tx_count, segwit) in cases {
        let mut bytes = std::fs::read(data(file)).expect("read block");
        if file.ends_with(".hex") {
            bytes = hex::decode(String::from_utf8(bytes).expect("hex text").trim()).expect("hex");
        }
        let block = BtcBlock::decode(Height::new(height), &bytes).expect("decode");
        assert_eq!(block.block.block_hash().to_string(), expected, "{file}");
        assert_eq!(block.tx_count(), tx_count, "{file}");
        assert_eq!(block.size_bytes(), bytes.len(), "{file}");
        let with_witness =
            block.block.txdata.iter().filter(|tx| tx.input.iter().any(|i| !i.witness.is_empty())).count();
        assert_eq!(with_witness, segwit, "{file}");
        if segwit > 0 {
            assert!(block.block.check_witness_commitment(), "{file}: witness commitment");
        }
    }
}
