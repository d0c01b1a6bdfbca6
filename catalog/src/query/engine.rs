//! The governed query engine on Apache DataFusion.
//!
//! One engine serves every request. It owns the runtime (memory pool, Parquet metadata
//! cache) and one listing table per current snapshot. Each request gets a fresh session in
//! which only the caller's granted libraries exist, each as a [`PolicyTable`]; only
//! allow-listed functions are registered (no table functions, no unbounded `repeat`/`lpad`),
//! URL tables are off, and `information_schema` shows just that session's tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList, MemorySchemaProvider,
    SchemaProvider,
};
use datafusion::common::DFSchema;
use datafusion::execution::SessionStateDefaults;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::{
    ExecutionPlan, SendableRecordBatchStream, displayable, execute_stream,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use sha2::{Digest, Sha256};
use tongban_schemas::BaseLibrary;

use super::QueryError;
use super::distributed::{Cluster, Scheduler};
use super::gate::{self, StatementKind};
use super::lookup::KeyLookupExec;
use super::policy::{Grant, PolicyTable};
use super::snapshot::SnapshotTable;

/// Limits every query runs under.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Memory the engine's queries may hold together, bytes.
    pub memory_bytes: usize,
    /// Target rows per batch.
    pub batch_size: usize,
    /// Partitions per query.
    pub target_partitions: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_bytes: 1 << 30,
            batch_size: 8192,
            target_partitions: 2,
        }
    }
}

/// Scalar functions a query may call.
pub const SCALAR_FUNCTIONS: &[&str] = &[
    // strings
    "ascii",
    "bit_length",
    "btrim",
    "char_length",
    "character_length",
    "chr",
    "concat",
    "concat_ws",
    "ends_with",
    "initcap",
    "left",
    "length",
    "levenshtein",
    "lower",
    "ltrim",
    "octet_length",
    "position",
    "replace",
    "reverse",
    "right",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "substring",
    "substr_index",
    "to_hex",
    "translate",
    "trim",
    "upper",
    "regexp_like",
    "regexp_match",
    "regexp_replace",
    "regexp_count",
    "contains",
    "find_in_set",
    "instr",
    // numbers
    "abs",
    "ceil",
    "floor",
    "round",
    "trunc",
    "signum",
    "sqrt",
    "power",
    "pow",
    "exp",
    "ln",
    "log",
    "log10",
    "log2",
    "greatest",
    "least",
    "gcd",
    "lcm",
    "random",
    "pi",
    "isnan",
    "iszero",
    "nanvl",
    // conditionals
    "coalesce",
    "nullif",
    "nvl",
    "nvl2",
    "ifnull",
    // dates and times
    "current_date",
    "current_time",
    "now",
    "today",
    "date_part",
    "datepart",
    "date_trunc",
    "datetrunc",
    "date_bin",
    "extract",
    "make_date",
    "to_date",
    "to_char",
    "to_timestamp",
    "to_timestamp_seconds",
    "to_timestamp_millis",
    "to_unixtime",
    "from_unixtime",
    "date_format",
    // hashing and encoding
    "md5",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "digest",
    "encode",
    "decode",
    // types
    "arrow_cast",
    "arrow_typeof",
];

/// Aggregate functions a query may call.
pub const AGGREGATE_FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "median",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "var",
    "var_samp",
    "var_pop",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "bool_and",
    "bool_or",
    "first_value",
    "last_value",
    "corr",
    "covar",
    "covar_samp",
    "covar_pop",
    "bit_and",
    "bit_or",
    "bit_xor",
    "grouping",
];

/// Window functions a query may call.
pub const WINDOW_FUNCTIONS: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
];

/// What the caller may do in this request.
#[derive(Debug, Clone)]
pub struct Access {
    /// The grant governing each library for this request's matter.
    pub grants: Vec<Grant>,
    /// Whether EXPLAIN is allowed (auditors).
    pub explain_allowed: bool,
}

