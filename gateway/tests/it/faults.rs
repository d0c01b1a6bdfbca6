//! Faults under load: PostgreSQL crashing and coming back, the data directory's disk filling
//! up, and clients that connect and then say nothing. Each ends with the gateway still up,
//! every failure a clean answer with a stable code, and the audit log whole.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tongban_gateway::store::{LogFilter, Store};

use crate::durability::{
    department_client, department_client_waiting, free_port, prepare_on, serve, wait_ready,
};

/// While the database is down a request may wait for a connection more than once (its
/// caller's certificate, its grants, then its refusal's audit entry), each for up to the
/// store's acquire timeout, before it is answered 503.
const OUTAGE_ANSWER: Duration = Duration::from_secs(20);

/// The gateway process, killed when the test ends, passing or not.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the load saw: acknowledged audit ids, and the failures by status and code.
#[derive(Debug, Default)]
struct Seen {
    acknowledged: Vec<String>,
    failures: BTreeMap<String, u64>,
    transport_errors: u64,
    /// The first few transport errors, to say what they were.
    transport_detail: Vec<String>,
}

/// Runs lookups from `clients` clients until `stop` is set; every answer is recorded.
fn load(
    client: &reqwest::Client,
    base: &str,
    clients: usize,
    seen: &Arc<Mutex<Seen>>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (client, base, seen, stop) = (
                client.clone(),
                base.to_owned(),
                Arc::clone(seen),
                Arc::clone(stop),
            );
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = json!({
                        "sql": "SELECT citizen_id, name FROM population ORDER BY citizen_id LIMIT 1",
                        "purpose": {"matter": "enterprise-opening", "case_id": format!("F-{c}-{i}"), "legal_basis": "test"}
                    });
                    let answer = client.post(format!("{base}/v1/query")).json(&body).send().await;
                    match answer {
                        Ok(r) => {
                            let status = r.status();
                            let body: Value = r.json().await.unwrap_or(Value::Null);
                            let mut seen = seen.lock().expect("lock");
                            if status == StatusCode::OK {
                                seen.acknowledged
                                    .push(body["audit_id"].as_str().expect("audit id").to_owned());
                            } else {
                                let code = body["error"]["code"].as_str().unwrap_or("(no code)");
                                *seen
                                    .failures
                                    .entry(format!("{} {code}", status.as_u16()))
                                    .or_default() += 1;
                            }
                        }
                        Err(e) => {
                            let mut seen = seen.lock().expect("lock");
                            seen.transport_errors += 1;
                            if seen.transport_detail.len() < 5 {
                                seen.transport_detail.push(format!("{e:?}"));
                            }
                        }
                    }
                    i += 1;
                    // Keep the load moderate so an outage's failures come quickly and cheaply.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect()
}

