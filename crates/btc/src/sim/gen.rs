//! The one chain generator: the world state (wallets, peel chains, randomness), the transaction shapes everyday
//! traffic is made of, and block assembly (coinbase, witness commitment, merkle root, proof of work).

use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::Hash;
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute::LockTime, merkle_tree, Address, Amount, Block, CompactTarget, Network, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use chainsleuth_core::Height;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::laundering::Case;
use super::scenario::{Mix, Plan};
use super::sign::sign_all;
use super::truth::{AddressStats, GroundTruth};
use super::wallet::{Kind, Role, Utxo, Wallet, COINBASE_MATURITY};
use super::SimConfig;

/// Satoshi per bitcoin.
const COIN: u64 = 100_000_000;
/// Regtest's subsidy halving interval, in blocks.
const HALVING_INTERVAL: u32 = 150;
/// Smallest output the generator creates, in satoshi (above every standard dust limit).
pub(crate) const DUST: u64 = 1_000;
/// Regtest's proof-of-work limit in compact form.
const REGTEST_BITS: u32 = 0x207f_ffff;
/// Smallest coin that starts a peel chain, in satoshi.
const PEEL_MIN: u64 = 2_000_000;
/// Worst-case virtual size of a change output, used before the change address is known.
const CHANGE_VBYTES: u64 = 43;

/// One output of a drafted transaction.
pub(crate) struct Out {
    pub value: u64,
    pub script: ScriptBuf,
    /// The receiving slot and whether the output is bare P2PK; `None` for OP_RETURN.
    pub to: Option<(u32, bool)>,
}

/// A transaction before signing: the coins it spends and the outputs it creates.
pub(crate) struct Draft {
    pub inputs: Vec<Utxo>,
    pub outputs: Vec<Out>,
    pub fee: u64,
    /// Index of the change output, if any.
    pub change: Option<u32>,
    /// The peel chain (index into [`World::peels`]) whose next coin is the change output.
    pub peel: Option<usize>,
}

/// A peel chain in progress: one coin that pays a little away and moves the rest to a fresh address each block.
pub(crate) struct PeelChain {
    pub owner: u32,
    pub coin: Option<Utxo>,
    pub hops_left: u32,
}

/// Where change goes: an owner, and the chance that it gets a fresh address.
#[derive(Clone, Copy)]
pub(crate) struct ChangeTo {
    pub owner: u32,
    /// 1.0 always creates a new address (no per-owner cap), as peel chains do.
    pub fresh: f64,
}

/// Mainnet-like shapes on top of everyday traffic, for scale benchmarks ([`crate::sim::simulate_shaped_to_dir`]).
/// A chain built without them is exactly the chain the generator always built for its [`SimConfig`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// Chance that an everyday output is held rather than spendable from the next block: long-lived coins, so the
    /// UTXO set grows with the chain as mainnet's does.
    pub hold_share: f64,
    /// A held coin becomes spendable after a log-uniform wait of 10 to this many blocks (most never return within
    /// a chain shorter than this).
    pub hold_max_blocks: u32,
    /// Exchange-like hot wallets: services that receive and change to one reused address each, so each address
    /// gathers a huge history.
    pub hot_wallets: u32,
    /// Chance that a payment, batch-payout output or peel hop pays a hot wallet rather than the drawn counterparty.
    pub hot_share: f64,
    /// New users joining per block (new keys, so the address count grows with the chain).
    pub new_users_per_block: u32,
    /// Placeholder keys and signatures ([`super::wallet::Wallet::placeholder`]): no elliptic-curve work, so chains
    /// of tens of millions of transactions build in minutes; their signatures do not verify.
    pub placeholder_keys: bool,
}

impl Shape {
    /// The shapes the scale benchmark uses for blocks of `txs_per_block` transactions.
    pub fn mainnet_like(txs_per_block: u32) -> Shape {
        Shape {
            hold_share: 0.15,
            hold_max_blocks: 500_000,
            hot_wallets: 4,
            hot_share: 0.08,
            new_users_per_block: (txs_per_block / 8).max(1),
            placeholder_keys: true,
        }
    }
}

