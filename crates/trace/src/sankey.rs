//! The flow picture of one model for the HTML report: a Sankey-style
//! diagram drawn as inline SVG, widths by amount, read left to right:
//!
//! ```text
//! seeds ──> reached in N hops ──> off-ramp entity
//!       ──> mixer in N hops   ──> mixer
//!       ──> held              ──> held, freezable / held, not freezable
//!       ──> fees, dust, horizon (end in the middle column)
//! ```
//!
//! The middle column groups what reached an off-ramp or a mixer by its
//! fewest hops from a seed. Like the rest of the report it is a pure
//! function of the report, so the same trace draws the same bytes.

use std::fmt::Write as _;

use chainsleuth_core::U256;

use crate::report::ModelReport;

/// Drawing height of the bands, in SVG units, before the gaps.
const MIN_HEIGHT: f64 = 220.0;
/// Height per node of the busiest column, so labels do not overlap.
const ROW: f64 = 26.0;
/// Gap between two nodes of a column.
const GAP: f64 = 8.0;
/// Node width.
const NODE: f64 = 10.0;
/// X of the three columns.
const COLUMNS: [f64; 3] = [10.0, 270.0, 530.0];
/// The picture's width: the right column and its labels.
const WIDTH: f64 = 1000.0;

/// What a band stands for, which also orders the middle column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Reached,
    Mixer,
    Held,
    Ended,
}

impl Group {
    fn colour(self) -> &'static str {
        match self {
            Group::Reached => "#c0392b",
            Group::Mixer => "#7d3c98",
            Group::Held => "#1f618d",
            Group::Ended => "#7f8c8d",
        }
    }
}

/// One band: from the seeds to a middle node, and on to a right node
/// unless it ends in the middle.
#[derive(Debug, Clone, PartialEq)]
struct Band {
    group: Group,
    hops: u32,
    middle: String,
    right: Option<String>,
    amount: f64,
    exact: U256,
}

/// A node of a column: its label, the amount through it, and its top.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    label: String,
    amount: f64,
    exact: U256,
    y: f64,
}

/// An amount as a float, for drawing only (labels show the exact value).
fn float(value: U256) -> f64 {
    value.to_string().parse().unwrap_or(0.0)
}

fn band(group: Group, hops: u32, middle: String, right: Option<String>, exact: U256) -> Band {
    Band { group, hops, middle, right, amount: float(exact), exact }
}

/// The bands of `model`, ordered as drawn: reached by fewest hops, then
/// mixers, held, and what ended as fees, dust or past the horizon.
fn bands(model: &ModelReport) -> Vec<Band> {
    let mut bands = Vec::new();
    for (stops, group, word) in [(&model.offramps, Group::Reached, "reached"), (&model.mixers, Group::Mixer, "mixer")] {
        for stop in stops {
            let hops = stop.min_hops;
            let middle = format!("{word} in {hops} hop{}", if hops == 1 { "" } else { "s" });
            let right = if group == Group::Mixer {
                stop.entity.clone()
            } else {
                format!("{} ({})", stop.entity, stop.category)
            };
            bands.push(band(group, hops, middle, Some(right), stop.amount.value));
        }
    }
    let held = model.totals.held.value;
    let freezable = model.holders.iter().filter(|h| h.freezable).fold(U256::ZERO, |sum, h| sum + h.amount.value);
    let freezable = freezable.min(held);
    for (right, exact) in [("held, freezable", freezable), ("held, not freezable", held - freezable)] {
        bands.push(band(Group::Held, 0, "held".into(), Some(right.into()), exact));
    }
    let t = &model.totals;
    for (name, amount) in [("fees", &t.fees), ("dust", &t.dust), ("horizon", &t.horizon), ("mined", &t.mined)] {
        bands.push(band(Group::Ended, 0, name.into(), None, amount.value));
    }
    bands.retain(|b| b.amount > 0.0);
    bands.sort_by_key(|b| (b.group, b.hops));
    bands
}

