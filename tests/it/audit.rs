//! The tamper-evident audit log: signed tree heads and proofs over HTTPS, the auditor's
//! verification (which names the first bad entry), data subjects and alerts.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_gateway::ledger::heads::{TreeHead, parse_hash};
use tongban_gateway::ledger::merkle;
use tongban_tests::{TestHub, error_code};

async fn lookup(hub: &TestHub, sql: &str, case_id: &str) -> anyhow::Result<Value> {
    let response = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({
            "sql": sql,
            "purpose": {"matter": "enterprise-opening", "case_id": case_id, "legal_basis": "《优化营商环境条例》"}
        }))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    Ok(response.json().await?)
}

async fn get_json(client: &reqwest::Client, url: String) -> anyhow::Result<(StatusCode, Value)> {
    let response = client.get(url).send().await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

async fn sign_head(hub: &TestHub, auditor: &reqwest::Client) -> anyhow::Result<TreeHead> {
    let response = auditor
        .post(format!("{}/v1/audit/tree-head", hub.base()))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK, "{}", response.status());
    let body: Value = response.json().await?;
    Ok(serde_json::from_value(body["tree_head"].clone())?)
}

fn bearer(hub: &TestHub, token: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    let pem = std::fs::read(hub.pki().ca_cert())?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .default_headers(headers)
        .build()?)
}

