//! Two gateway processes sharing one PostgreSQL behave as one hub: one audit log (one
//! sequence, one tree, every head consistent with every other), grants and licence status
//! that take effect on the other replica at once, and snapshots published elsewhere served
//! by both.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_gateway::cli;
use tongban_gateway::store::{LogFilter, Store};
use tongban_schemas::BaseLibrary;

use crate::durability::{department_client, free_port, prepare_on, serve, wait_ready};

/// Kills the replica when the test ends, passing or not.
struct Replica {
    base: String,
    process: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

async fn start(dir: &Path) -> Replica {
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut process = serve(dir, port);
    wait_ready(
        &department_client(dir, "approval-bureau"),
        &base,
        &mut process,
    )
    .await;
    Replica { base, process }
}

fn purpose(case: &str) -> Value {
    json!({"matter": "enterprise-opening", "case_id": case, "legal_basis": "《公司登记管理条例》"})
}

async fn query(
    client: &reqwest::Client,
    replica: &Replica,
    sql: &str,
    case: &str,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{}/v1/query", replica.base))
        .json(&json!({"sql": sql, "purpose": purpose(case)}))
        .send()
        .await
        .expect("answered");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let response = client.post(url).json(&body).send().await.expect("answered");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn audit_id(body: &Value) -> String {
    body["audit_id"]
        .as_str()
        .or_else(|| body["error"]["audit_id"].as_str())
        .unwrap_or_else(|| panic!("no audit id in {body}"))
        .to_owned()
}

async fn publish_population(store: &Store, config: &tongban_gateway::Config, dir: &Path) {
    let generated = dir.join("generated-2");
    let generator = tongban_schemas::generate::GeneratorConfig::new(5, 220, cli::today());
    tongban_schemas::generate::generate(&generator, &generated, &|_| {}).expect("generated");
    let mut files: Vec<PathBuf> = std::fs::read_dir(generated.join("population"))
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    tongban_gateway::publish::publish_files(
        store,
        &config.data_dir,
        BaseLibrary::Population,
        files,
        "test",
        cli::today(),
    )
    .await
    .expect("published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_postgresql_act_as_one_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::store::postgres_database().await;
    let mut config = prepare_on(dir.path(), Some(url)).await;
    // Replicas share one public address (behind the load balancer): licences name their
    // status list by it, whichever replica issued them.
    config.public_url = Some("https://hub.tongban.test".into());
    config
        .write(&dir.path().join("tongban.toml"))
        .expect("configuration written");
    // One after the other: the first creates the keys the second then loads.
    let a = start(dir.path()).await;
    let b = start(dir.path()).await;
    let store = Store::connect(config.store.url.expose(), 2)
        .await
        .expect("store");
    let approval = department_client(dir.path(), "approval-bureau");
    let mut acknowledged: Vec<String> = Vec::new();

    // Load on both replicas at once: their entries share one sequence.
    let mut load = Vec::new();
    for c in 0..4 {
        let replica = if c % 2 == 0 {
            a.base.clone()
        } else {
            b.base.clone()
        };
        let client = approval.clone();
        load.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..40 {
                let response = client
                    .post(format!("{replica}/v1/query"))
                    .json(&json!({
                        "sql": "SELECT citizen_id, name FROM population ORDER BY citizen_id LIMIT 2",
                        "purpose": purpose(&format!("R-{c}-{i}")),
                    }))
                    .send()
                    .await
                    .expect("answered");
                assert_eq!(response.status(), StatusCode::OK);
                let body: Value = response.json().await.expect("JSON");
                ids.push(audit_id(&body));
            }
            ids
        }));
    }

