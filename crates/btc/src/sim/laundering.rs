//! The laundering case ([`Scenario::Laundering`](super::Scenario::Laundering)): a script of hops on top of
//! everyday traffic, and its ground truth ([`Case`]) with the tags an investigator would hold.
//!
//! The cast are `Role::Scripted` owners, whose coins only this plan moves, so every figure of the case is exact.
//! One stage a block, from the first block whose miner coin can fund it (block 101 on every seed):
//!
//! 0. a miner's coin funds three platforms' cold wallets, the exchanges' hot wallets and one clean customer deposit
//!    each, a launderer's clean coin and three CoinJoin peers;
//! 1. each platform moves its cold coin to its hot wallet (the wallet later seized) as several coins;
//! 2. outflows from the hot wallets start one peel chain per platform, and one coin of platform 0 starts the path
//!    all models agree on;
//! 3. to 6. peel hops: each pays a little (tainted in full) to a fresh per-customer deposit address of the licensed
//!    or the unlicensed exchange, or to the mixer, and moves the rest on; the agreed path reaches the cash-out
//!    network in single-input, single-output hops; at stage 6 one chain's rest is consolidated with clean coins
//!    and another's joins a CoinJoin with the peers;
//! 7. the consolidated coin and the launderer's CoinJoin output go to deposit addresses;
//! 8. each exchange sweeps its deposit addresses together with a coin of its tagged hot wallet into that hot wallet
//!    (so multi-input clustering links the untagged deposits to it).
//!
//! The hot wallets keep one coin each, and peel chain 0 ends with its rest unspent: tainted funds still in reach.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use bitcoin::{OutPoint, Txid};
use chainsleuth_core::Sats;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::gen::{round_down, Draft, World, DUST};
use super::scenario::Plan;
use super::wallet::{Kind, Role, Utxo, COINBASE_MATURITY};
use super::SimError;

/// Satoshi per bitcoin.
const COIN: u64 = 100_000_000;
/// Stages of the script, one block each (see the module docs).
const STAGES: u32 = 9;
/// The fewest blocks after genesis the case needs: funding waits for the first mature coinbase.
pub(crate) const MIN_BLOCKS: u32 = COINBASE_MATURITY + STAGES;
/// The smallest miner coin that funds the case.
const FUNDING: u64 = 32 * COIN;
/// The name of the case's tag file beside `case.json`.
pub const TAGS_FILE: &str = "tags.jsonl";

/// A platform of the case: name, jurisdiction, the dates it was shut down and its hot wallet seized, script type.
const PLATFORMS: [(&str, &str, &str, &str, Kind); 3] = [
    ("Kolyma Exchange", "RU", "2024-03-12", "2024-04-02", Kind::P2wpkh),
    ("Arbat Trade", "RU", "2024-03-12", "2024-04-02", Kind::P2shMultisig),
    ("Irtysh Coin", "KZ", "2024-05-20", "2024-06-03", Kind::P2tr),
];
/// The licensed, bank-connected exchange: name, jurisdiction, regulator.
const LICENSED: (&str, &str, &str) = ("Steppe Digital Exchange", "KZ", "AFSA");
/// The unlicensed exchange: name, jurisdiction.
const UNLICENSED: (&str, &str) = ("Volga Swap", "RU");
/// The cash-out network: name, jurisdiction.
const CASH_OUT: (&str, &str) = ("Nevsky Cash Desk", "RU");
/// The mixer's name.
const MIXER: &str = "Fogbank Mixer";

/// Where a peel hop pays.
#[derive(Clone, Copy)]
enum Target {
    Licensed,
    Unlicensed,
    Mixer,
}

/// The payees of each platform's peel chain, hop by hop.
const PEELS: [&[Target]; 3] = [
    &[Target::Licensed, Target::Mixer, Target::Unlicensed, Target::Licensed],
    &[Target::Unlicensed, Target::Licensed, Target::Mixer],
    &[Target::Licensed, Target::Unlicensed, Target::Mixer],
];

/// How much of a coin is tainted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taint {
    /// All of it, under every model (it descends from seized coins only).
    Full,
    /// Some of it: it descends from tainted and clean coins, and the share depends on the model.
    Partial,
    /// None of it.
    Clean,
}

/// A coin of the case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseCoin {
    /// The transaction that created it.
    pub txid: Txid,
    /// Its output index.
    pub vout: u32,
    /// The address it pays.
    pub address: String,
    /// Its value.
    pub value: Sats,
}

