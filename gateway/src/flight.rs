//! Arrow Flight SQL on its own port, for department systems that want Arrow over gRPC instead
//! of JSON over HTTPS.
//!
//! It is a second door to the same room: every statement runs through [`query::run`], so
//! purpose binding, grants, masks, limits and the one audit entry per query are exactly those
//! of `POST /v1/query`. Only a plain SQL statement is offered (`CommandStatementQuery`, then
//! `DoGet` on the ticket it returns); prepared statements, catalogue listings, updates and
//! transactions answer `UNIMPLEMENTED`.
//!
//! - **TLS and callers.** The listener uses the HTTPS server certificate and client CA (ALPN
//!   `h2` only). Each call is authenticated like an HTTPS request ([`auth::authenticate`]): an
//!   `authorization: Bearer <token>` header, else the registered client certificate of the
//!   connection (its leaf's SHA-256). Neither → `UNAUTHENTICATED`.
//! - **Purpose.** gRPC metadata carries it: `x-tongban-matter`, `x-tongban-case-id`,
//!   `x-tongban-legal-basis`. Metadata is ASCII, so every value is percent-decoded as UTF-8
//!   (`%E3%80%8A…` for a Chinese legal basis); a value that does not decode is refused as
//!   `request.invalid`. Any of the three missing → `query.missing_purpose`, recorded.
//! - **Results.** `GetFlightInfo` runs the query to completion (the audit entry is committed
//!   before it answers), keeps the batches under a random handle and returns one endpoint
//!   whose ticket is that handle; `DoGet` streams them once and forgets them. At most
//!   [`MAX_PENDING`] results wait at a time, each for [`RESULT_TTL`], and only the caller who
//!   ran the query may fetch it.
//! - **Errors.** A refusal keeps the stable code of the HTTPS API as the start of the status
//!   message (`query.not_granted: …`), with the audit id in the message and in the
//!   `x-tongban-audit-id` metadata; the status code follows the HTTP status.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, Command, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementSubstraitPlan,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse,
    Ticket,
};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::audit::Purpose;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::pki;
use crate::query::{self, QueryRequest};
use crate::startup::AppState;
use crate::tls::ClientCertificate;

/// Metadata key of the matter (事项) a query serves.
pub const MATTER_HEADER: &str = "x-tongban-matter";
/// Metadata key of the case (办件) number.
pub const CASE_ID_HEADER: &str = "x-tongban-case-id";
/// Metadata key of the legal basis, percent-encoded UTF-8.
pub const LEGAL_BASIS_HEADER: &str = "x-tongban-legal-basis";
/// Optional header: under a legal exemption, the day (`YYYY-MM-DD`) until which the data
/// subject does not see the access.
pub const CONFIDENTIAL_UNTIL_HEADER: &str = "x-tongban-confidential-until";
/// Response metadata key carrying the audit id of a query, accepted or refused.
pub const AUDIT_ID_HEADER: &str = "x-tongban-audit-id";

/// Most results waiting for their `DoGet` at once, over all callers. Each holds at most
/// `query.max_result_bytes`, so this bounds the memory Flight results take.
pub const MAX_PENDING: usize = 32;
/// How long a result waits for its `DoGet`.
pub const RESULT_TTL: Duration = Duration::from_secs(60);

/// The TLS configuration of the Flight listener: the HTTPS one, speaking only HTTP/2.
pub fn tls_config(https: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut config = https.clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// Serves Flight SQL on `listener` until `stopped` turns true, then lets calls in flight end.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let handshake = Duration::from_secs(state.config.limits.handshake_seconds.max(1));
    let listener_addr = listener.local_addr();
    // Handshakes run in their own tasks so a slow client cannot hold up the accept loop;
    // finished TLS streams reach tonic through this channel.
    let (sender, mut receiver) =
        mpsc::channel::<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>(64);
    let mut accept_stopped = stopped.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "flight accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = accept_stopped.changed() => break,
                _ = sender.closed() => break,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(tls).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "flight TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "flight TLS handshake timed out"),
                }
            });
        }
    });
    let incoming = futures::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|tls| tls.map(Ok::<_, std::io::Error>))
    });
    let service = FlightServiceServer::new(FlightSql::new(state));
    if let Ok(addr) = listener_addr {
        tracing::info!(%addr, "gateway listening (Flight SQL)");
    }
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move {
            while !*stopped.borrow_and_update() {
                if stopped.changed().await.is_err() {
                    break;
                }
            }
        })
        .await
}

