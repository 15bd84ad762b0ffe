//! Shared helpers of the anvil tests: a node that is killed on drop, the
//! test contracts, a seeded workload of many transactions per block, the
//! indexer run, and the balance oracle (the node's own `eth_getBalance` and
//! `balanceOf` at a block).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use chainsleuth_eth::{connect, Asset, Call, EthQuery, RpcClient, SourceConfig, TraceMode, SCHEMA};
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_sync::{run, SyncError, SyncOptions, SyncReport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::watch;

sol! {
    interface IToken {
        function transfer(address to, uint256 value) external returns (bool);
        function burn(uint256 value) external;
        function balanceOf(address who) external view returns (uint256);
    }
    interface IWeth {
        function deposit() external payable;
        function withdraw(uint256 wad) external;
        function transfer(address dst, uint256 wad) external returns (bool);
    }
    interface IForwarder {
        function split(address[] to) external payable;
        function tryForward(address to, uint256 amount) external payable;
        function forwardThenFail(address to) external payable;
        function spawn(address to) external payable returns (address);
        function viaDelegate(address implementation, address[] to) external payable;
    }
    interface INft {
        function mint(address to, uint256 id) external;
        function transferFrom(address from, address to, uint256 id) external;
    }
}

/// The repository root: the nearest folder above the including package
/// that holds `contracts/build` (this module is also compiled into the root
/// package's tests, whose manifest folder is the root itself).
pub fn repo() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.ancestors().find(|dir| dir.join("contracts/build").is_dir());
    root.unwrap_or(manifest).to_path_buf()
}

fn anvil_bin() -> PathBuf {
    if let Ok(path) = std::env::var("ANVIL_BIN") {
        return PathBuf::from(path);
    }
    let local = repo().join(".tools/anvil/bin/anvil");
    assert!(
        local.exists(),
        "anvil not found at {}: run scripts/install-test-deps.sh or set ANVIL_BIN",
        local.display()
    );
    local
}

