//! Which address an output pays: the mapping from scriptPubKey to address
//! key, and between address keys and address text.
//!
//! The address key is the scriptPubKey of the output's normalised form:
//!
//! - P2PKH, P2SH, P2WPKH, P2WSH, P2TR and other witness versions: the
//!   scriptPubKey itself (witness v0 only with a 20- or 32-byte program;
//!   any other v0 program is not an address and falls to the last rule);
//! - P2PK (`<33 or 65 byte key> OP_CHECKSIG`): the P2PKH scriptPubKey of
//!   `hash160(key)`, so the output counts for the P2PKH address of its key
//!   as block explorers show it (a compressed and an uncompressed key are
//!   two addresses);
//! - OP_RETURN (first byte `0x6a`): no address;
//! - anything else: `0xff ‖ sha256(script)[..20]`, shown as the pseudo-address
//!   `nonstandard:<40 hex digits>`. No standard template starts with `0xff`
//!   at that length, so pseudo-keys never collide with real ones.
//!
//! Classifying allocates nothing; text is made only at query time.

use std::fmt;

use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::{Address, Network, Script};
use chainsleuth_store::{Codec, CodecError};

/// The longest key: a witness program script (version opcode, push opcode,
/// 40 bytes of program).
const MAX_KEY: usize = 42;
/// First byte of a pseudo-address key.
const NONSTANDARD_TAG: u8 = 0xff;
/// Bytes of the script hash in a pseudo-address key.
const NONSTANDARD_HASH_LEN: usize = 20;
/// The prefix of a pseudo-address's text.
pub const NONSTANDARD_PREFIX: &str = "nonstandard:";

const OP_DUP: u8 = 0x76;
const OP_HASH160: u8 = 0xa9;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_CHECKSIG: u8 = 0xac;
const OP_RETURN: u8 = 0x6a;
const OP_PUSHNUM_1: u8 = 0x51;
const OP_PUSHNUM_16: u8 = 0x60;

/// An address in its compact stored form (see the module docs), kept
/// inline so that classifying an output allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey {
    len: u8,
    bytes: [u8; MAX_KEY],
}

impl AddrKey {
    fn from_slice(bytes: &[u8]) -> Option<AddrKey> {
        if bytes.is_empty() || bytes.len() > MAX_KEY {
            return None;
        }
        let mut key = AddrKey { len: bytes.len() as u8, bytes: [0; MAX_KEY] };
        key.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The address key of an output with this scriptPubKey, `None` for
    /// OP_RETURN outputs, which pay no address.
    pub fn of_script(script: &[u8]) -> Option<AddrKey> {
        if script.first() == Some(&OP_RETURN) {
            return None;
        }
        if is_p2pkh(script) || is_p2sh(script) || is_witness_address(script) {
            if let Some(key) = AddrKey::from_slice(script) {
                return Some(key);
            }
        }
        if let Some(pubkey) = p2pk_key(script) {
            let hash = hash160::Hash::hash(pubkey);
            let mut key = AddrKey { len: 25, bytes: [0; MAX_KEY] };
            key.bytes[..3].copy_from_slice(&[OP_DUP, OP_HASH160, 20]);
            key.bytes[3..23].copy_from_slice(hash.as_byte_array());
            key.bytes[23..25].copy_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
            return Some(key);
        }
        let hash = sha256::Hash::hash(script);
        let mut key = AddrKey { len: 1 + NONSTANDARD_HASH_LEN as u8, bytes: [0; MAX_KEY] };
        key.bytes[0] = NONSTANDARD_TAG;
        key.bytes[1..=NONSTANDARD_HASH_LEN].copy_from_slice(&hash.as_byte_array()[..NONSTANDARD_HASH_LEN]);
        Some(key)
    }

    /// Whether this is a pseudo-address of a nonstandard script.
    pub fn is_nonstandard(&self) -> bool {
        usize::from(self.len) == 1 + NONSTANDARD_HASH_LEN && self.bytes[0] == NONSTANDARD_TAG
    }

    /// The address text for `network`: the standard encoding, or
    /// `nonstandard:<hex>` for a pseudo-address.
    pub fn to_text(&self, network: Network) -> String {
        if self.is_nonstandard() {
            return format!("{NONSTANDARD_PREFIX}{}", hex::encode(&self.as_bytes()[1..]));
        }
        match Address::from_script(Script::from_bytes(self.as_bytes()), network) {
            Ok(address) => address.to_string(),
            // Unreachable for keys made by `of_script`; shown rather than hidden.
            Err(_) => format!("script:{}", hex::encode(self.as_bytes())),
        }
    }

    /// Parses address text (as [`AddrKey::to_text`] writes it) for `network`.
    ///
    /// # Errors
    /// A short reason when the text is no address, or one of another network.
    pub fn parse(text: &str, network: Network) -> Result<AddrKey, String> {
        if let Some(hex_part) = text.strip_prefix(NONSTANDARD_PREFIX) {
            let bytes = hex::decode(hex_part).map_err(|_| "the pseudo-address is not hex".to_owned())?;
            if bytes.len() != NONSTANDARD_HASH_LEN {
                return Err(format!("a pseudo-address has {} hex digits", 2 * NONSTANDARD_HASH_LEN));
            }
            let mut key = AddrKey { len: 1 + NONSTANDARD_HASH_LEN as u8, bytes: [0; MAX_KEY] };
            key.bytes[0] = NONSTANDARD_TAG;
            key.bytes[1..=NONSTANDARD_HASH_LEN].copy_from_slice(&bytes);
            return Ok(key);
        }
        let unchecked: Address<bitcoin::address::NetworkUnchecked> =
            text.parse().map_err(|err: bitcoin::address::ParseError| err.to_string())?;
        let address = unchecked.require_network(network).map_err(|_| "it belongs to another network".to_owned())?;
        let script = address.script_pubkey();
        AddrKey::of_script(script.as_bytes())
            .filter(|key| key.as_bytes() == script.as_bytes())
            .ok_or_else(|| "its script is not an indexed address form".to_owned())
    }
}

impl fmt::Debug for AddrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AddrKey({})", hex::encode(self.as_bytes()))
    }
}

