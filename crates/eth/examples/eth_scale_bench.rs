//! The Ethereum scale benchmark behind `scripts/bench-eth-scale.sh`: indexing against a node that is not the
//! bottleneck.
//!
//! A recorded block stream replaces the node. It is generated synthetically, once, in the exact JSON shapes anvil
//! answers (captured from anvil 1.x: block with full transactions, `eth_getBlockReceipts`, `debug_traceBlockByHash`
//! with `callTracer`), since filling anvil with a million transfers takes hours. Each block holds a mainnet-like
//! mix: plain ETH payments, ERC-20 `Transfer`s over 40 tokens, and contract calls that pay out internally; senders
//! and recipients come from a population with a few exchange-like hot addresses. The stream is cached as one line
//! per block (the four answers, tab-separated) under the cache directory, keyed by its parameters.
//!
//! The stream is served from a child process of this binary (`--serve FILE`): a loopback JSON-RPC server over
//! HTTP/1.1 keep-alive holding every answer pre-serialized, so a request costs a lookup and a write. Then, in one
//! run: fetch-only (the index's requests, answers parsed and dropped, as `crates/eth/tests/bench.rs` does, before
//! and after indexing, the faster pass kept), fetch + decode (the sync loop's fetch pipeline, `block_at`), and
//! indexing through the real sync loop into a fresh store; prints seconds, CPU seconds and transfers/s of each,
//! the ratio index / fetch-only, store bytes per transfer per table, and the peak resident memory of this process
//! (the server's is not counted).
//!
//! Usage: `eth_scale_bench [--blocks N] [--txs-per-block N] [--seed N] [--cache DIR] [--concurrency N] [--keep-store]`,
//! or `eth_scale_bench --serve STREAM` (prints `listening on PORT`). With `BENCH_ROWS` naming a file, appends its
//! headline figures to it as tab-separated rows (see `scripts/bench.sh`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chainsleuth_core::Height;
use chainsleuth_eth::{connect, EthQuery, EthSource, GenesisBalances, SourceConfig, TraceMode, SCHEMA};
use chainsleuth_store::bench::{bench_row, cpu_seconds, process_memory};
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_sync::{run, BlockSource, SyncOptions};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The `chainsleuth` binary's allocator (src/main.rs), so that the benchmark measures what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bumped whenever the generated stream changes, so that old caches are not reused.
const STREAM_VERSION: u32 = 1;
/// The ERC-20 `Transfer(address,address,uint256)` topic.
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// Token contracts in the stream.
const TOKENS: usize = 40;
/// Addresses in the population (besides tokens and routers).
const POPULATION: usize = 400_000;
/// Exchange-like hot addresses among them, on one side of a large share of transfers.
const HOT: usize = 4;
/// 512 zero hex digits: an empty logs bloom, as anvil prints it.
const EMPTY_BLOOM: &str = "0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

struct Args {
    blocks: u64,
    txs_per_block: u32,
    seed: u64,
    cache: PathBuf,
    concurrency: usize,
    keep: bool,
    serve: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        blocks: 4_000,
        txs_per_block: 100,
        seed: 1,
        cache: PathBuf::from("target/bench-data/eth-scale"),
        concurrency: 8,
        keep: false,
        serve: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep-store" {
            args.keep = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|_| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--blocks" => args.blocks = number(&value)?.max(1),
            "--txs-per-block" => args.txs_per_block = u32::try_from(number(&value)?).map_err(|_| "too many txs")?,
            "--seed" => args.seed = number(&value)?,
            "--cache" => args.cache = PathBuf::from(value),
            "--concurrency" => args.concurrency = number(&value)?.max(1) as usize,
            "--serve" => args.serve = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

/// `0x`-prefixed lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

/// A random 32-byte hash.
fn hash(rng: &mut StdRng) -> String {
    hex(&rng.gen::<[u8; 32]>())
}

/// An address as anvil prints it (lowercase), numbered: `kind` 1 for people, 2 tokens, 3 routers.
fn address(kind: u8, n: usize) -> String {
    let mut bytes = [0u8; 20];
    bytes[0] = 0x10 * kind;
    bytes[1] = 0x5a;
    bytes[12..20].copy_from_slice(&(n as u64).to_be_bytes());
    // Spread the rest so that addresses do not share long prefixes.
    let mix = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
    bytes[2..10].copy_from_slice(&mix);
    hex(&bytes)
}

/// A person: a hot address with probability 0.15, else one drawn with a skew towards low numbers.
fn person(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.15) {
        return address(1, rng.gen_range(0..HOT));
    }
    let u: f64 = rng.gen();
    address(1, HOT + ((u * u) * (POPULATION - HOT) as f64) as usize)
}

