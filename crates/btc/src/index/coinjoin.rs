//! CoinJoin shapes: transactions whose inputs belong to several owners on
//! purpose, so that the multi-input rule (all inputs of a transaction share
//! an owner) must not merge their addresses.
//!
//! Detection looks only at the transaction's own figures (input values, the
//! number of distinct input addresses, output values); it knows no
//! coordinator addresses and no block heights, so it can miss a CoinJoin or
//! take an ordinary transaction for one. A miss merges owners that are not
//! the same; a false alarm only leaves addresses apart. The shapes, most
//! specific first:
//!
//! - **Whirlpool** (Samourai): 5 to 8 inputs and as many outputs, every
//!   output exactly one pool denomination (0.001, 0.01, 0.05 or 0.5 BTC).
//!   Source: the Whirlpool documentation (pools and the 5-input mix), and
//!   the detector of Dumplings (nopara73/Dumplings, `IsSamouraiCj`; it also
//!   allows up to 10 inputs, mixes of more than 8 were never standard).
//! - **Wasabi 2** (WabiSabi): at least 50 inputs, and more than 80% of the
//!   outputs of a standard denomination, one of them at least twice. The
//!   standard denominations are the powers of 2 and of 3, twice the powers
//!   of 3, and 1, 2 and 5 times the powers of 10, from 5,000 sat up
//!   (WalletWasabi's `DenominationBuilder`). Source: Dumplings
//!   (`IsWasabi2Cj`), which also requires inputs and outputs sorted by
//!   value; that is not checked here.
//! - **Wasabi 1** (ZeroLink): at least 10 equal outputs of about 0.1 BTC
//!   (0.08 to 0.12 BTC, the base denomination drifted around 0.1), at least
//!   as many inputs, and at least one output of another value (the
//!   coordinator fee and the change). Source: the ZeroLink and Wasabi 1
//!   documentation, and Dumplings (`IsWasabiCj` after coordinator addresses
//!   were dropped).
//! - **BlockSci's rule** (Kalodner et al., "BlockSci: Design and
//!   applications of a blockchain analysis platform", USENIX Security 2020;
//!   `isCoinjoin` in `heuristics/tx_identification.cpp`): at least 2 inputs
//!   and 3 outputs; with `p = (outputs + 1) / 2` participants (integer
//!   division: each pays in and gets an equal output and a change output),
//!   the most common output value occurs exactly `p` times, `p` is at most
//!   the number of inputs and of distinct input addresses, and that value is
//!   not dust. BlockSci excludes exactly 546 and 2,730 sat (outputs of
//!   protocols that use dust); here any value of [`DUST_LIMIT`] or less is
//!   excluded, and 2,730 as well.
//! - **JoinMarket** (Möser and Böhme, "Join Me on a Market for Anonymity",
//!   WPES 2016; Goldfeder et al., "When the cookie meets the blockchain",
//!   PETS 2018, whose CoinJoin filter follows it): `n >= 2` equal outputs
//!   (not dust), at least 3 outputs in all and at most `2n` (each maker gets
//!   an equal output and a change output; the taker, and a maker spending
//!   exactly, may have none), and inputs from at least `n` distinct
//!   addresses. This catches JoinMarket mixes that BlockSci's exact count
//!   misses.

use std::collections::HashMap;

use chainsleuth_core::Sats;
use serde::Serialize;

/// Outputs of this many satoshi or less are dust (Bitcoin Core's dust limit
/// for a P2PKH output at the default relay fee): an equal-value set of them
/// is a protocol's marker outputs, not a mix.
pub const DUST_LIMIT: Sats = Sats(546);

/// An output value BlockSci also excludes (dust of colored-coin protocols).
const PROTOCOL_DUST: Sats = Sats(2_730);

/// Whirlpool's pool denominations, in satoshi.
pub const WHIRLPOOL_POOLS: [Sats; 4] = [Sats(100_000), Sats(1_000_000), Sats(5_000_000), Sats(50_000_000)];