#[tokio::test]
async fn signed_heads_and_proofs_let_anyone_check_the_log() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let auditor = bearer(&hub, &hub.token("auditor").await?)?;
    let mut ids = Vec::new();
    for i in 0..4 {
        let body = lookup(
            &hub,
            "SELECT citizen_id FROM population LIMIT 1",
            &format!("C-{i}"),
        )
        .await?;
        ids.push(body["audit_id"].as_str().expect("audit id").to_owned());
    }
    let first = sign_head(&hub, &auditor).await?;
    for i in 4..9 {
        lookup(&hub, "SELECT count(*) FROM population", &format!("C-{i}")).await?;
    }
    let second = sign_head(&hub, &auditor).await?;
    assert!(second.tree_size > first.tree_size);

    let (_, key) = get_json(&auditor, format!("{}/v1/audit/public-key", hub.base())).await?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key["public_key"].as_str().expect("key"))?;
    first.verify(&key)?;
    second.verify(&key)?;

    // Any department may fetch proofs; they reveal no entry.
    let dept = hub.department("real-estate")?;
    let store = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    for id in &ids {
        let (index, entry) = store.audit_entry(id).await?;
        assert_eq!(entry["index"], json!(index));
        let (status, proof) = get_json(
            &dept,
            format!(
                "{}/v1/audit/proofs/inclusion?index={index}&size={}",
                hub.base(),
                second.tree_size
            ),
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "{proof}");
        let path: Vec<merkle::Hash> = proof["proof"]
            .as_array()
            .expect("proof")
            .iter()
            .map(|h| parse_hash(h.as_str().expect("hex")).expect("hash"))
            .collect();
        // The leaf is the hash of the entry as stored, recomputed here.
        let (_, stored) = store
            .log_entries(
                &tongban_gateway::store::LogFilter {
                    from_index: index,
                    ..Default::default()
                },
                1,
            )
            .await
            .map(|rows| ((), rows))?;
        let body = stored[0].entry.clone().expect("body");
        let leaf = merkle::leaf_hash(body.as_bytes());
        merkle::verify_inclusion(
            index as u64,
            second.tree_size,
            &leaf,
            &path,
            &second.root()?,
        )?;
    }
    let (status, consistency) = get_json(
        &dept,
        format!(
            "{}/v1/audit/proofs/consistency?from={}&to={}",
            hub.base(),
            first.tree_size,
            second.tree_size
        ),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let path: Vec<merkle::Hash> = consistency["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| parse_hash(h.as_str().expect("hex")).expect("hash"))
        .collect();
    merkle::verify_consistency(
        first.tree_size,
        second.tree_size,
        &first.root()?,
        &second.root()?,
        &path,
    )?;

    // Bad requests get stable codes.
    let response = dept
        .get(format!(
            "{}/v1/audit/proofs/inclusion?index={}&size={}",
            hub.base(),
            second.tree_size,
            second.tree_size
        ))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await?, "audit.proof_out_of_range");
    let response = dept
        .get(format!(
            "{}/v1/audit/proofs/inclusion?index=x&size=1",
            hub.base()
        ))
        .send()
        .await?;
    assert_eq!(error_code(response).await?, "request.invalid_query");
    // Entries are for auditors only.
    let response = dept
        .get(format!("{}/v1/audit/entries", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    Ok(())
}

/// Runs `tongban audit verify` against the hub's database and returns (passed, message).
async fn verify_database(hub: &TestHub) -> anyhow::Result<bool> {
    tongban_gateway::audit_cli::run_args([
        "verify",
        "--dir",
        hub.dir.path().to_str().expect("utf-8 path"),
    ])
    .await
}

async fn raw(hub: &TestHub) -> anyhow::Result<sqlx::SqliteConnection> {
    use sqlx::Connection;
    Ok(sqlx::SqliteConnection::connect(hub.config.store.url.expose()).await?)
}

/// An operator with write access to the database changes, deletes or reorders entries:
/// the auditor's verification fails and names the entry.
#[tokio::test]
async fn verification_names_a_changed_deleted_or_reordered_entry() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let auditor = bearer(&hub, &hub.token("auditor").await?)?;
    for i in 0..6 {
        lookup(
            &hub,
            "SELECT citizen_id, name FROM population LIMIT 2",
            &format!("T-{i}"),
        )
        .await?;
    }
    let head = sign_head(&hub, &auditor).await?;
    assert!(verify_database(&hub).await?, "an intact log verifies");
    // Over HTTPS too, with the auditor's token and the key pinned.
    let (_, key) = get_json(&auditor, format!("{}/v1/audit/public-key", hub.base())).await?;
    let token = hub.token("auditor").await?;
    assert!(
        tongban_gateway::audit_cli::run_args([
            "verify",
            "--url",
            &hub.base(),
            "--ca",
            hub.pki().ca_cert().to_str().expect("utf-8"),
            // `=` keeps a value that starts with '-' (tokens are base64url) a value.
            &format!("--token={token}"),
            &format!("--public-key={}", key["public_key"].as_str().expect("key")),
        ])
        .await?
    );

    let mut db = raw(&hub).await?;
    // The triggers refuse changes; an attacker with the database drops them first.
    let refused = sqlx::query("UPDATE audit_log SET entry = 'x' WHERE idx = 0")
        .execute(&mut db)
        .await;
    assert!(refused.is_err(), "the store refuses to change an entry");
    for t in ["audit_log_no_update", "audit_log_no_delete"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {t}")))
            .execute(&mut db)
            .await?;
    }
    let victim = (head.tree_size / 2) as i64;
    let original: (String,) = sqlx::query_as("SELECT entry FROM audit_log WHERE idx = $1")
        .bind(victim)
        .fetch_one(&mut db)
        .await?;

    // One byte changed.
    let changed = original.0.replacen("approval-bureau", "approval-burea_", 1);
    sqlx::query("UPDATE audit_log SET entry = $1 WHERE idx = $2")
        .bind(&changed)
        .bind(victim)
        .execute(&mut db)
        .await?;
    assert!(!verify_database(&hub).await?, "a changed byte is found");
    let report = tongban_gateway::ledger::verify::verify(
        &dump(&mut db).await?,
        std::slice::from_ref(&head),
        &public_key(&auditor, &hub).await?,
        &[],
    );
    assert!(
        matches!(report, Err(tongban_gateway::ledger::verify::Failure::Entry { index, .. }) if index == victim as u64),
        "{report:?}"
    );
    sqlx::query("UPDATE audit_log SET entry = $1 WHERE idx = $2")
        .bind(&original.0)
        .bind(victim)
        .execute(&mut db)
        .await?;
    assert!(verify_database(&hub).await?, "restored");

    // Two entries reordered (bodies and hashes swapped).
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT entry, leaf_hash FROM audit_log WHERE idx IN ($1, $2) ORDER BY idx")
            .bind(victim)
            .bind(victim + 1)
            .fetch_all(&mut db)
            .await?;
    for (idx, (entry, leaf)) in [(victim, &rows[1]), (victim + 1, &rows[0])] {
        sqlx::query("UPDATE audit_log SET entry = $1, leaf_hash = $2 WHERE idx = $3")
            .bind(entry)
            .bind(leaf)
            .bind(idx)
            .execute(&mut db)
            .await?;
    }
    let report = tongban_gateway::ledger::verify::verify(
        &dump(&mut db).await?,
        std::slice::from_ref(&head),
        &public_key(&auditor, &hub).await?,
        &[],
    );
    assert!(
        matches!(report, Err(tongban_gateway::ledger::verify::Failure::Entry { index, .. }) if index == victim as u64),
        "{report:?}"
    );
    assert!(!verify_database(&hub).await?);
    for (idx, (entry, leaf)) in [(victim, &rows[0]), (victim + 1, &rows[1])] {
        sqlx::query("UPDATE audit_log SET entry = $1, leaf_hash = $2 WHERE idx = $3")
            .bind(entry)
            .bind(leaf)
            .bind(idx)
            .execute(&mut db)
            .await?;
    }
    assert!(verify_database(&hub).await?, "restored");

    // One entry deleted (its subject links would stop the delete; the attacker turns the
    // foreign keys off too).
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut db)
        .await?;
    sqlx::query("DELETE FROM audit_log WHERE idx = $1")
        .bind(victim)
        .execute(&mut db)
        .await?;
    let report = tongban_gateway::ledger::verify::verify(
        &dump(&mut db).await?,
        &[head],
        &public_key(&auditor, &hub).await?,
        &[],
    );
    assert!(
        matches!(report, Err(tongban_gateway::ledger::verify::Failure::Entry { index, .. }) if index == victim as u64),
        "{report:?}"
    );
    assert!(!verify_database(&hub).await?);
    Ok(())
}

