//! People outside the departments' daily work: a citizen sees who accessed their data; an
//! administrator lists and creates accounts (a citizen's account is bound to their ID).

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::encode;
use super::layout::{self, action_label, failure_box, matter_label, notice, page, text};
use super::session::Session;
use super::{PageForm, PageQuery};
use crate::auth::Role;

/// `GET /console/accesses`: `GET /v1/subjects/{own ID}/accesses`.
pub(crate) async fn accesses(session: Session) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Citizen]) {
        return r;
    }
    let Some(subject) = session.principal.subject.clone() else {
        return layout::refusal(
            Some(&session),
            &super::api::Failure {
                status: axum::http::StatusCode::FORBIDDEN,
                code: "auth.forbidden".into(),
                message: "this account is not bound to a citizen ID".into(),
                audit_id: None,
            },
        );
    };
    let names: BTreeMap<String, String> = session
        .get::<Vec<Value>>("/v1/departments")
        .await
        .unwrap_or_default()
        .iter()
        .map(|d| (text(&d["code"]), text(&d["name"])))
        .collect();
    let masked = format!(
        "{}********{}",
        subject.get(..6).unwrap_or_default(),
        subject.get(14..).unwrap_or_default()
    );
    let content = match session
        .get::<Value>(&format!(
            "/v1/subjects/{}/accesses?limit=500",
            encode(&subject)
        ))
        .await
    {
        Ok(v) => {
            let list = v["accesses"].as_array().cloned().unwrap_or_default();
            html! {
                p { "以下是各部门因办理事项访问您（" (masked) "）的信息的记录，依法暂不公开的访问在期限届满后显示。" }
                p.en { "Every access to your records by a department, when and why. Accesses under a legal confidentiality period appear once it ends." }
                p.summary { "共 " strong #access-count { (list.len()) } " 条 accesses" }
                div.table-wrap {
                    table.list #accesses {
                        tr { th { "时间 Time" } th { "部门 Department" } th { "事件 Action" } th { "事项 Matter" } th { "办件编号 Case" } th { "法律依据 Legal basis" } th { "结果 Outcome" } }
                        @for a in &list {
                            @let action = text(&a["action"]);
                            @let (zh, en) = action_label(&action);
                            tr data-department=(text(&a["department"])) {
                                td.nowrap { (a["at"].as_i64().map(layout::beijing_time).unwrap_or_default()) }
                                td { (names.get(&text(&a["department"])).cloned().unwrap_or_else(|| text(&a["department"]))) }
                                td { (zh) " " span.en { (en) } }
                                td { @if let Some(m) = a["matter"].as_str() { (matter_label(m)) } }
                                td { (text(&a["case_id"])) }
                                td { (text(&a["legal_basis"])) }
                                td { (layout::outcome_label(&text(&a["outcome"]))) }
                            }
                        }
                    }
                }
                @if list.is_empty() { p.muted #no-accesses { "暂无访问记录。 No accesses yet." } }
            }
        }
        Err(f) => failure_box(&f),
    };
    page(&session, "谁访问了我的数据", "/console/accesses", content).into_response()
}

/// What the accounts page was sent back with.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Created {
    created: Option<String>,
}

/// `GET /console/users`: `GET /v1/users` and the form for `POST /v1/users`.
pub(crate) async fn users(session: Session, PageQuery(done): PageQuery<Created>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Admin]) {
        return r;
    }
    users_page(&session, done.created.as_deref(), None).await
}

async fn users_page(
    session: &Session,
    created: Option<&str>,
    failure: Option<&super::api::Failure>,
) -> Response {
    let users = session.get::<Vec<Value>>("/v1/users").await;
    let departments = session
        .get::<Vec<Value>>("/v1/departments")
        .await
        .unwrap_or_default();
    let content = html! {
        @if let Some(name) = created { (notice(&format!("账号 {name} 已创建。 Account {name} created."))) }
        @if let Some(f) = failure { (failure_box(f)) }
        @match &users {
            Ok(list) => {
                div.table-wrap {
                    table.list #users {
                        tr { th { "用户名 Username" } th { "姓名 Name" } th { "部门 Department" } th { "角色 Roles" } th { "状态 State" } }
                        @for u in list {
                            tr data-username=(text(&u["username"])) {
                                td { (text(&u["username"])) } td { (text(&u["display_name"])) } td { (text(&u["department"])) }
                                td { (u["roles"].as_array().map(|r| r.iter().filter_map(|x| x.as_str()).filter_map(|x| x.parse::<Role>().ok()).map(|r| r.label_zh()).collect::<Vec<_>>().join("、")).unwrap_or_default()) }
                                td { @if u["disabled"] == true { "停用 Disabled" } @else { "正常 Active" } }
                            }
                        }
                    }
                }
            }
            Err(f) => (failure_box(f)),
        }
        form.card #user-form method="post" action="/console/users" {
            h2 { "新建账号 " span.en { "New account" } }
            input type="hidden" name="csrf" value=(session.csrf());
            label { "用户名 Username" input name="username" required maxlength="64"; }
            label { "姓名 Display name" input name="display_name" required maxlength="64"; }
            label { "部门 Department"
                select name="department" { @for d in &departments { option value=(text(&d["code"])) { (text(&d["name"])) } } }
            }
            fieldset.checks {
                legend { "角色 " span.en { "Roles" } }
                @for r in Role::ALL { label.check { input type="checkbox" name="roles" value=(r.as_str()); " " (r.label_zh()) " " span.en { (r.as_str()) } } }
            }
            label { "初始密码 Password" input type="password" name="password" required autocomplete="new-password"; }
            label { "公民身份号码（公众账号） " span.en { "Citizen ID, for a citizen's account" } input name="subject_id" maxlength="18"; }
            button type="submit" { "创建 Create" }
        }
    };
    page(session, "账号管理", "/console/users", content).into_response()
}

/// `POST /console/users`: `POST /v1/users`.
pub(crate) async fn create_user(
    session: Session,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name == k)
            .map_or("", |(_, v)| v.trim())
    };
    if let Some(r) = session.csrf_refusal(get("csrf")) {
        return r;
    }
    let roles: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "roles")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut body = json!({
        "username": get("username"),
        "display_name": get("display_name"),
        "department": get("department"),
        "roles": roles,
        "password": get("password"),
    });
    if !get("subject_id").is_empty() {
        body["subject_id"] = json!(get("subject_id"));
    }
    match session.post::<Value>("/v1/users", &body).await {
        Ok(_) => axum::response::Redirect::to(&format!(
            "/console/users?created={}",
            encode(get("username"))
        ))
        .into_response(),
        Err(f) => {
            let status = f.status;
            let mut response = users_page(&session, None, Some(&f)).await;
            *response.status_mut() = status;
            response
        }
    }
}
