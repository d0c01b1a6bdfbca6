//! Issuing departments: issue an e-licence from a form built from the licence type's face
//! fields, show its token and QR code, look a licence up, and suspend, reinstate or revoke
//! it with a reason.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tongban_certs::LicenceType;
use tongban_schemas::licence::{FieldKind, FieldSpec, HolderKind};

use super::api::encode;
use super::layout::{self, failure_box, notice, page, text};
use super::session::Session;
use super::{PageForm, PageQuery};
use crate::auth::Role;

/// The licence types `session`'s department issues.
fn own_types(session: &Session) -> Vec<LicenceType> {
    LicenceType::ALL
        .into_iter()
        .filter(|t| t.issuing_department() == session.principal.department)
        .collect()
}

fn holder_label(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::CitizenId => "111 公民身份号码 Citizen ID",
        HolderKind::Uscc => "001 统一社会信用代码 USCC",
    }
}

fn face_input(spec: &FieldSpec) -> Markup {
    let name = format!("face.{}", spec.name);
    html! {
        label data-field=(spec.name) {
            (spec.label_zh) @if !spec.required { "（可选）" } " " span.en { (spec.name) }
            @match spec.kind {
                FieldKind::Date => { input type="date" name=(name) required[spec.required]; }
                FieldKind::GenderCode => {
                    select name=(name) required[spec.required] { option value="1" { "1 男" } option value="2" { "2 女" } }
                }
                FieldKind::OneOf(options) => {
                    select name=(name) required[spec.required] { @for o in options { option value=(o) { (o) } } }
                }
                FieldKind::DateOrLongTerm => { input name=(name) required[spec.required] placeholder="YYYY-MM-DD 或 长期"; }
                FieldKind::Text { max } => { input name=(name) required[spec.required] maxlength=(max); }
                _ => { input name=(name) required[spec.required]; }
            }
        }
    }
}

fn issue_form(session: &Session, t: LicenceType) -> Markup {
    html! {
        form.card #issue-form method="post" action="/console/licences/issue" {
            h2 { "签发" (t.name_zh()) " " span.en { "Issue: " (t.slug()) } }
            input type="hidden" name="csrf" value=(session.csrf());
            input type="hidden" name="type" value=(t.slug());
            fieldset {
                legend { "持证主体 " span.en { "Holder" } }
                label { "证件类型 ID type"
                    select name="holder_type" { @for k in t.holder_kinds() { option value=(k.code()) { (holder_label(*k)) } } }
                }
                label { "证件号码 ID number" input name="holder_id" required maxlength="18"; }
            }
            fieldset.face {
                legend { "照面信息 " span.en { "Face fields" } }
                @for spec in t.fields() { (face_input(spec)) }
            }
            button #issue type="submit" { "签发 Issue" }
        }
    }
}

fn status_form(session: &Session, id: &str) -> Markup {
    html! {
        form.card #status-form method="post" action="/console/licences/status" {
            h2 { "暂停、恢复或撤销 " span.en { "Suspend, reinstate or revoke" } }
            input type="hidden" name="csrf" value=(session.csrf());
            label { "证照标识 Licence ID" input name="id" required value=(id); }
            label { "操作 Action"
                select name="action" {
                    option value="suspend" { "暂停 Suspend" }
                    option value="reinstate" { "恢复 Reinstate" }
                    option value="revoke" { "撤销 Revoke" }
                }
            }
            label { "原因 Reason" input name="reason" required maxlength="200"; }
            button #change-status type="submit" { "提交 Submit" }
        }
    }
}

fn lookup_form(id: &str) -> Markup {
    html! {
        form.card.search #lookup-form method="get" action="/console/licences/lookup" {
            h2 { "查询证照 " span.en { "Look a licence up" } }
            input name="id" required value=(id) placeholder="1.2.156.3005.2.…";
            button type="submit" { "查询 Look up" }
        }
    }
}

/// Which type to issue.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TypeQuery {
    #[serde(rename = "type", default)]
    licence_type: String,
}

fn issuer_page(session: &Session, chosen: Option<LicenceType>, before: Markup) -> Markup {
    let types = own_types(session);
    let chosen = chosen.or_else(|| types.first().copied());
    let content = html! {
        (before)
        @if types.is_empty() {
            p.muted { "本部门不签发电子证照。 Your department issues no licence types." }
        } @else {
            nav.tabs {
                @for t in &types {
                    a href={ "/console/licences?type=" (t.slug()) } class=[(Some(*t) == chosen).then_some("active")] { (t.name_zh()) }
                }
            }
            @if let Some(t) = chosen { (issue_form(session, t)) }
        }
        div.grid2 { (status_form(session, "")) (lookup_form("")) }
    };
    page(session, "证照签发", "/console/licences", content)
}

