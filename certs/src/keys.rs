//! Signing and verifying keys, one algorithm each, named by their RFC 7638 thumbprint.
//!
//! A key is bound to exactly one algorithm when it is loaded, so a token can never make a
//! verifier use an RSA or EC public key as an HMAC secret or switch curves: the header's `alg`
//! must equal the key's. The `kid` of every key is its JWK thumbprint, which makes key IDs
//! self-certifying (a trust list cannot carry a key under someone else's ID) and lets the
//! strict layer refuse any `kid` that is not 43 base64url characters before looking it up.
//!
//! The cryptography itself is OpenSSL's, reached through `josekit`; this module adds the
//! checks that must happen before it: canonical key members, minimum RSA size, and range
//! checks on ECDSA signatures so that zero, out-of-range and DER-encoded signatures are
//! refused with their own reason. ES256 verification, the one on every licence check, calls
//! `ECDSA_do_verify` on a key imported once: through the EVP layer, OpenSSL 3 would fetch the
//! digest, build a context and re-encode the signature as DER on every token.

use std::fmt;

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsSigner, JwsVerifier, RS256};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Public;
use serde_json::{Map, Value};

use crate::error::LicenceError;
use crate::strict::{b64url_decode, b64url_encode};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Length of a key ID: the base64url SHA-256 thumbprint.
pub const KID_LEN: usize = 43;

/// The P-256 group order n, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The signature algorithms a key may be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA on P-256 with SHA-256, the default.
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, for issuers whose HSMs only do RSA.
    Rs256,
}

impl Alg {
    /// The JOSE name: `ES256`, `EdDSA`, `RS256`.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Rs256 => "RS256",
        }
    }

    /// The algorithm of an exact JOSE name; anything else (`none`, `HS256`, `es256` …) is
    /// `None`.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            "RS256" => Some(Alg::Rs256),
            _ => None,
        }
    }

    fn key_error(e: impl fmt::Display) -> LicenceError {
        LicenceError::Key {
            reason: e.to_string(),
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SHA-256 through OpenSSL's low-level interface. The one-shot `SHA256()` of OpenSSL 3 looks
/// the algorithm up in its provider on every call, which costs more than hashing a disclosure.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(data);
    hasher.finish()
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK's required members.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, LicenceError> {
    let member = |name: &str| -> Result<&str, LicenceError> {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| LicenceError::Key {
                reason: format!("the JWK has no string member {name}"),
            })
    };
    let kty = member("kty")?;
    let required: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => {
            return Err(LicenceError::Key {
                reason: "the JWK kty must be EC, OKP or RSA".to_owned(),
            });
        }
    };
    // Members in lexicographic order, no whitespace: the RFC 7638 canonical form. The values
    // are base64url or fixed names, so serde_json's string escaping cannot differ from it.
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        let value = serde_json::to_string(member(name)?).map_err(Alg::key_error)?;
        canonical.push_str(&format!("\"{name}\":{value}"));
    }
    canonical.push('}');
    Ok(b64url_encode(sha256(canonical.as_bytes())))
}

/// A private signing key of one algorithm. `Debug` never prints key material.
pub struct SigningKey {
    alg: Alg,
    kid: String,
    public: VerifyingKey,
    private_jwk: Jwk,
    signer: Box<dyn JwsSigner>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("private", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    /// A fresh key: P-256 for ES256, Ed25519 for EdDSA, 3072-bit RSA for RS256.
    pub fn generate(alg: Alg) -> Result<SigningKey, LicenceError> {
        let jwk = match alg {
            Alg::Es256 => Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256),
            Alg::EdDsa => Jwk::generate_ed_key(josekit::jwk::alg::ed::EdCurve::Ed25519),
            Alg::Rs256 => Jwk::generate_rsa_key(3072),
        }
        .map_err(Alg::key_error)?;
        SigningKey::from_jwk(jwk, alg)
    }

