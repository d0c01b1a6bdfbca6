//! The `tongban` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use tongban_schemas::{BaseLibrary, CitizenId, DivisionCode, LicenceId, Uscc};

use crate::config::{self, Config, Secret};
use crate::pki::{self, PkiPaths};
use crate::seed;
use crate::startup::Application;
use crate::store::Store;

/// Tongban (通办): government data-sharing exchange and e-licence hub.
#[derive(Debug, Parser)]
#[command(name = "tongban", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory: configuration, development PKI, store, departments, catalogue.
    Init {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Address the gateway will listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Metadata store URL (default: SQLite inside the directory).
        #[arg(long)]
        store_url: Option<String>,
        /// Extra DNS names or IP addresses for the server certificate.
        #[arg(long = "hostname")]
        hostnames: Vec<String>,
    },
    /// Write synthetic, linked base libraries as Parquet.
    Generate {
        /// Output directory (one subdirectory per library).
        #[arg(long)]
        out: PathBuf,
        /// Number of people.
        #[arg(long, default_value_t = 100_000)]
        people: usize,
        /// Seed; the same seed gives the same files.
        #[arg(long, default_value_t = 20_261_121)]
        seed: u64,
        /// The date the data is generated as of (YYYY-MM-DD); default today in Beijing.
        #[arg(long)]
        today: Option<NaiveDate>,
    },
    /// Validate files and publish them as the next snapshot of a base library.
    Publish {
        /// The data directory (holding tongban.toml).
        #[arg(long)]
        dir: PathBuf,
        /// population, legal_entity or credit_record.
        #[arg(long)]
        library: BaseLibrary,
        /// CSV or Parquet files, or directories of Parquet files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the gateway.
    Serve {
        /// The data directory (holding tongban.toml).
        #[arg(long, conflicts_with = "config")]
        dir: Option<PathBuf>,
        /// A configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override the listen address.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Set up (on first run) and serve a complete demo: PKI, departments, users, data.
    Demo {
        /// The data directory; reused when it exists.
        #[arg(long, default_value = "tongban-demo")]
        dir: PathBuf,
        /// Number of people to generate on first run.
        #[arg(long, default_value_t = 100_000)]
        people: usize,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Address Arrow Flight SQL listens on.
        #[arg(long, default_value = "127.0.0.1:8444")]
        flight_listen: SocketAddr,
        /// Seed of the synthetic data.
        #[arg(long, default_value_t = 20_261_121)]
        seed: u64,
    },
    /// Check an identifier: exit 0 when valid, 1 with the reason when not.
    Validate {
        /// What kind of identifier.
        kind: IdKind,
        /// The value.
        value: String,
    },
    /// Apply for, approve, reject, revoke and list grants.
    Grants {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// Manage people's accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Verify an e-licence offline: exit 0 when valid, 1 with the reason when not.
    Verify {
        /// The presentation (SD-JWT) or the text of its QR code.
        #[arg(conflicts_with = "qr", required_unless_present = "qr")]
        token: Option<String>,
        /// A PNG or JPEG photo of the QR code instead.
        #[arg(long)]
        qr: Option<PathBuf>,
        /// The trust-list anchor's public JWK (obtained out of band and pinned).
        #[arg(long)]
        anchor: PathBuf,
        /// The signed trust list (the token, or the JSON `GET /v1/licences/trust-list` gives).
        #[arg(long)]
        trust_list: PathBuf,
        /// Signed status lists (tokens, or the JSON of `GET /v1/licences/status-lists/…`).
        #[arg(long = "status-list")]
        status_lists: Vec<PathBuf>,
        /// Oldest acceptable trust list and status lists, in seconds.
        #[arg(long, default_value_t = 86_400)]
        max_age: i64,
    },
    /// Check a resolution's signed evidence, and optionally re-run it on the pinned snapshots.
    VerifyEvidence(crate::evidence_cli::VerifyEvidenceArgs),
    /// Check matter definitions (a directory of `*.toml`): exit 0 when all are valid.
    Matters {
        /// The directory.
        dir: PathBuf,
    },
    /// Verify and export the audit log.
    Audit {
        #[command(subcommand)]
        command: crate::audit_cli::AuditCommand,
    },
    /// Run a node of the Ballista cluster that gateways with `[query] engine = "ballista"`
    /// send their (already policy-bound) plans to.
    Ballista {
        #[command(subcommand)]
        command: BallistaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum BallistaCommand {
    /// The scheduler.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:50050")]
        bind: std::net::SocketAddr,
    },
    /// An executor.
    Executor {
        /// The scheduler, host:port.
        #[arg(long, default_value = "localhost:50050")]
        scheduler: String,
        /// Address to bind.
        #[arg(long, default_value = "0.0.0.0")]
        bind_host: String,
        /// Arrow Flight port (results and shuffles).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Host name others reach this executor by (default: the machine's).
        #[arg(long)]
        external_host: Option<String>,
        /// Task slots (default: the machine's cores).
        #[arg(long)]
        vcores: Option<usize>,
        /// Scratch directory for shuffle files.
        #[arg(long)]
        work_dir: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum IdKind {
    CitizenId,
    Uscc,
    LicenceId,
    Division,
}

#[derive(Debug, Subcommand)]
enum GrantCommand {
    /// List grants and requests.
    List {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Apply for a grant on behalf of a consumer department.
    Request {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Consumer department code.
        #[arg(long)]
        department: String,
        /// Resource code or library name.
        #[arg(long)]
        resource: String,
        /// Comma-separated columns.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Comma-separated matter codes.
        #[arg(long, value_delimiter = ',')]
        matters: Vec<String>,
        /// Why the department needs the data.
        #[arg(long)]
        reason: String,
        /// The legal basis.
        #[arg(long)]
        legal_basis: String,
    },
    /// Approve a pending request as the resource's provider.
    Approve {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Request id.
        #[arg(long)]
        id: i64,
        /// Provider department acting.
        #[arg(long = "as")]
        department: String,
        /// Row filter (SQL predicate).
        #[arg(long)]
        row_filter: Option<String>,
        /// Masks as column=prefix:N, column=ends:P:S or column=redact.
        #[arg(long = "mask")]
        masks: Vec<String>,
        /// Most rows per query.
        #[arg(long)]
        row_cap: Option<u64>,
        /// Note to the consumer.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a pending request as the resource's provider.
    Reject {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Request id.
        #[arg(long)]
        id: i64,
        /// Provider department acting.
        #[arg(long = "as")]
        department: String,
        /// Why.
        #[arg(long)]
        note: String,
    },
    /// Revoke a grant as its resource's provider.
    Revoke {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Grant id.
        #[arg(long)]
        id: i64,
        /// Provider department acting.
        #[arg(long = "as")]
        department: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; prints its password.
    Add {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Sign-in name.
        #[arg(long)]
        username: String,
        /// Name shown in the console.
        #[arg(long)]
        display_name: String,
        /// Department code.
        #[arg(long)]
        department: String,
        /// Comma-separated roles.
        #[arg(long)]
        roles: String,
        /// For a citizen's account (role `citizen`): their citizen ID.
        #[arg(long)]
        subject_id: Option<String>,
    },
}

/// Runs the command line; the exit code is the process's.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Validate { kind, value } = &cli.command {
        return validate(*kind, value);
    }
    if let Command::Verify {
        token,
        qr,
        anchor,
        trust_list,
        status_lists,
        max_age,
    } = &cli.command
    {
        return verify_offline(
            token.as_deref(),
            qr.as_deref(),
            anchor,
            trust_list,
            status_lists,
            *max_age,
        );
    }
    if let Command::VerifyEvidence(args) = &cli.command {
        return crate::evidence_cli::main(args);
    }
    if let Command::Matters { dir } = &cli.command {
        return match crate::matters::Matters::read_dir(dir) {
            Ok(list) => {
                for m in list {
                    println!("{}\t{}\t{} materials", m.code, m.name, m.materials.len());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Audit { command } = cli.command {
        return match runtime.block_on(crate::audit_cli::run(command)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(2),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TONGBAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let json = std::env::var("TONGBAN_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Today's date in Beijing.
pub fn today() -> NaiveDate {
    crate::clock::in_beijing(chrono::Utc::now()).date_naive()
}

fn validate(kind: IdKind, value: &str) -> ExitCode {
    let result = match kind {
        IdKind::CitizenId => CitizenId::parse_as_of(value, today()).map(|id| {
            format!(
                "valid citizen ID: born {}, {}, {}",
                id.birth_date(),
                id.gender().label_zh(),
                id.division().full_name()
            )
        }),
        IdKind::Uscc => Uscc::parse(value)
            .map(|u| format!("valid USCC: organisation code {}", u.organisation_code())),
        IdKind::LicenceId => LicenceId::parse(value).map(|l| {
            format!(
                "valid e-licence ID: issuer {}, serial {}",
                l.issuer_code(),
                l.serial()
            )
        }),
        IdKind::Division => DivisionCode::parse(value).map(|d| {
            format!(
                "valid division code: {}{}",
                d.full_name(),
                if d.is_current() { "" } else { " (historical)" }
            )
        }),
    };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("invalid: {e}");
            ExitCode::from(1)
        }
    }
}

/// A token from a file holding either the token itself or a JSON object with it under `key`.
fn token_file(path: &Path, key: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let text = text.trim();
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?;
        return v[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("{} has no `{key}`", path.display()));
    }
    Ok(text.to_owned())
}

/// Verifies a licence offline from files, as `tongban verify` does: the pinned anchor JWK,
/// the signed trust list, signed status lists no older than `max_age` seconds. The outer
/// error is a problem with the files; the inner one is the licence's refusal.
pub fn offline_verification(
    token: Option<&str>,
    qr: Option<&Path>,
    anchor: &Path,
    trust_list: &Path,
    status_lists: &[PathBuf],
    max_age: i64,
) -> anyhow::Result<Result<tongban_certs::VerifiedLicence, tongban_certs::LicenceError>> {
    use tongban_certs::{Limits, StatusLists, TrustStore, VerifiedStatusList, VerifyPolicy};
    let limits = Limits::default();
    let jwk: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(anchor)?)?;
    let jwk = jwk
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("the anchor is not a JWK object"))?;
    let anchor = tongban_certs::VerifyingKey::from_jwk(jwk)?;
    let trust = TrustStore::from_token(&token_file(trust_list, "trust_list")?, &anchor, &limits)?;
    let mut lists = StatusLists::new();
    for path in status_lists {
        lists.insert(VerifiedStatusList::from_token(
            &token_file(path, "status_list")?,
            &trust,
            None,
            &limits,
        )?);
    }
    let presented = match (token, qr) {
        (Some(t), _) => tongban_certs::qr::token_from_qr_text(t.trim(), limits.max_token_bytes),
        (None, Some(path)) => {
            tongban_certs::qr::decode_image(&std::fs::read(path)?, limits.max_token_bytes)
        }
        (None, None) => anyhow::bail!("give a token or --qr FILE"),
    };
    let policy = VerifyPolicy {
        max_trust_list_age: Some(max_age),
        max_status_list_age: Some(max_age),
        ..VerifyPolicy::default()
    };
    let now = chrono::Utc::now().timestamp();
    Ok(presented.and_then(|p| tongban_certs::verify(&p, &trust, &lists, &policy, now)))
}

fn verify_offline(
    token: Option<&str>,
    qr: Option<&Path>,
    anchor: &Path,
    trust_list: &Path,
    status_lists: &[PathBuf],
    max_age: i64,
) -> ExitCode {
    match offline_verification(token, qr, anchor, trust_list, status_lists, max_age) {
        Ok(Ok(v)) => {
            println!(
                "{}",
                serde_json::json!({
                    "valid": true,
                    "id": v.id.as_str(),
                    "type": v.licence_type.slug(),
                    "issuer": v.issuer,
                    "holder": {"type": v.holder.kind().code(), "id": v.holder.id()},
                    "valid_from": v.valid_from,
                    "valid_until": v.valid_until,
                    "disclosed": v.disclosed,
                })
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            println!(
                "{}",
                serde_json::json!({"valid": false, "code": e.code(), "reason": e.to_string()})
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init {
            dir,
            listen,
            store_url,
            hostnames,
        } => {
            let (_, logins) = init(&dir, listen, store_url, &hostnames, false).await?;
            println!("initialised {}", dir.display());
            print_logins(&logins);
            Ok(())
        }
        Command::Generate {
            out,
            people,
            seed,
            today: as_of,
        } => {
            generate(&out, people, seed, as_of.unwrap_or_else(today))?;
            Ok(())
        }
        Command::Publish {
            dir,
            library,
            files,
        } => {
            let config = Config::load(&dir.join(config::FILE_NAME))?;
            let store = Store::connect(config.store.url.expose(), 2).await?;
            let inputs = expand_inputs(&files)?;
            let record = crate::publish::publish_files(
                &store,
                &config.data_dir,
                library,
                inputs,
                "cli",
                today(),
            )
            .await
            .map_err(describe_publish_error)?;
            println!(
                "published {} snapshot v{}: {} rows, {} bytes, sha256 {}",
                library, record.version, record.rows, record.bytes, record.sha256
            );
            Ok(())
        }
        Command::Serve {
            dir,
            config: file,
            listen,
        } => {
            let path = match (dir, file) {
                (_, Some(file)) => file,
                (Some(dir), None) => dir.join(config::FILE_NAME),
                (None, None) => anyhow::bail!("give --dir DIR or --config FILE"),
            };
            let mut config = Config::load(&path)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            let app = Application::build(config).await?;
            println!("Tongban listening on https://{}", app.local_addr());
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Demo {
            dir,
            people,
            listen,
            flight_listen,
            seed,
        } => demo(&dir, people, listen, flight_listen, seed).await,
        Command::Validate { .. }
        | Command::Audit { .. }
        | Command::Verify { .. }
        | Command::VerifyEvidence(_)
        | Command::Matters { .. } => {
            unreachable!("handled before the runtime starts")
        }
        Command::Grants { command } => grants_command(command).await,
        Command::Ballista { command } => ballista_command(command).await,
        Command::User {
            command:
                UserCommand::Add {
                    dir,
                    username,
                    display_name,
                    department,
                    roles,
                    subject_id,
                },
        } => {
            let config = Config::load(&dir.join(config::FILE_NAME))?;
            let store = Store::connect(config.store.url.expose(), 2).await?;
            let roles = roles.parse().map_err(anyhow::Error::msg)?;
            let password = crate::auth::new_password()?;
            let user = crate::routes::new_user(
                &store,
                username,
                display_name,
                department,
                roles,
                &password,
                subject_id,
            )
            .await?;
            let started = std::time::Instant::now();
            store
                .create_user(&user, chrono::Utc::now().timestamp_millis())
                .await?;
            let operator = local_principal(&store, &user.department).await?;
            let event = crate::audit::AuditEvent::UserCreated {
                username: user.username.clone(),
                department: user.department.clone(),
                roles: user.roles.to_string(),
            };
            crate::audit::record(
                &crate::audit::Recorder::Direct(store.clone()),
                crate::audit::entry(&operator, &crate::audit::request_id(), None, started, event),
                Vec::new(),
            )
            .await?;
            println!("created {} with password {password}", user.username);
            Ok(())
        }
    }
}

/// The principal of the local operator acting for `department`.
async fn local_principal(
    store: &Store,
    department: &str,
) -> anyhow::Result<crate::auth::Principal> {
    let dept = store
        .department(department)
        .await
        .map_err(|_| anyhow::anyhow!("unknown department `{department}`"))?;
    Ok(crate::auth::Principal {
        department: dept.code,
        department_name: dept.name,
        roles: dept.roles,
        credential: crate::auth::Credential::Local {
            operator: "cli".into(),
        },
        subject: None,
    })
}

fn parse_mask(text: &str) -> anyhow::Result<(String, tongban_catalog::query::Mask)> {
    use tongban_catalog::query::Mask;
    let (column, spec) = text.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("a mask is column=prefix:N, column=ends:P:S or column=redact")
    })?;
    let parts: Vec<&str> = spec.split(':').collect();
    let mask = match parts.as_slice() {
        ["redact"] => Mask::Redact,
        ["prefix", n] => Mask::KeepPrefix { chars: n.parse()? },
        ["ends", p, s] => Mask::KeepEnds {
            prefix: p.parse()?,
            suffix: s.parse()?,
        },
        _ => anyhow::bail!("unknown mask `{spec}`"),
    };
    Ok((column.to_owned(), mask))
}

async fn grants_command(command: GrantCommand) -> anyhow::Result<()> {
    use crate::grants::{self, Actor, Application, Approval};
    let dir = match &command {
        GrantCommand::List { dir }
        | GrantCommand::Request { dir, .. }
        | GrantCommand::Approve { dir, .. }
        | GrantCommand::Reject { dir, .. }
        | GrantCommand::Revoke { dir, .. } => dir.clone(),
    };
    let config = Config::load(&dir.join(config::FILE_NAME))?;
    let store = Store::connect(config.store.url.expose(), 2).await?;
    let recorder = crate::audit::Recorder::Direct(store.clone());
    let known_matters =
        crate::matters::Matters::load(&config.matters).map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = std::time::Instant::now();
    match command {
        GrantCommand::List { .. } => {
            for g in store.list_grants().await? {
                let state = if g.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!(
                    "grant {:>4} {state:<7} {:<18} {:<16} {:?} matters={:?} columns={}",
                    g.grant.id,
                    g.grant.consumer,
                    g.grant.library.table_name(),
                    g.grant.source,
                    g.grant.matters,
                    g.grant.columns.join(",")
                );
            }
            for r in store.list_requests().await? {
                println!(
                    "request {:>4} {:<9} {:<18} {} {}",
                    r.id, r.status, r.consumer, r.resource, r.body
                );
            }
        }
        GrantCommand::Request {
            department,
            resource,
            columns,
            matters,
            reason,
            legal_basis,
            ..
        } => {
            let principal = local_principal(&store, &department).await?;
            let actor = Actor {
                principal: &principal,
                started,
                recorder: &recorder,
                matters: &known_matters,
            };
            let id = grants::apply(
                &store,
                &actor,
                Application {
                    resource,
                    columns,
                    matters,
                    reason,
                    legal_basis,
                    valid_to: None,
                },
            )
            .await?;
            println!("request {id} filed (pending)");
        }
        GrantCommand::Approve {
            id,
            department,
            row_filter,
            masks,
            row_cap,
            note,
            ..
        } => {
            let principal = local_principal(&store, &department).await?;
            let actor = Actor {
                principal: &principal,
                started,
                recorder: &recorder,
                matters: &known_matters,
            };
            let engine = tongban_catalog::query::QueryEngine::new(
                &tongban_catalog::query::QueryLimits::default(),
            )
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
            let masks = masks
                .iter()
                .map(|m| parse_mask(m))
                .collect::<anyhow::Result<_>>()?;
            let approval = Approval {
                note,
                columns: None,
                row_filter,
                masks,
                row_cap,
                valid_to: None,
            };
            let grant = grants::approve(&store, &engine, &actor, id, approval).await?;
            println!("request {id} approved: grant {grant}");
        }
        GrantCommand::Reject {
            id,
            department,
            note,
            ..
        } => {
            let principal = local_principal(&store, &department).await?;
            grants::reject(
                &store,
                &Actor {
                    principal: &principal,
                    started,
                    recorder: &recorder,
                    matters: &known_matters,
                },
                id,
                &note,
            )
            .await?;
            println!("request {id} rejected");
        }
        GrantCommand::Revoke { id, department, .. } => {
            let principal = local_principal(&store, &department).await?;
            grants::revoke(
                &store,
                &Actor {
                    principal: &principal,
                    started,
                    recorder: &recorder,
                    matters: &known_matters,
                },
                id,
            )
            .await?;
            println!("grant {id} revoked");
        }
    }
    store.close().await;
    Ok(())
}

fn describe_publish_error(e: crate::error::ApiError) -> anyhow::Error {
    use tongban_catalog::CatalogError;
    match e {
        crate::error::ApiError::Catalog(CatalogError::InvalidRows { total, errors }) => {
            let mut text = format!("{total} invalid value(s); nothing was published");
            for row in errors.iter().take(20) {
                text.push_str(&format!(
                    "\n  row {}: {}: {} ({})",
                    row.row, row.column, row.message, row.code
                ));
            }
            anyhow::anyhow!(text)
        }
        other => anyhow::anyhow!(other.to_string()),
    }
}

/// Files named on the command line; a directory stands for its `.parquet` files in name order.
fn expand_inputs(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut inputs = Vec::new();
    for path in files {
        if path.is_dir() {
            let mut parts: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .collect();
            parts.sort();
            inputs.extend(parts);
        } else if path.exists() {
            inputs.push(path.clone());
        } else {
            anyhow::bail!("{} does not exist", path.display());
        }
    }
    Ok(inputs)
}

/// Creates (or completes) a data directory. Returns its configuration and the accounts
/// created now or earlier.
pub async fn init(
    dir: &Path,
    listen: SocketAddr,
    store_url: Option<String>,
    hostnames: &[String],
    demo: bool,
) -> anyhow::Result<(Config, Vec<seed::Login>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let config_path = dir.join(config::FILE_NAME);
    let config = if config_path.exists() {
        Config::load(&config_path)?
    } else {
        let mut config = Config::embedded(&dir, listen);
        if let Some(url) = store_url {
            config.store.url = Secret::new(url);
        }
        config.write(&config_path)?;
        config
    };
    std::fs::create_dir_all(&config.data_dir)?;
    let now = time::OffsetDateTime::now_utc();
    let paths = PkiPaths::new(&dir);
    pki::ensure_ca_and_server(&paths, hostnames, now)?;
    let store = Store::connect(config.store.url.expose(), 2).await?;
    let millis = now.unix_timestamp() * 1000;
    seed::departments(&store, millis).await?;
    seed::resources(&store, millis).await?;
    seed::certificates(&store, &paths, now).await?;
    let logins = seed::accounts(&store, demo, &dir.join("logins.json"), millis).await?;
    if demo {
        seed::demo_grants(&store, millis).await?;
    }
    store.close().await;
    Ok((config, logins))
}

fn generate(
    out: &Path,
    people: usize,
    seed: u64,
    as_of: NaiveDate,
) -> anyhow::Result<tongban_schemas::generate::GenerationReport> {
    use indicatif::{ProgressBar, ProgressStyle};
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta})")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    let config = tongban_schemas::generate::GeneratorConfig::new(seed, people, as_of);
    let started = std::time::Instant::now();
    let report = tongban_schemas::generate::generate(
        &config,
        out,
        &|p: tongban_schemas::generate::Progress| {
            if bar.length() != Some(p.rows_total) {
                bar.set_length(p.rows_total);
                bar.set_message(p.library.table_name());
            }
            bar.set_position(p.rows_done);
        },
    )?;
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    for output in &report.libraries {
        println!("{:>14}: {} rows", output.library.table_name(), output.rows);
    }
    println!(
        "generated in {:.1} s into {}",
        elapsed.as_secs_f64(),
        out.display()
    );
    Ok(report)
}

async fn demo(
    dir: &Path,
    people: usize,
    listen: SocketAddr,
    flight_listen: SocketAddr,
    seed: u64,
) -> anyhow::Result<()> {
    let (mut config, logins) = init(dir, listen, None, &[], true).await?;
    config.listen = listen;
    config.flight_listen = Some(flight_listen);
    let store = Store::connect(config.store.url.expose(), 4).await?;
    let mut missing = Vec::new();
    for library in BaseLibrary::ALL {
        if store.resource_for_library(library).await?.latest.is_none() {
            missing.push(library);
        }
    }
    if !missing.is_empty() {
        let staging = tempfile::Builder::new()
            .prefix(".generated-")
            .tempdir_in(&config.data_dir)?;
        println!("generating {people} people with linked entities and credit records …");
        generate(staging.path(), people, seed, today())?;
        for library in missing {
            let inputs = expand_inputs(&[staging.path().join(library.table_name())])?;
            let record = crate::publish::publish_files(
                &store,
                &config.data_dir,
                library,
                inputs,
                "demo",
                today(),
            )
            .await
            .map_err(describe_publish_error)?;
            println!(
                "published {library} v{} ({} rows)",
                record.version, record.rows
            );
        }
    }
    store.close().await;

    let app = Application::build(config.clone()).await?;
    let addr = app.local_addr();
    let dir = dir.canonicalize()?;
    let paths = PkiPaths::new(&dir);
    println!();
    println!("Tongban demo is running at https://{addr}/");
    println!(
        "  web console:         https://{addr}/console (sign in with a login below; trust the CA certificate)"
    );
    println!(
        "  API description:     https://{addr}/v1/openapi.json; metrics at /metrics, /livez, /readyz"
    );
    if let Some(flight) = app.flight_addr() {
        println!(
            "  Flight SQL:          grpc+tls://{flight} (purpose in x-tongban-matter, x-tongban-case-id, x-tongban-legal-basis)"
        );
    }
    println!("  CA certificate:      {}", paths.ca_cert().display());
    println!(
        "  client certificates: {}/<department>.crt and .key",
        paths.dir.join("clients").display()
    );
    println!(
        "  departments:         {}",
        seed::DEPARTMENTS
            .iter()
            .filter(|d| d.client_certificate)
            .map(|d| d.code)
            .collect::<Vec<_>>()
            .join(", ")
    );
    print_logins(&logins);
    println!(
        "  try: curl --cacert {} --cert {} --key {} https://{addr}/v1/catalog/resources",
        paths.ca_cert().display(),
        paths.client_cert("approval-bureau").display(),
        paths.client_key("approval-bureau").display()
    );
    app.run_until_stopped().await?;
    Ok(())
}

fn print_logins(logins: &[seed::Login]) {
    if logins.is_empty() {
        return;
    }
    println!("  logins (POST /v1/auth/login):");
    for l in logins {
        println!(
            "    {:<10} {:<24} {:<18} {}",
            l.username, l.password, l.department, l.roles
        );
    }
}

async fn ballista_command(command: BallistaCommand) -> anyhow::Result<()> {
    use tongban_catalog::query::distributed;
    match command {
        BallistaCommand::Scheduler { bind } => distributed::run_scheduler(bind)
            .await
            .map_err(|e| anyhow::anyhow!("{e}: {}", e.detail())),
        BallistaCommand::Executor {
            scheduler,
            bind_host,
            port,
            grpc_port,
            external_host,
            vcores,
            work_dir,
        } => {
            let (host, scheduler_port) = match scheduler.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_owned(),
                    port.parse::<u16>()
                        .map_err(|_| anyhow::anyhow!("--scheduler `{scheduler}`: bad port"))?,
                ),
                None => (scheduler.clone(), 50050),
            };
            let vcores = vcores.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            distributed::run_executor(distributed::ExecutorOptions {
                scheduler_host: host,
                scheduler_port,
                bind_host,
                port,
                grpc_port,
                external_host,
                vcores,
                work_dir,
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}: {}", e.detail()))
        }
    }
}
