//! The tracer against a reference written for clarity (`reference`), on
//! random small chains (`support::random`): per model the totals, what ended
//! at each address under each kind of end, every end with its hops and every
//! pass through a mixer (`through_mixers` is drawn at random) must be equal;
//! and for haircut, FIFO and LIFO every unit of seeded taint must
//! end in exactly one bucket. Backward account traces (poison and haircut)
//! are held to the same against `reference::account_back`. Hand-worked
//! examples are in `examples`.

mod examples;
mod reference;
mod support;

use chainsleuth_core::AssetId;
use chainsleuth_trace::{trace_account, trace_utxo, Direction, EndKind, Flows, Model};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use reference::Outcome;
use support::random::{account_case, utxo_case, AccountCase, UtxoCase};

const KINDS: [EndKind; 6] =
    [EndKind::Reached, EndKind::Held, EndKind::Dust, EndKind::Horizon, EndKind::Mixer, EndKind::Mined];

/// The models a backward trace takes.
const BACKWARD: [Model; 2] = [Model::Poison, Model::Haircut];

/// Cases per property (each a fresh random chain).
const CASES: u32 = 256;

fn traced_utxo(case: &UtxoCase) -> Vec<Flows> {
    let mut labels = support::map_labels(&support::labels(&case.tags));
    trace_utxo(&case.graph, &mut labels, &case.seeds, &case.params).expect("the in-memory graph answers")
}

fn traced_account(case: &AccountCase) -> Vec<Flows> {
    let mut labels = support::map_labels(&support::labels(&case.tags));
    trace_account(&case.graph, &mut labels, AssetId::NATIVE, &case.seeds, &case.params)
        .expect("the in-memory graph answers")
}

/// The same case traced backward under poison and haircut.
fn backward(mut case: AccountCase) -> AccountCase {
    case.params.direction = Direction::Backward;
    case.params.models = BACKWARD.to_vec();
    case
}

/// The tracer's result for one model equals the reference's.
fn agree(flows: &Flows, want: &Outcome) -> Result<(), TestCaseError> {
    let model = flows.model;
    prop_assert_eq!(flows.totals, want.totals(), "{:?}: totals", model);
    for kind in KINDS {
        prop_assert_eq!(flows.by_address(kind), want.by_address(kind), "{:?}: {:?} by address", model, kind);
    }
    prop_assert_eq!(reference::sorted_ends(flows), want.sorted_ends(), "{:?}: ends with hops", model);
    prop_assert_eq!(reference::sorted_passed(flows), want.sorted_passed(), "{:?}: mixers passed", model);
    Ok(())
}

/// Every unit of seeded taint ends in exactly one bucket (poison exempt).
fn conserved(flows: &Flows) -> Result<(), TestCaseError> {
    if flows.model != Model::Poison {
        let t = flows.totals;
        prop_assert_eq!(t.seeded, t.ended(), "{:?}: seeded != ended in {:?}", flows.model, t);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        max_shrink_iters: 100_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn utxo_agrees_with_reference(case in utxo_case()) {
        let labels = support::labels(&case.tags);
        let flows = traced_utxo(&case);
        prop_assert_eq!(flows.len(), Model::ALL.len());
        for (model, flows) in Model::ALL.into_iter().zip(&flows) {
            prop_assert_eq!(flows.model, model);
            agree(flows, &reference::utxo::trace(&case.graph, &labels, &case.seeds, &case.params, model))?;
        }
    }

    #[test]
    fn utxo_conserves_taint(case in utxo_case()) {
        for flows in traced_utxo(&case) {
            conserved(&flows)?;
        }
    }

    #[test]
    fn account_agrees_with_reference(case in account_case()) {
        let labels = support::labels(&case.tags);
        let flows = traced_account(&case);
        prop_assert_eq!(flows.len(), Model::ALL.len());
        for (model, flows) in Model::ALL.into_iter().zip(&flows) {
            prop_assert_eq!(flows.model, model);
            agree(flows, &reference::account::trace(&case.graph, &labels, &case.seeds, &case.params, model))?;
        }
    }

    #[test]
    fn account_conserves_taint(case in account_case()) {
        for flows in traced_account(&case) {
            conserved(&flows)?;
        }
    }

    #[test]
    fn account_backward_agrees_with_reference(case in account_case().prop_map(backward)) {
        let labels = support::labels(&case.tags);
        let flows = traced_account(&case);
        prop_assert_eq!(flows.len(), BACKWARD.len());
        for (model, flows) in BACKWARD.into_iter().zip(&flows) {
            prop_assert_eq!(flows.model, model);
            let want = reference::account_back::trace(&case.graph, &labels, &case.seeds, &case.params, model);
            agree(flows, &want)?;
        }
    }

    #[test]
    fn account_backward_conserves_taint(case in account_case().prop_map(backward)) {
        for flows in traced_account(&case) {
            prop_assert_eq!(flows.totals.held, chainsleuth_core::U256::ZERO);
            conserved(&flows)?;
        }
    }
}