/// A 32-byte word holding `value`, as ABI encodes it.
fn word(value: u128) -> String {
    format!("0x{value:064x}")
}

/// One block's four answers, in the shapes anvil gives: full block, header block (transaction hashes only),
/// receipts, `callTracer` traces.
fn generate_block(rng: &mut StdRng, number: u64, parent: &str, txs: u32) -> (String, [String; 4]) {
    let block_hash = hash(rng);
    let timestamp = 1_700_000_000 + number * 12;
    let base_fee: u64 = rng.gen_range(5_000_000_000..40_000_000_000);
    let miner = address(1, rng.gen_range(0..64));
    let (bn, ts) = (format!("0x{number:x}"), format!("0x{timestamp:x}"));
    let (mut full_txs, mut tx_hashes, mut receipts, mut traces) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut cumulative, mut log_index) = (0u64, 0u64);
    for i in 0..txs {
        let tx_hash = hash(rng);
        let from = person(rng);
        let tip: u64 = rng.gen_range(100_000_000..3_000_000_000);
        let price = base_fee + tip;
        let (to, value, input, gas_used, logs, calls) = match rng.gen_range(0..100) {
            // A plain ETH payment.
            0..45 => (
                person(rng),
                rng.gen_range(1u128..5_000_000_000_000_000_000),
                "0x".to_owned(),
                21_000,
                Vec::new(),
                Vec::new(),
            ),
            // An ERC-20 transfer: one Transfer log of the token.
            45..90 => {
                let token = address(2, rng.gen_range(0..TOKENS));
                let recipient = person(rng);
                let amount: u128 = rng.gen_range(1..1_000_000_000_000_000_000_000);
                let topic = |a: &str| format!("0x000000000000000000000000{}", &a[2..]);
                let log =
                    (token.clone(), vec![TRANSFER_TOPIC.to_owned(), topic(&from), topic(&recipient)], word(amount));
                let input = format!("0xa9059cbb{}{}", &topic(&recipient)[2..], &word(amount)[2..]);
                (token, 0, input, 51_000, vec![log], Vec::new())
            }
            // A contract call that pays one to three people internally.
            _ => {
                let router = address(3, rng.gen_range(0..8));
                let value: u128 = rng.gen_range(1_000_000_000_000_000..1_000_000_000_000_000_000);
                let n = rng.gen_range(1..=3u128);
                let calls: Vec<(String, u128)> = (0..n).map(|_| (person(rng), value / n)).collect();
                (router, value, "0x7ff36ab5".to_owned(), 120_000, Vec::new(), calls)
            }
        };
        cumulative += gas_used;
        let index = format!("0x{i:x}");
        tx_hashes.push(format!("\"{tx_hash}\""));
        full_txs.push(format!(
            r#"{{"type":"0x2","chainId":"0x7a69","nonce":"0x{nonce:x}","gas":"0x{gas:x}","maxFeePerGas":"0x{max:x}","maxPriorityFeePerGas":"0x{tip:x}","to":"{to}","value":"0x{value:x}","accessList":[],"input":"{input}","r":"{r}","s":"{s}","yParity":"0x1","v":"0x1","hash":"{tx_hash}","blockHash":"{block_hash}","blockNumber":"{bn}","transactionIndex":"{index}","from":"{from}","gasPrice":"0x{price:x}","blockTimestamp":"{ts}"}}"#,
            nonce = rng.gen_range(0..5_000u32),
            gas = gas_used + 20_000,
            max = price + base_fee,
            r = hash(rng),
            s = hash(rng),
        ));
        let logs_json: Vec<String> = logs
            .into_iter()
            .map(|(addr, topics, data)| {
                let topics = topics.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(",");
                let json = format!(
                    r#"{{"address":"{addr}","topics":[{topics}],"data":"{data}","blockHash":"{block_hash}","blockNumber":"{bn}","blockTimestamp":"{ts}","transactionHash":"{tx_hash}","transactionIndex":"{index}","logIndex":"0x{log_index:x}","removed":false}}"#
                );
                log_index += 1;
                json
            })
            .collect();
        receipts.push(format!(
            r#"{{"type":"0x2","status":"0x1","cumulativeGasUsed":"0x{cumulative:x}","logs":[{logs}],"logsBloom":"{EMPTY_BLOOM}","transactionHash":"{tx_hash}","transactionIndex":"{index}","blockHash":"{block_hash}","blockNumber":"{bn}","gasUsed":"0x{gas_used:x}","effectiveGasPrice":"0x{price:x}","blobGasPrice":"0x1","from":"{from}","to":"{to}","contractAddress":null,"blockTimestamp":{timestamp}}}"#,
            logs = logs_json.join(","),
        ));
        let sub: Vec<String> = calls
            .iter()
            .map(|(callee, v)| {
                format!(r#"{{"from":"{to}","gas":"0x8fc","gasUsed":"0x0","to":"{callee}","input":"0x","value":"0x{v:x}","type":"CALL"}}"#)
            })
            .collect();
        let sub = if sub.is_empty() { String::new() } else { format!(r#","calls":[{}]"#, sub.join(",")) };
        traces.push(format!(
            r#"{{"result":{{"from":"{from}","gas":"0x0","gasUsed":"0x{gas_used:x}","to":"{to}","input":"{input}","value":"0x{value:x}","type":"CALL"{sub}}},"txHash":"{tx_hash}"}}"#
        ));
    }
    let header = |transactions: &str| {
        format!(
            r#"{{"hash":"{block_hash}","parentHash":"{parent}","sha3Uncles":"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347","miner":"{miner}","stateRoot":"{sr}","transactionsRoot":"{tr}","receiptsRoot":"{rr}","logsBloom":"{EMPTY_BLOOM}","difficulty":"0x0","number":"{bn}","gasLimit":"0x1c9c380","gasUsed":"0x{cumulative:x}","timestamp":"{ts}","extraData":"0x","mixHash":"{mix}","nonce":"0x0000000000000000","baseFeePerGas":"0x{base_fee:x}","withdrawalsRoot":"0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421","blobGasUsed":"0x0","excessBlobGas":"0x0","parentBeaconBlockRoot":"0x0000000000000000000000000000000000000000000000000000000000000000","requestsHash":"0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","totalDifficulty":"0x0","size":"0x{size:x}","uncles":[],"transactions":[{transactions}],"withdrawals":[]}}"#,
            sr = "0x".to_owned() + &"ab".repeat(32),
            tr = "0x".to_owned() + &"cd".repeat(32),
            rr = "0x".to_owned() + &"ef".repeat(32),
            mix = "0x".to_owned() + &"12".repeat(32),
            size = 600 + 200 * txs,
        )
    };
    let answers = [
        header(&full_txs.join(",")),
        header(&tx_hashes.join(",")),
        format!("[{}]", receipts.join(",")),
        format!("[{}]", traces.join(",")),
    ];
    (block_hash, answers)
}

/// The stream file for these parameters, generated on first use.
fn stream_file(args: &Args) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let dir = args.cache.join(format!("b{}-t{}-s{}-v{STREAM_VERSION}", args.blocks, args.txs_per_block, args.seed));
    let file = dir.join("stream.tsv");
    if dir.join("complete").exists() {
        return Ok(file);
    }
    std::fs::create_dir_all(&dir)?;
    eprintln!("generating the block stream into {} (cached for later runs)", file.display());
    let started = Instant::now();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&file)?);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut parent = "0x".to_owned() + &"00".repeat(32);
    for number in 0..=args.blocks {
        let txs = if number == 0 { 0 } else { args.txs_per_block };
        let (hash, answers) = generate_block(&mut rng, number, &parent, txs);
        writeln!(out, "{}", answers.join("\t"))?;
        parent = hash;
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    std::fs::write(dir.join("complete"), format!("generated in {secs:.1} s\n"))?;
    eprintln!("generated {} blocks in {secs:.1} s", args.blocks + 1);
    Ok(file)
}

