//! Departments: the shared data catalogue (metadata, items with their share types, snapshot
//! history), applying for a conditional grant, and the provider's decision on applications.

use std::collections::HashMap;

use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Failure, encode};
use super::layout::{self, failure_box, matter_label, notice, page, text};
use super::session::Session;
use super::{ApiPath, PageForm, PageQuery};
use crate::auth::Role;

const CATALOGUE_ROLES: &[Role] = &[Role::Consumer, Role::Provider, Role::Admin, Role::Auditor];
const GRANT_ROLES: &[Role] = &[Role::Consumer, Role::Provider, Role::Admin];

/// A resource code as a path segment: its `/` written `-`, which the API accepts.
fn code_segment(code: &str) -> String {
    encode(&code.replacen('/', "-", 1))
}

/// The catalogue search.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

fn matches(resource: &Value, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    let q = q.to_lowercase();
    let hit = |v: &Value| text(v).to_lowercase().contains(&q);
    ["code", "name", "summary", "provider_name", "base_library"]
        .iter()
        .any(|k| hit(&resource[*k]))
        || resource["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| hit(&i["name"]) || hit(&i["column"])))
}

/// `GET /console/catalog?q=`: the catalogue, searched by name, code, summary, provider or
/// item.
pub(crate) async fn list(session: Session, PageQuery(search): PageQuery<Search>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, CATALOGUE_ROLES) {
        return r;
    }
    let content = match session.get::<Vec<Value>>("/v1/catalog/resources").await {
        Ok(resources) => {
            let shown: Vec<&Value> = resources
                .iter()
                .filter(|r| matches(r, search.q.trim()))
                .collect();
            html! {
                form.search method="get" action="/console/catalog" {
                    input #catalog-q type="search" name="q" value=(search.q) placeholder="名称、代码、信息项 Name, code or item";
                    button type="submit" { "搜索 Search" }
                }
                div.table-wrap {
                    table.list #resources {
                        tr {
                            th { "资源代码 Code" } th { "信息资源名称 Name" } th { "提供方 Provider" }
                            th { "共享属性 Share type" } th { "更新周期 Update cycle" } th { "当前快照 Snapshot" }
                        }
                        @for r in &shown {
                            tr data-code=(text(&r["code"])) {
                                td { a href={ "/console/catalog/" (code_segment(&text(&r["code"]))) } { (text(&r["code"])) } }
                                td { (text(&r["name"])) }
                                td { (text(&r["provider_name"])) }
                                td { (text(&r["share_type_label"])) }
                                td { (text(&r["update_cycle_label"])) }
                                td { @if r["snapshot"].is_null() { "未发布 none" } @else { "v" (text(&r["snapshot"])) } }
                            }
                        }
                    }
                }
                @if shown.is_empty() { p.muted #no-results { "没有匹配的资源。 No matching resources." } }
            }
        }
        Err(f) => failure_box(&f),
    };
    page(&session, "数据目录", "/console/catalog", content).into_response()
}

