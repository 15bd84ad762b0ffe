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

/// What RocksDB wrote for one table: its flushes (memtables to level-0 files) and its compactions (files merged
/// into new ones). Their sum over the table's final size is its write amplification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub table: String,
    pub flushed: u64,
    pub compacted: u64,
}

/// The bytes each table's flushes and compactions wrote, from the events RocksDB logs in the store's `LOG` (one
/// JSON object per `EVENT_LOG_v1` line: a `flush_started` or `compaction_started` event names a job, and each
/// `table_file_creation` event gives a file's job, table and size). Empty when the log cannot be read. Only the
/// current log counts: read it before the store is opened again.
pub fn written_by_table(store: &Path) -> Vec<Written> {
    let log = std::fs::read_to_string(store.join("LOG")).unwrap_or_default();
    let events = log.lines().filter_map(|line| line.split_once("EVENT_LOG_v1 ").map(|(_, json)| json));
    let mut flush_jobs = std::collections::HashSet::new();
    let mut files: Vec<(u64, &str, u64)> = Vec::new();
    for event in events {
        let job = || json_field(event, "job").and_then(|job| job.parse::<u64>().ok());
        match json_field(event, "event") {
            Some("\"flush_started\"") => flush_jobs.extend(job()),
            Some("\"table_file_creation\"") => {
                let table = json_field(event, "cf_name").map(|name| name.trim_matches('"'));
                let size = json_field(event, "file_size").and_then(|size| size.parse::<u64>().ok());
                if let (Some(job), Some(table), Some(size)) = (job(), table, size) {
                    files.push((job, table, size));
                }
            }
            _ => {}
        }
    }
    let mut written: Vec<Written> = Vec::new();
    for (job, table, size) in files {
        let at = match written.iter().position(|w| w.table == table) {
            Some(at) => at,
            None => {
                written.push(Written { table: table.to_owned(), ..Written::default() });
                written.len() - 1
            }
        };
        if flush_jobs.contains(&job) {
            written[at].flushed += size;
        } else {
            written[at].compacted += size;
        }
    }
    written
}

/// The raw value of the top-level field `name` of a one-line JSON object whose values are numbers or strings
/// without commas (as RocksDB's events are, up to their nested `table_properties`): `"x"` for a string.
fn json_field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{name}\": "))? + name.len() + 4;
    let rest = &json[start..];
    Some(rest[..rest.find([',', '}'])?].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_by_table_sums_flushes_and_compactions_per_table() {
        let dir = tempfile::tempdir().unwrap();
        let log = [
            r#"2026/12/02-05:42:16.090630 1 EVENT_LOG_v1 {"time_micros": 1, "job": 2, "event": "flush_started", "num_memtables": 1}"#,
            r#"2026/12/02-05:42:16.097343 1 EVENT_LOG_v1 {"time_micros": 2, "cf_name": "a", "job": 2, "event": "table_file_creation", "file_number": 10, "file_size": 2051, "table_properties": {"data_size": 628}}"#,
            r#"2026/12/02-05:42:16.097343 1 EVENT_LOG_v1 {"time_micros": 3, "cf_name": "b", "job": 2, "event": "table_file_creation", "file_number": 11, "file_size": 100, "table_properties": {"data_size": 1}}"#,
            r#"2026/12/02-05:42:17.000000 1 [db/compaction/compaction_job.cc:1] [a] [JOB 3] Compacting 4@0 files to L6"#,
            r#"2026/12/02-05:42:17.000001 1 EVENT_LOG_v1 {"time_micros": 4, "job": 3, "event": "compaction_started", "cf_name": "a"}"#,
            r#"2026/12/02-05:42:17.000002 1 EVENT_LOG_v1 {"time_micros": 5, "cf_name": "a", "job": 3, "event": "table_file_creation", "file_number": 12, "file_size": 5000, "table_properties": {}}"#,
            r#"2026/12/02-05:42:18.000000 1 EVENT_LOG_v1 {"time_micros": 6, "cf_name": "a", "job": 2, "event": "table_file_creation", "file_number": 13, "file_size": 49, "table_properties": {}}"#,
        ];
        std::fs::write(dir.path().join("LOG"), log.join("\n")).unwrap();
        assert_eq!(
            written_by_table(dir.path()),
            vec![
                Written { table: "a".into(), flushed: 2100, compacted: 5000 },
                Written { table: "b".into(), flushed: 100, compacted: 0 },
            ]
        );
        assert!(written_by_table(&dir.path().join("absent")).is_empty());
    }
}
