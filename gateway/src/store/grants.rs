//! Grants and grant requests.

use sqlx::Row;
use tongban_catalog::query::Grant;

use super::{Store, StoreError, StoreResult};

/// A stored grant with who made and revoked it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GrantRecord {
    /// The grant (its `id` is the row id).
    pub grant: Grant,
    /// The request it answered, if any.
    pub request_id: Option<i64>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who made it.
    pub created_by: String,
    /// When it was revoked, Unix milliseconds.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
}

/// A consumer's request for a conditional grant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRecord {
    /// Row id.
    pub id: i64,
    /// Consumer department.
    pub consumer: String,
    /// Resource code.
    pub resource: String,
    /// The request as submitted (JSON).
    pub body: serde_json::Value,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who asked.
    pub created_by: String,
    /// Unix milliseconds.
    pub decided_at: Option<i64>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// The provider's note.
    pub decision_note: Option<String>,
}

const GRANT_COLUMNS: &str =
    "id, definition, request_id, created_at, created_by, revoked_at, revoked_by";
const REQUEST_COLUMNS: &str = "id, consumer_code, resource_code, body, status, created_at, created_by, decided_at, decided_by, decision_note";

fn grant_from_row(row: &sqlx::any::AnyRow) -> StoreResult<GrantRecord> {
    let id: i64 = row.try_get(0)?;
    let mut grant: Grant = serde_json::from_str(&row.try_get::<String, _>(1)?)
        .map_err(|e| StoreError::Corrupt(format!("grant {id}: {e}")))?;
    grant.id = id;
    Ok(GrantRecord {
        grant,
        request_id: row.try_get(2)?,
        created_at: row.try_get(3)?,
        created_by: row.try_get(4)?,
        revoked_at: row.try_get(5)?,
        revoked_by: row.try_get(6)?,
    })
}

fn request_from_row(row: &sqlx::any::AnyRow) -> StoreResult<RequestRecord> {
    let id: i64 = row.try_get(0)?;
    Ok(RequestRecord {
        id,
        consumer: row.try_get(1)?,
        resource: row.try_get(2)?,
        body: serde_json::from_str(&row.try_get::<String, _>(3)?)
            .map_err(|e| StoreError::Corrupt(format!("request {id}: {e}")))?,
        status: row.try_get(4)?,
        created_at: row.try_get(5)?,
        created_by: row.try_get(6)?,
        decided_at: row.try_get(7)?,
        decided_by: row.try_get(8)?,
        decision_note: row.try_get(9)?,
    })
}

impl Store {
    /// Live (not revoked) explicit grants of a consumer.
    pub async fn grants_for_consumer(&self, consumer: &str) -> StoreResult<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT id, definition, request_id, created_at, created_by, revoked_at, revoked_by
             FROM grants WHERE consumer_code = $1 AND revoked_at IS NULL ORDER BY id",
        )
        .bind(consumer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| grant_from_row(r).map(|g| g.grant))
            .collect()
    }

    /// Every grant, revoked ones included, newest first.
    pub async fn list_grants(&self) -> StoreResult<Vec<GrantRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM grants ORDER BY id DESC"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// One grant.
    pub async fn grant(&self, id: i64) -> StoreResult<GrantRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        grant_from_row(&row)
    }

    /// Stores a grant; returns its id.
    pub async fn create_grant(
        &self,
        grant: &Grant,
        request_id: Option<i64>,
        actor: &str,
        now: i64,
    ) -> StoreResult<i64> {
        let definition =
            serde_json::to_string(grant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO grants (consumer_code, resource_code, definition, request_id, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&grant.consumer)
        .bind(&grant.resource)
        .bind(definition)
        .bind(request_id)
        .bind(now)
        .bind(actor)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Revokes a live grant.
    pub async fn revoke_grant(&self, id: i64, actor: &str, now: i64) -> StoreResult<()> {
        let done = sqlx::query("UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(actor)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Files a request for a grant; returns its id.
    pub async fn create_request(
        &self,
        consumer: &str,
        resource: &str,
        body: &serde_json::Value,
        actor: &str,
        now: i64,
    ) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO grant_requests (consumer_code, resource_code, body, status, created_at, created_by)
             VALUES ($1, $2, $3, 'pending', $4, $5) RETURNING id",
        )
        .bind(consumer)
        .bind(resource)
        .bind(body.to_string())
        .bind(now)
        .bind(actor)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// One request.
    pub async fn request(&self, id: i64) -> StoreResult<RequestRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM grant_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        request_from_row(&row)
    }

    /// Every request, newest first.
    pub async fn list_requests(&self) -> StoreResult<Vec<RequestRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM grant_requests ORDER BY id DESC"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Rejects a pending request.
    pub async fn reject_request(
        &self,
        id: i64,
        actor: &str,
        note: &str,
        now: i64,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE grant_requests SET status = 'rejected', decided_at = $1, decided_by = $2, decision_note = $3
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(now)
        .bind(actor)
        .bind(note)
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::Conflict("the request is not pending".into()))
        } else {
            Ok(())
        }
    }

    /// Approves a pending request and stores the grant it yields, in one transaction.
    pub async fn approve_request(
        &self,
        id: i64,
        grant: &Grant,
        actor: &str,
        note: &str,
        now: i64,
    ) -> StoreResult<i64> {
        let definition =
            serde_json::to_string(grant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE grant_requests SET status = 'approved', decided_at = $1, decided_by = $2, decision_note = $3
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(now)
        .bind(actor)
        .bind(note)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the request is not pending".into()));
        }
        let row = sqlx::query(
            "INSERT INTO grants (consumer_code, resource_code, definition, request_id, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&grant.consumer)
        .bind(&grant.resource)
        .bind(definition)
        .bind(id)
        .bind(now)
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        let grant_id: i64 = row.try_get(0)?;
        tx.commit().await?;
        Ok(grant_id)
    }
}
