//! Who is behind an address, as the kernels ask it: one call per address
//! id, answered from tags (direct, or inferred through a cluster or a
//! deposit-address link) by whoever wires the trace.

use std::collections::HashMap;
use std::sync::Arc;

use chainsleuth_core::{AddressId, Label};

/// Labels by address id.
pub trait AddressLabels {
    /// The label of an address, or `None`. Errors are described in text.
    fn label(&mut self, address: AddressId) -> Result<Option<Arc<Label>>, String>;
}

/// Labels from a map (tests, and callers that resolved them up front).
#[derive(Debug, Clone, Default)]
pub struct MapLabels(pub HashMap<AddressId, Arc<Label>>);

impl AddressLabels for MapLabels {
    fn label(&mut self, address: AddressId) -> Result<Option<Arc<Label>>, String> {
        Ok(self.0.get(&address).cloned())
    }
}