/// The recorded stream in memory: per block its four answers, and block numbers by hash.
struct Stream {
    blocks: Vec<[String; 4]>,
    by_hash: HashMap<String, usize>,
}

impl Stream {
    fn load(path: &Path) -> Result<Stream, Box<dyn std::error::Error>> {
        let mut stream = Stream { blocks: Vec::new(), by_hash: HashMap::new() };
        for line in BufReader::with_capacity(1 << 20, std::fs::File::open(path)?).lines() {
            let line = line?;
            let mut parts = line.split('\t').map(str::to_owned);
            let mut next = || parts.next().ok_or("a stream line has four answers");
            let answers = [next()?, next()?, next()?, next()?];
            // The hash is the first field of the header answer: {"hash":"0x…".
            let hash = answers[1].get(9..75).ok_or("a header answer starts with its hash")?.to_owned();
            stream.by_hash.insert(hash, stream.blocks.len());
            stream.blocks.push(answers);
        }
        Ok(stream)
    }

    /// The block a tag, hex number or hash names.
    fn block(&self, param: &Value) -> Option<usize> {
        let tip = self.blocks.len().checked_sub(1)?;
        match param.as_str()? {
            "latest" | "safe" | "pending" => Some(tip),
            "finalized" => Some(tip.saturating_sub(64)),
            "earliest" => Some(0),
            s if s.len() == 66 => self.by_hash.get(s).copied(),
            s => usize::from_str_radix(s.trim_start_matches("0x"), 16).ok().filter(|n| *n <= tip),
        }
    }

