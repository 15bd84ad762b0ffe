//! Which blockchain a piece of data belongs to.

use std::fmt;
use std::str::FromStr;

/// A blockchain chainsleuth indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    /// Bitcoin (UTXO model).
    #[serde(rename = "btc")]
    Bitcoin,
    /// Ethereum (account model).
    #[serde(rename = "eth")]
    Ethereum,
}

impl Chain {
    /// Every chain, in a stable order.
    pub const ALL: [Chain; 2] = [Chain::Bitcoin, Chain::Ethereum];

    /// The short name used on the command line, in paths and in JSON (`btc`, `eth`).
    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Bitcoin => "btc",
            Chain::Ethereum => "eth",
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chain name that is not one chainsleuth knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain {0:?} (expected btc or eth)")]
pub struct ParseChainError(pub String);

impl FromStr for Chain {
    type Err = ParseChainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "btc" | "bitcoin" => Ok(Chain::Bitcoin),
            "eth" | "ethereum" => Ok(Chain::Ethereum),
            _ => Err(ParseChainError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for chain in Chain::ALL {
            assert_eq!(chain.as_str().parse::<Chain>(), Ok(chain));
        }
        assert_eq!("Bitcoin".parse::<Chain>(), Ok(Chain::Bitcoin));
        assert!("ltc".parse::<Chain>().unwrap_err().to_string().contains("ltc"));
    }
}
