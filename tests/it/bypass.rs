//! Attempts to get around the governed-SQL policy, as data: every `[[case]]` of
//! `tests/bypass/cases.toml` is one query by one caller and what a secure exchange must answer.
//! One hub serves all cases, run one after another by [`check`], and every failing case is
//! reported by name at the end, so a new attack is one entry in the file.
//!
//! Besides each case's own expectations, [`check`] holds every case to the invariants of the
//! query API: an answer is `200` with rows or a `4xx` refusal with a stable code (never a
//! server error), and the query left exactly one audit entry that agrees with the answer.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use regex::Regex;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tongban_gateway::store::Store;
use tongban_tests::TestHub;

/// People published into the hub; small, so that cross joins stay cheap.
const PEOPLE: usize = 300;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    case: Vec<Case>,
}

/// One attempt and what must come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Unique; failures are reported by it.
    name: String,
    /// What the case attacks, for reading the file and the report.
    group: String,
    /// Query with this department's client certificate …
    #[serde(default)]
    department: Option<String>,
    /// … or as this seeded account, with a bearer token.
    #[serde(default)]
    login: Option<String>,
    /// The purpose's matter; required unless `no_purpose`.
    #[serde(default)]
    matter: Option<String>,
    /// Send no purpose at all.
    #[serde(default)]
    no_purpose: bool,
    #[serde(default = "default_case_id")]
    case_id: String,
    #[serde(default = "default_legal_basis")]
    legal_basis: String,
    /// The SQL. `{data_dir}` and `{hub_dir}` become the hub's directories, and each
    /// `expand` placeholder its repeated text.
    sql: String,
    #[serde(default)]
    expand: Vec<Expand>,
    /// `max_rows` of the request.
    #[serde(default)]
    max_rows: Option<u64>,
    /// Whether the request becomes a query with an audit entry; `false` for requests the
    /// HTTP layer refuses before (a body over the JSON limit).
    #[serde(default = "yes")]
    audited: bool,
    /// Whether the statement would change something on disk or in the catalogue if it ran;
    /// these cases are also run by [`refused_statements_change_nothing_on_disk`].
    #[serde(default)]
    writes: bool,
    /// Files the statement would create; none may exist afterwards. Relative paths are
    /// relative to the hub directory and to the test's working directory.
    #[serde(default)]
    creates: Vec<String>,

    // ---- expectations: exactly one of `refused` and `ok` ----
    /// The refusal's `error.code`.
    #[serde(default)]
    refused: Option<String>,
    /// The query runs.
    #[serde(default)]
    ok: bool,
    /// Regex the refusal's client message must not match (leaks).
    #[serde(default)]
    message_not_matching: Option<String>,
    /// Regex the refusal's audit `detail` must match (the engine's words are kept there).
    #[serde(default)]
    detail_matching: Option<String>,
    /// Regex the refusal's audit `detail` must not match (not even the record sees it).
    #[serde(default)]
    detail_not_matching: Option<String>,
    /// Exact row count.
    #[serde(default)]
    rows: Option<u64>,
    #[serde(default)]
    rows_at_least: Option<u64>,
    #[serde(default)]
    rows_at_most: Option<u64>,
    #[serde(default)]
    truncated: Option<bool>,
    /// Exact column names, in order.
    #[serde(default)]
    columns: Option<Vec<String>>,
    /// Exact rows, in order (cells as the JSON answer has them).
    #[serde(default)]
    values: Option<Vec<Vec<Value>>>,
    /// No cell of the answer may match this regex.
    #[serde(default)]
    no_value_matching: Option<String>,
    /// Every cell of the answer must match this regex.
    #[serde(default)]
    all_values_matching: Option<String>,
    /// Every cell of one column must match a regex.
    #[serde(default)]
    all_values_in_column: Option<ColumnMatch>,
    /// The answer's rows equal those of this query by another caller.
    #[serde(default)]
    same_rows_as: Option<Reference>,
    /// The tables the audit entry records as read.
    #[serde(default)]
    audit_tables: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expand {
    placeholder: String,
    text: String,
    times: usize,
    #[serde(default)]
    separator: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnMatch {
    column: String,
    matching: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    department: String,
    matter: String,
    sql: String,
}

fn yes() -> bool {
    true
}

fn default_case_id() -> String {
    "2026-BYPASS-0001".into()
}

fn default_legal_basis() -> String {
    "《政务信息资源共享管理暂行办法》".into()
}

fn load_cases() -> anyhow::Result<Vec<Case>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bypass/cases.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: CaseFile = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let mut names = std::collections::BTreeSet::new();
    for case in &file.case {
        anyhow::ensure!(names.insert(&case.name), "case `{}` twice", case.name);
        anyhow::ensure!(
            case.ok != case.refused.is_some(),
            "case `{}`: say either `ok = true` or `refused = \"code\"`",
            case.name
        );
        anyhow::ensure!(
            case.department.is_some() != case.login.is_some(),
            "case `{}`: name a `department` or a `login`",
            case.name
        );
        anyhow::ensure!(
            case.matter.is_some() != case.no_purpose,
            "case `{}`: name a `matter` or say `no_purpose = true`",
            case.name
        );
        anyhow::ensure!(
            !case.writes || case.refused.is_some(),
            "case `{}`: a statement that writes must be refused",
            case.name
        );
    }
    Ok(file.case)
}