/// Everything a block is built from. Scenario plans read and change it through the shape builders.
pub(crate) struct World {
    pub secp: Secp256k1<All>,
    pub rng: ChaCha20Rng,
    pub wallet: Wallet,
    pub peels: Vec<PeelChain>,
    /// Height of the block being built.
    pub height: u32,
    /// Target transactions per block (besides the coinbase).
    pub target: u32,
    /// Mainnet-like shapes, when asked for.
    pub shape: Option<Shape>,
    /// The hot wallets' owner ids (empty without [`Shape::hot_wallets`]).
    pub hot: Vec<u32>,
}

impl World {
    fn new(rng: ChaCha20Rng, target: u32) -> Self {
        // The context is blinded with system randomness against side channels; that changes no key, signature or
        // nonce (ECDSA nonces are RFC6979, Schnorr ones use no auxiliary randomness), so output stays deterministic.
        World {
            secp: Secp256k1::new(),
            rng,
            wallet: Wallet::new(),
            peels: Vec::new(),
            height: 0,
            target,
            shape: None,
            hot: Vec::new(),
        }
    }

    /// Adds an owner with one address and returns its id.
    pub fn add_owner(&mut self, kind: Kind, role: Role) -> u32 {
        self.wallet.add_owner(&self.secp, &mut self.rng, kind, role)
    }

    /// Creates the everyday population: miners, services (exchanges) and users of every script type.
    pub fn populate(&mut self) {
        for kind in [Kind::P2wpkh, Kind::P2pkh, Kind::P2tr] {
            self.add_owner(kind, Role::Miner);
        }
        let services = 3 + self.target / 20;
        for i in 0..services {
            let kind = match i % 4 {
                0 | 3 => Kind::P2wpkh,
                1 => Kind::P2shMultisig,
                _ => Kind::P2pkh,
            };
            self.add_owner(kind, Role::Service);
        }
        let users = 100 + 8 * self.target;
        for _ in 0..users {
            self.add_user();
        }
    }

    /// Adds a user of a random script type.
    fn add_user(&mut self) {
        let kind = match self.rng.gen_range(0..100) {
            0..45 => Kind::P2wpkh,
            45..70 => Kind::P2pkh,
            70..90 => Kind::P2tr,
            _ => Kind::P2shMultisig,
        };
        self.add_owner(kind, Role::User);
    }

    /// Adds the shape's hot wallets (services with one address each).
    fn add_hot_wallets(&mut self) {
        let count = self.shape.as_ref().map_or(0, |s| s.hot_wallets);
        for _ in 0..count {
            let id = self.add_owner(Kind::P2wpkh, Role::Service);
            self.hot.push(id);
        }
    }

    /// A fee rate in sat/vB, mostly low.
    pub fn fee_rate(&mut self) -> u64 {
        [1, 1, 1, 2, 2, 3, 5, 8, 12, 20][self.rng.gen_range(0..10)]
    }

    /// Estimated virtual size of spending `utxo`.
    pub fn input_vbytes(&self, utxo: &Utxo) -> u64 {
        match self.wallet.slots[utxo.slot as usize].kind {
            Kind::P2pkh if utxo.p2pk => 114,
            Kind::P2pkh => 148,
            Kind::P2wpkh => 68,
            Kind::P2tr => 58,
            Kind::P2shMultisig => 297,
        }
    }

    /// An output paying `value` to `slot`, as bare P2PK with probability `p2pk` when the slot is P2PKH (with real
    /// keys).
    pub fn pay(&mut self, slot: u32, value: u64, p2pk: f64) -> Out {
        let s = &self.wallet.slots[slot as usize];
        // Placeholder keys are not curve points, so their slots never receive bare P2PK outputs.
        if s.kind == Kind::P2pkh && self.rng.gen_bool(p2pk) {
            if let Some(script) = s.p2pk_script() {
                return Out { value, script, to: Some((slot, true)) };
            }
        }
        Out { value, script: s.script_pubkey.clone(), to: Some((slot, false)) }
    }

    /// A receiving address of `owner` (fresh with probability `fresh`; a hot wallet always reuses its one address).
    pub fn slot_of(&mut self, owner: u32, fresh: f64) -> u32 {
        if self.hot.contains(&owner) {
            return self.wallet.owners[owner as usize].slots[0];
        }
        if fresh >= 1.0 {
            self.wallet.new_slot(&self.secp, &mut self.rng, owner)
        } else {
            self.wallet.receive_slot(&self.secp, &mut self.rng, owner, fresh)
        }
    }

