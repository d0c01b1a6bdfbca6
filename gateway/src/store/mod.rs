//! The metadata store: departments, people, sessions, client certificates, catalogue
//! resources and snapshots.
//!
//! One set of queries serves SQLite (the embedded default, a file in the data directory) and
//! PostgreSQL (production, shared by several gateways) through sqlx's `Any` driver; each back
//! end has its own migrations because their DDL differs. Columns stay to BIGINT and TEXT so
//! that values decode the same on both. This module is the only place SQL is written.

mod audit;
mod grants;
mod licences;
mod records;
mod resolutions;

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

pub use audit::{LogAppend, LogFilter, LogRow, TreeHeadRow};
pub use grants::{GrantRecord, RequestRecord};
pub use licences::{KeyRecord, LicenceRecord, StatusListRecord};
pub use records::*;
pub use resolutions::{MaterialCount, MaterialOutcome, ResolutionRecord};

use crate::auth::{Role, Roles};

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Failures of the store, grouped by who must act.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The URL names no supported database.
    #[error("unsupported store URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The database failed or is unreachable: the operator must act.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not decode: the data was changed outside the hub, or a bug.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the metadata store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// How long a request waits for a database connection before it fails.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl)?;
        let mut pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            // When the database is down a request fails with `server.unavailable` after
            // this long instead of hanging; a connection is normally free within
            // milliseconds.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection still inside a transaction (SQLite rolls back by itself when the
            // disk is full, so the driver's own rollback then fails and its count stays up)
            // would refuse every later BEGIN: it is closed instead of handed out.
            .before_acquire(|conn, _meta| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            });
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers proceed during a write; FULL sync makes a commit
                    // durable before it returns; foreign keys are off by default in SQLite.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 5000",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(options).await?;
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    /// The back end in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ----- departments -----

    /// Creates a department or updates its name, USCC and roles.
    pub async fn upsert_department(&self, d: &Department, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO departments (code, name, uscc, roles, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, uscc = excluded.uscc, roles = excluded.roles",
        )
        .bind(&d.code)
        .bind(&d.name)
        .bind(&d.uscc)
        .bind(d.roles.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every department, by code.
    pub async fn list_departments(&self) -> StoreResult<Vec<Department>> {
        let rows = sqlx::query("SELECT code, name, uscc, roles FROM departments ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(department_from_row).collect()
    }

    /// One department.
    pub async fn department(&self, code: &str) -> StoreResult<Department> {
        let row = sqlx::query("SELECT code, name, uscc, roles FROM departments WHERE code = $1")
            .bind(code)
            .fetch_one(&self.pool)
            .await?;
        department_from_row(&row)
    }

    // ----- users and sessions -----

    /// Creates a user; the username must be free.
    pub async fn create_user(&self, user: &NewUser, now: i64) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO users (username, display_name, department_code, roles, password_hash, disabled, created_at, subject_id)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7) RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(&user.department)
        .bind(user.roles.to_string())
        .bind(&user.password_hash)
        .bind(now)
        .bind(&user.subject_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Replaces a user's password hash.
    pub async fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
            .bind(password_hash)
            .bind(username)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// A user by name, with the password hash, for sign-in.
    pub async fn user_by_name(&self, username: &str) -> StoreResult<UserRecord> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.department_code, u.roles, u.password_hash, u.disabled, d.name, u.subject_id
             FROM users u JOIN departments d ON d.code = u.department_code WHERE u.username = $1",
        )
        .bind(username)
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    /// Every user, without password hashes.
    pub async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.department_code, u.roles, '' AS password_hash, u.disabled, d.name, u.subject_id
             FROM users u JOIN departments d ON d.code = u.department_code ORDER BY u.username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Records a new session; only the token's hash is stored.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at, revoked) VALUES ($1, $2, $3, $4, 0)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user behind a live session.
    pub async fn session_user(&self, token_hash: &str, now: i64) -> StoreResult<UserRecord> {
        let row = sqlx::query(
            "SELECT u.id, u.username, u.display_name, u.department_code, u.roles, '' AS password_hash, u.disabled, d.name, u.subject_id
             FROM sessions s JOIN users u ON u.id = s.user_id JOIN departments d ON d.code = u.department_code
             WHERE s.token_hash = $1 AND s.revoked = 0 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    /// Ends a session.
    pub async fn revoke_session(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked = 1 WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- client certificates -----

    /// Registers a department's client certificate by fingerprint.
    pub async fn register_certificate(&self, c: &CertificateRecord, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO client_certificates (fingerprint, department_code, subject, not_after, revoked, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.fingerprint)
        .bind(&c.department)
        .bind(&c.subject)
        .bind(c.not_after)
        .bind(i64::from(c.revoked))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The department a certificate fingerprint is registered to.
    pub async fn certificate(
        &self,
        fingerprint: &str,
    ) -> StoreResult<(CertificateRecord, Department)> {
        let row = sqlx::query(
            "SELECT c.fingerprint, c.department_code, c.subject, c.not_after, c.revoked, d.code, d.name, d.uscc, d.roles
             FROM client_certificates c JOIN departments d ON d.code = c.department_code WHERE c.fingerprint = $1",
        )
        .bind(fingerprint)
        .fetch_one(&self.pool)
        .await?;
        let cert = CertificateRecord {
            fingerprint: row.try_get(0)?,
            department: row.try_get(1)?,
            subject: row.try_get(2)?,
            not_after: row.try_get(3)?,
            revoked: row.try_get::<i64, _>(4)? != 0,
        };
        let dept = Department {
            code: row.try_get(5)?,
            name: row.try_get(6)?,
            uscc: row.try_get(7)?,
            roles: parse_roles(&row.try_get::<String, _>(8)?)?,
        };
        Ok((cert, dept))
    }

    /// Marks a certificate revoked.
    pub async fn revoke_certificate(&self, fingerprint: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE client_certificates SET revoked = 1 WHERE fingerprint = $1")
            .bind(fingerprint)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Whether a department has at least one live certificate.
    pub async fn department_has_certificate(
        &self,
        department: &str,
        now_secs: i64,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM client_certificates WHERE department_code = $1 AND revoked = 0 AND not_after > $2",
        )
        .bind(department)
        .bind(now_secs)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)? > 0)
    }

    // ----- catalogue -----

    /// Creates or replaces a resource definition.
    pub async fn upsert_resource(
        &self,
        r: &tongban_catalog::ResourceDefinition,
        now: i64,
    ) -> StoreResult<()> {
        let definition =
            serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO resources (code, base_library, name, provider_code, definition, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, provider_code = excluded.provider_code,
                 definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(r.code.to_string())
        .bind(r.base_library.table_name())
        .bind(&r.name)
        .bind(&r.provider.department)
        .bind(definition)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every resource with its latest snapshot, by code.
    pub async fn list_resources(&self) -> StoreResult<Vec<ResourceRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(RESOURCE_QUERY_ALL.as_str()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(resource_from_row).collect()
    }

    /// One resource by its code.
    pub async fn resource(&self, code: &str) -> StoreResult<ResourceRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(RESOURCE_QUERY_ONE.as_str()))
            .bind(code)
            .fetch_one(&self.pool)
            .await?;
        resource_from_row(&row)
    }

    /// The resource holding a base library.
    pub async fn resource_for_library(
        &self,
        library: tongban_schemas::BaseLibrary,
    ) -> StoreResult<ResourceRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(RESOURCE_QUERY_LIBRARY.as_str()))
            .bind(library.table_name())
            .fetch_one(&self.pool)
            .await?;
        resource_from_row(&row)
    }

    /// Every snapshot of a resource, newest first.
    pub async fn snapshots(&self, resource_code: &str) -> StoreResult<Vec<SnapshotRecord>> {
        let rows = sqlx::query(
            "SELECT resource_code, version, path, files, row_count, byte_size, sha256, published_at, published_by
             FROM snapshots WHERE resource_code = $1 ORDER BY version DESC",
        )
        .bind(resource_code)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    /// Publishes a snapshot: `place(version)` moves the prepared files into place, and runs
    /// inside the transaction that records them, so either both happen or neither is visible.
    pub async fn publish_snapshot<F>(
        &self,
        mut record: SnapshotRecord,
        place: F,
    ) -> StoreResult<SnapshotRecord>
    where
        F: FnOnce(i64) -> Result<String, String>,
    {
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT COALESCE(MAX(version), 0) FROM snapshots WHERE resource_code = $1")
                .bind(&record.resource_code)
                .fetch_one(&mut *tx)
                .await?;
        record.version = row.try_get::<i64, _>(0)? + 1;
        record.path = place(record.version).map_err(StoreError::Corrupt)?;
        sqlx::query(
            "INSERT INTO snapshots (resource_code, version, path, files, row_count, byte_size, sha256, published_at, published_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&record.resource_code)
        .bind(record.version)
        .bind(&record.path)
        .bind(record.files.join(","))
        .bind(record.rows)
        .bind(record.bytes)
        .bind(&record.sha256)
        .bind(record.published_at)
        .bind(&record.published_by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }
}

const RESOURCE_COLUMNS: &str = "r.code, r.definition, r.created_at, r.updated_at,
    s.version, s.path, s.files, s.row_count, s.byte_size, s.sha256, s.published_at, s.published_by,
    (SELECT MIN(f.published_at) FROM snapshots f WHERE f.resource_code = r.code)";
const RESOURCE_FROM: &str = "FROM resources r LEFT JOIN snapshots s ON s.resource_code = r.code
    AND s.version = (SELECT MAX(m.version) FROM snapshots m WHERE m.resource_code = r.code)";

// Built from constants only; no request data is ever formatted into SQL.
static RESOURCE_QUERY_ALL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {RESOURCE_COLUMNS} {RESOURCE_FROM} ORDER BY r.code")
});
static RESOURCE_QUERY_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {RESOURCE_COLUMNS} {RESOURCE_FROM} WHERE r.code = $1")
});
static RESOURCE_QUERY_LIBRARY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {RESOURCE_COLUMNS} {RESOURCE_FROM} WHERE r.base_library = $1")
});

