//! Hand-worked traces through mixers (`through_mixers`): a mixer's own
//! transaction (spending a tainted coin at the mixer) splits its taint by
//! haircut under every model, a mixer
//! account keeps its taint as a haircut amount, and past the mixer each
//! model's own rule applies again. Nothing is counted as `mixers`; each
//! pass is listed in `Flows::mixers_passed`.

use chainsleuth_core::{AddressId, OutPoint, TransferKind, TxNum, U256};
use chainsleuth_trace::{Flows, Model, UtxoSeed};

use super::{credit, params, pay, run_account, run_utxo, transfer, tx, want};
use crate::support::{MemAccount, MemUtxo, Tag};

use super::EndKind::{Held, Mixer};

/// Every model passed the mixer `address` once at `hops`, with the amount
/// given for it (models in the order run).
fn passed_once(flows: &[Flows], address: u64, amounts: [u64; 4], hops: u32) {
    for (f, amount) in flows.iter().zip(amounts) {
        let passed: Vec<_> = f.mixers_passed.iter().map(|e| (e.kind, e.address, e.amount, e.hops)).collect();
        assert_eq!(passed, [(Mixer, Some(AddressId(address)), U256::from(amount), hops)], "{:?}", f.model);
    }
}

/// A tainted 6 (a1, the seed coin) and a clean 4 (a2) pay 5 to the mixer
/// a3 and 3 to a4, fee 2, under each model's own rule: poison 5 and 3, fee
/// 2; haircut floor(5*6/10) = 3 and floor(3*6/10) = 1, fee 2; FIFO [T5] and
/// [T1 C2]; LIFO (reversed [C4 T6]) [C4 T1] and [T3], fee T2. The mixer's
/// own transaction then pays its coin as 2 to a5 and 3 to a6, splitting its
/// taint t by haircut under every model: poison t = 5 gives 2 and 3;
/// haircut t = 3 gives floor(6/5) = 1 and floor(9/5) = 1, fee 1; FIFO t = 5
/// gives 2 and 3; LIFO t = 1 gives nothing, fee 1.
#[test]
fn utxo_through_a_mixer() {
    let graph = MemUtxo::new(
        2,
        &[
            tx(0, &[], &[(1, 6), (2, 4)]),
            tx(1, &[(0, 0), (0, 1)], &[(3, 5), (4, 3)]),
            tx(2, &[(1, 0)], &[(5, 2), (6, 3)]),
        ],
    );
    let tags = [(3, Tag::Mixer)];
    let seeds = [UtxoSeed::Coin(OutPoint { tx: TxNum(0), vout: 0 })];
    let wants = [
        want(Model::Poison, [6, 0, 8, 2, 0, 0, 0], &[(Held, 4, 3, 1), (Held, 5, 2, 2), (Held, 6, 3, 2)]),
        want(Model::Haircut, [6, 0, 3, 3, 0, 0, 0], &[(Held, 4, 1, 1), (Held, 5, 1, 2), (Held, 6, 1, 2)]),
        want(Model::Fifo, [6, 0, 6, 0, 0, 0, 0], &[(Held, 4, 1, 1), (Held, 5, 2, 2), (Held, 6, 3, 2)]),
        want(Model::Lifo, [6, 0, 3, 3, 0, 0, 0], &[(Held, 4, 3, 1)]),
    ];
    let flows = run_utxo(&graph, &tags, &seeds, &params(2, 0, 10, 0, true), &wants);
    passed_once(&flows, 3, [5, 3, 5, 1], 1);

    // Not followed through, the mixer is a stop and the transaction splits
    // under each model's own rule: poison 5, haircut 3, FIFO [T5] and LIFO
    // (reversed [C4 T6]) [C4 T1] into the mixer.
    let wants = [
        want(Model::Poison, [6, 0, 3, 2, 0, 0, 5], &[(Mixer, 3, 5, 1), (Held, 4, 3, 1)]),
        want(Model::Haircut, [6, 0, 1, 2, 0, 0, 3], &[(Mixer, 3, 3, 1), (Held, 4, 1, 1)]),
        want(Model::Fifo, [6, 0, 1, 0, 0, 0, 5], &[(Mixer, 3, 5, 1), (Held, 4, 1, 1)]),
        want(Model::Lifo, [6, 0, 3, 2, 0, 0, 1], &[(Mixer, 3, 1, 1), (Held, 4, 3, 1)]),
    ];
    run_utxo(&graph, &tags, &seeds, &params(2, 0, 10, 0, false), &wants);
}

/// e0 (seed, 10 at the window's start) pays the mixer e1 (clean 6) 4; e1
/// keeps t = 4 of 10 as a haircut amount under every model. It pays e2 5,
/// carrying floor(5*4/10) = 2 (t = 2 of 5), then a fee of 3 carrying
/// floor(3*2/5) = 1 (t = 1 held). e2 received [T2 C3] and pays e3 3 under
/// its model's own rule: poison 3 (e2 keeps its balance 2 in full); haircut
/// floor(3*2/5) = 1 (e2 keeps 1); FIFO [T2 C1] (e2 keeps none); LIFO C3
/// (e2 keeps 2).
#[test]
fn account_through_a_mixer() {
    let graph = MemAccount::new(
        3,
        vec![
            credit(0, 0, 0, 10),
            credit(0, 1, 1, 6),
            pay(1, 0, 0, 1, 4),
            pay(2, 0, 1, 2, 5),
            transfer(2, 1, TransferKind::Fee, Some(1), None, 3),
            pay(3, 0, 2, 3, 3),
        ],
    );
    let tags = [(1, Tag::Mixer)];
    let held = |e2: u64, e3: u64| {
        let mut ends = vec![(Held, 0, 6, 0), (Held, 1, 1, 1)];
        ends.extend([(Held, 2, e2, 2), (Held, 3, e3, 3)].into_iter().filter(|e| e.2 > 0));
        ends
    };
    let wants = [
        want(Model::Poison, [10, 0, 12, 1, 0, 0, 0], &held(2, 3)),
        want(Model::Haircut, [10, 0, 9, 1, 0, 0, 0], &held(1, 1)),
        want(Model::Fifo, [10, 0, 9, 1, 0, 0, 0], &held(0, 2)),
        want(Model::Lifo, [10, 0, 9, 1, 0, 0, 0], &held(2, 0)),
    ];
    let flows = run_account(&graph, &tags, &[0], &params(3, 1, 10, 0, true), &wants);
    passed_once(&flows, 1, [4; 4], 1);

    // Not followed through, the 4 ends at the mixer.
    let wants = Model::ALL.map(|m| want(m, [10, 0, 6, 0, 0, 0, 4], &[(Held, 0, 6, 0), (Mixer, 1, 4, 1)]));
    run_account(&graph, &tags, &[0], &params(3, 1, 10, 0, false), &wants);
}
