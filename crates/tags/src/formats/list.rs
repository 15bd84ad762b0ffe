//! Plain address lists, as the OFAC-derived lists are published: one address
//! a line; blank lines and `#` comments skipped. Category, entity and chain
//! come from the options.

use std::path::Path;

use super::{Draft, Field, Item, Items, ReadContext};
use crate::error::TagsError;
use crate::lines::Lines;

pub(super) fn read(path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    let mut lines = Lines::open(path, cx.file, cx.max_line)?;
    let mut done = false;
    let items = std::iter::from_fn(move || loop {
        if done {
            return None;
        }
        match lines.next_line() {
            Ok(Some((line, text))) => {
                let text = text.trim();
                if text.is_empty() || text.starts_with('#') {
                    continue;
                }
                let mut draft = Draft { line, ..Draft::default() };
                draft.set(Field::Address, Some(text.to_owned()));
                return Some(Ok(Item::Tag(draft)));
            }
            Ok(None) => return None,
            Err(err) => {
                done = true;
                return Some(Err(err));
            }
        }
    });
    Ok(Box::new(items))
}
