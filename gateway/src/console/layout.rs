//! The frame every console page shares: the menu the person's roles decide, the sign-out
//! form, how a refusal is shown, and the Chinese labels (with the English term a foreign
//! auditor needs) of the hub's codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use super::api::Failure;
use super::session::Session;
use crate::auth::Role;

/// A menu entry and the roles that see it.
struct NavItem {
    href: &'static str,
    zh: &'static str,
    en: &'static str,
    roles: &'static [Role],
}

const EVERYONE: &[Role] = &Role::ALL;

const NAV: &[NavItem] = &[
    NavItem {
        href: "/console",
        zh: "工作台",
        en: "Home",
        roles: EVERYONE,
    },
    NavItem {
        href: "/console/verify",
        zh: "证照核验",
        en: "Verify a licence",
        roles: &[Role::Clerk],
    },
    NavItem {
        href: "/console/matters",
        zh: "事项办理",
        en: "Resolve a matter",
        roles: &[Role::Clerk],
    },
    NavItem {
        href: "/console/catalog",
        zh: "数据目录",
        en: "Catalogue",
        roles: &[Role::Consumer, Role::Provider, Role::Admin, Role::Auditor],
    },
    NavItem {
        href: "/console/grants",
        zh: "共享申请与授权",
        en: "Grants",
        roles: &[Role::Consumer, Role::Provider, Role::Admin],
    },
    NavItem {
        href: "/console/query",
        zh: "数据查询",
        en: "SQL query",
        roles: &[Role::Consumer],
    },
    NavItem {
        href: "/console/licences",
        zh: "证照签发",
        en: "Issue licences",
        roles: &[Role::Issuer],
    },
    NavItem {
        href: "/console/audit",
        zh: "审计日志",
        en: "Audit log",
        roles: &[Role::Auditor],
    },
    NavItem {
        href: "/console/audit/alerts",
        zh: "异常告警",
        en: "Alerts",
        roles: &[Role::Auditor],
    },
    NavItem {
        href: "/console/audit/charts",
        zh: "统计图表",
        en: "Charts",
        roles: &[Role::Auditor],
    },
    NavItem {
        href: "/console/accesses",
        zh: "谁访问了我的数据",
        en: "Who accessed my data",
        roles: &[Role::Citizen],
    },
    NavItem {
        href: "/console/users",
        zh: "账号管理",
        en: "Accounts",
        roles: &[Role::Admin],
    },
];

/// The menu entries `session` sees, as (href, Chinese, English).
pub(crate) fn menu(session: &Session) -> Vec<(&'static str, &'static str, &'static str)> {
    NAV.iter()
        .filter(|item| {
            item.roles
                .iter()
                .any(|r| session.principal.roles.contains(*r))
        })
        .map(|item| (item.href, item.zh, item.en))
        .collect()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · 通办 Tongban" }
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A page without the menu (sign-in).
pub(crate) fn bare(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title))
            body.bare { main { (content) } }
        }
    }
}

/// A page with the header and the menu of `session`'s roles; `active` is the menu entry to
/// highlight.
pub(crate) fn page(session: &Session, title: &str, active: &str, content: Markup) -> Markup {
    let p = &session.principal;
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title))
            body {
                header.top {
                    a.brand href="/console" { "通办 " span.en { "Tongban" } }
                    span.who {
                        span #whoami { (p.actor()) } " · " (p.department_name) " · "
                        @for (i, role) in p.roles.iter().enumerate() {
                            @if i > 0 { "、" }
                            span.role { (role.label_zh()) }
                        }
                    }
                    form.logout method="post" action="/console/logout" {
                        input type="hidden" name="csrf" value=(session.csrf());
                        button #sign-out type="submit" { "退出 Sign out" }
                    }
                }
                div.frame {
                    nav.menu #menu {
                        @for (href, zh, en) in menu(session) {
                            a href=(href) class=[(href == active).then_some("active")] {
                                (zh) " " span.en { (en) }
                            }
                        }
                    }
                    main {
                        h1 { (title) }
                        (content)
                    }
                }
            }
        }
    }
}

/// How a failure reads to a person: the Chinese explanation of its code, the code itself,
/// the API's message and, for a refused query, the access record that holds it.
pub(crate) fn failure_box(f: &Failure) -> Markup {
    html! {
        div.alert.error role="alert" data-code=(f.code) {
            strong { (code_label(&f.code)) }
            p { "错误代码 Error code: " code.code { (f.code) } }
            p.en { (f.message) }
            @if let Some(id) = &f.audit_id {
                p { "此次请求已记入审计日志 Recorded in the audit log: " code { (id) } }
            }
        }
    }
}

/// A whole page for a failure, with its HTTP status.
pub(crate) fn refusal(session: Option<&Session>, f: &Failure) -> Response {
    let body = match session {
        Some(s) => page(s, "未能完成 Not done", "", failure_box(f)),
        None => bare("未能完成 Not done", failure_box(f)),
    };
    (f.status, body).into_response()
}

