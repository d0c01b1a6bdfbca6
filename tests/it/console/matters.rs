//! The clerk resolves a matter for an applicant at the window and prints the materials
//! checklist: what the hub supplies, and what the applicant must still bring, with why.

use tongban_tests::TestHub;

use super::browser::Browser;
use super::query_as;

#[tokio::test]
async fn clerk_resolves_a_matter_and_prints_the_checklist() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let (status, answer) = query_as(
        &hub,
        "approval-bureau",
        "SELECT citizen_id FROM population WHERE person_status = '正常' ORDER BY citizen_id LIMIT 1",
        "enterprise-opening",
        "W-SETUP",
    )
    .await?;
    anyhow::ensure!(status == 200, "{answer}");
    let applicant = answer["rows"][0][0]
        .as_str()
        .expect("a living person")
        .to_owned();

    let browser = Browser::open(&hub, "matters", &[]).await?;
    browser.sign_in("clerk", &hub.password("clerk")?).await?;
    browser.goto("/console/matters").await?;
    let form = "form.matter[data-matter=enterprise-opening]";
    browser.wait(form).await?;
    browser.shot("matters").await?;
    browser
        .fill(&format!("{form} input[name=applicant_id]"), &applicant)
        .await?;
    browser
        .fill(&format!("{form} input[name=case_id]"), "W-2026-0311")
        .await?;
    browser
        .submit(&format!("{form} button[type=submit]"), "#checklist")
        .await?;
    browser.shot("checklist").await?;

    // The person is alive and registered, so the hub supplies the identity; nobody issued
    // them a real-estate certificate, so the premises must be brought.
    let supplied: usize = browser.text("#supplied-count").await?.trim().parse()?;
    let to_submit: usize = browser.text("#must-submit-count").await?.trim().parse()?;
    assert_eq!(supplied + to_submit, 3);
    assert_eq!(
        browser
            .count("#supplied tr[data-material=legal-rep-identity]")
            .await?,
        1
    );
    assert_eq!(
        browser
            .count("#must-submit tr[data-material=business-premises]")
            .await?,
        1
    );
    assert!(
        browser
            .text("#must-submit tr[data-material=business-premises]")
            .await?
            .contains("not_found")
    );
    assert_eq!(browser.count(".alert.error").await?, 0);
    browser.close().await?;
    Ok(())
}
