//! The window: verify an e-licence (pasted token, photo of its QR code, or the device
//! camera) and resolve which materials of a matter the hub supplies, with a printable
//! checklist.

use axum::body::Bytes;
use axum::extract::Multipart;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tongban_certs::LicenceType;

use super::api::{Failure, encode};
use super::layout::{self, failure_box, page, purpose_fields, text};
use super::session::Session;
use super::{ApiPath, PageForm};
use crate::auth::Role;

/// What a verification found, as the window names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Signature, issuer, dates and status all hold.
    Genuine,
    /// The issuer revoked it.
    Revoked,
    /// The issuer suspended it.
    Suspended,
    /// Its validity period has ended.
    Expired,
    /// Its validity period has not begun.
    NotYetValid,
    /// No QR code could be read from the photo.
    Unreadable,
    /// The hub could not check it now (its lists are out of date); try again later.
    Unavailable,
    /// Anything else: a bad signature, altered fields, an unknown issuer, a malformed token.
    Forged,
}

impl Verdict {
    /// The verdict of an API answer: `valid`, or the refusal's code.
    pub(crate) fn of(valid: bool, code: &str) -> Verdict {
        if valid {
            return Verdict::Genuine;
        }
        match code {
            "licence.revoked" => Verdict::Revoked,
            "licence.suspended" => Verdict::Suspended,
            "licence.expired" => Verdict::Expired,
            "licence.not_yet_valid" => Verdict::NotYetValid,
            "licence.qr_unreadable" | "licence.image_invalid" | "licence.qr_too_large" => {
                Verdict::Unreadable
            }
            "licence.status_unavailable"
            | "licence.status_list_stale"
            | "licence.trust_list_stale"
            | "licence.status_list_invalid"
            | "licence.trust_list_invalid"
            | "licence.key_invalid"
            | "licence.internal" => Verdict::Unavailable,
            _ => Verdict::Forged,
        }
    }

    /// Stable name (the page's `data-verdict`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Genuine => "genuine",
            Verdict::Revoked => "revoked",
            Verdict::Suspended => "suspended",
            Verdict::Expired => "expired",
            Verdict::NotYetValid => "not_yet_valid",
            Verdict::Unreadable => "unreadable",
            Verdict::Unavailable => "unavailable",
            Verdict::Forged => "forged",
        }
    }

    fn label(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Genuine => ("真实有效", "Genuine"),
            Verdict::Revoked => ("已撤销", "Revoked"),
            Verdict::Suspended => ("已暂停使用", "Suspended"),
            Verdict::Expired => ("已过期", "Expired"),
            Verdict::NotYetValid => ("尚未生效", "Not yet valid"),
            Verdict::Unreadable => ("无法识别二维码", "Unreadable"),
            Verdict::Unavailable => ("暂时无法核验", "Cannot verify now"),
            Verdict::Forged => ("伪造或被篡改", "Forged or tampered"),
        }
    }
}

/// Purpose prefilled from the query string (so a clerk keeps the case between checks).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PurposeQuery {
    #[serde(default)]
    matter: String,
    #[serde(default)]
    case_id: String,
    #[serde(default)]
    legal_basis: String,
}

