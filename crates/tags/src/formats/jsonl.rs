//! JSON Lines: one JSON object a line; each mapped field reads one key.
//! Blank lines are skipped; strings, numbers and booleans are read as text.

use std::path::Path;

use super::{Draft, Field, Item, Items, ReadContext};
use crate::error::{RowError, TagsError};
use crate::lines::Lines;

pub(super) fn read(path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    let mut lines = Lines::open(path, cx.file, cx.max_line)?;
    let keys: Vec<(Field, String)> = Field::ALL.iter().map(|f| (*f, cx.mapping.column(*f).to_owned())).collect();
    let mut done = false;
    let items = std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        let (line, text) = match lines.next_line() {
            Ok(Some(next)) => next,
            Ok(None) => return None,
            Err(err) => {
                done = true;
                return Some(Err(err));
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => return Some(Ok(Item::Invalid(RowError { line, reason: "not a JSON object".to_owned() }))),
            Err(err) => return Some(Ok(Item::Invalid(RowError { line, reason: format!("bad JSON: {err}") }))),
        };
        let mut draft = Draft { line, ..Draft::default() };
        for (field, key) in &keys {
            let value = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
            draft.set(*field, value.and_then(json_text));
        }
        return Some(Ok(Item::Tag(draft)));
    });
    Ok(Box::new(items))
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
