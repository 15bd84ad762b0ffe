//! Random small chains, seeds, labels and parameters for the property tests.
//! Proptest draws raw numbers; they are read against the chain built so far
//! (an input is the n-th unspent coin modulo how many there are, an amount a
//! share of the payer's balance), so every shrunk case is still a valid
//! chain.

use std::fmt;

use chainsleuth_core::{AddressId, Height, OutPoint, Transfer, TransferKind, TransferPos, TxNum, U256};
use chainsleuth_trace::{Direction, Model, Params, UtxoSeed};
use proptest::prelude::*;

use super::{MemAccount, MemUtxo, Tag, TxSpec};

/// A UTXO chain with what to trace on it.
#[derive(Clone)]
pub struct UtxoCase {
    /// The chain.
    pub graph: MemUtxo,
    /// Seed addresses and coins.
    pub seeds: Vec<UtxoSeed>,
    /// Labelled addresses.
    pub tags: Vec<(u64, Tag)>,
    /// Hops, dust, window, mixers (every model).
    pub params: Params,
}

/// An account chain with what to trace on it.
#[derive(Clone)]
pub struct AccountCase {
    /// The chain.
    pub graph: MemAccount,
    /// Seed addresses.
    pub seeds: Vec<AddressId>,
    /// Labelled addresses.
    pub tags: Vec<(u64, Tag)>,
    /// Hops, dust, window, mixers (every model).
    pub params: Params,
}

impl fmt::Debug for UtxoCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}seeds {:?}\ntags {:?}\n{}", self.graph, self.seeds, self.tags, show(&self.params))
    }
}

impl fmt::Debug for AccountCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}seeds {:?}\ntags {:?}\n{}", self.graph, self.seeds, self.tags, show(&self.params))
    }
}

/// The parameters that vary, on one line.
fn show(p: &Params) -> String {
    format!(
        "max_hops {} min_amount {} blocks {}..={} through_mixers {}",
        p.max_hops, p.min_amount, p.from_block, p.to_block, p.through_mixers
    )
}

/// The raw draws of one UTXO transaction.
#[derive(Debug, Clone)]
struct RawTx {
    coinbase: bool,
    /// Blocks between it and the previous transaction.
    bump: u64,
    /// Which unspent coins it spends.
    picks: Vec<u16>,
    /// Each output's address (one past the last address is OP_RETURN) and
    /// its weight in the split of the value.
    outputs: Vec<(u8, u16)>,
    fee: u64,
}

/// The raw draws of one transfer.
#[derive(Debug, Clone)]
struct RawTransfer {
    bump: u64,
    same_tx: bool,
    kind: u8,
    from: u8,
    to: u8,
    mode: u8,
    weight: u16,
}

/// The raw draws of the parameters and labels.
#[derive(Debug, Clone)]
struct RawParams {
    tags: Vec<(u8, u8)>,
    max_hops: u32,
    min_amount: u64,
    whole_chain: bool,
    window: (u16, u16),
    through_mixers: bool,
}

fn bump() -> impl Strategy<Value = u64> {
    prop_oneof![14 => Just(0u64), 5 => Just(1u64), 1 => Just(2u64)]
}

fn raw_tx() -> impl Strategy<Value = RawTx> {
    (
        prop::bool::weighted(0.2),
        bump(),
        prop::collection::vec(any::<u16>(), 1..=4),
        prop::collection::vec((any::<u8>(), 1..=100u16), 1..=4),
        prop_oneof![3 => Just(0u64), 7 => 1..=20u64],
    )
        .prop_map(|(coinbase, bump, picks, outputs, fee)| RawTx { coinbase, bump, picks, outputs, fee })
}

fn raw_transfer() -> impl Strategy<Value = RawTransfer> {
    (bump(), prop::bool::weighted(0.4), 0..100u8, any::<u8>(), any::<u8>(), 0..10u8, any::<u16>()).prop_map(
        |(bump, same_tx, kind, from, to, mode, weight)| RawTransfer { bump, same_tx, kind, from, to, mode, weight },
    )
}