fn verify_forms(session: &Session, p: &PurposeQuery) -> Markup {
    let csrf = session.csrf();
    html! {
        div.grid2 {
            form.card #token-form method="post" action="/console/verify" {
                h2 { "粘贴令牌 " span.en { "Paste a token" } }
                input type="hidden" name="csrf" value=(csrf);
                label { "证照令牌或二维码文本 " span.en { "SD-JWT token or QR text" }
                    textarea name="token" rows="5" required spellcheck="false" {}
                }
                (purpose_fields(&p.matter, &p.case_id, &p.legal_basis))
                button type="submit" { "核验 Verify" }
            }
            form.card #photo-form method="post" action="/console/verify/photo" enctype="multipart/form-data" {
                h2 { "二维码照片或摄像头 " span.en { "QR photo or camera" } }
                input type="hidden" name="csrf" value=(csrf);
                label { "上传二维码照片 " span.en { "Upload a photo (PNG or JPEG)" }
                    input #photo type="file" name="photo" accept="image/png,image/jpeg" required;
                }
                div.camera #camera data-camera="" {
                    video #camera-video playsinline muted {}
                    div.buttons {
                        button #camera-start type="button" { "开启摄像头 Start camera" }
                        button #camera-capture type="button" disabled { "拍照核验 Capture and verify" }
                    }
                    p.muted #camera-status {}
                }
                (purpose_fields(&p.matter, &p.case_id, &p.legal_basis))
                button type="submit" { "上传核验 Verify photo" }
            }
        }
    }
}

/// `GET /console/verify`.
pub(crate) async fn verify_form(
    session: Session,
    axum::extract::Query(p): axum::extract::Query<PurposeQuery>,
) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Clerk]) {
        return r;
    }
    page(
        &session,
        "证照核验",
        "/console/verify",
        verify_forms(&session, &p),
    )
    .into_response()
}

/// The token form.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    csrf: String,
    token: String,
    matter: String,
    case_id: String,
    legal_basis: String,
}

/// `POST /console/verify`: `POST /v1/licences/verify` with the pasted token.
pub(crate) async fn verify_token(
    session: Session,
    PageForm(form): PageForm<TokenForm>,
) -> Response {
    if let Some(r) = session.csrf_refusal(&form.csrf) {
        return r;
    }
    let answer: Result<Value, Failure> = session
        .post(
            "/v1/licences/verify",
            &json!({
                "token": form.token,
                "purpose": {"matter": form.matter, "case_id": form.case_id, "legal_basis": form.legal_basis},
            }),
        )
        .await;
    let purpose = PurposeQuery {
        matter: form.matter,
        case_id: form.case_id,
        legal_basis: form.legal_basis,
    };
    verification_page(&session, answer, &purpose)
}

/// `POST /console/verify/photo`: the uploaded or captured image, sent to
/// `POST /v1/licences/verify` as it is.
pub(crate) async fn verify_photo(session: Session, mut multipart: Multipart) -> Response {
    let mut fields = std::collections::HashMap::new();
    let mut photo = Bytes::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return super::invalid_form(
                        &session,
                        "the upload was interrupted or too large",
                    );
                };
                if name == "photo" {
                    photo = bytes;
                } else {
                    fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            Ok(None) => break,
            Err(_) => return super::invalid_form(&session, "the form is not valid multipart data"),
        }
    }
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Some(r) = session.csrf_refusal(&field("csrf")) {
        return r;
    }
    let purpose = PurposeQuery {
        matter: field("matter"),
        case_id: field("case_id"),
        legal_basis: field("legal_basis"),
    };
    // The API decides what the bytes are; the console only names the likely type.
    let content_type = if photo.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let path = format!(
        "/v1/licences/verify?matter={}&case_id={}&legal_basis={}",
        encode(&purpose.matter),
        encode(&purpose.case_id),
        encode(&purpose.legal_basis)
    );
    let answer = session
        .api
        .send(
            Some(&session.token),
            Method::POST,
            &path,
            Some(content_type),
            None,
            photo,
        )
        .await
        .and_then(|raw| serde_json::from_slice(&raw.body).map_err(|_| Failure::unexpected()));
    verification_page(&session, answer, &purpose)
}

fn verification_page(
    session: &Session,
    answer: Result<Value, Failure>,
    purpose: &PurposeQuery,
) -> Response {
    let result = match &answer {
        Ok(v) => verdict_view(v),
        Err(f) => failure_box(f),
    };
    let status = match &answer {
        Ok(_) => axum::http::StatusCode::OK,
        Err(f) => f.status,
    };
    (
        status,
        page(
            session,
            "证照核验",
            "/console/verify",
            html! {
                section #result { (result) }
                h2 { "继续核验 " span.en { "Verify another" } }
                (verify_forms(session, purpose))
            },
        ),
    )
        .into_response()
}

