//! Published examples: RFC 7515 (JWS), RFC 8037 (Ed25519), RFC 7638 (thumbprints, in the unit
//! tests), RFC 9901 (SD-JWT disclosures) and RFC 9285 (base45, in the unit tests).

use serde_json::{Map, Value, json};
use tongban_certs::sdjwt::{digest, parse_disclosure};
use tongban_certs::{Limits, VerifyingKey, thumbprint};

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

/// RFC 9901 §4.2.1–4.2.3: disclosure encoding and digests of the specification's examples.
#[test]
fn rfc9901_disclosures() {
    let limits = Limits::default();
    // §4.2.1, object property `["_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius"]`.
    let d = parse_disclosure(
        "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
        &limits,
    )
    .expect("object property disclosure");
    assert_eq!(
        (d.name.as_str(), &d.value),
        ("family_name", &json!("Möbius"))
    );
    // §4.2.3, hashing: the digest of `["6qMQvRL5haj", "family_name", "Möbius"]`.
    assert_eq!(
        digest("WyI2cU1RdlJMNWhhaiIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"),
        "uutlBuYeMDyjLLTpf6Jxi7yNkEF35jdyWMn9U7b_RYY"
    );
    // §4.2.2, array element `["lklxF5jMYlGTPUovMNIvCA", "FR"]`: its digest matches; licences
    // carry no arrays of disclosable elements, so the verifier refuses it as a face field.
    let array_element = "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0";
    assert_eq!(
        digest(array_element),
        "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"
    );
    assert_eq!(
        parse_disclosure(array_element, &limits).map_err(|e| e.code()),
        Err("licence.disclosure_malformed")
    );
}
