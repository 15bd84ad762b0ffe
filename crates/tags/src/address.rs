//! Which chain a tagged address is on, and the validation and normal form of
//! addresses per chain: Bitcoin base58check and bech32/bech32m on one
//! network, Ethereum hex with the EIP-55 checksum when mixed case.
//!
//! Addresses of chains chainsleuth does not index (Litecoin, Monero, Tron,
//! ...) are kept as given, trimmed, under their ticker, so that imports count
//! them rather than drop them. This module does no I/O.

use std::fmt;
use std::str::FromStr;

use chainsleuth_core::Chain;
use serde::{Deserialize, Serialize};

/// The chain a tag's address is on: one chainsleuth indexes, or another
/// one named by its lowercase ticker (`ltc`, `xmr`, `trx`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum TagChain {
    /// A chain chainsleuth indexes; its addresses are validated.
    Indexed(Chain),
    /// A chain chainsleuth does not index; its addresses are kept as given.
    Other(String),
}

/// A chain name that is empty or not a plain ticker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain {0:?} is not a chain name such as btc, eth or ltc")]
pub struct BadChainError(pub String);

impl TagChain {
    /// Bitcoin.
    pub const BTC: TagChain = TagChain::Indexed(Chain::Bitcoin);
    /// Ethereum.
    pub const ETH: TagChain = TagChain::Indexed(Chain::Ethereum);

    /// The short name (`btc`, `eth`, `ltc`).
    pub fn as_str(&self) -> &str {
        match self {
            TagChain::Indexed(chain) => chain.as_str(),
            TagChain::Other(name) => name,
        }
    }

    /// The chain that holds `address` when a source names its asset by
    /// `code` (a currency such as `XBT`, `USDT` or `ETH`): tokens issued on
    /// Ethereum (USDT, USDC, DAI...) with a `0x` address are Ethereum, USDT
    /// with a Tron `T...` address is Tron, and anything else is the
    /// lowercase code itself.
    ///
    /// # Errors
    /// [`BadChainError`] for an empty or non-alphanumeric code.
    pub fn for_currency(code: &str, address: &str) -> Result<TagChain, BadChainError> {
        let upper = code.trim().to_ascii_uppercase();
        let evm = address.trim().starts_with("0x") && address.trim().len() == 42;
        match upper.as_str() {
            "BTC" | "XBT" | "BITCOIN" => Ok(TagChain::BTC),
            "ETH" | "ETHEREUM" => Ok(TagChain::ETH),
            "USDT" | "USDC" | "DAI" | "BUSD" | "WETH" | "WBTC" | "ERC20" if evm => Ok(TagChain::ETH),
            "USDT" | "TRX" | "TRON" if address.trim().starts_with('T') => Ok(TagChain::Other("trx".to_owned())),
            _ => upper.to_ascii_lowercase().parse(),
        }
    }
}

impl FromStr for TagChain {
    type Err = BadChainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        if let Ok(chain) = name.parse::<Chain>() {
            return Ok(TagChain::Indexed(chain));
        }
        match name.as_str() {
            "xbt" => Ok(TagChain::BTC),
            "" => Err(BadChainError(s.to_owned())),
            _ if name.len() <= 16 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                Ok(TagChain::Other(name))
            }
            _ => Err(BadChainError(s.to_owned())),
        }
    }
}

impl fmt::Display for TagChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<TagChain> for String {
    fn from(chain: TagChain) -> String {
        chain.as_str().to_owned()
    }
}

impl TryFrom<String> for TagChain {
    type Error = BadChainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

/// An address that is not valid on the chain it was given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Empty, or containing whitespace or control characters.
    #[error("address {0:?} is empty or contains whitespace")]
    Malformed(String),
    /// Not a Bitcoin address (bad base58check or bech32 checksum, bad length).
    #[error("{address:?} is not a valid bitcoin address: {reason}")]
    NotBitcoin {
        /// The address as given.
        address: String,
        /// The decoder's reason.
        reason: String,
    },
    /// A valid Bitcoin address, but of another network.
    #[error("{address:?} is a bitcoin address of another network, not {expected}")]
    WrongNetwork {
        /// The address as given.
        address: String,
        /// The network imports are validated for.
        expected: bitcoin::Network,
    },
    /// Not 20 bytes of hex after `0x`.
    #[error("{0:?} is not an ethereum address (0x and 40 hex digits)")]
    NotEthereum(String),
    /// Mixed-case hex whose case does not match the EIP-55 checksum.
    #[error("{0:?} fails its EIP-55 checksum")]
    BadChecksum(String),
    /// The chain was not given and the address matches no indexed chain.
    #[error("cannot tell the chain of {0:?}; give it (column chain or --chain)")]
    UnknownChain(String),
}

/// Validates `address` for `chain` and returns its stored form: a Bitcoin
/// address as the `bitcoin` crate prints it (bech32 lowercase), an
/// Ethereum address as lowercase `0x` hex, any other chain's address trimmed.
///
/// # Errors
/// [`AddressError`] saying why the address is not valid on that chain.
pub fn normalize(chain: &TagChain, address: &str, network: bitcoin::Network) -> Result<String, AddressError> {
    let text = address.trim();
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AddressError::Malformed(address.to_owned()));
    }
    match chain {
        TagChain::Indexed(Chain::Bitcoin) => normalize_bitcoin(text, network),
        TagChain::Indexed(Chain::Ethereum) => normalize_ethereum(text),
        TagChain::Other(_) => Ok(text.to_owned()),
    }
}

