//! Progress of a sync run: a bar with blocks/s, tx/s and ETA when stderr is
//! a terminal, a `tracing` line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chainsleuth_sync::SyncProgress;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;

/// How often a log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Shows `progress` for `chain` until its sender is dropped.
pub async fn report(chain: &'static str, mut progress: watch::Receiver<SyncProgress>) {
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} blocks  {msg}  ETA {eta}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(chain);
        bar
    });
    let mut last_log = Instant::now();
    while progress.changed().await.is_ok() {
        let state = progress.borrow_and_update().clone();
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        let height = state.indexed.map_or(0, |t| t.height.get());
        let tip = state.source_tip.map_or(height, |t| t.get());
        let rates = format!(
            "{:.0} blocks/s, {:.0} tx/s, {:.1} MB/s",
            state.blocks as f64 / elapsed,
            state.txs as f64 / elapsed,
            state.bytes as f64 / elapsed / 1e6
        );
        match &bar {
            Some(bar) => {
                bar.set_length(tip);
                bar.set_position(height);
                bar.set_message(rates);
            }
            None if last_log.elapsed() >= LOG_EVERY => {
                last_log = Instant::now();
                tracing::info!(chain, height, tip, blocks = state.blocks, txs = state.txs, "indexing: {rates}");
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
