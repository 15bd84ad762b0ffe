//! The crackdown case, stage by stage (one block each, automine off, every
//! transaction checked for success):
//!
//! 1. the issuer deploys the USDT-like token (`contracts/TetherLike.sol`)
//!    and funds the 24 platforms, the licensed exchanges' hot wallets and
//!    the everyday users;
//! 2. four platforms move ETH and tokens to their hot wallets (the wallets
//!    later seized);
//! 3. the hot wallets' first outflows: a peel chain starts, tokens go to a
//!    second launderer, direct payments reach an exchange deposit address,
//!    the cash-out network, another platform and the mixer, two wallets and
//!    a clean user pay into a consolidation address, and tokens reach an
//!    exchange deposit address and two private holders;
//! 4. to 7. peel hops, each paying one off-ramp (an exchange deposit
//!    address, a platform, the mixer, a courier) and passing the rest on to
//!    a fresh address; the token launderer pays a courier and a deposit
//!    address; the consolidation pays a deposit address (mixed funds, where
//!    the models disagree); the exchanges send deposit addresses gas;
//! 8. the exchanges sweep every deposit address into their hot wallet (so
//!    the deposit-address heuristic ties them to the tagged exchange);
//! 9. the issuer freezes one token holder.
//!
//! Every transaction pays a fixed legacy gas price, so a plain transfer
//! costs exactly [`TRANSFER_GAS`] × [`GAS_PRICE`] and the peel hops and
//! sweeps move exact amounts. What stays held is read from the node at the
//! end.

use std::path::Path;

use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::sol;
use alloy::sol_types::{SolCall, SolValue};
use chainsleuth_btc::sim::CaseTag;
use chainsleuth_eth::{Call, RpcClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Node, ScenarioError};

sol! {
    interface ITetherLike {
        function transfer(address to, uint256 value) external returns (bool);
        function addBlackList(address user) external;
        function balanceOf(address who) external view returns (uint256);
    }
}

/// Creation bytecode of the USDT-like token (hex, constructor arguments
/// appended ABI-encoded).
const TETHER_LIKE_BIN: &str = include_str!("../../../contracts/build/TetherLike.bin");
/// The legacy gas price of every transaction (anvil's base fee starts at 1
/// gwei and only falls in blocks this small).
pub const GAS_PRICE: u64 = 2_000_000_000;
/// The gas of a plain ETH transfer to an account without code.
pub const TRANSFER_GAS: u64 = 21_000;
/// The gas limit of a token call.
const TOKEN_GAS: u64 = 100_000;
/// Wei per ether.
const ETHER: u64 = 1_000_000_000_000_000_000;
/// Wei per milliether.
const FINNEY: u64 = ETHER / 1_000;
/// Base units per token (6 decimals, as USDT).
const UNIT: u64 = 1_000_000;
/// The token's symbol.
pub const TOKEN_SYMBOL: &str = "USDTL";
/// How many of the platforms had their hot wallet seized.
const SEIZED: usize = 4;
/// Couriers of the cash-out network.
const COURIERS: usize = 4;
/// When the platforms were shut down and their wallets seized.
const SHUT_DOWN: &str = "2025-03-06";

