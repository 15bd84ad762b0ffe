//! The tag store's tables (RocksDB column families through
//! `chainsleuth_store`) and their key types. `SCHEMA.md` beside this crate
//! documents each layout; a test keeps it in step with [`SCHEMA`].
//!
//! Visibility is computed, not stored: a tag row carries the source version
//! that added it and, once dropped, the version that retired it; a reader
//! shows the row when `added <= active < retired` for its source's active
//! version. Imports therefore write new versions beside the active one and
//! switch by rewriting one small source row (see [`crate::import`]).

use chainsleuth_store::{tables, take, Codec, CodecError, Schema};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::address::TagChain;
use crate::model::{EntityRecord, RunStatus, TagRecord, VersionInfo};

/// A value stored as JSON: the records are few fields of text and evolve
/// with the taxonomy, and the schema format number guards changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned> Codec for Json<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        // Our records hold strings, numbers and string-keyed maps only, which
        // serde_json always serialises.
        serde_json::to_writer(out, &self.0).expect("tag records serialise to JSON");
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let value = serde_json::from_slice(input).map_err(|_| CodecError::Invalid { what: "json record" })?;
        *input = &[];
        Ok(Json(value))
    }
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    // Callers bound the lengths: chain names to 16 bytes, addresses to 128
    // (see `address::normalize`), entity ids are cut to 255 bytes.
    let len = u8::try_from(bytes.len()).expect("short fields are at most 255 bytes");
    out.push(len);
    out.extend_from_slice(bytes);
}

fn take_short(input: &mut &[u8], what: &'static str) -> Result<String, CodecError> {
    let len = usize::from(u8::decode_from(input)?);
    let bytes = take(input, len)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::Invalid { what })
}

/// An address on a chain: `len:u8 ‖ chain ‖ len:u8 ‖ address`. The lengths
/// make the encoding of one address a prefix of no other's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrKey {
    /// Chain short name (`btc`, `eth`, `ltc`).
    pub chain: String,
    /// Stored form of the address.
    pub address: String,
}

impl AddrKey {
    /// The key of `address` (stored form) on `chain`.
    pub fn new(chain: &TagChain, address: &str) -> Self {
        AddrKey { chain: chain.as_str().to_owned(), address: address.to_owned() }
    }

    /// The encoded prefix shared by the keys of every address on `chain`.
    pub fn chain_prefix(chain: &TagChain) -> Vec<u8> {
        let mut out = Vec::new();
        put_short(&mut out, chain.as_str().as_bytes());
        out
    }
}

impl Codec for AddrKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_short(out, self.chain.as_bytes());
        put_short(out, self.address.as_bytes());
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(AddrKey { chain: take_short(input, "chain name")?, address: take_short(input, "address")? })
    }
}

/// An entity id: `len:u8 ‖ utf-8`, at most 255 bytes (longer ids are cut
/// at a character boundary).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey(pub String);

impl EntityKey {
    /// The key of entity id `id`, cut to 255 bytes.
    pub fn new(id: &str) -> Self {
        let mut end = id.len().min(255);
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        EntityKey(id[..end].to_owned())
    }
}

impl Codec for EntityKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_short(out, self.0.as_bytes());
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        take_short(input, "entity id").map(EntityKey)
    }
}

/// The first 16 bytes of SHA-256 over a tag's content (everything but the
/// chain and address, which are in the key): two rows with the same
/// fingerprint say the same thing.
pub type Fingerprint = [u8; 16];

/// Source ids are small numbers given out in order of first import.
pub type SourceId = u32;

/// A tag row's key: `AddrKey ‖ source:u32 ‖ fingerprint ‖ added:u32`.
pub type TagKey = (AddrKey, SourceId, Fingerprint, u32);

/// The versions one tag of one source was live in, oldest first: `(added,
/// retired)` with `retired = 0` while live (versions start at 1). A tag
/// dropped and later re-added has two spans, and two rows in [`Tags`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans(pub Vec<(u32, u32)>);

impl Spans {
    /// The version that added the live span, if the tag is live.
    pub fn live(&self) -> Option<u32> {
        self.0.last().filter(|(_, retired)| *retired == 0).map(|(added, _)| *added)
    }
}