/// The verdict banner and, for a genuine licence, the disclosed fields only.
fn verdict_view(answer: &Value) -> Markup {
    let valid = answer["valid"].as_bool().unwrap_or(false);
    let code = answer["code"].as_str().unwrap_or_default();
    let verdict = Verdict::of(valid, code);
    let (zh, en) = verdict.label();
    let licence = &answer["licence"];
    let licence_type = licence["type"]
        .as_str()
        .and_then(|t| LicenceType::from_slug(t).ok());
    html! {
        div #verdict class={ "verdict " (verdict.name()) } data-verdict=(verdict.name()) {
            span.big { (zh) } " " span.en { (en) }
        }
        @if !valid {
            p #reason { "原因 Reason: " (text(&answer["reason"])) " " code { "(" (code) ")" } }
        }
        @if valid {
            table.kv #licence {
                tr { th { "证照类型 Type" } td { (text(&licence["type_name"])) } }
                tr { th { "证照标识 Licence ID" } td { code { (text(&licence["id"])) } } }
                tr { th { "发证部门 Issuer" } td { (text(&licence["issuer"])) } }
                tr { th { "持证主体 Holder" } td { (text(&licence["holder"]["type"])) " · " (text(&licence["holder"]["id"])) } }
                tr { th { "有效期 Valid" } td { (epoch_date(&licence["valid_from"])) " — " (epoch_date(&licence["valid_until"])) } }
            }
            h3 { "出示的照面信息 " span.en { "Disclosed fields" } }
            table.kv #disclosed {
                @if let Some(fields) = licence["disclosed"].as_object() {
                    @for (name, value) in fields {
                        tr data-field=(name) {
                            th { (licence_type.and_then(|t| t.field(name)).map_or(name.as_str(), |f| f.label_zh)) " " span.en { (name) } }
                            td { (text(value)) }
                        }
                    }
                }
            }
            p.muted { "持证人未出示的信息不会显示。 Fields the holder did not disclose are not shown." }
        }
        @if let Some(id) = answer["audit_id"].as_str() {
            p.muted { "审计编号 Audit ID: " code { (id) } }
        }
    }
}

fn epoch_date(v: &Value) -> String {
    match v.as_i64() {
        Some(secs) => layout::beijing_time(secs * 1000)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned(),
        None => "长期 Long-term".into(),
    }
}

// ---- matters ----

fn resolve_form(session: &Session, matter: &Value) -> Markup {
    let code = matter["code"].as_str().unwrap_or_default();
    let parties: Vec<&Value> = matter["parties"]
        .as_array()
        .map(|p| p.iter().filter(|p| p["role"] != "applicant").collect())
        .unwrap_or_default();
    html! {
        form.card.matter method="post" action={ "/console/matters/" (encode(code)) } data-matter=(code) {
            h2 { (text(&matter["name"])) " " span.en { (code) } }
            @if let Some(basis) = matter["legal_basis"].as_str() { p.muted { "依据 Legal basis: " (basis) } }
            @if let Some(materials) = matter["materials"].as_array() {
                details { summary { "所需材料 Required materials (" (materials.len()) ")" }
                    ul { @for m in materials { li { (text(&m["name"])) } } }
                }
            }
            input type="hidden" name="csrf" value=(session.csrf());
            fieldset {
                legend { "申请人 " span.en { "Applicant" } }
                label { "证件类型 ID type"
                    select name="applicant_id_type" {
                        option value="111" { "111 公民身份号码 Citizen ID" }
                        option value="001" { "001 统一社会信用代码 USCC" }
                    }
                }
                label { "证件号码 ID number" input name="applicant_id" required maxlength="18"; }
            }
            @for (i, party) in parties.iter().enumerate() {
                fieldset {
                    legend { (text(&party["name"])) " " span.en { (text(&party["role"])) } }
                    input type="hidden" name={ "party_" (i) "_role" } value=(text(&party["role"]));
                    input type="hidden" name={ "party_" (i) "_id_type" } value=(party["id_type"].as_str().unwrap_or("111"));
                    label { "证件号码 ID number" input name={ "party_" (i) "_id" } maxlength="18"; }
                }
            }
            label { "办件编号 " span.en { "Case ID" } input name="case_id" required maxlength="64"; }
            label { "申请人出示的电子证照（每行一个令牌） " span.en { "E-licences presented, one token per line" }
                textarea name="licences" rows="3" spellcheck="false" {}
            }
            button type="submit" { "核验材料 Resolve materials" }
        }
    }
}

