//! The audit log: who asked what and when. The server appends one record per
//! request (every `/v1` call and web page; not the `/healthz`, `/readyz` and
//! `/metrics` probes) to its own RocksDB store at `<data-dir>/audit`: the
//! time, the token's name (none when authentication failed), method, path,
//! matched route, query and small request bodies with anything secret-looking
//! removed, the response status and the latency. Records are only ever added:
//! nothing here, and no worker, changes or deletes them. `SCHEMA.md` beside
//! this file documents the tables.
//!
//! Requests do not wait for the disk: [`record`] hands each record to a
//! writer thread over a channel, which writes whatever has queued up in one
//! batch. [`AuditLog::close`] (called when `serve` stops) writes what is
//! queued and closes the store. [`read`] opens the store read-only, so
//! `chainsleuth audit` works beside a running server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use chainsleuth_store::{tables, take, Codec, CodecError, Direction, Meta, OpenMode, Schema, Store, StoreError, Table};
use chainsleuth_tags::tables::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ApiState;

/// The audit store's directory in the data directory.
pub const AUDIT_DIR: &str = "audit";
/// Request bodies up to this size are kept in the record (as parameters,
/// when they are JSON or a form); larger ones only by their size.
pub const MAX_RECORDED_BODY: usize = 16 << 10;
/// Paths that are not audited: unauthenticated probes and scrapes.
pub const UNAUDITED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
/// What replaces a secret-looking value.
const REDACTED: &str = "[redacted]";
/// Records written in one batch at most.
const MAX_BATCH: usize = 4096;
/// How long opening waits for a store still held by an earlier server in
/// the same process (a test restarting one) to close.
const OPEN_WAIT: Duration = Duration::from_secs(5);
/// The meta row holding the next record's sequence number.
const NEXT_SEQ_KEY: &str = "next_seq";

/// A record key: microseconds since the Unix epoch of the request's arrival
/// and a sequence number that is unique in the store.
type RecordKey = (u64, u64);

/// A key of [`AuditByToken`]: `len:u8 ‖ token name ‖ time_us:u64 ‖ seq:u64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    /// The token's name (at most 255 bytes; token names are at most 64).
    pub name: String,
    /// The record's key.
    pub record: RecordKey,
}

impl TokenKey {
    fn prefix(name: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(name.len() + 1);
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
        out
    }
}

impl Codec for TokenKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&TokenKey::prefix(&self.name));
        self.record.encode_to(out);
    }

    fn decode_from(input: &mut &[u8]) -> Result<Self, CodecError> {
        let len = usize::from(u8::decode_from(input)?);
        let name = String::from_utf8(take(input, len)?.to_vec()).map_err(|_| CodecError::Invalid { what: "name" })?;
        Ok(TokenKey { name, record: RecordKey::decode_from(input)? })
    }
}

tables! {
    /// Every audited request, by arrival time: appended by the server's
    /// audit writer, never changed or deleted.
    AuditRecords("audit_records"): RecordKey => Json<AuditRecord>;
    /// The same requests by token name (empty values): written in the same
    /// batch as the record, for `chainsleuth audit --token`.
    AuditByToken("audit_by_token"): TokenKey => ();
}

/// The audit store's tables.
pub static SCHEMA: Schema =
    Schema { name: "audit", format: 1, tables: &[AuditRecords::NAME, AuditByToken::NAME], digest_excludes: &[] };

/// One audited request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the request arrived (RFC 3339, UTC, microseconds).
    pub time: String,
    /// The name of the token that made it; none when authentication failed
    /// or the route needs none.
    pub token: Option<String>,
    /// The client's address, when the server knows it.
    pub client: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The path asked for.
    pub path: String,
    /// The route that answered (`/v1/{chain}/tx/{id}`); none for unknown paths.
    pub route: Option<String>,
    /// The query string, secret-looking values replaced.
    pub query: Option<String>,
    /// A small JSON or form body's fields, secret-looking values replaced;
    /// otherwise the body's size.
    pub params: Option<Value>,
    /// The response status.
    pub status: u16,
    /// Milliseconds from arrival to the response.
    pub latency_ms: f64,
}

