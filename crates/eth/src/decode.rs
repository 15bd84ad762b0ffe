//! Turns one block's fetched data into transfers, with no I/O: transaction
//! values, internal calls with value, ERC-20 and WETH logs, the issuer
//! events of freezable tokens (USDT's `Issue`, `Redeem`,
//! `DestroyedBlackFunds`, and USDT's and USDC's freezes), fees,
//! withdrawals and (parity) rewards. Each skip rule stands beside the line
//! that applies it.

use std::collections::{HashMap, HashSet};

use alloy::primitives::{address, b256, Address, B256, U256};

use crate::error::DecodeError;
use crate::transfer::{Asset, DecodedBlock, Freeze, Transfer, TransferKind, TxInfo, BLOCK_POS};
use crate::types::{BlockData, CallFrame, GethTrace, ParityTrace, RawLog, RawReceipt, RawTx, Traces};

/// `keccak256("Transfer(address,address,uint256)")`.
pub const TRANSFER_TOPIC: B256 = b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
/// `keccak256("Deposit(address,uint256)")` (WETH9).
pub const DEPOSIT_TOPIC: B256 = b256!("e1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c");
/// `keccak256("Withdrawal(address,uint256)")` (WETH9).
pub const WITHDRAWAL_TOPIC: B256 = b256!("7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65");
/// WETH9 on Ethereum mainnet.
pub const MAINNET_WETH: Address = address!("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2");
/// Tether USD (USDT) on Ethereum mainnet.
pub const MAINNET_USDT: Address = address!("dac17f958d2ee523a2206206994597c13d831ec7");
/// USD Coin (USDC) on Ethereum mainnet.
pub const MAINNET_USDC: Address = address!("a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48");

/// `keccak256("Issue(uint256)")` (USDT: new units for the owner, no `Transfer`).
pub const ISSUE_TOPIC: B256 = b256!("cb8241adb0c3fdb35b70c24ce35c5eb0c17af7431c99f827d44a445ca624176a");
/// `keccak256("Redeem(uint256)")` (USDT: the owner's units destroyed, no `Transfer`).
pub const REDEEM_TOPIC: B256 = b256!("702d5967f45f6513a38ffc42d6ba9bf230bd40e8f53b16363c7eb4fd2deb9a44");
/// `keccak256("DestroyedBlackFunds(address,uint256)")` (USDT: a frozen
/// holder's balance destroyed, no `Transfer`).
pub const DESTROYED_BLACK_FUNDS_TOPIC: B256 = b256!("61e6e66b0d6339b2980aecc6ccc0039736791f0ccde9ed512e789a7fbdd698c6");
/// `keccak256("AddedBlackList(address)")` (USDT freezes a holder).
pub const ADDED_BLACK_LIST_TOPIC: B256 = b256!("42e160154868087d6bfdc0ca23d96a1c1cfa32f1b72ba9ba27b69b98a0d819dc");
/// `keccak256("RemovedBlackList(address)")` (USDT releases a holder).
pub const REMOVED_BLACK_LIST_TOPIC: B256 = b256!("d7e9ec6e6ecd65492dce6bf513cd6867560d49544421d0783ddf06e76c24470c");
/// `keccak256("Blacklisted(address)")` (USDC freezes a holder).
pub const BLACKLISTED_TOPIC: B256 = b256!("ffa4e6181777692565cf28528fc88fd1516ea86b56da075235fa575af6a4b855");
/// `keccak256("UnBlacklisted(address)")` (USDC releases a holder).
pub const UNBLACKLISTED_TOPIC: B256 = b256!("117e3210bb9aa7d9baff172026820255c6f6c30ba8999d1c2fd88e2848137c4e");

/// Wei per gwei (withdrawal amounts are in gwei).
const WEI_PER_GWEI: u64 = 1_000_000_000;

