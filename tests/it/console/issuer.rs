//! An issuing department: issue a business licence from the form, get its QR code and
//! token, be told clearly when a face field is wrong, revoke the licence and look it up.

use serde_json::{Value, json};
use tongban_tests::TestHub;

use super::an_entity;
use super::browser::Browser;

/// Sets a form field's value directly (date inputs ignore typed text in some locales).
async fn set(browser: &Browser, css: &str, value: &str) -> anyhow::Result<()> {
    browser.wait(css).await?;
    browser
        .client()
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await?;
    Ok(())
}

async fn fill_business_licence(
    browser: &Browser,
    uscc: &str,
    name: &str,
    capital: &str,
) -> anyhow::Result<()> {
    browser
        .goto("/console/licences?type=business-licence")
        .await?;
    set(browser, "#issue-form input[name=holder_id]", uscc).await?;
    for (field, value) in [
        ("uscc", uscc),
        ("name", name),
        ("entity_type", "有限责任公司"),
        ("legal_rep_name", "李四"),
        ("registered_capital", capital),
        ("established_date", "2021-03-04"),
        ("term_from", "2021-03-04"),
        ("term_to", "长期"),
        ("address", "河北省廊坊市广阳区示例路8号"),
        ("business_scope", "软件开发；信息技术咨询服务"),
        ("registration_authority", "廊坊市市场监督管理局"),
        ("issue_date", "2021-03-04"),
    ] {
        set(
            browser,
            &format!("#issue-form [name='face.{field}']"),
            value,
        )
        .await?;
    }
    Ok(())
}

async fn verify(hub: &TestHub, token: &str) -> anyhow::Result<Value> {
    Ok(hub
        .department("approval-bureau")?
        .post(format!("{}/v1/licences/verify", hub.base()))
        .json(&json!({"token": token, "purpose": super::purpose("enterprise-opening", "W-9")}))
        .send()
        .await?
        .json()
        .await?)
}

#[tokio::test]
async fn issuer_issues_and_revokes_a_licence() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let (uscc, name) = an_entity(&hub).await?;
    let browser = Browser::open(&hub, "issuer", &[]).await?;
    browser.sign_in("issuer", &hub.password("issuer")?).await?;
    let menu = browser.menu().await?;
    assert!(menu.iter().any(|m| m == "/console/licences"), "{menu:?}");
    assert!(
        !menu
            .iter()
            .any(|m| m == "/console/verify" || m == "/console/query")
    );

    // A face field the type refuses: a clear error with its stable code, nothing issued.
    fill_business_licence(&browser, &uscc, &name, "一百万").await?;
    browser.shot("issue-form").await?;
    browser.submit("#issue", ".alert.error").await?;
    let code = browser
        .attr(".alert.error", "data-code")
        .await?
        .unwrap_or_default();
    assert!(code.starts_with("licence."), "{code}");
    browser.shot("issue-refused").await?;

    fill_business_licence(&browser, &uscc, &name, "500").await?;
    browser.submit("#issue", "#issued").await?;
    let id = browser.text("#licence-id").await?;
    tongban_schemas::LicenceId::parse(&id)?;
    let qr = browser
        .attr("#licence-qr", "src")
        .await?
        .unwrap_or_default();
    assert!(qr.starts_with("data:image/png;base64,"));
    let token = browser
        .client()
        .execute(
            "return document.querySelector('#licence-token').value;",
            vec![],
        )
        .await?;
    let token = token.as_str().unwrap_or_default().to_owned();
    browser.shot("issued").await?;
    let verified = verify(&hub, &token).await?;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["licence"]["disclosed"]["legal_rep_name"], "李四");

    browser.fill("#status-form input[name=id]", &id).await?;
    browser
        .select("#status-form select[name=action]", "revoke")
        .await?;
    browser
        .fill("#status-form input[name=reason]", "依法吊销营业执照")
        .await?;
    browser.submit("#change-status", "#status-result").await?;
    assert!(browser.text("#status-result").await?.contains("revoked"));
    browser.shot("revoked").await?;
    assert_eq!(verify(&hub, &token).await?["code"], "licence.revoked");

    browser.fill("#lookup-form input[name=id]", &id).await?;
    browser
        .submit("#lookup-form button[type=submit]", "#licence-record")
        .await?;
    assert!(browser.text("#licence-status").await?.contains("撤销"));
    assert!(
        browser
            .text("#licence-record")
            .await?
            .contains("依法吊销营业执照")
    );
    browser.shot("lookup").await?;

    // Reinstating a revoked licence is refused with the API's code.
    browser
        .select("#status-form select[name=action]", "reinstate")
        .await?;
    browser
        .fill("#status-form input[name=reason]", "误操作")
        .await?;
    browser.submit("#change-status", ".alert.error").await?;
    assert_eq!(
        browser.attr(".alert.error", "data-code").await?.as_deref(),
        Some("licence.status_change_refused")
    );
    browser.close().await?;
    Ok(())
}
