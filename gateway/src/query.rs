//! Running one governed query for a principal: purpose binding, grants, limits, the access
//! record. Shared by the HTTPS API and Arrow Flight SQL so both enforce the same rules.
//!
//! Every query ends in exactly one audit entry, accepted or refused, committed before the
//! caller sees any result. Results are collected up to the row and byte caps (so memory is
//! bounded by them), the entry is written with the exact row count, and only then is the
//! answer encoded and sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::http::StatusCode;
use futures::{FutureExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tongban_catalog::query::{Access, Grant, PlannedQuery, QueryEngine, QueryError, policy};
use tongban_schemas::BaseLibrary;

use crate::audit::{self, AuditEvent, Purpose};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::grants;
use crate::startup::AppState;

/// One query as a client sent it.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// SQL text.
    pub sql: String,
    /// Why; required.
    pub purpose: Option<Purpose>,
    /// Rows the client wants at most.
    pub max_rows: Option<u64>,
    /// Response format, for the record.
    pub format: &'static str,
}

/// A query's result, already recorded.
#[derive(Debug)]
pub struct QueryOutcome {
    /// Audit id of the request.
    pub audit_id: String,
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
    /// Rows returned.
    pub rows: u64,
    /// Whether a cap cut the result.
    pub truncated: bool,
}

/// Per-department concurrency limits.
#[derive(Debug, Default)]
pub struct Concurrency {
    permits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Concurrency {
    /// A slot among `department`'s `limit`, waiting at most `wait` for one to free up: a
    /// burst from one department queues briefly instead of failing at once.
    async fn acquire(
        &self,
        department: &str,
        limit: u32,
        wait: Duration,
    ) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self.permits.lock().ok()?;
            Arc::clone(
                map.entry(department.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(limit.max(1) as usize))),
            )
        };
        if let Ok(permit) = Arc::clone(&semaphore).try_acquire_owned() {
            return Some(permit);
        }
        tokio::time::timeout(wait, semaphore.acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: String,
    plan_sha256: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        let message = message.into();
        Refusal {
            status,
            code,
            detail: message.clone(),
            message,
            plan_sha256: None,
        }
    }
}

/// Runs `request` for `principal`.
pub async fn run(
    state: &AppState,
    principal: &Principal,
    request: QueryRequest,
) -> Result<QueryOutcome, ApiError> {
    let started = Instant::now();
    let audit_id = audit::request_id();
    let sql_sha256 = hex::encode(Sha256::digest(request.sql.as_bytes()));
    // A panic in the engine (an Arrow kernel overflowing its offsets, say) must not cost the
    // query its audit entry: it is recorded and answered like any other failure.
    let outcome = std::panic::AssertUnwindSafe(execute(state, principal, &request, started))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(panicked(panic.as_ref())));
    match outcome {
        Ok((planned_tables, snapshots, plan_sha256, schema, batches, rows, truncated, cluster)) => {
            let event = AuditEvent::QueryExecuted {
                cluster,
                sql_sha256,
                plan_sha256,
                tables: planned_tables,
                snapshots,
                rows,
                truncated,
                format: request.format.to_owned(),
            };
            let mut entry = audit::entry(
                principal,
                &audit_id,
                request.purpose.clone(),
                started,
                event,
            );
            let ids = crate::alerts::identifiers(&batches);
            let (subjects, hashes) =
                crate::alerts::subjects(&state.ledger, &ids, state.config.audit.subject_cap);
            entry.subjects = subjects;
            entry.flags = state.alerts.flags(&state.config.audit, &entry, false);
            audit::record(&state.recorder, entry, hashes).await?;
            tracing::info!(dept = %principal.department, rows, truncated, duration_ms = started.elapsed().as_millis() as u64, "query executed");
            Ok(QueryOutcome {
                audit_id,
                schema,
                batches,
                rows,
                truncated,
            })
        }
        Err(refusal) => {
            let event = AuditEvent::QueryRefused {
                sql_sha256,
                code: refusal.code.to_owned(),
                detail: refusal.detail,
                plan_sha256: refusal.plan_sha256,
            };
            let mut entry = audit::entry(
                principal,
                &audit_id,
                request.purpose.clone(),
                started,
                event,
            );
            entry.flags = state.alerts.flags(&state.config.audit, &entry, true);
            audit::record(&state.recorder, entry, Vec::new()).await?;
            tracing::info!(dept = %principal.department, code = refusal.code, "query refused");
            Err(ApiError::Query {
                status: refusal.status,
                code: refusal.code,
                message: refusal.message,
                audit_id,
            })
        }
    }
}

