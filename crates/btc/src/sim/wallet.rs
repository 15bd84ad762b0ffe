//! The simulated wallets: owners, their receiving addresses (slots) with keys, and their spendable coins.

use std::collections::VecDeque;

use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak, TweakedKeypair, TweakedPublicKey};
use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_PUSHNUM_1, OP_PUSHNUM_2, OP_PUSHNUM_3};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{All, Secp256k1, SecretKey};
use bitcoin::{
    Address, CompressedPublicKey, KnownHrp, Network, OutPoint, PubkeyHash, PublicKey, ScriptBuf, WPubkeyHash,
};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use super::truth::AddressStats;

/// Blocks a coinbase output waits before it can be spent (Core's `COINBASE_MATURITY`).
pub(crate) const COINBASE_MATURITY: u32 = 100;

/// The script type of a receiving address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Pay to public key hash (m... / n... on regtest); can also receive bare P2PK outputs.
    P2pkh,
    /// Native segwit v0 key hash (bcrt1q...).
    P2wpkh,
    /// Taproot key path (bcrt1p...).
    P2tr,
    /// P2SH-wrapped bare 2-of-3 multisig (2... on regtest).
    P2shMultisig,
}

/// What an owner does on the chain; decides which transaction shapes it takes part in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Receives coinbase outputs and pays them out in batches.
    Miner,
    /// An exchange or payment service: takes deposits, consolidates them, pays out in batches.
    Service,
    /// Everyone else: pays, receives, peels, joins CoinJoins.
    User,
    /// An actor of a scenario: only the scenario's plan moves its coins, and everyday traffic never pays it.
    Scripted,
}

/// The secret material that spends a slot's coins.
pub(crate) enum Signer {
    /// One key, for P2PKH (and P2PK) or P2WPKH.
    Single { secret: SecretKey, public: CompressedPublicKey },
    /// The BIP341-tweaked key pair of a key-path-only taproot output.
    Taproot { tweaked: TweakedKeypair },
    /// Three keys and the 2-of-3 redeem script that commits to them.
    Multisig { secrets: [SecretKey; 3], redeem: ScriptBuf },
    /// No secret: a random 33-byte key-shaped string (and for multisig the redeem script over three of them), for
    /// chains whose spends carry placeholder signatures of the real sizes ([`Wallet::placeholder`]).
    Placeholder { key: [u8; 33], redeem: Option<ScriptBuf> },
}

/// One receiving address of one owner.
pub(crate) struct Slot {
    pub kind: Kind,
    pub owner: u32,
    pub signer: Signer,
    pub script_pubkey: ScriptBuf,
    pub address: String,
}

impl Slot {
    /// The bare `<pubkey> OP_CHECKSIG` script of a P2PKH slot's key.
    pub fn p2pk_script(&self) -> Option<ScriptBuf> {
        match (&self.signer, self.kind) {
            (Signer::Single { public, .. }, Kind::P2pkh) => Some(ScriptBuf::new_p2pk(&PublicKey::from(*public))),
            _ => None,
        }
    }
}

/// A spendable coin.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Utxo {
    pub outpoint: OutPoint,
    pub value: u64,
    pub slot: u32,
    /// Paid to the slot key's bare P2PK script instead of its P2PKH script.
    pub p2pk: bool,
}

/// A participant with its addresses and mature coins.
pub(crate) struct Owner {
    pub kind: Kind,
    pub slots: Vec<u32>,
    pub utxos: Vec<Utxo>,
}

/// Most receiving addresses one owner creates; beyond this it reuses old ones.
const MAX_SLOTS_PER_OWNER: usize = 48;