/// The smallest Wasabi 2 standard denomination, in satoshi.
const WASABI2_MIN_DENOMINATION: u64 = 5_000;
/// The largest Wasabi 2 standard denomination considered (1,374.38953472
/// BTC, 2^37 sat: WalletWasabi's maximum).
const WASABI2_MAX_DENOMINATION: u64 = 1 << 37;

/// Wasabi 1's base denomination window, in satoshi.
const WASABI1_DENOMINATION: std::ops::RangeInclusive<u64> = 8_000_000..=12_000_000;

/// Which CoinJoin shape a transaction has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinJoinKind {
    /// A Whirlpool mix.
    Whirlpool,
    /// A Wasabi 2 (WabiSabi) round.
    Wasabi2,
    /// A Wasabi 1 (ZeroLink) round.
    Wasabi1,
    /// BlockSci's generic equal-output rule.
    BlockSci,
    /// A JoinMarket mix.
    JoinMarket,
}

impl CoinJoinKind {
    /// Every kind, in the order they are tested.
    pub const ALL: [CoinJoinKind; 5] = [
        CoinJoinKind::Whirlpool,
        CoinJoinKind::Wasabi2,
        CoinJoinKind::Wasabi1,
        CoinJoinKind::BlockSci,
        CoinJoinKind::JoinMarket,
    ];

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            CoinJoinKind::Whirlpool => "whirlpool",
            CoinJoinKind::Wasabi2 => "wasabi2",
            CoinJoinKind::Wasabi1 => "wasabi1",
            CoinJoinKind::BlockSci => "blocksci",
            CoinJoinKind::JoinMarket => "joinmarket",
        }
    }
}

/// What the detector sees of a transaction.
#[derive(Debug, Clone, Copy)]
pub struct TxShape<'a> {
    /// The values of the coins it spends, in input order.
    pub inputs: &'a [Sats],
    /// How many distinct addresses those coins paid.
    pub input_addresses: usize,
    /// Its output values, in output order.
    pub outputs: &'a [Sats],
}

/// The most common output value and how often it occurs (the larger value
/// on a tie, so the answer does not depend on output order).
fn most_common(outputs: &[Sats]) -> Option<(Sats, usize)> {
    let mut counts: HashMap<u64, usize> = HashMap::with_capacity(outputs.len());
    for value in outputs {
        *counts.entry(value.0).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(value, count)| (count, value)).map(|(value, count)| (Sats(value), count))
}

fn is_dust(value: Sats) -> bool {
    value <= DUST_LIMIT || value == PROTOCOL_DUST
}

/// Whether `value` is a Wasabi 2 standard denomination.
pub fn is_wasabi2_denomination(value: Sats) -> bool {
    let v = value.0;
    if !(WASABI2_MIN_DENOMINATION..=WASABI2_MAX_DENOMINATION).contains(&v) {
        return false;
    }
    let power_of = |mut n: u64, base: u64| {
        while n % base == 0 {
            n /= base;
        }
        n == 1
    };
    v.is_power_of_two()
        || power_of(v, 3)
        || (v % 2 == 0 && power_of(v / 2, 3))
        || power_of(v, 10)
        || (v % 2 == 0 && power_of(v / 2, 10))
        || (v % 5 == 0 && power_of(v / 5, 10))
}

fn whirlpool(tx: &TxShape<'_>) -> bool {
    let n = tx.inputs.len();
    (5..=8).contains(&n)
        && tx.outputs.len() == n
        && WHIRLPOOL_POOLS.contains(&tx.outputs[0])
        && tx.outputs.iter().all(|v| *v == tx.outputs[0])
}

