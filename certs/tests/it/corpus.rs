//! The bad-input corpus: `corpus.toml` lists the cases, [`check`] runs one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::Deserialize;
use serde_json::{Map, Value};
use tongban_certs::qr::{QrEncoding, qr_text, token_from_qr_text};
use tongban_certs::{LicenceError, SigningKey, VerifyPolicy, verify};

use crate::common::{MARKET_STATUS_URI, NOW, WORLD, issue_business, signed_list};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    expect: String,
    header: Option<String>,
    header_raw: Option<String>,
    payload: Option<String>,
    payload_prefix: Option<String>,
    sd: Option<String>,
    signer: Option<String>,
    sig: Option<String>,
    token: Option<String>,
    extra_disclosure: Option<String>,
    status: Option<String>,
    at: Option<i64>,
    policy: Option<String>,
    qr: Option<String>,
}

/// The P-256 group order n.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn merge(target: &mut Map<String, Value>, patch: &str) {
    let patch: Map<String, Value> = serde_json::from_str(patch).expect("case JSON");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(&k);
        } else {
            target.insert(k, v);
        }
    }
}

fn signer(name: Option<&str>) -> &'static SigningKey {
    let w = &*WORLD;
    match name.unwrap_or("market") {
        "market" => &w.market,
        "untrusted" => &w.untrusted,
        "food_only" => &w.market_food_only,
        "retired" => &w.market_retired,
        "police" => &w.police,
        other => panic!("unknown signer {other}"),
    }
}

/// Signs with the key through a fresh JWS so that the corpus does not depend on crate
/// internals: the signing input is signed with the licence key's own JWK via josekit.
fn raw_sign(key: &SigningKey, input: &str) -> Vec<u8> {
    let jwk = josekit::jwk::Jwk::from_bytes(key.to_private_jwk_json().as_bytes()).expect("jwk");
    let signer: Box<dyn josekit::jws::JwsSigner> = match key.alg().name() {
        "ES256" => Box::new(josekit::jws::ES256.signer_from_jwk(&jwk).expect("signer")),
        "EdDSA" => Box::new(josekit::jws::EdDSA.signer_from_jwk(&jwk).expect("signer")),
        _ => Box::new(josekit::jws::RS256.signer_from_jwk(&jwk).expect("signer")),
    };
    signer.sign(input.as_bytes()).expect("sign")
}

fn der(raw: &[u8]) -> Vec<u8> {
    let sig = openssl::ecdsa::EcdsaSig::from_private_components(
        openssl::bn::BigNum::from_slice(&raw[..32]).expect("r"),
        openssl::bn::BigNum::from_slice(&raw[32..]).expect("s"),
    )
    .expect("sig");
    sig.to_der().expect("der")
}

fn edit_token(token: &str, edit: &str) -> String {
    let (jwt, rest) = token.split_once('~').expect("sd-jwt");
    let parts: Vec<&str> = jwt.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let disclosures: Vec<&str> = rest.split('~').filter(|d| !d.is_empty()).collect();
    let join = |h: &str, p: &str, s: &str, ds: &[String]| {
        let mut out = format!("{h}.{p}.{s}~");
        for d in ds {
            out.push_str(d);
            out.push('~');
        }
        out
    };
    let ds: Vec<String> = disclosures.iter().map(|d| (*d).to_owned()).collect();
    let mid = |seg: &str, c: &str| format!("{}{c}{}", &seg[..seg.len() / 2], &seg[seg.len() / 2..]);
    match edit {
        "pad_header" => join(&format!("{h}="), p, s, &ds),
        "pad_signature" => join(h, p, &format!("{s}=="), &ds),
        "plus_in_signature" => join(h, p, &format!("+{}", &s[1..]), &ds),
        "slash_in_payload" => join(h, &format!("/{}", &p[1..]), s, &ds),
        "space_in_payload" => join(h, &mid(p, " "), s, &ds),
        "newline_in_header" => join(&mid(h, "\n"), p, s, &ds),
        "trailing_bits_signature" => {
            // 64 bytes encode to 86 characters whose last carries 4 zero bits; set one.
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let last = s.as_bytes()[s.len() - 1];
            let v = alphabet.iter().position(|&c| c == last).expect("b64 char");
            let changed = char::from(alphabet[v | 1]);
            join(h, p, &format!("{}{changed}", &s[..s.len() - 1]), &ds)
        }
        "pad_disclosure" => {
            let mut ds = ds.clone();
            ds[0].push('=');
            join(h, p, s, &ds)
        }
        "extra_part" => join(h, p, &format!("{s}.{s}"), &ds),
        "strip_tilde" => jwt.to_owned(),
        "empty_disclosure" => format!("{jwt}~{}~~{}~", ds[0], ds[1]),
        "tamper_disclosure" => {
            let decoded = B64.decode(&ds[0]).expect("disclosure");
            let mut value: Value = serde_json::from_slice(&decoded).expect("disclosure JSON");
            value[2] = Value::from("篡改后的值");
            let mut ds = ds.clone();
            ds[0] = B64.encode(serde_json::to_vec(&value).expect("json"));
            join(h, p, s, &ds)
        }
        "repeat_disclosure" => {
            let mut ds = ds.clone();
            ds.push(ds[0].clone());
            join(h, p, s, &ds)
        }
        "oversize" => format!("{token}{}~", "A".repeat(20_000)),
        "many_disclosures" => {
            let mut ds = ds.clone();
            while ds.len() <= 64 {
                ds.push(ds[0].clone());
            }
            join(h, p, s, &ds)
        }
        other => panic!("unknown token edit {other}"),
    }
}