/// Choices that change how logs are read.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    /// Contracts whose `Deposit`/`Withdrawal` events mint and burn their
    /// token (WETH-like wrappers). Other contracts' events of the same
    /// signature (staking pools, vaults) are not token movements, so only
    /// listed ones count.
    pub wrapped: HashSet<Address>,
    /// Tokens whose issuer mints, burns and freezes with events of its own
    /// (USDT-like and USDC-like): their issuer events are read, and their
    /// holders' balances are checked against `balanceOf` after each block.
    /// The same events of other contracts move nothing, so only listed
    /// ones count.
    pub freezable: HashSet<Address>,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig { wrapped: HashSet::from([MAINNET_WETH]), freezable: HashSet::from([MAINNET_USDT, MAINNET_USDC]) }
    }
}

/// Builds transfers of one transaction (or the block level), numbering
/// ordinals in the order they are pushed.
struct Sink<'a> {
    out: &'a mut Vec<Transfer>,
    tx_pos: u32,
    ordinal: u32,
}

impl Sink<'_> {
    fn push(
        &mut self,
        kind: TransferKind,
        index: u32,
        from: Option<Address>,
        to: Option<Address>,
        asset: Asset,
        amount: U256,
    ) {
        // A zero amount moves nothing and changes no balance.
        if amount.is_zero() {
            return;
        }
        self.out.push(Transfer { tx_pos: self.tx_pos, ordinal: self.ordinal, kind, index, from, to, asset, amount });
        self.ordinal += 1;
    }
}

fn hex_hash(hash: &B256) -> String {
    format!("{hash:#x}")
}

/// Decodes `data` into the block's transactions and transfers.
///
/// # Errors
/// [`DecodeError`] when receipts or traces do not match the transactions,
/// a trace failed, or an amount overflows.
pub fn decode_block(data: &BlockData, config: &DecodeConfig) -> Result<DecodedBlock, DecodeError> {
    let block = &data.block;
    let txs = &block.transactions;
    check_receipts(txs, &data.receipts)?;
    let tops = top_level_errors(txs, &data.traces)?;
    let internal = internal_transfers(txs, &data.traces)?;

    let mut transfers = Vec::new();
    let mut freezes = Vec::new();
    let mut checks = Vec::new();
    let mut infos = Vec::with_capacity(txs.len());
    for (pos, (tx, receipt)) in txs.iter().zip(&data.receipts).enumerate() {
        // Before Byzantium receipts carry no status: the top call frame's
        // error tells, when traces are there; otherwise assume success.
        let success = match receipt.status {
            Some(status) => status.to::<u64>() == 1,
            None => !tops.get(pos).copied().unwrap_or(false),
        };
        infos.push(TxInfo { hash: tx.hash, from: tx.from, success });
        let tx_pos = u32::try_from(pos).unwrap_or(u32::MAX - 2);
        let mut sink = Sink { out: &mut transfers, tx_pos, ordinal: 0 };
        fees(&mut sink, tx, receipt, block.base_fee_per_gas, block.miner)?;
        // A failed transaction moves nothing but its fee.
        if !success {
            continue;
        }
        let to = tx.to.or(receipt.contract_address);
        sink.push(TransferKind::Value, 0, Some(tx.from), to, Asset::Eth, tx.value);
        for (index, from, to, amount) in internal.get(&pos).into_iter().flatten() {
            sink.push(TransferKind::Internal, *index, Some(*from), Some(*to), Asset::Eth, *amount);
        }
        // A freezable token's constructor may credit its deployer silently.
        if let Some(created) = receipt.contract_address.filter(|c| config.freezable.contains(c)) {
            checks.push((created, tx.from));
        }
        for (n, log) in receipt.logs.iter().enumerate() {
            let index = log.log_index.map_or(n as u64, |i| i.to::<u64>());
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            if config.freezable.contains(&log.address) && issuer_log(&mut sink, index, log, tx.from, &mut freezes) {
                continue;
            }
            token_log(&mut sink, index, log, config);
        }
    }

    let mut sink = Sink { out: &mut transfers, tx_pos: BLOCK_POS, ordinal: 0 };
    for (n, w) in block.withdrawals.iter().flatten().enumerate() {
        let amount = U256::from(w.amount.to::<u64>()) * U256::from(WEI_PER_GWEI);
        sink.push(TransferKind::Withdrawal, n as u32, None, Some(w.address), Asset::Eth, amount);
    }
    if let Traces::Parity(traces) = &data.traces {
        for (n, trace) in traces.iter().filter(|t| t.kind == "reward").enumerate() {
            let amount = trace.action.value.unwrap_or_default();
            sink.push(TransferKind::Reward, n as u32, None, trace.action.author, Asset::Eth, amount);
        }
    }

    // Every holder a freezable token's transfers and freezes name is
    // checked too; the zero address holds nothing.
    for t in &transfers {
        if let Asset::Token(token) = t.asset {
            if config.freezable.contains(&token) {
                checks.extend([t.from, t.to].into_iter().flatten().map(|holder| (token, holder)));
            }
        }
    }
    checks.extend(freezes.iter().map(|f| (f.token, f.holder)));
    let mut seen = HashSet::new();
    checks.retain(|pair| pair.1 != Address::ZERO && seen.insert(*pair));

    Ok(DecodedBlock {
        number: block.number.to::<u64>(),
        hash: block.hash,
        parent_hash: block.parent_hash,
        timestamp: block.timestamp.to::<u64>(),
        txs: infos,
        transfers,
        freezes,
        checks,
    })
}

