//! A trace and an exposure over the stores of a data directory: the chain
//! is read through its graph view, labels come from the tag store (direct,
//! or inferred through clusters and deposit addresses), and the kernels and
//! reports are `chainsleuth-trace`'s.

use std::path::Path;
use std::sync::Arc;

use chainsleuth_btc::index::{self, BtcGraph, IndexError};
use chainsleuth_core::{
    AccountGraph, AddressId, AssetId, Chain, ClusterId, Height, Label, Labels, OutPoint, SourceVersion, UtxoGraph,
};
use chainsleuth_eth::{EthGraph, QueryError};
use chainsleuth_store::{OpenMode, Store};
use chainsleuth_trace::{
    trace_account_within, trace_utxo_within, AddressLabels, Budget, Case, ClusterLabels, DepositLabels, Describe,
    Direction, Exposure, Flows, Params, ParamsError, Report, Step, TipView, Unit, UtxoSeed,
};
use serde::Serialize;

use crate::error::{CaseError, Field, FieldError};
use crate::labels::{cluster_view, deposit_view, open_tags, CaseTags};
use crate::request::{check_hops, check_models, Checked, ExposureDirection, ExposureRequest, SeedTag, SeedText};
use crate::{CaseConfig, TraceRequest};

/// Runs the trace `request` asks over the stores in `data_dir`, within
/// `budget`, and returns its report.
///
/// # Errors
/// [`CaseError::Invalid`] or [`CaseError::NotFound`] naming the field that
/// is wrong or names what the index lacks; [`CaseError::NotIndexed`];
/// [`CaseError::Stopped`] when the budget runs out or it is cancelled;
/// [`CaseError::Store`] when a store fails.
pub fn run_trace(
    data_dir: &Path,
    config: &CaseConfig,
    request: &TraceRequest,
    budget: &Budget,
) -> Result<Report, CaseError> {
    let mut checked = request.check()?;
    budget.check().map_err(CaseError::Stopped)?;
    match checked.chain {
        Chain::Bitcoin => {
            if let Some(asset) = request.asset.as_deref().filter(|a| !a.eq_ignore_ascii_case("BTC")) {
                return Err(invalid(Field::Asset, format!("{asset:?}"), "Bitcoin traces follow BTC only"));
            }
            let store = open_btc(data_dir)?;
            let graph = btc(BtcGraph::new(&store))?;
            let tags = open_tags(data_dir, config, graph.network())?;
            add_tagged(&mut checked, tags.as_ref())?;
            trace_btc(&graph, tags.as_ref(), config, request, checked, budget)
        }
        Chain::Ethereum => {
            let store = open_eth(data_dir)?;
            let tags = open_tags(data_dir, config, bitcoin::Network::Bitcoin)?;
            add_tagged(&mut checked, tags.as_ref())?;
            trace_eth(&store, tags.as_ref(), config, request, checked, budget)
        }
    }
}

/// What `chainsleuth exposure --json` prints and the API answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposureReport {
    /// `btc` or `eth`.
    pub chain: &'static str,
    /// The address as the index writes it.
    pub address: String,
    /// `received` or `sent`.
    pub direction: &'static str,
    /// The hop limit.
    pub max_hops: u32,
    /// The asset: `BTC`, `ETH` or a token contract.
    pub asset: String,
    /// The unit to show amounts in; the amounts are integers of its
    /// smallest unit (sat, wei, a token's base unit).
    pub unit: Unit,
    /// The shares.
    pub exposure: Exposure,
}

impl ExposureReport {
    /// The name of the smallest unit the amounts count: `sat`, `wei`, or
    /// for a token `base units`.
    pub fn smallest_unit(&self) -> &'static str {
        smallest_unit(self.chain, &self.asset)
    }
}

/// The name of the smallest unit amounts of `asset` on `chain` (`btc` or
/// `eth`, as reports name them) count: `sat`, `wei`, or for a token
/// `base units`.
pub fn smallest_unit(chain: &str, asset: &str) -> &'static str {
    match (chain, asset) {
        ("btc", _) => "sat",
        (_, "ETH") => "wei",
        _ => "base units",
    }
}

