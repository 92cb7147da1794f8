//! The contracts say what the server really answers.
//!
//! A small OpenAPI 3.1 schema checker (below, in [`schema`]) and a real
//! server on SQLite, called across the mpanel, wp, tenant and rustploy
//! surfaces: successes and every kind of refusal (400, 401, 403, 404, 409,
//! 413, 415, 422, 429). Each answer must be documented for its operation in
//! every contract that has the operation: its status, its media type, and a
//! body valid against the schema documented for that status, with no
//! property the schema does not name (unless the schema leaves its object
//! open). Every routed API operation must be called at least once.
//!
//! The contracts are read from `contracts/*.yaml` when the test runs, so a
//! contract fix needs no rebuild to be checked.
//!
//! A second test holds the contracts to the rules the server follows for
//! every route of a kind (from the route table): a JSON body can be
//! malformed (400), too large (413), not JSON (415) or invalid (422); a
//! signed route refuses the unsigned (401) and, unless anyone signed in may
//! call it, the wrong caller (403); a path parameter may name nothing (404);
//! an idempotent create may get a bad, busy or reused key (400, 409, 422).

use std::collections::{BTreeMap, BTreeSet};

use crate::common::TestServer;
use mooring_core::{
    billing::{customers, Viewer},
    testkit, users, DEFAULT_TENANT_ID,
};
use mooring_server::{
    config::Config,
    contracts::Contract,
    http::{
        api_routes,
        auth::{Access, Who},
        idempotency,
    },
};
use reqwest::{header, Method};
use secrecy::SecretString;
use serde_json::{json, Value};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";
const MISSING: &str = "00000000-0000-4000-8000-00000000dead";

/// A small JSON Schema (OpenAPI 3.1 dialect) checker: the keywords the
/// contracts use, and a refusal of any it does not know.
mod schema {
    use std::{
        collections::{BTreeSet, HashMap},
        sync::{Mutex, OnceLock},
    };

    use serde_json::{Map, Value};

    const KEYWORDS: &[&str] = &[
        "$ref",
        "type",
        "nullable",
        "enum",
        "const",
        "format",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "propertyNames",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
    ];
    const ANNOTATIONS: &[&str] = &[
        "description",
        "examples",
        "example",
        "default",
        "title",
        "readOnly",
        "writeOnly",
        "deprecated",
        "$comment",
        "contentMediaType",
        "contentEncoding",
        "externalDocs",
    ];

    /// A key as a JSON pointer segment.
    pub fn escape(k: &str) -> String {
        k.replace('~', "~0").replace('/', "~1")
    }

    /// What a local `$ref` (`#/components/...`) points at.
    pub fn deref<'a>(root: &'a Value, r: &str) -> &'a Value {
        let p = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $refs are supported: {r}"));
        root.pointer(p)
            .unwrap_or_else(|| panic!("$ref {r} points at nothing"))
    }

    fn show(v: &Value) -> String {
        let s = v.to_string();
        if s.chars().count() > 80 {
            format!("{}…", s.chars().take(80).collect::<String>())
        } else {
            s
        }
    }

    fn is_type(v: &Value, t: &str) -> bool {
        match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "number" => v.is_number(),
            "integer" => match v {
                Value::Number(n) => {
                    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
                }
                _ => false,
            },
            other => panic!("unknown JSON Schema type `{other}`"),
        }
    }

    fn regex(pattern: &str) -> regex::Regex {
        static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
        let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| {
                regex::Regex::new(pattern)
                    .unwrap_or_else(|e| panic!("the contract's pattern {pattern:?}: {e}"))
            })
            .clone()
    }

    /// Whether `x` has `format`; `None` for formats not checked.
    fn format_ok(format: &str, x: &str) -> Option<bool> {
        Some(match format {
            "uuid" => x.len() == 36 && uuid::Uuid::parse_str(x).is_ok(),
            "date-time" => {
                regex(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
                    .is_match(x)
            }
            "date" => regex(r"^\d{4}-\d{2}-\d{2}$").is_match(x),
            "email" => x
                .split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('@')),
            "ipv4" => x.parse::<std::net::Ipv4Addr>().is_ok(),
            "ipv6" => x.parse::<std::net::Ipv6Addr>().is_ok(),
            "uri" => x.contains(':'),
            _ => return None,
        })
    }

    /// Every mismatch of `v` against `schema`, each as `pointer: what`.
    pub fn errors(root: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        check(root, schema, v, at, true, &mut out);
        out
    }

    /// The properties a schema names for an object, through `$ref` and
    /// `allOf`; `None` when it leaves the object open (no properties, or
    /// `additionalProperties` other than false, or a `oneOf`/`anyOf`).
    fn documented(root: &Value, s: &Map<String, Value>) -> Option<BTreeSet<String>> {
        if s.contains_key("oneOf") || s.contains_key("anyOf") {
            return None;
        }
        if !matches!(
            s.get("additionalProperties"),
            None | Some(Value::Bool(false))
        ) {
            return None;
        }
        let mut known = BTreeSet::new();
        let mut named = false;
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            named = true;
            known.extend(p.keys().cloned());
        }
        let mut branches: Vec<&Value> = Vec::new();
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            branches.push(deref(root, r));
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            branches.extend(all);
        }
        for b in branches {
            known.extend(documented(root, b.as_object()?)?);
            named = true;
        }
        named.then_some(known)
    }

    /// `strict`: this is the outermost schema for this value (not a `$ref`
    /// or `allOf` branch), so it says which properties are documented.
    fn check(
        root: &Value,
        schema: &Value,
        v: &Value,
        at: &str,
        strict: bool,
        out: &mut Vec<String>,
    ) {
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                return out.push(format!("{at}: nothing is allowed here, got {}", show(v)))
            }
            Value::Object(s) => s,
            other => {
                return out.push(format!(
                    "{at}: the contract's schema is not an object: {other}"
                ))
            }
        };
        for k in s.keys() {
            if !KEYWORDS.contains(&k.as_str())
                && !ANNOTATIONS.contains(&k.as_str())
                && !k.starts_with("x-")
            {
                out.push(format!(
                    "{at}: the conformance checker does not know the schema keyword `{k}` (teach it)"
                ));
            }
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            check(root, deref(root, r), v, at, false, out);
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                other => panic!("{at}: `type` is neither a string nor a list: {other}"),
            };
            let nullable = s.get("nullable").and_then(Value::as_bool) == Some(true);
            if !(types.iter().any(|t| is_type(v, t)) || nullable && v.is_null()) {
                return out.push(format!(
                    "{at}: expected {}, got {}",
                    types.join(" or "),
                    show(v)
                ));
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                out.push(format!(
                    "{at}: {} is not one of {}",
                    show(v),
                    Value::from(e.clone())
                ));
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                out.push(format!("{at}: expected the constant {c}, got {}", show(v)));
            }
        }
        match v {
            Value::String(x) => {
                let n = x.chars().count() as u64;
                if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                    if n < min {
                        out.push(format!("{at}: shorter than {min} characters: {}", show(v)));
                    }
                }
                if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                    if n > max {
                        out.push(format!("{at}: longer than {max} characters"));
                    }
                }
                if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                    if !regex(p).is_match(x) {
                        out.push(format!(
                            "{at}: {} does not match the pattern {p:?}",
                            show(v)
                        ));
                    }
                }
                if let Some(f) = s.get("format").and_then(Value::as_str) {
                    if format_ok(f, x) == Some(false) {
                        out.push(format!("{at}: {} is not a valid {f}", show(v)));
                    }
                }
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                let bound = |k: &str| s.get(k).and_then(Value::as_f64);
                let exclusive_flag = |k: &str| s.get(k).and_then(Value::as_bool) == Some(true);
                if let Some(min) = bound("minimum") {
                    if x < min || (exclusive_flag("exclusiveMinimum") && x == min) {
                        out.push(format!("{at}: {x} is below the minimum {min}"));
                    }
                }
                if let Some(max) = bound("maximum") {
                    if x > max || (exclusive_flag("exclusiveMaximum") && x == max) {
                        out.push(format!("{at}: {x} is above the maximum {max}"));
                    }
                }
                if let Some(min) = bound("exclusiveMinimum") {
                    if x <= min {
                        out.push(format!("{at}: {x} is not above {min}"));
                    }
                }
                if let Some(max) = bound("exclusiveMaximum") {
                    if x >= max {
                        out.push(format!("{at}: {x} is not below {max}"));
                    }
                }
            }
            Value::Array(a) => {
                let n = a.len() as u64;
                if s.get("minItems")
                    .and_then(Value::as_u64)
                    .is_some_and(|m| n < m)
                {
                    out.push(format!("{at}: fewer items than minItems ({n})"));
                }
                if s.get("maxItems")
                    .and_then(Value::as_u64)
                    .is_some_and(|m| n > m)
                {
                    out.push(format!("{at}: more items than maxItems ({n})"));
                }
                if s.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
                    for (i, x) in a.iter().enumerate() {
                        if a[..i].contains(x) {
                            out.push(format!("{at}/{i}: a repeated item {}", show(x)));
                        }
                    }
                }
                if let Some(items) = s.get("items") {
                    for (i, x) in a.iter().enumerate() {
                        check(root, items, x, &format!("{at}/{i}"), true, out);
                    }
                }
            }
            Value::Object(o) => {
                if let Some(req) = s.get("required").and_then(Value::as_array) {
                    for r in req.iter().filter_map(Value::as_str) {
                        if !o.contains_key(r) {
                            out.push(format!("{at}: the required property `{r}` is missing"));
                        }
                    }
                }
                let n = o.len() as u64;
                if s.get("minProperties")
                    .and_then(Value::as_u64)
                    .is_some_and(|m| n < m)
                {
                    out.push(format!("{at}: fewer properties than minProperties ({n})"));
                }
                if s.get("maxProperties")
                    .and_then(Value::as_u64)
                    .is_some_and(|m| n > m)
                {
                    out.push(format!("{at}: more properties than maxProperties ({n})"));
                }
                let props = s.get("properties").and_then(Value::as_object);
                let known = if strict { documented(root, s) } else { None };
                for (k, x) in o {
                    let child = format!("{at}/{}", escape(k));
                    if let Some(names) = s.get("propertyNames") {
                        check(root, names, &Value::String(k.clone()), &child, true, out);
                    }
                    match props.and_then(|p| p.get(k)) {
                        Some(ps) => check(root, ps, x, &child, true, out),
                        None => match s.get("additionalProperties") {
                            Some(Value::Bool(false)) => out.push(format!(
                                "{child}: not allowed (additionalProperties: false)"
                            )),
                            Some(ap @ Value::Object(_)) => check(root, ap, x, &child, true, out),
                            _ => {}
                        },
                    }
                    if known.as_ref().is_some_and(|names| !names.contains(k)) {
                        out.push(format!(
                            "{child}: the server sends `{k}` ({}), which the contract does not document",
                            show(x)
                        ));
                    }
                }
            }
            _ => {}
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                check(root, sub, v, at, false, out);
            }
        }
        let branch_errors = |subs: &Vec<Value>| -> Vec<Vec<String>> {
            subs.iter().map(|sub| errors(root, sub, v, at)).collect()
        };
        let summary = |results: &[Vec<String>]| -> String {
            results
                .iter()
                .enumerate()
                .map(|(i, e)| format!("[{i}] {}", e.first().map_or("matches", |s| s.as_str())))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            let results = branch_errors(any);
            if !results.iter().any(Vec::is_empty) {
                out.push(format!(
                    "{at}: matches no branch of anyOf: {}",
                    summary(&results)
                ));
            }
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            let results = branch_errors(one);
            let matched = results.iter().filter(|e| e.is_empty()).count();
            if matched != 1 {
                out.push(format!(
                    "{at}: matches {matched} branches of oneOf, not exactly one: {}",
                    summary(&results)
                ));
            }
        }
        if let Some(not) = s.get("not") {
            if errors(root, not, v, at).is_empty() {
                out.push(format!("{at}: matches the schema under `not`"));
            }
        }
    }
}