fn check_receipts(txs: &[RawTx], receipts: &[RawReceipt]) -> Result<(), DecodeError> {
    if txs.len() != receipts.len() {
        return Err(DecodeError::ReceiptCount { expected: txs.len(), got: receipts.len() });
    }
    for (index, (tx, receipt)) in txs.iter().zip(receipts).enumerate() {
        if tx.hash != receipt.transaction_hash {
            return Err(DecodeError::ReceiptMismatch {
                index,
                expected: hex_hash(&tx.hash),
                found: hex_hash(&receipt.transaction_hash),
            });
        }
    }
    Ok(())
}

/// The fee: gas used × effective price (+ blob gas × blob price), paid by
/// every included transaction, failed or not. The base fee and blob fee are
/// burned; the rest goes to the fee recipient.
fn fees(
    sink: &mut Sink<'_>,
    tx: &RawTx,
    receipt: &RawReceipt,
    base_fee: Option<U256>,
    miner: Address,
) -> Result<(), DecodeError> {
    let overflow = |what| DecodeError::Overflow { what, tx: hex_hash(&tx.hash) };
    // Old nodes' receipts lack effectiveGasPrice; the legacy gasPrice is it.
    let price = receipt.effective_gas_price.or(tx.gas_price).unwrap_or_default();
    let fee = receipt.gas_used.checked_mul(price).ok_or(overflow("fee"))?;
    let burned = match base_fee {
        Some(base) => receipt.gas_used.checked_mul(base).ok_or(overflow("base fee"))?.min(fee),
        None => U256::ZERO,
    };
    let blob = match (receipt.blob_gas_used, receipt.blob_gas_price) {
        (Some(used), Some(price)) => used.checked_mul(price).ok_or(overflow("blob fee"))?,
        _ => U256::ZERO,
    };
    sink.push(TransferKind::FeeTip, 0, Some(tx.from), Some(miner), Asset::Eth, fee - burned);
    sink.push(
        TransferKind::FeeBurn,
        0,
        Some(tx.from),
        None,
        Asset::Eth,
        burned.checked_add(blob).ok_or(overflow("burn"))?,
    );
    Ok(())
}

/// The address in the low 20 bytes of a topic, if its high 12 bytes are
/// zero (as ABI encoding of an address makes them).
fn topic_address(topic: &B256) -> Option<Address> {
    topic[..12].iter().all(|b| *b == 0).then(|| Address::from_slice(&topic[12..]))
}

