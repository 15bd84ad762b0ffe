//! Checks the simulator's tests share: Bitcoin Core's script interpreter
//! over a transaction's inputs, and the address an output counts for.

use bitcoin::{consensus, Address, Network, Script, Transaction, TxOut};

/// The regtest address an output counts for: its own, or the P2PKH address of a bare P2PK key.
pub fn address_of(script: &Script) -> Option<String> {
    if let Some(key) = script.p2pk_public_key() {
        return Some(Address::p2pkh(key.pubkey_hash(), Network::Regtest).to_string());
    }
    Address::from_script(script, Network::Regtest).ok().map(|a| a.to_string())
}

/// Runs input `index` of `tx` through Bitcoin Core's script interpreter with all standard flags, taproot included.
pub fn core_verify(tx: &Transaction, spent: &[TxOut], index: usize) -> Result<(), bitcoinconsensus::Error> {
    let bytes = consensus::serialize(tx);
    let utxos: Vec<bitcoinconsensus::Utxo> = spent
        .iter()
        .map(|out| bitcoinconsensus::Utxo {
            script_pubkey: out.script_pubkey.as_bytes().as_ptr(),
            script_pubkey_len: out.script_pubkey.len() as u32,
            value: out.value.to_sat() as i64,
        })
        .collect();
    let flags = bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;
    let script = spent[index].script_pubkey.as_bytes();
    bitcoinconsensus::verify_with_flags(script, spent[index].value.to_sat(), &bytes, Some(&utxos), index, flags)
}

/// Checks every input of `tx` with Bitcoin Core's script interpreter.
pub fn verify_with_core(tx: &Transaction, spent: &[TxOut]) {
    for index in 0..spent.len() {
        assert_eq!(core_verify(tx, spent, index), Ok(()), "Core rejects input {index} of {}", tx.compute_txid());
    }
}
