//! Published examples: RFC 7515 (JWS), RFC 8037 (Ed25519), RFC 7638 (thumbprints, in the unit
//! tests), RFC 9901 (SD-JWT: disclosures, the example issuance and the example presentation
//! with key binding, from `tests/data/rfc9901`) and RFC 9285 (base45, in the unit tests).

use serde_json::{Map, Value, json};
use tongban_certs::sdjwt::{self, digest, parse_disclosure};
use tongban_certs::strict::{b64url_decode, parse_json};
use tongban_certs::{LICENCE_TYP, Limits, VerifyPolicy, VerifyingKey, thumbprint, verify};

fn jwk(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("JWK must be an object"),
    }
}

fn split(token: &str) -> (String, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').expect("compact JWS");
    let sig = tongban_certs::strict::b64url_decode(sig, "signature").expect("strict base64url");
    (input.to_owned(), sig)
}

/// RFC 7515 Appendix A.3: ES256 example (header `{"alg":"ES256"}`).
#[test]
fn rfc7515_a3_es256() {
    let key = VerifyingKey::from_jwk(&jwk(json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    })))
    .expect("RFC 7515 A.3 key");
    let (input, sig) = split(
        "eyJhbGciOiJFUzI1NiJ9\
         .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
         .DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
    );
    assert_eq!(key.verify(input.as_bytes(), &sig), Ok(()));
    let mut tampered = sig.clone();
    tampered[10] ^= 1;
    assert_eq!(
        key.verify(input.as_bytes(), &tampered)
            .map_err(|e| e.code()),
        Err("licence.bad_signature")
    );
}

