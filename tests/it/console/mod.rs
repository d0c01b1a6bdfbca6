//! The web console in a real browser (headless Chromium over WebDriver), one test per
//! role's journey, plus the operator endpoints and the API description.

mod auditor;
mod browser;
mod citizen;
mod clerk;
mod department;
mod issuer;
mod matters;
mod openapi;
mod ops;

use anyhow::Context;
use serde_json::{Value, json};
use tongban_tests::TestHub;

/// A purpose a department system states.
fn purpose(matter: &str, case: &str) -> Value {
    json!({"matter": matter, "case_id": case, "legal_basis": "《优化营商环境条例》"})
}

/// Runs `sql` as `department`'s system and returns the JSON answer and status.
async fn query_as(
    hub: &TestHub,
    department: &str,
    sql: &str,
    matter: &str,
    case: &str,
) -> anyhow::Result<(u16, Value)> {
    let response = hub
        .department(department)?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({"sql": sql, "purpose": purpose(matter, case)}))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await?))
}

/// The first legal entity of the test data: its USCC and name.
async fn an_entity(hub: &TestHub) -> anyhow::Result<(String, String)> {
    let (_, body) = query_as(
        hub,
        "approval-bureau",
        "SELECT uscc, name FROM legal_entity ORDER BY uscc LIMIT 1",
        "enterprise-opening",
        "W-0000",
    )
    .await?;
    Ok((
        body["rows"][0][0].as_str().context("uscc")?.to_owned(),
        body["rows"][0][1].as_str().context("name")?.to_owned(),
    ))
}

/// The first living person of the test data: citizen ID and name.
async fn a_person(hub: &TestHub) -> anyhow::Result<(String, String)> {
    let (_, body) = query_as(
        hub,
        "approval-bureau",
        "SELECT citizen_id, name FROM population WHERE person_status = '正常' ORDER BY citizen_id LIMIT 1",
        "enterprise-opening",
        "W-0000",
    )
    .await?;
    Ok((
        body["rows"][0][0]
            .as_str()
            .context("citizen_id")?
            .to_owned(),
        body["rows"][0][1].as_str().context("name")?.to_owned(),
    ))
}

/// A business licence's face for `uscc`.
fn business_face(uscc: &str, name: &str, term_from: &str, term_to: &str) -> Value {
    json!({
        "uscc": uscc, "name": name, "entity_type": "有限责任公司", "legal_rep_name": "张三",
        "registered_capital": "100.5", "established_date": term_from, "term_from": term_from,
        "term_to": term_to, "address": "河北省廊坊市广阳区示例路1号",
        "business_scope": "技术开发、技术服务", "registration_authority": "廊坊市市场监督管理局",
        "issue_date": term_from
    })
}

/// Issues a business licence to the first entity through the API; answers the issue body.
async fn issue_business_licence(hub: &TestHub) -> anyhow::Result<Value> {
    let (uscc, name) = an_entity(hub).await?;
    let response = hub
        .department("market-regulation")?
        .post(format!("{}/v1/licences", hub.base()))
        .json(
            &json!({"type": "business-licence", "holder": {"type": "001", "id": uscc},
                      "face": business_face(&uscc, &name, "2020-01-02", "长期")}),
        )
        .send()
        .await?;
    anyhow::ensure!(response.status() == 201, "issue: {}", response.status());
    Ok(response.json().await?)
}
