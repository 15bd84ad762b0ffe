//! `chainsleuth cluster btc`: the cluster of addresses an address belongs to
//! (the multi-input rule), with one page of its members, text or JSON out.

use std::io::Write as _;

use chainsleuth_btc::index::query::{self, ClusterView};
use clap::{Args, Subcommand};

use crate::Context;

const CLUSTER_ABOUT: &str = "Show the cluster an address belongs to: the addresses believed to share its owner \
because a transaction spent from them together (CoinJoins are left out).";

const CLUSTER_AFTER_HELP: &str = "\
A cluster's id is the address id of its first member. When two clusters
merge, the larger keeps its id and the other's id stays an alias that still
resolves. Each member shows the transaction that first linked it (the
evidence). The indexer clusters a block once it is buried under
`--cluster-depth` blocks (default 6), so the newest blocks are not yet in.

Exit status: 0 on success, 2 on any error (unknown address or id, bad cursor).";

/// `chainsleuth cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// A Bitcoin address's cluster, or a cluster by id.
    #[command(about = CLUSTER_ABOUT, after_help = CLUSTER_AFTER_HELP)]
    Btc(ClusterBtcArgs),
}

/// Arguments of `chainsleuth cluster btc`.
#[derive(Debug, Args)]
pub struct ClusterBtcArgs {
    /// An address (base58, bech32 or nonstandard:…), or a cluster id (digits).
    #[arg(value_name = "ADDR_OR_ID")]
    pub subject: String,
    /// Members per page (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=query::MAX_PAGE as u64))]
    pub limit: usize,
    /// Continue from the cursor a previous page printed.
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `chainsleuth cluster ...`.
pub fn run(ctx: &Context, command: ClusterCommand) -> anyhow::Result<()> {
    let ClusterCommand::Btc(args) = command;
    let (store, network) = crate::btc_cmd::open_for_query(ctx, None)?;
    let view = query::cluster(&store, &args.subject, network, args.cursor.as_deref(), args.limit)?;
    let members: Vec<String> = view.members.iter().map(|m| m.address.clone()).collect();
    let (tagged, label) = crate::trace_cmd::cluster_labels(ctx, &store, &members)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let tagged: Vec<_> =
            tagged.iter().map(|(address, label)| serde_json::json!({"address": address, "tag": label})).collect();
        let value = serde_json::json!({ "cluster": view, "label": label, "tagged_members": tagged });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    write_text(&mut out, &view)?;
    if let Some(label) = &label {
        writeln!(
            out,
            "\nlabel       {} ({}), from its tagged members; untagged members carry it as inferred",
            label.entity, label.category
        )?;
    }
    for (address, label) in &tagged {
        writeln!(out, "tagged      {address}: {} ({})", label.entity, label.category)?;
    }
    Ok(())
}

/// Writes a cluster and one page of its members.
fn write_text(out: &mut impl std::io::Write, view: &ClusterView) -> std::io::Result<()> {
    let plural = if view.size == 1 { "" } else { "es" };
    writeln!(out, "cluster     {}   ({} address{plural})", view.id, view.size)?;
    match view.clustered_height {
        Some(height) => writeln!(out, "clustered   through block {height}")?,
        None => writeln!(out, "clustered   no block yet")?,
    }
    for alias in &view.aliases {
        writeln!(out, "alias       {} (merged by {})", alias.id, alias.merged_by)?;
    }
    writeln!(out, "\n{:<64}  linked by", "address")?;
    for member in &view.members {
        let linked = member.linked_by.map_or_else(|| "-".to_owned(), |txid| txid.to_string());
        writeln!(out, "{:<64}  {linked}", member.address)?;
    }
    if let Some(cursor) = &view.next_cursor {
        writeln!(out, "\nmore members: --cursor {cursor}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(subcommand)]
        cluster: ClusterCommand,
    }

    #[test]
    fn flags_parse_and_page_sizes_are_checked() {
        let cmd = Cmd::try_parse_from(["x", "btc", "42", "--limit", "7", "--cursor", "abc", "--json"]).unwrap();
        let ClusterCommand::Btc(args) = cmd.cluster;
        assert_eq!(
            (args.subject.as_str(), args.limit, args.cursor.as_deref(), args.json),
            ("42", 7, Some("abc"), true)
        );
        let plain = Cmd::try_parse_from(["x", "btc", "bcrt1qxyz"]).unwrap();
        let ClusterCommand::Btc(args) = plain.cluster;
        assert_eq!((args.limit, args.json), (100, false));
        for bad in ["0", "10001"] {
            assert!(Cmd::try_parse_from(["x", "btc", "1", "--limit", bad]).is_err(), "{bad}");
        }
        assert!(Cmd::try_parse_from(["x", "btc"]).is_err());
    }
}