    /// A random user or, with probability `service`, a random service, other than `not`; with mainnet-like
    /// shapes, a hot wallet with probability [`Shape::hot_share`].
    pub fn counterparty(&mut self, not: u32, service: f64) -> u32 {
        if let Some(shape) = &self.shape {
            if !self.hot.is_empty() && self.rng.gen_bool(shape.hot_share) {
                let id = self.hot[self.rng.gen_range(0..self.hot.len())];
                if id != not {
                    return id;
                }
            }
        }
        loop {
            let ids = if self.rng.gen_bool(service) { &self.wallet.services } else { &self.wallet.users };
            let id = ids[self.rng.gen_range(0..ids.len())];
            if id != not {
                return id;
            }
        }
    }

    /// Completes a draft: adds a change output when worth it, else leaves the rest to the fee. Gives the coins back
    /// and returns `None` when they do not cover the outputs and fee.
    pub fn finish(&mut self, inputs: Vec<Utxo>, mut outputs: Vec<Out>, change: ChangeTo, rate: u64) -> Option<Draft> {
        let total_in: u64 = inputs.iter().map(|u| u.value).sum();
        let total_out: u64 = outputs.iter().map(|o| o.value).sum();
        let vbytes = 11
            + inputs.iter().map(|u| self.input_vbytes(u)).sum::<u64>()
            + outputs.iter().map(|o| 9 + o.script.len() as u64).sum::<u64>();
        let fee_with_change = rate * (vbytes + CHANGE_VBYTES);
        if total_in >= total_out + fee_with_change + DUST {
            let value = total_in - total_out - fee_with_change;
            let slot = self.slot_of(change.owner, change.fresh);
            let out = self.pay(slot, value, 0.0);
            let at = self.rng.gen_range(0..=outputs.len());
            outputs.insert(at, out);
            let change = Some(u32::try_from(at).expect("fewer than 2^32 outputs"));
            Some(Draft { inputs, outputs, fee: fee_with_change, change, peel: None })
        } else if total_in >= total_out + rate * vbytes && !outputs.is_empty() {
            Some(Draft { inputs, outputs, fee: total_in - total_out, change: None, peel: None })
        } else {
            self.wallet.give_back(inputs);
            None
        }
    }

    /// Takes up to `n` random coins of `owner`.
    fn take_coins(&mut self, owner: u32, n: usize) -> Vec<Utxo> {
        (0..n).map_while(|_| self.wallet.take_random(&mut self.rng, owner)).collect()
    }

    /// An everyday payment: one to three coins, one recipient (often an exchange deposit), change back.
    pub fn payment(&mut self) -> Option<Draft> {
        let ids = if self.rng.gen_bool(0.85) { &self.wallet.users } else { &self.wallet.services };
        let payer = self.wallet.pick_owner(&mut self.rng, ids, 1)?;
        let n = match self.rng.gen_range(0..10) {
            0..7 => 1,
            7..9 => 2,
            _ => 3,
        };
        let inputs = self.take_coins(payer, n);
        let total: u64 = inputs.iter().map(|u| u.value).sum();
        let rate = self.fee_rate();
        let mut amount = (total as f64 * self.rng.gen_range(0.05..0.95)) as u64;
        if amount > 1_000_000 && self.rng.gen_bool(0.4) {
            amount -= amount % 100_000;
        }
        let to = self.counterparty(payer, 0.3);
        let slot = self.slot_of(to, 0.3);
        let mut outputs = vec![self.pay(slot, amount.max(DUST), 0.04)];
        if self.rng.gen_bool(0.02) {
            let mut data = PushBytesBuf::new();
            for _ in 0..self.rng.gen_range(8..=40) {
                data.push(self.rng.gen()).expect("at most 40 bytes");
            }
            outputs.push(Out { value: 0, script: ScriptBuf::new_op_return(data), to: None });
        }
        match self.finish(inputs, outputs, ChangeTo { owner: payer, fresh: 0.4 }, rate) {
            Some(draft) => Some(draft),
            // Too small to split: sweep whatever the coins hold to the recipient.
            None => self.sweep(payer, slot, rate),
        }
    }

