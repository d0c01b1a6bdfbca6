//! Signing in through the browser.
//!
//! A person signs in with the same `POST /v1/auth/login` a script uses; the bearer token it
//! returns is kept in a cookie (`HttpOnly`, `Secure`, `SameSite=Strict`, path `/console`)
//! and every page sends it to the API as `Authorization: Bearer`. The `/v1` routes never
//! read cookies, so the cookie cannot be used against the API from another site.
//!
//! Every form that changes something carries a CSRF token derived from the session token
//! (a keyed hash an attacker cannot compute without the token), checked before the action.
//! The sign-in form, which has no session yet, uses a random double-submit cookie.

use axum::Extension;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::PageForm;
use super::api::{Api, Failure};
use super::layout;
use crate::auth::{self, Principal};
use crate::startup::AppState;

/// The session cookie.
const SESSION_COOKIE: &str = "tb_session";
/// The sign-in form's double-submit cookie.
const LOGIN_COOKIE: &str = "tb_login";

/// A signed-in person on a console page.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The bearer token from the cookie.
    pub token: String,
    /// Who they are, as the API sees them.
    pub principal: Principal,
    /// The API.
    pub api: Api,
}

impl Session {
    /// The CSRF token of this session's forms.
    pub fn csrf(&self) -> String {
        csrf_of(&self.token)
    }

    /// The refusal of a form whose CSRF token is not this session's; `None` when it is.
    pub fn csrf_refusal(&self, given: &str) -> Option<Response> {
        if same(given.as_bytes(), self.csrf().as_bytes()) {
            None
        } else {
            Some(layout::refusal(
                Some(self),
                &Failure {
                    status: axum::http::StatusCode::FORBIDDEN,
                    code: "console.csrf".into(),
                    message:
                        "the form is stale or came from another site; reload the page and try again"
                            .into(),
                    audit_id: None,
                },
            ))
        }
    }

    /// `GET path` on the API as this person.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.api.get(&self.token, path).await
    }

    /// `POST path` with a JSON body on the API as this person.
    pub async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, Failure> {
        self.api
            .json(Some(&self.token), Method::POST, path, body)
            .await
    }
}

fn csrf_of(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"tongban console csrf\n");
    hasher.update(token.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if sent.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Extension(api) = Extension::<Api>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let to_login = || Redirect::to("/console/login").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or_else(to_login)?
            .to_owned();
        match auth::authenticate(state, Some(&format!("Bearer {token}")), None).await {
            Ok(principal) => Ok(Session {
                token,
                principal,
                api,
            }),
            Err(crate::error::ApiError::InvalidToken) => {
                let mut response = to_login();
                clear_cookie(&mut response);
                Err(response)
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn clear_cookie(response: &mut Response) {
    set_cookie(
        response,
        &format!("{SESSION_COOKIE}=; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
    );
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn login_page(csrf: &str, username: &str, failure: Option<&Failure>) -> maud::Markup {
    layout::bare(
        "登录 Sign in",
        html! {
            form.card.login method="post" action="/console/login" {
                h1 { "通办 · 政务数据共享与电子证照平台" }
                p.muted { "Tongban government data exchange and e-licence hub" }
                @if let Some(f) = failure { (layout::failure_box(f)) }
                input type="hidden" name="csrf" value=(csrf);
                label { "用户名 " span.en { "Username" }
                    input #username name="username" autocomplete="username" required value=(username); }
                label { "密码 " span.en { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required; }
                button #sign-in type="submit" { "登录 Sign in" }
            }
        },
    )
}

/// `GET /console/login`.
pub(crate) async fn login_form() -> Response {
    let Some(csrf) = random_token() else {
        return layout::refusal(None, &no_randomness());
    };
    let mut response = login_page(&csrf, "", None).into_response();
    set_cookie(
        &mut response,
        &format!(
            "{LOGIN_COOKIE}={csrf}; Path=/console/login; HttpOnly; Secure; SameSite=Strict; Max-Age=1800"
        ),
    );
    response
}

fn no_randomness() -> Failure {
    Failure {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        code: "server.unavailable".into(),
        message: "no randomness available".into(),
        audit_id: None,
    }
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

/// `POST /console/login`: signs in through `POST /v1/auth/login` and keeps the token.
pub(crate) async fn login(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    headers: HeaderMap,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(expected.as_bytes(), form.csrf.as_bytes()) {
        let failure = Failure {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "console.csrf".into(),
            message: "the sign-in form is stale; reload the page and try again".into(),
            audit_id: None,
        };
        return (
            failure.status,
            login_page(expected, &form.username, Some(&failure)),
        )
            .into_response();
    }
    let answer: Result<Value, Failure> = api
        .json(
            None,
            Method::POST,
            "/v1/auth/login",
            &json!({"username": form.username, "password": form.password}),
        )
        .await;
    match answer {
        Ok(body) => {
            let Some(token) = body["token"].as_str() else {
                return layout::refusal(None, &Failure::unexpected());
            };
            let max_age = state.config.auth.token_minutes.max(1) * 60;
            let mut response = Redirect::to("/console").into_response();
            set_cookie(
                &mut response,
                &format!(
                    "{SESSION_COOKIE}={token}; Path=/console; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
                ),
            );
            response
        }
        Err(failure) => (
            failure.status,
            login_page(expected, &form.username, Some(&failure)),
        )
            .into_response(),
    }
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfOnly {
    pub(crate) csrf: String,
}

/// `POST /console/logout`: ends the session through `POST /v1/auth/logout`.
pub(crate) async fn logout(session: Session, PageForm(form): PageForm<CsrfOnly>) -> Response {
    if let Some(refused) = session.csrf_refusal(&form.csrf) {
        return refused;
    }
    let ended: Result<Value, Failure> = session
        .api
        .json(
            Some(&session.token),
            Method::POST,
            "/v1/auth/logout",
            &Value::Null,
        )
        .await;
    if let Err(failure) = ended {
        return layout::refusal(Some(&session), &failure);
    }
    let mut response = Redirect::to("/console/login").into_response();
    clear_cookie(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("tb_sessionx=no; tb_session=yes; other=1"),
        );
        assert_eq!(cookie(&headers, "tb_session"), Some("yes"));
        assert_eq!(cookie(&headers, "tb_login"), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_of("token-a");
        assert_eq!(a.len(), 32);
        assert_ne!(a, csrf_of("token-b"));
        assert!(same(a.as_bytes(), csrf_of("token-a").as_bytes()));
        assert!(!same(a.as_bytes(), &a.as_bytes()[..31]));
    }
}
