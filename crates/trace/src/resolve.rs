//! Labels for the kernels from the tag store and the chain: an address's
//! own tag first, else one inferred from its cluster (UTXO chains) or from
//! the exchange it forwards deposits to (account chains). Inferred labels
//! carry the rule, the tagged address they came from and the evidence.
//!
//! Everything is resolved when the trace starts, from the tags and clusters
//! the index holds then, and applied to the whole history: a deposit
//! address swept into an exchange's wallet months later is the exchange's
//! from its first deposit.

use std::collections::HashMap;
use std::sync::Arc;

use chainsleuth_core::{
    AccountGraph, AddressId, AssetId, Chain, ClusterId, Inference, Label, Labels, TransferKind, TransferPos, UtxoGraph,
    U256,
};

use crate::AddressLabels;

/// How far (in blocks) a deposit address's forward may follow the receipt
/// it forwards (Victor 2020).
pub const DEPOSIT_WINDOW_BLOCKS: u64 = 10_000;

/// How much smaller (in wei) a forward of ETH may be than what was received:
/// the gas the deposit address pays (Victor 2020: 0.01 ETH).
pub const DEPOSIT_ETH_SLACK: u64 = 10_000_000_000_000_000;

/// Direct labels, keyed by address id, of every tagged address the graph
/// knows; tags for addresses of other networks are left out.
fn direct<L: Labels, E>(
    labels: &L,
    chain: Chain,
    mut id_of: impl FnMut(&str) -> Result<Option<AddressId>, E>,
) -> Result<HashMap<AddressId, (String, Arc<Label>)>, String> {
    let mut out = HashMap::new();
    for (text, label) in labels.labelled(chain).map_err(|e| e.to_string())? {
        if let Ok(Some(id)) = id_of(&text) {
            out.insert(id, (text, Arc::new(label)));
        }
    }
    Ok(out)
}

/// Labels on a UTXO chain: direct tags, then the tags of the address's
/// multi-input cluster, with the transaction that linked the address into
/// the cluster as the evidence.
pub struct ClusterLabels<'g, G> {
    graph: &'g G,
    direct: HashMap<AddressId, (String, Arc<Label>)>,
    clusters: HashMap<ClusterId, Arc<Label>>,
    cache: HashMap<AddressId, Option<Arc<Label>>>,
}

impl<'g, G: UtxoGraph> ClusterLabels<'g, G> {
    /// Reads every tag of `chain` and the cluster of each tagged address.
    /// When a cluster has several tagged members the first by address wins,
    /// off-ramps before other categories.
    pub fn new<L: Labels>(graph: &'g G, labels: &L, chain: Chain) -> Result<Self, String> {
        let direct = direct(labels, chain, |t| graph.address_id(t))?;
        let mut tagged: Vec<(&AddressId, &(String, Arc<Label>))> = direct.iter().collect();
        tagged.sort_by(|a, b| (!a.1 .1.off_ramp, &a.1 .0).cmp(&(!b.1 .1.off_ramp, &b.1 .0)));
        let mut clusters = HashMap::new();
        for (id, (text, label)) in tagged {
            let Some(cluster) = graph.cluster_of(*id).map_err(|e| e.to_string())? else { continue };
            clusters.entry(cluster).or_insert_with(|| {
                let mut inferred = (**label).clone();
                inferred.inferred = Some(Inference {
                    rule: "multi_input_cluster".to_owned(),
                    via: text.clone(),
                    evidence: format!("cluster {cluster}"),
                });
                Arc::new(inferred)
            });
        }
        Ok(ClusterLabels { graph, direct, clusters, cache: HashMap::new() })
    }
}

