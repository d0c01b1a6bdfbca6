//! Auditors (电子监察): the audit log with filters, the current signed tree head and a
//! verification run, anomaly alerts, and charts of accesses per department per day,
//! refusals and the most frequent matters.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Failure, encode};
use super::charts;
use super::layout::{
    self, ACTIONS, action_label, beijing_time, failure_box, flag_label, matter_label, notice,
    outcome_label, page, text,
};
use super::session::{CsrfOnly, Session};
use super::{PageForm, PageQuery};
use crate::auth::Role;
use crate::startup::AppState;

/// Entries a chart reads at most (50 pages of the API).
const CHART_PAGES: usize = 50;

/// Department names by code.
async fn departments(session: &Session) -> BTreeMap<String, String> {
    session
        .get::<Vec<Value>>("/v1/departments")
        .await
        .unwrap_or_default()
        .iter()
        .map(|d| (text(&d["code"]), text(&d["name"])))
        .collect()
}

/// The log's filters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    department: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    matter: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    from_index: Option<u64>,
}

impl Filters {
    fn query(&self) -> String {
        let mut q = Vec::new();
        for (k, v) in [
            ("department", &self.department),
            ("action", &self.action),
            ("matter", &self.matter),
            ("subject", &self.subject),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.trim().is_empty() {
                q.push(format!("{k}={}", encode(v.trim())));
            }
        }
        q.join("&")
    }
}

