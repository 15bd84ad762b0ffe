//! The watch store, `<data-dir>/watch`: watch items, alerts, the blocks the
//! watcher has scanned and the webhook deliveries, each change one atomic
//! batch so that a restart resumes exactly where the last write left off.
//! The key layout is in `SCHEMA.md` beside this file; a test keeps the two
//! in step.
//!
//! The process holds one handle (writes serialise on its lock); the chain
//! stores are only read, elsewhere ([`super::scan`]).

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chainsleuth_store::{tables, Batch, Direction, OpenMode, Schema, Store, StoreError, Table};
use chainsleuth_tags::tables::Json;
use serde::{Deserialize, Serialize};

use super::{Alert, FlowDirection, WatchChain};

/// The JSON of a webhook secret; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where an item's alerts are POSTed, and the key they are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// An http or https URL.
    pub url: String,
    /// The HMAC-SHA256 key: its text, as shown once when the item was made.
    pub secret: Secret,
}

/// One entry of the watchlist: an address, or (Bitcoin) a cluster named by
/// its id or by one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchItem {
    pub id: u64,
    pub chain: WatchChain,
    /// The address in canonical form (checksummed on Ethereum).
    pub address: Option<String>,
    /// A cluster id (decimal) or a member address.
    pub cluster: Option<String>,
    pub note: String,
    pub webhook: Option<Webhook>,
    /// Unix seconds.
    pub created_at: u64,
}

/// What a delivery carries: the alert, or its retraction after a reorg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A new alert.
    Alert,
    /// The alert's block left the chain.
    Retraction,
}

impl Event {
    fn code(self) -> u8 {
        match self {
            Event::Alert => 0,
            Event::Retraction => 1,
        }
    }