/// Runs the exposure `request` asks over the stores in `data_dir`, within
/// `budget`.
///
/// # Errors
/// As [`run_trace`].
pub fn run_exposure(
    data_dir: &Path,
    config: &CaseConfig,
    request: &ExposureRequest,
    budget: &Budget,
) -> Result<ExposureReport, CaseError> {
    let chain: Chain = request.chain.parse().map_err(|e: chainsleuth_core::ParseChainError| {
        invalid(Field::Chain, format!("{:?}", request.chain), e.to_string())
    })?;
    let Some(model) = request.model.one() else {
        return Err(invalid(Field::Model, "all", "exposure takes one model"));
    };
    let direction = match request.direction {
        ExposureDirection::Received => Direction::Backward,
        ExposureDirection::Sent => Direction::Forward,
    };
    check_models(&[model], direction)?;
    check_hops(request.max_hops)?;
    let setup = |tip: Height| -> Result<Params, CaseError> {
        let mut params = Params::new(tip);
        params.models = vec![model];
        params.max_hops = request.max_hops;
        params.direction = direction;
        params.any_label = true;
        params.check(tip).map_err(params_error)?;
        Ok(params)
    };
    let (exposure, address, asset, unit) = match chain {
        Chain::Bitcoin => {
            if request.asset.is_some() {
                return Err(invalid(Field::Asset, format!("{:?}", request.asset), "Bitcoin exposure is in BTC only"));
            }
            let store = open_btc(data_dir)?;
            let graph = btc(BtcGraph::new(&store))?;
            let tip = btc(graph.tip())?.ok_or(CaseError::NotIndexed(Chain::Bitcoin))?;
            let params = setup(tip.height)?;
            let seed = UtxoSeed::Address(btc_address(&graph, &request.address, Field::Address)?);
            let tags = open_tags(data_dir, config, graph.network())?;
            let mut labels = cluster_view(&graph, tags.as_ref())?;
            let flows = trace_utxo_within(&graph, &mut labels, &[seed], &params, budget)?;
            let exposure = chainsleuth_trace::exposure(&flows[0], &mut labels, true).map_err(label_error)?;
            (exposure, request.address.clone(), "BTC".to_owned(), btc_unit())
        }
        Chain::Ethereum => {
            let store = open_eth(data_dir)?;
            let graph = EthGraph::new(&store);
            let tip = eth(graph.tip())?.ok_or(CaseError::NotIndexed(Chain::Ethereum))?;
            let params = setup(tip.height)?;
            let (asset, asset_text) = eth_asset(&graph, request.asset.as_deref())?;
            let id = eth_address(&graph, &request.address, Field::Address)?;
            let tags = open_tags(data_dir, config, bitcoin::Network::Bitcoin)?;
            let assets: Vec<AssetId> =
                if asset == AssetId::NATIVE { vec![asset] } else { vec![AssetId::NATIVE, asset] };
            let mut labels = deposit_view(&graph, tags.as_ref(), &assets, tip.height)?;
            let flows = trace_account_within(&graph, &mut labels, asset, &[id], &params, budget)?;
            let exposure = chainsleuth_trace::exposure(&flows[0], &mut labels, false).map_err(label_error)?;
            let (symbol, decimals) = token_unit(&store, &asset_text)?;
            (exposure, eth(graph.address_text(id))?, eth(graph.asset_text(asset))?, Unit { symbol, decimals })
        }
    };
    Ok(ExposureReport {
        chain: chain.as_str(),
        address,
        direction: request.direction.as_str(),
        max_hops: request.max_hops,
        asset,
        unit,
        exposure,
    })
}

fn invalid(field: Field, value: impl Into<String>, why: impl Into<String>) -> CaseError {
    CaseError::Invalid(FieldError::new(field, value, why))
}

fn not_found(field: Field, value: impl Into<String>, why: impl Into<String>) -> CaseError {
    CaseError::NotFound(FieldError::new(field, value, why))
}

fn label_error(message: String) -> CaseError {
    CaseError::text("reading the labels of the trace", message)
}

fn btc<T>(r: Result<T, IndexError>) -> Result<T, CaseError> {
    r.map_err(|e| CaseError::store("reading the Bitcoin store", e))
}

fn eth<T>(r: Result<T, QueryError>) -> Result<T, CaseError> {
    r.map_err(|e| CaseError::store("reading the Ethereum store", e))
}

/// The window's checks against the tip, on the field they are about.
fn params_error(err: ParamsError) -> CaseError {
    match err {
        ParamsError::ZeroHops => invalid(Field::MaxHops, "0", "a trace follows at least 1 hop"),
        ParamsError::NoModels => CaseError::Invalid(FieldError::whole(Field::Model, "no taint model given")),
        ParamsError::EmptyWindow { from, to } => invalid(Field::FromBlock, from.to_string(), format!("is after {to}")),
        ParamsError::BeyondTip { block, tip } => {
            invalid(Field::ToBlock, block.to_string(), format!("is beyond the indexed tip {tip}"))
        }
        ParamsError::BackwardModel(model) => {
            invalid(Field::Model, model, "backward traces take the poison and haircut models only")
        }
    }
}

