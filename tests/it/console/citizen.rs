//! A citizen: the administrator opens their account in the console, and they see which
//! departments accessed their records, when and why — and nothing an auditor sees.

use tongban_tests::TestHub;

use super::browser::Browser;
use super::{a_person, query_as};

#[tokio::test]
async fn citizen_sees_who_accessed_their_data() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let (citizen_id, _) = a_person(&hub).await?;
    let (status, body) = query_as(
        &hub,
        "real-estate",
        &format!("SELECT citizen_id, name, marital_status_code FROM population WHERE citizen_id = '{citizen_id}'"),
        "real-estate-transfer",
        "BDC-2026-0007",
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["row_count"], 1);

    let browser = Browser::open(&hub, "citizen", &[]).await?;
    browser.sign_in("admin", &hub.password("admin")?).await?;
    browser.goto("/console/users").await?;
    browser
        .fill("#user-form input[name=username]", "zhang-wei")
        .await?;
    browser
        .fill("#user-form input[name=display_name]", "张伟")
        .await?;
    browser
        .select("#user-form select[name=department]", "public")
        .await?;
    browser
        .click("#user-form input[name=roles][value=citizen]")
        .await?;
    browser
        .fill("#user-form input[name=password]", "a long citizen password")
        .await?;
    browser
        .fill("#user-form input[name=subject_id]", &citizen_id)
        .await?;
    browser
        .submit("#user-form button[type=submit]", ".alert.ok")
        .await?;
    assert_eq!(
        browser
            .count("#users tr[data-username='zhang-wei']")
            .await?,
        1
    );
    browser.shot("account-created").await?;
    browser.sign_out().await?;

    browser
        .sign_in("zhang-wei", "a long citizen password")
        .await?;
    assert_eq!(browser.menu().await?, ["/console", "/console/accesses"]);
    browser.goto("/console/accesses").await?;
    browser.shot("accesses").await?;
    let count: usize = browser.text("#access-count").await?.parse()?;
    assert!(
        count >= 2,
        "the lookup of the test and the real-estate query: {count}"
    );
    let row = browser
        .text("#accesses tr[data-department='real-estate']")
        .await?;
    assert!(
        row.contains("BDC-2026-0007") && row.contains("不动产转移登记"),
        "{row}"
    );
    assert!(row.contains("廊坊市不动产登记中心"));

    // The audit log is not theirs to read.
    browser.goto("/console/audit").await?;
    assert_eq!(
        browser.attr(".alert.error", "data-code").await?.as_deref(),
        Some("auth.forbidden")
    );
    browser.shot("forbidden").await?;
    browser.close().await?;
    Ok(())
}
