//! E-licences over HTTPS: issue and change status (issuing departments), verify (any
//! department, with a purpose; a token or a photo of the QR code), and the signed trust list
//! and status lists offline verifiers download. Every call is an audit entry.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tongban_certs::{Holder, LicenceType, QrEncoding};

use super::ApiPath;
use crate::audit::{self, AuditEvent, Purpose};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::licences::{StatusAction, api_error};
use crate::startup::AppState;

/// A licence to issue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IssueBody {
    /// Licence type slug, e.g. `business-licence`.
    #[serde(rename = "type")]
    licence_type: String,
    holder: HolderBody,
    face: BTreeMap<String, String>,
    /// `compressed` (default: `TB1:` + base45 of zlib) or `compact`.
    #[serde(default)]
    qr: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolderBody {
    /// `111` (citizen ID) or `001` (USCC).
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

fn holder_subject(state: &AppState, holder: &Holder) -> String {
    state.ledger.subject_hash(holder.kind().code(), holder.id())
}

/// `POST /v1/licences`: issue a licence (the type's issuing department).
pub(super) async fn issue(
    State(state): State<AppState>,
    principal: Principal,
    super::ApiJson(body): super::ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let started = std::time::Instant::now();
    principal.require(Role::Issuer)?;
    let licence_type =
        LicenceType::from_slug(&body.licence_type).map_err(|e| api_error(e.into()))?;
    let holder =
        Holder::parse(&body.holder.kind, &body.holder.id).map_err(|e| api_error(e.into()))?;
    let encoding = match body.qr.as_deref() {
        None | Some("compressed") => QrEncoding::Compressed,
        Some("compact") => QrEncoding::Compact,
        Some(other) => {
            return Err(ApiError::Invalid {
                code: "licence.qr_encoding",
                message: format!("unknown QR encoding `{other}`: compressed or compact"),
            });
        }
    };
    let (issued, status) = state
        .licences
        .issue(
            &state.engine,
            &principal.department,
            licence_type,
            holder.clone(),
            body.face,
        )
        .await?;
    let qr = tongban_certs::qr::render(&issued.token, encoding).map_err(api_error)?;
    let audit_id = audit::request_id();
    let subject = holder_subject(&state, &holder);
    let mut entry = audit::entry(
        &principal,
        &audit_id,
        None,
        started,
        AuditEvent::LicenceIssued {
            licence_id: issued.id.as_str().to_owned(),
            licence_type: licence_type.slug().to_owned(),
            status: format!("{}/{}", status.list, status.idx),
            kid: issued.kid.clone(),
        },
    );
    entry.subjects = Some(audit::Subjects {
        count: 1,
        hashes: vec![subject.clone()],
        bulk: false,
    });
    audit::record(&state.recorder, entry, vec![subject]).await?;
    tracing::info!(dept = %principal.department, licence_id = %issued.id.as_str(), "licence issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": issued.id.as_str(),
            "type": licence_type.slug(),
            "token": issued.token,
            "not_before": issued.not_before,
            "expires_at": issued.expires_at,
            "status": {"list": status.list, "idx": status.idx, "uri": status.uri},
            "qr": {
                "text": qr.text,
                "svg": qr.svg,
                "png_base64": base64::engine::general_purpose::STANDARD.encode(&qr.png),
            },
            "audit_id": audit_id,
        })),
    ))
}

/// A presentation to verify.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyBody {
    /// The SD-JWT presentation, or the text of its QR code.
    token: String,
    purpose: Purpose,
}

/// The purpose of an image upload, as query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurposeQuery {
    matter: String,
    case_id: String,
    legal_basis: String,
}

