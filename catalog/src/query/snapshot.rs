//! A published snapshot as the engine reads it: its files, listed and summarised once.
//!
//! A snapshot directory never changes after publication, so the engine lists it and reads
//! each file's footer once, when the snapshot becomes current, instead of on every query.
//! The footers give a key index: the range of library keys (citizen ID, USCC, record ID) in
//! every file and row group. Files are written sorted by key, so a lookup by key touches one
//! file and one row group; the Parquet reader then narrows that to one page with the page
//! index and the bloom filter.
//!
//! The index only ever removes row groups that cannot hold a requested key. Which rows come
//! back is still decided by the plan above the scan (the grant's row filter, then the
//! caller's own predicate), so the index can make a query faster but never change its answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::config::TableParquetOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::expressions::Column as PhysicalColumn;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use tongban_schemas::BaseLibrary;

use super::QueryError;
use super::lookup::{LookupFile, PositionedFile};

/// Key range of one row group.
#[derive(Debug, Clone)]
pub(crate) struct RowGroupKeys {
    min: Option<Vec<u8>>,
    max: Option<Vec<u8>>,
}

impl RowGroupKeys {
    /// Whether `key` may lie in this row group. Missing statistics mean "maybe".
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.min.as_deref().is_none_or(|min| min <= key)
            && self.max.as_deref().is_none_or(|max| key <= max)
    }
}

/// One Parquet file of a snapshot.
#[derive(Debug, Clone)]
struct SnapshotFile {
    file: PartitionedFile,
    rows: usize,
    row_groups: Vec<RowGroupKeys>,
    lookup: LookupFile,
}

/// A snapshot's files, listed once, with their key index.
#[derive(Debug)]
pub struct SnapshotTable {
    library: BaseLibrary,
    version: i64,
    dir: PathBuf,
    schema: SchemaRef,
    files: Vec<SnapshotFile>,
    rows: usize,
}