    /// Spends one coin of `owner` whole to `slot`.
    fn sweep(&mut self, owner: u32, slot: u32, rate: u64) -> Option<Draft> {
        let coin = self.wallet.take_random(&mut self.rng, owner)?;
        let fee = rate * (11 + self.input_vbytes(&coin) + CHANGE_VBYTES);
        if coin.value < fee + DUST {
            self.wallet.give_back(vec![coin]);
            return None;
        }
        let out = self.pay(slot, coin.value - fee, 0.0);
        Some(Draft { inputs: vec![coin], outputs: vec![out], fee, change: None, peel: None })
    }

    /// A batch payout: an exchange or miner pays 20 to 100 users in one transaction.
    pub fn batch_payout(&mut self) -> Option<Draft> {
        let mut payers = self.wallet.services.clone();
        payers.extend_from_slice(&self.wallet.miners);
        let payer = self.wallet.pick_owner_exhaustive(&mut self.rng, &payers, 1)?;
        let n_in = self.rng.gen_range(1..=4);
        let inputs = self.take_coins(payer, n_in);
        let total: u64 = inputs.iter().map(|u| u.value).sum();
        let rate = self.fee_rate();
        let mut n_out: u64 = self.rng.gen_range(20..=100);
        let fee_guess = rate * (11 + 300 * inputs.len() as u64 + 43 * (n_out + 1));
        let budget = ((total as f64 * self.rng.gen_range(0.2..0.8)) as u64).saturating_sub(fee_guess);
        n_out = n_out.min(budget / (2 * DUST));
        if n_out < 2 {
            self.wallet.give_back(inputs);
            return None;
        }
        let weights: Vec<u64> = (0..n_out).map(|_| self.rng.gen_range(1..=1_000)).collect();
        let weight_sum: u64 = weights.iter().sum();
        let spread = budget - n_out * DUST;
        let mut outputs = Vec::with_capacity(weights.len() + 1);
        for w in weights {
            let to = self.counterparty(payer, 0.0);
            let slot = self.slot_of(to, 0.5);
            outputs.push(self.pay(slot, DUST + spread * w / weight_sum, 0.03));
        }
        self.finish(inputs, outputs, ChangeTo { owner: payer, fresh: 0.2 }, rate)
    }

    /// A consolidation: an exchange (or a busy user) sweeps 20 to 60 coins into one output at a low fee rate.
    pub fn consolidation(&mut self) -> Option<Draft> {
        let owner = match self.wallet.pick_owner_exhaustive(&mut self.rng, &self.wallet.services, 20) {
            Some(owner) => owner,
            None => self.wallet.pick_owner(&mut self.rng, &self.wallet.users, 20)?,
        };
        let n = self.rng.gen_range(20..=60);
        let inputs = self.take_coins(owner, n);
        let rate = self.rng.gen_range(1..=2);
        self.finish(inputs, Vec::new(), ChangeTo { owner, fresh: 0.5 }, rate)
    }

