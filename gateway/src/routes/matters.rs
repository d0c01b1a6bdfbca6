//! Matters over HTTPS: their definitions, resolving an application's materials, the
//! "materials reduced" statistics, stored evidence and the key that signs it.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::matters::{self, ResolveRequest};
use crate::startup::AppState;
use crate::store::StoreError;

fn matter_json(m: &tongban_schemas::matter::Matter) -> Value {
    json!({
        "code": m.code,
        "name": m.name,
        "name_en": m.name_en,
        "legal_basis": m.legal_basis,
        "parties": m.parties,
        "materials": m.materials.iter().map(|x| json!({
            "code": x.code,
            "name": x.name,
            "source": x.source.kind(),
            "definition": x.source,
        })).collect::<Vec<_>>(),
    })
}

fn find<'s>(
    state: &'s AppState,
    code: &str,
) -> Result<&'s std::sync::Arc<tongban_schemas::matter::Matter>, ApiError> {
    state.matters.get(code).ok_or(ApiError::NotFound("matter"))
}

/// `GET /v1/matters`: every matter and its required materials.
pub(super) async fn list(State(state): State<AppState>, _principal: Principal) -> Json<Value> {
    Json(Value::Array(
        state.matters.all().map(|m| matter_json(m)).collect(),
    ))
}

/// `GET /v1/matters/{code}`.
pub(super) async fn get_one(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(matter_json(find(&state, &code)?)))
}

/// `POST /v1/matters/{code}/resolve`: which materials the hub supplies, signed.
pub(super) async fn resolve(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<ResolveRequest>,
) -> Result<Json<Value>, ApiError> {
    let resolution = matters::resolve(&state, &principal, &code, body).await?;
    serde_json::to_value(resolution)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsQuery {
    /// Start (RFC 3339 or a Beijing date), default 30 days ago.
    from: Option<String>,
    /// End, exclusive (RFC 3339 or a Beijing date), default now.
    to: Option<String>,
}

/// `GET /v1/matters/{code}/stats?from=&to=`: materials supplied by the hub versus requested
/// from applicants.
pub(super) async fn stats(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
    if principal.roles.contains(Role::Citizen) {
        return Err(ApiError::Forbidden(Role::Auditor));
    }
    let matter = find(&state, &code)?;
    let time = |text: &str| {
        crate::clock::parse_time_ms(text).map_err(|message| ApiError::Invalid {
            code: "matter.invalid_time",
            message,
        })
    };
    let now = chrono::Utc::now().timestamp_millis();
    let to = q.to.as_deref().map(time).transpose()?.unwrap_or(now + 1);
    let from = q
        .from
        .as_deref()
        .map(time)
        .transpose()?
        .unwrap_or(now - 30 * 86_400_000);
    if from >= to {
        return Err(ApiError::Invalid {
            code: "matter.invalid_time",
            message: "`from` must be before `to`".into(),
        });
    }
    Ok(Json(matters::stats(&state, matter, from, to).await?))
}

/// `GET /v1/resolutions/{id}`: a stored resolution and its signed evidence, for the
/// department that made it and for auditors.
pub(super) async fn resolution(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let r = state.store.resolution(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound("resolution"),
        other => other.into(),
    })?;
    if r.department != principal.department && !principal.roles.contains(Role::Auditor) {
        return Err(ApiError::NotFound("resolution"));
    }
    Ok(Json(json!({
        "resolution_id": r.id,
        "matter": r.matter,
        "department": r.department,
        "case_id": r.case_id,
        "audit_id": r.audit_id,
        "time": crate::clock::in_beijing(chrono::DateTime::from_timestamp_millis(r.at_ms).unwrap_or_default()).to_rfc3339(),
        "supplied": r.supplied,
        "must_submit": r.must_submit,
        "evidence_jws": r.evidence,
    })))
}

/// `GET /v1/matters/evidence-key`: the public JWK that signs resolution evidence.
pub(super) async fn evidence_key(
    State(state): State<AppState>,
    _principal: Principal,
) -> Json<Value> {
    Json(Value::Object(state.evidence.public_jwk()))
}
