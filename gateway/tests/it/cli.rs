//! The `tongban` binary, run as a user would.

use std::process::Command;

fn tongban(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tongban"))
        .args(args)
        .output()
        .expect("the binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn validate_exits_zero_for_valid_identifiers_and_one_with_a_reason_otherwise() {
    let cases: &[(&str, &str, i32, &str)] = &[
        ("citizen-id", "110101199003070011", 0, "valid"),
        ("citizen-id", "210202198511150027", 0, "valid"),
        ("citizen-id", "13100219980621124X", 0, "valid"),
        ("citizen-id", "13100219980621124x", 1, "invalid"),
        ("citizen-id", "110101199003070012", 1, "check character"),
        ("citizen-id", "11010119900230001X", 1, "invalid"),
        ("citizen-id", "1101011990", 1, "invalid"),
        ("uscc", "91110000600037341L", 0, "valid"),
        ("uscc", "91110000600037341M", 1, "invalid"),
        ("uscc", "9111000060003734IL", 1, "invalid"),
        (
            "licence-id",
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
            0,
            "valid",
        ),
        (
            "licence-id",
            "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V",
            1,
            "invalid",
        ),
        ("division", "131002", 0, "安次区"),
        ("division", "110103", 0, "historical"),
        ("division", "999999", 1, "invalid"),
    ];
    for (kind, value, code, needle) in cases {
        let (status, text) = tongban(&["validate", kind, value]);
        assert_eq!(status, *code, "{kind} {value}: {text}");
        assert!(text.contains(needle), "{kind} {value}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "one line: {text}");
    }
}

#[test]
fn unknown_commands_and_kinds_are_usage_errors() {
    let (status, _) = tongban(&["validate", "passport", "E12345678"]);
    assert_eq!(status, 2);
    let (status, _) = tongban(&["fly"]);
    assert_eq!(status, 2);
}

#[test]
fn serve_refuses_a_directory_without_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, text) = tongban(&["serve", "--dir", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(status, 1);
    assert!(text.contains("cannot read"), "{text}");
}

#[test]
fn serve_refuses_missing_certificates_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, text) = tongban(&[
        "init",
        "--dir",
        dir.path().to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("admin"), "the admin login is printed: {text}");
    std::fs::remove_file(dir.path().join("pki/server.crt")).expect("remove");
    let (status, text) = tongban(&["serve", "--dir", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(status, 1);
    assert!(
        text.contains("server.crt") && text.contains("missing certificate"),
        "{text}"
    );
}

#[test]
fn grants_can_be_requested_approved_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let (status, text) = tongban(&["init", "--dir", d, "--listen", "127.0.0.1:0"]);
    assert_eq!(status, 0, "{text}");
    let (status, text) = tongban(&[
        "grants",
        "request",
        "--dir",
        d,
        "--department",
        "approval-bureau",
        "--resource",
        "population",
        "--columns",
        "citizen_id,residence_address",
        "--matters",
        "birth-registration",
        "--reason",
        "出生一件事",
        "--legal-basis",
        "《母婴保健法》",
    ]);
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("request 1 filed"), "{text}");
    let (status, text) = tongban(&[
        "grants",
        "approve",
        "--dir",
        d,
        "--id",
        "1",
        "--as",
        "market-regulation",
    ]);
    assert_eq!(status, 1, "only the provider approves: {text}");
    let (status, text) = tongban(&[
        "grants",
        "approve",
        "--dir",
        d,
        "--id",
        "1",
        "--as",
        "public-security",
        "--mask",
        "residence_address=prefix:6",
    ]);
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("grant 1"), "{text}");
    let (status, text) = tongban(&[
        "grants",
        "revoke",
        "--dir",
        d,
        "--id",
        "1",
        "--as",
        "public-security",
    ]);
    assert_eq!(status, 0, "{text}");
    let (status, text) = tongban(&["grants", "list", "--dir", d]);
    assert_eq!(status, 0, "{text}");
    assert!(
        text.contains("revoked") && text.contains("approved"),
        "{text}"
    );
    let (status, text) = tongban(&[
        "grants",
        "approve",
        "--dir",
        d,
        "--id",
        "1",
        "--as",
        "public-security",
        "--mask",
        "residence_address=sideways",
    ]);
    assert_eq!(status, 1, "{text}");
}
