//! The audit log's tables: entries (leaves), data subjects, signed tree heads, retention.
//! Entries are appended under the log's write lock, never changed; the one exception is
//! removing the body of an entry below the retention horizon, which keeps its leaf hash.

use sqlx::{Any, Row};

use super::{Backend, Store, StoreError, StoreResult};

/// Advisory lock id under which PostgreSQL sequencers append (one writer across replicas).
const LOG_LOCK: i64 = 0x6962_6962;

/// Rows per INSERT statement, largest first (each row binds 12 values; both back ends allow
/// far more than the largest).
const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// One entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    /// Leaf index, from 0.
    pub idx: i64,
    /// Hex of the leaf hash.
    pub leaf_hash: String,
    /// Request id (UUID).
    pub request_id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// Department code.
    pub department: String,
    /// User or department system.
    pub actor: String,
    /// Event name.
    pub action: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// Matter of the purpose, if any.
    pub matter: Option<String>,
    /// Comma-separated anomaly flags.
    pub flags: Option<String>,
    /// Unix milliseconds before which the data subject does not see the entry.
    pub disclose_after: Option<i64>,
    /// Canonical JSON; `None` once purged under the retention policy.
    pub entry: Option<String>,
}

/// A signed tree head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHeadRow {
    /// Leaves covered.
    pub tree_size: i64,
    /// Hex of the root hash.
    pub root_hash: String,
    /// Unix milliseconds.
    pub timestamp: i64,
    /// Signing key id.
    pub key_id: String,
    /// Base64 signature.
    pub signature: String,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Department code.
    pub department: Option<String>,
    /// Event name.
    pub action: Option<String>,
    /// Matter code.
    pub matter: Option<String>,
    /// Keyed subject hash.
    pub subject: Option<String>,
    /// Unix milliseconds, inclusive.
    pub from: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub to: Option<i64>,
    /// Only entries with anomaly flags.
    pub flagged: bool,
    /// Only entries the data subject may see at this time (Unix milliseconds).
    pub disclosed_at: Option<i64>,
    /// Entries with a leaf index at least this.
    pub from_index: i64,
}

/// A transaction that holds the log's write lock.
#[derive(Debug)]
pub struct LogAppend {
    tx: sqlx::Transaction<'static, Any>,
    /// The index the first appended entry gets.
    pub next_index: i64,
}

impl LogAppend {
    /// Records a resolution in the same transaction as the entries, so that a resolution
    /// is stored exactly when its audit entry is.
    pub async fn insert_resolution(
        &mut self,
        r: &super::resolutions::ResolutionRecord,
        materials: &[super::resolutions::MaterialOutcome],
    ) -> StoreResult<()> {
        super::resolutions::insert_resolution_in(&mut self.tx, r, materials).await
    }