/// Reads a freezable token's issuer event: `Issue` mints to the
/// transaction's sender (the owner, who alone may issue), `Redeem` burns
/// from it, `DestroyedBlackFunds` burns a frozen holder's balance, and the
/// USDT and USDC freeze events freeze or release a holder. Returns whether
/// `log` was one of them.
fn issuer_log(sink: &mut Sink<'_>, index: u32, log: &RawLog, sender: Address, freezes: &mut Vec<Freeze>) -> bool {
    let Some(topic0) = log.topics.first() else { return false };
    let token = Asset::Token(log.address);
    let word = |n: usize| log.data.get(n * 32..(n + 1) * 32).map(B256::from_slice);
    let tx_pos = sink.tx_pos;
    let mut freeze = |holder: Option<Address>, frozen: bool| {
        if let Some(holder) = holder {
            freezes.push(Freeze { tx_pos, token: log.address, holder, frozen });
        }
    };
    // USDT's events index nothing: the amount, or the holder then the
    // amount, are the data words.
    match (log.topics.len(), log.data.len()) {
        (1, 32) if *topic0 == ISSUE_TOPIC || *topic0 == REDEEM_TOPIC => {
            let amount = U256::from_be_slice(&log.data);
            if *topic0 == ISSUE_TOPIC {
                sink.push(TransferKind::Mint, index, None, Some(sender), token, amount);
            } else {
                sink.push(TransferKind::Burn, index, Some(sender), None, token, amount);
            }
        }
        (1, 64) if *topic0 == DESTROYED_BLACK_FUNDS_TOPIC => {
            let (Some(holder), Some(amount)) = (word(0).as_ref().and_then(topic_address), word(1)) else { return true };
            sink.push(TransferKind::Burn, index, Some(holder), None, token, U256::from_be_slice(amount.as_slice()));
        }
        (1, 32) if *topic0 == ADDED_BLACK_LIST_TOPIC || *topic0 == REMOVED_BLACK_LIST_TOPIC => {
            freeze(word(0).as_ref().and_then(topic_address), *topic0 == ADDED_BLACK_LIST_TOPIC);
        }
        // USDC indexes the holder.
        (2, 0) if *topic0 == BLACKLISTED_TOPIC || *topic0 == UNBLACKLISTED_TOPIC => {
            freeze(topic_address(&log.topics[1]), *topic0 == BLACKLISTED_TOPIC);
        }
        _ => return false,
    }
    true
}

fn token_log(sink: &mut Sink<'_>, index: u32, log: &RawLog, config: &DecodeConfig) {
    let Some(topic0) = log.topics.first() else { return };
    // Every event read here has exactly one 32-byte word of data.
    if log.data.len() != 32 {
        return;
    }
    let amount = U256::from_be_slice(&log.data);
    let token = Asset::Token(log.address);
    if *topic0 == TRANSFER_TOPIC {
        // Three topics only: ERC-721 indexes the token id as a fourth topic
        // and moves a non-fungible item, not an amount.
        if log.topics.len() != 3 {
            return;
        }
        let (Some(from), Some(to)) = (topic_address(&log.topics[1]), topic_address(&log.topics[2])) else { return };
        // The zero address stands for minting and burning, as OpenZeppelin
        // emits them; balanceOf(0) stays zero.
        let from = (from != Address::ZERO).then_some(from);
        let to = (to != Address::ZERO).then_some(to);
        let kind = match (from, to) {
            (None, None) => return,
            (None, Some(_)) => TransferKind::Mint,
            (Some(_), None) => TransferKind::Burn,
            (Some(_), Some(_)) => TransferKind::Token,
        };
        sink.push(kind, index, from, to, token, amount);
    } else if log.topics.len() == 2 && config.wrapped.contains(&log.address) {
        let Some(who) = topic_address(&log.topics[1]) else { return };
        if *topic0 == DEPOSIT_TOPIC {
            sink.push(TransferKind::Mint, index, None, Some(who), token, amount);
        } else if *topic0 == WITHDRAWAL_TOPIC {
            sink.push(TransferKind::Burn, index, Some(who), None, token, amount);
        }
    }
}