/// What a query answered.
struct Answer {
    status: StatusCode,
    body: Value,
}

/// A hub and the means to query it as anyone.
struct Runner {
    hub: TestHub,
    store: Store,
    clients: HashMap<String, reqwest::Client>,
    tokens: HashMap<String, String>,
}

impl Runner {
    async fn start() -> anyhow::Result<Runner> {
        Runner::on(TestHub::with_data(PEOPLE).await?).await
    }

    async fn on(hub: TestHub) -> anyhow::Result<Runner> {
        let store = Store::connect(hub.config.store.url.expose(), 1).await?;
        Ok(Runner {
            hub,
            store,
            clients: HashMap::new(),
            tokens: HashMap::new(),
        })
    }

    async fn client(&mut self, case: &Case) -> anyhow::Result<reqwest::RequestBuilder> {
        let url = format!("{}/v1/query", self.hub.base());
        if let Some(dept) = &case.department {
            if !self.clients.contains_key(dept) {
                let client = self.hub.department(dept)?;
                self.clients.insert(dept.clone(), client);
            }
            return Ok(self.clients[dept].post(url));
        }
        let login = case.login.as_deref().context("no caller")?;
        if !self.tokens.contains_key(login) {
            let token = self.hub.token(login).await?;
            self.tokens.insert(login.to_owned(), token);
        }
        Ok(self
            .hub
            .anonymous()?
            .post(url)
            .bearer_auth(&self.tokens[login]))
    }

    fn sql(&self, case: &Case) -> String {
        let mut sql = case
            .sql
            .replace(
                "{data_dir}",
                &self.hub.config.data_dir.display().to_string(),
            )
            .replace("{hub_dir}", &self.hub.dir.path().display().to_string());
        for e in &case.expand {
            let text = vec![e.text.as_str(); e.times].join(&e.separator);
            sql = sql.replace(&e.placeholder, &text);
        }
        sql
    }

    /// A case's regex, with `{data_dir}` and `{hub_dir}` standing for the literal paths.
    fn pattern(&self, re: &str) -> anyhow::Result<Regex> {
        let re = re
            .replace(
                "{data_dir}",
                &regex::escape(&self.hub.config.data_dir.display().to_string()),
            )
            .replace(
                "{hub_dir}",
                &regex::escape(&self.hub.dir.path().display().to_string()),
            );
        Regex::new(&re).with_context(|| format!("regex /{re}/"))
    }

    async fn send(&mut self, case: &Case) -> anyhow::Result<Answer> {
        let mut body = json!({"sql": self.sql(case)});
        if let Some(matter) = &case.matter {
            body["purpose"] =
                json!({"matter": matter, "case_id": case.case_id, "legal_basis": case.legal_basis});
        }
        if let Some(max_rows) = case.max_rows {
            body["max_rows"] = json!(max_rows);
        }
        let response = self.client(case).await?.json(&body).send().await?;
        let status = response.status();
        let text = response.text().await?;
        let body = serde_json::from_str(&text)
            .with_context(|| format!("{status}, not JSON: {}", clip(&text)))?;
        Ok(Answer { status, body })
    }

    async fn reference(&self, r: &Reference) -> anyhow::Result<Value> {
        let response = self
            .hub
            .department(&r.department)?
            .post(format!("{}/v1/query", self.hub.base()))
            .json(&json!({
                "sql": r.sql,
                "purpose": {"matter": r.matter, "case_id": default_case_id(), "legal_basis": default_legal_basis()},
            }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status == StatusCode::OK, "reference query: {status} {body}");
        anyhow::ensure!(body["truncated"] == false, "reference query truncated");
        Ok(body["rows"].clone())
    }
}

/// Runs one case and returns what is wrong with the answer (nothing when it passes).
async fn check(runner: &mut Runner, case: &Case) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut expected_entries = i64::from(case.audited);
    let before = runner.store.audit_count().await?;
    let answer = runner.send(case).await?;
    let body = &answer.body;
    let shown = clip(&body.to_string());

