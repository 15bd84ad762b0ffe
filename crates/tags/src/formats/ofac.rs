//! OFAC's Specially Designated Nationals list as XML, streamed with
//! quick-xml. Two published schemas are read, told apart by the root
//! element:
//!
//! - legacy `sdn.xml` (`sdnList`): each `sdnEntry` has names, `programList`,
//!   `akaList`, `addressList` and an `idList` whose `id` entries with
//!   `idType` "Digital Currency Address - XBT" (ETH, USDT, XMR, ...) carry the
//!   address in `idNumber`;
//! - `sdn_advanced.xml` (`Sanctions`): `ReferenceValueSets` define
//!   `FeatureType`s named "Digital Currency Address - XBT" and so on, and each
//!   `DistinctParty` `Profile` has `Feature`s of those types whose
//!   `VersionDetail` is the address; the primary `Alias` gives the name.
//!
//! Every entry with addresses becomes an entity and one `sanctioned` tag per
//! address, with the SDN entity as entity. Addresses of chains we do not
//! index are kept under their ticker.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use quick_xml::events::{BytesStart, Event};

use super::{Draft, Field, Item, Items, ReadContext};
use crate::address::TagChain;
use crate::error::{RowError, TagsError};
use crate::lines::{io_error, line_of_offset, open_capped, CappedReader};
use crate::model::{entity_id, Entity};
use crate::taxonomy::Category;

const DIGITAL_CURRENCY: &str = "Digital Currency Address - ";

type XmlReader = quick_xml::Reader<std::io::BufReader<CappedReader<std::fs::File>>>;

#[derive(Default)]
struct Party {
    name_parts: Vec<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    aliases: Vec<String>,
    programs: Vec<String>,
    countries: Vec<String>,
    /// (currency code, address, line)
    addresses: Vec<(String, String, u64)>,
    line: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Schema {
    Legacy,
    Advanced,
}

struct OfacReader {
    reader: XmlReader,
    buf: Vec<u8>,
    file: String,
    path: PathBuf,
    limit: usize,
    line: u64,
    stack: Vec<String>,
    schema: Option<Schema>,
    text: String,
    party: Option<Party>,
    // legacy: the current id's type and number, and the current aka's names
    id_type: Option<String>,
    id_number: Option<(String, u64)>,
    aka: (Option<String>, Option<String>),
    // advanced: feature type names by id, the current feature type, alias state
    feature_types: HashMap<String, String>,
    feature_type_id: Option<String>,
    current_feature_type: Option<String>,
    alias_primary: Option<bool>,
    alias_parts: Vec<String>,
    queue: VecDeque<Item>,
    done: bool,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes().flatten().find(|a| a.key.local_name().as_ref() == name).map(|a| a.value.into_owned())
}

impl OfacReader {
    fn malformed(&self, line: u64, reason: impl Into<String>) -> TagsError {
        TagsError::Malformed { file: self.file.clone(), line, reason: reason.into() }
    }

    fn xml_error(&self, err: quick_xml::Error) -> TagsError {
        if let quick_xml::Error::Io(io) = &err {
            let inner = std::io::Error::new(io.kind(), io.to_string());
            if let Some(source) = io.get_ref() {
                if source.is::<crate::lines::LineTooLong>() {
                    let line = line_of_offset(&self.path, self.reader.buffer_position());
                    return TagsError::LineTooLong { file: self.file.clone(), line, limit: self.limit };
                }
            }
            return io_error(&self.file, &self.path, inner, self.limit);
        }
        let line = line_of_offset(&self.path, self.reader.error_position());
        self.malformed(line, format!("malformed XML: {err}"))
    }