/// One contract, parsed.
struct Doc {
    name: &'static str,
    /// `servers[0].url` without its trailing slash ("" for `/`).
    base: String,
    root: Value,
}

/// Does the concrete `path` fit the `template` (`/users/{id}`)? The number
/// of literal segments, to prefer `/servers/ssh-key` over `/servers/{id}`.
fn fits(template: &str, path: &str) -> Option<usize> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut literal = 0;
    for (a, b) in t.iter().zip(&p) {
        if a.starts_with('{') && a.ends_with('}') {
            if b.is_empty() {
                return None;
            }
        } else if a == b {
            literal += 1;
        } else {
            return None;
        }
    }
    Some(literal)
}

/// The four contracts.
struct Spec {
    docs: Vec<Doc>,
}

/// An operation of a contract that documents a call.
struct Op<'a> {
    doc: &'a Doc,
    template: &'a str,
    op: &'a Value,
}

impl Op<'_> {
    fn label(&self, method: &Method) -> String {
        format!(
            "{} {method} {}{}",
            self.doc.name, self.doc.base, self.template
        )
    }
}

impl Spec {
    fn load() -> Spec {
        let docs = Contract::ALL
            .into_iter()
            .map(|c| {
                let file = format!(
                    "{}/../contracts/{}.yaml",
                    env!("CARGO_MANIFEST_DIR"),
                    c.name()
                );
                let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
                let yaml: serde_yaml::Value =
                    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let root = serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{file}: {e}"));
                let base = root["servers"][0]["url"]
                    .as_str()
                    .expect("servers[0].url")
                    .trim_end_matches('/')
                    .to_string();
                Doc {
                    name: c.name(),
                    base,
                    root,
                }
            })
            .collect();
        Spec { docs }
    }

