//! Which grants govern a request, and the grants the demo starts with.
//!
//! Explicit grants (approved requests and administrative grants) come from the store.
//! Items a resource shares unconditionally are granted to every consumer department without
//! a request; that implied grant is computed here from the catalogue, never stored, so it
//! follows the catalogue when a provider changes an item's share type. Departments without
//! the consumer role have no grants at all.

use std::collections::BTreeMap;

use tongban_catalog::ShareType;
use tongban_catalog::query::{Grant, GrantSource, Mask};
use tongban_schemas::BaseLibrary;

use crate::audit::Purpose;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::matters::Matters;
use crate::store::{ResourceRecord, Store};

/// Checks a purpose's form and that it names a known matter; whether a grant serves the
/// matter is decided per table.
pub fn check_purpose(purpose: &Purpose, matters: &Matters) -> Result<(), (&'static str, String)> {
    if !matters.contains(&purpose.matter) {
        return Err((
            "query.unknown_matter",
            format!("`{}` is not a known matter", clip(&purpose.matter)),
        ));
    }
    let case_ok = !purpose.case_id.is_empty()
        && purpose.case_id.len() <= 64
        && purpose
            .case_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
    if !case_ok {
        return Err((
            "query.invalid_case_id",
            "a case ID is 1–64 letters, digits, '-', '_', '/' or '.'".into(),
        ));
    }
    let basis = purpose.legal_basis.trim();
    if basis.is_empty() || basis.chars().count() > 256 {
        return Err((
            "query.missing_legal_basis",
            "state the legal basis (at most 256 characters)".into(),
        ));
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The unconditional grant every consumer holds on a resource, if it shares any item
/// unconditionally.
pub fn unconditional_grant(resource: &ResourceRecord, consumer: &str) -> Option<Grant> {
    let d = &resource.definition;
    let columns: Vec<String> = d
        .items
        .iter()
        .filter(|i| i.share_type == ShareType::Unconditional)
        .map(|i| i.column.clone())
        .collect();
    if columns.is_empty() {
        return None;
    }
    Some(Grant {
        id: 0,
        consumer: consumer.to_owned(),
        resource: d.code.to_string(),
        library: d.base_library,
        columns,
        row_filter: None,
        masks: BTreeMap::new(),
        matters: Vec::new(),
        legal_basis: "无条件共享（政务信息资源目录）".into(),
        valid_from: 0,
        valid_to: None,
        row_cap: None,
        source: GrantSource::Unconditional,
    })
}

/// Every grant the principal's department holds now: explicit and implied.
pub async fn held_by(store: &Store, principal: &Principal) -> Result<Vec<Grant>, ApiError> {
    if !principal.roles.contains(Role::Consumer) {
        return Ok(Vec::new());
    }
    let mut grants = store.grants_for_consumer(&principal.department).await?;
    for resource in store.list_resources().await? {
        grants.extend(unconditional_grant(&resource, &principal.department));
    }
    Ok(grants)
}

/// The grants of the demo (see the governed-SQL contract).
pub fn demo_grants(resources: &[ResourceRecord], now: i64) -> Vec<Grant> {
    let resource = |library: BaseLibrary| {
        resources
            .iter()
            .find(|r| r.definition.base_library == library)
    };
    let mut grants = Vec::new();
    for library in BaseLibrary::ALL {
        let Some(r) = resource(library) else { continue };
        let columns: Vec<String> = r
            .definition
            .items
            .iter()
            .map(|i| i.column.clone())
            .collect();
        let masks: BTreeMap<String, Mask> = ["household_address", "residence_address"]
            .into_iter()
            .filter(|c| columns.iter().any(|x| x == c))
            .map(|c| (c.to_owned(), Mask::KeepPrefix { chars: 6 }))
            .collect();
        grants.push(Grant {
            id: 0,
            consumer: "approval-bureau".into(),
            resource: r.definition.code.to_string(),
            library,
            columns,
            row_filter: None,
            masks,
            matters: vec!["enterprise-opening".into(), "food-business-licence".into()],
            legal_basis: "《优化营商环境条例》第三十五条；《国务院关于加快推进政务服务标准化规范化便利化的指导意见》".into(),
            valid_from: now,
            valid_to: None,
            row_cap: Some(10_000),
            source: GrantSource::Administrative,
        });
    }
    if let Some(r) = resource(BaseLibrary::Population) {
        grants.push(Grant {
            id: 0,
            consumer: "real-estate".into(),
            resource: r.definition.code.to_string(),
            library: BaseLibrary::Population,
            columns: [
                "citizen_id",
                "name",
                "gender_code",
                "birth_date",
                "marital_status_code",
                "spouse_citizen_id",
                "person_status",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            row_filter: Some("person_status = '正常'".into()),
            masks: BTreeMap::new(),
            matters: vec!["real-estate-transfer".into()],
            legal_basis: "《不动产登记暂行条例》第二十一条".into(),
            valid_from: now,
            valid_to: None,
            row_cap: Some(1_000),
            source: GrantSource::Administrative,
        });
    }
    grants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(p: &Purpose) -> Result<(), (&'static str, String)> {
        let matters = Matters::load(&crate::config::MattersConfig::default()).expect("shipped");
        check_purpose(p, &matters)
    }

    fn purpose(matter: &str, case_id: &str, basis: &str) -> Purpose {
        Purpose {
            matter: matter.into(),
            case_id: case_id.into(),
            legal_basis: basis.into(),
            confidential_until: None,
        }
    }

    #[test]
    fn purposes_are_checked() {
        assert!(check(&purpose("enterprise-opening", "2026-QY-0001", "条例")).is_ok());
        assert_eq!(
            check(&purpose("fishing", "1", "x")).map_err(|e| e.0),
            Err("query.unknown_matter")
        );
        assert_eq!(
            check(&purpose("enterprise-opening", "", "x")).map_err(|e| e.0),
            Err("query.invalid_case_id")
        );
        assert_eq!(
            check(&purpose("enterprise-opening", "a b", "x")).map_err(|e| e.0),
            Err("query.invalid_case_id")
        );
        assert_eq!(
            check(&purpose("enterprise-opening", "1", "  ")).map_err(|e| e.0),
            Err("query.missing_legal_basis")
        );
    }
}

/// Who is changing grants, and how the change is recorded.
#[derive(Debug)]
pub struct Actor<'a> {
    /// The principal acting (a department system, a person, or the local operator).
    pub principal: &'a Principal,
    /// When the request started, for the record's duration.
    pub started: std::time::Instant,
    /// Where the change is recorded.
    pub recorder: &'a crate::audit::Recorder,
    /// The matters grants may serve.
    pub matters: &'a Matters,
}

fn change(
    change: &str,
    grant_id: Option<i64>,
    grant_request_id: Option<i64>,
    consumer: &str,
    resource: &str,
    detail: serde_json::Value,
) -> crate::audit::AuditEvent {
    crate::audit::AuditEvent::GrantChanged {
        change: change.to_owned(),
        grant_id,
        grant_request_id,
        consumer: consumer.to_owned(),
        resource: resource.to_owned(),
        detail,
    }
}

async fn record_change(
    store: &Store,
    actor: &Actor<'_>,
    event: crate::audit::AuditEvent,
) -> Result<String, ApiError> {
    let _ = store;
    let id = crate::audit::request_id();
    crate::audit::record(
        actor.recorder,
        crate::audit::entry(actor.principal, &id, None, actor.started, event),
        Vec::new(),
    )
    .await?;
    Ok(id)
}

/// Finds a resource by its code (`101001/000001` or `101001-000001`) or its library name.
pub async fn find_resource(store: &Store, name: &str) -> Result<ResourceRecord, ApiError> {
    let not_found = |e: crate::store::StoreError| match e {
        crate::store::StoreError::NotFound => ApiError::NotFound("resource"),
        other => other.into(),
    };
    if let Ok(library) = name.parse::<BaseLibrary>() {
        return store.resource_for_library(library).await.map_err(not_found);
    }
    let code = if name.contains('/') {
        name.to_owned()
    } else {
        name.replacen('-', "/", 1)
    };
    let code = tongban_catalog::ResourceCode::parse(&code)?;
    store.resource(&code.to_string()).await.map_err(not_found)
}

/// Columns a request or grant may name: items of the resource that are shared at all.
fn check_columns(resource: &ResourceRecord, columns: &[String]) -> Result<(), ApiError> {
    if columns.is_empty() {
        return Err(ApiError::BadRequest("name at least one column".into()));
    }
    for c in columns {
        match resource.definition.item(c) {
            None => {
                return Err(ApiError::BadRequest(format!(
                    "`{}` is not an item of {}",
                    clip(c),
                    resource.definition.code
                )));
            }
            Some(item) if item.share_type == ShareType::NotShared => {
                return Err(ApiError::BadRequest(format!(
                    "`{c}` is not shared (不予共享) and cannot be granted"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_matters(matters: &[String], known: &Matters) -> Result<(), ApiError> {
    if matters.is_empty() {
        return Err(ApiError::BadRequest(
            "name the matters the grant serves".into(),
        ));
    }
    match matters.iter().find(|m| !known.contains(m)) {
        Some(m) => Err(ApiError::BadRequest(format!(
            "`{}` is not a known matter",
            clip(m)
        ))),
        None => Ok(()),
    }
}

/// A consumer's application for a grant.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// Resource code or library name.
    pub resource: String,
    /// Columns wanted.
    pub columns: Vec<String>,
    /// Matters the access will serve.
    pub matters: Vec<String>,
    /// Why the department needs the data.
    pub reason: String,
    /// The legal basis.
    pub legal_basis: String,
    /// Requested end of validity (RFC 3339 date or time), if limited.
    #[serde(default)]
    pub valid_to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Files an application for `actor`'s department. Returns the request id.
pub async fn apply(
    store: &Store,
    actor: &Actor<'_>,
    application: Application,
) -> Result<i64, ApiError> {
    actor.principal.require(Role::Consumer)?;
    let resource = find_resource(store, &application.resource).await?;
    check_columns(&resource, &application.columns)?;
    check_matters(&application.matters, actor.matters)?;
    if application.reason.trim().is_empty() || application.legal_basis.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "state the reason and the legal basis".into(),
        ));
    }
    let code = resource.definition.code.to_string();
    let mut body =
        serde_json::to_value(&application).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["resource"] = serde_json::json!(code);
    let now = chrono::Utc::now().timestamp_millis();
    let id = store
        .create_request(
            &actor.principal.department,
            &code,
            &body,
            &actor.principal.actor(),
            now,
        )
        .await?;
    record_change(
        store,
        actor,
        change(
            "requested",
            None,
            Some(id),
            &actor.principal.department,
            &code,
            body,
        ),
    )
    .await?;
    Ok(id)
}

/// What a provider may add or narrow when approving.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// A note to the consumer.
    #[serde(default)]
    pub note: String,
    /// Narrower columns than requested.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Row filter (SQL predicate over the library's columns).
    #[serde(default)]
    pub row_filter: Option<String>,
    /// Masks by column.
    #[serde(default)]
    pub masks: BTreeMap<String, Mask>,
    /// Most rows per query.
    #[serde(default)]
    pub row_cap: Option<u64>,
    /// End of validity.
    #[serde(default)]
    pub valid_to: Option<chrono::DateTime<chrono::Utc>>,
}

async fn pending_for_provider(
    store: &Store,
    actor: &Actor<'_>,
    id: i64,
) -> Result<(crate::store::RequestRecord, ResourceRecord), ApiError> {
    actor
        .principal
        .require_any(&[Role::Provider, Role::Admin])?;
    let request = store.request(id).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::NotFound("grant request"),
        other => other.into(),
    })?;
    let resource = find_resource(store, &request.resource).await?;
    let is_admin = actor.principal.roles.contains(Role::Admin);
    if !is_admin && resource.definition.provider.department != actor.principal.department {
        return Err(ApiError::NotProvider);
    }
    if request.status != "pending" {
        return Err(ApiError::Conflict(format!(
            "the request is already {}",
            request.status
        )));
    }
    Ok((request, resource))
}

/// Approves a pending request (its resource's provider, or an admin). Returns the grant id.
pub async fn approve(
    store: &Store,
    engine: &tongban_catalog::query::QueryEngine,
    actor: &Actor<'_>,
    id: i64,
    approval: Approval,
) -> Result<i64, ApiError> {
    let (request, resource) = pending_for_provider(store, actor, id).await?;
    let asked: Application = serde_json::from_value(request.body.clone())
        .map_err(|e| ApiError::Internal(format!("stored request {id}: {e}")))?;
    let columns = match approval.columns {
        Some(cols) => {
            if let Some(c) = cols.iter().find(|c| !asked.columns.contains(c)) {
                return Err(ApiError::BadRequest(format!(
                    "`{}` was not requested",
                    clip(c)
                )));
            }
            cols
        }
        None => asked.columns.clone(),
    };
    check_columns(&resource, &columns)?;
    let now = chrono::Utc::now().timestamp_millis();
    let grant = Grant {
        id: 0,
        consumer: request.consumer.clone(),
        resource: resource.definition.code.to_string(),
        library: resource.definition.base_library,
        columns,
        row_filter: approval.row_filter.filter(|f| !f.trim().is_empty()),
        masks: approval.masks,
        matters: asked.matters.clone(),
        legal_basis: asked.legal_basis.clone(),
        valid_from: now,
        valid_to: approval
            .valid_to
            .or(asked.valid_to)
            .map(|t| t.timestamp_millis()),
        row_cap: approval.row_cap,
        source: GrantSource::Approved,
    };
    validate_grant(engine, &grant)?;
    let grant_id = store
        .approve_request(id, &grant, &actor.principal.actor(), &approval.note, now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::Conflict(m),
            other => other.into(),
        })?;
    let detail = serde_json::to_value(&grant).map_err(|e| ApiError::Internal(e.to_string()))?;
    record_change(
        store,
        actor,
        change(
            "approved",
            Some(grant_id),
            Some(id),
            &grant.consumer,
            &grant.resource,
            detail,
        ),
    )
    .await?;
    Ok(grant_id)
}

/// Rejects a pending request with a note.
pub async fn reject(store: &Store, actor: &Actor<'_>, id: i64, note: &str) -> Result<(), ApiError> {
    let (request, resource) = pending_for_provider(store, actor, id).await?;
    if note.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "say why the request is rejected".into(),
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    store
        .reject_request(id, &actor.principal.actor(), note, now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::Conflict(m),
            other => other.into(),
        })?;
    let code = resource.definition.code.to_string();
    record_change(
        store,
        actor,
        change(
            "rejected",
            None,
            Some(id),
            &request.consumer,
            &code,
            serde_json::json!({"note": note}),
        ),
    )
    .await?;
    Ok(())
}

/// Checks a grant fully: columns, masks, window, legal basis, and that its row filter parses.
pub fn validate_grant(
    engine: &tongban_catalog::query::QueryEngine,
    grant: &Grant,
) -> Result<(), ApiError> {
    grant.check().map_err(ApiError::BadRequest)?;
    if let Some(filter) = &grant.row_filter {
        engine
            .parse_row_filter(grant.library, filter)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    Ok(())
}

/// Creates an administrative grant (admins). Returns its id.
pub async fn create(
    store: &Store,
    engine: &tongban_catalog::query::QueryEngine,
    actor: &Actor<'_>,
    mut grant: Grant,
) -> Result<i64, ApiError> {
    actor.principal.require(Role::Admin)?;
    let resource = find_resource(store, &grant.resource).await?;
    store
        .department(&grant.consumer)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::NotFound("department"),
            other => other.into(),
        })?;
    check_columns(&resource, &grant.columns)?;
    check_matters(&grant.matters, actor.matters)?;
    grant.id = 0;
    grant.resource = resource.definition.code.to_string();
    grant.library = resource.definition.base_library;
    grant.source = GrantSource::Administrative;
    validate_grant(engine, &grant)?;
    let now = chrono::Utc::now().timestamp_millis();
    let id = store
        .create_grant(&grant, None, &actor.principal.actor(), now)
        .await?;
    let detail = serde_json::to_value(&grant).map_err(|e| ApiError::Internal(e.to_string()))?;
    record_change(
        store,
        actor,
        change(
            "created",
            Some(id),
            None,
            &grant.consumer,
            &grant.resource,
            detail,
        ),
    )
    .await?;
    Ok(id)
}

