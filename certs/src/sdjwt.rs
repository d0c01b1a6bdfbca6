//! Selective disclosure (SD-JWT, RFC 9901) and key binding.
//!
//! The issuer signs only salted digests of the face fields (`_sd`); each field travels
//! beside the signed JWT as its own disclosure, `base64url([salt, name, value])`. A holder
//! presents the subset a matter needs by dropping the other disclosures, so the clerk sees
//! only those fields while the signature still covers them. A key-binding JWT (KB-JWT), signed
//! with the holder key named in the licence's `cnf`, proves that the presenter holds that key
//! and ties the presentation to one audience and nonce.
//!
//! ```text
//! <issuer JWT>~<disclosure 1>~…~<disclosure n>~[<KB-JWT>]
//! ```

use serde_json::{Map, Value};

use crate::error::LicenceError;
use crate::jws::{self, Jws, Limits, int_claim, str_claim};
use crate::keys::{SigningKey, VerifyingKey, sha256};
use crate::strict::{
    Json, Tape, b64url_decode, b64url_decode_into, b64url_decoded_capacity, b64url_encode,
    b64url_encode_into, parse_into,
};

/// `typ` of a key-binding JWT.
pub const KB_TYP: &str = "kb+jwt";

/// The only digest algorithm issued and accepted.
pub const SD_ALG: &str = "sha-256";

/// Claim names a disclosure may never carry: they would override the signed structure.
const RESERVED: [&str; 12] = [
    "_sd", "...", "_sd_alg", "iss", "iat", "nbf", "exp", "cnf", "vct", "status", "jti", "holder",
];

/// A decoded disclosure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// The disclosure as it travels (base64url).
    pub encoded: String,
    /// `base64url(SHA-256(encoded))`, the value in `_sd`.
    pub digest: String,
    /// The claim name.
    pub name: String,
    /// The claim value (face fields are strings).
    pub value: Value,
}

/// Length of a base64url SHA-256 digest.
const DIGEST_LEN: usize = 43;

/// The digest of an encoded disclosure, as placed in `_sd`.
pub fn digest(encoded: &str) -> String {
    b64url_encode(sha256(encoded.as_bytes()))
}

/// [`digest`] as ASCII bytes, without allocating.
fn digest_bytes(encoded: &str) -> Result<[u8; DIGEST_LEN], LicenceError> {
    let mut out = [0u8; DIGEST_LEN];
    b64url_encode_into(&sha256(encoded.as_bytes()), &mut out)?;
    Ok(out)
}

/// A fresh disclosure of `name` = `value` with a 128-bit random salt.
pub fn disclose(name: &str, value: &Value) -> Result<Disclosure, LicenceError> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt)
        .map_err(|e| LicenceError::Internal(format!("random salt: {e}")))?;
    let json = serde_json::to_string(&Value::Array(vec![
        Value::from(b64url_encode(salt)),
        Value::from(name),
        value.clone(),
    ]))
    .map_err(|e| LicenceError::Internal(e.to_string()))?;
    let encoded = b64url_encode(json);
    Ok(Disclosure {
        digest: digest(&encoded),
        encoded,
        name: name.to_owned(),
        value: value.clone(),
    })
}

/// Decodes one disclosure through the strict layer: base64url, JSON without duplicate
/// members, an array of exactly `[salt, name, value]`, a name that is not reserved.
pub fn parse_disclosure(encoded: &str, limits: &Limits) -> Result<Disclosure, LicenceError> {
    let bytes = b64url_decode(encoded, "disclosure")?;
    let mut tape = Tape::for_text(bytes.len());
    let at = parse_into(&bytes, "disclosure", limits.max_json_depth, &mut tape)?;
    let (name, value) = disclosure_shape(tape.value(at))?;
    Ok(Disclosure {
        encoded: encoded.to_owned(),
        digest: digest(encoded),
        name: name.to_owned(),
        value: value.to_value(),
    })
}

/// A disclosure read in place, for verification: it borrows from the decoded bytes and the
/// tape they were parsed onto.
#[derive(Debug)]
pub(crate) struct DisclosureRef<'t, 'b> {
    /// `base64url(SHA-256(encoded))` as ASCII, the bytes of its entry in `_sd`.
    pub digest: [u8; DIGEST_LEN],
    pub name: &'t str,
    pub value: Json<'t, 'b>,
}