/// `GET /console/matters`: the matters `GET /v1/matters` lists, each with its form.
pub(crate) async fn matters(session: Session) -> Response {
    if let Some(r) = layout::forbidden_unless(&session, &[Role::Clerk]) {
        return r;
    }
    let content = match session.get::<Vec<Value>>("/v1/matters").await {
        Ok(list) => html! {
            p { "填写申请人信息，平台将核对可从部门系统、电子证照和信用记录中获取的材料，其余材料列为需申请人提交。" }
            p.en { "The hub supplies what departments hold; the rest is listed for the applicant to submit." }
            div.grid2 { @for m in &list { (resolve_form(&session, m)) } }
        },
        Err(f) if f.is_missing_route() => html! {
            div.alert.info #matters-unavailable {
                "本平台尚未开通事项材料核验服务。 " span.en { "Matters resolution is not available on this hub yet." }
            }
        },
        Err(f) => failure_box(&f),
    };
    page(&session, "事项办理", "/console/matters", content).into_response()
}

/// `POST /console/matters/{code}`: `POST /v1/matters/{code}/resolve`, shown as the materials
/// checklist.
pub(crate) async fn resolve(
    session: Session,
    ApiPath(code): ApiPath<String>,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| {
        fields
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    if let Some(r) = session.csrf_refusal(&field("csrf")) {
        return r;
    }
    let mut parties = Vec::new();
    for i in 0.. {
        let role = field(&format!("party_{i}_role"));
        if role.is_empty() {
            break;
        }
        let id = field(&format!("party_{i}_id"));
        if !id.is_empty() {
            parties.push(
                json!({"role": role, "type": field(&format!("party_{i}_id_type")), "id": id}),
            );
        }
    }
    let licences: Vec<String> = field("licences")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let body = json!({
        "applicant": {"type": field("applicant_id_type"), "id": field("applicant_id")},
        "parties": parties,
        "case_id": field("case_id"),
        "licences": licences,
    });
    let answer: Result<Value, Failure> = session
        .post(&format!("/v1/matters/{}/resolve", encode(&code)), &body)
        .await;
    match answer {
        Ok(resolution) => page(
            &session,
            "材料清单",
            "/console/matters",
            checklist(&resolution),
        )
        .into_response(),
        Err(f) => layout::refusal(Some(&session), &f),
    }
}

fn checklist(r: &Value) -> Markup {
    let materials: Vec<&Value> = r["materials"]
        .as_array()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let supplied: Vec<&&Value> = materials
        .iter()
        .filter(|m| m["outcome"] == "supplied")
        .collect();
    let to_submit: Vec<&&Value> = materials
        .iter()
        .filter(|m| m["outcome"] != "supplied")
        .collect();
    html! {
        section.checklist #checklist {
            h2 { (text(&r["matter"]["name"])) " " span.en { (text(&r["matter"]["code"])) } }
            table.kv {
                tr { th { "办件编号 Case ID" } td { (text(&r["case_id"])) } }
                tr { th { "核验时间 As of" } td { (text(&r["as_of"])) } }
                tr { th { "核验编号 Resolution ID" } td { code { (text(&r["resolution_id"])) } } }
                tr { th { "审计编号 Audit ID" } td { code { (text(&r["audit_id"])) } } }
            }
            p.summary {
                "平台已提供 " strong #supplied-count { (text(&r["supplied"])) } " 项 (supplied by the hub)，"
                "需申请人提交 " strong #must-submit-count { (text(&r["must_submit"])) } " 项 (to be submitted)。"
            }
            h3 { "平台提供，免于提交 " span.en { "Supplied by the hub" } }
            table.list #supplied {
                tr { th { "材料 Material" } th { "依据 Evidence" } }
                @for m in &supplied {
                    tr data-material=(text(&m["code"])) { td { (text(&m["name"])) } td { (evidence(&m["evidence"])) } }
                }
            }
            h3 { "需申请人提交 " span.en { "To be submitted by the applicant" } }
            table.list #must-submit {
                tr { th { "材料 Material" } th { "原因 Reason" } }
                @for m in &to_submit {
                    tr data-material=(text(&m["code"])) {
                        td { (text(&m["name"])) }
                        td { (text(&m["reason"]["message"])) " " code { (text(&m["reason"]["code"])) } }
                    }
                }
            }
            p.muted.sig { "核验结果已签名 Signed evidence (JWS): " code.wrap { (text(&r["evidence_jws"])) } }
            button.noprint type="button" data-print="" { "打印材料清单 Print checklist" }
        }
    }
}