    /// Loads a private JWK as stored by [`SigningKey::to_private_jwk_json`]. The JWK's `alg`
    /// member decides the algorithm and is required.
    pub fn from_private_jwk_json(json: &str) -> Result<SigningKey, LicenceError> {
        let jwk = Jwk::from_bytes(json.as_bytes()).map_err(Alg::key_error)?;
        let alg = jwk
            .algorithm()
            .and_then(Alg::from_name)
            .ok_or_else(|| LicenceError::Key {
                reason: "the JWK alg must be ES256, EdDSA or RS256".to_owned(),
            })?;
        SigningKey::from_jwk(jwk, alg)
    }

    fn from_jwk(mut jwk: Jwk, alg: Alg) -> Result<SigningKey, LicenceError> {
        jwk.set_algorithm(alg.name());
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::Es256 => Box::new(ES256.signer_from_jwk(&jwk).map_err(Alg::key_error)?),
            Alg::EdDsa => Box::new(EdDSA.signer_from_jwk(&jwk).map_err(Alg::key_error)?),
            Alg::Rs256 => Box::new(RS256.signer_from_jwk(&jwk).map_err(Alg::key_error)?),
        };
        let public_jwk = jwk.to_public_key().map_err(Alg::key_error)?;
        let mut public_map: Map<String, Value> = public_jwk.as_ref().clone();
        public_map.insert("alg".to_owned(), Value::from(alg.name()));
        public_map.remove("kid");
        let public = VerifyingKey::from_jwk(&public_map)?;
        let kid = public.kid.clone();
        jwk.set_key_id(kid.clone());
        Ok(SigningKey {
            alg,
            kid,
            public,
            private_jwk: jwk,
            signer,
        })
    }

    /// The private JWK (with `alg` and `kid`) for the key store. This is secret material.
    pub fn to_private_jwk_json(&self) -> String {
        self.private_jwk.to_string()
    }

    /// The algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key ID, the RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Signs `message` (a JWS signing input); ECDSA signatures are raw `r || s`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, LicenceError> {
        self.signer
            .sign(message)
            .map_err(|e| LicenceError::Internal(format!("signing failed: {e}")))
    }
}

/// A public key of one algorithm, parsed once and kept ready for verification.
pub struct VerifyingKey {
    alg: Alg,
    kid: String,
    jwk: Map<String, Value>,
    /// Expected signature length in bytes.
    signature_len: usize,
    verifier: Verifier,
}

/// The imported key a signature is checked with.
enum Verifier {
    /// A P-256 point, validated on import.
    Es256(EcKey<Public>),
    /// EdDSA and RS256, through `josekit`.
    Jose(Box<dyn JwsVerifier>),
}

impl Clone for Verifier {
    fn clone(&self) -> Self {
        match self {
            Verifier::Es256(key) => Verifier::Es256(key.clone()),
            Verifier::Jose(verifier) => Verifier::Jose(verifier.box_clone()),
        }
    }
}