/// Decodes every disclosure of a presentation into the one buffer `buf`, parses each onto
/// the one `tape`, and reads them in place. They are taken in order and each through every
/// rule before the next, so a refusal names the same disclosure and the same reason as
/// [`parse_disclosure`] one by one would.
pub(crate) fn parse_disclosures<'t, 'b>(
    encoded: &[&str],
    limits: &Limits,
    buf: &'b mut Vec<u8>,
    tape: &'t mut Tape<'b>,
) -> Result<Vec<DisclosureRef<'t, 'b>>, LicenceError> {
    let total = encoded
        .iter()
        .map(|d| b64url_decoded_capacity(d.len()))
        .sum();
    buf.clear();
    buf.resize(total, 0);
    tape.reserve_for_text(total);
    let mut rest: &'b mut [u8] = buf.as_mut_slice();
    let mut parsed = Vec::with_capacity(encoded.len());
    for d in encoded {
        let (room, tail) = std::mem::take(&mut rest).split_at_mut(b64url_decoded_capacity(d.len()));
        rest = tail;
        let len = b64url_decode_into(d, "disclosure", room)?;
        let room: &'b [u8] = room;
        let bytes = room
            .get(..len)
            .ok_or_else(|| LicenceError::Internal("decoded past its buffer".to_owned()))?;
        let at = parse_into(bytes, "disclosure", limits.max_json_depth, tape)?;
        disclosure_shape(tape.value(at))?;
        parsed.push((digest_bytes(d)?, at));
    }
    let tape: &'t Tape<'b> = tape;
    parsed
        .into_iter()
        .map(|(digest, at)| {
            let (name, value) = disclosure_shape(tape.value(at))?;
            Ok(DisclosureRef {
                digest,
                name,
                value,
            })
        })
        .collect()
}

/// The rules of a parsed disclosure: `[salt, name, value]` with string salt and name, and a
/// name that is not reserved.
fn disclosure_shape<'t, 'b>(
    disclosure: Json<'t, 'b>,
) -> Result<(&'t str, Json<'t, 'b>), LicenceError> {
    let malformed = |reason| LicenceError::DisclosureMalformed { reason };
    let Some(items) = disclosure.as_array() else {
        return Err(malformed("a disclosure must be an array"));
    };
    let mut items = items.iter();
    let (Some(salt), Some(name), Some(value), None) =
        (items.next(), items.next(), items.next(), items.next())
    else {
        return Err(malformed(
            "an object-property disclosure has three elements",
        ));
    };
    let (Some(_), Some(name)) = (salt.as_str(), name.as_str()) else {
        return Err(malformed("the salt and the claim name must be strings"));
    };
    if RESERVED.contains(&name) {
        return Err(malformed("a disclosure may not carry a reserved claim"));
    }
    Ok((name, value))
}

/// A presentation split at its tildes; nothing is decoded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The issuer-signed JWT.
    pub jwt: &'a str,
    /// The encoded disclosures, in order.
    pub disclosures: Vec<&'a str>,
    /// The KB-JWT, if any.
    pub key_binding: Option<&'a str>,
    /// Everything up to and including the last tilde: the input of `sd_hash`.
    pub without_kb: &'a str,
}

/// Splits `<jwt>~<d1>~…~<dn>~[<kb>]`, refusing oversized input and empty disclosures.
pub fn split<'a>(presentation: &'a str, limits: &Limits) -> Result<Parts<'a>, LicenceError> {
    if presentation.len() > limits.max_token_bytes {
        return Err(LicenceError::TooLarge {
            what: "the token",
            limit: limits.max_token_bytes,
        });
    }
    let Some(last_tilde) = presentation.rfind('~') else {
        return Err(LicenceError::Malformed {
            reason: "an SD-JWT is the issuer JWT followed by '~'",
        });
    };
    let (without_kb, kb) = presentation.split_at(last_tilde + 1);
    let mut pieces = without_kb[..last_tilde].split('~');
    let jwt = pieces.next().unwrap_or_default();
    let disclosures: Vec<&str> = pieces.collect();
    if disclosures.len() > limits.max_disclosures {
        return Err(LicenceError::TooLarge {
            what: "the list of disclosures",
            limit: limits.max_disclosures,
        });
    }
    if disclosures.iter().any(|d| d.is_empty()) {
        return Err(LicenceError::Malformed {
            reason: "a disclosure between two '~' is empty",
        });
    }
    Ok(Parts {
        jwt,
        disclosures,
        key_binding: (!kb.is_empty()).then_some(kb),
        without_kb,
    })
}

