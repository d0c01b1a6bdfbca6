//! The access record: one typed audit entry per request that touches data, a licence, a
//! grant or a user, written through [`record`] and durable before the response is sent.
//!
//! Entries are serialised canonically (JSON with keys in sorted order, no insignificant
//! white space) so that their bytes can later be hashed into a tamper-evident log.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::auth::{Credential, Principal};
use crate::error::ApiError;
use crate::ledger::{self, Appended, Ledger};
use crate::store::Store;

/// Why data was accessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// Matter code (事项), e.g. `enterprise-opening`.
    pub matter: String,
    /// Case (办件) number the access serves.
    pub case_id: String,
    /// The legal basis the department relies on.
    pub legal_basis: String,
    /// Under a legal exemption (an investigation, say), the day until which the data
    /// subject does not see this access; auditors always do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential_until: Option<chrono::NaiveDate>,
}

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    /// A query ran and returned rows.
    QueryExecuted {
        /// SHA-256 of the SQL text.
        sql_sha256: String,
        /// SHA-256 of the physical plan with the policy in it.
        plan_sha256: String,
        /// Columns read, by table.
        tables: BTreeMap<String, Vec<String>>,
        /// Snapshot versions read, by table.
        snapshots: BTreeMap<String, i64>,
        /// Rows returned.
        rows: u64,
        /// Whether a row or byte cap cut the result.
        truncated: bool,
        /// Response format.
        format: String,
        /// The cluster scheduler that ran the plan; absent when it ran in the gateway.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cluster: Option<String>,
    },
    /// A query was refused before it ran, or failed.
    QueryRefused {
        /// SHA-256 of the SQL text.
        sql_sha256: String,
        /// The stable code the client saw.
        code: String,
        /// The internal detail, never sent to the client.
        detail: String,
        /// The plan's hash, if planning got that far.
        #[serde(skip_serializing_if = "Option::is_none")]
        plan_sha256: Option<String>,
    },
    /// A grant was requested, approved, rejected, created or revoked.
    GrantChanged {
        /// `requested`, `approved`, `rejected`, `created`, `revoked`.
        change: String,
        /// Grant id.
        #[serde(skip_serializing_if = "Option::is_none")]
        grant_id: Option<i64>,
        /// Request id.
        #[serde(skip_serializing_if = "Option::is_none")]
        grant_request_id: Option<i64>,
        /// Consumer department.
        consumer: String,
        /// Resource code.
        resource: String,
        /// The grant or request as it now stands.
        detail: serde_json::Value,
    },
    /// A licence was issued.
    LicenceIssued {
        /// GB/T 36904 identifier.
        licence_id: String,
        /// Licence type slug.
        licence_type: String,
        /// Status list entry, `<list>/<idx>`.
        status: String,
        /// Signing key.
        kid: String,
    },
    /// A licence was presented for verification.
    LicenceVerified {
        /// The identifier, when the token got far enough to name it.
        #[serde(skip_serializing_if = "Option::is_none")]
        licence_id: Option<String>,
        /// Licence type slug, if verified.
        #[serde(skip_serializing_if = "Option::is_none")]
        licence_type: Option<String>,
        /// `valid`, or the stable code of the refusal.
        result: String,
        /// Names of the fields disclosed.
        disclosed: Vec<String>,
        /// `token` or `qr_image`.
        via: String,
    },
    /// A licence was suspended, reinstated or revoked.
    LicenceStatusChanged {
        /// GB/T 36904 identifier.
        licence_id: String,
        /// `valid`, `suspended` or `revoked`.
        status: String,
        /// Why.
        reason: String,
    },
    /// A matter's materials were resolved for an applicant.
    MatterResolved {
        /// Matter code.
        matter: String,
        /// The resolution, whose signed evidence the hub keeps.
        resolution_id: String,
        /// Materials the hub supplied.
        supplied: u64,
        /// Materials the applicant must bring.
        must_submit: u64,
        /// Material code → `supplied` or the reason code.
        materials: BTreeMap<String, String>,
        /// Columns read, by table.
        tables: BTreeMap<String, Vec<String>>,
        /// Snapshot versions read, by table.
        snapshots: BTreeMap<String, i64>,
        /// SHA-256 of each physical plan run, with the policy in it.
        plan_sha256: Vec<String>,
        /// Licences read from the registry or presented.
        licences: Vec<String>,
    },
    /// A resolution was refused before or while it ran.
    MatterRefused {
        /// Matter code.
        matter: String,
        /// The stable code the client saw.
        code: String,
        /// The internal detail, never sent to the client.
        detail: String,
    },
    /// A user account was created.
    UserCreated {
        /// The new account.
        username: String,
        /// Its department.
        department: String,
        /// Its roles.
        roles: String,
    },
}

