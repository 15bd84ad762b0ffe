//! A report as one self-contained HTML page for people and for the case
//! file: no scripts, no external assets, inline CSS with a print style.
//! Like the other renderings it is a pure function of the report.
//!
//! It shows what the table does, and the paths with their transaction ids;
//! for machines use JSON or CSV, for graphs DOT or GraphML.

use std::fmt::Write as _;

use crate::report::{format_units, Amount, Holder, ModelReport, Offramp, PathView, Report};
use crate::{Direction, EndKind, Model};

/// The page's style: plain, readable on screen, black on white on paper.
const STYLE: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1b1b;background:#fff;margin:2rem auto;max-width:72rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.3rem;margin:2rem 0 .5rem;border-bottom:2px solid #444}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:13px/1.3 ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.muted{color:#555}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.3rem .6rem}
ol.path{margin:.2rem 0 .8rem;padding-left:1.6rem}
figure.flow{margin:.5rem 0 1.2rem}figure.flow svg{max-width:100%;height:auto}figcaption{color:#555;font-size:.9em}
@media print{body{margin:0;max-width:none;font-size:10pt}section.model{break-before:page}
table,ol.path{break-inside:auto}figure.flow{break-inside:avoid}tr,li{break-inside:avoid}th{background:#eee}a{color:inherit;text-decoration:none}}
";

impl Report {
    /// The report as one HTML page: the case (tip, tag source versions,
    /// parameters, seeds), then per model the totals, the amounts that
    /// reached each off-ramp, the freezable holdings with the reason, and
    /// every path with its transaction ids.
    pub fn to_html(&self) -> String {
        let c = &self.case;
        let mut out = String::with_capacity(16 * 1024);
        let title = format!("Trace report: {} {} ({})", c.chain, c.asset, direction(c.direction));
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            esc(&title),
            esc(&title)
        );
        self.case_html(&mut out);
        for model in Model::ALL {
            if let Some(m) = self.models.get(model.as_str()) {
                self.model_html(&mut out, model, m);
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }

    fn show(&self, a: &Amount) -> String {
        format_units(a.value, &self.case.unit)
    }

    fn case_html(&self, out: &mut String) {
        let c = &self.case;
        let p = &c.parameters;
        let models: Vec<&str> = p.models.iter().map(|m| m.as_str()).collect();
        let _ = write!(
            out,
            "<p class=\"muted\">{} seed(s) on {}, asset {} (shown in {}), {} under {}.</p>\n\
             <section id=\"case\">\n<h2>Case</h2>\n<table>\n\
             <tr><th>Index tip</th><td>block {} <code>{}</code></td></tr>\n\
             <tr><th>Direction</th><td>{}</td></tr>\n<tr><th>Models</th><td>{}</td></tr>\n\
             <tr><th>Block window</th><td>{} to {}</td></tr>\n<tr><th>Max hops</th><td>{}</td></tr>\n\
             <tr><th>Min amount</th><td>{} (smallest unit)</td></tr>\n<tr><th>Through mixers</th><td>{}</td></tr>\n\
             <tr><th>Off-ramp categories</th><td>{}</td></tr>\n</table>\n",
            c.seeds.len(),
            esc(&c.chain),
            esc(&c.asset),
            esc(&c.unit.symbol),
            direction(c.direction),
            esc(&models.join(", ")),
            c.index_tip.height,
            esc(&c.index_tip.hash),
            direction(p.direction),
            esc(&models.join(", ")),
            p.from_block,
            p.to_block,
            p.max_hops,
            p.min_amount,
            if p.through_mixers { "yes" } else { "no" },
            esc(&c.off_ramps.join(", "))
        );
        out.push_str("<h3>Tag sources</h3>\n");
        if c.tag_sources.is_empty() {
            out.push_str("<p>None: no tag list was imported, so no off-ramp could be reached.</p>\n");
        } else {
            out.push_str("<table>\n<tr><th>Source</th><th>Version</th><th>File SHA-256</th></tr>\n");
            for s in &c.tag_sources {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                    esc(&s.source),
                    s.version,
                    esc(&s.sha256)
                );
            }
            out.push_str("</table>\n");
        }
        out.push_str("<h3>Seeds</h3>\n<ul>\n");
        for seed in &c.seeds {
            let _ = writeln!(out, "<li><code>{}</code></li>", esc(seed));
        }
        out.push_str("</ul>\n</section>\n");
    }

    fn model_html(&self, out: &mut String, model: Model, m: &ModelReport) {
        let _ = writeln!(out, "<section class=\"model\" id=\"model-{0}\">\n<h2>Model: {0}</h2>", model.as_str());
        let t = &m.totals;
        out.push_str("<table class=\"totals\">\n<tr>");
        let buckets = [
            ("seeded", &t.seeded),
            ("reached", &t.reached),
            ("held", &t.held),
            ("fees", &t.fees),
            ("dust", &t.dust),
            ("horizon", &t.horizon),
            ("mixers", &t.mixers),
            ("mined", &t.mined),
        ];
        for (name, _) in buckets {
            let _ = write!(out, "<th>{name}</th>");
        }
        out.push_str("</tr>\n<tr>");
        for (_, amount) in buckets {
            let _ = write!(out, "<td class=\"n\">{}</td>", esc(&self.show(amount)));
        }
        let _ = writeln!(out, "</tr>\n</table>\n<p class=\"muted\">{} coins or transfers read.</p>", m.visited);
        if let Some(svg) = crate::sankey::flow_svg(m, |v| format_units(v, &self.case.unit)) {
            let _ = write!(
                out,
                "<figure class=\"flow\">\n{svg}<figcaption>Where the seeded {} went under {}: seeds, then what \
                 reached an off-ramp or a mixer by its fewest hops, what is held and what ended as fees, dust or \
                 past the horizon; widths by amount.</figcaption>\n</figure>\n",
                esc(&self.case.unit.symbol),
                model.as_str()
            );
        }

        let (reached, none) = match self.case.direction {
            Direction::Forward => ("Off-ramps reached", "No off-ramp reached."),
            Direction::Backward => ("Tagged sources", "No tagged source."),
        };
        let _ = writeln!(out, "<h3>{reached}</h3>");
        self.stops_html(out, "offramps", &m.offramps, none);
        if !m.mixers.is_empty() {
            out.push_str("<h3>Mixers</h3>\n");
            self.stops_html(out, "mixers", &m.mixers, "");
        }
        self.holders_html(out, &m.holders);
        self.paths_html(out, &m.paths);
        out.push_str("</section>\n");
    }

    /// The table of `stops` (off-ramps or mixers), of class `class`.
    fn stops_html(&self, out: &mut String, class: &str, stops: &[Offramp], none: &str) {
        if stops.is_empty() {
            let _ = writeln!(out, "<p>{none}</p>");
            return;
        }
        let _ = write!(
            out,
            "<table class=\"{class}\">\n<tr><th>Entity</th><th>Category</th><th>Jurisdiction</th><th>Licence</th>\
             <th>Amount</th><th>Paths</th><th>Fewest hops</th><th>Address</th><th>Can be frozen</th></tr>\n"
        );
        for o in stops {
            let inferred = match &o.inferred {
                Some(how) => {
                    format!(" <span class=\"muted\">(inferred: {} via {})</span>", esc(&how.rule), esc(&how.via))
                }
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td><code>{}</code>{inferred}</td><td>{}</td></tr>",
                esc(&o.entity),
                esc(&o.category),
                esc(o.jurisdiction.as_deref().unwrap_or("-")),
                esc(o.licensed_by.as_deref().unwrap_or("-")),
                esc(&self.show(&o.amount)),
                o.paths,
                o.min_hops,
                esc(&o.address),
                esc(o.freezable.as_deref().unwrap_or("-"))
            );
        }
        out.push_str("</table>\n");
    }

    fn holders_html(&self, out: &mut String, holders: &[Holder]) {
        let shown: Vec<&Holder> = holders.iter().filter(|h| h.freezable || h.frozen.is_some()).collect();
        let _ = writeln!(
            out,
            "<h3>Freezable holdings</h3>\n<p>Held at {} address(es); {} can be frozen now.</p>",
            holders.len(),
            shown.iter().filter(|h| h.freezable).count()
        );
        if shown.is_empty() {
            return;
        }
        out.push_str(
            "<table class=\"freezable\">\n<tr><th>Address</th><th>Entity</th><th>Amount</th><th>Reason</th></tr>\n",
        );
        for h in shown {
            let reason = match &h.frozen {
                Some(tx) => format!("already frozen (tx <code>{}</code>)", esc(tx)),
                None => esc(h.reason.as_deref().unwrap_or("")),
            };
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{reason}</td></tr>",
                esc(&h.address),
                esc(h.entity.as_deref().unwrap_or("-")),
                esc(&self.show(&h.amount))
            );
        }
        out.push_str("</table>\n");
    }

    fn paths_html(&self, out: &mut String, paths: &[PathView]) {
        let _ = writeln!(out, "<h3>Paths ({})</h3>", paths.len());
        for (i, p) in paths.iter().enumerate() {
            let end = if p.end == EndKind::Mixer { "mixer" } else { "reached" };
            let _ = writeln!(
                out,
                "<p>{}. {} to <code>{}</code> ({end}), {} hop(s):</p>\n<ol class=\"path\">",
                i + 1,
                esc(&self.show(&p.amount)),
                esc(&p.to),
                p.hops.len()
            );
            for h in &p.hops {
                let _ = writeln!(
                    out,
                    "<li>tx <code>{}</code>: <code>{}</code> &rarr; <code>{}</code>, {}</li>",
                    esc(&h.tx),
                    esc(h.from.as_deref().unwrap_or("(seed)")),
                    esc(h.to.as_deref().unwrap_or("(none)")),
                    esc(&self.show(&h.amount))
                );
            }
            out.push_str("</ol>\n");
        }
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Forward => "forward",
        Direction::Backward => "backward",
    }
}

/// Text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }
}
