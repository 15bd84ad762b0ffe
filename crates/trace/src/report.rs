//! A trace as a case-file report: what was read (index tip, tag source
//! versions), what was asked (every parameter, the seeds), and per model the
//! totals, the off-ramps reached, where the rest is held and every path as
//! evidence. Rendered as JSON, CSV, DOT, GraphML or a table for people;
//! every rendering is a pure function of the report, so the same trace on
//! the same data gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chainsleuth_core::{AddressId, ClusterId, Label, SourceVersion, U256};
use serde::{Serialize, Serializer};

use crate::flows::Step;
use crate::table::Align::{Left, Right};
use crate::table::Table;
use crate::{End, EndKind, Flows, Params};

/// An amount in the smallest unit: a JSON number on Bitcoin, a decimal
/// string on Ethereum (where it may exceed 2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount {
    /// The value.
    pub value: U256,
    /// Whether JSON writes it as a number.
    pub numeric: bool,
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self.numeric, u64::try_from(self.value)) {
            (true, Ok(n)) => s.serialize_u64(n),
            _ => s.serialize_str(&self.value.to_string()),
        }
    }
}

/// The unit amounts are shown in for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// `BTC`, `ETH` or a token's symbol.
    pub symbol: String,
    /// Decimal places of the smallest unit.
    pub decimals: u8,
}

/// The indexed tip a report read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TipView {
    /// Height.
    pub height: u64,
    /// Hash, as the chain's explorers show it.
    pub hash: String,
}

/// What the report records of the run, besides the results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// `btc` or `eth`.
    pub chain: String,
    /// The asset traced (`BTC`, `ETH` or a token contract).
    pub asset: String,
    /// Forward or backward (also among the parameters).
    pub direction: crate::Direction,
    /// The unit for people.
    pub unit: Unit,
    /// The index tip read.
    pub index_tip: TipView,
    /// Tag sources and their versions.
    pub tag_sources: Vec<SourceVersion>,
    /// Every parameter.
    pub parameters: Params,
    /// The tag categories counted as fiat off-ramps.
    pub off_ramps: Vec<String>,
    /// The seeds as given.
    pub seeds: Vec<String>,
}

/// Everything a report says about one address, and the chain's words for a
/// step; implemented by whoever wires the trace to a chain and the tags.
pub trait Describe {
    /// An address's text.
    fn address(&mut self, id: AddressId) -> Result<String, String>;
    /// Its cluster, if clustered.
    fn cluster(&mut self, id: AddressId) -> Result<Option<ClusterId>, String>;
    /// Its label (direct or inferred).
    fn label(&mut self, id: AddressId) -> Result<Option<Arc<Label>>, String>;
    /// A step's transaction id (or a transfer's `hash:position`).
    fn step(&mut self, step: Step) -> Result<String, String>;
    /// Whether what it holds can be frozen, and why; and whether the
    /// issuer has already frozen it (the evidence).
    fn freeze(&mut self, id: AddressId, label: Option<&Label>) -> Result<(Option<String>, Option<String>), String>;
}

/// One off-ramp address the taint reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offramp {
    /// Address.
    pub address: String,
    /// Its cluster.
    pub cluster: Option<ClusterId>,
    /// Entity.
    pub entity: String,
    /// Category.
    pub category: String,
    /// Jurisdiction.
    pub jurisdiction: Option<String>,
    /// Licensing regulator.
    pub licensed_by: Option<String>,
    /// How the label was found, when inferred.
    pub inferred: Option<chainsleuth_core::Inference>,
    /// Taint that reached it.
    pub amount: Amount,
    /// Paths (stops) that reached it.
    pub paths: u64,
    /// The fewest hops from a seed.
    pub min_hops: u32,
    /// Why what arrived there can still be frozen (custodial at an
    /// exchange: a freeze order to it), if it can.
    pub freezable: Option<String>,
}