/// Opens the Bitcoin store read-only.
fn open_btc(data_dir: &Path) -> Result<Store, CaseError> {
    if !index::store_path(data_dir).exists() {
        return Err(CaseError::NotIndexed(Chain::Bitcoin));
    }
    btc(index::open_read_only(data_dir))
}

/// Opens the Ethereum store read-only.
fn open_eth(data_dir: &Path) -> Result<Store, CaseError> {
    let path = chainsleuth_eth::store_path(data_dir);
    if !path.exists() {
        return Err(CaseError::NotIndexed(Chain::Ethereum));
    }
    Store::open(&path, &chainsleuth_eth::SCHEMA, OpenMode::ReadOnly)
        .map_err(|e| CaseError::store("opening the Ethereum store", e))
}

/// Adds the addresses the seed tags name to the seeds.
fn add_tagged(checked: &mut Checked, tags: Option<&CaseTags>) -> Result<(), CaseError> {
    if checked.tags.is_empty() {
        return Ok(());
    }
    let chain = checked.chain;
    let Some(tags) = tags else {
        return Err(CaseError::NotFound(FieldError::whole(Field::SeedTag, "no tag list has been imported")));
    };
    let labelled = tags.labelled(chain).map_err(|e| CaseError::store("reading the tag store", e))?;
    for (query, tag) in &checked.tags {
        let before = checked.seeds.len();
        for (address, label) in &labelled {
            let hit = match tag {
                SeedTag::Category(c) => label.category == *c,
                SeedTag::Entity(e) => label.entity.eq_ignore_ascii_case(e),
            };
            if hit {
                checked.seeds.insert(SeedText::Address(address.clone()));
            }
        }
        if checked.seeds.len() == before {
            return Err(not_found(Field::SeedTag, format!("{query:?}"), format!("no {chain} address has such a tag")));
        }
    }
    Ok(())
}

/// The parameters of a checked request at the indexed `tip`.
fn params(request: &TraceRequest, checked: &Checked, tip: Height) -> Result<Params, CaseError> {
    let mut params = Params::new(tip);
    params.models = checked.models.clone();
    params.max_hops = request.max_hops;
    params.min_amount = checked.min_amount;
    params.from_block = Height::new(request.from_block.unwrap_or(0));
    params.to_block = request.to_block.map_or(tip, Height::new);
    params.through_mixers = request.through_mixers;
    params.direction = checked.direction;
    params.check(tip).map_err(params_error)?;
    Ok(params)
}

fn sources(tags: Option<&CaseTags>) -> Result<Vec<SourceVersion>, CaseError> {
    match tags {
        Some(t) => t.sources().map_err(|e| CaseError::store("reading the tag sources", e)),
        None => Ok(Vec::new()),
    }
}

fn off_ramps(config: &CaseConfig) -> Vec<String> {
    config.off_ramps.iter().map(|c| c.as_str().to_owned()).collect()
}

fn trace_btc(
    graph: &BtcGraph<'_>,
    tags: Option<&CaseTags>,
    config: &CaseConfig,
    request: &TraceRequest,
    checked: Checked,
    budget: &Budget,
) -> Result<Report, CaseError> {
    let tip = btc(graph.tip())?.ok_or(CaseError::NotIndexed(Chain::Bitcoin))?;
    let params = params(request, &checked, tip.height)?;
    let mut resolved = Vec::new();
    let mut names = Vec::new();
    for seed in &checked.seeds {
        match seed {
            SeedText::Address(text) => {
                resolved.push(UtxoSeed::Address(btc_address(graph, text, Field::Seeds)?));
                names.push(format!("btc:{text}"));
            }
            SeedText::Coin(txid, vout) => {
                let shown = format!("\"btc:{txid}:{vout}\"");
                let num = btc(graph.tx_num(txid))?
                    .ok_or_else(|| not_found(Field::Seeds, &shown, "the transaction is not in the index"))?;
                let outpoint = OutPoint { tx: num, vout: *vout };
                if btc(graph.coin(outpoint))?.is_none() {
                    return Err(not_found(Field::Seeds, shown, format!("the transaction has no output {vout}")));
                }
                resolved.push(UtxoSeed::Coin(outpoint));
                names.push(format!("btc:{txid}:{vout}"));
            }
        }
    }
    let mut labels = cluster_view(graph, tags)?;
    let started = std::time::Instant::now();
    let flows = trace_utxo_within(graph, &mut labels, &resolved, &params, budget)?;
    log_done(&flows, started);
    let case = Case {
        chain: "btc".into(),
        asset: "BTC".into(),
        direction: params.direction,
        unit: btc_unit(),
        index_tip: TipView { height: tip.height.get(), hash: tip.hash.to_reversed_hex() },
        tag_sources: sources(tags)?,
        off_ramps: off_ramps(config),
        parameters: params,
        seeds: names,
    };
    let mut describe = BtcDescribe { graph, labels: &mut labels };
    Report::build(case, &flows, &mut describe).map_err(|e| CaseError::text("describing the trace's addresses", e))
}

