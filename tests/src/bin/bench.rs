//! The benchmark harness: generation speed, and governed SQL through the HTTPS gateway
//! beside in-process DataFusion and DuckDB, over the same Parquet files, on one machine.
//!
//! It drives the release `tongban` binary as an operator would (`generate`, `init`,
//! `publish`, then `demo` to seed the demo grants and serve), measures each engine in turn
//! (never two at once, so they do not compete for the cores), breaks a point lookup down
//! into its parts, and writes the results as `BENCHMARKS.md` so a rerun updates them.
//!
//! ```sh
//! cargo build --release --bin tongban
//! cargo run --release -p tongban-tests --bin bench -- --people 10000000
//! ```
//!
//! Everything listens on and connects to 127.0.0.1; every loop is bounded by a count and a
//! time limit; the work directory is removed at the end unless `--keep` is given.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use serde_json::{Value, json};
use tongban_catalog::query::{Access, QueryEngine, QueryLimits, policy};
use tongban_gateway::Config;
use tongban_gateway::pki::PkiPaths;
use tongban_gateway::store::Store;
use tongban_schemas::BaseLibrary;

const DEPARTMENT: &str = "approval-bureau";
const MATTER: &str = "enterprise-opening";
const DUCKDB_SCRIPT: &str = include_str!("../../bench/duckdb_bench.py");

/// Benchmarks Tongban's generator and governed SQL against DataFusion and DuckDB.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// People in the benchmark data set.
    #[arg(long, default_value_t = 10_000_000)]
    people: usize,
    /// Also time generation of this many people (0 to skip).
    #[arg(long, default_value_t = 1_000_000)]
    also_generate: usize,
    /// Scratch directory for generated data and the hub (removed at the end unless --keep).
    #[arg(long, default_value = "/tmp/tongban-bench")]
    work_dir: PathBuf,
    /// Keep the work directory; a later run with --reuse skips generation and publication.
    #[arg(long)]
    keep: bool,
    /// Reuse a hub left in the work directory by an earlier run with --keep.
    #[arg(long)]
    reuse: bool,
    /// The `tongban` binary (default: next to this one).
    #[arg(long)]
    tongban: Option<PathBuf>,
    /// Python with DuckDB (installed with pip when missing).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Timed runs of each lookup query type per engine.
    #[arg(long, default_value_t = 300)]
    lookups: usize,
    /// Seconds per concurrency level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrency levels of the throughput test.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    clients: Vec<usize>,
    /// Where to write the report (default: BENCHMARKS.md at the workspace root).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Clients of the mixed load test (0 to skip it).
    #[arg(long, default_value_t = 64)]
    load_clients: usize,
    /// Seconds the mixed load runs.
    #[arg(long, default_value_t = 60)]
    load_seconds: u64,
    /// Each load client's pause between requests, milliseconds: a window clerk, not a
    /// flood. With 0 every client sends back to back and latency measures queueing only.
    #[arg(long, default_value_t = 500)]
    load_think_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(run(args))
}

/// One query type: a list of statements the runs cycle through (different keys), and how
/// many runs it gets.
#[derive(Debug, Clone)]
struct QuerySpec {
    name: &'static str,
    label: String,
    sqls: Vec<String>,
    iterations: usize,
    warmup: usize,
    max_seconds: u64,
}

/// Timings of one query type on one engine.
#[derive(Debug, Clone, Default)]
struct Samples {
    latencies_ms: Vec<f64>,
    /// Rows returned per run, in run order.
    rows: Vec<u64>,
    error: Option<String>,
}

impl Samples {
    fn stats(&self) -> Option<Stats> {
        Stats::of(&self.latencies_ms)
    }
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    n: usize,
    p50: f64,
    p99: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        Some(Stats {
            n: sorted.len(),
            p50: rank(50.0),
            p99: rank(99.0),
        })
    }
}

/// One concurrency level of the throughput test.
#[derive(Debug, Clone, Default)]
struct Level {
    clients: usize,
    seconds: f64,
    ok: u64,
    refused: u64,
    errors: u64,
    latencies_ms: Vec<f64>,
}

impl Level {
    fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }
}

#[derive(Debug, Default)]
struct Generation {
    people: usize,
    seconds: f64,
    rows: BTreeMap<String, u64>,
    bytes: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Report {
    machine: Vec<(String, String)>,
    generations: Vec<Generation>,
    publish_seconds: BTreeMap<String, f64>,
    queries: Vec<QuerySpec>,
    gateway: BTreeMap<&'static str, Samples>,
    datafusion: BTreeMap<&'static str, Samples>,
    duckdb: BTreeMap<&'static str, Samples>,
    duckdb_note: Option<String>,
    gateway_levels: Vec<Level>,
    datafusion_levels: Vec<Level>,
    duckdb_levels: Vec<Level>,
    breakdown: Breakdown,
    http_version: String,
    mismatches: Vec<String>,
    notes: Vec<String>,
    /// Materials resolutions over HTTPS, by matter.
    resolutions: BTreeMap<&'static str, Samples>,
    /// Licence verifications over HTTPS: one client's latency, then throughput levels.
    verify_single: Samples,
    verify_levels: Vec<Level>,
    /// The mixed load test, by kind of request.
    load: Option<MixedLoad>,
}

/// Many clients at once, each sending lookups, licence verifications and resolutions in
/// turn with a pause between requests.
#[derive(Debug, Default)]
struct MixedLoad {
    clients: usize,
    seconds: f64,
    think_ms: u64,
    kinds: BTreeMap<&'static str, Level>,
    /// The first few failures, for the report.
    failures: Vec<String>,
}

impl MixedLoad {
    fn all(&self) -> Level {
        let mut all = Level {
            clients: self.clients,
            seconds: self.seconds,
            ..Level::default()
        };
        for level in self.kinds.values() {
            all.ok += level.ok;
            all.errors += level.errors;
            all.refused += level.refused;
            all.latencies_ms.extend(&level.latencies_ms);
        }
        all
    }
}

/// Parts of a point lookup, each measured on its own.
#[derive(Debug, Default)]
struct Breakdown {
    https_healthz: Option<Stats>,
    https_departments: Option<Stats>,
    server_until_audit: Option<Stats>,
    gateway_point: Option<Stats>,
    df_plan: Option<Stats>,
    df_execute: Option<Stats>,
    df_select1_plan: Option<Stats>,
    governed_plan: Option<Stats>,
    governed_execute: Option<Stats>,
    governed_select1_plan: Option<Stats>,
    grants_lookup: Option<Stats>,
    resources_lookup: Option<Stats>,
    audit_insert: Option<Stats>,
    /// `(writers, entries per second)` of the group-commit runs.
    audit_group_commit: Vec<(usize, f64)>,
    sqlite_full: Option<Stats>,
    sqlite_normal: Option<Stats>,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let tongban = match &args.tongban {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the harness binary has no directory")?
            .join("tongban"),
    };
    ensure!(
        tongban.is_file(),
        "{} not found: build it first with `cargo build --release --bin tongban` or pass --tongban",
        tongban.display()
    );
    let output = args.output.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("BENCHMARKS.md")
    });
    let work = args.work_dir.clone();
    let hub = work.join("hub");
    let mut report = Report {
        machine: machine_description(),
        ..Report::default()
    };

    let reused = args.reuse && hub.join("tongban.toml").is_file();
    if !reused {
        if work.exists() {
            std::fs::remove_dir_all(&work)
                .with_context(|| format!("cannot clear {}", work.display()))?;
        }
        std::fs::create_dir_all(&work)?;
        if args.also_generate > 0 && args.also_generate != args.people {
            let out = work.join(format!("gen-{}", args.also_generate));
            report
                .generations
                .push(generate(&tongban, &out, args.also_generate)?);
            std::fs::remove_dir_all(&out)?;
        }
        let generated = work.join("generated");
        report
            .generations
            .push(generate(&tongban, &generated, args.people)?);
        step("init", &tongban, &["init", "--dir", &s(&hub)])?;
        for library in BaseLibrary::ALL {
            let started = Instant::now();
            step(
                &format!("publish {library}"),
                &tongban,
                &[
                    "publish",
                    "--dir",
                    &s(&hub),
                    "--library",
                    library.table_name(),
                    &s(&generated.join(library.table_name())),
                ],
            )?;
            report.publish_seconds.insert(
                library.table_name().to_owned(),
                started.elapsed().as_secs_f64(),
            );
        }
        std::fs::remove_dir_all(&generated)?;
    } else {
        report
            .notes
            .push("Reused a hub from an earlier run (`--reuse`); generation not timed.".into());
    }

    let config = Config::load(&hub.join("tongban.toml")).context("reading the hub's config")?;
    let snapshots = snapshot_dirs(&config).await?;
    for library in BaseLibrary::ALL {
        ensure!(
            snapshots.contains_key(&library),
            "the hub has no published snapshot of {library}"
        );
    }

    // Plain DataFusion over the snapshot directories: also used to pick keys.
    let ctx = SessionContext::new();
    for (library, (_, dir)) in &snapshots {
        ctx.register_parquet(
            library.table_name(),
            &format!("{}/", dir.display()),
            ParquetReadOptions::default(),
        )
        .await
        .with_context(|| format!("registering {library} in DataFusion"))?;
    }
    println!("picking keys …");
    let keys = Keys::sample(&ctx, 300).await?;
    report.queries = query_specs(&keys, args.lookups);
    let point_sqls = report.queries[0].sqls.clone();

    println!("DataFusion in-process …");
    for q in &report.queries {
        let samples = run_datafusion(&ctx, q).await;
        println!("  {:<10} {}", q.name, summary(&samples));
        report.datafusion.insert(q.name, samples);
    }
    for &clients in &args.clients {
        let level = datafusion_level(&ctx, &point_sqls, clients, args.seconds).await;
        println!(
            "  {clients:>2} clients: {:.0} lookups/s",
            level.per_second()
        );
        report.datafusion_levels.push(level);
    }

    println!("governed engine in-process and store …");
    breakdown_in_process(&ctx, &config, &snapshots, &point_sqls, &work, &mut report).await?;
    drop(ctx);

    println!("DuckDB …");
    match run_duckdb(&args, &work, &snapshots, &report.queries, &point_sqls) {
        Ok(out) => absorb_duckdb(out, &mut report),
        Err(e) => {
            println!("  DuckDB did not run: {e:#}");
            report.duckdb_note = Some(format!("DuckDB did not run: {e:#}"));
        }
    }

    println!("gateway over HTTPS …");
    let gateway = Gateway::start(&tongban, &hub, &work)?;
    let gateway_result = bench_gateway(&gateway, &hub, &args, &point_sqls, &mut report).await;
    drop(gateway);
    gateway_result?;
    server_durations(&config, &mut report).await?;

    check_rows(&mut report);
    let markdown = render(&args, &report);
    std::fs::write(&output, markdown)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!("wrote {}", output.display());
    if !args.keep {
        std::fs::remove_dir_all(&work)
            .with_context(|| format!("cannot remove {}", work.display()))?;
    }
    Ok(())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs one `tongban` command to completion; a failure carries its output.
