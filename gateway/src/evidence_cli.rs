//! `tongban verify-evidence`: the approving department's (or an auditor's) check of a
//! resolution's signed evidence, and optionally a re-run of what the base libraries said at
//! the time, against the snapshot versions the evidence pins.
//!
//! The signature is checked against the hub's evidence key, obtained out of band and pinned
//! (`GET /v1/matters/evidence-key`); nothing in the evidence chooses the key. A re-run reads
//! the pinned snapshots of a hub's data directory with the row filters the evidence records
//! for the grants it was resolved under, and compares each record and credit material's
//! outcome. Licence materials depend on the registry's state at the time and are reported,
//! not re-run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use tongban_catalog::query::{Access, Grant, GrantSource, QueryEngine, QueryLimits};
use tongban_certs::VerifyingKey;
use tongban_schemas::BaseLibrary;
use tongban_schemas::matter::{KeyRef, Source};

use crate::config::{self, Config};
use crate::matters::Matters;
use crate::store::Store;

/// Arguments of `tongban verify-evidence`.
#[derive(Debug, clap::Args)]
pub struct VerifyEvidenceArgs {
    /// The evidence: a file holding the JWS, or the JSON a resolution returned (its
    /// `evidence_jws`); `-` reads standard input.
    pub evidence: PathBuf,
    /// The hub's evidence public JWK, pinned out of band.
    #[arg(long)]
    pub key: PathBuf,
    /// Re-run the record and credit materials against the pinned snapshots of this data
    /// directory (holding tongban.toml).
    #[arg(long)]
    pub rerun: Option<PathBuf>,
}

/// Runs the command: exit 0 when the evidence is genuine (and, with `--rerun`, the records
/// say the same); 1 with the reason otherwise.
pub fn main(args: &VerifyEvidenceArgs) -> ExitCode {
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
    match runtime.block_on(check(args)) {
        Ok(report) => {
            println!("{report}");
            if succeeded(&report) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            println!(
                "{}",
                json!({"valid": false, "code": "evidence.unreadable", "reason": e})
            );
            ExitCode::from(1)
        }
    }
}

/// Whether a report says the evidence is genuine and, when re-run, unchanged.
pub fn succeeded(report: &Value) -> bool {
    report["valid"] == Value::Bool(true)
        && report
            .get("rerun")
            .is_none_or(|r| r["matches"] == Value::Bool(true))
}

fn read_input(path: &Path) -> Result<String, String> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().take_limited(), &mut s)
            .map_err(|e| format!("standard input: {e}"))?;
        s
    } else {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > crate::matters::MAX_EVIDENCE_BYTES as u64 * 2 {
            return Err(format!("{}: too large to be evidence", path.display()));
        }
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let text = text.trim();
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        return v
            .get("evidence_jws")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "the JSON has no evidence_jws".to_owned());
    }
    Ok(text.to_owned())
}

trait TakeLimited: std::io::Read + Sized {
    fn take_limited(self) -> std::io::Take<Self> {
        self.take(crate::matters::MAX_EVIDENCE_BYTES as u64 * 2)
    }
}

impl<R: std::io::Read> TakeLimited for R {}

/// Checks the evidence; the report says what it states and whether it is genuine.
pub async fn check(args: &VerifyEvidenceArgs) -> Result<Value, String> {
    let token = read_input(&args.evidence)?;
    let key_text =
        std::fs::read_to_string(&args.key).map_err(|e| format!("{}: {e}", args.key.display()))?;
    let jwk: Map<String, Value> =
        serde_json::from_str(&key_text).map_err(|e| format!("the key is not a JWK: {e}"))?;
    let key = VerifyingKey::from_jwk_inferring_alg(&jwk).map_err(|e| e.to_string())?;
    let payload = match crate::matters::verify_evidence(&token, &key) {
        Ok(p) => p,
        Err(e) => {
            return Ok(json!({"valid": false, "code": e.code(), "reason": e.to_string()}));
        }
    };
    let mut report = json!({
        "valid": true,
        "resolution_id": payload.get("jti"),
        "issuer": payload.get("iss"),
        "matter": payload.get("matter"),
        "department": payload.get("department"),
        "case_id": payload.get("case_id"),
        "as_of": payload.get("as_of"),
        "snapshots": payload.get("snapshots"),
        "supplied": payload.get("supplied"),
        "must_submit": payload.get("must_submit"),
        "materials": payload.get("materials").and_then(Value::as_array).map(|ms| ms.iter().map(|m| json!({
            "code": m.get("code"),
            "outcome": m.get("outcome"),
            "reason": m.get("reason").and_then(|r| r.get("code")),
        })).collect::<Vec<_>>()),
    });
    if let Some(dir) = &args.rerun {
        report["rerun"] = rerun(dir, &payload).await?;
    }
    Ok(report)
}