/// For each transaction position, whether its top call failed (from traces).
fn top_level_errors(txs: &[RawTx], traces: &Traces) -> Result<Vec<bool>, DecodeError> {
    match traces {
        Traces::None => Ok(Vec::new()),
        Traces::Geth(items) => {
            check_geth(txs, items)?;
            Ok(items.iter().map(|i| i.result.as_ref().is_some_and(|f| f.error.is_some())).collect())
        }
        Traces::Parity(items) => {
            let mut failed = vec![false; txs.len()];
            for trace in items.iter().filter(|t| t.trace_address.is_empty()) {
                if let Some(slot) = trace.transaction_position.and_then(|p| failed.get_mut(p as usize)) {
                    *slot = trace.error.is_some();
                }
            }
            Ok(failed)
        }
    }
}

fn check_geth(txs: &[RawTx], items: &[GethTrace]) -> Result<(), DecodeError> {
    if items.len() != txs.len() {
        return Err(DecodeError::TraceCount { expected: txs.len(), got: items.len() });
    }
    for (tx, item) in txs.iter().zip(items) {
        if let Some(message) = &item.error {
            return Err(DecodeError::TraceFailed {
                tx: hex_hash(&tx.hash),
                message: message.chars().take(200).collect(),
            });
        }
        if item.result.is_none() {
            return Err(DecodeError::TraceFailed { tx: hex_hash(&tx.hash), message: "no call frame".into() });
        }
    }
    Ok(())
}

/// An internal transfer: (trace index, from, to, amount).
type Internal = (u32, Address, Address, U256);

/// Internal value transfers per transaction position, from either trace form.
fn internal_transfers(txs: &[RawTx], traces: &Traces) -> Result<HashMap<usize, Vec<Internal>>, DecodeError> {
    let mut out: HashMap<usize, Vec<Internal>> = HashMap::new();
    match traces {
        Traces::None => {}
        Traces::Geth(items) => {
            check_geth(txs, items)?;
            for (pos, item) in items.iter().enumerate() {
                let Some(top) = &item.result else { continue };
                let mut found = Vec::new();
                let mut index = 0u32;
                walk_frame(top, true, &mut index, &mut found);
                if !found.is_empty() {
                    out.insert(pos, found);
                }
            }
        }
        Traces::Parity(items) => {
            let mut by_tx: HashMap<usize, Vec<&ParityTrace>> = HashMap::new();
            for trace in items {
                if let Some(pos) = trace.transaction_position {
                    by_tx.entry(pos as usize).or_default().push(trace);
                }
            }
            for (pos, list) in by_tx {
                let found = parity_internal(&list);
                if !found.is_empty() {
                    out.insert(pos, found);
                }
            }
        }
    }
    Ok(out)
}

/// Whether a frame of this type moves its value. DELEGATECALL and CALLCODE
/// run another contract's code in the caller's context: the value shown is
/// the parent's, and no ether changes hands. STATICCALL moves none.
fn moves_value(kind: &str) -> bool {
    matches!(kind.to_ascii_uppercase().as_str(), "CALL" | "CREATE" | "CREATE2" | "SELFDESTRUCT" | "SUICIDE")
}

fn subtree_size(frame: &CallFrame) -> u32 {
    1 + frame.calls.iter().map(subtree_size).sum::<u32>()
}

/// Visits frames in pre-order, numbering every frame (reverted ones too, so
/// indexes match the node's trace positions).
fn walk_frame(frame: &CallFrame, top: bool, index: &mut u32, out: &mut Vec<Internal>) {
    let own = *index;
    // A reverted frame undoes its own value and everything under it.
    if frame.error.is_some() {
        *index += subtree_size(frame);
        return;
    }
    *index += 1;
    // The top frame's value is the transaction's own, counted as such.
    if !top && moves_value(&frame.kind) {
        if let (Some(from), Some(to), Some(value)) = (frame.from, frame.to, frame.value) {
            if !value.is_zero() {
                out.push((own, from, to, value));
            }
        }
    }
    for call in &frame.calls {
        walk_frame(call, false, index, out);
    }
}