fn step(what: &str, tongban: &Path, args: &[&str]) -> anyhow::Result<String> {
    println!("{what} …");
    let out = Command::new(tongban)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", tongban.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "`tongban {}` failed ({}):\n{}\n{}",
            args.join(" "),
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn generate(tongban: &Path, out: &Path, people: usize) -> anyhow::Result<Generation> {
    let started = Instant::now();
    let stdout = step(
        &format!("generate {people} people"),
        tongban,
        &[
            "generate",
            "--out",
            &s(out),
            "--people",
            &people.to_string(),
        ],
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let mut generation = Generation {
        people,
        seconds,
        ..Generation::default()
    };
    for line in stdout.lines() {
        if let Some((name, rest)) = line.split_once(':')
            && let Some(n) = rest.trim().strip_suffix(" rows")
            && let Ok(n) = n.trim().parse::<u64>()
        {
            generation.rows.insert(name.trim().to_owned(), n);
        }
    }
    for library in BaseLibrary::ALL {
        let dir = out.join(library.table_name());
        let mut bytes = 0;
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            bytes += entry?.metadata()?.len();
        }
        generation
            .bytes
            .insert(library.table_name().to_owned(), bytes);
    }
    println!("  {people} people in {seconds:.1} s");
    Ok(generation)
}

/// The current snapshot (version, directory) of each library, as the gateway loads them.
async fn snapshot_dirs(config: &Config) -> anyhow::Result<BTreeMap<BaseLibrary, (i64, PathBuf)>> {
    let store = Store::connect(config.store.url.expose(), 1).await?;
    let mut dirs = BTreeMap::new();
    for resource in store.list_resources().await? {
        if let Some(snapshot) = &resource.latest {
            dirs.insert(
                resource.definition.base_library,
                (snapshot.version, config.data_dir.join(&snapshot.path)),
            );
        }
    }
    store.close().await;
    Ok(dirs)
}

/// Keys spread over the key space, taken from the files themselves.
#[derive(Debug)]
struct Keys {
    citizen_ids: Vec<String>,
    spouse_ids: Vec<String>,
    usccs: Vec<String>,
    legal_rep_ids: Vec<String>,
}

impl Keys {
    async fn sample(ctx: &SessionContext, want: usize) -> anyhow::Result<Keys> {
        let people = every_nth(
            ctx,
            "SELECT citizen_id, spouse_citizen_id FROM population",
            want,
        )
        .await?;
        let entities = every_nth(
            ctx,
            "SELECT uscc, legal_rep_id_number FROM legal_entity",
            want,
        )
        .await?;
        let mut keys = Keys {
            citizen_ids: people.iter().map(|(a, _)| a.clone()).collect(),
            spouse_ids: people.iter().filter_map(|(_, b)| b.clone()).collect(),
            usccs: entities.iter().map(|(a, _)| a.clone()).collect(),
            legal_rep_ids: entities.iter().filter_map(|(_, b)| b.clone()).collect(),
        };
        ensure!(
            keys.citizen_ids.len() >= 100 && !keys.spouse_ids.is_empty() && keys.usccs.len() >= 10,
            "too few keys in the data set to benchmark (is it tiny?)"
        );
        // A fixed shuffle, so consecutive runs do not read neighbouring pages.
        for list in [
            &mut keys.citizen_ids,
            &mut keys.spouse_ids,
            &mut keys.usccs,
            &mut keys.legal_rep_ids,
        ] {
            shuffle(list);
        }
        Ok(keys)
    }

    /// IDs that cannot exist: a present ID with another check character, so it sorts next
    /// to a real key (no pruning by file statistics) but no validated row can hold it.
    fn absent(&self) -> Vec<String> {
        self.citizen_ids
            .iter()
            .map(|id| {
                let (body, check) = id.split_at(17);
                let other = if check == "0" { "1" } else { "0" };
                format!("{body}{other}")
            })
            .collect()
    }
}

async fn every_nth(
    ctx: &SessionContext,
    sql: &str,
    want: usize,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let total: u64 = {
        let table = sql.rsplit(' ').next().context("no table")?;
        let batches = ctx
            .sql(&format!("SELECT count(*) FROM {table}"))
            .await?
            .collect()
            .await?;
        let count = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        count.value(0) as u64
    };
    let step = (total / want as u64).max(1);
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    let mut picked = Vec::new();
    let mut seen = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        // Plain DataFusion reads Parquet strings as views; normalise to one type.
        let utf8 = |i: usize| {
            datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8)
                .context("casting a key column to text")
        };
        let (a, b) = (utf8(0)?, utf8(1)?);
        let (a, b) = (a.as_string::<i32>(), b.as_string::<i32>());
        for i in 0..batch.num_rows() {
            if seen.is_multiple_of(step) && picked.len() < want {
                let second = (!b.is_null(i)).then(|| b.value(i).to_owned());
                picked.push((a.value(i).to_owned(), second));
            }
            seen += 1;
        }
    }
    Ok(picked)
}

fn shuffle<T>(list: &mut [T]) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..list.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        list.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

