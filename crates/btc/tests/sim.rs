//! Checks the regtest chain builder against an independent reading of the blocks it makes: consensus rules a node
//! would apply (links, merkle roots, witness commitments, proof of work, BIP34, maturity, subsidy, no double
//! spends), every signature against a sighash recomputed here, ground truth against a recount, determinism,
//! branches, and the Bitcoin Core block-file layout it writes.

mod consensus_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hashes::{hash160, Hash};
use bitcoin::key::XOnlyPublicKey;
use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_PUSHNUM_2, OP_PUSHNUM_3};
use bitcoin::script::Instruction;
use bitcoin::secp256k1::{schnorr, Message, Secp256k1, VerifyOnly};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{consensus, Amount, Block, BlockHash, Network, OutPoint, PublicKey, Script, Transaction, TxOut};
use chainsleuth_btc::sim::{
    build_chain, build_stale_branch, simulate_to_dir, write_blocks_dir, AddressTruth, BlkDirOptions, GroundTruth,
    Scenario, SimChain, SimConfig,
};
use chainsleuth_core::{Height, Sats};
use consensus_support::{address_of, core_verify, verify_with_core};

/// A coin in the test's own UTXO set.
struct Coin {
    out: TxOut,
    height: usize,
    coinbase: bool,
}

/// What the walk over a chain found, besides failing on any rule it breaks.
#[derive(Default)]
struct Walk {
    truth: BTreeMap<String, AddressTruth>,
    txs: u64,
    inputs_verified: u64,
    shapes: BTreeMap<&'static str, u64>,
    longest_peel: u64,
}

fn regtest_subsidy(height: usize) -> u64 {
    let halvings = height / 150;
    if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    }
}

/// The BIP34 height in a coinbase script, reading OP_1..OP_16 as Core writes heights 1-16.
fn bip34_height(script: &Script) -> i64 {
    match script.instructions_minimal().next().expect("a first push").expect("a valid push") {
        Instruction::Op(op) => {
            let code = op.to_u8();
            assert!((0x51..=0x60).contains(&code), "height opcode {op:?}");
            i64::from(code - 0x50)
        }
        Instruction::PushBytes(bytes) => {
            let bytes = bytes.as_bytes();
            let mut n: i64 = 0;
            for (i, b) in bytes.iter().enumerate() {
                n |= i64::from(*b) << (8 * i);
            }
            assert_eq!(bytes.last().map(|b| b & 0x80), Some(0), "a positive height");
            n
        }
    }
}

fn pushes(script: &Script) -> Vec<Vec<u8>> {
    script
        .instructions()
        .map(|i| match i.expect("a valid script") {
            Instruction::PushBytes(b) => b.as_bytes().to_vec(),
            Instruction::Op(op) => panic!("unexpected opcode {op:?} in a scriptSig"),
        })
        .collect()
}

fn verify_ecdsa(secp: &Secp256k1<VerifyOnly>, digest: [u8; 32], sig: &[u8], key: &PublicKey) -> bool {
    let sig = bitcoin::ecdsa::Signature::from_slice(sig).expect("a DER signature with a sighash byte");
    assert_eq!(sig.sighash_type, EcdsaSighashType::All);
    secp.verify_ecdsa(&Message::from_digest(digest), &sig.signature, &key.inner).is_ok()
}