/// A query that passed the gate, was planned under policy and may now run.
pub struct PlannedQuery {
    /// The physical plan.
    pub plan: Arc<dyn ExecutionPlan>,
    /// The session it was planned in.
    session: SessionContext,
    /// Columns read, by table.
    pub tables: BTreeMap<String, BTreeSet<String>>,
    /// Snapshot versions read, by table.
    pub snapshots: BTreeMap<String, i64>,
    /// SHA-256 of the physical plan with the policy in it.
    pub plan_sha256: String,
    /// Most rows any grant involved allows.
    pub row_cap: Option<u64>,
    /// Query or EXPLAIN.
    pub kind: StatementKind,
    /// The cluster that runs it, when it reads a library and the engine has one.
    cluster: Option<Arc<Cluster>>,
}

impl std::fmt::Debug for PlannedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedQuery")
            .field("tables", &self.tables)
            .field("plan_sha256", &self.plan_sha256)
            .finish_non_exhaustive()
    }
}

impl PlannedQuery {
    /// Starts execution, in this process or as a job on the cluster; dropping the stream
    /// cancels it.
    pub async fn execute(&self) -> Result<SendableRecordBatchStream, QueryError> {
        match &self.cluster {
            Some(cluster) => cluster.execute(Arc::clone(&self.plan)).await,
            None => execute_stream(Arc::clone(&self.plan), self.session.task_ctx())
                .map_err(QueryError::from),
        }
    }

    /// Whether the query runs on a cluster rather than in this process.
    pub fn distributed(&self) -> bool {
        self.cluster.is_some()
    }
}

/// The shared engine.
#[derive(Debug)]
pub struct QueryEngine {
    runtime: Arc<RuntimeEnv>,
    base: SessionState,
    snapshots: RwLock<HashMap<BaseLibrary, Arc<SnapshotTable>>>,
    cluster: OnceLock<Arc<Cluster>>,
    lookups: LookupCache,
}

