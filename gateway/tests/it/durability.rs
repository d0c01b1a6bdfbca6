//! Killing the server with SIGKILL in the middle of a query load loses no acknowledged
//! audit entry, and the log verifies after every restart.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tongban_gateway::pki::PkiPaths;
use tongban_gateway::store::Store;
use tongban_gateway::{Config, cli};
use tongban_schemas::BaseLibrary;

const KILLS: usize = 20;
const CLIENTS: usize = 6;

async fn prepare(dir: &Path) -> Config {
    prepare_on(dir, None).await
}

/// A data directory with 200 people published, its metadata in `store_url` (SQLite inside
/// the directory when `None`).
pub(crate) async fn prepare_on(dir: &Path, store_url: Option<String>) -> Config {
    let (config, _) = cli::init(
        dir,
        "127.0.0.1:0".parse().expect("addr"),
        store_url,
        &[],
        true,
    )
    .await
    .expect("init");
    let store = Store::connect(config.store.url.expose(), 2)
        .await
        .expect("store");
    let generated = dir.join("generated");
    let generator = tongban_schemas::generate::GeneratorConfig::new(3, 200, cli::today());
    tongban_schemas::generate::generate(&generator, &generated, &|_| {}).expect("generated");
    for library in BaseLibrary::ALL {
        let mut files: Vec<PathBuf> = std::fs::read_dir(generated.join(library.table_name()))
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        tongban_gateway::publish::publish_files(
            &store,
            &config.data_dir,
            library,
            files,
            "test",
            cli::today(),
        )
        .await
        .expect("published");
    }
    store.close().await;
    config
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub(crate) fn serve(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["serve", "--dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TONGBAN_LOG", "warn")
        .stdout(Stdio::null())
        // Warnings and errors reach the test's output, which shows them when it fails.
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the server starts")
}

fn client(dir: &Path) -> reqwest::Client {
    department_client(dir, "approval-bureau")
}

/// An HTTPS client with `department`'s certificate.
pub(crate) fn department_client(dir: &Path, department: &str) -> reqwest::Client {
    department_client_waiting(dir, department, Duration::from_secs(5))
}

/// Like [`department_client`], giving up on an answer after `timeout`.
pub(crate) fn department_client_waiting(
    dir: &Path,
    department: &str,
    timeout: Duration,
) -> reqwest::Client {
    let pki = PkiPaths::new(dir);
    let ca = std::fs::read(pki.ca_cert()).expect("ca");
    let mut identity = std::fs::read(pki.client_cert(department)).expect("cert");
    identity.extend(std::fs::read(pki.client_key(department)).expect("key"));
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
        .identity(reqwest::Identity::from_pem(&identity).expect("identity"))
        .timeout(timeout)
        .build()
        .expect("client")
}

pub(crate) async fn wait_ready(client: &reqwest::Client, base: &str, server: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            server.try_wait().expect("status").is_none(),
            "the server exited during start-up"
        );
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = prepare(dir.path()).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = client(dir.path());
    for round in 0..KILLS {
        let port = free_port();
        let base = format!("https://127.0.0.1:{port}");
        let mut server = serve(dir.path(), port);
        wait_ready(&client, &base, &mut server).await;
        let before = acknowledged.lock().expect("lock").len();
        let mut load = Vec::new();
        for c in 0..CLIENTS {
            let (client, base, acknowledged) =
                (client.clone(), base.clone(), Arc::clone(&acknowledged));
            load.push(tokio::spawn(async move {
                let mut i = 0;
                loop {
                    let body = serde_json::json!({
                        "sql": "SELECT citizen_id, name FROM population LIMIT 1",
                        "purpose": {"matter": "enterprise-opening", "case_id": format!("K-{round}-{c}-{i}"), "legal_basis": "test"}
                    });
                    // Errors are expected once the server is killed; only answers count.
                    match client.post(format!("{base}/v1/query")).json(&body).send().await {
                        Ok(r) if r.status().is_success() => {
                            if let Ok(v) = r.json::<serde_json::Value>().await
                                && let Some(id) = v["audit_id"].as_str()
                            {
                                acknowledged.lock().expect("lock").push(id.to_owned());
                            }
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                    i += 1;
                }
            }));
        }
        // Let the load run until some queries were answered, then kill mid-stream.
        let deadline = Instant::now() + Duration::from_secs(20);
        while acknowledged.lock().expect("lock").len() < before + 10 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill().expect("SIGKILL");
        server.wait().expect("reaped");
        for task in load {
            task.await.expect("client task");
        }
        assert!(
            acknowledged.lock().expect("lock").len() > before,
            "round {round}: no query was answered"
        );
        // Every acknowledged entry is in the log, and the log verifies.
        let store = Store::connect(config.store.url.expose(), 1)
            .await
            .expect("store");
        let ids: HashSet<String> = store
            .log_entries(&tongban_gateway::store::LogFilter::default(), 1_000_000)
            .await
            .expect("entries")
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        store.close().await;
        for id in acknowledged.lock().expect("lock").iter() {
            assert!(
                ids.contains(id),
                "round {round}: acknowledged entry {id} is missing"
            );
        }
        let verified = tongban_gateway::audit_cli::run_args([
            "verify",
            "--dir",
            dir.path().to_str().expect("utf-8 path"),
        ])
        .await
        .expect("verify runs");
        assert!(verified, "round {round}: the log does not verify");
    }
    eprintln!(
        "{KILLS} kills, {} acknowledged entries, all present and verified",
        acknowledged.lock().expect("lock").len()
    );
}
