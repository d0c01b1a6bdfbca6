//! E-licences over HTTPS: issue, verify (token and QR photo), selective disclosure, suspend,
//! reinstate and revoke, offline verification from the published lists, and the audit trail.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_certs::{Limits, StatusLists, TrustStore, VerifiedStatusList, VerifyPolicy};
use tongban_tests::{TestHub, error_code};

fn purpose() -> Value {
    json!({"matter": "food-business-licence", "case_id": "W-0001", "legal_basis": "《食品经营许可和备案管理办法》"})
}

async fn an_entity(hub: &TestHub) -> anyhow::Result<(String, String)> {
    let response = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({
            "sql": "SELECT uscc, name FROM legal_entity ORDER BY uscc LIMIT 1",
            "purpose": {"matter": "enterprise-opening", "case_id": "W-0000", "legal_basis": "test"}
        }))
        .send()
        .await?;
    let body: Value = response.json().await?;
    Ok((
        body["rows"][0][0].as_str().expect("uscc").to_owned(),
        body["rows"][0][1].as_str().expect("name").to_owned(),
    ))
}

fn business_face(uscc: &str, name: &str) -> Value {
    json!({
        "uscc": uscc, "name": name, "entity_type": "有限责任公司", "legal_rep_name": "张三",
        "registered_capital": "100.5", "established_date": "2020-01-02", "term_from": "2020-01-02",
        "term_to": "长期", "address": "河北省廊坊市广阳区示例路1号",
        "business_scope": "技术开发、技术服务", "registration_authority": "廊坊市市场监督管理局",
        "issue_date": "2020-01-02"
    })
}