async fn public_key(auditor: &reqwest::Client, hub: &TestHub) -> anyhow::Result<Vec<u8>> {
    let (_, key) = get_json(auditor, format!("{}/v1/audit/public-key", hub.base())).await?;
    Ok(base64::engine::general_purpose::STANDARD
        .decode(key["public_key"].as_str().expect("key"))?)
}

async fn dump(
    db: &mut sqlx::SqliteConnection,
) -> anyhow::Result<Vec<tongban_gateway::ledger::verify::DumpEntry>> {
    let rows: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT idx, leaf_hash, entry FROM audit_log ORDER BY idx")
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(
            |(idx, leaf_hash, body)| tongban_gateway::ledger::verify::DumpEntry {
                index: idx as u64,
                leaf_hash,
                body,
            },
        )
        .collect())
}

/// Results that contain citizen IDs are recorded by keyed hash, so an auditor can list who
/// accessed one person — and the log never holds the ID itself.
#[tokio::test]
async fn accesses_to_a_subject_are_listed_without_storing_the_id() -> anyhow::Result<()> {
    let hub = TestHub::with_data(200).await?;
    let auditor = bearer(&hub, &hub.token("auditor").await?)?;
    let body = lookup(
        &hub,
        "SELECT citizen_id, name FROM population ORDER BY citizen_id LIMIT 1",
        "S-1",
    )
    .await?;
    let id = body["rows"][0][0].as_str().expect("an id").to_owned();
    lookup(
        &hub,
        &format!("SELECT name FROM population WHERE citizen_id = '{id}'"),
        "S-2",
    )
    .await?;
    let bulk = lookup(
        &hub,
        "SELECT citizen_id FROM population ORDER BY citizen_id LIMIT 50",
        "S-3",
    )
    .await?;

    let (status, listed) = get_json(
        &auditor,
        format!("{}/v1/subjects/{id}/accesses", hub.base()),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let accesses = listed["accesses"].as_array().expect("accesses");
    let cases: Vec<&str> = accesses
        .iter()
        .map(|a| a["case_id"].as_str().expect("case"))
        .collect();
    // The second query returned only a name: no identifier in the result, no subject.
    assert_eq!(cases, vec!["S-1", "S-3"]);
    assert!(
        accesses
            .iter()
            .all(|a| a["department"] == "approval-bureau")
    );

    // The ID never appears in the log; its keyed hash does.
    let store = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    let mut db = raw(&hub).await?;
    let (with_id,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE entry LIKE $1")
        .bind(format!("%{id}%"))
        .fetch_one(&mut db)
        .await?;
    assert_eq!(with_id, 0);
    // Many subjects for one case is flagged.
    let (_, entry) = store
        .audit_entry(bulk["audit_id"].as_str().expect("id"))
        .await?;
    assert_eq!(entry["subjects"]["count"], 50);
    assert!(
        entry["flags"]
            .as_array()
            .expect("flags")
            .contains(&json!("bulk_single_case")),
        "{entry}"
    );
    let (_, alerts) = get_json(&auditor, format!("{}/v1/audit/alerts", hub.base())).await?;
    assert!(
        alerts["entries"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|e| e["request_id"] == bulk["audit_id"]),
        "{alerts}"
    );
    // Filters.
    let (_, by_subject) = get_json(
        &auditor,
        format!(
            "{}/v1/audit/entries?subject={id}&department=approval-bureau",
            hub.base()
        ),
    )
    .await?;
    assert_eq!(by_subject["entries"].as_array().expect("entries").len(), 2);
    let response = auditor
        .get(format!("{}/v1/subjects/123/accesses", hub.base()))
        .send()
        .await?;
    assert_eq!(error_code(response).await?, "audit.invalid_subject");
    let response = hub
        .department("approval-bureau")?
        .get(format!("{}/v1/subjects/{id}/accesses", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The citizen signs in and sees the same accesses; an access under a legal exemption
    // stays hidden from them (not from the auditor) until its date.
    let admin = bearer(&hub, &hub.token("admin").await?)?;
    let created = admin
        .post(format!("{}/v1/users", hub.base()))
        .json(&json!({
            "username": "zhang.san", "display_name": "张三", "department": "public",
            "roles": ["citizen"], "password": "correct horse battery", "subject_id": id
        }))
        .send()
        .await?;
    assert_eq!(created.status(), StatusCode::CREATED);
    let refused = admin
        .post(format!("{}/v1/users", hub.base()))
        .json(&json!({
            "username": "li.si", "display_name": "李四", "department": "public",
            "roles": ["citizen"], "password": "correct horse battery", "subject_id": "110101199003070012"
        }))
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let response = hub
        .department("approval-bureau")?
        .post(format!("{}/v1/query", hub.base()))
        .json(&json!({
            "sql": format!("SELECT citizen_id FROM population WHERE citizen_id = '{id}'"),
            "purpose": {"matter": "enterprise-opening", "case_id": "S-4", "legal_basis": "《刑事诉讼法》",
                        "confidential_until": "2099-01-01"}
        }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let login = hub
        .anonymous()?
        .post(format!("{}/v1/auth/login", hub.base()))
        .json(&json!({"username": "zhang.san", "password": "correct horse battery"}))
        .send()
        .await?;
    let token: Value = login.json().await?;
    let citizen = bearer(&hub, token["token"].as_str().expect("token"))?;
    let (status, own) = get_json(
        &citizen,
        format!("{}/v1/subjects/{id}/accesses", hub.base()),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{own}");
    let cases: Vec<&str> = own["accesses"]
        .as_array()
        .expect("accesses")
        .iter()
        .map(|a| a["case_id"].as_str().expect("case"))
        .collect();
    assert_eq!(cases, vec!["S-1", "S-3"], "the exempt access is hidden");
    let (_, all) = get_json(
        &auditor,
        format!("{}/v1/subjects/{id}/accesses", hub.base()),
    )
    .await?;
    assert_eq!(all["accesses"].as_array().expect("accesses").len(), 3);
    let other = first_other_id(&hub, &id).await?;
    let response = citizen
        .get(format!("{}/v1/subjects/{other}/accesses", hub.base()))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "only their own");
    Ok(())
}

async fn first_other_id(hub: &TestHub, id: &str) -> anyhow::Result<String> {
    let body = lookup(
        hub,
        &format!("SELECT citizen_id FROM population WHERE citizen_id <> '{id}' LIMIT 1"),
        "S-5",
    )
    .await?;
    Ok(body["rows"][0][0].as_str().expect("an id").to_owned())
}
