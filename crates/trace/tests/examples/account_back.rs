//! Hand-worked backward account traces (poison and haircut), checked
//! against both the tracer and the reference.

use chainsleuth_core::{AddressId, AssetId, U256};
use chainsleuth_trace::{trace_account, Direction, EndKind, Model, Totals};

use super::{credit, params, pay};
use crate::reference;
use crate::support::{labels, map_labels, MemAccount, Tag};

use EndKind::{Dust, Horizon, Mined, Mixer, Reached};

/// What one model must find: totals as (seeded, reached, fees, dust,
/// horizon, mixers, mined) and every end as (kind, address, amount, hops).
type Want = (Model, [u64; 7], Vec<(EndKind, u64, u64, u32)>);

/// Traces the seeds backward over blocks `from..=tip` under poison then
/// haircut and checks the tracer and the reference against `wants`.
fn run(graph: &MemAccount, tags: &[(u64, Tag)], seeds: &[u64], from: u64, hops: u32, dust: u64, wants: &[Want]) {
    let labels = labels(tags);
    let seeds: Vec<AddressId> = seeds.iter().copied().map(AddressId).collect();
    let params = chainsleuth_trace::Params {
        direction: Direction::Backward,
        models: vec![Model::Poison, Model::Haircut],
        ..params(graph.tip_height().get(), from, hops, dust, false)
    };
    let got = trace_account(graph, &mut map_labels(&labels), AssetId::NATIVE, &seeds, &params).expect("in memory");
    assert_eq!(got.len(), wants.len());
    for (flows, (model, totals, ends)) in got.iter().zip(wants) {
        let [seeded, reached, fees, dust, horizon, mixers, mined] = totals.map(U256::from);
        let totals = Totals { seeded, reached, held: U256::ZERO, fees, dust, horizon, mixers, mined };
        let mut ends: Vec<_> = ends.iter().map(|&(k, a, n, h)| (k, Some(AddressId(a)), U256::from(n), h)).collect();
        ends.sort();
        assert_eq!(flows.model, *model);
        assert_eq!(flows.totals, totals, "{model:?}: tracer totals");
        assert_eq!(reference::sorted_ends(flows), ends, "{model:?}: tracer ends");
        let outcome = reference::account_back::trace(graph, &labels, &seeds, &params, *model);
        assert_eq!(outcome.totals(), totals, "{model:?}: reference totals");
        assert_eq!(outcome.sorted_ends(), ends, "{model:?}: reference ends");
    }
}

/// Window from block 1. e3 held 20 before it, got 60 from the exchange e1
/// and a credit of 20, paid e4 50, then the seed e0 31.
/// Haircut: e3's components [before 20, e1 60, credit 20] give 10, 30 and 10
/// to the 50; the 31 draws floor(31*10/50) = 6, floor(31*30/50) = 18 and 6
/// (30), rounding 1 to fees: horizon 6 and mined 6 at e3 (hop 1), reached 18
/// at e1 (hop 2).
/// Poison: every component in full: horizon 20 and mined 20 at e3, reached
/// 60 at e1.
#[test]
fn account_backward_components_by_hand() {
    let graph = MemAccount::new(
        1,
        vec![
            credit(0, 0, 1, 100),
            credit(0, 1, 3, 20),
            pay(1, 0, 1, 3, 60),
            credit(1, 1, 3, 20),
            pay(1, 2, 3, 4, 50),
            pay(1, 3, 3, 0, 31),
        ],
    );
    let wants = [
        (Model::Poison, [31, 60, 0, 0, 20, 0, 20], vec![(Horizon, 3, 20, 1), (Mined, 3, 20, 1), (Reached, 1, 60, 2)]),
        (Model::Haircut, [31, 18, 1, 0, 6, 0, 6], vec![(Horizon, 3, 6, 1), (Mined, 3, 6, 1), (Reached, 1, 18, 2)]),
    ];
    run(&graph, &[(1, Tag::OffRamp)], &[0], 1, 10, 0, &wants);
}

/// From block 0, two hops, dust below 2. The seed e0 is credited 5 (mined
/// at e0, hop 0) and gets 14 from e4, which had 10 from e5, 1 from e6 and 3
/// from e7 (an off-ramp and a mixer at once: backward, the mixer wins). At
/// hop 2 e6's 1 is dust and e7's 3 ends in the mixer; e5 had its 10 from e8,
/// at hop 3, beyond the horizon. Nothing is split, so both models agree.
#[test]
fn account_backward_stops_in_order() {
    let graph = MemAccount::new(
        1,
        vec![
            credit(0, 0, 0, 5),
            credit(0, 1, 8, 10),
            pay(0, 2, 8, 5, 10),
            credit(0, 3, 6, 1),
            credit(0, 4, 7, 3),
            pay(1, 0, 5, 4, 10),
            pay(1, 1, 6, 4, 1),
            pay(1, 2, 7, 4, 3),
            pay(1, 3, 4, 0, 14),
        ],
    );
    let ends = vec![(Mined, 0, 5, 0), (Dust, 6, 1, 2), (Mixer, 7, 3, 2), (Horizon, 8, 10, 3)];
    let wants =
        [(Model::Poison, [19, 0, 0, 1, 10, 3, 5], ends.clone()), (Model::Haircut, [19, 0, 0, 1, 10, 3, 5], ends)];
    run(&graph, &[(7, Tag::Both)], &[0], 0, 2, 2, &wants);
}

/// Window from block 1. The exchange e2 pays e1 5; e1 pays the seed e0 2,
/// then 3. Poison takes e1's one source once for both demands: reached 5,
/// not 10. Haircut: the 3 is drawn after the 2 left, both from e2's 5.
#[test]
fn account_backward_poison_takes_a_source_once() {
    let graph =
        MemAccount::new(3, vec![credit(0, 0, 2, 9), pay(1, 0, 2, 1, 5), pay(2, 0, 1, 0, 2), pay(3, 0, 1, 0, 3)]);
    let wants = [
        (Model::Poison, [5, 5, 0, 0, 0, 0, 0], vec![(Reached, 2, 5, 2)]),
        (Model::Haircut, [5, 5, 0, 0, 0, 0, 0], vec![(Reached, 2, 2, 2), (Reached, 2, 3, 2)]),
    ];
    run(&graph, &[(2, Tag::OffRamp)], &[0], 1, 10, 0, &wants);
}