/// An anvil node on a free loopback port, killed when dropped (also when a
/// test panics).
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
    /// A client for driving it.
    pub rpc: RpcClient,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil with `accounts` prefunded, unlocked accounts.
    pub async fn start(accounts: usize) -> Anvil {
        Anvil::start_with(accounts, &[]).await
    }

    /// Starts anvil with `accounts` accounts and extra command-line `args`.
    pub async fn start_with(accounts: usize, args: &[&str]) -> Anvil {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new(anvil_bin())
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
                .args(["--accounts", &accounts.to_string()])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting anvil");
            let url = format!("http://127.0.0.1:{port}");
            let rpc = RpcClient::new(&url, Duration::from_secs(30), 8).unwrap();
            let mut node = Anvil { child, url, rpc };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if node.rpc.call::<Value>(Call::new("eth_chainId", json!([]))).await.is_ok() {
                    return node;
                }
                if node.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = node.child.kill();
        }
        panic!("anvil did not start");
    }

    /// Calls `method` and decodes the result.
    pub async fn call<T: serde::de::DeserializeOwned>(&self, method: &'static str, params: Value) -> T {
        self.rpc.call(Call::new(method, params)).await.unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The unlocked accounts.
    pub async fn accounts(&self) -> Vec<Address> {
        self.call("eth_accounts", json!([])).await
    }

    /// Mines one block with whatever is pending.
    pub async fn mine(&self) {
        let _: Value = self.call("evm_mine", json!([])).await;
    }

    /// The latest height.
    pub async fn height(&self) -> u64 {
        let n: alloy::primitives::U64 = self.call("eth_blockNumber", json!([])).await;
        n.to()
    }

    /// Sends transactions in JSON-RPC batches without waiting for receipts;
    /// returns how many the node accepted.
    pub async fn send_all(&self, txs: &[Value]) -> usize {
        let mut accepted = 0;
        for chunk in txs.chunks(100) {
            let calls = chunk.iter().map(|tx| Call::new("eth_sendTransaction", json!([tx]))).collect();
            accepted += self.rpc.batch(calls).await.unwrap().iter().filter(|r| r.is_ok()).count();
        }
        accepted
    }

    /// Sends `tx` (automine must be on) and returns its receipt once it is
    /// mined; panics if it failed. Automine answers `eth_sendTransaction`
    /// before it mines, and anvil checks a sender's funds against the last
    /// mined block: a transaction that spends what an earlier one paid must
    /// wait for this, or anvil may answer "Insufficient funds".
    pub async fn send_mined(&self, tx: &Value) -> Value {
        let hash: B256 = self.call("eth_sendTransaction", json!([tx])).await;
        for _ in 0..500 {
            let receipt: Value = self.call("eth_getTransactionReceipt", json!([hash])).await;
            if let Some(status) = receipt["status"].as_str() {
                assert_eq!(status, "0x1", "transaction {hash} ({tx}) failed");
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("transaction {hash} ({tx}) was not mined")
    }

    /// Deploys `contract` from `from` (automine must be on) and returns its address.
    pub async fn deploy(&self, from: Address, contract: &str, args: Vec<u8>) -> Address {
        let hex = std::fs::read_to_string(repo().join(format!("contracts/build/{contract}.bin"))).unwrap();
        let mut code = alloy::primitives::hex::decode(hex.trim()).unwrap();
        code.extend(args);
        let receipt = self.send_mined(&json!({"from": from, "data": Bytes::from(code), "gas": "0x500000"})).await;
        let address = receipt["contractAddress"].as_str();
        address.unwrap_or_else(|| panic!("{contract} was not deployed: {receipt}")).parse().unwrap()
    }

    /// `balanceOf(who)` of `token` at `height`, for many holders in one batch.
    pub async fn token_balances(&self, token: Address, holders: &[Address], height: u64) -> Vec<U256> {
        let calls = holders
            .iter()
            .map(|who| {
                let data = Bytes::from(IToken::balanceOfCall { who: *who }.abi_encode());
                Call::new("eth_call", json!([{"to": token, "data": data}, format!("{height:#x}")]))
            })
            .collect();
        let answers = self.rpc.batch(calls).await.unwrap();
        answers
            .into_iter()
            .map(|a| {
                let bytes: Bytes = serde_json::from_str(a.unwrap().get()).unwrap();
                // Before the token existed the call returns nothing.
                if bytes.len() < 32 {
                    U256::ZERO
                } else {
                    U256::from_be_slice(&bytes[..32])
                }
            })
            .collect()
    }

    /// `eth_getBalance` of many addresses at `height`, in one batch.
    pub async fn eth_balances(&self, holders: &[Address], height: u64) -> Vec<U256> {
        let calls =
            holders.iter().map(|who| Call::new("eth_getBalance", json!([who, format!("{height:#x}")]))).collect();
        let answers = self.rpc.batch(calls).await.unwrap();
        answers.into_iter().map(|a| serde_json::from_str(a.unwrap().get()).unwrap()).collect()
    }
}

/// The deployed test contracts.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    pub token: Address,
    pub weth: Address,
    pub forwarder: Address,
    pub forwarder2: Address,
    pub nft: Address,
}

/// Deploys the contracts from the first account and hands every account
/// some tokens. Leaves automine off.
pub async fn deploy(node: &Anvil, accounts: &[Address]) -> Contracts {
    let owner = accounts[0];
    let supply = U256::from(10u64).pow(U256::from(24));
    let token =
        node.deploy(owner, "Token", ("Test USD".to_string(), "TUSD".to_string(), supply).abi_encode_params()).await;
    let weth = node.deploy(owner, "Weth", Vec::new()).await;
    let forwarder = node.deploy(owner, "Forwarder", Vec::new()).await;
    let forwarder2 = node.deploy(owner, "Forwarder", Vec::new()).await;
    let nft = node.deploy(owner, "Nft", Vec::new()).await;
    let _: Value = node.call("evm_setAutomine", json!([false])).await;
    let gifts: Vec<Value> = accounts[1..]
        .iter()
        .map(|to| {
            let data = IToken::transferCall { to: *to, value: U256::from(1_000_000_000u64) }.abi_encode();
            json!({"from": owner, "to": token, "data": Bytes::from(data), "gas": "0x20000"})
        })
        .collect();
    node.send_all(&gifts).await;
    node.mine().await;
    Contracts { token, weth, forwarder, forwarder2, nft }
}

fn tx(from: Address, to: Address, value: U256, data: Vec<u8>, gas: u64) -> Value {
    json!({"from": from, "to": to, "value": value, "data": Bytes::from(data), "gas": format!("{gas:#x}")})
}

/// A seeded generator of random transactions among `accounts`: ETH sends,
/// token transfers and burns, WETH deposits, withdrawals and transfers,
/// forwarder splits (internal calls), reverted inner sends, failing
/// transactions, CREATE with value plus SELFDESTRUCT, sends under a
/// DELEGATECALL, and ERC-721 mints and transfers.
pub struct TxGen {
    rng: StdRng,
    nft_id: u64,
    minted: Vec<(u64, Address)>,
}

impl TxGen {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        TxGen { rng: StdRng::seed_from_u64(seed), nft_id: seed * 1_000_000, minted: Vec::new() }
    }

    /// The next `n` transactions.
    pub fn take(&mut self, accounts: &[Address], c: Contracts, n: usize) -> Vec<Value> {
        (0..n).map(|_| self.one(accounts, c)).collect()
    }

    fn one(&mut self, accounts: &[Address], c: Contracts) -> Value {
        let rng = &mut self.rng;
        let from = accounts[rng.gen_range(0..accounts.len())];
        let to = accounts[rng.gen_range(0..accounts.len())];
        let small = U256::from(rng.gen_range(1..1_000_000_000u64)) * U256::from(1_000u64);
        match rng.gen_range(0..100) {
            0..=29 => tx(from, to, small, Vec::new(), 21_000),
            30..=49 => {
                let value = U256::from(rng.gen_range(1..3_000_000u64));
                tx(from, c.token, U256::ZERO, IToken::transferCall { to, value }.abi_encode(), 80_000)
            }
            50..=52 => {
                let value = U256::from(rng.gen_range(1..1_000u64));
                tx(from, c.token, U256::ZERO, IToken::burnCall { value }.abi_encode(), 80_000)
            }
            53..=60 => tx(from, c.weth, small, IWeth::depositCall {}.abi_encode(), 80_000),
            61..=65 => {
                let wad = small / U256::from(3u64);
                tx(from, c.weth, U256::ZERO, IWeth::withdrawCall { wad }.abi_encode(), 80_000)
            }
            66..=70 => {
                let wad = small / U256::from(5u64);
                tx(from, c.weth, U256::ZERO, IWeth::transferCall { dst: to, wad }.abi_encode(), 80_000)
            }
            71..=80 => {
                let n = rng.gen_range(1..4);
                let targets: Vec<Address> = (0..n).map(|_| accounts[rng.gen_range(0..accounts.len())]).collect();
                tx(from, c.forwarder, small, IForwarder::splitCall { to: targets }.abi_encode(), 200_000)
            }
            81..=84 => {
                let call = IForwarder::tryForwardCall { to, amount: small / U256::from(2u64) };
                tx(from, c.forwarder, small, call.abi_encode(), 200_000)
            }
            85..=87 => tx(from, c.forwarder, small, IForwarder::forwardThenFailCall { to }.abi_encode(), 200_000),
            88..=90 => tx(from, c.forwarder, small, IForwarder::spawnCall { to }.abi_encode(), 300_000),
            91..=93 => {
                let targets = vec![to, accounts[rng.gen_range(0..accounts.len())]];
                let call = IForwarder::viaDelegateCall { implementation: c.forwarder2, to: targets };
                tx(from, c.forwarder, small, call.abi_encode(), 200_000)
            }
            94..=96 => {
                self.nft_id += 1;
                self.minted.push((self.nft_id, to));
                tx(from, c.nft, U256::ZERO, INft::mintCall { to, id: U256::from(self.nft_id) }.abi_encode(), 120_000)
            }
            _ => match self.minted.pop() {
                Some((id, owner)) => {
                    let call = INft::transferFromCall { from: owner, to, id: U256::from(id) };
                    tx(owner, c.nft, U256::ZERO, call.abi_encode(), 100_000)
                }
                None => tx(from, to, small, Vec::new(), 21_000),
            },
        }
    }
}

