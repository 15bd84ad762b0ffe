//! `chainsleuth tags ...` and `chainsleuth entity NAME`: a thin shell over
//! `chainsleuth_tags` that parses flags, opens the tag store at
//! `<data-dir>/tags` and prints text or JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use chainsleuth_tags::{
    Category, Confidence, Defaults, Format, ImportOptions, ImportReport, Mapping, OffRamps, SyncOutcome, TagChain,
    TagStore, TagView, TagsConfig,
};

/// Commands on tag lists.
#[derive(Debug, clap::Subcommand)]
pub enum TagsCommand {
    /// Import a tag file as the next version of a source (all or nothing).
    Import(ImportArgs),
    /// Show an address's current tags with their provenance.
    Show(AddressArgs),
    /// Show every tag an address ever had, retired ones included.
    History(AddressArgs),
    /// List sources: versions, last import, counts, fetch errors.
    Sources(OutputArgs),
    /// Show what changed in a source between two versions.
    Diff(DiffArgs),
    /// Run every due [[tags.source]] of the config once (for system cron).
    Sync(SyncArgs),
}

/// Arguments of `tags import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to import.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Format: csv, jsonl, tagpack, actorpack, ofac-sdn or list.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format, help_heading = "Source")]
    pub format: Format,
    /// Source name; each import of it is a new version.
    #[arg(long, value_name = "NAME", help_heading = "Source")]
    pub source: String,
    /// Import the valid rows and report the invalid ones instead of failing.
    #[arg(long, help_heading = "Source")]
    pub skip_invalid: bool,
    /// Columns (CSV) or keys (JSONL) of fields: field=column,field=column.
    #[arg(long, value_name = "MAP", value_parser = parse_mapping, help_heading = "Source")]
    pub mapping: Option<Mapping>,
    /// Category of records without one (required for lists); see TAXONOMY.md.
    #[arg(long, value_name = "CATEGORY", help_heading = "Defaults")]
    pub category: Option<Category>,
    /// Entity of records without one.
    #[arg(long, value_name = "NAME", help_heading = "Defaults")]
    pub entity: Option<String>,
    /// Chain of records without one (btc, eth, ltc...); else detected.
    #[arg(long, value_name = "CHAIN", help_heading = "Defaults")]
    pub chain: Option<TagChain>,
    /// Confidence of records without one: 0-100 or a GraphSense level.
    #[arg(long, value_name = "LEVEL", help_heading = "Defaults")]
    pub confidence: Option<Confidence>,
    /// Bitcoin network of addresses [default: the index's, else bitcoin].
    #[arg(long, value_name = "NETWORK", value_parser = parse_network, help_heading = "Source")]
    pub btc_network: Option<bitcoin::Network>,
    /// Longest line accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = chainsleuth_tags::DEFAULT_MAX_LINE, help_heading = "Source")]
    pub max_line_bytes: usize,
    /// Print the report as JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Arguments naming one address.