    /// The raw JSON result of one call, or a JSON-RPC error object.
    fn answer(&self, method: &str, params: &Value) -> Result<String, (i64, &'static str)> {
        let p0 = &params[0];
        let pick = |i: usize, part: usize| self.blocks.get(i).map(|b| b[part].clone());
        let found = match method {
            "eth_blockNumber" => return Ok(format!("\"0x{:x}\"", self.blocks.len().saturating_sub(1))),
            "eth_chainId" => return Ok("\"0x7a69\"".to_owned()),
            "eth_getBalance" => return Ok("\"0x0\"".to_owned()),
            "eth_getBlockByNumber" | "eth_getBlockByHash" => {
                let full = params[1].as_bool().unwrap_or(false);
                self.block(p0).and_then(|i| pick(i, if full { 0 } else { 1 }))
            }
            "eth_getBlockReceipts" => self.block(p0).and_then(|i| pick(i, 2)),
            "debug_traceBlockByHash" | "debug_traceBlockByNumber" => self.block(p0).and_then(|i| pick(i, 3)),
            "eth_call" => {
                let data = p0["data"].as_str().or_else(|| p0["input"].as_str()).unwrap_or("");
                return Ok(match data {
                    // decimals()
                    "0x313ce567" => format!("\"{}\"", word(18)),
                    // symbol(): the ABI string "TKN"
                    "0x95d89b41" => {
                        format!("\"{}{}{}\"", word(32), &word(3)[2..], "544b4e".to_owned() + &"0".repeat(58))
                    }
                    _ => "\"0x\"".to_owned(),
                });
            }
            _ => return Err((-32601, "Method not found")),
        };
        Ok(found.unwrap_or_else(|| "null".to_owned()))
    }

