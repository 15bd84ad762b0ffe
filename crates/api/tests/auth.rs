//! Authentication, limits and the audit log over real HTTP on loopback,
//! with tokens in a real token file and the audit log in a real store.
//!
//! The auth matrix walks every operation of `chainsleuth_api::openapi()`:
//! with no token, a malformed `Authorization` header, an unknown token, a
//! revoked token and a token one role too low it must be refused (401, or
//! 403 for the low role), and with a token of the role its `security`
//! scopes name it must get past authentication. The audit log must then hold
//! every one of those requests with the right token name and status. Then:
//! web sessions, rate limits (429 with Retry-After), body limits (413),
//! security headers and CORS.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::time::Duration;

use chainsleuth_api::audit::{self, AuditQuery, AuditRecord};
use chainsleuth_api::tokens::TokenFile;
use chainsleuth_api::{ApiState, Limits, Role, Settings};
use reqwest::header::{HeaderMap, AUTHORIZATION, COOKIE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A server on loopback and what the tests need to drive it.
struct Server {
    state: ApiState,
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(dir: &std::path::Path, settings: Settings) -> Server {
        let state = ApiState::open(dir, settings).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(chainsleuth_api::serve(listener, state.clone(), async {
            stopped.await.ok();
        }));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Server { state, base, http, stop: Some(stop), task }
    }

    /// Sends `method path` with `auth` as the `Authorization` header (or
    /// `cookie`), a JSON `{}` body for methods that take one.
    async fn send(&self, method: &Method, path: &str, auth: Option<&str>, cookie: Option<&str>) -> Answer {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth);
        }
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        if *method == Method::POST {
            request = request.header("content-type", "application/json").body("{}");
        }
        let response = request.send().await.unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.bytes().await.unwrap();
        Answer { status, headers, body: serde_json::from_slice(&body).unwrap_or(Value::Null) }
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// A plausible value for path parameter `name` of `path`.
fn fill(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        let name = &rest[open + 1..close];
        out.push_str(&rest[..open]);
        out.push_str(match name {
            "chain" => "btc",
            "address" | "addr" => "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
            "id" if path.contains("/tx/") => "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
            "name" => "Loopback%20Exchange",
            _ => "1",
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Every operation of the OpenAPI document: method, path and the role its
/// `security` asks for (`None` when it needs no token).
fn operations() -> Vec<(Method, String, Option<Role>)> {
    let doc = serde_json::to_value(chainsleuth_api::openapi()).unwrap();
    let default_security = doc["security"].clone();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !matches!(method, Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
                continue;
            }
            let security = op.get("security").unwrap_or(&default_security);
            let schemes: Vec<&Value> =
                security.as_array().unwrap().iter().filter(|s| s.as_object().is_some_and(|o| !o.is_empty())).collect();
            let role = if schemes.is_empty() {
                None
            } else {
                let scopes: Vec<Role> = schemes
                    .iter()
                    .flat_map(|s| s["bearer"].as_array().unwrap().iter())
                    .map(|scope| scope.as_str().unwrap().parse().unwrap())
                    .collect();
                Some(scopes.into_iter().min().unwrap_or(Role::Read))
            };
            ops.push((method, path.clone(), role));
        }
    }
    assert!(ops.len() >= 10, "the document lists the routes: {ops:?}");
    ops
}

fn lower(role: Role) -> Option<Role> {
    match role {
        Role::Read => None,
        Role::Trace => Some(Role::Read),
        Role::Admin => Some(Role::Trace),
    }
}

/// Asserts the security headers of every response.
fn assert_security_headers(what: &str, headers: &HeaderMap) {
    for (name, value) in chainsleuth_api::SECURITY_HEADERS {
        assert_eq!(headers.get(name.as_str()).and_then(|v| v.to_str().ok()), Some(value), "{what}: {name}");
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'none'") && csp.contains("default-src 'self'"), "{csp}");
    assert!(headers.get("access-control-allow-origin").is_none(), "{what}: CORS is off by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_wrong_callers_and_the_audit_log_names_the_right_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = TokenFile::in_dir(dir.path());
    let mut secrets = BTreeMap::new();
    for (name, role) in [("reader", Role::Read), ("tracer", Role::Trace), ("admin", Role::Admin)] {
        secrets.insert(role, (name, file.create(name, role).unwrap()));
    }
    let revoked = file.create("gone", Role::Admin).unwrap();
    file.revoke("gone").unwrap();
    let unlimited = Settings { limits: Limits { rate_per_second: 0.0, ..Limits::default() }, ..Settings::default() };
    let server = Server::start(dir.path(), unlimited).await;

    // (method, path, token name, status) of every request, in order.
    let mut sent: Vec<(String, String, Option<String>, u16)> = Vec::new();
    let ops = operations();
    let mut checked_roles = BTreeMap::new();
    for (method, template, role) in &ops {
        let path = fill(template);
        let what = format!("{method} {template}");
        let Some(role) = *role else {
            let answer = server.send(method, &path, None, None).await;
            assert!(
                ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
                "{what} needs no token: {} {}",
                answer.status,
                answer.body
            );
            assert_security_headers(&what, &answer.headers);
            sent.push((method.to_string(), path.clone(), None, answer.status.as_u16()));
            continue;
        };
        *checked_roles.entry(role).or_insert(0) += 1;
        let refusals = [
            ("no token", None),
            ("another scheme", Some("Basic cmVhZGVyOnNlY3JldA==".to_owned())),
            ("an empty bearer", Some("Bearer".to_owned())),
            ("an unknown token", Some(format!("Bearer {}", chainsleuth_api::tokens::new_secret()))),
            ("a revoked token", Some(format!("Bearer {revoked}"))),
        ];
        for (case, auth) in refusals {
            let answer = server.send(method, &path, auth.as_deref(), None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what} with {case}: {}", answer.body);
            assert_eq!(answer.body["code"], "unauthorized", "{what} with {case}");
            assert!(answer.body["message"].as_str().unwrap().starts_with("Authorization: "));
            assert_security_headers(&what, &answer.headers);
            sent.push((method.to_string(), path.clone(), None, 401));
        }
        if let Some(low) = lower(role) {
            let (name, secret) = &secrets[&low];
            let answer = server.send(method, &path, Some(&format!("Bearer {secret}")), None).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what} with a {low:?} token: {}", answer.body);
            assert_eq!(answer.body["code"], "forbidden");
            sent.push((method.to_string(), path.clone(), Some((*name).to_owned()), 403));
        }
        let (name, secret) = &secrets[&role];
        let answer = server.send(method, &path, Some(&format!("Bearer {secret}")), None).await;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
            "{what} with a {role:?} token: {} {}",
            answer.status,
            answer.body
        );
        assert_security_headers(&what, &answer.headers);
        sent.push((method.to_string(), path.clone(), Some((*name).to_owned()), answer.status.as_u16()));
    }
    assert!(checked_roles.contains_key(&Role::Read) && checked_roles.contains_key(&Role::Admin), "{checked_roles:?}");

    // The web session: a cookie from a login works like the token, ends
    // with logout, and dies with its token.
    let (_, reader) = &secrets[&Role::Read];
    assert_eq!(chainsleuth_api::login(&server.state, &revoked).unwrap_err().status, StatusCode::UNAUTHORIZED);
    let login = chainsleuth_api::login(&server.state, reader).unwrap();
    let set_cookie = login.set_cookie.to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert_eq!((login.name.as_str(), login.role), ("reader", Role::Read));
    let answer = server.send(&Method::GET, "/v1/status", None, Some(&cookie)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    sent.push(("GET".into(), "/v1/status".into(), Some("reader".into()), 200));
    let forged = format!("{}={}", chainsleuth_api::SESSION_COOKIE, chainsleuth_api::tokens::new_secret());
    assert_eq!(server.send(&Method::GET, "/v1/status", None, Some(&forged)).await.status, StatusCode::UNAUTHORIZED);
    sent.push(("GET".into(), "/v1/status".into(), None, 401));
    let other = chainsleuth_api::login(&server.state, reader).unwrap();
    let other = other.set_cookie.to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("cookie", other.parse().unwrap());
    assert!(chainsleuth_api::logout(&server.state, &headers).to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(server.send(&Method::GET, "/v1/status", None, Some(&other)).await.status, StatusCode::UNAUTHORIZED);
    sent.push(("GET".into(), "/v1/status".into(), None, 401));
    file.revoke("reader").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = server.send(&Method::GET, "/v1/status", None, Some(&cookie)).await.status;
        let token = (status == StatusCode::OK).then(|| "reader".to_owned());
        sent.push(("GET".into(), "/v1/status".into(), token, status.as_u16()));
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the revoked token's session still works");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    server.state.audit.flush();
    let records = audit::read(dir.path(), &AuditQuery::default()).unwrap();
    let logged: Vec<_> =
        records.iter().map(|r| (r.method.clone(), r.path.clone(), r.token.clone(), r.status)).collect();
    let audited: Vec<_> =
        sent.iter().filter(|(_, path, _, _)| !audit::UNAUDITED.contains(&path.as_str())).cloned().collect();
    assert_eq!(logged.len(), audited.len());
    for (n, (got, want)) in logged.iter().zip(&audited).enumerate() {
        assert_eq!(got, want, "audit record {n}");
    }
    let admin_only =
        audit::read(dir.path(), &AuditQuery { token: Some("admin".into()), ..AuditQuery::default() }).unwrap();
    assert_eq!(admin_only.len(), audited.iter().filter(|s| s.2.as_deref() == Some("admin")).count());
    let record: &AuditRecord = records.iter().find(|r| r.method == "POST").expect("a POST route was audited");
    assert!(record.params.is_some(), "{record:?}");
    assert!(records.iter().all(|r| r.latency_ms >= 0.0 && r.client.as_deref() == Some("127.0.0.1")));
    let text = serde_json::to_string(&records).unwrap();
    for (_, secret) in secrets.values() {
        assert!(!text.contains(secret.as_str()), "a secret reached the audit log");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_body_limits_answer_json_and_cors_follows_the_allow_list() {
    let dir = tempfile::tempdir().unwrap();
    let secret = TokenFile::in_dir(dir.path()).create("busy", Role::Admin).unwrap();
    let limits = Limits {
        rate_per_second: 0.5,
        rate_burst: 3,
        max_body_bytes: 1024,
        cors_origins: vec!["https://case.example".into()],
        ..Limits::default()
    };
    let server = Server::start(dir.path(), Settings { limits, ..Settings::default() }).await;
    let bearer = format!("Bearer {secret}");
    let post = operations().into_iter().find(|(m, _, _)| *m == Method::POST).map(|(_, p, _)| fill(&p)).unwrap();

    // An oversized body: declared by Content-Length, and streamed in chunks.
    let big = server
        .http
        .post(format!("{}{post}", server.base))
        .header(AUTHORIZATION, &bearer)
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers("413", big.headers());
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large");
    assert!(
        body["message"].as_str().unwrap().starts_with("body: ") && body["message"].as_str().unwrap().contains("1024")
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let post_path = post.clone();
    let chunked = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(stream, "POST {post_path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {bearer}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
        for _ in 0..8 {
            // Writes may fail once the server has answered and closed.
            let _ = write!(stream, "200\r\n{}\r\n", " ".repeat(512));
        }
        let _ = write!(stream, "0\r\n\r\n");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    })
    .await
    .unwrap();
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(chunked.contains("body_too_large"), "{chunked}");

    // CORS: the allowed origin gets its headers and a preflight answer,
    // another origin gets none.
    let preflight = server
        .http
        .request(Method::OPTIONS, format!("{}/v1/status", server.base))
        .header("origin", "https://case.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://case.example");
    let allowed = server
        .http
        .get(format!("{}/v1/status", server.base))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .header("origin", "https://case.example")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://case.example");
    let elsewhere = server.send(&Method::GET, "/healthz", None, None).await;
    assert!(elsewhere.headers.get("access-control-allow-origin").is_none());
    let other = server
        .http
        .get(format!("{}/healthz", server.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // The rate: 3 in a burst, then one every 2 s. The oversized POSTs above
    // never reached the token check; the GET with an origin took one.
    let auth = format!("Bearer {secret}");
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..4 {
        let answer = server.send(&Method::GET, "/v1/status", Some(&auth), None).await;
        statuses.push(answer.status.as_u16());
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let limited = limited.unwrap();
    let retry: u64 = limited.headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(limited.body["code"], "rate_limited");
    assert!(limited.body["message"].as_str().unwrap().contains("\"busy\""), "{}", limited.body);
    assert_security_headers("429", &limited.headers);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(server.send(&Method::GET, "/v1/status", Some(&auth), None).await.status, StatusCode::OK);

    server.stop().await;
    let records = audit::read(dir.path(), &AuditQuery { token: Some("busy".into()), ..AuditQuery::default() }).unwrap();
    assert_eq!(
        records.iter().filter(|r| r.status == 429).count(),
        2,
        "the refused requests are audited with their token"
    );
    let all = audit::read(dir.path(), &AuditQuery::default()).unwrap();
    assert_eq!(all.iter().filter(|r| r.status == 413).count(), 2);
}
