//! In-memory chains for the tracer's tests: a UTXO graph ([`MemUtxo`]) and an
//! account graph ([`MemAccount`]) built from plain lists, implementing
//! `chainsleuth_core`'s read interfaces, plus labels made from a list of
//! flagged addresses. The random generators live in [`random`].

pub mod random;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chainsleuth_core::{
    AccountGraph, AddressId, AssetId, BlockHash, BlockRef, ClusterId, Coin, Height, Label, OutPoint, Sats, Transfer,
    TransferPos, TxNum, UtxoGraph, UtxoTx, U256,
};
use chainsleuth_trace::MapLabels;

/// What the in-memory graphs report for a bad question.
#[derive(Debug)]
pub struct MemError(String);

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MemError {}

fn parse_id(text: &str, prefix: &str) -> Result<u64, MemError> {
    text.strip_prefix(prefix).and_then(|n| n.parse().ok()).ok_or_else(|| MemError(format!("malformed: {text}")))
}

/// One transaction as a test writes it: its block and its outputs; inputs
/// name earlier outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxSpec {
    /// The height of its block (never lower than the previous transaction's).
    pub height: u64,
    /// The coins it spends.
    pub inputs: Vec<OutPoint>,
    /// Its outputs: the address paid (`None` for OP_RETURN) and the value.
    pub outputs: Vec<(Option<u64>, u64)>,
}

/// A UTXO chain in memory: transaction `n` is the `n`-th of the list.
#[derive(Clone)]
pub struct MemUtxo {
    txs: Vec<UtxoTx>,
    tip: Height,
}

impl MemUtxo {
    /// The chain of `specs`, with blocks up to `tip` (the last ones may be
    /// empty). Panics on an input that names no earlier unspent output.
    pub fn new(tip: u64, specs: &[TxSpec]) -> Self {
        let mut coins: BTreeMap<OutPoint, Coin> = BTreeMap::new();
        for (n, spec) in specs.iter().enumerate() {
            let num = TxNum(n as u64);
            assert!(n == 0 || specs[n - 1].height <= spec.height, "transactions out of block order");
            assert!(spec.height <= tip, "transaction above the tip");
            for input in &spec.inputs {
                let coin = coins.get_mut(input).expect("an input spends an earlier output");
                assert!(coin.spent_by.is_none(), "an output spent twice");
                coin.spent_by = Some(num);
            }
            for (vout, (address, value)) in spec.outputs.iter().enumerate() {
                let outpoint = OutPoint { tx: num, vout: vout as u32 };
                let coin = Coin { outpoint, address: address.map(AddressId), value: Sats(*value), spent_by: None };
                coins.insert(outpoint, coin);
            }
        }
        let txs = specs
            .iter()
            .enumerate()
            .map(|(n, spec)| {
                let num = TxNum(n as u64);
                let outputs = (0..spec.outputs.len()).map(|vout| coins[&OutPoint { tx: num, vout: vout as u32 }]);
                UtxoTx {
                    num,
                    height: Height::new(spec.height),
                    inputs: spec.inputs.iter().map(|o| coins[o]).collect(),
                    outputs: outputs.collect(),
                }
            })
            .collect();
        MemUtxo { txs, tip: Height::new(tip) }
    }

    /// Every transaction in chain order, with its coins as the tip sees them.
    pub fn txs(&self) -> &[UtxoTx] {
        &self.txs
    }

    /// Every coin, in chain order.
    pub fn coins(&self) -> impl Iterator<Item = &Coin> {
        self.txs.iter().flat_map(|tx| tx.outputs.iter())
    }

    /// The indexed tip's height.
    pub fn tip_height(&self) -> Height {
        self.tip
    }
}

/// One transaction a line: `tx1 h1: 0:0 0:1 -> a3 6, op 1`.
impl fmt::Debug for MemUtxo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "MemUtxo (tip {}):", self.tip)?;
        for tx in &self.txs {
            let inputs: Vec<String> =
                tx.inputs.iter().map(|c| format!("{}:{}", c.outpoint.tx, c.outpoint.vout)).collect();
            let outputs: Vec<String> =
                tx.outputs.iter().map(|c| format!("{} {}", address(c.address), c.value.0)).collect();
            writeln!(f, "  tx{} h{}: {} -> {}", tx.num, tx.height, inputs.join(" "), outputs.join(", "))?;
        }
        Ok(())
    }
}

