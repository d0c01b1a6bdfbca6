//! Interoperability with an independent JOSE implementation (Python jwcrypto).
//!
//! These tests run `python3` with `jwcrypto` installed (`pip install jwcrypto`) and fail,
//! rather than skip, when either is missing: interoperability is a requirement, not a bonus.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tongban_certs::{
    Holder, IssueRequest, Issuer, LicenceType, SigningKey, StatusRef, VerifyPolicy, issue, verify,
};

use crate::common::{
    CITIZEN_ID, CIVIL_STATUS_URI, NOW, POLICE_STATUS_URI, WORLD, business_face, id_card_face,
    issue_business, marriage_face,
};

const SCRIPT: &str = include_str!("interop.py");

fn python(request: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the interoperability tests");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("python3 runs");
    assert!(
        out.status.success(),
        "the jwcrypto side failed (is jwcrypto installed? pip install jwcrypto):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python answers JSON")
}

fn public_jwk(key: &SigningKey) -> Value {
    Value::Object(key.verifying_key().to_jwk())
}

#[test]
fn tongban_licences_verify_with_jwcrypto() {
    let w = &*WORLD;
    let citizen = Holder::parse("111", CITIZEN_ID).expect("holder");
    let id_card = issue(
        &IssueRequest {
            licence_type: LicenceType::IdCard,
            holder: citizen.clone(),
            face: id_card_face(),
            status: StatusRef {
                list: 1,
                idx: 20,
                uri: POLICE_STATUS_URI.into(),
            },
            version: 1,
            holder_key: None,
        },
        &Issuer {
            department: "public-security",
            uscc: &w.dept_uscc,
            key: &w.police,
        },
        NOW,
    )
    .expect("issue");
    let marriage = issue(
        &IssueRequest {
            licence_type: LicenceType::MarriageCertificate,
            holder: citizen,
            face: marriage_face(),
            status: StatusRef {
                list: 1,
                idx: 21,
                uri: CIVIL_STATUS_URI.into(),
            },
            version: 1,
            holder_key: None,
        },
        &Issuer {
            department: "civil-affairs",
            uscc: &w.dept_uscc,
            key: &w.civil,
        },
        NOW,
    )
    .expect("issue");
    let cases = [
        (
            issue_business(22).token,
            &w.market,
            "ES256",
            business_face(),
        ),
        (id_card.token, &w.police, "EdDSA", id_card_face()),
        (marriage.token, &w.civil, "RS256", marriage_face()),
    ];
    for (token, key, alg, face) in cases {
        let answer = python(&json!({"op": "verify", "token": token, "jwk": public_jwk(key)}));
        assert_eq!(answer["alg"], alg);
        let fields: std::collections::BTreeMap<String, String> =
            serde_json::from_value(answer["fields"].clone()).expect("fields");
        assert_eq!(fields, face, "{alg}");
        assert_eq!(answer["payload"]["iat"], NOW);
    }
}

#[test]
fn jwcrypto_licences_verify_in_tongban() {
    let w = &*WORLD;
    let cases = [
        (
            &w.market,
            "market-regulation",
            LicenceType::BusinessLicence,
            business_face(),
            json!({"type": "001", "id": crate::common::ENTITY_USCC}),
            crate::common::MARKET_STATUS_URI,
        ),
        (
            &w.police,
            "public-security",
            LicenceType::IdCard,
            id_card_face(),
            json!({"type": "111", "id": CITIZEN_ID}),
            POLICE_STATUS_URI,
        ),
    ];
    for (key, dept, licence_type, face, holder, uri) in cases {
        let id = tongban_schemas::id::LicenceId::new(
            licence_type.type_code(),
            w.dept_uscc.as_str(),
            "JWCRYPTO1",
            1,
        )
        .expect("licence id");
        let private: Value = serde_json::from_str(&key.to_private_jwk_json()).expect("jwk");
        let answer = python(&json!({
            "op": "issue",
            "jwk": private,
            "header": {"alg": key.alg().name(), "kid": key.kid(), "typ": "dc+sd-jwt"},
            "payload": {
                "iss": dept, "jti": id.as_str(), "vct": licence_type.slug(),
                "iat": NOW - 10, "nbf": NOW - 86_400, "holder": holder,
                "status": {"status_list": {"idx": 30, "uri": uri}},
            },
            "face": face,
        }));
        let token = answer["token"].as_str().expect("token");
        let verified = verify(
            token,
            &w.trust,
            &w.status_lists,
            &VerifyPolicy::default(),
            NOW,
        )
        .unwrap_or_else(|e| panic!("{licence_type}: {}: {e}", e.code()));
        assert_eq!(verified.id, id);
        assert_eq!(verified.disclosed, face);
    }
}