impl<G: UtxoGraph> AddressLabels for ClusterLabels<'_, G> {
    fn label(&mut self, address: AddressId) -> Result<Option<Arc<Label>>, String> {
        if let Some((_, label)) = self.direct.get(&address) {
            return Ok(Some(label.clone()));
        }
        if let Some(hit) = self.cache.get(&address) {
            return Ok(hit.clone());
        }
        let cluster = self.graph.cluster_of(address).map_err(|e| e.to_string())?;
        let label = match cluster.and_then(|c| self.clusters.get(&c)) {
            Some(label) => {
                let link = self.graph.cluster_link(address).map_err(|e| e.to_string())?;
                let evidence = link.map(|tx| self.graph.txid(tx)).transpose().map_err(|e| e.to_string())?;
                let mut label = (**label).clone();
                if let (Some(how), Some(txid)) = (label.inferred.as_mut(), evidence) {
                    how.evidence = txid;
                }
                Some(Arc::new(label))
            }
            None => None,
        };
        self.cache.insert(address, label.clone());
        Ok(label)
    }
}

/// Labels on an account chain: direct tags, then exchange deposit
/// addresses found by Victor's heuristic ("Address Clustering Heuristics for
/// Ethereum", FC 2020): an address that forwards what it received to an
/// address tagged as an exchange, within [`DEPOSIT_WINDOW_BLOCKS`] of the
/// receipt, at most [`DEPOSIT_ETH_SLACK`] less for ETH and the same amount
/// for tokens, belongs to that exchange.
#[derive(Debug, Clone, Default)]
pub struct DepositLabels {
    labels: HashMap<AddressId, Arc<Label>>,
}

impl DepositLabels {
    /// Reads every tag of `chain` and looks for deposit addresses of the
    /// tagged exchanges in the given assets, up to block `to`.
    pub fn new<G: AccountGraph, L: Labels>(
        graph: &G,
        labels: &L,
        chain: Chain,
        assets: &[AssetId],
        to: chainsleuth_core::Height,
    ) -> Result<Self, String> {
        let direct = direct(labels, chain, |t| graph.address_id(t))?;
        let mut out: HashMap<AddressId, Arc<Label>> =
            direct.iter().map(|(id, (_, label))| (*id, label.clone())).collect();
        let mut exchanges: Vec<(&AddressId, &(String, Arc<Label>))> =
            direct.iter().filter(|(_, (_, l))| l.custodial).collect();
        exchanges.sort_by(|a, b| a.1 .0.cmp(&b.1 .0));
        let start = TransferPos::block_start(chainsleuth_core::Height::GENESIS);
        let err = |e: G::Error| e.to_string();
        for (exchange, (text, label)) in exchanges {
            for &asset in assets {
                for t in graph.transfers(*exchange, asset, start, to).map_err(err)? {
                    let Some(depositor) = t.from else { continue };
                    let is_move = t.kind == TransferKind::Move && t.to == Some(*exchange);
                    if !is_move || depositor == *exchange || out.contains_key(&depositor) {
                        continue;
                    }
                    let slack = if asset == AssetId::NATIVE { U256::from(DEPOSIT_ETH_SLACK) } else { U256::ZERO };
                    let earliest = t.pos.height.get().saturating_sub(DEPOSIT_WINDOW_BLOCKS);
                    let from = TransferPos::block_start(chainsleuth_core::Height::new(earliest));
                    let received = graph.transfers(depositor, asset, from, t.pos.height).map_err(err)?;
                    let forwards = received.iter().any(|r| {
                        r.pos < t.pos
                            && r.to == Some(depositor)
                            && r.from != Some(depositor)
                            && r.amount >= t.amount
                            && r.amount - t.amount <= slack
                    });
                    if !forwards {
                        continue;
                    }
                    let evidence =
                        graph.tx_hash(t.pos).map_err(err)?.unwrap_or_else(|| format!("block {}", t.pos.height));
                    let mut inferred = (**label).clone();
                    inferred.inferred =
                        Some(Inference { rule: "deposit_address".to_owned(), via: text.clone(), evidence });
                    out.insert(depositor, Arc::new(inferred));
                }
            }
        }
        Ok(DepositLabels { labels: out })
    }
}

impl AddressLabels for DepositLabels {
    fn label(&mut self, address: AddressId) -> Result<Option<Arc<Label>>, String> {
        Ok(self.labels.get(&address).cloned())
    }
}