#[derive(Debug, clap::Args)]
pub struct AddressArgs {
    /// Chain: btc, eth, or the ticker of another chain (ltc, xmr, trx).
    #[arg(value_name = "CHAIN")]
    pub chain: TagChain,
    /// The address.
    #[arg(value_name = "ADDR")]
    pub address: String,
    /// Bitcoin network of the address [default: the index's, else bitcoin].
    #[arg(long, value_name = "NETWORK", value_parser = parse_network)]
    pub btc_network: Option<bitcoin::Network>,
    /// Print JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Output choice of listing commands.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Print JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Arguments of `tags diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The source.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The older version.
    #[arg(value_name = "V1")]
    pub from: u32,
    /// The newer version.
    #[arg(value_name = "V2")]
    pub to: u32,
    /// Print JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Arguments of `tags sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// TOML file with the [[tags.source]] entries (else the --config file).
    #[arg(long, value_name = "FILE")]
    pub sources: Option<PathBuf>,
    /// Run every source now, due or not.
    #[arg(long)]
    pub force: bool,
    /// Print the reports as JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Arguments of `entity NAME`.
#[derive(Debug, clap::Args)]
pub struct EntityArgs {
    /// Entity id, name or alias (case and spacing ignored).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print JSON.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse().map_err(|e: chainsleuth_tags::TagsError| e.to_string())
}

fn parse_mapping(text: &str) -> Result<Mapping, String> {
    Mapping::parse(text).map_err(|e| e.to_string())
}

fn parse_network(text: &str) -> Result<bitcoin::Network, String> {
    chainsleuth_tags::address::parse_network(text)
}

/// Runs a `tags` command against the tag store under `data_dir`; `tags
/// sync` reads its sources from `--sources FILE`, else from `config_tags`
/// (the `[tags]` table of the `--config` file).
///
/// # Errors
/// Whatever failed, with the file, line or source in the message.
pub fn run_tags(data_dir: &Path, config_tags: Option<&toml::Table>, cmd: TagsCommand) -> anyhow::Result<()> {
    let path = TagStore::path_in(data_dir);
    match cmd {
        TagsCommand::Import(args) => run_import(data_dir, &path, args),
        TagsCommand::Show(args) => {
            let store = open_read(&path)?.with_network(btc_network(data_dir, args.btc_network));
            let tags =
                store.tags_for(&args.chain, &args.address).with_context(|| format!("address {}", args.address))?;
            print_tags(&tags, args.json, &format!("no current tags for {} {}", args.chain, args.address))
        }
        TagsCommand::History(args) => {
            let store = open_read(&path)?.with_network(btc_network(data_dir, args.btc_network));
            let tags =
                store.history(&args.chain, &args.address).with_context(|| format!("address {}", args.address))?;
            print_tags(&tags, args.json, &format!("no tags ever for {} {}", args.chain, args.address))
        }
        TagsCommand::Sources(args) => run_sources(&path, args.json),
        TagsCommand::Diff(args) => run_diff(&path, args),
        TagsCommand::Sync(args) => run_sync(&path, config_tags, args),
    }
}

/// Runs `entity NAME`: the entity's records, status and current addresses.
///
/// # Errors
/// A missing tag store, an unknown entity, store errors.
pub fn run_entity(data_dir: &Path, args: EntityArgs) -> anyhow::Result<()> {
    let store = open_read(&TagStore::path_in(data_dir))?;
    let view = store.entity(&args.name)?.with_context(|| format!("no entity called {:?}", args.name))?;
    if args.json {
        return print_json(&view);
    }
    println!("entity {}", view.id);
    for (source, record) in &view.records {
        let e = &record.entity;
        println!("  from {source}: {}", e.name);
        let list = |items: &[String]| if items.is_empty() { "-".to_owned() } else { items.join(", ") };
        println!("    aliases: {}", list(&e.aliases));
        println!("    jurisdictions: {}", list(&e.jurisdictions));
        let categories: Vec<String> = e.categories.iter().map(ToString::to_string).collect();
        println!("    categories: {}", list(&categories));
        if let Some(licence) = &e.licensed_by {
            println!("    licensed by: {licence}");
        }
        if let Some(status) = &e.status {
            println!("    status: {status}");
        }
        if let Some(note) = &e.note {
            println!("    note: {note}");
        }
    }
    let statuses: Vec<String> =
        view.tags.iter().filter_map(|t| t.record.tag.status.as_ref().map(ToString::to_string)).collect();
    if let Some(status) = statuses.first() {
        println!("  status (from tags): {status}");
    }
    let addresses = view.addresses();
    println!("  {} addresses, {} tags:", addresses.len(), view.tags.len());
    for address in addresses {
        println!("    {address}");
    }
    Ok(())
}

/// The Bitcoin network tag addresses are read for: `given`, else the
/// network of the Bitcoin index in `data_dir`, else mainnet.
fn btc_network(data_dir: &Path, given: Option<bitcoin::Network>) -> bitcoin::Network {
    given.or_else(|| indexed_btc_network(data_dir)).unwrap_or(bitcoin::Network::Bitcoin)
}

fn indexed_btc_network(data_dir: &Path) -> Option<bitcoin::Network> {
    if !chainsleuth_btc::index::store_path(data_dir).exists() {
        return None;
    }
    let store = chainsleuth_btc::index::open_read_only(data_dir).ok()?;
    let name = chainsleuth_btc::index::query::status(&store).ok()?.network?;
    bitcoin::Network::from_core_arg(&name).ok()
}

pub(crate) fn open_read(path: &Path) -> anyhow::Result<TagStore> {
    if !path.exists() {
        anyhow::bail!("no tag store at {} (import a tag file first)", path.display());
    }
    TagStore::open_read_only(path).with_context(|| format!("opening tag store at {}", path.display()))
}

/// The current tags of `address` on `chain`, empty when no tag store exists
/// yet (so `chainsleuth address` works before any import).
///
/// # Errors
/// Store errors; an address that is invalid for the chain.
pub fn address_tags(
    data_dir: &Path,
    chain: TagChain,
    address: &str,
    btc_network: bitcoin::Network,
) -> anyhow::Result<Vec<TagView>> {
    let path = TagStore::path_in(data_dir);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let store = open_read(&path)?.with_network(btc_network);
    store.tags_for(&chain, address).with_context(|| format!("tags of {address}"))
}

/// Prints the tags of an address below its summary, as `tags show` does.
///
/// # Errors
/// Write errors.
pub fn print_address_tags(tags: &[TagView]) -> anyhow::Result<()> {
    if !tags.is_empty() {
        println!();
        print_tags(tags, false, "")?;
    }
    Ok(())
}

fn open_write(path: &Path) -> anyhow::Result<TagStore> {
    TagStore::open(path).with_context(|| format!("opening tag store at {}", path.display()))
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    use std::io::Write;
    writeln!(std::io::stdout(), "{text}")?;
    Ok(())
}

fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn run_import(data_dir: &Path, path: &Path, args: ImportArgs) -> anyhow::Result<()> {
    let store = open_write(path)?.with_network(btc_network(data_dir, args.btc_network));
    let options = ImportOptions {
        skip_invalid: args.skip_invalid,
        mapping: args.mapping.unwrap_or_default(),
        defaults: Defaults {
            category: args.category,
            entity: args.entity,
            chain: args.chain,
            confidence: args.confidence,
        },
        max_line: args.max_line_bytes,
        ..ImportOptions::default()
    };
    let report = store
        .import(&args.file, args.format, &args.source, &options)
        .with_context(|| format!("importing {} into source {}", args.file.display(), args.source))?;
    if args.json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

fn print_report(report: &ImportReport) {
    if !report.changed {
        println!("{}: identical to version {} of {}, nothing imported", report.file, report.version, report.source);
        return;
    }
    println!("{} version {} (import {}) from {}", report.source, report.version, report.import_id, report.file);
    println!("  sha256 {}", report.file_sha256);
    println!(
        "  {} records, {} tags: {} added, {} retired, {} unchanged, {} repeated",
        report.records, report.tags, report.added, report.retired, report.unchanged, report.duplicates
    );
    let chains: Vec<String> = report.per_chain.iter().map(|(chain, n)| format!("{chain} {n}")).collect();
    println!("  per chain: {} ({} on chains not indexed)", chains.join(", "), report.other_chains);
    if report.entities > 0 {
        println!("  {} entities", report.entities);
    }
    if report.skipped_tx_tags > 0 {
        println!("  {} transaction tags skipped", report.skipped_tx_tags);
    }
    if report.invalid_count > 0 {
        println!("  {} invalid rows skipped:", report.invalid_count);
        for row in &report.invalid {
            println!("    {row}");
        }
    }
}

fn print_tags(tags: &[TagView], json: bool, empty: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&tags);
    }
    if tags.is_empty() {
        println!("{empty}");
        return Ok(());
    }
    let off_ramps = OffRamps::default();
    for view in tags {
        let (tag, prov) = (&view.record.tag, &view.record.provenance);
        let ramp = if off_ramps.contains(tag.category) { " (off-ramp)" } else { "" };
        println!("{} {}: {}{ramp}", tag.chain, view.display_address, tag.category);
        let line = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                println!("  {name}: {value}");
            }
        };
        line("entity", tag.entity.clone());
        line("label", tag.label.clone());
        line("jurisdiction", tag.jurisdiction.clone());
        line("licensed by", tag.licensed_by.clone());
        line("status", tag.status.as_ref().map(ToString::to_string));
        line("confidence", Some(tag.confidence.to_string()));
        line("reference", tag.reference.clone());
        line("note", tag.note.clone());
        line("concepts", (!tag.concepts.is_empty()).then(|| tag.concepts.join(", ")));
        line("source", Some(format!("{} v{} (import {})", view.source, prov.version, prov.import_id)));
        line("from", Some(format!("{} line {} (sha256 {})", prov.file, prov.record, prov.file_sha256)));
        line("imported", Some(time(prov.imported_at)));
        line("rule", prov.rule.clone());
        line("evidence", prov.evidence.clone());
        line("retired", view.record.retired.map(|r| format!("in v{} at {}", r.version, time(r.at))));
    }
    Ok(())
}

