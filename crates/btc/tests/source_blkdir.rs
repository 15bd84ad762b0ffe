//! The blocks-directory source on block files written as Bitcoin Core writes
//! them: out of order, with stale blocks, XOR-obfuscated or not, still being
//! written, and damaged.

mod source_util;

use std::path::Path;

use bitcoin::{Block, Network};
use chainsleuth_btc::sim::{build_chain, build_stale_branch, write_blocks_dir, BlkDirOptions, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, BtcSourceError, XorMode};
use chainsleuth_btc::to_core_hash;
use chainsleuth_core::Height;
use chainsleuth_sync::{BlockSource, SourceError};
use source_util::*;

const KEY: [u8; 8] = [0x5a, 0x13, 0xc7, 0x00, 0xee, 0x81, 0x42, 0x9d];

fn open(dir: &Path, xor: XorMode) -> BlkDirSource {
    BlkDirSource::open(&BlkDirConfig { dir: dir.to_owned(), network: Network::Regtest, xor }).expect("open blocks dir")
}

/// Checks that `source` serves exactly `chain`, and nothing above it.
async fn assert_serves(source: &BlkDirSource, chain: &[Block]) {
    let tip = source.tip().await.expect("tip");
    let last = chain.last().expect("non-empty chain");
    assert_eq!(tip.height, Height::new(chain.len() as u64 - 1));
    assert_eq!(tip.hash, to_core_hash(last.block_hash()));
    for (h, block) in chain.iter().enumerate() {
        let height = Height::new(h as u64);
        assert_eq!(source.hash_at(height).await.expect("hash"), Some(to_core_hash(block.block_hash())), "height {h}");
        let got = source.block_at(height).await.expect("block");
        assert_eq!(got.block, *block, "height {h}");
        assert_eq!(got.height, height);
        assert_eq!(got.size, bitcoin::consensus::serialize(block).len());
    }
    let above = Height::new(chain.len() as u64);
    assert_eq!(source.hash_at(above).await.expect("hash above tip"), None);
    assert!(matches!(source.block_at(above).await, Err(BtcSourceError::AboveTip { .. })));
}

/// The best chain (genesis + 30) and a stale branch of 3 from height 12,
/// written shuffled across two files, `xor.dat` holding `key` when given.
fn write_forked(root: &Path, key: Option<[u8; 8]>) -> Vec<Block> {
    let dir = blocks_dir(root, key);
    let main = chain(30);
    let stale = extend(&main[12], 12, 3, 7);
    let mut all: Vec<&Block> = main.iter().chain(stale.iter()).collect();
    all = shuffled(&all);
    let (first, second) = all.split_at(all.len() / 2);
    append_blocks(&blk(&dir, 0), first, Network::Regtest, key);
    append_blocks(&blk(&dir, 1), second, Network::Regtest, key);
    main
}

#[tokio::test]
async fn out_of_order_blocks_and_a_stale_branch_give_the_best_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let main = write_forked(tmp.path(), None);
    let source = open(tmp.path(), XorMode::Auto);
    assert_serves(&source, &main).await;
    assert!(source.describe().contains("blocks"), "{}", source.describe());
    // Also when pointed at blocks/ itself.
    assert_serves(&open(&tmp.path().join("blocks"), XorMode::Off), &main).await;
}

#[tokio::test]
async fn a_simulated_chain_written_by_the_chain_builder_reads_back() {
    let sim = build_chain(&SimConfig { blocks: 160, seed: 3, txs_per_block: 6, ..SimConfig::default() });
    let stale = build_stale_branch(&sim, Height::new(150), 4, 77);
    for xor_key in [None, Some(KEY)] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let options = BlkDirOptions { max_file_size: 64 * 1024, xor_key, shuffle: true, stale: stale.clone() };
        let layout = write_blocks_dir(tmp.path(), &sim.blocks, &options).expect("write blocks dir");
        assert!(layout.files.len() > 2, "several files");
        assert_serves(&open(tmp.path(), XorMode::Auto), &sim.blocks).await;
    }
}

