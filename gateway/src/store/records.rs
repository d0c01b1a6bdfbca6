//! Plain records the store reads and writes.

use serde::Serialize;

use crate::auth::Roles;

/// A department known to the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Department {
    /// Short code, e.g. `approval-bureau`.
    pub code: String,
    /// Chinese name.
    pub name: String,
    /// The department's USCC.
    pub uscc: String,
    /// What the department's systems may do.
    pub roles: Roles,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Sign-in name.
    pub username: String,
    /// Name shown in the console.
    pub display_name: String,
    /// Department code.
    pub department: String,
    /// Roles; always a subset of the department's.
    pub roles: Roles,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The citizen ID a citizen's account is bound to.
    pub subject_id: Option<String>,
}

/// A stored user.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Row id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Name shown in the console.
    pub display_name: String,
    /// Department code.
    pub department: String,
    /// Department name.
    pub department_name: String,
    /// Roles.
    pub roles: Roles,
    /// Argon2id PHC string (empty where not selected).
    pub password_hash: String,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// The citizen ID a citizen's account is bound to.
    pub subject_id: Option<String>,
}

/// A registered client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// Department code.
    pub department: String,
    /// Subject common name.
    pub subject: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// A published snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRecord {
    /// Resource code.
    pub resource_code: String,
    /// Version, from 1.
    pub version: i64,
    /// Directory relative to the data directory.
    pub path: String,
    /// Parquet files in key order.
    pub files: Vec<String>,
    /// Rows.
    pub rows: i64,
    /// Bytes.
    pub bytes: i64,
    /// SHA-256 over the files, hex.
    pub sha256: String,
    /// Unix milliseconds.
    pub published_at: i64,
    /// Who published it (user or department).
    pub published_by: String,
}

/// A resource with its latest snapshot.
#[derive(Debug, Clone)]
pub struct ResourceRecord {
    /// The catalogue metadata.
    pub definition: tongban_catalog::ResourceDefinition,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// The newest snapshot, if published.
    pub latest: Option<SnapshotRecord>,
    /// When it was first published, Unix milliseconds.
    pub first_published_at: Option<i64>,
}