fn normalize_bitcoin(text: &str, network: bitcoin::Network) -> Result<String, AddressError> {
    let parsed = bitcoin::Address::from_str(text)
        .map_err(|err| AddressError::NotBitcoin { address: text.to_owned(), reason: err.to_string() })?;
    let checked = parsed
        .require_network(network)
        .map_err(|_| AddressError::WrongNetwork { address: text.to_owned(), expected: network })?;
    Ok(checked.to_string())
}

fn normalize_ethereum(text: &str) -> Result<String, AddressError> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
    let Some(hex) = hex.filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit())) else {
        return Err(AddressError::NotEthereum(text.to_owned()));
    };
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        let with_prefix = format!("0x{hex}");
        alloy_primitives::Address::parse_checksummed(&with_prefix, None)
            .map_err(|_| AddressError::BadChecksum(text.to_owned()))?;
    }
    Ok(format!("0x{}", hex.to_ascii_lowercase()))
}

/// Guesses the indexed chain of an address whose source names none: `0x`
/// and 40 hex digits is Ethereum, anything else is tried as Bitcoin.
///
/// # Errors
/// [`AddressError::UnknownChain`] when it is neither.
pub fn detect_chain(address: &str) -> Result<TagChain, AddressError> {
    let text = address.trim();
    if text.starts_with("0x") || text.starts_with("0X") {
        return Ok(TagChain::ETH);
    }
    if bitcoin::Address::from_str(text).is_ok() {
        return Ok(TagChain::BTC);
    }
    Err(AddressError::UnknownChain(text.to_owned()))
}

/// The form an address is shown in: EIP-55 checksummed for Ethereum, the
/// stored form otherwise.
pub fn display_form(chain: &TagChain, stored: &str) -> String {
    if *chain == TagChain::ETH {
        if let Ok(address) = stored.parse::<alloy_primitives::Address>() {
            return address.to_checksum(None);
        }
    }
    stored.to_owned()
}

/// Parses a Bitcoin network name (`bitcoin`/`mainnet`, `testnet`, `signet`,
/// `regtest`).
///
/// # Errors
/// The unknown name, in a sentence.
pub fn parse_network(name: &str) -> Result<bitcoin::Network, String> {
    match name.trim().to_ascii_lowercase().as_str() {
        "bitcoin" | "mainnet" | "main" => Ok(bitcoin::Network::Bitcoin),
        "testnet" | "testnet3" | "test" => Ok(bitcoin::Network::Testnet),
        "signet" => Ok(bitcoin::Network::Signet),
        "regtest" => Ok(bitcoin::Network::Regtest),
        other => Err(format!("unknown bitcoin network {other:?} (bitcoin, testnet, signet, regtest)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: bitcoin::Network = bitcoin::Network::Bitcoin;

    #[test]
    fn bitcoin_addresses_validate_per_network() {
        assert_eq!(
            normalize(&TagChain::BTC, " 1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA ", MAIN).unwrap(),
            "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"
        );
        let upper = "BC1QJ6J6P0JDEFL6PVDZX3KX8245YY5MZ6Q4LUHZES";
        assert_eq!(normalize(&TagChain::BTC, upper, MAIN).unwrap(), upper.to_ascii_lowercase());
        // Taproot (bech32m).
        let taproot = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297";
        assert!(normalize(&TagChain::BTC, taproot, MAIN).is_ok());
        // One character changed: the base58check checksum fails.
        assert!(matches!(
            normalize(&TagChain::BTC, "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB", MAIN),
            Err(AddressError::NotBitcoin { .. })
        ));
        let testnet = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx";
        assert!(matches!(normalize(&TagChain::BTC, testnet, MAIN), Err(AddressError::WrongNetwork { .. })));
        assert!(normalize(&TagChain::BTC, testnet, bitcoin::Network::Testnet).is_ok());
    }

    #[test]
    fn ethereum_addresses_check_eip55_when_mixed_case() {
        let good = "0x8589427373D6D84E98730D7795D8f6f8731FDA16";
        assert_eq!(normalize(&TagChain::ETH, good, MAIN).unwrap(), good.to_ascii_lowercase());
        assert_eq!(display_form(&TagChain::ETH, &good.to_ascii_lowercase()), good);
        let bad = "0x8589427373d6D84E98730D7795D8f6f8731FDA16";
        assert!(matches!(normalize(&TagChain::ETH, bad, MAIN), Err(AddressError::BadChecksum(_))));
        assert!(normalize(&TagChain::ETH, &good.to_ascii_lowercase(), MAIN).is_ok());
        assert!(matches!(normalize(&TagChain::ETH, "0x1234", MAIN), Err(AddressError::NotEthereum(_))));
    }

    #[test]
    fn currencies_map_to_chains() {
        assert_eq!(TagChain::for_currency("XBT", "1x").unwrap(), TagChain::BTC);
        let evm = "0x8589427373D6D84E98730D7795D8f6f8731FDA16";
        assert_eq!(TagChain::for_currency("USDT", evm).unwrap(), TagChain::ETH);
        assert_eq!(TagChain::for_currency("USDT", "TXyz").unwrap().as_str(), "trx");
        assert_eq!(TagChain::for_currency("XMR", "4abc").unwrap().as_str(), "xmr");
        assert_eq!(TagChain::for_currency("ETC", evm).unwrap().as_str(), "etc");
        assert!(TagChain::for_currency("", "x").is_err());
    }
}