fn run_sources(path: &Path, json: bool) -> anyhow::Result<()> {
    let store = open_read(path)?;
    let sources = store.sources()?;
    if json {
        return print_json(&sources);
    }
    if sources.is_empty() {
        println!("no tag sources yet");
    }
    for source in sources {
        let current = source.versions.iter().find(|v| v.version == source.active_version);
        match current {
            Some(v) => println!(
                "{}: version {} of {}, {} tags, {} entities, imported {} from {}",
                source.name,
                v.version,
                source.versions.len(),
                v.tags,
                v.entities,
                time(v.imported_at),
                v.file
            ),
            None => println!("{}: never imported", source.name),
        }
        if let Some(status) = source.status {
            if let Some(at) = status.last_attempt {
                println!("  last sync {}", time(at));
            }
            if let Some(error) = status.last_error {
                println!("  last error ({} in a row): {error}", status.consecutive_failures);
            }
        }
    }
    Ok(())
}

fn run_diff(path: &Path, args: DiffArgs) -> anyhow::Result<()> {
    let store = open_read(path)?;
    let diff = store.diff(&args.source, args.from, args.to)?;
    if args.json {
        return print_json(&diff);
    }
    println!(
        "{} v{} -> v{}: {} added, {} removed",
        diff.source,
        diff.from,
        diff.to,
        diff.added.len(),
        diff.removed.len()
    );
    for (sign, views) in [("+", &diff.added), ("-", &diff.removed)] {
        for view in views {
            let tag = &view.record.tag;
            let entity = tag.entity.as_deref().unwrap_or("-");
            println!("{sign} {} {} {} {entity}", tag.chain, view.display_address, tag.category);
        }
    }
    Ok(())
}

