//! A property-based test of the whole API over loopback: for every
//! operation of the OpenAPI document, random path parameters, query strings
//! (huge and negative limits, bad cursors, unknown names, repeated names,
//! broken percent-encoding, unicode, empty values) and bodies (malformed
//! JSON, wrong types, random bytes, objects with the request schema's
//! fields holding the wrong things), sent with an admin token so every
//! route gets past authentication. Every answer must come within the
//! timeout, never be a 5xx, and every error must be a JSON `{code,
//! message}` whose message names a field. Runs a few hundred cases with a
//! fixed seed, against a store indexed from a simulated chain with tags.

mod common;

use std::time::Duration;

use chainsleuth_api::tokens::TokenFile;
use chainsleuth_api::{ApiState, Limits, Role, Settings, Token};
use common::{encode, import_tags, index_chain, operations, Operation, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::Value;

const ADMIN: &str = "fuzz-admin-secret-0123456789abcdef";

/// Cases per operation (the run is about 12 per operation in all).
const CASES_PER_OPERATION: u32 = 12;

/// No answer may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Texts worth sending anywhere: real identifiers of the indexed chain,
/// numbers at and past every bound, cursor-shaped hex, unicode, long runs.
fn text(known: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(known),
        2 => proptest::sample::select(vec![
            String::new(),
            "0".into(),
            "-1".into(),
            "1".into(),
            "10001".into(),
            "18446744073709551616".into(),
            "99999999999999999999999999999".into(),
            "1e3".into(),
            "null".into(),
            "true".into(),
            "ETH".into(),
            "btc".into(),
            "eth".into(),
            "exchange".into(),
            "json".into(),
            "list".into(),
            "../../etc/passwd".into(),
            "é".repeat(100),
            "a".repeat(5000),
            "\u{0}\u{7f}\u{feff}".into(),
        ]),
        2 => "[0-9a-f]{1,70}",
        1 => "0x[0-9a-fA-F]{38,42}",
        2 => "\\PC{0,30}",
        1 => "[a-z_]{1,12}",
    ]
}

/// A query string: some of the operation's parameters and unknown ones,
/// well encoded, or raw garbage.
fn query(names: Vec<String>, known: Vec<String>) -> impl Strategy<Value = String> {
    let name = if names.is_empty() {
        "[a-z_]{1,8}".boxed()
    } else {
        prop_oneof![4 => proptest::sample::select(names), 1 => "[a-z_]{1,8}"].boxed()
    };
    let pairs = proptest::collection::vec((name, text(known)), 0..4)
        .prop_map(|pairs| pairs.iter().map(|(n, v)| format!("{n}={}", encode(v))).collect::<Vec<_>>().join("&"));
    prop_oneof![
        6 => pairs,
        1 => proptest::sample::select(vec![
            "limit=%ZZ".to_owned(),
            "&&==&".into(),
            "limit=1&limit=2".into(),
            "cursor=%FF%FE".into(),
            "=".into(),
        ]),
    ]
}

/// A JSON value of any shape, objects keyed by `fields` or at random.
fn json(fields: Vec<String>, known: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        text(known).prop_map(Value::String),
    ];
    let key = if fields.is_empty() {
        "[a-z_]{1,8}".boxed()
    } else {
        prop_oneof![3 => proptest::sample::select(fields), 1 => "[a-z_]{1,8}"].boxed()
    };
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body: none, malformed JSON, random bytes, or any JSON value.
fn body(fields: Vec<String>, known: Vec<String>) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => proptest::sample::select(vec![
            b"{".to_vec(),
            b"{\"source\": 5}".to_vec(),
            b"[1, 2".to_vec(),
            b"\xff\xfe\x00".to_vec(),
            b"{\"a\": 1e999999}".to_vec(),
            "\"\u{0}\"".as_bytes().to_vec(),
        ]).prop_map(Some),
        1 => proptest::collection::vec(any::<u8>(), 0..256).prop_map(Some),
        4 => json(fields, known).prop_map(|v| Some(v.to_string().into_bytes())),
    ]
}

/// The property names of the schema of an operation's request body.
fn body_fields(doc: &Value, operation: &Operation) -> Vec<String> {
    let content = &operation.spec["requestBody"]["content"];
    let Some((_, media)) = content.as_object().and_then(|c| c.iter().next()) else { return Vec::new() };
    let mut schema = &media["schema"];
    if let Some(reference) = schema["$ref"].as_str() {
        schema = doc.pointer(&reference.replacen('#', "", 1)).unwrap_or(&Value::Null);
    }
    schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

/// Checks one answer: in time, not a 5xx, errors as JSON `{code, message}`.
fn check(what: &str, answer: Option<common::Answer>) -> Result<(), TestCaseError> {
    let answer = answer.ok_or_else(|| TestCaseError::fail(format!("{what}: no answer within {TIMEOUT:?}")))?;
    let body = String::from_utf8_lossy(&answer.body);
    prop_assert!(!answer.status.is_server_error(), "{what}: {} {body}", answer.status);
    if answer.status.is_client_error() {
        prop_assert!(answer.content_type.starts_with("application/json"), "{what}: {} {body}", answer.content_type);
        let error = answer.json();
        let (code, message) = (error["code"].as_str(), error["message"].as_str());
        prop_assert!(code.is_some_and(|c| !c.is_empty()), "{what}: no code in {body}");
        let message = message.unwrap_or_default();
        prop_assert!(message.contains(": "), "{what}: the message names no field: {body}");
    }
    Ok(())
}

/// Sends `method path` with a `Content-Length` past the server's body limit
/// and no body, and reads the answer (`None` when none comes in time).
async fn oversized(base: &str, method: &str, path: &str) -> Option<common::Answer> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        (16 << 20) + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse::<u16>().ok()?;
    let content_type = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    Some(common::Answer {
        status: reqwest::StatusCode::from_u16(status).ok()?,
        content_type,
        body: body.as_bytes().to_vec(),
    })
}