/// Checks every input's signature of `tx` against a sighash computed here from the spent outputs.
fn verify_inputs(secp: &Secp256k1<VerifyOnly>, tx: &Transaction, spent: &[TxOut]) {
    let mut cache = SighashCache::new(tx);
    for (i, (input, prev)) in tx.input.iter().zip(spent).enumerate() {
        let spk = &prev.script_pubkey;
        if spk.is_p2pkh() {
            let items = pushes(&input.script_sig);
            assert_eq!(items.len(), 2);
            let key = PublicKey::from_slice(&items[1]).expect("a public key");
            assert_eq!(&spk.as_bytes()[3..23], key.pubkey_hash().as_byte_array());
            let digest = cache.legacy_signature_hash(i, spk, 1).expect("index").to_byte_array();
            assert!(verify_ecdsa(secp, digest, &items[0], &key), "P2PKH signature of {} input {i}", tx.compute_txid());
        } else if let Some(key) = spk.p2pk_public_key() {
            let items = pushes(&input.script_sig);
            assert_eq!(items.len(), 1);
            let digest = cache.legacy_signature_hash(i, spk, 1).expect("index").to_byte_array();
            assert!(verify_ecdsa(secp, digest, &items[0], &key), "P2PK signature");
        } else if spk.is_p2wpkh() {
            assert!(input.script_sig.is_empty());
            let items: Vec<&[u8]> = input.witness.iter().collect();
            assert_eq!(items.len(), 2);
            let key = PublicKey::from_slice(items[1]).expect("a public key");
            assert_eq!(&spk.as_bytes()[2..22], key.pubkey_hash().as_byte_array());
            let digest =
                cache.p2wpkh_signature_hash(i, spk, prev.value, EcdsaSighashType::All).expect("p2wpkh").to_byte_array();
            assert!(verify_ecdsa(secp, digest, items[0], &key), "P2WPKH signature");
        } else if spk.is_p2tr() {
            assert!(input.script_sig.is_empty());
            let items: Vec<&[u8]> = input.witness.iter().collect();
            assert_eq!(items.len(), 1, "a key-path spend");
            assert_eq!(items[0].len(), 64, "default sighash type");
            let key = XOnlyPublicKey::from_slice(&spk.as_bytes()[2..34]).expect("an x-only key");
            let sig = schnorr::Signature::from_slice(items[0]).expect("a schnorr signature");
            let digest = cache
                .taproot_key_spend_signature_hash(i, &Prevouts::All(spent), TapSighashType::Default)
                .expect("taproot sighash");
            secp.verify_schnorr(&sig, &Message::from_digest(digest.to_byte_array()), &key).expect("P2TR signature");
        } else if spk.is_p2sh() {
            let items: Vec<Instruction> = input.script_sig.instructions().map(|i| i.expect("valid")).collect();
            assert_eq!(items.len(), 4);
            assert!(matches!(items[0], Instruction::PushBytes(b) if b.is_empty()), "OP_0 dummy");
            let Instruction::PushBytes(redeem) = items[3] else { panic!("redeem script push") };
            let redeem = Script::from_bytes(redeem.as_bytes());
            assert_eq!(&spk.as_bytes()[2..22], hash160::Hash::hash(redeem.as_bytes()).as_byte_array());
            let ops: Vec<Instruction> = redeem.instructions().map(|i| i.expect("valid")).collect();
            assert_eq!(ops.len(), 6);
            assert_eq!(ops[0], Instruction::Op(OP_PUSHNUM_2));
            assert_eq!(ops[4], Instruction::Op(OP_PUSHNUM_3));
            assert_eq!(ops[5], Instruction::Op(OP_CHECKMULTISIG));
            let keys: Vec<PublicKey> = ops[1..4]
                .iter()
                .map(|op| match op {
                    Instruction::PushBytes(b) => PublicKey::from_slice(b.as_bytes()).expect("a key"),
                    _ => panic!("key push"),
                })
                .collect();
            let digest = cache.legacy_signature_hash(i, redeem, 1).expect("index").to_byte_array();
            // OP_CHECKMULTISIG: each signature must match a later key than the one before it.
            let mut next_key = 0;
            for sig in [&items[1], &items[2]] {
                let Instruction::PushBytes(sig) = sig else { panic!("signature push") };
                let found =
                    (next_key..3).find(|&k| verify_ecdsa(secp, digest, sig.as_bytes(), &keys[k])).expect("2-of-3");
                next_key = found + 1;
            }
        } else {
            panic!("unexpected spent script {spk}");
        }
    }
}