    /// A CoinJoin-like transaction: three to eight users each put in one coin and get back one output of the same
    /// round value at a fresh address, plus their own change.
    pub fn coinjoin(&mut self) -> Option<Draft> {
        let wanted = self.rng.gen_range(3..=8);
        let rate = self.fee_rate();
        let mut seats: Vec<(u32, Utxo, u64)> = Vec::with_capacity(wanted);
        for _ in 0..wanted * 6 {
            if seats.len() == wanted {
                break;
            }
            let Some(owner) = self.wallet.pick_owner(&mut self.rng, &self.wallet.users, 1) else { break };
            if seats.iter().any(|s| s.0 == owner) {
                continue;
            }
            let Some(coin) = self.wallet.take_random(&mut self.rng, owner) else { continue };
            let fee = rate * (self.input_vbytes(&coin) + 2 * CHANGE_VBYTES + 2);
            if coin.value < fee + 20_000 {
                self.wallet.give_back(vec![coin]);
                continue;
            }
            seats.push((owner, coin, fee));
        }
        let least = seats.iter().map(|(_, coin, fee)| coin.value - fee).min().unwrap_or(0);
        if seats.len() < 3 || least < 10_000 {
            self.wallet.give_back(seats.into_iter().map(|s| s.1).collect());
            return None;
        }
        let denomination = round_down(least * 9 / 10);
        let mut inputs = Vec::with_capacity(seats.len());
        let mut outputs = Vec::with_capacity(2 * seats.len());
        for (owner, coin, fee) in seats {
            let slot = self.slot_of(owner, 1.0);
            outputs.push(self.pay(slot, denomination, 0.0));
            let change = coin.value - fee - denomination;
            if change >= DUST {
                let slot = self.slot_of(owner, 0.7);
                outputs.push(self.pay(slot, change, 0.0));
            }
            inputs.push(coin);
        }
        inputs.shuffle(&mut self.rng);
        outputs.shuffle(&mut self.rng);
        let fee = inputs.iter().map(|u| u.value).sum::<u64>() - outputs.iter().map(|o| o.value).sum::<u64>();
        Some(Draft { inputs, outputs, fee, change: None, peel: None })
    }

    /// Starts a peel chain of `hops` hops from the largest coin of a random user, if one is big enough. Returns
    /// whether it did.
    pub fn start_peel(&mut self, hops: u32) -> bool {
        for _ in 0..8 {
            let Some(owner) = self.wallet.pick_owner(&mut self.rng, &self.wallet.users, 1) else { return false };
            if self.peel_from(owner, hops) {
                return true;
            }
        }
        false
    }

    /// Starts a peel chain of `hops` hops from the largest coin of `owner`, if it is big enough. Returns whether it
    /// did. The first hop is in the next block.
    pub fn peel_from(&mut self, owner: u32, hops: u32) -> bool {
        match self.wallet.take_largest(owner, PEEL_MIN) {
            Some(coin) => {
                self.peels.push(PeelChain { owner, coin: Some(coin), hops_left: hops });
                true
            }
            None => false,
        }
    }

    /// The next hop of peel chain `index`: a small payment out (often to an exchange) and the large rest to a
    /// fresh address of the same owner. Ends the chain (coin back to the owner) when it has no hops left.
    pub fn peel_step(&mut self, index: usize) -> Option<Draft> {
        let chain = &mut self.peels[index];
        let coin = chain.coin.take()?;
        let owner = chain.owner;
        if chain.hops_left == 0 {
            self.wallet.credit(coin);
            return None;
        }
        chain.hops_left -= 1;
        let rate = self.fee_rate();
        let amount = ((coin.value as f64 * self.rng.gen_range(0.005..0.05)) as u64).max(DUST);
        let to = self.counterparty(owner, 0.5);
        let slot = self.slot_of(to, 0.3);
        let outputs = vec![self.pay(slot, amount, 0.0)];
        let mut draft = self.finish(vec![coin], outputs, ChangeTo { owner, fresh: 1.0 }, rate)?;
        draft.peel = draft.change.map(|_| index);
        Some(draft)
    }

    /// One random everyday transaction drawn from `mix`.
    pub fn everyday(&mut self, mix: &Mix) -> Option<Draft> {
        let total = mix.payment + mix.batch + mix.consolidation + mix.coinjoin;
        let mut pick = self.rng.gen_range(0..total.max(1));
        if pick < mix.payment {
            return self.payment();
        }
        pick -= mix.payment;
        if pick < mix.batch {
            return self.batch_payout();
        }
        pick -= mix.batch;
        if pick < mix.consolidation {
            return self.consolidation();
        }
        self.coinjoin()
    }
}

/// The largest value of the form {1, 2, 5} x 10^k not above `value` (at least 1).
pub(crate) fn round_down(value: u64) -> u64 {
    let mut unit = 1;
    while unit * 10 <= value {
        unit *= 10;
    }
    [5, 2, 1].into_iter().map(|m| m * unit).find(|&v| v <= value).unwrap_or(unit)
}

/// The block subsidy at `height` on regtest, in satoshi.
pub(crate) fn subsidy(height: u32) -> u64 {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        0
    } else {
        (50 * COIN) >> halvings
    }
}

