//! Blocks read straight from Bitcoin Core's block files (`blocks/blk*.dat`).
//!
//! Core appends blocks as they arrive, not in height order, each as a record
//! of network magic, a little-endian `u32` length and the block. Since
//! version 28 it XORs the files with the 8-byte key in `blocks/xor.dat`.
//! [`BlkDirSource`] scans only the 80-byte header of each record, links the
//! headers by previous hash from the genesis block, picks the chain with the
//! most work (stale blocks are skipped) and reads a whole block only when it
//! is asked for. Rescans pick up what Core appended since, so the source can
//! follow a running node; a partly written record at the end of the last
//! file is where the data ends, not an error.
//!
//! This is not a validating node: it trusts that Core checked the blocks it
//! stored, and only re-checks each header's proof of work and each block's
//! merkle root to catch corrupt files.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::pow::Work;
use bitcoin::Network;
use chainsleuth_core::{BlockHash, BlockRef, Height};
use chainsleuth_sync::BlockSource;

use super::error::{blocking, BtcSourceError};
use crate::{to_core_hash, BtcBlock};

/// Bytes before a record's block: magic and length.
const RECORD_HEADER: u64 = 8;
/// Serialized size of a block header.
const BLOCK_HEADER: usize = 80;
/// The largest serialized block Core accepts (`MAX_BLOCK_SERIALIZED_SIZE`).
const MAX_BLOCK_SIZE: u32 = 4_000_000;

/// Whether and how the block files are XOR-obfuscated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XorMode {
    /// Use `blocks/xor.dat` when it exists; plain files otherwise.
    #[default]
    Auto,
    /// Use this key (an all-zero key means plain files).
    Key([u8; 8]),
    /// The files are plain; ignore `xor.dat`.
    Off,
}

impl FromStr for XorMode {
    type Err = BtcSourceError;

    /// Parses `auto`, `off` or a key of 16 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(XorMode::Auto),
            "off" => Ok(XorMode::Off),
            hex_key => {
                let bad = |reason: &str| BtcSourceError::XorKey {
                    what: "given".into(),
                    reason: format!("{reason}: expected auto, off or 16 hex digits"),
                };
                let bytes = hex::decode(hex_key).map_err(|_| bad("not hex"))?;
                let key: [u8; 8] = bytes.try_into().map_err(|_| bad("not 8 bytes"))?;
                Ok(XorMode::Key(key))
            }
        }
    }
}

/// Where the block files are and how to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkDirConfig {
    /// Core's data directory (holding `blocks/`) or the `blocks/` directory itself.
    pub dir: PathBuf,
    /// The network whose magic the records carry and whose genesis block is height 0.
    pub network: Network,
    /// The XOR obfuscation of the files.
    pub xor: XorMode,
}

/// A [`BlockSource`] over a Bitcoin Core blocks directory.
///
/// The first call of any method scans every file's record headers, which on
/// mainnet reads a few hundred megabytes of small pieces; later calls to
/// [`BlockSource::tip`] only scan what was appended since.
#[derive(Debug, Clone)]
pub struct BlkDirSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    blocks_dir: PathBuf,
    network: Network,
    magic: [u8; 4],
    key: Option<[u8; 8]>,
    key_origin: &'static str,
    genesis: bitcoin::Block,
    index: RwLock<Index>,
}

/// Where a block's record sits.
#[derive(Debug, Clone, Copy)]
struct Loc {
    /// The file's number (`blk00042.dat` is 42).
    file: u32,
    /// Offset of the record (its magic) within the file.
    offset: u64,
    /// Length of the block.
    len: u32,
}

/// A block linked to the genesis block.
#[derive(Debug)]
struct Node {
    hash: bitcoin::BlockHash,
    /// Index of the parent node; `None` for the genesis block.
    parent: Option<u32>,
    height: u32,
    /// Cumulative work from genesis up to and including this block.
    chain_work: Work,
    /// `None` for a genesis block not found in the files.
    loc: Option<Loc>,
}