/// A slot of `kind` with [`Signer::Placeholder`] keys drawn from `rng`: its script, and its address.
fn placeholder_slot(rng: &mut ChaCha20Rng, kind: Kind) -> (Signer, ScriptBuf, Address) {
    let mut key = [0u8; 33];
    key[0] = 2 + (rng.gen::<u8>() & 1);
    rng.fill(&mut key[1..]);
    let mut redeem = None;
    let script_pubkey = match kind {
        Kind::P2pkh => ScriptBuf::new_p2pkh(&PubkeyHash::hash(&key)),
        Kind::P2wpkh => ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(&key)),
        Kind::P2tr => {
            let program: [u8; 32] = key[1..].try_into().expect("32 bytes after the prefix");
            Builder::new().push_opcode(OP_PUSHNUM_1).push_slice(program).into_script()
        }
        Kind::P2shMultisig => {
            let mut builder = Builder::new().push_opcode(OP_PUSHNUM_2);
            for i in 0..3u8 {
                let mut member = key;
                member[32] ^= i;
                builder = builder.push_slice(member);
            }
            let script = builder.push_opcode(OP_PUSHNUM_3).push_opcode(OP_CHECKMULTISIG).into_script();
            let p2sh = ScriptBuf::new_p2sh(&script.script_hash());
            redeem = Some(script);
            p2sh
        }
    };
    let address = Address::from_script(&script_pubkey, Network::Regtest).expect("a standard output script");
    (Signer::Placeholder { key, redeem }, script_pubkey, address)
}

/// Every owner, slot and coin of the simulation, plus per-address figures for the ground truth.
pub(crate) struct Wallet {
    pub slots: Vec<Slot>,
    pub owners: Vec<Owner>,
    /// Per slot: received, sent and transaction count so far.
    pub stats: Vec<AddressStats>,
    /// Coinbase coins waiting for maturity: (first height that may spend it, coin).
    pub immature: VecDeque<(u32, Utxo)>,
    /// Ids of the miners, in creation order.
    pub miners: Vec<u32>,
    /// Ids of the services (exchanges), in creation order.
    pub services: Vec<u32>,
    /// Ids of the users, in creation order.
    pub users: Vec<u32>,
    /// Mature coins held by owners (peel chain coins are held by their chain, not counted here).
    pub spendable: usize,
    /// New addresses get [`Signer::Placeholder`] keys (random bytes, no elliptic-curve work): the chain's scripts
    /// and addresses are well formed but its signatures do not verify. For scale benchmarks.
    pub placeholder: bool,
}

impl Wallet {
    /// An empty wallet.
    pub fn new() -> Self {
        Wallet {
            slots: Vec::new(),
            owners: Vec::new(),
            stats: Vec::new(),
            immature: VecDeque::new(),
            miners: Vec::new(),
            services: Vec::new(),
            users: Vec::new(),
            spendable: 0,
            placeholder: false,
        }
    }

    /// Adds an owner with its first address and returns its id.
    pub fn add_owner(&mut self, secp: &Secp256k1<All>, rng: &mut ChaCha20Rng, kind: Kind, role: Role) -> u32 {
        let id = u32::try_from(self.owners.len()).expect("fewer than 2^32 owners");
        self.owners.push(Owner { kind, slots: Vec::new(), utxos: Vec::new() });
        match role {
            Role::Miner => self.miners.push(id),
            Role::Service => self.services.push(id),
            Role::User => self.users.push(id),
            Role::Scripted => {}
        }
        self.new_slot(secp, rng, id);
        id
    }

    /// Creates a fresh address (new keys) for `owner` and returns its slot id.
    pub fn new_slot(&mut self, secp: &Secp256k1<All>, rng: &mut ChaCha20Rng, owner: u32) -> u32 {
        let kind = self.owners[owner as usize].kind;
        let (signer, script_pubkey, address) = if self.placeholder {
            placeholder_slot(rng, kind)
        } else {
            match kind {
                Kind::P2pkh | Kind::P2wpkh => {
                    let secret = SecretKey::new(rng);
                    let public = CompressedPublicKey(secret.public_key(secp));
                    let address = if kind == Kind::P2pkh {
                        Address::p2pkh(public, Network::Regtest)
                    } else {
                        Address::p2wpkh(&public, KnownHrp::Regtest)
                    };
                    (Signer::Single { secret, public }, address.script_pubkey(), address)
                }
                Kind::P2tr => {
                    let keypair = Keypair::new(secp, rng);
                    let tweaked = keypair.tap_tweak(secp, None);
                    let address = Address::p2tr_tweaked(TweakedPublicKey::from(tweaked), KnownHrp::Regtest);
                    (Signer::Taproot { tweaked }, address.script_pubkey(), address)
                }
                Kind::P2shMultisig => {
                    let secrets = [SecretKey::new(rng), SecretKey::new(rng), SecretKey::new(rng)];
                    let mut builder = Builder::new().push_opcode(OP_PUSHNUM_2);
                    for secret in &secrets {
                        builder = builder.push_key(&PublicKey::new(secret.public_key(secp)));
                    }
                    let redeem = builder.push_opcode(OP_PUSHNUM_3).push_opcode(OP_CHECKMULTISIG).into_script();
                    let address = Address::p2sh(&redeem, Network::Regtest).expect("a 105-byte redeem script fits P2SH");
                    (Signer::Multisig { secrets, redeem }, address.script_pubkey(), address)
                }
            }
        };
        let id = u32::try_from(self.slots.len()).expect("fewer than 2^32 addresses");
        self.slots.push(Slot { kind, owner, signer, script_pubkey, address: address.to_string() });
        self.stats.push(AddressStats::default());
        self.owners[owner as usize].slots.push(id);
        id
    }

