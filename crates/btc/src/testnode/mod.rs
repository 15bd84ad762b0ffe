//! A stand-in for bitcoind's REST and JSON-RPC interfaces, serving a chain of
//! blocks over loopback HTTP in exactly Core's shapes, for tests, scripts and
//! the demo on machines where no Bitcoin Core can be installed.
//!
//! [`CoreMock`] answers `/rest/chaininfo.json`,
//! `/rest/blockhashbyheight/<h>.<bin|hex|json>`, `/rest/block/<hash>.<bin|hex>`
//! and JSON-RPC 1.0/2.0 calls (single or batched) of `getblockchaininfo`,
//! `getblockcount`, `getbestblockhash`, `getblockhash` and `getblock` with
//! verbosity 0, with Core's error objects and status codes. JSON-RPC
//! requires the configured user and password or cookie; REST, as in Core,
//! needs none. Faults can be injected: error statuses, garbage bodies,
//! delays and Core's warm-up state.
//!
//! It is not a node: it validates nothing and serves only what it is given.

mod server;

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::Network;
use rand::RngCore;
use tokio::sync::oneshot;

/// How the mock node is set up.
#[derive(Clone, PartialEq, Eq)]
pub struct MockOptions {
    /// The network it reports in `getblockchaininfo` (`chain`).
    pub network: Network,
    /// A user and password JSON-RPC accepts.
    pub user_pass: Option<(String, String)>,
    /// A directory to write a `.cookie` file into, as Core does on start;
    /// JSON-RPC then accepts its contents too.
    pub cookie_dir: Option<PathBuf>,
}

impl Default for MockOptions {
    /// Regtest, with no authentication.
    fn default() -> Self {
        MockOptions { network: Network::Regtest, user_pass: None, cookie_dir: None }
    }
}

impl std::fmt::Debug for MockOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOptions")
            .field("network", &self.network)
            .field("user", &self.user_pass.as_ref().map(|(user, _)| user))
            .field("cookie_dir", &self.cookie_dir)
            .finish()
    }
}

/// A fault served instead of the real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// This status with a plain-text body.
    Status(u16),
    /// Status 200 with bytes that are neither JSON nor a block.
    Garbage,
    /// The real answer (to aim a later fault at a later request).
    Pass,
}

/// A served block: its hash, header and serialization.
#[derive(Debug)]
struct Served {
    header: bitcoin::block::Header,
    bytes: Vec<u8>,
}

/// What the handlers share with the [`CoreMock`] handle.
#[derive(Debug)]
struct State {
    network: Network,
    /// The best chain, by height.
    chain: Vec<bitcoin::BlockHash>,
    /// Every block ever served, stale ones included (Core keeps them too).
    blocks: HashMap<bitcoin::BlockHash, Arc<Served>>,
    /// Accepted `Authorization` header values; empty means no authentication.
    credentials: Vec<String>,
    faults: VecDeque<Fault>,
    delay: Duration,
    warmup: Option<String>,
    requests: u64,
}

impl State {
    fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
        state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_chain(&mut self, blocks: Vec<bitcoin::Block>) {
        self.chain.clear();
        for block in blocks {
            self.push(block);
        }
    }

    fn push(&mut self, block: bitcoin::Block) {
        let hash = block.block_hash();
        let bytes = bitcoin::consensus::serialize(&block);
        self.blocks.insert(hash, Arc::new(Served { header: block.header, bytes }));
        self.chain.push(hash);
    }
}

