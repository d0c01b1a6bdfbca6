//! Signed documents other than licences: a compact JWS over a JSON object, through the same
//! strict layer as licences.
//!
//! The hub signs things it states on its own authority — the evidence of a materials
//! resolution, for instance — so that whoever relies on them later can check that they came
//! from the hub and were not changed. The caller decides the `typ`, which keeps one kind of
//! document from being accepted as another.

use serde_json::{Map, Value};

use crate::error::LicenceError;
use crate::jws::{self, Limits};
use crate::keys::{SigningKey, VerifyingKey};

/// Signs `payload` as a compact JWS with header `{"alg", "kid", "typ"}`.
pub fn sign(
    key: &SigningKey,
    typ: &str,
    payload: &Map<String, Value>,
) -> Result<String, LicenceError> {
    jws::sign(key, typ, payload)
}

/// Checks `token` through the strict layer (size, encoding, header, `typ` must be `typ`) and
/// its signature against `key`, and returns the payload. The key comes from the caller's own
/// records; the `kid` in the header must name it.
pub fn verify(
    token: &str,
    typ: &str,
    key: &VerifyingKey,
    limits: &Limits,
) -> Result<Map<String, Value>, LicenceError> {
    let parsed = jws::parse(token, &[typ], false, limits)?;
    parsed.verify_with(key)?;
    Ok(parsed.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Alg;

    fn payload() -> Map<String, Value> {
        let mut p = Map::new();
        p.insert("matter".into(), Value::from("enterprise-opening"));
        p.insert("supplied".into(), Value::from(3));
        p
    }

    #[test]
    fn signed_documents_verify_and_tampering_is_caught() {
        let key = SigningKey::generate(Alg::Es256).expect("key");
        let token = sign(&key, "tongban-evidence+jwt", &payload()).expect("sign");
        let limits = Limits {
            max_token_bytes: 1 << 20,
            ..Limits::default()
        };
        let got =
            verify(&token, "tongban-evidence+jwt", key.verifying_key(), &limits).expect("verifies");
        assert_eq!(got, payload());

        let other = verify(&token, "tongban-other+jwt", key.verifying_key(), &limits);
        assert_eq!(other.map_err(|e| e.code()), Err("licence.typ_not_allowed"));

        let stranger = SigningKey::generate(Alg::Es256).expect("key");
        let wrong = verify(
            &token,
            "tongban-evidence+jwt",
            stranger.verifying_key(),
            &limits,
        );
        assert!(wrong.is_err());

        // Change one character of the payload.
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut body = parts[1].clone().into_bytes();
        body[3] = if body[3] == b'A' { b'B' } else { b'A' };
        parts[1] = String::from_utf8(body).expect("ascii");
        let tampered = parts.join(".");
        let got = verify(
            &tampered,
            "tongban-evidence+jwt",
            key.verifying_key(),
            &limits,
        );
        assert!(got.is_err());
    }
}
