//! The auditor: filter the audit log, sign a tree head, verify the whole log, read the
//! alerts and the charts (accesses per department per day, refusals, top matters).

use serde_json::json;
use tongban_gateway::store::{LogFilter, Store};
use tongban_tests::TestHub;

use super::browser::Browser;
use super::{issue_business_licence, query_as};

#[tokio::test]
async fn auditor_filters_the_log_verifies_it_and_reads_alerts_and_charts() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    // Activity to audit: queries for two matters, six refusals (the fifth within ten
    // minutes raises the repeated-refusals flag), an issued and a verified licence.
    for (matter, case) in [
        ("enterprise-opening", "QY-1"),
        ("enterprise-opening", "QY-2"),
        ("food-business-licence", "SP-1"),
    ] {
        let (status, body) = query_as(
            &hub,
            "approval-bureau",
            "SELECT name FROM legal_entity LIMIT 2",
            matter,
            case,
        )
        .await?;
        assert_eq!(status, 200, "{body}");
    }
    for i in 0..6 {
        let (status, _) = query_as(
            &hub,
            "approval-bureau",
            "DROP TABLE population",
            "enterprise-opening",
            &format!("X-{i}"),
        )
        .await?;
        assert_eq!(status, 400);
    }
    let issued = issue_business_licence(&hub).await?;
    let verified = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/licences/verify", hub.base()))
        .json(&json!({"token": issued["token"], "purpose": super::purpose("food-business-licence", "SP-1")}))
        .send()
        .await?;
    assert_eq!(verified.status(), 200);
    let store = Store::connect(hub.config.store.url.expose(), 1).await?;
    let total = store.log_entries(&LogFilter::default(), 1000).await?.len();

    let browser = Browser::open(&hub, "auditor", &[]).await?;
    browser
        .sign_in("auditor", &hub.password("auditor")?)
        .await?;
    let menu = browser.menu().await?;
    for wanted in [
        "/console/audit",
        "/console/audit/alerts",
        "/console/audit/charts",
    ] {
        assert!(menu.iter().any(|m| m == wanted), "{wanted} in {menu:?}");
    }
    assert!(
        !menu
            .iter()
            .any(|m| m == "/console/query" || m == "/console/verify")
    );

    browser.goto("/console/audit").await?;
    assert_eq!(browser.text("#log-size").await?, total.to_string());
    assert_eq!(browser.count("#entries tr[data-index]").await?, total);
    browser.shot("log").await?;

    browser
        .select("#audit-filters select[name=action]", "query_refused")
        .await?;
    browser.submit("#apply-filters", "#entries").await?;
    let actions = {
        let mut out = Vec::new();
        for row in browser
            .client()
            .find_all(fantoccini::Locator::Css("#entries tr[data-index]"))
            .await?
        {
            out.push(row.attr("data-action").await?.unwrap_or_default());
        }
        out
    };
    assert_eq!(actions.len(), 6);
    assert!(actions.iter().all(|a| a == "query_refused"), "{actions:?}");
    browser.shot("log-refusals").await?;

    browser.goto("/console/audit").await?;
    browser
        .select("#audit-filters select[name=department]", "approval-bureau")
        .await?;
    browser
        .select(
            "#audit-filters select[name=matter]",
            "food-business-licence",
        )
        .await?;
    browser.submit("#apply-filters", "#entries").await?;
    assert_eq!(
        browser.count("#entries tr[data-index]").await?,
        2,
        "a query and a verification"
    );

    browser.submit("#sign-head", ".alert.ok").await?;
    assert_eq!(browser.text("#head-size").await?, total.to_string());
    browser.shot("tree-head").await?;
    browser.submit("#verify-log", "#verification").await?;
    assert_eq!(
        browser
            .attr("#verification", "data-verified")
            .await?
            .as_deref(),
        Some("true")
    );
    assert_eq!(browser.text("#verified-entries").await?, total.to_string());
    browser.shot("verified").await?;

    browser.goto("/console/audit/alerts").await?;
    let alerts: usize = browser.text("#alert-count").await?.parse()?;
    assert!(
        alerts >= 2,
        "the fifth and sixth refusals are flagged: {alerts}"
    );
    assert!(browser.text("#entries").await?.contains("多次被拒"));
    browser.shot("alerts").await?;

    browser.goto("/console/audit/charts").await?;
    assert_eq!(browser.text("#chart-entries").await?, total.to_string());
    assert_eq!(
        browser
            .attr("#chart-accesses", "data-total")
            .await?
            .as_deref(),
        Some(total.to_string().as_str())
    );
    assert_eq!(
        browser
            .attr("#chart-refusals", "data-total")
            .await?
            .as_deref(),
        Some("6")
    );
    assert!(
        browser
            .count("#chart-accesses rect[data-series='廊坊市行政审批局']")
            .await?
            >= 1
    );
    let top = browser
        .attr("#chart-matters rect:first-of-type", "data-category")
        .await?
        .unwrap_or_default();
    assert!(
        top.contains("企业开办"),
        "enterprise opening is the top matter: {top}"
    );
    browser.shot("charts").await?;
    browser.close().await?;
    Ok(())
}
