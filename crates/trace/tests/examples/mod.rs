//! Hand-worked examples: small chains whose every model's result was worked
//! out by hand (in the comments), checked against both the tracer and the
//! reference.

mod account_back;
mod mixers;

use chainsleuth_core::{AddressId, AssetId, Height, OutPoint, Transfer, TransferKind, TransferPos, TxNum, U256};
use chainsleuth_trace::{trace_account, trace_utxo, EndKind, Flows, Model, Params, Totals, UtxoSeed};

use crate::reference::{self, Outcome};
use crate::support::{labels, map_labels, MemAccount, MemUtxo, Tag, TxSpec};

use EndKind::{Dust, Held, Horizon, Mixer, Reached};

/// What one model must find: totals as (seeded, reached, held, fees, dust,
/// horizon, mixers) and every end as (kind, address, amount, hops).
struct Want {
    model: Model,
    totals: [u64; 7],
    ends: Vec<(EndKind, u64, u64, u32)>,
}

fn want(model: Model, totals: [u64; 7], ends: &[(EndKind, u64, u64, u32)]) -> Want {
    Want { model, totals, ends: ends.to_vec() }
}

fn check(got: &[Flows], reference: impl Fn(Model) -> Outcome, wants: &[Want]) {
    assert_eq!(got.len(), wants.len());
    for (flows, want) in got.iter().zip(wants) {
        let [seeded, reached, held, fees, dust, horizon, mixers] = want.totals.map(U256::from);
        let totals = Totals { seeded, reached, held, fees, dust, horizon, mixers, ..Totals::default() };
        let mut ends: Vec<_> =
            want.ends.iter().map(|&(k, a, n, h)| (k, Some(AddressId(a)), U256::from(n), h)).collect();
        ends.sort();
        assert_eq!(flows.model, want.model);
        assert_eq!(flows.totals, totals, "{:?}: tracer totals", want.model);
        assert_eq!(reference::sorted_ends(flows), ends, "{:?}: tracer ends", want.model);
        let outcome = reference(want.model);
        assert_eq!(outcome.totals(), totals, "{:?}: reference totals", want.model);
        assert_eq!(outcome.sorted_ends(), ends, "{:?}: reference ends", want.model);
        assert_eq!(reference::sorted_passed(flows), outcome.sorted_passed(), "{:?}: mixers passed", want.model);
    }
}

fn tx(height: u64, inputs: &[(u64, u32)], outputs: &[(u64, u64)]) -> TxSpec {
    TxSpec {
        height,
        inputs: inputs.iter().map(|&(tx, vout)| OutPoint { tx: TxNum(tx), vout }).collect(),
        outputs: outputs.iter().map(|&(a, v)| (Some(a), v)).collect(),
    }
}

fn params(tip: u64, from: u64, max_hops: u32, min_amount: u64, through_mixers: bool) -> Params {
    Params {
        max_hops,
        min_amount: U256::from(min_amount),
        from_block: Height::new(from),
        through_mixers,
        ..Params::new(Height::new(tip))
    }
}

/// Checks the tracer and the reference against `wants`; returns the
/// tracer's flows.
fn run_utxo(graph: &MemUtxo, tags: &[(u64, Tag)], seeds: &[UtxoSeed], params: &Params, wants: &[Want]) -> Vec<Flows> {
    let labels = labels(tags);
    let got = trace_utxo(graph, &mut map_labels(&labels), seeds, params).expect("in memory");
    check(&got, |model| reference::utxo::trace(graph, &labels, seeds, params, model), wants);
    got
}

/// Checks the tracer and the reference against `wants`; returns the
/// tracer's flows.
fn run_account(graph: &MemAccount, tags: &[(u64, Tag)], seeds: &[u64], params: &Params, wants: &[Want]) -> Vec<Flows> {
    let labels = labels(tags);
    let seeds: Vec<AddressId> = seeds.iter().copied().map(AddressId).collect();
    let got = trace_account(graph, &mut map_labels(&labels), AssetId::NATIVE, &seeds, params).expect("in memory");
    check(&got, |model| reference::account::trace(graph, &labels, &seeds, params, model), wants);
    got
}

