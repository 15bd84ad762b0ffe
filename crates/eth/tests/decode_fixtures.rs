//! The decoder on real mainnet data (see `tests/data/SOURCES.md`): a
//! pre-Byzantium block with its receipts, geth `callTracer` and parity
//! `trace_block` answers for the same blocks, geth's own tracer test
//! vectors, and a post-London, post-Shanghai block (fees split by base fee,
//! ERC-20 logs, withdrawals) rebuilt from ethereum-etl's export of it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use alloy::primitives::{Address, B256, U256, U64};
use chainsleuth_eth::{
    decode_block, Asset, BlockData, CallFrame, DecodeConfig, DecodeError, Freeze, GethTrace, ParityTrace, RawBlock,
    RawLog, RawReceipt, RawTx, Traces, TransferKind, ADDED_BLACK_LIST_TOPIC, BLOCK_POS, DESTROYED_BLACK_FUNDS_TOPIC,
    ISSUE_TOPIC, UNBLACKLISTED_TOPIC,
};
use serde_json::{json, Value};

fn data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn result_of(name: &str) -> Value {
    let mut answer: Value = serde_json::from_str(&data(name)).unwrap();
    answer["result"].take()
}

#[test]
fn pre_byzantium_block_with_receipts() {
    let block: RawBlock = serde_json::from_value(result_of("block_483920.json")).unwrap();
    let receipts: Vec<RawReceipt> = block
        .transactions
        .iter()
        .map(|tx| serde_json::from_value(result_of(&format!("receipt_483920_{:#x}.json", tx.hash))).unwrap())
        .collect();
    assert!(receipts.iter().all(|r| r.status.is_none()), "pre-Byzantium receipts have no status");
    let decoded = decode_block(
        &BlockData { block: block.clone(), receipts: receipts.clone(), traces: Traces::None },
        &DecodeConfig::default(),
    )
    .unwrap();
    assert_eq!(decoded.number, 483_920);
    assert_eq!(decoded.txs.len(), 4);

    // Every transaction pays gas used × gas price to the miner (no base fee).
    for (pos, (tx, receipt)) in block.transactions.iter().zip(&receipts).enumerate() {
        let fee: U256 = decoded
            .transfers
            .iter()
            .filter(|t| t.tx_pos == pos as u32 && t.kind == TransferKind::FeeTip)
            .inspect(|t| assert_eq!(t.to, Some(block.miner)))
            .map(|t| t.amount)
            .sum();
        assert_eq!(fee, receipt.gas_used * receipt.effective_gas_price.or(tx.gas_price).unwrap());
        assert!(!decoded.transfers.iter().any(|t| t.tx_pos == pos as u32 && t.kind == TransferKind::FeeBurn));
        let value: Vec<_> =
            decoded.transfers.iter().filter(|t| t.tx_pos == pos as u32 && t.kind == TransferKind::Value).collect();
        assert_eq!(value.len(), usize::from(!tx.value.is_zero()));
    }

    // The two logs with three topics are ERC-20 transfers (100,000 and 200,000 units).
    let tokens: Vec<_> = decoded.transfers.iter().filter(|t| t.kind == TransferKind::Token).collect();
    let logs: usize = receipts.iter().map(|r| r.logs.len()).sum();
    assert_eq!(tokens.len(), logs);
    let amounts: Vec<U256> = tokens.iter().map(|t| t.amount).collect();
    assert_eq!(amounts, vec![U256::from(100_000), U256::from(200_000)]);
    assert_eq!(tokens[0].from, Some("0x1b63142628311395ceafeea5667e7c9026c862ca".parse().unwrap()));
}

/// A block of `n` transactions that only exists to carry traces: no value,
/// no gas, so only internal transfers come out.
fn shell(txs: Vec<B256>) -> (RawBlock, Vec<RawReceipt>) {
    let block = RawBlock {
        number: U64::from(1),
        hash: B256::repeat_byte(1),
        parent_hash: B256::ZERO,
        timestamp: U64::ZERO,
        miner: Address::repeat_byte(0xee),
        base_fee_per_gas: None,
        transactions: txs
            .iter()
            .map(|h| RawTx { hash: *h, from: Address::ZERO, to: None, value: U256::ZERO, gas_price: None })
            .collect(),
        withdrawals: None,
        size: None,
    };
    let receipts = txs
        .iter()
        .map(|h| {
            serde_json::from_value(json!({"transactionHash": h, "gasUsed": "0x0", "status": null, "logs": []})).unwrap()
        })
        .collect();
    (block, receipts)
}