/// The page a person sees when their roles include none of the page's; `None` when they
/// may use it.
pub(crate) fn forbidden_unless(session: &Session, roles: &[Role]) -> Option<Response> {
    if roles.iter().any(|r| session.principal.roles.contains(*r)) {
        return None;
    }
    Some(refusal(
        Some(session),
        &Failure {
            status: StatusCode::FORBIDDEN,
            code: "auth.forbidden".into(),
            message: format!(
                "this page is for: {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            audit_id: None,
        },
    ))
}

/// A notice after a successful action.
pub(crate) fn notice(text: &str) -> Markup {
    html! { div.alert.ok role="status" { (text) } }
}

/// The Chinese meaning of a stable code (by its family when the code has no entry).
pub(crate) fn code_label(code: &str) -> &'static str {
    match code {
        "auth.forbidden" | "auth.not_provider" => "无权执行此操作",
        "auth.invalid_credentials" => "用户名或密码错误",
        "auth.invalid_token" | "auth.required" => "登录已失效，请重新登录",
        "console.csrf" => "表单已过期，请刷新页面后重试",
        "console.invalid_form" | "request.invalid" | "request.invalid_query" => "提交的内容有误",
        "request.no_route" => "本平台尚未提供此功能",
        "request.not_found" => "未找到",
        "request.conflict" => "已存在，不能重复创建",
        "request.body_too_large" => "提交的内容过大",
        "query.not_granted" => "查询被拒绝：没有该数据的共享授权",
        "query.matter_not_granted" => "查询被拒绝：授权不适用于该事项",
        "query.invalid" => "查询被拒绝：SQL 无效，或使用了本部门未获授权的表或信息项",
        "query.statement_not_allowed" | "query.explain_not_allowed" => "查询被拒绝：只允许只读查询",
        "query.unknown_matter" => "事项代码无效",
        "query.invalid_case_id" => "办件编号无效",
        "query.missing_legal_basis" | "query.missing_purpose" => "请填写用途与法律依据",
        "query.timeout" | "query.resources_exhausted" => "查询超出资源限制",
        "audit.invalid_subject" => "身份号码无效",
        "audit.invalid_time" => "时间格式无效",
        "licence.holder_not_found" => "持证主体不在基础库中",
        "licence.not_issuer" | "licence.issuer_not_authorised_for_type" => "本部门无权签发此类证照",
        "licence.status_change_refused" | "licence.status_transition_invalid" => {
            "该证照当前状态不允许此变更"
        }
        "server.unavailable" | "audit.unavailable" => "服务暂不可用，请稍后再试",
        c if c.starts_with("query.") => "查询被拒绝",
        c if c.starts_with("licence.face") => "证照照面信息有误",
        c if c.starts_with("licence.") => "证照操作未完成",
        c if c.starts_with("grant.") => "授权操作未完成",
        _ => "操作未完成",
    }
}

/// Chinese and English names of an audit action.
pub(crate) fn action_label(action: &str) -> (&str, &str) {
    match action {
        "query_executed" => ("数据查询", "Query executed"),
        "query_refused" => ("查询被拒", "Query refused"),
        "grant_changed" => ("授权变更", "Grant changed"),
        "user_created" => ("创建账号", "User created"),
        "licence_issued" => ("证照签发", "Licence issued"),
        "licence_verified" => ("证照核验", "Licence verified"),
        "licence_status_changed" => ("证照状态变更", "Licence status changed"),
        "matter_resolved" => ("事项材料核验", "Matter resolved"),
        other => (other, ""),
    }
}

/// The audit actions the filters offer.
pub(crate) const ACTIONS: &[&str] = &[
    "query_executed",
    "query_refused",
    "grant_changed",
    "user_created",
    "licence_issued",
    "licence_verified",
    "licence_status_changed",
    "matter_resolved",
];

/// Chinese names of the hub's matters.
pub(crate) fn matter_label(code: &str) -> &str {
    match code {
        "enterprise-opening" => "企业开办",
        "food-business-licence" => "食品经营许可",
        "real-estate-transfer" => "不动产转移登记",
        "birth-registration" => "出生一件事",
        other => other,
    }
}

/// Chinese and English names of an anomaly flag.
pub(crate) fn flag_label(flag: &str) -> (&str, &str) {
    match flag {
        "bulk_single_case" => ("单一办件批量访问", "Bulk access for one case"),
        "subject_cap_exceeded" => ("超出主体记录上限", "Subject cap exceeded"),
        "off_hours" => ("非工作时间访问", "Off-hours access"),
        "repeated_refusals" => ("多次被拒", "Repeated refusals"),
        other => (other, ""),
    }
}

/// Chinese name of an outcome.
pub(crate) fn outcome_label(outcome: &str) -> &str {
    match outcome {
        "ok" => "成功",
        "refused" => "拒绝",
        "failed" => "失败",
        other => other,
    }
}

/// Beijing time of Unix milliseconds, to the second.
pub(crate) fn beijing_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            crate::clock::in_beijing(t)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// A JSON value as text for a table cell.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The purpose fields every data access states: matter, case number and legal basis.
pub(crate) fn purpose_fields(matter: &str, case_id: &str, legal_basis: &str) -> Markup {
    html! {
        fieldset.purpose {
            legend { "用途 " span.en { "Purpose" } }
            label { "事项 " span.en { "Matter" }
                select name="matter" required {
                    @for code in tongban_schemas::matter::SHIPPED_CODES {
                        option value=(code) selected[code == matter] { (matter_label(code)) " (" (code) ")" }
                    }
                }
            }
            label { "办件编号 " span.en { "Case ID" }
                input name="case_id" required maxlength="64" pattern="[A-Za-z0-9_./-]+" value=(case_id) placeholder="W-2026-0001";
            }
            label { "法律依据 " span.en { "Legal basis" }
                input name="legal_basis" required maxlength="256" value=(legal_basis);
            }
        }
    }
}

/// A standard error response when the console cannot answer at all.
pub(crate) fn unexpected(session: &Session) -> Response {
    refusal(Some(session), &Failure::unexpected())
}
