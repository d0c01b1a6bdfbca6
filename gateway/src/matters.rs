//! Once-only materials resolution (数据多跑路，群众少跑腿): for a matter and an applicant,
//! which required materials the hub supplies itself, with evidence, and which the applicant
//! must still bring, with the reason.
//!
//! A resolution reads the base libraries the way a department's SQL would — through the
//! resolving department's grants for the matter, with their masks, row filters and column
//! limits, planned by the same governed engine — so the hub never supplies what the
//! department could not have queried. It reads the licence registry and checks any licences
//! the applicant presents with the online verifier. Materials whose keys come from other
//! materials (the operator of a company, found through the company's record) are resolved
//! level by level; within a level, all records of one library are read by one query and all
//! credit clearances by another, concurrently.
//!
//! The answer is signed by the hub (ES256 JWS, `typ` [`EVIDENCE_TYP`], a key used for
//! nothing else) and pins the snapshot version of every library read, so that an auditor can
//! later re-run what the records said at the time. Each resolution is one audit entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tongban_catalog::query::{Access, Grant, QueryEngine, QueryError, policy};
use tongban_certs::{Alg, Holder, HolderKind, SigningKey, VerifyingKey};
use tongban_schemas::BaseLibrary;
use tongban_schemas::matter::{self, KeyRef, Matter, MatterError, Source};

use crate::audit::{self, AuditEvent, Purpose};
use crate::auth::{Principal, Role};
use crate::config::MattersConfig;
use crate::error::ApiError;
use crate::grants;
use crate::startup::AppState;
use crate::store::{LicenceRecord, MaterialOutcome, ResolutionRecord};

/// The `typ` of signed resolution evidence.
pub const EVIDENCE_TYP: &str = "tongban-evidence+jwt";

/// Longest evidence a verifier accepts.
pub const MAX_EVIDENCE_BYTES: usize = 1 << 20;

/// Most licences one resolution request may present.
const MAX_PRESENTED: usize = 16;

/// The matters the hub knows, by code.
#[derive(Debug, Clone)]
pub struct Matters {
    by_code: BTreeMap<String, Arc<Matter>>,
}

impl Matters {
    /// The shipped matters, or those of `config.dir` when set.
    pub fn load(config: &MattersConfig) -> Result<Matters, MatterError> {
        let list = match &config.dir {
            Some(dir) => Matters::read_dir(dir)?,
            None => matter::shipped()?,
        };
        Ok(Matters::from_list(list))
    }

    /// The matters of a list.
    pub fn from_list(list: Vec<Matter>) -> Matters {
        Matters {
            by_code: list
                .into_iter()
                .map(|m| (m.code.clone(), Arc::new(m)))
                .collect(),
        }
    }

    /// Reads and checks every `*.toml` file of `dir`; two files may not define one code.
    pub fn read_dir(dir: &Path) -> Result<Vec<Matter>, MatterError> {
        let fail = |reason: String| MatterError {
            matter: dir.display().to_string(),
            reason,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| fail(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(fail("no matter files (*.toml)".into()));
        }
        let mut out: Vec<Matter> = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| MatterError {
                matter: file.display().to_string(),
                reason: e.to_string(),
            })?;
            let m = Matter::from_toml(&text).map_err(|mut e| {
                e.matter = format!("{} ({})", e.matter, file.display());
                e
            })?;
            if out.iter().any(|x| x.code == m.code) {
                return Err(MatterError {
                    matter: m.code,
                    reason: format!("defined twice (again in {})", file.display()),
                });
            }
            out.push(m);
        }
        Ok(out)
    }

    /// The matter with `code`.
    pub fn get(&self, code: &str) -> Option<&Arc<Matter>> {
        self.by_code.get(code)
    }

    /// Whether `code` is a known matter.
    pub fn contains(&self, code: &str) -> bool {
        self.by_code.contains_key(code)
    }

    /// Every matter, by code.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Matter>> {
        self.by_code.values()
    }
}

/// The key that signs resolution evidence.
#[derive(Debug)]
pub struct EvidenceSigner {
    key: SigningKey,
}

impl EvidenceSigner {
    /// Loads the key from `path`, creating it (mode 0600) if absent.
    pub fn load(path: &Path) -> Result<EvidenceSigner, ApiError> {
        let fail =
            |e: &dyn std::fmt::Display| ApiError::Internal(format!("{}: {e}", path.display()));
        if !path.exists() {
            let key = SigningKey::generate(Alg::Es256).map_err(|e| fail(&e))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
            }
            crate::ledger::write_secret(path, key.to_private_jwk_json().as_bytes())
                .map_err(|e| fail(&e))?;
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        let key = SigningKey::from_private_jwk_json(text.trim()).map_err(|e| fail(&e))?;
        if key.alg() != Alg::Es256 {
            return Err(fail(&"the evidence key must be an ES256 key"));
        }
        Ok(EvidenceSigner { key })
    }

    /// The public key, as a JWK with `kid` and `alg`.
    pub fn public_jwk(&self) -> Map<String, Value> {
        self.key.verifying_key().to_jwk()
    }

    fn sign(&self, payload: &Map<String, Value>) -> Result<String, ApiError> {
        tongban_certs::document::sign(&self.key, EVIDENCE_TYP, payload)
            .map_err(|e| ApiError::Internal(format!("signing evidence: {e}")))
    }
}

/// Checks signed evidence against the hub's evidence key and returns its payload.
pub fn verify_evidence(
    token: &str,
    key: &VerifyingKey,
) -> Result<Map<String, Value>, tongban_certs::LicenceError> {
    let limits = tongban_certs::Limits {
        max_token_bytes: MAX_EVIDENCE_BYTES,
        max_json_depth: 12,
        ..tongban_certs::Limits::default()
    };
    tongban_certs::document::verify(token.trim(), EVIDENCE_TYP, key, &limits)
}

