//! Authentication, error bodies and limits of the HTTPS gateway.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_tests::{TestHub, client, error_code};

#[tokio::test]
async fn healthz_needs_no_authentication_and_v1_always_does() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let anon = hub.anonymous()?;
    let health = anon.get(format!("{}/healthz", hub.base())).send().await?;
    assert_eq!(health.status(), StatusCode::OK);

    for path in [
        "/v1/catalog/resources",
        "/v1/catalog/dcat",
        "/v1/me",
        "/v1/departments",
        "/v1/users",
        "/v1/no/such/route",
    ] {
        let response = anon.get(format!("{}{path}", hub.base())).send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(error_code(response).await?, "auth.required", "{path}");
    }
    let posted = anon
        .post(format!(
            "{}/v1/catalog/resources/101001-000001/snapshots",
            hub.base()
        ))
        .body("x")
        .send()
        .await?;
    assert_eq!(posted.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn department_certificates_map_to_their_department() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    for dept in [
        "public-security",
        "market-regulation",
        "credit-office",
        "health-commission",
        "civil-affairs",
        "real-estate",
        "approval-bureau",
        "supervision",
    ] {
        let me: Value = hub
            .department(dept)?
            .get(format!("{}/v1/me", hub.base()))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(me["department"], dept);
        assert_eq!(me["credential"]["method"], "certificate");
    }
    let me: Value = hub
        .department("approval-bureau")?
        .get(format!("{}/v1/me", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["roles"], json!(["consumer", "clerk"]));
    Ok(())
}

#[tokio::test]
async fn foreign_and_unregistered_certificates_are_refused() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    // A certificate from another CA fails the TLS handshake.
    let other = tempfile::tempdir()?;
    let other_pki = tongban_gateway::pki::PkiPaths::new(other.path());
    tongban_gateway::pki::ensure_ca_and_server(&other_pki, &[], time::OffsetDateTime::now_utc())?;
    tongban_gateway::pki::issue_client(
        &other_pki,
        "approval-bureau",
        "冒充",
        time::OffsetDateTime::now_utc(),
    )?;
    let foreign = client(
        &hub.pki().ca_cert(),
        Some((
            &other_pki.client_cert("approval-bureau"),
            &other_pki.client_key("approval-bureau"),
        )),
    )?;
    let attempt = foreign.get(format!("{}/v1/me", hub.base())).send().await;
    assert!(
        attempt.is_err(),
        "a foreign certificate must not complete the handshake"
    );

    // A certificate the hub's CA signed but the hub never registered is refused by the store.
    let pki = hub.pki();
    tongban_gateway::pki::issue_client(
        &pki,
        "rogue",
        "未登记部门",
        time::OffsetDateTime::now_utc(),
    )?;
    let rogue = client(
        &pki.ca_cert(),
        Some((&pki.client_cert("rogue"), &pki.client_key("rogue"))),
    )?;
    let response = rogue.get(format!("{}/v1/me", hub.base())).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(response).await?, "auth.unknown_certificate");
    Ok(())
}