/// Builds the case's token and verifies it; returns the outcome's code.
fn run(case: &Case) -> String {
    let w = &*WORLD;
    if let Some(qr) = &case.qr {
        let text = match qr.as_str() {
            "bomb" => qr_text(&"A".repeat(4 * 1024 * 1024), QrEncoding::Compressed).expect("qr"),
            "bad_base45" => "TB1:abc".to_owned(),
            "oversize" => format!("TB1:{}", "0".repeat(100_000)),
            other => panic!("unknown qr case {other}"),
        };
        return match token_from_qr_text(&text, 16 * 1024) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code().to_owned(),
        };
    }
    let issued = issue_business(7);
    let (jwt, rest) = issued.token.split_once('~').expect("sd-jwt");
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut header: Map<String, Value> =
        serde_json::from_slice(&B64.decode(parts[0]).expect("b64")).expect("json");
    let mut payload: Map<String, Value> =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    let key = signer(case.signer.as_deref());
    header.insert("kid".into(), Value::from(key.kid()));
    if let Some(patch) = &case.header {
        merge(&mut header, patch);
    }
    if let Some(patch) = &case.payload {
        merge(&mut payload, patch);
    }
    match case.sd.as_deref() {
        None => {}
        Some("repeat_first") => {
            let digests = payload
                .get_mut("_sd")
                .and_then(Value::as_array_mut)
                .expect("the licence lists digests");
            digests.push(digests[0].clone());
        }
        Some(other) => panic!("unknown sd edit {other}"),
    }
    let header_text = match &case.header_raw {
        Some(raw) => raw.replace("{kid}", key.kid()),
        None => serde_json::to_string(&header).expect("json"),
    };
    let mut payload_text = serde_json::to_string(&payload).expect("json");
    if let Some(prefix) = &case.payload_prefix {
        payload_text.insert_str(1, prefix);
    }
    let input = format!("{}.{}", B64.encode(&header_text), B64.encode(&payload_text));
    let changed = case.header.is_some()
        || case.header_raw.is_some()
        || case.payload.is_some()
        || case.payload_prefix.is_some()
        || case.sd.is_some()
        || case.signer.is_some();
    let original = B64.decode(parts[2]).expect("b64");
    let fresh = || raw_sign(key, &input);
    let signature: Vec<u8> = match case.sig.as_deref() {
        None if changed => fresh(),
        None | Some("keep") => original,
        Some("resign") => fresh(),
        Some("empty") => Vec::new(),
        Some("hs256_pubkey") => {
            let secret = serde_json::to_vec(&key.verifying_key().to_jwk()).expect("json");
            let pkey = PKey::hmac(&secret).expect("hmac key");
            let mut signer = Signer::new(MessageDigest::sha256(), &pkey).expect("signer");
            signer.update(input.as_bytes()).expect("update");
            signer.sign_to_vec().expect("hmac")
        }
        Some("der") => der(&fresh()),
        Some("zero_r") => [vec![0; 32], fresh()[32..].to_vec()].concat(),
        Some("zero_s") => [fresh()[..32].to_vec(), vec![0; 32]].concat(),
        Some("r_is_n") => [N.to_vec(), fresh()[32..].to_vec()].concat(),
        Some("s_above_n") => [fresh()[..32].to_vec(), vec![0xff; 32]].concat(),
        Some("truncated") => fresh()[..63].to_vec(),
        Some("other_token") => {
            let other = issue_business(8);
            let sig = other
                .token
                .split('~')
                .next()
                .and_then(|j| j.rsplit('.').next());
            B64.decode(sig.expect("signature")).expect("b64")
        }
        Some(other) => panic!("unknown sig {other}"),
    };
    let mut token = format!("{input}.{}~{rest}", B64.encode(signature));
    if let Some(raw) = &case.extra_disclosure {
        token.push_str(&B64.encode(raw));
        token.push('~');
    }
    if let Some(edit) = &case.token {
        token = edit_token(&token, edit);
    }

    let mut status_lists = w.status_lists.clone();
    if let Some(change) = &case.status {
        let mut list = w.market_status.clone();
        match change.as_str() {
            "revoke" => list.revoke(7),
            "suspend" => list.suspend(7),
            other => panic!("unknown status change {other}"),
        }
        .expect("status change");
        status_lists.insert(signed_list(
            &w.trust,
            &w.market,
            "market-regulation",
            MARKET_STATUS_URI,
            &list,
        ));
    }
    let mut policy = VerifyPolicy::default();
    match case.policy.as_deref() {
        None => {}
        Some("audience") => policy.audience = Some("approval-bureau".into()),
        Some("stale_status") => policy.max_status_list_age = Some(10),
        Some("stale_trust") => policy.max_trust_list_age = Some(10),
        Some(other) => panic!("unknown policy {other}"),
    }
    let now = NOW + case.at.unwrap_or(0);
    outcome(verify(&token, &w.trust, &status_lists, &policy, now).map(|_| ()))
}

fn outcome(result: Result<(), LicenceError>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.code().to_owned(),
    }
}

/// Loads the corpus; every case must produce exactly its expected code.
#[test]
fn corpus() {
    let corpus: Corpus = toml::from_str(include_str!("corpus.toml"))
        .unwrap_or_else(|e| panic!("corpus.toml: {}", e.message()));
    assert!(
        corpus.case.len() >= 90,
        "corpus shrank to {}",
        corpus.case.len()
    );
    let failures: Vec<String> = corpus
        .case
        .iter()
        .filter_map(|case| {
            let got = run(case);
            (got != case.expect)
                .then(|| format!("{}: expected {}, got {got}", case.name, case.expect))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
