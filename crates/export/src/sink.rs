//! Writing one table of one partition as a Parquet file: rows go into
//! Arrow builders, every [`ROW_GROUP`] rows become one record batch (one
//! row group), and the file is written under a hidden temporary name in its
//! final directory, synced and renamed, so a crash leaves no half file
//! under a name readers look at (Spark and Trino skip names starting with
//! `.`, and DuckDB's `*.parquet` globs do not match `.tmp`).

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ExportError;
use crate::schema::{Kind, TableSpec};

/// Rows per record batch and row group.
pub const ROW_GROUP: usize = 64 * 1024;

/// One value of a row, in the column's kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum V<'a> {
    /// A 64-bit integer.
    I(i64),
    /// A 64-bit integer or null.
    OI(Option<i64>),
    /// Text.
    S(&'a str),
    /// Text or null.
    OS(Option<&'a str>),
    /// A boolean.
    B(bool),
    /// A boolean or null.
    OB(Option<bool>),
    /// A list of text.
    L(&'a [String]),
}

enum Builder {
    I(Int64Builder),
    S(StringBuilder),
    B(BooleanBuilder),
    L(ListBuilder<StringBuilder>),
}

impl Builder {
    fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Int64 => Builder::I(Int64Builder::new()),
            Kind::Utf8 => Builder::S(StringBuilder::new()),
            Kind::Bool => Builder::B(BooleanBuilder::new()),
            Kind::Utf8List => Builder::L(ListBuilder::new(StringBuilder::new())),
        }
    }

    fn push(&mut self, value: V<'_>) -> bool {
        match (self, value) {
            (Builder::I(b), V::I(v)) => b.append_value(v),
            (Builder::I(b), V::OI(v)) => b.append_option(v),
            (Builder::S(b), V::S(v)) => b.append_value(v),
            (Builder::S(b), V::OS(v)) => b.append_option(v),
            (Builder::B(b), V::B(v)) => b.append_value(v),
            (Builder::B(b), V::OB(v)) => b.append_option(v),
            (Builder::L(b), V::L(items)) => {
                for item in items {
                    b.values().append_value(item);
                }
                b.append(true);
            }
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::I(b) => Arc::new(b.finish()),
            Builder::S(b) => Arc::new(b.finish()),
            Builder::B(b) => Arc::new(b.finish()),
            Builder::L(b) => Arc::new(b.finish()),
        }
    }
}

/// The Arrow schema of a table.
pub(crate) fn arrow_schema(spec: &TableSpec) -> SchemaRef {
    let fields: Vec<Field> = spec
        .columns
        .iter()
        .map(|c| {
            let kind = match c.kind {
                Kind::Int64 => DataType::Int64,
                Kind::Utf8 => DataType::Utf8,
                Kind::Bool => DataType::Boolean,
                Kind::Utf8List => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            };
            Field::new(c.name, kind, c.nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A written file, as its partition's manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenFile {
    /// The table.
    pub table: String,
    /// The path under the output directory.
    pub path: String,
    /// Rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// One table's file being written.
pub(crate) struct TableWriter {
    spec: &'static TableSpec,
    schema: SchemaRef,
    temp: PathBuf,
    path: PathBuf,
    relative: String,
    writer: ArrowWriter<File>,
    builders: Vec<Builder>,
    pending: usize,
    rows: u64,
}

impl TableWriter {
    /// Starts `path` (`relative` under the output directory) for `spec`.
    pub(crate) fn create(spec: &'static TableSpec, path: PathBuf, relative: String) -> Result<Self, ExportError> {
        let dir = path.parent().expect("a table file is inside a partition directory");
        std::fs::create_dir_all(dir).map_err(ExportError::io(dir))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("data.parquet");
        remove_temps(dir, name)?;
        let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let file = File::create(&temp).map_err(ExportError::io(&temp))?;
        let schema = arrow_schema(spec);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_size(ROW_GROUP)
            .set_created_by(format!("chainsleuth {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|source| ExportError::Parquet { path: temp.clone(), source })?;
        let builders = spec.columns.iter().map(|c| Builder::new(c.kind)).collect();
        Ok(TableWriter { spec, schema, temp, path, relative, writer, builders, pending: 0, rows: 0 })
    }

    /// Appends one row, one value per column in the table's order.
    ///
    /// # Panics
    /// When the values do not match the table's columns (a bug here, not
    /// bad input).
    pub(crate) fn row(&mut self, values: &[V<'_>]) -> Result<(), ExportError> {
        assert_eq!(values.len(), self.builders.len(), "table {}: a row of the wrong width", self.spec.name);
        for ((builder, value), column) in self.builders.iter_mut().zip(values).zip(self.spec.columns) {
            assert!(
                builder.push(*value),
                "table {} column {}: {value:?} is not a {:?}",
                self.spec.name,
                column.name,
                column.kind
            );
        }
        self.pending += 1;
        self.rows += 1;
        if self.pending == ROW_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| ExportError::Parquet {
            path: self.temp.clone(),
            source: parquet::errors::ParquetError::ArrowError(e.to_string()),
        })?;
        self.writer.write(&batch).map_err(|source| ExportError::Parquet { path: self.temp.clone(), source })?;
        self.pending = 0;
        Ok(())
    }

    /// Writes the last row group and the footer, syncs, and renames the file
    /// to its final name.
    pub(crate) fn finish(mut self) -> Result<WrittenFile, ExportError> {
        self.flush()?;
        let file =
            self.writer.into_inner().map_err(|source| ExportError::Parquet { path: self.temp.clone(), source })?;
        file.sync_all().map_err(ExportError::io(&self.temp))?;
        drop(file);
        let (bytes, sha256) = digest(&self.temp)?;
        std::fs::rename(&self.temp, &self.path).map_err(ExportError::io(&self.path))?;
        Ok(WrittenFile { table: self.spec.name.to_owned(), path: self.relative, rows: self.rows, bytes, sha256 })
    }
}

/// Removes what an interrupted run left of `name` in `dir`: its temporary
/// files (the partition has no manifest, or this run would not write it).
fn remove_temps(dir: &Path, name: &str) -> Result<(), ExportError> {
    let prefix = format!(".{name}.tmp-");
    for entry in std::fs::read_dir(dir).map_err(ExportError::io(dir))? {
        let path = entry.map_err(ExportError::io(dir))?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)) {
            std::fs::remove_file(&path).map_err(ExportError::io(&path))?;
        }
    }
    Ok(())
}

/// Size and SHA-256 of a file.
pub(crate) fn digest(path: &Path) -> Result<(u64, String), ExportError> {
    let mut file = File::open(path).map_err(ExportError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(ExportError::io(path))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let dir = path.parent().expect("a file inside a directory");
    std::fs::create_dir_all(dir).map_err(ExportError::io(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = File::create(&temp).map_err(ExportError::io(&temp))?;
    std::io::Write::write_all(&mut file, bytes).map_err(ExportError::io(&temp))?;
    file.sync_all().map_err(ExportError::io(&temp))?;
    std::fs::rename(&temp, path).map_err(ExportError::io(path))
}