/// What was found at a record's offset.
enum Scanned {
    /// A record with a sound header, and its block's length.
    Record(Header, u32),
    /// Zeros: the end of what Core has written.
    End,
    /// A defect, fatal unless it is the record Core is writing.
    Defect(BtcSourceError),
}

/// A record whose parent has not been seen yet.
#[derive(Debug)]
struct Pending {
    hash: bitcoin::BlockHash,
    work: Work,
    loc: Loc,
}

#[derive(Debug)]
struct BlkFile {
    path: PathBuf,
    /// Offset up to which complete records have been scanned.
    scanned: u64,
}

#[derive(Debug, Default)]
struct Index {
    scanned_once: bool,
    files: BTreeMap<u32, BlkFile>,
    nodes: Vec<Node>,
    by_hash: HashMap<bitcoin::BlockHash, u32>,
    /// Records waiting for their parent, keyed by the parent's hash.
    waiting: HashMap<bitcoin::BlockHash, Vec<Pending>>,
    /// The node with the most work (the first seen among equals).
    best_tip: u32,
    /// Node indices of the best chain, by height.
    best: Vec<u32>,
    records: u64,
}

impl BlkDirSource {
    /// Opens the blocks directory: finds it, checks that it holds block files
    /// and reads the XOR key. Scanning waits for the first call.
    ///
    /// # Errors
    /// [`BtcSourceError::NoBlockFiles`] when neither `dir` nor `dir/blocks`
    /// holds `blk*.dat` files, [`BtcSourceError::XorKey`] for a bad
    /// `xor.dat`, [`BtcSourceError::Io`] when the directory cannot be read.
    pub fn open(config: &BlkDirConfig) -> Result<BlkDirSource, BtcSourceError> {
        let blocks_dir = find_blocks_dir(&config.dir)?;
        let (key, key_origin) = match config.xor {
            XorMode::Off => (None, "xor off"),
            XorMode::Key(key) => (Some(key), "xor key given"),
            XorMode::Auto => match read_xor_dat(&blocks_dir)? {
                Some(key) => (Some(key), "xor key from xor.dat"),
                None => (None, "no xor.dat"),
            },
        };
        let key = key.filter(|k| k.iter().any(|&b| b != 0));
        let genesis = bitcoin::constants::genesis_block(config.network);
        let mut index = Index::default();
        index.nodes.push(Node {
            hash: genesis.block_hash(),
            parent: None,
            height: 0,
            chain_work: genesis.header.work(),
            loc: None,
        });
        index.by_hash.insert(genesis.block_hash(), 0);
        index.best.push(0);
        Ok(BlkDirSource {
            inner: Arc::new(Inner {
                blocks_dir,
                network: config.network,
                magic: config.network.magic().to_bytes(),
                key,
                key_origin,
                genesis,
                index: RwLock::new(index),
            }),
        })
    }

    /// The directory the `blk*.dat` files are read from.
    pub fn blocks_dir(&self) -> &Path {
        &self.inner.blocks_dir
    }

    /// Scans what was appended to the files since the last scan (everything
    /// on the first call) and returns the best block.
    ///
    /// # Errors
    /// A record with wrong magic, a bad length, a header failing its proof of
    /// work, or a truncated record in a file Core no longer writes to, each
    /// naming the file and offset; file read errors.
    pub async fn rescan(&self) -> Result<BlockRef, BtcSourceError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.rescan()).await
    }
}

impl Inner {
    fn rescan(&self) -> Result<BlockRef, BtcSourceError> {
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        self.scan(&mut index)?;
        Ok(index.tip_ref())
    }