/// Mines blocks until the node's pool is empty (at most `rounds` blocks).
pub async fn drain_pool(node: &Anvil, rounds: usize) {
    for _ in 0..rounds {
        let pending: Value = node.call("txpool_status", json!([])).await;
        if pending["pending"].as_str().is_some_and(|p| p == "0x0") {
            break;
        }
        node.mine().await;
    }
}

/// `blocks` blocks of `per_block` random transactions (see [`TxGen`]);
/// returns the number of transactions the node accepted.
pub async fn workload(
    node: &Anvil,
    accounts: &[Address],
    c: Contracts,
    blocks: usize,
    per_block: usize,
    seed: u64,
) -> usize {
    let mut gen = TxGen::new(seed);
    let mut sent = 0;
    for _ in 0..blocks {
        sent += node.send_all(&gen.take(accounts, c, per_block)).await;
        node.mine().await;
    }
    // Anything left over for lack of block gas goes into further blocks.
    drain_pool(node, 5).await;
    sent
}

/// Opens (creating) the eth store in `dir`.
pub fn open_store(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(&dir.join("eth"), &SCHEMA, OpenMode::ReadWrite).unwrap())
}

/// Source settings for the test node.
pub fn source_config(url: &str, traces: TraceMode, weth: Address) -> SourceConfig {
    let mut config = SourceConfig::new(url);
    config.traces = traces;
    config.decode.wrapped.insert(weth);
    config.timeout = Duration::from_secs(10);
    config
}

/// Indexes from the node at `url` into `store` until caught up (or `stop_at`).
pub async fn index(store: &Arc<Store>, config: SourceConfig, opts: &SyncOptions) -> Result<SyncReport, SyncError> {
    let (source, indexer) = connect(store.clone(), config).unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let (progress, _) = watch::channel(Default::default());
    run(&source, indexer, opts, shutdown, progress).await
}

/// Checks every indexed address's ETH balance and its balances of
/// `tokens` against the node at each of `heights`; returns the checks made.
pub async fn assert_balances_match(node: &Anvil, store: &Store, tokens: &[Address], heights: &[u64]) -> usize {
    let query = EthQuery::new(store);
    let addresses = query.all_addresses().unwrap();
    assert!(!addresses.is_empty());
    let mut checks = 0;
    for &height in heights {
        let want = node.eth_balances(&addresses, height).await;
        for (address, want) in addresses.iter().zip(want) {
            let got = query.balance_at(*address, Asset::Eth, height).unwrap();
            assert_eq!(got, want, "ETH balance of {address} at block {height}");
            checks += 1;
        }
        for token in tokens {
            let want = node.token_balances(*token, &addresses, height).await;
            for (address, want) in addresses.iter().zip(want) {
                let got = query.balance_at(*address, Asset::Token(*token), height).unwrap();
                assert_eq!(got, want, "balance of token {token} of {address} at block {height}");
                checks += 1;
            }
        }
    }
    checks
}