/// The shut-down unlicensed platforms: name, jurisdiction. The first
/// [`SEIZED`] are the ones whose hot wallets were seized.
const PLATFORMS: [(&str, &str); 24] = [
    ("Kolyma Exchange", "RU"),
    ("Arbat Trade", "RU"),
    ("Irtysh Coin", "KZ"),
    ("Neman Swap", "BY"),
    ("Amur Crypto", "RU"),
    ("Baikal Change", "RU"),
    ("Chusovaya OTC", "RU"),
    ("Donets Pay", "RU"),
    ("Yenisei Bit", "RU"),
    ("Fontanka Obmen", "RU"),
    ("Ilmen Trade", "RU"),
    ("Kama Coin", "RU"),
    ("Ladoga Swap", "RU"),
    ("Moskva Desk", "RU"),
    ("Onega Exchange", "RU"),
    ("Pechora Pay", "RU"),
    ("Sura Change", "RU"),
    ("Taiga Bit", "RU"),
    ("Ural Obmen", "RU"),
    ("Vyatka Crypto", "RU"),
    ("Yamal Trade", "RU"),
    ("Zeya Swap", "RU"),
    ("Tobol Coin", "KZ"),
    ("Pripyat Exchange", "BY"),
];
/// The licensed, bank-connected exchanges: name, jurisdiction, regulator.
const LICENSED: [(&str, &str, &str); 3] = [
    ("Steppe Digital Exchange", "KZ", "AFSA"),
    ("Baltic Crypto Bank", "LT", "Bank of Lithuania"),
    ("Danube Licensed Exchange", "AT", "FMA"),
];
/// The cash-out network: name, jurisdiction.
const CASH_OUT: (&str, &str) = ("Nevsky Cash Desk", "RU");
/// The mixer's name.
const MIXER: &str = "Fogbank Mixer";

/// How the case is played.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrackdownConfig {
    /// Seed of the addresses and of everyday traffic.
    pub seed: u64,
    /// Everyday users (ETH and token payments among them, exchange deposits).
    pub users: usize,
    /// Everyday transactions per block.
    pub everyday_per_block: usize,
}

impl Default for CrackdownConfig {
    /// Seed 7, 24 users, 30 everyday transactions a block.
    fn default() -> Self {
        CrackdownConfig { seed: 7, users: 24, everyday_per_block: 30 }
    }
}

/// The ground truth of the case (`case.json` of the demo's Ethereum input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthCase {
    /// `crackdown`.
    pub scenario: String,
    /// The node's height once the case is played.
    pub tip: u64,
    /// The freezable token.
    pub token: TokenTruth,
    /// Transactions the case sent (everyday traffic included).
    pub txs: u64,
    /// The seized hot wallets: where tracing starts.
    pub seeds: Vec<SeedTruth>,
    /// Every off-ramp entity, with what reaches it where all models agree.
    pub offramps: Vec<OfframpTruth>,
    /// The mixer, with the tainted payments into it.
    pub mixer: OfframpTruth,
    /// What tainted funds are still held, per address and asset (read from
    /// the node at the tip), with whether the issuer can freeze it.
    pub held: Vec<Holding>,
    /// The address where tainted and clean funds were consolidated: past
    /// it the models disagree.
    pub consolidation: String,
    /// The case's tags, in the order of the tag file.
    pub tags: Vec<CaseTag>,
}

/// The freezable USDT-like token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTruth {
    /// Its contract.
    pub address: String,
    /// Its symbol.
    pub symbol: String,
    /// Decimal places.
    pub decimals: u8,
    /// The issuer (who can freeze holders).
    pub issuer: String,
}

/// A seized hot wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedTruth {
    /// The platform it belonged to.
    pub entity: String,
    /// The hot wallet (tagged `seized`).
    pub address: String,
    /// The platform's own wallet that funded it (tagged `platform_shut_down`).
    pub platform_address: String,
}

/// An off-ramp (or the mixer) and what tainted funds reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfframpTruth {
    /// The entity.
    pub entity: String,
    /// Its taxonomy category.
    pub category: String,
    /// ISO country code.
    pub jurisdiction: Option<String>,
    /// The licensing regulator.
    pub licensed_by: Option<String>,
    /// Its tagged addresses.
    pub tagged: Vec<String>,
    /// Where tainted funds reach it on single paths of fully tainted funds,
    /// where every model gives the same amount.
    pub reached: Vec<Reach>,
}