#[tokio::test]
async fn people_sign_in_with_passwords_and_use_bearer_tokens() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let anon = hub.anonymous()?;
    let login = format!("{}/v1/auth/login", hub.base());

    for (username, password) in [
        ("auditor", "wrong password!"),
        ("nobody", "whatever-password"),
    ] {
        let response = anon
            .post(&login)
            .json(&json!({"username": username, "password": password}))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(response).await?, "auth.invalid_credentials");
    }

    let token = hub.token("auditor").await?;
    let me: Value = anon
        .get(format!("{}/v1/me", hub.base()))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["department"], "supervision");
    assert_eq!(me["roles"], json!(["auditor"]));
    assert_eq!(me["credential"]["username"], "auditor");

    // Roles decide: an auditor may not list users, the admin may.
    let users = anon
        .get(format!("{}/v1/users", hub.base()))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(users.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(users).await?, "auth.forbidden");
    let admin = hub.token("admin").await?;
    let users: Value = anon
        .get(format!("{}/v1/users", hub.base()))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    assert!(users.as_array().is_some_and(|u| u.len() >= 6));

    let out = anon
        .post(format!("{}/v1/auth/logout", hub.base()))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let after = anon
        .get(format!("{}/v1/me", hub.base()))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(after).await?, "auth.invalid_token");

    for forged in [
        "Bearer ",
        "Bearer AAAA",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer ' OR 1=1 --",
    ] {
        let response = anon
            .get(format!("{}/v1/me", hub.base()))
            .header("authorization", forged)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forged}");
        assert_eq!(
            error_code(response).await?,
            "auth.invalid_token",
            "{forged}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn admins_create_accounts_within_the_department_roles() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let admin = hub.token("admin").await?;
    let anon = hub.anonymous()?;
    let users = format!("{}/v1/users", hub.base());
    let create = |body: Value| anon.post(&users).bearer_auth(&admin).json(&body).send();

    let ok = create(json!({"username": "clerk2", "display_name": "窗口二", "department": "approval-bureau", "roles": ["clerk"], "password": "a long enough password"})).await?;
    assert_eq!(ok.status(), StatusCode::CREATED);
    let again = create(json!({"username": "clerk2", "display_name": "窗口二", "department": "approval-bureau", "roles": ["clerk"], "password": "a long enough password"})).await?;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(again).await?, "request.conflict");
    let beyond = create(json!({"username": "clerk3", "display_name": "越权", "department": "approval-bureau", "roles": ["issuer"], "password": "a long enough password"})).await?;
    assert_eq!(beyond.status(), StatusCode::BAD_REQUEST);
    let unknown_role = create(json!({"username": "x", "display_name": "x", "department": "approval-bureau", "roles": ["overlord"], "password": "a long enough password"})).await?;
    assert_eq!(unknown_role.status(), StatusCode::BAD_REQUEST);
    let weak = create(json!({"username": "clerk4", "display_name": "弱", "department": "approval-bureau", "roles": ["clerk"], "password": "short"})).await?;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);

    let signed_in = anon
        .post(format!("{}/v1/auth/login", hub.base()))
        .json(&json!({"username": "clerk2", "password": "a long enough password"}))
        .send()
        .await?;
    assert_eq!(signed_in.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_stable_codes() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let anon = hub.anonymous()?;
    let dept = hub.department("approval-bureau")?;
    let login = format!("{}/v1/auth/login", hub.base());

    let huge = "x".repeat(1 << 20);
    let response = anon
        .post(&login)
        .json(&json!({"username": "admin", "password": huge}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await?, "request.body_too_large");

    let response = anon
        .post(&login)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await?, "request.invalid");

    let response = anon.post(&login).body("username=admin").send().await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(response).await?, "request.media_type");

    let response = anon
        .post(&login)
        .json(&json!({"username": "admin", "password": "x", "role": "admin"}))
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );

    let response = dept
        .get(format!("{}/v1/no/such/route", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await?, "request.no_route");

    let response = anon.get(format!("{}/nowhere", hub.base())).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await?, "request.no_route");

    let response = dept
        .delete(format!("{}/v1/catalog/resources", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(response).await?, "request.method_not_allowed");

    let response = dept
        .get(format!("{}/v1/catalog/resources/not-a-code", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await?, "catalog.invalid_code");

    // Path parameters of the wrong type, and a raw upload over its limit.
    let response = dept
        .post(format!("{}/v1/grant-requests/abc/approve", hub.base()))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await?, "request.invalid_path");
    let response = dept
        .get(format!(
            "{}/v1/licences/status-lists/market-regulation/one",
            hub.base()
        ))
        .send()
        .await?;
    assert_eq!(error_code(response).await?, "request.invalid_path");
    let response = dept
        .post(format!(
            "{}/v1/licences/verify?matter=enterprise-opening&case_id=1&legal_basis=x",
            hub.base()
        ))
        .header("content-type", "image/png")
        .body(vec![0u8; 9 << 20])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await?, "request.body_too_large");
    let response = dept
        .post(format!(
            "{}/v1/licences/verify?matter=enterprise-opening&case_id=1&legal_basis=x",
            hub.base()
        ))
        .header("content-type", "image/png")
        .body(vec![0u8; 1000])
        .send()
        .await?;
    let body: serde_json::Value = response.json().await?;
    assert_eq!(body["valid"], false);
    assert_eq!(body["code"], "licence.image_invalid", "{body}");
    Ok(())
}

#[tokio::test]
async fn plain_http_is_not_served() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", hub.addr))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    Ok(())
}

/// A client address over its request rate is answered `429 request.too_many` at once, and
/// other addresses are served as before.
#[tokio::test]
async fn a_client_over_its_rate_is_refused_and_others_are_not() -> anyhow::Result<()> {
    let hub = TestHub::configured(0, |config| {
        config.limits.requests_per_second = 2;
        config.limits.request_burst = 5;
    })
    .await?;
    let anon = hub.anonymous()?;
    let (mut served, mut refused) = (0, 0);
    for _ in 0..12 {
        let response = anon.get(format!("{}/healthz", hub.base())).send().await?;
        match response.status() {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(error_code(response).await?, "request.too_many");
                refused += 1;
            }
            other => anyhow::bail!("unexpected {other}"),
        }
    }
    // The burst of five, and whatever refilled at two a second while the loop ran.
    assert!((5..12).contains(&served), "{served} served");
    assert!(refused > 0, "none refused");

    let ca = std::fs::read(hub.pki().ca_cert())?;
    let other = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()?;
    let response = other.get(format!("{}/healthz", hub.base())).send().await?;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another address has its own budget"
    );
    Ok(())
}