impl QueryEngine {
    /// Builds the engine with `limits`.
    pub fn new(limits: &QueryLimits) -> Result<QueryEngine, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
            // No spilling: query data (filtered and masked, but personal) never leaves
            // memory for an unencrypted temp directory; a query that does not fit is refused.
            .with_disk_manager_builder(
                datafusion::execution::disk_manager::DiskManagerBuilder::default()
                    .with_mode(datafusion::execution::disk_manager::DiskManagerMode::Disabled),
            )
            .with_metadata_cache_limit(1 << 30)
            .build_arc()?;
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_batch_size(limits.batch_size)
            .with_target_partitions(limits.target_partitions.max(1))
            .with_create_default_catalog_and_schema(false);
        let options = config.options_mut();
        options.execution.parquet.pushdown_filters = false;
        options.optimizer.repartition_file_scans = false;
        options.execution.parquet.enable_page_index = true;
        options.execution.parquet.bloom_filter_on_read = true;
        // A key lookup (a handful of rows) is not spread over partitions.
        options
            .execution
            .use_row_number_estimates_to_optimize_partitioning = true;
        options.sql_parser.enable_ident_normalization = true;
        let scalar = SessionStateDefaults::default_scalar_functions()
            .into_iter()
            .filter(|f| SCALAR_FUNCTIONS.contains(&f.name()))
            .collect::<Vec<_>>();
        let aggregate = SessionStateDefaults::default_aggregate_functions()
            .into_iter()
            .filter(|f| AGGREGATE_FUNCTIONS.contains(&f.name()))
            .collect::<Vec<_>>();
        let window = SessionStateDefaults::default_window_functions()
            .into_iter()
            .filter(|f| WINDOW_FUNCTIONS.contains(&f.name()))
            .collect::<Vec<_>>();
        let base = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&runtime))
            .with_expr_planners(SessionStateDefaults::default_expr_planners())
            .with_scalar_functions(scalar)
            .with_aggregate_functions(aggregate)
            .with_window_functions(window)
            .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
            .build();
        Ok(QueryEngine {
            runtime,
            base,
            snapshots: RwLock::new(HashMap::new()),
            cluster: OnceLock::new(),
            lookups: LookupCache::default(),
        })
    }

    /// Sends every later query that reads a library to the Ballista cluster at `scheduler`
    /// (started in this process when standalone). Queries are still admitted and planned
    /// here, under policy; only the finished physical plan leaves. Statements that read no
    /// library (`information_schema`, constants) keep running here.
    pub async fn use_cluster(&self, scheduler: &Scheduler) -> Result<(), QueryError> {
        let cluster = Cluster::connect(scheduler, &self.base).await?;
        self.cluster
            .set(Arc::new(cluster))
            .map_err(|_| QueryError::Internal("the engine already has a cluster".into()))
    }

    /// Lookup plans currently kept for reuse.
    pub fn cached_lookup_plans(&self) -> usize {
        self.lookups.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// The scheduler queries go to, if any.
    pub fn scheduler_url(&self) -> Option<&str> {
        self.cluster.get().map(|c| c.scheduler_url())
    }

    /// Makes `dir` (a directory of Parquet files) the current snapshot of `library`.
    pub async fn set_snapshot(
        &self,
        library: BaseLibrary,
        version: i64,
        dir: &Path,
    ) -> Result<(), QueryError> {
        // Listing and footers are read on a blocking thread: a large snapshot has many files.
        let dir = dir.to_path_buf();
        let table =
            tokio::task::spawn_blocking(move || SnapshotTable::open(library, version, &dir))
                .await
                .map_err(|e| QueryError::Internal(format!("snapshot loader failed: {e}")))??;
        let table = Arc::new(table);
        self.snapshots
            .write()
            .map_err(|_| QueryError::Internal("snapshot registry poisoned".into()))?
            .insert(library, table);
        // Plans hold the snapshot they were made on.
        self.lookups.invalidate();
        Ok(())
    }

    /// The current snapshot version of each library the engine knows.
    pub fn versions(&self) -> BTreeMap<BaseLibrary, i64> {
        self.snapshots
            .read()
            .map(|s| s.iter().map(|(l, s)| (*l, s.version())).collect())
            .unwrap_or_default()
    }

    /// Parses a grant's row filter against the library schema; used to validate grants when
    /// they are made and to build policy tables.
    pub fn parse_row_filter(&self, library: BaseLibrary, sql: &str) -> Result<Expr, QueryError> {
        let schema = DFSchema::try_from(library.schema().as_ref().clone())?;
        let expr = self.base.create_logical_expr(sql, &schema).map_err(|e| {
            QueryError::refused(
                "grant.invalid_row_filter",
                format!("row filter does not parse: {e}"),
            )
        })?;
        Ok(expr)
    }

    /// Admits, plans and checks `sql` under `access`.
    ///
    /// A lookup by library key whose statement differs from an earlier one under the same
    /// access only in the key values reuses that statement's plan with the new keys (see
    /// [`LookupCache`]); everything else is planned from scratch.
    pub async fn plan(&self, sql: &str, access: &Access) -> Result<PlannedQuery, QueryError> {
        let admitted = gate::admit(sql, access.explain_allowed)?;
        let cacheable = admitted.kind == StatementKind::Query && self.cluster.get().is_none();
        let statement = match cacheable.then(|| StatementShape::of(sql)).flatten() {
            Some(shape) => shape,
            None => return self.plan_admitted(admitted, access).await,
        };
        let key = CacheKey {
            shape: statement.shape.clone(),
            access: access_fingerprint(access),
            generation: self.lookups.generation(),
        };
        if let Some(cached) = self.lookups.get(&key)
            && let Some(planned) = cached.instantiate(&statement.literals)?
        {
            return Ok(planned);
        }
        let planned = self.plan_admitted(admitted, access).await?;
        if let Some(cached) = CachedLookup::of(&planned, &statement.literals) {
            self.lookups.insert(key, cached);
        }
        Ok(planned)
    }

    async fn plan_admitted(
        &self,
        admitted: gate::Admitted,
        access: &Access,
    ) -> Result<PlannedQuery, QueryError> {
        let (session, versions) = self.session_for(access)?;
        let state = session.state();
        let logical = state
            .statement_to_plan(admitted.statement)
            .await
            .map_err(plan_error)?;
        check_read_only(&logical)?;
        // Before the optimiser, whose constant folding would already build the values.
        super::bounds::check(&logical)?;
        let logical = state.optimize(&logical).map_err(plan_error)?;
        let tables = tables_read(&logical);
        let physical = state
            .create_physical_plan(&logical)
            .await
            .map_err(plan_error)?;
        let shown = displayable(physical.as_ref()).indent(true).to_string();
        let plan_sha256 = hex::encode(Sha256::digest(shown.as_bytes()));
        let row_cap = access
            .grants
            .iter()
            .filter(|g| tables.contains_key(g.library.table_name()))
            .filter_map(|g| g.row_cap)
            .min();
        let snapshots: BTreeMap<String, i64> = tables
            .keys()
            .filter_map(|t| versions.get(t).map(|v| (t.clone(), *v)))
            .collect();
        let cluster = match admitted.kind {
            // A plan the cluster cannot carry (a recursive query, whose work table has no
            // wire form) runs here, under the same policy; its audit entry names no cluster.
            StatementKind::Query if !snapshots.is_empty() => {
                self.cluster.get().filter(|c| c.can_run(&physical)).cloned()
            }
            _ => None,
        };
        Ok(PlannedQuery {
            plan: physical,
            session,
            tables,
            snapshots,
            plan_sha256,
            row_cap,
            kind: admitted.kind,
            cluster,
        })
    }

    fn session_for(
        &self,
        access: &Access,
    ) -> Result<(SessionContext, HashMap<String, i64>), QueryError> {
        let schema = Arc::new(MemorySchemaProvider::new());
        let snapshots = self
            .snapshots
            .read()
            .map_err(|_| QueryError::Internal("snapshot registry poisoned".into()))?;
        let mut versions = HashMap::new();
        for grant in &access.grants {
            let Some(snapshot) = snapshots.get(&grant.library) else {
                continue;
            };
            let row_filter = match &grant.row_filter {
                Some(sql) => Some(self.parse_row_filter(grant.library, sql)?),
                None => None,
            };
            // A plan bound for the cluster must consist of nodes its executors decode.
            let table = PolicyTable::new(
                Arc::clone(snapshot),
                grant.clone(),
                row_filter,
                self.cluster.get().is_none(),
            )?;
            schema.register_table(grant.library.table_name().to_owned(), Arc::new(table))?;
            versions.insert(grant.library.table_name().to_owned(), snapshot.version());
        }
        drop(snapshots);
        let catalog = Arc::new(MemoryCatalogProvider::new());
        catalog.register_schema("public", schema)?;
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        datafusion::catalog::CatalogProviderList::register_catalog(
            catalogs.as_ref(),
            "datafusion".into(),
            catalog,
        );
        let mut builder = SessionStateBuilder::new_from_existing(self.base.clone())
            .with_catalog_list(catalogs)
            .with_runtime_env(Arc::clone(&self.runtime));
        if self.cluster.get().is_some() {
            // A plan bound for the cluster is optimised again by the scheduler, which may
            // swap join inputs; a plan that already holds dynamic filters cannot be swapped
            // (the job fails). Such filters only prune, so the answer is the same without.
            let mut config = self.base.config().clone();
            let optimizer = &mut config.options_mut().optimizer;
            optimizer.enable_dynamic_filter_pushdown = false;
            optimizer.enable_join_dynamic_filter_pushdown = false;
            optimizer.enable_topk_dynamic_filter_pushdown = false;
            optimizer.enable_aggregate_dynamic_filter_pushdown = false;
            // The scheduler splits plans into stages by their partitioning; plans whose
            // partitioning followed row estimates (kept in one partition) came back with
            // rows repeated there.
            config
                .options_mut()
                .execution
                .use_row_number_estimates_to_optimize_partitioning = false;
            builder = builder.with_config(config);
        }
        let state = builder.build();
        Ok((SessionContext::new_with_state(state), versions))
    }
}

