//! What the catalogue says about a published snapshot.

use serde::{Deserialize, Serialize};

/// A published, immutable snapshot of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// Version number, 1 for the first publication, increasing by one.
    pub version: i64,
    /// Number of rows.
    pub rows: i64,
    /// Size of its files in bytes.
    pub bytes: i64,
    /// SHA-256 over the files' contents in order, hex.
    pub sha256: String,
    /// Publication time, RFC 3339.
    pub published_at: String,
}
