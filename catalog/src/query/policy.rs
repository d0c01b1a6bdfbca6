//! Grants and the policy they impose inside the query plan.
//!
//! A department's SQL never sees a base library directly. Each granted library is
//! registered under its own name as a [`PolicyTable`]: its schema holds only the granted
//! columns, and its scan reads the snapshot, applies the grant's row filter, then the column
//! masks, and ends in a [`PolicyBarrier`] that no optimiser rule can push a predicate
//! through. Whatever the user's query does above it — joins, subqueries, window functions,
//! casts that fail — it only ever evaluates expressions on rows the grant lets through and
//! on values already masked. Predicates on unmasked columns are passed to the Parquet reader
//! as pruning hints only (statistics, page index, bloom filters), which skips data without
//! evaluating the user's expression on any hidden row.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, ExprSchemable, TableProviderFilterPushDown, col, lit, when};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use serde::{Deserialize, Serialize};
use tongban_schemas::BaseLibrary;

use super::QueryError;
use super::lookup::KeyLookupExec;
use super::snapshot::SnapshotTable;

/// How a column's values are hidden from the consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mask {
    /// Every value becomes NULL.
    Redact,
    /// The first `chars` characters are kept, the rest becomes `****` (the length is hidden
    /// too). Addresses keep their province, city and county this way.
    KeepPrefix {
        /// Characters kept.
        chars: u32,
    },
    /// The first `prefix` and last `suffix` characters are kept around `****`, as on
    /// printed ID numbers.
    KeepEnds {
        /// Leading characters kept.
        prefix: u32,
        /// Trailing characters kept.
        suffix: u32,
    },
}

impl Mask {
    /// The masking expression over `column` of type `data_type`.
    fn expr(&self, column: &str, data_type: &DataType) -> DfResult<Expr> {
        use datafusion::functions::expr_fn::concat;
        use datafusion::functions::unicode::expr_fn::{left, right};
        let c = col(datafusion::common::Column::from_name(column));
        let masked = match self {
            Mask::Redact => return Ok(lit(ScalarValue::try_from(data_type)?)),
            Mask::KeepPrefix { chars } => {
                concat(vec![left(c.clone(), lit(i64::from(*chars))), lit("****")])
            }
            Mask::KeepEnds { prefix, suffix } => concat(vec![
                left(c.clone(), lit(i64::from(*prefix))),
                lit("****"),
                right(c.clone(), lit(i64::from(*suffix))),
            ]),
        };
        if *data_type != DataType::Utf8 {
            return Err(DataFusionError::Plan(format!(
                "mask on non-text column {column}"
            )));
        }
        when(c.is_null(), lit(ScalarValue::Utf8(None))).otherwise(masked)
    }
}

/// Where a grant came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// Implied for every consumer by items shared unconditionally.
    Unconditional,
    /// A provider approved a consumer's request.
    Approved,
    /// Set by an administrator (demo and migration seeding).
    Administrative,
}

/// What a consumer department may read of one resource, for which matters, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Store id (0 for implied grants).
    pub id: i64,
    /// Consumer department code.
    pub consumer: String,
    /// Resource code.
    pub resource: String,
    /// The base library the resource holds.
    pub library: BaseLibrary,
    /// Columns the consumer may read.
    pub columns: Vec<String>,
    /// SQL predicate over the library's columns; only rows where it is true are visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filter: Option<String>,
    /// Masks by column.
    #[serde(default)]
    pub masks: BTreeMap<String, Mask>,
    /// Matter codes the grant serves; empty means any known matter.
    #[serde(default)]
    pub matters: Vec<String>,
    /// The legal basis of the sharing.
    pub legal_basis: String,
    /// Start of validity, Unix milliseconds.
    pub valid_from: i64,
    /// End of validity (exclusive), Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<i64>,
    /// Most rows one query may return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_cap: Option<u64>,
    /// Where it came from.
    pub source: GrantSource,
}

impl Grant {
    /// Whether the grant serves `matter` at time `now` (Unix milliseconds).
    pub fn serves(&self, matter: &str, now: i64) -> bool {
        let in_window = self.valid_from <= now && self.valid_to.is_none_or(|to| now < to);
        in_window && (self.matters.is_empty() || self.matters.iter().any(|m| m == matter))
    }