/// An identifier as a request carries it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdBody {
    /// `111` (citizen ID) or `001` (USCC).
    #[serde(rename = "type")]
    pub kind: String,
    /// The identifier.
    pub id: String,
}

/// A related party (spouse, transferee …).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyBody {
    /// The role, as the matter names it.
    pub role: String,
    /// `111` or `001`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The identifier.
    pub id: String,
}

/// A resolution request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// Who applies.
    pub applicant: IdBody,
    /// Related parties.
    #[serde(default)]
    pub parties: Vec<PartyBody>,
    /// The case (办件) number.
    pub case_id: String,
    /// Licences the applicant presents (SD-JWT presentations).
    #[serde(default)]
    pub licences: Vec<String>,
}

/// Why a material must still be submitted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reason {
    /// Stable code: `not_found`, `condition_not_met`, `listed`, `revoked`, `suspended`,
    /// `expired`, `grant_missing`, `party_not_given`, `source_missing`, `invalid_key`.
    pub code: &'static str,
    /// For the applicant and the clerk.
    pub message: String,
}

/// One material's answer.
#[derive(Debug, Clone, Serialize)]
pub struct MaterialAnswer {
    /// Material code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// `record`, `licence` or `credit-clearance`.
    pub source: &'static str,
    /// `supplied` or `must_submit`.
    pub outcome: &'static str,
    /// What the hub found: the evidence when supplied, what disqualified it otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    /// Why it must be submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// A finished resolution.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// Resolution id.
    pub resolution_id: String,
    /// Matter code and name.
    pub matter: Value,
    /// Case number.
    pub case_id: String,
    /// The day credit listings were judged on (Beijing).
    pub as_of: String,
    /// Per material.
    pub materials: Vec<MaterialAnswer>,
    /// How many the hub supplied.
    pub supplied: usize,
    /// How many the applicant must bring.
    pub must_submit: usize,
    /// Licences presented and what their verification said.
    pub presented: Vec<Value>,
    /// The whole answer, signed.
    pub evidence_jws: String,
    /// The audit entry.
    pub audit_id: String,
}

enum Answer {
    Supplied(Value),
    MustSubmit(Reason, Option<Value>),
}

fn must(code: &'static str, message: impl Into<String>) -> Answer {
    Answer::MustSubmit(
        Reason {
            code,
            message: message.into(),
        },
        None,
    )
}

/// A record a resolution found: column → value (`None` for NULL).
pub(crate) type Row = BTreeMap<String, Option<String>>;

/// What the resolution read, for the audit entry and the evidence.
#[derive(Default)]
struct Reads {
    tables: BTreeMap<String, BTreeSet<String>>,
    snapshots: BTreeMap<String, i64>,
    plans: Vec<String>,
    batches: Vec<RecordBatch>,
    licences: Vec<String>,
}

/// A refused resolution: the client's error, and the detail for the record.
struct Refused {
    error: ApiError,
    code: &'static str,
    detail: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    let message = message.into();
    Refused {
        detail: message.clone(),
        error: ApiError::Invalid { code, message },
        code,
    }
}

/// `POST /v1/matters/{code}/resolve` for `principal`.
pub async fn resolve(
    state: &AppState,
    principal: &Principal,
    code: &str,
    request: ResolveRequest,
) -> Result<Resolution, ApiError> {
    let started = Instant::now();
    if !principal.roles.contains(Role::Clerk) && !principal.roles.contains(Role::Consumer) {
        return Err(ApiError::Forbidden(Role::Clerk));
    }
    let Some(matter) = state.matters.get(code).cloned() else {
        return Err(ApiError::NotFound("matter"));
    };
    let audit_id = audit::request_id();
    let purpose = Purpose {
        matter: matter.code.clone(),
        case_id: request.case_id.clone(),
        legal_basis: matter.legal_basis.clone(),
        confidential_until: None,
    };
    match run(
        state, principal, &matter, &purpose, &request, &audit_id, started,
    )
    .await
    {
        Ok(resolution) => Ok(resolution),
        Err(r) => {
            let event = AuditEvent::MatterRefused {
                matter: matter.code.clone(),
                code: r.code.to_owned(),
                detail: r.detail,
            };
            let mut entry = audit::entry(principal, &audit_id, Some(purpose), started, event);
            entry.flags = state.alerts.flags(&state.config.audit, &entry, true);
            audit::record(&state.recorder, entry, Vec::new()).await?;
            Err(r.error)
        }
    }
}

