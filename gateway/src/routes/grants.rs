//! Grants and grant requests: consumers apply, providers approve or reject, admins create,
//! providers and admins revoke. Every change is recorded in the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tongban_catalog::query::{Grant, GrantSource, Mask};

use super::ApiJson;
use super::ApiPath;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::grants::{self, Actor, Application, Approval};
use crate::startup::AppState;

fn actor<'a>(state: &'a AppState, principal: &'a Principal) -> Actor<'a> {
    Actor {
        principal,
        started: std::time::Instant::now(),
        recorder: &state.recorder,
        matters: &state.matters,
    }
}

/// `GET /v1/grants`: explicit grants visible to the caller, and (for consumers) the grants
/// implied by unconditional sharing.
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let explicit = grants::visible(&state.store, &principal).await?;
    let mut implied = Vec::new();
    if principal.roles.contains(crate::auth::Role::Consumer) {
        for resource in state.store.list_resources().await? {
            implied.extend(grants::unconditional_grant(
                &resource,
                &principal.department,
            ));
        }
    }
    Ok(Json(json!({"grants": explicit, "implied": implied})))
}

/// An administrative grant as an admin writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewGrant {
    consumer: String,
    resource: String,
    columns: Vec<String>,
    #[serde(default)]
    row_filter: Option<String>,
    #[serde(default)]
    masks: std::collections::BTreeMap<String, Mask>,
    matters: Vec<String>,
    legal_basis: String,
    #[serde(default)]
    valid_from: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    valid_to: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    row_cap: Option<u64>,
}

/// `POST /v1/grants` (admin): an administrative grant.
pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<NewGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let grant = Grant {
        id: 0,
        consumer: body.consumer,
        resource: body.resource,
        // Replaced by the resource's library when the grant is checked.
        library: tongban_schemas::BaseLibrary::Population,
        columns: body.columns,
        row_filter: body.row_filter,
        masks: body.masks,
        matters: body.matters,
        legal_basis: body.legal_basis,
        valid_from: body
            .valid_from
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis()),
        valid_to: body.valid_to.map(|t| t.timestamp_millis()),
        row_cap: body.row_cap,
        source: GrantSource::Administrative,
    };
    let id = grants::create(
        &state.store,
        &state.engine,
        &actor(&state, &principal),
        grant,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

/// `DELETE /v1/grants/{id}`: revokes a grant.
pub(super) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    grants::revoke(&state.store, &actor(&state, &principal), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/grant-requests`.
pub(super) async fn requests(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        grants::visible_requests(&state.store, &principal).await?
    )))
}

/// `POST /v1/grant-requests` (consumer): applies for a grant.
pub(super) async fn apply(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(application): ApiJson<Application>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = grants::apply(&state.store, &actor(&state, &principal), application).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "status": "pending"})),
    ))
}

/// `POST /v1/grant-requests/{id}/approve` (the resource's provider).
pub(super) async fn approve(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(approval): ApiJson<Approval>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let grant_id = grants::approve(
        &state.store,
        &state.engine,
        &actor(&state, &principal),
        id,
        approval,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"request": id, "status": "approved", "grant": grant_id})),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rejection {
    note: String,
}

/// `POST /v1/grant-requests/{id}/reject` (the resource's provider).
pub(super) async fn reject(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Rejection>,
) -> Result<Json<Value>, ApiError> {
    grants::reject(&state.store, &actor(&state, &principal), id, &body.note).await?;
    Ok(Json(json!({"request": id, "status": "rejected"})))
}
