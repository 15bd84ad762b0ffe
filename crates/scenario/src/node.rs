//! An anvil dev node on a free loopback port, owned by the process that
//! started it and killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainsleuth_eth::{Call, RpcClient};
use serde_json::{json, Value};

use crate::ScenarioError;

/// How long anvil may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where anvil is: `$ANVIL_BIN`, else `.tools/anvil/bin/anvil` of the
/// repository (`scripts/install-test-deps.sh` puts it there) above the
/// working directory, the running program or this crate's sources, else
/// `anvil` on `PATH`.
///
/// # Errors
/// [`ScenarioError::NoAnvil`] listing where it looked.
pub fn anvil_path() -> Result<PathBuf, ScenarioError> {
    if let Some(path) = std::env::var_os("ANVIL_BIN") {
        return Ok(PathBuf::from(path));
    }
    let mut starts: Vec<PathBuf> = Vec::new();
    starts.extend(std::env::current_dir().ok());
    starts.extend(std::env::current_exe().ok());
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let local = starts
        .iter()
        .flat_map(|start| start.ancestors().map(|dir| dir.join(".tools/anvil/bin/anvil")))
        .find(|candidate| candidate.is_file());
    if let Some(path) = local {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("anvil")).find(|p| p.is_file()))
        .unwrap_or_default();
    on_path.ok_or(ScenarioError::NoAnvil)
}

/// A running anvil node.
#[derive(Debug)]
pub struct Node {
    child: Child,
    url: String,
    rpc: RpcClient,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts `anvil` on a free loopback port with one prefunded account of
    /// a million ETH, and waits until it answers.
    ///
    /// # Errors
    /// [`ScenarioError::Start`] when it cannot be run or does not answer.
    pub async fn start(anvil: &Path) -> Result<Node, ScenarioError> {
        let mut last = String::from("no attempt");
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| ScenarioError::start(anvil, format!("finding a free port: {e}")))?
                .port();
            let child = Command::new(anvil)
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
                .args(["--accounts", "1", "--balance", "1000000"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| ScenarioError::start(anvil, e.to_string()))?;
            let url = format!("http://127.0.0.1:{port}");
            let rpc = RpcClient::new(&url, Duration::from_secs(30), 8)
                .map_err(|e| ScenarioError::start(anvil, e.to_string()))?;
            let mut node = Node { child, url, rpc };
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                match node.rpc.call::<Value>(Call::new("eth_chainId", json!([]))).await {
                    Ok(_) => return Ok(node),
                    Err(e) => last = e.to_string(),
                }
                if let Ok(Some(status)) = node.child.try_wait() {
                    last = format!("exited with {status}");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(ScenarioError::start(anvil, last))
    }

    /// Its JSON-RPC URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client of it.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }
}