impl AuditEvent {
    /// The event name, e.g. `query_executed`.
    pub fn action(&self) -> &'static str {
        match self {
            AuditEvent::QueryExecuted { .. } => "query_executed",
            AuditEvent::QueryRefused { .. } => "query_refused",
            AuditEvent::GrantChanged { .. } => "grant_changed",
            AuditEvent::UserCreated { .. } => "user_created",
            AuditEvent::LicenceIssued { .. } => "licence_issued",
            AuditEvent::LicenceVerified { .. } => "licence_verified",
            AuditEvent::LicenceStatusChanged { .. } => "licence_status_changed",
            AuditEvent::MatterResolved { .. } => "matter_resolved",
            AuditEvent::MatterRefused { .. } => "matter_refused",
        }
    }

    /// `ok` or `refused`.
    pub fn outcome(&self) -> &'static str {
        match self {
            AuditEvent::QueryRefused { .. } | AuditEvent::MatterRefused { .. } => "refused",
            AuditEvent::LicenceVerified { result, .. } if result != "valid" => "refused",
            _ => "ok",
        }
    }
}

/// The data subjects (citizens, legal entities) whose identifiers a result contained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subjects {
    /// Subjects in the result.
    pub count: u64,
    /// Keyed hashes of the subjects, up to the per-query cap.
    pub hashes: Vec<String>,
    /// Whether the count exceeded the cap (only the first hashes are recorded).
    pub bulk: bool,
}

/// A complete audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Leaf index in the log, assigned when the entry is appended.
    pub index: u64,
    /// The request's id; clients see it as `audit_id`.
    pub request_id: String,
    /// RFC 3339 time in Beijing.
    pub time: String,
    /// Department code.
    pub department: String,
    /// The user, or `dept:<code>` for a department system.
    pub actor: String,
    /// Certificate fingerprint for department systems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Why, where the request states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// Milliseconds from the request's start to the entry.
    pub duration_ms: f64,
    /// Data subjects in the result, when it contained identifiers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Subjects>,
    /// Anomaly flags (see `alerts`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Unix milliseconds of `time`; stored beside the entry for filtering.
    #[serde(skip)]
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
}

/// Starts an entry for `principal`'s request.
pub fn entry(
    principal: &Principal,
    request_id: &str,
    purpose: Option<Purpose>,
    started: std::time::Instant,
    event: AuditEvent,
) -> AuditEntry {
    let certificate = match &principal.credential {
        Credential::Certificate { fingerprint } => Some(fingerprint.clone()),
        Credential::Token { .. } | Credential::Local { .. } => None,
    };
    let now = chrono::Utc::now();
    AuditEntry {
        index: 0,
        request_id: request_id.to_owned(),
        time: beijing(now),
        at_ms: now.timestamp_millis(),
        subjects: None,
        flags: Vec::new(),
        department: principal.department.clone(),
        actor: principal.actor(),
        certificate,
        purpose,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        event,
    }
}

fn beijing(now: chrono::DateTime<chrono::Utc>) -> String {
    crate::clock::in_beijing(now).to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

/// The canonical bytes of an entry: JSON with sorted keys.
pub fn canonical(entry: &AuditEntry) -> Result<String, ApiError> {
    // serde_json's Value keeps object keys in sorted order, so a round trip through it
    // gives one spelling per entry.
    let value = serde_json::to_value(entry)
        .map_err(|e| ApiError::Internal(format!("audit serialisation: {e}")))?;
    serde_json::to_string(&value)
        .map_err(|e| ApiError::Internal(format!("audit serialisation: {e}")))
}

/// Where entries go: the server's sequenced log, or straight into the store from a process
/// without one (the command line).
#[derive(Debug, Clone)]
pub enum Recorder {
    /// Through the sequencer (group commit, in-memory tree, signed heads).
    Ledger(Ledger),
    /// One transaction per entry.
    Direct(Store),
}

/// Writes an entry with the keyed hashes of its data subjects; when this returns the entry
/// is committed. This is the one way entries are written.
pub async fn record(
    to: &Recorder,
    entry: AuditEntry,
    subjects: Vec<String>,
) -> Result<Appended, ApiError> {
    record_with(to, entry, subjects, None).await
}

/// Like [`record`], storing `attachment` in the entry's transaction.
pub async fn record_with(
    to: &Recorder,
    entry: AuditEntry,
    subjects: Vec<String>,
    attachment: Option<ledger::Attachment>,
) -> Result<Appended, ApiError> {
    let observed = crate::telemetry::AuditObservation::of(&entry);
    let appended = match to {
        Recorder::Ledger(ledger) => ledger.append_with(entry, subjects, attachment).await,
        Recorder::Direct(store) => ledger::append_direct(store, entry, attachment).await,
    };
    observed.finish(appended.is_ok());
    appended
}

/// A fresh request id (UUID v7: time-ordered).
pub fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
