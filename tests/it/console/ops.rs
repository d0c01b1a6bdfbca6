//! Operator endpoints (liveness, readiness, Prometheus metrics) and the console's session
//! rules, over HTTPS without a browser.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tongban_gateway::store::{LogFilter, Store};
use tongban_tests::TestHub;

use super::{issue_business_licence, query_as};

/// The value of the sample `name{…}` whose labels include every `label="value"` given.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            series
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
                && labels.iter().all(|label| series.contains(label))
        })
        .and_then(|(_, value)| value.parse().ok())
}

async fn scrape(hub: &TestHub) -> anyhow::Result<String> {
    let response = hub
        .anonymous()?
        .get(format!("{}/metrics", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("application/openmetrics-text")
    );
    Ok(response.text().await?)
}

#[tokio::test]
async fn metrics_count_requests_queries_verifications_and_audit_lag() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let anonymous = hub.anonymous()?;
    let live = anonymous
        .get(format!("{}/livez", hub.base()))
        .send()
        .await?;
    assert_eq!(live.status(), StatusCode::OK);
    let ready: Value = anonymous
        .get(format!("{}/readyz", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        ready,
        json!({"status": "ready", "checks": {"store": true, "audit_log": true}})
    );

    let before = scrape(&hub).await?;
    let executed = r#"outcome="executed""#;
    let refused = r#"code="query.statement_not_allowed""#;
    let count = |text: &str, name: &str, labels: &[&str]| sample(text, name, labels).unwrap_or(0.0);

    let (status, _) = query_as(
        &hub,
        "approval-bureau",
        "SELECT name FROM legal_entity LIMIT 1",
        "enterprise-opening",
        "M-1",
    )
    .await?;
    assert_eq!(status, 200);
    let (status, _) = query_as(
        &hub,
        "approval-bureau",
        "DELETE FROM population",
        "enterprise-opening",
        "M-2",
    )
    .await?;
    assert_eq!(status, 400);
    let issued = issue_business_licence(&hub).await?;
    let verified = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/licences/verify", hub.base()))
        .json(&json!({"token": issued["token"], "purpose": super::purpose("enterprise-opening", "M-3")}))
        .send()
        .await?;
    assert_eq!(verified.status(), 200);
    // A path with a citizen ID in it is counted under its template.
    let (citizen, _) = super::a_person(&hub).await?;
    let accesses = hub
        .department("supervision")?
        .get(format!("{}/v1/subjects/{citizen}/accesses", hub.base()))
        .send()
        .await?;
    assert_eq!(accesses.status(), 200);

    let after = scrape(&hub).await?;
    // Three executed queries: M-1, the entity lookup before issuing, the person lookup.
    assert_eq!(
        count(&after, "tongban_queries_total", &[executed])
            - count(&before, "tongban_queries_total", &[executed]),
        3.0
    );
    assert_eq!(
        count(&after, "tongban_queries_total", &[refused])
            - count(&before, "tongban_queries_total", &[refused]),
        1.0
    );
    assert_eq!(
        count(
            &after,
            "tongban_licence_verifications_total",
            &[r#"result="valid""#]
        ) - count(
            &before,
            "tongban_licence_verifications_total",
            &[r#"result="valid""#]
        ),
        1.0
    );
    assert!(
        count(
            &after,
            "tongban_http_requests_total",
            &[r#"route="/v1/query""#, r#"status="200""#]
        ) >= 1.0
    );
    assert!(
        count(
            &after,
            "tongban_http_requests_total",
            &[r#"route="/v1/query""#, r#"status="400""#]
        ) >= 1.0
    );
    assert!(
        sample(
            &after,
            "tongban_http_request_duration_seconds_bucket",
            &[r#"route="/v1/query""#, r#"le="+Inf""#]
        )
        .is_some()
    );
    assert!(sample(&after, "tongban_query_duration_seconds_count", &[executed]).is_some());
    assert!(after.contains(r#"route="/v1/subjects/{id}/accesses""#));
    assert!(
        !after.contains(&citizen),
        "a citizen ID leaked into the metrics"
    );

    let store = Store::connect(hub.config.store.url.expose(), 1).await?;
    let entries = store.log_entries(&LogFilter::default(), 1000).await?.len() as f64;
    assert_eq!(
        sample(&after, "tongban_audit_log_entries", &[]),
        Some(entries)
    );
    let unsigned = sample(&after, "tongban_audit_unsigned_entries", &[]).expect("audit lag");
    assert!((0.0..=entries).contains(&unsigned));
    assert!(sample(&after, "tongban_audit_tree_head_age_seconds", &[]).is_some());
    assert!(
        count(
            &after,
            "tongban_audit_entries_total",
            &[r#"action="licence_issued""#]
        ) >= 1.0
    );
    Ok(())
}

/// A client that trusts the hub and does not follow redirects.
fn browser_like(hub: &TestHub) -> anyhow::Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(hub.pki().ca_cert())?)?;
    Ok(reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn value_of(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

/// The `value` of the hidden `csrf` field of a page.
fn csrf_field(html: &str) -> String {
    let at =
        html.find(r#"name="csrf" value=""#).expect("a CSRF field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn console_sessions_need_the_cookie_and_forms_their_csrf_token() -> anyhow::Result<()> {
    let hub = TestHub::with_data(100).await?;
    let web = browser_like(&hub)?;
    let base = hub.base();

    let anonymous = web.get(format!("{base}/console/query")).send().await?;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/console/login");

    let form = web.get(format!("{base}/console/login")).send().await?;
    assert_eq!(form.status(), StatusCode::OK);
    let csp = form.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let login_cookie = value_of(&cookie(&form, "tb_login").expect("a sign-in cookie"));
    let login_csrf = csrf_field(&form.text().await?);
    assert_eq!(login_csrf, login_cookie);
    let sign_in = |csrf: String, password: String| {
        web.post(format!("{base}/console/login"))
            .header("cookie", format!("tb_login={login_cookie}"))
            .form(&[
                ("csrf", csrf),
                ("username", "consumer".to_owned()),
                ("password", password),
            ])
            .send()
    };
    let forged = sign_in("forged".into(), hub.password("consumer")?).await?;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await?.contains("console.csrf"));
    let wrong = sign_in(login_csrf.clone(), "wrong password".into()).await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await?.contains("auth.invalid_credentials"));
    let signed_in = sign_in(login_csrf, hub.password("consumer")?).await?;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let session = cookie(&signed_in, "tb_session").expect("a session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(attribute), "{session}");
    }
    let session = format!("tb_session={}", value_of(&session));

    let page = web
        .get(format!("{base}/console/query"))
        .header("cookie", &session)
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_field(&page.text().await?);

    // The cookie is not a credential for the API.
    let api = web
        .get(format!("{base}/v1/me"))
        .header("cookie", &session)
        .send()
        .await?;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // A form without the session's CSRF token does nothing, not even an access record.
    let store = Store::connect(hub.config.store.url.expose(), 1).await?;
    let entries = store.log_entries(&LogFilter::default(), 1000).await?.len();
    let query = [
        ("sql", "SELECT name FROM legal_entity LIMIT 1"),
        ("matter", "enterprise-opening"),
        ("case_id", "C-1"),
        ("legal_basis", "test"),
    ];
    let mut forged: Vec<(&str, &str)> = query.to_vec();
    forged.push(("csrf", "0123456789abcdef0123456789abcdef"));
    let refused = web
        .post(format!("{base}/console/query"))
        .header("cookie", &session)
        .form(&forged)
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await?.contains("console.csrf"));
    assert_eq!(
        store.log_entries(&LogFilter::default(), 1000).await?.len(),
        entries
    );
    let mut genuine: Vec<(&str, &str)> = query.to_vec();
    genuine.push(("csrf", &csrf));
    let ran = web
        .post(format!("{base}/console/query"))
        .header("cookie", &session)
        .form(&genuine)
        .send()
        .await?;
    assert_eq!(ran.status(), StatusCode::OK);
    assert!(ran.text().await?.contains("id=\"row-count\""));
    assert_eq!(
        store.log_entries(&LogFilter::default(), 1000).await?.len(),
        entries + 1
    );

    // Bad input is a page with a stable code, never a panic.
    let incomplete = web
        .post(format!("{base}/console/licences/status"))
        .header("cookie", &session)
        .form(&[("id", "1.2.156")])
        .send()
        .await?;
    assert_eq!(incomplete.status(), StatusCode::BAD_REQUEST);
    assert!(incomplete.text().await?.contains("console.invalid_form"));
    let bad_path = web
        .post(format!("{base}/console/grants/not-a-number/approve"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(bad_path.status(), StatusCode::BAD_REQUEST);
    assert!(bad_path.text().await?.contains("request.invalid_path"));
    let bad_rows = web
        .post(format!("{base}/console/query"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("sql", "SELECT 1"),
            ("max_rows", "many"),
        ])
        .send()
        .await?;
    assert_eq!(bad_rows.status(), StatusCode::BAD_REQUEST);
    assert!(bad_rows.text().await?.contains("console.invalid_form"));

    // Signing out ends the session for the API too.
    let out = web
        .post(format!("{base}/console/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(cookie(&out, "tb_session").is_some_and(|c| c.contains("Max-Age=0")));
    let after = web
        .get(format!("{base}/console/query"))
        .header("cookie", &session)
        .send()
        .await?;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    Ok(())
}