/// The Flight SQL service over the gateway's state.
#[derive(Debug)]
pub struct FlightSql {
    state: AppState,
    results: Arc<Results>,
}

impl FlightSql {
    /// A service with no results waiting.
    pub fn new(state: AppState) -> Self {
        FlightSql {
            state,
            results: Arc::new(Results::default()),
        }
    }

    async fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or_default());
        let certificate = request.peer_certs().and_then(|chain| {
            chain.first().map(|leaf| ClientCertificate {
                fingerprint: pki::fingerprint(leaf),
            })
        });
        match auth::authenticate(&self.state, authorization, certificate.as_ref()).await {
            Ok(principal) => Ok(principal),
            Err(e) => Err(status(e).await),
        }
    }
}

type DoGetStream = <FlightSql as FlightService>::DoGetStream;

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let principal = self.principal(&request).await?;
        if query.transaction_id.is_some() {
            return Err(unsupported("transactions"));
        }
        let purpose = purpose(request.metadata())?;
        let reservation = self.results.reserve()?;
        let outcome = match query::run(
            &self.state,
            &principal,
            QueryRequest {
                sql: query.query,
                purpose,
                max_rows: None,
                format: "flight",
            },
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(e) => return Err(status(e).await),
        };
        let handle = new_handle()?;
        let ticket = TicketStatementQuery {
            statement_handle: handle.clone().into(),
        }
        .as_any()
        .encode_to_vec();
        let app_metadata = serde_json::json!({
            "audit_id": outcome.audit_id,
            "rows": outcome.rows,
            "truncated": outcome.truncated,
        });
        let info = FlightInfo::new()
            .try_with_schema(&outcome.schema)
            .map_err(|e| Status::internal(format!("server.internal: result schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(request.into_inner())
            .with_total_records(i64::try_from(outcome.rows).unwrap_or(i64::MAX))
            .with_ordered(true)
            .with_app_metadata(app_metadata.to_string());
        tracing::debug!(dept = %principal.department, audit_id = %outcome.audit_id, rows = outcome.rows, "flight result kept");
        reservation.fill(
            handle,
            Pending {
                owner: Owner::of(&principal),
                schema: outcome.schema,
                batches: outcome.batches,
                expires: Instant::now() + RESULT_TTL,
            },
        );
        let mut response = Response::new(info);
        if let Ok(value) = MetadataValue::try_from(outcome.audit_id.as_str()) {
            response.metadata_mut().insert(AUDIT_ID_HEADER, value);
        }
        Ok(response)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let principal = self.principal(&request).await?;
        let handle = std::str::from_utf8(&ticket.statement_handle).unwrap_or_default();
        let pending = self.results.take(handle, &Owner::of(&principal))?;
        let batches = futures::stream::iter(pending.batches.into_iter().map(Ok));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(pending.schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        Err(Status::unimplemented(
            "flight.unsupported: there is no handshake; present a department client certificate, or send `authorization: Bearer <token>` on every call",
        ))
    }

    async fn get_flight_info_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported("Substrait plans"))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        _query: CommandPreparedStatementQuery,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported("prepared statements"))
    }

    async fn get_flight_info_catalogs(
        &self,
        _query: CommandGetCatalogs,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported(
            "catalogue listings (GetCatalogs); see GET /v1/catalog/resources",
        ))
    }

    async fn get_flight_info_schemas(
        &self,
        _query: CommandGetDbSchemas,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported(
            "catalogue listings (GetDbSchemas); see GET /v1/catalog/resources",
        ))
    }

    async fn get_flight_info_tables(
        &self,
        _query: CommandGetTables,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported(
            "catalogue listings (GetTables); see GET /v1/catalog/resources",
        ))
    }

    async fn get_flight_info_table_types(
        &self,
        _query: CommandGetTableTypes,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported("catalogue listings (GetTableTypes)"))
    }

    async fn get_flight_info_sql_info(
        &self,
        _query: CommandGetSqlInfo,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported("GetSqlInfo"))
    }

    async fn get_flight_info_fallback(
        &self,
        command: Command,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(unsupported(&format!("the command {}", command.type_url())))
    }

    async fn do_get_fallback(
        &self,
        _request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<DoGetStream>, Status> {
        Err(unsupported(&format!(
            "tickets of type {}",
            message.type_url
        )))
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(unsupported("updates; the exchange is read-only"))
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        Err(unsupported("prepared statements"))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(unsupported("prepared statements"))
    }

    async fn do_put_fallback(
        &self,
        _request: Request<PeekableFlightDataStream>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoPutStream>, Status> {
        Err(unsupported(&format!(
            "DoPut of {}; the exchange is read-only",
            message.type_url
        )))
    }

    async fn do_action_create_prepared_statement(
        &self,
        _query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        Err(unsupported("prepared statements"))
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        Err(unsupported("prepared statements"))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        Err(unsupported(&format!(
            "the action `{}`",
            request.get_ref().r#type
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!(
        "flight.unsupported: not offered here: {what}; send one SQL statement (CommandStatementQuery) with the purpose headers"
    ))
}

/// Reads the purpose from the call's metadata: all three keys, or none at all.
fn purpose(metadata: &MetadataMap) -> Result<Option<Purpose>, Status> {
    let field = |name: &str| -> Result<Option<String>, Status> {
        let Some(value) = metadata.get(name) else {
            return Ok(None);
        };
        value
            .to_str()
            .ok()
            .and_then(percent_decode)
            .map(Some)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "request.invalid: the `{name}` header is not percent-encoded UTF-8"
                ))
            })
    };
    let (matter, case_id, legal_basis) = (
        field(MATTER_HEADER)?,
        field(CASE_ID_HEADER)?,
        field(LEGAL_BASIS_HEADER)?,
    );
    let confidential_until = match field(CONFIDENTIAL_UNTIL_HEADER)? {
        None => None,
        Some(day) => Some(
            chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| {
                Status::invalid_argument(format!(
                    "request.invalid: `{CONFIDENTIAL_UNTIL_HEADER}` must be a YYYY-MM-DD date"
                ))
            })?,
        ),
    };
    Ok(match (matter, case_id, legal_basis) {
        (Some(matter), Some(case_id), Some(legal_basis)) => Some(Purpose {
            matter,
            case_id,
            legal_basis,
            confidential_until,
        }),
        _ => None,
    })
}