#[tokio::test]
async fn a_heavier_branch_appended_later_becomes_the_best_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let main = write_forked(tmp.path(), None);
    let source = open(tmp.path(), XorMode::Auto);
    assert_eq!(source.tip().await.expect("tip").height, Height::new(30));
    // A branch from height 25 that ends two blocks higher, written out of order.
    let branch = extend(&main[25], 25, 7, 9);
    let refs: Vec<&Block> = branch.iter().rev().collect();
    append_blocks(&blk(&blocks_dir(tmp.path(), None), 1), &refs, Network::Regtest, None);
    let mut winner: Vec<Block> = main[..=25].to_vec();
    winner.extend(branch);
    assert_serves(&source, &winner).await;
}

#[tokio::test]
async fn xor_obfuscated_files_read_with_xor_dat_or_a_given_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let main = write_forked(tmp.path(), Some(KEY));
    assert_serves(&open(tmp.path(), XorMode::Auto), &main).await;
    assert_serves(&open(tmp.path(), XorMode::Key(KEY)), &main).await;

    let err = open(tmp.path(), XorMode::Off).tip().await.expect_err("plain read of obfuscated files");
    let text = err.to_string();
    assert!(matches!(err, BtcSourceError::Magic { offset: 0, .. }), "{text}");
    assert!(text.contains("blk00000.dat at offset 0") && text.contains("xor"), "{text}");
    assert!(!err.is_retryable());

    let wrong = open(tmp.path(), XorMode::Key([1, 2, 3, 4, 5, 6, 7, 8])).tip().await.expect_err("wrong key");
    let text = wrong.to_string();
    assert!(text.contains("blk00000.dat at offset 0") && text.contains("wrong xor key"), "{text}");
}

#[tokio::test]
async fn an_all_zero_xor_dat_means_plain_files_and_a_key_on_plain_files_is_caught() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let main = write_forked(tmp.path(), Some([0; 8]));
    assert_serves(&open(tmp.path(), XorMode::Auto), &main).await;
    let err = open(tmp.path(), XorMode::Key(KEY)).tip().await.expect_err("key on plain files");
    assert!(err.to_string().contains("not obfuscated"), "{err}");
}

#[tokio::test]
async fn a_partly_written_last_file_ends_cleanly_and_appends_are_picked_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = Some(KEY);
    let dir = blocks_dir(tmp.path(), key);
    let main = chain(20);
    let refs: Vec<&Block> = main.iter().collect();
    append_blocks(&blk(&dir, 0), &refs[..=10], Network::Regtest, key);
    let last = blk(&dir, 1);
    append_blocks(&last, &refs[11..=15], Network::Regtest, key);
    // Block 16 is being written: its record stops half way.
    let rec16 = record(&main[16], Network::Regtest);
    let at16 = append(&last, &rec16[..rec16.len() / 2], key);
    let source = open(tmp.path(), XorMode::Auto);
    assert_serves(&source, &main[..=15]).await;

    // Core finishes block 16 and writes 17, followed by preallocated zeros.
    write_at(&last, at16, &rec16, key);
    let at17 = append_blocks(&last, &[&main[17]], Network::Regtest, key)[0];
    let zeros_at = std::fs::metadata(&last).expect("stat").len();
    std::fs::OpenOptions::new().write(true).open(&last).expect("open").set_len(zeros_at + 4096).expect("grow");
    assert!(at17 > at16);
    assert_serves(&source, &main[..=17]).await;

    // Core overwrites the zeros with blocks 18 and 19; only the first 3 bytes
    // of block 19's record made it so far.
    let rec18 = record(&main[18], Network::Regtest);
    write_at(&last, zeros_at, &rec18, key);
    let rec19 = record(&main[19], Network::Regtest);
    write_at(&last, zeros_at + rec18.len() as u64, &rec19[..3], key);
    assert_serves(&source, &main[..=18]).await;
    write_at(&last, zeros_at + rec18.len() as u64, &rec19, key);
    assert_serves(&source, &main[..=19]).await;

    // Block 20's record is complete up to its header, its transactions not yet written.
    let rec20 = record(&main[20], Network::Regtest);
    let at20 = zeros_at + (rec18.len() + rec19.len()) as u64;
    write_at(&last, at20, &rec20[..8 + 80], key);
    assert_serves(&source, &main[..=19]).await;
    write_at(&last, at20, &rec20, key);
    assert_serves(&source, &main).await;
}

