//! Exposure, as analysts know it from commercial tools: of an address's
//! funds, how much came from (or went to) each category and entity,
//! directly (one hop) or through untagged hops, and how much from no tagged
//! actor at all. It is a trace from the one address that stops at every
//! labelled address; shares are of the traced total, so the tagged rows and
//! "untagged" add up to all of it under haircut, FIFO and LIFO.

use std::collections::BTreeMap;
use std::sync::Arc;

use chainsleuth_core::{Label, U256};
use serde::Serialize;

use crate::report::Amount;
use crate::{AddressLabels, EndKind, Flows};

/// One category and entity's part of an address's funds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposureRow {
    /// Category.
    pub category: String,
    /// Entity.
    pub entity: String,
    /// Through one hop.
    pub direct: Amount,
    /// Through more than one hop.
    pub indirect: Amount,
    /// Both.
    pub total: Amount,
    /// Share of the address's traced funds (for display).
    pub share: f64,
}

/// An address's exposure under one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposure {
    /// The model.
    pub model: crate::Model,
    /// Everything traced: what the address received (or sent).
    pub total: Amount,
    /// Per category and entity, largest first.
    pub rows: Vec<ExposureRow>,
    /// What reached no tagged actor (held, fees, dust, horizon, mined).
    pub untagged: Amount,
    /// Its share.
    pub untagged_share: f64,
}

/// The exposure one model's flows show. `numeric` as in reports.
pub fn exposure(flows: &Flows, labels: &mut dyn AddressLabels, numeric: bool) -> Result<Exposure, String> {
    let amount = |value: U256| Amount { value, numeric };
    let mut by: BTreeMap<(String, String), (U256, U256)> = BTreeMap::new();
    let mut tagged = U256::ZERO;
    for end in flows.ends.iter().filter(|e| matches!(e.kind, EndKind::Reached | EndKind::Mixer)) {
        let label: Option<Arc<Label>> = match end.address {
            Some(a) => labels.label(a)?,
            None => None,
        };
        let Some(label) = label else { continue };
        let slot = by.entry((label.category.clone(), label.entity.clone())).or_default();
        if end.hops <= 1 {
            slot.0 += end.amount;
        } else {
            slot.1 += end.amount;
        }
        tagged += end.amount;
    }
    let total = flows.totals.seeded;
    let share = |v: U256| if total.is_zero() { 0.0 } else { ratio(v, total) };
    let mut rows: Vec<ExposureRow> = by
        .into_iter()
        .map(|((category, entity), (direct, indirect))| ExposureRow {
            category,
            entity,
            direct: amount(direct),
            indirect: amount(indirect),
            total: amount(direct + indirect),
            share: share(direct + indirect),
        })
        .collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| (&a.category, &a.entity).cmp(&(&b.category, &b.entity))));
    let untagged = total.saturating_sub(tagged);
    Ok(Exposure {
        model: flows.model,
        total: amount(total),
        rows,
        untagged: amount(untagged),
        untagged_share: share(untagged),
    })
}

/// `part / whole` as a float, exact enough for a displayed share.
fn ratio(part: U256, whole: U256) -> f64 {
    let scale = U256::from(1_000_000_000u64);
    let scaled = part * scale / whole;
    u64::try_from(scaled).map_or(f64::INFINITY, |n| n as f64 / 1e9)
}