async fn run(
    state: &AppState,
    principal: &Principal,
    matter: &Matter,
    purpose: &Purpose,
    request: &ResolveRequest,
    audit_id: &str,
    started: Instant,
) -> Result<Resolution, Refused> {
    grants::check_purpose(purpose, &state.matters).map_err(|(code, m)| refused(code, m))?;
    let parties = parties(matter, request)?;
    if request.licences.len() > MAX_PRESENTED {
        return Err(refused(
            "matter.too_many_licences",
            format!("present at most {MAX_PRESENTED} licences"),
        ));
    }
    let now = chrono::Utc::now();
    let now_ms = now.timestamp_millis();
    let as_of = crate::clock::in_beijing(now).date_naive();

    let held = grants::held_by(&state.store, principal)
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let mut governing: HashMap<BaseLibrary, Grant> = HashMap::new();
    for library in BaseLibrary::ALL {
        if let Some(g) =
            policy::resolve(&held, &principal.department, library, &matter.code, now_ms)
        {
            governing.insert(library, g.clone());
        }
    }
    let access = Access {
        grants: governing.values().cloned().collect(),
        explain_allowed: false,
    };
    let deadline = started + Duration::from_secs(state.config.query.timeout_seconds.max(1));

    // Presented licences are verified once, up front, against current keys and lists.
    if !request.licences.is_empty() {
        state
            .licences
            .refresh()
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
    }
    let mut presented = Vec::new();
    let mut presented_valid: Vec<tongban_certs::VerifiedLicence> = Vec::new();
    for token in &request.licences {
        match state.licences.verify(token) {
            Ok(v) => {
                presented.push(json!({"licence_id": v.id.to_string(), "licence_type": v.licence_type.slug(), "result": "valid"}));
                presented_valid.push(v);
            }
            Err(e) => presented.push(json!({"result": e.code(), "message": e.to_string()})),
        }
    }

    let mut answers: BTreeMap<String, Answer> = BTreeMap::new();
    let mut records: HashMap<String, Row> = HashMap::new();
    let mut reads = Reads::default();
    for level in levels(matter) {
        let ctx = Level {
            state,
            matter,
            parties: &parties,
            records: &records,
            governing: &governing,
            access: &access,
            as_of,
            deadline,
        };
        let (record_answers, found, clearance_answers, licence_answers, level_reads) =
            ctx.run(&level, &presented_valid, now.timestamp()).await?;
        for (code, answer) in record_answers
            .into_iter()
            .chain(clearance_answers)
            .chain(licence_answers)
        {
            answers.insert(code, answer);
        }
        records.extend(found);
        reads.tables.extend(level_reads.tables);
        reads.snapshots.extend(level_reads.snapshots);
        reads.plans.extend(level_reads.plans);
        reads.batches.extend(level_reads.batches);
        reads.licences.extend(level_reads.licences);
    }

    let mut materials = Vec::with_capacity(matter.materials.len());
    for m in &matter.materials {
        let answer = answers
            .remove(&m.code)
            .unwrap_or_else(|| must("not_found", "未能确定该材料"));
        let (outcome, evidence, reason) = match answer {
            Answer::Supplied(e) => ("supplied", Some(e), None),
            Answer::MustSubmit(r, e) => ("must_submit", e, Some(r)),
        };
        materials.push(MaterialAnswer {
            code: m.code.clone(),
            name: m.name.clone(),
            source: m.source.kind(),
            outcome,
            evidence,
            reason,
        });
    }
    let supplied = materials.iter().filter(|m| m.outcome == "supplied").count();
    let must_submit = materials.len() - supplied;
    let resolution_id = uuid::Uuid::now_v7().to_string();

    // The evidence: everything the answer says, who asked, and which snapshots it read.
    let mut payload = Map::new();
    payload.insert("iss".into(), Value::from(state.config.base_url()));
    payload.insert("iat".into(), Value::from(now.timestamp()));
    payload.insert("jti".into(), Value::from(resolution_id.clone()));
    payload.insert(
        "matter".into(),
        json!({"code": matter.code, "name": matter.name, "legal_basis": matter.legal_basis}),
    );
    payload.insert(
        "department".into(),
        Value::from(principal.department.clone()),
    );
    payload.insert("actor".into(), Value::from(principal.actor()));
    payload.insert("case_id".into(), Value::from(request.case_id.clone()));
    payload.insert("as_of".into(), Value::from(as_of.to_string()));
    payload.insert(
        "parties".into(),
        Value::Array(
            parties
                .iter()
                .map(|(role, h)| json!({"role": role, "type": h.kind().code(), "id": h.id()}))
                .collect(),
        ),
    );
    payload.insert("snapshots".into(), json!(reads.snapshots));
    // The grants the libraries were read under, so a re-run applies the same row filters.
    payload.insert(
        "grants".into(),
        Value::Object(
            governing
                .values()
                .filter(|g| reads.snapshots.contains_key(g.library.table_name()))
                .map(|g| {
                    (
                        g.library.table_name().to_owned(),
                        json!({"grant_id": g.id, "source": g.source, "row_filter": g.row_filter}),
                    )
                })
                .collect(),
        ),
    );
    payload.insert(
        "materials".into(),
        serde_json::to_value(&materials).map_err(|e| unavailable(&e.to_string()))?,
    );
    payload.insert("supplied".into(), Value::from(supplied));
    payload.insert("must_submit".into(), Value::from(must_submit));
    payload.insert("audit_id".into(), Value::from(audit_id.to_owned()));
    let evidence_jws = state
        .evidence
        .sign(&payload)
        .map_err(|e| unavailable(&e.to_string()))?;

    // One audit entry, committed before the answer leaves.
    let mut ids = crate::alerts::identifiers(&reads.batches);
    for (_, h) in &parties {
        if !ids.iter().any(|(_, id)| id == h.id()) {
            ids.push((h.kind().code(), h.id().to_owned()));
        }
    }
    let (subjects, hashes) =
        crate::alerts::subjects(&state.ledger, &ids, state.config.audit.subject_cap);
    let event = AuditEvent::MatterResolved {
        matter: matter.code.clone(),
        resolution_id: resolution_id.clone(),
        supplied: supplied as u64,
        must_submit: must_submit as u64,
        materials: materials
            .iter()
            .map(|m| {
                (
                    m.code.clone(),
                    m.reason
                        .as_ref()
                        .map_or_else(|| "supplied".to_owned(), |r| r.code.to_owned()),
                )
            })
            .collect(),
        tables: reads
            .tables
            .iter()
            .map(|(t, c)| (t.clone(), c.iter().cloned().collect()))
            .collect(),
        snapshots: reads.snapshots.clone(),
        plan_sha256: reads.plans.clone(),
        licences: reads.licences.clone(),
    };
    let mut entry = audit::entry(principal, audit_id, Some(purpose.clone()), started, event);
    entry.subjects = subjects;
    entry.flags = state.alerts.flags(&state.config.audit, &entry, false);
    // The resolution is stored in the entry's own transaction: both or neither.
    let record = ResolutionRecord {
        id: resolution_id.clone(),
        matter: matter.code.clone(),
        department: principal.department.clone(),
        case_id: request.case_id.clone(),
        audit_id: audit_id.to_owned(),
        at_ms: now_ms,
        supplied: supplied as i64,
        must_submit: must_submit as i64,
        evidence: evidence_jws.clone(),
    };
    let outcomes = materials
        .iter()
        .map(|m| MaterialOutcome {
            material: m.code.clone(),
            outcome: m.outcome.to_owned(),
            reason: m.reason.as_ref().map(|r| r.code.to_owned()),
        })
        .collect::<Vec<_>>();
    audit::record_with(
        &state.recorder,
        entry,
        hashes,
        Some(crate::ledger::Attachment::Resolution(record, outcomes)),
    )
    .await
    .map_err(|e| Refused {
        code: "audit.unavailable",
        detail: e.to_string(),
        error: e,
    })?;
    tracing::info!(dept = %principal.department, matter = %matter.code, supplied, must_submit, duration_ms = started.elapsed().as_millis() as u64, "matter resolved");
    Ok(Resolution {
        resolution_id,
        matter: json!({"code": matter.code, "name": matter.name}),
        case_id: request.case_id.clone(),
        as_of: as_of.to_string(),
        materials,
        supplied,
        must_submit,
        presented,
        evidence_jws,
        audit_id: audit_id.to_owned(),
    })
}