    // Grants: applied for on B, approved on A, usable on B at once; revoked on B, refused
    // on A at once.
    let public_security = department_client(dir.path(), "public-security");
    let market = department_client(dir.path(), "market-regulation");
    let rep_ids = "SELECT uscc, legal_rep_id_number FROM legal_entity ORDER BY uscc LIMIT 3";
    let (status, body) = query(&public_security, &b, rep_ids, "G-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no grant yet: {body}");
    acknowledged.push(audit_id(&body));
    let (status, filed) = post(
        &public_security,
        format!("{}/v1/grant-requests", b.base),
        json!({
            "resource": "legal_entity",
            "columns": ["uscc", "name", "legal_rep_id_number"],
            "matters": ["enterprise-opening"],
            "reason": "核验法定代表人身份",
            "legal_basis": "《公司登记管理条例》"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let request = filed["id"].as_i64().expect("request id");
    let (status, approved) = post(
        &market,
        format!("{}/v1/grant-requests/{request}/approve", a.base),
        json!({"note": "同意"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{approved}");
    let grant = approved["grant"].as_i64().expect("grant id");
    let (status, body) = query(&public_security, &b, rep_ids, "G-2").await;
    assert_eq!(status, StatusCode::OK, "approved on A, used on B: {body}");
    acknowledged.push(audit_id(&body));
    let revoked = market
        .delete(format!("{}/v1/grants/{grant}", b.base))
        .send()
        .await
        .expect("answered");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (status, body) = query(&public_security, &a, rep_ids, "G-3").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "revoked on B, used on A: {body}"
    );
    acknowledged.push(audit_id(&body));

    // Licences: issued on A, verified on B; revoked on A, refused by B at once.
    let (_, entity) = query(
        &approval,
        &a,
        "SELECT uscc, name FROM legal_entity ORDER BY uscc LIMIT 1",
        "L-0",
    )
    .await;
    let uscc = entity["rows"][0][0].as_str().expect("uscc").to_owned();
    let name = entity["rows"][0][1].as_str().expect("name").to_owned();
    let (status, issued) = post(
        &market,
        format!("{}/v1/licences", a.base),
        json!({"type": "business-licence", "holder": {"type": "001", "id": uscc}, "face": {
            "uscc": uscc, "name": name, "entity_type": "有限责任公司", "legal_rep_name": "张三",
            "registered_capital": "100.5", "established_date": "2020-01-02", "term_from": "2020-01-02",
            "term_to": "长期", "address": "河北省廊坊市广阳区示例路1号",
            "business_scope": "技术开发、技术服务", "registration_authority": "廊坊市市场监督管理局",
            "issue_date": "2020-01-02"
        }}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let id = issued["id"].as_str().expect("licence id").to_owned();
    let token = issued["token"].as_str().expect("token").to_owned();
    let verify = |replica: String| {
        let (client, token) = (approval.clone(), token.clone());
        async move {
            post(
                &client,
                format!("{replica}/v1/licences/verify"),
                json!({"token": token, "purpose": purpose("L-1")}),
            )
            .await
        }
    };
    let (status, verified) = verify(b.base.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        verified["valid"], true,
        "issued on A, verified on B: {verified}"
    );
    let (status, body) = post(
        &market,
        format!("{}/v1/licences/{id}/revoke", a.base),
        json!({"reason": "吊销"}),
    )
    .await;
    assert!(status.is_success(), "revoke: {status} {body}");
    let (_, verified) = verify(b.base.clone()).await;
    assert_eq!(
        verified["valid"], false,
        "revoked on A, still valid on B: {verified}"
    );
    assert_eq!(verified["code"], "licence.revoked", "{verified}");

    for task in load {
        acknowledged.extend(task.await.expect("load task"));
    }

    // A snapshot published elsewhere is served by both replicas.
    publish_population(&store, &config, dir.path()).await;
    let latest = store
        .resource_for_library(BaseLibrary::Population)
        .await
        .expect("population resource")
        .latest
        .expect("a snapshot")
        .version;
    assert!(latest > 1, "the second publication is a new version");
    for replica in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) =
                query(&approval, replica, "SELECT count(*) FROM population", "S-1").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let id = audit_id(&body);
            acknowledged.push(id.clone());
            let (_, entry) = store.audit_entry(&id).await.expect("entry");
            let version = entry["snapshots"]["population"].as_i64();
            if version == Some(latest) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still serves population version {version:?}",
                replica.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Both sign a head of the log as they see it, each after an entry of its own (a head
    // that covers no new entry is not signed twice).
    let supervision = department_client(dir.path(), "supervision");
    for (i, replica) in [&a, &b].into_iter().enumerate() {
        let (status, body) = query(
            &approval,
            replica,
            "SELECT count(*) FROM legal_entity",
            &format!("H-{i}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        acknowledged.push(audit_id(&body));
        let (status, head) = post(
            &supervision,
            format!("{}/v1/audit/tree-head", replica.base),
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{head}");
    }

    // One log: indices 0..n without gaps or repeats, every acknowledged entry in it once.
    let rows = store
        .log_entries(&LogFilter::default(), 1_000_000)
        .await
        .expect("entries");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.idx, i as i64, "the sequence has a gap or a repeat");
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an entry was written twice");
    for id in &acknowledged {
        assert!(
            unique.contains(id.as_str()),
            "acknowledged entry {id} is missing"
        );
    }
    let departments: HashSet<&str> = rows.iter().map(|r| r.department.as_str()).collect();
    assert!(departments.contains("public-security") && departments.contains("market-regulation"));

    // One tree: the heads both replicas signed verify, each consistent with the one before.
    let heads = store.tree_heads(0, 1000).await.expect("heads");
    assert!(heads.len() >= 2, "both replicas signed heads");
    let verified = tongban_gateway::audit_cli::run_args([
        "verify",
        "--dir",
        dir.path().to_str().expect("utf-8 path"),
    ])
    .await
    .expect("verify runs");
    assert!(verified, "the shared log does not verify");
    store.close().await;
}