fn acknowledged(seen: &Arc<Mutex<Seen>>) -> usize {
    seen.lock().expect("lock").acknowledged.len()
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Stops the load and checks what it saw: the gateway still up, every failure a clean `503`
/// with a stable code, and no connection failed instead of answering.
async fn end_load(
    seen: Arc<Mutex<Seen>>,
    stop: &std::sync::atomic::AtomicBool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    mut server: Server,
    during: &str,
) -> Seen {
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    assert!(
        server.0.try_wait().expect("status").is_none(),
        "the gateway exited {during}"
    );
    drop(server);
    let seen = Arc::try_unwrap(seen)
        .expect("tasks ended")
        .into_inner()
        .expect("lock");
    for (what, n) in &seen.failures {
        assert!(
            what.starts_with("503 ") && !what.ends_with("(no code)"),
            "{n} answers were {what}, not a clean 503 with a code"
        );
    }
    assert_eq!(
        seen.transport_errors, 0,
        "connections failed instead of answers: {:?}",
        seen.transport_detail
    );
    seen
}

async fn log_holds(config_dir: &Path, store_url: &str, acknowledged: &[String]) {
    let store = Store::connect(store_url, 1).await.expect("store");
    let ids: std::collections::HashSet<String> = store
        .log_entries(&LogFilter::default(), 1_000_000)
        .await
        .expect("entries")
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    store.close().await;
    for id in acknowledged {
        assert!(ids.contains(id), "acknowledged entry {id} is missing");
    }
    let verified = tongban_gateway::audit_cli::run_args([
        "verify",
        "--dir",
        config_dir.to_str().expect("utf-8 path"),
    ])
    .await
    .expect("verify runs");
    assert!(verified, "the log does not verify");
}

fn ctl(action: &str) {
    let script = std::env::var("TONGBAN_TEST_FAULT_POSTGRES_CTL").expect(
        "TONGBAN_TEST_FAULT_POSTGRES_CTL names the fault cluster's control script (tests/run.sh)",
    );
    let status = std::process::Command::new(script)
        .arg(action)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("control script runs");
    assert!(status.success(), "fault cluster {action} failed");
}

/// PostgreSQL stops like a crash under load and comes back: meanwhile requests fail with
/// `503` and a stable code (the gateway stays up), afterwards they succeed again, and no
/// acknowledged audit entry is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_crashing_mid_load_fails_requests_cleanly_and_loses_nothing() {
    let admin = std::env::var("TONGBAN_TEST_FAULT_POSTGRES_URL").expect(
        "TONGBAN_TEST_FAULT_POSTGRES_URL names the fault tests' own PostgreSQL (tests/run.sh)",
    );
    let url = crate::store::database_on(&admin).await;

    let dir = tempfile::tempdir().expect("tempdir");
    prepare_on(dir.path(), Some(url.clone())).await;
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut server = Server(serve(dir.path(), port));
    let client = department_client_waiting(dir.path(), "approval-bureau", OUTAGE_ANSWER);
    wait_ready(&client, &base, &mut server.0).await;

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = load(&client, &base, 4, &seen, &stop);
    wait_for("first answers", Duration::from_secs(20), || {
        acknowledged(&seen) >= 20
    })
    .await;

    ctl("stop");
    let before = acknowledged(&seen);
    wait_for(
        "failures during the outage",
        Duration::from_secs(30),
        || seen.lock().expect("lock").failures.values().sum::<u64>() >= 20,
    )
    .await;
    ctl("start");
    let recovery = wait_for("recovery", Duration::from_secs(60), || {
        acknowledged(&seen) >= before + 20
    })
    .await;
    let seen = end_load(seen, &stop, tasks, server, "during the outage").await;
    eprintln!(
        "PostgreSQL crash under load: {} acknowledged, failures {:?}, answers again {:.1} s after the restart began",
        seen.acknowledged.len(),
        seen.failures,
        recovery.as_secs_f64()
    );
    log_holds(dir.path(), &url, &seen.acknowledged).await;
}

/// The data directory's disk fills up under load: requests fail with a stable code and the
/// gateway stays up; once space is freed they succeed again, and the log (in SQLite on that
/// disk) verifies with every acknowledged entry in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_requests_cleanly_and_corrupts_nothing() {
    let small = std::env::var("TONGBAN_TEST_SMALL_FS").expect(
        "TONGBAN_TEST_SMALL_FS names a small file system to fill (tests/run.sh mounts one; it needs root)",
    );
    let dir = tempfile::tempdir_in(&small).expect("tempdir on the small file system");
    let config = prepare_on(dir.path(), None).await;
    let url = config.store.url.expose().to_owned();
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut server = Server(serve(dir.path(), port));
    let client = department_client_waiting(dir.path(), "approval-bureau", OUTAGE_ANSWER);
    wait_ready(&client, &base, &mut server.0).await;

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = load(&client, &base, 2, &seen, &stop);
    wait_for("first answers", Duration::from_secs(20), || {
        acknowledged(&seen) >= 20
    })
    .await;

    // Fill the file system to the last byte.
    let filler = Path::new(&small).join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 1 << 16];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        let _ = f.sync_all();
    }
    let before = acknowledged(&seen);
    wait_for(
        "failures while the disk is full",
        Duration::from_secs(60),
        || seen.lock().expect("lock").failures.values().sum::<u64>() >= 10,
    )
    .await;
    std::fs::remove_file(&filler).expect("space freed");
    let recovery = wait_for("recovery", Duration::from_secs(60), || {
        acknowledged(&seen) >= before + 20
    })
    .await;
    let seen = end_load(seen, &stop, tasks, server, "when the disk filled").await;
    eprintln!(
        "Full disk under load: {} acknowledged, failures {:?}, answers again {:.1} s after space was freed",
        seen.acknowledged.len(),
        seen.failures,
        recovery.as_secs_f64()
    );
    log_holds(dir.path(), &url, &seen.acknowledged).await;
}

