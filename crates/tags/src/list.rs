//! [`TagStore::list`]: the current tags of the whole store, paged, narrowed
//! by chain, category and entity, for `GET /v1/tags`.
//!
//! A page walks one table in key order: `tags_by_addr` (from the chain's
//! prefix when a chain is given), or `tags_by_entity` under the entity's
//! key (and the chain's prefix) when an entity is given. The category is
//! not indexed, so it is a filter on the rows walked. Each page examines at
//! most [`LIST_SCAN_BUDGET`] rows: a rare category can give a short or even
//! an empty page that still has a `next_cursor`, but no page costs more
//! than the budget. The cursor is the hex of the key to resume at, so a
//! source imported between two pages cannot shift rows already returned.

use chainsleuth_store::{Codec, Direction};
use serde::Serialize;

use crate::address::TagChain;
use crate::db::{visible, TagStore};
use crate::error::TagsError;
use crate::model::{entity_id, TagView};
use crate::tables::{AddrKey, ByEntity, Entities, EntityKey, Json, SourceId, Tags};
use crate::taxonomy::Category;

/// The most tags one listing page returns.
pub const MAX_LIST_PAGE: usize = 1000;

/// The most rows one listing page examines (see the module docs).
pub const LIST_SCAN_BUDGET: usize = 100_000;

/// Which tags [`TagStore::list`] returns; every field given narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter {
    /// Only tags of addresses on this chain.
    pub chain: Option<TagChain>,
    /// Only tags of this category.
    pub category: Option<Category>,
    /// Only tags of this entity (its id, name or an alias).
    pub entity: Option<String>,
}

/// One page of a tag listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagPage {
    /// The tags, in key order (by chain, then address, then source).
    pub tags: Vec<TagView>,
    /// Pass this to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Collects one page: stops at `limit` matching tags (the next match is the
/// cursor) or when the scan budget is spent (the next row is the cursor).
struct Pager {
    limit: usize,
    examined: usize,
    page: TagPage,
}

impl Pager {
    /// Offers the row at encoded key `key`, its view when it matches the
    /// filter; returns whether to go on.
    fn offer(&mut self, key: Vec<u8>, view: Option<TagView>) -> bool {
        if self.examined == LIST_SCAN_BUDGET {
            self.page.next_cursor = Some(hex::encode(key));
            return false;
        }
        self.examined += 1;
        let Some(view) = view else { return true };
        if self.page.tags.len() == self.limit {
            self.page.next_cursor = Some(hex::encode(key));
            return false;
        }
        self.page.tags.push(view);
        true
    }
}

impl TagStore {
    /// One page of the current tags matching `filter`: up to `limit` tags
    /// (clamped to 1..=[`MAX_LIST_PAGE`]) from `cursor` (a `next_cursor` of
    /// an earlier page with the same filter) or from the first.
    ///
    /// # Errors
    /// [`TagsError::BadCursor`] for a cursor that is not one of this
    /// filter's; store errors.
    pub fn list(&self, filter: &TagFilter, cursor: Option<&str>, limit: usize) -> Result<TagPage, TagsError> {
        let chain_prefix = filter.chain.as_ref().map(AddrKey::chain_prefix).unwrap_or_default();
        let entity = match &filter.entity {
            Some(name) => match self.entity_key(name)? {
                Some(id) => Some(EntityKey::new(&id)),
                None => return Ok(TagPage { tags: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let prefix = match &entity {
            Some(key) => [key.encode(), chain_prefix].concat(),
            None => chain_prefix,
        };
        let from = cursor
            .map(|text| {
                hex::decode(text.trim())
                    .ok()
                    .filter(|key| key.starts_with(&prefix) && key.len() > prefix.len())
                    .ok_or_else(|| TagsError::BadCursor(text.to_owned()))
            })
            .transpose()?;
        let sources = self.source_records()?;
        let wanted = |source: SourceId, added: u32, record: Json<_>| {
            visible(&sources, source, added, record, false)
                .filter(|record| filter.category.is_none_or(|c| c == record.tag.category))
                .map(|record| self.view(&sources, source, record))
        };
        let mut pager = Pager {
            limit: limit.clamp(1, MAX_LIST_PAGE),
            examined: 0,
            page: TagPage { tags: Vec::new(), next_cursor: None },
        };
        if entity.is_some() {
            for row in self.store.scan::<ByEntity>(&prefix, from.as_deref(), Direction::Forward)? {
                let (key, ()) = row?;
                let (_, addr, source, fp, added) = key.clone();
                let record = self.store.get::<Tags>(&(addr, source, fp, added))?;
                if !pager.offer(key.encode(), record.and_then(|record| wanted(source, added, record))) {
                    break;
                }
            }
        } else {
            for row in self.store.scan::<Tags>(&prefix, from.as_deref(), Direction::Forward)? {
                let (key, record) = row?;
                let (_, source, _, added) = key;
                if !pager.offer(key.encode(), wanted(source, added, record)) {
                    break;
                }
            }
        }
        Ok(pager.page)
    }

    /// The stored id of the entity called `name` (its id, display name or an
    /// alias), if any source has it or tags name it.
    pub(crate) fn entity_key(&self, name: &str) -> Result<Option<String>, TagsError> {
        let wanted = entity_id(name);
        let key = EntityKey::new(&wanted).encode();
        if self.store.scan::<ByEntity>(&key, None, Direction::Forward)?.next().is_some()
            || self.store.scan::<Entities>(&key, None, Direction::Forward)?.next().is_some()
        {
            return Ok(Some(wanted));
        }
        for row in self.store.scan::<Entities>(&[], None, Direction::Forward)? {
            let ((key, _), Json(record)) = row?;
            let entity = &record.entity;
            if entity_id(&entity.name) == wanted || entity.aliases.iter().any(|a| entity_id(a) == wanted) {
                return Ok(Some(key.0));
            }
        }
        Ok(None)
    }
}
