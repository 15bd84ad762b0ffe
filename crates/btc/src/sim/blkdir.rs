//! Writes blocks the way Bitcoin Core stores them: `blocks/blk00000.dat`, `blk00001.dat`, ... of records
//! `magic ‖ u32le length ‖ block`, optionally obfuscated with `blocks/xor.dat` as Core 28+ does.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bitcoin::{consensus, Block, BlockHash, Network};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use super::SimError;

/// Core's default largest block file (`MAX_BLOCKFILE_SIZE`), 128 MiB.
pub const CORE_MAX_FILE_SIZE: u64 = 128 << 20;
/// Blocks shuffled among themselves when [`BlkDirOptions::shuffle`] is on.
const SHUFFLE_WINDOW: usize = 16;
/// Seed of the shuffle, so the same blocks always land in the same order.
const SHUFFLE_SEED: u64 = 0x626c_6b64_6174;

/// How [`write_blocks_dir`] lays out the files.
#[derive(Clone, Debug)]
pub struct BlkDirOptions {
    /// A file takes no record that would make it larger than this, in bytes (a bigger block gets a file alone).
    pub max_file_size: u64,
    /// When set, writes `blocks/xor.dat` with this key and XORs every blk file byte at file offset `i` with
    /// `key[i % 8]`, as Bitcoin Core 28+ does.
    pub xor_key: Option<[u8; 8]>,
    /// Writes blocks out of height order, shuffled within windows of 16 after the genesis block, as a node that
    /// downloads blocks in parallel does. The order is the same on every run.
    pub shuffle: bool,
    /// Valid blocks that are not on the best chain; each goes right after the best-chain block of its height.
    pub stale: Vec<Block>,
}

impl Default for BlkDirOptions {
    fn default() -> Self {
        BlkDirOptions { max_file_size: CORE_MAX_FILE_SIZE, xor_key: None, shuffle: false, stale: Vec::new() }
    }
}

/// Where one block was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlkRecord {
    /// The block's hash.
    pub hash: BlockHash,
    /// Number of the file (`blk{file:05}.dat`).
    pub file: u32,
    /// Offset of the record's magic in the file.
    pub offset: u64,
    /// Length of the serialized block (the record's length field).
    pub len: u32,
}

/// What [`write_blocks_dir`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlkDirLayout {
    /// The blk files, in number order.
    pub files: Vec<PathBuf>,
    /// Every record in write order (file by file, offset by offset).
    pub records: Vec<BlkRecord>,
    /// Bytes written to blk files.
    pub bytes: u64,
}

/// Writes `blocks` (best chain, genesis first) and `options.stale` to `dir/blocks/` in Bitcoin Core's layout.
///
/// Replaces any `blk*.dat` and `xor.dat` already in `dir/blocks/`, so a rerun leaves no file of an older one.
///
/// # Errors
///
/// [`SimError::Write`] naming the file or directory that could not be created or written.
pub fn write_blocks_dir(dir: &Path, blocks: &[Block], options: &BlkDirOptions) -> Result<BlkDirLayout, SimError> {
    let mut files = FileWriter::create(dir, options)?;
    for block in write_order(blocks, &options.stale, options.shuffle) {
        files.write(block)?;
    }
    files.finish()
}

/// Writes a best chain to `dir/blocks/` block by block as it is built, in Bitcoin Core's layout, without holding
/// it in memory: the streaming form of [`write_blocks_dir`] (no stale blocks; with `shuffle`, each window of 16
/// blocks after the genesis block is written in a shuffled order, as there).
pub struct BlkDirStream {
    files: FileWriter,
    shuffle: Option<ChaCha20Rng>,
    window: Vec<Block>,
    started: bool,
}

impl BlkDirStream {
    /// Starts `dir/blocks/` afresh (see [`write_blocks_dir`]); `options.stale` must be empty.
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming the file or directory that could not be created or written.
    pub fn create(dir: &Path, options: &BlkDirOptions) -> Result<BlkDirStream, SimError> {
        assert!(options.stale.is_empty(), "a block stream takes no stale blocks");
        Ok(BlkDirStream {
            files: FileWriter::create(dir, options)?,
            shuffle: options.shuffle.then(|| ChaCha20Rng::seed_from_u64(SHUFFLE_SEED)),
            window: Vec::with_capacity(SHUFFLE_WINDOW),
            started: false,
        })
    }

    /// Adds the next block of the best chain (the genesis block first).
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming the file that could not be written.
    pub fn push(&mut self, block: Block) -> Result<(), SimError> {
        if !self.started || self.shuffle.is_none() {
            self.started = true;
            return self.files.write(&block);
        }
        self.window.push(block);
        if self.window.len() == SHUFFLE_WINDOW {
            self.flush_window()?;
        }
        Ok(())
    }

    /// Writes the blocks still buffered and closes the last file.
    ///
    /// # Errors
    ///
    /// [`SimError::Write`] naming the file that could not be written.
    pub fn finish(mut self) -> Result<BlkDirLayout, SimError> {
        self.flush_window()?;
        self.files.finish()
    }

