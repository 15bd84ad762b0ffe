//! The tag store as the tracer's [`Labels`]: an address's label from its
//! active tags, every labelled address of a chain, and the source versions a
//! result rests on.
//!
//! Of an address's active tags the most confident gives the label; ties go
//! to a default fiat off-ramp category, then to the entity name (in
//! alphabetical order), then to the category and source names, so the choice
//! never depends on import order. A tag without an entity is labelled with
//! its source's label, or else its source's name. Jurisdiction and regulator
//! come from the tag, or else from its entity's record.

use std::cmp::Ordering;
use std::collections::HashMap;

use chainsleuth_core::{Chain, Label, Labels, SourceVersion};
use chainsleuth_store::{Codec, Direction};

use crate::address::{normalize, AddressError, TagChain};
use crate::db::TagStore;
use crate::error::TagsError;
use crate::model::{entity_id, TagView};
use crate::tables::{Entities, EntityKey, Json};
use crate::taxonomy::Category;

/// What an entity's records add to a label: its first jurisdiction and its
/// regulator.
type EntityFacts = (Option<String>, Option<String>);

impl Labels for TagStore {
    type Error = TagsError;

    /// The label of `address` (in any form the chain's addresses are written
    /// in: Bitcoin text of the store's network, Ethereum hex in either case or
    /// EIP-55). Text that is no address of the chain (such as an indexer's
    /// `nonstandard:` pseudo-address) has no label.
    ///
    /// # Errors
    /// [`TagsError::Address`] for a Bitcoin address of another network than
    /// the store's; store errors.
    fn label(&self, chain: Chain, address: &str) -> Result<Option<Label>, TagsError> {
        let chain = TagChain::Indexed(chain);
        match normalize(&chain, address, self.network) {
            Ok(_) => {}
            Err(err @ AddressError::WrongNetwork { .. }) => return Err(err.into()),
            Err(_) => return Ok(None),
        }
        let tags = self.tags_for(&chain, address)?;
        let Some(best) = tags.iter().min_by(|a, b| preference(a, b)) else { return Ok(None) };
        Ok(Some(self.label_of(best, &mut HashMap::new())?))
    }

    fn labelled(&self, chain: Chain) -> Result<Vec<(String, Label)>, TagsError> {
        let tags = self.tags_of_chain(&TagChain::Indexed(chain))?;
        let mut best: Vec<&TagView> = Vec::new();
        for tag in &tags {
            match best.last_mut() {
                Some(last) if last.record.tag.address == tag.record.tag.address => {
                    if preference(tag, last) == Ordering::Less {
                        *last = tag;
                    }
                }
                _ => best.push(tag),
            }
        }
        let mut entities = HashMap::new();
        let mut out = best
            .into_iter()
            .map(|tag| Ok((tag.display_address.clone(), self.label_of(tag, &mut entities)?)))
            .collect::<Result<Vec<_>, TagsError>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every source with an active version, with that version and its file's
    /// SHA-256; sources only ever fetched without success are left out.
    fn sources(&self) -> Result<Vec<SourceVersion>, TagsError> {
        let mut out: Vec<SourceVersion> = TagStore::sources(self)?
            .into_iter()
            .filter_map(|source| {
                let current = source.versions.iter().find(|v| v.version == source.active_version)?;
                Some(SourceVersion {
                    source: source.name.clone(),
                    version: current.version,
                    sha256: current.file_sha256.clone(),
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

impl TagStore {
    /// The label a tag gives its address; `entities` caches entity facts
    /// across calls.
    fn label_of(&self, view: &TagView, entities: &mut HashMap<String, EntityFacts>) -> Result<Label, TagsError> {
        let tag = &view.record.tag;
        let (mut jurisdiction, mut licensed_by) = (tag.jurisdiction.clone(), tag.licensed_by.clone());
        if let Some(name) = tag.entity.as_deref().filter(|_| jurisdiction.is_none() || licensed_by.is_none()) {
            let id = entity_id(name);
            let facts = match entities.get(&id) {
                Some(facts) => facts.clone(),
                None => {
                    let facts = self.entity_facts(&id)?;
                    entities.insert(id, facts.clone());
                    facts
                }
            };
            jurisdiction = jurisdiction.or(facts.0);
            licensed_by = licensed_by.or(facts.1);
        }
        Ok(Label {
            entity: entity_name(view).to_owned(),
            category: tag.category.as_str().to_owned(),
            jurisdiction,
            licensed_by,
            off_ramp: tag.category.is_default_off_ramp(),
            mixer: tag.category == Category::Mixer,
            custodial: is_custodial(tag.category),
            inferred: None,
        })
    }

    /// The first jurisdiction and the regulator any live record of entity
    /// `id` gives (records in source order).
    fn entity_facts(&self, id: &str) -> Result<EntityFacts, TagsError> {
        let (mut jurisdiction, mut licensed_by) = (None, None);
        for row in self.store.scan::<Entities>(&EntityKey::new(id).encode(), None, Direction::Forward)? {
            let (_, Json(record)) = row?;
            if record.retired.is_some() {
                continue;
            }
            jurisdiction = jurisdiction.or_else(|| record.entity.jurisdictions.first().cloned());
            licensed_by = licensed_by.or(record.entity.licensed_by);
        }
        Ok((jurisdiction, licensed_by))
    }
}

/// The name a label gives a tag's actor: the entity, else the source's
/// label, else the source's name.
fn entity_name(view: &TagView) -> &str {
    let tag = &view.record.tag;
    tag.entity.as_deref().or(tag.label.as_deref()).unwrap_or(&view.source)
}

/// Whether the actors of a category hold their users' funds.
fn is_custodial(category: Category) -> bool {
    matches!(
        category,
        Category::ExchangeLicensed
            | Category::ExchangeUnlicensed
            | Category::Exchange
            | Category::PlatformShutDown
            | Category::OtcDesk
    )
}

/// Orders two tags of one address by how much they are preferred as its
/// label (`Less` = preferred): higher confidence, then an off-ramp category,
/// then entity, category and source names.
fn preference(a: &TagView, b: &TagView) -> Ordering {
    let (ta, tb) = (&a.record.tag, &b.record.tag);
    tb.confidence
        .value
        .cmp(&ta.confidence.value)
        .then_with(|| tb.category.is_default_off_ramp().cmp(&ta.category.is_default_off_ramp()))
        .then_with(|| entity_name(a).cmp(entity_name(b)))
        .then_with(|| ta.category.as_str().cmp(tb.category.as_str()))
        .then_with(|| a.source.cmp(&b.source))
}