/// The raw key bytes; takes the rest of the input, so it must stand last.
impl Codec for AddrKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let key = AddrKey::from_slice(input).ok_or(CodecError::Invalid { what: "address key" })?;
        *input = &[];
        Ok(key)
    }
}

fn is_p2pkh(s: &[u8]) -> bool {
    s.len() == 25
        && s[0] == OP_DUP
        && s[1] == OP_HASH160
        && s[2] == 20
        && s[23] == OP_EQUALVERIFY
        && s[24] == OP_CHECKSIG
}

fn is_p2sh(s: &[u8]) -> bool {
    s.len() == 23 && s[0] == OP_HASH160 && s[1] == 20 && s[22] == 0x87
}

/// A witness program that encodes as an address: version 0 with a 20- or
/// 32-byte program, or versions 1 to 16 with 2 to 40 bytes (BIP141, BIP350).
fn is_witness_address(s: &[u8]) -> bool {
    if !(4..=MAX_KEY).contains(&s.len()) || usize::from(s[1]) != s.len() - 2 || !(2..=40).contains(&s[1]) {
        return false;
    }
    match s[0] {
        0 => s[1] == 20 || s[1] == 32,
        OP_PUSHNUM_1..=OP_PUSHNUM_16 => true,
        _ => false,
    }
}

/// The pushed key of a P2PK script (`<33 or 65 bytes> OP_CHECKSIG`); the key
/// is not checked to be a valid point, as explorers do not either.
fn p2pk_key(s: &[u8]) -> Option<&[u8]> {
    match s.len() {
        67 if s[0] == 65 && s[66] == OP_CHECKSIG => Some(&s[1..66]),
        35 if s[0] == 33 && s[34] == OP_CHECKSIG => Some(&s[1..34]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(script_hex: &str) -> Option<String> {
        AddrKey::of_script(&hex::decode(script_hex).unwrap()).map(|k| k.to_text(Network::Bitcoin))
    }

    #[test]
    fn standard_scripts_map_to_their_address() {
        // The genesis coinbase: P2PK of an uncompressed key, shown as 1A1zP1...
        let genesis = "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac";
        assert_eq!(text(genesis).unwrap(), "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
        assert_eq!(
            text("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac").unwrap(),
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
        );
        assert_eq!(
            text("a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87").unwrap(),
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
        );
        assert_eq!(
            text("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        assert_eq!(
            text("5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c").unwrap(),
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
        );
    }

    #[test]
    fn op_return_has_no_address_and_odd_scripts_get_a_stable_pseudo_address() {
        assert_eq!(text("6a0401020304"), None);
        let odd = text("5187").unwrap();
        assert!(odd.starts_with(NONSTANDARD_PREFIX) && odd.len() == NONSTANDARD_PREFIX.len() + 40, "{odd}");
        assert_eq!(text("5187"), Some(odd.clone()));
        assert_eq!(AddrKey::parse(&odd, Network::Bitcoin).unwrap().to_text(Network::Regtest), odd);
        // A v0 witness program of the wrong length is not an address.
        assert!(text("0010000102030405060708090a0b0c0d0e0f").unwrap().starts_with(NONSTANDARD_PREFIX));
        assert!(text("").unwrap().starts_with(NONSTANDARD_PREFIX));
    }

    #[test]
    fn parse_checks_the_network() {
        let key = AddrKey::parse("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Network::Bitcoin).unwrap();
        assert_eq!(hex::encode(key.as_bytes()), "0014751e76e8199196d454941c45d1b3a323f1433bd6");
        assert!(AddrKey::parse("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", Network::Regtest).is_err());
        assert!(AddrKey::parse("not-an-address", Network::Bitcoin).is_err());
        assert!(AddrKey::parse("nonstandard:zz", Network::Bitcoin).is_err());
    }

    #[test]
    fn keys_round_trip_through_the_codec() {
        let key = AddrKey::of_script(&hex::decode("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap()).unwrap();
        assert_eq!(AddrKey::decode(&key.encode()), Ok(key));
        assert!(AddrKey::decode(&[]).is_err());
        assert!(AddrKey::decode(&[0; 43]).is_err());
    }
}