fn wasabi2(tx: &TxShape<'_>) -> bool {
    if tx.inputs.len() < 50 || tx.outputs.is_empty() {
        return false;
    }
    let standard: Vec<Sats> = tx.outputs.iter().copied().filter(|v| is_wasabi2_denomination(*v)).collect();
    let repeated = most_common(&standard).is_some_and(|(_, count)| count >= 2);
    // More than 80% of the outputs: 5 * standard > 4 * outputs.
    repeated && 5 * standard.len() > 4 * tx.outputs.len()
}

fn wasabi1(tx: &TxShape<'_>) -> bool {
    let Some((value, count)) = most_common(tx.outputs) else { return false };
    count >= 10 && tx.inputs.len() >= count && WASABI1_DENOMINATION.contains(&value.0) && tx.outputs.len() > count
}

fn blocksci(tx: &TxShape<'_>) -> bool {
    if tx.inputs.len() < 2 || tx.outputs.len() < 3 {
        return false;
    }
    let participants = tx.outputs.len().div_ceil(2);
    if participants > tx.inputs.len() || participants > tx.input_addresses {
        return false;
    }
    most_common(tx.outputs).is_some_and(|(value, count)| count == participants && !is_dust(value))
}

fn joinmarket(tx: &TxShape<'_>) -> bool {
    let Some((value, n)) = most_common(tx.outputs) else { return false };
    n >= 2 && !is_dust(value) && tx.outputs.len() >= 3 && tx.outputs.len() <= 2 * n && tx.input_addresses >= n
}