impl Codec for Spans {
    fn encode_to(&self, out: &mut Vec<u8>) {
        for (added, retired) in &self.0 {
            added.encode_to(out);
            retired.encode_to(out);
        }
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let mut spans = Vec::with_capacity(input.len() / 8);
        while !input.is_empty() {
            spans.push((u32::decode_from(input)?, u32::decode_from(input)?));
        }
        Ok(Spans(spans))
    }
}

/// A source's row: its name and active version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The source's name.
    pub name: String,
    /// The active version; 0 before the first import.
    pub active: u32,
}

tables! {
    /// Every tag row by address: the lookup of an address's tags is one
    /// prefix seek. Written by imports, never deleted once activated.
    Tags("tags_by_addr"): TagKey => Json<TagRecord>;
    /// Each tag of each source with the versions it was live in: an import
    /// checks a row of its file against it with one point read, `diff` and
    /// rollback scan a source's rows.
    BySource("tags_by_source"): (SourceId, AddrKey, Fingerprint) => Spans;
    /// The tag rows of each entity, for `entity NAME`.
    ByEntity("tags_by_entity"): (EntityKey, AddrKey, SourceId, Fingerprint, u32) => ();
    /// Entity records per source; written with the version switch.
    Entities("tags_entities"): (EntityKey, SourceId) => Json<EntityRecord>;
    /// Sources by id: name and active version. Rewriting a source's row
    /// switches its visible version.
    Sources("tags_sources"): SourceId => Json<SourceRecord>;
    /// Source ids by name.
    SourceNames("tags_source_names"): String => SourceId;
    /// One row per activated version of a source.
    Versions("tags_versions"): (SourceId, u32) => Json<VersionInfo>;
    /// Scratch rows of running re-imports: `import id ‖ AddrKey ‖
    /// fingerprint` for each live tag the new file still has, so the tags it
    /// lacks can be retired without holding the file's tags in memory.
    /// Deleted when the import ends. Not part of the digest.
    Staging("tags_staging"): (u64, Vec<u8>) => ();
    /// Imports under way per source: (import id, version being built, source
    /// name). A row left here by a crash is rolled back on the next open.
    /// Not part of the digest.
    Pending("tags_pending"): SourceId => (u64, u32, String);
    /// Counters (`next_import_id`). Not part of the digest.
    State("tags_state"): String => u64;
    /// Fetch and error status per source name, for `tags sources` and
    /// scheduling. Not part of the digest.
    Runs("tags_runs"): String => Json<RunStatus>;
}

/// The tag store's schema.
pub static SCHEMA: Schema = Schema {
    name: "tags",
    format: 1,
    tables: &[
        "tags_by_addr",
        "tags_by_source",
        "tags_by_entity",
        "tags_entities",
        "tags_sources",
        "tags_source_names",
        "tags_versions",
        "tags_staging",
        "tags_pending",
        "tags_state",
        "tags_runs",
    ],
    digest_excludes: &["tags_staging", "tags_pending", "tags_state", "tags_runs"],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_prefix_only_their_own_address() {
        let key: TagKey = (AddrKey { chain: "btc".into(), address: "1abc".into() }, 7, [3; 16], 2);
        assert_eq!(TagKey::decode(&key.encode()), Ok(key.clone()));
        let short = AddrKey { chain: "btc".into(), address: "1ab".into() }.encode();
        assert!(!key.encode().starts_with(&short));
        let chain = AddrKey::new(&TagChain::BTC, "1abc");
        assert!(chain.encode().starts_with(&AddrKey::chain_prefix(&TagChain::BTC)));
        assert!(!chain.encode().starts_with(&AddrKey::chain_prefix(&TagChain::ETH)));
        let entity = EntityKey::new(&"é".repeat(200));
        assert!(entity.0.len() <= 255);
        assert_eq!(EntityKey::decode(&entity.encode()), Ok(entity));
    }

    #[test]
    fn spans_round_trip() {
        let spans = Spans(vec![(1, 3), (5, 0)]);
        assert_eq!(Spans::decode(&spans.encode()), Ok(spans.clone()));
        assert_eq!(spans.live(), Some(5));
        assert_eq!(Spans(vec![(1, 2)]).live(), None);
        assert!(Spans::decode(&[0, 0, 0, 1]).is_err());
    }

    #[test]
    fn schema_doc_lists_every_table() {
        assert_eq!(SCHEMA.undocumented_tables(include_str!("../SCHEMA.md")), Vec::<&str>::new());
    }
}