fn quoted(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn query_specs(keys: &Keys, lookups: usize) -> Vec<QuerySpec> {
    let lookup = |name, label: &str, sqls: Vec<String>| QuerySpec {
        name,
        label: label.to_owned(),
        sqls,
        iterations: lookups,
        warmup: 20,
        max_seconds: 60,
    };
    let in_list = |n: usize| -> Vec<String> {
        (0..20)
            .map(|start| {
                let chosen: Vec<String> = (0..n)
                    .map(|i| {
                        keys.citizen_ids[(start * 13 + i * 3) % keys.citizen_ids.len()].clone()
                    })
                    .collect();
                format!(
                    "SELECT * FROM population WHERE citizen_id IN ({})",
                    quoted(&chosen)
                )
            })
            .collect()
    };
    vec![
        lookup(
            "point",
            "point lookup by citizen_id (present key)",
            keys.citizen_ids
                .iter()
                .map(|k| format!("SELECT * FROM population WHERE citizen_id = '{k}'"))
                .collect(),
        ),
        lookup(
            "spouse",
            "secondary key: population.spouse_citizen_id",
            keys.spouse_ids
                .iter()
                .map(|k| {
                    format!(
                        "SELECT citizen_id, name, marital_status_code FROM population WHERE spouse_citizen_id = '{k}'"
                    )
                })
                .collect(),
        ),
        lookup(
            "legal_rep",
            "secondary key: legal_entity.legal_rep_id_number",
            keys.legal_rep_ids
                .iter()
                .map(|k| {
                    format!("SELECT uscc, name, status FROM legal_entity WHERE legal_rep_id_number = '{k}'")
                })
                .collect(),
        ),
        lookup(
            "absent",
            "absent citizen_id (next to a real key)",
            keys.absent()
                .iter()
                .map(|k| format!("SELECT * FROM population WHERE citizen_id = '{k}'"))
                .collect(),
        ),
        lookup("in_1", "IN-list of 1 citizen_id", in_list(1)),
        QuerySpec {
            iterations: lookups.min(200),
            ..lookup("in_10", "IN-list of 10 citizen_ids", in_list(10))
        },
        QuerySpec {
            iterations: lookups.min(100),
            warmup: 5,
            ..lookup("in_100", "IN-list of 100 citizen_ids", in_list(100))
        },
        QuerySpec {
            name: "group_by",
            // By city (the first four digits of the division) so that the answer (some
            // hundreds of groups) stays under the gateway's row cap: a county-level grouping
            // exceeds it, and the gateway rightly refuses to pass a truncated answer off as
            // complete.
            label: "group-by over all people (city × gender)".into(),
            sqls: vec![
                "SELECT left(household_division_code, 4) AS city, gender_code, count(*) AS n FROM population GROUP BY left(household_division_code, 4), gender_code"
                    .into(),
            ],
            iterations: 10,
            warmup: 2,
            max_seconds: 90,
        },
        QuerySpec {
            name: "join",
            label: "join population ⋈ legal_entity on legal_rep_id_number, one uscc".into(),
            sqls: keys
                .usccs
                .iter()
                .take(50)
                .map(|u| {
                    format!(
                        "SELECT e.uscc, e.name, p.citizen_id, p.name AS rep_name, p.birth_date FROM legal_entity e JOIN population p ON e.legal_rep_id_number = p.citizen_id WHERE e.uscc = '{u}'"
                    )
                })
                .collect(),
            iterations: 20,
            warmup: 2,
            max_seconds: 90,
        },
    ]
}

// ---------------------------------------------------------------------------------------
// In-process DataFusion, no policy, no audit.

async fn df_once(ctx: &SessionContext, sql: &str) -> anyhow::Result<u64> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(batches.iter().map(|b| b.num_rows() as u64).sum())
}

