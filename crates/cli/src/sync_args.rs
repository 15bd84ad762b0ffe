//! The flags of the sync loop that every `index` command shares, and how
//! they (over the config file's values, over the defaults) become
//! `SyncOptions`.

use std::time::Duration;

use chainsleuth_core::Height;
use chainsleuth_sync::{RetryPolicy, SyncOptions};
use clap::Args;

use crate::config::parse_duration;

/// Sync flags of `index btc` and `index eth`.
#[derive(Debug, Clone, Default, Args)]
pub struct SyncArgs {
    /// Keep following the tip until SIGTERM or Ctrl-C.
    #[arg(long, help_heading = "Sync")]
    pub follow: bool,
    /// With --follow, how often to poll for new blocks [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Sync")]
    pub poll_interval: Option<Duration>,
    /// Keep undo records for the last N blocks (deepest reorg) [default: 300].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub undo_depth: Option<u64>,
    /// Fetch up to N blocks in parallel [default: 8].
    #[arg(long, value_name = "N", help_heading = "Sync")]
    pub fetch_concurrency: Option<usize>,
    /// Stop after indexing block HEIGHT.
    #[arg(long, value_name = "HEIGHT", help_heading = "Sync")]
    pub stop_at: Option<u64>,
    /// Bulk sync: make the index durable every MB of blocks [default: 256].
    #[arg(long, value_name = "MB", help_heading = "Sync")]
    pub bulk_checkpoint_mb: Option<u64>,
}

impl SyncArgs {
    /// Fills the flags not given from a config file section's values.
    pub fn or_config(mut self, poll_interval: Option<Duration>, undo_depth: Option<u64>, fetch: Option<usize>) -> Self {
        self.poll_interval = self.poll_interval.or(poll_interval);
        self.undo_depth = self.undo_depth.or(undo_depth);
        self.fetch_concurrency = self.fetch_concurrency.or(fetch);
        self
    }

    /// The sync loop's options: these flags over the defaults. A follower
    /// retries a node that is away for a while without giving up.
    pub fn options(&self) -> SyncOptions {
        let defaults = SyncOptions::default();
        SyncOptions {
            follow: self.follow,
            poll_interval: self.poll_interval.unwrap_or(defaults.poll_interval),
            fetch_concurrency: self.fetch_concurrency.unwrap_or(defaults.fetch_concurrency).max(1),
            undo_depth: self.undo_depth.unwrap_or(defaults.undo_depth),
            stop_at: self.stop_at.map(Height::new),
            bulk_checkpoint_bytes: self.bulk_checkpoint_mb.map_or(defaults.bulk_checkpoint_bytes, |mb| mb.max(1) << 20),
            retry: if self.follow { RetryPolicy { attempts: None, ..defaults.retry } } else { defaults.retry },
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        sync: SyncArgs,
    }

    #[test]
    fn flags_override_the_config_which_overrides_the_defaults() {
        let parsed = Cmd::try_parse_from(["x", "--follow", "--undo-depth", "64", "--bulk-checkpoint-mb", "0"]).unwrap();
        let opts = parsed.sync.or_config(Some(Duration::from_secs(3)), Some(7), None).options();
        assert!(opts.follow && opts.retry.attempts.is_none());
        assert_eq!(opts.undo_depth, 64);
        assert_eq!(opts.poll_interval, Duration::from_secs(3));
        assert_eq!(opts.fetch_concurrency, SyncOptions::default().fetch_concurrency);
        assert_eq!(opts.bulk_checkpoint_bytes, 1 << 20);
        let plain = Cmd::try_parse_from(["x"]).unwrap().sync.options();
        assert!(plain.retry.attempts.is_some() && plain.stop_at.is_none());
        assert!(Cmd::try_parse_from(["x", "--poll-interval", "soon"]).is_err());
    }
}