/// An address still holding taint at the window's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Address.
    pub address: String,
    /// Its cluster.
    pub cluster: Option<ClusterId>,
    /// Entity, when labelled.
    pub entity: Option<String>,
    /// Taint held.
    pub amount: Amount,
    /// Whether it can still be frozen.
    pub freezable: bool,
    /// Why it can be frozen.
    pub reason: Option<String>,
    /// The transaction in which the issuer froze it, if it has.
    pub frozen: Option<String>,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HopView {
    /// Transaction id.
    pub tx: String,
    /// From address.
    pub from: Option<String>,
    /// To address.
    pub to: Option<String>,
    /// Taint moved.
    pub amount: Amount,
}

/// A path from a seed to an off-ramp or a mixer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathView {
    /// Where it ended.
    pub to: String,
    /// `reached` or `mixer`.
    pub end: EndKind,
    /// Taint that arrived.
    pub amount: Amount,
    /// The steps, seed first.
    pub hops: Vec<HopView>,
}

/// Totals of one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TotalsView {
    /// Seeded.
    pub seeded: Amount,
    /// Reached an off-ramp.
    pub reached: Amount,
    /// Still held.
    pub held: Amount,
    /// Fees and burns.
    pub fees: Amount,
    /// Below the dust limit.
    pub dust: Amount,
    /// Past the hop horizon.
    pub horizon: Amount,
    /// Into mixers.
    pub mixers: Amount,
    /// Backward only: traced back to coinbases.
    pub mined: Amount,
}

/// One model's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelReport {
    /// Totals.
    pub totals: TotalsView,
    /// Off-ramps reached, largest first.
    pub offramps: Vec<Offramp>,
    /// Mixers entered, largest first (with `through_mixers`, the mixers
    /// followed through and the taint that entered each, in no total).
    pub mixers: Vec<Offramp>,
    /// Holders, largest first.
    pub holders: Vec<Holder>,
    /// Every path to an off-ramp or mixer, in chain order.
    pub paths: Vec<PathView>,
    /// Coins or transfers read.
    pub visited: u64,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What was read and asked.
    #[serde(flatten)]
    pub case: Case,
    /// Results per model, by model name.
    pub models: BTreeMap<String, ModelReport>,
}