    /// Checks the grant against the library schema: columns exist, masks apply to granted
    /// text columns.
    pub fn check(&self) -> Result<(), String> {
        let schema = self.library.schema();
        if self.columns.is_empty() {
            return Err("a grant names at least one column".into());
        }
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            if schema.field_with_name(c).is_err() {
                return Err(format!("`{c}` is not a column of {}", self.library));
            }
            if !seen.insert(c) {
                return Err(format!("`{c}` is listed twice"));
            }
        }
        for (c, mask) in &self.masks {
            let field = schema
                .field_with_name(c)
                .map_err(|_| format!("mask on unknown column `{c}`"))?;
            if !self.columns.contains(c) {
                return Err(format!("mask on `{c}`, which is not granted"));
            }
            if *mask != Mask::Redact && field.data_type() != &DataType::Utf8 {
                return Err(format!("only text columns can be partly masked (`{c}`)"));
            }
        }
        if let Some(to) = self.valid_to
            && to <= self.valid_from
        {
            return Err("the grant ends before it starts".into());
        }
        if self.legal_basis.trim().is_empty() {
            return Err("a grant states its legal basis".into());
        }
        Ok(())
    }
}

/// Picks the grant that governs `consumer`'s access to `library` for `matter` at `now`:
/// an explicit (approved or administrative) grant wins over the unconditional one; among
/// explicit grants the newest wins.
pub fn resolve<'a>(
    grants: &'a [Grant],
    consumer: &str,
    library: BaseLibrary,
    matter: &str,
    now: i64,
) -> Option<&'a Grant> {
    grants
        .iter()
        .filter(|g| g.consumer == consumer && g.library == library && g.serves(matter, now))
        .max_by_key(|g| (g.source != GrantSource::Unconditional, g.id))
}

/// A base library as one consumer may see it under one grant.
#[derive(Debug)]
pub struct PolicyTable {
    raw: Arc<SnapshotTable>,
    raw_schema: SchemaRef,
    schema: SchemaRef,
    grant: Grant,
    row_filter: Option<Expr>,
    exact_lookups: bool,
}

