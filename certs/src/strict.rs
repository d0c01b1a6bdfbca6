//! The strict layer: base64url and JSON exactly as the specifications write them.
//!
//! Parsers that are lenient in different ways are how signature checks get bypassed: a
//! second `alg` member that one parser reads and another ignores, padding or a `+` that one
//! decoder accepts and another does not, trailing bits that let two strings decode to the same
//! bytes. Everything that comes from a token therefore passes through here before any other
//! code — including the JOSE library — sees it: base64url without padding, only the URL-safe
//! alphabet, canonical trailing bits; JSON without duplicate members, without trailing data,
//! nested no deeper than a limit.

use std::cell::Cell;
use std::fmt;

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{LicenceError, truncate};

/// Unpadded base64url that refuses padding and non-canonical trailing bits.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// Decodes strict unpadded base64url; `part` names the segment in the error.
pub fn b64url_decode(s: &str, part: &'static str) -> Result<Vec<u8>, LicenceError> {
    B64.decode(s)
        .map_err(|_| LicenceError::BadBase64url { part })
}

/// Why a strict JSON parse failed, recorded beside serde's own error so that the caller can
/// name the exact reason.
#[derive(Debug, Clone)]
enum Refusal {
    Duplicate(String),
    TooDeep,
}

struct Strict<'a> {
    depth: usize,
    max_depth: usize,
    refusal: &'a Cell<Option<Refusal>>,
}

impl<'a> Strict<'a> {
    fn nested(&self) -> Strict<'a> {
        Strict {
            depth: self.depth + 1,
            max_depth: self.max_depth,
            refusal: self.refusal,
        }
    }

    fn refuse<E: serde::de::Error>(&self, refusal: Refusal) -> E {
        self.refusal.set(Some(refusal));
        E::custom("refused")
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= self.max_depth {
            return Err(self.refuse(Refusal::TooDeep));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.nested())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        if self.depth >= self.max_depth {
            return Err(self.refuse(Refusal::TooDeep));
        }
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(self.refuse(Refusal::Duplicate(key)));
            }
            let value = access.next_value_seed(self.nested())?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Parses JSON text with no duplicate object members, no trailing data and at most
/// `max_depth` levels of arrays and objects; `part` names the text in errors.
pub fn parse_json(
    bytes: &[u8],
    part: &'static str,
    max_depth: usize,
) -> Result<Value, LicenceError> {
    let refusal = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Strict {
        depth: 0,
        max_depth,
        refusal: &refusal,
    };
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (parsed, refusal.take()) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(Refusal::Duplicate(key))) => Err(LicenceError::DuplicateKey {
            part,
            key: truncate(&key),
        }),
        (Err(_), Some(Refusal::TooDeep)) => Err(LicenceError::TooDeep {
            part,
            limit: max_depth,
        }),
        (Err(e), None) if e.to_string().contains("recursion limit") => Err(LicenceError::TooDeep {
            part,
            limit: max_depth,
        }),
        (Err(_), None) => Err(LicenceError::BadJson { part }),
    }
}

/// Parses a strict JSON object (see [`parse_json`]).
pub fn parse_object(
    bytes: &[u8],
    part: &'static str,
    max_depth: usize,
) -> Result<Map<String, Value>, LicenceError> {
    match parse_json(bytes, part, max_depth)? {
        Value::Object(map) => Ok(map),
        _ => Err(LicenceError::BadJson { part }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_decode("AQID", "t"), Ok(vec![1, 2, 3]));
        assert_eq!(b64url_decode("_-8", "t"), Ok(vec![0xff, 0xef]));
        for bad in [
            "AQ==", "AQ=", "+/8", "A Q", "AQ\n", "AR", "AQI=", "A", "AQ%",
        ] {
            assert_eq!(
                b64url_decode(bad, "t").map_err(|e| e.code()),
                Err("licence.bad_base64url"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn json_is_strict() {
        let code = |s: &str| parse_object(s.as_bytes(), "t", 4).map_err(|e| e.code());
        assert!(code(r#"{"a":1,"b":{"c":[1,2]}}"#).is_ok());
        assert_eq!(code(r#"{"a":1,"a":2}"#), Err("licence.duplicate_key"));
        assert_eq!(code(r#"{"a":{"b":1,"b":1}}"#), Err("licence.duplicate_key"));
        assert_eq!(
            code(r#"{"a":[{"b":1,"b":1}]}"#),
            Err("licence.duplicate_key")
        );
        assert_eq!(code(r#"{"a":[[[[1]]]]}"#), Err("licence.too_deep"));
        assert_eq!(code(r#"{"a":1} x"#), Err("licence.bad_json"));
        assert_eq!(code(r#"[1]"#), Err("licence.bad_json"));
        assert_eq!(code(r#"{"a":"\ud800"}"#), Err("licence.bad_json"));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            parse_json(deep.as_bytes(), "t", 1000).map_err(|e| e.code()),
            Err("licence.too_deep")
        );
    }
}
