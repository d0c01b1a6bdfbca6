//! Governed SQL from the browser: a statement and its purpose go to `POST /v1/query`; the
//! answer is shown as a table, and the same statement can be downloaded as CSV or as an
//! Arrow IPC stream (each download is a query of its own, with its own access record).

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::PageForm;
use super::api::Failure;
use super::layout::{self, failure_box, page, purpose_fields, text};
use super::session::Session;
use crate::auth::Role;

/// The query form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sql: String,
    #[serde(default)]
    matter: String,
    #[serde(default)]
    case_id: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    max_rows: String,
    #[serde(default)]
    format: String,
}

impl QueryForm {
    fn body(&self) -> Result<Value, &'static str> {
        let mut body = json!({
            "sql": self.sql,
            "purpose": {"matter": self.matter, "case_id": self.case_id, "legal_basis": self.legal_basis},
        });
        let max = self.max_rows.trim();
        if !max.is_empty() {
            body["max_rows"] = json!(
                max.parse::<u64>()
                    .map_err(|_| "the row limit is not a whole number")?
            );
        }
        Ok(body)
    }
}

fn form_view(session: &Session, q: &QueryForm) -> Markup {
    html! {
        form.card #query-form method="post" action="/console/query" {
            input type="hidden" name="csrf" value=(session.csrf());
            label { "SQL（只读查询） " span.en { "SQL, read-only" }
                textarea #sql name="sql" rows="6" required spellcheck="false" placeholder="SELECT name, gender_code FROM population LIMIT 10" { (q.sql) }
            }
            (purpose_fields(&q.matter, &q.case_id, &q.legal_basis))
            label { "最多返回行数（可选） " span.en { "Row limit (optional)" }
                input name="max_rows" type="number" min="1" value=(q.max_rows);
            }
            button #run-query type="submit" { "执行查询 Run" }
        }
    }
}

/// `GET /console/query`.
pub(crate) async fn form(session: Session) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Consumer]) {
        return r;
    }
    let content = html! {
        p { "每次查询须说明事项、办件编号与法律依据；查询仅能读取本部门获得授权的信息项，并记入审计日志。" }
        p.en { "Every query states its purpose, reads only what your department's grants allow, and is recorded in the audit log." }
        (form_view(&session, &QueryForm::default()))
    };
    page(&session, "数据查询", "/console/query", content).into_response()
}

fn download_form(session: &Session, q: &QueryForm, format: &str, label: &str) -> Markup {
    html! {
        form.inline.download method="post" action="/console/query/download" data-format=(format) {
            input type="hidden" name="csrf" value=(session.csrf());
            input type="hidden" name="sql" value=(q.sql);
            input type="hidden" name="matter" value=(q.matter);
            input type="hidden" name="case_id" value=(q.case_id);
            input type="hidden" name="legal_basis" value=(q.legal_basis);
            input type="hidden" name="max_rows" value=(q.max_rows);
            input type="hidden" name="format" value=(format);
            button type="submit" { (label) }
        }
    }
}

/// `POST /console/query`: runs the statement and shows the rows.
pub(crate) async fn run(session: Session, PageForm(q): PageForm<QueryForm>) -> Response {
    if let Some(r) = session.csrf_refusal(&q.csrf) {
        return r;
    }
    let body = match q.body() {
        Ok(b) => b,
        Err(m) => return super::invalid_form(&session, m),
    };
    let answer: Result<Value, Failure> = session.post("/v1/query", &body).await;
    let status = answer
        .as_ref()
        .map_or_else(|f| f.status, |_| axum::http::StatusCode::OK);
    let result = match &answer {
        Ok(r) => {
            let columns: Vec<String> = r["columns"]
                .as_array()
                .map(|c| c.iter().map(text).collect())
                .unwrap_or_default();
            html! {
                section #result {
                    p.summary {
                        "返回 " strong #row-count { (text(&r["row_count"])) } " 行 rows"
                        @if r["truncated"] == true { " · " span.warn #truncated { "结果已按上限截断 Truncated at the cap" } }
                        " · 审计编号 Audit ID " code #audit-id { (text(&r["audit_id"])) }
                    }
                    div.buttons {
                        (download_form(&session, &q, "csv", "下载 CSV Download CSV"))
                        (download_form(&session, &q, "arrow", "下载 Arrow Download Arrow"))
                    }
                    div.table-wrap {
                        table.list.results #results {
                            tr { @for c in &columns { th { (c) } } }
                            @for row in r["rows"].as_array().into_iter().flatten() {
                                tr { @for cell in row.as_array().into_iter().flatten() { td { (text(cell)) } } }
                            }
                        }
                    }
                }
            }
        }
        Err(f) => html! { section #result { (failure_box(f)) } },
    };
    let content = html! {
        (result)
        (form_view(&session, &q))
    };
    (
        status,
        page(&session, "数据查询", "/console/query", content),
    )
        .into_response()
}

/// `POST /console/query/download`: the statement again, as CSV or Arrow, as a file.
pub(crate) async fn download(session: Session, PageForm(q): PageForm<QueryForm>) -> Response {
    if let Some(r) = session.csrf_refusal(&q.csrf) {
        return r;
    }
    let (accept, extension) = match q.format.as_str() {
        "csv" => ("text/csv", "csv"),
        "arrow" => ("application/vnd.apache.arrow.stream", "arrows"),
        _ => return super::invalid_form(&session, "the format is csv or arrow"),
    };
    let body = match q.body() {
        Ok(b) => b,
        Err(m) => return super::invalid_form(&session, m),
    };
    let bytes = match serde_json::to_vec(&body) {
        Ok(b) => Bytes::from(b),
        Err(_) => return layout::unexpected(&session),
    };
    let raw = match session
        .api
        .send(
            Some(&session.token),
            Method::POST,
            "/v1/query",
            Some("application/json"),
            Some(accept),
            bytes,
        )
        .await
    {
        Ok(raw) => raw,
        Err(f) => return layout::refusal(Some(&session), &f),
    };
    let name = format!(
        "tongban-{}.{extension}",
        raw.audit_id.as_deref().unwrap_or("query")
    );
    let mut response = raw.body.into_response();
    let h = response.headers_mut();
    if let Some(ct) = raw
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(id) = raw
        .audit_id
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("tongban-audit-id", id);
    }
    response
}
