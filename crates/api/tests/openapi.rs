//! The OpenAPI document against the router, over real HTTP on loopback: the
//! document served at `/v1/openapi.json` is `chainsleuth_api::openapi()`
//! and a well-formed OpenAPI 3 document; every documented operation is
//! routed; and nothing else is: every other method on a documented path,
//! and every path next to a documented one (its prefixes, one segment more),
//! gets the router's `unknown_route` or 405. The paths come from the
//! document, so other modules' routes are checked as they land.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chainsleuth_api::{ApiState, Role, Token};
use common::{operations, Server};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const ADMIN: &str = "openapi-admin-secret-0123456789";

/// The methods probed on every path (HEAD and OPTIONS are answered for any
/// route by axum and by CORS, so they say nothing about the routes).
const PROBED: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// What is wrong with `doc` as an OpenAPI 3 document: the structure the
/// specification requires of the parts this API uses, and every `$ref`
/// resolving.
fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut problem = |text: String| out.push(text);
    if !doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")) {
        problem(format!("openapi: {} is not 3.x", doc["openapi"]));
    }
    for field in ["title", "version"] {
        if !doc["info"][field].is_string() {
            problem(format!("info.{field} is missing"));
        }
    }
    let schemes = doc["components"]["securitySchemes"].as_object().cloned().unwrap_or_default();
    let check_security = |at: &str, security: &Value, problem: &mut dyn FnMut(String)| {
        for requirement in security.as_array().into_iter().flatten() {
            for name in requirement.as_object().into_iter().flatten().map(|(name, _)| name) {
                if !schemes.contains_key(name) {
                    problem(format!("{at}: security names the unknown scheme {name:?}"));
                }
            }
        }
    };
    check_security("document", &doc["security"], &mut problem);
    let mut ids = BTreeSet::new();
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    if paths.is_empty() {
        problem("paths: none".into());
    }
    for operation in operations(doc) {
        let at = format!("{} {}", operation.method, operation.path);
        if !operation.path.starts_with('/') {
            problem(format!("{at}: the path does not start with /"));
        }
        if let Some(id) = operation.spec["operationId"].as_str() {
            if !ids.insert(id.to_owned()) {
                problem(format!("{at}: operationId {id:?} is used twice"));
            }
        }
        let responses = operation.spec["responses"].as_object().cloned().unwrap_or_default();
        if responses.is_empty() {
            problem(format!("{at}: no responses"));
        }
        for (status, response) in &responses {
            let valid = status == "default"
                || (status.len() == 3 && status.parse::<u16>().is_ok_and(|code| (100..600).contains(&code)));
            if !valid {
                problem(format!("{at}: response key {status:?} is not a status code"));
            }
            if !response["description"].is_string() {
                problem(format!("{at}: response {status} has no description"));
            }
        }
        let mut declared = BTreeSet::new();
        for parameter in operation.spec["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap_or_default();
            let place = parameter["in"].as_str().unwrap_or_default();
            if name.is_empty() || !["query", "header", "path", "cookie"].contains(&place) {
                problem(format!("{at}: parameter {parameter} lacks a name or a valid `in`"));
            }
            if parameter.get("schema").is_none() && parameter.get("content").is_none() {
                problem(format!("{at}: parameter {name} has neither schema nor content"));
            }
            if place == "path" {
                if parameter["required"] != Value::Bool(true) {
                    problem(format!("{at}: path parameter {name} is not required"));
                }
                declared.insert(name.to_owned());
            }
        }
        let mut in_template = BTreeSet::new();
        operation.fill(|name| {
            in_template.insert(name.to_owned());
            String::new()
        });
        if declared != in_template {
            problem(format!("{at}: path parameters {declared:?} but the template has {in_template:?}"));
        }
        check_security(&at, &operation.spec["security"], &mut problem);
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for reference in refs {
        let target = reference.strip_prefix("#/").map(|pointer| doc.pointer(&format!("/{pointer}")));
        if !matches!(target, Some(Some(_))) {
            problem(format!("$ref {reference:?} does not resolve"));
        }
    }
    out
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// The documented template that routes `path`, as the router picks it: of
/// the templates matching it segment by segment, the one with a literal
/// segment where the others have a parameter, leftmost first.
fn route_of<'a>(templates: &[&'a str], path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    let literal = |template: &str| -> Option<Vec<bool>> {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        parts
            .iter()
            .zip(&segments)
            .map(|(part, segment)| {
                let param = part.starts_with('{') && part.ends_with('}');
                (param || part == segment).then_some(!param)
            })
            .collect()
    };
    templates.iter().filter_map(|t| literal(t).map(|key| (key, *t))).max().map(|(_, template)| template)
}

