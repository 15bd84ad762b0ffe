//! The tag-file formats: each reader streams a file into [`Item`]s (tag
//! drafts, entities, skipped transaction tags, invalid rows) without holding
//! more than one record in memory; [`build_tag`] then turns a draft into a
//! validated [`Tag`].
//!
//! Readers report two kinds of trouble: an invalid row is an
//! [`Item::Invalid`] (the import lists it, or skips it with
//! `skip_invalid`), while a file that cannot be read on (malformed XML, a
//! broken YAML header, a line over the limit) is an `Err` that ends it.

mod csv;
mod jsonl;
mod list;
mod ofac;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::address::{detect_chain, normalize, TagChain};
use crate::error::{RowError, TagsError};
use crate::model::{Entity, Tag};
use crate::taxonomy::{map_graphsense_concepts, Category, Confidence, Date, Status};

/// A tag-file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// CSV with a header row; columns mapped to fields (see [`Mapping`]).
    Csv,
    /// JSON Lines: one object per line; keys mapped like CSV columns.
    Jsonl,
    /// GraphSense TagPack YAML: header fields inherited by each tag.
    Tagpack,
    /// GraphSense ActorPack YAML: entities.
    Actorpack,
    /// OFAC's SDN list as XML, legacy `sdn.xml` or `sdn_advanced.xml`.
    OfacSdn,
    /// One address a line; category and entity from the options.
    List,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] =
        [Format::Csv, Format::Jsonl, Format::Tagpack, Format::Actorpack, Format::OfacSdn, Format::List];

    /// The format's name on the command line and in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Tagpack => "tagpack",
            Format::Actorpack => "actorpack",
            Format::OfacSdn => "ofac-sdn",
            Format::List => "list",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = TagsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL.into_iter().find(|f| f.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            TagsError::config(
                "format",
                format!("unknown format {s:?} (csv, jsonl, tagpack, actorpack, ofac-sdn, list)"),
            )
        })
    }
}

/// A field of a tag that a CSV column or JSON key can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The address (required).
    Address,
    /// The chain or currency (`btc`, `ETH`, `USDT`); detected when absent.
    Chain,
    /// Our category name or a GraphSense concept.
    Category,
    /// The platform or actor.
    Entity,
    /// The source's label.
    Label,
    /// ISO 3166-1 alpha-2 jurisdiction.
    Jurisdiction,
    /// The licensing regulator.
    LicensedBy,
    /// `active`, `shut_down` or `seized`.
    Status,
    /// The date of the status (`YYYY-MM-DD`).
    StatusDate,
    /// 0-100 or a GraphSense level name.
    Confidence,
    /// The reference the source cites.
    Reference,
    /// Free text.
    Note,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 12] = [
        Field::Address,
        Field::Chain,
        Field::Category,
        Field::Entity,
        Field::Label,
        Field::Jurisdiction,
        Field::LicensedBy,
        Field::Status,
        Field::StatusDate,
        Field::Confidence,
        Field::Reference,
        Field::Note,
    ];

    /// The field's name, which is also the default column or key it reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Address => "address",
            Field::Chain => "chain",
            Field::Category => "category",
            Field::Entity => "entity",
            Field::Label => "label",
            Field::Jurisdiction => "jurisdiction",
            Field::LicensedBy => "licensed_by",
            Field::Status => "status",
            Field::StatusDate => "status_date",
            Field::Confidence => "confidence",
            Field::Reference => "reference",
            Field::Note => "note",
        }
    }
}

impl FromStr for Field {
    type Err = TagsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        Field::ALL.into_iter().find(|f| f.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
            TagsError::config("mapping", format!("unknown field {s:?} (fields: {})", names.join(", ")))
        })
    }
}

/// Which CSV column (header name) or JSON key fills each field; a field not
/// mapped reads the column named like the field, if there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Mapping(BTreeMap<Field, String>);

