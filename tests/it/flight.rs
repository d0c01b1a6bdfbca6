//! Arrow Flight SQL through a real third-party client: the ADBC Flight SQL driver, run from
//! `tests/flight/flight_client.py`. The same grants, masks, purpose binding and access
//! records as `POST /v1/query`.

use serde_json::Value;
use tongban_tests::TestHub;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/flight/flight_client.py");
const LEGAL_BASIS: &str = "《优化营商环境条例》第十九条";

/// Who calls.
#[derive(Debug, Clone, Copy)]
enum Caller {
    /// A department system with its client certificate.
    Department(&'static str),
    /// A seeded person with a bearer token, no certificate.
    Person(&'static str),
    /// No certificate, no token.
    Nobody,
}

/// What the call must end in.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This many rows.
    Rows(usize),
    /// A refusal whose message starts with this stable code.
    Refused(&'static str),
}

/// One Flight SQL call and what it must leave behind.
struct Case {
    caller: Caller,
    /// The matter; `None` sends no purpose headers at all.
    matter: Option<&'static str>,
    sql: &'static str,
    expect: Expect,
    /// Audit entries the call must add.
    audited: i64,
}

const CASES: &[Case] = &[
    Case {
        caller: Caller::Department("approval-bureau"),
        matter: Some("enterprise-opening"),
        sql: "SELECT citizen_id, name, household_address FROM population ORDER BY citizen_id LIMIT 3",
        expect: Expect::Rows(3),
        audited: 1,
    },
    Case {
        caller: Caller::Person("consumer"),
        matter: Some("food-business-licence"),
        sql: "SELECT citizen_id, residence_address FROM population ORDER BY citizen_id LIMIT 5",
        expect: Expect::Rows(5),
        audited: 1,
    },
    Case {
        caller: Caller::Department("approval-bureau"),
        matter: None,
        sql: "SELECT citizen_id FROM population LIMIT 1",
        expect: Expect::Refused("query.missing_purpose"),
        audited: 1,
    },
    Case {
        caller: Caller::Department("civil-affairs"),
        matter: Some("enterprise-opening"),
        sql: "SELECT * FROM credit_record",
        expect: Expect::Refused("query.not_granted"),
        audited: 1,
    },
    Case {
        caller: Caller::Nobody,
        matter: Some("enterprise-opening"),
        sql: "SELECT citizen_id FROM population LIMIT 1",
        expect: Expect::Refused("auth.required"),
        audited: 0,
    },
];

#[tokio::test]
async fn flight_sql_serves_governed_queries_to_a_real_client_and_records_each_once()
-> anyhow::Result<()> {
    require_python_client().await;
    let hub = TestHub::with_data_and_flight(300).await?;
    let store = tongban_gateway::store::Store::connect(hub.config.store.url.expose(), 1).await?;
    for case in CASES {
        let before = store.audit_count().await?;
        let answer = call(&hub, case).await?;
        let label = format!("{:?} {:?} {}", case.caller, case.matter, case.sql);
        match case.expect {
            Expect::Rows(n) => {
                assert_eq!(answer["ok"], true, "{label}: {answer}");
                assert_eq!(answer["row_count"], n, "{label}: {answer}");
                check_masks(&answer, &label);
            }
            Expect::Refused(code) => {
                assert_eq!(answer["ok"], false, "{label}: {answer}");
                let error = answer["error"].as_str().unwrap_or_default();
                assert!(
                    error.contains(&format!("{code}: ")),
                    "{label}: expected {code}, got {error}"
                );
                if case.audited > 0 {
                    let audit_id = audit_id(error)
                        .ok_or_else(|| anyhow::anyhow!("{label}: no audit id in {error}"))?;
                    let (_, entry) = store.audit_entry(audit_id).await?;
                    assert_eq!(entry["event"], "query_refused", "{label}");
                    assert_eq!(entry["code"], code, "{label}");
                    if case.matter.is_some() {
                        assert_eq!(
                            entry["purpose"]["legal_basis"], LEGAL_BASIS,
                            "{label}: percent-decoded UTF-8"
                        );
                    }
                }
            }
        }
        assert_eq!(
            store.audit_count().await?,
            before + case.audited,
            "{label}: audit entries"
        );
    }
    Ok(())
}

/// Every address column the answer carries is masked to six characters and `****`.
fn check_masks(answer: &Value, label: &str) {
    let columns = answer["columns"].as_array().cloned().unwrap_or_default();
    for (i, column) in columns.iter().enumerate() {
        if !matches!(
            column.as_str(),
            Some("household_address" | "residence_address")
        ) {
            continue;
        }
        for row in answer["rows"].as_array().into_iter().flatten() {
            let address = row[i].as_str().unwrap_or_default();
            assert!(
                address.ends_with("****") && address.chars().count() == 10,
                "{label}: {column} masked: {address}"
            );
        }
    }
}

/// The audit id a refusal names: `… (audit_id <id>)`.
fn audit_id(message: &str) -> Option<&str> {
    let rest = &message[message.find("(audit_id ")? + "(audit_id ".len()..];
    rest.split(')').next()
}

async fn call(hub: &TestHub, case: &Case) -> anyhow::Result<Value> {
    let pki = hub.pki();
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(SCRIPT)
        .arg("--uri")
        .arg(hub.flight_uri()?)
        .arg("--ca")
        .arg(pki.ca_cert())
        .arg("--sql")
        .arg(case.sql);
    match case.caller {
        Caller::Department(dept) => {
            command
                .arg("--cert")
                .arg(pki.client_cert(dept))
                .arg("--key")
                .arg(pki.client_key(dept));
        }
        Caller::Person(username) => {
            command.arg("--token").arg(hub.token(username).await?);
        }
        Caller::Nobody => {}
    }
    if let Some(matter) = case.matter {
        command.args([
            "--matter",
            matter,
            "--case-id",
            "2026-FLIGHT-0001",
            "--legal-basis",
            LEGAL_BASIS,
        ]);
    }
    let output = command.output().await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success(),
        "flight_client.py failed ({}): {stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .map_err(|e| anyhow::anyhow!("not JSON ({e}): {stdout} {stderr}"))
}

/// Fails (never skips) when the client cannot run.
async fn require_python_client() {
    let probe = tokio::process::Command::new("python3")
        .args(["-c", "import adbc_driver_flightsql, pyarrow"])
        .output()
        .await;
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the Flight SQL test needs the Python packages adbc-driver-flightsql and pyarrow; tests/run.sh installs them \
             (python3 -m pip install adbc-driver-flightsql pyarrow): {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => panic!(
            "the Flight SQL test needs python3 with adbc-driver-flightsql and pyarrow; tests/run.sh installs the packages: {e}"
        ),
    }
}