fn unavailable(detail: &str) -> Refused {
    Refused {
        error: ApiError::Invalid {
            code: "matter.unavailable",
            message: "the resolution could not be completed; retry shortly".into(),
        },
        code: "matter.unavailable",
        detail: detail.to_owned(),
    }
}

/// The parties of a request, checked against the matter: role → identifier.
fn parties(matter: &Matter, request: &ResolveRequest) -> Result<Vec<(String, Holder)>, Refused> {
    let mut out: Vec<(String, Holder)> = Vec::new();
    let given = std::iter::once((
        matter::APPLICANT,
        &request.applicant.kind,
        &request.applicant.id,
    ))
    .chain(
        request
            .parties
            .iter()
            .map(|p| (p.role.as_str(), &p.kind, &p.id)),
    );
    for (role, kind, id) in given {
        let Some(spec) = matter.party(role) else {
            return Err(refused(
                "matter.unknown_party",
                format!(
                    "{} has no party {:?}; its parties are {}",
                    matter.code,
                    role.chars().take(32).collect::<String>(),
                    matter
                        .parties
                        .iter()
                        .map(|p| p.role.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if out.iter().any(|(r, _)| r == role) {
            return Err(refused(
                "matter.duplicate_party",
                format!("the party {role} is given twice"),
            ));
        }
        if kind != spec.id_type.code() {
            return Err(refused(
                "matter.wrong_id_type",
                format!(
                    "the {role} ({}) is identified by type {}",
                    spec.name,
                    spec.id_type.code()
                ),
            ));
        }
        let holder = Holder::parse(kind, id)
            .map_err(|e| refused("matter.invalid_id", format!("the {role}'s identifier: {e}")))?;
        out.push((role.to_owned(), holder));
    }
    Ok(out)
}

/// Material indexes by level: a material's keys come from parties (level 0) or from
/// materials of lower levels.
fn levels(matter: &Matter) -> Vec<Vec<usize>> {
    let mut level_of: HashMap<&str, usize> = HashMap::new();
    let mut levels: Vec<Vec<usize>> = Vec::new();
    for (i, m) in matter.materials.iter().enumerate() {
        let refs: Vec<&KeyRef> = match &m.source {
            Source::Record { key, .. } => vec![key],
            Source::Licence { holder, .. } => vec![holder],
            Source::CreditClearance { subjects, .. } => subjects.iter().collect(),
        };
        let level = refs
            .iter()
            .filter_map(|r| match r {
                KeyRef::Field { material, .. } => level_of.get(material.as_str()).map(|l| l + 1),
                KeyRef::Party(_) => None,
            })
            .max()
            .unwrap_or(0);
        level_of.insert(&m.code, level);
        if levels.len() <= level {
            levels.resize_with(level + 1, Vec::new);
        }
        levels[level].push(i);
    }
    levels
}

type LevelOutcome = (
    Vec<(String, Answer)>,
    HashMap<String, Row>,
    Vec<(String, Answer)>,
    Vec<(String, Answer)>,
    Reads,
);

/// One level of a resolution.
struct Level<'a> {
    state: &'a AppState,
    matter: &'a Matter,
    parties: &'a [(String, Holder)],
    records: &'a HashMap<String, Row>,
    governing: &'a HashMap<BaseLibrary, Grant>,
    access: &'a Access,
    as_of: chrono::NaiveDate,
    deadline: Instant,
}

/// A lookup of one library by key: which materials wait for which keys.
struct Lookup {
    library: BaseLibrary,
    columns: BTreeSet<String>,
    keys: BTreeSet<String>,
}

impl Level<'_> {
    /// The identifier a key reference stands for, or why the material cannot be resolved.
    fn key(&self, key: &KeyRef) -> Result<Holder, Answer> {
        match key {
            KeyRef::Party(role) => self
                .parties
                .iter()
                .find(|(r, _)| r == role)
                .map(|(_, h)| h.clone())
                .ok_or_else(|| {
                    let name = self
                        .matter
                        .party(role)
                        .map_or(role.as_str(), |p| p.name.as_str());
                    must("party_not_given", format!("未提供{name}的身份信息"))
                }),
            KeyRef::Field { material, column } => {
                let name = self
                    .matter
                    .material(material)
                    .map_or(material.as_str(), |m| m.name.as_str());
                let Some(row) = self.records.get(material) else {
                    return Err(must(
                        "source_missing",
                        format!("需先取得「{name}」，本平台未能取得"),
                    ));
                };
                let Some(Some(value)) = row.get(column) else {
                    return Err(must("source_missing", format!("「{name}」中没有 {column}")));
                };
                let parsed = if value.len() == 18 {
                    tongban_schemas::CitizenId::parse(value)
                        .map(Holder::Citizen)
                        .or_else(|_| tongban_schemas::Uscc::parse(value).map(Holder::Entity))
                        .ok()
                } else {
                    None
                };
                parsed.ok_or_else(|| {
                    must(
                        "invalid_key",
                        format!("「{name}」中的 {column} 不是有效的证件号码（可能已被遮蔽）"),
                    )
                })
            }
        }
    }

    /// Why the grant does not let this department read `columns` of `library`, if it does not.
    fn grant_gap(
        &self,
        library: BaseLibrary,
        columns: &[&str],
        compared: &[&str],
    ) -> Option<Answer> {
        let Some(grant) = self.governing.get(&library) else {
            return Some(must(
                "grant_missing",
                format!(
                    "本部门没有为事项「{}」读取{}的授权",
                    self.matter.name,
                    library.label_zh()
                ),
            ));
        };
        if let Some(c) = columns
            .iter()
            .find(|c| !grant.columns.iter().any(|g| g == *c))
        {
            return Some(must(
                "grant_missing",
                format!("本部门的授权不包括{}的 {c} 列", library.label_zh()),
            ));
        }
        if let Some(c) = compared.iter().find(|c| grant.masks.contains_key(**c)) {
            return Some(must(
                "grant_missing",
                format!(
                    "{}的 {c} 列在本部门的授权下被遮蔽，无法核对",
                    library.label_zh()
                ),
            ));
        }
        None
    }

    async fn run(
        &self,
        level: &[usize],
        presented: &[tongban_certs::VerifiedLicence],
        now_secs: i64,
    ) -> Result<LevelOutcome, Refused> {
        let mut record_answers: Vec<(String, Answer)> = Vec::new();
        let mut clearance_answers: Vec<(String, Answer)> = Vec::new();
        let mut licence_answers: Vec<(String, Answer)> = Vec::new();
        let mut lookups: BTreeMap<BaseLibrary, Lookup> = BTreeMap::new();
        // Material → (library, key) it waits for.
        let mut waiting: Vec<(usize, BaseLibrary, String)> = Vec::new();
        // Clearances: material → subjects.
        let mut clearances: Vec<(usize, Vec<Holder>)> = Vec::new();
        let mut credit_subjects: BTreeSet<(HolderKind, String)> = BTreeSet::new();
        let mut credit_types: BTreeSet<String> = BTreeSet::new();
        let mut licences: Vec<(usize, Holder)> = Vec::new();

        for &i in level {
            let m = &self.matter.materials[i];
            match &m.source {
                Source::Record {
                    library,
                    key,
                    conditions,
                    fields,
                } => {
                    let holder = match self.key(key) {
                        Ok(h) => h,
                        Err(a) => {
                            record_answers.push((m.code.clone(), a));
                            continue;
                        }
                    };
                    let key_column = library.key_column();
                    let compared: Vec<&str> = std::iter::once(key_column)
                        .chain(conditions.iter().map(|c| c.column.as_str()))
                        .collect();
                    let columns: Vec<&str> = compared
                        .iter()
                        .copied()
                        .chain(fields.iter().map(String::as_str))
                        .collect();
                    if let Some(a) = self.grant_gap(*library, &columns, &compared) {
                        record_answers.push((m.code.clone(), a));
                        continue;
                    }
                    let lookup = lookups.entry(*library).or_insert_with(|| Lookup {
                        library: *library,
                        columns: BTreeSet::new(),
                        keys: BTreeSet::new(),
                    });
                    lookup
                        .columns
                        .extend(columns.iter().map(|c| (*c).to_owned()));
                    lookup.keys.insert(holder.id().to_owned());
                    waiting.push((i, *library, holder.id().to_owned()));
                }
                Source::CreditClearance {
                    subjects,
                    record_types,
                } => {
                    let mut holders = Vec::new();
                    let mut failed = None;
                    for s in subjects {
                        match self.key(s) {
                            Ok(h) => holders.push(h),
                            Err(a) => {
                                failed = Some(a);
                                break;
                            }
                        }
                    }
                    if let Some(a) = failed {
                        clearance_answers.push((m.code.clone(), a));
                        continue;
                    }
                    if let Some(a) = self.grant_gap(
                        BaseLibrary::CreditRecord,
                        &CREDIT_COLUMNS,
                        &[
                            "record_type",
                            "status",
                            "subject_uscc",
                            "subject_id_number",
                            "valid_to",
                        ],
                    ) {
                        clearance_answers.push((m.code.clone(), a));
                        continue;
                    }
                    // A clearance is only worth something for a subject that exists: look it
                    // up in its base library too, when the grant allows.
                    for h in &holders {
                        let library = subject_library(h);
                        if self.governing.contains_key(&library)
                            && self
                                .grant_gap(
                                    library,
                                    &[library.key_column()],
                                    &[library.key_column()],
                                )
                                .is_none()
                        {
                            let lookup = lookups.entry(library).or_insert_with(|| Lookup {
                                library,
                                columns: BTreeSet::new(),
                                keys: BTreeSet::new(),
                            });
                            lookup.columns.insert(library.key_column().to_owned());
                            lookup.keys.insert(h.id().to_owned());
                        }
                        credit_subjects.insert((h.kind(), h.id().to_owned()));
                    }
                    credit_types.extend(record_types.iter().cloned());
                    clearances.push((i, holders));
                }
                Source::Licence { holder, .. } => match self.key(holder) {
                    Ok(h) => licences.push((i, h)),
                    Err(a) => licence_answers.push((m.code.clone(), a)),
                },
            }
        }

        // Every query and registry read of the level at once.
        let record_reads =
            futures::future::join_all(lookups.values().map(|l| self.read_records(l)));
        let credit_read = async {
            if credit_subjects.is_empty() {
                Ok(None)
            } else {
                self.read_listings(&credit_subjects, &credit_types)
                    .await
                    .map(Some)
            }
        };
        let licence_reads = futures::future::join_all(licences.iter().map(|(i, h)| {
            let m = &self.matter.materials[*i];
            let Source::Licence { licence_type, .. } = &m.source else {
                unreachable!("only licence materials are collected here")
            };
            self.licence(*licence_type, h, presented, now_secs)
        }));
        let (record_results, credit_result, licence_results) =
            futures::join!(record_reads, credit_read, licence_reads);

        let mut reads = Reads::default();
        let mut found: HashMap<(BaseLibrary, String), Row> = HashMap::new();
        for (lookup, result) in lookups.values().zip(record_results) {
            let (rows, read) = result?;
            reads.absorb(read);
            for row in rows {
                if let Some(Some(k)) = row.get(lookup.library.key_column()) {
                    found.insert((lookup.library, k.clone()), row);
                }
            }
        }
        let mut material_rows: HashMap<String, Row> = HashMap::new();
        for (i, library, key) in waiting {
            let m = &self.matter.materials[i];
            let Source::Record {
                conditions, fields, ..
            } = &m.source
            else {
                continue;
            };
            let answer = match found.get(&(library, key.clone())) {
                None => must(
                    "not_found",
                    format!(
                        "{}中没有 {key} 的记录（或不在本部门的授权范围内）",
                        library.label_zh()
                    ),
                ),
                Some(row) => {
                    material_rows.insert(m.code.clone(), row.clone());
                    let failed = conditions.iter().find(|c| {
                        row.get(&c.column).and_then(|v| v.as_deref()) != Some(c.equals.as_str())
                    });
                    let grant = self.governing.get(&library);
                    let snapshot = reads.snapshots.get(library.table_name()).copied();
                    match failed {
                        Some(c) => {
                            let value = row.get(&c.column).cloned().flatten();
                            Answer::MustSubmit(
                                Reason {
                                    code: "condition_not_met",
                                    message: format!(
                                        "{}记录的 {} 为「{}」，要求为「{}」",
                                        library.label_zh(),
                                        c.column,
                                        value.as_deref().unwrap_or("空"),
                                        c.equals
                                    ),
                                },
                                Some(json!({
                                    "resource": grant.map(|g| g.resource.clone()),
                                    "table": library.table_name(),
                                    "key": {"column": library.key_column(), "value": key},
                                    "snapshot": snapshot,
                                    "column": c.column,
                                    "found": value,
                                    "required": c.equals,
                                })),
                            )
                        }
                        None => Answer::Supplied(json!({
                            "resource": grant.map(|g| g.resource.clone()),
                            "table": library.table_name(),
                            "key": {"column": library.key_column(), "value": key},
                            "snapshot": snapshot,
                            "conditions": conditions,
                            "fields": fields.iter().map(|f| (f.clone(), row.get(f).cloned().flatten())).collect::<BTreeMap<_, _>>(),
                        })),
                    }
                }
            };
            record_answers.push((m.code.clone(), answer));
        }

        if let Some((listings, read)) = credit_result? {
            reads.absorb(read);
            let snapshot = reads
                .snapshots
                .get(BaseLibrary::CreditRecord.table_name())
                .copied();
            for (i, holders) in clearances {
                let m = &self.matter.materials[i];
                let Source::CreditClearance { record_types, .. } = &m.source else {
                    continue;
                };
                let unknown = holders.iter().find(|h| {
                    let library = subject_library(h);
                    lookups.contains_key(&library)
                        && lookups[&library].keys.contains(h.id())
                        && !found.contains_key(&(library, h.id().to_owned()))
                });
                if let Some(h) = unknown {
                    clearance_answers.push((
                        m.code.clone(),
                        must(
                            "not_found",
                            format!(
                                "{}中没有 {} 的记录，无法出具信用核查结果",
                                subject_library(h).label_zh(),
                                h.id()
                            ),
                        ),
                    ));
                    continue;
                }
                let hits: Vec<&Listing> = listings
                    .iter()
                    .filter(|l| record_types.contains(&l.record_type))
                    .filter(|l| holders.iter().any(|h| h.id() == l.subject))
                    .collect();
                let subjects: Vec<&str> = holders.iter().map(Holder::id).collect();
                let answer = if hits.is_empty() {
                    Answer::Supplied(json!({
                        "resource": self.governing.get(&BaseLibrary::CreditRecord).map(|g| g.resource.clone()),
                        "table": BaseLibrary::CreditRecord.table_name(),
                        "snapshot": snapshot,
                        "subjects": subjects,
                        "record_types": record_types,
                        "as_of": self.as_of.to_string(),
                        "listings": 0,
                    }))
                } else {
                    let types: BTreeSet<&str> =
                        hits.iter().map(|l| l.record_type.as_str()).collect();
                    Answer::MustSubmit(
                        Reason {
                            code: "listed",
                            message: format!(
                                "存在有效的{}记录",
                                types.into_iter().collect::<Vec<_>>().join("、")
                            ),
                        },
                        Some(json!({
                            "table": BaseLibrary::CreditRecord.table_name(),
                            "snapshot": snapshot,
                            "as_of": self.as_of.to_string(),
                            "listings": hits.iter().map(|l| json!({
                                "record_id": l.record_id,
                                "record_type": l.record_type,
                                "subject": l.subject,
                                "valid_to": l.valid_to,
                            })).collect::<Vec<_>>(),
                        })),
                    )
                };
                clearance_answers.push((m.code.clone(), answer));
            }
        }

        for ((i, _), result) in licences.iter().zip(licence_results) {
            let (answer, id) = result?;
            if let Some(id) = id {
                reads.licences.push(id);
            }
            licence_answers.push((self.matter.materials[*i].code.clone(), answer));
        }
        Ok((
            record_answers,
            material_rows,
            clearance_answers,
            licence_answers,
            reads,
        ))
    }

    /// Reads the records of `lookup`'s keys through the department's grant.
    async fn read_records(&self, lookup: &Lookup) -> Result<(Vec<Row>, Reads), Refused> {
        let columns: Vec<String> = lookup.columns.iter().map(|c| quote_ident(c)).collect();
        let keys: Vec<String> = lookup.keys.iter().map(|k| quote_literal(k)).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {} IN ({})",
            columns.join(", "),
            lookup.library.table_name(),
            quote_ident(lookup.library.key_column()),
            keys.join(", ")
        );
        let (batches, read) = self.query(sql).await?;
        Ok((rows_of(&batches), read.with_batches(batches)))
    }

    /// Current listings of `types` against any of `subjects`.
    async fn read_listings(
        &self,
        subjects: &BTreeSet<(HolderKind, String)>,
        types: &BTreeSet<String>,
    ) -> Result<(Vec<Listing>, Reads), Refused> {
        let ids = |kind: HolderKind| -> Vec<&str> {
            subjects
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, id)| id.as_str())
                .collect()
        };
        let types: Vec<&str> = types.iter().map(String::as_str).collect();
        let sql = listings_sql(
            &ids(HolderKind::CitizenId),
            &ids(HolderKind::Uscc),
            &types,
            &self.as_of.format("%Y-%m-%d").to_string(),
        );
        let (batches, read) = self.query(sql).await?;
        let listings = rows_of(&batches)
            .into_iter()
            .map(|r| {
                let get = |c: &str| r.get(c).cloned().flatten();
                Listing {
                    record_id: get("record_id").unwrap_or_default(),
                    record_type: get("record_type").unwrap_or_default(),
                    subject: get("subject_id_number")
                        .or_else(|| get("subject_uscc"))
                        .unwrap_or_default(),
                    valid_to: get("valid_to"),
                }
            })
            .collect();
        Ok((listings, read.with_batches(batches)))
    }

    /// Plans and runs one governed query under the matter's grants.
    async fn query(&self, sql: String) -> Result<(Vec<RecordBatch>, Reads), Refused> {
        let engine: Arc<QueryEngine> = Arc::clone(&self.state.engine);
        let planning = self
            .state
            .planners
            .plan(engine, sql.clone(), self.access.clone());
        let planned = match tokio::time::timeout_at(self.deadline.into(), planning).await {
            Err(_) => return Err(timeout()),
            Ok(Err(e)) => return Err(query_failed(&sql, &e)),
            Ok(Ok(p)) => p,
        };
        let mut stream = planned
            .execute()
            .await
            .map_err(|e| query_failed(&sql, &e))?;
        let mut batches = Vec::new();
        loop {
            match tokio::time::timeout_at(self.deadline.into(), stream.next()).await {
                Err(_) => return Err(timeout()),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(query_failed(&sql, &QueryError::from(e))),
                Ok(Some(Ok(b))) => batches.push(b),
            }
        }
        let read = Reads {
            tables: planned.tables.clone(),
            snapshots: planned.snapshots.clone(),
            plans: vec![planned.plan_sha256.clone()],
            ..Reads::default()
        };
        Ok((batches, read))
    }

    /// A current licence of `licence_type` held by `holder`: one the applicant presented, or
    /// one in the registry.
    async fn licence(
        &self,
        licence_type: tongban_certs::LicenceType,
        holder: &Holder,
        presented: &[tongban_certs::VerifiedLicence],
        now_secs: i64,
    ) -> Result<(Answer, Option<String>), Refused> {
        if let Some(v) = presented
            .iter()
            .find(|v| v.licence_type == licence_type && &v.holder == holder)
        {
            let id = v.id.to_string();
            return Ok((
                Answer::Supplied(json!({
                    "licence_id": id,
                    "licence_type": licence_type.slug(),
                    "issuer": v.issuer,
                    "status": "valid",
                    "valid_until": v.valid_until,
                    "via": "presented",
                })),
                Some(id),
            ));
        }
        let held = self
            .state
            .store
            .licences_held(holder.kind().code(), holder.id(), licence_type.slug())
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        let current =
            |l: &LicenceRecord| l.status == "valid" && l.expires_at.is_none_or(|e| e > now_secs);
        let evidence = |l: &LicenceRecord| {
            json!({
                "licence_id": l.id,
                "licence_type": l.licence_type,
                "issuer": l.issuer,
                "status": l.status,
                "expires_at": l.expires_at,
                "via": "registry",
            })
        };
        if let Some(l) = held.iter().find(|l| current(l)) {
            return Ok((Answer::Supplied(evidence(l)), Some(l.id.clone())));
        }
        let name = licence_type.name_zh();
        let Some(l) = held.first() else {
            return Ok((
                must("not_found", format!("电子证照库中没有该申请人的{name}")),
                None,
            ));
        };
        let (code, message) = match l.status.as_str() {
            "revoked" => ("revoked", format!("{name}（{}）已被注销", l.id)),
            "suspended" => ("suspended", format!("{name}（{}）已被暂停使用", l.id)),
            _ => ("expired", format!("{name}（{}）已过有效期", l.id)),
        };
        let mut detail = evidence(l);
        if let Some(r) = &l.status_reason {
            detail["status_reason"] = Value::from(r.clone());
        }
        Ok((
            Answer::MustSubmit(Reason { code, message }, Some(detail)),
            Some(l.id.clone()),
        ))
    }
}