/// Walks a chain as a node would, failing on any broken rule, and recounts every address.
fn walk(blocks: &[Block]) -> Walk {
    let secp = Secp256k1::verification_only();
    assert_eq!(blocks[0], genesis_block(Network::Regtest));
    let mut utxos: HashMap<OutPoint, Coin> = HashMap::new();
    let mut walk = Walk::default();
    let mut stats: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    // txid -> length of the peel chain ending with it and the value it paid away.
    let mut peels: HashMap<bitcoin::Txid, u64> = HashMap::new();
    for (height, block) in blocks.iter().enumerate() {
        if height > 0 {
            let prev = &blocks[height - 1];
            assert_eq!(block.header.prev_blockhash, prev.block_hash(), "block {height} links to its parent");
            assert!(block.header.time > prev.header.time, "block {height} is later than its parent");
            assert_eq!(block.header.bits.to_consensus(), 0x207f_ffff);
            block.header.validate_pow(block.header.target()).expect("proof of work");
            assert!(block.check_merkle_root(), "merkle root of block {height}");
            assert!(block.check_witness_commitment(), "witness commitment of block {height}");
            assert_eq!(bip34_height(&block.txdata[0].input[0].script_sig), height as i64, "BIP34 height");
            let len = block.txdata[0].input[0].script_sig.len();
            assert!((2..=100).contains(&len), "coinbase script size");
            assert!(block.weight().to_wu() <= 4_000_000, "block weight");
        }
        let mut fees = 0u64;
        for (pos, tx) in block.txdata.iter().enumerate() {
            assert_eq!(tx.is_coinbase(), pos == 0, "only the first transaction is a coinbase");
            walk.txs += 1;
            let txid = tx.compute_txid();
            let mut touched = BTreeSet::new();
            let mut spent = Vec::new();
            if !tx.is_coinbase() {
                for input in &tx.input {
                    let coin = utxos.remove(&input.previous_output).expect("spends an unspent output");
                    if coin.coinbase {
                        assert!(height - coin.height >= 100, "coinbase maturity");
                    }
                    if let Some(address) = address_of(&coin.out.script_pubkey) {
                        stats.entry(address.clone()).or_default().1 += coin.out.value.to_sat();
                        touched.insert(address);
                    }
                    spent.push(coin.out);
                }
                verify_inputs(&secp, tx, &spent);
                verify_with_core(tx, &spent);
                walk.inputs_verified += tx.input.len() as u64;
                let total_in: u64 = spent.iter().map(|o| o.value.to_sat()).sum();
                let total_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
                assert!(total_in >= total_out, "outputs exceed inputs");
                fees += total_in - total_out;
                count_shapes(&mut walk, tx, &spent, &mut peels);
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if let Some(address) = address_of(&out.script_pubkey) {
                    stats.entry(address.clone()).or_default().0 += out.value.to_sat();
                    touched.insert(address);
                }
                let kind = if out.script_pubkey.is_p2pk() {
                    "p2pk"
                } else if out.script_pubkey.is_p2pkh() {
                    "p2pkh"
                } else if out.script_pubkey.is_p2wpkh() {
                    "p2wpkh"
                } else if out.script_pubkey.is_p2tr() {
                    "p2tr"
                } else if out.script_pubkey.is_p2sh() {
                    "p2sh"
                } else if out.script_pubkey.is_op_return() {
                    "op_return"
                } else {
                    "other"
                };
                *walk.shapes.entry(kind).or_default() += 1;
                let outpoint = OutPoint { txid, vout: vout as u32 };
                // The genesis coinbase is not spendable; OP_RETURN outputs never are.
                if height > 0 && !out.script_pubkey.is_op_return() {
                    let coin = Coin { out: out.clone(), height, coinbase: tx.is_coinbase() };
                    assert!(utxos.insert(outpoint, coin).is_none(), "duplicate outpoint");
                }
            }
            for address in touched {
                stats.entry(address).or_default().2 += 1;
            }
        }
        if height > 0 {
            let claimed: u64 = block.txdata[0].output.iter().map(|o| o.value.to_sat()).sum();
            assert_eq!(claimed, regtest_subsidy(height) + fees, "coinbase of block {height} claims subsidy + fees");
        }
    }
    walk.truth = stats
        .into_iter()
        .map(|(address, (received, sent, txs))| {
            let truth = AddressTruth {
                balance: Sats(received - sent),
                received: Sats(received),
                sent: Sats(sent),
                tx_count: txs,
            };
            (address, truth)
        })
        .collect();
    walk
}