/// Decodes `%XX` escapes and checks the bytes are UTF-8; other characters stand for
/// themselves (`+` included). A `%` not followed by two hex digits is an error.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Re-frames an [`ApiError`] for gRPC. `error.rs` still classifies it and logs it, through
/// its response; this keeps the stable code and message and maps the HTTP status to the
/// nearest gRPC code.
async fn status(error: ApiError) -> Status {
    let response = error.into_response();
    let http = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let error = &body["error"];
    let code = error["code"].as_str().unwrap_or("server.internal");
    let message = error["message"].as_str().unwrap_or("internal error");
    let audit_id = error["audit_id"].as_str();
    let text = match audit_id {
        Some(id) => format!("{code}: {message} (audit_id {id})"),
        None => format!("{code}: {message}"),
    };
    let mut status = Status::new(grpc_code(http, code), text);
    if let Some(value) = audit_id.and_then(|id| MetadataValue::try_from(id).ok()) {
        status.metadata_mut().insert(AUDIT_ID_HEADER, value);
    }
    status
}

fn grpc_code(http: StatusCode, code: &str) -> Code {
    match http {
        StatusCode::BAD_REQUEST
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::InvalidArgument,
        StatusCode::UNPROCESSABLE_ENTITY if code == "query.resources_exhausted" => {
            Code::ResourceExhausted
        }
        StatusCode::UNPROCESSABLE_ENTITY => Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::Unimplemented,
        StatusCode::CONFLICT => Code::AlreadyExists,
        StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::GATEWAY_TIMEOUT => Code::DeadlineExceeded,
        s if s.is_server_error() => Code::Internal,
        _ => Code::Unknown,
    }
}

fn new_handle() -> Result<String, Status> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|_| Status::internal("server.internal: no randomness available"))?;
    Ok(hex::encode(bytes))
}

/// Who may fetch a result: the department and the person or system that ran the query.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    department: String,
    actor: String,
}

impl Owner {
    fn of(principal: &Principal) -> Owner {
        Owner {
            department: principal.department.clone(),
            actor: principal.actor(),
        }
    }
}

#[derive(Debug)]
struct Pending {
    owner: Owner,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    expires: Instant,
}

/// Results waiting for their `DoGet`, plus places reserved by queries still running.
#[derive(Debug, Default)]
struct Results {
    inner: Mutex<ResultsInner>,
}

#[derive(Debug, Default)]
struct ResultsInner {
    pending: HashMap<String, Pending>,
    reserved: usize,
}