type Moves = BTreeSet<(u32, Address, Address, U256)>;

/// (log index, token, from, to, amount).
type TokenMove = (u32, Address, Option<Address>, Option<Address>, U256);

fn internal_moves(traces: Traces, txs: Vec<B256>) -> Moves {
    let (block, receipts) = shell(txs);
    let decoded = decode_block(&BlockData { block, receipts, traces }, &DecodeConfig::default()).unwrap();
    decoded
        .transfers
        .iter()
        .filter(|t| t.kind == TransferKind::Internal)
        .map(|t| (t.tx_pos, t.from.unwrap(), t.to.unwrap(), t.amount))
        .collect()
}

#[test]
fn geth_and_parity_traces_of_the_same_blocks_agree() {
    let mut total = 0;
    for block in [1_000_000u64, 1_000_690, 1_000_895, 1_011_973] {
        let parity: Vec<ParityTrace> =
            serde_json::from_value(result_of(&format!("parity_trace_block_{block}.json"))).unwrap();
        let geth: Vec<GethTrace> = serde_json::from_value(result_of(&format!("geth_calltracer_{block}.json"))).unwrap();
        let mut hashes: Vec<B256> = Vec::new();
        for trace in &parity {
            if let Some(pos) = trace.transaction_position {
                if hashes.len() <= pos as usize {
                    hashes.resize(pos as usize + 1, B256::ZERO);
                }
                hashes[pos as usize] = B256::with_last_byte(pos as u8 + 1);
            }
        }
        assert_eq!(hashes.len(), geth.len(), "block {block}");
        let from_parity = internal_moves(Traces::Parity(parity.clone()), hashes.clone());
        let from_geth = internal_moves(Traces::Geth(geth), hashes.clone());
        if block == 1_011_973 {
            // geth of that era wrote SELFDESTRUCT frames without from, to
            // or value: the move is only visible in parity's suicide trace.
            assert!(from_geth.is_empty());
            let want: Moves = [(
                0,
                "0x474faa5018639791952fae334e2911700ac7fe9b".parse().unwrap(),
                "0x83973747eec131bf9a08ac64fb1a518e891bdf4b".parse().unwrap(),
                U256::from(0xb1a2bc2ec50000u64),
            )]
            .into();
            assert_eq!(from_parity, want);
        } else {
            assert_eq!(from_geth, from_parity, "block {block}");
        }
        total += from_parity.len();

        // Parity traces carry the block reward, credited at block level.
        let (shell_block, receipts) = shell(hashes);
        let decoded = decode_block(
            &BlockData { block: shell_block, receipts, traces: Traces::Parity(parity) },
            &DecodeConfig::default(),
        )
        .unwrap();
        let rewards: Vec<_> = decoded.transfers.iter().filter(|t| t.kind == TransferKind::Reward).collect();
        assert_eq!(rewards.len(), 1, "block {block}");
        assert_eq!(rewards[0].tx_pos, BLOCK_POS);
        assert_eq!(rewards[0].amount, U256::from(5_000_000_000_000_000_000u64));
    }
    // Block 1,000,000's CALLCODE frame carries 100 ETH of the parent's value
    // but moves nothing; the self-destruct is the one internal move.
    assert_eq!(total, 1);
}

fn tracetest(name: &str) -> Moves {
    let test: Value = serde_json::from_str(&data(&format!("geth_tracetest_{name}.json"))).unwrap();
    let frame: CallFrame = serde_json::from_value(test["result"].clone()).unwrap();
    let trace = GethTrace { tx_hash: None, result: Some(frame), error: None };
    internal_moves(Traces::Geth(vec![trace]), vec![B256::repeat_byte(7)])
}