/// Tallies the transaction shapes the builder promises.
fn count_shapes(walk: &mut Walk, tx: &Transaction, spent: &[TxOut], peels: &mut HashMap<bitcoin::Txid, u64>) {
    let bump = |walk: &mut Walk, shape| *walk.shapes.entry(shape).or_default() += 1;
    if tx.input.len() >= 20 && tx.output.len() == 1 {
        bump(walk, "consolidation");
    }
    if tx.output.len() >= 20 {
        bump(walk, "batch");
    }
    let owners: BTreeSet<_> = spent.iter().map(|o| o.script_pubkey.clone()).collect();
    let mut values: BTreeMap<u64, usize> = BTreeMap::new();
    for out in &tx.output {
        *values.entry(out.value.to_sat()).or_default() += 1;
    }
    // CoinJoin: one equal-value output per input, inputs from at least three scripts.
    if owners.len() >= 3 && values.values().max() == Some(&tx.input.len()) {
        bump(walk, "coinjoin");
    }
    if tx.output.iter().any(|o| o.script_pubkey.is_op_return()) {
        bump(walk, "op_return_payment");
    }
    if tx.input.len() == 1 && tx.output.len() == 2 {
        let small = if tx.output[0].value < tx.output[1].value { 0 } else { 1 };
        if tx.output[small].value.to_sat() * 10 <= spent[0].value.to_sat() {
            let prev = tx.input[0].previous_output;
            let len = peels.get(&prev.txid).copied().unwrap_or(0) + 1;
            walk.longest_peel = walk.longest_peel.max(len);
            peels.insert(tx.compute_txid(), len);
        }
    }
}

fn truth_of(walk: &Walk, blocks: &[Block]) -> GroundTruth {
    let tip = blocks.last().expect("a chain");
    GroundTruth {
        tip_height: Height::new(blocks.len() as u64 - 1),
        tip_hash: tip.block_hash(),
        tx_count: walk.txs,
        addresses: walk.truth.clone(),
    }
}

fn hashes(blocks: &[Block]) -> Vec<BlockHash> {
    blocks.iter().map(Block::block_hash).collect()
}

#[test]
fn chain_is_valid_and_truth_matches_a_recount() {
    let cfg = SimConfig { blocks: 240, seed: 7, txs_per_block: 40, scenario: Scenario::Basic };
    let chain = build_chain(&cfg);
    assert_eq!(chain.blocks.len(), 241);
    let walk = walk(&chain.blocks);
    assert_eq!(chain.truth, truth_of(&walk, &chain.blocks));
    assert!(walk.txs > 4_000, "{} transactions", walk.txs);
    let shapes = ["p2pkh", "p2wpkh", "p2tr", "p2sh", "p2pk", "op_return_payment", "consolidation", "batch", "coinjoin"];
    for shape in shapes {
        assert!(walk.shapes.get(shape).copied().unwrap_or(0) > 0, "no {shape} in {:?}", walk.shapes);
    }
    assert_eq!(walk.shapes.get("other"), None, "only standard scripts: {:?}", walk.shapes);
    assert!(walk.longest_peel >= 10, "longest peel chain {}", walk.longest_peel);
    // Some address both spends and receives in one transaction, so tx_count is not just a count of rows.
    assert!(chain.truth.addresses.values().any(|a| a.tx_count > 1 && a.sent.0 > 0 && a.balance.0 > 0));
    // The genesis output counts for the P2PKH address of its key.
    let genesis = &chain.truth.addresses["mpXwg4jMtRhuSpVq4xS3HFHmCmWp9NyGKt"];
    assert_eq!((genesis.balance, genesis.tx_count), (Sats(50 * 100_000_000), 1));
    println!("verified {} inputs of {} transactions; shapes {:?}", walk.inputs_verified, walk.txs, walk.shapes);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("truth.json");
    chain.truth.write_json(&path).expect("write truth");
    assert_eq!(GroundTruth::read_json(&path).expect("read truth"), chain.truth);
    fs::write(&path, b"{\"tip_height\": 1").expect("write");
    let err = GroundTruth::read_json(&path).expect_err("truncated JSON");
    assert!(err.to_string().contains("truth.json"), "{err}");
}