    fn scanned_index(&self) -> Result<std::sync::RwLockReadGuard<'_, Index>, BtcSourceError> {
        {
            let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
            if index.scanned_once {
                return Ok(index);
            }
        }
        self.rescan()?;
        Ok(self.index.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn scan(&self, index: &mut Index) -> Result<(), BtcSourceError> {
        for (number, path) in list_blk_files(&self.blocks_dir)? {
            index.files.entry(number).or_insert(BlkFile { path, scanned: 0 });
        }
        if index.files.is_empty() {
            return Err(BtcSourceError::NoBlockFiles { dir: self.blocks_dir.clone() });
        }
        let last = index.files.keys().next_back().copied().unwrap_or_default();
        let numbers: Vec<u32> = index.files.keys().copied().collect();
        let first_scan = !index.scanned_once;
        for number in numbers {
            self.scan_file(index, number, number == last)?;
            if first_scan && number % 100 == 99 {
                tracing::info!(file = number, records = index.records, "scanning block files");
            }
        }
        index.update_best_chain();
        if index.records > 0 && index.nodes.len() == 1 && index.nodes[0].loc.is_none() {
            return Err(BtcSourceError::Unlinked {
                dir: self.blocks_dir.clone(),
                records: index.records,
                network: self.network,
            });
        }
        index.scanned_once = true;
        Ok(())
    }

    /// Scans the records of one file from where the last scan stopped.
    ///
    /// In the last file Core may be writing a record right now: a defective
    /// record there with no further record after it is where the data ends
    /// for now, and the next scan starts again from it.
    fn scan_file(&self, index: &mut Index, number: u32, is_last: bool) -> Result<(), BtcSourceError> {
        let Some(blk) = index.files.get(&number) else { return Ok(()) };
        let path = blk.path.clone();
        let mut offset = blk.scanned;
        let io_err = |source| BtcSourceError::Io { path: path.clone(), source };
        let file = File::open(&path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        while offset < file_len {
            let (header, len) = match self.read_record_header(&file, &path, offset, file_len)? {
                Scanned::Record(header, len) => (header, len),
                Scanned::End => break,
                Scanned::Defect(ref err)
                    if is_last
                        && !matches!(err, BtcSourceError::Magic { .. })
                        && !self.magic_after(&file, &path, offset + 4, file_len)? =>
                {
                    tracing::debug!(file = %path.display(), offset, "record still being written");
                    break;
                }
                Scanned::Defect(err) => return Err(err),
            };
            let loc = Loc { file: number, offset, len };
            let next = offset + RECORD_HEADER + u64::from(len);
            if is_last
                && self.is_final(&file, &path, next, file_len)?
                && self.read_block(&file, &path, loc, Height::GENESIS).is_err()
            {
                // The last record with zeros or nothing after it: Core has not finished writing it.
                tracing::debug!(file = %path.display(), offset, "last record not complete yet");
                break;
            }
            index.records += 1;
            index.add(header, loc);
            offset = next;
        }
        if let Some(blk) = index.files.get_mut(&number) {
            blk.scanned = offset;
        }
        Ok(())
    }

    /// Reads and checks the record header and block header at `offset`.
    fn read_record_header(
        &self,
        file: &File,
        path: &Path,
        offset: u64,
        file_len: u64,
    ) -> Result<Scanned, BtcSourceError> {
        let mut buf = [0u8; RECORD_HEADER as usize + BLOCK_HEADER];
        let available = file_len - offset;
        let head =
            &mut buf[..usize::try_from(available).unwrap_or(usize::MAX).min(RECORD_HEADER as usize + BLOCK_HEADER)];
        file.read_exact_at(head, offset).map_err(|source| BtcSourceError::Io { path: path.to_owned(), source })?;
        // Core preallocates files with zeros; the first zero magic is where its data ends.
        if head.iter().take(4).all(|&b| b == 0) {
            return Ok(Scanned::End);
        }
        let mut raw_magic = [0u8; 4];
        let magic_len = head.len().min(4);
        raw_magic[..magic_len].copy_from_slice(&head[..magic_len]);
        self.unxor(head, offset);
        let truncated = |needed: u64| {
            Scanned::Defect(BtcSourceError::Truncated { path: path.to_owned(), offset, needed, available })
        };
        if head[..magic_len] != self.magic[..magic_len] {
            // Right bytes followed by zeros are a magic still being written; anything else is wrong.
            let partial = (0..magic_len).all(|i| head[i] == self.magic[i] || raw_magic[i] == 0);
            if partial {
                return Ok(truncated(RECORD_HEADER + BLOCK_HEADER as u64));
            }
            return Ok(Scanned::Defect(self.magic_error(path, offset, head)));
        }
        if head.len() < RECORD_HEADER as usize {
            return Ok(truncated(RECORD_HEADER + BLOCK_HEADER as u64));
        }
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if !(BLOCK_HEADER as u32..=MAX_BLOCK_SIZE).contains(&len) {
            return Ok(Scanned::Defect(BtcSourceError::RecordLength { path: path.to_owned(), offset, len }));
        }
        let needed = RECORD_HEADER + u64::from(len);
        if needed > available {
            return Ok(truncated(needed));
        }
        let header = Header::consensus_decode(&mut &head[RECORD_HEADER as usize..])
            .expect("80 bytes always decode as a block header");
        let hash = header.block_hash();
        if !header.target().is_met_by(hash) {
            return Ok(Scanned::Defect(BtcSourceError::BadHeader { path: path.to_owned(), offset, hash }));
        }
        Ok(Scanned::Record(header, len))
    }

    /// Whether nothing but zeros (or nothing at all) follows `offset`.
    fn is_final(&self, file: &File, path: &Path, offset: u64, file_len: u64) -> Result<bool, BtcSourceError> {
        if offset >= file_len {
            return Ok(true);
        }
        let mut next = [0u8; 4];
        let n = usize::try_from(file_len - offset).unwrap_or(4).min(4);
        file.read_exact_at(&mut next[..n], offset)
            .map_err(|source| BtcSourceError::Io { path: path.to_owned(), source })?;
        Ok(next[..n].iter().all(|&b| b == 0))
    }

    /// Whether the network magic occurs anywhere in `from..file_len`, i.e.
    /// whether a record follows.
    fn magic_after(&self, file: &File, path: &Path, from: u64, file_len: u64) -> Result<bool, BtcSourceError> {
        const CHUNK: u64 = 1 << 16;
        let mut start = from;
        while start < file_len {
            // Chunks overlap by three bytes so a magic across a boundary is found.
            let end = (start + CHUNK).min(file_len);
            let mut chunk = vec![0u8; (end - start) as usize];
            file.read_exact_at(&mut chunk, start)
                .map_err(|source| BtcSourceError::Io { path: path.to_owned(), source })?;
            self.unxor(&mut chunk, start);
            if chunk.windows(4).any(|w| w == self.magic) {
                return Ok(true);
            }
            if end == file_len {
                break;
            }
            start = end - 3;
        }
        Ok(false)
    }

    /// Reads, un-XORs and decodes the block of the record at `loc`.
    fn read_block(&self, file: &File, path: &Path, loc: Loc, height: Height) -> Result<BtcBlock, BtcSourceError> {
        let data_offset = loc.offset + RECORD_HEADER;
        let mut bytes = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut bytes, data_offset)
            .map_err(|source| BtcSourceError::Io { path: path.to_owned(), source })?;
        self.unxor(&mut bytes, data_offset);
        BtcBlock::decode(height, &bytes).map_err(|source| BtcSourceError::Corrupt {
            path: path.to_owned(),
            offset: loc.offset,
            source,
        })
    }

    /// Removes the XOR obfuscation from `bytes` read at `offset` of a file.
    fn unxor(&self, bytes: &mut [u8], offset: u64) {
        if let Some(key) = self.key {
            // The key as it lines up with `bytes[0..8]`, then applied eight bytes at a time.
            let mut aligned = [0u8; 8];
            for (i, k) in aligned.iter_mut().enumerate() {
                *k = key[((offset + i as u64) % 8) as usize];
            }
            for chunk in bytes.chunks_mut(8) {
                for (byte, k) in chunk.iter_mut().zip(aligned) {
                    *byte ^= k;
                }
            }
        }
    }

    fn magic_error(&self, path: &Path, offset: u64, head: &[u8]) -> BtcSourceError {
        let found = &head[..head.len().min(4)];
        let raw: Vec<u8> = {
            let mut raw = found.to_vec();
            self.unxor(&mut raw, offset);
            raw
        };
        let other_network = |bytes: &[u8]| {
            [Network::Bitcoin, Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest]
                .into_iter()
                .find(|n| n.magic().to_bytes() == bytes)
        };
        let hint = if let Some(net) = other_network(found) {
            format!("these are {net} blocks: check the network setting")
        } else if self.key.is_some() && raw == self.magic {
            format!("the file is not obfuscated but a xor key was applied ({}): use xor off", self.key_origin)
        } else if offset == 0 && self.key.is_none() {
            format!(
                "the file looks XOR-obfuscated but no key was used ({}): is blocks/xor.dat missing?",
                self.key_origin
            )
        } else if offset == 0 {
            format!("wrong xor key ({}), or not a block file", self.key_origin)
        } else {
            "corrupt block file (the records before this one read fine)".to_owned()
        };
        BtcSourceError::Magic {
            path: path.to_owned(),
            offset,
            network: self.network,
            expected: hex::encode(self.magic),
            found: hex::encode(found),
            hint,
        }
    }

    fn describe(&self) -> String {
        format!("Bitcoin Core blocks directory {} ({}, {})", self.blocks_dir.display(), self.network, self.key_origin)
    }

    fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, BtcSourceError> {
        let index = self.scanned_index()?;
        Ok(index.best_node(height).map(|node| to_core_hash(node.hash)))
    }

    fn block_at(&self, height: Height) -> Result<BtcBlock, BtcSourceError> {
        let (hash, loc, path) = {
            let index = self.scanned_index()?;
            let node = index
                .best_node(height)
                .ok_or_else(|| BtcSourceError::AboveTip { height, source_name: self.describe() })?;
            let path = node.loc.and_then(|loc| index.files.get(&loc.file)).map(|f| f.path.clone());
            (node.hash, node.loc, path)
        };
        let (Some(loc), Some(path)) = (loc, path) else {
            let size = bitcoin::consensus::serialize(&self.genesis).len();
            return Ok(BtcBlock::new(height, self.genesis.clone(), size));
        };
        let file = File::open(&path).map_err(|source| BtcSourceError::Io { path: path.clone(), source })?;
        let block = self.read_block(&file, &path, loc, height)?;
        let found = block.block.block_hash();
        if found != hash {
            return Err(BtcSourceError::Changed { path, offset: loc.offset, expected: hash, found });
        }
        Ok(block)
    }
}

impl Index {
    /// Adds a scanned record, linking it and any records waiting for it.
    fn add(&mut self, header: Header, loc: Loc) {
        let hash = header.block_hash();
        let pending = Pending { hash, work: header.work(), loc };
        match self.by_hash.get(&header.prev_blockhash) {
            Some(&parent) => self.link(parent, pending),
            None => {
                if let Some(&genesis) = self.by_hash.get(&hash).filter(|&&i| i == 0) {
                    // The genesis block itself: note where it is stored.
                    self.nodes[genesis as usize].loc.get_or_insert(loc);
                } else {
                    self.waiting.entry(header.prev_blockhash).or_default().push(pending);
                }
            }
        }
    }

