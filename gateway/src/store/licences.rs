//! E-licence tables: signing keys, status lists, the registry of issued licences.

use sqlx::Row;

use super::{Backend, Store, StoreError, StoreResult};

/// A signing key as stored.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Department code.
    pub department: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// The private JWK (secret).
    pub private_jwk: String,
    /// Comma-separated licence type slugs the key may sign.
    pub licence_types: String,
    /// Whether this is the trust-list anchor.
    pub anchor: bool,
    /// Unix seconds from which it signs.
    pub issue_from: i64,
    /// Unix seconds until which it signed, once retired.
    pub issue_until: Option<i64>,
}

/// An issued licence as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceRecord {
    /// GB/T 36904 identifier.
    pub id: String,
    /// Licence type slug.
    pub licence_type: String,
    /// Issuing department.
    pub issuer: String,
    /// `111` or `001`.
    pub holder_kind: String,
    /// Holder identifier.
    pub holder_id: String,
    /// Status list number.
    pub list_no: i64,
    /// Status entry.
    pub status_idx: i64,
    /// Signing key.
    pub kid: String,
    /// The SD-JWT with every disclosure.
    pub token: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds, if it ends.
    pub expires_at: Option<i64>,
    /// `valid`, `suspended` or `revoked`.
    pub status: String,
    /// Why the status last changed.
    pub status_reason: Option<String>,
    /// When the status last changed (Unix seconds).
    pub status_changed_at: Option<i64>,
}

/// A status list as stored.
#[derive(Debug, Clone)]
pub struct StatusListRecord {
    /// Issuing department.
    pub department: String,
    /// List number.
    pub list_no: i64,
    /// Entries.
    pub capacity: i64,
    /// The next entry to reserve.
    pub next_idx: i64,
    /// Base64 of the raw 2-bit entries.
    pub bits: String,
    /// Unix seconds of the last change.
    pub updated_at: i64,
}

const LICENCE_COLUMNS: &str = "id, licence_type, issuer_code, holder_kind, holder_id, list_no, status_idx, kid, token, issued_at, expires_at, status, status_reason, status_changed_at";

fn licence_of(r: &sqlx::any::AnyRow) -> StoreResult<LicenceRecord> {
    Ok(LicenceRecord {
        id: r.try_get(0)?,
        licence_type: r.try_get(1)?,
        issuer: r.try_get(2)?,
        holder_kind: r.try_get(3)?,
        holder_id: r.try_get(4)?,
        list_no: r.try_get(5)?,
        status_idx: r.try_get(6)?,
        kid: r.try_get(7)?,
        token: r.try_get(8)?,
        issued_at: r.try_get(9)?,
        expires_at: r.try_get(10)?,
        status: r.try_get(11)?,
        status_reason: r.try_get(12)?,
        status_changed_at: r.try_get(13)?,
    })
}

