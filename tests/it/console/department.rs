//! Departments: browse and search the catalogue, be refused a query the grants do not
//! allow, apply for a conditional grant, have the provider approve one application and
//! reject another, then run the query and download it as CSV and Arrow.

use base64::Engine as _;
use serde_json::{Value, json};
use tongban_gateway::store::{LogFilter, Store};
use tongban_tests::TestHub;

use super::browser::Browser;

const SQL: &str =
    "SELECT citizen_id, name, marital_status_code FROM population ORDER BY citizen_id LIMIT 5";

async fn run_query(browser: &Browser, case: &str) -> anyhow::Result<()> {
    browser.goto("/console/query").await?;
    browser.fill("#sql", SQL).await?;
    browser
        .select("#query-form select[name=matter]", "real-estate-transfer")
        .await?;
    browser
        .fill("#query-form input[name=case_id]", case)
        .await?;
    browser
        .fill(
            "#query-form input[name=legal_basis]",
            "《不动产登记暂行条例》第二十一条",
        )
        .await?;
    browser.submit("#run-query", "#result").await
}

async fn apply(
    browser: &Browser,
    resource: &str,
    columns: &[&str],
    reason: &str,
) -> anyhow::Result<i64> {
    browser
        .goto(&format!(
            "/console/catalog/{}",
            resource.replacen('/', "-", 1)
        ))
        .await?;
    for c in columns {
        browser
            .click(&format!("#apply-form input[name=columns][value={c}]"))
            .await?;
    }
    browser
        .click("#apply-form input[name=matters][value=real-estate-transfer]")
        .await?;
    browser
        .fill("#apply-form textarea[name=reason]", reason)
        .await?;
    browser
        .fill(
            "#apply-form input[name=legal_basis]",
            "《不动产登记暂行条例》第二十一条",
        )
        .await?;
    browser
        .submit("#apply-form button[type=submit]", ".alert.ok")
        .await?;
    let url = browser.client().current_url().await?;
    let id = url
        .query_pairs()
        .find(|(k, _)| k == "applied")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no application id in {url}"))?;
    Ok(id)
}

