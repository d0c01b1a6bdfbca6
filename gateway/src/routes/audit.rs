//! The audit log over HTTPS: signed tree heads and proofs for anyone signed in (they reveal
//! nothing about the entries), entries and alerts for auditors, and "who accessed my data"
//! for the data subject or an auditor.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tongban_schemas::{CitizenId, Uscc};

use super::ApiPath;
use super::ApiQuery;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::ledger::{self, merkle::Hash};
use crate::startup::AppState;
use crate::store::{LogFilter, LogRow};

/// Most entries one page returns.
const MAX_PAGE: i64 = 1000;

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid {
        code,
        message: message.into(),
    }
}

/// `GET /v1/audit/tree-head`: the latest signed tree head.
pub(super) async fn tree_head(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let head = ledger::latest_head(&state.store).await?;
    let size = state.ledger.size().await?;
    Ok(Json(json!({
        "tree_head": head,
        "log_size": size,
    })))
}

/// `POST /v1/audit/tree-head`: sign a head for the log as it stands now (auditors and
/// administrators), instead of waiting for the next scheduled one.
pub(super) async fn sign_tree_head(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    if !principal.roles.contains(Role::Auditor) {
        principal.require(Role::Admin)?;
    }
    let head = state.ledger.sign_head_now().await?;
    Ok(Json(json!({ "tree_head": head })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeadsQuery {
    #[serde(default)]
    from: u64,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /v1/audit/tree-heads?from=&limit=`: signed heads in order of size.
pub(super) async fn tree_heads(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(q): ApiQuery<HeadsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let heads: Vec<_> = state
        .store
        .tree_heads(q.from as i64, limit)
        .await?
        .into_iter()
        .map(ledger::head_of_row)
        .collect();
    Ok(Json(json!({ "tree_heads": heads })))
}

/// `GET /v1/audit/public-key`: the key tree heads are signed with.
pub(super) async fn public_key(
    State(state): State<AppState>,
    _principal: Principal,
) -> Json<Value> {
    let (key, id) = state.ledger.public_key();
    Json(json!({
        "algorithm": "Ed25519",
        "key_id": id,
        "public_key": base64::engine::general_purpose::STANDARD.encode(key),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionQuery {
    index: u64,
    size: u64,
}

/// `GET /v1/audit/proofs/inclusion?index=&size=`: RFC 6962 audit path.
pub(super) async fn inclusion(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<Value>, ApiError> {
    let (leaf, proof) = state.ledger.inclusion_proof(q.index, q.size).await?;
    let root = state.ledger.root(q.size).await?;
    Ok(Json(json!({
        "index": q.index,
        "tree_size": q.size,
        "leaf_hash": hex::encode(leaf),
        "root_hash": hex::encode(root),
        "proof": hexes(&proof),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// `GET /v1/audit/proofs/consistency?from=&to=`: RFC 6962 consistency proof.
pub(super) async fn consistency(
    State(state): State<AppState>,
    _principal: Principal,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let proof = state.ledger.consistency_proof(q.from, q.to).await?;
    Ok(Json(json!({
        "first": q.from,
        "second": q.to,
        "proof": hexes(&proof),
    })))
}

/// Filters of the entry listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntriesQuery {
    department: Option<String>,
    action: Option<String>,
    matter: Option<String>,
    /// A citizen ID or USCC; matched through its keyed hash.
    subject: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (Beijing), inclusive.
    from: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD` (Beijing), exclusive.
    to: Option<String>,
    #[serde(default)]
    from_index: u64,
    limit: Option<i64>,
}

/// Unix milliseconds of an RFC 3339 time or a Beijing date.
fn parse_time(text: &str) -> Result<i64, ApiError> {
    crate::clock::parse_time_ms(text).map_err(|message| invalid("audit.invalid_time", message))
}

/// The keyed hash of a citizen ID or USCC given in a request.
fn subject_of(state: &AppState, id: &str) -> Result<String, ApiError> {
    if let Ok(c) = CitizenId::parse(id) {
        Ok(state.ledger.subject_hash("111", c.as_str()))
    } else if let Ok(u) = Uscc::parse(id) {
        Ok(state.ledger.subject_hash("001", u.as_str()))
    } else {
        Err(invalid(
            "audit.invalid_subject",
            "the subject is neither a valid citizen ID nor a valid USCC",
        ))
    }
}

fn entry_json(row: LogRow) -> Value {
    let body = row
        .entry
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok());
    json!({
        "index": row.idx,
        "leaf_hash": row.leaf_hash,
        "request_id": row.request_id,
        "at": row.at,
        "department": row.department,
        "actor": row.actor,
        "action": row.action,
        "outcome": row.outcome,
        "matter": row.matter,
        "flags": row.flags.map(|f| f.split(',').map(str::to_owned).collect::<Vec<_>>()).unwrap_or_default(),
        "purged": row.entry.is_none(),
        "entry": body,
        "canonical": row.entry,
    })
}

/// One page of entries matching `filter`, and the index the next page starts at.
async fn rows_page(
    state: &AppState,
    filter: &LogFilter,
    limit: Option<i64>,
) -> Result<(Vec<LogRow>, Option<i64>), ApiError> {
    let limit = limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let rows = state.store.log_entries(filter, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.idx + 1))
        .flatten();
    Ok((rows, next))
}

async fn page(state: &AppState, filter: LogFilter, limit: Option<i64>) -> Result<Value, ApiError> {
    let (rows, next) = rows_page(state, &filter, limit).await?;
    Ok(json!({
        "entries": rows.into_iter().map(entry_json).collect::<Vec<_>>(),
        "next_index": next,
    }))
}

/// `GET /v1/audit/entries`: entries by department, action, matter, subject and time, in
/// index order, paged by `from_index` (auditors).
pub(super) async fn entries(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Role::Auditor)?;
    let filter = LogFilter {
        department: q.department,
        action: q.action,
        matter: q.matter,
        subject: q
            .subject
            .as_deref()
            .map(|s| subject_of(&state, s))
            .transpose()?,
        from: q.from.as_deref().map(parse_time).transpose()?,
        to: q.to.as_deref().map(parse_time).transpose()?,
        flagged: false,
        disclosed_at: None,
        from_index: q.from_index as i64,
    };
    Ok(Json(page(&state, filter, q.limit).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsQuery {
    #[serde(default)]
    from_index: u64,
    limit: Option<i64>,
}

/// `GET /v1/audit/alerts`: entries carrying anomaly flags (auditors).
pub(super) async fn alerts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Role::Auditor)?;
    let filter = LogFilter {
        flagged: true,
        from_index: q.from_index as i64,
        ..LogFilter::default()
    };
    Ok(Json(page(&state, filter, q.limit).await?))
}

/// `GET /v1/subjects/{id}/accesses`: who accessed this citizen's or entity's records, when,
/// for which matter and case. The subject sees accesses once any confidentiality period
/// has passed; auditors see all.
pub(super) async fn subject_accesses(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<AlertsQuery>,
) -> Result<Json<Value>, ApiError> {
    let auditor = principal.roles.contains(Role::Auditor);
    let own = principal.roles.contains(Role::Citizen)
        && principal.subject.as_deref() == Some(id.as_str());
    if !auditor && !own {
        return Err(ApiError::Forbidden(Role::Auditor));
    }
    let filter = LogFilter {
        subject: Some(subject_of(&state, &id)?),
        disclosed_at: (!auditor).then(|| chrono::Utc::now().timestamp_millis()),
        from_index: q.from_index as i64,
        ..LogFilter::default()
    };
    let (rows, next) = rows_page(&state, &filter, q.limit).await?;
    let accesses: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let body = row
                .entry
                .as_deref()
                .and_then(|e| serde_json::from_str::<Value>(e).ok())
                .unwrap_or(Value::Null);
            json!({
                "index": row.idx,
                "time": body.get("time").cloned().unwrap_or(Value::Null),
                "at": row.at,
                "department": row.department,
                "action": row.action,
                "outcome": row.outcome,
                "matter": row.matter,
                "case_id": body.pointer("/purpose/case_id").cloned().unwrap_or(Value::Null),
                "legal_basis": body.pointer("/purpose/legal_basis").cloned().unwrap_or(Value::Null),
                "confidential_until": body.pointer("/purpose/confidential_until").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({ "accesses": accesses, "next_index": next })))
}
