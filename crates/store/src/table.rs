//! Typed tables: each RocksDB column family has one marker type that names
//! it and fixes its key and value types.

use crate::codec::Codec;

/// A column family with typed keys and values.
///
/// Declare one unit struct per table and list its name in the owning crate's
/// [`Schema`](crate::Schema); readers and writers then go through
/// [`Store`](crate::Store) and [`Batch`](crate::Batch), never raw names.
pub trait Table: 'static {
    /// The column family's name; also its heading in the crate's schema doc.
    const NAME: &'static str;
    /// The key type, big-endian so that byte order is the order wanted.
    type Key: Codec;
    /// The value type.
    type Value: Codec;
}

/// Declares table marker types: `tables! { /// docs  Name("cf_name"): Key => Value; }`.
#[macro_export]
macro_rules! tables {
    ($($(#[$doc:meta])* $name:ident($cf:literal): $key:ty => $value:ty;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl $crate::Table for $name {
            const NAME: &'static str = $cf;
            type Key = $key;
            type Value = $value;
        }
    )+};
}

tables! {
    /// Store-wide facts by name: the format version, the tip, id counters.
    /// Written by the store and the chain indexers in each block's batch.
    Meta("meta"): String => Vec<u8>;
    /// The undo record of each recent block, by height: the keys its batch
    /// created and the old values it overwrote. Written with the block,
    /// read and deleted by unwind, pruned below the finality window.
    Undo("undo"): u64 => crate::UndoLog;
}