/// `POST /v1/licences/verify`: a JSON body `{token, purpose}`, or a PNG/JPEG photo of the QR
/// code with the purpose as query parameters. Answers 200 with `valid` and, when valid, only
/// the disclosed fields; a refusal names its reason and stable code.
pub(super) async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    uri: axum::http::Uri,
    super::ApiBytes(body): super::ApiBytes,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let limits = tongban_certs::Limits::default();
    let (presented, purpose, via) = match content_type.as_str() {
        "application/json" => {
            let parsed: VerifyBody = serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
            (
                tongban_certs::qr::token_from_qr_text(parsed.token.trim(), limits.max_token_bytes),
                parsed.purpose,
                "token",
            )
        }
        "image/png" | "image/jpeg" => {
            let q = axum::extract::Query::<PurposeQuery>::try_from_uri(&uri)
                .map_err(|_| ApiError::Invalid {
                    code: "query.missing_purpose",
                    message: "an image upload states its purpose as matter, case_id and legal_basis query parameters".into(),
                })?
                .0;
            (
                tongban_certs::qr::decode_image(&body, limits.max_token_bytes),
                Purpose {
                    matter: q.matter,
                    case_id: q.case_id,
                    legal_basis: q.legal_basis,
                    confidential_until: None,
                },
                "qr_image",
            )
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send application/json, image/png or image/jpeg".into(),
            ));
        }
    };
    crate::grants::check_purpose(&purpose, &state.matters).map_err(|(code, message)| {
        ApiError::Invalid {
            code,
            message: message.to_owned(),
        }
    })?;
    state.licences.refresh().await?;
    let result = presented.and_then(|token| state.licences.verify(&token));
    let audit_id = audit::request_id();
    let (event, subjects, answer) = match result {
        Ok(v) => {
            let subject = state
                .ledger
                .subject_hash(v.holder.kind().code(), v.holder.id());
            let event = AuditEvent::LicenceVerified {
                licence_id: Some(v.id.as_str().to_owned()),
                licence_type: Some(v.licence_type.slug().to_owned()),
                result: "valid".into(),
                disclosed: v.disclosed.keys().cloned().collect(),
                via: via.into(),
            };
            let answer = json!({
                "valid": true,
                "licence": {
                    "id": v.id.as_str(),
                    "type": v.licence_type.slug(),
                    "type_name": v.licence_type.name_zh(),
                    "issuer": v.issuer,
                    "holder": {"type": v.holder.kind().code(), "id": v.holder.id()},
                    "issued_at": v.issued_at,
                    "valid_from": v.valid_from,
                    "valid_until": v.valid_until,
                    "status": v.status.name(),
                    "disclosed": v.disclosed,
                    "key_bound": v.key_bound,
                },
            });
            (event, vec![subject], answer)
        }
        Err(e) => {
            if e.party() != tongban_certs::Party::Caller {
                tracing::error!(code = e.code(), error = %e, "licence verification failed on our side");
            }
            let event = AuditEvent::LicenceVerified {
                licence_id: None,
                licence_type: None,
                result: e.code().into(),
                disclosed: Vec::new(),
                via: via.into(),
            };
            let answer = json!({"valid": false, "code": e.code(), "reason": e.to_string()});
            (event, Vec::new(), answer)
        }
    };
    let mut entry = audit::entry(&principal, &audit_id, Some(purpose), started, event);
    if !subjects.is_empty() {
        entry.subjects = Some(audit::Subjects {
            count: subjects.len() as u64,
            hashes: subjects.clone(),
            bulk: false,
        });
    }
    audit::record(&state.recorder, entry, subjects).await?;
    let mut answer = answer;
    answer["audit_id"] = Value::from(audit_id);
    Ok(Json(answer))
}

/// A status change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    reason: String,
}

async fn change(
    state: AppState,
    principal: Principal,
    id: String,
    action: StatusAction,
    reason: String,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    principal.require(Role::Issuer)?;
    let (licence, status) = state
        .licences
        .set_status(&principal.department, &id, action, &reason)
        .await?;
    let audit_id = audit::request_id();
    audit::record(
        &state.recorder,
        audit::entry(
            &principal,
            &audit_id,
            None,
            started,
            AuditEvent::LicenceStatusChanged {
                licence_id: licence.id.clone(),
                status: status.name().to_owned(),
                reason,
            },
        ),
        Vec::new(),
    )
    .await?;
    Ok(Json(
        json!({"id": licence.id, "status": status.name(), "audit_id": audit_id}),
    ))
}

/// `POST /v1/licences/{id}/suspend`.
pub(super) async fn suspend(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    super::ApiJson(body): super::ApiJson<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, principal, id, StatusAction::Suspend, body.reason).await
}

/// `POST /v1/licences/{id}/reinstate`.
pub(super) async fn reinstate(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    super::ApiJson(body): super::ApiJson<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, principal, id, StatusAction::Reinstate, body.reason).await
}

/// `POST /v1/licences/{id}/revoke`.
pub(super) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    super::ApiJson(body): super::ApiJson<StatusBody>,
) -> Result<Json<Value>, ApiError> {
    change(state, principal, id, StatusAction::Revoke, body.reason).await
}

/// `GET /v1/licences/{id}`: the registry entry (the issuing department, or auditors).
pub(super) async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let record = state.licences.record(&id).await?;
    if record.issuer != principal.department && !principal.roles.contains(Role::Auditor) {
        return Err(ApiError::NotFound("licence"));
    }
    Ok(Json(json!({
        "id": record.id,
        "type": record.licence_type,
        "issuer": record.issuer,
        "holder": {"type": record.holder_kind, "id": record.holder_id},
        "status": record.status,
        "status_reason": record.status_reason,
        "status_changed_at": record.status_changed_at,
        "status_entry": {"list": record.list_no, "idx": record.status_idx},
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "kid": record.kid,
    })))
}

/// `GET /v1/licences/trust-list`: the signed trust list and the anchor key it is signed with.
pub(super) async fn trust_list(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    state.licences.refresh().await?;
    let (token, anchor) = state.licences.trust_list()?;
    Ok(Json(json!({"trust_list": token, "anchor": anchor})))
}

/// `GET /v1/licences/status-lists/{department}/{list}`: a signed status list.
pub(super) async fn status_list(
    State(state): State<AppState>,
    _principal: Principal,
    ApiPath((department, list)): ApiPath<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    state.licences.refresh().await?;
    let token = state.licences.status_list(&department, list)?;
    Ok(Json(json!({"status_list": token})))
}