impl Clone for VerifyingKey {
    fn clone(&self) -> Self {
        VerifyingKey {
            alg: self.alg,
            kid: self.kid.clone(),
            jwk: self.jwk.clone(),
            signature_len: self.signature_len,
            verifier: self.verifier.clone(),
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.alg == other.alg && self.kid == other.kid
    }
}

impl VerifyingKey {
    /// Parses a public JWK strictly: `alg` is required and must fit the key type and curve
    /// (ES256 ↔ EC P-256, EdDSA ↔ OKP Ed25519, RS256 ↔ RSA of at least 2048 bits); private
    /// members are refused; a `kid`, if present, must be the key's thumbprint; `use`, if
    /// present, must be `sig`.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<VerifyingKey, LicenceError> {
        let bad = |reason: &str| LicenceError::Key {
            reason: reason.to_owned(),
        };
        let alg = jwk
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::from_name)
            .ok_or_else(|| bad("the JWK alg must be ES256, EdDSA or RS256"))?;
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            if jwk.contains_key(private) {
                return Err(bad("a public JWK may not carry private members"));
            }
        }
        if jwk.get("use").is_some_and(|u| u != "sig") {
            return Err(bad("the JWK use must be sig"));
        }
        let str_member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &'static str| -> Result<Vec<u8>, LicenceError> {
            let s = str_member(name).ok_or_else(|| bad("the JWK lacks a key member"))?;
            b64url_decode(s, "JWK").map_err(|_| bad("a JWK member is not base64url"))
        };
        let (canonical, signature_len): (&[&str], usize) = match alg {
            Alg::Es256 => {
                if str_member("kty") != Some("EC") || str_member("crv") != Some("P-256") {
                    return Err(bad("an ES256 key must be EC P-256"));
                }
                if bytes("x")?.len() != 32 || bytes("y")?.len() != 32 {
                    return Err(bad("a P-256 coordinate must be 32 bytes"));
                }
                (&["kty", "crv", "x", "y"], 64)
            }
            Alg::EdDsa => {
                if str_member("kty") != Some("OKP") || str_member("crv") != Some("Ed25519") {
                    return Err(bad("an EdDSA key must be OKP Ed25519"));
                }
                if bytes("x")?.len() != 32 {
                    return Err(bad("an Ed25519 key must be 32 bytes"));
                }
                (&["kty", "crv", "x"], 64)
            }
            Alg::Rs256 => {
                if str_member("kty") != Some("RSA") {
                    return Err(bad("an RS256 key must be RSA"));
                }
                let n = bytes("n")?;
                bytes("e")?;
                if n.first() == Some(&0) {
                    return Err(bad("the RSA modulus has a leading zero"));
                }
                if n.len() * 8 < MIN_RSA_BITS {
                    return Err(bad("the RSA modulus must be at least 2048 bits"));
                }
                (&["kty", "n", "e"], n.len())
            }
        };
        let kid = thumbprint(jwk)?;
        if let Some(given) = jwk.get("kid")
            && given.as_str() != Some(kid.as_str())
        {
            return Err(bad("the JWK kid must be its RFC 7638 thumbprint"));
        }
        let mut clean = Map::new();
        for name in canonical {
            if let Some(v) = jwk.get(*name) {
                clean.insert((*name).to_owned(), v.clone());
            }
        }
        clean.insert("alg".to_owned(), Value::from(alg.name()));
        clean.insert("use".to_owned(), Value::from("sig"));
        clean.insert("kid".to_owned(), Value::from(kid.clone()));
        let verifier = match alg {
            Alg::Es256 => Verifier::Es256(p256_key(&bytes("x")?, &bytes("y")?)?),
            Alg::EdDsa => Verifier::Jose(Box::new(
                EdDSA
                    .verifier_from_jwk(&Jwk::from_map(clean.clone()).map_err(Alg::key_error)?)
                    .map_err(Alg::key_error)?,
            )),
            Alg::Rs256 => Verifier::Jose(Box::new(
                RS256
                    .verifier_from_jwk(&Jwk::from_map(clean.clone()).map_err(Alg::key_error)?)
                    .map_err(Alg::key_error)?,
            )),
        };
        Ok(VerifyingKey {
            alg,
            kid,
            jwk: clean,
            signature_len,
            verifier,
        })
    }

    /// Like [`VerifyingKey::from_jwk`], but a missing `alg` is inferred from the key type
    /// (EC P-256 → ES256, OKP Ed25519 → EdDSA, RSA → RS256): holder keys in `cnf` often come
    /// without one. A present `alg` must still fit the key.
    pub fn from_jwk_inferring_alg(jwk: &Map<String, Value>) -> Result<VerifyingKey, LicenceError> {
        if jwk.contains_key("alg") {
            return VerifyingKey::from_jwk(jwk);
        }
        let kty = jwk.get("kty").and_then(Value::as_str);
        let crv = jwk.get("crv").and_then(Value::as_str);
        let alg = match (kty, crv) {
            (Some("EC"), Some("P-256")) => Alg::Es256,
            (Some("OKP"), Some("Ed25519")) => Alg::EdDsa,
            (Some("RSA"), _) => Alg::Rs256,
            _ => {
                return Err(LicenceError::Key {
                    reason: "the JWK is not an EC P-256, Ed25519 or RSA key".to_owned(),
                });
            }
        };
        let mut with_alg = jwk.clone();
        with_alg.insert("alg".to_owned(), Value::from(alg.name()));
        VerifyingKey::from_jwk(&with_alg)
    }

    /// The algorithm the key is registered for.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key ID (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK with `kid`, `alg` and `use`.
    pub fn to_jwk(&self) -> Map<String, Value> {
        self.jwk.clone()
    }

    /// Verifies `signature` over `message` with the key's one algorithm. Malformed signatures
    /// (wrong length; an ECDSA r or s of zero or not below the group order) are refused before
    /// OpenSSL sees them.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), LicenceError> {
        if signature.len() != self.signature_len {
            return Err(LicenceError::SignatureMalformed);
        }
        if self.alg == Alg::Es256 {
            let (r, s) = signature.split_at(32);
            for half in [r, s] {
                if half.iter().all(|&b| b == 0) || half >= &P256_ORDER[..] {
                    return Err(LicenceError::SignatureMalformed);
                }
            }
        }
        match &self.verifier {
            Verifier::Es256(key) => {
                let (r, s) = signature.split_at(32);
                let signature = BigNum::from_slice(r)
                    .and_then(|r| Ok((r, BigNum::from_slice(s)?)))
                    .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                    .map_err(|e| LicenceError::Internal(format!("holding a signature: {e}")))?;
                match signature.verify(&sha256(message), key) {
                    Ok(true) => Ok(()),
                    Ok(false) | Err(_) => Err(LicenceError::BadSignature),
                }
            }
            Verifier::Jose(verifier) => verifier
                .verify(message, signature)
                .map_err(|_| LicenceError::BadSignature),
        }
    }
}

