//! Scheduled sources: the `[[tags.source]]` configuration, fetching over
//! HTTP(S) with conditional requests (ETag, Last-Modified), timeouts and
//! retries with backoff, and [`TagStore::sync_due`], which runs every due
//! source once. A failed fetch or import leaves the previous version active
//! and is recorded for `tags sources`.
//!
//! Fetching uses reqwest's blocking client: call these functions from a
//! plain thread (or `spawn_blocking`), not from inside an async task.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};

use crate::address::{parse_network, TagChain};
use crate::db::TagStore;
use crate::error::TagsError;
use crate::formats::{Defaults, Format, Mapping};
use crate::import::{now_secs, ImportOptions};
use crate::model::{ImportReport, RunStatus};
use crate::schedule::Schedule;
use crate::tables::{Json, Runs};
use crate::taxonomy::{Category, Confidence, OffRamps};

fn default_timeout() -> String {
    "30s".to_owned()
}

fn default_retries() -> u32 {
    3
}

fn default_backoff() -> String {
    "1s".to_owned()
}

/// One `[[tags.source]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The source's name (what `--source` would be).
    pub name: String,
    /// A local file to import.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// An http(s) URL to fetch.
    #[serde(default)]
    pub url: Option<String>,
    /// The file's format.
    pub format: Format,
    /// CSV column or JSON key of each field.
    #[serde(default)]
    pub mapping: Mapping,
    /// Category of records without one.
    #[serde(default)]
    pub category: Option<Category>,
    /// Entity of records without one.
    #[serde(default)]
    pub entity: Option<String>,
    /// Chain of records without one.
    #[serde(default)]
    pub chain: Option<TagChain>,
    /// Confidence of records without one (0-100 or a GraphSense level).
    #[serde(default)]
    pub confidence: Option<String>,
    /// `6h`, `30m`, `1d` or a five-field cron expression (UTC).
    pub every: String,
    /// Import valid rows and report invalid ones instead of failing.
    #[serde(default)]
    pub skip_invalid: bool,
    /// Per-request timeout (`30s`).
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Retries after a failed request (connection error, timeout, 5xx, 429).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    #[serde(default = "default_backoff")]
    pub retry_backoff: String,
    /// Extra request headers (e.g. an API key); never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("format", &self.format)
            .field("every", &self.every)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The `[tags]` section of the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsConfig {
    /// Scheduled sources (`[[tags.source]]`).
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// The categories that count as fiat off-ramps; the taxonomy's default
    /// set when absent.
    #[serde(default)]
    pub off_ramps: Option<Vec<Category>>,
    /// The Bitcoin network addresses are validated for (`bitcoin` by default).
    #[serde(default)]
    pub bitcoin_network: Option<String>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    tags: TagsConfig,
}

impl TagsConfig {
    /// Reads the `[tags]` section of a whole TOML configuration (other
    /// sections are ignored) and validates it.
    ///
    /// # Errors
    /// [`TagsError::Config`] naming the field.
    pub fn from_toml(text: &str) -> Result<TagsConfig, TagsError> {
        let file: ConfigFile = toml::from_str(text).map_err(|err| TagsError::config("tags", err.to_string()))?;
        file.tags.validate()?;
        Ok(file.tags)
    }

