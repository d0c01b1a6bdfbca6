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
use crate::strict::{
    Json, Object, Tape, b64url_decode, b64url_decode_into, b64url_decoded_capacity, b64url_encode,
    parse_object_tape,
};

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
/// The payload is a `serde_json` map by default; the licence path reads it from a [`Tape`]
/// instead, which saves a tree of owned strings per verification.
#[derive(Debug, Clone)]
pub(crate) struct Jws<'a, P = Map<String, Value>> {
    pub alg: Alg,
    /// Always present when the caller required it; key-binding JWTs may omit it.
    pub kid: Option<String>,
    pub payload: P,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, exactly as received.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

impl<P> Jws<'_, P> {
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
    let mut payload_bytes = Vec::new();
    let jws = parse_borrowed(token, typs, kid_optional, limits, &mut payload_bytes)?;
    Ok(Jws {
        alg: jws.alg,
        kid: jws.kid,
        payload: jws.payload.object().to_map(),
        signing_input: jws.signing_input,
        signature: jws.signature,
    })
}

/// [`parse`], with the payload decoded into `payload_bytes` and read in place.
pub(crate) fn parse_borrowed<'a, 'b>(
    token: &'a str,
    typs: &[impl AsRef<str>],
    kid_optional: bool,
    limits: &Limits,
    payload_bytes: &'b mut Vec<u8>,
) -> Result<Jws<'a, Tape<'b>>, LicenceError> {
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
    let (alg, kid) = parse_header(header_b64, typs, kid_optional, limits)?;

    payload_bytes.clear();
    payload_bytes.resize(b64url_decoded_capacity(payload_b64.len()), 0);
    let len = b64url_decode_into(payload_b64, "payload", payload_bytes)?;
    payload_bytes.truncate(len);
    let payload_bytes: &'b Vec<u8> = payload_bytes;
    let payload = parse_object_tape(payload_bytes, "payload", limits.max_json_depth)?;
    let signature = b64url_decode(signature_b64, "signature")?;
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or_else(|| LicenceError::Internal("signing input bounds".to_owned()))?;
    Ok(Jws {
        alg,
        kid,
        payload,
        signing_input,
        signature,
    })
}

/// The header rules, in the order that decides which reason a refusal names.
fn parse_header(
    header_b64: &str,
    typs: &[impl AsRef<str>],
    kid_optional: bool,
    limits: &Limits,
) -> Result<(Alg, Option<String>), LicenceError> {
    let header_bytes = b64url_decode(header_b64, "header")?;
    let header_tape = parse_object_tape(&header_bytes, "header", limits.max_json_depth)?;
    let header = header_tape.object();

    let alg = match header.get("alg").map(|v| v.as_str()) {
        Some(Some(name)) => Alg::from_name(name).ok_or_else(|| LicenceError::AlgNotAllowed {
            alg: truncate(name),
        })?,
        Some(None) => {
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
    if let Some(param) = HEADER_KEY_PARAMS.iter().find(|p| header.contains_key(p)) {
        return Err(LicenceError::HeaderKeyNotTrusted { param });
    }
    if let Some(crit) = header.get("crit") {
        check_crit(crit, &header)?;
    }
    if let Some(param) = header.keys().find(|k| !SUPPORTED_PARAMS.contains(k)) {
        return Err(LicenceError::HeaderParamUnsupported {
            param: truncate(param),
        });
    }
    match header.get("typ").and_then(|v| v.as_str()) {
        Some(typ) if typs.iter().any(|t| t.as_ref() == typ) => {}
        Some(typ) => {
            return Err(LicenceError::TypNotAllowed { typ: truncate(typ) });
        }
        None => {
            return Err(LicenceError::TypNotAllowed { typ: String::new() });
        }
    }
    let kid = match header.get("kid").map(|v| v.as_str()) {
        Some(Some(kid))
            if kid.len() == KID_LEN
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(kid.to_owned())
        }
        None if kid_optional => None,
        _ => return Err(LicenceError::KidInvalid),
    };
    Ok((alg, kid))
}

/// RFC 7515 §4.1.11: `crit` is a non-empty array of distinct strings, none a registered
/// parameter, each present in the header; and the recipient must understand every one. This
/// crate implements no extensions, so a well-formed `crit` is still refused, as unsupported.
fn check_crit(crit: Json<'_, '_>, header: &Object<'_, '_>) -> Result<(), LicenceError> {
    let invalid = |reason| Err(LicenceError::CritInvalid { reason });
    let Some(names) = crit.as_array() else {
        return invalid("crit must be an array");
    };
    if names.len() == 0 {
        return invalid("crit may not be empty");
    }
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for name in names.iter() {
        let Some(name) = name.as_str() else {
            return invalid("crit must list strings");
        };
        if STANDARD_PARAMS.contains(&name) {
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
        param: truncate(seen.first().copied().unwrap_or_default()),
    })
}

/// The `kid` of a parsed token whose kid was required.
pub(crate) fn required_kid<'j, P>(jws: &'j Jws<'_, P>) -> Result<&'j str, LicenceError> {
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

/// Read access to the members of a JSON object, whichever tree holds it.
pub(crate) trait Members {
    /// `None` when absent; `Some(None)` when present but not a string.
    fn str_member(&self, name: &str) -> Option<Option<&str>>;
    /// `None` when absent; `Some(None)` when present but not an integer that fits `i64`.
    fn i64_member(&self, name: &str) -> Option<Option<i64>>;
}

impl Members for Map<String, Value> {
    fn str_member(&self, name: &str) -> Option<Option<&str>> {
        self.get(name).map(Value::as_str)
    }

    fn i64_member(&self, name: &str) -> Option<Option<i64>> {
        self.get(name).map(Value::as_i64)
    }
}

impl Members for Object<'_, '_> {
    fn str_member(&self, name: &str) -> Option<Option<&str>> {
        self.get(name).map(|v| v.as_str())
    }

    fn i64_member(&self, name: &str) -> Option<Option<i64>> {
        self.get(name).map(|v| v.as_i64())
    }
}

/// Reads an integer NumericDate claim.
pub(crate) fn int_claim(
    payload: &impl Members,
    claim: &'static str,
) -> Result<Option<i64>, LicenceError> {
    match payload.i64_member(claim) {
        None => Ok(None),
        Some(v) => v.map(Some).ok_or(LicenceError::ClaimInvalid { claim }),
    }
}

/// Reads a required string claim.
pub(crate) fn str_claim<'p>(
    payload: &'p impl Members,
    claim: &'static str,
) -> Result<&'p str, LicenceError> {
    payload
        .str_member(claim)
        .flatten()
        .ok_or(LicenceError::ClaimInvalid { claim })
}
