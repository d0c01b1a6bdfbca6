//! What operators watch: Prometheus metrics at `/metrics`, liveness at `/livez`, readiness
//! at `/readyz`, and one structured access-log event per request.
//!
//! The metrics live in one registry per process. Requests are counted and timed by the
//! [`track`] middleware, labelled by the route template (never the raw path, which may
//! carry a citizen ID). Queries, licence verifications and every other audited event are
//! counted where they become audit entries ([`AuditObservation`], called from
//! `audit::record`), so a request over HTTPS, through the console or over Flight SQL is
//! counted once and only once it is durable. The audit log's lag (entries not yet under a
//! signed tree head, and the age of the newest head) is read from the ledger at scrape time.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::audit::{AuditEntry, AuditEvent};
use crate::startup::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    action: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    outcome: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    queries: Family<QueryLabels, Counter>,
    query_seconds: Family<QueryLabels, Histogram>,
    verifications: Family<ResultLabels, Counter>,
    audit_entries: Family<EventLabels, Counter>,
    audit_append_seconds: Histogram,
    audit_failures: Counter,
    audit_log_entries: Gauge,
    audit_unsigned_entries: Gauge,
    audit_head_age_seconds: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("tongban");
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "http_requests",
        "HTTP requests by method, route template and status",
        requests.clone(),
    );
    let request_seconds =
        Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
    registry.register(
        "http_request_duration_seconds",
        "Time from a request's arrival to its response, by route template",
        request_seconds.clone(),
    );
    let queries = Family::<QueryLabels, Counter>::default();
    registry.register(
        "queries",
        "Governed queries by outcome (executed or refused) and refusal code, over every transport",
        queries.clone(),
    );
    let query_seconds =
        Family::<QueryLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
    registry.register(
        "query_duration_seconds",
        "Time from a query's arrival to its access record, by outcome",
        query_seconds.clone(),
    );
    let verifications = Family::<ResultLabels, Counter>::default();
    registry.register(
        "licence_verifications",
        "Online e-licence verifications by result (valid, or the refusal code)",
        verifications.clone(),
    );
    let audit_entries = Family::<EventLabels, Counter>::default();
    registry.register(
        "audit_entries",
        "Audit entries committed, by action and outcome",
        audit_entries.clone(),
    );
    let audit_append_seconds = latency_histogram();
    registry.register(
        "audit_append_duration_seconds",
        "Time an audit entry waits until it is committed to the log",
        audit_append_seconds.clone(),
    );
    let audit_failures = Counter::default();
    registry.register(
        "audit_append_failures",
        "Audit entries that could not be written (their requests were not served)",
        audit_failures.clone(),
    );
    let audit_log_entries = Gauge::default();
    registry.register(
        "audit_log_entries",
        "Entries in the audit log",
        audit_log_entries.clone(),
    );
    let audit_unsigned_entries = Gauge::default();
    registry.register(
        "audit_unsigned_entries",
        "Audit entries not yet covered by a signed tree head",
        audit_unsigned_entries.clone(),
    );
    let audit_head_age_seconds = Gauge::default();
    registry.register(
        "audit_tree_head_age_seconds",
        "Seconds since the newest signed tree head (-1 before the first)",
        audit_head_age_seconds.clone(),
    );
    Metrics {
        registry,
        requests,
        request_seconds,
        queries,
        query_seconds,
        verifications,
        audit_entries,
        audit_append_seconds,
        audit_failures,
        audit_log_entries,
        audit_unsigned_entries,
        audit_head_age_seconds,
    }
});

/// Counts and times every request and writes its access-log event. Runs after routing, so
/// the route is the template that matched (`/v1/subjects/{id}/accesses`), never the path.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let metrics = &*METRICS;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .request_seconds
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    tracing::info!(
        target: "tongban::access",
        method,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request served"
    );
    response
}

/// What the metrics need of an audit entry, taken before the entry is handed to the log.
#[derive(Debug)]
pub struct AuditObservation {
    action: &'static str,
    outcome: &'static str,
    query: Option<(&'static str, String)>,
    verification: Option<String>,
    duration: Duration,
    started: Instant,
}

impl AuditObservation {
    /// Notes the entry's kind before it is appended.
    pub fn of(entry: &AuditEntry) -> AuditObservation {
        let query = match &entry.event {
            AuditEvent::QueryExecuted { .. } => Some(("executed", String::new())),
            AuditEvent::QueryRefused { code, .. } => Some(("refused", code.clone())),
            _ => None,
        };
        let verification = match &entry.event {
            AuditEvent::LicenceVerified { result, .. } => Some(result.clone()),
            _ => None,
        };
        AuditObservation {
            action: entry.event.action(),
            outcome: entry.event.outcome(),
            query,
            verification,
            duration: Duration::from_secs_f64(entry.duration_ms.max(0.0) / 1000.0),
            started: Instant::now(),
        }
    }

    /// Counts the entry once the log has answered: committed, or not.
    pub fn finish(self, committed: bool) {
        let metrics = &*METRICS;
        metrics
            .audit_append_seconds
            .observe(self.started.elapsed().as_secs_f64());
        if !committed {
            metrics.audit_failures.inc();
            return;
        }
        metrics
            .audit_entries
            .get_or_create(&EventLabels {
                action: self.action.to_owned(),
                outcome: self.outcome.to_owned(),
            })
            .inc();
        if let Some((outcome, code)) = self.query {
            let labels = QueryLabels {
                outcome: outcome.to_owned(),
                code,
            };
            metrics.queries.get_or_create(&labels).inc();
            metrics
                .query_seconds
                .get_or_create(&labels)
                .observe(self.duration.as_secs_f64());
        }
        if let Some(result) = self.verification {
            metrics
                .verifications
                .get_or_create(&ResultLabels { result })
                .inc();
        }
    }
}

/// `/metrics`, `/livez` and `/readyz`: unauthenticated like `/healthz`, and revealing only
/// counts and a yes or no.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let m = &*METRICS;
    // Lag is read at scrape time; a failing store leaves the last values and shows in /readyz.
    if let Ok(size) = state.ledger.size().await {
        m.audit_log_entries
            .set(i64::try_from(size).unwrap_or(i64::MAX));
        if let Ok(head) = crate::ledger::latest_head(&state.store).await {
            let (signed, age) = match head {
                Some(h) => (
                    h.tree_size,
                    (chrono::Utc::now().timestamp_millis() - h.timestamp).max(0) / 1000,
                ),
                None => (0, -1),
            };
            m.audit_unsigned_entries
                .set(i64::try_from(size.saturating_sub(signed)).unwrap_or(i64::MAX));
            m.audit_head_age_seconds.set(age);
        }
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &m.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn livez() -> Json<serde_json::Value> {
    Json(json!({"status": "alive"}))
}

/// Ready when the store answers and the audit log can be read: without either, no request
/// that touches data could be served.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.ping().await.is_ok();
    let audit = store && state.ledger.size().await.is_ok();
    let ready = store && audit;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !ready {
        tracing::warn!(store, audit, "not ready");
    }
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "checks": {"store": store, "audit_log": audit},
        })),
    )
        .into_response()
}