type Executed = (
    BTreeMap<String, Vec<String>>,
    BTreeMap<String, i64>,
    String,
    SchemaRef,
    Vec<RecordBatch>,
    u64,
    bool,
    Option<String>,
);

async fn execute(
    state: &AppState,
    principal: &Principal,
    request: &QueryRequest,
    started: Instant,
) -> Result<Executed, Refusal> {
    let config = &state.config.query;
    let Some(purpose) = &request.purpose else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "query.missing_purpose",
            "every query states its purpose: matter, case_id and legal_basis",
        ));
    };
    grants::check_purpose(purpose, &state.matters)
        .map_err(|(code, message)| Refusal::new(StatusCode::BAD_REQUEST, code, message))?;
    let _permit = state
        .concurrency
        .acquire(
            &principal.department,
            config.concurrency_per_department,
            Duration::from_millis(config.queue_ms),
        )
        .await
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "query.too_many_concurrent",
                "too many queries of your department are running; retry shortly",
            )
        })?;

    let now = chrono::Utc::now().timestamp_millis();
    let held = grants::held_by(&state.store, principal)
        .await
        .map_err(|e| internal(&e.to_string()))?;
    let mut governing: Vec<Grant> = Vec::new();
    for library in BaseLibrary::ALL {
        if let Some(g) =
            policy::resolve(&held, &principal.department, library, &purpose.matter, now)
        {
            governing.push(g.clone());
        }
    }
    let access = Access {
        grants: governing,
        explain_allowed: principal.roles.contains(Role::Auditor),
    };
    let deadline = started + Duration::from_secs(config.timeout_seconds.max(1));

    let planning = state.planners.plan(
        Arc::clone(&state.engine),
        request.sql.clone(),
        access.clone(),
    );
    let planned = match tokio::time::timeout_at(deadline.into(), planning).await {
        Err(_) => {
            return Err(Refusal::new(
                StatusCode::GATEWAY_TIMEOUT,
                "query.timeout",
                "the query took too long to plan",
            ));
        }
        Ok(Err(e)) => return Err(classify(e, &held, &access, now)),
        Ok(Ok(p)) => p,
    };
    let plan_sha256 = planned.plan_sha256.clone();
    let with_plan = |mut r: Refusal| {
        r.plan_sha256 = Some(plan_sha256.clone());
        r
    };
    let cap_rows = [Some(config.max_rows), request.max_rows, planned.row_cap]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(config.max_rows);
    let mut stream = match tokio::time::timeout_at(deadline.into(), planned.execute()).await {
        Err(_) => {
            return Err(with_plan(Refusal::new(
                StatusCode::GATEWAY_TIMEOUT,
                "query.timeout",
                "the query took too long to start",
            )));
        }
        Ok(started) => started.map_err(|e| with_plan(from_query_error(e)))?,
    };
    let schema = stream.schema();
    let mut batches = Vec::new();
    let mut rows = 0u64;
    let mut bytes = 0u64;
    let mut truncated = false;
    loop {
        let next = match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Err(_) => {
                return Err(with_plan(Refusal::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "query.timeout",
                    "the query took too long and was cancelled",
                )));
            }
            Ok(next) => next,
        };
        let Some(batch) = next else { break };
        let batch = batch.map_err(|e| with_plan(from_query_error(e.into())))?;
        let room = cap_rows - rows;
        let batch = if batch.num_rows() as u64 > room {
            truncated = true;
            batch.slice(0, room as usize)
        } else {
            batch
        };
        bytes += batch.get_array_memory_size() as u64;
        if bytes > config.max_result_bytes {
            truncated = true;
            break;
        }
        rows += batch.num_rows() as u64;
        if batch.num_rows() > 0 {
            batches.push(batch);
        }
        if truncated || rows >= cap_rows {
            // Look one row ahead only to say truthfully whether more existed.
            if !truncated
                && let Ok(Some(Ok(more))) =
                    tokio::time::timeout_at(deadline.into(), stream.next()).await
            {
                truncated = more.num_rows() > 0;
            }
            break;
        }
    }
    drop(stream);
    let tables = planned
        .tables
        .iter()
        .map(|(t, cols)| (t.clone(), cols.iter().cloned().collect()))
        .collect();
    Ok((
        tables,
        planned.snapshots.clone(),
        planned.plan_sha256.clone(),
        schema,
        batches,
        rows,
        truncated,
        planned
            .distributed()
            .then(|| state.engine.scheduler_url().unwrap_or_default().to_owned()),
    ))
}