/// Tainted funds reaching an address of an off-ramp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    /// The address paid: a tagged one, or an untagged deposit address.
    pub address: String,
    /// `ETH` or the token contract.
    pub asset: String,
    /// The amount in the smallest unit (wei, token base units), decimal.
    pub amount: String,
    /// For a deposit address, the tagged hot wallet it was swept into.
    pub deposit_of: Option<String>,
}

/// Tainted funds still held at the tip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    /// The holder.
    pub address: String,
    /// `ETH` or the token contract.
    pub asset: String,
    /// The amount in the smallest unit, decimal.
    pub amount: String,
    /// Whether the issuer can still freeze it.
    pub freezable: bool,
    /// Whether the issuer already froze the holder.
    pub frozen: bool,
}

impl EthCase {
    /// Writes the case as pretty-printed JSON to `path`.
    ///
    /// # Errors
    /// [`ScenarioError::Io`] naming `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), ScenarioError> {
        let json = serde_json::to_vec_pretty(self).expect("the case has plain fields");
        std::fs::write(path, json).map_err(|e| ScenarioError::io(path, e))
    }

    /// Writes the tags as JSON Lines to `path`.
    ///
    /// # Errors
    /// [`ScenarioError::Tags`] naming `path`.
    pub fn write_tags(&self, path: &Path) -> Result<(), ScenarioError> {
        Ok(CaseTag::write_lines(&self.tags, path)?)
    }
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(ETHER)
}

fn finney(n: u64) -> U256 {
    U256::from(n) * U256::from(FINNEY)
}

fn units(n: u64) -> U256 {
    U256::from(n) * U256::from(UNIT)
}

/// What a plain transfer costs in gas.
fn fee() -> U256 {
    U256::from(TRANSFER_GAS * GAS_PRICE)
}

/// A transaction of the case and what it is, for errors.
struct Tx {
    what: String,
    body: Value,
}

fn send_eth(what: impl Into<String>, from: Address, to: Address, value: U256) -> Tx {
    let body = json!({"from": from, "to": to, "value": value, "gas": format!("{TRANSFER_GAS:#x}"),
        "gasPrice": format!("{GAS_PRICE:#x}")});
    Tx { what: what.into(), body }
}

fn call_token(what: impl Into<String>, from: Address, token: Address, data: Vec<u8>) -> Tx {
    let body = json!({"from": from, "to": token, "data": Bytes::from(data), "gas": format!("{TOKEN_GAS:#x}"),
        "gasPrice": format!("{GAS_PRICE:#x}")});
    Tx { what: what.into(), body }
}

fn send_token(what: impl Into<String>, from: Address, token: Address, to: Address, value: U256) -> Tx {
    call_token(what, from, token, ITetherLike::transferCall { to, value }.abi_encode())
}

/// The node, driven block by block.
struct Driver<'a> {
    rpc: &'a RpcClient,
    sent: u64,
}

