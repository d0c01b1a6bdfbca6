//! The route table.
//!
//! `GET /healthz` (with `/livez`, `/readyz` and `/metrics` from [`crate::telemetry`]) needs
//! no authentication; everything under `/v1/` needs a registered client certificate or a
//! bearer token, and an unknown `/v1/` path answers 401 before 404 so that routes cannot be
//! probed anonymously. The web console ([`crate::console`]) is served under `/console`.

mod admin;
pub(crate) use admin::new_user;
mod audit;
mod auth;
mod catalog;
mod grants;
mod licences;
mod matters;
mod query;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::startup::AppState;

/// Builds the router over shared state.
pub fn router(state: AppState) -> Router {
    let json_limit = state.config.limits.max_json_bytes;
    let upload_limit = state.config.limits.max_upload_bytes;
    let v1 = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/openapi.json", get(crate::apidoc::document))
        .route("/departments", get(admin::departments))
        .route("/users", get(admin::users).post(admin::create_user))
        .route("/catalog/resources", get(catalog::list))
        .route("/catalog/resources/{code}", get(catalog::get_one))
        .route(
            "/catalog/resources/{code}/snapshots",
            get(catalog::snapshots)
                .post(catalog::publish)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/catalog/dcat", get(catalog::dcat))
        .route("/query", post(query::run))
        .route("/grants", get(grants::list).post(grants::create))
        .route("/grants/{id}", axum::routing::delete(grants::revoke))
        .route("/grant-requests", get(grants::requests).post(grants::apply))
        .route("/grant-requests/{id}/approve", post(grants::approve))
        .route("/grant-requests/{id}/reject", post(grants::reject))
        .route(
            "/audit/tree-head",
            get(audit::tree_head).post(audit::sign_tree_head),
        )
        .route("/audit/tree-heads", get(audit::tree_heads))
        .route("/audit/public-key", get(audit::public_key))
        .route("/audit/proofs/inclusion", get(audit::inclusion))
        .route("/audit/proofs/consistency", get(audit::consistency))
        .route("/audit/entries", get(audit::entries))
        .route("/audit/alerts", get(audit::alerts))
        .route("/subjects/{id}/accesses", get(audit::subject_accesses))
        .route("/matters", get(matters::list))
        .route("/matters/evidence-key", get(matters::evidence_key))
        .route("/matters/{code}", get(matters::get_one))
        .route("/matters/{code}/resolve", post(matters::resolve))
        .route("/matters/{code}/stats", get(matters::stats))
        .route("/resolutions/{id}", get(matters::resolution))
        .route("/licences", post(licences::issue))
        .route(
            "/licences/verify",
            post(licences::verify).layer(axum::extract::DefaultBodyLimit::max(8 << 20)),
        )
        .route("/licences/trust-list", get(licences::trust_list))
        .route(
            "/licences/status-lists/{department}/{list}",
            get(licences::status_list),
        )
        .route("/licences/{id}", get(licences::get_one))
        .route("/licences/{id}/suspend", post(licences::suspend))
        .route("/licences/{id}/reinstate", post(licences::reinstate))
        .route("/licences/{id}/revoke", post(licences::revoke))
        .fallback(v1_fallback)
        .layer(axum::extract::DefaultBodyLimit::max(json_limit));
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/v1", v1.clone())
        .merge(crate::console::router(&state, v1))
        .merge(crate::telemetry::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(crate::telemetry::track))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn v1_fallback(principal: Result<Principal, ApiError>) -> ApiError {
    match principal {
        Err(e) => e,
        Ok(_) => ApiError::RouteNotFound,
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": {"code": "server.internal", "message": "internal error"}})),
    )
        .into_response()
}

/// A JSON body whose rejections are API errors with stable codes.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::BodyTooLarge)
            }
            Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => Err(
                ApiError::UnsupportedMediaType("expected Content-Type: application/json".into()),
            ),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Query parameters whose rejections are API errors with stable codes.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::Invalid {
                code: "request.invalid_query",
                message: rejection.body_text(),
            }),
        }
    }
}

/// Path parameters whose rejections are API errors with stable codes.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::Invalid {
                code: "request.invalid_path",
                message: rejection.body_text(),
            }),
        }
    }
}

/// A raw body whose rejections (too large, unreadable) are API errors with stable codes.
#[derive(Debug)]
pub struct ApiBytes(pub axum::body::Bytes);

impl<S> FromRequest<S> for ApiBytes
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(ApiBytes(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::BodyTooLarge)
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}
