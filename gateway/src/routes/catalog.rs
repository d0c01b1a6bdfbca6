//! The catalogue: list, get, snapshots, DCAT export, and publication by upload.

use std::io::Write;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use futures::StreamExt;
use serde_json::{Value, json};
use tongban_catalog::{ResourceCode, dcat};

use super::ApiPath;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{ResourceRecord, SnapshotRecord, StoreError};

fn millis_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| crate::clock::in_beijing(t).to_rfc3339())
        .unwrap_or_default()
}

fn snapshot_view(s: &SnapshotRecord) -> Value {
    json!({
        "version": s.version,
        "rows": s.rows,
        "bytes": s.bytes,
        "files": s.files.len(),
        "sha256": s.sha256,
        "published_at": millis_to_rfc3339(s.published_at),
        "published_by": s.published_by,
    })
}

/// The API view of a resource: the catalogue metadata, flattened for clients.
fn resource_view(r: &ResourceRecord) -> Value {
    let d = &r.definition;
    json!({
        "code": d.code.to_string(),
        "name": d.name,
        "provider": d.provider.department,
        "provider_name": d.provider.name,
        "provider_code": d.provider.code.as_str(),
        "base_library": d.base_library.table_name(),
        "summary": d.summary,
        "format": d.format,
        "share_type": d.share_type.as_str(),
        "share_type_label": d.share_type.label_zh(),
        "share_conditions": d.share_conditions,
        "share_method": d.share_method,
        "open_type": d.open_type,
        "open_type_label": d.open_type.label_zh(),
        "update_cycle": d.update_cycle,
        "update_cycle_label": d.update_cycle.label_zh(),
        "related": d.related.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "snapshot": r.latest.as_ref().map(|s| s.version),
        "snapshot_info": r.latest.as_ref().map(snapshot_view),
        "published_at": r.first_published_at.map(millis_to_rfc3339),
        "items": d.items.iter().map(|i| json!({
            "name": i.name,
            "column": i.column,
            "data_type": i.data_type,
            "length": i.length,
            "key": i.key,
            "share_type": i.share_type.as_str(),
            "share_type_label": i.share_type.label_zh(),
            "standard": i.standard,
        })).collect::<Vec<_>>(),
    })
}

async fn find(state: &AppState, code: &str) -> Result<ResourceRecord, ApiError> {
    let code = ResourceCode::parse(code)?;
    state
        .store
        .resource(&code.to_string())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            other => other.into(),
        })
}

/// `GET /v1/catalog/resources`.
pub(super) async fn list(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let resources = state.store.list_resources().await?;
    Ok(Json(Value::Array(
        resources.iter().map(resource_view).collect(),
    )))
}

/// `GET /v1/catalog/resources/{code}` (the code's `/` is written `%2F` or `-`).
pub(super) async fn get_one(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let resource = find(&state, &normalise(&code)).await?;
    Ok(Json(resource_view(&resource)))
}

/// `GET /v1/catalog/resources/{code}/snapshots`: every snapshot, newest first.
pub(super) async fn snapshots(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let resource = find(&state, &normalise(&code)).await?;
    let list = state
        .store
        .snapshots(&resource.definition.code.to_string())
        .await?;
    Ok(Json(Value::Array(list.iter().map(snapshot_view).collect())))
}

/// `GET /v1/catalog/dcat`: the catalogue as DCAT JSON-LD.
pub(super) async fn dcat(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<impl IntoResponse, ApiError> {
    let base = state.config.base_url();
    let resources = state.store.list_resources().await?;
    let datasets = resources
        .iter()
        .map(|r| {
            let latest = r.latest.as_ref().map(|s| tongban_catalog::SnapshotSummary {
                version: s.version,
                rows: s.rows,
                bytes: s.bytes,
                sha256: s.sha256.clone(),
                published_at: millis_to_rfc3339(s.published_at),
            });
            let first = r.first_published_at.map(millis_to_rfc3339);
            dcat::dataset(&base, &r.definition, latest.as_ref(), first.as_deref())
        })
        .collect();
    let doc = dcat::catalog(&base, "通办政务信息资源目录", datasets);
    Ok(([(header::CONTENT_TYPE, "application/ld+json")], Json(doc)))
}

/// `POST /v1/catalog/resources/{code}/snapshots`: publishes an uploaded CSV (`text/csv`) or
/// Parquet (`application/vnd.apache.parquet`) file as the next snapshot. Provider only.
pub(super) async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(code): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require(Role::Provider)?;
    let resource = find(&state, &normalise(&code)).await?;
    if resource.definition.provider.department != principal.department {
        return Err(ApiError::NotProvider);
    }
    let extension = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
    {
        Some("text/csv") => "csv",
        Some("application/vnd.apache.parquet") | Some("application/x-parquet") => "parquet",
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send text/csv or application/vnd.apache.parquet".into(),
            ));
        }
    };
    let limit = state.config.limits.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::BodyTooLarge);
    }
    let uploads = state.config.data_dir.join("uploads");
    std::fs::create_dir_all(&uploads)?;
    let mut file = tempfile::Builder::new()
        .suffix(&format!(".{extension}"))
        .tempfile_in(&uploads)?;
    let mut received = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest("the upload was interrupted".into()))?;
        received += chunk.len();
        if received > limit {
            return Err(ApiError::BodyTooLarge);
        }
        file.write_all(&chunk)?;
    }
    file.flush()?;
    let today = crate::clock::in_beijing(chrono::Utc::now()).date_naive();
    let _guard = state.publish_lock.lock().await;
    let record = crate::publish::publish_files(
        &state.store,
        &state.config.data_dir,
        resource.definition.base_library,
        vec![file.path().to_path_buf()],
        &principal.actor(),
        today,
    )
    .await?;
    if let Err(e) = state
        .engine
        .set_snapshot(
            resource.definition.base_library,
            record.version,
            &state.config.data_dir.join(&record.path),
        )
        .await
    {
        tracing::error!(error = %e, "published snapshot could not be opened for queries");
    }
    Ok((StatusCode::CREATED, Json(snapshot_view(&record))))
}

/// Resource codes contain a `/`; in a path segment clients may write it as `%2F` (decoded by
/// the router) or as `-`.
fn normalise(code: &str) -> String {
    if code.contains('/') {
        code.to_owned()
    } else {
        code.replacen('-', "/", 1)
    }
}