/// `GET /console/catalog/{code}`: metadata, items, snapshots and, for a consumer, the
/// application form.
pub(crate) async fn detail(session: Session, ApiPath(code): ApiPath<String>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, CATALOGUE_ROLES) {
        return r;
    }
    let segment = code_segment(&code.replacen('-', "/", 1));
    let resource: Value = match session
        .get(&format!("/v1/catalog/resources/{segment}"))
        .await
    {
        Ok(r) => r,
        Err(f) => return layout::refusal(Some(&session), &f),
    };
    let snapshots: Result<Vec<Value>, Failure> = session
        .get(&format!("/v1/catalog/resources/{segment}/snapshots"))
        .await;
    let r = &resource;
    let items: Vec<Value> = r["items"].as_array().cloned().unwrap_or_default();
    let content = html! {
        table.kv #metadata {
            tr { th { "信息资源代码 Code" } td { (text(&r["code"])) } }
            tr { th { "信息资源名称 Name" } td { (text(&r["name"])) } }
            tr { th { "信息资源提供方 Provider" } td { (text(&r["provider_name"])) " (" (text(&r["provider_code"])) ")" } }
            tr { th { "信息资源摘要 Summary" } td { (text(&r["summary"])) } }
            tr { th { "信息资源格式 Format" } td { (text(&r["format"])) } }
            tr { th { "共享属性 Share type" } td #share-type { (text(&r["share_type_label"])) " " span.en { (text(&r["share_type"])) } } }
            tr { th { "共享条件 Conditions" } td { (text(&r["share_conditions"])) } }
            tr { th { "共享方式 Method" } td { (text(&r["share_method"])) } }
            tr { th { "开放属性 Open type" } td { (text(&r["open_type_label"])) } }
            tr { th { "更新周期 Update cycle" } td { (text(&r["update_cycle_label"])) } }
            tr { th { "发布日期 Published" } td { (text(&r["published_at"])) } }
        }
        h2 { "信息项 " span.en { "Items" } }
        div.table-wrap {
            table.list #items {
                tr { th { "名称 Name" } th { "字段 Column" } th { "类型 Type" } th { "长度 Length" } th { "主键 Key" } th { "共享属性 Share type" } th { "引用标准 Standard" } }
                @for i in &items {
                    tr data-column=(text(&i["column"])) {
                        td { (text(&i["name"])) } td { code { (text(&i["column"])) } } td { (text(&i["data_type"])) }
                        td { (text(&i["length"])) } td { @if i["key"] == true { "是" } }
                        td { (text(&i["share_type_label"])) } td { (text(&i["standard"])) }
                    }
                }
            }
        }
        h2 { "快照 " span.en { "Snapshots" } }
        @match &snapshots {
            Ok(list) => {
                div.table-wrap {
                    table.list #snapshots {
                        tr { th { "版本 Version" } th { "行数 Rows" } th { "字节 Bytes" } th { "发布时间 Published" } th { "发布者 By" } th { "SHA-256" } }
                        @for s in list {
                            tr { td { "v" (text(&s["version"])) } td { (text(&s["rows"])) } td { (text(&s["bytes"])) }
                                 td { (text(&s["published_at"])) } td { (text(&s["published_by"])) } td { code.wrap { (text(&s["sha256"])) } } }
                        }
                    }
                }
            }
            Err(f) => (failure_box(f)),
        }
        @if session.principal.roles.contains(Role::Consumer) && r["share_type"] != "not_shared" {
            (apply_form(&session, r, &items))
        }
    };
    page(&session, &text(&r["name"]), "/console/catalog", content).into_response()
}

fn apply_form(session: &Session, r: &Value, items: &[Value]) -> Markup {
    html! {
        form.card #apply-form method="post" action="/console/grants/apply" {
            h2 { "申请有条件共享 " span.en { "Apply for a conditional grant" } }
            input type="hidden" name="csrf" value=(session.csrf());
            input type="hidden" name="resource" value=(text(&r["code"]));
            fieldset.checks {
                legend { "申请的信息项 " span.en { "Items" } }
                @for i in items.iter().filter(|i| i["share_type"] != "not_shared") {
                    label.check { input type="checkbox" name="columns" value=(text(&i["column"])); " " (text(&i["name"])) " " span.en { (text(&i["column"])) } }
                }
            }
            fieldset.checks {
                legend { "用于事项 " span.en { "Matters" } }
                @for m in tongban_schemas::matter::SHIPPED_CODES {
                    label.check { input type="checkbox" name="matters" value=(m); " " (matter_label(m)) }
                }
            }
            label { "申请理由 " span.en { "Reason" } textarea name="reason" rows="2" required {} }
            label { "法律依据 " span.en { "Legal basis" } input name="legal_basis" required maxlength="256"; }
            label { "有效期至（可选） " span.en { "Valid to (optional)" } input type="date" name="valid_to"; }
            button type="submit" { "提交申请 Apply" }
        }
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

fn all<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A `YYYY-MM-DD` from a date input as the end of that day in Beijing, in RFC 3339.
fn end_of_day(date: &str) -> Option<String> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(format!("{}T23:59:59+08:00", day.format("%Y-%m-%d")))
}

