//! `chainsleuth export parquet` end to end, on the demo's case (Bitcoin's
//! laundering scenario, Ethereum's crackdown on anvil, the tag lists):
//! bad ranges, an unknown chain and overlapping ranges are refused and
//! write nothing; two exports of consecutive ranges add partitions and
//! leave the first one's files byte for byte and untouched; DuckDB reads
//! the files back and every address's totals equal the store's (Bitcoin:
//! received, sent, transaction count; Ethereum: received and sent per
//! asset); the PySpark job (scripts/spark/clusters.py, Spark local[2])
//! finds exactly the store's multi-input clusters and, for a list of
//! addresses, exactly the haircut exposure `chainsleuth exposure` gives.
//!
//! Python with pyspark and duckdb comes from `.tools/py` (installed by
//! scripts/install-test-deps.sh) or `$CHAINSLEUTH_PYTHON`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use bitcoin::Network;
use chainsleuth_btc::index::tables::ClusterFlag;
use chainsleuth_btc::index::{open_read_only, query, BtcGraph, BtcIndexer, ClusterOptions, DEFAULT_CLUSTER_DEPTH};
use chainsleuth_btc::sim::{simulate_to_dir, Scenario, SimConfig};
use chainsleuth_btc::source::{BlkDirConfig, BlkDirSource, XorMode};
use chainsleuth_case::{CaseConfig, ExposureDirection, ExposureRequest, ModelChoice};
use chainsleuth_core::{TxNum, UtxoGraph};
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_trace::Budget;
use common::{run, run_err, run_ok};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has pyspark and duckdb.
fn python() -> PathBuf {
    let path = std::env::var_os("CHAINSLEUTH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools/py/bin/python"));
    assert!(
        path.exists(),
        "no Python with pyspark and duckdb at {} (set $CHAINSLEUTH_PYTHON): run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

fn python_json(args: &[&str]) -> Value {
    let out = Command::new(python()).args(args).output().expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python {args:?} failed: {}\n{stderr}", out.status);
    eprint!("{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("python {args:?}: {e}: {stderr}"))
}

/// Every file under `dir` with its size, modification time and content.
fn files(dir: &Path) -> BTreeMap<PathBuf, (SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let meta = std::fs::metadata(&path).unwrap();
                out.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    (meta.modified().unwrap(), std::fs::read(&path).unwrap()),
                );
            }
        }
    }
    out
}

/// The laundering chain of the demo indexed with clustering whose guard is
/// `guard_size` (the command line keeps the default 10,000, which this
/// small chain never reaches), into `data`.
fn index_with_guard(work: &Path, data: &Path, guard_size: u64) {
    let input = work.join("guard-chain");
    let cfg = SimConfig { blocks: 130, seed: 7, txs_per_block: 20, scenario: Scenario::Laundering };
    simulate_to_dir(&input, &cfg, false).unwrap();
    let source =
        BlkDirSource::open(&BlkDirConfig { dir: input, network: Network::Regtest, xor: XorMode::Auto }).unwrap();
    let options = ClusterOptions { depth: DEFAULT_CLUSTER_DEPTH, guard_size };
    let indexer = BtcIndexer::open(data, Network::Regtest).unwrap().with_clustering(options);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let (progress, _) = tokio::sync::watch::channel(Default::default());
        chainsleuth_sync::run(&source, indexer, &chainsleuth_sync::SyncOptions::default(), shutdown, progress)
            .await
            .unwrap();
    });
}

/// The store's multi-input clusters of two or more (as sets of addresses)
/// and its flagged transactions (txid, CoinJoin kind or `super_cluster`).
fn store_clusters(data: &Path, addresses: &[&str]) -> (BTreeSet<BTreeSet<String>>, BTreeSet<(String, String)>) {
    let store = open_read_only(data).unwrap();
    let mut clusters: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for address in addresses {
        if let Some(cluster) = query::cluster_of(&store, address, Network::Regtest).unwrap().filter(|c| c.size >= 2) {
            clusters.entry(cluster.id.0).or_default().insert((*address).to_owned());
        }
    }
    let graph = BtcGraph::new(&store).unwrap();
    let mut flags = BTreeSet::new();
    for n in 0..query::status(&store).unwrap().transactions {
        let kind = match query::cluster_flag(&store, TxNum(n)).unwrap() {
            Some(ClusterFlag::CoinJoin(kind)) => kind.name(),
            Some(ClusterFlag::SuperCluster { .. }) => "super_cluster",
            None => continue,
        };
        flags.insert((graph.txid(TxNum(n)).unwrap(), kind.to_owned()));
    }
    (clusters.into_values().collect(), flags)
}