    fn flush_window(&mut self) -> Result<(), SimError> {
        if let Some(rng) = &mut self.shuffle {
            self.window.shuffle(rng);
        }
        for block in std::mem::take(&mut self.window) {
            self.files.write(&block)?;
        }
        Ok(())
    }
}

/// The blk files being written: records appended to the current file, a new file when it would grow too large.
struct FileWriter {
    blocks_dir: PathBuf,
    max_file_size: u64,
    key: [u8; 8],
    layout: BlkDirLayout,
    out: Option<(PathBuf, BufWriter<File>)>,
    pos: u64,
    record: Vec<u8>,
}

/// A closure turning an I/O error into [`SimError::Write`] for `path`.
fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError {
    let path = path.to_owned();
    move |source| SimError::Write { path, source }
}

impl FileWriter {
    /// Empties `dir/blocks/` of blk files and `xor.dat`, and writes the new `xor.dat` when obfuscating.
    fn create(dir: &Path, options: &BlkDirOptions) -> Result<FileWriter, SimError> {
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir).map_err(io_err(&blocks_dir))?;
        for entry in fs::read_dir(&blocks_dir).map_err(io_err(&blocks_dir))? {
            let path = entry.map_err(io_err(&blocks_dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name == "xor.dat" || (name.starts_with("blk") && name.ends_with(".dat")) {
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        if let Some(key) = options.xor_key {
            let path = blocks_dir.join("xor.dat");
            fs::write(&path, key).map_err(io_err(&path))?;
        }
        Ok(FileWriter {
            blocks_dir,
            max_file_size: options.max_file_size,
            key: options.xor_key.unwrap_or([0; 8]),
            layout: BlkDirLayout::default(),
            out: None,
            pos: 0,
            record: Vec::new(),
        })
    }

    /// Appends one record.
    fn write(&mut self, block: &Block) -> Result<(), SimError> {
        let record = &mut self.record;
        record.clear();
        record.extend_from_slice(&Network::Regtest.magic().to_bytes());
        record.extend_from_slice(&[0; 4]);
        consensus::encode::Encodable::consensus_encode(block, record).expect("writing to a Vec cannot fail");
        let len = u32::try_from(record.len() - 8).expect("a block is under 4 GiB");
        record[4..8].copy_from_slice(&len.to_le_bytes());
        if self.out.is_none() || (self.pos > 0 && self.pos + record.len() as u64 > self.max_file_size) {
            if let Some((path, mut file)) = self.out.take() {
                file.flush().map_err(io_err(&path))?;
            }
            let path = self.blocks_dir.join(format!("blk{:05}.dat", self.layout.files.len()));
            let file = File::create(&path).map_err(io_err(&path))?;
            self.layout.files.push(path.clone());
            self.out = Some((path, BufWriter::with_capacity(1 << 20, file)));
            self.pos = 0;
        }
        let (path, file) = self.out.as_mut().expect("a file was opened above");
        let file_no = u32::try_from(self.layout.files.len() - 1).expect("fewer than 2^32 files");
        self.layout.records.push(BlkRecord { hash: block.block_hash(), file: file_no, offset: self.pos, len });
        for (i, byte) in record.iter_mut().enumerate() {
            *byte ^= self.key[((self.pos + i as u64) % 8) as usize];
        }
        file.write_all(record).map_err(io_err(path))?;
        self.pos += record.len() as u64;
        self.layout.bytes += record.len() as u64;
        Ok(())
    }

    /// Flushes the last file and returns what was written.
    fn finish(mut self) -> Result<BlkDirLayout, SimError> {
        if let Some((path, mut file)) = self.out.take() {
            file.flush().map_err(io_err(&path))?;
        }
        Ok(self.layout)
    }
}

/// The order blocks are written in: best chain (maybe shuffled), each stale block after the best-chain block of
/// its height (or after its parent when the best chain is shorter).
fn write_order<'a>(blocks: &'a [Block], stale: &'a [Block], shuffle: bool) -> Vec<&'a Block> {
    let mut order: Vec<&Block> = blocks.iter().collect();
    if shuffle && order.len() > 1 {
        let mut rng = ChaCha20Rng::seed_from_u64(SHUFFLE_SEED);
        for window in order[1..].chunks_mut(SHUFFLE_WINDOW) {
            window.shuffle(&mut rng);
        }
    }
    let mut heights: BTreeMap<BlockHash, usize> = blocks.iter().enumerate().map(|(h, b)| (b.block_hash(), h)).collect();
    for block in stale {
        let Some(&parent) = heights.get(&block.header.prev_blockhash) else {
            order.push(block);
            continue;
        };
        heights.insert(block.block_hash(), parent + 1);
        let anchor = blocks.get(parent + 1).map_or(block.header.prev_blockhash, Block::block_hash);
        let at = order.iter().position(|b| b.block_hash() == anchor).map_or(order.len(), |i| i + 1);
        order.insert(at, block);
    }
    order
}