/// A tainted 5 (a1) and a clean 3 (a2) consolidated into 6 (a3) and 1 (a4),
/// fee 1. Poison: 6 and 1, fee 1. Haircut: floor(6*5/8) = 3, floor(1*5/8) =
/// 0, fee 5 - 3 = 2. FIFO: [T5 C3] pours [T5 C1] and [C1], the fee keeps C1.
/// LIFO: [C3 T5] pours [C3 T3] and [T1], the fee keeps T1.
#[test]
fn utxo_consolidation_under_each_model() {
    let graph = MemUtxo::new(1, &[tx(0, &[], &[(1, 5), (2, 3)]), tx(1, &[(0, 0), (0, 1)], &[(3, 6), (4, 1)])]);
    let seeds = [UtxoSeed::Coin(OutPoint { tx: TxNum(0), vout: 0 })];
    let wants = [
        want(Model::Poison, [5, 0, 7, 1, 0, 0, 0], &[(Held, 3, 6, 1), (Held, 4, 1, 1)]),
        want(Model::Haircut, [5, 0, 3, 2, 0, 0, 0], &[(Held, 3, 3, 1)]),
        want(Model::Fifo, [5, 0, 5, 0, 0, 0, 0], &[(Held, 3, 5, 1)]),
        want(Model::Lifo, [5, 0, 4, 1, 0, 0, 0], &[(Held, 3, 3, 1), (Held, 4, 1, 1)]),
    ];
    run_utxo(&graph, &[], &seeds, &params(1, 0, 10, 0, false), &wants);
}

/// A seed's 10 split four ways at hop 1: 4 to an address that is both an
/// off-ramp and a mixer (reached: off-ramps win), 3 to a mixer, 1 below the
/// dust limit of 2, 2 to a4, which passes them on at hop 2, beyond a horizon
/// of 1. All of it is taint, so every model agrees.
#[test]
fn utxo_stops_in_order() {
    let graph = MemUtxo::new(
        2,
        &[tx(0, &[], &[(1, 10)]), tx(1, &[(0, 0)], &[(2, 4), (3, 3), (4, 2), (5, 1)]), tx(2, &[(1, 2)], &[(6, 2)])],
    );
    let tags = [(2, Tag::Both), (3, Tag::Mixer)];
    let seeds = [UtxoSeed::Address(AddressId(1))];
    let stopped = [(Reached, 2, 4, 1), (Mixer, 3, 3, 1), (Dust, 5, 1, 1), (Horizon, 6, 2, 2)];
    let wants = Model::ALL.map(|m| want(m, [10, 4, 0, 0, 1, 2, 3], &stopped));
    run_utxo(&graph, &tags, &seeds, &params(2, 0, 1, 2, false), &wants);

    // Followed through the mixer, its coin is held there (never spent).
    let through = [(Reached, 2, 4, 1), (Held, 3, 3, 1), (Dust, 5, 1, 1), (Horizon, 6, 2, 2)];
    let wants = Model::ALL.map(|m| want(m, [10, 4, 3, 0, 1, 2, 0], &through));
    run_utxo(&graph, &tags, &seeds, &params(2, 0, 1, 2, true), &wants);
}

/// An address seed whose own coin comes back to it: a1's 4 pays 3 back to
/// a1 and 1 to a2. Both of a1's coins are seeds (7 seeded), and the 3 that
/// flowed into a seed coin is not seeded twice: 4 seeded, 3 held at a1 at
/// hop 0, 1 held at a2 at hop 1.
#[test]
fn utxo_change_back_to_a_seed_address() {
    let graph = MemUtxo::new(1, &[tx(0, &[], &[(1, 4)]), tx(1, &[(0, 0)], &[(1, 3), (2, 1)])]);
    let seeds = [UtxoSeed::Address(AddressId(1))];
    let wants = Model::ALL.map(|m| want(m, [4, 0, 4, 0, 0, 0, 0], &[(Held, 1, 3, 0), (Held, 2, 1, 1)]));
    run_utxo(&graph, &[], &seeds, &params(1, 0, 10, 0, false), &wants);
}