/// What the inner layers learn about a request for its record: put into
/// the request by [`record`], filled by the auth and body middlewares.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notes(Arc<Mutex<Noted>>);

#[derive(Debug, Default)]
struct Noted {
    token: Option<String>,
    params: Option<Value>,
}

impl Notes {
    fn with(&self, f: impl FnOnce(&mut Noted)) {
        f(&mut self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// Notes the name of the token that made `request`.
pub(crate) fn note_token(request: &Request, name: &str) {
    if let Some(notes) = request.extensions().get::<Notes>() {
        notes.with(|n| n.token = Some(name.to_owned()));
    }
}

/// Notes a request's body: its fields when it is a small JSON object or
/// form, its size otherwise (nothing when empty).
pub(crate) fn note_body(parts: &Parts, body: &[u8]) {
    let Some(notes) = parts.extensions.get::<Notes>() else { return };
    if body.is_empty() {
        return;
    }
    let kind = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let fields = (body.len() <= MAX_RECORDED_BODY)
        .then(|| {
            if kind.starts_with("application/json") {
                serde_json::from_slice::<Value>(body).ok()
            } else if kind.starts_with("application/x-www-form-urlencoded") {
                std::str::from_utf8(body).ok().map(form_fields)
            } else {
                None
            }
        })
        .flatten();
    let params = match fields {
        Some(fields) => redact(fields),
        None => serde_json::json!({ "body_bytes": body.len(), "content_type": kind }),
    };
    notes.with(|n| n.params = Some(params));
}

/// Whether a field's name says it holds a secret.
fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "passwd", "authorization", "cookie", "session", "api_key", "apikey", "private"]
        .iter()
        .any(|word| name.contains(word))
        || matches!(name.as_str(), "token" | "key" | "auth")
}

/// Whether a value looks like one of our token secrets.
fn secret_value(value: &str) -> bool {
    value.trim().starts_with(crate::tokens::SECRET_PREFIX)
}

/// `value` with every secret-looking field or string replaced.
fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if secret_name(&k) { Value::String(REDACTED.to_owned()) } else { redact(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        Value::String(text) if secret_value(&text) => Value::String(REDACTED.to_owned()),
        other => other,
    }
}

fn decode_form_part(text: &str) -> String {
    let text = text.replace('+', " ");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fields of a form body or query string (a repeated field keeps its
/// last value).
fn form_fields(text: &str) -> Value {
    let map: Map<String, Value> = text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_form_part(k), Value::String(decode_form_part(v)))
        })
        .collect();
    Value::Object(map)
}

/// A query string with secret-looking values replaced, otherwise as sent.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if secret_name(&decode_form_part(k)) || secret_value(&decode_form_part(v)) {
                format!("{k}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Middleware (outermost but for the headers): times the request, lets
/// the inner layers note the token and body, and queues the record.
pub async fn record(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    if UNAUDITED.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let (arrived, clock) = (SystemTime::now(), Instant::now());
    let notes = Notes::default();
    request.extensions_mut().insert(notes.clone());
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string());
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let query = request.uri().query().map(redact_query);
    let response = next.run(request).await;
    let noted = std::mem::take(&mut *notes.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    state.audit.append(
        micros(arrived),
        AuditRecord {
            time: humantime::format_rfc3339_micros(arrived).to_string(),
            token: noted.token,
            client,
            method,
            path,
            route,
            query,
            params: noted.params,
            status: response.status().as_u16(),
            latency_ms: clock.elapsed().as_secs_f64() * 1000.0,
        },
    );
    response
}

enum Message {
    Record(u64, Box<AuditRecord>),
    /// Acknowledged once everything sent before it is written.
    Flush(mpsc::SyncSender<()>),
}

/// The writing side of the audit log: a channel to the writer thread that
/// owns the store.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What went wrong opening the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The directory or the writer thread could not be made.
    #[error(transparent)]
    Io(#[from] crate::tokens::IoError),
}

/// The audit store's path in `data_dir`.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join(AUDIT_DIR)
}

