//! Operators' logs: with `TONGBAN_LOG_FORMAT=json` the running gateway writes one JSON
//! object per line, including one access event per request with the route template, the
//! status and the duration.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Kills the server when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn json_logs_carry_one_access_event_per_request() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().expect("utf-8 path");
    let init = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["init", "--dir", path, "--listen", "127.0.0.1:0"])
        .output()?;
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(["serve", "--dir", path])
        .env("TONGBAN_LOG_FORMAT", "json")
        .env("TONGBAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let _running = Running(child);
    // Lines arrive on a channel so that waiting for one can time out.
    let (lines, received) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next_json = || -> anyhow::Result<Value> {
        let line = received.recv_timeout(Duration::from_secs(60))?;
        serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("not a JSON line ({e}): {line}"))
    };

    let addr = loop {
        let event = next_json()?;
        if event["fields"]["message"] == "gateway listening (HTTPS)" {
            break event["fields"]["addr"].as_str().expect("addr").to_owned();
        }
    };
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.path().join("pki/ca.crt"))?)?;
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .use_rustls_tls()
        .build()?;
    let health = client.get(format!("https://{addr}/healthz")).send().await?;
    assert_eq!(health.status(), 200);
    let denied = client.get(format!("https://{addr}/v1/me")).send().await?;
    assert_eq!(denied.status(), 401);

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = next_json()?;
        if event["target"] == "tongban::access" {
            seen.push(event);
        }
    }
    assert_eq!(seen[0]["level"], "INFO");
    assert_eq!(seen[0]["fields"]["route"], "/healthz");
    assert_eq!(seen[0]["fields"]["status"], 200);
    assert!(seen[0]["fields"]["duration_ms"].as_f64().is_some());
    assert_eq!(seen[1]["fields"]["route"], "/v1/me");
    assert_eq!(seen[1]["fields"]["status"], 401);
    assert!(seen[1]["timestamp"].is_string());
    Ok(())
}