impl Mapping {
    /// Parses `field=column,field=column` (as `--mapping` takes it).
    ///
    /// # Errors
    /// [`TagsError::Config`] for a pair without `=` or an unknown field.
    pub fn parse(text: &str) -> Result<Mapping, TagsError> {
        let mut map = BTreeMap::new();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (field, column) = pair
                .split_once('=')
                .ok_or_else(|| TagsError::config("mapping", format!("{pair:?} is not field=column")))?;
            map.insert(field.parse::<Field>()?, column.trim().to_owned());
        }
        Ok(Mapping(map))
    }

    /// The column or key that fills `field`.
    pub fn column(&self, field: Field) -> &str {
        self.0.get(&field).map_or(field.as_str(), String::as_str)
    }

    /// Whether `field` was mapped explicitly.
    pub fn is_explicit(&self, field: Field) -> bool {
        self.0.contains_key(&field)
    }
}

impl TryFrom<BTreeMap<String, String>> for Mapping {
    type Error = TagsError;

    fn try_from(raw: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        raw.into_iter()
            .map(|(field, column)| Ok((field.parse::<Field>()?, column)))
            .collect::<Result<_, _>>()
            .map(Mapping)
    }
}

impl From<Mapping> for BTreeMap<String, String> {
    fn from(mapping: Mapping) -> Self {
        mapping.0.into_iter().map(|(field, column)| (field.as_str().to_owned(), column)).collect()
    }
}

/// Values applied to every record that lacks them (from flags or config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Defaults {
    /// Category of records without one (required for lists).
    #[serde(default)]
    pub category: Option<Category>,
    /// Entity of records without one.
    #[serde(default)]
    pub entity: Option<String>,
    /// Chain of records without one (otherwise detected from the address).
    #[serde(default)]
    pub chain: Option<TagChain>,
    /// Confidence of records without one.
    #[serde(default)]
    pub confidence: Option<Confidence>,
}

/// A record's fields as the file gave them, before validation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub line: u64,
    pub fields: BTreeMap<Field, String>,
    /// GraphSense concepts in priority order (category, abuse, concepts).
    pub concepts: Vec<String>,
}

impl Draft {
    fn get(&self, field: Field) -> Option<&str> {
        self.fields.get(&field).map(String::as_str).map(str::trim).filter(|v| !v.is_empty())
    }

    pub(crate) fn set(&mut self, field: Field, value: Option<String>) {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            self.fields.insert(field, value);
        }
    }
}

/// What a format reader yields.
#[derive(Debug)]
pub(crate) enum Item {
    /// A tag to validate.
    Tag(Draft),
    /// An entity record (ActorPack actor, SDN entry).
    Entity { line: u64, entity: Entity },
    /// A record tagging a transaction, which we do not import.
    TxTag,
    /// A row that cannot become a tag.
    Invalid(RowError),
}

/// A stream of items from one file.
pub(crate) type Items = Box<dyn Iterator<Item = Result<Item, TagsError>>>;

/// Everything a reader needs besides the path.
pub(crate) struct ReadContext<'a> {
    /// The name errors use for the file.
    pub file: &'a str,
    pub mapping: &'a Mapping,
    pub max_line: usize,
}

/// Opens a streaming reader of `format` over `path`.
pub(crate) fn read(format: Format, path: &Path, cx: &ReadContext<'_>) -> Result<Items, TagsError> {
    match format {
        Format::Csv => csv::read(path, cx),
        Format::Jsonl => jsonl::read(path, cx),
        Format::List => list::read(path, cx),
        Format::Tagpack => yaml::read_tagpack(path, cx),
        Format::Actorpack => yaml::read_actorpack(path, cx),
        Format::OfacSdn => ofac::read(path, cx),
    }
}

/// The confidence a format's records get when neither they nor the options
/// give one: sanctions lists are authority data, everything else unknown.
pub(crate) fn default_confidence(format: Format) -> Confidence {
    match format {
        Format::OfacSdn => Confidence::authority_data(),
        _ => Confidence::unknown(),
    }
}