async fn run_datafusion(ctx: &SessionContext, q: &QuerySpec) -> Samples {
    let mut samples = Samples::default();
    let run = async {
        for i in 0..q.warmup {
            df_once(ctx, &q.sqls[i % q.sqls.len()]).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(q.max_seconds);
        for i in 0..q.iterations {
            let started = Instant::now();
            let rows = df_once(ctx, &q.sqls[i % q.sqls.len()]).await?;
            samples.latencies_ms.push(ms(started));
            samples.rows.push(rows);
            if Instant::now() > deadline {
                break;
            }
        }
        anyhow::Ok(())
    };
    if let Err(e) = run.await {
        samples.error = Some(format!("{e:#}"));
    }
    samples
}

async fn datafusion_level(
    ctx: &SessionContext,
    sqls: &[String],
    clients: usize,
    seconds: u64,
) -> Level {
    let stop = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let sqls = Arc::new(sqls.to_vec());
    let mut tasks = Vec::new();
    for n in 0..clients {
        let ctx = ctx.clone();
        let sqls = Arc::clone(&sqls);
        tasks.push(tokio::spawn(async move {
            let mut level = Level::default();
            let mut i = n * 7919;
            while Instant::now() < stop {
                let t = Instant::now();
                match df_once(&ctx, &sqls[i % sqls.len()]).await {
                    Ok(_) => {
                        level.ok += 1;
                        level.latencies_ms.push(ms(t));
                    }
                    Err(_) => level.errors += 1,
                }
                i += 1;
            }
            level
        }));
    }
    let mut level = Level {
        clients,
        ..Level::default()
    };
    for task in tasks {
        if let Ok(part) = task.await {
            merge(&mut level, part);
        }
    }
    level.seconds = started.elapsed().as_secs_f64();
    level
}

fn merge(level: &mut Level, part: Level) {
    level.ok += part.ok;
    level.refused += part.refused;
    level.errors += part.errors;
    level.latencies_ms.extend(part.latencies_ms);
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// Where a lookup's time goes, measured in-process: plain DataFusion split into planning and
// execution, the governed engine likewise, the store reads a query makes, the audit insert.

async fn breakdown_in_process(
    ctx: &SessionContext,
    config: &Config,
    snapshots: &BTreeMap<BaseLibrary, (i64, PathBuf)>,
    point_sqls: &[String],
    work: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = point_sqls.len().min(300);
    let b = &mut report.breakdown;

    let (mut plan, mut exec, mut select1) = (Vec::new(), Vec::new(), Vec::new());
    for (i, sql) in point_sqls.iter().cycle().take(n + 20).enumerate() {
        let t = Instant::now();
        let physical = ctx.sql(sql).await?.create_physical_plan().await?;
        let planned = ms(t);
        let t = Instant::now();
        datafusion::physical_plan::collect(physical, ctx.task_ctx()).await?;
        let executed = ms(t);
        let t = Instant::now();
        ctx.sql("SELECT 1").await?.create_physical_plan().await?;
        let trivial = ms(t);
        if i >= 20 {
            plan.push(planned);
            exec.push(executed);
            select1.push(trivial);
        }
    }
    b.df_plan = Stats::of(&plan);
    b.df_execute = Stats::of(&exec);
    b.df_select1_plan = Stats::of(&select1);

    // The governed engine, configured as the gateway configures it, with the demo grants.
    let limits = QueryLimits {
        memory_bytes: (config.query.memory_mb as usize) << 20,
        batch_size: 8192,
        target_partitions: config.query.target_partitions as usize,
    };
    let engine = QueryEngine::new(&limits).map_err(|e| anyhow::anyhow!("engine: {e}"))?;
    for (library, (version, dir)) in snapshots {
        engine
            .set_snapshot(*library, *version, dir)
            .await
            .map_err(|e| anyhow::anyhow!("snapshot of {library}: {e}"))?;
    }
    // Work on a copy of the hub's store, so the hub's audit log only holds real requests.
    let db = config
        .store
        .url
        .expose()
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .map(PathBuf::from)
        .context("the benchmark expects the embedded SQLite store")?;
    let scratch = work.join("scratch.db");
    std::fs::copy(&db, &scratch).with_context(|| format!("copying {}", db.display()))?;
    let store = Store::connect(&format!("sqlite://{}", scratch.display()), 4).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let resources = store.list_resources().await?;
    let demo = tongban_gateway::grants::demo_grants(&resources, now);
    let access = Access {
        grants: BaseLibrary::ALL
            .iter()
            .filter_map(|l| policy::resolve(&demo, DEPARTMENT, *l, MATTER, now).cloned())
            .collect(),
        explain_allowed: false,
    };
    ensure!(
        access.grants.len() == 3,
        "the demo grants do not cover every library"
    );
    let (mut plan, mut exec, mut select1) = (Vec::new(), Vec::new(), Vec::new());
    for (i, sql) in point_sqls.iter().cycle().take(n + 20).enumerate() {
        let t = Instant::now();
        let planned = engine
            .plan(sql, &access)
            .await
            .map_err(|e| anyhow::anyhow!("governed plan: {e} ({})", e.detail()))?;
        let planning = ms(t);
        let t = Instant::now();
        let mut stream = planned
            .execute()
            .await
            .map_err(|e| anyhow::anyhow!("governed execute: {e}"))?;
        while let Some(batch) = stream.next().await {
            batch?;
        }
        let executing = ms(t);
        let t = Instant::now();
        engine
            .plan("SELECT 1", &access)
            .await
            .map_err(|e| anyhow::anyhow!("governed SELECT 1: {e}"))?;
        let trivial = ms(t);
        if i >= 20 {
            plan.push(planning);
            exec.push(executing);
            select1.push(trivial);
        }
    }
    b.governed_plan = Stats::of(&plan);
    b.governed_execute = Stats::of(&exec);
    b.governed_select1_plan = Stats::of(&select1);

    // Store reads every query makes (grants held, and the catalogue for implied grants).
    let (mut grants, mut catalogue) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = Instant::now();
        store.grants_for_consumer(DEPARTMENT).await?;
        grants.push(ms(t));
        let t = Instant::now();
        store.list_resources().await?;
        catalogue.push(ms(t));
    }
    b.grants_lookup = Stats::of(&grants);
    b.resources_lookup = Stats::of(&catalogue);

    // The audit append through the sequencer, with an entry of the size a lookup produces:
    // one at a time (latency), then many writers at once (group commit throughput).
    let key_dir = work.join("bench-keys");
    let ledger = tongban_gateway::ledger::Ledger::start(
        store.clone(),
        tongban_gateway::ledger::heads::SigningKey::load_or_create(&key_dir.join("sign.pk8"))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        tongban_gateway::ledger::load_subject_key(&key_dir.join("subject.key"))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        tongban_gateway::ledger::LedgerOptions::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let principal = tongban_gateway::auth::Principal {
        department: DEPARTMENT.into(),
        department_name: DEPARTMENT.into(),
        roles: "consumer".parse().map_err(anyhow::Error::msg)?,
        credential: tongban_gateway::auth::Credential::Certificate {
            fingerprint: "ab".repeat(32),
        },
        subject: None,
    };
    let entry = |i: usize| {
        let event = tongban_gateway::audit::AuditEvent::QueryExecuted {
            sql_sha256: "cd".repeat(32),
            plan_sha256: "ef".repeat(32),
            tables: [(
                "population".to_owned(),
                [
                    "birth_date",
                    "citizen_id",
                    "death_date",
                    "ethnicity_code",
                    "gender_code",
                    "household_address",
                    "household_division_code",
                    "marital_status_code",
                    "name",
                    "person_status",
                    "residence_address",
                    "spouse_citizen_id",
                    "updated_at",
                ]
                .map(str::to_owned)
                .to_vec(),
            )]
            .into(),
            snapshots: [("population".to_owned(), 1)].into(),
            rows: 1,
            truncated: false,
            format: "json".into(),
            cluster: None,
        };
        tongban_gateway::audit::entry(
            &principal,
            &format!("bench-{i}-{now}"),
            Some(tongban_gateway::audit::Purpose {
                matter: MATTER.into(),
                case_id: "BENCH-1".into(),
                legal_basis: "bench".into(),
                confidential_until: None,
            }),
            Instant::now(),
            event,
        )
    };
    let mut inserts = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        ledger
            .append(entry(i), vec!["00".repeat(32)])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        inserts.push(ms(t));
    }
    // Group commit: every writer appends its next entry as soon as the previous one is
    // acknowledged. 64 writers is a busy gateway; 256 shows the log's capacity once a batch
    // is large enough to amortise the commit's fsync.
    for (writers, per_writer) in [(64usize, 400usize), (256, 200)] {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..writers {
            let ledger = ledger.clone();
            let entries: Vec<_> = (0..per_writer)
                .map(|i| entry(1_000_000 * writers + w * per_writer + i))
                .collect();
            tasks.push(tokio::spawn(async move {
                for e in entries {
                    ledger.append(e, Vec::new()).await?;
                }
                Ok::<_, tongban_gateway::error::ApiError>(())
            }));
        }
        for task in tasks {
            task.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        b.audit_group_commit.push((
            writers,
            (writers * per_writer) as f64 / t.elapsed().as_secs_f64(),
        ));
    }
    b.audit_insert = Stats::of(&inserts);
    store.close().await;
    std::fs::remove_file(&scratch).ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// DuckDB through Python.

fn run_duckdb(
    args: &Args,
    work: &Path,
    snapshots: &BTreeMap<BaseLibrary, (i64, PathBuf)>,
    queries: &[QuerySpec],
    point_sqls: &[String],
) -> anyhow::Result<Value> {
    let has_duckdb = Command::new(&args.python)
        .args(["-c", "import duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", args.python))?
        .success();
    if !has_duckdb {
        println!("  installing duckdb with pip …");
        let status = Command::new(&args.python)
            .args(["-m", "pip", "install", "--quiet", "duckdb"])
            .status()?;
        ensure!(status.success(), "`pip install duckdb` failed");
    }
    let script = work.join("duckdb_bench.py");
    std::fs::write(&script, DUCKDB_SCRIPT)?;
    let tables: serde_json::Map<String, Value> = snapshots
        .iter()
        .map(|(l, (_, dir))| {
            (
                l.table_name().to_owned(),
                Value::String(format!("{}/*.parquet", dir.display())),
            )
        })
        .collect();
    let spec = json!({
        "tables": tables,
        "queries": queries.iter().map(|q| json!({
            "name": q.name, "sqls": q.sqls, "iterations": q.iterations,
            "warmup": q.warmup, "max_seconds": q.max_seconds,
        })).collect::<Vec<_>>(),
        "concurrency": {"sqls": point_sqls, "levels": args.clients, "seconds": args.seconds},
        "sqlite_probe": {"path": s(&work.join("probe.db")), "inserts": 300, "entry_bytes": 700},
    });
    let mut child = Command::new(&args.python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", script.display()))?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(spec.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "the DuckDB script failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("the DuckDB script's output is not JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn absorb_duckdb(out: Value, report: &mut Report) {
    report.machine.push((
        "DuckDB".into(),
        format!(
            "{} (Python), threads = {}",
            out["version"].as_str().unwrap_or("?"),
            out["threads"]
        ),
    ));
    for q in &report.queries {
        let v = &out["queries"][q.name];
        let samples = Samples {
            latencies_ms: floats(&v["latencies_ms"]),
            rows: v["rows"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
            error: None,
        };
        println!("  {:<10} {}", q.name, summary(&samples));
        report.duckdb.insert(q.name, samples);
    }
    for level in out["concurrency"].as_array().into_iter().flatten() {
        let level = Level {
            clients: level["clients"].as_u64().unwrap_or(0) as usize,
            seconds: level["seconds"].as_f64().unwrap_or(0.0),
            ok: level["ok"].as_u64().unwrap_or(0),
            refused: 0,
            errors: level["errors"].as_u64().unwrap_or(0),
            latencies_ms: floats(&level["latencies_ms"]),
        };
        println!(
            "  {:>2} clients: {:.0} lookups/s",
            level.clients,
            level.per_second()
        );
        report.duckdb_levels.push(level);
    }
    report.breakdown.sqlite_full = Stats::of(&floats(&out["sqlite"]["full"]));
    report.breakdown.sqlite_normal = Stats::of(&floats(&out["sqlite"]["normal"]));
}

// ---------------------------------------------------------------------------------------
// The gateway over HTTPS.

/// A `tongban demo` process serving the hub; stopped when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
}

impl Gateway {
    fn start(tongban: &Path, hub: &Path, work: &Path) -> anyhow::Result<Gateway> {
        let port = free_port()?;
        let flight = free_port()?;
        let log = std::fs::File::create(work.join("gateway.log"))?;
        let child = Command::new(tongban)
            .args([
                "demo",
                "--dir",
                &s(hub),
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--flight-listen",
                &format!("127.0.0.1:{flight}"),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", tongban.display()))?;
        Ok(Gateway {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct HttpsClient {
    client: reqwest::Client,
    base: String,
}

impl HttpsClient {
    fn new(hub: &Path, addr: SocketAddr) -> anyhow::Result<HttpsClient> {
        let pki = PkiPaths::new(hub);
        let client = tongban_tests::client(
            &pki.ca_cert(),
            Some((&pki.client_cert(DEPARTMENT), &pki.client_key(DEPARTMENT))),
        )?;
        Ok(HttpsClient {
            client,
            base: format!("https://{addr}"),
        })
    }

    /// Runs one query; `Ok(None)` when the gateway refused it for load (429).
    async fn query(&self, sql: &str) -> anyhow::Result<Option<(u64, String, bool)>> {
        let response = self
            .client
            .post(format!("{}/v1/query", self.base))
            .json(&json!({
                "sql": sql,
                "purpose": {"matter": MATTER, "case_id": "BENCH-1", "legal_basis": "bench"},
            }))
            .send()
            .await?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            response.bytes().await?;
            return Ok(None);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let rows = header("tongban-row-count").and_then(|v| v.parse().ok());
        let audit_id = header("tongban-audit-id").unwrap_or_default();
        let truncated = header("tongban-truncated").is_some_and(|v| v == "true");
        let body = response.bytes().await?;
        if status != reqwest::StatusCode::OK {
            bail!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok(Some((
            rows.context("no tongban-row-count header")?,
            audit_id,
            truncated,
        )))
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Version> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await?;
        let version = response.version();
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.bytes().await?;
        Ok(version)
    }
}

/// Audit ids of the gateway's point lookups, to read their server-side durations.
static POINT_AUDIT_IDS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn bench_gateway(
    gateway: &Gateway,
    hub: &Path,
    args: &Args,
    point_sqls: &[String],
    report: &mut Report,
) -> anyhow::Result<()> {
    let client = HttpsClient::new(hub, gateway.addr)?;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match client.get("/healthz").await {
            Ok(version) => {
                report.http_version = format!("{version:?}");
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => bail!("the gateway did not come up in 180 s (see gateway.log): {e:#}"),
        }
    }

    report.breakdown.https_healthz = round_trips(&client, "/healthz").await?;
    report.breakdown.https_departments = round_trips(&client, "/v1/departments").await?;

    for q in report.queries.clone() {
        let mut samples = Samples::default();
        let result = async {
            for i in 0..q.warmup {
                client.query(&q.sqls[i % q.sqls.len()]).await?;
            }
            let stop = Instant::now() + Duration::from_secs(q.max_seconds);
            for i in 0..q.iterations {
                let t = Instant::now();
                let answer = client.query(&q.sqls[i % q.sqls.len()]).await?;
                let took = ms(t);
                let (rows, audit_id, truncated) =
                    answer.context("refused with 429 with one client")?;
                if truncated {
                    bail!("the answer was truncated by a row or byte cap");
                }
                samples.latencies_ms.push(took);
                samples.rows.push(rows);
                if q.name == "point"
                    && let Ok(mut ids) = POINT_AUDIT_IDS.lock()
                {
                    ids.push(audit_id);
                }
                if Instant::now() > stop {
                    break;
                }
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            samples.error = Some(format!("{e:#}"));
        }
        println!("  {:<10} {}", q.name, summary(&samples));
        report.gateway.insert(q.name, samples);
    }
    report.breakdown.gateway_point = report.gateway.get("point").and_then(Samples::stats);

    for &clients in &args.clients {
        let level = gateway_level(hub, gateway.addr, point_sqls, clients, args.seconds).await?;
        println!(
            "  {clients:>2} clients: {:.0} lookups/s ({} refused with 429, {} errors)",
            level.per_second(),
            level.refused,
            level.errors
        );
        report.gateway_levels.push(level);
    }

    bench_resolutions(
        &client,
        keys_for_resolution(point_sqls, &report.queries),
        args,
        report,
    )
    .await;
    if let Err(e) = bench_verification(hub, gateway.addr, &client, args, report).await {
        report.verify_single.error = Some(format!("{e:#}"));
        println!("  licence verification did not run: {e:#}");
    }
    if args.load_clients > 0 {
        match bench_mixed_load(hub, gateway.addr, point_sqls, args, report).await {
            Ok(load) => report.load = Some(load),
            Err(e) => {
                report
                    .notes
                    .push(format!("The mixed load test did not run: {e:#}"));
                println!("  mixed load did not run: {e:#}");
            }
        }
    }
    Ok(())
}

/// Issues a business licence to `uscc` as the market regulator; returns the token.
async fn issue_licence(hub: &Path, addr: SocketAddr, uscc: &str) -> anyhow::Result<String> {
    let pki = PkiPaths::new(hub);
    let issuer = tongban_tests::client(
        &pki.ca_cert(),
        Some((
            &pki.client_cert("market-regulation"),
            &pki.client_key("market-regulation"),
        )),
    )?;
    let response = issuer
        .post(format!("https://{addr}/v1/licences"))
        .json(&json!({"type": "business-licence", "holder": {"type": "001", "id": uscc}, "face": {
            "uscc": uscc, "name": "示例有限公司", "entity_type": "有限责任公司", "legal_rep_name": "张三",
            "registered_capital": "100", "established_date": "2020-01-02", "term_from": "2020-01-02",
            "term_to": "长期", "address": "河北省廊坊市广阳区示例路1号", "business_scope": "技术开发",
            "registration_authority": "廊坊市市场监督管理局", "issue_date": "2020-01-02"}}))
        .send()
        .await?;
    let status = response.status();
    let issued: Value = response.json().await?;
    ensure!(status == reqwest::StatusCode::CREATED, "issue: {issued}");
    Ok(issued["token"].as_str().context("no token")?.to_owned())
}

/// `--load-clients` clients for `--load-seconds`: client `i` cycles through a point lookup,
/// a licence verification and an `enterprise-opening` resolution, starting at kind `i % 3`,
/// pausing `--load-think-ms` between requests. Any answer but a success is an error (a 429
/// included), and is counted against its kind.
async fn bench_mixed_load(
    hub: &Path,
    addr: SocketAddr,
    point_sqls: &[String],
    args: &Args,
    report: &Report,
) -> anyhow::Result<MixedLoad> {
    let (people, entities) = keys_for_resolution(point_sqls, &report.queries);
    ensure!(!people.is_empty(), "no applicants picked");
    let uscc = entities.first().context("no entity picked")?;
    let token = issue_licence(hub, addr, uscc).await?;
    let think = Duration::from_millis(args.load_think_ms);
    let stop = Instant::now() + Duration::from_secs(args.load_seconds);
    let started = Instant::now();
    let failures: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..args.load_clients {
        let c = HttpsClient::new(hub, addr)?;
        c.get("/healthz").await?;
        let (sqls, people, token, failures) = (
            point_sqls.to_vec(),
            people.clone(),
            token.clone(),
            Arc::clone(&failures),
        );
        tasks.push(tokio::spawn(async move {
            let mut kinds: BTreeMap<&'static str, Level> = BTreeMap::new();
            let mut n = i;
            while Instant::now() < stop {
                let kind = ["lookup", "verify", "resolve"][n % 3];
                let t = Instant::now();
                let request = match kind {
                    "lookup" => c.client.post(format!("{}/v1/query", c.base)).json(&json!({
                        "sql": sqls[n % sqls.len()],
                        "purpose": {"matter": MATTER, "case_id": format!("LOAD-{i}-{n}"), "legal_basis": "bench"},
                    })),
                    "verify" => c.client.post(format!("{}/v1/licences/verify", c.base)).json(&json!({
                        "token": token,
                        "purpose": {"matter": "food-business-licence", "case_id": format!("LOAD-{i}-{n}"), "legal_basis": "bench"},
                    })),
                    _ => c
                        .client
                        .post(format!("{}/v1/matters/enterprise-opening/resolve", c.base))
                        .json(&json!({
                            "applicant": {"type": "111", "id": people[n % people.len()]},
                            "case_id": format!("LOAD-{i}-{n}"),
                        })),
                };
                let outcome = async {
                    let response = request.send().await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    ensure!(
                        status.is_success(),
                        "{kind}: HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    );
                    anyhow::Ok(())
                }
                .await;
                let level = kinds.entry(kind).or_default();
                match outcome {
                    Ok(()) => {
                        level.ok += 1;
                        level.latencies_ms.push(ms(t));
                    }
                    Err(e) => {
                        level.errors += 1;
                        if let Ok(mut f) = failures.lock()
                            && f.len() < 5
                        {
                            f.push(format!("{e:#}"));
                        }
                    }
                }
                n += 1;
                tokio::time::sleep(think).await;
            }
            kinds
        }));
    }
    let mut load = MixedLoad {
        clients: args.load_clients,
        think_ms: args.load_think_ms,
        ..MixedLoad::default()
    };
    for task in tasks {
        for (kind, level) in task.await? {
            merge(load.kinds.entry(kind).or_default(), level);
        }
    }
    load.seconds = started.elapsed().as_secs_f64();
    load.failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    let all = load.all();
    println!(
        "  mixed load, {} clients for {:.0} s: {:.0} requests/s, {} errors, {}",
        load.clients,
        load.seconds,
        all.per_second(),
        all.errors,
        Stats::of(&all.latencies_ms)
            .map(|s| format!("p50 {:.2} ms, p99 {:.2} ms", s.p50, s.p99))
            .unwrap_or_default()
    );
    Ok(load)
}

/// Applicants for the resolution benchmark: the citizen IDs and USCCs the lookups use.
fn keys_for_resolution(point_sqls: &[String], queries: &[QuerySpec]) -> (Vec<String>, Vec<String>) {
    let ids_in = |sqls: &[String]| -> Vec<String> {
        sqls.iter()
            .filter_map(|q| q.split('\'').nth(1).map(str::to_owned))
            .collect()
    };
    let people = ids_in(point_sqls);
    let entities = queries
        .iter()
        .find(|q| q.name == "join")
        .map(|q| ids_in(&q.sqls))
        .unwrap_or_default();
    (people, entities)
}

/// Once-only resolution of two matters for many applicants, one client: `enterprise-opening`
/// (3 materials: a population record, a credit clearance, a licence in the registry) and
/// `food-business-licence` (4 materials over two levels: the entity record, then its legal
/// representative's record, a credit clearance and a licence).
async fn bench_resolutions(
    client: &HttpsClient,
    (people, entities): (Vec<String>, Vec<String>),
    args: &Args,
    report: &mut Report,
) {
    for (matter, kind, ids) in [
        ("enterprise-opening", "111", &people),
        ("food-business-licence", "001", &entities),
    ] {
        let mut samples = Samples::default();
        if ids.is_empty() {
            samples.error = Some("no applicants picked".into());
        }
        let result = async {
            for (i, id) in ids.iter().cycle().take(args.lookups + 20).enumerate() {
                let body = json!({"applicant": {"type": kind, "id": id}, "case_id": format!("BENCH-R{i}")});
                let t = Instant::now();
                let response = client
                    .client
                    .post(format!("{}/v1/matters/{matter}/resolve", client.base))
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status();
                let answer: Value = response.json().await?;
                let took = ms(t);
                ensure!(status == reqwest::StatusCode::OK, "HTTP {status}: {answer}");
                if i >= 20 {
                    samples.latencies_ms.push(took);
                    samples.rows.push(answer["supplied"].as_u64().unwrap_or(0));
                }
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            samples.error = Some(format!("{e:#}"));
        }
        println!("  resolve {matter:<22} {}", summary(&samples));
        report.resolutions.insert(matter, samples);
    }
}

/// Licence verification over HTTPS: a business licence issued by the market regulator for
/// one of the entities, verified by the approval bureau, one client for latency, then 16 and
/// 64 for throughput (every verification is an audit entry, so more clients make larger
/// group commits).
async fn bench_verification(
    hub: &Path,
    addr: SocketAddr,
    client: &HttpsClient,
    args: &Args,
    report: &mut Report,
) -> anyhow::Result<()> {
    let pki = PkiPaths::new(hub);
    let issuer = tongban_tests::client(
        &pki.ca_cert(),
        Some((
            &pki.client_cert("market-regulation"),
            &pki.client_key("market-regulation"),
        )),
    )?;
    let uscc = keys_for_resolution(&[], &report.queries)
        .1
        .into_iter()
        .next()
        .context("no entity picked")?;
    let response = issuer
        .post(format!("https://{addr}/v1/licences"))
        .json(&json!({"type": "business-licence", "holder": {"type": "001", "id": uscc}, "face": {
            "uscc": uscc, "name": "示例有限公司", "entity_type": "有限责任公司", "legal_rep_name": "张三",
            "registered_capital": "100", "established_date": "2020-01-02", "term_from": "2020-01-02",
            "term_to": "长期", "address": "河北省廊坊市广阳区示例路1号", "business_scope": "技术开发",
            "registration_authority": "廊坊市市场监督管理局", "issue_date": "2020-01-02"}}))
        .send()
        .await?;
    let status = response.status();
    let issued: Value = response.json().await?;
    ensure!(status == reqwest::StatusCode::CREATED, "issue: {issued}");
    let token = issued["token"].as_str().context("no token")?.to_owned();
    let body = json!({"token": token, "purpose": {"matter": "food-business-licence", "case_id": "BENCH-V", "legal_basis": "bench"}});
    let verify = |c: &HttpsClient, body: &Value| {
        let request = c
            .client
            .post(format!("{}/v1/licences/verify", c.base))
            .json(body);
        async move {
            let response = request.send().await?;
            let status = response.status();
            let answer: Value = response.json().await?;
            ensure!(
                status == reqwest::StatusCode::OK && answer["valid"] == true,
                "HTTP {status}: {answer}"
            );
            anyhow::Ok(())
        }
    };
    for i in 0..args.lookups + 20 {
        let t = Instant::now();
        verify(client, &body).await?;
        if i >= 20 {
            report.verify_single.latencies_ms.push(ms(t));
        }
    }
    println!(
        "  verify (1 client)            {}",
        summary(&report.verify_single)
    );
    for clients in [16usize, 64] {
        let mut workers = Vec::new();
        for _ in 0..clients {
            let c = HttpsClient::new(hub, addr)?;
            c.get("/healthz").await?;
            workers.push(c);
        }
        let stop = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in workers {
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let mut level = Level::default();
                while Instant::now() < stop {
                    let t = Instant::now();
                    let request = c
                        .client
                        .post(format!("{}/v1/licences/verify", c.base))
                        .json(&body);
                    let ok = async {
                        let response = request.send().await?;
                        let fine = response.status() == reqwest::StatusCode::OK;
                        let answer: Value = response.json().await?;
                        anyhow::Ok(fine && answer["valid"] == true)
                    }
                    .await;
                    match ok {
                        Ok(true) => {
                            level.ok += 1;
                            level.latencies_ms.push(ms(t));
                        }
                        _ => level.errors += 1,
                    }
                }
                level
            }));
        }
        let mut level = Level {
            clients,
            ..Level::default()
        };
        for task in tasks {
            merge(&mut level, task.await?);
        }
        level.seconds = started.elapsed().as_secs_f64();
        println!(
            "  verify ({clients} clients): {:.0} verifications/s ({} errors)",
            level.per_second(),
            level.errors
        );
        report.verify_levels.push(level);
    }
    Ok(())
}

/// Latency of a bare `GET`, the floor under every API call.
async fn round_trips(client: &HttpsClient, path: &str) -> anyhow::Result<Option<Stats>> {
    let mut v = Vec::new();
    for i in 0..320 {
        let t = Instant::now();
        client.get(path).await?;
        if i >= 20 {
            v.push(ms(t));
        }
    }
    Ok(Stats::of(&v))
}

async fn gateway_level(
    hub: &Path,
    addr: SocketAddr,
    sqls: &[String],
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Level> {
    // One client (so one connection) per worker, each warmed by a handshake first.
    let mut workers = Vec::new();
    for _ in 0..clients {
        let client = HttpsClient::new(hub, addr)?;
        client.get("/healthz").await?;
        workers.push(client);
    }
    let sqls = Arc::new(sqls.to_vec());
    let stop = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, client) in workers.into_iter().enumerate() {
        let sqls = Arc::clone(&sqls);
        tasks.push(tokio::spawn(async move {
            let mut level = Level::default();
            let mut i = n * 7919;
            while Instant::now() < stop {
                let t = Instant::now();
                match client.query(&sqls[i % sqls.len()]).await {
                    Ok(Some(_)) => {
                        level.ok += 1;
                        level.latencies_ms.push(ms(t));
                    }
                    Ok(None) => level.refused += 1,
                    Err(_) => level.errors += 1,
                }
                i += 1;
            }
            level
        }));
    }
    let mut level = Level {
        clients,
        ..Level::default()
    };
    for task in tasks {
        merge(&mut level, task.await?);
    }
    level.seconds = started.elapsed().as_secs_f64();
    Ok(level)
}

/// The server's own time for each timed point lookup, from its audit entry: request start
/// (after authentication and body parsing) to the entry being built, before its insert.
async fn server_durations(config: &Config, report: &mut Report) -> anyhow::Result<()> {
    let ids = POINT_AUDIT_IDS
        .lock()
        .map(|ids| ids.clone())
        .unwrap_or_default();
    if ids.is_empty() {
        return Ok(());
    }
    let store = Store::connect(config.store.url.expose(), 1).await?;
    let mut durations = Vec::new();
    for id in &ids {
        let (_, entry) = store.audit_entry(id).await?;
        if let Some(d) = entry["duration_ms"].as_f64() {
            durations.push(d);
        }
    }
    store.close().await;
    report.breakdown.server_until_audit = Stats::of(&durations);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Checks and the report.

/// Flags any query whose row counts differ between engines, run by run.
fn check_rows(report: &mut Report) {
    for q in &report.queries {
        let Some(reference) = report.datafusion.get(q.name) else {
            continue;
        };
        for (engine, samples) in [("gateway", &report.gateway), ("DuckDB", &report.duckdb)] {
            let Some(other) = samples.get(q.name) else {
                continue;
            };
            let differing = reference
                .rows
                .iter()
                .zip(&other.rows)
                .filter(|(a, b)| a != b)
                .count();
            if differing > 0 {
                report.mismatches.push(format!(
                    "{}: {engine} returned different row counts from DataFusion in {differing} run(s)",
                    q.name
                ));
            }
        }
    }
}

fn summary(samples: &Samples) -> String {
    match (&samples.error, samples.stats()) {
        (Some(e), _) => format!("FAILED: {e}"),
        (None, Some(st)) => format!("p50 {:.2} ms, p99 {:.2} ms (n={})", st.p50, st.p99, st.n),
        (None, None) => "no samples".into(),
    }
}

fn machine_description() -> Vec<(String, String)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or("unknown".into(), |kb| {
            format!("{:.0} GiB", kb as f64 / 1048576.0)
        });
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let load = read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        ("CPU".into(), format!("{model}, {cores} cores visible")),
        ("Memory".into(), memory),
        ("Kernel".into(), kernel),
        ("Load average at start".into(), load),
        (
            "DataFusion".into(),
            datafusion::DATAFUSION_VERSION.to_owned(),
        ),
        (
            "Date".into(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
    ]
}

fn f(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(stats: Option<Stats>, pick: fn(&Stats) -> f64) -> String {
    stats.map_or("–".into(), |s| f(pick(&s)))
}

fn ratio(a: Option<Stats>, b: Option<Stats>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.p50 > 0.0 => format!("{:.1}×", a.p50 / b.p50),
        _ => "–".into(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1048576.0)
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn render(args: &Args, r: &Report) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by the benchmark harness (`tests/src/bin/bench.rs`); a rerun replaces this file. \
         To rerun:\n\n```sh\ncargo build --release --bin tongban\n\
         cargo run --release -p tongban-tests --bin bench -- --people {} --seconds {} --lookups {}\n```\n",
        args.people, args.seconds, args.lookups
    );
    let _ = writeln!(
        w,
        "The harness generates the data with the release `tongban` binary, publishes it into a \
         fresh hub (`tongban init`, `tongban publish`), then measures, one after the other and \
         over the same snapshot files: **(a)** the gateway over HTTPS (`tongban demo` serving \
         the hub; department certificate `{DEPARTMENT}`, matter `{MATTER}`, keep-alive \
         connections, reqwest with rustls, {http}), **(b)** DataFusion in-process without policy \
         or audit (`SessionContext::register_parquet` on each snapshot directory, one context \
         reused), and **(c)** DuckDB through Python (`read_parquet` views, Parquet metadata \
         cache on, timed inside Python around `execute().fetchall()`). Latencies are per \
         query, client side, in milliseconds; p50 and p99 by nearest rank over n runs (after \
         warm-up runs), keys spread over the key space and cycled. Everything runs on \
         127.0.0.1.\n",
        http = if r.http_version.is_empty() {
            "HTTP version not recorded".to_owned()
        } else {
            format!("{} negotiated", r.http_version)
        }
    );

    let _ = writeln!(w, "## Machine\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for (k, v) in &r.machine {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(
        w,
        "\nThe machine is shared with other jobs (compilers of other agents may run at the same \
         time), so single numbers are noisy: read medians, and treat differences under ~20 % \
         as noise. Client and server share the same two cores in every engine's test.\n"
    );

    // Targets first: what the reader wants to know.
    let point_gw = r.gateway.get("point").and_then(Samples::stats);
    let group_gw = r.gateway.get("group_by").and_then(Samples::stats);
    let group_duck = r.duckdb.get("group_by").and_then(Samples::stats);
    let df_point = r.datafusion.get("point").and_then(Samples::stats);
    let gen_main = r.generations.iter().find(|g| g.people == args.people);
    let best = r
        .gateway_levels
        .iter()
        .max_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    let b = &r.breakdown;
    let policy_audit = match (
        b.governed_plan,
        b.governed_execute,
        b.df_plan,
        b.df_execute,
        b.grants_lookup,
        b.resources_lookup,
        b.audit_insert,
    ) {
        (Some(gp), Some(ge), Some(dp), Some(de), Some(g), Some(c), Some(a)) => {
            Some((gp.p50 + ge.p50) - (dp.p50 + de.p50) + g.p50 + c.p50 + a.p50)
        }
        _ => None,
    };
    let _ = writeln!(w, "## Targets\n");
    let _ = writeln!(w, "| target | measured | verdict |\n|---|---|---|");
    if let Some(g) = gen_main {
        let _ = writeln!(
            w,
            "| generate {} people in < 60 s | {:.1} s | {} |",
            g.people,
            g.seconds,
            verdict(Some(g.seconds < 60.0))
        );
    }
    let _ = writeln!(
        w,
        "| point lookup on {} people over HTTPS ≤ 3 ms p50 | {} | {} |",
        args.people,
        point_gw.map_or("–".into(), |s| format!(
            "p50 {} ms, p99 {} ms",
            f(s.p50),
            f(s.p99)
        )),
        verdict(point_gw.map(|s| s.p50 <= 3.0))
    );
    let _ = writeln!(
        w,
        "| policy + audit add ≤ 1 ms p50 to a lookup | {} | {} |",
        policy_audit.map_or("–".into(), |v| format!(
            "≈ {} ms (governed plan+execute − plain DataFusion plan+execute + grant and catalogue reads + audit insert, p50s)",
            f(v)
        )),
        verdict(policy_audit.map(|v| v <= 1.0))
    );
    let _ = writeln!(
        w,
        "| ≥ 2,000 audited lookups/s over HTTPS | {} | {} |",
        best.map_or("–".into(), |l| format!(
            "{:.0}/s at {} clients",
            l.per_second(),
            l.clients
        )),
        verdict(best.map(|l| l.per_second() >= 2000.0))
    );
    let _ = writeln!(
        w,
        "| group-by over all people no slower than DuckDB | gateway p50 {} ms, DuckDB p50 {} ms | {} |",
        cell(group_gw, |s| s.p50),
        cell(group_duck, |s| s.p50),
        verdict(match (group_gw, group_duck) {
            (Some(g), Some(d)) => Some(g.p50 <= d.p50),
            _ => None,
        })
    );

    let _ = writeln!(
        w,
        "| audit adds ≤ 0.5 ms p50 to a lookup | {} | {} |",
        b.audit_insert.map_or("–".into(), |s| format!(
            "one append through the sequencer: p50 {} ms, p99 {} ms",
            f(s.p50),
            f(s.p99)
        )),
        verdict(b.audit_insert.map(|s| s.p50 <= 0.5))
    );
    let best_commit = b
        .audit_group_commit
        .iter()
        .max_by(|a, c| a.1.total_cmp(&c.1));
    let _ = writeln!(
        w,
        "| audit group commit ≥ 20,000 entries/s | {} | {} |",
        best_commit.map_or("–".into(), |(writers, rate)| format!(
            "{rate:.0} entries/s with {writers} writers"
        )),
        verdict(best_commit.map(|(_, rate)| *rate >= 20_000.0))
    );
    for (matter, samples) in &r.resolutions {
        let st = samples.stats();
        let _ = writeln!(
            w,
            "| resolution of `{matter}` ≤ 10 ms p50 on {} people | {} | {} |",
            args.people,
            st.map_or_else(
                || samples.error.clone().unwrap_or_else(|| "–".into()),
                |s| format!("p50 {} ms, p99 {} ms (n = {})", f(s.p50), f(s.p99), s.n)
            ),
            verdict(st.map(|s| s.p50 <= 10.0))
        );
    }
    let best_verify = r
        .verify_levels
        .iter()
        .max_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    let _ = writeln!(
        w,
        "| HTTPS licence verification ≥ 5,000/s | {} | {} |\n",
        best_verify.map_or_else(
            || r.verify_single.error.clone().unwrap_or_else(|| "–".into()),
            |l| format!(
                "{:.0}/s at {} clients ({} errors); one client p50 {} ms",
                l.per_second(),
                l.clients,
                l.errors,
                cell(r.verify_single.stats(), |s| s.p50)
            )
        ),
        verdict(best_verify.map(|l| l.per_second() >= 5000.0))
    );
    if let Some(load) = &r.load {
        let all = load.all();
        let st = Stats::of(&all.latencies_ms);
        let _ = writeln!(
            w,
            "| {} clients for {:.0} s of mixed lookups, verifications and resolutions: zero errors, p99 ≤ 50 ms | {} requests, {} errors, p99 {} ms | {} |\n",
            load.clients,
            load.seconds,
            all.ok + all.errors,
            all.errors,
            cell(st, |s| s.p99),
            verdict(st.map(|s| all.errors == 0 && s.p99 <= 50.0))
        );
    }

    if let Some(load) = &r.load {
        let _ = writeln!(w, "## Mixed load\n");
        let _ = writeln!(
            w,
            "{} clients over HTTPS for {:.0} s, each with its own connection and client certificate, \
             cycling through a point lookup, a licence verification and an `enterprise-opening` \
             resolution with a {} ms pause after each answer. Any answer but a success counts as \
             an error.\n",
            load.clients, load.seconds, load.think_ms
        );
        let _ = writeln!(
            w,
            "| request | answered | errors | per second | p50 | p99 |\n|---|---|---|---|---|---|"
        );
        let all = load.all();
        for (kind, level) in load
            .kinds
            .iter()
            .map(|(k, l)| (*k, l))
            .chain([("all", &all)])
        {
            let st = Stats::of(&level.latencies_ms);
            let _ = writeln!(
                w,
                "| {kind} | {} | {} | {:.0} | {} ms | {} ms |",
                level.ok,
                level.errors,
                level.ok as f64 / load.seconds.max(f64::EPSILON),
                cell(st, |s| s.p50),
                cell(st, |s| s.p99)
            );
        }
        for failure in &load.failures {
            let _ = writeln!(w, "\n- {failure}");
        }
        let _ = writeln!(w);
    }

    let _ = writeln!(w, "## Generation\n");
    let _ = writeln!(
        w,
        "`tongban generate --out DIR --people N` (wall time of the process, default seed).\n"
    );
    let _ = writeln!(
        w,
        "| people | wall time | people/s | rows (all libraries) | rows/s | population | legal_entity | credit_record |\n|---|---|---|---|---|---|---|---|"
    );
    for g in &r.generations {
        let rows: u64 = g.rows.values().sum();
        let lib = |name: &str| {
            format!(
                "{} rows, {}",
                g.rows.get(name).copied().unwrap_or(0),
                mib(g.bytes.get(name).copied().unwrap_or(0))
            )
        };
        let _ = writeln!(
            w,
            "| {} | {:.1} s | {:.0} | {} | {:.0} | {} | {} | {} |",
            g.people,
            g.seconds,
            g.people as f64 / g.seconds,
            rows,
            rows as f64 / g.seconds,
            lib("population"),
            lib("legal_entity"),
            lib("credit_record")
        );
    }
    if !r.publish_seconds.is_empty() {
        let _ = writeln!(
            w,
            "\nPublishing (validation of every row, sort, write; `tongban publish`): {}.\n",
            r.publish_seconds
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} s"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let _ = writeln!(w, "## Governed SQL: latency per query type\n");
    let _ = writeln!(
        w,
        "Milliseconds. Gateway = HTTPS + authentication + purpose + grants + policy in the plan + audit insert (SQLite, synchronous FULL) + JSON. Ratios are of p50s.\n"
    );
    let _ = writeln!(
        w,
        "| query | n | gateway p50 | p99 | DataFusion p50 | p99 | DuckDB p50 | p99 | gateway/DataFusion | gateway/DuckDB |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for q in &r.queries {
        let g = r.gateway.get(q.name).and_then(Samples::stats);
        let d = r.datafusion.get(q.name).and_then(Samples::stats);
        let k = r.duckdb.get(q.name).and_then(Samples::stats);
        let n = [g, d, k].iter().flatten().map(|s| s.n).min().unwrap_or(0);
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            q.label,
            n,
            cell(g, |s| s.p50),
            cell(g, |s| s.p99),
            cell(d, |s| s.p50),
            cell(d, |s| s.p99),
            cell(k, |s| s.p50),
            cell(k, |s| s.p99),
            ratio(g, d),
            ratio(g, k)
        );
    }
    let failures: Vec<String> = [
        ("gateway", &r.gateway),
        ("DataFusion", &r.datafusion),
        ("DuckDB", &r.duckdb),
    ]
    .iter()
    .flat_map(|(engine, m)| {
        m.iter()
            .filter_map(move |(q, s)| s.error.as_ref().map(|e| format!("- {engine}, {q}: {e}")))
    })
    .collect();
    if !failures.is_empty() {
        let _ = writeln!(w, "\nFailures:\n\n{}", failures.join("\n"));
    }
    if let Some(note) = &r.duckdb_note {
        let _ = writeln!(w, "\n{note}");
    }
    if r.mismatches.is_empty() {
        let _ = writeln!(
            w,
            "\nRow counts agreed between the engines on every run compared."
        );
    } else {
        let _ = writeln!(w, "\nRow-count differences:\n");
        for m in &r.mismatches {
            let _ = writeln!(w, "- {m}");
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Throughput of point lookups\n");
    let _ = writeln!(
        w,
        "Each level runs {} s; every client loops over the point-lookup statements. Gateway clients each hold their own keep-alive connection; the gateway admits {} concurrent queries per department (`query.concurrency_per_department`, default) and answers 429 beyond that, counted as refused, not as throughput. DataFusion clients are tasks on a 2-thread runtime sharing one context; DuckDB clients are Python threads with a cursor each.\n",
        args.seconds,
        tongban_gateway::config::QueryConfig::default().concurrency_per_department
    );
    let _ = writeln!(
        w,
        "| clients | gateway lookups/s | p50 | p99 | refused (429) | errors | DataFusion lookups/s | p50 | p99 | DuckDB lookups/s | p50 | p99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for &clients in &args.clients {
        let find = |levels: &[Level]| levels.iter().find(|l| l.clients == clients).cloned();
        let (g, d, k) = (
            find(&r.gateway_levels),
            find(&r.datafusion_levels),
            find(&r.duckdb_levels),
        );
        let tput = |l: &Option<Level>| {
            l.as_ref()
                .map_or("–".into(), |l| format!("{:.0}", l.per_second()))
        };
        let lat = |l: &Option<Level>, pick: fn(&Stats) -> f64| {
            cell(l.as_ref().and_then(|l| Stats::of(&l.latencies_ms)), pick)
        };
        let _ = writeln!(
            w,
            "| {clients} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            tput(&g),
            lat(&g, |s| s.p50),
            lat(&g, |s| s.p99),
            g.as_ref().map_or("–".into(), |l| l.refused.to_string()),
            g.as_ref().map_or("–".into(), |l| l.errors.to_string()),
            tput(&d),
            lat(&d, |s| s.p50),
            lat(&d, |s| s.p99),
            tput(&k),
            lat(&k, |s| s.p50),
            lat(&k, |s| s.p99),
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Where a point lookup's time goes\n");
    let _ = writeln!(
        w,
        "Each part measured on its own (p50 / p99, ms). The in-process rows use the engine exactly as the gateway configures it (`QueryEngine` with the gateway's limits, the demo grants of `{DEPARTMENT}` for `{MATTER}`); store rows use a copy of the hub's SQLite store with the gateway's settings (WAL, synchronous FULL).\n"
    );
    let _ = writeln!(w, "| part | p50 | p99 |\n|---|---|---|");
    let row = |w: &mut String, name: &str, st: Option<Stats>| {
        let _ = writeln!(
            w,
            "| {name} | {} | {} |",
            cell(st, |s| s.p50),
            cell(st, |s| s.p99)
        );
    };
    row(
        w,
        "**gateway point lookup, client side (total)**",
        b.gateway_point,
    );
    row(
        w,
        "HTTPS round trip of `GET /healthz` (TLS, HTTP, client; no auth)",
        b.https_healthz,
    );
    row(
        w,
        "HTTPS round trip of `GET /v1/departments` (+ certificate lookup, one store read)",
        b.https_departments,
    );
    row(
        w,
        "server: query start → audit entry built (`duration_ms` in the audit entries of the timed lookups)",
        b.server_until_audit,
    );
    row(
        w,
        "governed engine: `QueryEngine::plan` (gate, per-request session, SQL → logical → optimised → physical, plan hash)",
        b.governed_plan,
    );
    row(
        w,
        "governed engine: `QueryEngine::plan(\"SELECT 1\")` (the fixed cost of a request's session and planning)",
        b.governed_select1_plan,
    );
    row(w, "governed engine: execute and drain", b.governed_execute);
    row(
        w,
        "plain DataFusion: `ctx.sql` + `create_physical_plan`",
        b.df_plan,
    );
    row(w, "plain DataFusion: `SELECT 1` planned", b.df_select1_plan);
    row(w, "plain DataFusion: execute and collect", b.df_execute);
    row(
        w,
        "store: `grants_for_consumer` (every query)",
        b.grants_lookup,
    );
    row(
        w,
        "store: `list_resources` (every query, for implied grants)",
        b.resources_lookup,
    );
    row(
        w,
        "audit log: one append through the sequencer (Merkle leaf, one transaction, synchronous FULL)",
        b.audit_insert,
    );
    for (writers, rate) in &b.audit_group_commit {
        let _ = writeln!(
            w,
            "| audit log: group commit, {writers} writers appending back to back | {rate:.0} entries/s | |"
        );
    }
    row(
        w,
        "bare SQLite WAL insert+commit, synchronous FULL (Python, `/tmp`)",
        b.sqlite_full,
    );
    row(
        w,
        "bare SQLite WAL insert+commit, synchronous NORMAL (Python, `/tmp`)",
        b.sqlite_normal,
    );
    if let (Some(total), Some(tls), Some(server), Some(audit)) = (
        b.gateway_point,
        b.https_healthz,
        b.server_until_audit,
        b.audit_insert,
    ) {
        let rest = total.p50 - tls.p50 - server.p50 - audit.p50;
        let _ = writeln!(
            w,
            "\nBy p50s: of the {} ms a lookup takes, about {} ms is the HTTPS round trip itself, {} ms the server's query work up to the audit entry (policy resolution with its store reads, planning, execution), {} ms the audit insert, and {} ms the rest (authentication's store read, JSON parsing and encoding, response headers).",
            f(total.p50),
            f(tls.p50),
            f(server.p50),
            f(audit.p50),
            f(rest)
        );
    }
    if let (Some(d), Some(g)) = (df_point, point_gw) {
        let _ = writeln!(
            w,
            "The same lookup in-process in plain DataFusion takes {} ms p50; the gateway is {:.1}× that.",
            f(d.p50),
            g.p50 / d.p50
        );
    }
    let _ = writeln!(w);
    for note in &r.notes {
        let _ = writeln!(w, "{note}\n");
    }
    // The interpretation is written by people, from a run's figures; it is kept beside the
    // harness so that a rerun carries it over, and says which run it was written from.
    let analysis = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/analysis.md");
    if let Ok(text) = std::fs::read_to_string(&analysis) {
        let _ = writeln!(w, "{}", text.trim_end());
    }
    md
}