/// Internal transfers of one transaction's parity traces (in node order,
/// which is pre-order of the call tree).
fn parity_internal(traces: &[&ParityTrace]) -> Vec<Internal> {
    let failed: Vec<&[u32]> = traces.iter().filter(|t| t.error.is_some()).map(|t| t.trace_address.as_slice()).collect();
    let mut out = Vec::new();
    for (n, trace) in traces.iter().enumerate() {
        // The top call is the transaction's own value.
        if trace.trace_address.is_empty() {
            continue;
        }
        // A trace under (or at) a failed trace was reverted.
        if failed.iter().any(|f| trace.trace_address.starts_with(f)) {
            continue;
        }
        let a = &trace.action;
        let moved = match trace.kind.as_str() {
            "call" => match a.call_type.as_deref() {
                Some("delegatecall" | "callcode" | "staticcall") => None,
                _ => a.from.zip(a.to).zip(a.value),
            },
            "create" => a.from.zip(trace.result.as_ref().and_then(|r| r.address)).zip(a.value),
            "suicide" => a.address.zip(a.refund_address).zip(a.balance),
            _ => None,
        };
        if let Some(((from, to), value)) = moved {
            if !value.is_zero() {
                out.push((n as u32, from, to, value));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::keccak256;

    #[test]
    fn topics_are_the_event_signatures() {
        assert_eq!(keccak256("Transfer(address,address,uint256)"), TRANSFER_TOPIC);
        assert_eq!(keccak256("Deposit(address,uint256)"), DEPOSIT_TOPIC);
        assert_eq!(keccak256("Withdrawal(address,uint256)"), WITHDRAWAL_TOPIC);
        assert_eq!(keccak256("Issue(uint256)"), ISSUE_TOPIC);
        assert_eq!(keccak256("Redeem(uint256)"), REDEEM_TOPIC);
        assert_eq!(keccak256("DestroyedBlackFunds(address,uint256)"), DESTROYED_BLACK_FUNDS_TOPIC);
        assert_eq!(keccak256("AddedBlackList(address)"), ADDED_BLACK_LIST_TOPIC);
        assert_eq!(keccak256("RemovedBlackList(address)"), REMOVED_BLACK_LIST_TOPIC);
        assert_eq!(keccak256("Blacklisted(address)"), BLACKLISTED_TOPIC);
        assert_eq!(keccak256("UnBlacklisted(address)"), UNBLACKLISTED_TOPIC);
    }

    fn frame(kind: &str, from: u8, to: u8, value: u64, error: bool, calls: Vec<CallFrame>) -> CallFrame {
        CallFrame {
            kind: kind.into(),
            from: Some(Address::repeat_byte(from)),
            to: Some(Address::repeat_byte(to)),
            value: Some(U256::from(value)),
            error: error.then(|| "execution reverted".into()),
            calls,
        }
    }

    #[test]
    fn reverted_subtrees_and_delegatecalls_move_nothing() {
        let top = frame(
            "CALL",
            1,
            2,
            100,
            false,
            vec![
                frame("CALL", 2, 3, 10, false, vec![frame("CALL", 3, 4, 5, false, vec![])]),
                frame("CALL", 2, 5, 20, true, vec![frame("CALL", 5, 6, 7, false, vec![])]),
                frame("DELEGATECALL", 2, 7, 100, false, vec![frame("CALL", 2, 8, 3, false, vec![])]),
                frame("CREATE2", 2, 9, 1, false, vec![]),
            ],
        );
        let mut out = Vec::new();
        walk_frame(&top, true, &mut 0, &mut out);
        let got: Vec<(u32, u8, u8, u64)> = out.iter().map(|(i, f, t, v)| (*i, f.0[0], t.0[0], v.to::<u64>())).collect();
        assert_eq!(got, vec![(1, 2, 3, 10), (2, 3, 4, 5), (6, 2, 8, 3), (7, 2, 9, 1)]);
    }
}
