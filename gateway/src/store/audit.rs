//! Audit entries: appended, never changed (the database refuses updates and deletes).

use sqlx::Row;

use super::{Store, StoreResult};

/// The columns of an audit entry the store indexes; the whole entry is `entry` (canonical
/// JSON).
#[derive(Debug, Clone)]
pub struct AuditRow<'a> {
    /// Request id (UUID).
    pub request_id: &'a str,
    /// Unix milliseconds.
    pub at: i64,
    /// Department code.
    pub department: &'a str,
    /// User or department system.
    pub actor: &'a str,
    /// Event name.
    pub action: &'a str,
    /// `ok`, `refused` or `failed`.
    pub outcome: &'a str,
    /// Matter of the purpose, if any.
    pub matter: Option<&'a str>,
    /// Canonical JSON of the entry.
    pub entry: &'a str,
}

impl Store {
    /// Appends an entry; it is durable when this returns. Returns its sequence number.
    pub async fn append_audit(&self, row: &AuditRow<'_>) -> StoreResult<i64> {
        let inserted = sqlx::query(
            "INSERT INTO audit_entries (request_id, at, department, actor, action, outcome, matter, entry)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
        )
        .bind(row.request_id)
        .bind(row.at)
        .bind(row.department)
        .bind(row.actor)
        .bind(row.action)
        .bind(row.outcome)
        .bind(row.matter)
        .bind(row.entry)
        .fetch_one(&self.pool)
        .await?;
        Ok(inserted.try_get(0)?)
    }

    /// The entry of a request, as stored.
    pub async fn audit_entry(&self, request_id: &str) -> StoreResult<(i64, serde_json::Value)> {
        let row = sqlx::query("SELECT seq, entry FROM audit_entries WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(&self.pool)
            .await?;
        let entry: String = row.try_get(1)?;
        let value =
            serde_json::from_str(&entry).map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        Ok((row.try_get(0)?, value))
    }

    /// Number of audit entries.
    pub async fn audit_count(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM audit_entries")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}
