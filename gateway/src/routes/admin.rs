//! Departments and users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::auth::{self, Principal, Role, Roles};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{NewUser, Store, StoreError};

/// `GET /v1/departments`: every department and its roles (any authenticated caller).
pub(super) async fn departments(
    State(state): State<AppState>,
    _principal: Principal,
) -> Result<Json<Value>, ApiError> {
    let list = state.store.list_departments().await?;
    Ok(Json(json!(list)))
}

/// `GET /v1/users` (admin).
pub(super) async fn users(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require(Role::Admin)?;
    let list: Vec<Value> = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| {
            json!({
                "username": u.username,
                "display_name": u.display_name,
                "department": u.department,
                "roles": u.roles,
                "disabled": u.disabled,
            })
        })
        .collect();
    Ok(Json(json!(list)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUser {
    username: String,
    display_name: String,
    department: String,
    roles: Vec<Role>,
    password: String,
    /// For a citizen's account: their citizen ID.
    #[serde(default)]
    subject_id: Option<String>,
}

/// `POST /v1/users` (admin): creates a person's account.
pub(super) async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let started = std::time::Instant::now();
    principal.require(Role::Admin)?;
    let user = new_user(
        &state.store,
        body.username,
        body.display_name,
        body.department,
        body.roles.into_iter().collect(),
        &body.password,
        body.subject_id,
    )
    .await?;
    let id = state
        .store
        .create_user(&user, chrono::Utc::now().timestamp_millis())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::Conflict(format!("username `{}` is taken", user.username))
            }
            other => other.into(),
        })?;
    let event = crate::audit::AuditEvent::UserCreated {
        username: user.username.clone(),
        department: user.department.clone(),
        roles: user.roles.to_string(),
    };
    let audit_id = crate::audit::request_id();
    crate::audit::record(
        &state.recorder,
        crate::audit::entry(&principal, &audit_id, None, started, event),
        Vec::new(),
    )
    .await?;
    tracing::info!(actor = %principal.actor(), user = %user.username, "user created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "username": user.username, "roles": user.roles})),
    ))
}

/// Checks a new account and hashes its password. Shared by the API and the CLI.
pub(crate) async fn new_user(
    store: &Store,
    username: String,
    display_name: String,
    department: String,
    roles: Roles,
    password: &str,
    subject_id: Option<String>,
) -> Result<NewUser, ApiError> {
    // A citizen's account is theirs alone: bound to a valid citizen ID, with no other role.
    let subject_id = match (roles.contains(Role::Citizen), subject_id) {
        (true, Some(id)) => {
            let id = tongban_schemas::CitizenId::parse(&id).map_err(|e| ApiError::Invalid {
                code: e.code(),
                message: e.to_string(),
            })?;
            if roles != [Role::Citizen].into_iter().collect::<Roles>() {
                return Err(ApiError::BadRequest(
                    "a citizen's account holds the citizen role only".into(),
                ));
            }
            Some(id.as_str().to_owned())
        }
        (true, None) => {
            return Err(ApiError::BadRequest(
                "a citizen's account needs the citizen ID it belongs to (subject_id)".into(),
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::BadRequest(
                "only a citizen's account is bound to a citizen ID".into(),
            ));
        }
        (false, None) => None,
    };
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(ApiError::BadRequest(
            "a username is 1–64 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if password.chars().count() < 12 || password.len() > 256 {
        return Err(ApiError::BadRequest(
            "a password has at least 12 characters".into(),
        ));
    }
    let dept = store.department(&department).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::NotFound("department"),
        other => other.into(),
    })?;
    if !roles.is_subset_of(dept.roles) {
        return Err(ApiError::BadRequest(format!(
            "the department {} does not hold all of the roles {roles}",
            dept.code
        )));
    }
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::Internal("password hashing task failed".into()))??;
    Ok(NewUser {
        username,
        display_name,
        department,
        roles,
        password_hash,
        subject_id,
    })
}