fn trace_eth(
    store: &Store,
    tags: Option<&CaseTags>,
    config: &CaseConfig,
    request: &TraceRequest,
    checked: Checked,
    budget: &Budget,
) -> Result<Report, CaseError> {
    let graph = EthGraph::new(store);
    let tip = eth(graph.tip())?.ok_or(CaseError::NotIndexed(Chain::Ethereum))?;
    let (asset, asset_text) = eth_asset(&graph, request.asset.as_deref())?;
    let params = params(request, &checked, tip.height)?;
    let mut ids = Vec::new();
    let mut names = Vec::new();
    for seed in &checked.seeds {
        let SeedText::Address(text) = seed else {
            return Err(CaseError::Invalid(FieldError::whole(Field::Seeds, "Ethereum seeds are addresses")));
        };
        let id = eth_address(&graph, text, Field::Seeds)?;
        ids.push(id);
        names.push(format!("eth:{}", eth(graph.address_text(id))?));
    }
    let assets: Vec<AssetId> = if asset == AssetId::NATIVE { vec![asset] } else { vec![AssetId::NATIVE, asset] };
    let mut labels = deposit_view(&graph, tags, &assets, tip.height)?;
    let started = std::time::Instant::now();
    let flows = trace_account_within(&graph, &mut labels, asset, &ids, &params, budget)?;
    log_done(&flows, started);
    let (symbol, decimals) = token_unit(store, &asset_text)?;
    let freezable = config.is_freezable(&asset_text);
    let case = Case {
        chain: "eth".into(),
        asset: eth(graph.asset_text(asset))?,
        direction: params.direction,
        unit: Unit { symbol: symbol.clone(), decimals },
        index_tip: TipView { height: tip.height.get(), hash: format!("0x{}", tip.hash.to_hex()) },
        tag_sources: sources(tags)?,
        off_ramps: off_ramps(config),
        parameters: params,
        seeds: names,
    };
    let token = freezable.then_some(symbol);
    let mut describe = EthDescribe { graph: &graph, labels: &mut labels, asset, freezable_token: token };
    Report::build(case, &flows, &mut describe).map_err(|e| CaseError::text("describing the trace's addresses", e))
}

fn btc_address(graph: &BtcGraph<'_>, text: &str, field: Field) -> Result<AddressId, CaseError> {
    let shown = if field == Field::Seeds { format!("\"btc:{text}\"") } else { format!("{text:?}") };
    match graph.address_id(text) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(not_found(field, shown, "the address has no transactions in the index")),
        Err(e @ IndexError::InvalidAddress { .. }) => Err(invalid(field, shown, e.to_string())),
        Err(e) => Err(CaseError::store("reading the Bitcoin store", e)),
    }
}

fn eth_address(graph: &EthGraph<'_>, text: &str, field: Field) -> Result<AddressId, CaseError> {
    let shown = if field == Field::Seeds { format!("\"eth:{text}\"") } else { format!("{text:?}") };
    match graph.address_id(text) {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(not_found(field, shown, "the address has no transfers in the index")),
        Err(e @ QueryError::BadAddress(_)) => Err(invalid(field, shown, e.to_string())),
        Err(e) => Err(CaseError::store("reading the Ethereum store", e)),
    }
}

