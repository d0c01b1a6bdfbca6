//! The web console: server-rendered pages for people at a browser (窗口工作人员 at the
//! window, department staff, auditors, citizens, administrators), with a little JavaScript
//! for the camera and printing.
//!
//! The console holds no business logic. A page is a form and a rendering of what the `/v1`
//! API answered: every action goes through [`api::Api`] to the same handlers a department
//! system calls, as the signed-in person ([`session`]), so roles, purposes, grants, audit
//! entries and error codes are the API's own. The menu follows the person's roles
//! ([`layout`]); a page a role may not use says so before calling the API, which would
//! refuse anyway.
//!
//! Pages: sign-in; the clerk's licence verification and matters ([`clerk`]); the
//! catalogue, grant requests and decisions ([`catalog`]); governed SQL with CSV and Arrow
//! downloads ([`query`]); issuing and status changes ([`licences`]); the audit log, alerts,
//! the signed tree head with a verification run, and charts ([`audit`], [`charts`]); a
//! citizen's own accesses and the administrator's accounts ([`people`]).

mod api;
mod audit;
mod catalog;
mod charts;
mod clerk;
mod layout;
mod licences;
mod people;
mod query;
mod session;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use serde::de::DeserializeOwned;

use api::{Api, Failure};
use session::Session;

use crate::startup::AppState;

/// The console's routes under `/console`. `v1` is the API router the pages call in
/// process, with the hub's `state`.
pub fn router(state: &AppState, v1: Router<AppState>) -> Router<AppState> {
    let api = Api::new(Router::new().nest("/v1", v1).with_state(state.clone()));
    Router::new()
        .route("/console", get(home))
        .route(
            "/console/",
            get(|| async { Redirect::permanent("/console") }),
        )
        .route(
            "/console/login",
            get(session::login_form).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route(
            "/console/verify",
            get(clerk::verify_form).post(clerk::verify_token),
        )
        .route(
            "/console/verify/photo",
            post(clerk::verify_photo).layer(DefaultBodyLimit::max(8 << 20)),
        )
        .route("/console/matters", get(clerk::matters))
        .route("/console/matters/{code}", post(clerk::resolve))
        .route("/console/catalog", get(catalog::list))
        .route("/console/catalog/{code}", get(catalog::detail))
        .route("/console/grants", get(catalog::grants))
        .route("/console/grants/apply", post(catalog::apply))
        .route("/console/grants/{id}/approve", post(catalog::approve))
        .route("/console/grants/{id}/reject", post(catalog::reject))
        .route("/console/query", get(query::form).post(query::run))
        .route("/console/query/download", post(query::download))
        .route("/console/licences", get(licences::form))
        .route("/console/licences/issue", post(licences::issue))
        .route("/console/licences/status", post(licences::status))
        .route("/console/licences/lookup", get(licences::lookup))
        .route("/console/audit", get(audit::log))
        .route("/console/audit/verify", post(audit::verify))
        .route("/console/audit/sign", post(audit::sign))
        .route("/console/audit/alerts", get(audit::alerts))
        .route("/console/audit/charts", get(audit::charts))
        .route("/console/accesses", get(people::accesses))
        .route(
            "/console/users",
            get(people::users).post(people::create_user),
        )
        .layer(Extension(api))
        .layer(axum::middleware::from_fn(secure_headers))
}

/// Pages are not cached, framed or given scripts from anywhere but the hub.
async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
             style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    asset(
        include_str!("../../assets/console.css"),
        "text/css; charset=utf-8",
    )
}

async fn js() -> Response {
    asset(
        include_str!("../../assets/console.js"),
        "text/javascript; charset=utf-8",
    )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// `GET /console`: what each of the person's roles can do here.
async fn home(session: Session) -> Response {
    let entries = layout::menu(&session);
    layout::page(
        &session,
        "工作台",
        "/console",
        html! {
            p { "欢迎，" (session.principal.actor()) "（" (session.principal.department_name) "）。" }
            div.cards {
                @for (href, zh, en) in entries.iter().skip(1) {
                    a.card.link href=(href) { strong { (zh) } br; span.en { (en) } }
                }
            }
        },
    )
    .into_response()
}

/// A page answer for a form the console cannot read.
fn invalid_form(session: &Session, message: &str) -> Response {
    layout::refusal(
        Some(session),
        &Failure {
            status: StatusCode::BAD_REQUEST,
            code: "console.invalid_form".into(),
            message: message.into(),
            audit_id: None,
        },
    )
}

fn bare_invalid(code: &str, message: String) -> Response {
    layout::refusal(
        None,
        &Failure {
            status: StatusCode::BAD_REQUEST,
            code: code.into(),
            message,
            audit_id: None,
        },
    )
}

/// A URL-encoded form whose rejection is a page with a stable code.
#[derive(Debug)]
pub(crate) struct PageForm<T>(pub T);

impl<T, S> FromRequest<S> for PageForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(PageForm(value)),
            Err(rejection) => Err(bare_invalid("console.invalid_form", rejection.body_text())),
        }
    }
}

/// A path parameter whose rejection is a page with a stable code.
#[derive(Debug)]
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(bare_invalid("request.invalid_path", rejection.body_text())),
        }
    }
}

/// Query parameters whose rejection is a page with a stable code.
#[derive(Debug)]
pub(crate) struct PageQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for PageQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(PageQuery(value)),
            Err(rejection) => Err(bare_invalid("request.invalid_query", rejection.body_text())),
        }
    }
}