fn run_sync(path: &Path, config_tags: Option<&toml::Table>, args: SyncArgs) -> anyhow::Result<()> {
    let config = match (&args.sources, config_tags) {
        (Some(file), _) => TagsConfig::load(file).with_context(|| format!("reading {}", file.display()))?,
        (None, Some(table)) => crate::config::tags_section(table)?,
        (None, None) => anyhow::bail!("no sources: give --sources FILE or --config with [[tags.source]] entries"),
    };
    let store = open_write(path)?.with_network(config.network()?);
    let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let reports = store.sync_due(&config, now, args.force)?;
    if args.json {
        return print_json(&reports);
    }
    let mut failed = 0;
    for report in &reports {
        match &report.outcome {
            SyncOutcome::NotDue => println!("{}: not due", report.source),
            SyncOutcome::NotModified => println!("{}: not modified", report.source),
            SyncOutcome::Imported(import) => print_report(import),
            SyncOutcome::Failed { error } => {
                failed += 1;
                println!("{}: FAILED, previous version kept: {error}", report.source);
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} sources failed", reports.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Probe {
        #[command(subcommand)]
        cmd: TagsCommand,
    }

    fn parse(args: &[&str]) -> Result<TagsCommand, clap::Error> {
        Probe::try_parse_from(std::iter::once("tags").chain(args.iter().copied())).map(|p| p.cmd)
    }

    #[test]
    fn import_flags_parse() {
        let cmd = parse(&[
            "import",
            "f.csv",
            "--format",
            "csv",
            "--source",
            "ofac",
            "--skip-invalid",
            "--mapping",
            "entity=name",
            "--category",
            "sanctioned",
            "--entity",
            "X",
            "--chain",
            "eth",
            "--confidence",
            "authority_data",
            "--btc-network",
            "regtest",
            "--max-line-bytes",
            "4096",
            "--json",
        ])
        .unwrap();
        let TagsCommand::Import(args) = cmd else { panic!("not import") };
        assert_eq!((args.format, args.source.as_str(), args.skip_invalid), (Format::Csv, "ofac", true));
        assert_eq!(args.category, Some(Category::Sanctioned));
        assert_eq!(args.chain, Some(TagChain::ETH));
        assert_eq!(args.confidence.map(|c| c.value), Some(60));
        assert_eq!(args.btc_network, Some(bitcoin::Network::Regtest));
        assert_eq!(args.max_line_bytes, 4096);
        assert!(parse(&["import", "f", "--format", "xlsx", "--source", "s"]).is_err());
        assert!(parse(&["import", "f", "--format", "csv", "--source", "s", "--category", "casino"]).is_err());
        assert!(parse(&["import", "f", "--format", "csv", "--source", "s", "--mapping", "owner=x"]).is_err());
        assert!(parse(&["import", "f", "--format", "csv"]).is_err());
    }

    #[test]
    fn query_flags_parse() {
        assert!(matches!(parse(&["show", "btc", "1abc", "--json"]).unwrap(), TagsCommand::Show(a) if a.json));
        assert!(
            matches!(parse(&["history", "ltc", "Labc"]).unwrap(), TagsCommand::History(a) if a.chain.as_str() == "ltc")
        );
        assert!(matches!(parse(&["diff", "s", "1", "2"]).unwrap(), TagsCommand::Diff(a) if a.to == 2));
        assert!(parse(&["diff", "s", "one", "2"]).is_err());
        assert!(matches!(parse(&["sources", "--json"]).unwrap(), TagsCommand::Sources(a) if a.json));
        assert!(matches!(parse(&["sync", "--force", "--sources", "x.toml"]).unwrap(), TagsCommand::Sync(a) if a.force));
    }

    #[test]
    fn help_lines_fit_79_columns() {
        use clap::CommandFactory;
        let mut cmd = Probe::command();
        for sub in cmd.get_subcommands_mut() {
            for arg in sub.get_arguments() {
                if let Some(help) = arg.get_help() {
                    assert!(help.to_string().len() < 79, "{}: {help}", arg.get_id());
                }
            }
        }
    }

    #[test]
    fn import_show_and_entity_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("list.txt");
        std::fs::write(&file, "0x098B716B8Aaf21512996dC57EB0615e2383E2f96\n").unwrap();
        let import = parse(&[
            "import",
            file.to_str().unwrap(),
            "--format",
            "list",
            "--source",
            "s",
            "--category",
            "sanctioned",
            "--entity",
            "Lazarus Group",
        ]);
        run_tags(dir.path(), None, import.unwrap()).unwrap();
        run_tags(dir.path(), None, parse(&["show", "eth", "0x098b716b8aaf21512996dc57eb0615e2383e2f96"]).unwrap())
            .unwrap();
        run_tags(dir.path(), None, parse(&["sources"]).unwrap()).unwrap();
        run_entity(dir.path(), EntityArgs { name: "lazarus group".into(), json: true }).unwrap();
        assert!(run_entity(dir.path(), EntityArgs { name: "nobody".into(), json: false }).is_err());
        let err =
            run_tags(dir.path(), None, parse(&["show", "eth", "0x098b716B8Aaf21512996dC57EB0615e2383E2f96"]).unwrap());
        assert!(format!("{:#}", err.unwrap_err()).contains("checksum"));
    }
}
