//! The console's way into the hub: each page action is one request to the `/v1` router,
//! in process, carrying the signed-in person's bearer token.
//!
//! Going through the router instead of calling stores and services directly keeps one
//! implementation of every rule: the same extractors, role checks, purpose binding, audit
//! entries and error codes as a department system calling over HTTPS.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

/// Most bytes of an API answer the console reads (a query result, an export).
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The `/v1` router with the hub's state.
#[derive(Clone)]
pub(crate) struct Api {
    router: Router,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

/// A refusal or failure as the API stated it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// The stable code, e.g. `query.not_granted`.
    pub code: String,
    /// The API's message.
    pub message: String,
    /// The access record of a refused query.
    pub audit_id: Option<String>,
}

impl Failure {
    pub(crate) fn internal(message: &str) -> Failure {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server.internal".into(),
            message: message.into(),
            audit_id: None,
        }
    }

    /// The API answered in a shape the console does not know.
    pub fn unexpected() -> Failure {
        Failure::internal("the API answered unexpectedly")
    }

    /// Whether the route itself is missing (a feature this hub does not serve).
    pub fn is_missing_route(&self) -> bool {
        self.code == "request.no_route"
    }
}

/// A successful raw answer.
#[derive(Debug)]
pub(crate) struct Raw {
    /// Its content type.
    pub content_type: Option<String>,
    /// Headers the console passes on (`tongban-audit-id`).
    pub audit_id: Option<String>,
    /// The body.
    pub body: Bytes,
}

impl Api {
    /// An API over `router`, which serves the `/v1` routes at `/v1`.
    pub(crate) fn new(router: Router) -> Api {
        Api { router }
    }

    /// Sends one request with `token` as the bearer token.
    pub(crate) async fn send(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Bytes,
    ) -> Result<Raw, Failure> {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let request = request
            .body(Body::from(body))
            .map_err(|_| Failure::internal("the console built an invalid request"))?;
        let response: Response = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let text = |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = text(response.headers().get(header::CONTENT_TYPE));
        let audit_id = text(response.headers().get("tongban-audit-id"));
        let body = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|_| Failure::internal("the answer was too large to show"))?;
        if status.is_success() {
            return Ok(Raw {
                content_type,
                audit_id,
                body,
            });
        }
        let error: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let field = |k: &str| error["error"][k].as_str().map(str::to_owned);
        Err(Failure {
            status,
            code: field("code").unwrap_or_else(|| format!("http.{}", status.as_u16())),
            message: field("message").unwrap_or_else(|| status.to_string()),
            audit_id: field("audit_id"),
        })
    }

    /// `GET path` as JSON.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
    ) -> Result<T, Failure> {
        let raw = self
            .send(Some(token), Method::GET, path, None, None, Bytes::new())
            .await?;
        decode(&raw.body)
    }

    /// `method path` with a JSON body, answered in JSON.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<T, Failure> {
        let bytes = serde_json::to_vec(body)
            .map_err(|_| Failure::internal("the console built an invalid body"))?;
        let raw = self
            .send(
                token,
                method,
                path,
                Some("application/json"),
                None,
                bytes.into(),
            )
            .await?;
        if raw.body.is_empty() {
            return decode(b"null");
        }
        decode(&raw.body)
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|_| Failure::internal("the API answered unexpectedly"))
}

/// Percent-encodes a query-string or path value.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("企业"), "%E4%BC%81%E4%B8%9A");
        assert_eq!(encode("W-0001_x.y~"), "W-0001_x.y~");
    }
}