/// Most lookup plans kept; the cache starts over when it is full.
const LOOKUP_CACHE_ENTRIES: usize = 1024;

/// Plans of key lookups, reused across statements that differ only in their key values.
///
/// Planning costs more than a lookup itself (parsing, the logical optimiser, physical
/// planning, well over a millisecond), and departments send the same statement over and over
/// with a different citizen ID or USCC. A plan is kept only when it is a chain of simple
/// operators over one [`KeyLookupExec`] whose keys each come from exactly one string literal
/// of the statement, and no key value appears anywhere else in the plan. A later statement
/// with the same tokens except for its string literals, under the same grants (the whole
/// [`Access`] is part of the key) and on the same snapshots, runs that plan with its own
/// values in the lookup; every other literal must be the same as when the plan was made.
/// The policy parts of the plan (row filter, masks, barrier) contain no statement values,
/// so they are exactly what planning the new statement would have produced.
#[derive(Debug, Default)]
struct LookupCache {
    entries: std::sync::Mutex<HashMap<CacheKey, Arc<CachedLookup>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl LookupCache {
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn invalidate(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    fn get(&self, key: &CacheKey) -> Option<Arc<CachedLookup>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn insert(&self, key: CacheKey, value: CachedLookup) {
        // A plan made on a snapshot that was replaced meanwhile is not kept.
        if key.generation != self.generation() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= LOOKUP_CACHE_ENTRIES {
                entries.clear();
            }
            entries.insert(key, Arc::new(value));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    shape: String,
    access: [u8; 32],
    generation: u64,
}

/// Everything that decides a session's tables and policy.
fn access_fingerprint(access: &Access) -> [u8; 32] {
    Sha256::digest(format!("{access:?}").as_bytes()).into()
}

/// A statement's tokens with its plain string literals taken out.
#[derive(Debug)]
struct StatementShape {
    /// The tokens, comments and spacing left out, each string literal as `?`.
    shape: String,
    /// The string literals' values, in order.
    literals: Vec<String>,
}

impl StatementShape {
    fn of(sql: &str) -> Option<StatementShape> {
        use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
        let tokens = Tokenizer::new(&gate::DIALECT, sql).tokenize().ok()?;
        let mut shape = String::with_capacity(sql.len());
        let mut literals = Vec::new();
        for token in tokens {
            match token {
                Token::Whitespace(_) => continue,
                Token::SingleQuotedString(value) => {
                    literals.push(value);
                    shape.push('?');
                }
                other => {
                    use std::fmt::Write;
                    let _ = write!(shape, "{other:?}");
                }
            }
            shape.push('\u{1f}');
        }
        Some(StatementShape { shape, literals })
    }
}

/// A lookup plan and where its keys come from in the statement.
struct CachedLookup {
    template: Arc<dyn ExecutionPlan>,
    session: SessionContext,
    tables: BTreeMap<String, BTreeSet<String>>,
    snapshots: BTreeMap<String, i64>,
    row_cap: Option<u64>,
    /// For each key set of the lookup, the literal that gives each key.
    key_literals: Vec<Vec<usize>>,
    /// The other literals, which a statement must repeat to use the plan.
    fixed: Vec<(usize, String)>,
}

impl std::fmt::Debug for CachedLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedLookup")
            .field("tables", &self.tables)
            .field("key_literals", &self.key_literals)
            .finish_non_exhaustive()
    }
}

/// Operators a cached plan may contain: they keep no state between executions beyond what
/// rebuilding them on a new lookup resets.
const CACHEABLE_OPERATORS: &[&str] = &[
    "KeyLookupExec",
    "CooperativeExec",
    "PolicyBarrier",
    "ProjectionExec",
    "FilterExec",
    "CoalesceBatchesExec",
    "CoalescePartitionsExec",
    "GlobalLimitExec",
    "LocalLimitExec",
];

impl CachedLookup {
    /// `planned` as a reusable plan, if it is a lookup whose keys map one to one onto
    /// string literals of the statement (`literals`).
    fn of(planned: &PlannedQuery, literals: &[String]) -> Option<CachedLookup> {
        use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
        if planned.kind != StatementKind::Query || planned.cluster.is_some() {
            return None;
        }
        let mut lookups = Vec::new();
        let mut simple = true;
        let _ = planned.plan.apply(|node| {
            if !CACHEABLE_OPERATORS.contains(&node.name()) {
                simple = false;
                return Ok(TreeNodeRecursion::Stop);
            }
            if let Some(lookup) =
                (node.as_ref() as &dyn std::any::Any).downcast_ref::<KeyLookupExec>()
            {
                lookups.push(lookup.key_sets().to_vec());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let [key_sets] = lookups.as_slice() else {
            return None;
        };
        if !simple {
            return None;
        }
        let shown = displayable(planned.plan.as_ref()).indent(true).to_string();
        let mut used = vec![false; literals.len()];
        let mut key_literals = Vec::with_capacity(key_sets.len());
        for set in key_sets {
            let mut ordinals = Vec::with_capacity(set.len());
            for key in set {
                let mut matching = literals
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.as_bytes() == key.as_slice())
                    .map(|(i, _)| i);
                let (Some(ordinal), None) = (matching.next(), matching.next()) else {
                    return None;
                };
                // One literal per key, and a key value nowhere else in the plan.
                if used[ordinal] || shown.contains(literals[ordinal].as_str()) {
                    return None;
                }
                used[ordinal] = true;
                ordinals.push(ordinal);
            }
            key_literals.push(ordinals);
        }
        let fixed = literals
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, l)| (i, l.clone()))
            .collect();
        Some(CachedLookup {
            template: Arc::clone(&planned.plan),
            session: planned.session.clone(),
            tables: planned.tables.clone(),
            snapshots: planned.snapshots.clone(),
            row_cap: planned.row_cap,
            key_literals,
            fixed,
        })
    }