impl Driver<'_> {
    async fn call<T: DeserializeOwned>(
        &self,
        what: &str,
        method: &'static str,
        params: Value,
    ) -> Result<T, ScenarioError> {
        self.rpc
            .call(Call::new(method, params))
            .await
            .map_err(|source| ScenarioError::Rpc { what: what.to_owned(), source })
    }

    /// Sends `txs`, mines them in one block and checks each succeeded.
    async fn block(&mut self, txs: Vec<Tx>) -> Result<(), ScenarioError> {
        let mut hashes = Vec::with_capacity(txs.len());
        for chunk in txs.chunks(100) {
            let calls = chunk.iter().map(|tx| Call::new("eth_sendTransaction", json!([tx.body]))).collect();
            let answers = self.batch("sending transactions", calls).await?;
            for (tx, answer) in chunk.iter().zip(answers) {
                let hash: B256 = answer.map_err(|reason| failed(&tx.what, reason))?;
                hashes.push(hash);
            }
        }
        let _: Value = self.call("mining a block", "evm_mine", json!([])).await?;
        let calls = hashes.iter().map(|h| Call::new("eth_getTransactionReceipt", json!([h]))).collect();
        let receipts = self.batch("reading receipts", calls).await?;
        for ((tx, hash), receipt) in txs.iter().zip(&hashes).zip(receipts) {
            let receipt: Value = receipt.map_err(|reason| failed(&tx.what, reason))?;
            match receipt["status"].as_str() {
                Some("0x1") => {}
                Some(_) => return Err(failed(&tx.what, format!("transaction {hash} reverted"))),
                None => return Err(failed(&tx.what, format!("transaction {hash} was not mined"))),
            }
        }
        self.sent += txs.len() as u64;
        Ok(())
    }

    /// A batch of calls, each answer decoded or its error as text.
    async fn batch<T: DeserializeOwned>(
        &self,
        what: &str,
        calls: Vec<Call>,
    ) -> Result<Vec<Result<T, String>>, ScenarioError> {
        let answers =
            self.rpc.batch(calls).await.map_err(|source| ScenarioError::Rpc { what: what.to_owned(), source })?;
        Ok(answers
            .into_iter()
            .map(|a| {
                a.map_err(|e| e.to_string()).and_then(|raw| serde_json::from_str(raw.get()).map_err(|e| e.to_string()))
            })
            .collect())
    }

    /// Deploys the token from `issuer` (automine on) and returns its address.
    async fn deploy_token(&self, issuer: Address) -> Result<Address, ScenarioError> {
        let what = "deploying the token";
        let mut code = alloy::primitives::hex::decode(TETHER_LIKE_BIN.trim()).expect("the committed bytecode is hex");
        code.extend((units(100_000_000), "Tether-like USD".to_owned(), TOKEN_SYMBOL.to_owned()).abi_encode_params());
        let tx = json!({"from": issuer, "data": Bytes::from(code), "gas": "0x500000"});
        let hash: B256 = self.call(what, "eth_sendTransaction", json!([tx])).await?;
        for _ in 0..200 {
            let receipt: Value = self.call(what, "eth_getTransactionReceipt", json!([hash])).await?;
            if let Some(address) = receipt["contractAddress"].as_str() {
                return address.parse().map_err(|_| failed(what, format!("contract address {address}")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(failed(what, format!("transaction {hash} was not mined")))
    }

    /// Balances of `asset` (`None`: ETH) of `holders` at the tip.
    async fn balances(&self, asset: Option<Address>, holders: &[Address]) -> Result<Vec<U256>, ScenarioError> {
        let calls = holders
            .iter()
            .map(|who| match asset {
                None => Call::new("eth_getBalance", json!([who, "latest"])),
                Some(token) => {
                    let data = Bytes::from(ITetherLike::balanceOfCall { who: *who }.abi_encode());
                    Call::new("eth_call", json!([{"to": token, "data": data}, "latest"]))
                }
            })
            .collect();
        let what = "reading balances";
        let mut out = Vec::new();
        match asset {
            None => {
                for b in self.batch::<U256>(what, calls).await? {
                    out.push(b.map_err(|reason| failed(what, reason))?);
                }
            }
            Some(_) => {
                for b in self.batch::<Bytes>(what, calls).await? {
                    let b = b.map_err(|reason| failed(what, reason))?;
                    out.push(if b.len() < 32 { U256::ZERO } else { U256::from_be_slice(&b[..32]) });
                }
            }
        }
        Ok(out)
    }
}

fn failed(what: &str, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Failed { what: what.to_owned(), reason: reason.into() }
}

/// The case's addresses, drawn from the seed.
struct Cast {
    seed: u64,
    fresh: u32,
}

impl Cast {
    fn named(&self, role: &str, i: usize) -> Address {
        Address::from_slice(&keccak256(format!("crackdown/{}/{role}/{i}", self.seed))[12..])
    }

    /// A fresh deposit address.
    fn deposit(&mut self) -> Address {
        self.fresh += 1;
        self.named("deposit", self.fresh as usize)
    }
}

/// The off-ramps' truth being built: index in `offramps` by entity.
struct Book {
    offramps: Vec<OfframpTruth>,
    mixer: OfframpTruth,
}

impl Book {
    fn reach(&mut self, entity: usize, address: Address, asset: &str, amount: U256, deposit_of: Option<Address>) {
        self.offramps[entity].reached.push(Reach {
            address: address.to_string(),
            asset: asset.to_owned(),
            amount: amount.to_string(),
            deposit_of: deposit_of.map(|a| a.to_string()),
        });
    }
}

fn offramp(
    entity: &str,
    category: &str,
    jurisdiction: &str,
    licensed_by: Option<&str>,
    tagged: Vec<Address>,
) -> OfframpTruth {
    OfframpTruth {
        entity: entity.to_owned(),
        category: category.to_owned(),
        jurisdiction: Some(jurisdiction.to_owned()),
        licensed_by: licensed_by.map(str::to_owned),
        tagged: tagged.iter().map(Address::to_string).collect(),
        reached: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn tag(
    address: Address,
    category: &str,
    entity: &str,
    label: &str,
    jurisdiction: Option<&str>,
    licensed_by: Option<&str>,
    status: &str,
    confidence: &str,
) -> CaseTag {
    CaseTag {
        address: address.to_string(),
        chain: "eth".to_owned(),
        category: category.to_owned(),
        entity: entity.to_owned(),
        label: label.to_owned(),
        jurisdiction: jurisdiction.map(str::to_owned),
        licensed_by: licensed_by.map(str::to_owned),
        status: status.to_owned(),
        status_date: (status != "active").then(|| SHUT_DOWN.to_owned()),
        confidence: confidence.to_owned(),
    }
}

/// Plays the case on `node` (fresh: the case assumes it starts at block 0
/// with anvil's first account as the issuer) and returns its ground truth.
///
/// # Errors
/// [`ScenarioError::Rpc`] when the node fails a request,
/// [`ScenarioError::Failed`] naming the step whose transaction failed.
pub async fn play(node: &Node, config: &CrackdownConfig) -> Result<EthCase, ScenarioError> {
    let mut d = Driver { rpc: node.rpc(), sent: 0 };
    let accounts: Vec<Address> = d.call("listing accounts", "eth_accounts", json!([])).await?;
    let issuer = *accounts.first().ok_or_else(|| failed("listing accounts", "the node has no accounts"))?;
    let _: Value = d.call("impersonating the cast", "anvil_autoImpersonateAccount", json!([true])).await?;
    let token = d.deploy_token(issuer).await?;
    let _: Value = d.call("turning automine off", "evm_setAutomine", json!([false])).await?;
    d.sent += 1;
    let usd = token.to_string();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut cast = Cast { seed: config.seed, fresh: 0 };

    let platforms: Vec<Address> = (0..PLATFORMS.len()).map(|i| cast.named("platform", i)).collect();
    let hot: Vec<Address> = (0..SEIZED).map(|i| cast.named("seized", i)).collect();
    let exchanges: Vec<Address> = (0..LICENSED.len()).map(|i| cast.named("exchange", i)).collect();
    let couriers: Vec<Address> = (0..COURIERS).map(|i| cast.named("courier", i)).collect();
    let mixer = cast.named("mixer", 0);
    let peel: Vec<Address> = (0..5).map(|i| cast.named("peel", i)).collect();
    let token_peel = cast.named("token-peel", 0);
    let consolidation = cast.named("consolidation", 0);
    let holders: Vec<Address> = (0..2).map(|i| cast.named("holder", i)).collect();
    let users: Vec<Address> = (0..config.users.max(2)).map(|i| cast.named("user", i)).collect();

    // The off-ramps, in the book's order: exchanges, platforms, the network.
    let mut book = Book { offramps: Vec::new(), mixer: offramp(MIXER, "mixer", "RU", None, vec![mixer]) };
    book.mixer.jurisdiction = None;
    for (i, (name, jur, regulator)) in LICENSED.iter().enumerate() {
        book.offramps.push(offramp(name, "exchange_licensed", jur, Some(regulator), vec![exchanges[i]]));
    }
    let first_platform = book.offramps.len();
    for (i, (name, jur)) in PLATFORMS.iter().enumerate() {
        book.offramps.push(offramp(name, "platform_shut_down", jur, None, vec![platforms[i]]));
    }
    let network = book.offramps.len();
    book.offramps.push(offramp(CASH_OUT.0, "cash_out_network", CASH_OUT.1, None, couriers.clone()));

    // 1. Funding.
    let mut txs = Vec::new();
    for (i, p) in platforms.iter().enumerate() {
        txs.push(send_eth(format!("funding platform {}", PLATFORMS[i].0), issuer, *p, ether(40 + 5 * i as u64)));
    }
    for &p in &platforms[..SEIZED] {
        txs.push(send_token("issuing to a platform", issuer, token, p, units(300_000)));
    }
    for &x in &exchanges {
        txs.push(send_eth("funding an exchange", issuer, x, ether(500)));
        txs.push(send_token("issuing to an exchange", issuer, token, x, units(2_000_000)));
    }
    for &u in &users {
        txs.push(send_eth("funding a user", issuer, u, ether(100)));
        txs.push(send_token("issuing to a user", issuer, token, u, units(20_000)));
    }
    d.block(txs).await?;

    // 2. The platforms fill their hot wallets.
    let mut txs = everyday(&mut rng, &users, token, config.everyday_per_block);
    for s in 0..SEIZED {
        let what = format!("{} fills its hot wallet", PLATFORMS[s].0);
        txs.push(send_eth(&what, platforms[s], hot[s], ether(20)));
        txs.push(send_eth(&what, platforms[s], hot[s], ether(10 + s as u64)));
        txs.push(send_token(&what, platforms[s], token, hot[s], units(250_000)));
    }
    d.block(txs).await?;

    // 3. First outflows of the hot wallets.
    let mut txs = everyday(&mut rng, &users, token, config.everyday_per_block);
    txs.push(send_eth("the peel chain starts", hot[0], peel[0], ether(24)));
    txs.push(send_token("tokens to a launderer", hot[0], token, token_peel, units(100_000)));
    txs.push(send_eth("gas for the token launderer", hot[0], token_peel, finney(10)));
    let deposit_a = cast.deposit();
    txs.push(send_eth("a deposit at an exchange", hot[1], deposit_a, ether(12)));
    book.reach(0, deposit_a, "ETH", ether(12), Some(exchanges[0]));
    txs.push(send_eth("into the consolidation", hot[1], consolidation, ether(15)));
    txs.push(send_eth("into the mixer", hot[2], mixer, ether(9)));
    book.mixer.reached.push(Reach {
        address: mixer.to_string(),
        asset: "ETH".into(),
        amount: ether(9).to_string(),
        deposit_of: None,
    });
    txs.push(send_eth("to a courier", hot[2], couriers[0], ether(7)));
    book.reach(network, couriers[0], "ETH", ether(7), None);
    txs.push(send_eth("to another platform", hot[2], platforms[9], ether(6)));
    book.reach(first_platform + 9, platforms[9], "ETH", ether(6), None);
    txs.push(send_eth("into the consolidation", hot[2], consolidation, ether(8)));
    txs.push(send_eth("clean funds into the consolidation", users[0], consolidation, ether(10)));
    let deposit_b = cast.deposit();
    txs.push(send_token("a token deposit at an exchange", hot[3], token, deposit_b, units(50_000)));
    book.reach(1, deposit_b, &usd, units(50_000), Some(exchanges[1]));
    txs.push(send_token("tokens to a holder", hot[3], token, holders[0], units(30_000)));
    txs.push(send_token("tokens to a holder", hot[3], token, holders[1], units(20_000)));
    let deposit_c = cast.deposit();
    txs.push(send_eth("a deposit at an exchange", hot[3], deposit_c, ether(10)));
    book.reach(2, deposit_c, "ETH", ether(10), Some(exchanges[2]));
    // Everyday customers deposit once each at an exchange.
    let mut customer_deposits = Vec::new();
    for (i, &u) in users.iter().enumerate().skip(1).take(10) {
        let (deposit, x) = (cast.deposit(), i % exchanges.len());
        let amount = ether(rng.gen_range(1..6));
        txs.push(send_eth("a customer's deposit", u, deposit, amount));
        customer_deposits.push((deposit, exchanges[x], amount));
    }
    d.block(txs).await?;

    // 4. Peel hop 1, the token launderer, the consolidation's payment.
    let mut txs = everyday(&mut rng, &users, token, config.everyday_per_block);
    let deposit_d = cast.deposit();
    let mut rest = ether(24);
    txs.extend(peel_hop(&mut rest, peel[0], peel[1], deposit_d, ether(3)));
    book.reach(0, deposit_d, "ETH", ether(3), Some(exchanges[0]));
    txs.push(send_token("tokens to a courier", token_peel, token, couriers[1], units(40_000)));
    book.reach(network, couriers[1], &usd, units(40_000), None);
    let deposit_e = cast.deposit();
    txs.push(send_token("a token deposit at an exchange", token_peel, token, deposit_e, units(60_000)));
    book.reach(2, deposit_e, &usd, units(60_000), Some(exchanges[2]));
    let deposit_f = cast.deposit();
    txs.push(send_eth("the consolidation pays an exchange", consolidation, deposit_f, ether(30)));
    txs.push(send_eth("gas for a token deposit address", exchanges[1], deposit_b, finney(50)));
    txs.push(send_eth("gas for a token deposit address", exchanges[2], deposit_e, finney(50)));
    d.block(txs).await?;

    // 5. to 7. Peel hops.
    let hops = [
        (platforms[12], ether(2), Some(first_platform + 12)),
        (mixer, finney(1_500), None),
        (couriers[2], ether(4), Some(network)),
    ];
    for (k, (to, pay, entity)) in hops.into_iter().enumerate() {
        let mut txs = everyday(&mut rng, &users, token, config.everyday_per_block);
        txs.extend(peel_hop(&mut rest, peel[k + 1], peel[k + 2], to, pay));
        match entity {
            Some(entity) => book.reach(entity, to, "ETH", pay, None),
            None => book.mixer.reached.push(Reach {
                address: to.to_string(),
                asset: "ETH".into(),
                amount: pay.to_string(),
                deposit_of: None,
            }),
        }
        d.block(txs).await?;
    }

    // 8. The exchanges sweep their deposit addresses.
    let mut txs = Vec::new();
    let swept =
        [(deposit_a, 0, ether(12)), (deposit_d, 0, ether(3)), (deposit_c, 2, ether(10)), (deposit_f, 1, ether(30))];
    for (deposit, x, amount) in swept {
        txs.push(send_eth("a sweep", deposit, exchanges[x], amount - fee()));
    }
    for (deposit, x, amount) in &customer_deposits {
        txs.push(send_eth("a customer's deposit swept", *deposit, *x, *amount - fee()));
    }
    txs.push(send_token("a token sweep", deposit_b, token, exchanges[1], units(50_000)));
    txs.push(send_token("a token sweep", deposit_e, token, exchanges[2], units(60_000)));
    d.block(txs).await?;

    // 9. The issuer freezes a holder.
    let freeze = ITetherLike::addBlackListCall { user: holders[0] }.abi_encode();
    d.block(vec![call_token("the issuer freezes a holder", issuer, token, freeze)]).await?;

    // What is still held: the seized wallets, the end of the peel chain, the
    // token launderer's gas and the token holders.
    let mut held = Vec::new();
    let eth_holders: Vec<Address> = hot.iter().copied().chain([peel[4], token_peel]).collect();
    for (who, amount) in eth_holders.iter().zip(d.balances(None, &eth_holders).await?) {
        held.push(Holding {
            address: who.to_string(),
            asset: "ETH".into(),
            amount: amount.to_string(),
            freezable: false,
            frozen: false,
        });
    }
    let token_holders: Vec<Address> = hot.iter().chain(&holders).copied().collect();
    for (who, amount) in token_holders.iter().zip(d.balances(Some(token), &token_holders).await?) {
        let frozen = *who == holders[0];
        held.push(Holding {
            address: who.to_string(),
            asset: usd.clone(),
            amount: amount.to_string(),
            freezable: !frozen,
            frozen,
        });
    }
    held.retain(|h| h.amount != "0");

    let mut tags = Vec::new();
    for (i, (name, jur)) in PLATFORMS.iter().enumerate() {
        tags.push(tag(
            platforms[i],
            "platform_shut_down",
            name,
            "platform wallet",
            Some(jur),
            None,
            "shut_down",
            "authority_data",
        ));
    }
    for s in 0..SEIZED {
        let (name, jur) = PLATFORMS[s];
        tags.push(tag(hot[s], "seized", name, "hot wallet, seized", Some(jur), None, "seized", "authority_data"));
    }
    for (i, (name, jur, regulator)) in LICENSED.iter().enumerate() {
        tags.push(tag(
            exchanges[i],
            "exchange_licensed",
            name,
            "hot wallet",
            Some(jur),
            Some(regulator),
            "active",
            "service_data",
        ));
    }
    for (i, &c) in couriers.iter().enumerate() {
        let label = format!("courier {}", i + 1);
        tags.push(tag(
            c,
            "cash_out_network",
            CASH_OUT.0,
            &label,
            Some(CASH_OUT.1),
            None,
            "active",
            "forensic_investigation",
        ));
    }
    tags.push(tag(mixer, "mixer", MIXER, "pool", None, None, "active", "forensic_investigation"));

    let tip: alloy::primitives::U64 = d.call("reading the tip", "eth_blockNumber", json!([])).await?;
    Ok(EthCase {
        scenario: "crackdown".into(),
        tip: tip.to(),
        token: TokenTruth { address: usd, symbol: TOKEN_SYMBOL.into(), decimals: 6, issuer: issuer.to_string() },
        txs: d.sent,
        seeds: (0..SEIZED)
            .map(|s| SeedTruth {
                entity: PLATFORMS[s].0.into(),
                address: hot[s].to_string(),
                platform_address: platforms[s].to_string(),
            })
            .collect(),
        offramps: book.offramps,
        mixer: book.mixer,
        held,
        consolidation: consolidation.to_string(),
        tags,
    })
}

/// One peel hop: `from` (holding `rest`, all of it tainted) pays `pay` to
/// `to` and the rest, less both transfers' gas, to `next`.
fn peel_hop(rest: &mut U256, from: Address, next: Address, to: Address, pay: U256) -> [Tx; 2] {
    *rest = *rest - pay - fee() - fee();
    [send_eth("a peel hop pays", from, to, pay), send_eth("a peel hop moves on", from, next, *rest)]
}

/// Everyday traffic among `users`: ETH and token payments.
fn everyday(rng: &mut StdRng, users: &[Address], token: Address, n: usize) -> Vec<Tx> {
    (0..n)
        .map(|_| {
            let from = users[rng.gen_range(0..users.len())];
            let to = users[rng.gen_range(0..users.len())];
            if rng.gen_bool(0.6) {
                send_eth("an everyday payment", from, to, finney(rng.gen_range(10..1_000)))
            } else {
                send_token("an everyday token payment", from, token, to, units(rng.gen_range(1..500)))
            }
        })
        .collect()
}