fn admin_state(dir: &std::path::Path) -> ApiState {
    ApiState::new(dir, vec![Token::new(Role::Admin, ADMIN).unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_generated_one_and_valid_openapi_3() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(admin_state(dir.path())).await;
    let answer = server.send(&Method::GET, "/v1/openapi.json", ADMIN, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type.starts_with("application/json"), "{}", answer.content_type);
    let generated = serde_json::to_value(chainsleuth_api::openapi()).unwrap();
    assert_eq!(answer.json(), generated);
    assert_eq!(problems(&generated), Vec::<String>::new());
    // The check itself finds faults.
    let mut broken = generated.clone();
    broken["openapi"] = "2.0".into();
    let first = broken["paths"].as_object().unwrap().keys().find(|p| p.contains('{')).unwrap().clone();
    let item = broken["paths"][&first].as_object_mut().unwrap();
    let operation = item.values_mut().next().unwrap();
    operation["parameters"] = Value::Array(Vec::new());
    operation["responses"]["200"]["content"] =
        serde_json::json!({"application/json": {"schema": {"$ref": "#/components/schemas/Nothing"}}});
    let found = problems(&broken);
    assert!(found.iter().any(|p| p.starts_with("openapi: ")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("path parameters")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("Nothing")), "{found:?}");
    let operations = operations(&generated);
    assert!(operations.len() >= 8, "{} operations", operations.len());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(admin_state(dir.path())).await;
    let doc = serde_json::to_value(chainsleuth_api::openapi()).unwrap();
    let operations = operations(&doc);
    let mut methods: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for operation in &operations {
        methods.entry(operation.path.as_str()).or_default().insert(operation.method.to_uppercase());
    }
    let templates: Vec<&str> = methods.keys().copied().collect();

    // Concrete paths: each documented one, its prefixes, one segment more.
    let mut probes = BTreeSet::from(["/v1".to_owned(), "/v1/".to_owned(), "/v1/probe/probe/probe/probe/probe".into()]);
    for operation in &operations {
        let path = operation.fill(|name| if name == "chain" { "btc".into() } else { "probe".into() });
        let segments: Vec<&str> = path.split('/').collect();
        for end in 2..segments.len() {
            probes.insert(segments[..end].join("/"));
        }
        probes.insert(format!("{path}/probe"));
        probes.insert(path);
    }
    let mut wrong = Vec::new();
    let mut routed = BTreeSet::new();
    for path in &probes {
        let template = route_of(&templates, path);
        let allowed = template.map(|t| methods[t].clone()).unwrap_or_default();
        for method in PROBED {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then_some(&b"{}"[..]);
            let answer = server.send(&method, path, ADMIN, body).await;
            let documented = allowed.contains(method.as_str());
            if let (true, Some(template)) = (documented, template) {
                routed.insert((template.to_owned(), method.to_string()));
            }
            if documented == answer.unrouted() {
                let body = String::from_utf8_lossy(&answer.body);
                let what = if documented { "documented but not routed" } else { "routed but not documented" };
                wrong.push(format!("{method} {path}: {what}: {} {body}", answer.status));
            }
            if answer.status.is_server_error() {
                wrong.push(format!("{method} {path}: {}", answer.status));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let all: BTreeSet<(String, String)> =
        operations.iter().map(|op| (op.path.clone(), op.method.to_uppercase())).collect();
    assert_eq!(routed, all, "every operation was probed at a path of its own");
    server.stop().await;
}
