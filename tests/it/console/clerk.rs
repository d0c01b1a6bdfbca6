//! The clerk at the window: verify e-licences by pasted token, by a photo of the QR code,
//! and with the device camera, and see genuine, suspended, revoked, expired and forged
//! licences for what they are, with only the disclosed fields.

use base64::Engine as _;
use serde_json::{Value, json};
use tongban_certs::{
    Alg, Holder, IssueRequest, Issuer, LicenceType, Limits, SigningKey, StatusRef,
};
use tongban_gateway::store::{KeyRecord, LogFilter, Store};
use tongban_tests::TestHub;

use super::browser::Browser;
use super::{an_entity, business_face, issue_business_licence};

const YEAR: i64 = 365 * 86_400;

/// Chromium's fake camera plays a Y4M file: a 1280×720 frame (4:2:0, limited-range luma)
/// showing `png` (a QR code) scaled up in the middle of a white page.
fn camera_video(png: &[u8], path: &std::path::Path) -> anyhow::Result<()> {
    let (width, height) = (1280u32, 720u32);
    let qr = image::load_from_memory(png)?.to_luma8();
    // An integer scale keeps every module the same size, as a real camera close up would.
    let factor = (height - 40) / qr.height().max(1);
    anyhow::ensure!(factor >= 1, "the QR image is larger than the camera frame");
    let side = qr.height() * factor;
    let qr = image::imageops::resize(&qr, side, side, image::imageops::FilterType::Nearest);
    let (left, top) = ((width - side) / 2, (height - side) / 2);
    let mut luma = vec![235u8; (width * height) as usize];
    for (x, y, pixel) in qr.enumerate_pixels() {
        let dark = pixel.0[0] < 128;
        luma[((top + y) * width + left + x) as usize] = if dark { 16 } else { 235 };
    }
    let mut file =
        format!("YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\nFRAME\n").into_bytes();
    file.extend_from_slice(&luma);
    file.extend(std::iter::repeat_n(128u8, (width * height / 2) as usize));
    std::fs::write(path, file)?;
    Ok(())
}

/// Flips one character of the signed payload.
fn tamper(token: &str) -> String {
    let mut forged = token.to_owned();
    let at = forged.find('.').expect("a JWS has dots") + 7;
    let flipped = if &forged[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, flipped);
    forged
}

