//! The router against the OpenAPI contracts, and the contracts against the seeds.
//!
//! Every contract endpoint is routed or listed in `contracts/pending.txt` with
//! the issue that brings it; nothing is routed that no contract documents; and
//! every endpoint the seed documents (../shared/seeds) is in a contract.

use std::collections::{BTreeMap, BTreeSet};

use mooring_server::{contracts::Contract, http::api_routes};
use serde_yaml::Value;

type Op = (String, String);

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn load(c: Contract) -> Value {
    serde_yaml::from_str(c.yaml()).unwrap_or_else(|e| panic!("{}.yaml: {e}", c.name()))
}

/// `(METHOD, full runtime path)` of every operation of a contract.
fn contract_ops(c: Contract) -> BTreeSet<Op> {
    let doc = load(c);
    let base = doc["servers"][0]["url"]
        .as_str()
        .expect("servers[0].url")
        .trim_end_matches('/')
        .to_string();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        let path = path.as_str().unwrap();
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_uppercase(), format!("{base}{path}")));
            }
        }
    }
    out
}

fn all_contract_ops() -> BTreeSet<Op> {
    Contract::ALL.into_iter().flat_map(contract_ops).collect()
}

fn routed() -> BTreeSet<Op> {
    api_routes()
        .list()
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect()
}

fn pending() -> BTreeMap<Op, String> {
    let text = include_str!("../../../contracts/pending.txt");
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap().to_string();
        let path = parts
            .next()
            .unwrap_or_else(|| panic!("pending.txt:{}: no path", n + 1))
            .to_string();
        let note: Vec<&str> = parts.collect();
        assert!(
            !note.is_empty(),
            "pending.txt:{}: say which issue brings {method} {path}",
            n + 1
        );
        let dup = out.insert((method.clone(), path.clone()), note.join(" "));
        assert!(dup.is_none(), "pending.txt lists {method} {path} twice");
    }
    out
}

#[test]
fn every_contract_endpoint_is_routed_or_pending() {
    let routed = routed();
    let pending = pending();
    let missing: Vec<_> = all_contract_ops()
        .into_iter()
        .filter(|op| !routed.contains(op) && !pending.contains_key(op))
        .collect();
    assert!(
        missing.is_empty(),
        "contract endpoints neither routed nor in contracts/pending.txt: {missing:#?}"
    );
}

#[test]
fn nothing_is_routed_that_no_contract_documents() {
    let documented = all_contract_ops();
    let extra: Vec<_> = routed()
        .into_iter()
        .filter(|op| !documented.contains(op))
        .collect();
    assert!(
        extra.is_empty(),
        "routed but in no contract (document them in contracts/*.yaml): {extra:#?}"
    );
}

#[test]
fn pending_lists_only_unrouted_contract_endpoints() {
    let routed = routed();
    let documented = all_contract_ops();
    for op in pending().keys() {
        assert!(
            !routed.contains(op),
            "{} {} is routed now: delete it from contracts/pending.txt",
            op.0,
            op.1
        );
        assert!(
            documented.contains(op),
            "contracts/pending.txt lists {} {}, which no contract has",
            op.0,
            op.1
        );
    }
}

#[test]
fn contracts_are_openapi_3_1_with_unique_operation_ids() {
    for c in Contract::ALL {
        let doc = load(c);
        assert_eq!(doc["openapi"].as_str(), Some("3.1.0"), "{}", c.name());
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_mapping().unwrap() {
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    let id = op["operationId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{} {m} {path:?} has no operationId", c.name()));
                    assert!(
                        ids.insert(id.to_string()),
                        "{}: operationId {id} twice",
                        c.name()
                    );
                    assert!(
                        op.get("responses").is_some(),
                        "{} {m} {path:?}: no responses",
                        c.name()
                    );
                }
            }
        }
    }
}

/// Endpoints named in a seed file, as `(METHOD, full path)` with `{param}`s.
fn seed_ops(file: &str, pattern: &str, prefix: &str) -> BTreeSet<Op> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/seeds/");
    let text = std::fs::read_to_string(format!("{dir}{file}"))
        .unwrap_or_else(|e| panic!("read seed {file}: {e} (shared/ sits beside the repo)"));
    let re = regex::Regex::new(pattern).unwrap();
    let param = regex::Regex::new(r":([A-Za-z_]+)").unwrap();
    re.captures_iter(&text)
        .map(|c| {
            let path = param.replace_all(&c[2], "{$1}").to_string();
            (c[1].to_string(), format!("{prefix}{path}"))
        })
        .collect()
}

#[test]
fn every_seed_endpoint_is_in_a_contract() {
    let seeds = [
        // mpanel: **GET** `/auth/me`, under the /api base
        seed_ops(
            "004_708d2268864ca14c.txt",
            r"\*\*(GET|POST|PUT|PATCH|DELETE)\*\*\s+`(/[^`\s]*)`",
            "/api",
        ),
        // wp, both drafts: `POST /api/sites`
        seed_ops(
            "001_5a8ec23aef8e8a92.txt",
            r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`\s]*)`",
            "",
        ),
        seed_ops(
            "000_7002aea21f5c6940.txt",
            r"`(GET|POST|PUT|PATCH|DELETE) (/api/[^`\s]*)`",
            "",
        ),
        // tenant: ### POST /sites
        seed_ops(
            "002_11e066f589a24d70.txt",
            r"(?m)^### (GET|POST|PUT|PATCH|DELETE) (/\S*)",
            "",
        ),
        // rustploy: - `GET /api/v1/health`
        seed_ops(
            "003_88794fb225777ea4.txt",
            r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`",
            "",
        ),
    ];
    let counts: Vec<usize> = seeds.iter().map(BTreeSet::len).collect();
    // The seeds are fixed files: these counts guard the patterns above.
    assert_eq!(
        counts,
        vec![77, 25, 22, 28, 26],
        "seed endpoint counts changed"
    );
    let documented = all_contract_ops();
    let missing: Vec<_> = seeds
        .iter()
        .flatten()
        .filter(|op| !documented.contains(*op))
        .collect();
    assert!(
        missing.is_empty(),
        "seed endpoints missing from contracts/: {missing:#?}"
    );
}
