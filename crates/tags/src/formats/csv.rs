//! CSV with a header row: each mapped field reads one column, matched by
//! header name (case and surrounding blanks ignored).

use std::path::Path;

use super::{Draft, Field, Item, Items, ReadContext};
use crate::error::{RowError, TagsError};
use crate::lines::{io_error, open_capped};

pub(super) fn read(path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    let (file, limit) = (cx.file.to_owned(), cx.max_line);
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(open_capped(path, limit)?);
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(err) => return Err(csv_fatal(&file, path, err, limit)),
    };
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(TagsError::Empty { file });
    }
    let find = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name.trim()));
    let mut columns = Vec::new();
    for field in Field::ALL {
        let name = cx.mapping.column(field);
        match find(name) {
            Some(index) => columns.push((field, index)),
            None if cx.mapping.is_explicit(field) || field == Field::Address => {
                let have: Vec<&str> = headers.iter().collect();
                return Err(TagsError::Malformed {
                    file,
                    line: 1,
                    reason: format!("no column {name:?} for {} (columns: {})", field.as_str(), have.join(", ")),
                });
            }
            None => {}
        }
    }
    let path = path.to_owned();
    let mut failed = false;
    let rows = reader.into_records().map_while(move |result| {
        if failed {
            return None;
        }
        match result {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let mut draft = Draft { line, ..Draft::default() };
                for (field, index) in &columns {
                    draft.set(*field, record.get(*index).map(str::to_owned));
                }
                Some(Ok(Item::Tag(draft)))
            }
            Err(err) => match err.kind() {
                csv::ErrorKind::Utf8 { pos, .. } => Some(Ok(Item::Invalid(RowError {
                    line: pos.as_ref().map_or(0, |p| p.line()),
                    reason: "row is not UTF-8".to_owned(),
                }))),
                _ => {
                    failed = true;
                    Some(Err(csv_fatal(&file, &path, err, limit)))
                }
            },
        }
    });
    Ok(Box::new(rows))
}

fn csv_fatal(file: &str, path: &Path, err: csv::Error, limit: usize) -> TagsError {
    let line = err.position().map_or(1, |p| p.line());
    match err.into_kind() {
        csv::ErrorKind::Io(io) => io_error(file, path, io, limit),
        other => TagsError::Malformed { file: file.to_owned(), line, reason: format!("{other:?}") },
    }
}