/// The asset named by `asset` (ETH by default) on Ethereum.
fn eth_asset(graph: &EthGraph<'_>, asset: Option<&str>) -> Result<(AssetId, String), CaseError> {
    let text = asset.unwrap_or("ETH").to_owned();
    match graph.asset_id(&text) {
        Ok(Some(id)) => Ok((id, text)),
        Ok(None) => Err(not_found(Field::Asset, format!("{text:?}"), "the index has never seen this token")),
        Err(e @ (QueryError::BadAsset(_) | QueryError::BadAddress(_))) => {
            Err(invalid(Field::Asset, format!("{text:?}"), e.to_string()))
        }
        Err(e) => Err(CaseError::store("reading the Ethereum store", e)),
    }
}

/// Logs how long the kernels took and how much they read (not in the
/// report, which must be the same bytes every run).
fn log_done(flows: &[Flows], started: std::time::Instant) {
    let visited: u64 = flows.iter().map(|f| f.visited).sum();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(models = flows.len(), visited, seconds, "traced");
}

/// Bitcoin's unit: BTC, eight decimals (satoshi).
fn btc_unit() -> Unit {
    Unit { symbol: "BTC".into(), decimals: 8 }
}

/// The symbol and decimals to show an Ethereum asset in.
fn token_unit(store: &Store, asset: &str) -> Result<(String, u8), CaseError> {
    if asset.eq_ignore_ascii_case("ETH") {
        return Ok(("ETH".into(), 18));
    }
    let query = chainsleuth_eth::EthQuery::new(store);
    for (contract, meta) in eth(query.all_tokens())? {
        if contract.to_string().eq_ignore_ascii_case(asset) {
            return Ok((meta.symbol.unwrap_or_else(|| asset.to_owned()), meta.decimals.unwrap_or(0)));
        }
    }
    Ok((asset.to_owned(), 0))
}

/// Why funds at a labelled address can be frozen: an exchange holds them.
fn custodial(label: Option<&Label>) -> Option<String> {
    label.filter(|l| l.custodial).map(|l| format!("custodial: held by {} ({})", l.entity, l.category))
}

struct BtcDescribe<'a, 'g> {
    graph: &'a BtcGraph<'g>,
    labels: &'a mut ClusterLabels<'g, BtcGraph<'g>>,
}

impl Describe for BtcDescribe<'_, '_> {
    fn address(&mut self, id: AddressId) -> Result<String, String> {
        self.graph.address_text(id).map_err(|e| e.to_string())
    }
    fn cluster(&mut self, id: AddressId) -> Result<Option<ClusterId>, String> {
        self.graph.cluster_of(id).map_err(|e| e.to_string())
    }
    fn label(&mut self, id: AddressId) -> Result<Option<Arc<Label>>, String> {
        self.labels.label(id)
    }
    fn step(&mut self, step: Step) -> Result<String, String> {
        match step {
            Step::Tx(num) => self.graph.txid(num).map_err(|e| e.to_string()),
            Step::Transfer(pos) => Ok(format!("{}:{}:{}", pos.height, pos.tx_pos, pos.ordinal)),
        }
    }
    fn freeze(&mut self, _: AddressId, label: Option<&Label>) -> Result<(Option<String>, Option<String>), String> {
        Ok((custodial(label), None))
    }
}

struct EthDescribe<'a, 'g> {
    graph: &'a EthGraph<'g>,
    labels: &'a mut DepositLabels,
    asset: AssetId,
    freezable_token: Option<String>,
}

impl Describe for EthDescribe<'_, '_> {
    fn address(&mut self, id: AddressId) -> Result<String, String> {
        self.graph.address_text(id).map_err(|e| e.to_string())
    }
    fn cluster(&mut self, _: AddressId) -> Result<Option<ClusterId>, String> {
        Ok(None)
    }
    fn label(&mut self, id: AddressId) -> Result<Option<Arc<Label>>, String> {
        self.labels.label(id)
    }
    fn step(&mut self, step: Step) -> Result<String, String> {
        match step {
            Step::Transfer(pos) => Ok(self
                .graph
                .tx_hash(pos)
                .map_err(|e| e.to_string())?
                .unwrap_or_else(|| format!("block {}", pos.height))),
            Step::Tx(num) => Ok(num.to_string()),
        }
    }
    fn freeze(&mut self, id: AddressId, label: Option<&Label>) -> Result<(Option<String>, Option<String>), String> {
        let frozen = self.graph.frozen(id, self.asset).map_err(|e| e.to_string())?;
        let reason = custodial(label)
            .or_else(|| self.freezable_token.as_ref().map(|t| format!("{t}: the token's issuer can freeze balances")));
        Ok((reason, frozen))
    }
}