fn tree_head_panel(session: &Session, head: &Result<Value, Failure>) -> Markup {
    html! {
        section.card #tree-head {
            h2 { "签名树头 " span.en { "Signed tree head (STH)" } }
            @match head {
                Ok(h) => {
                    @let sth = &h["tree_head"];
                    table.kv {
                        tr { th { "日志条目 Log size" } td #log-size { (text(&h["log_size"])) } }
                        @if sth.is_null() {
                            tr { th { "树头 Head" } td { "尚未签名 Not yet signed" } }
                        } @else {
                            tr { th { "覆盖条目 Tree size" } td #head-size { (text(&sth["tree_size"])) } }
                            tr { th { "根哈希 Root hash" } td { code.wrap #root-hash { (text(&sth["root_hash"])) } } }
                            tr { th { "签名时间 Signed at" } td { (sth["timestamp"].as_i64().map(beijing_time).unwrap_or_default()) } }
                            tr { th { "密钥 Key ID" } td { code { (text(&sth["key_id"])) } } }
                        }
                    }
                }
                Err(f) => (failure_box(f)),
            }
            div.buttons {
                form.inline method="post" action="/console/audit/verify" {
                    input type="hidden" name="csrf" value=(session.csrf());
                    button #verify-log type="submit" { "立即验证日志 Verify the log now" }
                }
                form.inline method="post" action="/console/audit/sign" {
                    input type="hidden" name="csrf" value=(session.csrf());
                    button #sign-head type="submit" { "签发新树头 Sign a head now" }
                }
            }
        }
    }
}

fn entries_table(entries: &[Value], names: &BTreeMap<String, String>) -> Markup {
    let dept = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    html! {
        div.table-wrap {
            table.list #entries {
                tr { th { "序号 Index" } th { "时间 Time" } th { "部门 Department" } th { "操作人 Actor" } th { "事件 Action" } th { "结果 Outcome" } th { "事项 Matter" } th { "标记 Flags" } th { "详情 Entry" } }
                @for e in entries {
                    @let action = text(&e["action"]);
                    @let (zh, en) = action_label(&action);
                    tr data-index=(text(&e["index"])) data-action=(action) data-outcome=(text(&e["outcome"])) {
                        td { (text(&e["index"])) }
                        td.nowrap { (e["at"].as_i64().map(beijing_time).unwrap_or_default()) }
                        td { (dept(&text(&e["department"]))) }
                        td { (text(&e["actor"])) }
                        td { (zh) " " span.en { (en) } }
                        td class={ "outcome " (text(&e["outcome"])) } { (outcome_label(&text(&e["outcome"]))) }
                        td { @if let Some(m) = e["matter"].as_str() { (matter_label(m)) } }
                        td { @for f in e["flags"].as_array().into_iter().flatten() { @let (fz, fe) = flag_label(f.as_str().unwrap_or_default()); span.flag title=(fe) { (fz) } " " } }
                        td { details { summary { "JSON" } pre { (serde_json::to_string_pretty(&e["entry"]).unwrap_or_default()) } } }
                    }
                }
            }
        }
    }
}

/// `GET /console/audit`: the signed tree head and the filtered log, paged.
pub(crate) async fn log(session: Session, PageQuery(f): PageQuery<Filters>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Auditor]) {
        return r;
    }
    let head = session.get::<Value>("/v1/audit/tree-head").await;
    let names = departments(&session).await;
    let mut path = format!(
        "/v1/audit/entries?limit=50&from_index={}",
        f.from_index.unwrap_or(0)
    );
    let filter_query = f.query();
    if !filter_query.is_empty() {
        path.push('&');
        path.push_str(&filter_query);
    }
    let entries = session.get::<Value>(&path).await;
    let content = html! {
        (tree_head_panel(&session, &head))
        form.card.filters #audit-filters method="get" action="/console/audit" {
            h2 { "筛选 " span.en { "Filter" } }
            div.row {
                label { "部门 Department"
                    select name="department" {
                        option value="" { "全部 All" }
                        @for (code, name) in &names { option value=(code) selected[*code == f.department] { (name) } }
                    }
                }
                label { "事件 Action"
                    select name="action" {
                        option value="" { "全部 All" }
                        @for a in ACTIONS { @let (zh, en) = action_label(a); option value=(a) selected[*a == f.action] { (zh) " " (en) } }
                    }
                }
                label { "事项 Matter"
                    select name="matter" {
                        option value="" { "全部 All" }
                        @for m in tongban_schemas::matter::SHIPPED_CODES { option value=(m) selected[*m == f.matter] { (matter_label(m)) } }
                    }
                }
                label { "数据主体 Subject (ID / USCC)" input name="subject" value=(f.subject) maxlength="18"; }
                label { "自 From" input type="date" name="from" value=(f.from); }
                label { "至 To (不含 exclusive)" input type="date" name="to" value=(f.to); }
            }
            button #apply-filters type="submit" { "筛选 Apply" }
        }
        @match &entries {
            Ok(page_) => {
                @let list = page_["entries"].as_array().cloned().unwrap_or_default();
                p.summary { "本页 " strong #entry-count { (list.len()) } " 条 entries" }
                (entries_table(&list, &names))
                @if let Some(next) = page_["next_index"].as_i64() {
                    a.button #next-page href={ "/console/audit?from_index=" (next) @if !filter_query.is_empty() { "&" (filter_query) } } { "下一页 Next page" }
                }
            }
            Err(failure) => (failure_box(failure)),
        }
    };
    page(&session, "审计日志", "/console/audit", content).into_response()
}

