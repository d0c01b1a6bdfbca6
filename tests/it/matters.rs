//! Once-only materials resolution over HTTPS, on generated data: for each shipped matter, a
//! table of applicants (one who passes, one with a dishonest listing, one with a revoked
//! licence, a deceased person, a deregistered company, an unknown ID) and the expected answer
//! per material; the signed evidence, checked and re-run by `tongban verify-evidence`; the
//! statistics; refusals; and the audit entry of every resolution.

use std::collections::BTreeMap;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_tests::{TestHub, error_code};

/// Runs SQL as the approval bureau under `enterprise-opening` and returns the rows.
async fn rows(hub: &TestHub, sql: &str) -> anyhow::Result<Vec<Vec<Value>>> {
    let response = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({"sql": sql, "purpose": {"matter": "enterprise-opening", "case_id": "T-SETUP", "legal_basis": "test set-up"}}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == StatusCode::OK, "{sql}: {body}");
    Ok(serde_json::from_value(body["rows"].clone())?)
}

async fn first(hub: &TestHub, sql: &str) -> anyhow::Result<Vec<String>> {
    let rows = rows(hub, sql).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no row for {sql}"))?;
    Ok(row
        .into_iter()
        .map(|v| v.as_str().map(str::to_owned).unwrap_or_default())
        .collect())
}

const NOT_LISTED: &str = "NOT EXISTS (SELECT 1 FROM credit_record c WHERE (c.subject_id_number = p.citizen_id) AND c.status = '有效')";

/// People and entities of the generated data, picked by what they are.
struct Cast {
    /// Living, never listed, with a living spouse who is never listed.
    clean: String,
    clean_spouse: String,
    /// Living, never listed; a second clean person.
    other: String,
    /// Living, with a current 失信被执行人 listing.
    debtor: String,
    /// Deceased.
    deceased: String,
    /// An operating entity whose legal representative is living, with no current listing.
    entity: String,
    /// A deregistered (注销) entity.
    deregistered: String,
    /// An operating entity with a current 经营异常名录 listing.
    abnormal: String,
    /// A well-formed citizen ID of nobody.
    unknown_person: String,
    /// A well-formed USCC of no entity.
    unknown_entity: String,
}

async fn cast(hub: &TestHub) -> anyhow::Result<Cast> {
    let couple = first(
        hub,
        &format!(
            "SELECT p.citizen_id, p.spouse_citizen_id FROM population p JOIN population s ON s.citizen_id = p.spouse_citizen_id \
             WHERE p.person_status = '正常' AND s.person_status = '正常' AND {NOT_LISTED} \
             AND NOT EXISTS (SELECT 1 FROM credit_record c WHERE c.subject_id_number = s.citizen_id AND c.status = '有效') \
             ORDER BY p.citizen_id LIMIT 1"
        ),
    )
    .await?;
    let other = first(
        hub,
        &format!(
            "SELECT p.citizen_id FROM population p WHERE p.person_status = '正常' AND {NOT_LISTED} \
             AND p.citizen_id <> '{}' AND p.citizen_id <> '{}' ORDER BY p.citizen_id DESC LIMIT 1",
            couple[0], couple[1]
        ),
    )
    .await?;
    let debtor = first(
        hub,
        "SELECT p.citizen_id FROM population p JOIN credit_record c ON c.subject_id_number = p.citizen_id \
         WHERE p.person_status = '正常' AND c.record_type = '失信被执行人' AND c.status = '有效' \
         AND (c.valid_to IS NULL OR c.valid_to >= CURRENT_DATE) ORDER BY p.citizen_id LIMIT 1",
    )
    .await?;
    let deceased = first(
        hub,
        "SELECT citizen_id FROM population WHERE person_status = '死亡' ORDER BY citizen_id LIMIT 1",
    )
    .await?;
    let entity = first(
        hub,
        "SELECT e.uscc FROM legal_entity e JOIN population p ON p.citizen_id = e.legal_rep_id_number \
         WHERE e.status = '存续' AND p.person_status = '正常' \
         AND NOT EXISTS (SELECT 1 FROM credit_record c WHERE c.subject_uscc = e.uscc AND c.status = '有效') \
         ORDER BY e.uscc LIMIT 1",
    )
    .await?;
    let deregistered = first(
        hub,
        "SELECT uscc FROM legal_entity WHERE status = '注销' ORDER BY uscc LIMIT 1",
    )
    .await?;
    let abnormal = first(
        hub,
        "SELECT e.uscc FROM legal_entity e JOIN credit_record c ON c.subject_uscc = e.uscc \
         WHERE e.status = '存续' AND c.record_type = '经营异常名录' AND c.status = '有效' \
         AND (c.valid_to IS NULL OR c.valid_to >= CURRENT_DATE) ORDER BY e.uscc LIMIT 1",
    )
    .await?;
    // Born on 1 January 1900 in the demo city: nobody generated has such a number.
    let unknown_person = tongban_schemas::CitizenId::from_parts(
        tongban_schemas::DivisionCode::parse("131002")?,
        chrono::NaiveDate::from_ymd_opt(1900, 1, 1).expect("date"),
        7,
    )?
    .to_string();
    let unknown_entity = tongban_schemas::Uscc::from_parts(
        '9',
        '1',
        tongban_schemas::DivisionCode::parse("131002")?,
        "XXXXXXXX",
    )?
    .to_string();
    Ok(Cast {
        clean: couple[0].clone(),
        clean_spouse: couple[1].clone(),
        other: other[0].clone(),
        debtor: debtor[0].clone(),
        deceased: deceased[0].clone(),
        entity: entity[0].clone(),
        deregistered: deregistered[0].clone(),
        abnormal: abnormal[0].clone(),
        unknown_person,
        unknown_entity,
    })
}

