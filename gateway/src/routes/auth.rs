//! Sign-in, sign-out and "who am I".

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::StoreError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Login {
    username: String,
    password: String,
}

/// `POST /v1/auth/login`: a bearer token for a username and password.
pub(super) async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Login>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.username.is_empty() || body.username.len() > 64 || body.password.len() > 256 {
        return Err(ApiError::InvalidCredentials);
    }
    let found = match state.store.user_by_name(&body.username).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let hash = found
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| auth::decoy_hash().to_owned());
    let password = body.password;
    // Argon2 is deliberately slow; keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|_| ApiError::Internal("password check task failed".into()))?;
    let user = match found {
        Some(user) if matches && !user.disabled => user,
        _ => return Err(ApiError::InvalidCredentials),
    };
    let token = auth::new_token()?;
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::minutes(state.config.auth.token_minutes);
    state
        .store
        .create_session(
            &auth::token_hash(&token),
            user.id,
            now.timestamp_millis(),
            expires.timestamp_millis(),
        )
        .await?;
    tracing::info!(user = %user.username, dept = %user.department, "signed in");
    Ok((
        StatusCode::OK,
        Json(json!({
            "token": token,
            "token_type": "Bearer",
            "expires_at": expires.to_rfc3339(),
            "user": {
                "username": user.username,
                "display_name": user.display_name,
                "department": user.department,
                "department_name": user.department_name,
                "roles": user.roles,
            }
        })),
    ))
}

/// `POST /v1/auth/logout`: ends the caller's session.
pub(super) async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::BadRequest("only a signed-in person can sign out".into()))?;
    state
        .store
        .revoke_session(&auth::token_hash(token.trim()))
        .await?;
    tracing::info!(actor = %principal.actor(), "signed out");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me`: the caller as the hub sees them.
pub(super) async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}
