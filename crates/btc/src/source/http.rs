//! What the REST and JSON-RPC sources share: the HTTP client with its
//! timeouts, the bound on parallel requests, URLs shown without
//! credentials, and the mapping of transport faults to errors.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode, Url};
use tokio::sync::Semaphore;

use super::error::BtcSourceError;
use crate::BtcBlock;

/// Timeouts and parallelism of an HTTP block source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// How long one request may take, the body included.
    pub request_timeout: Duration,
    /// Requests in flight at once.
    pub max_parallel: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            max_parallel: 8,
        }
    }
}

/// A status and body read in full.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// An HTTP client bound to one node.
#[derive(Debug)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    permits: Semaphore,
    /// The base URL, always ending in `/`.
    base: Url,
}

impl HttpClient {
    /// Builds the client for `url`, which must be http(s) and carry no credentials.
    pub(crate) fn new(url: &str, options: &HttpOptions) -> Result<HttpClient, BtcSourceError> {
        let mut base = Url::parse(url).map_err(|err| BtcSourceError::Config(format!("bad node URL: {err}")))?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(BtcSourceError::Config(
                "the node URL carries credentials: give them as a cookie file or user and password instead".into(),
            ));
        }
        if !matches!(base.scheme(), "http" | "https") {
            return Err(BtcSourceError::Config(format!("URL {url:?} is not http or https")));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(BtcSourceError::Config(format!("URL {url:?} has a query or fragment")));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .map_err(|err| BtcSourceError::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(HttpClient { client, permits: Semaphore::new(options.max_parallel.max(1)), base })
    }

    /// The base URL (shown in messages; it never holds credentials).
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// `path` relative to the base URL.
    pub(crate) fn url(&self, path: &str) -> Result<Url, BtcSourceError> {
        self.base.join(path).map_err(|err| BtcSourceError::Config(format!("bad path {path:?}: {err}")))
    }

    /// The underlying client, to build requests.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` to `url` within the parallelism bound and reads the whole body.
    pub(crate) async fn send(&self, url: &Url, request: RequestBuilder) -> Result<Reply, BtcSourceError> {
        let _permit = self.permits.acquire().await.map_err(|_| BtcSourceError::Cancelled)?;
        let response = request.send().await.map_err(|err| transport_error(url, err))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| transport_error(url, err))?;
        Ok(Reply { status, body: body.to_vec() })
    }
}

/// A transport fault as an error naming the URL.
fn transport_error(url: &Url, err: reqwest::Error) -> BtcSourceError {
    let url = url.to_string();
    if err.is_timeout() {
        BtcSourceError::Timeout { url }
    } else if err.is_connect() {
        BtcSourceError::Connect { url, source: err }
    } else {
        BtcSourceError::Transport { url, source: err }
    }
}

/// The start of a body as one line of printable text, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 160;
    let text: String =
        String::from_utf8_lossy(body).chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX + 1).collect();
    let text = text.trim();
    if text.chars().count() > MAX {
        format!("{}...", text.chars().take(MAX).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// An HTTP error status as an error, with the start of the body or `hint` as detail.
pub(crate) fn status_error(url: &Url, status: StatusCode, body: &[u8], hint: Option<&str>) -> BtcSourceError {
    let text = snippet(body);
    let detail = match (text.is_empty(), hint) {
        (true, None) => String::new(),
        (true, Some(hint)) => format!(": {hint}"),
        (false, None) => format!(": {text}"),
        (false, Some(hint)) => format!(": {text} ({hint})"),
    };
    BtcSourceError::Http { url: url.to_string(), status, detail }
}

/// Decodes the block `url` served for `height` and checks that it is the
/// block `expected` that was asked for.
///
/// # Errors
/// [`BtcSourceError::Decode`] or [`BtcSourceError::WrongBlock`], naming `url`.
pub(crate) fn decode_expected(
    url: &str,
    height: chainsleuth_core::Height,
    expected: bitcoin::BlockHash,
    bytes: &[u8],
) -> Result<BtcBlock, BtcSourceError> {
    let block =
        BtcBlock::decode(height, bytes).map_err(|source| BtcSourceError::Decode { url: url.to_owned(), source })?;
    let found = block.block.block_hash();
    if found != expected {
        return Err(BtcSourceError::WrongBlock { url: url.to_owned(), expected, found });
    }
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_credentials_refused() {
        let client = HttpClient::new("http://127.0.0.1:8332", &HttpOptions::default()).ok();
        assert_eq!(client.map(|c| c.base().to_string()), Some("http://127.0.0.1:8332/".to_owned()));
        let nested = HttpClient::new("http://h:1/node", &HttpOptions::default()).ok();
        assert_eq!(
            nested.and_then(|c| c.url("rest/chaininfo.json").ok()).map(|u| u.to_string()),
            Some("http://h:1/node/rest/chaininfo.json".to_owned())
        );
        let err = HttpClient::new("http://alice:secret@127.0.0.1:8332/", &HttpOptions::default()).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("credentials") && !text.contains("secret"), "{text}");
    }

    #[test]
    fn snippets_are_short_and_printable() {
        assert_eq!(snippet(b"Block height out of range\r\n"), "Block height out of range");
        assert_eq!(snippet(&[b'a'; 500]).len(), 163);
    }
}
