//! GraphSense TagPack and ActorPack YAML, read one list entry at a time.
//!
//! A pack is a header mapping plus one top-level list (`tags:` or
//! `actors:`). A first pass collects the header (every top-level line outside
//! the list, at most [`MAX_HEADER`] bytes); a second pass cuts the list into
//! entries at its `- ` lines and parses each entry on its own, so a pack of
//! any size streams and an error names the entry's line. TagPack entries
//! inherit every header field they do not set, as TagPacks define.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::{Draft, Field, Item, Items, ReadContext};
use crate::error::{RowError, TagsError};
use crate::lines::Lines;
use crate::model::{entity_id, Entity};
use crate::taxonomy::{map_graphsense_concept, Category};

/// The largest header accepted, in bytes.
const MAX_HEADER: usize = 1 << 20;
/// The largest single list entry accepted, in bytes.
const MAX_ENTRY: usize = 1 << 20;

/// Header fields a TagPack entry inherits when it does not set them.
const INHERITED: &[&str] = &[
    "label",
    "source",
    "currency",
    "network",
    "confidence",
    "category",
    "abuse",
    "actor",
    "concepts",
    "context",
    "lastmod",
    "is_cluster_definer",
    "tag_type",
];

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Whether `line` opens the top-level list `key` (`tags:` with nothing after
/// but an optional comment).
fn opens_list(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| rest.trim().is_empty() || rest.trim().starts_with('#'))
}

/// A line inside the list block: indented, a `- ` entry at column 0, blank
/// or a comment.
fn in_list_block(line: &str) -> bool {
    is_blank_or_comment(line) || line.starts_with(' ') || line.starts_with('-')
}

struct Header {
    mapping: Mapping,
    /// Line of the `key:` line opening the list, if any.
    list_line: Option<u64>,
}

fn read_header(path: &Path, cx: &ReadContext<'_>, key: &str) -> Result<Header, TagsError> {
    let mut lines = Lines::open(path, cx.file, cx.max_line)?;
    let (mut text, mut numbers) = (String::new(), Vec::new());
    let (mut list_line, mut in_list) = (None, false);
    while let Some((line, content)) = lines.next_line()? {
        if in_list && in_list_block(content) {
            continue;
        }
        in_list = false;
        if list_line.is_none() && opens_list(content, key) {
            list_line = Some(line);
            in_list = true;
            continue;
        }
        if content.starts_with('%') || content.trim_end() == "---" || content.trim_end() == "..." {
            continue;
        }
        text.push_str(content);
        text.push('\n');
        numbers.push(line);
        if text.len() > MAX_HEADER {
            return Err(TagsError::Malformed {
                file: cx.file.to_owned(),
                line,
                reason: format!("pack header is larger than {MAX_HEADER} bytes (no {key}: list?)"),
            });
        }
    }
    let value: Value = serde_yaml::from_str(&text).map_err(|err| {
        let index = err.location().map_or(0, |l| l.line().saturating_sub(1));
        let line = numbers.get(index).or(numbers.last()).copied().unwrap_or(1);
        TagsError::Malformed { file: cx.file.to_owned(), line, reason: format!("bad YAML in pack header: {err}") }
    })?;
    let mapping = match value {
        Value::Mapping(mapping) => mapping,
        Value::Null => Mapping::new(),
        _ => {
            return Err(TagsError::Malformed {
                file: cx.file.to_owned(),
                line: numbers.first().copied().unwrap_or(1),
                reason: "pack header is not a mapping".to_owned(),
            })
        }
    };
    Ok(Header { mapping, list_line })
}

/// Cuts the list block starting after line `list_line` into entries: each
/// is (first line, YAML text of the entry as a mapping).
struct Entries {
    lines: Lines,
    file: String,
    list_line: u64,
    indent: Option<usize>,
    current: Option<(u64, String)>,
    finished: bool,
}

impl Entries {
    fn next_entry(&mut self) -> Result<Option<(u64, String)>, TagsError> {
        while !self.finished {
            let Some((line, content)) = self.lines.next_line()? else {
                self.finished = true;
                break;
            };
            if line <= self.list_line {
                continue;
            }
            if is_blank_or_comment(content) {
                if let Some((_, text)) = &mut self.current {
                    text.push('\n');
                }
                continue;
            }
            let indent = indent_of(content);
            let rest = &content[indent..];
            let starts_entry = rest == "-" || rest.starts_with("- ");
            let entry_indent = *self.indent.get_or_insert(indent);
            if starts_entry && indent == entry_indent {
                let mut text = " ".repeat(indent + 2);
                text.push_str(rest.get(2..).unwrap_or(""));
                text.push('\n');
                if let Some(done) = self.current.replace((line, text)) {
                    return Ok(Some(done));
                }
                continue;
            }
            if indent <= entry_indent && !starts_entry {
                // Back at the top level: the list is over.
                self.finished = true;
                break;
            }
            match &mut self.current {
                Some((_, text)) => {
                    text.push_str(content);
                    text.push('\n');
                    if text.len() > MAX_ENTRY {
                        return Err(TagsError::Malformed {
                            file: self.file.clone(),
                            line,
                            reason: format!("list entry is larger than {MAX_ENTRY} bytes"),
                        });
                    }
                }
                None => {
                    return Err(TagsError::Malformed {
                        file: self.file.clone(),
                        line,
                        reason: "expected a list entry starting with '- '".to_owned(),
                    })
                }
            }
        }
        Ok(self.current.take())
    }
}