#[test]
fn same_seed_same_chain_other_seed_other_chain() {
    let cfg = SimConfig { blocks: 130, seed: 42, txs_per_block: 15, ..SimConfig::default() };
    let a = build_chain(&cfg);
    let b = build_chain(&cfg);
    assert_eq!(hashes(&a.blocks), hashes(&b.blocks));
    assert_eq!(a.truth, b.truth);
    let c = build_chain(&SimConfig { seed: 43, ..cfg.clone() });
    assert_ne!(c.blocks[1].block_hash(), a.blocks[1].block_hash());
    assert_ne!(c.truth, a.truth);
    // A longer chain from the same seed starts with the shorter one.
    let longer = build_chain(&SimConfig { blocks: 140, ..cfg });
    assert_eq!(hashes(&longer.blocks[..=130]), hashes(&a.blocks));
}

#[test]
fn branches_are_valid_and_carry_their_own_truth() {
    let cfg = SimConfig { blocks: 160, seed: 3, txs_per_block: 15, ..SimConfig::default() };
    let a = build_chain(&cfg);
    let fork = Height::new(130);
    let b = a.with_branch(fork, 40, 9);
    assert_eq!(b.blocks.len(), 171);
    assert_eq!(hashes(&b.blocks[..=130]), hashes(&a.blocks[..=130]));
    assert_ne!(b.blocks[131].block_hash(), a.blocks[131].block_hash());
    let walk_b = walk(&b.blocks);
    assert_eq!(b.truth, truth_of(&walk_b, &b.blocks));
    assert_ne!(b.truth, a.truth);

    let stale = build_stale_branch(&a, fork, 40, 9);
    assert_eq!(hashes(&stale), hashes(&b.blocks[131..]));
    assert_ne!(hashes(&build_stale_branch(&a, fork, 2, 10)), hashes(&stale[..2]));

    // A branch of the branch, forking inside the first branch, and one forking at the tip.
    let c = b.with_branch(Height::new(150), 5, 1);
    assert_eq!(hashes(&c.blocks[..=150]), hashes(&b.blocks[..=150]));
    assert_eq!(c.truth, truth_of(&walk(&c.blocks), &c.blocks));
    let d = a.with_branch(a.tip_height(), 3, 4);
    assert_eq!(hashes(&d.blocks[..=160]), hashes(&a.blocks));
    // A branch from before any coin matured.
    let e = a.with_branch(Height::new(50), 1, 4);
    assert_eq!(e.blocks.len(), 52);
    walk(&e.blocks);
}

/// Reads a blocks directory back the way Bitcoin Core lays it out.
fn read_blocks_dir(dir: &Path) -> Vec<(u32, u64, Block)> {
    let blocks = dir.join("blocks");
    let key: Vec<u8> = fs::read(blocks.join("xor.dat")).unwrap_or_else(|_| vec![0; 8]);
    assert_eq!(key.len(), 8);
    let mut out = Vec::new();
    for file_no in 0.. {
        let Ok(mut bytes) = fs::read(blocks.join(format!("blk{file_no:05}.dat"))) else { break };
        for (i, b) in bytes.iter_mut().enumerate() {
            *b ^= key[i % 8];
        }
        let mut pos = 0;
        while pos < bytes.len() {
            assert_eq!(bytes[pos..pos + 4], [0xfa, 0xbf, 0xb5, 0xda], "regtest magic at {file_no}:{pos}");
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
            let block: Block = consensus::deserialize(&bytes[pos + 8..pos + 8 + len]).expect("a block");
            out.push((file_no, pos as u64, block));
            pos += 8 + len;
        }
    }
    out
}