/// Clients that open connections and never finish a TLS handshake, or finish it and never
/// send a request, hold nothing for long: the server closes them after its time limits and
/// keeps answering everyone else meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_cut_off_and_others_are_served() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("tempdir");
    prepare_on(dir.path(), None).await;
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut server = Server(serve(dir.path(), port));
    let client = department_client(dir.path(), "approval-bureau");
    wait_ready(&client, &base, &mut server.0).await;

    // 200 connections that send nothing at all.
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connects"),
        );
    }
    // Everyone else is still served, promptly.
    for i in 0..20 {
        let started = Instant::now();
        let response = client
            .post(format!("{base}/v1/query"))
            .json(&json!({
                "sql": "SELECT citizen_id FROM population LIMIT 1",
                "purpose": {"matter": "enterprise-opening", "case_id": format!("S-{i}"), "legal_basis": "test"}
            }))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(5), "served slowly");
    }
    // The silent ones are closed once the handshake time limit passes.
    let limit = Duration::from_secs(10 + 5);
    let started = Instant::now();
    for mut stream in silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(limit, stream.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection was still open after {:?}",
            started.elapsed()
        );
    }
    // One that completes the handshake and then sends no request is closed too.
    let idle = idle_tls_connection(dir.path(), port).await;
    assert!(
        idle <= Duration::from_secs(40),
        "an idle TLS connection stayed open {idle:?}"
    );
    assert!(server.0.try_wait().expect("status").is_none());
    drop(server);
    eprintln!(
        "Silent clients: 200 closed within {:?}; an idle TLS connection closed after {idle:?}",
        limit
    );
}

/// Opens a TLS connection with a department certificate, sends nothing, and returns how
/// long the server kept it open.
async fn idle_tls_connection(dir: &Path, port: u16) -> Duration {
    use tokio::io::AsyncReadExt;
    let pki = tongban_gateway::pki::PkiPaths::new(dir);
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(pki.ca_cert()).expect("ca");
    for cert in rustls_pemfile_certs(&ca) {
        roots.add(cert).expect("root");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let _ = tokio::time::timeout(Duration::from_secs(60), tls.read(&mut byte)).await;
    started.elapsed()
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// The SHA-256 fingerprint of the certificate the server presents to a new connection.
async fn served_fingerprint(dir: &Path, port: u16) -> String {
    let pki = tongban_gateway::pki::PkiPaths::new(dir);
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&std::fs::read(pki.ca_cert()).expect("ca")) {
        roots.add(cert).expect("root");
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a server certificate")
        .clone();
    tongban_gateway::pki::fingerprint(&leaf)
}

/// A renewed server certificate is served without a restart, and a broken renewal (a key
/// that does not match) leaves the working certificate in service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_server_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    prepare_on(dir.path(), None).await;
    let port = free_port();
    let base = format!("https://127.0.0.1:{port}");
    let mut server = Server(serve(dir.path(), port));
    let client = department_client(dir.path(), "approval-bureau");
    wait_ready(&client, &base, &mut server.0).await;
    let pki = tongban_gateway::pki::PkiPaths::new(dir.path());
    let first = served_fingerprint(dir.path(), port).await;

    tongban_gateway::pki::renew_server(&pki, &[], time::OffsetDateTime::now_utc())
        .expect("renewed");
    let expected =
        tongban_gateway::pki::fingerprint_of_pem_file(&pki.server_cert()).expect("new fingerprint");
    assert_ne!(first, expected);
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_fingerprint(dir.path(), port).await != expected {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A certificate whose key is not in the key file: refused, the working pair stays.
    let key = std::fs::read(pki.server_key()).expect("key");
    let other = rcgen::KeyPair::generate().expect("key pair");
    std::fs::write(pki.server_key(), other.serialize_pem()).expect("written");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(served_fingerprint(dir.path(), port).await, expected);
    let answer = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("answered");
    assert!(answer.status().is_success());
    std::fs::write(pki.server_key(), key).expect("restored");
    assert!(server.0.try_wait().expect("status").is_none());
    drop(server);
}
