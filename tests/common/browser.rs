//! A headless Chromium driven over WebDriver by chromedriver (Debian's
//! `chromium` and `chromium-driver`, installed by
//! scripts/install-test-deps.sh), for the tests of pages: the web view
//! (tests/web.rs) and the HTML case report (tests/report_html.rs).
//! Screenshots are checked to show a page; `CHAINSLEUTH_WEB_SCREENSHOTS=DIR`
//! keeps them.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// How long any one wait of a page test may take.
pub const WAIT: Duration = Duration::from_secs(60);
/// The WebDriver name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One browser session of chromedriver.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    shots: Option<PathBuf>,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium
    /// session with its profile under `profile`, with JavaScript on or off
    /// for the pages (WebDriver's own scripts run either way).
    pub async fn start(profile: &Path, javascript: bool) -> (Killed, Browser) {
        let port = free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/install-test-deps.sh installs it)");
        let driver = Killed(driver);
        let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(body) = ready {
                if body.json::<Value>().await.is_ok_and(|status| status["value"]["ready"] == true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "prefs": { "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 } },
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let created: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let id = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
        let shots = std::env::var_os("CHAINSLEUTH_WEB_SCREENSHOTS").map(PathBuf::from);
        (driver, Browser { http, session: format!("{base}/session/{id}"), shots })
    }

    /// One WebDriver command; its `value`, or a panic with the driver's error.
    pub async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    /// The elements `css` selects (maybe none).
    pub async fn all(&self, css: &str) -> Vec<String> {
        let found = self
            .command(reqwest::Method::POST, "/elements", Some(json!({ "using": "css selector", "value": css })))
            .await;
        found.as_array().unwrap().iter().map(|e| e[ELEMENT].as_str().unwrap().to_owned()).collect()
    }

    /// The first element `css` selects, waiting for one to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(first) = self.all(css).await.into_iter().next() {
                return first;
            }
            assert!(Instant::now() < deadline, "no {css:?} on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let text = self.command(reqwest::Method::GET, &format!("/element/{element}/text"), None).await;
        text.as_str().unwrap().to_owned()
    }

    pub async fn attribute(&self, css: &str, name: &str) -> String {
        let element = self.find(css).await;
        let value = self.command(reqwest::Method::GET, &format!("/element/{element}/attribute/{name}"), None).await;
        value.as_str().unwrap_or_else(|| panic!("{css} has no {name}")).to_owned()
    }

    /// Replaces the value of the field `css` selects with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/clear"), Some(json!({}))).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({ "text": text }))).await;
    }

    /// The page's markup.
    pub async fn source(&self) -> String {
        self.command(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_owned()
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Waits until the address bar satisfies `want`; returns it.
    pub async fn wait_url(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if want(&url) {
                return url;
            }
            assert!(Instant::now() < deadline, "never reached {what}; at {url}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A screenshot of the page, checked to show something.
    pub async fn screenshot(&self, name: &str) {
        let data = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap()).unwrap();
        if let Some(dir) = &self.shots {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
        assert_not_blank(&png, name);
    }

    /// Runs `script` in the page (a function body; `arguments` holds
    /// `args`) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// One Chrome DevTools Protocol command through chromedriver, e.g.
    /// `Emulation.setEmulatedMedia`.
    pub async fn devtools(&self, cmd: &str, params: Value) -> Value {
        self.command(reqwest::Method::POST, "/goog/cdp/execute", Some(json!({ "cmd": cmd, "params": params }))).await
    }

    pub async fn close(self) {
        self.http.delete(&self.session).send().await.unwrap();
    }
}

/// Decodes a PNG and checks it is a page and not a blank or one-colour
/// screen: at least 16 distinct colours, none covering 98% of the pixels.
pub fn assert_not_blank(png: &[u8], name: &str) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buf).unwrap();
    let samples = frame.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..frame.buffer_size()].chunks(samples).collect();
    assert!(frame.width >= 800 && frame.height >= 600, "{name}: {}x{}", frame.width, frame.height);
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for pixel in &pixels {
        *counts.entry(pixel).or_default() += 1;
    }
    let commonest = counts.values().max().copied().unwrap_or(0);
    let colours: HashSet<&&[u8]> = counts.keys().collect();
    assert!(colours.len() >= 16, "{name}: only {} colours", colours.len());
    assert!(commonest * 100 < pixels.len() * 98, "{name}: one colour covers {commonest} of {} pixels", pixels.len());
}