/// `GET /console/licences?type=`.
pub(crate) async fn form(session: Session, PageQuery(q): PageQuery<TypeQuery>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Issuer]) {
        return r;
    }
    let chosen = LicenceType::from_slug(&q.licence_type).ok();
    issuer_page(&session, chosen, html! {}).into_response()
}

/// `POST /console/licences/issue`: `POST /v1/licences` with the face as filled in.
pub(crate) async fn issue(
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
    let face: BTreeMap<&str, &str> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("face.")?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let body = json!({
        "type": get("type"),
        "holder": {"type": get("holder_type"), "id": get("holder_id")},
        "face": face,
    });
    let chosen = LicenceType::from_slug(get("type")).ok();
    match session.post::<Value>("/v1/licences", &body).await {
        Ok(issued) => {
            let id = text(&issued["id"]);
            let png = text(&issued["qr"]["png_base64"]);
            let before = html! {
                section.card #issued {
                    (notice("证照已签发。 Licence issued."))
                    table.kv {
                        tr { th { "证照标识 Licence ID" } td { code #licence-id { (id) } } }
                        tr { th { "审计编号 Audit ID" } td { code { (text(&issued["audit_id"])) } } }
                    }
                    div.qr {
                        img #licence-qr src={ "data:image/png;base64," (png) } alt="证照二维码 Licence QR code";
                        a.button download={ "licence-qr.png" } href={ "data:image/png;base64," (png) } { "下载二维码 Download QR" }
                    }
                    label { "令牌 " span.en { "Token (SD-JWT)" }
                        textarea #licence-token readonly rows="4" spellcheck="false" { (text(&issued["token"])) }
                    }
                    button type="button" data-copy="#licence-token" { "复制令牌 Copy token" }
                }
            };
            issuer_page(&session, chosen, before).into_response()
        }
        Err(f) => {
            let status = f.status;
            (status, issuer_page(&session, chosen, failure_box(&f))).into_response()
        }
    }
}

/// A status change.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    csrf: String,
    id: String,
    action: String,
    reason: String,
}

/// `POST /console/licences/status`: `POST /v1/licences/{id}/{suspend|reinstate|revoke}`.
pub(crate) async fn status(session: Session, PageForm(form): PageForm<StatusForm>) -> Response {
    if let Some(r) = session.csrf_refusal(&form.csrf) {
        return r;
    }
    if !matches!(form.action.as_str(), "suspend" | "reinstate" | "revoke") {
        return super::invalid_form(&session, "the action is suspend, reinstate or revoke");
    }
    let answer: Result<Value, _> = session
        .post(
            &format!("/v1/licences/{}/{}", encode(form.id.trim()), form.action),
            &json!({"reason": form.reason}),
        )
        .await;
    let before = match answer {
        Ok(v) => notice(&format!(
            "证照 {} 的状态已变更为 {}。 Status is now {}.",
            text(&v["id"]),
            status_label(v["status"].as_str().unwrap_or_default()),
            text(&v["status"])
        )),
        Err(f) => {
            return (f.status, issuer_page(&session, None, failure_box(&f))).into_response();
        }
    };
    issuer_page(&session, None, html! { div #status-result { (before) } }).into_response()
}

fn status_label(status: &str) -> &str {
    match status {
        "valid" => "有效",
        "suspended" => "暂停",
        "revoked" => "撤销",
        other => other,
    }
}

/// The licence to look up.
#[derive(Debug, Deserialize)]
pub(crate) struct Lookup {
    id: String,
}

/// `GET /console/licences/lookup?id=`: `GET /v1/licences/{id}`.
pub(crate) async fn lookup(session: Session, PageQuery(q): PageQuery<Lookup>) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Issuer, Role::Auditor]) {
        return r;
    }
    let content = match session
        .get::<Value>(&format!("/v1/licences/{}", encode(q.id.trim())))
        .await
    {
        Ok(r) => html! {
            table.kv #licence-record {
                tr { th { "证照标识 Licence ID" } td { code { (text(&r["id"])) } } }
                tr { th { "类型 Type" } td { (LicenceType::from_slug(&text(&r["type"])).map_or_else(|_| text(&r["type"]), |t| t.name_zh().to_owned())) } }
                tr { th { "持证主体 Holder" } td { (text(&r["holder"]["type"])) " · " (text(&r["holder"]["id"])) } }
                tr { th { "状态 Status" } td #licence-status { (status_label(r["status"].as_str().unwrap_or_default())) " " span.en { (text(&r["status"])) } } }
                tr { th { "状态原因 Reason" } td { (text(&r["status_reason"])) } }
                tr { th { "签发时间 Issued" } td { (r["issued_at"].as_i64().map(|s| layout::beijing_time(s * 1000)).unwrap_or_default()) } }
            }
            (status_form(&session, &text(&r["id"])))
        },
        Err(f) => failure_box(&f),
    };
    page(
        &session,
        "证照查询",
        "/console/licences",
        html! { (content) (lookup_form(&q.id)) },
    )
    .into_response()
}