#[test]
fn blocks_dir_round_trips_with_xor_shuffle_and_stale_blocks() {
    let chain = build_chain(&SimConfig { blocks: 150, seed: 5, txs_per_block: 10, ..SimConfig::default() });
    let stale = build_stale_branch(&chain, Height::new(120), 2, 77);
    let dir = tempfile::tempdir().expect("temp dir");
    let key = [0x5a, 0x01, 0xff, 0x00, 0x13, 0x37, 0x80, 0x7e];
    let options = BlkDirOptions { max_file_size: 64 * 1024, xor_key: Some(key), shuffle: true, stale: stale.clone() };
    let layout = write_blocks_dir(dir.path(), &chain.blocks, &options).expect("write blocks dir");
    assert!(layout.files.len() >= 3, "{} files", layout.files.len());
    assert_eq!(fs::read(dir.path().join("blocks/xor.dat")).expect("xor.dat"), key);
    let raw = fs::read(&layout.files[0]).expect("blk00000.dat");
    assert_ne!(raw[..4], [0xfa, 0xbf, 0xb5, 0xda], "obfuscated");
    for file in &layout.files {
        let size = fs::metadata(file).expect("a file").len();
        assert!(
            size <= 64 * 1024 || layout.records.iter().filter(|r| layout.files[r.file as usize] == *file).count() == 1
        );
    }
    assert_eq!(layout.bytes, layout.files.iter().map(|f| fs::metadata(f).expect("file").len()).sum::<u64>());

    let read = read_blocks_dir(dir.path());
    assert_eq!(read.len(), chain.blocks.len() + 2);
    let positions: Vec<_> = read.iter().map(|(f, o, b)| (b.block_hash(), *f, *o)).collect();
    let recorded: Vec<_> = layout.records.iter().map(|r| (r.hash, r.file, r.offset)).collect();
    assert_eq!(positions, recorded);
    let written: BTreeSet<BlockHash> = read.iter().map(|(_, _, b)| b.block_hash()).collect();
    let expected: BTreeSet<BlockHash> = chain.blocks.iter().chain(&stale).map(Block::block_hash).collect();
    assert_eq!(written, expected);

    let best: Vec<BlockHash> =
        read.iter().map(|(_, _, b)| b.block_hash()).filter(|h| !stale.iter().any(|s| s.block_hash() == *h)).collect();
    assert_eq!(best[0], chain.blocks[0].block_hash(), "genesis first");
    assert_ne!(best, hashes(&chain.blocks), "shuffled");
    let height: HashMap<BlockHash, usize> = chain.blocks.iter().enumerate().map(|(h, b)| (b.block_hash(), h)).collect();
    for (i, hash) in best.iter().enumerate().skip(1) {
        assert_eq!((height[hash] - 1) / 16, (i - 1) / 16, "shuffled only within windows of 16");
    }
    // Each stale block sits right after the best-chain block of its height.
    for (i, block) in stale.iter().enumerate() {
        let at = read.iter().position(|(_, _, b)| b.block_hash() == block.block_hash()).expect("stale written");
        assert_eq!(read[at - 1].2.block_hash(), chain.blocks[121 + i].block_hash());
    }

    // Rewriting the same directory plainly, in order, leaves no file of the first layout behind.
    let plain = write_blocks_dir(dir.path(), &chain.blocks, &BlkDirOptions::default()).expect("rewrite");
    assert_eq!(plain.files.len(), 1);
    assert!(!dir.path().join("blocks/xor.dat").exists());
    assert!(!dir.path().join("blocks/blk00001.dat").exists());
    let read: Vec<BlockHash> = read_blocks_dir(dir.path()).iter().map(|(_, _, b)| b.block_hash()).collect();
    assert_eq!(read, hashes(&chain.blocks));
}

