//! The grant workflow over HTTPS: apply, approve with masks, query, revoke; reject; every
//! change recorded.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_tests::{TestHub, error_code};

async fn query_rep_ids(hub: &TestHub) -> anyhow::Result<(StatusCode, Value)> {
    let response = hub
        .department("public-security")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({
            "sql": "SELECT uscc, legal_rep_id_number FROM legal_entity ORDER BY uscc LIMIT 3",
            "purpose": {"matter": "enterprise-opening", "case_id": "GA-2026-7", "legal_basis": "《公司登记管理条例》"}
        }))
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

#[tokio::test]
async fn consumers_apply_providers_decide_and_revocation_takes_effect() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let store = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    let consumer = hub.department("public-security")?;
    let provider = hub.department("market-regulation")?;
    let other = hub.department("credit-office")?;
    let base = hub.base();

    let (status, body) = query_rep_ids(&hub).await?;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "conditional item without a grant: {body}"
    );

    let application = json!({
        "resource": "legal_entity",
        "columns": ["uscc", "name", "legal_rep_id_number"],
        "matters": ["enterprise-opening"],
        "reason": "核验法定代表人身份",
        "legal_basis": "《公司登记管理条例》"
    });
    let before = store.audit_count().await?;
    let filed = consumer
        .post(format!("{base}/v1/grant-requests"))
        .json(&application)
        .send()
        .await?;
    assert_eq!(filed.status(), StatusCode::CREATED);
    let id = filed.json::<Value>().await?["id"]
        .as_i64()
        .expect("request id");

    let wrong = other
        .post(format!("{base}/v1/grant-requests/{id}/approve"))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(wrong).await?, "auth.not_provider");
    let bad_filter = provider
        .post(format!("{base}/v1/grant-requests/{id}/approve"))
        .json(&json!({"row_filter": "status = = '存续'"}))
        .send()
        .await?;
    assert_eq!(bad_filter.status(), StatusCode::BAD_REQUEST);

    let approved = provider
        .post(format!("{base}/v1/grant-requests/{id}/approve"))
        .json(&json!({"note": "同意", "masks": {"legal_rep_id_number": {"kind": "keep_ends", "prefix": 6, "suffix": 4}}, "row_filter": "status = '存续'"}))
        .send()
        .await?;
    assert_eq!(approved.status(), StatusCode::CREATED);
    let grant = approved.json::<Value>().await?["grant"]
        .as_i64()
        .expect("grant id");
    let again = provider
        .post(format!("{base}/v1/grant-requests/{id}/approve"))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let (status, body) = query_rep_ids(&hub).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    for row in body["rows"].as_array().expect("rows") {
        let id = row[1].as_str().expect("text");
        assert_eq!(id.chars().count(), 14, "masked as 6 + **** + 4: {id}");
        assert!(id.contains("****"));
    }

    let revoked = provider
        .delete(format!("{base}/v1/grants/{grant}"))
        .send()
        .await?;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (status, _) = query_rep_ids(&hub).await?;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "revocation takes effect at once"
    );

    let second = consumer
        .post(format!("{base}/v1/grant-requests"))
        .json(&application)
        .send()
        .await?;
    let second = second.json::<Value>().await?["id"]
        .as_i64()
        .expect("request id");
    let empty_note = provider
        .post(format!("{base}/v1/grant-requests/{second}/reject"))
        .json(&json!({"note": " "}))
        .send()
        .await?;
    assert_eq!(empty_note.status(), StatusCode::BAD_REQUEST);
    let rejected = provider
        .post(format!("{base}/v1/grant-requests/{second}/reject"))
        .json(&json!({"note": "用途不明确"}))
        .send()
        .await?;
    assert_eq!(rejected.status(), StatusCode::OK);

    // requested, approved, query, revoked, query, requested, rejected.
    assert_eq!(
        store.audit_count().await? - before,
        7,
        "every grant change and query is recorded"
    );

    let listed: Value = consumer
        .get(format!("{base}/v1/grant-requests"))
        .send()
        .await?
        .json()
        .await?;
    let statuses: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["rejected", "approved"]);
    let grants: Value = consumer
        .get(format!("{base}/v1/grants"))
        .send()
        .await?
        .json()
        .await?;
    assert!(grants["grants"][0]["revoked_at"].is_i64());
    assert!(grants["implied"].as_array().is_some_and(|g| g.len() == 3));
    Ok(())
}

#[tokio::test]
async fn applications_are_checked() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let base = hub.base();
    let consumer = hub.department("approval-bureau")?;
    let apply = |body: Value| {
        consumer
            .post(format!("{base}/v1/grant-requests"))
            .json(&body)
            .send()
    };
    let ok = json!({"resource": "population", "columns": ["residence_address"], "matters": ["birth-registration"], "reason": "出生一件事", "legal_basis": "《母婴保健法》"});
    for (field, value) in [
        ("columns", json!(["shoe_size"])),
        ("matters", json!(["fishing"])),
        ("resource", json!("nowhere")),
        ("reason", json!("")),
    ] {
        let mut body = ok.clone();
        body[field] = value;
        let response = apply(body).await?;
        assert!(
            response.status().is_client_error(),
            "{field}: {}",
            response.status()
        );
    }
    assert_eq!(apply(ok.clone()).await?.status(), StatusCode::CREATED);
    let issuer_only = hub
        .department("civil-affairs")?
        .post(format!("{base}/v1/grant-requests"))
        .json(&ok)
        .send()
        .await?;
    assert_eq!(
        issuer_only.status(),
        StatusCode::FORBIDDEN,
        "only consumer departments apply"
    );
    Ok(())
}