impl PolicyTable {
    /// Wraps a snapshot's listing table in `grant`'s policy. `row_filter` is the grant's
    /// predicate already parsed against the raw schema. With `exact_lookups`, equalities on
    /// the library key are answered by a [`KeyLookupExec`] instead of a filtered scan.
    pub fn new(
        raw: Arc<SnapshotTable>,
        grant: Grant,
        row_filter: Option<Expr>,
        exact_lookups: bool,
    ) -> Result<PolicyTable, QueryError> {
        let raw_schema = raw.schema();
        let fields: Vec<Field> = grant
            .columns
            .iter()
            .map(|c| {
                raw_schema
                    .field_with_name(c)
                    .map(|f| match grant.masks.get(c) {
                        // A masked column is what the mask expression yields: nullable and
                        // without the item's metadata. Declaring anything else makes the
                        // logical schema disagree with the scan's, which the planner rejects
                        // for aggregates and set operations over the column.
                        Some(_) => f
                            .clone()
                            .with_nullable(true)
                            .with_metadata(Default::default()),
                        None => f.clone(),
                    })
                    .map_err(|_| {
                        QueryError::Internal(format!(
                            "granted column {c} is missing from the snapshot"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            raw_schema.metadata().clone(),
        ));
        Ok(PolicyTable {
            raw,
            raw_schema,
            schema,
            grant,
            row_filter,
            exact_lookups,
        })
    }

    /// The keys `filter` pins the library key to, when the scan can take it over: lookups
    /// are on, and the key column is granted unmasked, so its value is the same on both
    /// sides of the policy and filtering before the row filter selects the same rows.
    fn exact_keys(&self, filter: &Expr) -> Option<Vec<Vec<u8>>> {
        if !self.exact_lookups || !self.pruning_safe(filter) {
            return None;
        }
        super::snapshot::keys_of(filter, self.grant.library.key_column())
    }

    /// Filters that may guide pruning of the raw data: they touch only granted columns
    /// that are not masked, so their value is the same before and after the policy.
    fn pruning_safe(&self, filter: &Expr) -> bool {
        filter.column_refs().iter().all(|c| {
            self.grant.columns.contains(&c.name) && !self.grant.masks.contains_key(&c.name)
        })
    }
}

#[async_trait]
impl TableProvider for PolicyTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Exact for a key equality the lookup answers exactly; Inexact for the rest: the
        // filter is kept above the barrier, and may also guide pruning below it.
        Ok(filters
            .iter()
            .map(|f| match self.exact_keys(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let wanted: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        // Raw columns to read: the projected ones, plus those the row filter needs.
        let mut raw_names: BTreeSet<String> = wanted
            .iter()
            .map(|i| self.schema.field(*i).name().clone())
            .collect();
        if let Some(filter) = &self.row_filter {
            raw_names.extend(filter.column_refs().into_iter().map(|c| c.name.clone()));
        }
        let raw_projection: Vec<usize> = self
            .raw_schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| raw_names.contains(f.name()))
            .map(|(i, _)| i)
            .collect();
        let hints: Vec<Expr> = filters
            .iter()
            .filter(|f| self.pruning_safe(f))
            .cloned()
            .collect();
        // A limit may only travel below the policy when no rows are hidden.
        let raw_limit = if self.row_filter.is_none() {
            limit
        } else {
            None
        };
        let key_sets: Vec<Vec<Vec<u8>>> =
            filters.iter().filter_map(|f| self.exact_keys(f)).collect();
        let mut plan: Arc<dyn ExecutionPlan> = if key_sets.is_empty() {
            let plan = self
                .raw
                .scan(state, &raw_projection, &hints, raw_limit)
                .await?;
            if hints.is_empty() {
                plan
            } else {
                with_pruning_predicate(plan, &hints, &self.raw_schema, state)?
            }
        } else {
            Arc::new(KeyLookupExec::new(
                Arc::clone(&self.raw),
                raw_projection,
                key_sets,
                raw_limit,
            )?)
        };

        let scanned_schema = plan.schema();
        let df_schema = DFSchema::try_from(scanned_schema.as_ref().clone())?;
        if let Some(filter) = &self.row_filter {
            let predicate = state.create_physical_expr(filter.clone(), &df_schema)?;
            plan = Arc::new(FilterExec::try_new(predicate, plan)?);
        }
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(wanted.len());
        for i in &wanted {
            let field = self.schema.field(*i);
            let name = field.name();
            let logical = match self.grant.masks.get(name) {
                Some(mask) => mask.expr(name, field.data_type())?,
                None => col(datafusion::common::Column::from_name(name)),
            };
            let logical = logical.cast_to(field.data_type(), &df_schema)?;
            exprs.push((
                state.create_physical_expr(logical, &df_schema)?,
                name.clone(),
            ));
        }
        let projected: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(exprs, plan)?);
        Ok(Arc::new(PolicyBarrier::new(projected, self.grant.library)))
    }
}

/// Gives the Parquet scan `hints` as its pruning predicate. With row-level pushdown off,
/// the reader uses a predicate only on statistics, page indexes and bloom filters: it skips
/// row groups and pages that cannot match and never evaluates the expression on a row, so a
/// hint can make a lookup touch one page without seeing rows the policy hides. The optimiser
/// cannot do this itself because the barrier above stops its filter pushdown.
fn with_pruning_predicate(
    plan: Arc<dyn ExecutionPlan>,
    hints: &[Expr],
    raw_schema: &SchemaRef,
    state: &dyn Session,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
    use datafusion::datasource::source::DataSourceExec;
    let Some(exec) = (plan.as_ref() as &dyn std::any::Any).downcast_ref::<DataSourceExec>() else {
        return Ok(plan);
    };
    let Some((config, source)) = exec.downcast_to_file_source::<ParquetSource>() else {
        return Ok(plan);
    };
    let Some(conjunction) = datafusion::logical_expr::utils::conjunction(hints.to_vec()) else {
        return Ok(plan);
    };
    // The file schema is unqualified; so must the predicate's columns be.
    let unqualified = conjunction
        .transform_up(|e| {
            Ok(match e {
                Expr::Column(c) => {
                    Transformed::yes(col(datafusion::common::Column::from_name(c.name)))
                }
                other => Transformed::no(other),
            })
        })?
        .data;
    let df_schema = DFSchema::try_from(raw_schema.as_ref().clone())?;
    let predicate = state.create_physical_expr(unqualified, &df_schema)?;
    let source = Arc::new(source.with_predicate(predicate));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(source)
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// The end of a policy subtree. It passes batches through unchanged but accepts no filter,
/// projection or limit from above, so the optimiser cannot move user expressions below the
/// row filter and the masks.
#[derive(Debug)]
pub struct PolicyBarrier {
    input: Arc<dyn ExecutionPlan>,
    library: BaseLibrary,
    properties: Arc<PlanProperties>,
}

impl PolicyBarrier {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, library: BaseLibrary) -> Self {
        let properties = Arc::clone(input.properties());
        PolicyBarrier {
            input,
            library,
            properties,
        }
    }

    /// The library whose policy ends here.
    pub fn library(&self) -> BaseLibrary {
        self.library
    }
}

impl DisplayAs for PolicyBarrier {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyBarrier: {}", self.library)
    }
}

impl ExecutionPlan for PolicyBarrier {
    fn name(&self) -> &str {
        "PolicyBarrier"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> DfResult<Arc<Statistics>> {
        // Only an estimate of the row count crosses the barrier (so that a lookup of a few
        // rows is not spread over partitions); nothing that would let the optimiser answer
        // from statistics instead of from the policy's rows.
        let mut statistics = Statistics::new_unknown(&self.schema());
        if let Some(input) = input_stats.first() {
            statistics.num_rows = input.num_rows.to_inexact();
        }
        Ok(Arc::new(statistics))
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "PolicyBarrier has exactly one child".into(),
            ));
        }
        Ok(Arc::new(PolicyBarrier::new(
            children.swap_remove(0),
            self.library,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: i64, source: GrantSource, matters: &[&str]) -> Grant {
        Grant {
            id,
            consumer: "approval-bureau".into(),
            resource: "101001/000001".into(),
            library: BaseLibrary::Population,
            columns: vec![
                "citizen_id".into(),
                "name".into(),
                "household_address".into(),
            ],
            row_filter: None,
            masks: BTreeMap::from([("household_address".into(), Mask::KeepPrefix { chars: 6 })]),
            matters: matters.iter().map(|m| m.to_string()).collect(),
            legal_basis: "《优化营商环境条例》".into(),
            valid_from: 0,
            valid_to: Some(1_000),
            row_cap: None,
            source,
        }
    }

    #[test]
    fn explicit_grants_win_and_windows_and_matters_apply() {
        let grants = vec![
            grant(0, GrantSource::Unconditional, &[]),
            grant(5, GrantSource::Approved, &["enterprise-opening"]),
            grant(9, GrantSource::Administrative, &["food-business-licence"]),
        ];
        let pick = |matter: &str, now: i64| {
            resolve(
                &grants,
                "approval-bureau",
                BaseLibrary::Population,
                matter,
                now,
            )
            .map(|g| g.id)
        };
        assert_eq!(pick("enterprise-opening", 10), Some(5));
        assert_eq!(pick("food-business-licence", 10), Some(9));
        assert_eq!(
            pick("birth-registration", 10),
            Some(0),
            "unconditional serves any matter"
        );
        assert_eq!(
            pick("enterprise-opening", 1_000),
            None,
            "validity ends exclusive"
        );
        assert_eq!(
            resolve(
                &grants,
                "civil-affairs",
                BaseLibrary::Population,
                "enterprise-opening",
                10
            ),
            None
        );
    }

    #[test]
    fn grants_are_checked_against_the_schema() {
        assert!(grant(1, GrantSource::Approved, &[]).check().is_ok());
        let mut g = grant(1, GrantSource::Approved, &[]);
        g.columns.push("shoe_size".into());
        assert!(g.check().is_err());
        let mut g = grant(1, GrantSource::Approved, &[]);
        g.masks
            .insert("birth_date".into(), Mask::KeepPrefix { chars: 4 });
        assert!(g.check().is_err(), "mask on a column not granted");
        let mut g = grant(1, GrantSource::Approved, &[]);
        g.valid_to = Some(0);
        assert!(g.check().is_err());
    }
}
