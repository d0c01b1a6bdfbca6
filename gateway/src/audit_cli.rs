//! `tongban audit …`: what an auditor runs against a hub (over HTTPS, with an auditor's
//! token or certificate) or against its database directly.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use crate::config::{self, Config};
use crate::ledger::heads::{SigningKey, TreeHead, parse_hash};
use crate::ledger::merkle::Hash;
use crate::ledger::verify::{self, DumpEntry};
use crate::store::{LogFilter, LogRow, Store};

/// Entries fetched per page.
const PAGE: i64 = 1000;

/// Where the log is read from.
#[derive(Debug, Args)]
pub struct Source {
    /// Base URL of a hub (e.g. `https://127.0.0.1:8443`).
    #[arg(long, conflicts_with_all = ["dir", "database"])]
    url: Option<String>,
    /// CA certificate (PEM) the hub's server certificate chains to.
    #[arg(long, requires = "url")]
    ca: Option<PathBuf>,
    /// Bearer token of an auditor (or set TONGBAN_TOKEN).
    #[arg(long, env = "TONGBAN_TOKEN", requires = "url", hide_env_values = true)]
    token: Option<String>,
    /// Client certificate and key (one PEM file) of a department with the auditor role.
    #[arg(long, requires = "url")]
    identity: Option<PathBuf>,
    /// A hub's data directory (its configuration names the database and the key).
    #[arg(long, conflicts_with = "database")]
    dir: Option<PathBuf>,
    /// A database URL (`sqlite://…` or `postgres://…`).
    #[arg(long)]
    database: Option<String>,
}

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the tree from every entry, check every signed tree head and the
    /// consistency between consecutive heads; exit 2 naming the first bad entry.
    Verify {
        #[command(flatten)]
        source: Source,
        /// The log's public key, base64 of the raw Ed25519 key (as `GET /v1/audit/public-key`
        /// gives it), or a file holding it. Without it, the key is taken from the hub.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Write entries matching a filter as CSV or JSON lines.
    Export {
        #[command(flatten)]
        source: Source,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Department code.
        #[arg(long)]
        department: Option<String>,
        /// Event name, e.g. `query_executed`.
        #[arg(long)]
        action: Option<String>,
        /// Matter code.
        #[arg(long)]
        matter: Option<String>,
        /// From (RFC 3339 or YYYY-MM-DD, Beijing), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// To (RFC 3339 or YYYY-MM-DD, Beijing), exclusive.
        #[arg(long)]
        to: Option<String>,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line: the stored fields and the entry.
    Jsonl,
    /// One row per entry with the indexed fields.
    Csv,
}

/// Parses `tongban audit …` arguments (without the leading `tongban audit`) and runs them;
/// `Ok(false)` means verification failed.
pub async fn run_args<I, T>(args: I) -> anyhow::Result<bool>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    #[derive(Debug, Parser)]
    #[command(name = "tongban audit")]
    struct Audit {
        #[command(subcommand)]
        command: AuditCommand,
    }
    let parsed = Audit::try_parse_from(
        std::iter::once(std::ffi::OsString::from("audit")).chain(args.into_iter().map(Into::into)),
    )?;
    run(parsed.command).await
}

/// Runs an audit command; `Ok(false)` means verification failed (already reported).
pub async fn run(command: AuditCommand) -> anyhow::Result<bool> {
    match command {
        AuditCommand::Verify { source, public_key } => verify_command(source, public_key).await,
        AuditCommand::Export {
            source,
            format,
            out,
            department,
            action,
            matter,
            from,
            to,
        } => {
            let filter = Filter {
                department,
                action,
                matter,
                from,
                to,
            };
            export(source, format, out.as_deref(), &filter).await?;
            Ok(true)
        }
    }
}

/// An opened source.
enum Log {
    Remote {
        client: reqwest::Client,
        base: String,
    },
    Local {
        store: Store,
        config: Option<Box<Config>>,
    },
}

#[derive(Debug, Default)]
struct Filter {
    department: Option<String>,
    action: Option<String>,
    matter: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn open(source: Source) -> anyhow::Result<Log> {
    if let Some(url) = source.url {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(ca) = &source.ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).context("the CA file is not PEM")?,
            );
        }
        if let Some(identity) = &source.identity {
            let pem = std::fs::read(identity)
                .with_context(|| format!("reading {}", identity.display()))?;
            builder = builder.identity(
                reqwest::Identity::from_pem(&pem)
                    .context("the identity file is not a PEM certificate and key")?,
            );
        }
        if let Some(token) = &source.token {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}")
                    .parse()
                    .context("the token is not a valid header value")?,
            );
            builder = builder.default_headers(headers);
        }
        return Ok(Log::Remote {
            client: builder.build()?,
            base: url.trim_end_matches('/').to_owned(),
        });
    }
    if let Some(dir) = source.dir {
        let config = Config::load(&dir.join(config::FILE_NAME))?;
        let store = Store::connect(config.store.url.expose(), 2).await?;
        return Ok(Log::Local {
            store,
            config: Some(Box::new(config)),
        });
    }
    if let Some(url) = source.database {
        return Ok(Log::Local {
            store: Store::connect(&url, 2).await?,
            config: None,
        });
    }
    bail!("say where the log is: --url, --dir or --database")
}