impl Results {
    fn lock(&self) -> std::sync::MutexGuard<'_, ResultsInner> {
        // A panic while holding the lock leaves at worst a stale entry, which expiry removes.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims a place before a query runs, so a full store refuses before anything is read.
    fn reserve(self: &Arc<Self>) -> Result<Reservation, Status> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.pending.retain(|_, p| p.expires > now);
        if inner.pending.len() + inner.reserved >= MAX_PENDING {
            return Err(Status::resource_exhausted(
                "request.too_many: too many Flight results are waiting to be fetched; fetch them (DoGet) or retry shortly",
            ));
        }
        inner.reserved += 1;
        Ok(Reservation {
            results: Arc::clone(self),
        })
    }

    /// Removes and returns the result under `handle` if `owner` ran it and it has not expired.
    fn take(&self, handle: &str, owner: &Owner) -> Result<Pending, Status> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.pending.retain(|_, p| p.expires > now);
        match inner.pending.get(handle) {
            Some(p) if &p.owner == owner => inner
                .pending
                .remove(handle)
                .ok_or_else(|| Status::internal("server.internal: result vanished under the lock")),
            // Someone else's handle is answered like an unknown one.
            _ => Err(Status::not_found(
                "request.not_found: no such result; a ticket is good for one DoGet within 60 s, by the caller who ran the query",
            )),
        }
    }
}

/// A place in [`Results`], released on drop whether or not it was filled.
#[derive(Debug)]
struct Reservation {
    results: Arc<Results>,
}

impl Reservation {
    fn fill(self, handle: String, pending: Pending) {
        self.results.lock().pending.insert(handle, pending);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut inner = self.results.lock();
        inner.reserved = inner.reserved.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_accepts_utf8_and_refuses_broken_escapes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("enterprise-opening", Some("enterprise-opening")),
            (
                "%E3%80%8A%E4%BC%98%E5%8C%96%E8%90%A5%E5%95%86%E7%8E%AF%E5%A2%83%E6%9D%A1%E4%BE%8B%E3%80%8B",
                Some("《优化营商环境条例》"),
            ),
            ("a+b%20c", Some("a+b c")),
            ("%e4%b8%ad", Some("中")),
            ("100%", None),
            ("%G1", None),
            ("%+1", None),
            ("%E4%B8", None),
        ];
        for (input, expected) in cases {
            assert_eq!(percent_decode(input).as_deref(), *expected, "{input}");
        }
    }

    #[test]
    fn purpose_needs_all_three_headers() {
        let mut metadata = MetadataMap::new();
        metadata.insert(
            MATTER_HEADER,
            MetadataValue::from_static("enterprise-opening"),
        );
        metadata.insert(CASE_ID_HEADER, MetadataValue::from_static("2026-0001"));
        assert_eq!(purpose(&metadata).expect("decodes"), None);
        metadata.insert(
            LEGAL_BASIS_HEADER,
            MetadataValue::from_static("%E6%9D%A1%E4%BE%8B"),
        );
        let purpose = purpose(&metadata).expect("decodes").expect("complete");
        assert_eq!(purpose.legal_basis, "条例");
        metadata.insert(LEGAL_BASIS_HEADER, MetadataValue::from_static("%ZZ"));
        let refused = super::purpose(&metadata).expect_err("undecodable");
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().starts_with("request.invalid"));
    }

    #[test]
    fn results_are_bounded_owned_and_taken_once() {
        let results = Arc::new(Results::default());
        let owner = Owner {
            department: "approval-bureau".into(),
            actor: "dept:approval-bureau".into(),
        };
        let other = Owner {
            department: "civil-affairs".into(),
            actor: "dept:civil-affairs".into(),
        };
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        let pending = |owner: &Owner| Pending {
            owner: owner.clone(),
            schema: Arc::clone(&schema),
            batches: Vec::new(),
            expires: Instant::now() + RESULT_TTL,
        };
        results
            .reserve()
            .expect("room")
            .fill("h1".into(), pending(&owner));
        assert_eq!(
            results.take("h1", &other).expect_err("not theirs").code(),
            Code::NotFound
        );
        assert!(results.take("h1", &owner).is_ok());
        assert_eq!(
            results.take("h1", &owner).expect_err("taken").code(),
            Code::NotFound
        );

        let held: Vec<Reservation> = (0..MAX_PENDING)
            .map(|_| results.reserve().expect("room"))
            .collect();
        assert_eq!(
            results.reserve().expect_err("full").code(),
            Code::ResourceExhausted
        );
        drop(held);
        let mut expired = pending(&owner);
        expired.expires = Instant::now();
        results
            .reserve()
            .expect("room again")
            .fill("old".into(), expired);
        assert_eq!(
            results.take("old", &owner).expect_err("expired").code(),
            Code::NotFound
        );
    }
}