/// Stack of the thread a query is planned on. DataFusion's SQL planner recurses once per
/// nested subquery, with frames of up to about 100 KiB in debug builds, so on a worker's
/// 2 MiB stack some twenty nested subqueries abort the whole process; the parser's depth
/// limit keeps any statement well within this.
const PLANNER_STACK_BYTES: usize = 64 << 20;

type PlanJob = Box<dyn FnOnce() + Send>;

/// Threads with deep stacks that plan queries, so planning (which cannot be interrupted and
/// may recurse deeply) stays off the runtime's workers without starting a thread per query.
#[derive(Debug)]
pub struct Planners {
    jobs: std::sync::mpsc::Sender<PlanJob>,
}

impl Planners {
    /// Starts `threads` planner threads.
    pub fn start(threads: usize) -> std::io::Result<Planners> {
        let (jobs, queue) = std::sync::mpsc::channel::<PlanJob>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("tongban-planner-{i}"))
                .stack_size(PLANNER_STACK_BYTES)
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every sender is gone: the server is shutting down.
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Planners { jobs })
    }

    /// Plans `sql` under `access` on a planner thread. A panic while planning resumes here.
    pub(crate) async fn plan(
        &self,
        engine: Arc<QueryEngine>,
        sql: String,
        access: Access,
    ) -> Result<PlannedQuery, QueryError> {
        let runtime = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: PlanJob = Box::new(move || {
            let planned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(engine.plan(&sql, &access))
            }));
            // The receiver is gone only if the request timed out or was dropped.
            let _ = tx.send(planned);
        });
        self.jobs
            .send(job)
            .map_err(|_| QueryError::Internal("the planner threads have stopped".into()))?;
        match rx.await {
            Ok(Ok(planned)) => planned,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(QueryError::Internal(
                "the planner thread ended without an answer".into(),
            )),
        }
    }
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> Refusal {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "server.internal",
        message: "internal error".into(),
        detail: format!("the query engine panicked: {what}"),
        plan_sha256: None,
    }
}

fn internal(detail: &str) -> Refusal {
    Refusal {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "server.unavailable",
        message: "the service is temporarily unavailable".into(),
        detail: detail.to_owned(),
        plan_sha256: None,
    }
}

fn from_query_error(e: QueryError) -> Refusal {
    let detail = e.detail();
    let message = e.to_string();
    let (status, code) = match &e {
        QueryError::Refused { code, .. } => (StatusCode::FORBIDDEN, *code),
        QueryError::Invalid { .. } => (StatusCode::BAD_REQUEST, "query.invalid"),
        QueryError::Execution { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "query.failed"),
        QueryError::ResourcesExhausted { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "query.resources_exhausted",
        ),
        QueryError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server.internal"),
    };
    Refusal {
        status,
        code,
        message,
        detail,
        plan_sha256: None,
    }
}

/// Turns a planning failure into the most useful honest answer: a table the caller holds
/// no grant on, or holds only for other matters, is named as such; anything else stays
/// generic.
fn classify(e: QueryError, held: &[Grant], access: &Access, now: i64) -> Refusal {
    if let QueryError::Invalid { detail } = &e {
        for library in BaseLibrary::ALL {
            let name = library.table_name();
            let missing = detail.contains(&format!("table '{name}' not found"))
                || detail.contains(&format!("table 'datafusion.public.{name}' not found"));
            if !missing || access.grants.iter().any(|g| g.library == library) {
                continue;
            }
            let mut refusal = if held
                .iter()
                .any(|g| g.library == library && g.valid_from <= now)
            {
                Refusal::new(
                    StatusCode::FORBIDDEN,
                    "query.matter_not_granted",
                    format!("your grant on {name} does not cover this matter"),
                )
            } else {
                Refusal::new(
                    StatusCode::FORBIDDEN,
                    "query.not_granted",
                    format!("your department holds no grant on {name}"),
                )
            };
            refusal.detail = detail.clone();
            return refusal;
        }
    }
    if let QueryError::Refused { code, .. } = &e
        && code.starts_with("query.")
    {
        let detail = e.detail();
        let status = if *code == "query.too_long" {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        let status = if *code == "query.explain_not_allowed" {
            StatusCode::FORBIDDEN
        } else {
            status
        };
        return Refusal {
            status,
            code,
            message: e.to_string(),
            detail,
            plan_sha256: None,
        };
    }
    from_query_error(e)
}