/// Spark's clusters and flagged transactions, read from its results in `dir`.
fn spark_clusters(dir: &Path) -> (BTreeSet<BTreeSet<String>>, BTreeSet<(String, String)>) {
    let read = format!(
        "import duckdb, json, sys; db = duckdb.connect(); json.dump([db.execute(\"SELECT address, cluster FROM read_parquet('{0}/clusters/*.parquet')\").fetchall(), db.execute(\"SELECT txid, kind FROM read_parquet('{0}/coinjoins/*.parquet')\").fetchall()], sys.stdout)",
        dir.display()
    );
    let both = python_json(&["-c", &read]);
    let mut clusters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in both[0].as_array().unwrap() {
        clusters.entry(r[1].as_str().unwrap().to_owned()).or_default().insert(r[0].as_str().unwrap().to_owned());
    }
    let flags = both[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_str().unwrap().to_owned()))
        .collect();
    (clusters.into_values().collect(), flags)
}

const DUCKDB_TOTALS: &str = r#"
import duckdb, json, sys
out = sys.argv[1]
db = duckdb.connect()
btc = db.execute(f"""
    SELECT address, sum(received_sat), sum(sent_sat), count(DISTINCT txid), count(DISTINCT block_range)
    FROM read_parquet('{out}/btc/address_history/*/*.parquet', hive_partitioning = true)
    GROUP BY address""").fetchall()
eth = db.execute(f"""
    SELECT address, asset,
           sum(CASE WHEN direction = 'in' THEN amount::HUGEINT ELSE 0 END)::VARCHAR,
           sum(CASE WHEN direction = 'out' THEN amount::HUGEINT ELSE 0 END)::VARCHAR
    FROM read_parquet('{out}/eth/address_history/*/*.parquet', hive_partitioning = true)
    GROUP BY address, asset""").fetchall()
outputs = db.execute(f"""
    SELECT count(*), count(spender_txid) FROM read_parquet('{out}/btc/outputs/*/*.parquet')""").fetchone()
# The spender columns against the inputs that spend each output: named when
# the spender is in a block up to the run's last block (first run: 60, for
# the outputs of blocks up to 60; second: 130), null otherwise.
spenders = db.execute(f"""
    WITH o AS (SELECT *, CASE WHEN height <= 60 THEN 60 ELSE 130 END AS through
               FROM read_parquet('{out}/btc/outputs/*/*.parquet')),
         i AS (SELECT * FROM read_parquet('{out}/btc/inputs/*/*.parquet'))
    SELECT count(*) FILTER (WHERE (i.txid IS NOT NULL AND i.height <= o.through) != (o.spender_txid IS NOT NULL)
                              OR o.spender_txid != i.txid OR o.spender_vin != i.vin OR o.spender_height != i.height),
           count(*) FILTER (WHERE o.spender_txid IS NULL AND i.txid IS NOT NULL)
    FROM o LEFT JOIN i ON i.prev_txid = o.txid AND i.prev_vout = o.vout""").fetchone()
json.dump({"btc": btc, "eth": eth, "outputs": outputs, "spenders": spenders}, sys.stdout)
"#;