/// `POST /console/grants/apply`: `POST /v1/grant-requests`.
pub(crate) async fn apply(
    session: Session,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> Response {
    if let Some(r) = session.csrf_refusal(field(&fields, "csrf")) {
        return r;
    }
    let mut body = json!({
        "resource": field(&fields, "resource"),
        "columns": all(&fields, "columns"),
        "matters": all(&fields, "matters"),
        "reason": field(&fields, "reason"),
        "legal_basis": field(&fields, "legal_basis"),
    });
    let valid_to = field(&fields, "valid_to");
    if !valid_to.is_empty() {
        match end_of_day(valid_to) {
            Some(t) => body["valid_to"] = json!(t),
            None => return super::invalid_form(&session, "valid_to is not a YYYY-MM-DD date"),
        }
    }
    match session.post::<Value>("/v1/grant-requests", &body).await {
        Ok(answer) => Redirect::to(&format!("/console/grants?applied={}", text(&answer["id"])))
            .into_response(),
        Err(f) => layout::refusal(Some(&session), &f),
    }
}

/// What the grants page was sent back with.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Done {
    applied: Option<i64>,
    approved: Option<i64>,
    rejected: Option<i64>,
}

fn status_label(status: &str) -> &str {
    match status {
        "pending" => "待审批 Pending",
        "approved" => "已批准 Approved",
        "rejected" => "已驳回 Rejected",
        other => other,
    }
}