#[test]
fn simulate_to_dir_writes_blocks_and_truth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = SimConfig { blocks: 110, seed: 11, txs_per_block: 10, ..SimConfig::default() };
    let summary = simulate_to_dir(dir.path(), &cfg, true).expect("simulate");
    let chain: SimChain = build_chain(&cfg);
    assert_eq!(summary.blocks, 111);
    assert_eq!(summary.txs, chain.tx_count());
    assert_eq!(summary.tip_hash, chain.blocks[110].block_hash());
    assert_eq!(summary.addresses, chain.truth.addresses.len() as u64);
    assert_eq!(
        Some(fs::read(dir.path().join("blocks/xor.dat")).expect("xor.dat").as_slice()),
        summary.xor_key.as_ref().map(|k| &k[..])
    );
    assert_eq!(GroundTruth::read_json(&summary.truth_file).expect("truth"), chain.truth);
    // Plain JSON: the tip hash in Bitcoin's display hex, amounts as integer satoshi.
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&summary.truth_file).expect("truth")).expect("json");
    assert_eq!(json["tip_hash"], serde_json::json!(chain.blocks[110].block_hash().to_string()));
    assert_eq!(json["tip_height"], serde_json::json!(110));
    let (address, figures) = chain.truth.addresses.iter().next().expect("an address");
    assert_eq!(json["addresses"][address]["balance"], serde_json::json!(figures.balance.0));
    assert_eq!(json["addresses"][address]["tx_count"], serde_json::json!(figures.tx_count));
    let read: BTreeSet<BlockHash> = read_blocks_dir(dir.path()).iter().map(|(_, _, b)| b.block_hash()).collect();
    assert_eq!(read, hashes(&chain.blocks).into_iter().collect());

    let missing = dir.path().join("truth.json").join("nope");
    let err = GroundTruth::read_json(&missing).expect_err("no such file");
    assert!(err.to_string().contains("nope"), "{err}");
    let blocked = dir.path().join("truth.json");
    let err = simulate_to_dir(&blocked, &cfg, false).expect_err("a file where a directory should be");
    assert!(err.to_string().contains("truth.json"), "{err}");
}

#[test]
fn scenario_names_parse() {
    for scenario in Scenario::ALL {
        assert_eq!(scenario.to_string().parse::<Scenario>(), Ok(*scenario));
    }
    let err = "laundering-x".parse::<Scenario>().expect_err("unknown");
    assert_eq!(err.to_string(), "unknown scenario \"laundering-x\" (known: basic, laundering)");
    assert_eq!(SimConfig::default().scenario, Scenario::Basic);
}

#[test]
fn values_are_in_range() {
    let chain = build_chain(&SimConfig { blocks: 120, seed: 8, txs_per_block: 10, ..SimConfig::default() });
    for block in &chain.blocks {
        for tx in &block.txdata {
            for out in &tx.output {
                assert!(out.value <= Amount::MAX_MONEY);
                assert!(out.value == Amount::ZERO && out.script_pubkey.is_op_return() || out.value.to_sat() >= 546);
            }
        }
    }
}

#[test]
fn core_interpreter_rejects_a_tampered_transaction() {
    let chain = build_chain(&SimConfig { blocks: 105, seed: 2, txs_per_block: 5, ..SimConfig::default() });
    let outputs: HashMap<OutPoint, TxOut> = chain
        .blocks
        .iter()
        .flat_map(|b| &b.txdata)
        .flat_map(|tx| {
            let txid = tx.compute_txid();
            tx.output.iter().enumerate().map(move |(vout, out)| (OutPoint { txid, vout: vout as u32 }, out.clone()))
        })
        .collect();
    let tx = chain.blocks.iter().flat_map(|b| b.txdata.iter().skip(1)).last().expect("a spending transaction");
    let spent: Vec<TxOut> = tx.input.iter().map(|i| outputs[&i.previous_output].clone()).collect();
    verify_with_core(tx, &spent);
    let mut tampered = tx.clone();
    tampered.output[0].value += Amount::from_sat(1);
    let result = core_verify(&tampered, &spent, 0);
    assert!(result.is_err(), "a changed output must invalidate the signature");
}

#[test]
fn empty_configurations_give_valid_chains() {
    let genesis_only = build_chain(&SimConfig { blocks: 0, ..SimConfig::default() });
    assert_eq!(genesis_only.blocks, vec![genesis_block(Network::Regtest)]);
    assert_eq!(genesis_only.truth, truth_of(&walk(&genesis_only.blocks), &genesis_only.blocks));
    let coinbases = build_chain(&SimConfig { blocks: 120, txs_per_block: 0, ..SimConfig::default() });
    assert!(coinbases.blocks.iter().all(|b| b.txdata.len() == 1));
    assert_eq!(coinbases.truth, truth_of(&walk(&coinbases.blocks), &coinbases.blocks));
    // A zero-length branch is the chain cut at the fork, with the truth of that prefix.
    let cut = coinbases.with_branch(Height::new(110), 0, 1);
    assert_eq!(hashes(&cut.blocks), hashes(&coinbases.blocks[..=110]));
    assert_eq!(cut.truth, truth_of(&walk(&cut.blocks), &cut.blocks));
}