    /// Every contract's operation for `method path` (a path without query).
    fn operations(&self, method: &Method, path: &str) -> Vec<Op<'_>> {
        let m = method.as_str().to_lowercase();
        let mut out = Vec::new();
        for doc in &self.docs {
            let Some(rest) = path.strip_prefix(doc.base.as_str()) else {
                continue;
            };
            if !rest.starts_with('/') {
                continue;
            }
            let best = doc.root["paths"]
                .as_object()
                .expect("paths")
                .iter()
                .filter_map(|(t, item)| Some((fits(t, rest)?, t.as_str(), item.get(&m)?)))
                .max_by_key(|(score, _, _)| *score);
            if let Some((_, template, op)) = best {
                out.push(Op { doc, template, op });
            }
        }
        out
    }

    /// What is wrong with an answer, against every operation documenting it.
    fn check_answer(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Vec<String> {
        let ops = self.operations(method, path);
        if ops.is_empty() {
            return vec![format!(
                "{method} {path}: no contract documents this operation"
            )];
        }
        let mut out = Vec::new();
        for op in &ops {
            let label = format!("{} ({method} {path} → {status})", op.label(method));
            let responses = op.op["responses"].as_object().expect("responses");
            let key = [
                status.to_string(),
                format!("{}XX", status / 100),
                "default".into(),
            ]
            .into_iter()
            .find(|k| responses.contains_key(k));
            let Some(key) = key else {
                out.push(format!(
                    "{label}: the status {status} is not documented (documented: {}); body: {}",
                    responses.keys().cloned().collect::<Vec<_>>().join(", "),
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
                continue;
            };
            let mut resp = &responses[&key];
            while let Some(r) = resp.get("$ref").and_then(Value::as_str) {
                resp = schema::deref(&op.doc.root, r);
            }
            let media = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let Some(content) = resp.get("content").and_then(Value::as_object) else {
                if !body.is_empty() {
                    out.push(format!(
                        "{label}: the contract documents no body, the server sent {} bytes of {media}: {}",
                        body.len(),
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ));
                }
                continue;
            };
            if body.is_empty() {
                out.push(format!(
                    "{label}: the contract documents a body ({}), the server sent none",
                    content.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            let entry = content.get(&media).or_else(|| {
                content.iter().find_map(|(k, v)| {
                    let (kt, ks) = k.split_once('/')?;
                    let (mt, _) = media.split_once('/')?;
                    (ks == "*" && (kt == "*" || kt == mt)).then_some(v)
                })
            });
            let Some(entry) = entry else {
                out.push(format!(
                    "{label}: served as `{content_type}`; the contract documents {}",
                    content.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                continue;
            };
            let is_json = media == "application/json" || media.ends_with("+json");
            if !is_json {
                if std::str::from_utf8(body).is_err() && media.starts_with("text/") {
                    out.push(format!("{label}: a {media} body that is not UTF-8"));
                }
                continue;
            }
            let value: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    out.push(format!("{label}: the body is not JSON ({e})"));
                    continue;
                }
            };
            if let Some(s) = entry.get("schema") {
                for e in schema::errors(&op.doc.root, s, &value, "") {
                    out.push(format!("{label}: at `{e}`"));
                }
            }
        }
        out
    }
}

/// Who calls.
#[derive(Clone)]
enum Cred {
    Anonymous,
    Bearer(String),
    Cookie(String),
    /// The tenant surface's `X-API-Key`.
    ApiKey(String),
    /// A session cookie from another site (a forged cross-site request).
    CrossSite(String),
}

/// What a call sends.
enum Body {
    None,
    Json(Value),
    /// Raw bytes with this Content-Type (or none).
    Raw(Option<&'static str>, Vec<u8>),
}

struct Probe {
    s: TestServer,
    spec: Spec,
    failures: Vec<String>,
    /// `(METHOD, template path)` of each contract operation called.
    called: BTreeSet<(String, String)>,
    /// Every status seen.
    statuses: BTreeSet<u16>,
}

impl Probe {
    /// Call, check the answer against the contracts; the status and the JSON
    /// body (null when not JSON).
    async fn send(
        &mut self,
        who: &Cred,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.s.client.request(method.clone(), self.s.url(path));
        match who {
            Cred::Anonymous => {}
            Cred::Bearer(t) => req = req.bearer_auth(t),
            Cred::Cookie(c) => req = req.header(header::COOKIE, c),
            Cred::ApiKey(k) => req = req.header("x-api-key", k),
            Cred::CrossSite(c) => {
                req = req
                    .header(header::COOKIE, c)
                    .header("sec-fetch-site", "cross-site")
            }
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, bytes) => {
                let req = req.body(bytes);
                match ct {
                    Some(ct) => req.header(header::CONTENT_TYPE, ct),
                    None => req,
                }
            }
        };
        let label = format!("{method} {path}");
        let resp = match tokio::time::timeout(std::time::Duration::from_secs(20), async {
            let r = req.send().await?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let bytes = r.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, bytes))
        })
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                self.failures.push(format!("{label}: the call failed: {e}"));
                return (0, Value::Null, Default::default());
            }
            Err(_) => {
                self.failures
                    .push(format!("{label}: no answer within 20 s"));
                return (0, Value::Null, Default::default());
            }
        };
        let (status, resp_headers, bytes) = resp;
        let bare = path.split('?').next().unwrap_or(path);
        let content_type = resp_headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.failures.extend(
            self.spec
                .check_answer(&method, bare, status, &content_type, &bytes),
        );
        for op in self.spec.operations(&method, bare) {
            self.called.insert((
                method.to_string(),
                format!("{}{}", op.doc.base, op.template),
            ));
        }
        self.statuses.insert(status);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            resp_headers,
        )
    }

    /// `req` is `"METHOD /path?query"`.
    async fn call(
        &mut self,
        who: &Cred,
        req: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let (method, path) = req.split_once(' ').expect("METHOD /path");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        self.send(who, method, path, body.into(), headers).await
    }

    /// Call `req` (`"METHOD /path"`) expecting `want`; the JSON body.
    async fn t(&mut self, who: &Cred, req: &str, body: impl Into<Body>, want: u16) -> Value {
        self.with(who, req, body, &[], want).await
    }

    /// [`Probe::t`] with request headers.
    async fn with(
        &mut self,
        who: &Cred,
        req: &str,
        body: impl Into<Body>,
        headers: &[(&str, &str)],
        want: u16,
    ) -> Value {
        let (status, b, _) = self.call(who, req, body, headers).await;
        if status != want {
            self.failures.push(format!(
                "{req}: the test expected {want}, the server answered {status}: {b}"
            ));
        }
        b
    }

    /// A call whose status the test does not predict (the answer is still
    /// checked against the contracts).
    async fn any(&mut self, who: &Cred, req: &str, body: impl Into<Body>) -> (u16, Value) {
        let (s, b, _) = self.call(who, req, body, &[]).await;
        (s, b)
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::None
    }
}

