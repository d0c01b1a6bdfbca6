//! Compact JWS: strict parsing of the header and payload, and signing.
//!
//! Every token kind of the crate (licence, key-binding JWT, status list, trust list) goes
//! through [`parse`], which applies the rules of the strict layer in a fixed order so that a
//! refusal always names the same reason: size, structure, base64url, JSON, `alg`, header keys,
//! `crit`, unknown header parameters, `typ`, `kid`. Only then is the payload decoded. The
//! signature is checked later, by the caller, against a key it found in its own trust store —
//! never against anything the header carries.

use serde_json::{Map, Value};

use crate::error::{LicenceError, truncate};
use crate::keys::{Alg, KID_LEN, SigningKey, VerifyingKey};
use crate::strict::{b64url_decode, b64url_encode, parse_object};

/// Size and nesting limits of the strict layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted token or presentation, in bytes.
    pub max_token_bytes: usize,
    /// Deepest accepted JSON nesting (objects and arrays) in headers, payloads and disclosures.
    pub max_json_depth: usize,
    /// Most disclosures in one presentation.
    pub max_disclosures: usize,
    /// Longest decompressed status list or QR payload, in bytes.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_token_bytes: 16 * 1024,
            max_json_depth: 8,
            max_disclosures: 64,
            max_decompressed_bytes: 1024 * 1024,
        }
    }
}

/// Header parameters that carry or locate keys; a verifier never takes keys from a token.
const HEADER_KEY_PARAMS: [&str; 6] = ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

/// Parameters registered by RFC 7515 and RFC 7516, which `crit` may not name.
const STANDARD_PARAMS: [&str; 15] = [
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc",
    "zip", "epk", "iv",
];

/// Header parameters this crate understands.
const SUPPORTED_PARAMS: [&str; 3] = ["alg", "kid", "typ"];

/// A JWS whose encoding and header passed the strict layer; the signature is not yet checked.
#[derive(Debug, Clone)]
pub(crate) struct Jws<'a> {
    pub alg: Alg,
    /// Always present when the caller required it; key-binding JWTs may omit it.
    pub kid: Option<String>,
    pub payload: Map<String, Value>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, exactly as received.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

impl Jws<'_> {
    /// Checks the signature with `key`, whose algorithm must be the header's.
    pub fn verify_with(&self, key: &VerifyingKey) -> Result<(), LicenceError> {
        if self.kid.as_deref().is_some_and(|kid| kid != key.kid()) {
            return Err(LicenceError::UnknownKey {
                kid: self.kid.clone().unwrap_or_default(),
            });
        }
        if key.alg() != self.alg {
            return Err(LicenceError::AlgMismatch {
                expected: key.alg().name(),
                found: self.alg.name(),
            });
        }
        key.verify(self.signing_input.as_bytes(), &self.signature)
    }
}