    /// Reads and validates the `[tags]` section of the TOML file at `path`.
    ///
    /// # Errors
    /// [`TagsError::Io`] or [`TagsError::Config`].
    pub fn load(path: &Path) -> Result<TagsConfig, TagsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TagsError::Io { path: path.to_owned(), source })?;
        Self::from_toml(&text)
    }

    /// Checks every source entry (names unique, exactly one of path and url,
    /// schedules and durations parse).
    ///
    /// # Errors
    /// [`TagsError::Config`] naming the source and field.
    pub fn validate(&self) -> Result<(), TagsError> {
        self.network()?;
        let mut names = std::collections::HashSet::new();
        for source in &self.sources {
            let field = |f: &str| format!("tags.source[{}].{f}", source.name);
            if !names.insert(source.name.as_str()) {
                return Err(TagsError::config(field("name"), "appears twice"));
            }
            match (&source.path, &source.url) {
                (Some(_), None) => {}
                (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {}
                (None, Some(_)) => return Err(TagsError::config(field("url"), "must be http:// or https://")),
                _ => return Err(TagsError::config(field("path"), "give exactly one of path and url")),
            }
            Schedule::parse(&source.every).map_err(|e| TagsError::config(field("every"), e.to_string()))?;
            for (name, value) in [("timeout", &source.timeout), ("retry_backoff", &source.retry_backoff)] {
                humantime::parse_duration(value).map_err(|e| TagsError::config(field(name), e.to_string()))?;
            }
            if let Some(confidence) = &source.confidence {
                confidence.parse::<Confidence>().map_err(|e| TagsError::config(field("confidence"), e.to_string()))?;
            }
        }
        Ok(())
    }

    /// The Bitcoin network of the configuration.
    ///
    /// # Errors
    /// [`TagsError::Config`] for an unknown name.
    pub fn network(&self) -> Result<bitcoin::Network, TagsError> {
        match &self.bitcoin_network {
            Some(name) => parse_network(name).map_err(|e| TagsError::config("tags.bitcoin_network", e)),
            None => Ok(bitcoin::Network::Bitcoin),
        }
    }

    /// The configured off-ramp categories.
    pub fn off_ramps(&self) -> OffRamps {
        self.off_ramps.clone().map_or_else(OffRamps::default, OffRamps::new)
    }
}

impl SourceConfig {
    /// The import options this entry implies.
    ///
    /// # Errors
    /// [`TagsError::Config`] for a bad confidence.
    pub fn import_options(&self) -> Result<ImportOptions, TagsError> {
        let confidence = self.confidence.as_deref().map(str::parse::<Confidence>).transpose();
        let confidence = confidence
            .map_err(|e| TagsError::config(format!("tags.source[{}].confidence", self.name), e.to_string()))?;
        Ok(ImportOptions {
            skip_invalid: self.skip_invalid,
            mapping: self.mapping.clone(),
            defaults: Defaults {
                category: self.category,
                entity: self.entity.clone(),
                chain: self.chain.clone(),
                confidence,
            },
            ..ImportOptions::default()
        })
    }
}

/// A URL as it may appear in logs and errors: user and password replaced by
/// `***`, the query (which may hold an API key) by `redacted`.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else { return "<unparseable url>".to_owned() };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Both calls only fail for URLs that cannot have credentials, which
        // these do since they had some.
        let _ = parsed.set_username("***");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        parsed.set_query(Some("redacted"));
    }
    parsed.to_string()
}

/// What fetching a URL gave.
enum Fetched {
    /// 304: the server has nothing newer than our last import.
    NotModified,
    /// A new body, saved to a temporary file.
    Body { file: tempfile::NamedTempFile, etag: Option<String>, last_modified: Option<String> },
}

fn fetch(source: &SourceConfig, url: &str, status: &RunStatus) -> Result<Fetched, TagsError> {
    let shown = redact_url(url);
    let fail = |reason: String| TagsError::Fetch { url: shown.clone(), reason };
    let duration = |text: &str| humantime::parse_duration(text).map_err(|e| fail(e.to_string()));
    let timeout = duration(&source.timeout)?;
    let backoff = duration(&source.retry_backoff)?;
    let mut headers = HeaderMap::new();
    for (name, value) in &source.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| fail(format!("bad header name {name:?}")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| fail(format!("bad value for header {name}")))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    if let Some(etag) = status.etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(IF_NONE_MATCH, etag);
    }
    if let Some(modified) = status.last_modified.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(IF_MODIFIED_SINCE, modified);
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| fail(e.without_url().to_string()))?;
    let mut last_error = String::new();
    for attempt in 0..=source.retries {
        if attempt > 0 {
            let wait = backoff.saturating_mul(1 << (attempt - 1).min(10));
            tracing::warn!(source = %source.name, url = %shown, attempt, error = %last_error, "retrying fetch");
            std::thread::sleep(wait.min(Duration::from_secs(300)));
        }
        match client.get(url).headers(headers.clone()).send() {
            Err(err) => last_error = err.without_url().to_string(),
            Ok(response) if response.status() == reqwest::StatusCode::NOT_MODIFIED => return Ok(Fetched::NotModified),
            Ok(response) if response.status().is_success() => {
                let header =
                    |name| response.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
                let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
                match save_body(response) {
                    Ok(file) => return Ok(Fetched::Body { file, etag, last_modified }),
                    Err(err) => last_error = err,
                }
            }
            Ok(response) => {
                let status = response.status();
                last_error = format!("HTTP {status}");
                if !(status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS) {
                    break;
                }
            }
        }
    }
    Err(fail(last_error))
}

