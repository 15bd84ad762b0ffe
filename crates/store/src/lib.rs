//! RocksDB storage for chainsleuth: typed tables over column families, key
//! codecs, atomic write batches that carry the new tip and an undo record,
//! prefix scans for paged histories, bulk mode for initial sync, and a
//! digest over all indexed data.
//!
//! This is the only crate that touches RocksDB. Chain crates declare their
//! tables with [`tables!`] and a [`Schema`]; the key layout of every table is
//! written down in `SCHEMA.md` beside this crate, which a test keeps in step
//! with the code.

pub mod bench;
mod codec;
mod db;
mod error;
mod table;
mod undo;

pub use codec::{take, Codec, CodecError};
pub use db::{Batch, Direction, OpenMode, Rows, Schema, Store, StoreConfig};
pub use error::StoreError;
pub use table::{Meta, Table, Undo};
pub use undo::{UndoEntry, UndoLog};
