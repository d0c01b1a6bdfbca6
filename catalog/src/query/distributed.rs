//! Running governed plans on an Apache DataFusion Ballista cluster.
//!
//! The gateway plans every query itself, under the caller's grants, exactly as it does for
//! the in-process engine: the physical plan that leaves for the scheduler already holds the
//! row filter, the masks and the [`PolicyBarrier`] of every library it reads, and nothing
//! else. Executors receive plain scans of snapshot files with filters and projections above
//! them; they never see a grant, a department or the SQL, and they cannot plan anything of
//! their own. The one node of ours a plan carries, the barrier, travels through
//! [`TongbanCodec`], which every scheduler and executor of the cluster must use (the
//! `tongban ballista scheduler|executor` commands do).

use std::sync::Arc;

use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateDefaults;
use datafusion::execution::TaskContext;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::{
    AsExecutionPlan, PhysicalExtensionCodec, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf::PhysicalPlanNode;
use tongban_schemas::BaseLibrary;

use super::QueryError;
use super::policy::PolicyBarrier;

/// Where the cluster's scheduler is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduler {
    /// A scheduler and one executor started inside this process (tests, single machines).
    Standalone,
    /// A running scheduler, `http://host:port`.
    Remote(String),
}

/// Marks our barrier node in an encoded plan. Protocol Buffers never start a message with
/// this byte (field 10, wire type 4 is invalid), so the codecs cannot be confused.
const BARRIER_TAG: &[u8] = b"TBPB:";

/// Ballista's codec plus the policy barrier.
#[derive(Debug, Default)]
pub struct TongbanCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for TongbanCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(name) = buf.strip_prefix(BARRIER_TAG) else {
            return self.inner.try_decode(buf, inputs, ctx, converter);
        };
        let name = std::str::from_utf8(name)
            .map_err(|_| DataFusionError::Internal("barrier library is not text".into()))?;
        let library = BaseLibrary::ALL
            .into_iter()
            .find(|l| l.table_name() == name)
            .ok_or_else(|| DataFusionError::Internal(format!("unknown library {name}")))?;
        let [input] = inputs else {
            return Err(DataFusionError::Internal(
                "a policy barrier has exactly one input".into(),
            ));
        };
        Ok(Arc::new(PolicyBarrier::new(Arc::clone(input), library)))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        if let Some(barrier) = node.downcast_ref::<PolicyBarrier>() {
            buf.extend_from_slice(BARRIER_TAG);
            buf.extend_from_slice(barrier.library().table_name().as_bytes());
            return Ok(());
        }
        self.inner.try_encode(node, buf, converter)
    }
}

/// A connection to a cluster: where to send plans and how to encode them.
#[derive(Debug)]
pub struct Cluster {
    scheduler_url: String,
    config: SessionConfig,
    codec: Arc<TongbanCodec>,
}

impl Cluster {
    /// Connects to `scheduler`, starting it in this process when standalone. `base` is the
    /// engine's session state: a standalone executor shares its runtime (and so its memory
    /// pool) and its function registry.
    pub async fn connect(
        scheduler: &Scheduler,
        base: &SessionState,
    ) -> Result<Cluster, QueryError> {
        let codec = Arc::new(TongbanCodec::default());
        let config = base
            .config()
            .clone()
            .upgrade_for_ballista()
            .with_ballista_physical_extension_codec(Arc::clone(&codec) as _);
        let scheduler_url = match scheduler {
            Scheduler::Remote(url) => url.trim_end_matches('/').to_owned(),
            Scheduler::Standalone => {
                // The scheduler and executor decode every function a plan may hold, those
                // the SQL planner adds itself (OVERLAY, for one) included; which functions a
                // query may call was decided when the gateway planned it.
                let state = SessionStateBuilder::new_from_existing(base.clone())
                    .with_config(config.clone())
                    .with_scalar_functions(SessionStateDefaults::default_scalar_functions())
                    .with_aggregate_functions(SessionStateDefaults::default_aggregate_functions())
                    .with_window_functions(SessionStateDefaults::default_window_functions())
                    .build();
                start_standalone(&state).await?
            }
        };
        Ok(Cluster {
            scheduler_url,
            config,
            codec,
        })
    }

    /// Whether every node of `plan` has a wire form the cluster understands.
    pub fn can_run(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        PhysicalPlanNode::try_from_physical_plan(Arc::clone(plan), self.codec.as_ref()).is_ok()
    }

    /// The scheduler's address.
    pub fn scheduler_url(&self) -> &str {
        &self.scheduler_url
    }

    /// Submits `plan` as one job and streams its result.
    pub async fn execute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Result<SendableRecordBatchStream, QueryError> {
        let session_id = uuid::Uuid::new_v4().to_string();
        execute_physical_plan::<PhysicalPlanNode>(
            self.scheduler_url.clone(),
            &BallistaConfig::default(),
            plan,
            self.codec.as_ref(),
            session_id,
            self.config.clone(),
        )
        .await
        .map_err(|e| QueryError::Execution {
            detail: format!("the cluster did not run the query: {e}"),
        })
    }
}

