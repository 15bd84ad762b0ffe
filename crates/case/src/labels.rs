//! The tag store as the tracer's labels (with the configured off-ramps),
//! and the labels an address inherits: through its Bitcoin cluster, or as
//! an exchange's Ethereum deposit address. The address and cluster views of
//! the command line and the API show these beside an address's own tags.

use std::path::Path;

use chainsleuth_btc::index::BtcGraph;
use chainsleuth_core::{AccountGraph, AssetId, Chain, Label, Labels, SourceVersion, UtxoGraph};
use chainsleuth_eth::EthGraph;
use chainsleuth_store::Store;
use chainsleuth_tags::{Category, OffRamps, TagStore, TagsError};
use chainsleuth_trace::{AddressLabels, ClusterLabels, DepositLabels};

use crate::{CaseConfig, CaseError};

/// The tag store, when there is one (a trace without tags still runs: it
/// reaches no off-ramp and says where everything is held), read with
/// `network`'s address encoding and the configured off-ramps.
pub(crate) fn open_tags(
    data_dir: &Path,
    config: &CaseConfig,
    network: bitcoin::Network,
) -> Result<Option<CaseTags>, CaseError> {
    let path = TagStore::path_in(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let store = TagStore::open_read_only(&path).map_err(|e| CaseError::store("opening the tag store", e))?;
    Ok(Some(CaseTags { store: store.with_network(network), off_ramps: config.off_ramps.clone() }))
}

/// The tag store as the tracer's labels, with the configured off-ramps.
pub(crate) struct CaseTags {
    store: TagStore,
    off_ramps: OffRamps,
}

impl CaseTags {
    fn adjust(&self, mut label: Label) -> Label {
        if let Ok(category) = label.category.parse::<Category>() {
            label.off_ramp = self.off_ramps.contains(category);
        }
        label
    }
}

impl Labels for CaseTags {
    type Error = TagsError;
    fn label(&self, chain: Chain, address: &str) -> Result<Option<Label>, Self::Error> {
        Ok(Labels::label(&self.store, chain, address)?.map(|l| self.adjust(l)))
    }
    fn labelled(&self, chain: Chain) -> Result<Vec<(String, Label)>, Self::Error> {
        Ok(self.store.labelled(chain)?.into_iter().map(|(a, l)| (a, self.adjust(l))).collect())
    }
    fn sources(&self) -> Result<Vec<SourceVersion>, Self::Error> {
        Labels::sources(&self.store)
    }
}

/// Labels when no tag store exists yet.
pub(crate) struct NoTags;

impl Labels for NoTags {
    type Error = std::convert::Infallible;
    fn label(&self, _: Chain, _: &str) -> Result<Option<Label>, Self::Error> {
        Ok(None)
    }
    fn labelled(&self, _: Chain) -> Result<Vec<(String, Label)>, Self::Error> {
        Ok(Vec::new())
    }
    fn sources(&self) -> Result<Vec<SourceVersion>, Self::Error> {
        Ok(Vec::new())
    }
}

/// Bitcoin labels through clusters, from the tags or from nothing.
pub(crate) fn cluster_view<'g>(
    graph: &'g BtcGraph<'g>,
    tags: Option<&CaseTags>,
) -> Result<ClusterLabels<'g, BtcGraph<'g>>, CaseError> {
    match tags {
        Some(t) => ClusterLabels::new(graph, t, Chain::Bitcoin),
        None => ClusterLabels::new(graph, &NoTags, Chain::Bitcoin),
    }
    .map_err(|e| CaseError::text("reading the tags by cluster", e))
}

/// Ethereum labels through deposit addresses of `assets`, from the tags or
/// from nothing.
pub(crate) fn deposit_view(
    graph: &EthGraph<'_>,
    tags: Option<&CaseTags>,
    assets: &[AssetId],
    tip: chainsleuth_core::Height,
) -> Result<DepositLabels, CaseError> {
    match tags {
        Some(t) => DepositLabels::new(graph, t, Chain::Ethereum, assets, tip),
        None => DepositLabels::new(graph, &NoTags, Chain::Ethereum, assets, tip),
    }
    .map_err(|e| CaseError::text("reading the tags of deposit addresses", e))
}

