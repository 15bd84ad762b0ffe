//! Trace jobs and the exposure route over loopback HTTP, against a
//! simulated Bitcoin chain indexed to disk and one tag list: a job's report
//! is the one `run_trace` gives for the same request, in every format; bad
//! bodies are 4xx naming the field; a read token cannot start or cancel a
//! job; a running job can be cancelled; a too-small budget fails the job
//! with a clear error; a job left running by a stopped server is marked
//! failed when the state is opened again.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chainsleuth_api::jobs::JobSettings;
use chainsleuth_api::{ApiState, Role, Settings, Token};
use chainsleuth_case::{CaseConfig, ExposureDirection, ExposureRequest, ModelChoice, TraceRequest};
use chainsleuth_trace::Budget;
use common::Server;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const READ: &str = "read-secret-0123456789abcdef";
const TRACE: &str = "trace-secret-0123456789abcdef";

fn tokens() -> Vec<Token> {
    vec![Token::named("reader", Role::Read, READ).unwrap(), Token::named("analyst", Role::Trace, TRACE).unwrap()]
}

/// Opens the state of `dir` with `jobs` settings (the tokens are stored by
/// the first [`ApiState::new`]); a state just dropped may still be closing
/// its stores, so opening is retried for a moment.
fn open_state(dir: &Path, jobs: JobSettings) -> ApiState {
    let started = Instant::now();
    loop {
        match ApiState::open(dir, Settings { jobs: jobs.clone(), ..Settings::default() }) {
            Ok(state) => return state,
            Err(err) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("reopening: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!("opening the state again: {err}"),
        }
    }
}

async fn post(server: &Server, secret: &str, body: &str) -> common::Answer {
    server.send(&Method::POST, "/v1/traces", secret, Some(body.as_bytes())).await
}

/// Starts a job and returns its id.
async fn start(server: &Server, body: &Value) -> u64 {
    let answer = post(server, TRACE, &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&answer.body));
    let job = answer.json();
    assert_eq!(job["status"], "queued", "{job}");
    job["id"].as_u64().unwrap()
}

