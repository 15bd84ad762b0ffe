//! Bitcoin partitions: transactions, outputs (with their spenders),
//! inputs and address history of a block range, read through the store's
//! [`BtcGraph`] (the tracer's read view: transactions by number, their
//! inputs as the coins they spend, outputs with the number of the
//! transaction that spent them) and nothing below it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use chainsleuth_btc::index::BtcGraph;
use chainsleuth_core::{AddressId, Chain, Height, TxNum, UtxoGraph};

use crate::error::ExportError;
use crate::layout::table_file;
use crate::schema::{BTC_HISTORY, BTC_INPUTS, BTC_OUTPUTS, BTC_TRANSACTIONS};
use crate::sink::{TableWriter, WrittenFile, V};
use crate::Ticker;

/// The most address texts and spenders kept between blocks; past this the
/// caches start afresh (memory stays bounded on a long range).
const CACHE_LIMIT: usize = 1 << 20;

/// What an output's spender column holds.
struct Spender {
    txid: Arc<str>,
    height: Height,
    /// The outpoints it spends, in input order.
    spends: Vec<(TxNum, u32)>,
}

/// Reads a partition's rows, caching what neighbouring transactions share.
struct Reader<'g> {
    graph: &'g BtcGraph<'g>,
    texts: HashMap<AddressId, Arc<str>>,
    txids: HashMap<TxNum, Arc<str>>,
    spenders: HashMap<TxNum, Arc<Spender>>,
}

impl<'g> Reader<'g> {
    fn text(&mut self, id: AddressId) -> Result<Arc<str>, ExportError> {
        if let Some(text) = self.texts.get(&id) {
            return Ok(text.clone());
        }
        let text: Arc<str> = self.graph.address_text(id)?.into();
        self.texts.insert(id, text.clone());
        Ok(text)
    }

    fn txid(&mut self, num: TxNum) -> Result<Arc<str>, ExportError> {
        if let Some(txid) = self.txids.get(&num) {
            return Ok(txid.clone());
        }
        let txid: Arc<str> = self.graph.txid(num)?.into();
        self.txids.insert(num, txid.clone());
        Ok(txid)
    }

    fn spender(&mut self, num: TxNum) -> Result<Arc<Spender>, ExportError> {
        if let Some(s) = self.spenders.get(&num) {
            return Ok(s.clone());
        }
        let tx = self.graph.tx(num)?;
        let spender = Arc::new(Spender {
            txid: self.txid(num)?,
            height: tx.height,
            spends: tx.inputs.iter().map(|c| (c.outpoint.tx, c.outpoint.vout)).collect(),
        });
        self.spenders.insert(num, spender.clone());
        Ok(spender)
    }

    fn trim(&mut self) {
        if self.texts.len() > CACHE_LIMIT {
            self.texts.clear();
        }
        if self.txids.len() > CACHE_LIMIT {
            self.txids.clear();
        }
        if self.spenders.len() > CACHE_LIMIT {
            self.spenders.clear();
        }
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).expect("block heights, counts and satoshi amounts fit in i64")
}

/// Writes the four tables of blocks `from..=to`; spenders are named when
/// they are in a block up to `spenders_through`.
pub(crate) fn write_partition(
    graph: &BtcGraph<'_>,
    out: &Path,
    from: u64,
    to: u64,
    spenders_through: u64,
    ticker: &mut Ticker<'_>,
) -> Result<Vec<WrittenFile>, ExportError> {
    let open = |spec: &'static crate::schema::TableSpec| {
        let (path, relative) = table_file(out, Chain::Bitcoin, spec.name, from, to);
        TableWriter::create(spec, path, relative)
    };
    let mut txs = open(&BTC_TRANSACTIONS)?;
    let mut outputs = open(&BTC_OUTPUTS)?;
    let mut inputs = open(&BTC_INPUTS)?;
    let mut history = open(&BTC_HISTORY)?;
    let (_, spend_end) = graph.tx_range(Height::new(spenders_through), Height::new(spenders_through))?;
    let mut r = Reader { graph, texts: HashMap::new(), txids: HashMap::new(), spenders: HashMap::new() };

    for height in from..=to {
        ticker.block(height);
        let (first, end) = graph.tx_range(Height::new(height), Height::new(height))?;
        for n in first.0..end.0 {
            let num = TxNum(n);
            let tx = graph.tx(num)?;
            let txid = r.txid(num)?;
            let position = int(n - first.0);
            let coinbase = tx.inputs.is_empty();
            let input_sat: u64 = tx.inputs.iter().map(|c| c.value.0).sum();
            let output_sat: u64 = tx.outputs.iter().map(|c| c.value.0).sum();
            let fee = (!coinbase).then(|| int(input_sat.saturating_sub(output_sat)));
            txs.row(&[
                V::I(int(height)),
                V::I(int(n)),
                V::I(position),
                V::S(&txid),
                V::B(coinbase),
                V::I(int(tx.inputs.len() as u64)),
                V::I(int(tx.outputs.len() as u64)),
                V::I(int(input_sat)),
                V::I(int(output_sat)),
                V::OI(fee),
            ])?;

            // An address's part in the transaction: (received, sent).
            let mut moves: BTreeMap<AddressId, (u64, u64)> = BTreeMap::new();
            for coin in &tx.outputs {
                let address = coin.address.map(|a| r.text(a)).transpose()?;
                if let Some(a) = coin.address {
                    moves.entry(a).or_default().0 += coin.value.0;
                }
                let spender = match coin.spent_by.filter(|s| *s < spend_end) {
                    Some(s) => Some((s, r.spender(s)?)),
                    None => None,
                };
                let vin = spender.as_ref().and_then(|(_, s)| {
                    s.spends.iter().position(|&(t, v)| t == num && v == coin.outpoint.vout).map(|i| int(i as u64))
                });
                outputs.row(&[
                    V::I(int(height)),
                    V::I(int(n)),
                    V::I(position),
                    V::S(&txid),
                    V::I(i64::from(coin.outpoint.vout)),
                    V::OS(address.as_deref()),
                    V::I(int(coin.value.0)),
                    V::B(coinbase),
                    V::OS(spender.as_ref().map(|(_, s)| &*s.txid)),
                    V::OI(vin),
                    V::OI(spender.as_ref().map(|(_, s)| int(s.height.get()))),
                    V::OI(spender.as_ref().map(|(num, _)| int(num.0))),
                ])?;
            }
            for (vin, coin) in tx.inputs.iter().enumerate() {
                let address = coin.address.map(|a| r.text(a)).transpose()?;
                if let Some(a) = coin.address {
                    moves.entry(a).or_default().1 += coin.value.0;
                }
                let prev = r.txid(coin.outpoint.tx)?;
                inputs.row(&[
                    V::I(int(height)),
                    V::I(int(n)),
                    V::I(position),
                    V::S(&txid),
                    V::I(int(vin as u64)),
                    V::S(&prev),
                    V::I(i64::from(coin.outpoint.vout)),
                    V::I(int(coin.outpoint.tx.0)),
                    V::OS(address.as_deref()),
                    V::I(int(coin.value.0)),
                ])?;
            }
            for (address, (received, sent)) in moves {
                let text = r.text(address)?;
                history.row(&[
                    V::S(&text),
                    V::I(int(height)),
                    V::I(int(n)),
                    V::I(position),
                    V::S(&txid),
                    V::I(int(received)),
                    V::I(int(sent)),
                ])?;
            }
        }
        r.trim();
    }
    [txs, outputs, inputs, history].into_iter().map(TableWriter::finish).collect()
}