/// Imports a P-256 public key; OpenSSL refuses a point that is not on the curve.
fn p256_key(x: &[u8], y: &[u8]) -> Result<EcKey<Public>, LicenceError> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(Alg::key_error)?;
    let x = BigNum::from_slice(x).map_err(Alg::key_error)?;
    let y = BigNum::from_slice(y).map_err(Alg::key_error)?;
    let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y).map_err(Alg::key_error)?;
    key.check_key().map_err(Alg::key_error)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1: the RSA key of the example and its thumbprint.
        let jwk: Map<String, Value> = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .expect("RFC example");
        assert_eq!(
            thumbprint(&jwk).expect("thumbprint"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256] {
            let key = SigningKey::generate(alg).expect("generate");
            assert_eq!(key.kid().len(), KID_LEN);
            let sig = key.sign(b"hello").expect("sign");
            assert_eq!(key.verifying_key().verify(b"hello", &sig), Ok(()));
            assert_eq!(
                key.verifying_key()
                    .verify(b"hellp", &sig)
                    .map_err(|e| e.code()),
                Err("licence.bad_signature")
            );
            let reloaded =
                SigningKey::from_private_jwk_json(&key.to_private_jwk_json()).expect("reload");
            assert_eq!(reloaded.kid(), key.kid());
            assert!(!format!("{key:?}").contains("\"d\""));
        }
    }

    #[test]
    fn keys_are_strict() {
        let key = SigningKey::generate(Alg::Es256).expect("generate");
        let mut jwk = key.verifying_key().to_jwk();
        jwk.insert("kid".into(), Value::from("../../etc/passwd"));
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        let mut jwk = key.verifying_key().to_jwk();
        jwk.insert("alg".into(), Value::from("EdDSA"));
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        let mut jwk = key.verifying_key().to_jwk();
        jwk.remove("alg");
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn p256_points_off_the_curve_are_refused() {
        let key = SigningKey::generate(Alg::Es256).expect("generate");
        let mut jwk = key.verifying_key().to_jwk();
        let y = jwk["y"].as_str().expect("y").to_owned();
        let mut y = b64url_decode(&y, "y").expect("y");
        y[31] ^= 1;
        jwk.insert("y".into(), Value::from(b64url_encode(&y)));
        jwk.remove("kid");
        assert_eq!(
            VerifyingKey::from_jwk(&jwk).map_err(|e| e.code()),
            Err("licence.key_invalid")
        );
    }
}