/// A seized hot wallet: where tracing starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    /// The shut-down platform it belonged to.
    pub entity: String,
    /// The hot wallet's address (tagged `seized`).
    pub address: String,
    /// The platform's cold wallet, which funded it (tagged `platform_shut_down`).
    pub platform_address: String,
    /// Every coin the hot wallet received, in chain order.
    pub coins: Vec<CaseCoin>,
}

/// A deposit address of an exchange and the coin paid into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    /// The coin (its address is the untagged deposit address).
    pub coin: CaseCoin,
    /// How much of it is tainted.
    pub taint: Taint,
}

/// An off-ramp of the case and what taint reaches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offramp {
    /// The entity.
    pub entity: String,
    /// Its category (`exchange_licensed`, `exchange_unlicensed`, `cash_out_network`).
    pub category: String,
    /// Its jurisdiction (ISO country code).
    pub jurisdiction: Option<String>,
    /// Its regulator, when licensed.
    pub licensed_by: Option<String>,
    /// Its tagged addresses.
    pub tagged: Vec<String>,
    /// Its untagged per-customer deposit addresses (found through multi-input clustering with a tagged address),
    /// each with its coin.
    pub deposits: Vec<Deposit>,
    /// The transactions that swept the deposits into the tagged hot wallet.
    pub sweeps: Vec<Txid>,
    /// The addresses of the entity where every model delivers the same taint, sorted: the deposit addresses paid
    /// coins tainted in full (a tracer that attributes deposits to their exchange stops there; one that does not
    /// follows the sweeps into the tagged hot wallet, where the models disagree), or the cash-out network's tagged
    /// address at the end of the agreed path. Deposits of [`Taint::Partial`] coins get a share that depends on the
    /// model (none at all under some).
    pub reached: Vec<String>,
    /// The taint every model delivers to `reached`: the sum of the coins paid there.
    pub agreed_amount: Sats,
}

/// The mixer and the tainted coins paid into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixerTruth {
    /// The entity.
    pub entity: String,
    /// Its tagged address.
    pub address: String,
    /// The coins paid to it, all tainted in full.
    pub payments: Vec<CaseCoin>,
}

/// The path from a seed to the cash-out network on which every taint model gives the same amount: each hop spends
/// one coin, tainted in full, into one output plus the fee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreedPath {
    /// The seed coin it starts from.
    pub seed: CaseCoin,
    /// Its transactions, in order.
    pub txids: Vec<Txid>,
    /// The cash-out network's entity.
    pub entity: String,
    /// The coin that reaches the cash-out network's tagged address: its value is the reached amount.
    pub reached: CaseCoin,
}

/// A transaction that spends tainted and clean coins together, where the models disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixedTx {
    /// The transaction.
    pub txid: Txid,
    /// Its tainted inputs (tainted in full).
    pub tainted_inputs: Vec<CaseCoin>,
    /// Its clean inputs.
    pub clean_inputs: Vec<CaseCoin>,
    /// The equal output value of a CoinJoin.
    pub denomination: Option<Sats>,
}

/// One line of the case's tag file (JSON Lines; the keys are the importer's field names, so it imports with
/// `--format jsonl` and no mapping). Other chains' case files (the Ethereum crackdown of `chainsleuth-scenario`)
/// write the same lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseTag {
    /// The address (regtest on Bitcoin).
    pub address: String,
    /// The chain: `btc` in this case.
    pub chain: String,
    /// The taxonomy category.
    pub category: String,
    /// The platform or actor.
    pub entity: String,
    /// What the address is to its entity.
    pub label: String,
    /// ISO country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// The licensing regulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_by: Option<String>,
    /// `active`, `shut_down` or `seized`.
    pub status: String,
    /// The date of the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_date: Option<String>,
    /// A GraphSense confidence level.
    pub confidence: String,
}

