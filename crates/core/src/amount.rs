//! Amounts in each chain's smallest unit. No floats: conversion to a decimal
//! string happens only for display.

use std::fmt;

use alloy_primitives::U256;

/// An arithmetic result that does not fit its amount type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("amount overflow")]
pub struct AmountOverflowError;

/// An amount of bitcoin in satoshi (1 BTC = 100,000,000 sat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Sats(pub u64);

impl Sats {
    /// Zero satoshi.
    pub const ZERO: Sats = Sats(0);
    /// Satoshi in one bitcoin.
    pub const PER_BTC: u64 = 100_000_000;

    /// The amount in satoshi.
    pub const fn to_sat(self) -> u64 {
        self.0
    }

    /// `self + other`, or an error on overflow.
    pub fn checked_add(self, other: Sats) -> Result<Sats, AmountOverflowError> {
        self.0.checked_add(other.0).map(Sats).ok_or(AmountOverflowError)
    }

    /// `self - other`, or an error when `other` is larger.
    pub fn checked_sub(self, other: Sats) -> Result<Sats, AmountOverflowError> {
        self.0.checked_sub(other.0).map(Sats).ok_or(AmountOverflowError)
    }
}

impl fmt::Display for Sats {
    /// Formats as BTC with eight decimals, e.g. `0.00012000 BTC`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:08} BTC", self.0 / Self::PER_BTC, self.0 % Self::PER_BTC)
    }
}

/// An amount of ether in wei (1 ETH = 10^18 wei).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Wei(pub U256);

/// An amount of an ERC-20 token in its base units (before `decimals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TokenUnits(pub U256);

impl fmt::Display for Wei {
    /// Formats as a decimal count of wei.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} wei", self.0)
    }
}

impl fmt::Display for TokenUnits {
    /// Formats as a decimal count of base units.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sats_checked_arithmetic() {
        assert_eq!(Sats(5).checked_add(Sats(7)), Ok(Sats(12)));
        assert_eq!(Sats(5).checked_sub(Sats(7)), Err(AmountOverflowError));
        assert_eq!(Sats(u64::MAX).checked_add(Sats(1)), Err(AmountOverflowError));
    }

    #[test]
    fn sats_display_as_btc() {
        assert_eq!(Sats(12_000).to_string(), "0.00012000 BTC");
        assert_eq!(Sats(2 * Sats::PER_BTC + 1).to_string(), "2.00000001 BTC");
    }
}