fn parse_roles(text: &str) -> StoreResult<Roles> {
    text.parse::<Roles>()
        .map_err(|e| StoreError::Corrupt(format!("roles `{text}`: {e}")))
}

fn department_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Department> {
    Ok(Department {
        code: row.try_get(0)?,
        name: row.try_get(1)?,
        uscc: row.try_get(2)?,
        roles: parse_roles(&row.try_get::<String, _>(3)?)?,
    })
}

fn user_from_row(row: &sqlx::any::AnyRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        display_name: row.try_get(2)?,
        department: row.try_get(3)?,
        roles: parse_roles(&row.try_get::<String, _>(4)?)?,
        password_hash: row.try_get(5)?,
        disabled: row.try_get::<i64, _>(6)? != 0,
        department_name: row.try_get(7)?,
        subject_id: row.try_get(8)?,
    })
}

fn snapshot_from_row(row: &sqlx::any::AnyRow) -> StoreResult<SnapshotRecord> {
    Ok(SnapshotRecord {
        resource_code: row.try_get(0)?,
        version: row.try_get(1)?,
        path: row.try_get(2)?,
        files: split_list(&row.try_get::<String, _>(3)?),
        rows: row.try_get(4)?,
        bytes: row.try_get(5)?,
        sha256: row.try_get(6)?,
        published_at: row.try_get(7)?,
        published_by: row.try_get(8)?,
    })
}

fn resource_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ResourceRecord> {
    let code: String = row.try_get(0)?;
    let definition: tongban_catalog::ResourceDefinition =
        serde_json::from_str(&row.try_get::<String, _>(1)?)
            .map_err(|e| StoreError::Corrupt(format!("resource {code}: {e}")))?;
    let latest = match row.try_get::<Option<i64>, _>(4)? {
        None => None,
        Some(version) => Some(SnapshotRecord {
            resource_code: code.clone(),
            version,
            path: row.try_get(5)?,
            files: split_list(&row.try_get::<String, _>(6)?),
            rows: row.try_get(7)?,
            bytes: row.try_get(8)?,
            sha256: row.try_get(9)?,
            published_at: row.try_get(10)?,
            published_by: row.try_get(11)?,
        }),
    };
    Ok(ResourceRecord {
        definition,
        created_at: row.try_get(2)?,
        updated_at: row.try_get(3)?,
        latest,
        first_published_at: row.try_get::<Option<i64>, _>(12)?,
    })
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Roles for the seed data: a short way to write a set.
pub fn roles(list: &[Role]) -> Roles {
    Roles::from_iter(list.iter().copied())
}