fn save_body(mut response: reqwest::blocking::Response) -> Result<tempfile::NamedTempFile, String> {
    let mut file = tempfile::NamedTempFile::new().map_err(|e| format!("creating a temporary file: {e}"))?;
    response.copy_to(&mut file).map_err(|e| format!("reading the body: {}", e.without_url()))?;
    file.flush().map_err(|e| format!("writing the body: {e}"))?;
    Ok(file)
}

/// What one source's sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SyncOutcome {
    /// Not due yet.
    NotDue,
    /// The server answered 304 Not Modified.
    NotModified,
    /// Fetched or read, and imported (or found identical: `changed` false).
    Imported(Box<ImportReport>),
    /// The fetch or import failed; the previous version stays active.
    Failed {
        /// The error, with its causes.
        error: String,
    },
}

/// The sync of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The source's name.
    pub source: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: SyncOutcome,
}

/// An error and its causes on one line, `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl TagStore {
    /// The recorded fetch and error status of source `name`.
    ///
    /// # Errors
    /// Store errors.
    pub fn run_status(&self, name: &str) -> Result<Option<RunStatus>, TagsError> {
        Ok(self.store.get::<Runs>(&name.to_owned())?.map(|Json(status)| status))
    }

    fn record_run(&self, name: &str, status: &RunStatus) -> Result<(), TagsError> {
        let mut batch = self.store.batch();
        batch.put::<Runs>(&name.to_owned(), &Json(status.clone()))?;
        self.store.write(batch)?;
        Ok(())
    }

    /// Runs every source of `config` that is due at `now` (Unix seconds),
    /// or every source when `force`, once each, in config order.
    ///
    /// # Errors
    /// Only store errors while recording status; a source's own failure is
    /// its report's [`SyncOutcome::Failed`].
    pub fn sync_due(&self, config: &TagsConfig, now: u64, force: bool) -> Result<Vec<SyncReport>, TagsError> {
        let mut reports = Vec::new();
        for source in &config.sources {
            let status = self.run_status(&source.name)?.unwrap_or_default();
            let due = match Schedule::parse(&source.every) {
                Ok(schedule) => force || schedule.is_due(status.last_attempt, now),
                Err(_) => true,
            };
            if !due {
                reports.push(SyncReport { source: source.name.clone(), outcome: SyncOutcome::NotDue });
                continue;
            }
            reports.push(self.run_source(source, status, now)?);
        }
        Ok(reports)
    }

    /// Runs the configured source called `name` once now, due or not, and
    /// records the attempt as a scheduled run would.
    ///
    /// # Errors
    /// [`TagsError::UnknownSource`] when `config` has no such source; store
    /// errors while recording status. The source's own failure is its
    /// report's [`SyncOutcome::Failed`].
    pub fn sync_source(&self, config: &TagsConfig, name: &str, now: u64) -> Result<SyncReport, TagsError> {
        let source = config
            .sources
            .iter()
            .find(|source| source.name == name)
            .ok_or_else(|| TagsError::UnknownSource(name.to_owned()))?;
        let status = self.run_status(&source.name)?.unwrap_or_default();
        self.run_source(source, status, now)
    }

    /// Fetches or reads `source` and imports it, then records the attempt
    /// (success or failure) on top of its previous `status`.
    fn run_source(&self, source: &SourceConfig, mut status: RunStatus, now: u64) -> Result<SyncReport, TagsError> {
        let outcome = match self.sync_one(source, &status) {
            Ok((outcome, etag, last_modified)) => {
                status.last_success = Some(now);
                status.last_error = None;
                status.consecutive_failures = 0;
                if let SyncOutcome::Imported(_) = outcome {
                    status.etag = etag;
                    status.last_modified = last_modified;
                }
                outcome
            }
            Err(err) => {
                let error = error_chain(&err);
                tracing::warn!(source = %source.name, %error, "tag source sync failed; previous version stays active");
                status.last_error = Some(error.clone());
                status.consecutive_failures += 1;
                SyncOutcome::Failed { error }
            }
        };
        status.last_attempt = Some(now);
        self.record_run(&source.name, &status)?;
        Ok(SyncReport { source: source.name.clone(), outcome })
    }

    /// Runs every due source once, now.
    ///
    /// # Errors
    /// As [`TagStore::sync_due`].
    pub fn sync_due_sources(&self, config: &TagsConfig) -> Result<Vec<SyncReport>, TagsError> {
        self.sync_due(config, now_secs(), false)
    }

    #[allow(clippy::type_complexity)]
    fn sync_one(
        &self,
        source: &SourceConfig,
        status: &RunStatus,
    ) -> Result<(SyncOutcome, Option<String>, Option<String>), TagsError> {
        let mut options = source.import_options()?;
        match (&source.path, &source.url) {
            (Some(path), _) => {
                let report = self.import(path, source.format, &source.name, &options)?;
                Ok((SyncOutcome::Imported(Box::new(report)), None, None))
            }
            (None, Some(url)) => match fetch(source, url, status)? {
                Fetched::NotModified => Ok((SyncOutcome::NotModified, None, None)),
                Fetched::Body { file, etag, last_modified } => {
                    options.file_label = Some(redact_url(url));
                    let report = self.import(file.path(), source.format, &source.name, &options)?;
                    Ok((SyncOutcome::Imported(Box::new(report)), etag, last_modified))
                }
            },
            (None, None) => Err(TagsError::config(format!("tags.source[{}].path", source.name), "give path or url")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        let shown = redact_url("https://user:secret@example.org/list.csv?apikey=k");
        assert!(!shown.contains("secret") && !shown.contains("apikey") && !shown.contains("user"), "{shown}");
        assert_eq!(redact_url("http://127.0.0.1:8080/a.txt"), "http://127.0.0.1:8080/a.txt");
    }

    #[test]
    fn config_validates_sources() {
        let ok = r#"
            [index]
            other = 1
            [tags]
            off_ramps = ["exchange_licensed", "otc_desk"]
            [[tags.source]]
            name = "ofac-eth"
            url = "https://example.org/data.csv"
            format = "csv"
            mapping = { entity = "name" }
            category = "sanctioned"
            every = "6h"
        "#;
        let config = TagsConfig::from_toml(ok).unwrap();
        assert_eq!(config.sources[0].mapping.column(crate::formats::Field::Entity), "name");
        assert!(config.off_ramps().contains(Category::OtcDesk));
        assert!(!config.off_ramps().contains(Category::CashOutNetwork));
        let both = ok.replace("format = \"csv\"", "format = \"csv\"\npath = \"/x\"");
        assert!(TagsConfig::from_toml(&both).unwrap_err().to_string().contains("exactly one"));
        let bad_every = ok.replace("\"6h\"", "\"often\"");
        assert!(TagsConfig::from_toml(&bad_every).unwrap_err().to_string().contains("every"));
        let secret = ok.replace("https://", "https://me:hunter2@");
        let config = TagsConfig::from_toml(&secret).unwrap();
        assert!(!format!("{:?}", config.sources[0]).contains("hunter2"));
    }
}