    fn of_code(code: u8) -> Option<Event> {
        match code {
            0 => Some(Event::Alert),
            1 => Some(Event::Retraction),
            _ => None,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_try_ms`.
    Pending,
    /// The hook answered 2xx.
    Delivered,
    /// Given up: out of attempts, or the item or its hook was deleted.
    Failed,
}

/// One webhook delivery: the exact body sent each attempt, and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub body: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Unix milliseconds of the next attempt while pending.
    pub next_try_ms: Option<u64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// A delivery's key: the alert, the event, the watch item whose hook gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeliveryKey {
    pub alert: u64,
    pub event: Event,
    pub watch: u64,
}

impl DeliveryKey {
    fn row(self) -> (u64, u8, u64) {
        (self.alert, self.event.code(), self.watch)
    }
}

/// A fund movement found in a scanned block, before it is stored as an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Movement {
    pub txid: Option<String>,
    pub address: String,
    pub direction: FlowDirection,
    pub asset: String,
    /// Base units (satoshi, wei, token units), decimal.
    pub amount: String,
    pub watch_ids: Vec<u64>,
}

impl Movement {
    /// The part of the idempotence key after (chain, height).
    fn key(&self) -> String {
        format!("{}|{}|{}|{}", self.txid.as_deref().unwrap_or("-"), self.address, self.direction.as_str(), self.asset)
    }
}

tables! {
    /// Watch items by id.
    WatchItems("watch_items"): u64 => Json<WatchItem>;
    /// Alerts by id: ids are handed out in the order alerts are stored.
    WatchAlerts("watch_alerts"): u64 => Json<Alert>;
    /// The live (unretracted) alerts by (chain, height, tx|address|direction|asset):
    /// the idempotence check, and the alerts of a block a reorg removes.
    WatchAlertKeys("watch_alert_keys"): (u8, u64, String) => u64;
    /// The blocks scanned, per chain: their hashes, to notice reorgs.
    WatchScanned("watch_scanned"): (u8, u64) => [u8; 32];
    /// Webhook deliveries by (alert id, event, watch id).
    WatchDeliveries("watch_deliveries"): (u64, u8, u64) => Json<Delivery>;
    /// The pending deliveries by (next try ms, alert id, event, watch id).
    WatchPending("watch_pending"): (u64, u64, u8, u64) => ();
    /// Counters (`next_item`, `next_alert`) and each chain's first height (`start.btc`).
    WatchState("watch_state"): String => u64;
}

/// The watch store's schema.
pub(crate) static SCHEMA: Schema = Schema {
    name: "watch",
    format: 1,
    tables: &[
        WatchItems::NAME,
        WatchAlerts::NAME,
        WatchAlertKeys::NAME,
        WatchScanned::NAME,
        WatchDeliveries::NAME,
        WatchPending::NAME,
        WatchState::NAME,
    ],
    digest_excludes: &[],
};

const NEXT_ITEM: &str = "next_item";
const NEXT_ALERT: &str = "next_alert";

/// The open watch store.
#[derive(Debug)]
pub(crate) struct WatchStore {
    store: Store,
    /// Held across each read-modify-write (counters, state changes).
    write: Mutex<()>,
}

/// The current Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn envelope(event: Event, alert: &Alert) -> String {
    // Alerts are strings, numbers and booleans: they always serialise.
    serde_json::to_string(&serde_json::json!({ "event": event, "alert": alert })).expect("alerts serialise to JSON")
}

impl WatchStore {
    /// Opens (creating) `<data_dir>/watch`.
    ///
    /// # Errors
    /// The store cannot be opened, or holds another format.
    pub fn open(data_dir: &Path) -> Result<WatchStore, StoreError> {
        let store = Store::open(&data_dir.join("watch"), &SCHEMA, OpenMode::ReadWrite)?;
        Ok(WatchStore { store, write: Mutex::new(()) })
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn counter(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.store.get::<WatchState>(&name.to_owned())?.unwrap_or(1))
    }

    /// Stores `item` under a new id and returns it with that id.
    pub fn add_item(&self, mut item: WatchItem) -> Result<WatchItem, StoreError> {
        let _guard = self.lock();
        item.id = self.counter(NEXT_ITEM)?;
        let mut batch = self.store.batch();
        batch.put::<WatchItems>(&item.id, &Json(item.clone()))?;
        batch.put::<WatchState>(&NEXT_ITEM.to_owned(), &(item.id + 1))?;
        self.store.write(batch)?;
        Ok(item)
    }

    /// Every watch item, by id.
    pub fn items(&self) -> Result<Vec<WatchItem>, StoreError> {
        self.store.scan::<WatchItems>(&[], None, Direction::Forward)?.map(|row| row.map(|(_, item)| item.0)).collect()
    }

    /// The item `id`, if it exists.
    pub fn item(&self, id: u64) -> Result<Option<WatchItem>, StoreError> {
        Ok(self.store.get::<WatchItems>(&id)?.map(|item| item.0))
    }

    /// Deletes item `id`; false when there was none. Its alerts stay.
    pub fn remove_item(&self, id: u64) -> Result<bool, StoreError> {
        let _guard = self.lock();
        if self.store.get::<WatchItems>(&id)?.is_none() {
            return Ok(false);
        }
        let mut batch = self.store.batch();
        batch.delete::<WatchItems>(&id)?;
        self.store.write(batch)?;
        Ok(true)
    }

    /// Up to `limit` alerts from id `from` on, oldest first, each with its
    /// deliveries; and the id after the last when more follow.
    #[allow(clippy::type_complexity)]
    pub fn alerts(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<(Vec<(Alert, Vec<(DeliveryKey, Delivery)>)>, Option<u64>), StoreError> {
        let mut page = Vec::new();
        for row in self.store.scan::<WatchAlerts>(&[], Some(&from.to_be_bytes()), Direction::Forward)? {
            let (id, alert) = row?;
            if page.len() == limit {
                return Ok((page, Some(id)));
            }
            page.push((alert.0, self.deliveries_of(id)?));
        }
        Ok((page, None))
    }

    fn deliveries_of(&self, alert: u64) -> Result<Vec<(DeliveryKey, Delivery)>, StoreError> {
        let mut out = Vec::new();
        for row in self.store.scan::<WatchDeliveries>(&alert.to_be_bytes(), None, Direction::Forward)? {
            let ((alert, event, watch), delivery) = row?;
            // Codes come from `Event::code`; another one is not ours to show.
            if let Some(event) = Event::of_code(event) {
                out.push((DeliveryKey { alert, event, watch }, delivery.0));
            }
        }
        Ok(out)
    }

    /// The scanned blocks of `chain`, newest first.
    pub fn scanned(
        &self,
        chain: WatchChain,
    ) -> Result<impl Iterator<Item = Result<(u64, [u8; 32]), StoreError>> + '_, StoreError> {
        Ok(self
            .store
            .scan::<WatchScanned>(&[chain.code()], None, Direction::Reverse)?
            .map(|row| row.map(|((_, height), hash)| (height, hash))))
    }

    /// The newest scanned block of `chain`.
    pub fn last_scanned(&self, chain: WatchChain) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        self.scanned(chain)?.next().transpose()
    }

    /// The height `chain`'s scan began at, once set.
    pub fn start(&self, chain: WatchChain) -> Result<Option<u64>, StoreError> {
        self.store.get::<WatchState>(&format!("start.{}", chain.as_str()))
    }

    /// Sets the height `chain`'s scan begins at.
    pub fn set_start(&self, chain: WatchChain, height: u64) -> Result<(), StoreError> {
        let mut batch = self.store.batch();
        batch.put::<WatchState>(&format!("start.{}", chain.as_str()), &height)?;
        self.store.write(batch)
    }

    fn put_delivery(
        batch: &mut Batch<'_>,
        key: DeliveryKey,
        delivery: &Delivery,
        old_next: Option<u64>,
    ) -> Result<(), StoreError> {
        let (alert, event, watch) = key.row();
        if let Some(old) = old_next {
            batch.delete::<WatchPending>(&(old, alert, event, watch))?;
        }
        if let Some(next) = delivery.next_try_ms {
            batch.put::<WatchPending>(&(next, alert, event, watch), &())?;
        }
        batch.put::<WatchDeliveries>(&key.row(), &Json(delivery.clone()))
    }

    fn enqueue(
        batch: &mut Batch<'_>,
        event: Event,
        alert: &Alert,
        hooked: &[u64],
        now: u64,
    ) -> Result<usize, StoreError> {
        let body = envelope(event, alert);
        let wanted: Vec<u64> = alert.watch_ids.iter().copied().filter(|id| hooked.contains(id)).collect();
        for watch in &wanted {
            let delivery = Delivery {
                body: body.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_try_ms: Some(now),
                last_status: None,
                last_error: None,
            };
            Self::put_delivery(batch, DeliveryKey { alert: alert.id, event, watch: *watch }, &delivery, None)?;
        }
        Ok(wanted.len())
    }

    /// Records block `height` (`hash`, shown as `hash_text`) of `chain` as
    /// scanned, with an alert for each of `movements` not stored before and
    /// a delivery to each hook among `hooked` (ids of items with webhooks)
    /// that watches it. Returns (alerts stored, deliveries queued).
    pub fn record_block(
        &self,
        chain: WatchChain,
        (height, hash, hash_text): (u64, [u8; 32], &str),
        movements: &[Movement],
        hooked: &[u64],
    ) -> Result<(usize, usize), StoreError> {
        let _guard = self.lock();
        let now = now_ms();
        let mut next = self.counter(NEXT_ALERT)?;
        let mut batch = self.store.batch();
        let (mut alerts, mut deliveries) = (0, 0);
        for movement in movements {
            let key = (chain.code(), height, movement.key());
            if self.store.get::<WatchAlertKeys>(&key)?.is_some() {
                continue;
            }
            let alert = Alert {
                id: next,
                chain,
                height,
                block_hash: hash_text.to_owned(),
                txid: movement.txid.clone(),
                address: movement.address.clone(),
                direction: movement.direction,
                asset: movement.asset.clone(),
                amount: movement.amount.clone(),
                watch_ids: movement.watch_ids.clone(),
                created_at: now / 1000,
                retracted: false,
                retracted_at: None,
            };
            batch.put::<WatchAlertKeys>(&key, &alert.id)?;
            batch.put::<WatchAlerts>(&alert.id, &Json(alert.clone()))?;
            deliveries += Self::enqueue(&mut batch, Event::Alert, &alert, hooked, now)?;
            alerts += 1;
            next += 1;
        }
        batch.put::<WatchState>(&NEXT_ALERT.to_owned(), &next)?;
        batch.put::<WatchScanned>(&(chain.code(), height), &hash)?;
        self.store.write(batch)?;
        Ok((alerts, deliveries))
    }

    /// Takes block `height` of `chain` back out after a reorg: its alerts
    /// are marked retracted (a retraction queued to each hook among
    /// `hooked` that watches them) and it is no longer scanned. Returns
    /// (alerts retracted, deliveries queued).
    pub fn retract_block(&self, chain: WatchChain, height: u64, hooked: &[u64]) -> Result<(usize, usize), StoreError> {
        let _guard = self.lock();
        let now = now_ms();
        let mut prefix = vec![chain.code()];
        prefix.extend_from_slice(&height.to_be_bytes());
        let mut batch = self.store.batch();
        let (mut alerts, mut deliveries) = (0, 0);
        for row in self.store.scan::<WatchAlertKeys>(&prefix, None, Direction::Forward)? {
            let (key, id) = row?;
            batch.delete::<WatchAlertKeys>(&key)?;
            let Some(Json(mut alert)) = self.store.get::<WatchAlerts>(&id)? else { continue };
            alert.retracted = true;
            alert.retracted_at = Some(now / 1000);
            batch.put::<WatchAlerts>(&id, &Json(alert.clone()))?;
            deliveries += Self::enqueue(&mut batch, Event::Retraction, &alert, hooked, now)?;
            alerts += 1;
        }
        batch.delete::<WatchScanned>(&(chain.code(), height))?;
        self.store.write(batch)?;
        Ok((alerts, deliveries))
    }

    /// Up to `limit` pending deliveries due at `now` (Unix ms), oldest due first.
    pub fn due(&self, now: u64, limit: usize) -> Result<Vec<(DeliveryKey, Delivery)>, StoreError> {
        let mut out = Vec::new();
        for row in self.store.scan::<WatchPending>(&[], None, Direction::Forward)? {
            let ((next, alert, event, watch), ()) = row?;
            if next > now || out.len() == limit {
                break;
            }
            let (Some(event), Some(Json(delivery))) =
                (Event::of_code(event), self.store.get::<WatchDeliveries>(&(alert, event, watch))?)
            else {
                continue;
            };
            out.push((DeliveryKey { alert, event, watch }, delivery));
        }
        Ok(out)
    }

    /// Saves `delivery` after an attempt; `old_next` is the try it was due at.
    pub fn save_delivery(
        &self,
        key: DeliveryKey,
        delivery: &Delivery,
        old_next: Option<u64>,
    ) -> Result<(), StoreError> {
        let _guard = self.lock();
        let mut batch = self.store.batch();
        Self::put_delivery(&mut batch, key, delivery, old_next)?;
        self.store.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_doc_lists_every_table() {
        assert_eq!(SCHEMA.undocumented_tables(include_str!("SCHEMA.md")), Vec::<&str>::new());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let hook = Webhook { url: "https://example.org/hook".into(), secret: Secret("s3cr3t-value".into()) };
        let shown = format!("{hook:?}");
        assert!(!shown.contains("s3cr3t-value") && shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn a_block_records_each_alert_once_and_a_retraction_takes_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = WatchStore::open(dir.path()).unwrap();
        let movement = Movement {
            txid: Some("ab".repeat(32)),
            address: "bcrt1qexample".into(),
            direction: FlowDirection::In,
            asset: "BTC".into(),
            amount: "5000".into(),
            watch_ids: vec![1, 2],
        };
        let block = (7, [9; 32], "hash");
        assert_eq!(store.record_block(WatchChain::Btc, block, std::slice::from_ref(&movement), &[2]).unwrap(), (1, 1));
        assert_eq!(store.record_block(WatchChain::Btc, block, std::slice::from_ref(&movement), &[2]).unwrap(), (0, 0));
        assert_eq!(store.last_scanned(WatchChain::Btc).unwrap(), Some((7, [9; 32])));
        assert_eq!(store.last_scanned(WatchChain::Eth).unwrap(), None);
        let due = store.due(now_ms(), 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, DeliveryKey { alert: 1, event: Event::Alert, watch: 2 });

        assert_eq!(store.retract_block(WatchChain::Btc, 7, &[2]).unwrap(), (1, 1));
        assert_eq!(store.last_scanned(WatchChain::Btc).unwrap(), None);
        let (page, next) = store.alerts(0, 10).unwrap();
        assert!(next.is_none() && page.len() == 1 && page[0].0.retracted);
        assert_eq!(page[0].1.len(), 2);
        // The block comes back: a new alert, since the old one is retracted.
        assert_eq!(store.record_block(WatchChain::Btc, block, &[movement], &[]).unwrap(), (1, 0));
        let (page, _) = store.alerts(2, 10).unwrap();
        assert_eq!((page.len(), page[0].0.id, page[0].0.retracted), (1, 2, false));
    }
}