/// The generator: a world, the scenario plan that steers it, and the blocks built so far.
pub(crate) struct Generator {
    world: World,
    plan: Box<dyn Plan>,
    blocks: Vec<Block>,
    /// Marks coinbases so that branches differ from the chain they fork from: (0, seed) or (1, branch seed).
    segment: (u8, u64),
    tx_count: u64,
    /// Figures of addresses outside the wallet (the genesis output).
    foreign: Vec<(String, AddressStats)>,
    /// Coins held by [`Shape::hold_share`]: (first height that may spend it, sequence number) to coin.
    held: std::collections::BTreeMap<(u32, u64), Utxo>,
    /// Coins held so far, numbering them.
    held_seq: u64,
}

impl Generator {
    /// A generator at the genesis block for `cfg`.
    pub fn new(cfg: &SimConfig) -> Self {
        Generator::with_shape(cfg, None)
    }

    /// A generator at the genesis block for `cfg`, with mainnet-like `shape` when given (without it, the same
    /// generator as [`Generator::new`]).
    pub fn with_shape(cfg: &SimConfig, shape: Option<Shape>) -> Self {
        let genesis = genesis_block(Network::Regtest);
        let mut foreign = Vec::new();
        for out in &genesis.txdata[0].output {
            if let Some(address) = address_of(&out.script_pubkey) {
                let stats = AddressStats { received: out.value.to_sat(), sent: 0, tx_count: 1 };
                foreign.push((address, stats));
            }
        }
        let mut world = World::new(ChaCha20Rng::seed_from_u64(cfg.seed), cfg.txs_per_block);
        world.wallet.placeholder = shape.as_ref().is_some_and(|s| s.placeholder_keys);
        world.shape = shape;
        world.populate();
        world.add_hot_wallets();
        let mut plan = cfg.scenario.plan();
        plan.setup(&mut world);
        Generator {
            world,
            plan,
            blocks: vec![genesis],
            segment: (0, cfg.seed),
            tx_count: 1,
            foreign,
            held: Default::default(),
            held_seq: 0,
        }
    }

    /// Height of the last block built.
    pub fn height(&self) -> u32 {
        self.world.height
    }

    /// The blocks built so far, genesis first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Transactions built so far, coinbases included.
    pub fn tx_count(&self) -> u64 {
        self.tx_count
    }

    /// The number of addresses used so far, and the `n` busiest: (address, transactions touching it), busiest first.
    pub fn busiest(&self, n: usize) -> (u64, Vec<(String, u64)>) {
        let wallet = &self.world.wallet;
        let mut used: Vec<(u64, u32)> = (0..wallet.slots.len() as u32)
            .map(|slot| (wallet.stats[slot as usize].tx_count, slot))
            .filter(|&(count, _)| count > 0)
            .collect();
        let total = used.len() as u64;
        used.sort_unstable_by(|a, b| b.cmp(a));
        let top = used.iter().take(n).map(|&(count, slot)| (wallet.slots[slot as usize].address.clone(), count));
        (total, top.collect())
    }

    /// Coins held by [`Shape::hold_share`] right now.
    pub fn held_coins(&self) -> usize {
        self.held.len()
    }

    /// Hands over the blocks built since the last call, in height order, keeping only the last one (the next
    /// block's parent) unless `all`; after `take_blocks(true)` the generator builds no more blocks. For chains too
    /// large to hold in memory.
    pub fn take_blocks(&mut self, all: bool) -> Vec<Block> {
        let keep = if all { 0 } else { 1.min(self.blocks.len()) };
        let kept = self.blocks.split_off(self.blocks.len() - keep);
        std::mem::replace(&mut self.blocks, kept)
    }

