//! Text output for people: aligned tables of summaries, histories and
//! transactions. Amounts show as BTC with the satoshi figure beside them;
//! `--json` output is produced by serde elsewhere and keeps integers.

use std::io::{self, Write};

use chainsleuth_btc::index::query::{AddressSummary, HistoryPage, TxView};
use chainsleuth_core::{Height, Sats};

fn height(h: Option<Height>) -> String {
    h.map_or_else(|| "-".to_owned(), |h| h.to_string())
}

fn btc(amount: Sats) -> String {
    let text = amount.to_string();
    text.trim_end_matches(" BTC").to_owned()
}

/// Writes an address summary and one page of its history.
///
/// # Errors
/// Write errors (a closed pipe included).
pub fn address_btc(out: &mut impl Write, summary: &AddressSummary, page: &HistoryPage) -> io::Result<()> {
    writeln!(out, "address     {}", summary.address)?;
    writeln!(out, "balance     {} BTC ({} sat)", btc(summary.balance), summary.balance.to_sat())?;
    writeln!(out, "received    {} BTC", btc(summary.received))?;
    writeln!(out, "sent        {} BTC", btc(summary.sent))?;
    writeln!(
        out,
        "txs         {}   first seen {}   last seen {}",
        summary.tx_count,
        height(summary.first_seen),
        height(summary.last_seen)
    )?;
    if page.rows.is_empty() {
        writeln!(out, "\nno transactions")?;
        return Ok(());
    }
    writeln!(out, "\n{:>8} {:>5}  {:<64}  {:>17}  {:>17}", "height", "pos", "txid", "received", "sent")?;
    for row in &page.rows {
        writeln!(
            out,
            "{:>8} {:>5}  {:<64}  {:>17}  {:>17}",
            row.height,
            row.position,
            row.txid,
            btc(row.received),
            btc(row.sent)
        )?;
    }
    if let Some(cursor) = &page.next_cursor {
        writeln!(out, "\nolder rows: --cursor {cursor}")?;
    }
    Ok(())
}

/// Writes a transaction with its inputs and outputs.
///
/// # Errors
/// Write errors (a closed pipe included).
pub fn tx_btc(out: &mut impl Write, tx: &TxView) -> io::Result<()> {
    writeln!(out, "txid        {}", tx.txid)?;
    writeln!(out, "block       {} ({})", tx.height, tx.block_hash)?;
    writeln!(out, "position    {}{}", tx.position, if tx.coinbase { " (coinbase)" } else { "" })?;
    if let Some(fee) = tx.fee {
        writeln!(out, "fee         {} BTC ({} sat)", btc(fee), fee.to_sat())?;
    }
    writeln!(out, "\ninputs")?;
    for input in &tx.inputs {
        writeln!(
            out,
            "{:>5}  {:>17}  {}  from {}:{}",
            input.vin,
            btc(input.value),
            input.address.as_deref().unwrap_or("(no address)"),
            input.prev_txid,
            input.prev_vout
        )?;
    }
    writeln!(out, "\noutputs")?;
    for output in &tx.outputs {
        let spent =
            output.spent_by.as_ref().map_or_else(|| "unspent".to_owned(), |s| format!("spent by {}:{}", s.txid, s.vin));
        writeln!(
            out,
            "{:>5}  {:>17}  {}  {}",
            output.vout,
            btc(output.value),
            output.address.as_deref().unwrap_or("(OP_RETURN, no address)"),
            spent
        )?;
    }
    Ok(())
}
