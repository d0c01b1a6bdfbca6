//! End-to-end flows: issue, present, verify, status changes, rotation, offline use, QR.

use tongban_certs::qr::{QrEncoding, decode_image, render};
use tongban_certs::{
    Alg, Holder, IssueRequest, Issuer, KeyBinding, LicenceStatus, LicenceType, Limits, SigningKey,
    StatusRef, TrustList, TrustStore, VerifyPolicy, issue, present, verify,
};

use crate::common::{
    CITIZEN_ID, CIVIL_STATUS_URI, ENTITY_USCC, NOW, POLICE_STATUS_URI, WORLD, YEAR, id_card_face,
    issue_business, issue_business_with, marriage_face,
};

fn code<T>(r: Result<T, tongban_certs::LicenceError>) -> Result<T, &'static str> {
    r.map_err(|e| e.code())
}

#[test]
fn business_licence_round_trip_with_selective_disclosure() {
    let w = &*WORLD;
    let issued = issue_business(1);
    assert!(
        issued
            .id
            .as_str()
            .starts_with("1.2.156.3005.2.11100000000013338W001.")
    );
    assert_eq!(issued.id.serial(), "2025000100000001");
    let full = verify(
        &issued.token,
        &w.trust,
        &w.status_lists,
        &VerifyPolicy::default(),
        NOW,
    )
    .expect("verifies");
    assert_eq!(full.licence_type, LicenceType::BusinessLicence);
    assert_eq!(full.issuer, "market-regulation");
    assert_eq!(
        full.holder,
        Holder::parse("001", ENTITY_USCC).expect("holder")
    );
    assert_eq!(
        full.disclosed.len(),
        LicenceType::BusinessLicence.fields().len()
    );
    assert_eq!(full.status, LicenceStatus::Valid);
    assert_eq!(full.valid_until, None);

    let limits = Limits::default();
    let subset =
        present(&issued.token, &["name", "legal_rep_name"], None, &limits).expect("present");
    let seen = verify(
        &subset,
        &w.trust,
        &w.status_lists,
        &VerifyPolicy::default(),
        NOW,
    )
    .expect("subset verifies");
    assert_eq!(
        seen.disclosed
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["legal_rep_name", "name"]
    );
    assert_eq!(seen.disclosed["name"], "廊坊示例科技有限公司");
    assert_eq!(seen.id, full.id);
    let none = present(&issued.token, &[], None, &limits).expect("present nothing");
    assert!(
        verify(
            &none,
            &w.trust,
            &w.status_lists,
            &VerifyPolicy::default(),
            NOW
        )
        .expect("verifies")
        .disclosed
        .is_empty()
    );
    assert_eq!(
        code(present(&issued.token, &["colour"], None, &limits)),
        Err("licence.field_not_in_licence")
    );
}