impl From<Value> for Body {
    fn from(v: Value) -> Body {
        Body::Json(v)
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or(MISSING).to_string()
}

fn cookie_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_the_contracts() {
    let t = testkit::sqlite().await;
    let db = t.db.clone();
    users::ensure_admin(&db, EMAIL, SecretString::from(PASSWORD))
        .await
        .unwrap();
    let config = Config {
        // Small enough to send a body past it cheaply.
        max_body_bytes: 64 * 1024,
        ..Config::default()
    };
    let s = TestServer::start_with(t, config).await;
    let mut p = Probe {
        s,
        spec: Spec::load(),
        failures: Vec::new(),
        called: BTreeSet::new(),
        statuses: BTreeSet::new(),
    };
    let anon = Cred::Anonymous;
    let login = json!({ "email": EMAIL, "password": PASSWORD });

    // --- mpanel: sign-in and the refusals every JSON body can get.
    let signed = p.t(&anon, "POST /api/auth/login", login.clone(), 200).await;
    let admin = Cred::Bearer(signed["token"].as_str().unwrap_or_default().to_string());
    let refresh = signed["refreshToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    p.t(
        &anon,
        "POST /api/auth/login",
        json!({ "email": "nobody@example.com", "password": "wrong password" }),
        401,
    )
    .await;
    p.t(
        &anon,
        "POST /api/auth/login",
        json!({ "email": EMAIL }),
        422,
    )
    .await;
    p.t(
        &anon,
        "POST /api/auth/login",
        json!({ "email": " ", "password": "x" }),
        422,
    )
    .await;
    p.t(
        &anon,
        "POST /api/auth/login",
        Body::Raw(Some("application/json"), b"{\"email\":".to_vec()),
        400,
    )
    .await;
    p.t(
        &anon,
        "POST /api/auth/login",
        Body::Raw(None, login.to_string().into_bytes()),
        415,
    )
    .await;
    p.t(
        &anon,
        "POST /api/auth/login",
        Body::Raw(Some("text/plain"), login.to_string().into_bytes()),
        415,
    )
    .await;
    let huge = json!({ "email": EMAIL, "password": "x".repeat(70 * 1024) });
    p.t(&anon, "POST /api/auth/login", huge, 413).await;
    p.t(
        &anon,
        "POST /api/auth/refresh",
        json!({ "refreshToken": refresh }),
        200,
    )
    .await;
    p.t(
        &anon,
        "POST /api/auth/refresh",
        json!({ "refreshToken": refresh }),
        401,
    )
    .await;
    p.t(&anon, "POST /api/auth/refresh", json!({}), 422).await;
    let signed = p.t(&anon, "POST /api/auth/login", login.clone(), 200).await;
    let admin = match signed["token"].as_str() {
        Some(t) => Cred::Bearer(t.to_string()),
        None => admin,
    };
    let admin_id = id(&p.t(&admin, "GET /api/auth/me", (), 200).await);
    p.t(&anon, "GET /api/auth/me", (), 401).await;
    p.t(&Cred::Bearer("a.b.c".into()), "GET /api/auth/me", (), 401)
        .await;
    p.t(
        &Cred::Bearer("nonsense".into()),
        "GET /api/auth/me",
        (),
        401,
    )
    .await;

    // --- health, status, the contract itself.
    p.t(&anon, "GET /api/health", (), 200).await;
    p.t(&admin, "GET /api/status", (), 200).await;
    p.t(&anon, "GET /api/status", (), 401).await;
    p.t(&anon, "GET /api/openapi.yaml", (), 200).await;

    // --- tenants (platform admins).
    p.t(&admin, "GET /api/tenants", (), 200).await;
    p.t(&admin, "GET /api/tenants?page=0", (), 422).await;
    p.t(&admin, "GET /api/tenants?page=abc", (), 422).await;
    let tenant = p
        .t(
            &admin,
            "POST /api/tenants",
            json!({ "name": "Second Harbour" }),
            201,
        )
        .await;
    p.t(&admin, "POST /api/tenants", json!({ "name": "" }), 422)
        .await;
    p.t(
        &admin,
        "POST /api/tenants",
        json!({ "name": "Third", "status": "sleeping" }),
        422,
    )
    .await;
    p.t(
        &admin,
        &format!("GET /api/tenants/{}", id(&tenant)),
        (),
        200,
    )
    .await;
    p.t(&admin, &format!("GET /api/tenants/{MISSING}"), (), 404)
        .await;

    // --- users.
    p.t(&admin, "GET /api/users", (), 200).await;
    let staff_body = json!({ "name": "Sam Staff", "email": "sam@example.com",
        "password": PASSWORD, "roles": ["staff"] });
    let sam = p
        .t(&admin, "POST /api/users", staff_body.clone(), 201)
        .await;
    p.t(&admin, "POST /api/users", staff_body, 409).await;
    p.t(
        &admin,
        "POST /api/users",
        json!({ "name": "X", "email": "x@example.com", "password": PASSWORD, "roles": ["boss"] }),
        422,
    )
    .await;
    let gone = p.t(&admin, "POST /api/users", json!({ "name": "Temp", "email": "temp@example.com", "password": PASSWORD, "roles": ["admin"] }), 201)
        .await;
    p.t(&admin, &format!("GET /api/users/{}", id(&sam)), (), 200)
        .await;
    p.t(
        &admin,
        &format!("PUT /api/users/{}", id(&sam)),
        json!({ "name": "Samuel Staff" }),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("PUT /api/users/{}", id(&sam)),
        json!({}),
        422,
    )
    .await;
    p.t(
        &admin,
        &format!("PUT /api/users/{MISSING}"),
        json!({ "name": "Nobody" }),
        404,
    )
    .await;
    p.t(&admin, &format!("DELETE /api/users/{}", id(&gone)), (), 204)
        .await;
    p.t(&admin, &format!("DELETE /api/users/{}", id(&gone)), (), 404)
        .await;
    p.t(&admin, &format!("GET /api/users/{}", id(&gone)), (), 404)
        .await;
    let staff = {
        let b = p
            .t(
                &anon,
                "POST /api/auth/login",
                json!({ "email": "sam@example.com", "password": PASSWORD }),
                200,
            )
            .await;
        Cred::Bearer(b["token"].as_str().unwrap_or_default().to_string())
    };
    p.t(&staff, "GET /api/tenants", (), 403).await;
    p.t(
        &staff,
        "POST /api/users",
        json!({ "name": "Y", "email": "y@example.com", "password": PASSWORD, "roles": ["staff"] }),
        403,
    )
    .await;
    p.t(&staff, "GET /api/apikeys", (), 403).await;

    // --- customers, with idempotent creates.
    let ann_body = json!({ "name": "Ann Example", "email": "ann@example.com", "phone": "+1-555-1234",
        "address": { "line1": "1 Main St", "city": "Miami", "state": "FL", "postalCode": "33101", "country": "US" } });
    let ann = p
        .with(
            &admin,
            "POST /api/customers",
            ann_body.clone(),
            &[("idempotency-key", "create-ann")],
            201,
        )
        .await;
    p.with(
        &admin,
        "POST /api/customers",
        ann_body.clone(),
        &[("idempotency-key", "create-ann")],
        201,
    )
    .await;
    p.with(
        &admin,
        "POST /api/customers",
        json!({ "name": "Other", "email": "other@example.com" }),
        &[("idempotency-key", "create-ann")],
        422,
    )
    .await;
    let long_key = "k".repeat(300);
    p.with(
        &admin,
        "POST /api/customers",
        ann_body.clone(),
        &[("idempotency-key", long_key.as_str())],
        400,
    )
    .await;
    p.any(&admin, "POST /api/customers", ann_body).await;
    p.t(
        &admin,
        "POST /api/customers",
        json!({ "name": "Bad", "email": "not-an-email" }),
        422,
    )
    .await;
    let ann_id = id(&ann);
    p.t(&admin, "GET /api/customers", (), 200).await;
    p.t(
        &admin,
        "GET /api/customers?search=ann&page=1&pageSize=10",
        (),
        200,
    )
    .await;
    p.t(&admin, "GET /api/customers?pageSize=500", (), 422)
        .await;
    p.t(&admin, &format!("GET /api/customers/{ann_id}"), (), 200)
        .await;
    p.t(&admin, &format!("GET /api/customers/{MISSING}"), (), 404)
        .await;
    p.t(
        &admin,
        &format!("PUT /api/customers/{ann_id}"),
        json!({ "phone": "+1-555-9999" }),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("PUT /api/customers/{ann_id}"),
        json!({ "email": "nope" }),
        422,
    )
    .await;
    let viewer = Viewer::Operator {
        tenant: DEFAULT_TENANT_ID.into(),
        admin: true,
    };
    customers::create_login(
        &db,
        &viewer,
        &admin_id,
        &ann_id,
        SecretString::from(PASSWORD),
    )
    .await
    .unwrap();
    let customer = {
        let b = p
            .t(
                &anon,
                "POST /api/auth/login",
                json!({ "email": "ann@example.com", "password": PASSWORD }),
                200,
            )
            .await;
        Cred::Bearer(b["token"].as_str().unwrap_or_default().to_string())
    };
    p.t(&customer, "GET /api/auth/me", (), 200).await;
    p.t(&customer, "GET /api/status", (), 403).await;
    p.t(&customer, "GET /api/customers", (), 200).await;
    p.t(
        &customer,
        "POST /api/customers",
        json!({ "name": "Sneaky", "email": "sneaky@example.com" }),
        403,
    )
    .await;

    // --- products.
    let pod_product = p
        .t(
            &admin,
            "POST /api/products",
            json!({ "name": "CloudPod Mini", "type": "cloudpod", "sku": "CPOD-MINI",
                "billingCycles": [{ "cycle": "monthly", "price": 9.99, "currency": "USD" },
                                  { "cycle": "yearly", "price": 99.0, "currency": "USD" }],
                "metadata": { "cpu": 2, "ramMb": 2048, "diskGb": 40 } }),
            201,
        )
        .await;
    let bigger = p
        .t(
            &admin,
            "POST /api/products",
            json!({ "name": "CloudPod Pro", "type": "cloudpod", "sku": "CPOD-PRO",
                "billingCycles": [{ "cycle": "monthly", "price": 19.99, "currency": "USD" }],
                "metadata": { "cpu": 4, "ramMb": 4096, "diskGb": 80 } }),
            201,
        )
        .await;
    let addon = p
        .t(
            &admin,
            "POST /api/products",
            json!({ "name": "Backups", "type": "addon", "sku": "ADD-BK",
                "billingCycles": [{ "cycle": "monthly", "price": 2, "currency": "USD" }] }),
            201,
        )
        .await;
    let spare = p
        .t(
            &admin,
            "POST /api/products",
            json!({ "name": "Spare", "type": "email", "sku": "SPARE",
                "billingCycles": [{ "cycle": "monthly", "price": 1, "currency": "USD" }] }),
            201,
        )
        .await;
    p.t(
        &admin,
        "POST /api/products",
        json!({ "name": "Dup", "type": "cloudpod", "sku": "CPOD-MINI",
            "billingCycles": [{ "cycle": "monthly", "price": 1, "currency": "USD" }] }),
        409,
    )
    .await;
    p.t(
        &admin,
        "POST /api/products",
        json!({ "name": "Odd", "type": "spaceship", "sku": "ODD",
            "billingCycles": [{ "cycle": "monthly", "price": 1, "currency": "USD" }] }),
        422,
    )
    .await;
    p.t(&admin, "GET /api/products", (), 200).await;
    p.t(
        &customer,
        "GET /api/products?type=cloudpod&activeOnly=true",
        (),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("GET /api/products/{}", id(&pod_product)),
        (),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("PUT /api/products/{}", id(&pod_product)),
        json!({ "name": "CloudPod Mini 2" }),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("DELETE /api/products/{}", id(&spare)),
        (),
        204,
    )
    .await;
    p.t(&admin, &format!("DELETE /api/products/{MISSING}"), (), 404)
        .await;

    // --- orders, invoices, payments, subscriptions.
    let order = p
        .t(
            &admin,
            "POST /api/orders",
            json!({ "customerId": ann_id, "items": [{ "productId": id(&pod_product),
                "billingCycle": "monthly", "quantity": 1,
                "addons": [{ "productId": id(&addon), "quantity": 1 }] }] }),
            201,
        )
        .await;
    p.t(
        &admin,
        "POST /api/orders",
        json!({ "customerId": ann_id, "items": [] }),
        422,
    )
    .await;
    p.t(
        &admin,
        "POST /api/orders",
        json!({ "customerId": ann_id }),
        422,
    )
    .await;
    p.t(&admin, "GET /api/orders", (), 200).await;
    p.t(&customer, "GET /api/orders", (), 200).await;
    p.t(
        &admin,
        &format!("GET /api/orders/{}", id(&order["order"])),
        (),
        200,
    )
    .await;
    p.t(&admin, &format!("GET /api/orders/{MISSING}"), (), 404)
        .await;
    let invoice_id = id(&order["invoice"]);
    p.t(&admin, "GET /api/invoices", (), 200).await;
    p.t(
        &customer,
        &format!("GET /api/invoices?customerId={ann_id}&status=unpaid"),
        (),
        200,
    )
    .await;
    p.t(&admin, &format!("GET /api/invoices/{invoice_id}"), (), 200)
        .await;
    p.t(
        &customer,
        "POST /api/payments/session",
        json!({ "invoiceId": invoice_id, "successUrl": "https://example.com/ok",
            "cancelUrl": "https://example.com/cancel" }),
        200,
    )
    .await;
    p.t(
        &customer,
        "POST /api/payments/session",
        json!({ "invoiceId": invoice_id, "successUrl": "nope", "cancelUrl": "nope" }),
        422,
    )
    .await;
    p.t(
        &admin,
        &format!("PATCH /api/invoices/{invoice_id}/status"),
        json!({ "status": "bogus" }),
        422,
    )
    .await;
    p.t(
        &customer,
        &format!("PATCH /api/invoices/{invoice_id}/status"),
        json!({ "status": "paid" }),
        403,
    )
    .await;
    p.t(
        &admin,
        &format!("PATCH /api/invoices/{invoice_id}/status"),
        json!({ "status": "paid" }),
        200,
    )
    .await;
    p.t(
        &customer,
        "POST /api/payments/session",
        json!({ "invoiceId": invoice_id, "successUrl": "https://example.com/ok",
            "cancelUrl": "https://example.com/cancel" }),
        409,
    )
    .await;
    p.t(
        &anon,
        "POST /api/payments/stripe/webhook",
        json!({ "id": "evt_1", "type": "checkout.session.completed" }),
        404,
    )
    .await;
    let subs = p.t(&admin, "GET /api/subscriptions", (), 200).await;
    p.t(
        &customer,
        "GET /api/subscriptions?status=active&productType=cloudpod",
        (),
        200,
    )
    .await;
    let sub_id = id(&subs["items"][0]);
    p.t(
        &customer,
        &format!("GET /api/subscriptions/{sub_id}"),
        (),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("GET /api/subscriptions/{MISSING}"),
        (),
        404,
    )
    .await;
    p.any(
        &customer,
        &format!("POST /api/subscriptions/{sub_id}/change"),
        json!({ "productId": id(&bigger) }),
    )
    .await;
    p.t(
        &customer,
        &format!("POST /api/subscriptions/{sub_id}/change"),
        json!({}),
        422,
    )
    .await;
    p.t(
        &customer,
        &format!("POST /api/subscriptions/{sub_id}/cancel"),
        Body::Raw(Some("text/plain"), b"now".to_vec()),
        415,
    )
    .await;
    p.t(
        &customer,
        &format!("POST /api/subscriptions/{sub_id}/cancel"),
        json!({ "cancelAtPeriodEnd": true }),
        200,
    )
    .await;
    p.any(
        &admin,
        &format!("POST /api/subscriptions/{sub_id}/cancel"),
        (),
    )
    .await;

    // --- billing plans, add-ons, profile.
    p.t(&customer, "GET /api/billing/plans", (), 200).await;
    p.t(&customer, "GET /api/billing/addons", (), 200).await;
    p.t(&admin, "GET /api/billing/profile", (), 200).await;
    p.t(&admin, "PUT /api/billing/profile", json!({ "legalName": "Harbour Hosting Lda", "taxId": "PT509999999", "email": "billing@example.com",
            "address": { "line1": "Rua 1", "city": "Porto", "postalCode": "4000-001", "country": "PT" } }), 200).await;
    p.t(
        &admin,
        "PUT /api/billing/profile",
        json!({ "email": "nope" }),
        422,
    )
    .await;
    p.t(&customer, "GET /api/billing/profile", (), 403).await;

    // --- CloudPods and their jobs.
    let made = p
        .t(
            &admin,
            "POST /api/cloudpods",
            json!({ "customerId": ann_id, "productId": id(&pod_product), "name": "ann-site-1" }),
            201,
        )
        .await;
    p.t(
        &admin,
        "POST /api/cloudpods",
        json!({ "customerId": ann_id }),
        422,
    )
    .await;
    let pod_id = id(&made["cloudPod"]);
    let job_id = id(&made["job"]);
    p.t(&admin, "GET /api/cloudpods", (), 200).await;
    p.t(
        &customer,
        &format!("GET /api/cloudpods?customerId={ann_id}"),
        (),
        200,
    )
    .await;
    p.t(&customer, &format!("GET /api/cloudpods/{pod_id}"), (), 200)
        .await;
    p.t(&admin, &format!("GET /api/cloudpods/{MISSING}"), (), 404)
        .await;
    for action in ["start", "stop", "reboot", "suspend", "unsuspend"] {
        p.any(
            &admin,
            &format!("POST /api/cloudpods/{pod_id}/{action}"),
            (),
        )
        .await;
    }
    p.t(
        &customer,
        &format!("POST /api/cloudpods/{pod_id}/suspend"),
        (),
        403,
    )
    .await;
    p.t(&admin, "GET /api/jobs", (), 200).await;
    p.t(
        &admin,
        &format!("GET /api/jobs?status=queued&type=cloudpod_provision&targetId={pod_id}"),
        (),
        200,
    )
    .await;
    p.t(&admin, &format!("GET /api/jobs/{job_id}"), (), 200)
        .await;
    p.t(&admin, &format!("GET /api/jobs/{MISSING}"), (), 404)
        .await;
    p.t(&admin, &format!("POST /api/jobs/{job_id}/retry"), (), 409)
        .await;
    p.t(&admin, &format!("POST /api/jobs/{job_id}/cancel"), (), 202)
        .await;
    p.t(&admin, &format!("POST /api/jobs/{job_id}/cancel"), (), 409)
        .await;
    p.t(&admin, &format!("GET /api/jobs/{job_id}/events"), (), 200)
        .await;
    p.t(&admin, &format!("GET /api/jobs/{MISSING}/events"), (), 404)
        .await;
    p.t(&admin, &format!("POST /api/jobs/{job_id}/retry"), (), 202)
        .await;
    p.any(&admin, &format!("DELETE /api/cloudpods/{pod_id}"), ())
        .await;

    // --- servers.
    p.t(&admin, "GET /api/servers/ssh-key", (), 200).await;
    let node = p.t(&admin, "POST /api/servers", json!({ "name": "web-1", "host": "127.0.0.1", "ip": "127.0.0.1", "port": 1, "roles": ["web"] }), 201)
        .await;
    p.t(
        &admin,
        "POST /api/servers",
        json!({ "name": "web-1", "host": "127.0.0.1", "ip": "127.0.0.1", "roles": ["web"] }),
        409,
    )
    .await;
    p.t(
        &admin,
        "POST /api/servers",
        json!({ "name": "web-2", "host": "127.0.0.1", "roles": [] }),
        422,
    )
    .await;
    p.t(
        &admin,
        "POST /api/servers",
        json!({ "name": "web-2", "password": "x" }),
        422,
    )
    .await;
    let node_id = id(&node);
    p.t(&admin, "GET /api/servers", (), 200).await;
    p.t(&admin, &format!("GET /api/servers/{node_id}"), (), 200)
        .await;
    p.t(&admin, &format!("GET /api/servers/{MISSING}"), (), 404)
        .await;
    p.t(
        &admin,
        &format!("PUT /api/servers/{node_id}"),
        json!({ "name": "web-01" }),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("POST /api/servers/{node_id}/test"),
        (),
        200,
    )
    .await;
    p.t(
        &admin,
        &format!("GET /api/servers/{node_id}/probes"),
        (),
        200,
    )
    .await;
    p.any(
        &admin,
        &format!("POST /api/servers/{node_id}/accept-host-key"),
        json!({ "fingerprint": "SHA256:nothing-offered" }),
    )
    .await;
    p.t(
        &admin,
        &format!("POST /api/servers/{node_id}/accept-host-key"),
        json!({ "print": "x" }),
        422,
    )
    .await;
    p.t(&customer, "GET /api/servers", (), 403).await;
    p.t(&admin, &format!("DELETE /api/servers/{node_id}"), (), 204)
        .await;
    p.t(&admin, &format!("DELETE /api/servers/{node_id}"), (), 404)
        .await;

    // --- audit, system.
    p.t(&admin, "GET /api/audit", (), 200).await;
    p.t(&admin, "GET /api/audit?type=auth.&pageSize=200", (), 200)
        .await;
    p.t(&admin, "GET /api/audit?since=yesterday", (), 422).await;
    p.t(&staff, "GET /api/audit", (), 403).await;
    p.t(&admin, "GET /api/system/health", (), 200).await;
    p.t(&admin, "GET /api/system/events", (), 200).await;
    p.any(&admin, "GET /api/system/events?level=loud", ()).await;

    // --- API keys.
    p.t(&admin, "GET /api/apikeys", (), 200).await;
    let key = p
        .t(&admin, "POST /api/apikeys", json!({ "name": "ci" }), 201)
        .await;
    let api_key = Cred::ApiKey(key["secret"].as_str().unwrap_or_default().to_string());
    p.t(&api_key, "GET /api/customers", (), 200).await;
    p.any(
        &api_key,
        "POST /api/customers",
        json!({ "name": "By Key", "email": "key@example.com" }),
    )
    .await;
    p.t(&admin, "GET /api/audit?type=customer.", (), 200).await;
    p.t(&Cred::ApiKey("nope".into()), "GET /api/customers", (), 401)
        .await;
    p.t(&admin, "POST /api/apikeys", json!({ "name": "" }), 422)
        .await;
    p.t(
        &admin,
        &format!("DELETE /api/apikeys/{}", id(&key["apiKey"])),
        (),
        204,
    )
    .await;
    p.t(
        &admin,
        &format!("DELETE /api/apikeys/{}", id(&key["apiKey"])),
        (),
        404,
    )
    .await;

    // --- wp: sign-in with a cookie, counters, jobs, sign-out.
    let (st, _, headers) = p.call(&anon, "POST /api/login", login.clone(), &[]).await;
    assert_eq!(st, 200, "wp sign-in");
    let wp = Cred::Cookie(cookie_of(&headers));
    p.t(&anon, "POST /api/login", json!({ "email": EMAIL }), 422)
        .await;
    p.t(
        &anon,
        "POST /api/login",
        json!({ "email": "nobody@example.com", "password": "wrong password" }),
        401,
    )
    .await;
    p.t(
        &anon,
        "POST /api/login",
        Body::Raw(None, login.to_string().into_bytes()),
        415,
    )
    .await;
    p.t(&wp, "GET /api/metrics", (), 200).await;
    p.t(&anon, "GET /api/metrics", (), 401).await;
    p.t(&wp, "GET /api/jobs", (), 200).await;
    p.t(
        &Cred::CrossSite(cookie_of(&headers)),
        "POST /api/logout",
        (),
        403,
    )
    .await;
    p.t(&wp, "POST /api/logout", (), 200).await;
    p.t(&wp, "GET /api/metrics", (), 401).await;

    // --- tenant.
    p.t(&anon, "GET /health", (), 200).await;

    // --- rustploy.
    p.t(&anon, "GET /api/v1/health", (), 200).await;
    p.t(&anon, "GET /api/v1/openapi.yaml", (), 200).await;
    p.t(&anon, "GET /metrics", (), 200).await;
    let (st, _, headers) = p
        .call(&anon, "POST /api/v1/auth/login", login.clone(), &[])
        .await;
    assert_eq!(st, 200, "rustploy sign-in");
    let session = Cred::Cookie(cookie_of(&headers));
    p.t(
        &anon,
        "POST /api/v1/auth/login",
        json!({ "password": "x" }),
        422,
    )
    .await;
    p.t(
        &anon,
        "POST /api/v1/auth/login",
        Body::Raw(Some("application/json"), b"[".to_vec()),
        400,
    )
    .await;
    p.t(
        &anon,
        "POST /api/v1/auth/login",
        json!({ "email": "nobody@example.com", "password": "wrong password" }),
        401,
    )
    .await;
    p.t(&session, "GET /api/v1/auth/me", (), 200).await;
    p.t(&admin, "GET /api/v1/auth/me", (), 200).await;
    p.t(&anon, "GET /api/v1/auth/me", (), 401).await;
    let made = p
        .t(
            &session,
            "POST /api/v1/tokens",
            json!({ "name": "reader", "kind": "personal", "scopes": ["read"] }),
            201,
        )
        .await;
    let reader = Cred::Bearer(made["secret"].as_str().unwrap_or_default().to_string());
    p.t(&admin, "POST /api/v1/tokens", json!({ "name": "ci", "kind": "service", "scopes": ["deploy"], "expires_at": "2099-01-01T00:00:00Z" }), 201).await;
    p.t(
        &admin,
        "POST /api/v1/tokens",
        json!({ "name": "x", "kind": "personal", "scopes": ["root"] }),
        422,
    )
    .await;
    p.t(&admin, "POST /api/v1/tokens", json!({ "name": "x" }), 422)
        .await;
    p.t(
        &admin,
        "POST /api/v1/tokens",
        Body::Raw(Some("text/plain"), b"{}".to_vec()),
        415,
    )
    .await;
    p.t(
        &anon,
        "POST /api/v1/tokens",
        json!({ "name": "x", "kind": "personal", "scopes": ["read"] }),
        401,
    )
    .await;
    p.t(&reader, "GET /api/v1/tokens", (), 200).await;
    p.t(&reader, "GET /api/v1/auth/me", (), 200).await;
    p.t(
        &reader,
        "POST /api/v1/tokens",
        json!({ "name": "y", "kind": "personal", "scopes": ["read"] }),
        403,
    )
    .await;
    p.t(
        &reader,
        "POST /api/customers",
        json!({ "name": "Read Only", "email": "ro@example.com" }),
        403,
    )
    .await;
    p.t(&reader, "GET /api/customers", (), 200).await;
    p.t(
        &session,
        &format!("DELETE /api/v1/tokens/{}", id(&made["token"])),
        (),
        204,
    )
    .await;
    p.t(
        &session,
        &format!("DELETE /api/v1/tokens/{}", id(&made["token"])),
        (),
        404,
    )
    .await;
    p.t(&reader, "GET /api/v1/tokens", (), 401).await;
    p.t(
        &anon,
        "POST /api/v1/auth/password-reset/request",
        json!({ "email": EMAIL }),
        202,
    )
    .await;
    p.t(
        &anon,
        "POST /api/v1/auth/password-reset/request",
        json!({}),
        422,
    )
    .await;
    p.t(
        &anon,
        "POST /api/v1/auth/password-reset/confirm",
        json!({ "token": "not-a-token", "new_password": "a long enough new password" }),
        400,
    )
    .await;
    p.any(
        &anon,
        "POST /api/v1/auth/password-reset/confirm",
        json!({ "token": "not-a-token", "new_password": "short" }),
    )
    .await;
    p.t(&session, "POST /api/v1/auth/logout", (), 204).await;
    p.t(&session, "GET /api/v1/auth/me", (), 401).await;

    // --- too many sign-in attempts: 429 with Retry-After (an account of its own).
    let throttled = json!({ "email": "sam@example.com", "password": "not the password" });
    let mut locked = false;
    for _ in 0..8 {
        let (st, _) = p
            .any(&anon, "POST /api/auth/login", throttled.clone())
            .await;
        if st == 429 {
            locked = true;
            break;
        }
    }
    if !locked {
        p.failures
            .push("POST /api/auth/login: repeated wrong passwords never answered 429".into());
    }

    // Every routed API operation was called, and every kind of refusal seen.
    let routed: BTreeSet<(String, String)> = api_routes()
        .list()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    for (m, path) in routed.difference(&p.called) {
        p.failures.push(format!(
            "{m} {path} is routed but the conformance test never calls it"
        ));
    }
    for want in [
        200, 201, 202, 204, 400, 401, 403, 404, 409, 413, 415, 422, 429,
    ] {
        if !p.statuses.contains(&want) {
            p.failures.push(format!("no call was answered {want}"));
        }
    }
    let failures = summarize(std::mem::take(&mut p.failures));
    p.s.stop().await;
    assert!(
        failures.is_empty(),
        "{} kinds of answers disagree with the contracts:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Failures that differ only in ids, array indexes or numbers, once each
/// with a count.
fn summarize(failures: Vec<String>) -> Vec<String> {
    let noise =
        regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9]+")
            .unwrap();
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut order = Vec::new();
    for f in failures {
        let key = noise.replace_all(&f, "#").to_string();
        match seen.get_mut(&key) {
            Some((_, n)) => *n += 1,
            None => {
                order.push(key.clone());
                seen.insert(key, (f, 1));
            }
        }
    }
    order
        .into_iter()
        .map(|k| match &seen[&k] {
            (f, 1) => f.clone(),
            (f, n) => format!("{f} (and {} more like it)", n - 1),
        })
        .collect()
}

/// With Stripe configured, the webhook answers 200 with an empty body, 400
/// when the signature or the JSON is wrong, 422 when the event is not one,
/// whatever the body's media type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_webhook_matches_the_contract() {
    use mooring_core::billing::stripe::sign;
    let t = testkit::sqlite().await;
    let config = Config {
        stripe_secret_key: Some(SecretString::from("sk_test_mooring")),
        stripe_webhook_secret: Some(SecretString::from("whsec_mooring")),
        ..Config::default()
    };
    let s = TestServer::start_with(t, config).await;
    let mut p = Probe {
        s,
        spec: Spec::load(),
        failures: Vec::new(),
        called: BTreeSet::new(),
        statuses: BTreeSet::new(),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let path = "/api/payments/stripe/webhook";
    let cases: [(&[u8], &str, u16); 4] = [
        (
            br#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#,
            "whsec_mooring",
            200,
        ),
        (
            br#"{"id":"evt_2","type":"customer.created","data":{"object":{}}}"#,
            "whsec_forged",
            400,
        ),
        (b"{not json", "whsec_mooring", 400),
        (br#"{"type":"customer.created"}"#, "whsec_mooring", 422),
    ];
    for (body, secret, want) in cases {
        let sig = sign(body, secret, now);
        p.with(
            &Cred::Anonymous,
            &format!("POST {path}"),
            Body::Raw(Some("application/json"), body.to_vec()),
            &[("stripe-signature", sig.as_str())],
            want,
        )
        .await;
    }
    p.t(
        &Cred::Anonymous,
        &format!("POST {path}"),
        Body::Raw(Some("application/json"), b"{}".to_vec()),
        400,
    )
    .await;
    // The raw body is what is signed: its media type does not matter (no 415).
    let event = br#"{"id":"evt_3","type":"customer.created","data":{"object":{}}}"#;
    let sig = sign(event, "whsec_mooring", now);
    p.with(
        &Cred::Anonymous,
        &format!("POST {path}"),
        Body::Raw(Some("text/plain"), event.to_vec()),
        &[("stripe-signature", sig.as_str())],
        200,
    )
    .await;
    let failures = std::mem::take(&mut p.failures);
    p.s.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The statuses every route of a kind can answer, documented on each.
#[test]
fn every_operation_documents_the_answers_of_its_kind() {
    let spec = Spec::load();
    let mut failures = Vec::new();
    // Webhooks read their raw body (any media type) before anything else.
    let raw_body = [("POST", "/api/payments/stripe/webhook")];
    for r in api_routes().list() {
        let method = r.method.clone();
        let ops: Vec<Op<'_>> = spec
            .operations(&method, &r.path)
            .into_iter()
            .filter(|o| format!("{}{}", o.doc.base, o.template) == r.path)
            .collect();
        for op in ops {
            let label = op.label(&method);
            let responses = op.op["responses"].as_object().expect("responses");
            let mut need: BTreeMap<&str, &str> = BTreeMap::new();
            let json_body = op.op["requestBody"]["content"]
                .get("application/json")
                .is_some();
            let raw = raw_body.contains(&(method.as_str(), r.path.as_str()));
            if json_body && !raw {
                need.insert("400", "a malformed JSON body (`malformed_json`)");
                need.insert("413", "a body past the size limit");
                need.insert("415", "a body that is not `application/json`");
                need.insert("422", "an invalid field (`validation_failed`)");
            }
            match r.access {
                Access::Signed { who, .. } => {
                    need.insert("401", "no or a bad credential");
                    if who != Who::Anyone || method != Method::GET {
                        need.insert("403", "the wrong caller, scope or origin");
                    }
                }
                Access::Public if method != Method::GET => {
                    need.insert(
                        "403",
                        "a session cookie from another site (`csrf_rejected`)",
                    );
                }
                _ => {}
            }
            if r.path.contains('{') {
                need.insert("404", "a path parameter that names nothing");
            }
            if method == Method::POST && idempotency::CREATES.contains(&r.path.as_str()) {
                need.insert("400", "a bad `Idempotency-Key` (`invalid_idempotency_key`)");
                need.insert(
                    "409",
                    "the same key still running (`idempotency_key_in_progress`)",
                );
                need.insert(
                    "422",
                    "the same key with another request (`idempotency_key_reused`)",
                );
            }
            for (status, why) in need {
                if !responses.contains_key(status) {
                    failures.push(format!(
                        "{label}: documents no {status}, which it answers to {why}"
                    ));
                }
            }
            for (status, resp) in responses {
                let mut resp = resp;
                while let Some(r) = resp.get("$ref").and_then(Value::as_str) {
                    resp = schema::deref(&op.doc.root, r);
                }
                let errorish = status.starts_with('4') || status.starts_with('5');
                let shape = resp["content"]["application/json"]["schema"]["$ref"].as_str();
                if errorish && shape != Some("#/components/schemas/Error") {
                    failures.push(format!(
                        "{label}: the {status} answer is not the surface's Error schema ({shape:?})"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_checker_catches_what_it_should() {
    let root = json!({ "components": { "schemas": {
        "Audit": { "type": "object", "required": ["id", "tenantId"], "properties": {
            "id": { "type": "string", "format": "uuid" },
            "tenantId": { "type": ["string", "null"] },
            "at": { "type": "string", "format": "date-time" },
            "kind": { "enum": ["a", "b"] },
            "n": { "type": "integer", "minimum": 0 },
            "tags": { "type": "array", "items": { "type": "string" } },
            "meta": { "type": "object", "additionalProperties": true } } },
        "Both": { "allOf": [ { "$ref": "#/components/schemas/Audit" },
                             { "type": "object", "properties": { "extra": { "type": "boolean" } } } ] },
        "Either": { "oneOf": [ { "type": "string" }, { "type": "integer" } ] }
    } } });
    let s = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let ok = json!({ "id": "0b8a6a52-3f55-4a1e-8f0e-8a1f3c1f2b11", "tenantId": null,
        "at": "2025-01-01T00:00:00Z", "kind": "a", "n": 3, "tags": ["x"], "meta": { "free": 1 } });
    assert_eq!(
        schema::errors(&root, &s("Audit"), &ok, ""),
        Vec::<String>::new()
    );
    let mut both = ok.clone();
    both["extra"] = json!(true);
    assert_eq!(
        schema::errors(&root, &s("Both"), &both, ""),
        Vec::<String>::new()
    );
    let bad = json!({ "id": "nope", "at": "yesterday", "kind": "c", "n": -1,
        "tags": [1], "seq": 7 });
    let e = schema::errors(&root, &s("Audit"), &bad, "").join("\n");
    for want in [
        ": the required property `tenantId` is missing",
        "/id: \"nope\" is not a valid uuid",
        "/at: \"yesterday\" is not a valid date-time",
        "/kind: \"c\" is not one of",
        "/n: -1 is below the minimum 0",
        "/tags/0: expected string, got 1",
        "/seq: the server sends `seq`",
    ] {
        assert!(e.contains(want), "{want:?} not in:\n{e}");
    }
    let not_null = json!({ "id": "0b8a6a52-3f55-4a1e-8f0e-8a1f3c1f2b11", "tenantId": 5 });
    assert!(schema::errors(&root, &s("Audit"), &not_null, "")[0]
        .starts_with("/tenantId: expected string or null"));
    assert!(schema::errors(&root, &s("Either"), &json!(1), "").is_empty());
    assert!(!schema::errors(&root, &s("Either"), &json!(true), "").is_empty());
    let unknown = json!({ "type": "string", "patternProperties": {} });
    assert!(schema::errors(&root, &unknown, &json!("x"), "")[0].contains("does not know"));
}