    /// A receiving address of `owner`: a fresh one with probability `fresh`, else one it used before.
    pub fn receive_slot(&mut self, secp: &Secp256k1<All>, rng: &mut ChaCha20Rng, owner: u32, fresh: f64) -> u32 {
        let slots = &self.owners[owner as usize].slots;
        if slots.len() < MAX_SLOTS_PER_OWNER && rng.gen_bool(fresh) {
            self.new_slot(secp, rng, owner)
        } else {
            slots[rng.gen_range(0..slots.len())]
        }
    }

    /// Gives a mature coin to the owner of its slot.
    pub fn credit(&mut self, utxo: Utxo) {
        let owner = self.slots[utxo.slot as usize].owner;
        self.owners[owner as usize].utxos.push(utxo);
        self.spendable += 1;
    }

    /// Moves coinbase coins that `height` may spend into their owners' pools.
    pub fn mature(&mut self, height: u32) {
        while let Some(&(from, utxo)) = self.immature.front() {
            if from > height {
                break;
            }
            self.immature.pop_front();
            self.credit(utxo);
        }
    }

    /// Takes a random coin of `owner`, if it has one.
    pub fn take_random(&mut self, rng: &mut ChaCha20Rng, owner: u32) -> Option<Utxo> {
        let utxos = &mut self.owners[owner as usize].utxos;
        if utxos.is_empty() {
            return None;
        }
        let utxo = utxos.swap_remove(rng.gen_range(0..utxos.len()));
        self.spendable -= 1;
        Some(utxo)
    }

    /// Takes the coin of `owner` at `outpoint`, if the owner holds it.
    pub fn take_outpoint(&mut self, owner: u32, outpoint: OutPoint) -> Option<Utxo> {
        let utxos = &mut self.owners[owner as usize].utxos;
        let index = utxos.iter().position(|u| u.outpoint == outpoint)?;
        self.spendable -= 1;
        Some(utxos.swap_remove(index))
    }

    /// Takes the largest coin of `owner` if it is worth at least `min`.
    pub fn take_largest(&mut self, owner: u32, min: u64) -> Option<Utxo> {
        let utxos = &mut self.owners[owner as usize].utxos;
        let (index, value) = utxos.iter().enumerate().map(|(i, u)| (i, u.value)).max_by_key(|&(_, v)| v)?;
        if value < min {
            return None;
        }
        self.spendable -= 1;
        Some(utxos.swap_remove(index))
    }

    /// Returns coins taken for a transaction that was not built.
    pub fn give_back(&mut self, utxos: Vec<Utxo>) {
        for utxo in utxos {
            self.credit(utxo);
        }
    }

    /// A random owner from `ids` holding at least `min_coins` coins, trying a few times.
    pub fn pick_owner(&self, rng: &mut ChaCha20Rng, ids: &[u32], min_coins: usize) -> Option<u32> {
        if ids.is_empty() {
            return None;
        }
        (0..24).map(|_| ids[rng.gen_range(0..ids.len())]).find(|&id| self.owners[id as usize].utxos.len() >= min_coins)
    }

    /// A random owner from `ids` holding at least `min_coins` coins, searching them all (for short lists).
    pub fn pick_owner_exhaustive(&self, rng: &mut ChaCha20Rng, ids: &[u32], min_coins: usize) -> Option<u32> {
        let eligible: Vec<u32> =
            ids.iter().copied().filter(|&id| self.owners[id as usize].utxos.len() >= min_coins).collect();
        if eligible.is_empty() {
            None
        } else {
            Some(eligible[rng.gen_range(0..eligible.len())])
        }
    }
}
