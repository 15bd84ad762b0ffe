//! Bounded reading of text files: a reader that refuses any line longer than
//! a limit (so a 100 MB single line fails at its first megabyte rather than
//! filling memory), line iteration with line numbers, and the file's SHA-256.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::TagsError;

/// The default longest line importers accept: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// The payload of the I/O error [`CappedReader`] returns for a long line.
#[derive(Debug)]
pub(crate) struct LineTooLong {
    line: u64,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is too long", self.line)
    }
}

impl std::error::Error for LineTooLong {}

/// A reader that fails with [`LineTooLong`] as soon as a line exceeds
/// `limit` bytes, whatever reads from it (csv, quick-xml, our line reader).
pub(crate) struct CappedReader<R> {
    inner: R,
    line: u64,
    run: usize,
    limit: usize,
    /// Set once the limit was crossed; every later read fails.
    exceeded: bool,
}

impl<R: Read> CappedReader<R> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        CappedReader { inner, line: 1, run: 0, limit, exceeded: false }
    }
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let too_long = |line| io::Error::new(io::ErrorKind::InvalidData, LineTooLong { line });
        if self.exceeded {
            return Err(too_long(self.line));
        }
        let n = self.inner.read(buf)?;
        for (index, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' {
                self.line += 1;
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > self.limit {
                    // Hand out the bytes before the long line's excess; the
                    // next read reports it.
                    self.exceeded = true;
                    return if index > 0 { Ok(index) } else { Err(too_long(self.line)) };
                }
            }
        }
        Ok(n)
    }
}

/// Turns an I/O error from a capped reader into [`TagsError`].
pub(crate) fn io_error(file: &str, path: &Path, err: io::Error, limit: usize) -> TagsError {
    if let Some(long) = err.get_ref().and_then(|inner| inner.downcast_ref::<LineTooLong>()) {
        return TagsError::LineTooLong { file: file.to_owned(), line: long.line, limit };
    }
    TagsError::Io { path: path.to_owned(), source: err }
}

/// Opens `path` for bounded reading.
pub(crate) fn open_capped(path: &Path, limit: usize) -> Result<BufReader<CappedReader<File>>, TagsError> {
    let file = File::open(path).map_err(|source| TagsError::Io { path: path.to_owned(), source })?;
    Ok(BufReader::with_capacity(64 << 10, CappedReader::new(file, limit)))
}

/// Numbered lines of a text file, each at most the limit long, without the
/// line ending (and without a UTF-8 byte-order mark on the first).
pub(crate) struct Lines {
    reader: BufReader<CappedReader<File>>,
    buf: Vec<u8>,
    line: u64,
    file: String,
    path: std::path::PathBuf,
    limit: usize,
}

impl Lines {
    /// Opens `path`; `file` is the name errors use.
    pub(crate) fn open(path: &Path, file: &str, limit: usize) -> Result<Lines, TagsError> {
        Ok(Lines {
            reader: open_capped(path, limit)?,
            buf: Vec::new(),
            line: 0,
            file: file.to_owned(),
            path: path.to_owned(),
            limit,
        })
    }

    /// The next line and its number, or `None` at the end.
    ///
    /// # Errors
    /// [`TagsError::LineTooLong`], [`TagsError::Io`], or
    /// [`TagsError::Malformed`] for a line that is not UTF-8.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &str)>, TagsError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|err| io_error(&self.file, &self.path, err, self.limit))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        let mut bytes = &self.buf[..];
        if self.line == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| TagsError::Malformed {
            file: self.file.clone(),
            line: self.line,
            reason: "line is not UTF-8".to_owned(),
        })?;
        Ok(Some((self.line, text)))
    }
}

/// SHA-256 of the file at `path`, hex, and its length in bytes; reads in
/// fixed chunks so any size works.
///
/// # Errors
/// [`TagsError::Io`].
pub fn file_sha256(path: &Path) -> Result<(String, u64), TagsError> {
    let io_err = |source| TagsError::Io { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        len += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// The 1-based line of byte `offset` in `path` (for formats whose parser
/// reports offsets); reads the file up to the offset.
pub(crate) fn line_of_offset(path: &Path, offset: u64) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut reader = BufReader::new(file.take(offset));
    let mut line = 1u64;
    let mut buf = [0u8; 64 << 10];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        line += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fail_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.txt");
        std::fs::write(&path, format!("short\n{}\n", "x".repeat(100))).unwrap();
        let mut lines = Lines::open(&path, "long.txt", 50).unwrap();
        assert_eq!(lines.next_line().unwrap().unwrap().0, 1);
        let err = lines.next_line().unwrap_err();
        assert!(matches!(err, TagsError::LineTooLong { line: 2, .. }), "{err}");
        assert_eq!(line_of_offset(&path, 7), 2);
    }
}
