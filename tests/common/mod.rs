//! Helpers shared by the end-to-end tests: run the real `chainsleuth`
//! binary, build simulated chains on disk, read digests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use chainsleuth_btc::sim::{build_chain, write_blocks_dir, BlkDirOptions, SimChain, SimConfig};

/// The binary under test.
pub fn chainsleuth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chainsleuth"));
    cmd.env_remove("CHAINSLEUTH_DATA_DIR").env_remove("CHAINSLEUTH_CONFIG").env("RUST_LOG", "warn");
    cmd
}

/// Runs the binary with `args` on `data_dir` and returns its output.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    chainsleuth().arg("--data-dir").arg(data_dir).args(args).output().expect("the binary runs")
}

/// Runs the binary and insists that it succeeds; returns stdout.
pub fn run_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = run(data_dir, args);
    assert!(
        out.status.success(),
        "chainsleuth {args:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Runs the binary and insists that it fails with exit status 2; returns stderr.
pub fn run_err(data_dir: &Path, args: &[&str]) -> String {
    let out = run(data_dir, args);
    assert_eq!(out.status.code(), Some(2), "chainsleuth {args:?} should fail with 2: {out:?}");
    String::from_utf8(out.stderr).expect("output is UTF-8")
}

/// `chainsleuth db digest` of a data directory.
pub fn digest(data_dir: &Path) -> String {
    run_ok(data_dir, &["db", "digest"]).trim().to_owned()
}

/// Builds a chain and writes it as a Core blocks directory under `dir`.
pub fn chain_on_disk(dir: &Path, blocks: u32, txs_per_block: u32, seed: u64, xor: Option<[u8; 8]>) -> SimChain {
    let chain = build_chain(&SimConfig { blocks, seed, txs_per_block, ..SimConfig::default() });
    write_blocks_dir(dir, &chain.blocks, &BlkDirOptions { xor_key: xor, shuffle: true, ..BlkDirOptions::default() })
        .expect("writing the blocks directory");
    chain
}
