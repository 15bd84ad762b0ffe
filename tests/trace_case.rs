//! The laundering case end to end: the simulator's `laundering` scenario
//! (seized platform wallets, peel chains, a consolidation and a CoinJoin,
//! deposits swept into exchanges' tagged hot wallets, a cash-out network, a
//! mixer, funds left unspent) is indexed, its tag file imported through the
//! real importer, and traced from every `seized` tag. Against the case's
//! ground truth, under every model: each off-ramp is reached, at the
//! addresses where all models must agree with exactly the ground truth's
//! amount (deposit addresses through the tag inferred from their multi-input
//! cluster), the mixer is flagged with what was paid into it, the unspent
//! tainted coins are held where they lie, and taint is conserved.

mod common;

use std::collections::BTreeMap;

use common::run_ok;
use serde_json::Value;

#[test]
fn laundering_case_reaches_every_offramp_with_the_ground_truths_amounts() {
    let work = tempfile::tempdir().unwrap();
    let chain = work.path().join("chain");
    let data = work.path().join("data");
    let chain_arg = chain.to_str().unwrap();
    run_ok(
        &data,
        &["simulate", "btc", "--scenario", "laundering", "--out", chain_arg, "--blocks", "130", "--seed", "7"],
    );
    run_ok(&data, &["index", "btc", "--network", "regtest", "--blocks-dir", &format!("{chain_arg}/blocks")]);
    let tags = chain.join("tags.jsonl");
    // No --btc-network: tag addresses are read for the index's network.
    run_ok(&data, &["tags", "import", tags.to_str().unwrap(), "--format", "jsonl", "--source", "case"]);
    let case: Value = serde_json::from_slice(&std::fs::read(chain.join("case.json")).unwrap()).unwrap();
    let status: Value = serde_json::from_str(&run_ok(&data, &["status", "--json"])).unwrap();
    assert_eq!(status["btc"]["clustered_height"], 130 - 6, "clustering runs 6 blocks behind the tip");

    let out = run_ok(&data, &["trace", "--seed-tag", "category=seized", "--chain", "btc", "--format", "json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["seeds"].as_array().unwrap().len(),
        case["seeds"].as_array().unwrap().len(),
        "every seized wallet"
    );

    for model in ["poison", "haircut", "fifo", "lifo"] {
        let m = &report["models"][model];
        let offramps: BTreeMap<&str, &Value> =
            m["offramps"].as_array().unwrap().iter().map(|o| (o["address"].as_str().unwrap(), o)).collect();
        for truth in case["offramps"].as_array().unwrap() {
            let entity = truth["entity"].as_str().unwrap();
            let tagged: Vec<&str> = truth["tagged"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
            let mut agreed = 0;
            for address in truth["reached"].as_array().unwrap() {
                let address = address.as_str().unwrap();
                let o = offramps.get(address).unwrap_or_else(|| panic!("{model}: {entity} not reached at {address}"));
                assert_eq!(o["entity"], entity);
                assert_eq!(o["category"], truth["category"]);
                assert_eq!(o["jurisdiction"], truth["jurisdiction"]);
                if !tagged.contains(&address) {
                    assert_eq!(o["inferred"]["rule"], "multi_input_cluster", "{model}: {o}");
                    assert!(tagged.contains(&o["inferred"]["via"].as_str().unwrap()), "{model}: {o}");
                    let sweeps: Vec<&Value> = truth["sweeps"].as_array().unwrap().iter().collect();
                    assert!(sweeps.contains(&&o["inferred"]["evidence"]), "{model}: the sweep is the evidence: {o}");
                }
                agreed += o["amount"].as_u64().unwrap();
            }
            assert_eq!(agreed, truth["agreed_amount"].as_u64().unwrap(), "{model}: {entity}");
        }

        let mixer = &case["mixer"];
        let paid: u64 = mixer["payments"].as_array().unwrap().iter().map(|p| p["value"].as_u64().unwrap()).sum();
        let flagged = m["mixers"].as_array().unwrap().iter().find(|x| x["address"] == mixer["address"]).unwrap();
        assert_eq!(flagged["amount"].as_u64(), Some(paid), "{model}");
        assert_eq!(flagged["entity"], mixer["entity"]);

        let mut unspent: BTreeMap<&str, u64> = BTreeMap::new();
        for coin in case["unspent"].as_array().unwrap() {
            *unspent.entry(coin["address"].as_str().unwrap()).or_default() += coin["value"].as_u64().unwrap();
        }
        for (address, value) in unspent {
            let held = m["holders"].as_array().unwrap().iter().find(|h| h["address"] == address);
            let held = held.unwrap_or_else(|| panic!("{model}: nothing held at {address}"));
            assert_eq!(held["amount"].as_u64(), Some(value), "{model}: {address}");
        }

        let t = &m["totals"];
        let sum: u64 =
            ["reached", "held", "fees", "dust", "horizon", "mixers"].iter().map(|b| t[*b].as_u64().unwrap()).sum();
        if model != "poison" {
            assert_eq!(t["seeded"].as_u64(), Some(sum), "{model}: taint is conserved: {t}");
        }
    }
    // Inferred tags are shown wherever tags are: the address view and the cluster view.
    let licensed = &case["offramps"][0];
    let tagged = licensed["tagged"][0].as_str().unwrap();
    let deposit = licensed["reached"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).find(|a| *a != tagged);
    let deposit = deposit.expect("a deposit address is reached");
    let view: Value = serde_json::from_str(&run_ok(&data, &["address", "btc", deposit, "--json"])).unwrap();
    assert_eq!(view["tags"].as_array().unwrap().len(), 0, "the deposit address has no tag of its own");
    assert_eq!(view["inferred_tag"]["entity"], licensed["entity"]);
    assert_eq!(view["inferred_tag"]["inferred"]["via"], tagged);
    assert!(run_ok(&data, &["address", "btc", deposit]).contains("inferred tag: "));
    let cluster: Value = serde_json::from_str(&run_ok(&data, &["cluster", "btc", deposit, "--json"])).unwrap();
    assert_eq!(cluster["label"]["entity"], licensed["entity"]);
    assert_eq!(cluster["tagged_members"][0]["address"], tagged);

    // The consolidation and the CoinJoin make the models disagree.
    let reached = |model: &str| report["models"][model]["totals"]["reached"].as_u64().unwrap();
    assert!(reached("poison") > reached("haircut"), "poison overstates what mixed coins carry");
}