/// Re-runs the record and credit materials of `payload` against its pinned snapshots.
async fn rerun(dir: &Path, payload: &Map<String, Value>) -> Result<Value, String> {
    let config = Config::load(&dir.join(config::FILE_NAME)).map_err(|e| e.to_string())?;
    let matters = Matters::load(&config.matters).map_err(|e| e.to_string())?;
    let code = payload
        .get("matter")
        .and_then(|m| m.get("code"))
        .and_then(Value::as_str)
        .ok_or("the evidence names no matter")?;
    let matter = matters
        .get(code)
        .ok_or_else(|| format!("this hub does not define the matter {code}"))?;
    let store = Store::connect(config.store.url.expose(), 2)
        .await
        .map_err(|e| e.to_string())?;
    let engine = QueryEngine::new(&QueryLimits::default()).map_err(|e| e.to_string())?;
    let pinned: BTreeMap<String, i64> = payload
        .get("snapshots")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| format!("snapshots: {e}"))?
        .unwrap_or_default();
    let filters: BTreeMap<String, Option<String>> = payload
        .get("grants")
        .and_then(Value::as_object)
        .map(|g| {
            g.iter()
                .map(|(t, v)| {
                    (
                        t.clone(),
                        v.get("row_filter")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut grants = Vec::new();
    for (table, version) in &pinned {
        let library: BaseLibrary = table
            .parse()
            .map_err(|_| format!("unknown table {table}"))?;
        let resource = store
            .resource_for_library(library)
            .await
            .map_err(|e| e.to_string())?;
        let snapshots = store
            .snapshots(&resource.definition.code.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let snapshot = snapshots
            .iter()
            .find(|s| s.version == *version)
            .ok_or_else(|| format!("{table} snapshot {version} is not in this hub"))?;
        engine
            .set_snapshot(library, *version, &config.data_dir.join(&snapshot.path))
            .await
            .map_err(|e| e.to_string())?;
        grants.push(Grant {
            id: 0,
            consumer: "auditor".into(),
            resource: resource.definition.code.to_string(),
            library,
            columns: library
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            row_filter: filters.get(table).cloned().flatten(),
            masks: BTreeMap::new(),
            matters: Vec::new(),
            legal_basis: "re-run of resolution evidence".into(),
            valid_from: 0,
            valid_to: None,
            row_cap: None,
            source: GrantSource::Unconditional,
        });
    }
    let access = Access {
        grants,
        explain_allowed: false,
    };
    let as_of = payload
        .get("as_of")
        .and_then(Value::as_str)
        .ok_or("the evidence has no as_of date")?;
    chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d").map_err(|e| format!("as_of: {e}"))?;
    let parties: BTreeMap<String, String> = payload
        .get("parties")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some((
                        p.get("role")?.as_str()?.to_owned(),
                        p.get("id")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();

    let mut results = Vec::new();
    let mut matches = true;
    let recorded = payload
        .get("materials")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for m in &recorded {
        let code = m.get("code").and_then(Value::as_str).unwrap_or_default();
        let then = outcome_code(m);
        let Some(def) = matter.material(code) else {
            matches = false;
            results.push(json!({"code": code, "then": then, "now": null, "matches": false, "note": "the matter no longer defines this material"}));
            continue;
        };
        let now = rerun_material(&engine, &access, def, m, &parties, as_of).await?;
        let entry = match now {
            Some(now) => {
                let same = now == then;
                matches &= same;
                json!({"code": code, "then": then, "now": now, "matches": same})
            }
            None => {
                json!({"code": code, "then": then, "now": null, "matches": null, "note": "not re-run"})
            }
        };
        results.push(entry);
    }
    Ok(json!({"matches": matches, "materials": results}))
}

fn outcome_code(m: &Value) -> String {
    match m
        .get("reason")
        .and_then(|r| r.get("code"))
        .and_then(Value::as_str)
    {
        Some(code) => code.to_owned(),
        None => "supplied".to_owned(),
    }
}

/// The outcome a material would have now, on the pinned snapshots, or `None` when it cannot
/// be re-run (licences, keys that depended on another material, missing grants).
async fn rerun_material(
    engine: &QueryEngine,
    access: &Access,
    def: &tongban_schemas::matter::Material,
    recorded: &Value,
    parties: &BTreeMap<String, String>,
    as_of: &str,
) -> Result<Option<String>, String> {
    let evidence = recorded.get("evidence");
    match &def.source {
        Source::Record {
            library,
            key,
            conditions,
            ..
        } => {
            if !access.grants.iter().any(|g| g.library == *library) {
                return Ok(None);
            }
            let key_value = evidence
                .and_then(|e| e.get("key"))
                .and_then(|k| k.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| match key {
                    KeyRef::Party(role) => parties.get(role).cloned(),
                    KeyRef::Field { .. } => None,
                });
            let Some(key_value) = key_value else {
                return Ok(None);
            };
            let mut columns = vec![library.key_column().to_owned()];
            columns.extend(conditions.iter().map(|c| c.column.clone()));
            let sql = format!(
                "SELECT {} FROM {} WHERE {} = {}",
                columns
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                library.table_name(),
                library.key_column(),
                crate::matters::quote_literal(&key_value)
            );
            let rows = query(engine, access, &sql).await?;
            let Some(row) = rows.first() else {
                return Ok(Some("not_found".into()));
            };
            let failed = conditions
                .iter()
                .any(|c| row.get(&c.column).and_then(|v| v.as_deref()) != Some(c.equals.as_str()));
            Ok(Some(
                if failed {
                    "condition_not_met"
                } else {
                    "supplied"
                }
                .into(),
            ))
        }
        Source::CreditClearance { record_types, .. } => {
            if !access
                .grants
                .iter()
                .any(|g| g.library == BaseLibrary::CreditRecord)
            {
                return Ok(None);
            }
            let subjects: Vec<String> = match evidence {
                Some(e) if e.get("subjects").is_some() => e["subjects"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                Some(e) if e.get("listings").is_some() => e["listings"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.get("subject").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                _ => return Ok(None),
            };
            if subjects.is_empty() {
                return Ok(None);
            }
            // The evidence names subjects without their kind: look them up as either.
            let ids: Vec<&str> = subjects.iter().map(String::as_str).collect();
            let types: Vec<&str> = record_types.iter().map(String::as_str).collect();
            let sql = crate::matters::listings_sql(&ids, &ids, &types, as_of);
            let rows = query(engine, access, &sql).await?;
            Ok(Some(
                if rows.is_empty() {
                    "supplied"
                } else {
                    "listed"
                }
                .into(),
            ))
        }
        Source::Licence { .. } => Ok(None),
    }
}

type Row = BTreeMap<String, Option<String>>;

async fn query(engine: &QueryEngine, access: &Access, sql: &str) -> Result<Vec<Row>, String> {
    let planned = engine
        .plan(sql, access)
        .await
        .map_err(|e| format!("{e} ({})", e.detail()))?;
    let mut stream = planned.execute().await.map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(|e| e.to_string())?);
    }
    Ok(crate::matters::rows_of(&batches))
}