    /// Switches to a branch: later blocks draw from randomness seeded by `seed` and mark their coinbase with it.
    pub fn branch(&mut self, seed: u64) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        rng.set_stream(1);
        self.world.rng = rng;
        self.segment = (1, seed);
    }

    /// Builds the next block.
    pub fn step(&mut self) {
        self.world.height += 1;
        let height = self.world.height;
        self.world.wallet.mature(height);
        if let Some(new_users) = self.world.shape.as_ref().map(|s| s.new_users_per_block) {
            for _ in 0..new_users {
                self.world.add_user();
            }
            while let Some(entry) = self.held.first_entry() {
                if entry.key().0 > height {
                    break;
                }
                self.world.wallet.credit(entry.remove());
            }
        }
        let (drafts, scripted) = self.draft_block();
        let signed = sign_all(&self.world.secp, &self.world.wallet.slots, &drafts);
        let scripted_txids: Vec<Txid> = signed[..scripted].iter().map(|(_, txid)| *txid).collect();
        let fees = drafts.iter().map(|d| d.fee).sum::<u64>();
        let mut txdata = Vec::with_capacity(signed.len() + 1);
        let mut txids = Vec::with_capacity(signed.len() + 1);
        let coinbase = self.coinbase(height, subsidy(height) + fees, signed.iter().map(|(tx, _)| tx));
        txids.push(coinbase.compute_txid());
        txdata.push(coinbase);
        for (draft, (tx, txid)) in drafts.into_iter().zip(signed) {
            self.settle(&draft, txid);
            txdata.push(tx);
            txids.push(txid);
        }
        self.world.peels.retain(|chain| chain.coin.is_some());
        self.plan.confirmed(&scripted_txids);
        self.mine(txdata, txids);
    }

    /// Drafts the block's transactions: the scenario's own (how many is the second value), peel chain hops, then
    /// everyday traffic up to the target.
    fn draft_block(&mut self) -> (Vec<Draft>, usize) {
        let w = &mut self.world;
        let mut drafts = self.plan.scripted(w);
        let scripted = drafts.len();
        for index in 0..w.peels.len() {
            drafts.extend(w.peel_step(index));
        }
        let mix = self.plan.mix(w);
        if w.peels.len() < mix.max_peels && w.rng.gen_bool(mix.peel_start) {
            let hops = w.rng.gen_range(20..=120);
            w.start_peel(hops);
        }
        let mut misses = 0;
        while drafts.len() < w.target as usize && misses < 24 {
            match w.everyday(&mix) {
                Some(draft) => {
                    drafts.push(draft);
                    misses = 0;
                }
                None => misses += 1,
            }
        }
        (drafts, scripted)
    }

    /// Records a signed draft: the figures of every address it touches, and its outputs as coins spendable from
    /// the next block (or as the next coin of its peel chain).
    fn settle(&mut self, draft: &Draft, txid: Txid) {
        let wallet = &mut self.world.wallet;
        let mut touched = Vec::with_capacity(draft.inputs.len() + draft.outputs.len());
        for utxo in &draft.inputs {
            wallet.stats[utxo.slot as usize].sent += utxo.value;
            touched.push(utxo.slot);
        }
        for (vout, out) in draft.outputs.iter().enumerate() {
            let Some((slot, p2pk)) = out.to else { continue };
            wallet.stats[slot as usize].received += out.value;
            touched.push(slot);
            let vout = u32::try_from(vout).expect("fewer than 2^32 outputs");
            let utxo = Utxo { outpoint: OutPoint { txid, vout }, value: out.value, slot, p2pk };
            match draft.peel {
                Some(chain) if draft.change == Some(vout) => self.world.peels[chain].coin = Some(utxo),
                _ => match self.world.shape.as_ref().filter(|s| self.world.rng.gen_bool(s.hold_share)) {
                    Some(shape) => {
                        let max = f64::from(shape.hold_max_blocks.max(11));
                        let wait = (10f64.ln() + self.world.rng.gen::<f64>() * (max.ln() - 10f64.ln())).exp();
                        self.held_seq += 1;
                        self.held.insert((self.world.height.saturating_add(wait as u32), self.held_seq), utxo);
                    }
                    None => wallet.credit(utxo),
                },
            }
        }
        // A transaction that both spends from and pays to an address counts once for it.
        touched.sort_unstable();
        touched.dedup();
        for slot in touched {
            wallet.stats[slot as usize].tx_count += 1;
        }
    }

    /// Puts `txdata` (coinbase first, `txids` alongside) under a header that meets regtest's proof of work.
    fn mine(&mut self, txdata: Vec<Transaction>, txids: Vec<Txid>) {
        let merkle_root = merkle_tree::calculate_root(txids.into_iter().map(|t| t.to_raw_hash()))
            .map(TxMerkleNode::from_raw_hash)
            .expect("a block has a coinbase");
        let prev = &self.blocks.last().expect("the genesis block is always there").header;
        let time = prev.time + self.world.rng.gen_range(60..=1140);
        let mut header = Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root,
            time,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            nonce: 0,
        };
        let target = header.target();
        while header.validate_pow(target).is_err() {
            header.nonce += 1;
        }
        self.tx_count += txdata.len() as u64;
        self.blocks.push(Block { header, txdata });
    }

    /// The coinbase of block `height` paying `reward` to a miner, with a witness commitment when `txs` have
    /// witnesses.
    fn coinbase<'a>(
        &mut self,
        height: u32,
        reward: u64,
        txs: impl Iterator<Item = &'a Transaction> + Clone,
    ) -> Transaction {
        let w = &mut self.world;
        let miner = w.wallet.miners[w.rng.gen_range(0..w.wallet.miners.len())];
        let slot = w.slot_of(miner, 0.2);
        let out = w.pay(slot, reward, 0.3);
        let (_, p2pk) = out.to.expect("a miner slot");
        w.wallet.stats[slot as usize].received += reward;
        w.wallet.stats[slot as usize].tx_count += 1;

        let mut tag = [0u8; 9];
        tag[0] = self.segment.0;
        tag[1..].copy_from_slice(&self.segment.1.to_le_bytes());
        let script_sig = Builder::new().push_int(i64::from(height)).push_slice(tag).into_script();
        let segwit = txs.clone().any(|tx| tx.input.iter().any(|i| !i.witness.is_empty()));
        let mut coinbase = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig,
                sequence: Sequence::MAX,
                witness: if segwit { Witness::from_slice(&[[0u8; 32]]) } else { Witness::new() },
            }],
            output: vec![TxOut { value: Amount::from_sat(reward), script_pubkey: out.script }],
        };
        if segwit {
            // The witness root counts the coinbase as all zeros, so it can be computed before the commitment exists.
            let wtxids = std::iter::once(bitcoin::Wtxid::all_zeros().to_raw_hash())
                .chain(txs.map(|tx| tx.compute_wtxid().to_raw_hash()));
            let root = merkle_tree::calculate_root(wtxids).map(bitcoin::WitnessMerkleNode::from_raw_hash);
            let root = root.expect("at least the coinbase");
            let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
            let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
            script.extend_from_slice(commitment.as_byte_array());
            coinbase.output.push(TxOut { value: Amount::ZERO, script_pubkey: ScriptBuf::from_bytes(script) });
        }
        let txid = coinbase.compute_txid();
        let utxo = Utxo { outpoint: OutPoint { txid, vout: 0 }, value: reward, slot, p2pk };
        w.wallet.immature.push_back((height + COINBASE_MATURITY, utxo));
        coinbase
    }

    /// The blocks and the ground truth of the chain built so far, with the scenario's case when it has one and
    /// played it out.
    pub fn finish(self) -> (Vec<Block>, GroundTruth, Option<Case>) {
        let tip = self.blocks.last().expect("the genesis block is always there");
        let mut truth = GroundTruth {
            tip_height: Height::new(u64::from(self.world.height)),
            tip_hash: tip.block_hash(),
            tx_count: self.tx_count,
            addresses: Default::default(),
        };
        let wallet = &self.world.wallet;
        let used = wallet.slots.iter().zip(&wallet.stats).filter(|(_, stats)| stats.tx_count > 0);
        for (address, stats) in
            used.map(|(slot, stats)| (&slot.address, stats)).chain(self.foreign.iter().map(|(a, s)| (a, s)))
        {
            truth.addresses.insert(address.clone(), stats.to_truth());
        }
        let case = self.plan.case(&self.world);
        (self.blocks, truth, case)
    }
}

/// The regtest address an output script counts for: its own address, or for bare P2PK the P2PKH address of its key.
fn address_of(script: &ScriptBuf) -> Option<String> {
    if let Some(key) = script.p2pk_public_key() {
        return Some(Address::p2pkh(key.pubkey_hash(), Network::Regtest).to_string());
    }
    Address::from_script(script, Network::Regtest).ok().map(|a| a.to_string())
}