async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", body["error"]["message"]);
    }
    Ok(body)
}

fn row_of_json(v: &Value) -> anyhow::Result<LogRow> {
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    Ok(LogRow {
        idx: v["index"].as_i64().context("an entry without an index")?,
        leaf_hash: text("leaf_hash").context("an entry without a leaf hash")?,
        request_id: text("request_id").unwrap_or_default(),
        at: v["at"].as_i64().unwrap_or_default(),
        department: text("department").unwrap_or_default(),
        actor: text("actor").unwrap_or_default(),
        action: text("action").unwrap_or_default(),
        outcome: text("outcome").unwrap_or_default(),
        matter: text("matter"),
        flags: v["flags"].as_array().and_then(|f| {
            let joined = f
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",");
            (!joined.is_empty()).then_some(joined)
        }),
        disclose_after: None,
        entry: text("canonical"),
    })
}

/// One page of entries from `from_index`.
async fn entries_page(log: &Log, filter: &Filter, from_index: i64) -> anyhow::Result<Vec<LogRow>> {
    match log {
        Log::Remote { client, base } => {
            let mut url = format!("{base}/v1/audit/entries?from_index={from_index}&limit={PAGE}");
            for (k, v) in [
                ("department", &filter.department),
                ("action", &filter.action),
                ("matter", &filter.matter),
                ("from", &filter.from),
                ("to", &filter.to),
            ] {
                if let Some(v) = v {
                    url.push_str(&format!("&{k}={}", urlencode(v)));
                }
            }
            let body = get(client, &url).await?;
            body["entries"]
                .as_array()
                .context("the hub answered without entries")?
                .iter()
                .map(row_of_json)
                .collect()
        }
        Log::Local { store, .. } => {
            let time = |t: &Option<String>| -> anyhow::Result<Option<i64>> {
                t.as_deref().map(parse_time).transpose()
            };
            let f = LogFilter {
                department: filter.department.clone(),
                action: filter.action.clone(),
                matter: filter.matter.clone(),
                from: time(&filter.from)?,
                to: time(&filter.to)?,
                from_index,
                ..LogFilter::default()
            };
            Ok(store.log_entries(&f, PAGE).await?)
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    crate::clock::parse_time_ms(text).map_err(anyhow::Error::msg)
}

async fn all_entries(log: &Log, filter: &Filter) -> anyhow::Result<Vec<LogRow>> {
    let mut rows = Vec::new();
    let mut from = 0i64;
    loop {
        let page = entries_page(log, filter, from).await?;
        let Some(last) = page.last() else { break };
        from = last.idx + 1;
        let full = page.len() as i64 == PAGE;
        rows.extend(page);
        if !full {
            break;
        }
    }
    Ok(rows)
}

async fn all_heads(log: &Log) -> anyhow::Result<Vec<TreeHead>> {
    let mut heads: Vec<TreeHead> = Vec::new();
    let mut from = 0u64;
    loop {
        let page: Vec<TreeHead> = match log {
            Log::Remote { client, base } => {
                let body = get(
                    client,
                    &format!("{base}/v1/audit/tree-heads?from={from}&limit={PAGE}"),
                )
                .await?;
                serde_json::from_value(body["tree_heads"].clone())
                    .context("the hub's tree heads are malformed")?
            }
            Log::Local { store, .. } => store
                .tree_heads(from as i64, PAGE)
                .await?
                .into_iter()
                .map(crate::ledger::head_of_row)
                .collect(),
        };
        let Some(last) = page.last() else { break };
        from = last.tree_size + 1;
        let full = page.len() as i64 == PAGE;
        heads.extend(page);
        if !full {
            break;
        }
    }
    Ok(heads)
}

async fn key_of(log: &Log, pinned: Option<String>) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let decode = |text: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .context("the public key is not base64")
    };
    if let Some(pinned) = pinned {
        let text = if Path::new(&pinned).is_file() {
            std::fs::read_to_string(&pinned)?
        } else {
            pinned
        };
        return Ok((decode(&text)?, "pinned"));
    }
    match log {
        Log::Remote { client, base } => {
            let body = get(client, &format!("{base}/v1/audit/public-key")).await?;
            let key = body["public_key"]
                .as_str()
                .context("the hub did not give its key")?;
            Ok((decode(key)?, "as served by the hub (not pinned)"))
        }
        Log::Local {
            config: Some(config),
            ..
        } => {
            let path = config.audit.signing_key_path(&config.data_dir);
            if !path.exists() {
                bail!("no signing key at {}; give --public-key", path.display());
            }
            let key = SigningKey::load_or_create(&path)?;
            Ok((key.public_key().to_vec(), "from the hub's key file"))
        }
        Log::Local { config: None, .. } => {
            bail!("give the log's public key with --public-key")
        }
    }
}