fn read<T, E: std::error::Error + Send + Sync + 'static>(what: &str, r: Result<T, E>) -> Result<T, CaseError> {
    r.map_err(|e| CaseError::store(what, e))
}

/// The label a Bitcoin address inherits from a tagged member of its
/// multi-input cluster (`None` when it has its own tag, no cluster, or no
/// tagged member), for the address and cluster views. `store` is the open
/// Bitcoin store.
///
/// # Errors
/// The tag or Bitcoin store cannot be read.
pub fn inferred_btc(
    data_dir: &Path,
    config: &CaseConfig,
    store: &Store,
    address: &str,
) -> Result<Option<Label>, CaseError> {
    let graph = read("reading the Bitcoin store", BtcGraph::new(store))?;
    let Some(tags) = open_tags(data_dir, config, graph.network())? else { return Ok(None) };
    let Some(id) = read("reading the Bitcoin store", graph.address_id(address))? else { return Ok(None) };
    let mut labels = cluster_view(&graph, Some(&tags))?;
    let label = labels.label(id).map_err(|e| CaseError::text("reading the tags by cluster", e))?;
    Ok(label.filter(|l| l.inferred.is_some()).map(|l| (*l).clone()))
}

/// The label an Ethereum address inherits as an exchange's deposit address
/// of ETH or of `asset`, for the address view. `store` is the open
/// Ethereum store.
///
/// # Errors
/// The tag or Ethereum store cannot be read.
pub fn inferred_eth(
    data_dir: &Path,
    config: &CaseConfig,
    store: &Store,
    address: &str,
    asset: &str,
) -> Result<Option<Label>, CaseError> {
    let Some(tags) = open_tags(data_dir, config, bitcoin::Network::Bitcoin)? else { return Ok(None) };
    let graph = EthGraph::new(store);
    let Some(tip) = read("reading the Ethereum store", graph.tip())? else { return Ok(None) };
    let Some(id) = read("reading the Ethereum store", graph.address_id(address))? else { return Ok(None) };
    let mut assets = vec![AssetId::NATIVE];
    assets.extend(read("reading the Ethereum store", graph.asset_id(asset))?.filter(|a| *a != AssetId::NATIVE));
    let mut labels = deposit_view(&graph, Some(&tags), &assets, tip.height)?;
    let label = labels.label(id).map_err(|e| CaseError::text("reading the tags of deposit addresses", e))?;
    Ok(label.filter(|l| l.inferred.is_some()).map(|l| (*l).clone()))
}

/// Tagged members of a cluster page with their tags, and the cluster's label.
pub type ClusterTags = (Vec<(String, Label)>, Option<Label>);

/// The labels of a page of a cluster's members: each member's own tag, and
/// the label the cluster carries (from its first tagged member). `store` is
/// the open Bitcoin store.
///
/// # Errors
/// The tag or Bitcoin store cannot be read.
pub fn cluster_labels(
    data_dir: &Path,
    config: &CaseConfig,
    store: &Store,
    members: &[String],
) -> Result<ClusterTags, CaseError> {
    let graph = read("reading the Bitcoin store", BtcGraph::new(store))?;
    let Some(tags) = open_tags(data_dir, config, graph.network())? else { return Ok((Vec::new(), None)) };
    let mut direct = Vec::new();
    for member in members {
        if let Some(label) = read("reading the tag store", tags.label(Chain::Bitcoin, member))? {
            direct.push((member.clone(), label));
        }
    }
    let mut labels = cluster_view(&graph, Some(&tags))?;
    let mut cluster = None;
    for member in members {
        let Some(id) = read("reading the Bitcoin store", graph.address_id(member))? else { continue };
        if let Some(label) = labels.label(id).map_err(|e| CaseError::text("reading the tags by cluster", e))? {
            let mut label = (*label).clone();
            label.inferred = None;
            cluster = Some(label);
            break;
        }
    }
    Ok((direct, cluster))
}