fn list_of(r: &sqlx::any::AnyRow) -> StoreResult<StatusListRecord> {
    Ok(StatusListRecord {
        department: r.try_get(0)?,
        list_no: r.try_get(1)?,
        capacity: r.try_get(2)?,
        next_idx: r.try_get(3)?,
        bits: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

impl Store {
    /// Every signing key, retired ones included.
    pub async fn licence_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, department_code, alg, private_jwk, licence_types, anchor, issue_from, issue_until
             FROM licence_keys ORDER BY department_code, issue_from",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KeyRecord {
                    kid: r.try_get(0)?,
                    department: r.try_get(1)?,
                    alg: r.try_get(2)?,
                    private_jwk: r.try_get(3)?,
                    licence_types: r.try_get(4)?,
                    anchor: r.try_get::<i64, _>(5)? != 0,
                    issue_from: r.try_get(6)?,
                    issue_until: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Records a new key.
    pub async fn insert_licence_key(&self, key: &KeyRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO licence_keys (kid, department_code, alg, private_jwk, licence_types, anchor, issue_from, issue_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.kid)
        .bind(&key.department)
        .bind(&key.alg)
        .bind(&key.private_jwk)
        .bind(&key.licence_types)
        .bind(i64::from(key.anchor))
        .bind(key.issue_from)
        .bind(key.issue_until)
        .execute(&mut *tx)
        .await?;
        bump_licences(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The generation of licence keys and status lists: it changes with every change to
    /// either, by any replica.
    pub async fn licences_generation(&self) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT generation FROM replica_generations WHERE domain = 'licences'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get(0)?)
    }

    /// Every status list.
    pub async fn status_lists(&self) -> StoreResult<Vec<StatusListRecord>> {
        let rows = sqlx::query(
            "SELECT department_code, list_no, capacity, next_idx, bits, updated_at
             FROM licence_status_lists ORDER BY department_code, list_no",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(list_of).collect()
    }

    /// Reserves the next free status entry of `department`, opening a new list of
    /// `capacity` entries (all valid, `empty_bits`) when the last one is full. Returns the
    /// list number and the entry; an entry is never handed out twice.
    pub async fn reserve_status_entry(
        &self,
        department: &str,
        capacity: i64,
        empty_bits: &str,
        now: i64,
    ) -> StoreResult<(i64, i64)> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        // On PostgreSQL the row lock makes replicas reserving at once queue, not collide.
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let current = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT list_no, next_idx, capacity FROM licence_status_lists
             WHERE department_code = $1 ORDER BY list_no DESC LIMIT 1{lock}"
        )))
        .bind(department)
        .fetch_optional(&mut *tx)
        .await?;
        let (list_no, idx) = match current {
            Some(r) if r.try_get::<i64, _>(1)? < r.try_get::<i64, _>(2)? => {
                let list_no: i64 = r.try_get(0)?;
                // The guard on next_idx makes a concurrent reservation fail, not repeat.
                let done = sqlx::query(
                    "UPDATE licence_status_lists SET next_idx = next_idx + 1
                     WHERE department_code = $1 AND list_no = $2 AND next_idx = $3",
                )
                .bind(department)
                .bind(list_no)
                .bind(r.try_get::<i64, _>(1)?)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(
                        "status entry taken concurrently".into(),
                    ));
                }
                (list_no, r.try_get::<i64, _>(1)?)
            }
            other => {
                let list_no = match other {
                    Some(r) => r.try_get::<i64, _>(0)? + 1,
                    None => 1,
                };
                sqlx::query(
                    "INSERT INTO licence_status_lists (department_code, list_no, capacity, next_idx, bits, updated_at)
                     VALUES ($1, $2, $3, 1, $4, $5)",
                )
                .bind(department)
                .bind(list_no)
                .bind(capacity)
                .bind(empty_bits)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                bump_licences(&mut tx).await?;
                (list_no, 0)
            }
        };
        tx.commit().await?;
        Ok((list_no, idx))
    }

    /// Records an issued licence.
    pub async fn insert_licence(&self, l: &LicenceRecord) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO licences ({LICENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )))
        .bind(&l.id)
        .bind(&l.licence_type)
        .bind(&l.issuer)
        .bind(&l.holder_kind)
        .bind(&l.holder_id)
        .bind(l.list_no)
        .bind(l.status_idx)
        .bind(&l.kid)
        .bind(&l.token)
        .bind(l.issued_at)
        .bind(l.expires_at)
        .bind(&l.status)
        .bind(&l.status_reason)
        .bind(l.status_changed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The licences of `licence_type` held by a holder, newest first.
    pub async fn licences_held(
        &self,
        holder_kind: &str,
        holder_id: &str,
        licence_type: &str,
    ) -> StoreResult<Vec<LicenceRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LICENCE_COLUMNS} FROM licences
             WHERE holder_kind = $1 AND holder_id = $2 AND licence_type = $3
             ORDER BY issued_at DESC, id DESC LIMIT 100"
        )))
        .bind(holder_kind)
        .bind(holder_id)
        .bind(licence_type)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(licence_of).collect()
    }

    /// A licence by identifier.
    pub async fn licence(&self, id: &str) -> StoreResult<LicenceRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LICENCE_COLUMNS} FROM licences WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        licence_of(&row)
    }

    /// Changes a licence's status and its status-list entry in one transaction: the list's
    /// bits are read inside it, changed by `update` and written back, so concurrent changes
    /// to one list (from this or another replica) never overwrite each other.
    pub async fn set_licence_status<F>(
        &self,
        licence: &LicenceRecord,
        status: &str,
        reason: &str,
        now: i64,
        update: F,
    ) -> StoreResult<()>
    where
        F: FnOnce(&str) -> Result<String, String>,
    {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT bits FROM licence_status_lists WHERE department_code = $1 AND list_no = $2{lock}"
        )))
        .bind(&licence.issuer)
        .bind(licence.list_no)
        .fetch_one(&mut *tx)
        .await?;
        let bits: String = row.try_get(0)?;
        let bits = update(&bits).map_err(StoreError::Corrupt)?;
        sqlx::query(
            "UPDATE licences SET status = $1, status_reason = $2, status_changed_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(reason)
        .bind(now)
        .bind(&licence.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE licence_status_lists SET bits = $1, updated_at = $2
             WHERE department_code = $3 AND list_no = $4",
        )
        .bind(&bits)
        .bind(now)
        .bind(&licence.issuer)
        .bind(licence.list_no)
        .execute(&mut *tx)
        .await?;
        bump_licences(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn bump_licences(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> StoreResult<()> {
    sqlx::query(
        "UPDATE replica_generations SET generation = generation + 1 WHERE domain = 'licences'",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