impl SnapshotTable {
    /// Lists `dir` and reads the footer of every Parquet file in it.
    pub fn open(library: BaseLibrary, version: i64, dir: &Path) -> Result<Self, QueryError> {
        let schema = library.schema();
        let key = library.key_column();
        let mut paths = std::fs::read_dir(dir)
            .map_err(|e| io_error(dir, &e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect::<Vec<_>>();
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let absolute = std::fs::canonicalize(&path).map_err(|e| io_error(&path, &e))?;
            let handle = std::fs::File::open(&absolute).map_err(|e| io_error(&absolute, &e))?;
            let meta = handle.metadata().map_err(|e| io_error(&absolute, &e))?;
            let footer = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .parse_and_finish(&handle)
                .map_err(|e| {
                    QueryError::Internal(format!("cannot read {}: {e}", absolute.display()))
                })?;
            let column = footer
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .position(|c| c.name() == key)
                .ok_or_else(|| {
                    QueryError::Internal(format!("{} has no key column {key}", absolute.display()))
                })?;
            let row_groups = footer
                .row_groups()
                .iter()
                .map(|rg| {
                    let stats = rg.column(column).statistics();
                    RowGroupKeys {
                        min: stats.and_then(|s| s.min_bytes_opt()).map(<[u8]>::to_vec),
                        max: stats.and_then(|s| s.max_bytes_opt()).map(<[u8]>::to_vec),
                    }
                })
                .collect();
            let location = datafusion::object_store::path::Path::from_absolute_path(&absolute)
                .map_err(|e| {
                    QueryError::Internal(format!("bad path {}: {e}", absolute.display()))
                })?;
            let object = datafusion::object_store::ObjectMeta {
                location,
                last_modified: meta
                    .modified()
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .unwrap_or_default(),
                size: meta.len(),
                e_tag: None,
                version: None,
            };
            let rows = usize::try_from(footer.file_metadata().num_rows()).unwrap_or(0);
            let footer = Arc::new(footer);
            let metadata = ArrowReaderMetadata::try_new(Arc::clone(&footer), Default::default())
                .map_err(|e| {
                    QueryError::Internal(format!("cannot read {}: {e}", absolute.display()))
                })?;
            files.push(SnapshotFile {
                file: PartitionedFile::new_from_meta(object).with_extension(Footer(footer)),
                rows,
                row_groups,
                lookup: LookupFile {
                    file: PositionedFile(Arc::new(handle)),
                    metadata,
                    key_leaf: column,
                },
            });
        }
        let rows = files.iter().map(|f| f.rows).sum();
        Ok(SnapshotTable {
            library,
            version,
            dir: dir.to_path_buf(),
            schema,
            files,
            rows,
        })
    }

    /// The library the snapshot belongs to.
    pub fn library(&self) -> BaseLibrary {
        self.library
    }

    /// Each file's row-group key ranges and what an exact lookup reads it with, in key order.
    pub(crate) fn lookup_files(&self) -> impl Iterator<Item = (&[RowGroupKeys], &LookupFile)> {
        self.files
            .iter()
            .map(|f| (f.row_groups.as_slice(), &f.lookup))
    }

    /// The published version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The directory the snapshot lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The library's full (raw) schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows in the snapshot.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Plans a scan of `projection` (indices into the raw schema). `hints` are predicates
    /// over raw columns whose key equalities narrow the files and row groups read; they do
    /// not filter rows.
    pub async fn scan(
        &self,
        state: &dyn Session,
        projection: &[usize],
        hints: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let keys = lookup_keys(hints, self.library.key_column());
        let mut selected = Vec::new();
        for f in &self.files {
            match &keys {
                None => selected.push(f.file.clone()),
                Some(keys) => {
                    let mut plan = ParquetAccessPlan::new_none(f.row_groups.len());
                    let mut any = false;
                    for (i, rg) in f.row_groups.iter().enumerate() {
                        if keys.iter().any(|k| rg.may_contain(k)) {
                            plan.scan(i);
                            any = true;
                        }
                    }
                    if any {
                        selected.push(f.file.clone().with_extension(plan));
                    }
                }
            }
        }
        let projected = Arc::new(self.schema.project(projection)?);
        if selected.is_empty() {
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let partitions = state.config_options().execution.target_partitions.max(1);
        let groups = contiguous_groups(selected, partitions);
        let options = TableParquetOptions {
            global: state.config_options().execution.parquet.clone(),
            ..TableParquetOptions::default()
        };
        let store = state
            .runtime_env()
            .object_store(ObjectStoreUrl::local_filesystem())?;
        let source = Arc::new(
            ParquetSource::new(Arc::clone(&self.schema))
                .with_table_parquet_options(options)
                .with_parquet_file_reader_factory(Arc::new(FooterReaderFactory {
                    inner: DefaultParquetFileReaderFactory::new(store),
                })),
        );
        // Each group holds whole files in key order, and every file is sorted by key.
        let key = self.library.key_column();
        let key_index = self.schema.index_of(key)?;
        let ordering = LexOrdering::new(vec![PhysicalSortExpr::new_default(Arc::new(
            PhysicalColumn::new(key, key_index),
        ))]);
        let mut statistics = Statistics::new_unknown(&self.schema);
        statistics.num_rows = Precision::Exact(self.rows);
        let mut builder = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_limit(limit);
        if let Some(ordering) = ordering {
            builder = builder.with_output_ordering(vec![ordering]);
        }
        let config = builder
            .with_projection_indices(Some(projection.to_vec()))?
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// A file's footer with its page index, read when the snapshot was opened.
#[derive(Debug, Clone)]
struct Footer(Arc<ParquetMetaData>);

/// Opens snapshot files with the footer and page index already in memory, so a query reads
/// only the pages it needs: the page index of a large file is megabytes, more than the data
/// a lookup touches.
#[derive(Debug)]
struct FooterReaderFactory {
    inner: DefaultParquetFileReaderFactory,
}

impl ParquetFileReaderFactory for FooterReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Box<dyn AsyncFileReader + Send>> {
        let footer = file.extension::<Footer>().map(|f| Arc::clone(&f.0));
        let inner = self
            .inner
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(match footer {
            Some(footer) => Box::new(FooterReader { inner, footer }),
            None => inner,
        })
    }
}

struct FooterReader {
    inner: Box<dyn AsyncFileReader + Send>,
    footer: Arc<ParquetMetaData>,
}

impl AsyncFileReader for FooterReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let footer = Arc::clone(&self.footer);
        async move { Ok(footer) }.boxed()
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> QueryError {
    QueryError::Internal(format!("cannot read {}: {e}", path.display()))
}

/// Splits `files` (in key order) into at most `partitions` groups of consecutive files,
/// so that each group stays sorted by key.
fn contiguous_groups(files: Vec<PartitionedFile>, partitions: usize) -> Vec<FileGroup> {
    let per_group = files.len().div_ceil(partitions).max(1);
    let mut groups = Vec::new();
    let mut files = files.into_iter().peekable();
    while files.peek().is_some() {
        groups.push(FileGroup::new(files.by_ref().take(per_group).collect()));
    }
    groups
}

/// The keys a conjunction of `hints` pins `key` to, if it does: `key = 'x'`,
/// `key IN ('x', 'y')`, or an OR of those. `None` when any row could qualify.
fn lookup_keys(hints: &[Expr], key: &str) -> Option<Vec<Vec<u8>>> {
    hints.iter().find_map(|h| keys_of(h, key))
}

pub(crate) fn keys_of(expr: &Expr, key: &str) -> Option<Vec<Vec<u8>>> {
    match expr {
        Expr::BinaryExpr(b) if b.op == Operator::Eq => match (b.left.as_ref(), b.right.as_ref()) {
            (Expr::Column(c), lit) | (lit, Expr::Column(c)) if c.name == key => {
                literal(lit).map(|v| vec![v])
            }
            _ => None,
        },
        Expr::BinaryExpr(b) if b.op == Operator::And => {
            keys_of(&b.left, key).or_else(|| keys_of(&b.right, key))
        }
        Expr::BinaryExpr(b) if b.op == Operator::Or => {
            let mut left = keys_of(&b.left, key)?;
            left.extend(keys_of(&b.right, key)?);
            Some(left)
        }
        Expr::InList(list) if !list.negated => match list.expr.as_ref() {
            Expr::Column(c) if c.name == key => list.list.iter().map(literal).collect(),
            _ => None,
        },
        _ => None,
    }
}

/// A string literal's bytes, possibly behind casts the planner added.
fn literal(expr: &Expr) -> Option<Vec<u8>> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    #[test]
    fn key_equalities_and_in_lists_pin_keys() {
        let k = "citizen_id";
        let eq = col(k).eq(lit("a"));
        assert_eq!(keys_of(&eq, k), Some(vec![b"a".to_vec()]));
        let flipped = lit("b").eq(col(k));
        assert_eq!(keys_of(&flipped, k), Some(vec![b"b".to_vec()]));
        let both = col("name").eq(lit("x")).and(col(k).eq(lit("c")));
        assert_eq!(keys_of(&both, k), Some(vec![b"c".to_vec()]));
        let any = col(k).eq(lit("a")).or(col(k).eq(lit("b")));
        assert_eq!(keys_of(&any, k), Some(vec![b"a".to_vec(), b"b".to_vec()]));
        let list = col(k).in_list(vec![lit("a"), lit("b")], false);
        assert_eq!(keys_of(&list, k), Some(vec![b"a".to_vec(), b"b".to_vec()]));
    }

    #[test]
    fn anything_else_reads_every_row_group() {
        let k = "citizen_id";
        for expr in [
            col(k).not_eq(lit("a")),
            col(k).gt(lit("a")),
            col(k).in_list(vec![lit("a")], true),
            col(k).eq(lit("a")).or(col("name").eq(lit("x"))),
            col("name").eq(lit("a")),
            col(k).eq(col("spouse_citizen_id")),
            col(k).eq(lit(5)),
        ] {
            assert_eq!(keys_of(&expr, k), None, "{expr}");
        }
    }

    #[test]
    fn groups_keep_files_in_order() {
        let files: Vec<_> = (0..5)
            .map(|i| PartitionedFile::new(format!("f{i}"), 1))
            .collect();
        let groups = contiguous_groups(files, 2);
        let names: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                g.files()
                    .iter()
                    .map(|f| f.path().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(names, vec![vec!["f0", "f1", "f2"], vec!["f3", "f4"]]);
    }

    /// Lookups through the key index answer exactly what a plain scan of the same files
    /// answers: keys in every file, several files at once, and keys in no file.
    #[tokio::test]
    async fn lookups_through_the_index_match_a_plain_scan() {
        use crate::query::{Access, Grant, GrantSource, QueryEngine, QueryLimits};
        use datafusion::arrow::array::Array;
        use datafusion::prelude::{ParquetReadOptions, SessionContext};
        use futures::StreamExt;

        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = tongban_schemas::generate::GeneratorConfig::new(
            7,
            3000,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
        );
        config.rows_per_file = 400;
        let report =
            tongban_schemas::generate::generate(&config, dir.path(), &|_| {}).expect("generated");
        let library = BaseLibrary::Population;
        let files = &report.library(library).files;
        assert!(files.len() >= 4, "the test needs several files");
        let snapshot_dir = files[0].parent().expect("a directory");

        let engine = QueryEngine::new(&QueryLimits::default()).expect("engine");
        engine
            .set_snapshot(library, 1, snapshot_dir)
            .await
            .expect("snapshot");
        let grant = Grant {
            id: 0,
            consumer: "c".into(),
            resource: "r".into(),
            library,
            columns: library
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            row_filter: None,
            masks: Default::default(),
            matters: vec![],
            legal_basis: "test".into(),
            valid_from: 0,
            valid_to: None,
            row_cap: None,
            source: GrantSource::Unconditional,
        };
        let access = Access {
            grants: vec![grant],
            explain_allowed: false,
        };
        let plain = SessionContext::new();
        plain
            .register_parquet(
                "population",
                snapshot_dir.to_str().expect("utf-8 path"),
                ParquetReadOptions::default(),
            )
            .await
            .expect("plain table");
        let keys: Vec<String> = {
            let batches = plain
                .sql("SELECT CAST(citizen_id AS VARCHAR) AS k FROM population ORDER BY k")
                .await
                .expect("sql")
                .collect()
                .await
                .expect("rows");
            batches
                .iter()
                .flat_map(|b| {
                    let col = datafusion::arrow::compute::cast(
                        b.column(0),
                        &datafusion::arrow::datatypes::DataType::Utf8,
                    )
                    .expect("text");
                    let col = col
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::StringArray>()
                        .expect("strings")
                        .clone();
                    (0..col.len())
                        .map(|i| col.value(i).to_owned())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let mut queries: Vec<String> = keys
            .iter()
            .step_by(97)
            .map(|k| format!("SELECT citizen_id, name FROM population WHERE citizen_id = '{k}'"))
            .collect();
        let spread: Vec<String> = keys
            .iter()
            .step_by(keys.len() / 7)
            .map(|k| format!("'{k}'"))
            .collect();
        queries.push(format!(
            "SELECT citizen_id, name FROM population WHERE citizen_id IN ({}, '000000000000000000')",
            spread.join(", ")
        ));
        queries.push(
            "SELECT citizen_id, name FROM population WHERE citizen_id = '999999999999999999'"
                .into(),
        );
        queries.push(format!(
            "SELECT citizen_id, name FROM population WHERE citizen_id = '{}' OR citizen_id = '{}'",
            keys[0],
            keys[keys.len() - 1]
        ));
        for sql in queries {
            let planned = engine.plan(&sql, &access).await.expect("plans");
            let mut stream = planned.execute().await.expect("runs");
            let mut governed = 0;
            while let Some(batch) = stream.next().await {
                governed += batch.expect("batch").num_rows();
            }
            let expected: usize = plain
                .sql(&sql)
                .await
                .expect("plain plans")
                .collect()
                .await
                .expect("plain runs")
                .iter()
                .map(|b| b.num_rows())
                .sum();
            assert_eq!(governed, expected, "{sql}");
        }
    }
}