#[test]
fn geth_tracer_vectors() {
    // A SELFDESTRUCT frame moves the contract's balance to the beneficiary.
    let moves = tracetest("selfdestruct");
    assert_eq!(moves.len(), 1);
    let (_, from, to, amount) = moves.first().copied().unwrap();
    assert_eq!(from, "0x3b873a919aa0512d5a0f09e6dcceaa4a6727fafe".parse::<Address>().unwrap());
    assert_eq!(to, "0x000000000000000000000000000000000000dEaD".parse::<Address>().unwrap());
    assert_eq!(amount, "0x4d87094125a369d9bd5".parse::<U256>().unwrap());
    // A DELEGATECALL moves nothing; a failed inner call moves nothing; a
    // reverted top call takes its whole tree with it.
    assert!(tracetest("delegatecall").is_empty());
    assert!(tracetest("inner_instafail").is_empty());
    assert!(tracetest("inner_throw_outer_revert").is_empty());
}

#[test]
fn trace_answers_that_do_not_match_the_block_are_errors() {
    let (block, receipts) = shell(vec![B256::repeat_byte(1), B256::repeat_byte(2)]);
    let one = GethTrace {
        tx_hash: None,
        result: Some(serde_json::from_value(json!({"type": "CALL"})).unwrap()),
        error: None,
    };
    let short = BlockData { block: block.clone(), receipts: receipts.clone(), traces: Traces::Geth(vec![one.clone()]) };
    assert_eq!(
        decode_block(&short, &DecodeConfig::default()).unwrap_err(),
        DecodeError::TraceCount { expected: 2, got: 1 }
    );
    let failed = GethTrace { tx_hash: None, result: None, error: Some("execution timeout".into()) };
    let bad = BlockData { block: block.clone(), receipts: receipts.clone(), traces: Traces::Geth(vec![one, failed]) };
    assert!(decode_block(&bad, &DecodeConfig::default()).unwrap_err().to_string().contains("execution timeout"));
    let missing = BlockData { block, receipts: receipts[..1].to_vec(), traces: Traces::None };
    assert_eq!(
        decode_block(&missing, &DecodeConfig::default()).unwrap_err(),
        DecodeError::ReceiptCount { expected: 2, got: 1 }
    );
}

/// ethereum-etl writes big integers as JSON numbers; quote the fields that
/// may exceed 64 bits so they parse exactly.
fn etl_lines(name: &str) -> Vec<Value> {
    let quote = ["\"value\": ", "\"gas_price\": ", "\"receipt_effective_gas_price\": ", "\"receipt_gas_used\": "];
    data(name)
        .lines()
        .map(|line| {
            let mut line = line.to_owned();
            for key in quote {
                let mut out = String::new();
                let mut rest = line.as_str();
                while let Some(at) = rest.find(key) {
                    let (head, tail) = rest.split_at(at + key.len());
                    out.push_str(head);
                    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
                    if digits.is_empty() {
                        rest = tail;
                    } else {
                        out.push_str(&format!("\"{digits}\""));
                        rest = &tail[digits.len()..];
                    }
                }
                out.push_str(rest);
                line = out;
            }
            serde_json::from_str(&line).unwrap()
        })
        .collect()
}