async fn set_status(hub: &TestHub, id: &str, action: &str) -> anyhow::Result<()> {
    let response = hub
        .department("market-regulation")?
        .post(format!("{}/v1/licences/{id}/{action}", hub.base()))
        .json(&json!({"reason": "核查中"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "{action}: {}", response.status());
    Ok(())
}

/// Verifies `token` on the page and answers the verdict shown.
async fn verify_token(browser: &Browser, token: &str, case: &str) -> anyhow::Result<String> {
    browser.goto("/console/verify").await?;
    browser
        .client()
        .execute(
            "document.querySelector('#token-form textarea[name=token]').value = arguments[0];",
            vec![json!(token)],
        )
        .await?;
    browser
        .fill("#token-form input[name=case_id]", case)
        .await?;
    browser
        .fill(
            "#token-form input[name=legal_basis]",
            "《优化营商环境条例》",
        )
        .await?;
    browser
        .submit("#token-form button[type=submit]", "#verdict")
        .await?;
    Ok(browser
        .attr("#verdict", "data-verdict")
        .await?
        .unwrap_or_default())
}

#[tokio::test]
async fn clerk_verifies_licences_by_token_photo_and_camera() -> anyhow::Result<()> {
    // The market regulator's key has been in service for three years, so a licence it
    // signed two years ago, ending last year, can be shown: an expired licence.
    let key = SigningKey::generate(Alg::Es256)?;
    let jwk = key.to_private_jwk_json();
    let now = chrono::Utc::now().timestamp();
    let hub = TestHub::with_data_prepared(300, |_, config| async move {
        let store = Store::connect(config.store.url.expose(), 1).await?;
        let kid = SigningKey::from_private_jwk_json(&jwk)?.kid().to_owned();
        store
            .insert_licence_key(&KeyRecord {
                kid,
                department: "market-regulation".into(),
                alg: "ES256".into(),
                private_jwk: jwk,
                licence_types: "business-licence,food-business-licence".into(),
                anchor: false,
                issue_from: now - 3 * YEAR,
                issue_until: None,
            })
            .await?;
        store.close().await;
        Ok(())
    })
    .await?;

    let genuine = issue_business_licence(&hub).await?;
    let token = genuine["token"].as_str().expect("token").to_owned();
    let presented = tongban_certs::present(&token, &["name", "uscc"], None, &Limits::default())?;
    let suspended = issue_business_licence(&hub).await?;
    set_status(&hub, suspended["id"].as_str().expect("id"), "suspend").await?;
    let revoked = issue_business_licence(&hub).await?;
    set_status(&hub, revoked["id"].as_str().expect("id"), "revoke").await?;
    let (uscc, name) = an_entity(&hub).await?;
    let day = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .expect("a time")
            .format("%Y-%m-%d")
            .to_string()
    };
    let face: Value = business_face(&uscc, &name, &day(now - 3 * YEAR), &day(now - YEAR));
    let expired = tongban_certs::issue(
        &IssueRequest {
            licence_type: LicenceType::BusinessLicence,
            holder: Holder::parse("001", &uscc)?,
            face: serde_json::from_value(face)?,
            status: StatusRef {
                list: 1,
                idx: 60_000,
                uri: format!(
                    "{}/v1/licences/status-lists/market-regulation/1",
                    hub.base()
                ),
            },
            version: 1,
            holder_key: None,
        },
        &Issuer {
            department: "market-regulation",
            uscc: &tongban_gateway::seed::department_uscc(1)?,
            key: &key,
        },
        now - 2 * YEAR,
    )?;

    let files = tempfile::tempdir()?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(genuine["qr"]["png_base64"].as_str().expect("png"))?;
    let photo = files.path().join("licence-qr.png");
    std::fs::write(&photo, &png)?;
    let video = files.path().join("camera.y4m");
    camera_video(&png, &video)?;

    let browser = Browser::open(
        &hub,
        "clerk",
        &[
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            format!("--use-file-for-fake-video-capture={}", video.display()),
        ],
    )
    .await?;
    browser.sign_in("clerk", &hub.password("clerk")?).await?;
    let menu = browser.menu().await?;
    for wanted in ["/console/verify", "/console/matters", "/console/query"] {
        assert!(menu.iter().any(|m| m == wanted), "{wanted} in {menu:?}");
    }
    for unwanted in ["/console/audit", "/console/licences", "/console/users"] {
        assert!(
            !menu.iter().any(|m| m == unwanted),
            "{unwanted} in {menu:?}"
        );
    }
    browser.shot("home").await?;

    // The holder disclosed two fields: the page shows those two and nothing else.
    assert_eq!(
        verify_token(&browser, &presented, "W-2026-0101").await?,
        "genuine"
    );
    let fields: Vec<String> = {
        let mut out = Vec::new();
        for row in browser
            .client()
            .find_all(fantoccini::Locator::Css("#disclosed tr"))
            .await?
        {
            out.push(row.attr("data-field").await?.unwrap_or_default());
        }
        out.sort();
        out
    };
    assert_eq!(fields, ["name", "uscc"]);
    assert!(browser.text("#disclosed").await?.contains(&name));
    assert!(browser.text("#disclosed").await?.contains("名称"));
    browser.shot("genuine-token").await?;

    assert_eq!(
        verify_token(
            &browser,
            suspended["token"].as_str().expect("token"),
            "W-2026-0102"
        )
        .await?,
        "suspended"
    );
    assert!(browser.text("#reason").await?.contains("licence.suspended"));
    browser.shot("suspended").await?;
    assert_eq!(
        verify_token(
            &browser,
            revoked["token"].as_str().expect("token"),
            "W-2026-0103"
        )
        .await?,
        "revoked"
    );
    browser.shot("revoked").await?;
    assert_eq!(
        verify_token(&browser, &expired.token, "W-2026-0104").await?,
        "expired"
    );
    assert!(browser.text("#reason").await?.contains("licence.expired"));
    browser.shot("expired").await?;
    assert_eq!(
        verify_token(&browser, &tamper(&token), "W-2026-0105").await?,
        "forged"
    );
    assert_eq!(
        browser.count("#disclosed").await?,
        0,
        "nothing of a forged licence is shown"
    );
    browser.shot("forged").await?;

    // A photo of the QR code, uploaded.
    browser.goto("/console/verify").await?;
    browser
        .fill("#photo-form input[name=case_id]", "W-2026-0106")
        .await?;
    browser
        .fill(
            "#photo-form input[name=legal_basis]",
            "《优化营商环境条例》",
        )
        .await?;
    browser
        .wait("#photo")
        .await?
        .send_keys(&photo.display().to_string())
        .await?;
    browser
        .submit("#photo-form button[type=submit]", "#verdict")
        .await?;
    assert_eq!(
        browser.attr("#verdict", "data-verdict").await?.as_deref(),
        Some("genuine")
    );
    assert_eq!(
        browser.count("#disclosed tr").await?,
        12,
        "the full token discloses every field"
    );
    browser.shot("genuine-qr-photo").await?;

    // The device camera, pointed at the same QR code.
    browser.goto("/console/verify").await?;
    browser
        .fill("#photo-form input[name=case_id]", "W-2026-0107")
        .await?;
    browser
        .fill(
            "#photo-form input[name=legal_basis]",
            "《优化营商环境条例》",
        )
        .await?;
    browser.click("#camera-start").await?;
    browser.wait("#camera-capture:not([disabled])").await?;
    browser.shot("camera").await?;
    browser.submit("#camera-capture", "#verdict").await?;
    assert_eq!(
        browser.attr("#verdict", "data-verdict").await?.as_deref(),
        Some("genuine")
    );
    browser.shot("genuine-camera").await?;

    // The matters page answers (its journey is tested with the resolution service).
    browser.goto("/console/matters").await?;
    browser.wait("main h1").await?;
    assert_eq!(browser.count(".alert.error").await?, 0);
    browser.close().await?;

    // Every check is an access record; the photo and the camera frame went in as images.
    let store = Store::connect(hub.config.store.url.expose(), 1).await?;
    let entries = store
        .log_entries(
            &LogFilter {
                action: Some("licence_verified".into()),
                ..LogFilter::default()
            },
            100,
        )
        .await?;
    let via_image = entries
        .iter()
        .filter(|e| {
            e.entry
                .as_deref()
                .is_some_and(|b| b.contains("\"via\":\"qr_image\""))
        })
        .count();
    assert_eq!(entries.len(), 7);
    assert_eq!(via_image, 2);
    assert!(entries.iter().all(|e| e.actor == "clerk"));
    Ok(())
}