    /// Links `first` under `parent`, then every waiting descendant.
    fn link(&mut self, parent: u32, first: Pending) {
        let mut stack = vec![(parent, first)];
        while let Some((parent, rec)) = stack.pop() {
            if self.by_hash.contains_key(&rec.hash) {
                // The same block stored twice: keep the first copy.
                continue;
            }
            let parent_node = &self.nodes[parent as usize];
            let node = Node {
                hash: rec.hash,
                parent: Some(parent),
                height: parent_node.height + 1,
                chain_work: parent_node.chain_work + rec.work,
                loc: Some(rec.loc),
            };
            let id = self.nodes.len() as u32;
            if node.chain_work > self.nodes[self.best_tip as usize].chain_work {
                self.best_tip = id;
            }
            self.by_hash.insert(rec.hash, id);
            self.nodes.push(node);
            if let Some(children) = self.waiting.remove(&rec.hash) {
                stack.extend(children.into_iter().map(|child| (id, child)));
            }
        }
    }

    /// Rebuilds the best chain from its tip down to where it meets the old one.
    fn update_best_chain(&mut self) {
        let mut path = Vec::new();
        let mut cursor = Some(self.best_tip);
        while let Some(id) = cursor {
            let node = &self.nodes[id as usize];
            if self.best.get(node.height as usize) == Some(&id) {
                break;
            }
            path.push(id);
            cursor = node.parent;
        }
        let keep = self.nodes[self.best_tip as usize].height as usize + 1 - path.len();
        self.best.truncate(keep);
        self.best.extend(path.into_iter().rev());
    }

