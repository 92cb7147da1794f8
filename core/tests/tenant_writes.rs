//! A lint over the code that serves callers: every UPDATE or DELETE of a
//! tenant's table names the tenant in its statement, so a write by id can
//! never reach another tenant's row even if a check in Rust was missed.
//! System work (the job engine, billing runs, sweeps) that acts across
//! tenants on rows it found itself is listed below with its reason.

use std::{collections::BTreeSet, fs, path::Path};

/// `(file, words the statement starts with)`: writes that are not scoped by
/// tenant on purpose.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "billing/lifecycle.rs",
        "",
        "the billing sweep works across tenants on rows it selected itself",
    ),
    (
        "billing/stripe.rs",
        "",
        "Stripe's webhook names the payment; the tenant comes from that row",
    ),
    (
        "billing/notices.rs",
        "",
        "reminders are sent by the sweep for rows it selected",
    ),
    (
        "nodes/heartbeat.rs",
        "",
        "the heartbeat job updates the server it was queued for",
    ),
    (
        "identity/cache.rs",
        "UPDATE access_tokens SET last_used_at",
        "authentication notes the use of the token it just found by its hash",
    ),
    (
        "identity/cache.rs",
        "UPDATE api_keys SET last_used_at",
        "authentication notes the use of the key it just found by its hash",
    ),
    (
        "identity/reset.rs",
        "UPDATE users SET",
        "a password reset acts on the account its single-use token names",
    ),
    (
        "users.rs",
        "UPDATE users SET password_hash = $1, role = 'admin', is_platform_admin",
        "`mooring admin create` (the CLI) resets the platform admin",
    ),
    (
        "vault.rs",
        "",
        "re-sealing legacy secrets at start-up rewrites each row it read",
    ),
    (
        "idempotency.rs",
        "DELETE FROM idempotency_keys WHERE created_at",
        "the sweep expires keys of every tenant",
    ),
    (
        "cloudpods/mod.rs",
        "UPDATE cloudpods SET server_id = $1, ipv4 = $2",
        "the provisioning job places the pod it was queued for",
    ),
    (
        "cloudpods/mod.rs",
        "UPDATE cloudpods SET {sets}",
        "the pod's jobs record the state of the pod they were queued for",
    ),
];

/// Tables with a `tenant_id` column, from the migrations.
fn tenant_tables() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let mut tables = BTreeSet::new();
    for entry in fs::read_dir(dir).unwrap() {
        let sql = fs::read_to_string(entry.unwrap().path()).unwrap();
        for block in sql.split("CREATE TABLE ").skip(1) {
            let name = block.split_whitespace().next().unwrap().to_string();
            let body = block.split(");").next().unwrap_or_default();
            if body.contains("tenant_id ") {
                tables.insert(name);
            }
        }
        for alter in sql.split("ALTER TABLE ").skip(1) {
            let mut words = alter.split_whitespace();
            let name = words.next().unwrap().to_string();
            if alter
                .split(';')
                .next()
                .unwrap_or_default()
                .contains("tenant_id")
            {
                tables.insert(name);
            }
        }
    }
    tables
}

/// The string literals of a Rust source, with `\` line continuations joined.
fn literals(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c == '"' && prev != '\'' {
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('\n') => {
                            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                                chars.next();
                            }
                        }
                        Some(other) => {
                            s.push('\\');
                            s.push(other);
                        }
                        None => break,
                    },
                    '"' => break,
                    other => s.push(other),
                }
            }
            out.push(s.split_whitespace().collect::<Vec<_>>().join(" "));
            prev = '"';
        } else {
            prev = c;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn writes_to_tenant_tables_name_the_tenant() {
    let tables = tenant_tables();
    assert!(tables.contains("cloudpods") && tables.contains("invoices"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut offenders = Vec::new();
    let mut checked = 0;
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        // The engine, the scheduler, the test kit and storage are system code.
        if rel.starts_with("jobs/") || rel.starts_with("testkit") || rel == "db.rs" {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        // Tests inside a module may write as they like.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for lit in literals(text) {
            let upper = lit.to_uppercase();
            let table = if let Some(rest) = upper.strip_prefix("UPDATE ") {
                rest.split_whitespace().next()
            } else if let Some(rest) = upper.strip_prefix("DELETE FROM ") {
                rest.split_whitespace().next()
            } else {
                None
            };
            let Some(table) = table.map(str::to_lowercase) else {
                continue;
            };
            if !tables.contains(&table) {
                continue;
            }
            checked += 1;
            let where_clause = lit.split(" WHERE ").nth(1).unwrap_or_default();
            if where_clause.contains("tenant_id") {
                continue;
            }
            let excused = EXCEPTIONS
                .iter()
                .any(|(f, start, _)| rel == *f && lit.starts_with(start));
            if !excused {
                offenders.push(format!("{rel}: {lit}"));
            }
        }
    }
    assert!(checked > 20, "the lint found the writes ({checked})");
    assert!(
        offenders.is_empty(),
        "writes to tenant tables without the tenant in the statement:\n{}",
        offenders.join("\n")
    );
}
