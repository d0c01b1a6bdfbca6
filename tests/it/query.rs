//! Governed SQL over HTTPS: purpose binding, grants, masks, formats, access records.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_tests::TestHub;

fn purpose(matter: &str) -> Value {
    json!({"matter": matter, "case_id": "2026-TEST-0001", "legal_basis": "《优化营商环境条例》"})
}

async fn query(
    hub: &TestHub,
    dept: &str,
    sql: &str,
    matter: &str,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = hub
        .department(dept)?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({"sql": sql, "purpose": purpose(matter)}))
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn approval_bureau_reads_with_masked_addresses_and_every_query_is_recorded()
-> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let (status, body) = query(
        &hub,
        "approval-bureau",
        "SELECT citizen_id, name, household_address FROM population ORDER BY citizen_id LIMIT 3",
        "enterprise-opening",
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["columns"],
        json!(["citizen_id", "name", "household_address"])
    );
    assert_eq!(body["row_count"], 3);
    for row in body["rows"].as_array().expect("rows") {
        let address = row[2].as_str().expect("text");
        assert!(
            address.ends_with("****") && address.chars().count() == 10,
            "masked: {address}"
        );
    }
    let audit_id = body["audit_id"].as_str().expect("audit id").to_owned();
    let store = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    let (_, entry) = store.audit_entry(&audit_id).await?;
    assert_eq!(entry["event"], "query_executed");
    assert_eq!(entry["rows"], 3);
    assert_eq!(entry["purpose"]["matter"], "enterprise-opening");
    assert_eq!(
        entry["tables"]["population"],
        json!(["citizen_id", "household_address", "name"])
    );
    assert_eq!(entry["plan_sha256"].as_str().map(str::len), Some(64));
    Ok(())
}

#[tokio::test]
async fn purpose_and_grants_decide_and_refusals_are_recorded() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let store = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    let before = store.audit_count().await?;

    let no_purpose = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await?;
    assert_eq!(no_purpose.status(), StatusCode::BAD_REQUEST);
    let body: Value = no_purpose.json().await?;
    assert_eq!(body["error"]["code"], "query.missing_purpose");
    assert!(body["error"]["audit_id"].is_string());

    let (status, body) = query(
        &hub,
        "approval-bureau",
        "SELECT * FROM population",
        "real-estate-transfer",
    )
    .await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "unconditional items serve any matter: {body}"
    );
    assert!(
        !body["columns"]
            .as_array()
            .expect("columns")
            .contains(&json!("household_address")),
        "conditional items need the matter's grant"
    );

    let (status, body) = query(
        &hub,
        "civil-affairs",
        "SELECT * FROM credit_record",
        "enterprise-opening",
    )
    .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "query.not_granted");

    let (status, body) = query(
        &hub,
        "real-estate",
        "SELECT household_address FROM population",
        "real-estate-transfer",
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "query.invalid");

    let (status, body) = query(
        &hub,
        "real-estate",
        "SELECT DISTINCT person_status FROM population",
        "real-estate-transfer",
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([["正常"]]), "row filter holds");

    let (status, body) = query(
        &hub,
        "approval-bureau",
        "DROP TABLE population",
        "enterprise-opening",
    )
    .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "query.statement_not_allowed");

    assert_eq!(
        store.audit_count().await?,
        before + 6,
        "every query, refused or not, has one entry"
    );
    Ok(())
}

#[tokio::test]
async fn results_come_as_csv_and_arrow_too() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let client = hub.department("approval-bureau")?;
    let body = json!({"sql": "SELECT uscc, name FROM legal_entity ORDER BY uscc LIMIT 5", "purpose": purpose("enterprise-opening")});
    let csv = client
        .post(format!("{}/v1/query", hub.base()))
        .header("accept", "text/csv")
        .json(&body)
        .send()
        .await?;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["tongban-row-count"], "5");
    let text = csv.text().await?;
    assert!(text.starts_with("uscc,name\n"), "{text}");
    assert_eq!(text.lines().count(), 6);

    let arrow = client
        .post(format!("{}/v1/query", hub.base()))
        .header("accept", "application/vnd.apache.arrow.stream")
        .json(&body)
        .send()
        .await?;
    assert_eq!(
        arrow.headers()["content-type"],
        "application/vnd.apache.arrow.stream"
    );
    let bytes = arrow.bytes().await?;
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None)?;
    let rows: usize = reader
        .map(|b| b.map(|b| b.num_rows()))
        .sum::<Result<usize, _>>()?;
    assert_eq!(rows, 5);
    Ok(())
}

#[tokio::test]
async fn row_caps_truncate_cleanly() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let response = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({"sql": "SELECT citizen_id FROM population", "purpose": purpose("enterprise-opening"), "max_rows": 7}))
        .send()
        .await?;
    assert_eq!(response.headers()["tongban-truncated"], "true");
    let body: Value = response.json().await?;
    assert_eq!(body["row_count"], 7);
    assert_eq!(body["truncated"], true);
    Ok(())
}