impl Report {
    /// Builds the report from each model's flows.
    pub fn build(case: Case, flows: &[Flows], describe: &mut dyn Describe) -> Result<Report, String> {
        let numeric = case.chain == "btc";
        let amount = |value: U256| Amount { value, numeric };
        let mut models = BTreeMap::new();
        for f in flows {
            let t = &f.totals;
            let totals = TotalsView {
                seeded: amount(t.seeded),
                reached: amount(t.reached),
                held: amount(t.held),
                fees: amount(t.fees),
                dust: amount(t.dust),
                horizon: amount(t.horizon),
                mixers: amount(t.mixers),
                mined: amount(t.mined),
            };
            let offramps = stops(f.ends.iter().filter(|e| e.kind == EndKind::Reached), describe, numeric)?;
            let mixed = f.ends.iter().filter(|e| e.kind == EndKind::Mixer).chain(&f.mixers_passed);
            let mixers = stops(mixed, describe, numeric)?;
            let mut holders = Vec::new();
            for (address, held) in f.by_address(EndKind::Held) {
                let Some(id) = address else { continue };
                let label = describe.label(id)?;
                let (reason, frozen) = describe.freeze(id, label.as_deref())?;
                holders.push(Holder {
                    address: describe.address(id)?,
                    cluster: describe.cluster(id)?,
                    entity: label.map(|l| l.entity.clone()),
                    amount: amount(held),
                    freezable: reason.is_some() && frozen.is_none(),
                    reason,
                    frozen,
                });
            }
            holders.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.address.cmp(&b.address)));
            let mut paths = Vec::new();
            for end in f.ends.iter().filter(|e| matches!(e.kind, EndKind::Reached | EndKind::Mixer)) {
                let mut hops = Vec::new();
                for hop in f.path(end) {
                    hops.push(HopView {
                        tx: describe.step(hop.step)?,
                        from: hop.from.map(|a| describe.address(a)).transpose()?,
                        to: hop.to.map(|a| describe.address(a)).transpose()?,
                        amount: amount(hop.amount),
                    });
                }
                let to = end.address.map(|a| describe.address(a)).transpose()?.unwrap_or_default();
                paths.push(PathView { to, end: end.kind, amount: amount(end.amount), hops });
            }
            let report = ModelReport { totals, offramps, mixers, holders, paths, visited: f.visited };
            models.insert(f.model.as_str().to_owned(), report);
        }
        Ok(Report { case, models })
    }

    /// The report as pretty JSON (ends with a newline).
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("a report serializes");
        out.push('\n');
        out
    }

    /// The report as CSV: one row per total, off-ramp, mixer, holder and
    /// path, with the model in the first column.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("model,record,address,entity,category,jurisdiction,amount,paths,min_hops,txs\n");
        for (model, m) in &self.models {
            let t = &m.totals;
            for (name, a) in [
                ("seeded", t.seeded),
                ("reached", t.reached),
                ("held", t.held),
                ("fees", t.fees),
                ("dust", t.dust),
                ("horizon", t.horizon),
                ("mixers", t.mixers),
                ("mined", t.mined),
            ] {
                row(&mut out, &[model, &format!("total_{name}"), "", "", "", "", &a.value.to_string(), "", "", ""]);
            }
            for (record, list) in [("offramp", &m.offramps), ("mixer", &m.mixers)] {
                for o in list {
                    let jurisdiction = o.jurisdiction.as_deref().unwrap_or("");
                    let (paths, hops) = (o.paths.to_string(), o.min_hops.to_string());
                    let amount = o.amount.value.to_string();
                    row(
                        &mut out,
                        &[model, record, &o.address, &o.entity, &o.category, jurisdiction, &amount, &paths, &hops, ""],
                    );
                }
            }
            for h in &m.holders {
                let entity = h.entity.as_deref().unwrap_or("");
                row(&mut out, &[model, "holder", &h.address, entity, "", "", &h.amount.value.to_string(), "", "", ""]);
            }
            for p in &m.paths {
                let txs: Vec<&str> = p.hops.iter().map(|h| h.tx.as_str()).collect();
                let hops = p.hops.len().to_string();
                let amount = p.amount.value.to_string();
                row(&mut out, &[model, "path", &p.to, "", "", "", &amount, "", &hops, &txs.join(" ")]);
            }
        }
        out
    }

    /// The paths as a Graphviz digraph: address nodes (labelled ones named
    /// and coloured), one edge per model, step and pair of addresses.
    pub fn to_dot(&self) -> String {
        let (nodes, edges) = self.graph();
        let mut out = String::from("digraph trace {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
        for (address, label) in &nodes {
            let text = match label {
                Some((entity, category)) => format!("{address}\\n{entity} ({category})"),
                None => address.clone(),
            };
            let style = if label.is_some() { ", style=filled, fillcolor=\"#f4d03f\"" } else { "" };
            let _ = writeln!(out, "  \"{}\" [label=\"{}\"{style}];", dot_escape(address), dot_escape(&text));
        }
        for e in &edges {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{} {}\\n{}\", model=\"{}\", amount=\"{}\", tx=\"{}\"];",
                dot_escape(&e.from),
                dot_escape(&e.to),
                e.model,
                e.amount,
                dot_escape(&short(&e.tx)),
                e.model,
                e.amount,
                dot_escape(&e.tx)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The paths as GraphML: address nodes with entity and category, edges
    /// with model, amount and transaction.
    pub fn to_graphml(&self) -> String {
        let (nodes, edges) = self.graph();
        let mut out = String::from(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
            "  <key id=\"entity\" for=\"node\" attr.name=\"entity\" attr.type=\"string\"/>\n",
            "  <key id=\"category\" for=\"node\" attr.name=\"category\" attr.type=\"string\"/>\n",
            "  <key id=\"model\" for=\"edge\" attr.name=\"model\" attr.type=\"string\"/>\n",
            "  <key id=\"amount\" for=\"edge\" attr.name=\"amount\" attr.type=\"string\"/>\n",
            "  <key id=\"tx\" for=\"edge\" attr.name=\"tx\" attr.type=\"string\"/>\n",
            "  <graph id=\"trace\" edgedefault=\"directed\">\n",
        ));
        for (address, label) in &nodes {
            let _ = write!(out, "    <node id=\"{}\">", xml_escape(address));
            if let Some((entity, category)) = label {
                let _ = write!(
                    out,
                    "<data key=\"entity\">{}</data><data key=\"category\">{}</data>",
                    xml_escape(entity),
                    xml_escape(category)
                );
            }
            out.push_str("</node>\n");
        }
        for (i, e) in edges.iter().enumerate() {
            let _ = writeln!(
                out,
                "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\"><data key=\"model\">{}</data><data key=\"amount\">{}</data><data key=\"tx\">{}</data></edge>",
                xml_escape(&e.from),
                xml_escape(&e.to),
                e.model,
                e.amount,
                xml_escape(&e.tx)
            );
        }
        out.push_str("  </graph>\n</graphml>\n");
        out
    }

    /// The report for people: seeds, then per model the off-ramps reached,
    /// the totals line and the freezable holdings.
    pub fn to_table(&self) -> String {
        let c = &self.case;
        let show = |a: &Amount| format_units(a.value, &c.unit);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "trace {} {} {:?}, tip {} {}",
            c.chain, c.asset, c.parameters.direction, c.index_tip.height, c.index_tip.hash
        );
        let p = &c.parameters;
        let _ = writeln!(
            out,
            "blocks {}..={}, max hops {}, min amount {}, through mixers: {}",
            p.from_block, p.to_block, p.max_hops, p.min_amount, p.through_mixers
        );
        let sources: Vec<String> = c.tag_sources.iter().map(|s| format!("{} v{}", s.source, s.version)).collect();
        let _ =
            writeln!(out, "tag sources: {}", if sources.is_empty() { "none".to_owned() } else { sources.join(", ") });
        let _ = writeln!(out, "seeds: {}", c.seeds.join(", "));
        let ordered = crate::Model::ALL.iter().filter_map(|m| self.models.get(m.as_str()).map(|r| (m.as_str(), r)));
        for (model, m) in ordered {
            let _ = writeln!(out, "\n== {model} ==");
            if m.offramps.is_empty() {
                let what =
                    if c.direction == crate::Direction::Backward { "no tagged source" } else { "no off-ramp reached" };
                let _ = writeln!(out, "{what}");
            } else {
                let mut table = Table::new(&[Left, Left, Left, Right, Right, Right, Left]);
                table.row(["entity", "category", "jur.", "amount", "paths", "hops", "address"]);
                for o in &m.offramps {
                    let inferred = if o.inferred.is_some() { " (inferred)" } else { "" };
                    table.row([
                        o.entity.clone(),
                        o.category.clone(),
                        o.jurisdiction.clone().unwrap_or_else(|| "-".to_owned()),
                        show(&o.amount),
                        o.paths.to_string(),
                        o.min_hops.to_string(),
                        format!("{}{inferred}", o.address),
                    ]);
                }
                table.write(&mut out, "");
            }
            let t = &m.totals;
            let _ = writeln!(
                out,
                "totals: seeded {} | reached {} | held {} | fees {} | dust {} | horizon {} | mixers {} | mined {}",
                show(&t.seeded),
                show(&t.reached),
                show(&t.held),
                show(&t.fees),
                show(&t.dust),
                show(&t.horizon),
                show(&t.mixers),
                show(&t.mined)
            );
            let custodial: Vec<&Offramp> = m.offramps.iter().filter(|o| o.freezable.is_some()).collect();
            if !custodial.is_empty() {
                let _ = writeln!(out, "reached custodians (a freeze order can still reach these):");
                let mut table = Table::new(&[Right, Left, Left]);
                for o in custodial {
                    table.row([show(&o.amount), o.address.clone(), o.freezable.clone().unwrap_or_default()]);
                }
                table.write(&mut out, "  ");
            }
            let freezable: Vec<&Holder> = m.holders.iter().filter(|h| h.freezable || h.frozen.is_some()).collect();
            let _ = writeln!(
                out,
                "held at {} addresses; freezable now: {}",
                m.holders.len(),
                freezable.iter().filter(|h| h.freezable).count()
            );
            let mut table = Table::new(&[Right, Left, Left]);
            for h in freezable {
                let state = match &h.frozen {
                    Some(tx) => format!("already frozen (tx {tx})"),
                    None => h.reason.clone().unwrap_or_default(),
                };
                table.row([show(&h.amount), h.address.clone(), state]);
            }
            table.write(&mut out, "  ");
        }
        out
    }

    fn graph(&self) -> (Nodes, Vec<Edge>) {
        let mut nodes = Nodes::new();
        let mut edges: BTreeMap<(String, String, String, String), U256> = BTreeMap::new();
        for (model, m) in &self.models {
            for list in [&m.offramps, &m.mixers] {
                for o in list {
                    nodes.insert(o.address.clone(), Some((o.entity.clone(), o.category.clone())));
                }
            }
            for p in &m.paths {
                for h in &p.hops {
                    let from = h.from.clone().unwrap_or_else(|| "(seed)".to_owned());
                    let to = h.to.clone().unwrap_or_else(|| "(none)".to_owned());
                    nodes.entry(from.clone()).or_insert(None);
                    nodes.entry(to.clone()).or_insert(None);
                    *edges.entry((model.clone(), h.tx.clone(), from, to)).or_insert(U256::ZERO) += h.amount.value;
                }
            }
        }
        let edges =
            edges.into_iter().map(|((model, tx, from, to), amount)| Edge { model, tx, from, to, amount }).collect();
        (nodes, edges)
    }
}