#[test]
fn export_is_incremental_and_duckdb_and_spark_agree_with_the_stores() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let out = work.path().join("export");
    let out_arg = out.to_str().unwrap();
    run_ok(&data, &["demo"]);

    // Refused before anything is written.
    let export = |extra: &[&'static str]| -> Vec<&str> {
        ["export", "parquet", "--out", out_arg].into_iter().chain(extra.iter().copied()).collect()
    };
    let err = run_err(&data, &export(&["--chain", "btc", "--from-block", "10", "--to-block", "5"]));
    assert!(err.contains("--from-block 10 is after --to-block 5"), "{err}");
    let err = run_err(&data, &export(&["--chain", "btc", "--to-block", "999"]));
    assert!(err.contains("--to-block 999 is beyond the indexed btc tip 130"), "{err}");
    let bad = run(&data, &export(&["--chain", "doge"]));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("doge") && err.contains("btc"), "{err}");
    assert!(!out.exists(), "a refused export writes nothing");

    // The first export: Bitcoin's blocks 0-60 in partitions of 40 blocks.
    let started = Instant::now();
    run_ok(&data, &export(&["--chain", "btc", "--to-block", "60", "--partition-blocks", "40"]));
    let first = files(&out);
    for range in ["0000000000-0000000039", "0000000040-0000000060"] {
        for table in ["transactions", "outputs", "inputs", "address_history"] {
            let file = PathBuf::from(format!("btc/{table}/block_range={range}/data.parquet"));
            assert!(first.contains_key(&file), "{} in {:?}", file.display(), first.keys());
        }
    }
    let err = run_err(&data, &export(&["--chain", "btc", "--from-block", "50"]));
    assert!(err.contains("overlap the exported partition 0000000040-0000000060") || err.contains("40-60"), "{err}");
    assert!(err.contains("from block 61"), "{err}");

    // What a run killed half-way leaves: a partition without a manifest,
    // a file where the rename happened and a temporary file where it did
    // not. The next run writes that partition again.
    let crashed = out.join("btc/outputs/block_range=0000000061-0000000130");
    std::fs::create_dir_all(&crashed).unwrap();
    std::fs::write(crashed.join("data.parquet"), b"not parquet").unwrap();
    std::fs::write(crashed.join(".data.parquet.tmp-1"), b"half").unwrap();

    // The second: both chains, from after the last partition to the tips.
    let second = run_ok(&data, &export(&["--json"]));
    let summary: Value = serde_json::from_str(&second).unwrap();
    let chains = summary["chains"].as_array().unwrap();
    let btc = chains.iter().find(|c| c["chain"] == "btc").unwrap();
    assert_eq!(btc["partitions"][0]["from_block"], 61);
    assert_eq!(btc["partitions"][0]["to_block"], 130);
    let rows: u64 = chains.iter().map(|c| c["rows"].as_u64().unwrap()).sum();
    let bytes: u64 = chains.iter().map(|c| c["bytes"].as_u64().unwrap()).sum();
    let secs: f64 = chains.iter().map(|c| c["seconds"].as_f64().unwrap()).sum();
    eprintln!(
        "second export: {rows} rows, {bytes} bytes in {secs:.3} s ({:.0} rows/s); both exports {:.1} s with the CLI",
        rows as f64 / secs,
        started.elapsed().as_secs_f64()
    );
    let both = files(&out);
    for (path, (mtime, bytes)) in &first {
        let (now_mtime, now_bytes) = &both[path];
        assert!(now_mtime == mtime && now_bytes == bytes, "{} was rewritten", path.display());
    }
    let added: Vec<&PathBuf> = both.keys().filter(|p| !first.contains_key(*p)).collect();
    for table in ["btc/outputs/block_range=0000000061-0000000130", "eth/transfers/block_range=0000000000-0000000010"] {
        assert!(added.iter().any(|p| p.starts_with(table)), "{table} added: {added:?}");
    }
    assert!(!crashed.join(".data.parquet.tmp-1").exists(), "the interrupted run's temporary file is gone");
    assert_ne!(std::fs::read(crashed.join("data.parquet")).unwrap(), b"not parquet");
    let again = run_ok(&data, &export(&[]));
    assert!(again.contains("btc: nothing written (nothing new"), "{again}");

    // DuckDB reads the files back: every address's totals are the store's.
    let started = Instant::now();
    let totals = python_json(&["-c", DUCKDB_TOTALS, out_arg]);
    eprintln!("DuckDB check: {:.1} s", started.elapsed().as_secs_f64());
    let store = open_read_only(&data).unwrap();
    let status = query::status(&store).unwrap();
    let btc_rows = totals["btc"].as_array().unwrap();
    assert_eq!(btc_rows.len() as u64, status.addresses, "every address has history rows");
    for row in btc_rows {
        let address = row[0].as_str().unwrap();
        let summary = query::address_summary(&store, address, Network::Regtest).unwrap();
        let got = (row[1].as_u64().unwrap(), row[2].as_u64().unwrap(), row[3].as_u64().unwrap());
        assert_eq!(got, (summary.received.0, summary.sent.0, summary.tx_count), "{address}");
    }
    assert_eq!(totals["spenders"][0], 0, "spender columns agree with the inputs");
    assert!(totals["spenders"][1].as_u64().unwrap() > 0, "outputs of blocks up to 60 spent later keep null spenders");
    let spent = totals["outputs"][1].as_u64().unwrap();
    assert!(spent > 0 && spent < totals["outputs"][0].as_u64().unwrap(), "{}", totals["outputs"]);
    let eth_store =
        Store::open(&chainsleuth_eth::store_path(&data), &chainsleuth_eth::SCHEMA, OpenMode::ReadOnly).unwrap();
    let eth = chainsleuth_eth::EthQuery::new(&eth_store);
    let eth_rows = totals["eth"].as_array().unwrap();
    assert!(eth_rows.len() > 50, "{}", eth_rows.len());
    for row in eth_rows {
        let (address, asset) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        let summary = eth.address_summary(address).unwrap().unwrap_or_else(|| panic!("{address} unknown"));
        let held =
            summary.assets.iter().find(|a| a.asset.asset == asset).unwrap_or_else(|| panic!("{address} {asset}"));
        assert_eq!(
            (row[2].as_str().unwrap(), row[3].as_str().unwrap()),
            (&*held.received, &*held.sent),
            "{address} {asset}"
        );
    }

    // Spark: the clusters and the exposures of the tagged addresses and of
    // the 20 that received most.
    let mut by_received: Vec<(u64, &str)> =
        btc_rows.iter().map(|r| (r[1].as_u64().unwrap(), r[0].as_str().unwrap())).collect();
    by_received.sort_unstable_by(|a, b| b.cmp(a));
    let tags = std::fs::read_to_string(data.join("demo-input/btc/tags.jsonl")).unwrap();
    let mut asked: BTreeSet<String> = tags
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["address"].as_str().unwrap().to_owned())
        .collect();
    asked.extend(by_received.iter().take(20).map(|(_, a)| (*a).to_owned()));
    // The same chain clustered with a guard of 1 (a transaction that would
    // merge two clusters of two or more merges nothing), exported too.
    let guarded = work.path().join("guarded");
    let guarded_out = work.path().join("guarded-export");
    index_with_guard(work.path(), &guarded, 1);
    run_ok(&guarded, &["export", "parquet", "--out", guarded_out.to_str().unwrap(), "--chain", "btc"]);
    let guarded_addresses = python_json(&[
        "-c",
        "import duckdb, json, sys; json.dump([r[0] for r in duckdb.connect().execute(f\"SELECT DISTINCT address FROM read_parquet('{sys.argv[1]}/btc/address_history/*/*.parquet')\").fetchall()], sys.stdout)",
        guarded_out.to_str().unwrap(),
    ]);

    let result = work.path().join("spark");
    let guarded_result = work.path().join("spark-guarded");
    let script = repo().join("scripts/spark/clusters.py");
    let mut args: Vec<&str> = vec![
        script.to_str().unwrap(),
        "--master",
        "local[2]",
        "--export",
        out_arg,
        "--out",
        result.to_str().unwrap(),
        "--guard-size",
        "10000",
        "--export",
        guarded_out.to_str().unwrap(),
        "--out",
        guarded_result.to_str().unwrap(),
        "--guard-size",
        "1",
        "--exposure",
    ];
    args.extend(asked.iter().map(String::as_str));
    let started = Instant::now();
    let spark = Command::new(python()).args(&args).output().expect("python runs");
    let stderr = String::from_utf8_lossy(&spark.stderr);
    assert!(spark.status.success(), "the Spark job failed: {}\n{stderr}", spark.status);
    stderr.lines().filter(|l| l.starts_with("clusters.py:")).for_each(|l| eprintln!("{l}"));
    eprintln!("Spark job (local[2], session start included): {:.1} s", started.elapsed().as_secs_f64());

    let addresses: Vec<&str> = btc_rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    let (spark_sets, spark_flags) = spark_clusters(&result);
    let (store_sets, store_flags) = store_clusters(&data, &addresses);
    assert!(store_sets.len() >= 3, "the case has multi-input clusters: {store_sets:?}");
    assert!(store_flags.iter().any(|(_, kind)| kind != "super_cluster"), "the case has a CoinJoin: {store_flags:?}");
    assert_eq!(spark_sets, store_sets, "Spark's clusters are the store's");
    assert_eq!(spark_flags, store_flags, "Spark leaves out the transactions the store leaves out");
    let guarded_addresses: Vec<&str> =
        guarded_addresses.as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let (spark_sets, spark_flags) = spark_clusters(&guarded_result);
    let (store_sets, store_flags) = store_clusters(&guarded, &guarded_addresses);
    assert!(store_flags.iter().any(|(_, kind)| kind == "super_cluster"), "the guard stopped merges: {store_flags:?}");
    assert_eq!(spark_sets, store_sets, "with a guard of 1, Spark's clusters are the store's");
    assert_eq!(spark_flags, store_flags, "with a guard of 1, Spark stops the merges the store stops");

    let exposures: Value = serde_json::from_slice(&std::fs::read(result.join("exposure.json")).unwrap()).unwrap();
    let mut with_rows = 0;
    for (address, spark) in asked.iter().zip(exposures.as_array().unwrap()) {
        let request = ExposureRequest {
            chain: "btc".into(),
            address: address.clone(),
            direction: ExposureDirection::Received,
            max_hops: 10,
            model: ModelChoice::Haircut,
            asset: None,
        };
        let embedded =
            chainsleuth_case::run_exposure(&data, &CaseConfig::default(), &request, &Budget::unlimited()).unwrap();
        let embedded = serde_json::to_value(&embedded).unwrap();
        assert_eq!(spark["address"], embedded["address"]);
        for field in ["total", "untagged"] {
            assert_eq!(spark["exposure"][field], embedded["exposure"][field], "{address} {field}");
        }
        let rows = |v: &Value| -> Vec<Value> {
            v["exposure"]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| serde_json::json!([r["category"], r["entity"], r["direct"], r["indirect"], r["total"]]))
                .collect()
        };
        assert_eq!(rows(spark), rows(&embedded), "{address}");
        with_rows += usize::from(!rows(&embedded).is_empty());
    }
    assert!(with_rows >= 3, "some exposures reach tagged actors: {with_rows}");
}