fn transfer(height: u64, tx_pos: u32, kind: TransferKind, from: Option<u64>, to: Option<u64>, amount: u64) -> Transfer {
    Transfer {
        pos: TransferPos { height: Height::new(height), tx_pos, ordinal: 0 },
        kind,
        from: from.map(AddressId),
        to: to.map(AddressId),
        amount: U256::from(amount),
    }
}

fn credit(height: u64, tx_pos: u32, to: u64, amount: u64) -> Transfer {
    transfer(height, tx_pos, TransferKind::Credit, None, Some(to), amount)
}

fn pay(height: u64, tx_pos: u32, from: u64, to: u64, amount: u64) -> Transfer {
    transfer(height, tx_pos, TransferKind::Move, Some(from), Some(to), amount)
}

/// e0 (seed, 10 at the window's start) pays e1 (clean 6) 4; e1, now
/// [C6 T4], pays e2 5, then a fee of 3.
/// Poison: e1 and e2 flagged; fee 3; held e0 6, e1 2, e2 5.
/// Haircut: e1 t = 4 of 10 pays floor(5*4/10) = 2, then floor(3*2/5) = 1 as
/// fee; held e0 6, e1 1, e2 2.
/// FIFO: e1 pays C5 to e2, then [C1 T2] as fee; held e0 6, e1 2.
/// LIFO: e1 pays [T4 C1] to e2, then C3 as fee; held e0 6, e2 4.
#[test]
fn account_haircut_fifo_lifo_by_hand() {
    let graph = MemAccount::new(
        2,
        vec![
            credit(0, 0, 0, 10),
            credit(0, 1, 1, 6),
            pay(1, 0, 0, 1, 4),
            pay(2, 0, 1, 2, 5),
            transfer(2, 1, TransferKind::Fee, Some(1), None, 3),
        ],
    );
    let wants = [
        want(Model::Poison, [10, 0, 13, 3, 0, 0, 0], &[(Held, 0, 6, 0), (Held, 1, 2, 1), (Held, 2, 5, 2)]),
        want(Model::Haircut, [10, 0, 9, 1, 0, 0, 0], &[(Held, 0, 6, 0), (Held, 1, 1, 1), (Held, 2, 2, 2)]),
        want(Model::Fifo, [10, 0, 8, 2, 0, 0, 0], &[(Held, 0, 6, 0), (Held, 1, 2, 1)]),
        want(Model::Lifo, [10, 0, 10, 0, 0, 0, 0], &[(Held, 0, 6, 0), (Held, 2, 4, 2)]),
    ];
    run_account(&graph, &[], &[0], &params(2, 1, 10, 0, false), &wants);

    // With one hop allowed, what e1 passes on ends at the horizon at e2.
    let wants = [
        want(Model::Poison, [10, 0, 8, 3, 0, 5, 0], &[(Held, 0, 6, 0), (Held, 1, 2, 1), (Horizon, 2, 5, 2)]),
        want(Model::Haircut, [10, 0, 7, 1, 0, 2, 0], &[(Held, 0, 6, 0), (Held, 1, 1, 1), (Horizon, 2, 2, 2)]),
        want(Model::Fifo, [10, 0, 8, 2, 0, 0, 0], &[(Held, 0, 6, 0), (Held, 1, 2, 1)]),
        want(Model::Lifo, [10, 0, 6, 0, 0, 4, 0], &[(Held, 0, 6, 0), (Horizon, 2, 4, 2)]),
    ];
    run_account(&graph, &[], &[0], &params(2, 1, 1, 0, false), &wants);
}

