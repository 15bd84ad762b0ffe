//! Genesis allocations from a genesis file: geth's `genesis.json` (the
//! `alloc` object) or a bare `{address: {"balance": …}}` map.

use std::collections::BTreeMap;
use std::path::Path;

use alloy::primitives::{Address, U256};
use serde::Deserialize;

use crate::error::IndexError;

#[derive(Deserialize)]
struct Account {
    balance: U256,
}

#[derive(Deserialize)]
struct GenesisFile {
    alloc: BTreeMap<Address, Account>,
}

/// Reads the genesis allocation in `path`: every address with a nonzero
/// balance, sorted by address.
///
/// # Errors
/// [`IndexError::Genesis`] naming the file when it cannot be read or is
/// neither form.
pub fn load_genesis_alloc(path: &Path) -> Result<Vec<(Address, U256)>, IndexError> {
    let err = |reason: String| IndexError::Genesis { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let alloc = match serde_json::from_str::<GenesisFile>(&text) {
        Ok(file) => file.alloc,
        Err(first) => serde_json::from_str::<BTreeMap<Address, Account>>(&text)
            .map_err(|_| err(format!("neither a genesis file nor an alloc map: {first}")))?,
    };
    Ok(alloc.into_iter().filter(|(_, a)| !a.balance.is_zero()).map(|(address, a)| (address, a.balance)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_bad_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("genesis.json");
        std::fs::write(
            &full,
            r#"{"config":{"chainId":1337},"alloc":{"0x00000000000000000000000000000000000000b2":{"balance":"0x10"},
               "0x00000000000000000000000000000000000000a1":{"balance":"0x0","code":"0x00"}}}"#,
        )
        .unwrap();
        let alloc = load_genesis_alloc(&full).unwrap();
        assert_eq!(alloc, vec![("0x00000000000000000000000000000000000000b2".parse().unwrap(), U256::from(16))]);
        let bare = dir.path().join("alloc.json");
        std::fs::write(&bare, r#"{"0x00000000000000000000000000000000000000a1":{"balance":"1000"}}"#).unwrap();
        assert_eq!(load_genesis_alloc(&bare).unwrap()[0].1, U256::from(1000));
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "[1,2]").unwrap();
        assert!(load_genesis_alloc(&bad).unwrap_err().to_string().contains("bad.json"));
    }
}
