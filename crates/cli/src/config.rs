//! The TOML configuration file: typed sections parsed with serde and
//! checked at start, so that a typo fails with the file and key named.
//! Command-line flags override what the file says.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::btc_cmd::BtcConfig;
use crate::eth_cmd::EthConfig;
use crate::logging::LogFormat;

/// The whole configuration file. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the stores live (`--data-dir` overrides).
    pub data_dir: Option<PathBuf>,
    /// Log format (`--log-format` overrides).
    pub log_format: Option<LogFormat>,
    /// The Bitcoin indexer.
    #[serde(default)]
    pub btc: BtcConfig,
    /// The Ethereum indexer.
    #[serde(default)]
    pub eth: EthConfig,
    /// Tag sources and their schedules.
    #[serde(default)]
    pub tags: toml::Table,
    /// The tracer.
    #[serde(default)]
    pub trace: crate::trace_cmd::TraceConfig,
    /// The HTTP API (`chainsleuth serve`).
    #[serde(default)]
    pub serve: crate::serve_cmd::ServeConfig,
}

impl Config {
    /// Reads and checks the file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML, or has an unknown or mistyped
    /// key (the message names the key and line).
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        let config: Config = toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))?;
        chainsleuth_tags::TagsConfig::from_toml(&text).with_context(|| format!("in config file {}", path.display()))?;
        Ok(config)
    }
}

impl Config {
    /// The `[tags]` section as the tags crate reads it (empty when absent).
    ///
    /// # Errors
    /// A source or setting of the section that does not check out.
    pub fn tags_config(&self) -> anyhow::Result<chainsleuth_tags::TagsConfig> {
        tags_section(&self.tags)
    }
}

/// A `[tags]` table as the tags crate reads it.
///
/// # Errors
/// A source or setting of the section that does not check out.
pub fn tags_section(table: &toml::Table) -> anyhow::Result<chainsleuth_tags::TagsConfig> {
    let mut wrapper = toml::Table::new();
    wrapper.insert("tags".to_owned(), toml::Value::Table(table.clone()));
    chainsleuth_tags::TagsConfig::from_toml(&wrapper.to_string()).context("the [tags] section of the config")
}

/// Parses a duration such as `10s`, `500ms` or `6h` (for clap and serde).
///
/// # Errors
/// A message naming the text that is not a duration.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|err| format!("{text:?} is not a duration like 10s, 500ms or 6h: {err}"))
}

/// Deserializes a humantime duration string.
pub fn de_duration<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<std::time::Duration>, D::Error> {
    let text = Option::<String>::deserialize(de)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(&path).unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected example configs in {}", dir.display());
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<Config>("[btc]\nnetwork = \"regtest\"\npol_interval = \"5s\"\n").unwrap_err();
        assert!(err.to_string().contains("pol_interval"), "{err}");
    }

    #[test]
    fn serve_limits_are_typed_and_secrets_have_no_place() {
        let config: Config = toml::from_str(
            "[serve]\nlisten = \"127.0.0.1:9000\"\nrate_limit = 5.5\nrequest_timeout = \"10s\"\ncors_origins = [\"https://a.example\"]\n",
        )
        .unwrap();
        assert_eq!(config.serve.listen, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(config.serve.rate_limit, Some(5.5));
        assert_eq!(config.serve.request_timeout, Some(std::time::Duration::from_secs(10)));
        assert_eq!(config.serve.cors_origins, ["https://a.example"]);
        let err = toml::from_str::<Config>("[serve]\ntokens = [{ role = \"read\", secret = \"0123456789abcdef\" }]\n")
            .unwrap_err();
        assert!(err.to_string().contains("tokens"), "{err}");
        assert!(toml::from_str::<Config>("[serve]\nport = 1\n").unwrap_err().to_string().contains("port"));
    }

    #[test]
    fn durations_parse_or_explain() {
        assert_eq!(parse_duration("1500ms"), Ok(std::time::Duration::from_millis(1500)));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
    }
}