/// Address nodes, with (entity, category) for labelled ones.
type Nodes = BTreeMap<String, Option<(String, String)>>;

struct Edge {
    model: String,
    tx: String,
    from: String,
    to: String,
    amount: U256,
}

fn stops<'a>(
    ends: impl Iterator<Item = &'a End>,
    describe: &mut dyn Describe,
    numeric: bool,
) -> Result<Vec<Offramp>, String> {
    let mut by: BTreeMap<AddressId, (U256, u64, u32)> = BTreeMap::new();
    for end in ends {
        let Some(address) = end.address else { continue };
        let slot = by.entry(address).or_insert((U256::ZERO, 0, u32::MAX));
        slot.0 += end.amount;
        slot.1 += 1;
        slot.2 = slot.2.min(end.hops);
    }
    let mut out = Vec::new();
    for (id, (value, paths, min_hops)) in by {
        let label = describe.label(id)?;
        let (freezable, _) = describe.freeze(id, label.as_deref())?;
        out.push(Offramp {
            address: describe.address(id)?,
            cluster: describe.cluster(id)?,
            entity: label.as_ref().map(|l| l.entity.clone()).unwrap_or_default(),
            category: label.as_ref().map(|l| l.category.clone()).unwrap_or_default(),
            jurisdiction: label.as_ref().and_then(|l| l.jurisdiction.clone()),
            licensed_by: label.as_ref().and_then(|l| l.licensed_by.clone()),
            inferred: label.as_ref().and_then(|l| l.inferred.clone()),
            amount: Amount { value, numeric },
            paths,
            min_hops,
            freezable,
        });
    }
    out.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.address.cmp(&b.address)));
    Ok(out)
}

fn row(out: &mut String, fields: &[&str]) {
    let cells: Vec<String> = fields
        .iter()
        .map(|f| if f.contains([',', '"', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { (*f).to_owned() })
        .collect();
    out.push_str(&cells.join(","));
    out.push('\n');
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace("\\\\n", "\\n")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn short(tx: &str) -> String {
    if tx.len() > 16 {
        format!("{}…", &tx[..16])
    } else {
        tx.to_owned()
    }
}

/// An amount in whole units with the unit's decimals (`0.015 BTC`).
pub fn format_units(value: U256, unit: &Unit) -> String {
    let digits = value.to_string();
    let d = usize::from(unit.decimals);
    if d == 0 {
        return format!("{digits} {}", unit.symbol);
    }
    let padded = format!("{digits:0>width$}", width = d + 1);
    let (whole, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{whole} {}", unit.symbol)
    } else {
        format!("{whole}.{frac} {}", unit.symbol)
    }
}