    /// The response body to a request body (one call or a batch).
    fn respond(&self, body: &[u8]) -> String {
        let one = |call: &Value| {
            let id = call.get("id").cloned().unwrap_or(Value::Null);
            let method = call["method"].as_str().unwrap_or("");
            match self.answer(method, &call["params"]) {
                Ok(result) => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#),
                Err((code, message)) => {
                    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"{message}"}}}}"#)
                }
            }
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(calls)) => format!("[{}]", calls.iter().map(one).collect::<Vec<_>>().join(",")),
            Ok(call) => one(&call),
            Err(_) => r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#.to_owned(),
        }
    }
}

/// Answers HTTP/1.1 JSON-RPC requests on one keep-alive connection until the client closes it.
async fn serve_connection(stream: Arc<Stream>, socket: tokio::net::TcpStream) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut read = tokio::io::BufReader::new(read);
    let mut line = String::new();
    loop {
        let mut length = 0usize;
        loop {
            line.clear();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        read.read_exact(&mut body).await?;
        let answer = stream.respond(&body);
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", answer.len());
        write.write_all(head.as_bytes()).await?;
        write.write_all(answer.as_bytes()).await?;
    }
}

/// Serves the stream at `path` on a loopback port (printed as `listening on PORT`) until killed.
fn serve(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let stream = Arc::new(Stream::load(path)?);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?.port());
        std::io::stdout().flush()?;
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            tokio::spawn(serve_connection(stream.clone(), socket));
        }
    })
}

