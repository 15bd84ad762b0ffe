//! Helpers shared by the end-to-end tests: run the real `chainsleuth`
//! binary, build simulated chains on disk, read digests.

#![allow(dead_code)]

pub mod browser;

use std::path::Path;
use std::process::{Command, Output};

use chainsleuth_btc::sim::{build_chain, write_blocks_dir, BlkDirOptions, SimChain, SimConfig};

/// The binary under test.
pub fn chainsleuth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chainsleuth"));
    cmd.env_remove("CHAINSLEUTH_DATA_DIR").env_remove("CHAINSLEUTH_CONFIG").env("RUST_LOG", "warn");
    cmd
}

/// Runs the binary with `args` on `data_dir` and returns its output.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    chainsleuth().arg("--data-dir").arg(data_dir).args(args).output().expect("the binary runs")
}

/// Runs the binary and insists that it succeeds; returns stdout.
pub fn run_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = run(data_dir, args);
    assert!(
        out.status.success(),
        "chainsleuth {args:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Runs the binary and insists that it fails with exit status 2; returns stderr.
pub fn run_err(data_dir: &Path, args: &[&str]) -> String {
    let out = run(data_dir, args);
    assert_eq!(out.status.code(), Some(2), "chainsleuth {args:?} should fail with 2: {out:?}");
    String::from_utf8(out.stderr).expect("output is UTF-8")
}

/// `chainsleuth db digest` of a data directory.
pub fn digest(data_dir: &Path) -> String {
    run_ok(data_dir, &["db", "digest"]).trim().to_owned()
}

/// Builds a chain and writes it as a Core blocks directory under `dir`.
pub fn chain_on_disk(dir: &Path, blocks: u32, txs_per_block: u32, seed: u64, xor: Option<[u8; 8]>) -> SimChain {
    let chain = build_chain(&SimConfig { blocks, seed, txs_per_block, ..SimConfig::default() });
    write_blocks_dir(dir, &chain.blocks, &BlkDirOptions { xor_key: xor, shuffle: true, ..BlkDirOptions::default() })
        .expect("writing the blocks directory");
    chain
}

/// Appends `blocks` to the last block file of the blocks directory that
/// [`write_blocks_dir`] wrote under `dir` (regtest magic, no XOR), as a
/// node does when new blocks arrive.
pub fn append_blocks(dir: &Path, blocks: &[bitcoin::Block]) {
    use std::io::Write as _;
    let blocks_dir = dir.join("blocks");
    let last = std::fs::read_dir(&blocks_dir)
        .expect("the blocks directory exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("blk")))
        .max()
        .expect("a block file");
    let mut file = std::fs::OpenOptions::new().append(true).open(&last).expect("opening the last block file");
    for block in blocks {
        let bytes = bitcoin::consensus::serialize(block);
        let mut record = bitcoin::Network::Regtest.magic().to_bytes().to_vec();
        record.extend_from_slice(&u32::try_from(bytes.len()).expect("a block under 4 GB").to_le_bytes());
        record.extend_from_slice(&bytes);
        file.write_all(&record).expect("appending a block");
    }
}

/// A running `chainsleuth serve` and the address it listens on; killed on
/// drop if still running. Its stderr is collected in `log`.
pub struct Served {
    pub child: std::process::Child,
    pub addr: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    /// Starts `chainsleuth --config CONFIG serve --listen 127.0.0.1:0` and
    /// waits for the address it prints.
    pub fn start(config: &Path) -> Served {
        use std::io::BufRead as _;
        let mut child = chainsleuth()
            .arg("--config")
            .arg(config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr is piped"));
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            let read = stderr.read_line(&mut line).expect("reading serve's stderr");
            log.lock().unwrap().push_str(&line);
            assert!(read > 0, "serve exited before listening:\n{}", log.lock().unwrap());
            if let Some(addr) = line.trim().strip_prefix("listening on http://") {
                break addr.to_owned();
            }
        };
        let collect = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                collect.lock().unwrap().push_str(&line);
                collect.lock().unwrap().push('\n');
            }
        });
        Served { child, addr, log }
    }

    /// Sends SIGTERM and waits (at most `within`) for the exit status.
    pub fn terminate(&mut self, within: std::time::Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs").success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for serve") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "serve did not stop within {within:?}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive HTTP/1.1 connection, enough for the API's answers (each
/// has a Content-Length).
pub struct Http {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    host: String,
}

impl Http {
    /// Connects to `addr` (host:port).
    pub async fn connect(addr: &str) -> Http {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connecting to the server");
        stream.set_nodelay(true).expect("setting TCP_NODELAY");
        Http { stream: tokio::io::BufReader::new(stream), host: addr.to_owned() }
    }

    /// `GET path` with an optional bearer token: the status and the body.
    pub async fn get(&mut self, path: &str, token: Option<&str>) -> (u16, String) {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}\r\n", self.host);
        self.stream.get_mut().write_all(request.as_bytes()).await.expect("sending a request");
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("reading the status line");
        let status = line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("reading a header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a numeric Content-Length");
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("reading the body");
        (status, String::from_utf8(body).expect("a UTF-8 body"))
    }
}

/// One GET over a fresh connection with a bearer token: the status code
/// and the JSON body.
pub fn http_get(addr: &str, path: &str, secret: &str) -> (u16, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting to serve");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("setting a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n"
    )
    .expect("sending the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete HTTP response");
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    (status, serde_json::from_str(body).unwrap_or_else(|err| panic!("{path}: {err}: {body}")))
}

/// Starts `chainsleuth serve` over `data_dir` (through a config file beside
/// it naming the directory) and waits until it listens.
pub fn serve(data_dir: &Path) -> Served {
    std::fs::create_dir_all(data_dir).expect("creating the data directory");
    let config = data_dir.with_extension("toml");
    std::fs::write(&config, format!("data_dir = {:?}\n", data_dir.display().to_string())).expect("writing a config");
    Served::start(&config)
}

impl Served {
    /// Sends SIGTERM, waits (up to 20 s) for the exit, and returns its
    /// status and everything it wrote to stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let exit = self.terminate(std::time::Duration::from_secs(20));
        // The collecting thread finishes when the pipe closes, just after the exit.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let log = self.log.lock().expect("the log reader does not panic").clone();
        (exit, log)
    }
}

/// Imports `address` (regtest) as the licensed exchange "Bank Exchange" of
/// tag source `case-exchanges`, through a list file written in `work`.
pub fn tag_regtest_exchange(data_dir: &Path, work: &Path, address: &str) {
    let list = work.join("exchange.txt");
    std::fs::write(&list, format!("{address}\n")).unwrap();
    let list = list.to_str().unwrap();
    run_ok(
        data_dir,
        &[
            "tags",
            "import",
            list,
            "--format",
            "list",
            "--source",
            "case-exchanges",
            "--category",
            "exchange_licensed",
            "--entity",
            "Bank Exchange",
            "--chain",
            "btc",
            "--btc-network",
            "regtest",
        ],
    );
}