const CREDIT_COLUMNS: [&str; 6] = [
    "record_id",
    "record_type",
    "subject_uscc",
    "subject_id_number",
    "valid_to",
    "status",
];

struct Listing {
    record_id: String,
    record_type: String,
    subject: String,
    valid_to: Option<String>,
}

impl Reads {
    fn absorb(&mut self, other: Reads) {
        for (t, c) in other.tables {
            self.tables.entry(t).or_default().extend(c);
        }
        self.snapshots.extend(other.snapshots);
        self.plans.extend(other.plans);
        self.batches.extend(other.batches);
        self.licences.extend(other.licences);
    }

    fn with_batches(mut self, batches: Vec<RecordBatch>) -> Reads {
        self.batches = batches;
        self
    }
}

fn subject_library(h: &Holder) -> BaseLibrary {
    match h.kind() {
        HolderKind::CitizenId => BaseLibrary::Population,
        HolderKind::Uscc => BaseLibrary::LegalEntity,
    }
}

fn timeout() -> Refused {
    Refused {
        error: ApiError::Invalid {
            code: "matter.timeout",
            message: "the resolution took too long".into(),
        },
        code: "matter.timeout",
        detail: "a lookup did not finish before the query timeout".into(),
    }
}

fn query_failed(sql: &str, e: &QueryError) -> Refused {
    Refused {
        error: ApiError::Invalid {
            code: "matter.lookup_failed",
            message: "a lookup of the resolution failed".into(),
        },
        code: "matter.lookup_failed",
        detail: format!("{}: {sql}", e.detail()),
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The one definition of "current listings" of `types` against citizens `people` and entities
/// `entities` on `as_of` (YYYY-MM-DD), shared by resolution and its re-run.
pub(crate) fn listings_sql(
    people: &[&str],
    entities: &[&str],
    types: &[&str],
    as_of: &str,
) -> String {
    let list = |values: &[&str]| {
        values
            .iter()
            .map(|v| quote_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut who = Vec::new();
    if !people.is_empty() {
        who.push(format!("subject_id_number IN ({})", list(people)));
    }
    if !entities.is_empty() {
        who.push(format!("subject_uscc IN ({})", list(entities)));
    }
    format!(
        "SELECT record_id, record_type, subject_uscc, subject_id_number, valid_to, status \
         FROM credit_record WHERE ({}) AND record_type IN ({}) AND status = '有效' \
         AND (valid_to IS NULL OR valid_to >= DATE {}) LIMIT 200",
        who.join(" OR "),
        list(types),
        quote_literal(as_of)
    )
}

pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The rows of `batches` as column → text.
pub(crate) fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut row = Row::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let value = if column.is_null(i) {
                    None
                } else {
                    arrow::util::display::array_value_to_string(column, i).ok()
                };
                row.insert(field.name().clone(), value);
            }
            rows.push(row);
        }
    }
    rows
}