#[tokio::test]
async fn a_new_file_is_picked_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let main = chain(8);
    let refs: Vec<&Block> = main.iter().collect();
    append_blocks(&blk(&dir, 0), &refs[..5], Network::Regtest, None);
    let source = open(tmp.path(), XorMode::Auto);
    assert_serves(&source, &main[..5]).await;
    append_blocks(&blk(&dir, 1), &refs[5..], Network::Regtest, None);
    assert_serves(&source, &main).await;
}

#[tokio::test]
async fn wrong_magic_in_the_middle_names_file_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let main = chain(6);
    let refs: Vec<&Block> = main.iter().collect();
    let file = blk(&dir, 0);
    let offsets = append_blocks(&file, &refs, Network::Regtest, None);
    write_at(&file, offsets[3], &[0xde, 0xad, 0xbe, 0xef], None);
    let err = open(tmp.path(), XorMode::Auto).tip().await.expect_err("bad magic");
    let text = err.to_string();
    assert!(matches!(err, BtcSourceError::Magic { offset, .. } if offset == offsets[3]), "{text}");
    assert!(text.contains(&format!("blk00000.dat at offset {}", offsets[3])) && text.contains("deadbeef"), "{text}");
    assert!(text.contains("corrupt"), "{text}");
}

#[tokio::test]
async fn another_networks_blocks_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_forked(tmp.path(), None);
    let source =
        BlkDirSource::open(&BlkDirConfig { dir: tmp.path().to_owned(), network: Network::Bitcoin, xor: XorMode::Auto })
            .expect("open");
    let err = source.tip().await.expect_err("regtest files read as mainnet");
    assert!(err.to_string().contains("these are regtest blocks"), "{err}");
}

#[tokio::test]
async fn a_truncated_record_in_a_finished_file_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let main = chain(6);
    let refs: Vec<&Block> = main.iter().collect();
    append_blocks(&blk(&dir, 0), &refs[..3], Network::Regtest, None);
    let rec = record(&main[3], Network::Regtest);
    let at = append(&blk(&dir, 0), &rec[..rec.len() - 10], None);
    append_blocks(&blk(&dir, 1), &refs[3..], Network::Regtest, None);
    let err = open(tmp.path(), XorMode::Auto).tip().await.expect_err("truncated");
    let text = err.to_string();
    assert!(matches!(err, BtcSourceError::Truncated { .. }), "{text}");
    assert!(text.contains(&format!("blk00000.dat at offset {at}")) && text.contains("truncated"), "{text}");
}

#[tokio::test]
async fn a_bad_record_length_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let main = chain(4);
    let refs: Vec<&Block> = main.iter().collect();
    let offsets = append_blocks(&blk(&dir, 0), &refs, Network::Regtest, None);
    write_at(&blk(&dir, 0), offsets[2] + 4, &10u32.to_le_bytes(), None);
    let err = open(tmp.path(), XorMode::Auto).tip().await.expect_err("bad length");
    assert!(matches!(err, BtcSourceError::RecordLength { len: 10, .. }), "{err}");
    assert!(err.to_string().contains(&format!("offset {}", offsets[2])), "{err}");
}