#[tokio::test]
async fn department_browses_applies_queries_and_is_refused() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let resources: Vec<Value> = hub
        .department("approval-bureau")?
        .get(format!("{}/v1/catalog/resources", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    let code_of = |library: &str| {
        resources
            .iter()
            .find(|r| r["base_library"] == library)
            .and_then(|r| r["code"].as_str())
            .map(str::to_owned)
            .expect("a base library resource")
    };
    let population = code_of("population");
    let credit = code_of("credit_record");

    let browser = Browser::open(&hub, "department", &[]).await?;
    browser
        .sign_in("consumer", &hub.password("consumer")?)
        .await?;
    let menu = browser.menu().await?;
    for wanted in ["/console/catalog", "/console/grants", "/console/query"] {
        assert!(menu.iter().any(|m| m == wanted), "{wanted} in {menu:?}");
    }
    assert!(
        !menu
            .iter()
            .any(|m| m == "/console/verify" || m == "/console/audit")
    );

    // The catalogue, and a search by an item's column.
    browser.goto("/console/catalog").await?;
    assert_eq!(browser.count("#resources tr[data-code]").await?, 3);
    browser.shot("catalogue").await?;
    browser.fill("#catalog-q", "marital_status_code").await?;
    browser
        .submit("form.search button[type=submit]", "#resources")
        .await?;
    assert_eq!(
        browser.texts("#resources tr[data-code]").await?.len(),
        1,
        "only the population library has the item"
    );
    browser.shot("catalogue-search").await?;
    browser
        .submit("#resources tr[data-code] a", "#metadata")
        .await?;
    assert!(browser.count("#items tr[data-column]").await? >= 10);
    assert!(
        browser
            .text("#items tr[data-column=marital_status_code]")
            .await?
            .contains("有条件共享")
    );
    assert_eq!(
        browser.count("#snapshots tr").await?,
        2,
        "a header and snapshot v1"
    );
    browser.shot("resource").await?;

    // Marital status is conditional and the bureau's grants do not serve this matter.
    run_query(&browser, "BDC-2026-0001").await?;
    let refused = browser
        .attr("#result .alert.error", "data-code")
        .await?
        .unwrap_or_default();
    assert!(refused.starts_with("query."), "{refused}");
    assert!(browser.text("#result").await?.contains("审计"));
    browser.shot("refused-query").await?;

    let approved_id = apply(
        &browser,
        &population,
        &["citizen_id", "name", "marital_status_code"],
        "核验不动产转移登记当事人的婚姻状况",
    )
    .await?;
    browser.shot("applied").await?;
    let rejected_id = apply(&browser, &credit, &["content"], "了解处罚决定内容").await?;
    assert_eq!(
        browser
            .attr(
                &format!("#requests tr[data-request='{approved_id}']"),
                "data-status"
            )
            .await?
            .as_deref(),
        Some("pending")
    );
    browser.sign_out().await?;

    // The population library's provider decides one; the credit office's is not theirs.
    browser
        .sign_in("provider", &hub.password("provider")?)
        .await?;
    browser.goto("/console/grants").await?;
    let row = format!("#requests tr[data-request='{approved_id}']");
    assert_eq!(
        browser
            .count(&format!("#requests tr[data-request='{rejected_id}'] form"))
            .await?,
        0,
        "a provider decides only applications for its own resources"
    );
    browser
        .fill(
            &format!("{row} form.approve input[name=note]"),
            "同意，限本事项",
        )
        .await?;
    browser
        .fill(&format!("{row} form.approve input[name=row_cap]"), "100")
        .await?;
    browser.shot("provider-pending").await?;
    browser
        .submit(&format!("{row} form.approve button"), ".alert.ok")
        .await?;
    assert_eq!(
        browser.attr(&row, "data-status").await?.as_deref(),
        Some("approved")
    );
    browser.shot("provider-approved").await?;
    browser.sign_out().await?;

    // The credit office's data administrator rejects the other (signed in as a person of
    // that department, created for this test).
    let admin = hub.token("admin").await?;
    let created = hub
        .anonymous()?
        .post(format!("{}/v1/users", hub.base()))
        .bearer_auth(&admin)
        .json(&json!({"username": "credit-admin", "display_name": "信用办数据管理员", "department": "credit-office",
                      "roles": ["provider"], "password": "correct horse battery"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    browser
        .sign_in("credit-admin", "correct horse battery")
        .await?;
    browser.goto("/console/grants").await?;
    let row = format!("#requests tr[data-request='{rejected_id}']");
    browser
        .fill(
            &format!("{row} form.reject input[name=note]"),
            "决定内容不属于本事项所需",
        )
        .await?;
    browser
        .submit(&format!("{row} form.reject button"), ".alert.ok")
        .await?;
    assert_eq!(
        browser.attr(&row, "data-status").await?.as_deref(),
        Some("rejected")
    );
    browser.shot("provider-rejected").await?;
    browser.sign_out().await?;

    // With the grant, the same query answers, and downloads as CSV and Arrow.
    browser
        .sign_in("consumer", &hub.password("consumer")?)
        .await?;
    run_query(&browser, "BDC-2026-0002").await?;
    assert_eq!(browser.text("#row-count").await?, "5");
    let header = browser.texts("#results tr:first-child th").await?;
    assert_eq!(header, ["citizen_id", "name", "marital_status_code"]);
    browser.shot("query-result").await?;
    let download = |format: &'static str| {
        let script = "const form = document.querySelector(`form.download[data-format='${arguments[0]}']`);
             const response = await fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form))});
             const bytes = new Uint8Array(await response.arrayBuffer());
             let binary = ''; for (const b of bytes) binary += String.fromCharCode(b);
             return {status: response.status, type: response.headers.get('content-type'),
                     disposition: response.headers.get('content-disposition'), body: btoa(binary)};";
        browser.run(script, vec![json!(format)])
    };
    let csv = download("csv").await?;
    assert_eq!(csv["status"], 200, "{csv}");
    assert!(
        csv["disposition"]
            .as_str()
            .unwrap_or_default()
            .contains(".csv")
    );
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(csv["body"].as_str().unwrap_or_default())?,
    )?;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "citizen_id,name,marital_status_code");
    assert_eq!(lines.len(), 6);
    let arrow = download("arrow").await?;
    assert_eq!(arrow["type"], "application/vnd.apache.arrow.stream");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(arrow["body"].as_str().unwrap_or_default())?;
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let batches: Vec<_> = reader.collect::<Result<_, _>>()?;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    assert_eq!(batches[0].num_columns(), 3);
    browser.close().await?;

    // The refusal and the three runs (table, CSV, Arrow) are the consumer's access records.
    let store = Store::connect(hub.config.store.url.expose(), 1).await?;
    let entries = store.log_entries(&LogFilter::default(), 1000).await?;
    let by = |action: &str| {
        entries
            .iter()
            .filter(|e| e.actor == "consumer" && e.action == action)
            .count()
    };
    assert_eq!(by("query_refused"), 1);
    assert_eq!(by("query_executed"), 3);
    Ok(())
}
