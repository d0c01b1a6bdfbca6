//! Exact lookups by library key, read straight from the snapshot's pages.
//!
//! Most queries departments send are "the record of this citizen ID / this USCC". A general
//! Parquet scan answers them by pruning row groups and pages and then filtering what it
//! decoded; that costs more than the lookup itself (an asynchronous open per file, a bloom
//! filter read, a page of every column, a filter over a few hundred rows). A
//! [`KeyLookupExec`] instead uses what the snapshot already holds in memory (each file's
//! footer with its page index) to find the one page of the key column that can hold each
//! key, reads that page to find the exact rows, and then reads just those rows of the other
//! columns.
//!
//! The node is exact: it returns a row only if its key equals one of the requested keys (in
//! every key set it was given), compared on the stored values, never on statistics. That is
//! what lets the policy table declare a key equality handled by the scan. It sits where the
//! raw scan sits, below the grant's row filter, masks and [`super::policy::PolicyBarrier`], so
//! it changes how rows are found, never which rows the caller may see.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, SchemaRef};
use bytes::Bytes;
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::reader::{ChunkReader, Length};

use super::snapshot::SnapshotTable;

/// A snapshot file opened once, read with positioned reads so that concurrent lookups
/// never share a file offset.
#[derive(Debug, Clone)]
pub(crate) struct PositionedFile(pub(crate) Arc<File>);