#[test]
fn post_london_block_with_tokens_fees_and_withdrawals() {
    let block = &etl_lines("etl_17173049_blocks.jsonl")[0];
    let mut txs = etl_lines("etl_17173049_transactions.jsonl");
    txs.sort_by_key(|t| t["transaction_index"].as_u64().unwrap());
    let logs = etl_lines("etl_17173049_logs.jsonl");
    let hex = |v: &Value| format!("{:#x}", v.as_u64().unwrap());
    let raw_block = json!({
        "number": hex(&block["number"]),
        "hash": block["hash"],
        "parentHash": block["parent_hash"],
        "timestamp": hex(&block["timestamp"]),
        "miner": block["miner"],
        "baseFeePerGas": hex(&block["base_fee_per_gas"]),
        "transactions": txs.iter().map(|t| json!({
            "hash": t["hash"], "from": t["from_address"], "to": t["to_address"],
            "value": t["value"], "gasPrice": t["gas_price"],
        })).collect::<Vec<_>>(),
        "withdrawals": block["withdrawals"].as_array().unwrap().iter().map(|w| json!({
            "index": hex(&w["index"]), "validatorIndex": hex(&w["validator_index"]),
            "address": w["address"], "amount": hex(&w["amount"]),
        })).collect::<Vec<_>>(),
    });
    let receipts: Vec<Value> = txs
        .iter()
        .map(|t| {
            let mut own: Vec<&Value> = logs.iter().filter(|l| l["transaction_hash"] == t["hash"]).collect();
            own.sort_by_key(|l| l["log_index"].as_u64().unwrap());
            json!({
                "transactionHash": t["hash"],
                "status": hex(&t["receipt_status"]),
                "gasUsed": t["receipt_gas_used"],
                "effectiveGasPrice": t["receipt_effective_gas_price"],
                "logs": own.iter().map(|l| json!({
                    "address": l["address"], "topics": l["topics"], "data": l["data"], "logIndex": hex(&l["log_index"]),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let raw_block: RawBlock = serde_json::from_value(raw_block).unwrap();
    let receipts: Vec<RawReceipt> = serde_json::from_value(Value::Array(receipts)).unwrap();
    let base_fee = raw_block.base_fee_per_gas.unwrap();
    let miner = raw_block.miner;
    let decoded = decode_block(
        &BlockData { block: raw_block.clone(), receipts: receipts.clone(), traces: Traces::None },
        &DecodeConfig::default(),
    )
    .unwrap();
    assert_eq!(decoded.txs.len(), 116);

    // Fees: tip to the fee recipient plus burned base fee is the whole fee.
    for (pos, receipt) in receipts.iter().enumerate() {
        let pos = pos as u32;
        let sum = |kind| {
            decoded.transfers.iter().filter(|t| t.tx_pos == pos && t.kind == kind).map(|t| t.amount).sum::<U256>()
        };
        let price = receipt.effective_gas_price.unwrap();
        assert_eq!(sum(TransferKind::FeeBurn), receipt.gas_used * base_fee);
        assert_eq!(sum(TransferKind::FeeTip), receipt.gas_used * (price - base_fee));
        assert!(decoded.transfers.iter().filter(|t| t.kind == TransferKind::FeeTip).all(|t| t.to == Some(miner)));
    }

    // Token transfers: ethereum-etl's export, less ERC-721 (four topics),
    // zero amounts, and with the zero address read as mint or burn.
    let three_topics: BTreeSet<(String, u64)> = logs
        .iter()
        .filter(|l| l["topics"].as_array().unwrap().len() == 3)
        .map(|l| (l["transaction_hash"].as_str().unwrap().to_owned(), l["log_index"].as_u64().unwrap()))
        .collect();
    let want: BTreeSet<TokenMove> = etl_lines("etl_17173049_token_transfers.jsonl")
        .iter()
        .filter(|t| {
            three_topics
                .contains(&(t["transaction_hash"].as_str().unwrap().to_owned(), t["log_index"].as_u64().unwrap()))
        })
        .filter(|t| t["value"] != "0")
        .map(|t| {
            let party =
                |k: &str| Some(t[k].as_str().unwrap().parse::<Address>().unwrap()).filter(|a| *a != Address::ZERO);
            let amount: U256 = t["value"].as_str().unwrap().parse().unwrap();
            (
                t["log_index"].as_u64().unwrap() as u32,
                t["token_address"].as_str().unwrap().parse().unwrap(),
                party("from_address"),
                party("to_address"),
                amount,
            )
        })
        .collect();
    let got: BTreeSet<_> = decoded
        .transfers
        .iter()
        .filter(|t| matches!(t.kind, TransferKind::Token | TransferKind::Mint | TransferKind::Burn))
        .filter(|t| three_topics_is_transfer(&logs, t.index))
        .map(|t| {
            let Asset::Token(token) = t.asset else { unreachable!() };
            (t.index, token, t.from, t.to, t.amount)
        })
        .collect();
    assert!(want.len() > 50);
    assert_eq!(got, want);
    // WETH Deposit/Withdrawal events are mints and burns of WETH.
    let weth_events = logs
        .iter()
        .filter(|l| {
            l["address"] == "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2" && l["topics"].as_array().unwrap().len() == 2
        })
        .count();
    let weth_mint_burn = decoded
        .transfers
        .iter()
        .filter(|t| {
            t.asset == Asset::Token(chainsleuth_eth::MAINNET_WETH)
                && matches!(t.kind, TransferKind::Mint | TransferKind::Burn)
        })
        .filter(|t| !three_topics_is_transfer(&logs, t.index))
        .count();
    assert_eq!(weth_mint_burn, weth_events);

    // Withdrawals: 16, in gwei, credited at block level.
    let withdrawals: Vec<_> = decoded.transfers.iter().filter(|t| t.kind == TransferKind::Withdrawal).collect();
    assert_eq!(withdrawals.len(), 16);
    let gwei: u64 = block["withdrawals"].as_array().unwrap().iter().map(|w| w["amount"].as_u64().unwrap()).sum();
    assert_eq!(withdrawals.iter().map(|t| t.amount).sum::<U256>(), U256::from(gwei) * U256::from(1_000_000_000u64));
    assert!(withdrawals.iter().all(|t| t.tx_pos == BLOCK_POS && t.from.is_none()));
}

/// Whether the log at block log index `index` is an ERC-20 `Transfer`.
fn three_topics_is_transfer(logs: &[Value], index: u32) -> bool {
    logs.iter().any(|l| {
        l["log_index"].as_u64() == Some(u64::from(index))
            && l["topics"][0] == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    })
}

/// USDT's and USDC's issuer events, added to a real block's first
/// transaction: mints, burns, freezes and checked holders for a listed
/// token, nothing for any other contract.
#[test]
fn issuer_events_count_only_for_freezable_tokens() {
    let block: RawBlock = serde_json::from_value(result_of("block_483920.json")).unwrap();
    let mut receipts: Vec<RawReceipt> = block
        .transactions
        .iter()
        .map(|tx| serde_json::from_value(result_of(&format!("receipt_483920_{:#x}.json", tx.hash))).unwrap())
        .collect();
    let token = Address::repeat_byte(0x7e);
    let holder = Address::repeat_byte(0x42);
    let sender = block.transactions[0].from;
    let word = |a: Address| B256::left_padding_from(a.as_slice());
    let five = B256::from(U256::from(5u64)).to_vec();
    let log = |topics: Vec<B256>, data: Vec<u8>| RawLog { address: token, topics, data: data.into(), log_index: None };
    receipts[0].logs = vec![
        log(vec![ISSUE_TOPIC], five.clone()),
        log(vec![DESTROYED_BLACK_FUNDS_TOPIC], [word(holder).to_vec(), five.clone()].concat()),
        log(vec![ADDED_BLACK_LIST_TOPIC], word(holder).to_vec()),
        log(vec![UNBLACKLISTED_TOPIC, word(holder)], Vec::new()),
    ];
    let data = BlockData { block, receipts, traces: Traces::None };

    let plain = decode_block(&data, &DecodeConfig::default()).unwrap();
    assert!(plain.transfers.iter().all(|t| t.asset != Asset::Token(token)));
    assert!(plain.freezes.is_empty() && plain.checks.is_empty());

    let mut config = DecodeConfig::default();
    config.freezable.insert(token);
    let decoded = decode_block(&data, &config).unwrap();
    let moved: Vec<_> = decoded
        .transfers
        .iter()
        .filter(|t| t.asset == Asset::Token(token))
        .map(|t| (t.kind, t.index, t.from, t.to, t.amount.to::<u64>()))
        .collect();
    assert_eq!(
        moved,
        vec![(TransferKind::Mint, 0, None, Some(sender), 5), (TransferKind::Burn, 1, Some(holder), None, 5)]
    );
    assert_eq!(
        decoded.freezes,
        vec![Freeze { tx_pos: 0, token, holder, frozen: true }, Freeze { tx_pos: 0, token, holder, frozen: false }]
    );
    assert_eq!(decoded.checks, vec![(token, sender), (token, holder)]);
}