/// Validates a draft into a tag: the chain (given, mapped from a currency,
/// defaulted or detected), the address on that chain, the category (ours or
/// a GraphSense concept), jurisdiction, status, date and confidence.
///
/// # Errors
/// The reason, as one short sentence, for the row's error entry.
pub(crate) fn build_tag(
    draft: &Draft,
    defaults: &Defaults,
    fallback_confidence: &Confidence,
    network: bitcoin::Network,
) -> Result<Tag, String> {
    let raw_address = draft.get(Field::Address).ok_or("no address")?;
    let chain = match (draft.get(Field::Chain), &defaults.chain) {
        (Some(code), _) => TagChain::for_currency(code, raw_address).map_err(|e| e.to_string())?,
        (None, Some(chain)) => chain.clone(),
        (None, None) => detect_chain(raw_address).map_err(|e| e.to_string())?,
    };
    let address = normalize(&chain, raw_address, network).map_err(|e| e.to_string())?;
    let category = if let Some(name) = draft.get(Field::Category) {
        map_graphsense_concepts([name]).map_err(|e| e.to_string())?
    } else if !draft.concepts.is_empty() {
        map_graphsense_concepts(draft.concepts.iter().map(String::as_str)).map_err(|e| e.to_string())?
    } else {
        defaults.category.ok_or("no category (give a category column or --category)")?
    };
    let jurisdiction = match draft.get(Field::Jurisdiction) {
        Some(code) if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(code.to_ascii_uppercase())
        }
        Some(code) => return Err(format!("jurisdiction {code:?} is not an ISO 3166 two-letter code")),
        None => None,
    };
    let date = draft.get(Field::StatusDate).map(str::parse::<Date>).transpose().map_err(|e| e.to_string())?;
    let status = draft.get(Field::Status).map(|s| Status::parse(s, date)).transpose().map_err(|e| e.to_string())?;
    let confidence = match draft.get(Field::Confidence) {
        Some(text) => text.parse::<Confidence>().map_err(|e| e.to_string())?,
        None => defaults.confidence.clone().unwrap_or_else(|| fallback_confidence.clone()),
    };
    let text = |field| draft.get(field).map(str::to_owned);
    Ok(Tag {
        chain,
        address,
        category,
        entity: text(Field::Entity).or_else(|| defaults.entity.clone()),
        label: text(Field::Label),
        jurisdiction,
        licensed_by: text(Field::LicensedBy),
        status,
        confidence,
        reference: text(Field::Reference),
        note: text(Field::Note),
        concepts: draft.concepts.iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(pairs: &[(Field, &str)]) -> Draft {
        Draft { line: 1, fields: pairs.iter().map(|(f, v)| (*f, (*v).to_owned())).collect(), concepts: vec![] }
    }

    #[test]
    fn mapping_parses_and_rejects_unknown_fields() {
        let mapping = Mapping::parse("entity=name, label=Name Tag").unwrap();
        assert_eq!(mapping.column(Field::Entity), "name");
        assert_eq!(mapping.column(Field::Label), "Name Tag");
        assert_eq!(mapping.column(Field::Address), "address");
        assert!(Mapping::parse("owner=x").is_err());
        assert!(Mapping::parse("entity").is_err());
    }

    #[test]
    fn drafts_validate_into_tags() {
        let net = bitcoin::Network::Bitcoin;
        let unknown = Confidence::unknown();
        let defaults = Defaults { category: Some(Category::Sanctioned), ..Defaults::default() };
        let tag = build_tag(
            &draft(&[(Field::Address, "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"), (Field::Jurisdiction, "kp")]),
            &defaults,
            &unknown,
            net,
        )
        .unwrap();
        assert_eq!(tag.chain, TagChain::ETH);
        assert_eq!(tag.category, Category::Sanctioned);
        assert_eq!(tag.jurisdiction.as_deref(), Some("KP"));
        let err = build_tag(&draft(&[(Field::Address, "1abc"), (Field::Chain, "btc")]), &defaults, &unknown, net);
        assert!(err.unwrap_err().contains("bitcoin"));
        let err = build_tag(
            &draft(&[(Field::Address, "0x098b716b8aaf21512996dc57eb0615e2383e2f96"), (Field::Category, "casino")]),
            &defaults,
            &unknown,
            net,
        );
        assert!(err.unwrap_err().contains("unknown category"));
        let err = build_tag(
            &draft(&[(Field::Address, "0x098b716b8aaf21512996dc57eb0615e2383e2f96")]),
            &Defaults::default(),
            &unknown,
            net,
        );
        assert!(err.unwrap_err().contains("no category"));
    }
}