#[tokio::test]
async fn a_header_failing_its_proof_of_work_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let mut main = chain(4);
    // Mainnet's difficulty-1 target, which an unground regtest header misses.
    main[2].header.bits = bitcoin::CompactTarget::from_consensus(0x1d00_ffff);
    let refs: Vec<&Block> = main.iter().collect();
    let offsets = append_blocks(&blk(&dir, 0), &refs, Network::Regtest, None);
    let err = open(tmp.path(), XorMode::Auto).tip().await.expect_err("bad pow");
    assert!(matches!(err, BtcSourceError::BadHeader { offset, .. } if offset == offsets[2]), "{err}");
}

#[tokio::test]
async fn corrupt_and_merkle_mismatched_blocks_name_file_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = Some(KEY);
    let dir = blocks_dir(tmp.path(), key);
    let main = chain(5);
    let refs: Vec<&Block> = main.iter().collect();
    let file = blk(&dir, 0);
    let offsets = append_blocks(&file, &refs, Network::Regtest, key);

    // Block 2: the coinbase's output value changed, so the merkle root no longer matches.
    let mut tampered = main[2].clone();
    tampered.txdata[0].output[0].value = bitcoin::Amount::from_sat(1);
    let rec = record(&tampered, Network::Regtest);
    write_at(&file, offsets[2], &rec, key);
    // Block 4: the transaction count says 3 but only one transaction follows.
    write_at(&file, offsets[4] + 8 + 80, &[3], key);

    let source = open(tmp.path(), XorMode::Auto);
    assert_eq!(source.tip().await.expect("headers are intact").height, Height::new(5));
    assert!(source.block_at(Height::new(1)).await.is_ok());

    let err = source.block_at(Height::new(2)).await.expect_err("merkle mismatch");
    let chain = error_chain(&err);
    assert!(chain.contains(&format!("blk00000.dat at offset {}", offsets[2])), "{chain}");
    assert!(chain.contains("merkle root does not match"), "{chain}");
    assert!(!err.is_retryable());

    let err = source.block_at(Height::new(4)).await.expect_err("undecodable");
    let chain = error_chain(&err);
    assert!(chain.contains(&format!("blk00000.dat at offset {}", offsets[4])), "{chain}");
    assert!(chain.contains("does not deserialize"), "{chain}");
}

#[tokio::test]
async fn an_empty_or_foreign_directory_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err =
        BlkDirSource::open(&BlkDirConfig { dir: tmp.path().to_owned(), network: Network::Regtest, xor: XorMode::Auto })
            .expect_err("no files");
    assert!(err.to_string().contains("no blk*.dat files"), "{err}");

    let dir = blocks_dir(tmp.path(), None);
    std::fs::write(dir.join("xor.dat"), [1, 2, 3]).expect("write");
    append_blocks(&blk(&dir, 0), &[&chain(1)[1]], Network::Regtest, None);
    let err =
        BlkDirSource::open(&BlkDirConfig { dir: tmp.path().to_owned(), network: Network::Regtest, xor: XorMode::Auto })
            .expect_err("short xor.dat");
    assert!(err.to_string().contains("xor.dat") && err.to_string().contains("3 bytes"), "{err}");
}

#[tokio::test]
async fn records_that_never_link_to_genesis_are_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let main = chain(4);
    // Only blocks 2-4: their ancestry never reaches the genesis block.
    let refs: Vec<&Block> = main[2..].iter().collect();
    append_blocks(&blk(&dir, 0), &refs, Network::Regtest, None);
    let err = open(tmp.path(), XorMode::Auto).tip().await.expect_err("unlinked");
    assert!(matches!(err, BtcSourceError::Unlinked { records: 3, .. }), "{err}");
}

#[tokio::test]
async fn genesis_missing_from_the_files_comes_from_the_network() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir(tmp.path(), None);
    let main = chain(4);
    let refs: Vec<&Block> = main[1..].iter().collect();
    append_blocks(&blk(&dir, 0), &refs, Network::Regtest, None);
    assert_serves(&open(tmp.path(), XorMode::Auto), &main).await;
}

/// The error and its sources, joined as `anyhow`'s `{:#}` shows them.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
