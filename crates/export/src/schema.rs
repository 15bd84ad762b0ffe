//! The tables an export writes and their columns. `SCHEMA.md` beside this
//! crate documents each column; a test keeps the two in step.

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Parquet INT64.
    Int64,
    /// Parquet BYTE_ARRAY (UTF8).
    Utf8,
    /// Parquet BOOLEAN.
    Bool,
    /// A list of UTF8.
    Utf8List,
}

impl Kind {
    /// How SCHEMA.md writes the type.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Int64 => "int64",
            Kind::Utf8 => "string",
            Kind::Bool => "boolean",
            Kind::Utf8List => "list<string>",
        }
    }
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it can be null.
    pub nullable: bool,
}

/// One table: `<out>/<dir>/<name>/...`.
#[derive(Debug)]
pub struct TableSpec {
    /// `btc`, `eth` or `tags`.
    pub dir: &'static str,
    /// The table's name.
    pub name: &'static str,
    /// Its columns, in file order.
    pub columns: &'static [Column],
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, nullable: false }
}

const fn opt(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, nullable: true }
}

use Kind::{Bool, Int64, Utf8, Utf8List};

/// Bitcoin transactions.
pub static BTC_TRANSACTIONS: TableSpec = TableSpec {
    dir: "btc",
    name: "transactions",
    columns: &[
        col("height", Int64),
        col("tx_num", Int64),
        col("position", Int64),
        col("txid", Utf8),
        col("coinbase", Bool),
        col("input_count", Int64),
        col("output_count", Int64),
        col("input_sat", Int64),
        col("output_sat", Int64),
        opt("fee_sat", Int64),
    ],
};

/// Bitcoin outputs with their spenders.
pub static BTC_OUTPUTS: TableSpec = TableSpec {
    dir: "btc",
    name: "outputs",
    columns: &[
        col("height", Int64),
        col("tx_num", Int64),
        col("position", Int64),
        col("txid", Utf8),
        col("vout", Int64),
        opt("address", Utf8),
        col("value_sat", Int64),
        col("coinbase", Bool),
        opt("spender_txid", Utf8),
        opt("spender_vin", Int64),
        opt("spender_height", Int64),
        opt("spender_tx_num", Int64),
    ],
};

/// Bitcoin inputs: which output each transaction spends.
pub static BTC_INPUTS: TableSpec = TableSpec {
    dir: "btc",
    name: "inputs",
    columns: &[
        col("height", Int64),
        col("tx_num", Int64),
        col("position", Int64),
        col("txid", Utf8),
        col("vin", Int64),
        col("prev_txid", Utf8),
        col("prev_vout", Int64),
        col("prev_tx_num", Int64),
        opt("address", Utf8),
        col("value_sat", Int64),
    ],
};

/// Bitcoin address history.
pub static BTC_HISTORY: TableSpec = TableSpec {
    dir: "btc",
    name: "address_history",
    columns: &[
        col("address", Utf8),
        col("height", Int64),
        col("tx_num", Int64),
        col("position", Int64),
        col("txid", Utf8),
        col("received_sat", Int64),
        col("sent_sat", Int64),
    ],
};

/// Ethereum transfers.
pub static ETH_TRANSFERS: TableSpec = TableSpec {
    dir: "eth",
    name: "transfers",
    columns: &[
        col("block", Int64),
        opt("tx_index", Int64),
        opt("tx_hash", Utf8),
        opt("tx_from", Utf8),
        opt("tx_success", Bool),
        col("ordinal", Int64),
        col("kind", Utf8),
        col("source_index", Int64),
        opt("from", Utf8),
        opt("to", Utf8),
        col("asset", Utf8),
        opt("symbol", Utf8),
        opt("decimals", Int64),
        col("amount", Utf8),
    ],
};

/// Ethereum address history: each transfer from both sides.
pub static ETH_HISTORY: TableSpec = TableSpec {
    dir: "eth",
    name: "address_history",
    columns: &[
        col("address", Utf8),
        col("asset", Utf8),
        col("block", Int64),
        opt("tx_index", Int64),
        opt("tx_hash", Utf8),
        col("ordinal", Int64),
        col("kind", Utf8),
        col("direction", Utf8),
        opt("counterparty", Utf8),
        col("amount", Utf8),
    ],
};

/// Tags with their provenance.
pub static TAGS: TableSpec = TableSpec {
    dir: "tags",
    name: "tags",
    columns: &[
        col("chain", Utf8),
        col("address", Utf8),
        col("stored_address", Utf8),
        col("source", Utf8),
        col("source_version", Int64),
        col("category", Utf8),
        opt("entity", Utf8),
        opt("label", Utf8),
        opt("jurisdiction", Utf8),
        opt("licensed_by", Utf8),
        opt("status", Utf8),
        col("confidence", Int64),
        opt("confidence_level", Utf8),
        opt("reference", Utf8),
        opt("note", Utf8),
        col("concepts", Utf8List),
        col("import_id", Int64),
        col("file", Utf8),
        col("file_sha256", Utf8),
        col("record", Int64),
        col("imported_at", Int64),
        opt("rule", Utf8),
        opt("evidence", Utf8),
    ],
};

/// The label tracers use per tagged address.
pub static LABELS: TableSpec = TableSpec {
    dir: "tags",
    name: "labels",
    columns: &[
        col("chain", Utf8),
        col("address", Utf8),
        col("entity", Utf8),
        col("category", Utf8),
        opt("jurisdiction", Utf8),
        opt("licensed_by", Utf8),
        col("off_ramp", Bool),
        col("mixer", Bool),
        col("custodial", Bool),
    ],
};

/// Every table.
pub static ALL: [&TableSpec; 8] =
    [&BTC_TRANSACTIONS, &BTC_OUTPUTS, &BTC_INPUTS, &BTC_HISTORY, &ETH_TRANSFERS, &ETH_HISTORY, &TAGS, &LABELS];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of every table is in SCHEMA.md under its table's
    /// heading, with its type and nullability, and nothing else is.
    #[test]
    fn schema_md_documents_every_column() {
        let doc = include_str!("../SCHEMA.md");
        for table in ALL {
            let heading = format!("### `{}/{}`", table.dir, table.name);
            let start = doc.find(&heading).unwrap_or_else(|| panic!("SCHEMA.md has no heading {heading}"));
            let section = &doc[start + heading.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
            assert_eq!(rows.len(), table.columns.len(), "{heading}: one row per column");
            for (row, column) in rows.iter().zip(table.columns) {
                let null = if column.nullable { "yes" } else { "no" };
                let want = format!("| `{}` | {} | {null} |", column.name, column.kind.name());
                assert!(row.starts_with(&want), "{heading}: {row:?} should start with {want:?}");
            }
        }
    }
}
