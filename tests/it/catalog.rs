//! The catalogue over HTTPS: listing, DCAT, and publication with validation.

use reqwest::StatusCode;
use serde_json::Value;
use tongban_tests::{TestHub, error_code};

const POPULATION: &str = "101001/000001";
const PATH: &str = "101001-000001";
const HEADER: &str = "citizen_id,name,gender_code,ethnicity_code,birth_date,household_division_code,household_address,residence_address,marital_status_code,spouse_citizen_id,person_status,death_date,updated_at";

#[tokio::test]
async fn resources_list_with_items_share_types_and_snapshots() -> anyhow::Result<()> {
    let hub = TestHub::with_data(400).await?;
    let dept = hub.department("approval-bureau")?;
    let list: Value = dept
        .get(format!("{}/v1/catalog/resources", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 3);
    for r in list {
        for key in [
            "code",
            "name",
            "provider",
            "base_library",
            "share_type",
            "snapshot",
            "items",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert_eq!(r["snapshot"], 1, "{}", r["code"]);
        assert!(r["snapshot_info"]["rows"].as_i64().is_some_and(|n| n > 0));
        for item in r["items"].as_array().expect("items") {
            for key in ["name", "column", "data_type", "share_type"] {
                assert!(item.get(key).is_some(), "{key} missing in {item}");
            }
        }
    }
    let population = list
        .iter()
        .find(|r| r["base_library"] == "population")
        .expect("population");
    assert_eq!(population["code"], POPULATION);
    assert_eq!(population["provider"], "public-security");
    let id_item = population["items"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["column"] == "citizen_id"))
        .expect("key item");
    assert_eq!(id_item["share_type"], "unconditional");
    assert_eq!(id_item["key"], true);

    let one: Value = dept
        .get(format!("{}/v1/catalog/resources/{PATH}", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(one["code"], POPULATION);
    let encoded: Value = dept
        .get(format!(
            "{}/v1/catalog/resources/101001%2F000001",
            hub.base()
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(encoded["code"], POPULATION);
    let missing = dept
        .get(format!("{}/v1/catalog/resources/109009-000009", hub.base()))
        .send()
        .await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let dcat = dept
        .get(format!("{}/v1/catalog/dcat", hub.base()))
        .send()
        .await?;
    assert_eq!(dcat.headers()["content-type"], "application/ld+json");
    let dcat: Value = dcat.json().await?;
    assert_eq!(dcat["@type"], "dcat:Catalog");
    let datasets = dcat["dcat:dataset"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 3);
    assert!(
        datasets
            .iter()
            .all(|d| d["dcat:distribution"][0]["tongban:rows"].as_i64().is_some())
    );
    Ok(())
}

async fn population_snapshot(hub: &TestHub) -> anyhow::Result<Value> {
    let dept = hub.department("approval-bureau")?;
    Ok(dept
        .get(format!("{}/v1/catalog/resources/{PATH}", hub.base()))
        .send()
        .await?
        .json::<Value>()
        .await?["snapshot"]
        .clone())
}

#[tokio::test]
async fn publication_validates_every_row_and_changes_nothing_on_error() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let provider = hub.department("public-security")?;
    let url = format!("{}/v1/catalog/resources/{PATH}/snapshots", hub.base());
    let send = |body: String| {
        provider
            .post(&url)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };

    let good_rows = "110101199003070011,张伟,1,01,1990-03-07,110101,北京市东城区景山街道1号,北京市东城区景山街道1号,10,,正常,,2026-01-01T08:00:00+08:00\n\
                     210202198511150027,王芳,2,01,1985-11-15,210202,辽宁省大连市中山区人民路8号,辽宁省大连市中山区人民路8号,20,,正常,,2026-01-01T08:00:00+08:00\n";
    let bad_id = "110101199003070012,李四,1,01,1990-03-07,110101,北京市东城区,北京市东城区,10,,正常,,2026-01-01T08:00:00+08:00\n";

    let response = send(format!("{HEADER}\n{good_rows}{bad_id}")).await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], "publish.invalid_rows");
    let rows = body["error"]["details"]["rows"]
        .as_array()
        .expect("row list");
    assert_eq!(rows[0]["row"], 3);
    assert_eq!(rows[0]["column"], "citizen_id");
    assert_eq!(rows[0]["code"], "id.check_character");
    assert_eq!(
        population_snapshot(&hub).await?,
        Value::Null,
        "nothing was published"
    );

    let response = send("citizen_id,name\n110101199003070011,张伟\n".into()).await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(response).await?, "publish.wrong_columns");
    let response = send(format!("{HEADER}\n")).await?;
    assert_eq!(error_code(response).await?, "publish.empty");
    assert_eq!(population_snapshot(&hub).await?, Value::Null);

    let response = send(format!("{HEADER}\n{good_rows}")).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let snap: Value = response.json().await?;
    assert_eq!(snap["version"], 1);
    assert_eq!(snap["rows"], 2);
    assert_eq!(population_snapshot(&hub).await?, 1);

    // A second bad publication leaves version 1 current.
    let response = send(format!("{HEADER}\n{bad_id}")).await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(population_snapshot(&hub).await?, 1);
    let snapshots_dir = hub.config.data_dir.join("snapshots/population");
    let entries: Vec<String> = std::fs::read_dir(&snapshots_dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        vec!["v000001".to_owned()],
        "no staging files are left behind"
    );
    Ok(())
}

#[tokio::test]
async fn only_the_provider_publishes_and_only_csv_or_parquet() -> anyhow::Result<()> {
    let hub = TestHub::start().await?;
    let url = format!("{}/v1/catalog/resources/{PATH}/snapshots", hub.base());
    let consumer = hub.department("approval-bureau")?;
    let response = consumer
        .post(&url)
        .header("content-type", "text/csv")
        .body(HEADER)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response).await?, "auth.forbidden");
    let other_provider = hub.department("market-regulation")?;
    let response = other_provider
        .post(&url)
        .header("content-type", "text/csv")
        .body(HEADER)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(response).await?, "auth.not_provider");
    let provider = hub.department("public-security")?;
    let response = provider
        .post(&url)
        .header("content-type", "application/pdf")
        .body("%PDF")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = provider
        .post(&url)
        .header("content-type", "application/vnd.apache.parquet")
        .body("PAR1garbage")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await?, "publish.unreadable");
    Ok(())
}
