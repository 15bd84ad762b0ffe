//! Turns drafted transactions into signed ones: ECDSA for P2PKH, P2PK, P2WPKH and P2SH multisig, BIP340 Schnorr
//! for taproot key-path spends, all over sighashes from rust-bitcoin's `SighashCache` (one cache per transaction,
//! so segwit and taproot midstates are hashed once however many inputs there are).

use std::thread;

use bitcoin::absolute::LockTime;
use bitcoin::ecdsa;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::OP_0;
use bitcoin::script::{Builder, PushBytes};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::taproot;
use bitcoin::transaction::Version;
use bitcoin::{Amount, PublicKey, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

use super::gen::Draft;
use super::wallet::{Kind, Signer, Slot, Utxo};

/// Inputs below which a block is signed on one thread.
const PARALLEL_MIN_INPUTS: usize = 64;

/// Signs every draft, in order, spreading the work over the machine's cores.
pub(crate) fn sign_all(secp: &Secp256k1<All>, slots: &[Slot], drafts: &[Draft]) -> Vec<(Transaction, Txid)> {
    let inputs: usize = drafts.iter().map(|d| d.inputs.len()).sum();
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || inputs < PARALLEL_MIN_INPUTS {
        return drafts.iter().map(|d| sign(secp, slots, d)).collect();
    }
    // Split at input-count boundaries so each thread gets a similar number of signatures.
    let per_thread = inputs.div_ceil(threads);
    let mut chunks: Vec<&[Draft]> = Vec::with_capacity(threads);
    let (mut start, mut acc) = (0, 0);
    for (i, draft) in drafts.iter().enumerate() {
        acc += draft.inputs.len();
        if acc >= per_thread {
            chunks.push(&drafts[start..=i]);
            start = i + 1;
            acc = 0;
        }
    }
    if start < drafts.len() {
        chunks.push(&drafts[start..]);
    }
    thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.iter().map(|d| sign(secp, slots, d)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("signing threads do not panic")).collect()
    })
}

/// The script a coin is locked to.
pub(crate) fn locking_script(slots: &[Slot], utxo: &Utxo) -> ScriptBuf {
    let slot = &slots[utxo.slot as usize];
    if utxo.p2pk {
        slot.p2pk_script().expect("only P2PKH slots receive P2PK outputs")
    } else {
        slot.script_pubkey.clone()
    }
}

