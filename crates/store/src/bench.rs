//! Measuring helpers shared by the benchmarks (the `*_bench` examples): a store's size on disk, the process's
//! memory, and the rows `scripts/bench.sh` gathers into one table.

use std::io::Write;
use std::path::Path;

/// Bytes of all files under `path` (0 for a path that cannot be read).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A memory figure of this process from `/proc/self/status` (Linux), in bytes: `"VmRSS"` (resident now) or
/// `"VmHWM"` (peak resident); 0 where there is none.
pub fn process_memory(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Appends one row (figure, value, baseline, ratio, aim; an empty field becomes "—") to the file `BENCH_ROWS`
/// names, when it is set: the format `scripts/bench.sh` describes. A failure to append is reported on stderr.
pub fn bench_row(fields: [&str; 5]) {
    let Some(path) = std::env::var_os("BENCH_ROWS") else { return };
    let line = fields.iter().map(|f| if f.is_empty() { "—" } else { f }).collect::<Vec<_>>().join("\t");
    let appended =
        std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut file| writeln!(file, "{line}"));
    if let Err(e) = appended {
        eprintln!("cannot append a benchmark row to {}: {e}", Path::new(&path).display());
    }
}

/// CPU seconds (user and system) this process has used so far, from `/proc/self/stat` (Linux, clock ticks of
/// 1/100 s); `None` elsewhere. On a shared machine, work per CPU second is steadier than work per second.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