    /// The plan with the keys of a statement of the same shape; `None` when one of its other
    /// literals differs.
    fn instantiate(&self, literals: &[String]) -> Result<Option<PlannedQuery>, QueryError> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        if self
            .fixed
            .iter()
            .any(|(i, value)| literals.get(*i) != Some(value))
        {
            return Ok(None);
        }
        let mut key_sets = Vec::with_capacity(self.key_literals.len());
        for ordinals in &self.key_literals {
            let mut set = Vec::with_capacity(ordinals.len());
            for i in ordinals {
                let Some(value) = literals.get(*i) else {
                    return Ok(None);
                };
                set.push(value.as_bytes().to_vec());
            }
            key_sets.push(set);
        }
        // Every operator above the lookup is rebuilt around the new one.
        let plan = Arc::clone(&self.template)
            .transform_up(|node| {
                match (node.as_ref() as &dyn std::any::Any).downcast_ref::<KeyLookupExec>() {
                    Some(lookup) => Ok(Transformed::yes(Arc::new(
                        lookup.with_key_sets(key_sets.clone())?,
                    )
                        as Arc<dyn ExecutionPlan>)),
                    None => Ok(Transformed::no(node)),
                }
            })
            .map_err(plan_error)?
            .data;
        let shown = displayable(plan.as_ref()).indent(true).to_string();
        Ok(Some(PlannedQuery {
            plan,
            session: self.session.clone(),
            tables: self.tables.clone(),
            snapshots: self.snapshots.clone(),
            plan_sha256: hex::encode(Sha256::digest(shown.as_bytes())),
            row_cap: self.row_cap,
            kind: StatementKind::Query,
            cluster: None,
        }))
    }
}