/// `GET /console/grants`: applications (with the provider's decision forms) and grants.
pub(crate) async fn grants(session: Session, PageQuery(done): PageQuery<Done>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, GRANT_ROLES) {
        return r;
    }
    let requests = session.get::<Vec<Value>>("/v1/grant-requests").await;
    let grants = session.get::<Value>("/v1/grants").await;
    let names: HashMap<String, String> = session
        .get::<Vec<Value>>("/v1/catalog/resources")
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| (text(&r["code"]), text(&r["name"])))
        .collect();
    let resource_name = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    let provider = session.principal.roles.contains(Role::Provider);
    let own = session.principal.department.clone();
    let csrf = session.csrf();
    let content = html! {
        @if let Some(id) = done.applied { (notice(&format!("申请已提交（编号 {id}），等待提供部门审批。 Application {id} submitted."))) }
        @if let Some(id) = done.approved { (notice(&format!("已批准申请 {id}，授权已生效。 Request {id} approved; the grant is in force."))) }
        @if let Some(id) = done.rejected { (notice(&format!("已驳回申请 {id}。 Request {id} rejected."))) }
        h2 { "共享申请 " span.en { "Applications" } }
        @match &requests {
            Ok(list) if list.is_empty() => { p.muted { "暂无申请。 No applications." } }
            Ok(list) => {
                div.table-wrap {
                    table.list #requests {
                        tr { th { "编号 ID" } th { "申请部门 Consumer" } th { "资源 Resource" } th { "信息项 Items" } th { "事项 Matters" } th { "理由 Reason" } th { "状态 Status" } th { "处理 Decision" } }
                        @for r in list {
                            @let id = text(&r["id"]);
                            @let pending = r["status"] == "pending";
                            tr data-request=(id) data-status=(text(&r["status"])) {
                                td { (id) }
                                td { (text(&r["consumer"])) }
                                td { (resource_name(&text(&r["resource"]))) }
                                td { (r["body"]["columns"].as_array().map(|c| c.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                                td { (r["body"]["matters"].as_array().map(|c| c.iter().map(|m| matter_label(m.as_str().unwrap_or_default()).to_owned()).collect::<Vec<_>>().join("、")).unwrap_or_default()) }
                                td { (text(&r["body"]["reason"])) }
                                td.status { (status_label(r["status"].as_str().unwrap_or_default())) @if let Some(note) = r["decision_note"].as_str() { br; span.muted { (note) } } }
                                td {
                                    @if pending && provider && text(&r["consumer"]) != own {
                                        form.inline.approve method="post" action={ "/console/grants/" (id) "/approve" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input name="note" placeholder="意见 Note";
                                            input name="row_cap" type="number" min="1" placeholder="行数上限 Row cap";
                                            button type="submit" { "批准 Approve" }
                                        }
                                        form.inline.reject method="post" action={ "/console/grants/" (id) "/reject" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input name="note" required placeholder="驳回理由 Reason";
                                            button.danger type="submit" { "驳回 Reject" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Err(f) => (failure_box(f)),
        }
        h2 { "生效授权 " span.en { "Grants in force" } }
        @match &grants {
            Ok(g) => {
                div.table-wrap {
                    table.list #grants {
                        tr { th { "编号 ID" } th { "使用部门 Consumer" } th { "资源 Resource" } th { "信息项 Columns" } th { "事项 Matters" } th { "行数上限 Row cap" } th { "状态 State" } }
                        @for record in g["grants"].as_array().into_iter().flatten() {
                            @let grant = &record["grant"];
                            tr {
                                td { (text(&grant["id"])) } td { (text(&grant["consumer"])) } td { (resource_name(&text(&grant["resource"]))) }
                                td { (grant["columns"].as_array().map_or(0, Vec::len)) " 项" }
                                td { (grant["matters"].as_array().map(|c| c.iter().map(|m| matter_label(m.as_str().unwrap_or_default()).to_owned()).collect::<Vec<_>>().join("、")).unwrap_or_default()) }
                                td { (text(&grant["row_cap"])) }
                                td { @if record["revoked_at"].is_null() { "有效 Active" } @else { "已撤销 Revoked" } }
                            }
                        }
                        @for grant in g["implied"].as_array().into_iter().flatten() {
                            tr.implied {
                                td { "—" } td { (text(&grant["consumer"])) } td { (resource_name(&text(&grant["resource"]))) }
                                td { (grant["columns"].as_array().map_or(0, Vec::len)) " 项" }
                                td { "无条件共享 Unconditional" } td { (text(&grant["row_cap"])) } td { "有效 Active" }
                            }
                        }
                    }
                }
            }
            Err(f) => (failure_box(f)),
        }
    };
    page(&session, "共享申请与授权", "/console/grants", content).into_response()
}

/// `POST /console/grants/{id}/approve`: `POST /v1/grant-requests/{id}/approve`.
pub(crate) async fn approve(
    session: Session,
    ApiPath(id): ApiPath<i64>,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> Response {
    if let Some(r) = session.csrf_refusal(field(&fields, "csrf")) {
        return r;
    }
    let mut body = json!({"note": field(&fields, "note")});
    let cap = field(&fields, "row_cap");
    if !cap.is_empty() {
        match cap.parse::<u64>() {
            Ok(n) => body["row_cap"] = json!(n),
            Err(_) => return super::invalid_form(&session, "the row cap is not a whole number"),
        }
    }
    match session
        .post::<Value>(&format!("/v1/grant-requests/{id}/approve"), &body)
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/grants?approved={id}")).into_response(),
        Err(f) => layout::refusal(Some(&session), &f),
    }
}

/// `POST /console/grants/{id}/reject`: `POST /v1/grant-requests/{id}/reject`.
pub(crate) async fn reject(
    session: Session,
    ApiPath(id): ApiPath<i64>,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> Response {
    if let Some(r) = session.csrf_refusal(field(&fields, "csrf")) {
        return r;
    }
    match session
        .post::<Value>(
            &format!("/v1/grant-requests/{id}/reject"),
            &json!({"note": field(&fields, "note")}),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/grants?rejected={id}")).into_response(),
        Err(f) => layout::refusal(Some(&session), &f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_looks_at_names_codes_and_items() {
        let r = json!({"code": "101001/000001", "name": "人口基础信息", "items": [{"name": "公民身份号码", "column": "citizen_id"}]});
        assert!(matches(&r, ""));
        assert!(matches(&r, "人口"));
        assert!(matches(&r, "CITIZEN_ID"));
        assert!(matches(&r, "101001"));
        assert!(!matches(&r, "法人"));
    }

    #[test]
    fn dates_end_at_beijing_midnight() {
        assert_eq!(
            end_of_day("2027-03-01").as_deref(),
            Some("2027-03-01T23:59:59+08:00")
        );
        assert_eq!(end_of_day("2027-02-30"), None);
    }
}
