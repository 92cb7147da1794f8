//! Tenants: the hosting brands. Managed by platform admins only.

use serde::Serialize;
use sqlx::Row;

use crate::paging::TOTAL;
use crate::{
    audit::{self, NewEvent},
    clock,
    identity::Principal,
    paging::Page,
    CoreError, CoreResult, Db,
};

/// A tenant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub created_at: String,
}

fn row_to_tenant(r: &sqlx::any::AnyRow) -> CoreResult<Tenant> {
    Ok(Tenant {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        slug: r.try_get("slug")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A URL-safe slug from a name: lower-case letters, digits and dashes.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "tenant".into()
    } else {
        out.chars().take(60).collect()
    }
}

pub async fn list(db: &Db, p: &Principal, page: Page) -> CoreResult<(Vec<Tenant>, i64)> {
    p.require_platform_admin("only platform admins manage tenants")?;
    let rows = sqlx::query(&format!(
        "SELECT *, {TOTAL} FROM tenants ORDER BY created_at, id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(db.pool())
    .await?;
    let total = crate::paging::total(&rows, page, || async {
        sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(db.pool())
            .await
    })
    .await?;
    Ok((
        rows.iter().map(row_to_tenant).collect::<CoreResult<_>>()?,
        total,
    ))
}

pub async fn get(db: &Db, p: &Principal, id: &str) -> CoreResult<Tenant> {
    p.require_platform_admin("only platform admins manage tenants")?;
    let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
    row_to_tenant(&row)
}

pub async fn create(
    db: &Db,
    p: &Principal,
    name: &str,
    status: Option<&str>,
    ip: Option<String>,
) -> CoreResult<Tenant> {
    p.require_platform_admin("only platform admins manage tenants")?;
    p.require_not_key("create tenants")?;
    let name = &crate::names::display("name", name, 200)?;
    let status = status.unwrap_or("active");
    if !matches!(status, "active" | "suspended") {
        return Err(crate::error::field_error(
            "status",
            "must be active or suspended",
        ));
    }
    let base = slugify(name);
    let now = clock::now();
    for n in 1..100 {
        let slug = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let t = Tenant {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            slug,
            status: status.to_string(),
            created_at: now.clone(),
        };
        // One transaction per try: a refused insert ends it (PostgreSQL).
        let mut tx = db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, name, slug, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.slug)
        .bind(&t.status)
        .bind(&now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                audit::record_in(
                    &mut tx,
                    NewEvent::new("tenant.created")
                        .tenant(&t.id)
                        .actor(Some(p.user_id.clone()))
                        .resource("tenant", &t.id)
                        .ip(ip),
                )
                .await?;
                tx.commit().await?;
                return Ok(t);
            }
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CoreError::Conflict("no free slug for that name".into()))
}

/// A tenant's name (what invoices are issued by).
pub async fn name(db: &Db, id: &str) -> CoreResult<String> {
    sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(crate::CoreError::NotFound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slugify("Migra Hosting, Inc."), "migra-hosting-inc");
        assert_eq!(super::slugify("  ***  "), "tenant");
        assert_eq!(super::slugify("Ünïcode Brand"), "n-code-brand");
    }
}