    /// Reads events until at least one item is queued or the file ends.
    fn fill(&mut self) -> Result<(), TagsError> {
        while self.queue.is_empty() && !self.done {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event.into_owned(),
                Err(err) => return Err(self.xml_error(err)),
            };
            let line = self.line;
            self.line += event.matches('\n').count() as u64;
            match event {
                Event::Start(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    self.start(&name, &e, line)?;
                    self.stack.push(name);
                    self.text.clear();
                }
                Event::Empty(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    self.start(&name, &e, line)?;
                    self.stack.push(name.clone());
                    self.text.clear();
                    self.end(&name, line)?;
                    self.stack.pop();
                }
                Event::End(e) => {
                    let name = e.local_name().as_ref().to_owned();
                    self.end(&name, line)?;
                    self.stack.pop();
                    self.text.clear();
                }
                Event::Text(t) => self.text.push_str(&t.xml10_content()),
                Event::CData(t) => self.text.push_str(&t.xml10_content()),
                Event::GeneralRef(r) => {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        self.text.push(c);
                    } else if let Some(value) = quick_xml::escape::resolve_predefined_entity(&r) {
                        self.text.push_str(value);
                    }
                }
                Event::Eof => {
                    self.done = true;
                    if let Some(open) = self.stack.last() {
                        return Err(self.malformed(line, format!("file ends inside <{open}> (truncated?)")));
                    }
                    if self.schema.is_none() {
                        return Err(TagsError::Empty { file: self.file.clone() });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn start(&mut self, name: &str, e: &BytesStart<'_>, line: u64) -> Result<(), TagsError> {
        if self.stack.is_empty() {
            self.schema = match name {
                "sdnList" => Some(Schema::Legacy),
                "Sanctions" => Some(Schema::Advanced),
                other => {
                    return Err(
                        self.malformed(line, format!("root element <{other}> is neither <sdnList> nor <Sanctions>"))
                    )
                }
            };
            return Ok(());
        }
        match (self.schema, name) {
            (Some(Schema::Legacy), "sdnEntry") | (Some(Schema::Advanced), "DistinctParty") => {
                self.party = Some(Party { line, ..Party::default() });
            }
            (Some(Schema::Legacy), "id") => {
                self.id_type = None;
                self.id_number = None;
            }
            (Some(Schema::Legacy), "aka") => self.aka = (None, None),
            (Some(Schema::Advanced), "FeatureType") => self.feature_type_id = attr(e, "ID"),
            (Some(Schema::Advanced), "Feature") => {
                self.current_feature_type =
                    attr(e, "FeatureTypeID").and_then(|id| self.feature_types.get(&id).cloned());
            }
            (Some(Schema::Advanced), "Alias") => {
                self.alias_primary = Some(attr(e, "Primary").is_some_and(|p| p == "true"));
                self.alias_parts.clear();
            }
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self, name: &str, line: u64) -> Result<(), TagsError> {
        let text = self.text.trim().to_owned();
        let parent = self.stack.len().checked_sub(2).and_then(|i| self.stack.get(i)).map(String::as_str);
        let schema = self.schema;
        let Some(party) = self.party.as_mut() else {
            if schema == Some(Schema::Advanced) && name == "FeatureType" {
                if let Some(id) = self.feature_type_id.take() {
                    self.feature_types.insert(id, text);
                }
            }
            return Ok(());
        };
        match (schema, name, parent) {
            (Some(Schema::Legacy), "firstName", Some("sdnEntry")) => party.first_name = Some(text),
            (Some(Schema::Legacy), "lastName", Some("sdnEntry")) => party.last_name = Some(text),
            (Some(Schema::Legacy), "firstName", Some("aka")) => self.aka.0 = Some(text),
            (Some(Schema::Legacy), "lastName", Some("aka")) => self.aka.1 = Some(text),
            (Some(Schema::Legacy), "aka", _) => {
                let (first, last) = std::mem::take(&mut self.aka);
                let alias = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
                if !alias.is_empty() {
                    party.aliases.push(alias);
                }
            }
            (Some(Schema::Legacy), "program", _) => party.programs.push(text),
            (Some(Schema::Legacy), "country", Some("address")) => party.countries.push(text),
            (Some(Schema::Legacy), "idType", _) => self.id_type = Some(text),
            (Some(Schema::Legacy), "idNumber", _) => self.id_number = Some((text, line)),
            (Some(Schema::Legacy), "id", _) => {
                if let (Some(kind), Some((number, at))) = (self.id_type.take(), self.id_number.take()) {
                    if let Some(code) = kind.strip_prefix(DIGITAL_CURRENCY) {
                        party.addresses.push((code.trim().to_owned(), number, at));
                    }
                }
            }
            (Some(Schema::Advanced), "NamePartValue", _) => self.alias_parts.push(text),
            (Some(Schema::Advanced), "Alias", _) => {
                let alias = self.alias_parts.join(" ");
                match self.alias_primary.take() {
                    Some(true) if party.name_parts.is_empty() => party.name_parts = vec![alias],
                    _ if !alias.is_empty() => party.aliases.push(alias),
                    _ => {}
                }
            }
            (Some(Schema::Advanced), "VersionDetail", _) => {
                if let Some(code) = self.current_feature_type.as_deref().and_then(|t| t.strip_prefix(DIGITAL_CURRENCY))
                {
                    party.addresses.push((code.trim().to_owned(), text, line));
                }
            }
            (Some(Schema::Advanced), "Feature", _) => self.current_feature_type = None,
            (Some(Schema::Legacy), "sdnEntry", _) | (Some(Schema::Advanced), "DistinctParty", _) => {
                if let Some(party) = self.party.take() {
                    self.emit(party);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn emit(&mut self, party: Party) {
        if party.addresses.is_empty() {
            return;
        }
        let name = if party.name_parts.is_empty() {
            [party.first_name, party.last_name].into_iter().flatten().collect::<Vec<_>>().join(" ")
        } else {
            party.name_parts.join(" ")
        };
        if name.trim().is_empty() {
            self.queue
                .push_back(Item::Invalid(RowError { line: party.line, reason: "SDN entry without a name".to_owned() }));
            return;
        }
        let mut jurisdictions: Vec<String> = party.countries.iter().filter_map(|c| country_code(c)).collect();
        jurisdictions.dedup();
        let note = (!party.programs.is_empty()).then(|| format!("OFAC programs: {}", party.programs.join(", ")));
        let entity = Entity {
            id: entity_id(&name),
            name: name.clone(),
            aliases: party.aliases,
            jurisdictions: jurisdictions.clone(),
            categories: vec![Category::Sanctioned],
            note: note.clone(),
            ..Entity::default()
        };
        self.queue.push_back(Item::Entity { line: party.line, entity });
        for (code, address, line) in party.addresses {
            let mut draft = Draft { line, ..Draft::default() };
            match TagChain::for_currency(&code, &address) {
                Ok(chain) => draft.set(Field::Chain, Some(chain.as_str().to_owned())),
                Err(err) => {
                    self.queue.push_back(Item::Invalid(RowError { line, reason: err.to_string() }));
                    continue;
                }
            }
            draft.set(Field::Address, Some(address));
            draft.set(Field::Category, Some(Category::Sanctioned.as_str().to_owned()));
            draft.set(Field::Entity, Some(name.clone()));
            draft.set(Field::Label, Some(format!("{name} ({code})")));
            draft.set(Field::Jurisdiction, jurisdictions.first().cloned());
            draft.set(Field::Note, note.clone());
            self.queue.push_back(Item::Tag(draft));
        }
    }
}

/// ISO 3166 code of a country as OFAC writes it, from GraphSense's country
/// table (`data/countries.csv`) plus OFAC's own short names.
fn country_code(name: &str) -> Option<String> {
    static TABLE: OnceLock<Vec<(String, String)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut reader = csv::Reader::from_reader(include_str!("../data/countries.csv").as_bytes());
        reader
            .records()
            .flatten()
            .filter_map(|r| Some((r.get(0)?.to_ascii_lowercase(), r.get(1)?.to_owned())))
            .collect()
    });
    let wanted = name.trim().to_ascii_lowercase();
    let ofac_names = [("russia", "RU"), ("north korea", "KP"), ("korea, north", "KP"), ("iran", "IR"), ("syria", "SY")];
    if let Some((_, code)) = ofac_names.iter().find(|(n, _)| *n == wanted) {
        return Some((*code).to_owned());
    }
    table
        .iter()
        .find(|(label, _)| *label == wanted || label.split(',').next() == Some(wanted.as_str()))
        .map(|(_, code)| code.clone())
}

pub(super) fn read(path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    let mut reader = quick_xml::Reader::from_reader(open_capped(path, cx.max_line)?);
    reader.config_mut().check_end_names = true;
    let mut ofac = OfacReader {
        reader,
        buf: Vec::new(),
        file: cx.file.to_owned(),
        path: path.to_owned(),
        limit: cx.max_line,
        line: 1,
        stack: Vec::new(),
        schema: None,
        text: String::new(),
        party: None,
        id_type: None,
        id_number: None,
        aka: (None, None),
        feature_types: HashMap::new(),
        feature_type_id: None,
        current_feature_type: None,
        alias_primary: None,
        alias_parts: Vec::new(),
        queue: VecDeque::new(),
        done: false,
    };
    let mut failed = false;
    Ok(Box::new(std::iter::from_fn(move || {
        if failed {
            return None;
        }
        if let Err(err) = ofac.fill() {
            failed = true;
            return Some(Err(err));
        }
        ofac.queue.pop_front().map(Ok)
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ofac_country_names_map_to_codes() {
        assert_eq!(country_code("Russia").as_deref(), Some("RU"));
        assert_eq!(country_code("Germany").as_deref(), Some("DE"));
        assert_eq!(country_code("Iran").as_deref(), Some("IR"));
        assert_eq!(country_code("Atlantis"), None);
    }
}
