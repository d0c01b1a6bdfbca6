//! Errors become responses here, and only here.
//!
//! Every failure a handler can meet is an [`ApiError`]; the exhaustive match in
//! [`ApiError::parts`] gives each one a status and a stable code, so a new variant cannot be
//! added without deciding how a client sees it. Bodies are
//! `{"error":{"code":"…","message":"…"}}` (plus `details` where the caller needs a list, such
//! as the rows a publication rejected) and never carry internal detail; that goes to the log,
//! which is written in this one function.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tongban_catalog::CatalogError;

use crate::auth::Role;
use crate::store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // ---- the caller must act (4xx) ----
    /// No client certificate and no bearer token.
    #[error("authentication required")]
    Unauthenticated,
    /// A bearer token that is malformed, unknown, expired or revoked.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A CA-signed certificate the hub has not registered, or has revoked.
    #[error("unknown client certificate")]
    UnknownCertificate,
    /// Wrong username or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The principal lacks the role.
    #[error("forbidden")]
    Forbidden(Role),
    /// The principal is not the resource's provider.
    #[error("not the provider of this resource")]
    NotProvider,
    /// Unknown route.
    #[error("no such route")]
    RouteNotFound,
    /// Known route, wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A body or parameter that cannot be understood.
    #[error("{0}")]
    BadRequest(String),
    /// A body larger than the route allows.
    #[error("request body too large")]
    BodyTooLarge,
    /// A body in a media type the route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A unique value already taken.
    #[error("{0}")]
    Conflict(String),
    /// A query was refused or failed; the access record holds the detail.
    #[error("{message}")]
    Query {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// Client-safe message.
        message: String,
        /// The request's audit entry.
        audit_id: String,
    },
    /// The request is malformed in a way that has its own stable code.
    #[error("{message}")]
    Invalid {
        /// Stable code, e.g. `audit.proof_out_of_range`.
        code: &'static str,
        /// Human message.
        message: String,
    },
    /// Too many queries of one department at once.
    #[error("too many concurrent requests")]
    TooManyRequests,
    /// A publication or definition the catalogue refused.
    #[error(transparent)]
    Catalog(#[from] CatalogError),

    // ---- the operator must act (5xx) ----
    /// The metadata store failed.
    #[error("store: {0}")]
    Store(StoreError),
    /// The audit log could not record an entry, so the request was not served.
    #[error("audit log unavailable: {0}")]
    AuditUnavailable(String),
    /// Files could not be read or written.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),

    // ---- a bug of ours ----
    /// An invariant broke.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("record"),
            StoreError::Conflict(m) => ApiError::Conflict(format!(
                "already exists ({})",
                m.chars().take(80).collect::<String>()
            )),
            other => ApiError::Store(other),
        }
    }
}

impl ApiError {
    /// Status, stable code, client message and optional details.
    fn parts(&self) -> (StatusCode, &'static str, String, Option<Value>) {
        use ApiError::*;
        let m = self.to_string();
        match self {
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "auth.required",
                "present a department client certificate or a bearer token".into(),
                None,
            ),
            InvalidToken => (StatusCode::UNAUTHORIZED, "auth.invalid_token", m, None),
            UnknownCertificate => (
                StatusCode::UNAUTHORIZED,
                "auth.unknown_certificate",
                "the client certificate is not registered with the hub, or was revoked".into(),
                None,
            ),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "auth.invalid_credentials",
                "wrong username or password".into(),
                None,
            ),
            Forbidden(role) => (
                StatusCode::FORBIDDEN,
                "auth.forbidden",
                format!("this action needs the {} role", role.as_str()),
                None,
            ),
            NotProvider => (
                StatusCode::FORBIDDEN,
                "auth.not_provider",
                "only the resource's provider may publish it".into(),
                None,
            ),
            RouteNotFound => (StatusCode::NOT_FOUND, "request.no_route", m, None),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "request.method_not_allowed",
                m,
                None,
            ),
            NotFound(_) => (StatusCode::NOT_FOUND, "request.not_found", m, None),
            BadRequest(_) => (StatusCode::BAD_REQUEST, "request.invalid", m, None),
            BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.body_too_large",
                m,
                None,
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request.media_type",
                m,
                None,
            ),
            Conflict(_) => (StatusCode::CONFLICT, "request.conflict", m, None),
            Query {
                status,
                code,
                message,
                audit_id,
            } => (
                *status,
                code,
                message.clone(),
                Some(json!({"audit_id": audit_id})),
            ),
            Invalid { code, message } => (StatusCode::BAD_REQUEST, code, message.clone(), None),
            TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "request.too_many", m, None),
            AuditUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "audit.unavailable",
                "the access record could not be written, so the request was not served".into(),
                None,
            ),
            Catalog(e) => catalog_parts(e),
            Store(_) | Io(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server.unavailable",
                "the service is temporarily unavailable".into(),
                None,
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server.internal",
                "internal error".into(),
                None,
            ),
        }
    }
}

fn catalog_parts(e: &CatalogError) -> (StatusCode, &'static str, String, Option<Value>) {
    let m = e.to_string();
    match e {
        CatalogError::InvalidDefinition(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "catalog.invalid_definition",
            m,
            None,
        ),
        CatalogError::InvalidResourceCode(_) => {
            (StatusCode::BAD_REQUEST, "catalog.invalid_code", m, None)
        }
        CatalogError::WrongColumns {
            missing,
            unexpected,
            ..
        } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "publish.wrong_columns",
            m,
            Some(json!({"missing": missing, "unexpected": unexpected})),
        ),
        CatalogError::InvalidRows { total, errors } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "publish.invalid_rows",
            m,
            Some(json!({"total": total, "rows": errors})),
        ),
        CatalogError::EmptyPublication => {
            (StatusCode::UNPROCESSABLE_ENTITY, "publish.empty", m, None)
        }
        CatalogError::UnreadableInput(_) => {
            (StatusCode::BAD_REQUEST, "publish.unreadable", m, None)
        }
        CatalogError::Io(_) | CatalogError::Layout(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "server.unavailable",
            "the service is temporarily unavailable".into(),
            None,
        ),
        CatalogError::Arrow(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server.internal",
            "internal error".into(),
            None,
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = self.parts();
        if status.is_server_error() {
            tracing::error!(code, error = %self, "request failed");
        } else {
            tracing::debug!(code, error = %self, "request refused");
        }
        let mut error = json!({"code": code, "message": message});
        match (&self, details) {
            (ApiError::Query { audit_id, .. }, _) => error["audit_id"] = json!(audit_id),
            (_, Some(details)) => error["details"] = details,
            _ => {}
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_detail() {
        let e = ApiError::Internal("secret path /var/lib/x".into());
        let (status, code, message, _) = e.parts();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code, "server.internal");
        assert!(!message.contains("secret"));
        let e = ApiError::Store(StoreError::Corrupt("password=hunter2".into()));
        assert!(!e.parts().2.contains("hunter2"));
    }
}