impl Length for PositionedFile {
    fn len(&self) -> u64 {
        self.0.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

impl ChunkReader for PositionedFile {
    type T = PositionedRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<PositionedRead> {
        Ok(PositionedRead {
            file: Arc::clone(&self.0),
            at: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buffer = vec![0; length];
        self.0.read_exact_at(&mut buffer, start)?;
        Ok(Bytes::from(buffer))
    }
}

/// A reader at its own position in a [`PositionedFile`].
pub(crate) struct PositionedRead {
    file: Arc<File>,
    at: u64,
}

impl Read for PositionedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// What a lookup needs of one snapshot file besides its key ranges.
#[derive(Debug, Clone)]
pub(crate) struct LookupFile {
    pub(crate) file: PositionedFile,
    pub(crate) metadata: ArrowReaderMetadata,
    /// Leaf index of the key column in the file's Parquet schema.
    pub(crate) key_leaf: usize,
}

impl LookupFile {
    /// Rows of row group `rg` whose key is in `keys` (sorted), as row indices within the
    /// row group, ascending.
    fn matching_rows(&self, rg: usize, keys: &[Vec<u8>]) -> DfResult<Vec<usize>> {
        let meta = self.metadata.metadata();
        let rows_in_group = usize::try_from(meta.row_group(rg).num_rows()).unwrap_or(0);
        let candidates = self.candidate_pages(rg, keys, rows_in_group);
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let schema = meta.file_metadata().schema_descr();
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.file.clone(),
            self.metadata.clone(),
        )
        .with_row_groups(vec![rg])
        .with_projection(ProjectionMask::leaves(schema, [self.key_leaf]))
        .with_row_selection(RowSelection::from_consecutive_ranges(
            candidates.iter().cloned(),
            rows_in_group,
        ))
        .with_batch_size(8192)
        .build()?;
        // Selected rows come back in order; map their positions back to row indices.
        let mut positions = candidates.into_iter().flatten();
        let mut found = Vec::new();
        for batch in reader {
            let batch = batch?;
            let column = batch.column(0);
            for i in 0..column.len() {
                let row = positions.next().ok_or_else(|| {
                    DataFusionError::Internal("lookup read more rows than it selected".into())
                })?;
                if let Some(value) = bytes_at(column, i)?
                    && keys.binary_search_by(|k| k.as_slice().cmp(value)).is_ok()
                {
                    found.push(row);
                }
            }
        }
        Ok(found)
    }

    /// Row ranges of the key column's pages that may hold one of `keys`, by the page index;
    /// the whole row group when the file has none.
    fn candidate_pages(&self, rg: usize, keys: &[Vec<u8>], rows: usize) -> Vec<Range<usize>> {
        let meta = self.metadata.metadata();
        let index = meta
            .column_index()
            .and_then(|c| c.get(rg))
            .and_then(|c| c.get(self.key_leaf));
        let locations = meta
            .offset_index()
            .and_then(|o| o.get(rg))
            .and_then(|o| o.get(self.key_leaf))
            .map(|o| o.page_locations());
        let (Some(ColumnIndexMetaData::BYTE_ARRAY(index)), Some(locations)) = (index, locations)
        else {
            return std::iter::once(0..rows).collect();
        };
        let pages = locations.len();
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for page in 0..pages {
            let start = usize::try_from(locations[page].first_row_index).unwrap_or(0);
            let end = locations
                .get(page + 1)
                .map_or(rows, |l| usize::try_from(l.first_row_index).unwrap_or(rows));
            let min = index.min_value(page);
            let max = index.max_value(page);
            // A page of nulls holds no key; missing bounds mean "maybe".
            let may_hold = match (min, max) {
                (Some(min), Some(max)) => keys
                    .iter()
                    .any(|k| min <= k.as_slice() && k.as_slice() <= max),
                _ => false,
            };
            if !may_hold || start >= end {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => ranges.push(start..end),
            }
        }
        ranges
    }

    /// Reads `rows` (ascending row indices of row group `rg`) of the root columns `roots`
    /// (ascending).
    fn read_rows(&self, rg: usize, rows: &[usize], roots: &[usize]) -> DfResult<RecordBatch> {
        let meta = self.metadata.metadata();
        let rows_in_group = usize::try_from(meta.row_group(rg).num_rows()).unwrap_or(0);
        let schema = meta.file_metadata().schema_descr();
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for &row in rows {
            match ranges.last_mut() {
                Some(last) if last.end == row => last.end = row + 1,
                _ => ranges.push(row..row + 1),
            }
        }
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.file.clone(),
            self.metadata.clone(),
        )
        .with_row_groups(vec![rg])
        .with_projection(ProjectionMask::roots(schema, roots.iter().copied()))
        .with_row_selection(RowSelection::from_consecutive_ranges(
            ranges.into_iter(),
            rows_in_group,
        ))
        .with_batch_size(rows.len().max(1))
        .build()?;
        let schema = arrow::array::RecordBatchReader::schema(&reader);
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        Ok(arrow::compute::concat_batches(&schema, &batches)?)
    }
}

/// The value at `i` of a text or binary key column as bytes; `None` when null.
fn bytes_at(column: &ArrayRef, i: usize) -> DfResult<Option<&[u8]>> {
    if column.is_null(i) {
        return Ok(None);
    }
    Ok(Some(match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(i).as_bytes(),
        DataType::LargeUtf8 => column.as_string::<i64>().value(i).as_bytes(),
        DataType::Utf8View => column.as_string_view().value(i).as_bytes(),
        DataType::Binary => column.as_binary::<i32>().value(i),
        DataType::LargeBinary => column.as_binary::<i64>().value(i),
        DataType::BinaryView => column.as_binary_view().value(i),
        other => {
            return Err(DataFusionError::Internal(format!(
                "key column of type {other} cannot be looked up"
            )));
        }
    }))
}

/// The keys every one of `sets` contains, sorted and without duplicates.
pub(crate) fn intersect(sets: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let Some((first, rest)) = sets.split_first() else {
        return Vec::new();
    };
    let rest: Vec<BTreeSet<&[u8]>> = rest
        .iter()
        .map(|s| s.iter().map(Vec::as_slice).collect())
        .collect();
    first
        .iter()
        .filter(|k| rest.iter().all(|s| s.contains(k.as_slice())))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl SnapshotTable {
    /// The rows whose key is one of `keys` (sorted, distinct), columns `projection` of the
    /// raw schema, at most `limit` of them. Reads the key column's page for each key, then
    /// only the matching rows of the other columns.
    pub(crate) fn lookup(
        &self,
        projection: &[usize],
        keys: &[Vec<u8>],
        limit: Option<usize>,
    ) -> DfResult<RecordBatch> {
        let schema = Arc::new(self.schema().project(projection)?);
        let roots: Vec<usize> = projection
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut batches = Vec::new();
        let mut total = 0;
        'files: for (groups, lookup) in self.lookup_files() {
            for (rg, range) in groups.iter().enumerate() {
                if limit.is_some_and(|l| total >= l) {
                    break 'files;
                }
                let wanted: Vec<Vec<u8>> = keys
                    .iter()
                    .filter(|k| range.may_contain(k))
                    .cloned()
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                let mut rows = lookup.matching_rows(rg, &wanted)?;
                if let Some(l) = limit {
                    rows.truncate(l - total);
                }
                if rows.is_empty() {
                    continue;
                }
                total += rows.len();
                let batch = if roots.is_empty() {
                    RecordBatch::try_new_with_options(
                        Arc::new(arrow::datatypes::Schema::empty()),
                        vec![],
                        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
                    )?
                } else {
                    lookup.read_rows(rg, &rows, &roots)?
                };
                batches.push(self.conform(&schema, projection, &batch, rows.len())?);
            }
        }
        if batches.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        Ok(arrow::compute::concat_batches(&schema, &batches)?)
    }

    /// `batch` (columns by name, in file order and file types) as `schema`: the projection's
    /// order and the library's declared types.
    fn conform(
        &self,
        schema: &SchemaRef,
        projection: &[usize],
        batch: &RecordBatch,
        rows: usize,
    ) -> DfResult<RecordBatch> {
        let raw = self.schema();
        let mut columns = Vec::with_capacity(projection.len());
        for (i, &p) in projection.iter().enumerate() {
            let name = raw.field(p).name();
            let column = batch.column_by_name(name).ok_or_else(|| {
                DataFusionError::Internal(format!("snapshot file has no column {name}"))
            })?;
            let wanted = schema.field(i).data_type();
            columns.push(if column.data_type() == wanted {
                Arc::clone(column)
            } else {
                arrow::compute::cast(column, wanted)?
            });
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?)
    }
}

/// Exact lookup of rows by library key; see the module documentation.
#[derive(Debug)]
pub struct KeyLookupExec {
    table: Arc<SnapshotTable>,
    projection: Vec<usize>,
    /// One set per key predicate the scan took over; a row must match every one.
    key_sets: Vec<Vec<Vec<u8>>>,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl KeyLookupExec {
    pub(crate) fn new(
        table: Arc<SnapshotTable>,
        projection: Vec<usize>,
        key_sets: Vec<Vec<Vec<u8>>>,
        limit: Option<usize>,
    ) -> DfResult<Self> {
        let schema = Arc::new(table.schema().project(&projection)?);
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(KeyLookupExec {
            table,
            projection,
            key_sets,
            limit,
            properties,
        })
    }

    /// The key sets, one per predicate taken over.
    pub fn key_sets(&self) -> &[Vec<Vec<u8>>] {
        &self.key_sets
    }

    /// The same lookup for other keys (a cached plan run with a new statement's values).
    pub fn with_key_sets(&self, key_sets: Vec<Vec<Vec<u8>>>) -> DfResult<KeyLookupExec> {
        KeyLookupExec::new(
            Arc::clone(&self.table),
            self.projection.clone(),
            key_sets,
            self.limit,
        )
    }
}

impl DisplayAs for KeyLookupExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = self.table.schema();
        let columns: Vec<&str> = self
            .projection
            .iter()
            .map(|i| schema.field(*i).name().as_str())
            .collect();
        write!(
            f,
            "KeyLookupExec: {} v{} by {}, key sets of {:?} keys, columns [{}]",
            self.table.library(),
            self.table.version(),
            self.table.library().key_column(),
            self.key_sets.iter().map(Vec::len).collect::<Vec<_>>(),
            columns.join(", ")
        )?;
        if let Some(limit) = self.limit {
            write!(f, ", limit {limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for KeyLookupExec {
    fn name(&self) -> &str {
        "KeyLookupExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> DfResult<Arc<Statistics>> {
        // The key is unique, so at most one row per key: small enough that the optimiser
        // does not spread a lookup over partitions.
        let most = self
            .key_sets
            .iter()
            .map(Vec::len)
            .min()
            .unwrap_or(0)
            .min(self.limit.unwrap_or(usize::MAX));
        let mut statistics = Statistics::new_unknown(&self.schema());
        statistics.num_rows = Precision::Inexact(most);
        Ok(Arc::new(statistics))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return Err(DataFusionError::Internal(
                "KeyLookupExec has no children".into(),
            ));
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "KeyLookupExec has one partition, not {partition}"
            )));
        }
        let table = Arc::clone(&self.table);
        let projection = self.projection.clone();
        let keys = intersect(&self.key_sets);
        let limit = self.limit;
        let schema = self.schema();
        // Page reads are positioned reads of a few kilobytes, usually from the page cache;
        // on a blocking thread all the same, so a cold disk never stalls the runtime.
        let batch = futures::stream::once(async move {
            tokio::task::spawn_blocking(move || table.lookup(&projection, &keys, limit))
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batch)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    use futures::StreamExt;
    use tongban_schemas::BaseLibrary;

    use super::*;
    use crate::query::{Access, Grant, GrantSource, Mask, QueryEngine, QueryLimits};

    /// A small population, several files of several row groups each.
    fn population(dir: &Path) -> std::path::PathBuf {
        let mut config = tongban_schemas::generate::GeneratorConfig::new(
            11,
            3000,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
        );
        config.rows_per_file = 700;
        let report = tongban_schemas::generate::generate(&config, dir, &|_| {}).expect("generated");
        report.library(BaseLibrary::Population).files[0]
            .parent()
            .expect("a directory")
            .to_path_buf()
    }

    /// A grant that hides people who are not 正常 and masks two columns.
    fn governed() -> Access {
        let library = BaseLibrary::Population;
        Access {
            grants: vec![Grant {
                id: 1,
                consumer: "c".into(),
                resource: "r".into(),
                library,
                columns: [
                    "citizen_id",
                    "name",
                    "household_address",
                    "person_status",
                    "spouse_citizen_id",
                ]
                .map(str::to_owned)
                .to_vec(),
                row_filter: Some("person_status = '正常'".into()),
                masks: BTreeMap::from([
                    ("household_address".into(), Mask::KeepPrefix { chars: 6 }),
                    (
                        "name".into(),
                        Mask::KeepEnds {
                            prefix: 1,
                            suffix: 0,
                        },
                    ),
                ]),
                matters: vec![],
                legal_basis: "test".into(),
                valid_from: 0,
                valid_to: None,
                row_cap: None,
                source: GrantSource::Unconditional,
            }],
            explain_allowed: false,
        }
    }

    async fn rows(engine: &QueryEngine, sql: &str, access: &Access) -> Vec<String> {
        let planned = engine.plan(sql, access).await.expect("plans");
        let mut stream = planned.execute().await.expect("runs");
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.expect("batch"));
        }
        let mut lines: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .map(|i| {
                        b.columns()
                            .iter()
                            .map(|c| array_value_to_string(c, i).expect("printable"))
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        lines.sort();
        lines
    }

    async fn all_keys(dir: &Path) -> Vec<(String, String)> {
        let plain = SessionContext::new();
        plain
            .register_parquet(
                "population",
                dir.to_str().expect("utf-8 path"),
                ParquetReadOptions::default(),
            )
            .await
            .expect("plain table");
        let batches = plain
            .sql(
                "SELECT CAST(citizen_id AS VARCHAR), CAST(person_status AS VARCHAR) \
                 FROM population ORDER BY 1",
            )
            .await
            .expect("sql")
            .collect()
            .await
            .expect("rows");
        batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .map(|i| {
                        let text = |c: usize| array_value_to_string(b.column(c), i).expect("text");
                        (text(0), text(1))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Lookups answered from a reused plan are exactly what planning each statement afresh
    /// answers, under a row filter and masks, for present, hidden and absent keys, equality,
    /// IN lists and ORs; and statements whose other literals differ are not served from a
    /// plan made for different ones.
    #[tokio::test]
    async fn reused_lookup_plans_answer_what_fresh_plans_answer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let snapshot = population(dir.path());
        let keys = all_keys(&snapshot).await;
        let hidden = keys
            .iter()
            .enumerate()
            .find(|(i, (_, status))| status != "正常" && i % 131 != 0)
            .map(|(_, k)| k)
            .expect("someone who is not 正常");

        let cached = QueryEngine::new(&QueryLimits::default()).expect("engine");
        cached
            .set_snapshot(BaseLibrary::Population, 1, &snapshot)
            .await
            .expect("snapshot");
        let fresh = QueryEngine::new(&QueryLimits::default()).expect("engine");
        let access = governed();

        let mut statements = Vec::new();
        for (id, _) in keys.iter().step_by(131) {
            statements.push(format!(
                "SELECT citizen_id, name, household_address FROM population WHERE citizen_id = '{id}'"
            ));
            statements.push(format!(
                "SELECT name FROM population WHERE citizen_id IN ('{id}', '{}', '000000000000000000')",
                keys[keys.len() - 1].0
            ));
            statements.push(format!(
                "SELECT citizen_id FROM population WHERE citizen_id = '{id}' OR citizen_id = '{}'",
                hidden.0
            ));
            statements.push(format!(
                "SELECT citizen_id, name FROM population WHERE citizen_id = '{id}' AND name LIKE '张%'"
            ));
            statements.push(format!(
                "SELECT citizen_id, name FROM population WHERE citizen_id = '{id}' AND name LIKE '李%'"
            ));
        }
        statements.push(format!(
            "SELECT citizen_id, person_status FROM population WHERE citizen_id = '{}'",
            hidden.0
        ));
        statements.push(
            "SELECT citizen_id FROM population WHERE citizen_id = '999999999999999999'".into(),
        );
        let mut found = 0;
        for sql in &statements {
            // A new snapshot version every time: the fresh engine never reuses a plan.
            fresh
                .set_snapshot(BaseLibrary::Population, 1, &snapshot)
                .await
                .expect("snapshot");
            let expected = rows(&fresh, sql, &access).await;
            assert_eq!(fresh.cached_lookup_plans(), 1, "{sql}");
            let got = rows(&cached, sql, &access).await;
            assert_eq!(got, expected, "{sql}");
            found += expected.len();
        }
        assert!(
            found > statements.len() / 2,
            "the statements found rows: {found}"
        );
        // One plan per statement shape; the two LIKE patterns share one.
        assert_eq!(cached.cached_lookup_plans(), 6);
        assert_eq!(
            rows(
                &cached,
                &format!(
                    "SELECT citizen_id FROM population WHERE citizen_id = '{}'",
                    hidden.0
                ),
                &access
            )
            .await,
            Vec::<String>::new(),
            "the row filter still hides {}",
            hidden.0
        );
    }

    /// Statements whose key value also appears elsewhere are planned every time, and still
    /// answer correctly; a new snapshot drops every kept plan.
    #[tokio::test]
    async fn ambiguous_statements_and_new_snapshots_are_never_served_stale_plans() {
        let dir = tempfile::tempdir().expect("temp dir");
        let snapshot = population(dir.path());
        let keys = all_keys(&snapshot).await;
        let engine = QueryEngine::new(&QueryLimits::default()).expect("engine");
        engine
            .set_snapshot(BaseLibrary::Population, 1, &snapshot)
            .await
            .expect("snapshot");
        let access = governed();
        let (a, b) = (&keys[10].0, &keys[20].0);
        let twice = |k: &str| {
            format!("SELECT citizen_id, '{k}' AS asked FROM population WHERE citizen_id = '{k}'")
        };
        let first = rows(&engine, &twice(a), &access).await;
        let second = rows(&engine, &twice(b), &access).await;
        assert_eq!(engine.cached_lookup_plans(), 0);
        assert!(first.iter().any(|l| l.contains(a.as_str())));
        assert!(second.iter().all(|l| !l.contains(a.as_str())));

        let sql = |k: &str| format!("SELECT citizen_id FROM population WHERE citizen_id = '{k}'");
        rows(&engine, &sql(a), &access).await;
        assert_eq!(engine.cached_lookup_plans(), 1);
        engine
            .set_snapshot(BaseLibrary::Population, 2, &snapshot)
            .await
            .expect("snapshot");
        assert_eq!(engine.cached_lookup_plans(), 0);
        let planned = engine.plan(&sql(b), &access).await.expect("plans");
        assert_eq!(planned.snapshots.get("population"), Some(&2));
    }

    #[test]
    fn key_sets_intersect() {
        let k = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            intersect(&[vec![k("b"), k("a"), k("b")], vec![k("a"), k("b"), k("c")]]),
            vec![k("a"), k("b")]
        );
        assert_eq!(
            intersect(&[vec![k("a")], vec![k("b")]]),
            Vec::<Vec<u8>>::new()
        );
        assert!(intersect(&[]).is_empty());
    }
}