fn raw_params() -> impl Strategy<Value = RawParams> {
    (
        prop::collection::vec((any::<u8>(), 0..10u8), 0..=3),
        1..=6u32,
        prop_oneof![3 => Just(0u64), 1 => 1..=10u64],
        prop::bool::weighted(0.4),
        (any::<u16>(), any::<u16>()),
        any::<bool>(),
    )
        .prop_map(|(tags, max_hops, min_amount, whole_chain, window, through_mixers)| RawParams {
            tags,
            max_hops,
            min_amount,
            whole_chain,
            window,
            through_mixers,
        })
}

impl RawParams {
    fn tags(&self, addresses: u64) -> Vec<(u64, Tag)> {
        let tag = |k: u8| match k {
            0..=4 => Tag::OffRamp,
            5..=8 => Tag::Mixer,
            _ => Tag::Both,
        };
        self.tags.iter().map(|&(a, k)| (u64::from(a) % addresses, tag(k))).collect()
    }

    fn params(&self, tip: Height) -> Params {
        let (from, to) = if self.whole_chain {
            (0, tip.get())
        } else {
            let a = u64::from(self.window.0) % (tip.get() + 1);
            let b = u64::from(self.window.1) % (tip.get() + 1);
            (a.min(b), a.max(b))
        };
        Params {
            direction: Direction::Forward,
            models: Model::ALL.to_vec(),
            max_hops: self.max_hops,
            min_amount: U256::from(self.min_amount),
            from_block: Height::new(from),
            to_block: Height::new(to),
            through_mixers: self.through_mixers,
            ..Params::new(tip)
        }
    }
}

/// UTXO chains of 5 to 40 transactions over a few blocks, 10 to 20 reused
/// addresses, 1 to 3 seeds (addresses or coins).
pub fn utxo_case() -> impl Strategy<Value = UtxoCase> {
    (
        10..=20u64,
        prop::collection::vec(raw_tx(), 5..=40),
        0..=1u64,
        prop::collection::vec((any::<bool>(), any::<u16>()), 1..=3),
        raw_params(),
    )
        .prop_map(|(addresses, txs, extra_blocks, seeds, params)| {
            build_utxo(addresses, &txs, extra_blocks, &seeds, &params)
        })
}

fn build_utxo(addresses: u64, txs: &[RawTx], extra_blocks: u64, seeds: &[(bool, u16)], raw: &RawParams) -> UtxoCase {
    let address = |a: u8| Some(u64::from(a) % (addresses + 1)).filter(|a| *a < addresses);
    let mut specs: Vec<TxSpec> = Vec::new();
    let mut unspent: Vec<(OutPoint, u64)> = Vec::new();
    let mut height = 0;
    for (n, tx) in txs.iter().enumerate() {
        height += tx.bump;
        let mut inputs = Vec::new();
        let mut value = 0;
        if !tx.coinbase {
            for pick in &tx.picks {
                if unspent.is_empty() {
                    break;
                }
                let (outpoint, v) = unspent.remove(usize::from(*pick) % unspent.len());
                inputs.push(outpoint);
                value += v;
            }
        }
        let outputs: Vec<(Option<u64>, u64)> = if inputs.is_empty() {
            tx.outputs.iter().map(|&(a, v)| (address(a), u64::from(v))).collect()
        } else {
            // Every output gets at least 1; the rest after the fee is split
            // by weight, the last output taking what rounding leaves.
            let rest = value - tx.fee.min(value - 1);
            let outputs = &tx.outputs[..tx.outputs.len().min(rest as usize)];
            let spare = rest - outputs.len() as u64;
            let weights: u64 = outputs.iter().map(|&(_, w)| u64::from(w)).sum();
            let mut given = 0;
            outputs
                .iter()
                .enumerate()
                .map(|(i, &(a, w))| {
                    let extra = if i + 1 == outputs.len() { spare - given } else { spare * u64::from(w) / weights };
                    given += extra;
                    (address(a), 1 + extra)
                })
                .collect()
        };
        for (vout, &(a, v)) in outputs.iter().enumerate() {
            if a.is_some() {
                unspent.push((OutPoint { tx: TxNum(n as u64), vout: vout as u32 }, v));
            }
        }
        specs.push(TxSpec { height, inputs, outputs });
    }
    let graph = MemUtxo::new(height + extra_blocks, &specs);
    let params = raw.params(graph.tip_height());
    let coins: Vec<OutPoint> = graph.coins().map(|c| c.outpoint).collect();
    let seeds = seeds
        .iter()
        .map(|&(by_address, n)| {
            if by_address {
                UtxoSeed::Address(AddressId(u64::from(n) % addresses))
            } else {
                UtxoSeed::Coin(coins[usize::from(n) % coins.len()])
            }
        })
        .collect();
    UtxoCase { graph, seeds, tags: raw.tags(addresses), params }
}