/// The replay server as a child process, killed when dropped.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    fn start(stream: &Path) -> Result<Server, Box<dyn std::error::Error>> {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg("--serve")
            .arg(stream)
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the server's stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let port = first.trim().strip_prefix("listening on ").ok_or_else(|| format!("server said {first:?}"))?;
        Ok(Server { child, url: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One pass over blocks 0..=tip, `concurrency` in flight: the seconds and CPU seconds it took, and transactions.
struct Pass {
    secs: f64,
    cpu: f64,
    txs: usize,
}

/// Fetches blocks 0..=tip with the index's requests (`decode`: and decodes them into transfers as the sync loop's
/// fetch pipeline does, token metadata included), parses the answers and drops them.
async fn fetch_pass(
    config: &SourceConfig,
    tip: u64,
    concurrency: usize,
    decode: bool,
) -> Result<Pass, Box<dyn std::error::Error>> {
    let source = EthSource::new(config.clone())?;
    let (start, cpu) = (Instant::now(), cpu_seconds().unwrap_or(0.0));
    let mut txs = 0;
    if decode {
        let mut blocks = futures::stream::iter(0..=tip).map(|h| source.block_at(Height::new(h))).buffered(concurrency);
        while let Some(block) = blocks.next().await {
            txs += block?.decoded.txs.len();
        }
    } else {
        let mut fetched = futures::stream::iter(0..=tip).map(|h| source.fetch(h)).buffered(concurrency);
        while let Some(block) = fetched.next().await {
            txs += block?.0.block.transactions.len();
        }
    }
    Ok(Pass { secs: start.elapsed().as_secs_f64(), cpu: cpu_seconds().unwrap_or(0.0) - cpu, txs })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    if let Some(path) = &args.serve {
        return serve(path);
    }
    let file = stream_file(&args)?;
    let server = Server::start(&file)?;
    let mut config = SourceConfig::new(server.url.clone());
    config.traces = TraceMode::Debug;
    config.genesis = GenesisBalances::Off;
    let tip = args.blocks;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let first_fetch = rt.block_on(fetch_pass(&config, tip, args.concurrency, false))?;
    let decode = rt.block_on(fetch_pass(&config, tip, args.concurrency, true))?;

    let dir = tempfile::Builder::new().prefix("eth-scale-store-").tempdir_in(&args.cache)?;
    let store = Arc::new(Store::open(&dir.path().join("eth"), &SCHEMA, OpenMode::ReadWrite)?);
    let opts = SyncOptions { fetch_concurrency: args.concurrency, ..SyncOptions::default() };
    let (source, indexer) = connect(store.clone(), config.clone())?;
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    let (start, cpu) = (Instant::now(), cpu_seconds().unwrap_or(0.0));
    let report = rt.block_on(run(&source, indexer, &opts, shutdown, progress))?;
    let index =
        Pass { secs: start.elapsed().as_secs_f64(), cpu: cpu_seconds().unwrap_or(0.0) - cpu, txs: first_fetch.txs };
    let peak_rss = process_memory("VmHWM");
    let indexed = report.indexed.map(|b| b.height.get());
    if indexed != Some(tip) {
        return Err(format!("indexed up to {indexed:?}, not {tip}").into());
    }
    let status = EthQuery::new(&store).status()?;
    let transfers = status.transfers;
    store.flush()?;
    let tables = store.table_sizes();
    let store_bytes: u64 = tables.iter().map(|(_, b)| b).sum();
    drop(source);
    drop(store);
    if args.keep {
        eprintln!("store kept at {}", dir.keep().display());
    }

    // Fetch-only again after the index, so that neither pass gets a warmer server; the faster one is the baseline.
    let second_fetch = rt.block_on(fetch_pass(&config, tip, args.concurrency, false))?;
    drop(server);
    let fetch = if first_fetch.secs <= second_fetch.secs { &first_fetch } else { &second_fetch };

    let n = (tip + 1) as f64;
    let per_transfer = |b: u64| b as f64 / transfers.max(1) as f64;
    println!(
        "stream: {} blocks, {} transactions, {transfers} transfers, {} addresses, synthetic in anvil's shapes ({})",
        tip + 1,
        fetch.txs,
        status.addresses,
        file.display()
    );
    println!("replayed from a loopback JSON-RPC server (child process); fetch concurrency {}", args.concurrency);
    println!();
    println!("| pass | seconds | CPU seconds | blocks/s | transfers/s | transfers per CPU second |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, p: &Pass| {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} |",
            p.secs,
            p.cpu,
            n / p.secs,
            transfers as f64 / p.secs,
            transfers as f64 / p.cpu.max(0.01)
        );
    };
    row(
        &format!(
            "fetch only (the index's requests, parsed, dropped; faster of {:.1} s before and {:.1} s after indexing)",
            first_fetch.secs, second_fetch.secs
        ),
        fetch,
    );
    row("fetch + decode (the sync loop's fetch pipeline: transfers decoded, token metadata)", &decode);
    row("index (fetch + decode + write, sync loop in bulk mode, final flush)", &index);
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| index / fetch-only (transfers/s) | {:.3} |", fetch.secs / index.secs);
    println!("| index / fetch-only (transfers per CPU second) | {:.3} |", fetch.cpu / index.cpu.max(0.01));
    println!("| fetch + decode / fetch-only (transfers/s) | {:.3} |", fetch.secs / decode.secs);
    println!(
        "| peak RSS of the indexing process (VmHWM; the server is another process) | {:.2} GB |",
        peak_rss as f64 / 1e9
    );
    println!(
        "| store (SST files after a flush) | {:.1} MB, {:.0} B/transfer |",
        store_bytes as f64 / 1e6,
        per_transfer(store_bytes)
    );
    println!();
    println!("| table | MB | bytes per transfer |");
    println!("|---|---:|---:|");
    for (name, bytes) in tables.iter().filter(|(_, b)| *b > 0) {
        println!("| {name} | {:.1} | {:.1} |", *bytes as f64 / 1e6, per_transfer(*bytes));
    }

    let size = format!("{:.2}M transfers", transfers as f64 / 1e6);
    bench_row([
        &format!("eth-scale: indexing rate, {size}"),
        &format!("{:.1}k transfers/s", transfers as f64 / index.secs / 1e3),
        &format!("{:.1}k transfers/s fetch-only", transfers as f64 / fetch.secs / 1e3),
        &format!("{:.3}", fetch.secs / index.secs),
        ">= 0.8 of fetch-only",
    ]);
    bench_row([
        &format!("eth-scale: store, {size}"),
        &format!("{:.0} B/transfer", per_transfer(store_bytes)),
        "",
        "",
        "",
    ]);
    bench_row([
        &format!("eth-scale: peak RSS, {size}"),
        &format!("{:.2} GB", peak_rss as f64 / 1e9),
        "",
        "",
        "<= 4 GB",
    ]);
    Ok(())
}