async fn verify_command(source: Source, public_key: Option<String>) -> anyhow::Result<bool> {
    let log = open(source).await?;
    let (key, key_source) = key_of(&log, public_key).await?;
    let rows = all_entries(&log, &Filter::default()).await?;
    let heads = all_heads(&log).await?;
    // The hub's own consistency proofs between consecutive heads are checked too.
    let mut served: Vec<(u64, u64, Vec<Hash>)> = Vec::new();
    if let Log::Remote { client, base } = &log {
        let mut sizes: Vec<u64> = heads.iter().map(|h| h.tree_size).collect();
        sizes.sort_unstable();
        for pair in sizes.windows(2) {
            let body = get(
                client,
                &format!(
                    "{base}/v1/audit/proofs/consistency?from={}&to={}",
                    pair[0], pair[1]
                ),
            )
            .await?;
            let proof = body["proof"]
                .as_array()
                .context("a consistency proof without hashes")?
                .iter()
                .map(|h| h.as_str().and_then(parse_hash))
                .collect::<Option<Vec<Hash>>>()
                .context("a consistency proof with a malformed hash")?;
            served.push((pair[0], pair[1], proof));
        }
    }
    match verify::verify(&dump_of(rows), &heads, &key, &served) {
        Ok(report) => {
            println!(
                "audit log verified: {} entries ({} purged under retention, hash only), {} signed tree heads, latest at size {} root {}, {} entries after it; key {}",
                report.entries,
                report.purged,
                report.heads,
                report.latest_head_size,
                report.latest_root,
                report.unsigned_tail,
                key_source
            );
            Ok(true)
        }
        Err(failure) => {
            println!("audit log verification FAILED: {failure}");
            Ok(false)
        }
    }
}

fn dump_of(rows: Vec<LogRow>) -> Vec<DumpEntry> {
    rows.into_iter()
        .map(|r| DumpEntry {
            index: r.idx as u64,
            leaf_hash: r.leaf_hash,
            body: r.entry,
        })
        .collect()
}

/// Recomputes the log in `store` and checks every signed head against `public_key`, as
/// `tongban audit verify --database` does; the outer error is a failure to read the log,
/// the inner one the first problem found in it.
pub async fn verify_store(
    store: &Store,
    public_key: &[u8],
) -> anyhow::Result<Result<verify::Report, verify::Failure>> {
    let log = Log::Local {
        store: store.clone(),
        config: None,
    };
    let rows = all_entries(&log, &Filter::default()).await?;
    let heads = all_heads(&log).await?;
    Ok(verify::verify(&dump_of(rows), &heads, public_key, &[]))
}

async fn export(
    source: Source,
    format: ExportFormat,
    out: Option<&Path>,
    filter: &Filter,
) -> anyhow::Result<()> {
    let log = open(source).await?;
    let rows = all_entries(&log, filter).await?;
    let mut sink: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    match format {
        ExportFormat::Jsonl => {
            for r in &rows {
                let entry = r
                    .entry
                    .as_deref()
                    .and_then(|e| serde_json::from_str::<Value>(e).ok());
                let line = serde_json::json!({
                    "index": r.idx,
                    "leaf_hash": r.leaf_hash,
                    "request_id": r.request_id,
                    "at": r.at,
                    "department": r.department,
                    "actor": r.actor,
                    "action": r.action,
                    "outcome": r.outcome,
                    "matter": r.matter,
                    "flags": r.flags,
                    "entry": entry,
                });
                writeln!(sink, "{line}")?;
            }
        }
        ExportFormat::Csv => {
            writeln!(
                sink,
                "index,time,department,actor,action,outcome,matter,flags,request_id,leaf_hash"
            )?;
            for r in &rows {
                let time = chrono::DateTime::from_timestamp_millis(r.at)
                    .map(|t| crate::clock::in_beijing(t).to_rfc3339())
                    .unwrap_or_default();
                let fields = [
                    r.idx.to_string(),
                    time,
                    r.department.clone(),
                    r.actor.clone(),
                    r.action.clone(),
                    r.outcome.clone(),
                    r.matter.clone().unwrap_or_default(),
                    r.flags.clone().unwrap_or_default(),
                    r.request_id.clone(),
                    r.leaf_hash.clone(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writeln!(sink, "{}", line.join(","))?;
            }
        }
    }
    sink.flush()?;
    eprintln!("exported {} entries", rows.len());
    Ok(())
}

/// A CSV field, quoted when it must be; a leading formula character is neutralised so a
/// spreadsheet shows the text instead of evaluating it.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