/// A loopback HTTP server answering like bitcoind's REST and JSON-RPC
/// interfaces. It runs on its own thread and tokio runtime, so it serves
/// tests on any runtime (or none), and stops when dropped, also during a
/// panic; it then removes the cookie file it wrote.
#[derive(Debug)]
pub struct CoreMock {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    cookie_path: Option<PathBuf>,
    user_pass: Option<(String, String)>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CoreMock {
    /// Starts serving `chain` (height 0 first) on 127.0.0.1 at a free port.
    ///
    /// # Errors
    /// Binding the port, writing the cookie file or starting the thread.
    pub fn start(chain: Vec<bitcoin::Block>, options: MockOptions) -> io::Result<CoreMock> {
        let mut credentials = Vec::new();
        if let Some((user, password)) = &options.user_pass {
            credentials.push(server::basic(&format!("{user}:{password}")));
        }
        let cookie_path = options.cookie_dir.as_ref().map(|dir| dir.join(".cookie"));
        if let Some(path) = &cookie_path {
            credentials.push(server::basic(&write_cookie(path)?));
        }
        let mut state = State {
            network: options.network,
            chain: Vec::new(),
            blocks: HashMap::new(),
            credentials,
            faults: VecDeque::new(),
            delay: Duration::ZERO,
            warmup: None,
            requests: 0,
        };
        state.set_chain(chain);
        let state = Arc::new(Mutex::new(state));

        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let app = server::router(Arc::clone(&state));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(format!("core-mock-{}", addr.port())).spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    result = axum::serve(listener, app).into_future() => {
                        if let Err(err) = result {
                            tracing::error!(error = %err, "core mock stopped serving");
                        }
                    }
                    _ = stopped => {}
                }
            });
        })?;
        Ok(CoreMock {
            addr,
            state,
            cookie_path,
            user_pass: options.user_pass,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:<port>/`, for both REST and JSON-RPC.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The cookie file it wrote, when started with a cookie directory.
    pub fn cookie_path(&self) -> Option<&Path> {
        self.cookie_path.as_deref()
    }

    /// Writes a new cookie and accepts only it from now on, as Core does
    /// when it restarts.
    ///
    /// # Errors
    /// Writing the file; [`io::ErrorKind::NotFound`] without a cookie directory.
    pub fn rotate_cookie(&self) -> io::Result<()> {
        let path =
            self.cookie_path.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cookie file"))?;
        let cookie = write_cookie(path)?;
        let mut state = State::lock(&self.state);
        state.credentials.clear();
        if let Some((user, password)) = &self.user_pass {
            state.credentials.push(server::basic(&format!("{user}:{password}")));
        }
        state.credentials.push(server::basic(&cookie));
        Ok(())
    }

    /// Replaces the best chain (height 0 first), as after a reorg; blocks
    /// of the old chain stay retrievable by hash.
    pub fn set_chain(&self, chain: Vec<bitcoin::Block>) {
        State::lock(&self.state).set_chain(chain);
    }

    /// Appends a block to the best chain.
    pub fn push_block(&self, block: bitcoin::Block) {
        State::lock(&self.state).push(block);
    }

    /// The height of the best chain's tip (`None` for an empty chain).
    pub fn tip_height(&self) -> Option<u64> {
        State::lock(&self.state).chain.len().checked_sub(1).map(|h| h as u64)
    }

    /// Answers the next `n` requests (of any kind) with `status` and a
    /// plain-text body instead of the real answer.
    pub fn fail_next(&self, n: usize, status: u16) {
        State::lock(&self.state).faults.extend(std::iter::repeat_n(Fault::Status(status), n));
    }

    /// Answers the next `n` requests with status 200 and a body that is
    /// neither JSON nor a block.
    pub fn garbage_next(&self, n: usize) {
        State::lock(&self.state).faults.extend(std::iter::repeat_n(Fault::Garbage, n));
    }

    /// Answers the next `n` requests normally; faults queued after this
    /// then hit the requests that follow.
    pub fn pass_next(&self, n: usize) {
        State::lock(&self.state).faults.extend(std::iter::repeat_n(Fault::Pass, n));
    }

    /// Delays every answer by `delay` (zero to stop).
    pub fn set_delay(&self, delay: Duration) {
        State::lock(&self.state).delay = delay;
    }

    /// Puts the node in Core's warm-up state with `message` (RPC error -28,
    /// REST 503), or takes it out with `None`.
    pub fn set_warmup(&self, message: Option<&str>) {
        State::lock(&self.state).warmup = message.map(str::to_owned);
    }

    /// How many HTTP requests it has received.
    pub fn requests(&self) -> u64 {
        State::lock(&self.state).requests
    }
}

impl Drop for CoreMock {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The thread may have stopped already; then there is nobody to tell.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread was already reported there.
            let _ = thread.join();
        }
        if let Some(path) = &self.cookie_path {
            // Core deletes its cookie on shutdown; a missing file is fine.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes a fresh `__cookie__:<64 hex>` cookie to `path` and returns its contents.
fn write_cookie(path: &Path) -> io::Result<String> {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let cookie = format!("__cookie__:{}", hex::encode(secret));
    std::fs::write(path, &cookie)?;
    Ok(cookie)
}