fn address(address: Option<AddressId>) -> String {
    address.map_or_else(|| "op".to_string(), |a| format!("a{a}"))
}

impl UtxoGraph for MemUtxo {
    type Error = MemError;

    fn tip(&self) -> Result<Option<BlockRef>, MemError> {
        Ok(Some(BlockRef { height: self.tip, hash: BlockHash::default() }))
    }

    fn address_id(&self, text: &str) -> Result<Option<AddressId>, MemError> {
        let id = AddressId(parse_id(text, "a")?);
        Ok(self.coins().any(|c| c.address == Some(id)).then_some(id))
    }

    fn address_text(&self, id: AddressId) -> Result<String, MemError> {
        Ok(format!("a{}", id.0))
    }

    fn tx_num(&self, txid: &str) -> Result<Option<TxNum>, MemError> {
        let n = parse_id(txid, "tx")?;
        Ok((n < self.txs.len() as u64).then_some(TxNum(n)))
    }

    fn txid(&self, num: TxNum) -> Result<String, MemError> {
        Ok(format!("tx{}", num.0))
    }

    fn tx(&self, num: TxNum) -> Result<UtxoTx, MemError> {
        self.txs.get(num.0 as usize).cloned().ok_or_else(|| MemError(format!("no transaction {num}")))
    }

    fn coin(&self, outpoint: OutPoint) -> Result<Option<Coin>, MemError> {
        let tx = self.txs.get(outpoint.tx.0 as usize);
        Ok(tx.and_then(|tx| tx.outputs.get(outpoint.vout as usize)).copied())
    }

    fn coins_of(&self, address: AddressId, before: TxNum) -> Result<Vec<Coin>, MemError> {
        Ok(self.coins().filter(|c| c.address == Some(address) && c.outpoint.tx < before).copied().collect())
    }

    fn tx_range(&self, from: Height, to: Height) -> Result<(TxNum, TxNum), MemError> {
        let start = self.txs.iter().take_while(|tx| tx.height < from).count();
        let end = self.txs.iter().take_while(|tx| tx.height <= to).count();
        Ok((TxNum(start as u64), TxNum(end as u64)))
    }

    fn cluster_of(&self, _address: AddressId) -> Result<Option<ClusterId>, MemError> {
        Ok(None)
    }

    fn cluster_link(&self, _address: AddressId) -> Result<Option<TxNum>, MemError> {
        Ok(None)
    }
}

/// An account chain in memory holding one asset ([`AssetId::NATIVE`]).
#[derive(Clone)]
pub struct MemAccount {
    transfers: Vec<Transfer>,
    tip: Height,
}

impl MemAccount {
    /// The chain of `transfers` (any order; positions must be unique), with
    /// blocks up to `tip`.
    pub fn new(tip: u64, mut transfers: Vec<Transfer>) -> Self {
        transfers.sort_by_key(|t| t.pos);
        assert!(transfers.windows(2).all(|w| w[0].pos < w[1].pos), "two transfers at one position");
        assert!(transfers.iter().all(|t| t.pos.height.get() <= tip), "a transfer above the tip");
        MemAccount { transfers, tip: Height::new(tip) }
    }

    /// Every transfer in chain order.
    pub fn transfers_in_order(&self) -> &[Transfer] {
        &self.transfers
    }

    /// The indexed tip's height.
    pub fn tip_height(&self) -> Height {
        self.tip
    }
}