/// Polls job `id` until `done(job)` holds.
async fn wait_for(server: &Server, id: u64, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let job = server.ok(&format!("/v1/traces/{id}"), READ).await;
        if done(&job) {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "job {id} never got there: {job}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn ended(server: &Server, id: u64) -> Value {
    wait_for(server, id, |job| matches!(job["status"].as_str(), Some("done" | "failed" | "cancelled"))).await
}

/// Asserts `answer` is `status` with a message starting with `field: `.
fn refused(answer: &common::Answer, status: StatusCode, field: &str, what: &str) {
    let body = answer.json();
    assert_eq!(answer.status, status, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(&format!("{field}: ")), "{what}: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_report_like_run_trace_in_every_format_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let chain = common::index_chain(dir.path(), 160, 21);
    let mut busy: Vec<(&String, u64)> = chain.truth.addresses.iter().map(|(a, t)| (a, t.tx_count)).collect();
    busy.sort_by_key(|(a, n)| (std::cmp::Reverse(*n), (*a).clone()));
    let seeds: Vec<String> = busy[..3].iter().map(|(a, _)| format!("btc:{a}")).collect();
    let body = json!({ "seeds": seeds, "max_hops": 6 });
    let request: TraceRequest = serde_json::from_value(body.clone()).unwrap();
    // The exchange: where most of the seeds' funds are held before any tag.
    let untagged =
        chainsleuth_case::run_trace(dir.path(), &CaseConfig::default(), &request, &Budget::unlimited()).unwrap();
    let holders = &untagged.models["poison"].holders;
    let exchange = holders.iter().find(|h| !seeds.contains(&format!("btc:{}", h.address))).unwrap().address.clone();
    let exchange = exchange.as_str();
    common::import_tags(dir.path(), "loopback", "exchange", "Loopback Exchange", &[exchange]);
    let server = Server::start(ApiState::new(dir.path(), tokens())).await;

    let refused_read = post(&server, READ, &body.to_string()).await;
    refused(&refused_read, StatusCode::FORBIDDEN, "Authorization", "a read token posting");

    let id = start(&server, &body).await;
    let job = ended(&server, id).await;
    assert_eq!((job["status"].as_str(), job["token"].as_str()), (Some("done"), Some("analyst")), "{job}");
    assert!(job["visited"].as_u64().unwrap() > 0 && job["finished"].is_string(), "{job}");

    let direct =
        chainsleuth_case::run_trace(dir.path(), &CaseConfig::default(), &request, &Budget::unlimited()).unwrap();
    let direct_json: Value = serde_json::from_str(&direct.to_json()).unwrap();
    assert_eq!(job["result"], direct_json, "the job's result is run_trace's report");
    assert!(direct_json["models"]["poison"]["offramps"].as_array().is_some_and(|o| !o.is_empty()));

    for (format, content_type, bytes) in [
        ("json", "application/json", direct.to_json()),
        ("csv", "text/csv; charset=utf-8", direct.to_csv()),
        ("dot", "text/vnd.graphviz; charset=utf-8", direct.to_dot()),
        ("graphml", "application/graphml+xml", direct.to_graphml()),
        ("html", "text/html; charset=utf-8", direct.to_html()),
    ] {
        let answer = server.send(&Method::GET, &format!("/v1/traces/{id}/report?format={format}"), READ, None).await;
        assert_eq!((answer.status, answer.content_type.as_str()), (StatusCode::OK, content_type), "{format}");
        assert_eq!(String::from_utf8(answer.body).unwrap(), bytes, "{format}: the same bytes as the report's");
    }
    let html = direct.to_html();
    assert!(html.contains("Loopback Exchange") && html.contains(exchange) && !html.contains("<script"));
    let default = server.send(&Method::GET, &format!("/v1/traces/{id}/report"), READ, None).await;
    assert_eq!(default.content_type, "application/json");

    // The list: newest first, paged.
    let second = start(&server, &json!({ "seeds": [&seeds[0]], "model": "haircut", "max_hops": 3 })).await;
    ended(&server, second).await;
    let page = server.ok("/v1/traces?limit=1", READ).await;
    assert_eq!(page["jobs"][0]["id"], second, "{page}");
    assert!(page["jobs"][0]["result"].is_null(), "lists leave results out");
    let cursor = page["next_cursor"].as_str().unwrap();
    let older = server.ok(&format!("/v1/traces?limit=1&cursor={cursor}"), READ).await;
    assert_eq!((older["jobs"][0]["id"].as_u64(), older["next_cursor"].as_str()), (Some(id), None), "{older}");

    // Bad bodies and parameters: 4xx naming the field, nothing queued.
    let seed = &seeds[0];
    for (body, status, field) in [
        ("{\"seeds\": [".to_owned(), StatusCode::BAD_REQUEST, "body"),
        ("[1, 2]".to_owned(), StatusCode::BAD_REQUEST, "body"),
        (format!("{{\"seeds\": [\"{seed}\"]}} trailing"), StatusCode::BAD_REQUEST, "body"),
        (json!({ "seeds": [seed], "max_hops": -1 }).to_string(), StatusCode::BAD_REQUEST, "max_hops"),
        (json!({ "seeds": [seed], "max_hops": 0 }).to_string(), StatusCode::BAD_REQUEST, "max_hops"),
        (json!({ "seeds": [seed], "max_hops": 1_000_000 }).to_string(), StatusCode::BAD_REQUEST, "max_hops"),
        (json!({ "seeds": [seed], "max_hops": "ten" }).to_string(), StatusCode::BAD_REQUEST, "max_hops"),
        (
            json!({ "seeds": [seed, "eth:0x0000000000000000000000000000000000000001"] }).to_string(),
            StatusCode::BAD_REQUEST,
            "seeds",
        ),
        (json!({ "seeds": ["doge:abc"] }).to_string(), StatusCode::BAD_REQUEST, "seeds"),
        (json!({ "seeds": "btc:abc" }).to_string(), StatusCode::BAD_REQUEST, "seeds"),
        (json!({}).to_string(), StatusCode::BAD_REQUEST, "seeds"),
        (json!({ "seeds": [seed], "min_amount": "lots" }).to_string(), StatusCode::BAD_REQUEST, "min_amount"),
        (json!({ "seeds": [seed], "from_block": 9, "to_block": 3 }).to_string(), StatusCode::BAD_REQUEST, "from_block"),
        (json!({ "seeds": [seed], "direction": "sideways" }).to_string(), StatusCode::BAD_REQUEST, "direction"),
        (
            json!({ "seeds": [seed], "direction": "backward", "model": "fifo" }).to_string(),
            StatusCode::BAD_REQUEST,
            "model",
        ),
        (
            json!({ "seeds": ["eth:0x0000000000000000000000000000000000000001"] }).to_string(),
            StatusCode::NOT_FOUND,
            "chain",
        ),
    ] {
        refused(&post(&server, TRACE, &body).await, status, field, &body);
    }
    let unknown = post(&server, TRACE, &json!({ "seeds": [seed], "hops": 3 }).to_string()).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["message"].as_str().unwrap().contains("unknown field `hops`"), "the field is named");
    let page = server.ok("/v1/traces", READ).await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 2, "no bad request was queued: {page}");

    // A job whose trace fails when it runs says why, naming the field.
    let beyond = start(&server, &json!({ "seeds": [seed], "to_block": 999 })).await;
    let failed = ended(&server, beyond).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().starts_with("to_block: 999: is beyond the indexed tip"), "{failed}");
    refused(
        &server.send(&Method::GET, &format!("/v1/traces/{beyond}/report"), READ, None).await,
        StatusCode::CONFLICT,
        "id",
        "the report of a failed job",
    );

    for (path, status, field) in [
        ("/v1/traces/77", StatusCode::NOT_FOUND, "id"),
        ("/v1/traces/abc", StatusCode::BAD_REQUEST, "id"),
        (&format!("/v1/traces/{id}/report?format=pdf") as &str, StatusCode::BAD_REQUEST, "format"),
        ("/v1/traces?limit=0", StatusCode::BAD_REQUEST, "limit"),
        ("/v1/traces?cursor=x", StatusCode::BAD_REQUEST, "cursor"),
    ] {
        refused(&server.send(&Method::GET, path, READ, None).await, status, field, path);
    }
    let read_delete = server.send(&Method::DELETE, &format!("/v1/traces/{id}"), READ, None).await;
    refused(&read_delete, StatusCode::FORBIDDEN, "Authorization", "a read token cancelling");
    let done_delete = server.send(&Method::DELETE, &format!("/v1/traces/{id}"), TRACE, None).await;
    refused(&done_delete, StatusCode::CONFLICT, "id", "cancelling a done job");

    // Exposure: the CLI's answer, from run_exposure.
    let address = &seeds[0][4..];
    let got = server.ok(&format!("/v1/btc/exposure/{address}?direction=sent&max_hops=4&model=poison"), READ).await;
    let request = ExposureRequest {
        chain: "btc".into(),
        address: address.to_owned(),
        direction: ExposureDirection::Sent,
        max_hops: 4,
        model: ModelChoice::Poison,
        asset: None,
    };
    let want =
        chainsleuth_case::run_exposure(dir.path(), &CaseConfig::default(), &request, &Budget::unlimited()).unwrap();
    assert_eq!(got, serde_json::to_value(&want).unwrap());
    assert_eq!((got["direction"].as_str(), got["exposure"]["model"].as_str()), (Some("sent"), Some("poison")));
    let received = server.ok(&format!("/v1/btc/exposure/{address}"), READ).await;
    assert_eq!((received["direction"].as_str(), received["max_hops"].as_u64()), (Some("received"), Some(10)));
    for (query, status, field) in [
        ("?direction=up", StatusCode::BAD_REQUEST, "direction"),
        ("?max_hops=0", StatusCode::BAD_REQUEST, "max_hops"),
        ("?max_hops=-2", StatusCode::BAD_REQUEST, "max_hops"),
        ("?model=all", StatusCode::BAD_REQUEST, "model"),
        ("?model=fifo", StatusCode::BAD_REQUEST, "model"),
        ("?hops=2", StatusCode::BAD_REQUEST, "query"),
    ] {
        let path = format!("/v1/btc/exposure/{address}{query}");
        refused(&server.send(&Method::GET, &path, READ, None).await, status, field, &path);
    }
    refused(
        &server.send(&Method::GET, "/v1/btc/exposure/bcrt1qnotanaddress", READ, None).await,
        StatusCode::BAD_REQUEST,
        "address",
        "an invalid address",
    );
    refused(
        &server.send(&Method::GET, "/v1/eth/exposure/0x0000000000000000000000000000000000000001", READ, None).await,
        StatusCode::NOT_FOUND,
        "chain",
        "an unindexed chain",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budgets_cancel_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chain = common::index_chain(dir.path(), 400, 5);
    let everyone: Vec<String> = chain.truth.addresses.keys().map(|a| format!("btc:{a}")).collect();
    let long = json!({ "seeds": everyone, "max_hops": 1000 });
    drop(ApiState::new(dir.path(), tokens()));

    // Budgets: a trace over its size or its time fails, saying which.
    let small = JobSettings { max_visited: 10, ..JobSettings::default() };
    let server = Server::start(open_state(dir.path(), small)).await;
    let id = start(&server, &long).await;
    let job = ended(&server, id).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("size budget of 10 coins and transfers"), "{error}");
    server.stop().await;
    let no_time = JobSettings { time_budget: Duration::ZERO, ..JobSettings::default() };
    let server = Server::start(open_state(dir.path(), no_time)).await;
    let id = start(&server, &long).await;
    let job = ended(&server, id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("time budget of 0s"), "{job}");
    server.stop().await;

    // Cancel: a running job stops at its next step, a queued one at once.
    let one_at_a_time = JobSettings { max_running: 1, ..JobSettings::default() };
    let state = open_state(dir.path(), one_at_a_time.clone());
    let server = Server::start(state.clone()).await;
    let running = start(&server, &long).await;
    let queued = start(&server, &long).await;
    wait_for(&server, running, |job| job["status"] == "running").await;
    let cancel = server.send(&Method::DELETE, &format!("/v1/traces/{queued}"), TRACE, None).await;
    assert_eq!((cancel.status, cancel.json()["status"].as_str()), (StatusCode::ACCEPTED, Some("cancelled")));
    let cancel = server.send(&Method::DELETE, &format!("/v1/traces/{running}"), TRACE, None).await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&cancel.body));
    let job = ended(&server, running).await;
    assert_eq!((job["status"].as_str(), job["error"].as_str()), (Some("cancelled"), Some("the trace was cancelled")));
    assert!(job["result"].is_null());
    assert_eq!(server.ok(&format!("/v1/traces/{queued}"), READ).await["status"], "cancelled");

    // Restart: a job running when its server stops is failed on reopening.
    let interrupted = start(&server, &long).await;
    wait_for(&server, interrupted, |job| job["status"] == "running").await;
    state.jobs.stop().await;
    server.stop().await;
    drop(state);
    let state = open_state(dir.path(), one_at_a_time);
    let job = state.jobs.get(interrupted).unwrap();
    assert_eq!(job.status, chainsleuth_api::jobs::JobStatus::Failed, "{job:?}");
    assert_eq!(job.error.as_deref(), Some("interrupted by a restart"));
    assert_eq!(state.jobs.get(running).unwrap().status, chainsleuth_api::jobs::JobStatus::Cancelled);
    let server = Server::start(state).await;
    let listed = server.ok("/v1/traces", READ).await;
    assert_eq!(listed["jobs"][0]["id"], interrupted, "{listed}");
    assert_eq!(listed["jobs"][0]["status"], "failed");
    server.stop().await;
}
