//! `chainsleuth audit`: the server's audit log (who asked what, when, and
//! what they were answered), read beside a running server.

use std::io::Write as _;
use std::time::SystemTime;

use anyhow::Context as _;
use chainsleuth_api::audit::{self, AuditQuery};
use clap::Args;

use crate::tags_cmd::print_json;

/// Arguments of `chainsleuth audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only the requests of the token with this name.
    #[arg(long, value_name = "NAME")]
    pub token: Option<String>,
    /// Only requests since a time (RFC 3339, `2026-12-01T10:00:00Z`) or for
    /// a past duration (`90m`, `2d`).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<SystemTime>,
    /// Only the newest N requests.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A time in RFC 3339, or a duration back from now.
fn parse_since(text: &str) -> Result<SystemTime, String> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    let back = crate::config::parse_duration(text)
        .map_err(|_| format!("{text:?} is neither a time like 2026-12-01T10:00:00Z nor a duration like 90m"))?;
    SystemTime::now().checked_sub(back).ok_or_else(|| format!("{text:?} reaches back before 1970"))
}

/// Runs `chainsleuth audit` on `data_dir`.
pub fn run(data_dir: &std::path::Path, args: AuditArgs) -> anyhow::Result<()> {
    let query = AuditQuery { token: args.token, since: args.since, limit: args.limit };
    let records = audit::read(data_dir, &query)
        .with_context(|| format!("reading the audit log at {}", audit::store_path(data_dir).display()))?;
    if args.json {
        return print_json(&records);
    }
    let mut out = std::io::stdout().lock();
    if records.is_empty() {
        writeln!(out, "no audited requests")?;
        return Ok(());
    }
    for r in &records {
        let target = match &r.query {
            Some(query) => format!("{}?{query}", r.path),
            None => r.path.clone(),
        };
        let params = r.params.as_ref().map_or(String::new(), |p| format!("  {p}"));
        writeln!(
            out,
            "{}  {:<12}  {:>3}  {:>8.1} ms  {:<6} {target}{params}",
            r.time,
            r.token.as_deref().unwrap_or("-"),
            r.status,
            r.latency_ms,
            r.method
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_durations() {
        let t = parse_since("2026-12-01T10:00:00Z").unwrap();
        assert_eq!(humantime::format_rfc3339_seconds(t).to_string(), "2026-12-01T10:00:00Z");
        let hour_ago = parse_since("1h").unwrap();
        let elapsed = hour_ago.elapsed().unwrap().as_secs();
        assert!((3599..3700).contains(&elapsed), "{elapsed}");
        assert!(parse_since("yesterday").unwrap_err().contains("yesterday"));
    }
}