/// The "materials reduced" figures of a matter over a period.
pub async fn stats(
    state: &AppState,
    matter: &Matter,
    from_ms: i64,
    to_ms: i64,
) -> Result<Value, ApiError> {
    let (resolutions, counts) = state
        .store
        .matter_stats(&matter.code, from_ms, to_ms)
        .await?;
    let mut supplied = 0i64;
    let mut requested = 0i64;
    let mut per_material: BTreeMap<&str, (i64, i64, BTreeMap<String, i64>)> = matter
        .materials
        .iter()
        .map(|m| (m.code.as_str(), (0, 0, BTreeMap::new())))
        .collect();
    for c in &counts {
        let entry = per_material.entry(c.material.as_str()).or_default();
        if c.outcome == "supplied" {
            supplied += c.count;
            entry.0 += c.count;
        } else {
            requested += c.count;
            entry.1 += c.count;
            *entry
                .2
                .entry(c.reason.clone().unwrap_or_default())
                .or_default() += c.count;
        }
    }
    let total = supplied + requested;
    Ok(json!({
        "matter": {"code": matter.code, "name": matter.name},
        "from": crate::clock::in_beijing(chrono::DateTime::from_timestamp_millis(from_ms).unwrap_or_default()).to_rfc3339(),
        "to": crate::clock::in_beijing(chrono::DateTime::from_timestamp_millis(to_ms).unwrap_or_default()).to_rfc3339(),
        "resolutions": resolutions,
        "materials_required": total,
        "supplied_by_hub": supplied,
        "requested_from_applicants": requested,
        "reduction_rate": if total > 0 { (supplied as f64 / total as f64 * 10_000.0).round() / 10_000.0 } else { 0.0 },
        "per_material": matter.materials.iter().map(|m| {
            let (s, r, reasons) = per_material.get(m.code.as_str()).cloned().unwrap_or_default();
            json!({"code": m.code, "name": m.name, "supplied": s, "must_submit": r, "reasons": reasons})
        }).collect::<Vec<_>>(),
    }))
}