/// The nodes named by `labels` in first-seen order, with their amounts,
/// stacked from the top with gaps at `scale` units per amount.
fn stack<'a>(labels: impl Iterator<Item = (&'a str, &'a Band)>, scale: f64) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for (label, band) in labels {
        match nodes.iter_mut().find(|n| n.label == label) {
            Some(node) => {
                node.amount += band.amount;
                node.exact += band.exact;
            }
            None => nodes.push(Node { label: label.to_owned(), amount: band.amount, exact: band.exact, y: 0.0 }),
        }
    }
    let mut y = 0.0;
    for node in &mut nodes {
        node.y = y;
        y += node.amount * scale + GAP;
    }
    nodes
}

/// The picture of `model` as an `<svg>` element, with `show` writing an
/// amount for people; `None` when nothing moved.
pub(crate) fn flow_svg(model: &ModelReport, show: impl Fn(U256) -> String) -> Option<String> {
    let bands = bands(model);
    let total: f64 = bands.iter().map(|b| b.amount).sum();
    if total <= 0.0 {
        return None;
    }
    let exact_total = bands.iter().fold(U256::ZERO, |sum, b| sum + b.exact);
    let middles = stack(bands.iter().map(|b| (b.middle.as_str(), b)), 1.0);
    let rights = stack(bands.iter().filter_map(|b| Some((b.right.as_deref()?, b))), 1.0);
    let busiest = middles.len().max(rights.len()) as f64;
    let height = MIN_HEIGHT.max(ROW * busiest);
    let scale = (height - GAP * (busiest - 1.0)) / total;
    let middles = stack(bands.iter().map(|b| (b.middle.as_str(), b)), scale);
    let rights = stack(bands.iter().filter_map(|b| Some((b.right.as_deref()?, b))), scale);

    let mut svg = String::with_capacity(4096);
    let _ = writeln!(
        svg,
        "<svg class=\"flow\" viewBox=\"0 -4 {WIDTH} {h:.1}\" width=\"100%\" role=\"img\" \
         aria-label=\"Where the seeded funds went, widths by amount\" xmlns=\"http://www.w3.org/2000/svg\" \
         font-family=\"system-ui,sans-serif\" font-size=\"12\">",
        h = height + 8.0
    );
    let (mut left_out, mut middle_in, mut middle_out, mut right_in) =
        (0.0, vec![0.0; middles.len()], vec![0.0; middles.len()], vec![0.0; rights.len()]);
    for band in &bands {
        let thick = band.amount * scale;
        let m = middles.iter().position(|n| n.label == band.middle).unwrap_or_default();
        let from = left_out + thick / 2.0;
        let to = middles[m].y + middle_in[m] + thick / 2.0;
        left_out += thick;
        middle_in[m] += thick;
        band_path(&mut svg, COLUMNS[0] + NODE, from, COLUMNS[1], to, thick, band.group.colour());
        if let Some(right) = &band.right {
            let r = rights.iter().position(|n| &n.label == right).unwrap_or_default();
            let from = middles[m].y + middle_out[m] + thick / 2.0;
            let to = rights[r].y + right_in[r] + thick / 2.0;
            middle_out[m] += thick;
            right_in[r] += thick;
            band_path(&mut svg, COLUMNS[1] + NODE, from, COLUMNS[2], to, thick, band.group.colour());
        }
    }
    let seeded = model.totals.seeded.value;
    let mut seeds = format!("seeded {}", show(seeded));
    if exact_total != seeded {
        let _ = write!(seeds, " (bands: {}, taint counted more than once)", show(exact_total));
    }
    node(&mut svg, COLUMNS[0], 0.0, total * scale, &seeds, false);
    for n in &middles {
        node(&mut svg, COLUMNS[1], n.y, n.amount * scale, &n.label, false);
    }
    for n in &rights {
        node(&mut svg, COLUMNS[2], n.y, n.amount * scale, &format!("{} {}", n.label, show(n.exact)), true);
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// A band from (x1, y1) to (x2, y2), `thick` wide, as a stroked curve.
fn band_path(svg: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, thick: f64, colour: &str) {
    let mid = (x1 + x2) / 2.0;
    let _ = writeln!(
        svg,
        "<path d=\"M{x1:.1} {y1:.2} C{mid:.1} {y1:.2} {mid:.1} {y2:.2} {x2:.1} {y2:.2}\" fill=\"none\" \
         stroke=\"{colour}\" stroke-opacity=\"0.45\" stroke-width=\"{:.2}\"/>",
        thick.max(1.0)
    );
}

/// A node's bar and its label, beside it (to the right of the bar).
fn node(svg: &mut String, x: f64, y: f64, height: f64, label: &str, last: bool) {
    let height = height.max(1.0);
    let _ = writeln!(
        svg,
        "<rect x=\"{x:.1}\" y=\"{y:.2}\" width=\"{NODE}\" height=\"{height:.2}\" fill=\"#333\"/>\
         <text x=\"{:.1}\" y=\"{:.2}\" dominant-baseline=\"middle\" paint-order=\"stroke\" \
         stroke=\"#fff\" stroke-width=\"3\"{}>{}</text>",
        x + NODE + 4.0,
        y + height / 2.0,
        if last { " font-weight=\"600\"" } else { "" },
        crate::html::esc(label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Amount, Holder, Offramp, TotalsView};

    fn amount(n: u64) -> Amount {
        Amount { value: U256::from(n), numeric: true }
    }

    fn stop(entity: &str, hops: u32, n: u64) -> Offramp {
        Offramp {
            address: format!("addr-{entity}"),
            cluster: None,
            entity: entity.into(),
            category: "exchange_licensed".into(),
            jurisdiction: None,
            licensed_by: None,
            inferred: None,
            amount: amount(n),
            paths: 1,
            min_hops: hops,
            freezable: None,
        }
    }

    fn model() -> ModelReport {
        let zero = amount(0);
        ModelReport {
            totals: TotalsView {
                seeded: amount(100),
                reached: amount(60),
                held: amount(30),
                fees: amount(10),
                dust: zero,
                horizon: zero,
                mixers: zero,
                mined: zero,
            },
            offramps: vec![stop("B <Exchange>", 2, 20), stop("A Exchange", 1, 40)],
            mixers: Vec::new(),
            holders: vec![Holder {
                address: "h".into(),
                cluster: None,
                entity: None,
                amount: amount(12),
                freezable: true,
                reason: Some("custodial".into()),
                frozen: None,
            }],
            paths: Vec::new(),
            visited: 0,
        }
    }

    #[test]
    fn bands_follow_the_totals_in_drawing_order() {
        let got: Vec<(String, Option<String>, f64)> =
            bands(&model()).into_iter().map(|b| (b.middle, b.right, b.amount)).collect();
        assert!(bands(&model()).iter().all(|b| b.amount == float(b.exact)));
        let want = [
            ("reached in 1 hop", Some("A Exchange (exchange_licensed)"), 40.0),
            ("reached in 2 hops", Some("B <Exchange> (exchange_licensed)"), 20.0),
            ("held", Some("held, freezable"), 12.0),
            ("held", Some("held, not freezable"), 18.0),
            ("fees", None, 10.0),
        ];
        let want: Vec<(String, Option<String>, f64)> =
            want.iter().map(|(m, r, a)| ((*m).to_owned(), r.map(str::to_owned), *a)).collect();
        assert_eq!(got, want);
    }

    fn width(attribute: &str) -> f64 {
        attribute.split('"').next().unwrap().parse().unwrap()
    }

    #[test]
    fn widths_are_proportional_and_labels_escaped() {
        let svg = flow_svg(&model(), |v| format!("{v}")).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("B &lt;Exchange&gt;") && !svg.contains("B <Exchange>"));
        let widths: Vec<f64> =
            svg.split("<path ").skip(1).map(|path| path.split("stroke-width=\"").nth(1).unwrap()).map(width).collect();
        assert_eq!(widths.len(), 9, "four bands through the middle, one ending there");
        let (a, b) = (widths[0], widths[2]);
        assert!((a / b - 2.0).abs() < 1e-3, "40 against 20: {a} {b}");
        assert!(svg.contains(">seeded 100<"), "{svg}");
        let mut poison = model();
        poison.totals.seeded = amount(90);
        let svg = flow_svg(&poison, |v| format!("{v}")).unwrap();
        assert!(svg.contains(">seeded 90 (bands: 100, taint counted more than once)<"), "{svg}");
    }

    #[test]
    fn nothing_moved_draws_nothing() {
        let mut empty = model();
        empty.offramps.clear();
        empty.holders.clear();
        empty.totals.held = amount(0);
        empty.totals.fees = amount(0);
        assert_eq!(flow_svg(&empty, |v| format!("{v}")), None);
    }
}