fn evidence(v: &Value) -> Markup {
    match v.as_object() {
        Some(map) => html! {
            @for (k, value) in map {
                span.ev { span.k { (k) } ": " (text(value)) } " "
            }
        },
        None => html! { (text(v)) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_refusal_codes() {
        assert_eq!(Verdict::of(true, ""), Verdict::Genuine);
        for (code, verdict) in [
            ("licence.revoked", Verdict::Revoked),
            ("licence.suspended", Verdict::Suspended),
            ("licence.expired", Verdict::Expired),
            ("licence.not_yet_valid", Verdict::NotYetValid),
            ("licence.qr_unreadable", Verdict::Unreadable),
            ("licence.status_list_stale", Verdict::Unavailable),
            ("licence.bad_signature", Verdict::Forged),
            ("licence.disclosure_tampered", Verdict::Forged),
            ("licence.malformed", Verdict::Forged),
            ("licence.unknown_issuer", Verdict::Forged),
        ] {
            assert_eq!(Verdict::of(false, code), verdict, "{code}");
        }
    }

    #[test]
    fn a_genuine_licence_shows_only_its_disclosed_fields() {
        let answer = json!({
            "valid": true,
            "licence": {"type": "business-licence", "type_name": "营业执照", "id": "x",
                "disclosed": {"name": "示例公司"}},
        });
        let html = verdict_view(&answer).into_string();
        assert!(html.contains("data-verdict=\"genuine\""));
        assert!(html.contains("示例公司") && html.contains("名称"));
        assert!(
            !html.contains("住所"),
            "an undisclosed field's label appears"
        );
    }

    #[test]
    fn the_checklist_separates_supplied_from_submitted() {
        let r = json!({
            "matter": {"code": "enterprise-opening", "name": "企业开办"},
            "materials": [
                {"code": "a", "name": "身份证明", "outcome": "supplied", "evidence": {"library": "population"}, "reason": null},
                {"code": "b", "name": "场所证明", "outcome": "must_submit", "evidence": null,
                 "reason": {"code": "matter.not_in_hub", "message": "not held"}},
            ],
            "supplied": 1, "must_submit": 1,
        });
        let html = checklist(&r).into_string();
        let supplied = html.find("id=\"supplied\"").expect("supplied table");
        let submit = html.find("id=\"must-submit\"").expect("submit table");
        let a = html.find("data-material=\"a\"").expect("a");
        let b = html.find("data-material=\"b\"").expect("b");
        assert!(supplied < a && a < submit && submit < b);
    }
}