/// `POST /console/audit/verify`: recomputes the whole log and checks every signed head,
/// as `tongban audit verify` does.
pub(crate) async fn verify(
    State(state): State<AppState>,
    session: Session,
    PageForm(form): PageForm<CsrfOnly>,
) -> Response {
    if let Some(r) = session.csrf_refusal(&form.csrf) {
        return r;
    }
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Auditor]) {
        return r;
    }
    let (key, _) = state.ledger.public_key();
    let outcome = crate::audit_cli::verify_store(&state.store, key).await;
    let head = session.get::<Value>("/v1/audit/tree-head").await;
    let result = match outcome {
        Ok(Ok(report)) => html! {
            div.verdict.genuine #verification data-verified="true" {
                span.big { "验证通过" } " " span.en { "Verification passed" }
            }
            table.kv {
                tr { th { "条目 Entries" } td #verified-entries { (report.entries) } }
                tr { th { "保留期后仅存哈希 Purged (hash only)" } td { (report.purged) } }
                tr { th { "签名树头 Signed heads" } td { (report.heads) } }
                tr { th { "最新树头覆盖 Latest head size" } td { (report.latest_head_size) } }
                tr { th { "最新根哈希 Latest root" } td { code.wrap { (report.latest_root) } } }
                tr { th { "尚未签名的条目 Entries after it" } td { (report.unsigned_tail) } }
            }
        },
        Ok(Err(failure)) => html! {
            div.verdict.forged #verification data-verified="false" {
                span.big { "验证失败" } " " span.en { "Verification FAILED" }
            }
            p #verification-failure { (failure.to_string()) }
        },
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the audit log to verify it");
            failure_box(&Failure {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                code: "server.unavailable".into(),
                message: "the audit log could not be read".into(),
                audit_id: None,
            })
        }
    };
    let content = html! {
        (result)
        p.muted { "平台自检：重新计算全部条目的默克尔树，并核对每个签名树头及其一致性。独立核查请使用 tongban audit verify 并固定公钥。" }
        p.muted.en { "The hub's self-check recomputes the Merkle tree of every entry and checks each signed head; for an independent check, run tongban audit verify with a pinned key." }
        (tree_head_panel(&session, &head))
    };
    page(&session, "日志验证", "/console/audit", content).into_response()
}

/// `POST /console/audit/sign`: `POST /v1/audit/tree-head`.
pub(crate) async fn sign(session: Session, PageForm(form): PageForm<CsrfOnly>) -> Response {
    if let Some(r) = session.csrf_refusal(&form.csrf) {
        return r;
    }
    let signed = session
        .post::<Value>("/v1/audit/tree-head", &json!({}))
        .await;
    let head = session.get::<Value>("/v1/audit/tree-head").await;
    let content = html! {
        @match &signed {
            Ok(_) => (notice("已签发新的树头。 A new tree head was signed.")),
            Err(f) => (failure_box(f)),
        }
        (tree_head_panel(&session, &head))
    };
    page(&session, "签名树头", "/console/audit", content).into_response()
}

/// `GET /console/audit/alerts`: entries with anomaly flags.
pub(crate) async fn alerts(session: Session) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Auditor]) {
        return r;
    }
    let names = departments(&session).await;
    let content = match session.get::<Value>("/v1/audit/alerts?limit=200").await {
        Ok(v) => {
            let list = v["entries"].as_array().cloned().unwrap_or_default();
            html! {
                p { "异常标记：单一办件批量访问、超出主体上限、非工作时间访问、短时间内多次被拒。" }
                p.en { "Flags: bulk access for one case, over the subject cap, off hours, repeated refusals." }
                p.summary { strong #alert-count { (list.len()) } " 条告警 alerts" }
                (entries_table(&list, &names))
            }
        }
        Err(f) => failure_box(&f),
    };
    page(&session, "异常告警", "/console/audit/alerts", content).into_response()
}

/// The charts' window.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Window {
    #[serde(default)]
    days: Option<u32>,
}

/// What the charts show, counted from entries.
#[derive(Debug, Default)]
struct Tally {
    days: Vec<String>,
    /// Department → per-day counts.
    by_department: BTreeMap<String, Vec<u64>>,
    refusals: Vec<u64>,
    matters: HashMap<String, u64>,
    entries: u64,
}

impl Tally {
    fn new(days: Vec<String>) -> Tally {
        Tally {
            refusals: vec![0; days.len()],
            days,
            ..Tally::default()
        }
    }

    fn add(&mut self, entry: &Value) {
        let Some(day) = entry["at"]
            .as_i64()
            .map(beijing_time)
            .and_then(|t| t.get(..10).map(str::to_owned))
        else {
            return;
        };
        let Some(i) = self.days.iter().position(|d| *d == day) else {
            return;
        };
        self.entries += 1;
        let n = self.days.len();
        self.by_department
            .entry(text(&entry["department"]))
            .or_insert_with(|| vec![0; n])[i] += 1;
        if entry["outcome"] == "refused" {
            self.refusals[i] += 1;
        }
        if let Some(m) = entry["matter"].as_str() {
            *self.matters.entry(m.to_owned()).or_default() += 1;
        }
    }
}

