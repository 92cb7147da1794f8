//! Page numbers and sizes of list endpoints, checked once.

use serde::Deserialize;

use crate::CoreResult;

/// Added to a list's `SELECT`: each row also carries how many rows the
/// `WHERE` matches in all, so a page and its total take one query.
pub const TOTAL: &str = "COUNT(*) OVER () AS total_rows";

/// The total of rows selected with [`TOTAL`]. An empty page past the first
/// carries none, so then `count` asks the database.
pub async fn total<F, Fut>(rows: &[sqlx::any::AnyRow], page: Page, count: F) -> CoreResult<i64>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<i64, sqlx::Error>>,
{
    use sqlx::Row;
    match rows.first() {
        Some(r) => Ok(r.try_get("total_rows")?),
        None if page.offset == 0 => Ok(0),
        None => Ok(count().await?),
    }
}

/// `?page=&pageSize=` as clients send them.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// A checked page: `limit` rows from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

pub const DEFAULT_SIZE: i64 = 25;
pub const MAX_SIZE: i64 = 200;

impl PageQuery {
    pub fn check(self) -> CoreResult<Page> {
        let page = self.page.unwrap_or(1);
        let size = self.page_size.unwrap_or(DEFAULT_SIZE);
        if page < 1 {
            return Err(crate::error::field_error("page", "starts at 1"));
        }
        if !(1..=MAX_SIZE).contains(&size) {
            return Err(crate::error::field_error(
                "pageSize",
                format!("must be 1 to {MAX_SIZE}"),
            ));
        }
        Ok(Page {
            limit: size,
            offset: (page - 1).saturating_mul(size),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(
            PageQuery::default().check().unwrap(),
            Page {
                limit: 25,
                offset: 0
            }
        );
        let p = PageQuery {
            page: Some(3),
            page_size: Some(10),
        }
        .check()
        .unwrap();
        assert_eq!(
            p,
            Page {
                limit: 10,
                offset: 20
            }
        );
        assert!(PageQuery {
            page: Some(0),
            page_size: None
        }
        .check()
        .is_err());
        assert!(PageQuery {
            page: None,
            page_size: Some(201)
        }
        .check()
        .is_err());
        assert!(PageQuery {
            page: None,
            page_size: Some(0)
        }
        .check()
        .is_err());
    }
}