fn open_store(path: &Path) -> Result<Store, StoreError> {
    let deadline = Instant::now() + OPEN_WAIT;
    loop {
        match Store::open(path, &SCHEMA, OpenMode::ReadWrite) {
            Err(StoreError::Open { source, .. })
                if Instant::now() < deadline && source.to_string().to_ascii_lowercase().contains("lock") =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl AuditLog {
    /// Opens (creating) the audit store of `data_dir` and starts its writer.
    ///
    /// # Errors
    /// The store cannot be opened (another server holds it, or it is damaged).
    pub fn open(data_dir: &Path) -> Result<AuditLog, AuditError> {
        let path = store_path(data_dir);
        std::fs::create_dir_all(data_dir).map_err(|source| crate::tokens::IoError {
            action: "creating the data directory of",
            path: path.clone(),
            source,
        })?;
        let store = open_store(&path)?;
        let next_seq = store.get::<Meta>(&NEXT_SEQ_KEY.to_owned())?.map_or(Ok(0), |bytes| u64::decode(&bytes));
        let next_seq = next_seq.map_err(|source| StoreError::Decode {
            table: Meta::NAME,
            key_hex: hex::encode(NEXT_SEQ_KEY),
            source,
        })?;
        let (sender, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(&store, &receiver, next_seq))
            .map_err(|source| crate::tokens::IoError {
                action: "starting the writer of",
                path: path.clone(),
                source,
            })?;
        Ok(AuditLog { path, sender: Mutex::new(Some(sender)), writer: Mutex::new(Some(writer)) })
    }

    /// Where the store is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `record` (arrived at `time_us`) for writing.
    fn append(&self, time_us: u64, record: AuditRecord) {
        let sender = self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = sender.as_ref().is_some_and(|s| s.send(Message::Record(time_us, Box::new(record))).is_ok());
        if !sent {
            tracing::error!("audit log closed: a request went unrecorded");
        }
    }

    /// Returns once every record queued before the call is written.
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        let sender = self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if sender.is_some_and(|s| s.send(Message::Flush(ack)).is_ok()) {
            let _ = done.recv();
        }
    }

    /// Writes what is queued, stops the writer and closes the store. Later
    /// records are dropped (with an error in the log).
    pub fn close(&self) {
        drop(self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(store: &Store, receiver: &mpsc::Receiver<Message>, mut next_seq: u64) {
    while let Ok(first) = receiver.recv() {
        let mut messages = vec![first];
        messages.extend(receiver.try_iter().take(MAX_BATCH));
        let mut batch = store.batch();
        let mut acks = Vec::new();
        let mut records = 0;
        let result = messages.into_iter().try_for_each(|message| match message {
            Message::Record(time_us, record) => {
                let key = (time_us, next_seq);
                next_seq += 1;
                records += 1;
                if let Some(name) = &record.token {
                    batch.put::<AuditByToken>(&TokenKey { name: name.clone(), record: key }, &())?;
                }
                batch.put::<AuditRecords>(&key, &Json(*record))
            }
            Message::Flush(ack) => {
                acks.push(ack);
                Ok(())
            }
        });
        let result = result
            .and_then(|()| batch.put::<Meta>(&NEXT_SEQ_KEY.to_owned(), &next_seq.encode()))
            .and_then(|()| store.write(batch));
        if let Err(err) = result {
            tracing::error!(error = %chainsleuth_tags::error_chain(&err), records, "writing the audit log failed");
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// Which records [`read`] returns.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this token's.
    pub token: Option<String>,
    /// Only those that arrived at or after this time.
    pub since: Option<SystemTime>,
    /// Only the newest this many.
    pub limit: Option<usize>,
}

/// The records `query` selects, oldest first, read from a read-only view of
/// `data_dir`'s audit store (none when no server has written one yet).
///
/// # Errors
/// The store cannot be opened or read.
pub fn read(data_dir: &Path, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let path = store_path(data_dir);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let store = Store::open(&path, &SCHEMA, OpenMode::ReadOnly)?;
    let since = query.since.map_or(0, micros);
    let limit = query.limit.unwrap_or(usize::MAX);
    let mut records = match &query.token {
        Some(name) => {
            let prefix = TokenKey::prefix(name);
            let keys: Vec<RecordKey> = store
                .scan::<AuditByToken>(&prefix, None, Direction::Reverse)?
                .take_while(|row| row.as_ref().map_or(true, |(key, ())| key.record.0 >= since))
                .take(limit)
                .map(|row| row.map(|(key, ())| key.record))
                .collect::<Result<_, _>>()?;
            store.multi_get::<AuditRecords>(&keys)?.into_iter().flatten().map(|Json(record)| record).collect()
        }
        None => store
            .scan::<AuditRecords>(&[], None, Direction::Reverse)?
            .take_while(|row| row.as_ref().map_or(true, |(key, _)| key.0 >= since))
            .take(limit)
            .map(|row| row.map(|(_, Json(record))| record))
            .collect::<Result<Vec<_>, _>>()?,
    };
    records.reverse();
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_doc_lists_every_table() {
        assert_eq!(SCHEMA.undocumented_tables(include_str!("SCHEMA.md")), Vec::<&str>::new());
    }

    #[test]
    fn token_keys_round_trip_and_sort_by_name_then_time() {
        let key = TokenKey { name: "ops".into(), record: (1_700_000_000_000_000, 7) };
        assert_eq!(TokenKey::decode(&key.encode()), Ok(key.clone()));
        let later = TokenKey { record: (1_700_000_000_000_001, 0), ..key.clone() };
        assert!(key.encode() < later.encode());
        assert!(!TokenKey { name: "opsx".into(), ..key.clone() }.encode().starts_with(&TokenKey::prefix("ops")));
    }

    #[test]
    fn secrets_are_redacted() {
        let body = serde_json::json!({
            "seeds": ["btc:bc1qxyz"], "webhook": "http://127.0.0.1:9/hook", "webhook_secret": "hunter2",
            "nested": { "token": "x", "note": "cs_abcdefabcdef" }, "max_hops": 5,
        });
        let redacted = redact(body);
        assert_eq!(redacted["seeds"][0], "btc:bc1qxyz");
        assert_eq!(redacted["webhook"], "http://127.0.0.1:9/hook");
        assert_eq!(redacted["webhook_secret"], REDACTED);
        assert_eq!(redacted["nested"]["token"], REDACTED);
        assert_eq!(redacted["nested"]["note"], REDACTED);
        assert_eq!(redacted["max_hops"], 5);
        assert_eq!(form_fields("token=cs_a%2Bb&next=%2Fv1+x"), serde_json::json!({"token": "cs_a+b", "next": "/v1 x"}));
        assert_eq!(redact_query("limit=5&api_key=zz&cursor=cs_x"), "limit=5&api_key=[redacted]&cursor=[redacted]");
    }

    #[test]
    fn records_are_written_in_batches_and_read_back_by_token_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let record = |token: Option<&str>, status| AuditRecord {
            time: String::new(),
            token: token.map(str::to_owned),
            client: None,
            method: "GET".into(),
            path: "/v1/status".into(),
            route: Some("/v1/status".into()),
            query: None,
            params: None,
            status,
            latency_ms: 1.0,
        };
        log.append(10, record(Some("ops"), 200));
        log.append(20, record(None, 401));
        log.append(20, record(Some("ops"), 403));
        log.append(30, record(Some("analyst"), 200));
        log.flush();
        let all = read(dir.path(), &AuditQuery::default()).unwrap();
        assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 401, 403, 200]);
        let ops = AuditQuery { token: Some("ops".into()), ..AuditQuery::default() };
        assert_eq!(read(dir.path(), &ops).unwrap().iter().map(|r| r.status).collect::<Vec<_>>(), [200, 403]);
        let since = AuditQuery { since: Some(UNIX_EPOCH + Duration::from_micros(20)), ..AuditQuery::default() };
        assert_eq!(read(dir.path(), &since).unwrap().len(), 3);
        let newest = AuditQuery { limit: Some(1), ..ops };
        assert_eq!(read(dir.path(), &newest).unwrap()[0].status, 403);
        log.close();
        let reopened = AuditLog::open(dir.path()).unwrap();
        reopened.append(20, record(Some("ops"), 500));
        reopened.close();
        assert_eq!(read(dir.path(), &AuditQuery::default()).unwrap().len(), 5, "sequence numbers survive a restart");
    }
}