/// Revokes a grant (its resource's provider, or an admin).
pub async fn revoke(store: &Store, actor: &Actor<'_>, id: i64) -> Result<(), ApiError> {
    actor
        .principal
        .require_any(&[Role::Provider, Role::Admin])?;
    let record = store.grant(id).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::NotFound("grant"),
        other => other.into(),
    })?;
    let resource = find_resource(store, &record.grant.resource).await?;
    if !actor.principal.roles.contains(Role::Admin)
        && resource.definition.provider.department != actor.principal.department
    {
        return Err(ApiError::NotProvider);
    }
    let now = chrono::Utc::now().timestamp_millis();
    store
        .revoke_grant(id, &actor.principal.actor(), now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError::Conflict("the grant is already revoked".into())
            }
            other => other.into(),
        })?;
    record_change(
        store,
        actor,
        change(
            "revoked",
            Some(id),
            record.request_id,
            &record.grant.consumer,
            &record.grant.resource,
            serde_json::json!({}),
        ),
    )
    .await?;
    Ok(())
}

/// The grants a principal may see: its own as consumer, those on its resources as
/// provider, all as admin or auditor.
pub async fn visible(
    store: &Store,
    principal: &Principal,
) -> Result<Vec<crate::store::GrantRecord>, ApiError> {
    let all = store.list_grants().await?;
    if principal.roles.contains(Role::Admin) || principal.roles.contains(Role::Auditor) {
        return Ok(all);
    }
    let provided: Vec<String> = store
        .list_resources()
        .await?
        .into_iter()
        .filter(|r| r.definition.provider.department == principal.department)
        .map(|r| r.definition.code.to_string())
        .collect();
    Ok(all
        .into_iter()
        .filter(|g| {
            g.grant.consumer == principal.department || provided.contains(&g.grant.resource)
        })
        .collect())
}

/// The requests a principal may see, by the same rule as grants.
pub async fn visible_requests(
    store: &Store,
    principal: &Principal,
) -> Result<Vec<crate::store::RequestRecord>, ApiError> {
    let all = store.list_requests().await?;
    if principal.roles.contains(Role::Admin) || principal.roles.contains(Role::Auditor) {
        return Ok(all);
    }
    let provided: Vec<String> = store
        .list_resources()
        .await?
        .into_iter()
        .filter(|r| r.definition.provider.department == principal.department)
        .map(|r| r.definition.code.to_string())
        .collect();
    Ok(all
        .into_iter()
        .filter(|r| r.consumer == principal.department || provided.contains(&r.resource))
        .collect())
}