#[test]
fn key_binding_ties_a_presentation_to_audience_and_nonce() {
    let w = &*WORLD;
    let issued = issue_business(2);
    let limits = Limits::default();
    let kb = KeyBinding {
        key: &w.holder,
        audience: "approval-bureau",
        nonce: "n-0S6_WzA2Mj",
        now: NOW,
    };
    let presented = present(&issued.token, &["name"], Some(&kb), &limits).expect("present");
    let policy = VerifyPolicy {
        audience: Some("approval-bureau".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        ..VerifyPolicy::default()
    };
    let ok = verify(&presented, &w.trust, &w.status_lists, &policy, NOW).expect("verifies");
    assert!(ok.key_bound);
    let other_audience = VerifyPolicy {
        audience: Some("real-estate".into()),
        ..policy.clone()
    };
    assert_eq!(
        code(verify(
            &presented,
            &w.trust,
            &w.status_lists,
            &other_audience,
            NOW
        )),
        Err("licence.audience_mismatch")
    );
    let other_nonce = VerifyPolicy {
        nonce: Some("replayed".into()),
        ..policy.clone()
    };
    assert_eq!(
        code(verify(
            &presented,
            &w.trust,
            &w.status_lists,
            &other_nonce,
            NOW
        )),
        Err("licence.nonce_mismatch")
    );
    assert_eq!(
        code(verify(
            &presented,
            &w.trust,
            &w.status_lists,
            &policy,
            NOW + 3600
        )),
        Err("licence.key_binding_invalid")
    );
    // Adding a disclosure after binding breaks sd_hash.
    let (head, kb_jwt) = presented.rsplit_once('~').expect("kb");
    let full = issued.token.clone();
    let extra = full.split('~').nth(1).expect("disclosure");
    let widened = format!("{head}~{extra}~{kb_jwt}");
    assert_eq!(
        code(verify(&widened, &w.trust, &w.status_lists, &policy, NOW)),
        Err("licence.key_binding_invalid")
    );
    // Another key cannot bind.
    let thief = SigningKey::generate(Alg::Es256).expect("key");
    let stolen = present(
        &issued.token,
        &["name"],
        Some(&KeyBinding { key: &thief, ..kb }),
        &limits,
    )
    .expect("present");
    assert_eq!(
        code(verify(&stolen, &w.trust, &w.status_lists, &policy, NOW)),
        Err("licence.key_binding_invalid")
    );
}

#[test]
fn eddsa_id_card_and_rs256_marriage_certificate() {
    let w = &*WORLD;
    let citizen = Holder::parse("111", CITIZEN_ID).expect("holder");
    let id_card = issue(
        &IssueRequest {
            licence_type: LicenceType::IdCard,
            holder: citizen.clone(),
            face: id_card_face(),
            status: StatusRef {
                list: 1,
                idx: 3,
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
    .expect("issue ID card");
    let verified = verify(
        &id_card.token,
        &w.trust,
        &w.status_lists,
        &VerifyPolicy::default(),
        NOW,
    )
    .expect("ID card verifies");
    assert_eq!(verified.licence_type, LicenceType::IdCard);
    // The face ends 2036-05-01 (Beijing time): exp is the next midnight there.
    assert_eq!(verified.valid_until, Some(2_093_270_400));

    let marriage = issue(
        &IssueRequest {
            licence_type: LicenceType::MarriageCertificate,
            holder: citizen,
            face: marriage_face(),
            status: StatusRef {
                list: 1,
                idx: 4,
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
    .expect("issue marriage certificate");
    let verified = verify(
        &marriage.token,
        &w.trust,
        &w.status_lists,
        &VerifyPolicy::default(),
        NOW,
    )
    .expect("marriage certificate verifies");
    assert_eq!(verified.disclosed["wife_name"], "李四");
}

#[test]
fn issuance_refusals() {
    let w = &*WORLD;
    let mut request = crate::common::business_request(5, None);
    let wrong_issuer = Issuer {
        department: "public-security",
        uscc: &w.dept_uscc,
        key: &w.police,
    };
    assert_eq!(
        code(issue(&request, &wrong_issuer, NOW)),
        Err("licence.issuer_not_authorised_for_type")
    );
    let issuer = Issuer {
        department: "market-regulation",
        uscc: &w.dept_uscc,
        key: &w.market,
    };
    request.face.insert("term_to".into(), "2024-12-31".into());
    assert_eq!(
        code(issue(&request, &issuer, NOW)),
        Err("licence.validity_invalid")
    );
    request.face.remove("term_to");
    assert_eq!(
        code(issue(&request, &issuer, NOW)),
        Err("licence.face_field_missing")
    );
}

#[test]
fn status_changes_take_effect_when_the_list_is_republished() {
    let w = &*WORLD;
    let issued = issue_business(9);
    let mut list = w.market_status.clone();
    let publish = |list: &tongban_certs::StatusList| {
        let mut lists = w.status_lists.clone();
        lists.insert(crate::common::signed_list(
            &w.trust,
            &w.market,
            "market-regulation",
            crate::common::MARKET_STATUS_URI,
            list,
        ));
        lists
    };
    let check = |lists| {
        code(
            verify(
                &issued.token,
                &w.trust,
                &lists,
                &VerifyPolicy::default(),
                NOW,
            )
            .map(|_| ()),
        )
    };
    list.suspend(9).expect("suspend");
    assert_eq!(check(publish(&list)), Err("licence.suspended"));
    list.reinstate(9).expect("reinstate");
    assert_eq!(check(publish(&list)), Ok(()));
    list.revoke(9).expect("revoke");
    assert_eq!(check(publish(&list)), Err("licence.revoked"));
    // A status list signed by a key of another department is not accepted for this one.
    let token = list
        .sign(
            &w.police,
            "market-regulation",
            crate::common::MARKET_STATUS_URI,
            NOW,
            None,
            None,
        )
        .expect("sign");
    assert_eq!(
        code(
            tongban_certs::VerifiedStatusList::from_token(
                &token,
                &w.trust,
                None,
                &Limits::default()
            )
            .map(|_| ())
        ),
        Err("licence.unknown_key")
    );
}

#[test]
fn rotation_keeps_earlier_licences_valid() {
    let w = &*WORLD;
    let old = SigningKey::generate(Alg::Es256).expect("key");
    let new = SigningKey::generate(Alg::EdDsa).expect("key");
    let types = vec![LicenceType::BusinessLicence];
    let mut list = TrustList::default();
    list.rotate(
        "market-regulation",
        old.verifying_key().clone(),
        types.clone(),
        NOW - YEAR,
    );
    let before = issue_business_with(&old, 11, NOW - 1000);
    list.rotate(
        "market-regulation",
        new.verifying_key().clone(),
        types,
        NOW - 500,
    );
    let after = issue_business_with(&new, 12, NOW - 100);
    let late_with_old = issue_business_with(&old, 13, NOW - 100);

    let token = list
        .sign(&w.anchor, "data-bureau", NOW - 10, None)
        .expect("sign");
    let trust = TrustStore::from_token(&token, w.anchor.verifying_key(), &Limits::default())
        .expect("trust list");
    let mut lists = tongban_certs::StatusLists::new();
    lists.insert(crate::common::signed_list(
        &trust,
        &new,
        "market-regulation",
        crate::common::MARKET_STATUS_URI,
        &w.market_status,
    ));
    let policy = VerifyPolicy::default();
    assert!(verify(&before.token, &trust, &lists, &policy, NOW).is_ok());
    assert!(verify(&after.token, &trust, &lists, &policy, NOW).is_ok());
    assert_eq!(
        code(verify(&late_with_old.token, &trust, &lists, &policy, NOW)),
        Err("licence.key_not_valid_at_issuance")
    );
    // A trust list signed by anyone but the anchor is refused.
    let forged = list
        .sign(&w.market, "data-bureau", NOW, None)
        .expect("sign");
    assert_eq!(
        code(
            TrustStore::from_token(&forged, w.anchor.verifying_key(), &Limits::default())
                .map(|_| ())
        ),
        Err("licence.trust_list_invalid")
    );
}

#[test]
fn offline_verification_from_cached_files() {
    let w = &*WORLD;
    let issued = issue_business(14);
    // The scanner reloads the signed trust list and status list from its cache.
    let trust =
        TrustStore::from_token(&w.trust_token, w.anchor.verifying_key(), &Limits::default())
            .expect("cached trust list");
    let policy = VerifyPolicy {
        max_trust_list_age: Some(86_400),
        max_status_list_age: Some(3_600),
        ..VerifyPolicy::default()
    };
    assert!(verify(&issued.token, &trust, &w.status_lists, &policy, NOW + 600).is_ok());
    assert_eq!(
        code(verify(
            &issued.token,
            &trust,
            &w.status_lists,
            &policy,
            NOW + 7_200
        )),
        Err("licence.status_list_stale")
    );
    assert_eq!(
        code(verify(
            &issued.token,
            &trust,
            &w.status_lists,
            &policy,
            NOW + 2 * 86_400
        )),
        Err("licence.trust_list_stale")
    );
}

#[test]
fn qr_codes_carry_presentations() {
    let w = &*WORLD;
    let issued = issue_business(15);
    let presented =
        present(&issued.token, &["name", "uscc"], None, &Limits::default()).expect("present");
    for encoding in [QrEncoding::Compact, QrEncoding::Compressed] {
        let images = render(&presented, encoding).expect("render");
        let token = decode_image(&images.png, 16 * 1024).expect("decode");
        assert_eq!(token, presented);
        assert!(
            verify(
                &token,
                &w.trust,
                &w.status_lists,
                &VerifyPolicy::default(),
                NOW
            )
            .is_ok()
        );
    }
    let compact = render(&presented, QrEncoding::Compact).expect("render");
    let compressed = render(&presented, QrEncoding::Compressed).expect("render");
    assert!(compressed.png.len() <= compact.png.len());
    // A JPEG of the code (lossy) still reads.
    let png = image::load_from_memory(&compressed.png).expect("png");
    let mut jpeg = Vec::new();
    png.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .expect("jpeg");
    assert_eq!(
        decode_image(&jpeg, 16 * 1024).as_deref(),
        Ok(presented.as_str())
    );
}