fn plan_error(e: datafusion::error::DataFusionError) -> QueryError {
    QueryError::Invalid {
        detail: e.to_string(),
    }
}

/// Refuses any plan that would write or change the session, wherever it hides.
fn check_read_only(plan: &LogicalPlan) -> Result<(), QueryError> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut bad = None;
    plan.apply_with_subqueries(|node| {
        let what = match node {
            LogicalPlan::Dml(_) => Some("DML"),
            LogicalPlan::Ddl(_) => Some("DDL"),
            LogicalPlan::Copy(_) => Some("COPY"),
            LogicalPlan::Statement(_) => Some("statement"),
            LogicalPlan::Extension(_) => Some("extension"),
            _ => None,
        };
        if let Some(what) = what {
            bad = Some(what);
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(plan_error)?;
    match bad {
        Some(what) => Err(QueryError::refused(
            "query.statement_not_allowed",
            format!("{what} plans are not allowed"),
        )),
        None => Ok(()),
    }
}

/// Tables and columns a plan reads, subqueries included.
fn tables_read(plan: &LogicalPlan) -> BTreeMap<String, BTreeSet<String>> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut read: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let entry = read.entry(scan.table_name.table().to_owned()).or_default();
            entry.extend(
                scan.projected_schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone()),
            );
            // Columns of predicates the scan answers itself are read too.
            entry.extend(
                scan.filters
                    .iter()
                    .flat_map(|f| f.column_refs())
                    .map(|c| c.name.clone()),
            );
        }
        Ok(TreeNodeRecursion::Continue)
    });
    read
}