/// Builds and signs one transaction and returns it with its txid.
fn sign(secp: &Secp256k1<All>, slots: &[Slot], draft: &Draft) -> (Transaction, Txid) {
    let mut tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: draft
            .inputs
            .iter()
            .map(|u| TxIn {
                previous_output: u.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: draft
            .outputs
            .iter()
            .map(|o| TxOut { value: Amount::from_sat(o.value), script_pubkey: o.script.clone() })
            .collect(),
    };
    let has_taproot = draft.inputs.iter().any(|u| slots[u.slot as usize].kind == Kind::P2tr);
    let prevouts: Vec<TxOut> = if has_taproot {
        draft
            .inputs
            .iter()
            .map(|u| TxOut { value: Amount::from_sat(u.value), script_pubkey: locking_script(slots, u) })
            .collect()
    } else {
        Vec::new()
    };

    let mut unlocks = Vec::with_capacity(draft.inputs.len());
    let mut cache = SighashCache::new(&tx);
    for (index, utxo) in draft.inputs.iter().enumerate() {
        let slot = &slots[utxo.slot as usize];
        let unlock = match (&slot.signer, slot.kind) {
            (Signer::Placeholder { key, redeem }, kind) => placeholder_unlock(kind, key, redeem.as_ref(), utxo),
            (Signer::Single { secret, public }, Kind::P2pkh) => {
                let script = locking_script(slots, utxo);
                let sighash = cache
                    .legacy_signature_hash(index, &script, EcdsaSighashType::All.to_u32())
                    .expect("input index is in range");
                let sig = ecdsa_sign(secp, sighash.to_byte_array(), secret);
                let builder = Builder::new().push_slice(sig.serialize());
                let script_sig =
                    if utxo.p2pk { builder } else { builder.push_key(&PublicKey::from(*public)) }.into_script();
                (script_sig, Witness::new())
            }
            (Signer::Single { secret, public }, _) => {
                let sighash = cache
                    .p2wpkh_signature_hash(
                        index,
                        &slot.script_pubkey,
                        Amount::from_sat(utxo.value),
                        EcdsaSighashType::All,
                    )
                    .expect("a P2WPKH script and an input index in range");
                let sig = ecdsa_sign(secp, sighash.to_byte_array(), secret);
                (ScriptBuf::new(), Witness::p2wpkh(&sig, &public.0))
            }
            (Signer::Taproot { tweaked }, _) => {
                let sighash = cache
                    .taproot_key_spend_signature_hash(index, &Prevouts::All(&prevouts), TapSighashType::Default)
                    .expect("all prevouts are given and the input index is in range");
                let msg = Message::from_digest(sighash.to_byte_array());
                let signature = secp.sign_schnorr_no_aux_rand(&msg, &tweaked.to_keypair());
                let sig = taproot::Signature { signature, sighash_type: TapSighashType::Default };
                (ScriptBuf::new(), Witness::p2tr_key_spend(&sig))
            }
            (Signer::Multisig { secrets, redeem }, _) => {
                let sighash = cache
                    .legacy_signature_hash(index, redeem, EcdsaSighashType::All.to_u32())
                    .expect("input index is in range");
                // Any two of the three keys, in key order as OP_CHECKMULTISIG requires; which two varies by coin.
                let (a, b) = [(1, 2), (0, 2), (0, 1)][(utxo.outpoint.vout as usize + index) % 3];
                let sig_a = ecdsa_sign(secp, sighash.to_byte_array(), &secrets[a]);
                let sig_b = ecdsa_sign(secp, sighash.to_byte_array(), &secrets[b]);
                let redeem_push: &PushBytes =
                    redeem.as_bytes().try_into().expect("a 2-of-3 redeem script is under 520 bytes");
                let script_sig = Builder::new()
                    .push_opcode(OP_0)
                    .push_slice(sig_a.serialize())
                    .push_slice(sig_b.serialize())
                    .push_slice(redeem_push)
                    .into_script();
                (script_sig, Witness::new())
            }
        };
        unlocks.push(unlock);
    }
    for (input, (script_sig, witness)) in tx.input.iter_mut().zip(unlocks) {
        input.script_sig = script_sig;
        input.witness = witness;
    }
    let txid = tx.compute_txid();
    (tx, txid)
}

/// The unlocking data of a [`Signer::Placeholder`] coin: the sizes and layout of a real spend of `kind`, with
/// key-shaped bytes and DER-shaped signatures that do not verify.
fn placeholder_unlock(kind: Kind, key: &[u8; 33], redeem: Option<&ScriptBuf>, utxo: &Utxo) -> (ScriptBuf, Witness) {
    // 0x30 len 0x02 0x20 r 0x02 0x20 s, then the sighash byte: a 71-byte DER-shaped ECDSA signature.
    let mut sig = Vec::with_capacity(72);
    sig.extend_from_slice(&[0x30, 0x44, 0x02, 0x20]);
    sig.extend_from_slice(utxo.outpoint.txid.as_byte_array());
    sig.extend_from_slice(&[0x02, 0x20]);
    sig.extend_from_slice(&key[1..]);
    sig.push(EcdsaSighashType::All.to_u32() as u8);
    let sig: &PushBytes = sig.as_slice().try_into().expect("71 bytes");
    match kind {
        Kind::P2pkh => (Builder::new().push_slice(sig).push_slice(key).into_script(), Witness::new()),
        Kind::P2wpkh => (ScriptBuf::new(), Witness::from_slice(&[sig.as_bytes(), key.as_slice()])),
        Kind::P2tr => (ScriptBuf::new(), Witness::from_slice(&[&sig.as_bytes()[4..68]])),
        Kind::P2shMultisig => {
            let redeem = redeem.expect("a placeholder multisig slot has a redeem script");
            let redeem: &PushBytes = redeem.as_bytes().try_into().expect("a 2-of-3 redeem script is under 520 bytes");
            let script_sig =
                Builder::new().push_opcode(OP_0).push_slice(sig).push_slice(sig).push_slice(redeem).into_script();
            (script_sig, Witness::new())
        }
    }
}

/// An ECDSA signature over `digest` with `SIGHASH_ALL` (RFC6979 nonces, so deterministic).
fn ecdsa_sign(secp: &Secp256k1<All>, digest: [u8; 32], secret: &SecretKey) -> ecdsa::Signature {
    ecdsa::Signature::sighash_all(secp.sign_ecdsa(&Message::from_digest(digest), secret))
}
