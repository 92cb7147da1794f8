//! Serving the contracts.

use axum::{
    extract::Path,
    http::header,
    response::{IntoResponse, Response},
};

use super::error::ApiError;
use crate::contracts::Contract;

fn yaml(c: Contract) -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        c.yaml(),
    )
        .into_response()
}

/// `GET /api/openapi.yaml`: the mpanel contract.
pub async fn mpanel() -> Response {
    yaml(Contract::Mpanel)
}

/// `GET /api/v1/openapi.yaml`: the rustploy contract.
pub async fn rustploy() -> Response {
    yaml(Contract::Rustploy)
}

/// `GET /openapi/{name}.yaml`: any of the four contracts.
pub async fn by_name(Path(file): Path<String>) -> Result<Response, ApiError> {
    file.strip_suffix(".yaml")
        .and_then(Contract::by_name)
        .map(yaml)
        .ok_or_else(ApiError::not_found)
}