/// `GET /console/audit/charts?days=`: accesses per department per day, refusals per day
/// and the most frequent matters, over the last `days` days (Beijing).
pub(crate) async fn charts(session: Session, PageQuery(w): PageQuery<Window>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Auditor]) {
        return r;
    }
    let days = w.days.unwrap_or(14).clamp(1, 92);
    let today = crate::clock::in_beijing(chrono::Utc::now()).date_naive();
    let first = today - chrono::Days::new(u64::from(days - 1));
    let labels: Vec<String> = first
        .iter_days()
        .take(days as usize)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let mut tally = Tally::new(labels);
    let mut from_index = 0i64;
    let mut complete = false;
    let mut failure = None;
    for _ in 0..CHART_PAGES {
        let path = format!(
            "/v1/audit/entries?from={}&from_index={from_index}&limit=1000",
            first.format("%Y-%m-%d")
        );
        match session.get::<Value>(&path).await {
            Ok(page_) => {
                for e in page_["entries"].as_array().into_iter().flatten() {
                    tally.add(e);
                }
                match page_["next_index"].as_i64() {
                    Some(next) => from_index = next,
                    None => {
                        complete = true;
                        break;
                    }
                }
            }
            Err(f) => {
                failure = Some(f);
                break;
            }
        }
    }
    let names = departments(&session).await;
    let series: Vec<(String, Vec<u64>)> = tally
        .by_department
        .iter()
        .map(|(code, v)| (names.get(code).cloned().unwrap_or(code.clone()), v.clone()))
        .collect();
    let mut matters: Vec<(String, u64)> = tally
        .matters
        .iter()
        .map(|(m, n)| (format!("{} {m}", matter_label(m)), *n))
        .collect();
    matters.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    matters.truncate(10);
    let content = html! {
        form.search method="get" action="/console/audit/charts" {
            label { "统计天数 Days" input type="number" name="days" min="1" max="92" value=(days); }
            button type="submit" { "刷新 Refresh" }
        }
        @if let Some(f) = &failure { (failure_box(f)) }
        @if !complete && failure.is_none() {
            div.alert.warn { "条目过多，图表仅统计了前 " (tally.entries) " 条。 Too many entries: the charts count only the first " (tally.entries) "." }
        }
        p.summary { "统计区间 " (tally.days.first().cloned().unwrap_or_default()) " — " (tally.days.last().cloned().unwrap_or_default()) "，共 " strong #chart-entries { (tally.entries) } " 条 entries" }
        h2 { "各部门每日访问量 " span.en { "Accesses per department per day" } }
        (charts::stacked_bars("chart-accesses", "各部门每日访问量 Accesses per department per day", &tally.days, &series))
        h2 { "每日拒绝次数 " span.en { "Refusals per day" } }
        (charts::bars("chart-refusals", "拒绝 Refusals", &tally.days, &tally.refusals))
        h2 { "高频事项 " span.en { "Top matters" } }
        (charts::ranking("chart-matters", "高频事项 Top matters", &matters))
    };
    page(&session, "统计图表", "/console/audit/charts", content).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_counts_by_beijing_day() {
        let mut t = Tally::new(vec!["2026-01-01".into(), "2026-01-02".into()]);
        // 2025-12-31T16:30Z is 00:30 on 1 January in Beijing.
        let at = crate::clock::parse_time_ms("2025-12-31T16:30:00Z").expect("time");
        t.add(&json!({"at": at, "department": "a", "outcome": "refused", "matter": "enterprise-opening"}));
        t.add(&json!({"at": at + 86_400_000, "department": "a", "outcome": "ok"}));
        t.add(&json!({"at": at + 2 * 86_400_000, "department": "b", "outcome": "ok"}));
        assert_eq!(t.entries, 2);
        assert_eq!(t.by_department["a"], vec![1, 1]);
        assert!(!t.by_department.contains_key("b"));
        assert_eq!(t.refusals, vec![1, 0]);
        assert_eq!(t.matters["enterprise-opening"], 1);
    }
}