#[test]
fn random_requests_to_every_operation_get_a_json_4xx_or_success_never_a_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let chain = index_chain(dir.path(), 110, 5);
    let (busiest, _) = chain.truth.addresses.iter().max_by_key(|(_, t)| t.tx_count).unwrap();
    import_tags(dir.path(), "fuzz-list", "exchange", "Fuzz Exchange", &[busiest]);
    let txid = chain.blocks[10].txdata[0].compute_txid().to_string();
    let known = vec![busiest.clone(), txid, "1".into(), "Fuzz Exchange".into(), "fuzz-list".into()];

    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The rate limit is off: the test is about what each route answers.
    TokenFile::in_dir(dir.path()).add(&Token::new(Role::Admin, ADMIN).unwrap()).unwrap();
    let settings = Settings { limits: Limits { rate_per_second: 0.0, ..Limits::default() }, ..Settings::default() };
    let state = ApiState::open(dir.path(), settings).unwrap();
    let server = runtime.block_on(Server::start(state));
    let doc = serde_json::to_value(chainsleuth_api::openapi()).unwrap();
    let config =
        Config { cases: CASES_PER_OPERATION, max_shrink_iters: 64, failure_persistence: None, ..Config::default() };
    let sent = std::cell::Cell::new(0u32);
    for (index, operation) in operations(&doc).into_iter().enumerate() {
        let method = operation.http_method();
        let inputs = (
            proptest::collection::vec(text(known.clone()), operation.params("path").len()),
            query(operation.params("query"), known.clone()),
            body(body_fields(&doc, &operation), known.clone()),
        );
        let seed: [u8; 32] = std::array::from_fn(|i| (index * 31 + i) as u8);
        let mut runner = TestRunner::new_with_rng(config.clone(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
        let result = runner.run(&inputs, |(values, query, body)| {
            let mut values = values.iter();
            let path = operation.fill(|_| encode(values.next().map_or("", String::as_str)));
            let target = if query.is_empty() { path } else { format!("{path}?{query}") };
            let what = format!("{method} {}", target.chars().take(300).collect::<String>());
            let send = server.send(&method, &target, ADMIN, body.as_deref());
            sent.set(sent.get() + 1);
            check(&what, runtime.block_on(async { tokio::time::timeout(TIMEOUT, send).await.ok() }))
        });
        if let Err(err) = result {
            panic!("{} {}: {err}", operation.method, operation.path);
        }
    }
    assert!(sent.get() >= CASES_PER_OPERATION * 8, "only {} requests were sent", sent.get());

    // A body past the server's limit, to every operation that takes one:
    // announced by Content-Length, so the server refuses it before reading.
    for operation in operations(&doc).iter().filter(|op| op.spec.get("requestBody").is_some()) {
        let path = operation.fill(|_| "1".into());
        let what = format!("{} {path} announcing a 16 MiB body", operation.method);
        let answer = runtime.block_on(oversized(&server.base, &operation.method.to_uppercase(), &path));
        check(&what, answer).unwrap_or_else(|err| panic!("{err}"));
    }
    runtime.block_on(server.stop());
}

#[test]
fn the_check_refuses_server_errors_bare_errors_and_silence() {
    let answer = |status: u16, content_type: &str, body: &str| {
        Some(common::Answer {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            content_type: content_type.into(),
            body: body.as_bytes().to_vec(),
        })
    };
    let json = "application/json";
    assert!(check("ok", answer(200, "text/plain", "fine")).is_ok());
    assert!(check("named", answer(400, json, r#"{"code":"invalid_limit","message":"limit: too big"}"#)).is_ok());
    assert!(check("5xx", answer(500, json, r#"{"code":"internal","message":"x: failed"}"#)).is_err());
    assert!(check("text", answer(404, "text/plain", "not found")).is_err());
    assert!(check("no code", answer(400, json, r#"{"message":"limit: too big"}"#)).is_err());
    assert!(check("no field", answer(400, json, r#"{"code":"bad","message":"too big"}"#)).is_err());
    assert!(check("silence", None).is_err());
}