/// Receipts at a seed are taint in full; what was taint already is not
/// seeded again. From block 0 the seed e0 starts empty and is credited 10;
/// it pays 3 to an off-ramp (reached) and 1 below the dust limit of 2; clean
/// e1 (5) pays it 2; it pays e1 4 (e1: [C3 T4]), and e1 pays all 7 back,
/// which carries 4 under haircut, FIFO and LIFO (7 under poison).
/// Seeded 10 + 2 + (7 - 4) = 15 (poison 10 + 2 + 0 = 12); e0 holds 11.
#[test]
fn account_seed_absorbs_receipts() {
    let graph = MemAccount::new(
        0,
        vec![
            credit(0, 0, 0, 10),
            credit(0, 1, 1, 5),
            pay(0, 2, 0, 5, 3),
            pay(0, 3, 0, 6, 1),
            pay(0, 4, 1, 0, 2),
            pay(0, 5, 0, 1, 4),
            pay(0, 6, 1, 0, 7),
        ],
    );
    let ends = [(Held, 0, 11, 0), (Reached, 5, 3, 1), (Dust, 6, 1, 1)];
    let wants = [
        want(Model::Poison, [12, 3, 11, 0, 1, 0, 0], &ends),
        want(Model::Haircut, [15, 3, 11, 0, 1, 0, 0], &ends),
        want(Model::Fifo, [15, 3, 11, 0, 1, 0, 0], &ends),
        want(Model::Lifo, [15, 3, 11, 0, 1, 0, 0], &ends),
    ];
    run_account(&graph, &[(5, Tag::OffRamp)], &[0], &params(0, 0, 10, 2, false), &wants);
}

/// A named coin (a0's 5) spent in block 0, traced over block 1 only: no
/// transaction of the window spends it, so it is held where it is, 5 at a0
/// at hop 0 (the tracer once followed its spender from before the window).
#[test]
fn utxo_coin_seed_spent_before_the_window() {
    let graph = MemUtxo::new(1, &[tx(0, &[], &[(0, 5)]), tx(0, &[(0, 0)], &[(1, 5)])]);
    let seeds = [UtxoSeed::Coin(OutPoint { tx: TxNum(0), vout: 0 })];
    let wants = Model::ALL.map(|m| want(m, [5, 0, 5, 0, 0, 0, 0], &[(Held, 0, 5, 0)]));
    run_utxo(&graph, &[], &seeds, &params(1, 1, 10, 0, false), &wants);
}

/// The seed e0 holds nothing and sends 0 to e1 (a zero-value transfer,
/// common on Ethereum): nothing moves and nothing is seeded (haircut's
/// floor(0 * 0 / max(0, 0)) once panicked dividing by zero).
#[test]
fn account_zero_paid_from_an_empty_balance() {
    let graph = MemAccount::new(0, vec![pay(0, 0, 0, 1, 0)]);
    let wants = Model::ALL.map(|m| want(m, [0; 7], &[]));
    run_account(&graph, &[], &[0], &params(0, 0, 10, 0, false), &wants);
}

/// Under poison a seed stays tainted: e0 is credited 1, pays it to e1, gets
/// 0 back from e1, then pays 1 more than it holds (0) to e2. That outflow is
/// tainted in full: e1 and e2 each hold 1 at hop 1 (the tracer once cleared
/// the seed's taint on the 0 receipt and left e2 clean).
#[test]
fn account_poison_seed_keeps_its_flag() {
    let graph =
        MemAccount::new(0, vec![credit(0, 0, 0, 1), pay(0, 1, 0, 1, 1), pay(0, 2, 1, 0, 0), pay(0, 3, 0, 2, 1)]);
    let wants = [
        want(Model::Poison, [1, 0, 2, 0, 0, 0, 0], &[(Held, 1, 1, 1), (Held, 2, 1, 1)]),
        want(Model::Haircut, [1, 0, 1, 0, 0, 0, 0], &[(Held, 1, 1, 1)]),
        want(Model::Fifo, [1, 0, 1, 0, 0, 0, 0], &[(Held, 1, 1, 1)]),
        want(Model::Lifo, [1, 0, 1, 0, 0, 0, 0], &[(Held, 1, 1, 1)]),
    ];
    run_account(&graph, &[], &[0], &params(0, 0, 10, 0, false), &wants);
}