/// RFC 8037 Appendix A.1, A.3 and A.4: the Ed25519 key, its thumbprint and the JWS example.
#[test]
fn rfc8037_ed25519() {
    let public = jwk(json!({
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }));
    assert_eq!(
        thumbprint(&public).expect("thumbprint"),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    let key = VerifyingKey::from_jwk(&public).expect("RFC 8037 key");
    let (input, sig) = split(
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc\
         .hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
    );
    assert_eq!(key.verify(input.as_bytes(), &sig), Ok(()));
    assert!(key.verify(b"eyJhbGciOiJFZERTQSJ9.other", &sig).is_err());
}

/// Reads a JSON example from `tests/data/rfc9901` (see the SOURCE note there).
fn rfc9901_json(text: &str) -> Value {
    serde_json::from_str(text).expect("RFC 9901 example is JSON")
}

/// Decodes any disclosure, object property or array element, through the strict layer.
fn disclosure_contents(encoded: &str) -> Value {
    let bytes = b64url_decode(encoded, "disclosure").expect("strict base64url");
    parse_json(&bytes, "disclosure", Limits::default().max_json_depth).expect("strict JSON")
}

/// RFC 9901 §4.2.1–4.2.4: disclosure encoding and digests of the specification's examples.
#[test]
fn rfc9901_disclosures() {
    let limits = Limits::default();
    let examples = rfc9901_json(include_str!("../data/rfc9901/section-4.2.json"));
    let object = &examples["object_property"];
    let encoded = object["disclosure"].as_str().expect("disclosure");
    let d = parse_disclosure(encoded, &limits).expect("object property disclosure");
    assert_eq!(
        (d.name.as_str(), &d.value),
        ("family_name", &json!("Möbius"))
    );
    assert_eq!(d.digest, object["digest"].as_str().expect("digest"));
    assert_eq!(digest(encoded), d.digest);
    // §4.2.1: other encodings of the same claim are valid disclosures of it, each with its own
    // digest, because the digest is taken over the encoded text and not over the claim.
    for variation in object["variations"].as_array().expect("variations") {
        let variation = variation.as_str().expect("disclosure");
        let v = parse_disclosure(variation, &limits).expect("variation parses");
        assert_eq!(
            (v.name.as_str(), &v.value),
            ("family_name", &json!("Möbius"))
        );
        assert_ne!(v.digest, d.digest);
    }
    // §4.2.2 and §4.2.4.2, an array element `["lklxF5jMYlGTPUovMNIvCA", "FR"]`: its digest
    // matches; licences carry no arrays of disclosable elements, so the licence verifier
    // refuses it as a face field.
    let element = &examples["array_element"];
    let encoded = element["disclosure"].as_str().expect("disclosure");
    assert_eq!(digest(encoded), element["digest"].as_str().expect("digest"));
    assert_eq!(disclosure_contents(encoded), element["contents"]);
    assert_eq!(
        parse_disclosure(encoded, &limits).map_err(|e| e.code()),
        Err("licence.disclosure_malformed")
    );
}

/// RFC 9901 §5.1 and Appendix A.5: the example SD-JWT. Its Issuer-signed JWT verifies with
/// the Appendix A.5 key, its payload is the one printed, and every Disclosure decodes to the
/// printed contents and has the printed digest, which the payload lists (in `_sd` for
/// object properties, as `{"...": digest}` in `nationalities` for array entries).
///
/// The example is not a licence: it has no `kid`, its `typ` is `example+sd-jwt` and its
/// claims are not a licence face, so `verify` refuses it, and the test checks the parts that
/// apply — the ES256 signature, the digests and the strict decoding.
#[test]
fn rfc9901_example_issuance() {
    let jwt = include_str!("../data/rfc9901/section-5.1-issuer-signed-jwt.txt").trim();
    let sd_jwt = include_str!("../data/rfc9901/section-5.1-sd-jwt.txt").trim();
    let issuer_key = VerifyingKey::from_jwk_inferring_alg(&jwk(rfc9901_json(include_str!(
        "../data/rfc9901/appendix-a.5-issuer-key.json"
    ))))
    .expect("Appendix A.5 key");
    let (input, sig) = split(jwt);
    assert_eq!(issuer_key.verify(input.as_bytes(), &sig), Ok(()));
    let mut tampered = input.clone().into_bytes();
    tampered[60] ^= 1;
    assert_eq!(
        issuer_key.verify(&tampered, &sig).map_err(|e| e.code()),
        Err("licence.bad_signature")
    );

    let (header, payload) = input.split_once('.').expect("header.payload");
    assert_eq!(
        disclosure_contents(header),
        json!({"alg": "ES256", "typ": "example+sd-jwt"})
    );
    let payload = disclosure_contents(payload);
    assert_eq!(
        payload,
        rfc9901_json(include_str!("../data/rfc9901/section-5.1-payload.json"))
    );
    let sd: Vec<&str> = payload["_sd"]
        .as_array()
        .expect("_sd")
        .iter()
        .map(|d| d.as_str().expect("digest"))
        .collect();
    let elements: Vec<&str> = payload["nationalities"]
        .as_array()
        .expect("nationalities")
        .iter()
        .map(|e| e["..."].as_str().expect("array element digest"))
        .collect();

    let parts = sdjwt::split(sd_jwt, &Limits::default()).expect("SD-JWT");
    assert_eq!(parts.jwt, jwt);
    assert_eq!(parts.key_binding, None);
    let listed = rfc9901_json(include_str!("../data/rfc9901/section-5.1-disclosures.json"));
    let listed = listed.as_array().expect("disclosures");
    assert_eq!(parts.disclosures.len(), listed.len());
    for (encoded, example) in parts.disclosures.iter().zip(listed) {
        assert_eq!(
            *encoded,
            example["disclosure"].as_str().expect("disclosure")
        );
        let expected_digest = example["digest"].as_str().expect("digest");
        assert_eq!(digest(encoded), expected_digest);
        assert_eq!(disclosure_contents(encoded), example["contents"]);
        match example["claim"].as_str() {
            Some(claim) => {
                assert!(sd.contains(&expected_digest), "{claim} is listed in _sd");
                let d = parse_disclosure(encoded, &Limits::default()).expect("disclosure");
                assert_eq!(
                    (d.name.as_str(), &d.value),
                    (claim, &example["contents"][2])
                );
            }
            None => assert!(elements.contains(&expected_digest), "{encoded}"),
        }
    }
    // The example has no decoys: every digest in the payload has its Disclosure.
    assert_eq!(sd.len() + elements.len(), listed.len());

    let w = &*crate::common::WORLD;
    let refused = |typs: Vec<String>| {
        let policy = VerifyPolicy {
            typs,
            ..VerifyPolicy::default()
        };
        verify(
            sd_jwt,
            &w.trust,
            &w.status_lists,
            &policy,
            crate::common::NOW,
        )
        .map(|_| ())
        .map_err(|e| e.code())
    };
    assert_eq!(
        refused(vec![LICENCE_TYP.into()]),
        Err("licence.typ_not_allowed")
    );
    assert_eq!(
        refused(vec!["example+sd-jwt".into()]),
        Err("licence.kid_invalid")
    );
}

/// RFC 9901 §5.2: the example presentation with key binding. The KB-JWT verifies with the
/// holder key in the payload's `cnf`, its payload is the one printed, its `sd_hash` is the
/// digest of the presentation up to the last `~`, and the presented Disclosures, processed
/// as §7.1 says, give the printed Processed SD-JWT Payload.
#[test]
fn rfc9901_example_presentation_with_key_binding() {
    let presentation = include_str!("../data/rfc9901/section-5.2-sd-jwt-kb.txt").trim();
    let jwt = include_str!("../data/rfc9901/section-5.1-issuer-signed-jwt.txt").trim();
    let parts = sdjwt::split(presentation, &Limits::default()).expect("SD-JWT+KB");
    assert_eq!(parts.jwt, jwt);
    assert_eq!(parts.disclosures.len(), 4);
    let kb = parts.key_binding.expect("a Key Binding JWT");

    let (_, payload) = jwt
        .rsplit_once('.')
        .expect("JWS")
        .0
        .split_once('.')
        .expect("JWS");
    let payload = disclosure_contents(payload);
    let holder_key = VerifyingKey::from_jwk_inferring_alg(&jwk(payload["cnf"]["jwk"].clone()))
        .expect("holder key");
    let (kb_input, kb_sig) = split(kb);
    assert_eq!(holder_key.verify(kb_input.as_bytes(), &kb_sig), Ok(()));
    let (kb_header, kb_payload) = kb_input.split_once('.').expect("header.payload");
    assert_eq!(
        disclosure_contents(kb_header),
        json!({"alg": "ES256", "typ": "kb+jwt"})
    );
    let kb_payload = disclosure_contents(kb_payload);
    assert_eq!(
        kb_payload,
        rfc9901_json(include_str!(
            "../data/rfc9901/section-5.2-kb-jwt-payload.json"
        ))
    );
    assert_eq!(kb_payload["sd_hash"], digest(parts.without_kb));
    // Dropping a Disclosure changes what sd_hash covers.
    let narrower = presentation.replacen(&format!("~{}", parts.disclosures[0]), "", 1);
    let narrower = sdjwt::split(&narrower, &Limits::default()).expect("SD-JWT+KB");
    assert_ne!(kb_payload["sd_hash"], digest(narrower.without_kb));

    assert_eq!(
        processed(&payload, &parts.disclosures),
        rfc9901_json(include_str!(
            "../data/rfc9901/section-5.2-processed-payload.json"
        ))
    );
}

/// RFC 9901 §7.1 step 3 for the example's shapes: each digest in an `_sd` array or in an
/// array element `{"...": digest}` is replaced by its presented Disclosure or dropped, and
/// every presented Disclosure must be used exactly once.
fn processed(payload: &Value, presented: &[&str]) -> Value {
    let mut by_digest: std::collections::HashMap<String, Value> = presented
        .iter()
        .map(|d| (digest(d), disclosure_contents(d)))
        .collect();
    let mut out = process_value(payload, &mut by_digest);
    out.as_object_mut().expect("object").remove("_sd_alg");
    assert!(by_digest.is_empty(), "unused Disclosures: {by_digest:?}");
    out
}

fn process_value(value: &Value, by_digest: &mut std::collections::HashMap<String, Value>) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (name, member) in map.iter().filter(|(name, _)| *name != "_sd") {
                out.insert(name.clone(), process_value(member, by_digest));
            }
            for d in map
                .get("_sd")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(Value::Array(contents)) = by_digest.remove(d.as_str().expect("digest"))
                {
                    let [_, Value::String(name), claim] = &contents[..] else {
                        panic!("an _sd digest names a three-element Disclosure");
                    };
                    let claim = process_value(claim, by_digest);
                    assert!(out.insert(name.clone(), claim).is_none(), "{name} twice");
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(|item| match item.get("...").and_then(Value::as_str) {
                    Some(d) => by_digest.remove(d).map(|contents| {
                        let [_, element] = &contents.as_array().expect("array")[..] else {
                            panic!("an array digest names a two-element Disclosure");
                        };
                        process_value(element, by_digest)
                    }),
                    None => Some(process_value(item, by_digest)),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}
