//! Byte encodings of table keys and values.
//!
//! Integers are big-endian so that RocksDB's byte order is numeric order and a
//! prefix scan returns rows in chain order. Variable-length types (`Vec<u8>`,
//! `String`) take the rest of the input, so they may only stand last.

use chainsleuth_core::{AddressId, BlockHash, Height, Sats, TokenUnits, TxNum, Wei, U256};

/// A value that did not decode: it is shorter, longer or otherwise not what
/// its type writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended before the value did.
    #[error("truncated: needed {needed} more bytes, {left} left")]
    Truncated {
        /// Bytes the value still needed.
        needed: usize,
        /// Bytes that were left.
        left: usize,
    },
    /// Bytes remained after the value was read.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// The bytes are of the right length but not a valid value.
    #[error("invalid {what}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
    },
}

/// A type that can be written as a table key or value.
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// Reads one value from the front of `input`, advancing it.
    ///
    /// # Errors
    /// [`CodecError`] when the input is not an encoding of this type.
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError>;

    /// The encoding of `self`.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }

    /// Decodes a value that spans all of `bytes`.
    ///
    /// # Errors
    /// [`CodecError`] when the bytes are not exactly one encoding of this type.
    fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut input = bytes;
        let value = Self::decode_from(&mut input)?;
        if !input.is_empty() {
            return Err(CodecError::Trailing(input.len()));
        }
        Ok(value)
    }
}

/// Takes `n` bytes off the front of `input`.
///
/// # Errors
/// [`CodecError::Truncated`] when fewer than `n` bytes are left.
pub fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], CodecError> {
    if input.len() < n {
        return Err(CodecError::Truncated { needed: n, left: input.len() });
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], CodecError> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(input, N)?);
    Ok(out)
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
                Ok(<$t>::from_be_bytes(take_array(input)?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, u128);

impl Codec for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        match u8::decode_from(input)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Invalid { what: "bool" }),
        }
    }
}

impl<const N: usize> Codec for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        take_array(input)
    }
}

/// Raw bytes; takes the rest of the input, so it must stand last.
impl Codec for Vec<u8> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let rest = input.to_vec();
        *input = &[];
        Ok(rest)
    }
}

/// UTF-8 text; takes the rest of the input, so it must stand last.
impl Codec for String {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let text = std::str::from_utf8(input).map_err(|_| CodecError::Invalid { what: "utf-8 text" })?;
        let text = text.to_owned();
        *input = &[];
        Ok(text)
    }
}

/// The empty value, for tables whose rows are all key.
impl Codec for () {
    fn encode_to(&self, _out: &mut Vec<u8>) {}
    fn decode_from(_input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(())
    }
}

/// `0` for `None`, `1` and the value for `Some`.
impl<T: Codec> Codec for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode_to(out);
            }
        }
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        match u8::decode_from(input)? {
            0 => Ok(None),
            1 => T::decode_from(input).map(Some),
            _ => Err(CodecError::Invalid { what: "option tag" }),
        }
    }
}

macro_rules! tuple_codec {
    ($($name:ident),+) => {
        impl<$($name: Codec),+> Codec for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode_to(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode_to(out);)+
            }
            fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
                Ok(($($name::decode_from(input)?,)+))
            }
        }
    };
}
tuple_codec!(A, B);
tuple_codec!(A, B, C);
tuple_codec!(A, B, C, D);
tuple_codec!(A, B, C, D, E);

impl Codec for U256 {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes::<32>());
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(U256::from_be_bytes(take_array::<32>(input)?))
    }
}

macro_rules! newtype_codec {
    ($($t:ident($inner:ty)),*) => {$(
        impl Codec for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                self.0.encode_to(out);
            }
            fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
                <$inner>::decode_from(input).map($t)
            }
        }
    )*};
}
newtype_codec!(AddressId(u64), TxNum(u64), Sats(u64), Wei(U256), TokenUnits(U256), BlockHash([u8; 32]));

impl Codec for Height {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.get().encode_to(out);
    }
    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        u64::decode_from(input).map(Height::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: T) {
        assert_eq!(T::decode(&value.encode()), Ok(value));
    }

    #[test]
    fn values_round_trip() {
        round_trip(0xdead_beef_u32);
        round_trip(u64::MAX);
        round_trip((AddressId(7), TxNum(9)));
        round_trip((Height::new(3), BlockHash([9; 32]), Some(Sats(5)), None::<u8>));
        round_trip(Wei(U256::MAX));
        round_trip(String::from("bc1q…"));
        round_trip((7u8, vec![1u8, 2, 3]));
    }

    #[test]
    fn big_endian_sorts_numerically() {
        let mut keys: Vec<Vec<u8>> = [300u64, 2, 70_000, 1].iter().map(Codec::encode).collect();
        keys.sort();
        let back: Vec<u64> = keys.iter().map(|k| u64::decode(k).unwrap()).collect();
        assert_eq!(back, vec![1, 2, 300, 70_000]);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(u64::decode(&[1, 2, 3]), Err(CodecError::Truncated { needed: 8, left: 3 }));
        assert_eq!(u8::decode(&[1, 2]), Err(CodecError::Trailing(1)));
        assert_eq!(bool::decode(&[7]), Err(CodecError::Invalid { what: "bool" }));
        assert!(String::decode(&[0xff]).is_err());
    }
}
