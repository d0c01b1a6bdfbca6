//! `POST /v1/query`: governed SQL over HTTPS.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::ApiJson;
use crate::audit::Purpose;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::query::{self, QueryRequest};
use crate::results::{self, Format};
use crate::startup::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueryBody {
    sql: String,
    purpose: Option<Purpose>,
    #[serde(default)]
    max_rows: Option<u64>,
}

/// Runs one query; the answer's format follows `Accept`.
pub(super) async fn run(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<QueryBody>,
) -> Result<Response, ApiError> {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let request = QueryRequest {
        sql: body.sql,
        purpose: body.purpose,
        max_rows: body.max_rows,
        format: format.name(),
    };
    let outcome = query::run(&state, &principal, request).await?;
    let bytes = match format {
        Format::Json => results::json_body(
            &outcome.schema,
            &outcome.batches,
            &outcome.audit_id,
            outcome.truncated,
        )?,
        Format::Csv => results::csv_body(&outcome.schema, &outcome.batches)?,
        Format::Arrow => results::arrow_body(&outcome.schema, &outcome.batches)?,
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&outcome.audit_id) {
        h.insert("tongban-audit-id", v);
    }
    h.insert("tongban-row-count", HeaderValue::from(outcome.rows));
    h.insert(
        "tongban-truncated",
        HeaderValue::from_static(if outcome.truncated { "true" } else { "false" }),
    );
    Ok(response)
}