/// The CoinJoin shape `tx` has, if any (see the module docs for each).
pub fn detect(tx: &TxShape<'_>) -> Option<CoinJoinKind> {
    CoinJoinKind::ALL.into_iter().find(|kind| match kind {
        CoinJoinKind::Whirlpool => whirlpool(tx),
        CoinJoinKind::Wasabi2 => wasabi2(tx),
        CoinJoinKind::Wasabi1 => wasabi1(tx),
        CoinJoinKind::BlockSci => blocksci(tx),
        CoinJoinKind::JoinMarket => joinmarket(tx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sats(values: &[u64]) -> Vec<Sats> {
        values.iter().copied().map(Sats).collect()
    }

    fn detect_values(inputs: &[u64], input_addresses: usize, outputs: &[u64]) -> Option<CoinJoinKind> {
        detect(&TxShape { inputs: &sats(inputs), input_addresses, outputs: &sats(outputs) })
    }

    #[test]
    fn whirlpool_mixes_of_5_to_8_are_found() {
        for n in 5..=8 {
            for pool in WHIRLPOOL_POOLS {
                let inputs = vec![pool.0 + 5_000; n];
                let outputs = vec![pool.0; n];
                assert_eq!(detect_values(&inputs, n, &outputs), Some(CoinJoinKind::Whirlpool), "{n} x {pool:?}");
            }
        }
        // Not a pool size, one output off, or 9 participants: not Whirlpool.
        assert_ne!(detect_values(&[200_000; 5], 5, &[150_000; 5]), Some(CoinJoinKind::Whirlpool));
        let mut outputs = vec![1_000_000u64; 5];
        outputs[4] = 999_999;
        assert_ne!(detect_values(&[1_000_100; 5], 5, &outputs), Some(CoinJoinKind::Whirlpool));
        assert_ne!(detect_values(&[1_000_100; 9], 9, &[1_000_000; 9]), Some(CoinJoinKind::Whirlpool));
    }

    #[test]
    fn wasabi2_rounds_are_found() {
        let denominations = [5_000u64, 6_561, 8_192, 10_000, 13_122, 20_000, 50_000, 100_000, 1_048_576];
        assert!(denominations.iter().all(|v| is_wasabi2_denomination(Sats(*v))), "standard");
        assert!([4_096u64, 7_000, 12_345, 30_000].iter().all(|v| !is_wasabi2_denomination(Sats(*v))));
        let inputs: Vec<u64> = (0..60).map(|i| 1_000_000 + i * 7_919).collect();
        let mut outputs: Vec<u64> = (0..70).map(|i| denominations[i % denominations.len()]).collect();
        outputs.extend([123_457, 98_765, 4_321]);
        assert_eq!(detect_values(&inputs, 60, &outputs), Some(CoinJoinKind::Wasabi2));
        // Too few inputs, or too few standard outputs.
        assert_ne!(detect_values(&inputs[..49], 49, &outputs), Some(CoinJoinKind::Wasabi2));
        let odd: Vec<u64> = (0..70).map(|i| 100_001 + i).collect();
        assert_ne!(detect_values(&inputs, 60, &[&outputs[..20], &odd].concat()), Some(CoinJoinKind::Wasabi2));
    }

    #[test]
    fn wasabi1_rounds_are_found() {
        let mut outputs = vec![10_012_345u64; 30];
        outputs.extend([3_000_000, 4_567_890, 250_000]);
        let inputs = vec![20_000_000u64; 35];
        assert_eq!(detect_values(&inputs, 35, &outputs), Some(CoinJoinKind::Wasabi1));
        // Nine equal outputs, or equal outputs far from 0.1 BTC.
        let nine = [&[10_000_000u64; 9][..], &[1_234, 5_678]].concat();
        assert_ne!(detect_values(&inputs, 35, &nine), Some(CoinJoinKind::Wasabi1));
        let far = [&[50_000_000u64; 30][..], &[1_234, 5_678]].concat();
        assert_ne!(detect_values(&inputs, 35, &far), Some(CoinJoinKind::Wasabi1));
    }

    #[test]
    fn blocksci_rule_finds_equal_outputs_with_change() {
        // Four participants: four equal outputs and four changes.
        let outputs = [500_000, 123_456, 500_000, 77_777, 500_000, 99_999, 500_000, 42_000];
        assert_eq!(detect_values(&[700_000; 4], 4, &outputs), Some(CoinJoinKind::BlockSci));
        // Seven outputs: (7 + 1) / 2 = 4 participants.
        assert_eq!(detect_values(&[700_000; 4], 4, &outputs[..7]), Some(CoinJoinKind::BlockSci));
        // The same shape with only three distinct input addresses: one owner
        // can hold several inputs, but four participants need four.
        assert_eq!(detect_values(&[700_000; 4], 3, &outputs), None);
        // Dust outputs are a protocol's markers, not a mix.
        assert_eq!(detect_values(&[700_000; 2], 2, &[546, 546, 9_000]), None);
        assert_eq!(detect_values(&[700_000; 2], 2, &[2_730, 2_730, 9_000]), None);
    }

    #[test]
    fn joinmarket_mixes_without_every_change_are_found() {
        // Three makers and a taker: four equal outputs, two changes.
        let outputs = [2_000_000, 2_000_000, 2_000_000, 2_000_000, 350_123, 1_234_567];
        assert_eq!(detect_values(&[3_000_000; 5], 4, &outputs), Some(CoinJoinKind::JoinMarket));
        // Fewer distinct input addresses than equal outputs.
        assert_eq!(detect_values(&[3_000_000; 5], 3, &outputs), None);
        // More than 2n outputs: a batch payment that happens to repeat a value.
        let batch = [2_000_000, 2_000_000, 1, 2, 3, 4, 5];
        assert_eq!(detect_values(&[3_000_000; 5], 5, &batch.map(|v| v * 1_000)), None);
    }

    #[test]
    fn ordinary_payments_are_not_coinjoins() {
        // A payment with change, a consolidation, a two-input payment.
        assert_eq!(detect_values(&[100_000], 1, &[60_000, 39_000]), None);
        assert_eq!(detect_values(&[10_000; 40], 40, &[399_000]), None);
        assert_eq!(detect_values(&[70_000, 50_000], 2, &[100_000, 19_000]), None);
        assert_eq!(detect_values(&[], 0, &[]), None);
    }
}