/// Parses a compact JWS through the strict layer; `typs` is the allow-list of `typ` values.
/// The `kid` is required unless `kid_optional` (key-binding JWTs, whose key is in the signed
/// licence).
pub(crate) fn parse<'a>(
    token: &'a str,
    typs: &[&str],
    kid_optional: bool,
    limits: &Limits,
) -> Result<Jws<'a>, LicenceError> {
    if token.len() > limits.max_token_bytes {
        return Err(LicenceError::TooLarge {
            what: "the token",
            limit: limits.max_token_bytes,
        });
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LicenceError::Malformed {
            reason: "a compact JWS has exactly three dot-separated parts",
        });
    };
    let header_bytes = b64url_decode(header_b64, "header")?;
    let header = parse_object(&header_bytes, "header", limits.max_json_depth)?;

    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            Alg::from_name(name).ok_or_else(|| LicenceError::AlgNotAllowed {
                alg: truncate(name),
            })?
        }
        Some(_) => {
            return Err(LicenceError::AlgNotAllowed {
                alg: "(not a string)".to_owned(),
            });
        }
        None => {
            return Err(LicenceError::AlgNotAllowed {
                alg: "(missing)".to_owned(),
            });
        }
    };
    if let Some(param) = HEADER_KEY_PARAMS.iter().find(|p| header.contains_key(**p)) {
        return Err(LicenceError::HeaderKeyNotTrusted { param });
    }
    if let Some(crit) = header.get("crit") {
        check_crit(crit, &header)?;
    }
    if let Some(param) = header
        .keys()
        .find(|k| !SUPPORTED_PARAMS.contains(&k.as_str()))
    {
        return Err(LicenceError::HeaderParamUnsupported {
            param: truncate(param),
        });
    }
    match header.get("typ") {
        Some(Value::String(typ)) if typs.contains(&typ.as_str()) => {}
        Some(Value::String(typ)) => {
            return Err(LicenceError::TypNotAllowed { typ: truncate(typ) });
        }
        _ => {
            return Err(LicenceError::TypNotAllowed { typ: String::new() });
        }
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid))
            if kid.len() == KID_LEN
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(kid.clone())
        }
        None if kid_optional => None,
        _ => return Err(LicenceError::KidInvalid),
    };

    let payload_bytes = b64url_decode(payload_b64, "payload")?;
    let payload = parse_object(&payload_bytes, "payload", limits.max_json_depth)?;
    let signature = b64url_decode(signature_b64, "signature")?;
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(LicenceError::Internal("signing input bounds".to_owned()))?;
    Ok(Jws {
        alg,
        kid,
        payload,
        signing_input,
        signature,
    })
}

/// RFC 7515 §4.1.11: `crit` is a non-empty array of distinct strings, none a registered
/// parameter, each present in the header; and the recipient must understand every one. This
/// crate implements no extensions, so a well-formed `crit` is still refused, as unsupported.
fn check_crit(crit: &Value, header: &Map<String, Value>) -> Result<(), LicenceError> {
    let invalid = |reason| Err(LicenceError::CritInvalid { reason });
    let Value::Array(names) = crit else {
        return invalid("crit must be an array");
    };
    if names.is_empty() {
        return invalid("crit may not be empty");
    }
    let mut seen = Vec::with_capacity(names.len());
    for name in names {
        let Value::String(name) = name else {
            return invalid("crit must list strings");
        };
        if STANDARD_PARAMS.contains(&name.as_str()) {
            return invalid("crit may not name a registered header parameter");
        }
        if seen.contains(&name) {
            return invalid("crit may not list a parameter twice");
        }
        if !header.contains_key(name) {
            return invalid("crit lists a parameter the header does not carry");
        }
        seen.push(name);
    }
    Err(LicenceError::CritUnsupported {
        param: truncate(seen.first().map_or("", |s| s.as_str())),
    })
}

/// The `kid` of a parsed token whose kid was required.
pub(crate) fn required_kid<'j>(jws: &'j Jws<'_>) -> Result<&'j str, LicenceError> {
    jws.kid.as_deref().ok_or(LicenceError::KidInvalid)
}

/// Signs `payload` as a compact JWS with header `{"alg", "kid", "typ"}`.
pub(crate) fn sign(
    key: &SigningKey,
    typ: &str,
    payload: &Map<String, Value>,
) -> Result<String, LicenceError> {
    let header = serde_json::json!({"alg": key.alg().name(), "kid": key.kid(), "typ": typ});
    let header = serde_json::to_vec(&header).map_err(|e| LicenceError::Internal(e.to_string()))?;
    let payload = serde_json::to_vec(payload).map_err(|e| LicenceError::Internal(e.to_string()))?;
    let mut token = b64url_encode(header);
    token.push('.');
    token.push_str(&b64url_encode(payload));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64url_encode(signature));
    Ok(token)
}

/// Reads an integer NumericDate claim.
pub(crate) fn int_claim(
    payload: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, LicenceError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(LicenceError::ClaimInvalid { claim }),
    }
}

/// Reads a required string claim.
pub(crate) fn str_claim<'p>(
    payload: &'p Map<String, Value>,
    claim: &'static str,
) -> Result<&'p str, LicenceError> {
    payload
        .get(claim)
        .and_then(Value::as_str)
        .ok_or(LicenceError::ClaimInvalid { claim })
}