fn date() -> String {
    "2024-03-01".to_owned()
}

/// Issues a licence of `kind` to `holder` as its issuing department; returns its id.
async fn issue(
    hub: &TestHub,
    kind: &str,
    holder_type: &str,
    holder: &str,
    face: Value,
) -> anyhow::Result<String> {
    let issuer = tongban_schemas::licence::LicenceType::from_slug(kind)?.issuing_department();
    let response = hub
        .department(issuer)?
        .post(format!("{}/v1/licences", hub.base()))
        .json(&json!({"type": kind, "holder": {"type": holder_type, "id": holder}, "face": face}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == StatusCode::CREATED, "issue {kind}: {body}");
    Ok(body["id"].as_str().expect("id").to_owned())
}

fn real_estate_face(number: &str) -> Value {
    json!({
        "certificate_number": format!("冀（2024）廊坊市不动产权第{number}号"), "obligee": "权利人",
        "co_ownership": "单独所有", "location": "廊坊市广阳区示例路1号", "unit_number": "131003001001GB00001F00010001",
        "right_type": "国有建设用地使用权/房屋所有权", "right_nature": "出让/市场化商品房", "usage": "住宅",
        "area_m2": "89.50", "registration_date": date(), "registration_authority": "廊坊市不动产登记中心"
    })
}

fn business_face(uscc: &str) -> Value {
    json!({
        "uscc": uscc, "name": "示例有限公司", "entity_type": "有限责任公司", "legal_rep_name": "张三",
        "registered_capital": "100", "established_date": "2020-01-02", "term_from": "2020-01-02",
        "term_to": "长期", "address": "河北省廊坊市广阳区示例路1号", "business_scope": "食品销售",
        "registration_authority": "廊坊市市场监督管理局", "issue_date": "2020-01-02"
    })
}

fn marriage_face(wife: &str, husband: &str) -> Value {
    json!({
        "certificate_number": "J131002-2020-000123", "holder_name": "持证人", "registration_date": "2020-05-20",
        "husband_name": "李四", "husband_id": husband, "wife_name": "王五", "wife_id": wife,
        "registration_authority": "廊坊市广阳区民政局"
    })
}

fn birth_face(mother: &str) -> Value {
    json!({
        "certificate_number": "1310000012", "newborn_name": "李小宝", "gender": "1", "birth_date": date(),
        "birth_place": "廊坊市人民医院", "gestational_weeks": "39", "birth_weight_g": "3350",
        "birth_length_cm": "50.5", "mother_name": "王五", "mother_id": mother,
        "institution": "廊坊市人民医院", "issue_date": date()
    })
}

async fn revoke(hub: &TestHub, kind: &str, id: &str) -> anyhow::Result<()> {
    let issuer = tongban_schemas::licence::LicenceType::from_slug(kind)?.issuing_department();
    let response = hub
        .department(issuer)?
        .post(format!("{}/v1/licences/{id}/revoke", hub.base()))
        .json(&json!({"reason": "证书已注销"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    Ok(())
}

async fn resolve(
    hub: &TestHub,
    department: &str,
    matter: &str,
    body: &Value,
) -> anyhow::Result<(StatusCode, Value)> {
    let response = hub
        .department(department)?
        .post(format!("{}/v1/matters/{matter}/resolve", hub.base()))
        .json(body)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

/// (case, department, matter, applicant, parties, expected outcome per material)
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Value,
    Vec<Value>,
    Vec<(&'a str, &'a str)>,
);

fn outcomes(resolution: &Value) -> BTreeMap<String, String> {
    resolution["materials"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    let code = m["code"].as_str().unwrap_or_default().to_owned();
                    let outcome = match m["reason"]["code"].as_str() {
                        Some(reason) => reason.to_owned(),
                        None => m["outcome"].as_str().unwrap_or_default().to_owned(),
                    };
                    (code, outcome)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn materials_are_resolved_per_applicant_with_signed_evidence() -> anyhow::Result<()> {
    let hub = TestHub::with_data(3000).await?;
    let c = cast(&hub).await?;

    // Licences: the clean person owns a flat, is married to their spouse and has a newborn;
    // the other person's flat certificate was revoked; the entity holds a business licence.
    issue(
        &hub,
        "real-estate-certificate",
        "111",
        &c.clean,
        real_estate_face("0000001"),
    )
    .await?;
    let revoked = issue(
        &hub,
        "real-estate-certificate",
        "111",
        &c.other,
        real_estate_face("0000002"),
    )
    .await?;
    revoke(&hub, "real-estate-certificate", &revoked).await?;
    issue(
        &hub,
        "marriage-certificate",
        "111",
        &c.clean,
        marriage_face(&c.clean, &c.clean_spouse),
    )
    .await?;
    issue(
        &hub,
        "birth-medical-certificate",
        "111",
        &c.clean,
        birth_face(&c.clean),
    )
    .await?;
    issue(
        &hub,
        "business-licence",
        "001",
        &c.entity,
        business_face(&c.entity),
    )
    .await?;
    issue(
        &hub,
        "business-licence",
        "001",
        &c.abnormal,
        business_face(&c.abnormal),
    )
    .await?;

    let person = |id: &str| json!({"type": "111", "id": id});
    let entity = |id: &str| json!({"type": "001", "id": id});
    let party = |role: &str, id: &str| json!({"role": role, "type": "111", "id": id});
    let table: Vec<Case> = vec![
        (
            "enterprise opening: passes",
            "approval-bureau",
            "enterprise-opening",
            person(&c.clean),
            vec![],
            vec![
                ("legal-rep-identity", "supplied"),
                ("no-serious-dishonesty", "supplied"),
                ("business-premises", "supplied"),
            ],
        ),
        (
            "enterprise opening: a dishonest judgment debtor",
            "approval-bureau",
            "enterprise-opening",
            person(&c.debtor),
            vec![],
            vec![
                ("legal-rep-identity", "supplied"),
                ("no-serious-dishonesty", "listed"),
                ("business-premises", "not_found"),
            ],
        ),
        (
            "enterprise opening: the premises certificate was revoked",
            "approval-bureau",
            "enterprise-opening",
            person(&c.other),
            vec![],
            vec![
                ("legal-rep-identity", "supplied"),
                ("no-serious-dishonesty", "supplied"),
                ("business-premises", "revoked"),
            ],
        ),
        (
            "enterprise opening: a deceased person",
            "approval-bureau",
            "enterprise-opening",
            person(&c.deceased),
            vec![],
            vec![
                ("legal-rep-identity", "condition_not_met"),
                ("no-serious-dishonesty", "supplied"),
                ("business-premises", "not_found"),
            ],
        ),
        (
            "enterprise opening: an unknown ID",
            "approval-bureau",
            "enterprise-opening",
            person(&c.unknown_person),
            vec![],
            vec![
                ("legal-rep-identity", "not_found"),
                ("no-serious-dishonesty", "not_found"),
                ("business-premises", "not_found"),
            ],
        ),
        (
            "enterprise opening: a department with only the unconditional items (no subject_id_number of credit records)",
            "real-estate",
            "enterprise-opening",
            person(&c.clean),
            vec![],
            vec![
                ("legal-rep-identity", "supplied"),
                ("no-serious-dishonesty", "grant_missing"),
                ("business-premises", "supplied"),
            ],
        ),
        (
            "food business: passes",
            "approval-bureau",
            "food-business-licence",
            entity(&c.entity),
            vec![],
            vec![
                ("business-licence", "supplied"),
                ("entity-registration", "supplied"),
                ("operator-identity", "supplied"),
                ("no-abnormal-operation", "supplied"),
            ],
        ),
        (
            "food business: listed as abnormal",
            "approval-bureau",
            "food-business-licence",
            entity(&c.abnormal),
            vec![],
            vec![
                ("business-licence", "supplied"),
                ("entity-registration", "supplied"),
                ("operator-identity", "supplied"),
                ("no-abnormal-operation", "listed"),
            ],
        ),
        (
            "food business: a deregistered company",
            "approval-bureau",
            "food-business-licence",
            entity(&c.deregistered),
            vec![],
            vec![
                ("business-licence", "not_found"),
                ("entity-registration", "condition_not_met"),
                ("operator-identity", "*"),
                ("no-abnormal-operation", "*"),
            ],
        ),
        (
            "food business: an unknown USCC",
            "approval-bureau",
            "food-business-licence",
            entity(&c.unknown_entity),
            vec![],
            vec![
                ("business-licence", "not_found"),
                ("entity-registration", "not_found"),
                ("operator-identity", "source_missing"),
                ("no-abnormal-operation", "not_found"),
            ],
        ),
        (
            "real-estate transfer: passes",
            "real-estate",
            "real-estate-transfer",
            person(&c.clean),
            vec![party("transferee", &c.other)],
            vec![
                ("transferor-identity", "supplied"),
                ("transferee-identity", "supplied"),
                ("real-estate-certificate", "supplied"),
                ("marital-status", "supplied"),
            ],
        ),
        (
            "real-estate transfer: a deceased transferee (hidden by the grant's row filter)",
            "real-estate",
            "real-estate-transfer",
            person(&c.clean),
            vec![party("transferee", &c.deceased)],
            vec![
                ("transferor-identity", "supplied"),
                ("transferee-identity", "not_found"),
                ("real-estate-certificate", "supplied"),
                ("marital-status", "supplied"),
            ],
        ),
        (
            "real-estate transfer: a revoked certificate, no transferee given",
            "real-estate",
            "real-estate-transfer",
            person(&c.other),
            vec![],
            vec![
                ("transferor-identity", "supplied"),
                ("transferee-identity", "party_not_given"),
                ("real-estate-certificate", "revoked"),
                ("marital-status", "supplied"),
            ],
        ),
        (
            "birth registration: passes",
            "approval-bureau",
            "birth-registration",
            person(&c.clean),
            vec![party("spouse", &c.clean_spouse)],
            vec![
                ("mother-identity", "supplied"),
                ("father-identity", "supplied"),
                ("birth-medical-certificate", "supplied"),
                ("marriage-certificate", "supplied"),
            ],
        ),
        (
            "birth registration: a deceased father, no certificates",
            "approval-bureau",
            "birth-registration",
            person(&c.other),
            vec![party("spouse", &c.deceased)],
            vec![
                ("mother-identity", "supplied"),
                ("father-identity", "condition_not_met"),
                ("birth-medical-certificate", "not_found"),
                ("marriage-certificate", "not_found"),
            ],
        ),
        (
            "birth registration: an unknown mother",
            "approval-bureau",
            "birth-registration",
            person(&c.unknown_person),
            vec![party("spouse", &c.clean_spouse)],
            vec![
                ("mother-identity", "not_found"),
                ("father-identity", "supplied"),
                ("birth-medical-certificate", "not_found"),
                ("marriage-certificate", "not_found"),
            ],
        ),
    ];

    let mut failures = Vec::new();
    let mut last_evidence = None;
    for (i, (case, department, matter, applicant, parties, expected)) in table.iter().enumerate() {
        let body =
            json!({"applicant": applicant, "parties": parties, "case_id": format!("T-{i:03}")});
        let (status, resolution) = resolve(&hub, department, matter, &body).await?;
        if status != StatusCode::OK {
            failures.push(format!("{case}: {status} {resolution}"));
            continue;
        }
        let got = outcomes(&resolution);
        for (material, want) in expected {
            let have = got.get(*material).map(String::as_str).unwrap_or("(absent)");
            if *want != "*" && have != *want {
                failures.push(format!(
                    "{case}: {material} is {have}, expected {want}: {resolution}"
                ));
            }
        }
        assert_eq!(got.len(), expected.len(), "{case}: {resolution}");
        let supplied = got.values().filter(|o| *o == "supplied").count();
        assert_eq!(resolution["supplied"], supplied, "{case}");
        assert_eq!(resolution["must_submit"], got.len() - supplied, "{case}");
        if *case == "food business: passes" {
            last_evidence = Some(resolution.clone());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The evidence of the passing food business resolution: what it pins and says.
    let resolution = last_evidence.expect("the passing case ran");
    let materials = resolution["materials"].as_array().expect("materials");
    let registration = &materials[1]["evidence"];
    assert_eq!(registration["table"], "legal_entity");
    assert_eq!(registration["key"]["value"], c.entity);
    assert!(
        registration["snapshot"].as_i64().is_some(),
        "{registration}"
    );
    let licence = &materials[0]["evidence"];
    assert_eq!(licence["status"], "valid");
    assert_eq!(licence["via"], "registry");

    // The evidence verifies with the hub's key, and a re-run on the pinned snapshots agrees.
    let dir = tempfile::tempdir()?;
    let key: Value = hub
        .department("approval-bureau")?
        .get(format!("{}/v1/matters/evidence-key", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    std::fs::write(dir.path().join("key.jwk"), key.to_string())?;
    std::fs::write(dir.path().join("resolution.json"), resolution.to_string())?;
    let check = |evidence: &str, rerun: bool| {
        let args = tongban_gateway::evidence_cli::VerifyEvidenceArgs {
            evidence: dir.path().join(evidence),
            key: dir.path().join("key.jwk"),
            rerun: rerun.then(|| hub.dir.path().to_path_buf()),
        };
        async move { tongban_gateway::evidence_cli::check(&args).await }
    };
    let report = check("resolution.json", true)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    assert!(
        tongban_gateway::evidence_cli::succeeded(&report),
        "{report}"
    );
    assert_eq!(report["valid"], true);
    assert_eq!(report["rerun"]["matches"], true, "{report}");
    assert_eq!(report["case_id"], resolution["case_id"]);

    // One changed character of the evidence is caught.
    let jws = resolution["evidence_jws"].as_str().expect("jws");
    let mut parts: Vec<String> = jws.split('.').map(String::from).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.decode(&parts[1])?;
    let text = String::from_utf8(payload)?;
    let forged = text.replacen("\"supplied\":4", "\"supplied\":3", 1);
    assert_ne!(forged, text, "the payload states four supplied materials");
    parts[1] = b64.encode(forged.as_bytes());
    std::fs::write(dir.path().join("forged.jws"), parts.join("."))?;
    let report = check("forged.jws", false)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    assert!(!tongban_gateway::evidence_cli::succeeded(&report));
    assert_eq!(report["valid"], false, "{report}");

    // The stored resolution is the one returned.
    let stored: Value = hub
        .department("approval-bureau")?
        .get(format!(
            "{}/v1/resolutions/{}",
            hub.base(),
            resolution["resolution_id"].as_str().expect("id")
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stored["evidence_jws"], resolution["evidence_jws"]);
    let response = hub
        .department("real-estate")?
        .get(format!(
            "{}/v1/resolutions/{}",
            hub.base(),
            resolution["resolution_id"].as_str().expect("id")
        ))
        .send()
        .await?;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "another department's resolution"
    );

    // "Materials reduced": the food business matter ran four times with 4 materials each.
    let stats: Value = hub
        .department("approval-bureau")?
        .get(format!(
            "{}/v1/matters/food-business-licence/stats",
            hub.base()
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(stats["resolutions"], 4, "{stats}");
    assert_eq!(stats["materials_required"], 16, "{stats}");
    let supplied = stats["supplied_by_hub"].as_i64().expect("supplied");
    let requested = stats["requested_from_applicants"]
        .as_i64()
        .expect("requested");
    assert_eq!(supplied + requested, 16);
    assert!(supplied >= 7, "{stats}");
    let per: Vec<&Value> = stats["per_material"]
        .as_array()
        .expect("per material")
        .iter()
        .collect();
    assert_eq!(per.len(), 4);
    assert_eq!(per[3]["reasons"]["listed"], 1, "{stats}");

    // Every resolution is one audit entry, with the matter as its purpose.
    let auditor = hub.token("auditor").await?;
    let entries: Value = hub
        .anonymous()?
        .get(format!(
            "{}/v1/audit/entries?action=matter_resolved&limit=100",
            hub.base()
        ))
        .bearer_auth(&auditor)
        .send()
        .await?
        .json()
        .await?;
    let entries = entries["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), table.len(), "one entry per resolution");
    let entry = entries
        .iter()
        .find(|e| e["request_id"] == resolution["audit_id"])
        .expect("the passing resolution's entry");
    assert_eq!(entry["matter"], "food-business-licence");
    assert_eq!(entry["entry"]["purpose"]["case_id"], resolution["case_id"]);
    assert_eq!(
        entry["entry"]["materials"]["no-abnormal-operation"],
        "supplied"
    );
    assert!(
        entry["entry"]["snapshots"]["legal_entity"]
            .as_i64()
            .is_some(),
        "{entry}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_resolution_requests_get_stable_codes_and_are_recorded() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let clerk = hub.department("approval-bureau")?;
    let url = |m: &str| format!("{}/v1/matters/{m}/resolve", hub.base());
    let valid = "11010519491231002X";
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "enterprise-opening",
            json!({"applicant": {"type": "111", "id": "110105194912310021"}, "case_id": "B-1"}),
            StatusCode::BAD_REQUEST,
            "matter.invalid_id",
        ),
        (
            "enterprise-opening",
            json!({"applicant": {"type": "001", "id": "91350100M000100Y43"}, "case_id": "B-2"}),
            StatusCode::BAD_REQUEST,
            "matter.wrong_id_type",
        ),
        (
            "enterprise-opening",
            json!({"applicant": {"type": "111", "id": valid}, "parties": [{"role": "cousin", "type": "111", "id": valid}], "case_id": "B-3"}),
            StatusCode::BAD_REQUEST,
            "matter.unknown_party",
        ),
        (
            "real-estate-transfer",
            json!({"applicant": {"type": "111", "id": valid}, "parties": [{"role": "transferee", "type": "111", "id": valid}, {"role": "transferee", "type": "111", "id": valid}], "case_id": "B-4"}),
            StatusCode::BAD_REQUEST,
            "matter.duplicate_party",
        ),
        (
            "enterprise-opening",
            json!({"applicant": {"type": "111", "id": valid}, "case_id": "a b"}),
            StatusCode::BAD_REQUEST,
            "query.invalid_case_id",
        ),
        (
            "enterprise-opening",
            json!({"applicant": {"type": "111", "id": valid}, "case_id": "B-6", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "fishing-permit",
            json!({"applicant": {"type": "111", "id": valid}, "case_id": "B-7"}),
            StatusCode::NOT_FOUND,
            "request.not_found",
        ),
    ];
    for (matter, body, status, code) in &cases {
        let response = clerk.post(url(matter)).json(body).send().await?;
        assert_eq!(response.status(), *status, "{matter} {body}");
        assert_eq!(error_code(response).await?, *code, "{matter} {body}");
    }
    // Providers without the clerk or consumer role may not resolve.
    let response = hub
        .department("health-commission")?
        .post(url("birth-registration"))
        .json(&json!({"applicant": {"type": "111", "id": valid}, "case_id": "B-8"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The refusals after the request was understood are audit entries.
    let auditor = hub.token("auditor").await?;
    let entries: Value = hub
        .anonymous()?
        .get(format!(
            "{}/v1/audit/entries?action=matter_refused&limit=100",
            hub.base()
        ))
        .bearer_auth(&auditor)
        .send()
        .await?
        .json()
        .await?;
    let codes: Vec<&str> = entries["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["entry"]["code"].as_str())
        .collect();
    assert_eq!(
        codes.len(),
        5,
        "five refusals reached the resolver: {codes:?}"
    );
    assert!(codes.contains(&"matter.invalid_id"));

    // The matter list describes every shipped matter and its materials.
    let list: Value = clerk
        .get(format!("{}/v1/matters", hub.base()))
        .send()
        .await?
        .json()
        .await?;
    let codes: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["code"].as_str())
        .collect();
    assert_eq!(codes.len(), 4, "{list}");
    assert!(codes.contains(&"birth-registration"));
    Ok(())
}