/// Account chains of 8 to 12 addresses, each credited at block 0, then 20
/// to 80 transfers (moves, fees, credits, burns) over several blocks, a few
/// per transaction, some paying more than the payer holds; 1 to 3 seeds.
pub fn account_case() -> impl Strategy<Value = AccountCase> {
    (
        8..=12u64,
        prop::collection::vec(0..=100u64, 12),
        prop::collection::vec(raw_transfer(), 20..=80),
        0..=1u64,
        prop::collection::vec(any::<u8>(), 1..=3),
        raw_params(),
    )
        .prop_map(|(addresses, initial, transfers, extra_blocks, seeds, params)| {
            build_account(addresses, &initial, &transfers, extra_blocks, &seeds, &params)
        })
}

fn build_account(
    addresses: u64,
    initial: &[u64],
    raw: &[RawTransfer],
    extra_blocks: u64,
    seeds: &[u8],
    params: &RawParams,
) -> AccountCase {
    let mut balances = vec![0u64; addresses as usize];
    let mut transfers = Vec::new();
    let mut push = |pos: TransferPos, kind, from: Option<u64>, to: Option<u64>, amount: u64| {
        transfers.push(Transfer {
            pos,
            kind,
            from: from.map(AddressId),
            to: to.map(AddressId),
            amount: U256::from(amount),
        });
    };
    let mut pos = TransferPos::block_start(Height::GENESIS);
    for (i, &amount) in initial.iter().take(addresses as usize).enumerate() {
        pos.ordinal = i as u32;
        balances[i] = amount;
        push(pos, TransferKind::Credit, None, Some(i as u64), amount);
    }
    for t in raw {
        if t.bump > 0 {
            pos = TransferPos::block_start(Height::new(pos.height.get() + t.bump));
        } else if t.same_tx {
            pos.ordinal += 1;
        } else {
            pos = TransferPos { height: pos.height, tx_pos: pos.tx_pos + 1, ordinal: 0 };
        }
        let from = u64::from(t.from) % addresses;
        let held = balances[from as usize];
        let share = match t.mode {
            0..=5 => held * u64::from(t.weight % 1001) / 1000,
            6 => held,
            7 | 8 => held + 1 + u64::from(t.weight % 50),
            _ => 0,
        };
        let (kind, from, to, amount) = match t.kind {
            0..=69 => {
                let to = u64::from(t.to) % (addresses + 1);
                (TransferKind::Move, Some(from), Some(to).filter(|to| *to < addresses), share)
            }
            70..=81 => {
                let miner = Some(u64::from(t.to) % addresses).filter(|_| t.to % 4 == 0);
                (TransferKind::Fee, Some(from), miner, 1 + u64::from(t.weight % 5))
            }
            82..=91 => (TransferKind::Credit, None, Some(u64::from(t.to) % addresses), 1 + u64::from(t.weight % 100)),
            _ => (TransferKind::Debit, Some(from), None, share),
        };
        if from != to {
            if let Some(from) = from {
                balances[from as usize] = balances[from as usize].saturating_sub(amount);
            }
            if let Some(to) = to {
                balances[to as usize] += amount;
            }
        }
        push(pos, kind, from, to, amount);
    }
    let graph = MemAccount::new(pos.height.get() + extra_blocks, transfers);
    let seeds = seeds.iter().map(|&s| AddressId(u64::from(s) % addresses)).collect();
    let params_for_tip = params.params(graph.tip_height());
    AccountCase { graph, seeds, tags: params.tags(addresses), params: params_for_tip }
}