async fn verify(hub: &TestHub, token: &str) -> anyhow::Result<Value> {
    let response = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/licences/verify", hub.base()))
        .json(&json!({"token": token, "purpose": purpose()}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    Ok(response.json().await?)
}

async fn set_status(hub: &TestHub, id: &str, action: &str) -> anyhow::Result<reqwest::Response> {
    Ok(hub
        .department("market-regulation")?
        .post(format!("{}/v1/licences/{id}/{action}", hub.base()))
        .json(&json!({"reason": "核查中"}))
        .send()
        .await?)
}

#[tokio::test]
async fn licences_are_issued_verified_disclosed_and_revoked() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let (uscc, name) = an_entity(&hub).await?;
    let issuer = hub.department("market-regulation")?;
    let response = issuer
        .post(format!("{}/v1/licences", hub.base()))
        .json(&json!({"type": "business-licence", "holder": {"type": "001", "id": uscc}, "face": business_face(&uscc, &name)}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let issued: Value = response.json().await?;
    let id = issued["id"].as_str().expect("id").to_owned();
    let token = issued["token"].as_str().expect("token").to_owned();
    tongban_schemas::LicenceId::parse(&id)?;
    assert!(issued["qr"]["svg"].as_str().expect("svg").contains("<svg"));

    // Online, the whole token: every field disclosed.
    let verified = verify(&hub, &token).await?;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["licence"]["id"], id);
    assert_eq!(verified["licence"]["disclosed"]["name"], name);
    assert_eq!(
        verified["licence"]["disclosed"]
            .as_object()
            .expect("fields")
            .len(),
        12
    );

    // The holder presents only what the matter needs.
    let presented = tongban_certs::present(&token, &["name", "uscc"], None, &Limits::default())?;
    let verified = verify(&hub, &presented).await?;
    assert_eq!(verified["valid"], true, "{verified}");
    let disclosed = verified["licence"]["disclosed"]
        .as_object()
        .expect("fields");
    assert_eq!(disclosed.len(), 2);
    assert!(disclosed.contains_key("name") && !disclosed.contains_key("address"));

    // A photo of the QR code.
    let png = base64::engine::general_purpose::STANDARD
        .decode(issued["qr"]["png_base64"].as_str().expect("png"))?;
    let response = hub
        .department("approval-bureau")?
        .post(format!(
            "{}/v1/licences/verify?matter=food-business-licence&case_id=W-0002&legal_basis=test",
            hub.base()
        ))
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await?;
    let from_photo: Value = response.json().await?;
    assert_eq!(from_photo["valid"], true, "{from_photo}");

    // Tampering, and garbage.
    let mut tampered = token.clone();
    let at = tampered.find('.').expect("a dot") + 5;
    let flipped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, flipped);
    let refused = verify(&hub, &tampered).await?;
    assert_eq!(refused["valid"], false);
    assert!(
        refused["code"]
            .as_str()
            .expect("code")
            .starts_with("licence.")
    );
    let refused = verify(&hub, "not a licence").await?;
    assert_eq!(refused["valid"], false);

    // Suspend, reinstate, revoke: each takes effect at once.
    assert_eq!(
        set_status(&hub, &id, "suspend").await?.status(),
        StatusCode::OK
    );
    assert_eq!(verify(&hub, &token).await?["code"], "licence.suspended");
    assert_eq!(
        set_status(&hub, &id, "reinstate").await?.status(),
        StatusCode::OK
    );
    assert_eq!(verify(&hub, &token).await?["valid"], true);
    // Offline verifiers download the trust list and the status list while it is valid.
    let any = hub.department("approval-bureau")?;
    let trust: Value = any
        .get(format!("{}/v1/licences/trust-list", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    let anchor = tongban_certs::VerifyingKey::from_jwk(trust["anchor"].as_object().expect("jwk"))?;
    let store = TrustStore::from_token(
        trust["trust_list"].as_str().expect("token"),
        &anchor,
        &Limits::default(),
    )?;
    let uri = issued["status"]["uri"].as_str().expect("uri").to_owned();
    let mut lists = StatusLists::new();
    lists.insert(VerifiedStatusList::from_token(
        &fetch_list(&hub, &any, &uri).await?,
        &store,
        Some(&uri),
        &Limits::default(),
    )?);
    let offline_policy = VerifyPolicy {
        max_trust_list_age: Some(3600),
        max_status_list_age: Some(3600),
        ..VerifyPolicy::default()
    };
    let now = chrono::Utc::now().timestamp();
    let offline = tongban_certs::verify(&token, &store, &lists, &offline_policy, now)?;
    assert_eq!(offline.id.as_str(), id);
    // The same through `tongban verify`, from files and the QR photo.
    let files = tempfile::tempdir()?;
    let write = |name: &str, text: String| -> anyhow::Result<std::path::PathBuf> {
        let path = files.path().join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    let anchor_file = write("anchor.jwk", trust["anchor"].to_string())?;
    let trust_file = write("trust.json", trust.to_string())?;
    let list_file = write("status.jwt", fetch_list(&hub, &any, &uri).await?)?;
    let photo = write("qr.png", String::new())?;
    std::fs::write(
        &photo,
        base64::engine::general_purpose::STANDARD
            .decode(issued["qr"]["png_base64"].as_str().expect("png"))?,
    )?;
    let from_files = tongban_gateway::cli::offline_verification(
        None,
        Some(&photo),
        &anchor_file,
        &trust_file,
        std::slice::from_ref(&list_file),
        3600,
    )?;
    assert_eq!(
        from_files.map(|v| v.id.as_str().to_owned()).ok(),
        Some(id.clone())
    );
    // Without the status list the licence cannot be checked, and says so.
    let without = tongban_gateway::cli::offline_verification(
        Some(&token),
        None,
        &anchor_file,
        &trust_file,
        &[],
        3600,
    )?;
    assert!(without.is_err());

    assert_eq!(
        set_status(&hub, &id, "revoke").await?.status(),
        StatusCode::OK
    );
    assert_eq!(verify(&hub, &token).await?["code"], "licence.revoked");
    let response = set_status(&hub, &id, "reinstate").await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await?, "licence.status_change_refused");
    // The newly published list says so offline too.
    let mut lists = StatusLists::new();
    lists.insert(VerifiedStatusList::from_token(
        &fetch_list(&hub, &any, &uri).await?,
        &store,
        Some(&uri),
        &Limits::default(),
    )?);
    let offline = tongban_certs::verify(&token, &store, &lists, &offline_policy, now);
    assert_eq!(offline.err().map(|e| e.code()), Some("licence.revoked"));

    // Every step is in the audit log.
    let db = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    let entries = db
        .log_entries(&tongban_gateway::store::LogFilter::default(), 1000)
        .await?;
    let count = |action: &str| entries.iter().filter(|e| e.action == action).count();
    assert_eq!(count("licence_issued"), 1);
    assert_eq!(count("licence_status_changed"), 3);
    assert_eq!(count("licence_verified"), 8);
    Ok(())
}

/// Downloads the signed status list published at `uri`.
async fn fetch_list(hub: &TestHub, client: &reqwest::Client, uri: &str) -> anyhow::Result<String> {
    let path = uri.split("/v1/").nth(1).expect("a /v1/ URI");
    let body: Value = client
        .get(format!("{}/v1/{path}", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["status_list"].as_str().expect("token").to_owned())
}

#[tokio::test]
async fn only_the_authority_issues_and_only_for_a_known_holder() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let (uscc, name) = an_entity(&hub).await?;
    let issue = |dept: &'static str, body: Value| {
        let client = hub.department(dept);
        let url = format!("{}/v1/licences", hub.base());
        async move { anyhow::Ok(client?.post(url).json(&body).send().await?) }
    };
    let body = json!({"type": "business-licence", "holder": {"type": "001", "id": uscc}, "face": business_face(&uscc, &name)});
    let response = issue("public-security", body.clone()).await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_code(response).await?,
        "licence.issuer_not_authorised_for_type"
    );
    let response = issue("approval-bureau", body).await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A valid USCC that is not in the legal-entity library.
    let absent = "91110000600037341L";
    let response = issue(
        "market-regulation",
        json!({"type": "business-licence", "holder": {"type": "001", "id": absent}, "face": business_face(absent, &name)}),
    )
    .await?;
    assert_eq!(error_code(response).await?, "licence.holder_not_found");
    // A face that breaks its rules.
    let mut face = business_face(&uscc, &name);
    face["established_date"] = json!("2020-13-45");
    let response = issue(
        "market-regulation",
        json!({"type": "business-licence", "holder": {"type": "001", "id": uscc}, "face": face}),
    )
    .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(error_code(response).await?.starts_with("licence."));
    let response = issue(
        "market-regulation",
        json!({"type": "no-such-type", "holder": {"type": "001", "id": uscc}, "face": {}}),
    )
    .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    Ok(())
}
