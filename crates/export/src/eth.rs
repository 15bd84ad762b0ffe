//! Ethereum partitions: every transfer of a block range (each transaction's
//! transfers, fees included, then the block's own: withdrawals, rewards),
//! and the same transfers from each side as address history, read through
//! [`EthQuery`].
//!
//! Genesis credits are the exception to block order: the indexer records a
//! prefunded address's genesis balance at block 0 when it first meets the
//! address, at whatever block that is. Each partition holds the credits
//! recorded since the previous partition was exported (their `block` is 0),
//! so none is missed or written twice.

use std::path::Path;

use chainsleuth_core::Chain;
use chainsleuth_eth::{EthQuery, TransferView, TxTransfers};

use crate::error::ExportError;
use crate::layout::table_file;
use crate::schema::{TableSpec, ETH_HISTORY, ETH_TRANSFERS};
use crate::sink::{TableWriter, WrittenFile, V};
use crate::Ticker;

struct Writers {
    transfers: TableWriter,
    history: TableWriter,
}

impl Writers {
    fn write(&mut self, block: u64, tx: Option<&TxTransfers>, t: &TransferView) -> Result<(), ExportError> {
        let block = i64::try_from(block).expect("a block height fits in i64");
        let tx_index = tx.map(|tx| i64::from(tx.tx_index));
        let tx_hash = tx.map(|tx| tx.hash.as_str());
        let ordinal = i64::from(t.ordinal);
        let asset = t.asset.asset.as_str();
        self.transfers.row(&[
            V::I(block),
            V::OI(tx_index),
            V::OS(tx_hash),
            V::OS(tx.map(|tx| tx.from.as_str())),
            V::OB(tx.map(|tx| tx.success)),
            V::I(ordinal),
            V::S(t.kind),
            V::I(i64::from(t.index)),
            V::OS(t.from.as_deref()),
            V::OS(t.to.as_deref()),
            V::S(asset),
            V::OS(t.asset.symbol.as_deref()),
            V::OI(t.asset.decimals.map(i64::from)),
            V::S(&t.amount),
        ])?;
        let sides = [(t.from.as_deref(), "out", t.to.as_deref()), (t.to.as_deref(), "in", t.from.as_deref())];
        for (address, direction, counterparty) in sides {
            let Some(address) = address else { continue };
            self.history.row(&[
                V::S(address),
                V::S(asset),
                V::I(block),
                V::OI(tx_index),
                V::OS(tx_hash),
                V::I(ordinal),
                V::S(t.kind),
                V::S(direction),
                V::OS(counterparty),
                V::S(&t.amount),
            ])?;
        }
        Ok(())
    }
}

/// Writes the two tables of blocks `from..=to`, with the genesis credits
/// after the first `genesis_done`; returns the files and how many genesis
/// credits the store holds.
pub(crate) fn write_partition(
    query: &EthQuery<'_>,
    out: &Path,
    (from, to): (u64, u64),
    genesis_done: u64,
    ticker: &mut Ticker<'_>,
) -> Result<(Vec<WrittenFile>, u64), ExportError> {
    let open = |spec: &'static TableSpec| {
        let (path, relative) = table_file(out, Chain::Ethereum, spec.name, from, to);
        TableWriter::create(spec, path, relative)
    };
    let mut w = Writers { transfers: open(&ETH_TRANSFERS)?, history: open(&ETH_HISTORY)? };
    let genesis = query.genesis_transfers()?;
    for credit in genesis.iter().filter(|t| u64::from(t.ordinal) >= genesis_done) {
        w.write(0, None, credit)?;
    }
    for block in from..=to {
        ticker.block(block);
        for tx in query.block_txs(block)? {
            for t in &tx.transfers {
                w.write(block, Some(&tx), t)?;
            }
        }
        for t in query.block_transfers(block)? {
            w.write(block, None, &t)?;
        }
    }
    let files = [w.transfers, w.history].into_iter().map(TableWriter::finish).collect::<Result<_, _>>()?;
    Ok((files, genesis.len() as u64))
}