async fn start_standalone(state: &SessionState) -> Result<String, QueryError> {
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    let unavailable =
        |e: &dyn std::fmt::Display| QueryError::Internal(format!("standalone cluster: {e}"));
    let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(state)
        .await
        .map_err(|e| unavailable(&e))?;
    let url = format!("http://localhost:{}", address.port());
    let mut attempts = 0;
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(e) if attempts >= 50 => return Err(unavailable(&e)),
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let parallelism = state.config().ballista_standalone_parallelism();
    ballista_executor::new_standalone_executor_from_state(scheduler, parallelism, state)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(url)
}

/// Runs a Ballista scheduler on `bind` that understands Tongban's plans, until it fails.
pub async fn run_scheduler(bind: std::net::SocketAddr) -> Result<(), QueryError> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        override_physical_codec: Some(Arc::new(TongbanCodec::default())),
        ..SchedulerConfig::default()
    };
    let failed = |e: &dyn std::fmt::Display| QueryError::Internal(format!("scheduler: {e}"));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| failed(&e))?;
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| failed(&e))
}

/// Where a Ballista executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// Address to bind (Arrow Flight for results and shuffles).
    pub bind_host: String,
    /// Flight port.
    pub port: u16,
    /// gRPC port.
    pub grpc_port: u16,
    /// Host name the scheduler and other executors reach this one by.
    pub external_host: Option<String>,
    /// Task slots.
    pub vcores: usize,
    /// Scratch directory for shuffle files.
    pub work_dir: Option<String>,
}

/// Runs a Ballista executor that understands Tongban's plans, until it fails.
pub async fn run_executor(options: ExecutorOptions) -> Result<(), QueryError> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let config = ExecutorProcessConfig {
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        bind_host: options.bind_host,
        port: options.port,
        grpc_port: options.grpc_port,
        external_host: options.external_host,
        vcores: options.vcores.max(1),
        work_dir: options.work_dir,
        override_physical_codec: Some(Arc::new(TongbanCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| QueryError::Internal(format!("executor: {e}")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::query::{Access, Grant, GrantSource, QueryEngine, QueryLimits};

    fn everything(library: BaseLibrary) -> Grant {
        Grant {
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
        }
    }

    async fn rows(engine: &QueryEngine, sql: &str, access: &Access) -> (bool, Vec<String>) {
        let planned = engine.plan(sql, access).await.expect("plans");
        let distributed = planned.distributed();
        let mut stream = tokio::time::timeout(Duration::from_secs(20), planned.execute())
            .await
            .expect("starts in time")
            .expect("runs");
        let mut out = Vec::new();
        while let Some(batch) = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("streams in time")
        {
            let batch = batch.expect("batch");
            let text = arrow::util::pretty::pretty_format_batches(&[batch]).expect("text");
            out.extend(text.to_string().lines().skip(3).map(str::to_owned));
        }
        out.retain(|l| !l.starts_with('+'));
        out.sort();
        (distributed, out)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn joins_and_windows_run_on_a_standalone_cluster_as_in_process() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,ballista=info")
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = tongban_schemas::generate::GeneratorConfig::new(
            7,
            300,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
        );
        let report =
            tongban_schemas::generate::generate(&config, dir.path(), &|_| {}).expect("generated");
        let local = QueryEngine::new(&QueryLimits::default()).expect("engine");
        let cluster = QueryEngine::new(&QueryLimits::default()).expect("engine");
        cluster
            .use_cluster(&Scheduler::Standalone)
            .await
            .expect("standalone cluster");
        for library in BaseLibrary::ALL {
            let files = &report.library(library).files;
            let snapshot = files[0].parent().expect("a directory");
            local
                .set_snapshot(library, 1, snapshot)
                .await
                .expect("snapshot");
            cluster
                .set_snapshot(library, 1, snapshot)
                .await
                .expect("snapshot");
        }
        let access = Access {
            grants: BaseLibrary::ALL.into_iter().map(everything).collect(),
            explain_allowed: false,
        };
        for sql in [
            "SELECT citizen_id FROM population WHERE citizen_id IN (SELECT spouse_citizen_id FROM population)",
            "SELECT e.uscc, p.name FROM legal_entity e LEFT JOIN population p ON p.citizen_id = e.legal_rep_id_number",
            "SELECT citizen_id, lag(name) OVER (ORDER BY citizen_id) FROM population",
            "SELECT household_division_code, count(*) FROM population GROUP BY 1",
        ] {
            let (_, expected) = rows(&local, sql, &access).await;
            let (distributed, got) = rows(&cluster, sql, &access).await;
            assert!(distributed, "{sql} ran in process");
            assert_eq!(got, expected, "{sql}");
        }
    }
}
