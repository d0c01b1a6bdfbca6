//! Materials resolutions: the signed evidence of each, and per-material outcomes for the
//! "materials reduced" statistics.

use sqlx::Row;

use super::{Store, StoreResult};

/// Inserts a resolution and its materials on `conn`, inside the caller's transaction.
pub(super) async fn insert_resolution_in(
    conn: &mut sqlx::AnyConnection,
    r: &ResolutionRecord,
    materials: &[MaterialOutcome],
) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO resolutions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(&r.id)
    .bind(&r.matter)
    .bind(&r.department)
    .bind(&r.case_id)
    .bind(&r.audit_id)
    .bind(r.at_ms)
    .bind(r.supplied)
    .bind(r.must_submit)
    .bind(&r.evidence)
    .execute(&mut *conn)
    .await?;
    for m in materials {
        sqlx::query(
            "INSERT INTO resolution_materials (resolution_id, material, outcome, reason)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.id)
        .bind(&m.material)
        .bind(&m.outcome)
        .bind(&m.reason)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A resolution as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRecord {
    /// Resolution id (UUID v7).
    pub id: String,
    /// Matter code.
    pub matter: String,
    /// The department that resolved it.
    pub department: String,
    /// Case number.
    pub case_id: String,
    /// The audit entry of the resolution.
    pub audit_id: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Materials the hub supplied.
    pub supplied: i64,
    /// Materials the applicant must still submit.
    pub must_submit: i64,
    /// The signed evidence (compact JWS).
    pub evidence: String,
}

/// One material's outcome in a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialOutcome {
    /// Material code.
    pub material: String,
    /// `supplied` or `must_submit`.
    pub outcome: String,
    /// The reason code when it must be submitted.
    pub reason: Option<String>,
}

/// Counts of one material's outcomes over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialCount {
    /// Material code.
    pub material: String,
    /// `supplied` or `must_submit`.
    pub outcome: String,
    /// Reason code, for `must_submit`.
    pub reason: Option<String>,
    /// How many.
    pub count: i64,
}

const COLUMNS: &str =
    "id, matter, department_code, case_id, audit_id, at_ms, supplied, must_submit, evidence";

impl Store {
    /// Records a resolution and its materials in one transaction.
    pub async fn insert_resolution(
        &self,
        r: &ResolutionRecord,
        materials: &[MaterialOutcome],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        insert_resolution_in(&mut tx, r, materials).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A resolution by id.
    pub async fn resolution(&self, id: &str) -> StoreResult<ResolutionRecord> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM resolutions WHERE id = $1"
        )))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ResolutionRecord {
            id: r.try_get(0)?,
            matter: r.try_get(1)?,
            department: r.try_get(2)?,
            case_id: r.try_get(3)?,
            audit_id: r.try_get(4)?,
            at_ms: r.try_get(5)?,
            supplied: r.try_get(6)?,
            must_submit: r.try_get(7)?,
            evidence: r.try_get(8)?,
        })
    }

    /// Resolutions of `matter` in `[from_ms, to_ms)`, and the outcome counts of its
    /// materials over them.
    pub async fn matter_stats(
        &self,
        matter: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<(i64, Vec<MaterialCount>)> {
        let resolutions: i64 = sqlx::query(
            "SELECT COUNT(*) FROM resolutions WHERE matter = $1 AND at_ms >= $2 AND at_ms < $3",
        )
        .bind(matter)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        let rows = sqlx::query(
            "SELECT m.material, m.outcome, COALESCE(m.reason, ''), COUNT(*)
             FROM resolution_materials m JOIN resolutions r ON r.id = m.resolution_id
             WHERE r.matter = $1 AND r.at_ms >= $2 AND r.at_ms < $3
             GROUP BY m.material, m.outcome, COALESCE(m.reason, '')
             ORDER BY m.material, m.outcome, COALESCE(m.reason, '')",
        )
        .bind(matter)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        for r in rows {
            let reason: String = r.try_get(2)?;
            counts.push(MaterialCount {
                material: r.try_get(0)?,
                outcome: r.try_get(1)?,
                reason: (!reason.is_empty()).then_some(reason),
                count: r.try_get(3)?,
            });
        }
        Ok((resolutions, counts))
    }
}