fn entries(path: &Path, cx: &ReadContext<'_>, list_line: u64) -> Result<Entries, TagsError> {
    Ok(Entries {
        lines: Lines::open(path, cx.file, cx.max_line)?,
        file: cx.file.to_owned(),
        list_line,
        indent: None,
        current: None,
        finished: false,
    })
}

/// Parses one entry's text; the error names the file line.
fn parse_entry(first_line: u64, text: &str) -> Result<Mapping, RowError> {
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(mapping)) => Ok(mapping),
        Ok(_) => Err(RowError { line: first_line, reason: "list entry is not a mapping".to_owned() }),
        Err(err) => {
            // An error at the end of the entry's text is reported on its last line.
            let last = text.lines().count().saturating_sub(1);
            let offset = err.location().map_or(0, |l| l.line().saturating_sub(1)).min(last) as u64;
            Err(RowError { line: first_line + offset, reason: format!("bad YAML: {err}") })
        }
    }
}

/// A scalar as text; sequences and mappings as compact JSON.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => serde_json::to_string(other).ok(),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Sequence(items)) => items.iter().filter_map(text).collect(),
        Some(other) => text(other).into_iter().collect(),
        None => Vec::new(),
    }
}

fn lookup<'a>(entry: &'a Mapping, header: &'a Mapping, key: &str, inherit: bool) -> Option<&'a Value> {
    entry.get(key).filter(|v| !v.is_null()).or_else(|| if inherit { header.get(key) } else { None })
}

fn drive(mut entries: Entries, mut handle: impl FnMut(u64, Mapping) -> Item + 'static) -> Items {
    let mut failed = false;
    Box::new(std::iter::from_fn(move || {
        if failed {
            return None;
        }
        match entries.next_entry() {
            Ok(Some((line, text))) => Some(Ok(match parse_entry(line, &text) {
                Ok(mapping) => handle(line, mapping),
                Err(row) => Item::Invalid(row),
            })),
            Ok(None) => None,
            Err(err) => {
                failed = true;
                Some(Err(err))
            }
        }
    }))
}

pub(super) fn read_tagpack(path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    let header = read_header(path, cx, "tags")?;
    let Some(list_line) = header.list_line else { return Err(TagsError::Empty { file: cx.file.to_owned() }) };
    let head = header.mapping;
    Ok(drive(entries(path, cx, list_line)?, move |line, entry| {
        let get = |key: &str| lookup(&entry, &head, key, INHERITED.contains(&key)).and_then(text);
        let Some(address) = entry.get("address").and_then(text) else {
            if entry.get("tx_hash").is_some() {
                return Item::TxTag;
            }
            return Item::Invalid(RowError { line, reason: "tag has neither address nor tx_hash".to_owned() });
        };
        let mut draft = Draft { line, ..Draft::default() };
        draft.set(Field::Address, Some(address));
        draft.set(Field::Chain, get("network").or_else(|| get("currency")));
        draft.set(Field::Label, get("label"));
        draft.set(Field::Reference, get("source"));
        draft.set(Field::Entity, get("actor"));
        draft.set(Field::Confidence, get("confidence"));
        draft.set(Field::Note, get("context"));
        draft.concepts = ["category", "abuse"].iter().filter_map(|key| get(key)).collect();
        draft.concepts.extend(strings(lookup(&entry, &head, "concepts", true)));
        Item::Tag(draft)
    }))
}

pub(super) fn read_actorpack(path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    let header = read_header(path, cx, "actors")?;
    let Some(list_line) = header.list_line else { return Err(TagsError::Empty { file: cx.file.to_owned() }) };
    Ok(drive(entries(path, cx, list_line)?, |line, entry| match actor(&entry) {
        Ok(entity) => Item::Entity { line, entity },
        Err(reason) => Item::Invalid(RowError { line, reason }),
    }))
}

fn actor(entry: &Mapping) -> Result<Entity, String> {
    let id =
        entry.get("id").and_then(text).map(|id| entity_id(&id)).filter(|id| !id.is_empty()).ok_or("actor has no id")?;
    let concepts = strings(entry.get("categories"));
    let mut categories = Vec::new();
    for concept in &concepts {
        let category = map_graphsense_concept(concept).map_err(|e| e.to_string())?;
        if let Some(category) = category.filter(|c| !categories.contains(c)) {
            categories.push(category);
        }
    }
    if categories.is_empty() {
        categories.push(Category::Other);
    }
    let mut jurisdictions = Vec::new();
    for code in strings(entry.get("jurisdictions")) {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("jurisdiction {code:?} is not an ISO 3166 two-letter code"));
        }
        jurisdictions.push(code);
    }
    let mut aliases = strings(entry.get("aliases"));
    if let Some(Value::Mapping(context)) = entry.get("context") {
        aliases.extend(context.get("legal_name").and_then(text));
    }
    Ok(Entity {
        name: entry.get("label").and_then(text).unwrap_or_else(|| id.clone()),
        id,
        aliases,
        jurisdictions,
        categories,
        uri: entry.get("uri").and_then(text),
        note: (!concepts.is_empty()).then(|| format!("GraphSense categories: {}", concepts.join(", "))),
        ..Entity::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_detection() {
        assert!(opens_list("tags:", "tags"));
        assert!(opens_list("tags:   # the tags", "tags"));
        assert!(!opens_list("tags: []", "tags"));
        assert!(!opens_list("tagsx:", "tags"));
    }

    #[test]
    fn entry_errors_name_the_file_line() {
        let err = parse_entry(40, "  address: '0xabc\n  currency: ETH\n").unwrap_err();
        assert!(err.line >= 40, "{err}");
        assert!(err.reason.contains("bad YAML"));
    }
}