    /// Inserts `rows` (whose indices continue from `next_index`) and their subjects.
    pub async fn insert(&mut self, rows: &[LogRow], subjects: &[(String, i64)]) -> StoreResult<()> {
        // Statements of a few fixed sizes, so that each is prepared once per connection and
        // then reused, whatever the size of the batch.
        let mut rest = rows;
        while !rest.is_empty() {
            let n = CHUNK_SIZES
                .iter()
                .copied()
                .find(|n| *n <= rest.len())
                .unwrap_or(1);
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let sql = values_sql(
                "INSERT INTO audit_log (idx, leaf_hash, request_id, at, department, actor, action, outcome, matter, flags, disclose_after, entry) VALUES ",
                chunk.len(),
                12,
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.idx)
                    .bind(&r.leaf_hash)
                    .bind(&r.request_id)
                    .bind(r.at)
                    .bind(&r.department)
                    .bind(&r.actor)
                    .bind(&r.action)
                    .bind(&r.outcome)
                    .bind(&r.matter)
                    .bind(&r.flags)
                    .bind(r.disclose_after)
                    .bind(&r.entry);
            }
            q.execute(&mut *self.tx).await?;
        }
        let mut rest = subjects;
        while !rest.is_empty() {
            let n = CHUNK_SIZES
                .iter()
                .copied()
                .find(|n| *n <= rest.len())
                .unwrap_or(1);
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let sql = values_sql(
                "INSERT INTO audit_subjects (subject, idx) VALUES ",
                chunk.len(),
                2,
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (subject, idx) in chunk {
                q = q.bind(subject).bind(*idx);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Leaf hashes from `from` up to the current end, as another writer may have added them.
    pub async fn leaves_from(&mut self, from: i64) -> StoreResult<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT idx, leaf_hash FROM audit_log WHERE idx >= $1 ORDER BY idx")
            .bind(from)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Commits: when this returns, the entries are durable.
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// `prefix` followed by `rows` groups of `columns` numbered placeholders, which both back
/// ends accept: `($1, $2), ($3, $4)`.
fn values_sql(prefix: &str, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 6);
    sql.push_str(prefix);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

fn row_of(r: &sqlx::any::AnyRow) -> StoreResult<LogRow> {
    Ok(LogRow {
        idx: r.try_get("idx")?,
        leaf_hash: r.try_get("leaf_hash")?,
        request_id: r.try_get("request_id")?,
        at: r.try_get("at")?,
        department: r.try_get("department")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        outcome: r.try_get("outcome")?,
        matter: r.try_get("matter")?,
        flags: r.try_get("flags")?,
        disclose_after: r.try_get("disclose_after")?,
        entry: r.try_get("entry")?,
    })
}

const LOG_COLUMNS: &str = "l.idx, l.leaf_hash, l.request_id, l.at, l.department, l.actor, l.action, l.outcome, l.matter, l.flags, l.disclose_after, l.entry";

fn tree_head_of(r: &sqlx::any::AnyRow) -> StoreResult<TreeHeadRow> {
    Ok(TreeHeadRow {
        tree_size: r.try_get(0)?,
        root_hash: r.try_get(1)?,
        timestamp: r.try_get(2)?,
        key_id: r.try_get(3)?,
        signature: r.try_get(4)?,
    })
}

impl Store {
    /// Opens a transaction holding the log's write lock and reads the next leaf index.
    /// Only one appender holds it at a time, across processes and replicas.
    pub async fn begin_log_append(&self) -> StoreResult<LogAppend> {
        let mut tx = match self.backend {
            // IMMEDIATE takes SQLite's write lock at once, so two appenders queue instead of
            // both reading the end of the log and then failing to upgrade.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(LOG_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let row = sqlx::query("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log")
            .fetch_one(&mut *tx)
            .await?;
        let next_index: i64 = row.try_get(0)?;
        Ok(LogAppend { tx, next_index })
    }

    /// Leaf hashes with index at least `from`, in order.
    pub async fn log_leaves(&self, from: i64) -> StoreResult<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT idx, leaf_hash FROM audit_log WHERE idx >= $1 ORDER BY idx")
            .bind(from)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Entries matching `filter`, in index order, at most `limit`.
    pub async fn log_entries(&self, filter: &LogFilter, limit: i64) -> StoreResult<Vec<LogRow>> {
        enum Arg {
            Text(String),
            Int(i64),
        }
        let mut args: Vec<Arg> = Vec::new();
        let mut next = |a: Arg| {
            args.push(a);
            format!("${}", args.len())
        };
        let mut sql = format!("SELECT {LOG_COLUMNS} FROM audit_log l");
        if let Some(subject) = &filter.subject {
            let p = next(Arg::Text(subject.clone()));
            sql.push_str(&format!(
                " JOIN audit_subjects s ON s.idx = l.idx AND s.subject = {p}"
            ));
        }
        let p = next(Arg::Int(filter.from_index));
        sql.push_str(&format!(" WHERE l.idx >= {p}"));
        for (column, value) in [
            ("department", &filter.department),
            ("action", &filter.action),
            ("matter", &filter.matter),
        ] {
            if let Some(v) = value {
                let p = next(Arg::Text(v.clone()));
                sql.push_str(&format!(" AND l.{column} = {p}"));
            }
        }
        if let Some(from) = filter.from {
            let p = next(Arg::Int(from));
            sql.push_str(&format!(" AND l.at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = next(Arg::Int(to));
            sql.push_str(&format!(" AND l.at < {p}"));
        }
        if filter.flagged {
            sql.push_str(" AND l.flags IS NOT NULL");
        }
        if let Some(now) = filter.disclosed_at {
            let p = next(Arg::Int(now));
            sql.push_str(&format!(
                " AND (l.disclose_after IS NULL OR l.disclose_after <= {p})"
            ));
        }
        let p = next(Arg::Int(limit));
        sql.push_str(&format!(" ORDER BY l.idx LIMIT {p}"));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            q = match a {
                Arg::Text(t) => q.bind(t),
                Arg::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(row_of).collect()
    }

    /// The entry of a request: its index and its body.
    pub async fn audit_entry(&self, request_id: &str) -> StoreResult<(i64, serde_json::Value)> {
        let row = sqlx::query("SELECT idx, entry FROM audit_log WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(&self.pool)
            .await?;
        let entry: Option<String> = row.try_get(1)?;
        let entry = entry.ok_or_else(|| StoreError::Corrupt("the entry was purged".into()))?;
        let value = serde_json::from_str(&entry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((row.try_get(0)?, value))
    }

    /// Number of entries in the log.
    pub async fn audit_count(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Records a signed tree head; a head for a size already signed is left as it is.
    pub async fn insert_tree_head(&self, head: &TreeHeadRow) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO audit_tree_heads (tree_size, root_hash, timestamp, key_id, signature)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(head.tree_size)
        .bind(&head.root_hash)
        .bind(head.timestamp)
        .bind(&head.key_id)
        .bind(&head.signature)
        .execute(&self.pool)
        .await;
        match result.map_err(StoreError::from) {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The latest signed tree head.
    pub async fn latest_tree_head(&self) -> StoreResult<Option<TreeHeadRow>> {
        let row = sqlx::query(
            "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_tree_heads
             ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tree_head_of).transpose()
    }

    /// Signed tree heads with size at least `from`, in order, at most `limit`.
    pub async fn tree_heads(&self, from: i64, limit: i64) -> StoreResult<Vec<TreeHeadRow>> {
        let rows = sqlx::query(
            "SELECT tree_size, root_hash, timestamp, key_id, signature FROM audit_tree_heads
             WHERE tree_size >= $1 ORDER BY tree_size LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tree_head_of).collect()
    }

    /// Runs one statement as is; for tests that check what the database refuses.
    #[doc(hidden)]
    pub async fn raw_execute(&self, sql: &'static str) -> StoreResult<u64> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }

    /// Index below which entry bodies have been purged.
    pub async fn purged_before(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT purged_before FROM audit_retention WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Removes the bodies of entries recorded before `before_ms` (Unix milliseconds) that
    /// are covered by a signed tree head; leaf hashes, indices and subjects stay. Returns
    /// the number of bodies removed.
    pub async fn purge_log(&self, before_ms: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log
             WHERE at < $1 AND idx < (SELECT COALESCE(MAX(tree_size), 0) FROM audit_tree_heads)",
        )
        .bind(before_ms)
        .fetch_one(&mut *tx)
        .await?;
        let horizon: i64 = row.try_get(0)?;
        sqlx::query(
            "UPDATE audit_retention SET purged_before = $1 WHERE id = 1 AND purged_before < $1",
        )
        .bind(horizon)
        .execute(&mut *tx)
        .await?;
        let done =
            sqlx::query("UPDATE audit_log SET entry = NULL WHERE idx < $1 AND entry IS NOT NULL")
                .bind(horizon)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
