//! Benchmark of the tag store: generates a CSV of N tags (half Bitcoin
//! P2PKH, half Ethereum), imports it into a fresh store, then looks up
//! random tagged addresses and prints rows/s and lookup latency p50/p99.
//! The baseline of the import, measured in the same run, is reading the
//! same file with the csv crate (parse only, rows dropped).
//!
//! Usage: `bench_tags [ROWS] [LOOKUPS]` (defaults 1,000,000 and 100,000);
//! `scripts/bench-tags.sh` runs it under `/usr/bin/time -v` for peak memory.
//! With `$BENCH_ROWS` set (by `scripts/bench.sh`) it also appends its
//! figures there as rows.

use std::io::Write;
use std::time::Instant;

use bitcoin::hashes::Hash;
use chainsleuth_store::bench::bench_row;
use chainsleuth_tags::{Category, Defaults, Format, ImportOptions, TagChain, TagStore};

fn address(n: u64) -> (TagChain, String) {
    if n % 2 == 0 {
        let hash = bitcoin::PubkeyHash::hash(&n.to_be_bytes());
        let address = bitcoin::Address::p2pkh(hash, bitcoin::Network::Bitcoin);
        (TagChain::BTC, address.to_string())
    } else {
        (TagChain::ETH, format!("0x{:040x}", u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let lookups: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("tags.csv");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        writeln!(file, "address,entity,label,jurisdiction,confidence")?;
        for n in 0..rows {
            let (_, address) = address(n);
            writeln!(file, "{address},desk {},cash desk {n},KZ,70", n % 1000)?;
        }
    }
    let started = Instant::now();
    let mut parsed = 0u64;
    for record in csv::Reader::from_path(&csv)?.records() {
        parsed += u64::from(!record?.is_empty());
    }
    let parse_secs = started.elapsed().as_secs_f64();
    assert_eq!(parsed, rows);

    let store = TagStore::open(&dir.path().join("tags"))?;
    let options = ImportOptions {
        defaults: Defaults { category: Some(Category::CashOutNetwork), ..Defaults::default() },
        ..ImportOptions::default()
    };
    let started = Instant::now();
    let report = store.import(&csv, Format::Csv, "bench", &options)?;
    let import_secs = started.elapsed().as_secs_f64();
    assert_eq!(report.added, rows, "every generated row is a new tag");

    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut latencies = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (chain, address) = address(state % rows);
        let t = Instant::now();
        let tags = store.tags_for(&chain, &address)?;
        latencies.push(t.elapsed().as_nanos() as u64);
        assert_eq!(tags.len(), 1);
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)] as f64 / 1000.0;
    println!("| metric | value |");
    println!("|---|---|");
    println!("| rows imported | {rows} |");
    println!("| import time | {import_secs:.1} s |");
    println!("| import rate | {:.0} rows/s |", rows as f64 / import_secs);
    println!("| CSV parse-only rate (baseline) | {:.0} rows/s |", rows as f64 / parse_secs);
    store.store().flush()?;
    let size = store.store().approximate_size();
    println!("| store size | {:.0} MiB |", size as f64 / f64::from(1 << 20));
    println!("| lookups | {lookups} |");
    println!("| lookup p50 | {:.1} µs |", pct(0.50));
    println!("| lookup p99 | {:.1} µs |", pct(0.99));
    bench_row([
        &format!("tags: import rate ({rows} tags)"),
        &format!("{:.0} rows/s", rows as f64 / import_secs),
        &format!("{:.0} rows/s CSV parse-only", rows as f64 / parse_secs),
        &format!("{:.2}", parse_secs / import_secs),
        "—",
    ]);
    bench_row(["tags: store size", &format!("{:.0} B/tag", size as f64 / rows.max(1) as f64), "—", "—", "—"]);
    bench_row([
        "tags: lookup p99",
        &format!("{:.1} µs", pct(0.99)),
        &format!("{:.1} µs p50", pct(0.50)),
        &format!("{:.2}", pct(0.99) / pct(0.50)),
        "—",
    ]);
    Ok(())
}
