//! Plain-text tables for people: every column as wide as its widest cell
//! (the header's included), so that amounts of any size stay aligned, from
//! whole satoshi to 18-decimal ether.

use std::fmt::Write as _;

/// How the cells of a column line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Amounts and counts: padded on the left.
    Right,
}

/// Rows of text cells, one [`Align`] per column; the first row is the
/// header when there is one. Columns are two spaces apart; lines carry no
/// trailing blanks.
#[derive(Debug, Clone)]
pub struct Table {
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(align: &[Align]) -> Table {
        Table { align: align.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).take(self.align.len()).collect();
        cells.resize(self.align.len(), String::new());
        self.rows.push(cells);
        self
    }

    /// Appends the table to `out`, each line after `indent`.
    pub fn write(&self, out: &mut String, indent: &str) {
        let width = |col: usize| self.rows.iter().map(|r| r[col].chars().count()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..self.align.len()).map(width).collect();
        for row in &self.rows {
            let mut line = indent.to_owned();
            for (col, (cell, align)) in row.iter().zip(&self.align).enumerate() {
                let w = widths[col];
                if col > 0 {
                    line.push_str("  ");
                }
                let _ = match align {
                    Align::Right => write!(line, "{cell:>w$}"),
                    Align::Left => write!(line, "{cell:<w$}"),
                };
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }

    /// The table as a string (see [`Table::write`]).
    pub fn render(&self, indent: &str) -> String {
        let mut out = String::new();
        self.write(&mut out, indent);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_widest_cell() {
        let mut t = Table::new(&[Align::Left, Align::Right, Align::Left]);
        t.row(["entity", "amount", "address"]);
        t.row(["Bank", "20.909090909090909091 ETH", "0xab"]);
        t.row(["Ladoga Swap", "2 ETH", "0xcd (inferred)"]);
        assert_eq!(
            t.render("  "),
            "  entity                          amount  address\n\
             \x20 Bank         20.909090909090909091 ETH  0xab\n\
             \x20 Ladoga Swap                      2 ETH  0xcd (inferred)\n"
        );
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::new(&[Align::Left, Align::Right]);
        t.row(["Фонтанка", "1"]).row(["ab", "22"]);
        assert_eq!(t.render(""), "Фонтанка   1\nab        22\n");
    }

    #[test]
    fn short_rows_are_padded_and_long_ones_cut() {
        let mut t = Table::new(&[Align::Right, Align::Left]);
        t.row(["1"]).row(["22", "x", "dropped"]);
        assert_eq!(t.render(""), " 1\n22  x\n");
    }
}