/// One transfer a line: `h1.2.0 Move e0 -> e3 5` (`-` for none).
impl fmt::Debug for MemAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "MemAccount (tip {}):", self.tip)?;
        let end = |a: Option<AddressId>| a.map_or_else(|| "-".to_string(), |a| format!("e{a}"));
        for t in &self.transfers {
            let pos = t.pos;
            let (from, to) = (end(t.from), end(t.to));
            writeln!(f, "  h{}.{}.{} {:?} {from} -> {to} {}", pos.height, pos.tx_pos, pos.ordinal, t.kind, t.amount)?;
        }
        Ok(())
    }
}

impl AccountGraph for MemAccount {
    type Error = MemError;

    fn tip(&self) -> Result<Option<BlockRef>, MemError> {
        Ok(Some(BlockRef { height: self.tip, hash: BlockHash::default() }))
    }

    fn address_id(&self, text: &str) -> Result<Option<AddressId>, MemError> {
        let id = AddressId(parse_id(text, "e")?);
        Ok(self.transfers.iter().any(|t| t.from == Some(id) || t.to == Some(id)).then_some(id))
    }

    fn address_text(&self, id: AddressId) -> Result<String, MemError> {
        Ok(format!("e{}", id.0))
    }

    fn asset_id(&self, text: &str) -> Result<Option<AssetId>, MemError> {
        Ok((text == "ETH").then_some(AssetId::NATIVE))
    }

    fn asset_text(&self, asset: AssetId) -> Result<String, MemError> {
        if asset == AssetId::NATIVE {
            Ok("ETH".to_string())
        } else {
            Err(MemError(format!("no asset {}", asset.0)))
        }
    }

    fn transfers(
        &self,
        address: AddressId,
        asset: AssetId,
        from: TransferPos,
        to: Height,
    ) -> Result<Vec<Transfer>, MemError> {
        if asset != AssetId::NATIVE {
            return Ok(Vec::new());
        }
        let touches = |t: &&Transfer| t.from == Some(address) || t.to == Some(address);
        Ok(self.transfers.iter().filter(|t| t.pos >= from && t.pos.height <= to).filter(touches).copied().collect())
    }

    /// Replays the address's transfers before `pos`; a payment of more than
    /// the balance leaves zero, a payment to itself changes nothing.
    fn balance_before(&self, address: AddressId, asset: AssetId, pos: TransferPos) -> Result<U256, MemError> {
        let mut balance = U256::ZERO;
        if asset != AssetId::NATIVE {
            return Ok(balance);
        }
        for t in self.transfers.iter().take_while(|t| t.pos < pos) {
            if t.from == t.to {
                continue;
            }
            if t.from == Some(address) {
                balance = balance.saturating_sub(t.amount);
            }
            if t.to == Some(address) {
                balance += t.amount;
            }
        }
        Ok(balance)
    }

    fn tx_hash(&self, pos: TransferPos) -> Result<Option<String>, MemError> {
        Ok(Some(format!("0x{:08x}{:08x}", pos.height.get(), pos.tx_pos)))
    }

    fn frozen(&self, _address: AddressId, _asset: AssetId) -> Result<Option<String>, MemError> {
        Ok(None)
    }
}

/// What a test labels an address as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// A fiat off-ramp (an exchange).
    OffRamp,
    /// A mixer.
    Mixer,
    /// Both at once (a tie the stops break in the off-ramp's favour).
    Both,
}

/// The labels of tagged addresses.
pub fn labels(tags: &[(u64, Tag)]) -> HashMap<AddressId, Label> {
    tags.iter()
        .map(|&(address, tag)| {
            let label = Label {
                entity: format!("entity{address}"),
                category: format!("{tag:?}").to_lowercase(),
                jurisdiction: None,
                licensed_by: None,
                off_ramp: matches!(tag, Tag::OffRamp | Tag::Both),
                mixer: matches!(tag, Tag::Mixer | Tag::Both),
                custodial: matches!(tag, Tag::OffRamp | Tag::Both),
                inferred: None,
            };
            (AddressId(address), label)
        })
        .collect()
}

/// The same labels as the tracer takes them.
pub fn map_labels(labels: &HashMap<AddressId, Label>) -> MapLabels {
    MapLabels(labels.iter().map(|(a, l)| (*a, Arc::new(l.clone()))).collect())
}