    let audit_id = if answer.status == StatusCode::OK {
        body["audit_id"].as_str()
    } else {
        body["error"]["audit_id"].as_str()
    };
    let entry = match audit_id {
        Some(id) => runner.store.audit_entry(id).await.map(|(_, e)| e)?,
        None if case.audited => {
            problems.push(format!("no audit id in the answer: {shown}"));
            Value::Null
        }
        None => Value::Null,
    };

    if let Some(code) = &case.refused {
        if !answer.status.is_client_error() {
            problems.push(format!(
                "want a 4xx refusal {code}, got {}: {shown}",
                answer.status
            ));
        }
        if body["error"]["code"] != code.as_str() {
            problems.push(format!("want refusal {code}, got {shown}"));
        }
        if case.audited && (entry["event"] != "query_refused" || entry["code"] != code.as_str()) {
            problems.push(format!("audit entry does not record the refusal: {entry}"));
        }
        let message = body["error"]["message"].as_str().unwrap_or("");
        if let Some(re) = &case.message_not_matching
            && runner.pattern(re)?.is_match(message)
        {
            problems.push(format!("client message leaks /{re}/: {message}"));
        }
        let detail = entry["detail"].as_str().unwrap_or("");
        if let Some(re) = &case.detail_matching
            && !runner.pattern(re)?.is_match(detail)
        {
            problems.push(format!("audit detail does not match /{re}/: {detail}"));
        }
        if let Some(re) = &case.detail_not_matching
            && runner.pattern(re)?.is_match(detail)
        {
            problems.push(format!("audit detail matches /{re}/: {detail}"));
        }
    } else {
        if answer.status != StatusCode::OK {
            problems.push(format!(
                "want an answer, got {}: {shown}; audit detail: {}",
                answer.status, entry["detail"]
            ));
            return Ok(problems);
        }
        let rows = body["rows"].as_array().cloned().unwrap_or_default();
        let count = rows.len() as u64;
        if entry["event"] != "query_executed" || entry["rows"] != count {
            problems.push(format!(
                "audit entry does not record {count} rows returned: {entry}"
            ));
        }
        if case.rows.is_some_and(|n| n != count) {
            problems.push(format!("want {:?} rows, got {count}: {shown}", case.rows));
        }
        if case.rows_at_least.is_some_and(|n| count < n) {
            problems.push(format!(
                "want at least {:?} rows, got {count}: {shown}",
                case.rows_at_least
            ));
        }
        if case.rows_at_most.is_some_and(|n| count > n) {
            problems.push(format!(
                "want at most {:?} rows, got {count}: {shown}",
                case.rows_at_most
            ));
        }
        if let Some(t) = case.truncated
            && body["truncated"] != t
        {
            problems.push(format!("want truncated = {t}: {shown}"));
        }
        let columns: Vec<String> = body["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(want) = &case.columns
            && *want != columns
        {
            problems.push(format!("want columns {want:?}, got {columns:?}"));
        }
        if let Some(want) = &case.values
            && Value::from(want.clone()) != Value::from(rows.clone())
        {
            problems.push(format!(
                "want rows {}, got {shown}",
                Value::from(want.clone())
            ));
        }
        if let Some(re) = &case.no_value_matching {
            let re = runner.pattern(re)?;
            let leaks: Vec<String> = rows
                .iter()
                .flat_map(|r| r.as_array().cloned().unwrap_or_default())
                .map(|v| text_of(&v))
                .filter(|t| re.is_match(t))
                .take(3)
                .collect();
            if !leaks.is_empty() {
                problems.push(format!("cells match /{re}/: {leaks:?}"));
            }
        }
        if let Some(re) = &case.all_values_matching {
            let re = runner.pattern(re)?;
            let bad: Vec<String> = rows
                .iter()
                .flat_map(|r| r.as_array().cloned().unwrap_or_default())
                .map(|v| text_of(&v))
                .filter(|t| !re.is_match(t))
                .take(3)
                .collect();
            if !bad.is_empty() {
                problems.push(format!("cells not matching /{re}/: {bad:?}"));
            }
        }
        if let Some(m) = &case.all_values_in_column {
            let re = runner.pattern(&m.matching)?;
            match columns.iter().position(|c| *c == m.column) {
                None => problems.push(format!("no column {} in {columns:?}", m.column)),
                Some(i) => {
                    let bad: Vec<String> = rows
                        .iter()
                        .map(|r| text_of(&r[i]))
                        .filter(|t| !re.is_match(t))
                        .take(3)
                        .collect();
                    if !bad.is_empty() {
                        problems.push(format!(
                            "{} has values not matching /{re}/: {bad:?}",
                            m.column
                        ));
                    }
                }
            }
        }
        if let Some(r) = &case.same_rows_as {
            expected_entries += 1;
            let want = runner.reference(r).await?;
            if want != Value::from(rows.clone()) {
                problems.push(format!(
                    "want the rows of `{}` by {}: {}, got {shown}",
                    r.sql,
                    r.department,
                    clip(&want.to_string())
                ));
            }
        }
        if let Some(want) = &case.audit_tables {
            let got: Vec<String> = entry["tables"]
                .as_object()
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default();
            if *want != got {
                problems.push(format!("audit records tables {got:?}, want {want:?}"));
            }
        }
    }
    let after = runner.store.audit_count().await?;
    if after - before != expected_entries {
        problems.push(format!(
            "{} audit entries written, want {expected_entries}",
            after - before
        ));
    }
    Ok(problems)
}

/// A cell as text for regex checks: strings as they are, NULL as the empty string.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 600;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

/// Runs `cases` in order and fails with every failing case's name and problems.
async fn run_all(runner: &mut Runner, cases: &[&Case]) -> anyhow::Result<()> {
    let mut report = String::new();
    let mut failed = 0;
    for case in cases {
        let problems = check(runner, case)
            .await
            .with_context(|| format!("case `{}`", case.name))?;
        if !problems.is_empty() {
            failed += 1;
            writeln!(report, "\n✗ {} [{}]", case.name, case.group)?;
            for p in problems {
                writeln!(report, "    {p}")?;
            }
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} bypass cases failed:{report}",
        cases.len()
    );
    Ok(())
}

#[tokio::test]
async fn bypass_attempts_are_refused_or_stay_within_the_grant() -> anyhow::Result<()> {
    let cases = load_cases()?;
    anyhow::ensure!(cases.len() >= 50, "only {} cases", cases.len());
    let mut runner = Runner::start().await?;
    run_all(&mut runner, &cases.iter().collect::<Vec<_>>()).await
}

/// The same attempts, with queries running on a Ballista cluster (scheduler and executor
/// started by the gateway): every case's expectations hold there too, and every answer is
/// the in-process engine's answer — the same status and code, or the same rows.
#[tokio::test]
async fn on_ballista_the_policy_holds_and_answers_match_the_in_process_engine() -> anyhow::Result<()>
{
    let cases = load_cases()?;
    let mut cluster = Runner::on(TestHub::on_ballista(PEOPLE).await?).await?;
    anyhow::ensure!(
        cluster.hub.config.query.engine == tongban_gateway::config::EngineKind::Ballista,
        "the hub does not run on Ballista"
    );
    run_all(&mut cluster, &cases.iter().collect::<Vec<_>>()).await?;

    let mut local = Runner::start().await?;
    let mut report = String::new();
    let mut compared_rows = 0;
    for case in &cases {
        let here = local.send(case).await?;
        let there = cluster.send(case).await?;
        let differs = |what: &str, a: &Value, b: &Value| {
            format!(
                "\n✗ {}: {what} differs\n    in process: {}\n    on Ballista: {}",
                case.name,
                clip(&a.to_string()),
                clip(&b.to_string())
            )
        };
        if here.status != there.status {
            report.push_str(&differs(
                "status",
                &json!(here.status.as_u16()),
                &json!(there.status.as_u16()),
            ));
            continue;
        }
        if here.status != StatusCode::OK {
            let (a, b) = (&here.body["error"]["code"], &there.body["error"]["code"]);
            if a != b {
                report.push_str(&differs("error code", a, b));
            }
            continue;
        }
        // The answer really came from the cluster: its entry names the scheduler when the
        // query read a library. Recursive queries have no wire form and run in the gateway,
        // which their entries say by naming no cluster.
        if let Some(id) = there.body["audit_id"].as_str() {
            let (_, entry) = cluster.store.audit_entry(id).await?;
            let read_library = entry["snapshots"]
                .as_object()
                .is_some_and(|s| !s.is_empty());
            let recursive = case.sql.to_ascii_uppercase().contains("RECURSIVE");
            if read_library && entry["cluster"].is_string() == recursive {
                report.push_str(&format!(
                    "\n✗ {}: ran {}: {}",
                    case.name,
                    if recursive {
                        "on the cluster, though recursive"
                    } else {
                        "in the gateway, not on the cluster"
                    },
                    clip(&entry.to_string())
                ));
            }
        }
        for key in ["columns", "row_count", "truncated"] {
            if here.body[key] != there.body[key] {
                report.push_str(&differs(key, &here.body[key], &there.body[key]));
            }
        }
        // Without ORDER BY the engines may return rows in different orders; a truncated
        // result, or a LIMIT without ORDER BY, may hold different rows, so only its size is
        // compared. The settings differ by design (the cluster's sessions build no dynamic
        // filters), so a query of them is compared by its columns and size only.
        let sql = case.sql.to_ascii_uppercase();
        let any_rows =
            (sql.contains(" LIMIT ") && !sql.contains("ORDER BY")) || sql.contains("DF_SETTINGS");
        if here.body["truncated"] == false && !any_rows {
            let sorted = |v: &Value| {
                let mut rows: Vec<String> = v
                    .as_array()
                    .map(|rows| rows.iter().map(Value::to_string).collect())
                    .unwrap_or_default();
                rows.sort();
                rows
            };
            if sorted(&here.body["rows"]) != sorted(&there.body["rows"]) {
                report.push_str(&differs("rows", &here.body["rows"], &there.body["rows"]));
            }
            compared_rows += 1;
        }
    }
    anyhow::ensure!(report.is_empty(), "the engines disagree:{report}");
    anyhow::ensure!(
        compared_rows >= 10,
        "only {compared_rows} answers with rows were compared"
    );
    Ok(())
}

/// Every file under `dir` except the metadata database (which the audit entries change),
/// with its size and SHA-256.
fn fingerprint(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, (u64, String)>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(dir)?.to_path_buf();
            if relative.to_string_lossy().starts_with("tongban.db") {
                continue;
            }
            let bytes = std::fs::read(&path)?;
            out.insert(relative, (bytes.len() as u64, hex(&Sha256::digest(&bytes))));
        }
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The catalogue as the API shows it: every resource and every snapshot of it.
async fn catalogue(runner: &Runner) -> anyhow::Result<Value> {
    let client = runner.hub.department("approval-bureau")?;
    let base = runner.hub.base();
    let resources: Value = client
        .get(format!("{base}/v1/catalog/resources"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut snapshots = Vec::new();
    for r in resources.as_array().context("resources")? {
        let code = r["code"]
            .as_str()
            .context("resource code")?
            .replace('/', "-");
        let list: Value = client
            .get(format!("{base}/v1/catalog/resources/{code}/snapshots"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        snapshots.push(list);
    }
    Ok(json!({"resources": resources, "snapshots": snapshots}))
}

#[tokio::test]
async fn refused_statements_change_nothing_on_disk() -> anyhow::Result<()> {
    let cases = load_cases()?;
    let writing: Vec<&Case> = cases.iter().filter(|c| c.writes).collect();
    anyhow::ensure!(writing.len() >= 10, "only {} writing cases", writing.len());
    let mut runner = Runner::start().await?;
    let hub_dir = runner.hub.dir.path().to_path_buf();
    anyhow::ensure!(runner.hub.config.data_dir.starts_with(&hub_dir));
    let cwd = std::env::current_dir()?;
    let targets: Vec<PathBuf> = writing
        .iter()
        .flat_map(|c| &c.creates)
        .flat_map(|p| {
            let p = Path::new(p);
            if p.is_absolute() {
                vec![p.to_path_buf()]
            } else {
                vec![
                    hub_dir.join(p),
                    runner.hub.config.data_dir.join(p),
                    cwd.join(p),
                ]
            }
        })
        .collect();
    anyhow::ensure!(!targets.is_empty(), "no target paths to watch");
    for t in &targets {
        anyhow::ensure!(!t.exists(), "{} exists before the test", t.display());
    }
    let files_before = fingerprint(&hub_dir)?;
    let catalogue_before = catalogue(&runner).await?;

    let outcome = run_all(&mut runner, &writing).await;

    let files_after = fingerprint(&hub_dir)?;
    for (path, before) in &files_before {
        match files_after.get(path) {
            None => anyhow::bail!("{} disappeared", path.display()),
            Some(after) if after != before => anyhow::bail!("{} changed", path.display()),
            Some(_) => {}
        }
    }
    let new: Vec<&PathBuf> = files_after
        .keys()
        .filter(|p| !files_before.contains_key(*p))
        .collect();
    anyhow::ensure!(new.is_empty(), "new files in the hub directory: {new:?}");
    for t in &targets {
        anyhow::ensure!(!t.exists(), "{} was written", t.display());
    }
    anyhow::ensure!(
        catalogue(&runner).await? == catalogue_before,
        "the catalogue changed"
    );
    outcome
}