/// The ground truth of the laundering case (`case.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The scenario (`laundering`).
    pub scenario: String,
    /// The tag file beside `case.json` ([`TAGS_FILE`]).
    pub tags_file: String,
    /// The seized hot wallets.
    pub seeds: Vec<Seed>,
    /// The off-ramps taint reaches: the licensed exchange, the unlicensed one, the cash-out network.
    pub offramps: Vec<Offramp>,
    /// The mixer.
    pub mixer: MixerTruth,
    /// The path all models agree on.
    pub agreed_path: AgreedPath,
    /// Coins tainted in full and left unspent outside any off-ramp or mixer: what is still within reach (the seized
    /// hot wallets' remaining coins included).
    pub unspent: Vec<CaseCoin>,
    /// The consolidation of a peel chain's rest with a clean coin.
    pub consolidation: MixedTx,
    /// The CoinJoin a peel chain's rest joined.
    pub coinjoin: MixedTx,
    /// The tags of the tag file, in its order.
    pub tags: Vec<CaseTag>,
}

impl Case {
    /// Writes the case as pretty-printed JSON to `path`.
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), SimError> {
        let json = serde_json::to_vec_pretty(self).expect("the case has string keys and plain fields");
        fs::write(path, json).map_err(|source| SimError::Write { path: path.to_owned(), source })
    }

    /// Reads a case written by [`Case::write_json`].
    ///
    /// # Errors
    ///
    /// [`SimError::Read`] or [`SimError::Json`] naming `path`.
    pub fn read_json(path: &Path) -> Result<Case, SimError> {
        let bytes = fs::read(path).map_err(|source| SimError::Read { path: path.to_owned(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| SimError::Json { path: path.to_owned(), source })
    }

    /// Writes the tags as JSON Lines to `path`.
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming `path`.
    pub fn write_tags(&self, path: &Path) -> Result<(), SimError> {
        CaseTag::write_lines(&self.tags, path)
    }
}

impl CaseTag {
    /// Writes `tags` as JSON Lines to `path`.
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming `path`.
    pub fn write_lines(tags: &[CaseTag], path: &Path) -> Result<(), SimError> {
        let mut out = Vec::new();
        for tag in tags {
            serde_json::to_writer(&mut out, tag).expect("tags are plain strings");
            out.push(b'\n');
        }
        let write = |path: &Path| fs::File::create(path)?.write_all(&out);
        write(path).map_err(|source| SimError::Write { path: path.to_owned(), source })
    }
}

/// A coin the plan tracks, by name.
#[derive(Clone, Copy)]
struct Named {
    owner: u32,
    utxo: Utxo,
}

/// An output of a drafted transaction waiting for its txid.
struct Waiting {
    draft: usize,
    vout: u32,
    name: String,
    owner: u32,
    slot: u32,
    value: u64,
}

/// One output of a scripted transaction: the slot it pays, its value (`None`: what is left after the fixed outputs
/// and the fee) and the name the plan tracks the coin by.
struct Pay {
    slot: u32,
    value: Option<u64>,
    name: Option<String>,
}

impl Pay {
    fn fixed(slot: u32, value: u64, name: Option<String>) -> Pay {
        Pay { slot, value: Some(value), name }
    }

    fn rest(slot: u32, name: Option<String>) -> Pay {
        Pay { slot, value: None, name }
    }
}

/// An exchange of the cast: owner, tagged hot wallet slot, deposits as (coin name, taint).
#[derive(Default)]
struct Exchange {
    owner: u32,
    hot: u32,
    deposits: Vec<(String, Taint)>,
}

/// The case's actors, created by `setup`.
#[derive(Default)]
struct Cast {
    /// Per platform: owner, cold wallet slot, hot wallet slot.
    platforms: Vec<(u32, u32, u32)>,
    licensed: Exchange,
    unlicensed: Exchange,
    /// The cash-out network: owner and tagged slot.
    cash: (u32, u32),
    /// The mixer: owner and tagged slot.
    mixer: (u32, u32),
    /// One launderer per peel chain; launderer 0 also runs the agreed path, launderer 1 holds the clean coin.
    launderers: Vec<u32>,
    /// The CoinJoin peers.
    peers: Vec<u32>,
}

/// The plan of [`Scenario::Laundering`](super::Scenario::Laundering); see the module docs.
#[derive(Default)]
pub(crate) struct Laundering {
    /// The next stage; [`STAGES`] when done.
    stage: u32,
    cast: Cast,
    /// Tracked coins by name, kept after they are spent (the case reports them).
    coins: BTreeMap<String, Named>,
    /// Outputs of this block's drafts, until their txids are known.
    waiting: Vec<Waiting>,
    /// Names of this block's drafts, in order.
    drafts: Vec<String>,
    /// Txids of the plan's transactions by name.
    txids: BTreeMap<String, Txid>,
    /// Names of the coins paid to the mixer.
    mixer_payments: Vec<String>,
    /// The CoinJoin's denomination.
    denomination: u64,
}

/// A value of about `value`, off by up to 5% drawn from `world`, in whole thousands of satoshi.
fn jitter(world: &mut World, value: u64) -> u64 {
    let factor = world.rng.gen_range(0.95..1.05);
    ((value as f64 * factor) as u64) / 1_000 * 1_000
}

impl Laundering {
    /// Drafts a transaction named `name` spending `inputs` into `pays`; the fee is what the inputs leave over, and
    /// an output without a value gets the rest after the others and the fee at the world's fee rate.
    fn tx(&mut self, world: &mut World, name: String, inputs: Vec<Utxo>, pays: Vec<Pay>) -> Draft {
        let rate = world.fee_rate();
        let mut outputs: Vec<_> = pays.iter().map(|p| world.pay(p.slot, p.value.unwrap_or(0), 0.0)).collect();
        let vbytes = 11
            + inputs.iter().map(|u| world.input_vbytes(u)).sum::<u64>()
            + outputs.iter().map(|o| 9 + o.script.len() as u64).sum::<u64>();
        let total_in: u64 = inputs.iter().map(|u| u.value).sum();
        let fixed: u64 = pays.iter().filter_map(|p| p.value).sum();
        if let Some(rest) = pays.iter().position(|p| p.value.is_none()) {
            let value = total_in.checked_sub(fixed + rate * vbytes).filter(|&v| v >= DUST);
            outputs[rest].value = value.expect("the case's coins cover its payments and fees");
        }
        let total_out: u64 = outputs.iter().map(|o| o.value).sum();
        let fee = total_in.checked_sub(total_out).expect("the case's coins cover its payments");
        let draft = self.drafts.len();
        for (vout, (pay, out)) in pays.into_iter().zip(&outputs).enumerate() {
            if let Some(name) = pay.name {
                let owner = world.wallet.slots[pay.slot as usize].owner;
                let vout = u32::try_from(vout).expect("fewer than 2^32 outputs");
                self.waiting.push(Waiting { draft, vout, name, owner, slot: pay.slot, value: out.value });
            }
        }
        self.drafts.push(name);
        Draft { inputs, outputs, fee, change: None, peel: None }
    }

    /// Takes the tracked coin `name` out of its owner's pool to spend it.
    fn spend(&self, world: &mut World, name: &str) -> Utxo {
        let named = self.coins[name];
        world.wallet.take_outpoint(named.owner, named.utxo.outpoint).expect("the plan spends each of its coins once")
    }

    /// Stage 0: a miner's coin funds the cast.
    fn fund(&mut self, world: &mut World) -> Vec<Draft> {
        let miners = world.wallet.miners.clone();
        let Some((miner, coin)) = miners.iter().find_map(|&m| world.wallet.take_largest(m, FUNDING).map(|c| (m, c)))
        else {
            return Vec::new();
        };
        let mut pays = Vec::new();
        for (i, base) in [10, 8, 6].into_iter().enumerate() {
            let value = jitter(world, base * COIN);
            pays.push(Pay::fixed(self.cast.platforms[i].1, value, Some(format!("cold{i}"))));
        }
        let (licensed, unlicensed) = (self.cast.licensed.owner, self.cast.unlicensed.owner);
        pays.push(Pay::fixed(self.cast.licensed.hot, jitter(world, 2 * COIN), Some("hot.licensed".into())));
        pays.push(Pay::fixed(self.cast.unlicensed.hot, jitter(world, 3 * COIN / 2), Some("hot.unlicensed".into())));
        for (owner, value, name) in [(licensed, 30, "dep.licensed"), (unlicensed, 25, "dep.unlicensed")] {
            let slot = world.slot_of(owner, 1.0);
            pays.push(Pay::fixed(slot, jitter(world, value * COIN / 100), Some(name.into())));
        }
        let clean = world.slot_of(self.cast.launderers[1], 1.0);
        pays.push(Pay::fixed(clean, jitter(world, COIN / 2), Some("clean".into())));
        for (j, peer) in self.cast.peers.clone().into_iter().enumerate() {
            let slot = world.slot_of(peer, 1.0);
            pays.push(Pay::fixed(slot, jitter(world, 2 * COIN / 5), Some(format!("peer{j}"))));
        }
        let change = world.slot_of(miner, 0.2);
        pays.push(Pay::rest(change, None));
        self.cast.licensed.deposits.push(("dep.licensed".into(), Taint::Clean));
        self.cast.unlicensed.deposits.push(("dep.unlicensed".into(), Taint::Clean));
        vec![self.tx(world, "funding".into(), vec![coin], pays)]
    }

    /// Stage 1: each platform moves its cold coin into its hot wallet as several coins.
    fn move_to_hot_wallets(&mut self, world: &mut World) -> Vec<Draft> {
        let mut drafts = Vec::new();
        for (i, (_, _, hot)) in self.cast.platforms.clone().into_iter().enumerate() {
            let coin = self.spend(world, &format!("cold{i}"));
            let mut pays = vec![Pay::fixed(hot, coin.value / 100 * 45, Some(format!("hot{i}.peel")))];
            if i == 0 {
                pays.push(Pay::fixed(hot, jitter(world, COIN), Some("hot0.path".into())));
            }
            pays.push(Pay::rest(hot, Some(format!("hot{i}.kept"))));
            drafts.push(self.tx(world, format!("cold{i}"), vec![coin], pays));
        }
        drafts
    }

    /// Stage 2: outflows from the hot wallets start the peel chains and the agreed path.
    fn outflows(&mut self, world: &mut World) -> Vec<Draft> {
        let mut drafts = Vec::new();
        for (i, launderer) in self.cast.launderers.clone().into_iter().enumerate() {
            let coin = self.spend(world, &format!("hot{i}.peel"));
            let slot = world.slot_of(launderer, 1.0);
            drafts.push(self.tx(
                world,
                format!("outflow{i}"),
                vec![coin],
                vec![Pay::rest(slot, Some(format!("peel{i}.0")))],
            ));
        }
        drafts.push(self.path_hop(world, 1));
        drafts
    }

    /// Hop `n` of the agreed path: one coin in, one coin out (to the cash-out network on the last hop).
    fn path_hop(&mut self, world: &mut World, n: u32) -> Draft {
        let from = if n == 1 { "hot0.path".to_owned() } else { format!("path.{}", n - 1) };
        let coin = self.spend(world, &from);
        let slot = if n == 3 { self.cast.cash.1 } else { world.slot_of(self.cast.launderers[0], 1.0) };
        self.tx(world, format!("path.{n}"), vec![coin], vec![Pay::rest(slot, Some(format!("path.{n}")))])
    }

    /// Hop `k` (from 1) of peel chain `i`: a little to the hop's payee, the rest to a fresh address.
    fn peel_hop(&mut self, world: &mut World, i: usize, k: usize) -> Draft {
        let coin = self.spend(world, &format!("peel{i}.{}", k - 1));
        let amount = (coin.value as f64 * world.rng.gen_range(0.03..0.08)) as u64 / 1_000 * 1_000;
        let paid = format!("pay{i}.{k}");
        let to = match PEELS[i][k - 1] {
            Target::Licensed => {
                self.cast.licensed.deposits.push((paid.clone(), Taint::Full));
                world.slot_of(self.cast.licensed.owner, 1.0)
            }
            Target::Unlicensed => {
                self.cast.unlicensed.deposits.push((paid.clone(), Taint::Full));
                world.slot_of(self.cast.unlicensed.owner, 1.0)
            }
            Target::Mixer => {
                self.mixer_payments.push(paid.clone());
                self.cast.mixer.1
            }
        };
        let next = world.slot_of(self.cast.launderers[i], 1.0);
        let mut pays = vec![Pay::fixed(to, amount, Some(paid)), Pay::rest(next, Some(format!("peel{i}.{k}")))];
        if world.rng.gen_bool(0.5) {
            pays.reverse();
        }
        self.tx(world, format!("peel{i}.{k}"), vec![coin], pays)
    }

    /// Stages 3 to 6: peel hops and path hops; at stage 6 chain 1's rest is consolidated with the clean coin and
    /// chain 2's joins the CoinJoin.
    fn hops(&mut self, world: &mut World) -> Vec<Draft> {
        let hop = (self.stage - 2) as usize;
        let mut drafts = Vec::new();
        for (i, payees) in PEELS.iter().enumerate() {
            if hop <= payees.len() {
                drafts.push(self.peel_hop(world, i, hop));
            }
        }
        match self.stage {
            3 | 4 => drafts.push(self.path_hop(world, self.stage - 1)),
            6 => {
                drafts.push(self.consolidation(world));
                drafts.push(self.coinjoin(world));
            }
            _ => {}
        }
        drafts
    }

    /// Chain 1's rest (first) and the clean coin into one fresh address.
    fn consolidation(&mut self, world: &mut World) -> Draft {
        let inputs = vec![self.spend(world, "peel1.3"), self.spend(world, "clean")];
        let slot = world.slot_of(self.cast.launderers[1], 1.0);
        self.tx(world, "consolidation".into(), inputs, vec![Pay::rest(slot, Some("consolidated".into()))])
    }

    /// Chain 2's rest and the peers' coins: one output of a round value per participant at a fresh address, and
    /// each participant's change, in shuffled order.
    fn coinjoin(&mut self, world: &mut World) -> Draft {
        let rate = world.fee_rate();
        let mut seats = vec![(self.cast.launderers[2], "peel2.3".to_owned())];
        seats.extend(self.cast.peers.iter().enumerate().map(|(j, &peer)| (peer, format!("peer{j}"))));
        let mut coins = Vec::new();
        for (owner, name) in &seats {
            let coin = self.spend(world, name);
            let share = rate * (world.input_vbytes(&coin) + 2 * 43 + 3);
            coins.push((*owner, coin, share));
        }
        let least = coins.iter().map(|(_, coin, share)| coin.value - share).min().expect("four seats");
        let denomination = round_down(least * 8 / 10);
        self.denomination = denomination;
        let mut pays = Vec::new();
        for (seat, (owner, coin, share)) in coins.iter().enumerate() {
            let slot = world.slot_of(*owner, 1.0);
            pays.push(Pay::fixed(slot, denomination, (seat == 0).then(|| "cj.out".to_owned())));
            let slot = world.slot_of(*owner, 1.0);
            pays.push(Pay::fixed(slot, coin.value - share - denomination, None));
        }
        pays.shuffle(&mut world.rng);
        let mut inputs: Vec<Utxo> = coins.into_iter().map(|(_, coin, _)| coin).collect();
        inputs.shuffle(&mut world.rng);
        self.tx(world, "coinjoin".into(), inputs, pays)
    }

    /// Stage 7: the consolidated coin to the unlicensed exchange, the CoinJoin output to the licensed one.
    fn deposits(&mut self, world: &mut World) -> Vec<Draft> {
        let mut drafts = Vec::new();
        for (from, licensed) in [("consolidated", false), ("cj.out", true)] {
            let exchange = if licensed { &mut self.cast.licensed } else { &mut self.cast.unlicensed };
            let paid = format!("dep.{from}");
            exchange.deposits.push((paid.clone(), Taint::Partial));
            let owner = exchange.owner;
            let coin = self.spend(world, from);
            let slot = world.slot_of(owner, 1.0);
            drafts.push(self.tx(world, paid.clone(), vec![coin], vec![Pay::rest(slot, Some(paid))]));
        }
        drafts
    }

    /// Stage 8: each exchange sweeps a hot wallet coin and its deposits into its hot wallet.
    fn sweeps(&mut self, world: &mut World) -> Vec<Draft> {
        let mut drafts = Vec::new();
        for (name, licensed) in [("licensed", true), ("unlicensed", false)] {
            let exchange = if licensed { &self.cast.licensed } else { &self.cast.unlicensed };
            let (hot, names) = (exchange.hot, exchange.deposits.iter().map(|d| d.0.clone()).collect::<Vec<_>>());
            let mut inputs = vec![self.spend(world, &format!("hot.{name}"))];
            inputs.extend(names.iter().map(|n| self.spend(world, n)));
            let swept = format!("swept.{name}");
            drafts.push(self.tx(world, swept.clone(), inputs, vec![Pay::rest(hot, Some(swept))]));
        }
        drafts
    }

    /// The tracked coin `name` as the case reports it.
    fn case_coin(&self, world: &World, name: &str) -> CaseCoin {
        let utxo = self.coins[name].utxo;
        CaseCoin {
            txid: utxo.outpoint.txid,
            vout: utxo.outpoint.vout,
            address: world.wallet.slots[utxo.slot as usize].address.clone(),
            value: Sats(utxo.value),
        }
    }

    /// What the case reports about one exchange.
    fn exchange_truth(&self, world: &World, licensed: bool) -> Offramp {
        let (exchange, name, category) = if licensed {
            (&self.cast.licensed, "licensed", "exchange_licensed")
        } else {
            (&self.cast.unlicensed, "unlicensed", "exchange_unlicensed")
        };
        let hot = world.wallet.slots[exchange.hot as usize].address.clone();
        let deposits: Vec<Deposit> = exchange
            .deposits
            .iter()
            .map(|(n, taint)| Deposit { coin: self.case_coin(world, n), taint: *taint })
            .collect();
        let full: Vec<&CaseCoin> = deposits.iter().filter(|d| d.taint == Taint::Full).map(|d| &d.coin).collect();
        let mut reached: Vec<String> = full.iter().map(|c| c.address.clone()).collect();
        reached.sort();
        let agreed_amount = Sats(full.iter().map(|c| c.value.0).sum());
        let (entity, jurisdiction, licensed_by) = if licensed {
            (LICENSED.0, LICENSED.1, Some(LICENSED.2.to_owned()))
        } else {
            (UNLICENSED.0, UNLICENSED.1, None)
        };
        Offramp {
            entity: entity.to_owned(),
            category: category.to_owned(),
            jurisdiction: Some(jurisdiction.to_owned()),
            licensed_by,
            tagged: vec![hot],
            deposits,
            sweeps: vec![self.txids[&format!("swept.{name}")]],
            reached,
            agreed_amount,
        }
    }

    /// The tag file's lines.
    fn tags(&self, world: &World) -> Vec<CaseTag> {
        let address = |slot: u32| world.wallet.slots[slot as usize].address.clone();
        let tag = |slot: u32, category: &str, entity: &str, label: &str, confidence: &str| CaseTag {
            address: address(slot),
            chain: "btc".to_owned(),
            category: category.to_owned(),
            entity: entity.to_owned(),
            label: label.to_owned(),
            jurisdiction: None,
            licensed_by: None,
            status: "active".to_owned(),
            status_date: None,
            confidence: confidence.to_owned(),
        };
        let mut tags = Vec::new();
        for (&(_, cold, hot), (name, country, shut, seized, _)) in self.cast.platforms.iter().zip(PLATFORMS) {
            tags.push(CaseTag {
                jurisdiction: Some(country.to_owned()),
                status: "shut_down".to_owned(),
                status_date: Some(shut.to_owned()),
                ..tag(cold, "platform_shut_down", name, "cold wallet", "authority_data")
            });
            tags.push(CaseTag {
                jurisdiction: Some(country.to_owned()),
                status: "seized".to_owned(),
                status_date: Some(seized.to_owned()),
                ..tag(hot, "seized", name, "hot wallet", "authority_data")
            });
        }
        tags.push(CaseTag {
            jurisdiction: Some(LICENSED.1.to_owned()),
            licensed_by: Some(LICENSED.2.to_owned()),
            ..tag(self.cast.licensed.hot, "exchange_licensed", LICENSED.0, "hot wallet", "service_data")
        });
        tags.push(CaseTag {
            jurisdiction: Some(UNLICENSED.1.to_owned()),
            ..tag(self.cast.unlicensed.hot, "exchange_unlicensed", UNLICENSED.0, "hot wallet", "service_data")
        });
        tags.push(CaseTag {
            jurisdiction: Some(CASH_OUT.1.to_owned()),
            ..tag(self.cast.cash.1, "cash_out_network", CASH_OUT.0, "collection address", "forensic")
        });
        tags.push(tag(self.cast.mixer.1, "mixer", MIXER, "deposit address", "forensic"));
        tags
    }
}

impl Plan for Laundering {
    fn setup(&mut self, world: &mut World) {
        for (_, _, _, _, kind) in PLATFORMS {
            let owner = world.add_owner(kind, Role::Scripted);
            let cold = world.wallet.owners[owner as usize].slots[0];
            let hot = world.slot_of(owner, 1.0);
            self.cast.platforms.push((owner, cold, hot));
        }
        for (kind, licensed) in [(Kind::P2wpkh, true), (Kind::P2pkh, false)] {
            let owner = world.add_owner(kind, Role::Scripted);
            let exchange = Exchange { owner, hot: world.wallet.owners[owner as usize].slots[0], deposits: Vec::new() };
            *(if licensed { &mut self.cast.licensed } else { &mut self.cast.unlicensed }) = exchange;
        }
        let cash = world.add_owner(Kind::P2wpkh, Role::Scripted);
        self.cast.cash = (cash, world.wallet.owners[cash as usize].slots[0]);
        let mixer = world.add_owner(Kind::P2wpkh, Role::Scripted);
        self.cast.mixer = (mixer, world.wallet.owners[mixer as usize].slots[0]);
        self.cast.launderers =
            [Kind::P2wpkh, Kind::P2tr, Kind::P2wpkh].into_iter().map(|k| world.add_owner(k, Role::Scripted)).collect();
        self.cast.peers =
            [Kind::P2wpkh, Kind::P2tr, Kind::P2pkh].into_iter().map(|k| world.add_owner(k, Role::Scripted)).collect();
    }

    fn scripted(&mut self, world: &mut World) -> Vec<Draft> {
        let drafts = match self.stage {
            0 => self.fund(world),
            1 => self.move_to_hot_wallets(world),
            2 => self.outflows(world),
            3..=6 => self.hops(world),
            7 => self.deposits(world),
            8 => self.sweeps(world),
            _ => Vec::new(),
        };
        if !drafts.is_empty() {
            self.stage += 1;
        }
        drafts
    }

    fn confirmed(&mut self, txids: &[Txid]) {
        for w in self.waiting.drain(..) {
            let outpoint = OutPoint { txid: txids[w.draft], vout: w.vout };
            let utxo = Utxo { outpoint, value: w.value, slot: w.slot, p2pk: false };
            self.coins.insert(w.name, Named { owner: w.owner, utxo });
        }
        for (name, txid) in self.drafts.drain(..).zip(txids) {
            self.txids.insert(name, *txid);
        }
    }

    fn case(&self, world: &World) -> Option<Case> {
        if self.stage < STAGES {
            return None;
        }
        let coin = |name: &str| self.case_coin(world, name);
        let address = |slot: u32| world.wallet.slots[slot as usize].address.clone();
        let seeds = self
            .cast
            .platforms
            .iter()
            .enumerate()
            .map(|(i, &(_, cold, hot))| {
                let mut names = vec![format!("hot{i}.peel")];
                if i == 0 {
                    names.push("hot0.path".to_owned());
                }
                names.push(format!("hot{i}.kept"));
                Seed {
                    entity: PLATFORMS[i].0.to_owned(),
                    address: address(hot),
                    platform_address: address(cold),
                    coins: names.iter().map(|n| coin(n)).collect(),
                }
            })
            .collect();
        let cash = address(self.cast.cash.1);
        let cash_out = Offramp {
            entity: CASH_OUT.0.to_owned(),
            category: "cash_out_network".to_owned(),
            jurisdiction: Some(CASH_OUT.1.to_owned()),
            licensed_by: None,
            tagged: vec![cash.clone()],
            deposits: Vec::new(),
            sweeps: Vec::new(),
            reached: vec![cash],
            agreed_amount: Sats(self.coins["path.3"].utxo.value),
        };
        let mut unspent: Vec<CaseCoin> = (0..PLATFORMS.len()).map(|i| coin(&format!("hot{i}.kept"))).collect();
        unspent.push(coin(&format!("peel0.{}", PEELS[0].len())));
        Some(Case {
            scenario: "laundering".to_owned(),
            tags_file: TAGS_FILE.to_owned(),
            seeds,
            offramps: vec![self.exchange_truth(world, true), self.exchange_truth(world, false), cash_out],
            mixer: MixerTruth {
                entity: MIXER.to_owned(),
                address: address(self.cast.mixer.1),
                payments: self.mixer_payments.iter().map(|n| coin(n)).collect(),
            },
            agreed_path: AgreedPath {
                seed: coin("hot0.path"),
                txids: (1..=3).map(|n| self.txids[&format!("path.{n}")]).collect(),
                entity: CASH_OUT.0.to_owned(),
                reached: coin("path.3"),
            },
            unspent,
            consolidation: MixedTx {
                txid: self.txids["consolidation"],
                tainted_inputs: vec![coin("peel1.3")],
                clean_inputs: vec![coin("clean")],
                denomination: None,
            },
            coinjoin: MixedTx {
                txid: self.txids["coinjoin"],
                tainted_inputs: vec![coin("peel2.3")],
                clean_inputs: (0..self.cast.peers.len()).map(|j| coin(&format!("peer{j}"))).collect(),
                denomination: Some(Sats(self.denomination)),
            },
            tags: self.tags(world),
        })
    }
}