/// An aggregate over the whole library through the gateway agrees with the row count.
#[tokio::test]
async fn group_by_over_all_people_sums_to_the_population() -> anyhow::Result<()> {
    let hub = TestHub::with_data(300).await?;
    let (status, body) = query(
        &hub,
        "approval-bureau",
        "SELECT left(household_division_code, 4) AS city, gender_code, count(*) AS n FROM population GROUP BY left(household_division_code, 4), gender_code",
        "enterprise-opening",
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let total: i64 = body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r[2].as_i64().expect("a count"))
        .sum();
    let (_, all) = query(
        &hub,
        "approval-bureau",
        "SELECT count(*) FROM population",
        "enterprise-opening",
    )
    .await?;
    assert_eq!(json!(total), all["rows"][0][0]);
    assert_eq!(total, 300);
    Ok(())
}

/// Lookups by key — one, several, absent, through a join and by a secondary key, for a
/// department with masks and for one with a row filter — answer the same on a Ballista
/// cluster as in process, and the cluster really ran them.
#[tokio::test]
async fn lookups_on_ballista_answer_as_in_process() -> anyhow::Result<()> {
    let local = TestHub::with_data(300).await?;
    let cluster = TestHub::on_ballista(300).await?;
    let (_, keys) = query(
        &local,
        "approval-bureau",
        "SELECT citizen_id, spouse_citizen_id FROM population ORDER BY citizen_id",
        "enterprise-opening",
    )
    .await?;
    let rows = keys["rows"].as_array().expect("rows");
    anyhow::ensure!(rows.len() == 300, "{} people", rows.len());
    let id = |i: usize| rows[i][0].as_str().expect("id").to_owned();
    let spouse = rows
        .iter()
        .find_map(|r| r[1].as_str())
        .expect("someone is married")
        .to_owned();
    let list = (0..10)
        .map(|i| format!("'{}'", id(i * 29)))
        .collect::<Vec<_>>();
    let lookups = [
        (
            "approval-bureau",
            "enterprise-opening",
            format!("SELECT * FROM population WHERE citizen_id = '{}'", id(7)),
        ),
        (
            "approval-bureau",
            "enterprise-opening",
            format!(
                "SELECT citizen_id, name, household_address FROM population WHERE citizen_id IN ({})",
                list.join(", ")
            ),
        ),
        (
            "approval-bureau",
            "enterprise-opening",
            "SELECT * FROM population WHERE citizen_id = '110101190001010000'".to_owned(),
        ),
        (
            "approval-bureau",
            "enterprise-opening",
            format!("SELECT citizen_id, name FROM population WHERE spouse_citizen_id = '{spouse}'"),
        ),
        (
            "approval-bureau",
            "enterprise-opening",
            format!(
                "SELECT e.uscc, e.name, p.name FROM legal_entity e JOIN population p \
                 ON p.citizen_id = e.legal_rep_id_number WHERE p.citizen_id IN ({})",
                list.join(", ")
            ),
        ),
        (
            "real-estate",
            "real-estate-transfer",
            format!(
                "SELECT citizen_id, name, marital_status_code FROM population WHERE citizen_id IN ({})",
                list.join(", ")
            ),
        ),
        (
            "approval-bureau",
            "enterprise-opening",
            "SELECT household_division_code, count(*) FROM population GROUP BY 1 ORDER BY 1"
                .to_owned(),
        ),
    ];
    let store =
        tongban_gateway::store::Store::connect(cluster.config.store.url.expose(), 1).await?;
    for (dept, matter, sql) in &lookups {
        let (a, here) = query(&local, dept, sql, matter).await?;
        let (b, there) = query(&cluster, dept, sql, matter).await?;
        anyhow::ensure!(
            a == StatusCode::OK && b == StatusCode::OK,
            "{sql}: {a} / {b}"
        );
        anyhow::ensure!(
            here["columns"] == there["columns"] && here["row_count"] == there["row_count"],
            "{sql}:\n{here}\n{there}"
        );
        let sorted = |v: &Value| {
            let mut rows: Vec<String> = v["rows"]
                .as_array()
                .map(|r| r.iter().map(Value::to_string).collect())
                .unwrap_or_default();
            rows.sort();
            rows
        };
        anyhow::ensure!(sorted(&here) == sorted(&there), "{sql}:\n{here}\n{there}");
        let audit_id = there["audit_id"].as_str().expect("audit id");
        let (_, entry) = store.audit_entry(audit_id).await?;
        anyhow::ensure!(
            entry["cluster"]
                .as_str()
                .is_some_and(|s| s.starts_with("http://")),
            "{sql} did not run on the cluster: {entry}"
        );
    }
    Ok(())
}