    fn best_node(&self, height: Height) -> Option<&Node> {
        let h = usize::try_from(height.get()).ok()?;
        self.best.get(h).map(|&id| &self.nodes[id as usize])
    }

    fn tip_ref(&self) -> BlockRef {
        let tip = &self.nodes[self.best_tip as usize];
        BlockRef { height: Height::new(u64::from(tip.height)), hash: to_core_hash(tip.hash) }
    }
}

/// `dir/blocks` when it holds block files, else `dir` when it does.
fn find_blocks_dir(dir: &Path) -> Result<PathBuf, BtcSourceError> {
    let nested = dir.join("blocks");
    if nested.is_dir() && !list_blk_files(&nested)?.is_empty() {
        return Ok(nested);
    }
    if !list_blk_files(dir)?.is_empty() {
        return Ok(dir.to_owned());
    }
    Err(BtcSourceError::NoBlockFiles { dir: dir.to_owned() })
}

/// The `blk?????.dat` files of a directory with their numbers.
fn list_blk_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, BtcSourceError> {
    let io_err = |source| BtcSourceError::Io { path: dir.to_owned(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = name.strip_prefix("blk").and_then(|rest| rest.strip_suffix(".dat")).and_then(|n| n.parse().ok());
        if let Some(number) = number {
            files.push((number, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// The key in `blocks/xor.dat`, `None` when there is no such file.
fn read_xor_dat(blocks_dir: &Path) -> Result<Option<[u8; 8]>, BtcSourceError> {
    let path = blocks_dir.join("xor.dat");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let len = bytes.len();
            let key: [u8; 8] = bytes.try_into().map_err(|_| BtcSourceError::XorKey {
                what: path.display().to_string(),
                reason: format!("{len} bytes, expected 8"),
            })?;
            Ok(Some(key))
        }
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BtcSourceError::Io { path, source }),
    }
}

impl BlockSource for BlkDirSource {
    type Block = BtcBlock;
    type Error = BtcSourceError;

    async fn tip(&self) -> Result<BlockRef, BtcSourceError> {
        self.rescan().await
    }

    async fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, BtcSourceError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.hash_at(height)).await
    }

    async fn block_at(&self, height: Height) -> Result<BtcBlock, BtcSourceError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.block_at(height)).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_mode_parses() {
        assert_eq!("auto".parse::<XorMode>().ok(), Some(XorMode::Auto));
        assert_eq!("off".parse::<XorMode>().ok(), Some(XorMode::Off));
        assert_eq!("0102030405060708".parse::<XorMode>().ok(), Some(XorMode::Key([1, 2, 3, 4, 5, 6, 7, 8])));
        assert!("01020304".parse::<XorMode>().is_err());
        assert!("zz".parse::<XorMode>().is_err());
    }
}