/// What the holder signs to bind a presentation to its audience.
#[derive(Debug)]
pub struct KeyBinding<'a> {
    /// The holder's private key, whose public half is the licence's `cnf.jwk`.
    pub key: &'a SigningKey,
    /// The verifier (`aud`), e.g. the clerk's department.
    pub audience: &'a str,
    /// The verifier's challenge.
    pub nonce: &'a str,
    /// Unix time of the presentation.
    pub now: i64,
}

/// Presents `fields` of an issued licence: keeps their disclosures, drops the others, and
/// appends a KB-JWT when `key_binding` is given. Asking for a field the licence does not
/// disclose is an error, so a clerk is never silently shown less than the matter requires.
pub fn present(
    sd_jwt: &str,
    fields: &[&str],
    key_binding: Option<&KeyBinding<'_>>,
    limits: &Limits,
) -> Result<String, LicenceError> {
    let parts = split(sd_jwt, limits)?;
    let mut disclosures = Vec::with_capacity(fields.len());
    for encoded in &parts.disclosures {
        let disclosure = parse_disclosure(encoded, limits)?;
        if fields.contains(&disclosure.name.as_str()) {
            disclosures.push(disclosure);
        }
    }
    if let Some(missing) = fields
        .iter()
        .find(|f| !disclosures.iter().any(|d| d.name == **f))
    {
        return Err(LicenceError::FieldNotInLicence {
            field: (*missing).to_owned(),
        });
    }
    let mut out = String::with_capacity(sd_jwt.len());
    out.push_str(parts.jwt);
    out.push('~');
    for d in &disclosures {
        out.push_str(&d.encoded);
        out.push('~');
    }
    if let Some(kb) = key_binding {
        let mut payload = Map::new();
        payload.insert("iat".to_owned(), Value::from(kb.now));
        payload.insert("aud".to_owned(), Value::from(kb.audience));
        payload.insert("nonce".to_owned(), Value::from(kb.nonce));
        payload.insert("sd_hash".to_owned(), Value::from(digest(&out)));
        let kb_jwt = jws::sign(kb.key, KB_TYP, &payload)?;
        out.push_str(&kb_jwt);
    }
    Ok(out)
}

/// What a verifier expects of a KB-JWT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KbExpectations<'a> {
    pub audience: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub now: i64,
    pub leeway: i64,
    pub max_age: i64,
}

/// Verifies a parsed KB-JWT against the holder key of the licence and the presentation.
pub(crate) fn verify_key_binding(
    kb: &Jws<'_>,
    holder_key: &VerifyingKey,
    without_kb: &str,
    expect: &KbExpectations<'_>,
) -> Result<(), LicenceError> {
    let invalid = |reason| LicenceError::KeyBindingInvalid { reason };
    if kb.alg != holder_key.alg() {
        return Err(invalid("the algorithm is not the holder key's"));
    }
    kb.verify_with(holder_key)
        .map_err(|_| invalid("the signature does not verify with the holder key"))?;
    let iat = int_claim(&kb.payload, "iat")?.ok_or(invalid("iat is missing"))?;
    if iat > expect.now + expect.leeway || iat < expect.now - expect.max_age - expect.leeway {
        return Err(invalid("iat is outside the accepted window"));
    }
    let sd_hash = str_claim(&kb.payload, "sd_hash").map_err(|_| invalid("sd_hash is missing"))?;
    if sd_hash != digest(without_kb) {
        return Err(invalid("sd_hash does not match the presentation"));
    }
    let aud = str_claim(&kb.payload, "aud").map_err(|_| invalid("aud is missing"))?;
    if expect.audience.is_some_and(|expected| expected != aud) {
        return Err(LicenceError::AudienceMismatch);
    }
    let nonce = str_claim(&kb.payload, "nonce").map_err(|_| invalid("nonce is missing"))?;
    if expect.nonce.is_some_and(|expected| expected != nonce) {
        return Err(LicenceError::NonceMismatch);
    }
    Ok(())
}
