//! The strict layer: base64url and JSON exactly as the specifications write them.
//!
//! Parsers that are lenient in different ways are how signature checks get bypassed: a
//! second `alg` member that one parser reads and another ignores, padding or a `+` that one
//! decoder accepts and another does not, trailing bits that let two strings decode to the same
//! bytes. Everything that comes from a token therefore passes through here before any other
//! code — including the JOSE library — sees it: base64url without padding, only the URL-safe
//! alphabet, canonical trailing bits; JSON without duplicate members, without trailing data,
//! nested no deeper than a limit.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{DecodeSliceError, Engine};
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

/// Encodes bytes as unpadded base64url into `out`, which must be long enough, and returns
/// the encoded length; for digests compared without allocating a string.
pub(crate) fn b64url_encode_into(bytes: &[u8], out: &mut [u8]) -> Result<usize, LicenceError> {
    B64.encode_slice(bytes, out)
        .map_err(|_| LicenceError::Internal("a base64url buffer was sized too small".to_owned()))
}

/// Room enough for what `encoded_len` characters of base64url decode to.
pub(crate) fn b64url_decoded_capacity(encoded_len: usize) -> usize {
    base64::decoded_len_estimate(encoded_len)
}

/// Decodes strict unpadded base64url into `out`, which must hold
/// [`b64url_decoded_capacity`] bytes, and returns the decoded length. Several segments can
/// so share one buffer.
pub(crate) fn b64url_decode_into(
    s: &str,
    part: &'static str,
    out: &mut [u8],
) -> Result<usize, LicenceError> {
    B64.decode_slice(s, out).map_err(|e| match e {
        DecodeSliceError::DecodeError(_) => LicenceError::BadBase64url { part },
        DecodeSliceError::OutputSliceTooSmall => {
            LicenceError::Internal("a base64url buffer was sized too small".to_owned())
        }
    })
}

/// One entry of a [`Tape`].
#[derive(Debug, Clone, PartialEq)]
enum Node<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    /// A member name; its value is the next entry.
    Key(Cow<'a, str>),
    /// `len` elements follow; the entry after the last of them is `next`.
    Array {
        len: usize,
        next: usize,
    },
    /// `len` members (name, then value) follow; the entry after the last of them is `next`.
    Object {
        len: usize,
        next: usize,
    },
}

/// JSON read through the strict layer, kept as one vector of entries in document order: a
/// container is followed by its contents and knows where they end. Strings borrow from the
/// decoded text unless an escape forced a copy. A whole document, or several (the
/// disclosures of a presentation), thus costs one allocation, where a `serde_json::Value`
/// costs one per object, array, member name and string.
#[derive(Debug, Default)]
pub(crate) struct Tape<'a> {
    nodes: Vec<Node<'a>>,
}

/// The entry after the value at `at`.
fn skip(nodes: &[Node<'_>], at: usize) -> usize {
    match nodes.get(at) {
        Some(Node::Array { next, .. } | Node::Object { next, .. }) => *next,
        _ => at + 1,
    }
}

impl<'a> Tape<'a> {
    /// A tape with room for a document of about `bytes` bytes.
    pub fn for_text(bytes: usize) -> Tape<'a> {
        Tape {
            // Token text averages 16 bytes or more per entry.
            nodes: Vec::with_capacity(bytes / 16 + 4),
        }
    }

    /// Makes room for about `bytes` more bytes of text.
    pub fn reserve_for_text(&mut self, bytes: usize) {
        self.nodes.reserve(bytes / 16 + 4);
    }

    /// The object a tape from [`parse_object_tape`] holds.
    pub fn object(&self) -> Object<'_, 'a> {
        self.value(0).as_object().unwrap_or(Object {
            nodes: &[],
            at: 0,
            len: 0,
        })
    }

    /// The value parsed at `at` (see [`parse_into`]).
    pub fn value(&self, at: usize) -> Json<'_, 'a> {
        Json {
            nodes: &self.nodes,
            at,
        }
    }
}

/// A value on a [`Tape`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Json<'t, 'a> {
    nodes: &'t [Node<'a>],
    at: usize,
}

/// An object on a [`Tape`]; its member names are known to be distinct.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object<'t, 'a> {
    nodes: &'t [Node<'a>],
    at: usize,
    len: usize,
}

/// An array on a [`Tape`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Array<'t, 'a> {
    nodes: &'t [Node<'a>],
    at: usize,
    len: usize,
}

impl<'t, 'a> Json<'t, 'a> {
    fn node(self) -> Option<&'t Node<'a>> {
        self.nodes.get(self.at)
    }

    pub fn as_str(self) -> Option<&'t str> {
        match self.node()? {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer that fits `i64`, as `serde_json::Value::as_i64` reads it.
    pub fn as_i64(self) -> Option<i64> {
        match self.node()? {
            Node::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// A non-negative integer, as `serde_json::Value::as_u64` reads it.
    pub fn as_u64(self) -> Option<u64> {
        match self.node()? {
            Node::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_array(self) -> Option<Array<'t, 'a>> {
        match self.node()? {
            Node::Array { len, .. } => Some(Array {
                nodes: self.nodes,
                at: self.at,
                len: *len,
            }),
            _ => None,
        }
    }

    pub fn as_object(self) -> Option<Object<'t, 'a>> {
        match self.node()? {
            Node::Object { len, .. } => Some(Object {
                nodes: self.nodes,
                at: self.at,
                len: *len,
            }),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value`, for code that keeps it beyond the token.
    pub fn to_value(self) -> Value {
        match self.node() {
            None | Some(Node::Null | Node::Key(_)) => Value::Null,
            Some(Node::Bool(b)) => Value::Bool(*b),
            Some(Node::Number(n)) => Value::Number(n.clone()),
            Some(Node::String(s)) => Value::String(s.to_string()),
            Some(Node::Array { .. }) => self
                .as_array()
                .map_or(Value::Null, |a| a.iter().map(|v| v.to_value()).collect()),
            Some(Node::Object { .. }) => self
                .as_object()
                .map_or(Value::Null, |o| Value::Object(o.to_map())),
        }
    }
}

impl<'t, 'a> Array<'t, 'a> {
    pub fn len(self) -> usize {
        self.len
    }

    pub fn iter(self) -> impl Iterator<Item = Json<'t, 'a>> + use<'t, 'a> {
        let nodes = self.nodes;
        let mut at = self.at + 1;
        (0..self.len).map(move |_| {
            let item = Json { nodes, at };
            at = skip(nodes, at);
            item
        })
    }
}

impl<'t, 'a> Object<'t, 'a> {
    /// Member names and values in document order.
    pub fn members(self) -> impl Iterator<Item = (&'t str, Json<'t, 'a>)> + use<'t, 'a> {
        let nodes = self.nodes;
        let mut at = self.at + 1;
        (0..self.len).map(move |_| {
            let name = match nodes.get(at) {
                Some(Node::Key(name)) => name.as_ref(),
                _ => "",
            };
            let value = Json { nodes, at: at + 1 };
            at = skip(nodes, at + 1);
            (name, value)
        })
    }

    /// The member `name`. Objects in tokens are small, and a linear scan over them is faster
    /// than hashing the name.
    pub fn get(self, name: &str) -> Option<Json<'t, 'a>> {
        self.members()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    pub fn contains_key(self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Member names in document order.
    pub fn keys(self) -> impl Iterator<Item = &'t str> + use<'t, 'a> {
        self.members().map(|(key, _)| key)
    }

    pub fn to_map(self) -> Map<String, Value> {
        self.members()
            .map(|(key, value)| (key.to_owned(), value.to_value()))
            .collect()
    }
}

/// Why a strict JSON parse failed, recorded beside serde's own error so that the caller can
/// name the exact reason.
#[derive(Debug, Clone)]
enum Refusal {
    Duplicate(String),
    TooDeep,
}

/// Up to this many members, an object is searched linearly for a repeated name; beyond, a
/// hash set keeps a hostile object of many thousand members from costing quadratic time.
const LINEAR_MEMBERS: usize = 16;

/// Appends one value to the tape, checking depth and member names on the way.
struct Strict<'r, 'de> {
    depth: usize,
    max_depth: usize,
    refusal: &'r Cell<Option<Refusal>>,
    nodes: &'r mut Vec<Node<'de>>,
}

impl<'de> Strict<'_, 'de> {
    fn nested(&mut self) -> Strict<'_, 'de> {
        Strict {
            depth: self.depth + 1,
            max_depth: self.max_depth,
            refusal: self.refusal,
            nodes: self.nodes,
        }
    }

    fn refuse<E: serde::de::Error>(&self, refusal: Refusal) -> E {
        self.refusal.set(Some(refusal));
        E::custom("refused")
    }

    fn push<E>(self, node: Node<'de>) -> Result<(), E> {
        self.nodes.push(node);
        Ok(())
    }

    /// Records where the container opened at `at` ends and how many entries it holds.
    fn close(&mut self, at: usize, count: usize) {
        let end = self.nodes.len();
        if let Some(Node::Array { len, next } | Node::Object { len, next }) = self.nodes.get_mut(at)
        {
            *len = count;
            *next = end;
        }
    }

    /// The member names of the object opened at `at`, so far.
    fn names(&self, at: usize) -> impl Iterator<Item = &Cow<'de, str>> {
        let nodes: &[Node<'de>] = self.nodes;
        let mut i = at + 1;
        std::iter::from_fn(move || {
            let Some(Node::Key(name)) = nodes.get(i) else {
                return None;
            };
            i = skip(nodes, i + 1);
            Some(name)
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.push(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.push(Node::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.push(Node::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        let n = serde_json::Number::from_f64(v).ok_or_else(|| E::custom("not a finite number"))?;
        self.push(Node::Number(n))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.push(Node::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.push(Node::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.push(Node::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.push(Node::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= self.max_depth {
            return Err(self.refuse(Refusal::TooDeep));
        }
        let at = self.nodes.len();
        self.nodes.push(Node::Array { len: 0, next: 0 });
        let mut count = 0;
        while seq.next_element_seed(self.nested())?.is_some() {
            count += 1;
        }
        self.close(at, count);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<(), A::Error> {
        if self.depth >= self.max_depth {
            return Err(self.refuse(Refusal::TooDeep));
        }
        let at = self.nodes.len();
        self.nodes.push(Node::Object { len: 0, next: 0 });
        let mut count = 0;
        let mut seen: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = access.next_key_seed(MemberName)? {
            let repeated = match &mut seen {
                Some(seen) => !seen.insert(key.clone()),
                None => {
                    let repeated = self.names(at).any(|name| *name == key);
                    if !repeated && count >= LINEAR_MEMBERS {
                        let names = self.names(at).cloned();
                        seen = Some(names.chain([key.clone()]).collect());
                    }
                    repeated
                }
            };
            if repeated {
                return Err(self.refuse(Refusal::Duplicate(key.into_owned())));
            }
            self.nodes.push(Node::Key(key));
            access.next_value_seed(self.nested())?;
            count += 1;
        }
        self.close(at, count);
        Ok(())
    }
}

/// A member name, borrowed from the text unless it had escapes.
struct MemberName;

impl<'de> DeserializeSeed<'de> for MemberName {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MemberName {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Parses JSON text with no duplicate object members, no trailing data and at most
/// `max_depth` levels of arrays and objects onto `tape`, and returns where the value starts;
/// `part` names the text in errors. Every token part goes through here, so there is one
/// definition of strict.
pub(crate) fn parse_into<'a>(
    bytes: &'a [u8],
    part: &'static str,
    max_depth: usize,
    tape: &mut Tape<'a>,
) -> Result<usize, LicenceError> {
    let at = tape.nodes.len();
    let refusal = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = Strict {
        depth: 0,
        max_depth,
        refusal: &refusal,
        nodes: &mut tape.nodes,
    };
    let parsed = seed.deserialize(&mut de).and_then(|()| de.end());
    if parsed.is_err() {
        tape.nodes.truncate(at);
    }
    match (parsed, refusal.take()) {
        (Ok(()), _) => Ok(at),
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

/// Parses a strict JSON object (see [`parse_into`]) onto a tape of its own.
pub(crate) fn parse_object_tape<'a>(
    bytes: &'a [u8],
    part: &'static str,
    max_depth: usize,
) -> Result<Tape<'a>, LicenceError> {
    let mut tape = Tape::for_text(bytes.len());
    let at = parse_into(bytes, part, max_depth, &mut tape)?;
    match tape.value(at).as_object() {
        Some(_) => Ok(tape),
        None => Err(LicenceError::BadJson { part }),
    }
}

/// Parses JSON text with no duplicate object members, no trailing data and at most
/// `max_depth` levels of arrays and objects; `part` names the text in errors.
pub fn parse_json(
    bytes: &[u8],
    part: &'static str,
    max_depth: usize,
) -> Result<Value, LicenceError> {
    let mut tape = Tape::for_text(bytes.len());
    let at = parse_into(bytes, part, max_depth, &mut tape)?;
    Ok(tape.value(at).to_value())
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
    use serde_json::json;

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
        // A name written with an escape is still the same name.
        assert_eq!(code(r#"{"a":1,"\u0061":2}"#), Err("licence.duplicate_key"));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            parse_json(deep.as_bytes(), "t", 1000).map_err(|e| e.code()),
            Err("licence.too_deep")
        );
    }

    #[test]
    fn large_objects_are_checked_for_repeated_names() {
        let members: Vec<String> = (0..40).map(|i| format!("\"m{i}\":{i}")).collect();
        let distinct = format!("{{{}}}", members.join(","));
        let parsed = parse_object(distinct.as_bytes(), "t", 4).expect("distinct names");
        assert_eq!(parsed.len(), 40);
        assert_eq!(parsed.get("m39"), Some(&Value::from(39)));
        // The repeat comes after the switch from a linear search to a hash set, and before it.
        for repeat in ["m3", "m30"] {
            let text = format!("{{{},\"{repeat}\":0}}", members.join(","));
            assert_eq!(
                parse_object(text.as_bytes(), "t", 4).map_err(|e| e.code()),
                Err("licence.duplicate_key"),
                "{repeat}"
            );
        }
        let early = format!("{{\"m1\":0,{}}}", members.join(","));
        assert_eq!(
            parse_object(early.as_bytes(), "t", 4).map_err(|e| e.code()),
            Err("licence.duplicate_key")
        );
    }

    #[test]
    fn tape_and_tree_agree() {
        let text = r#"{"s":"a\"b","n":-3,"u":18446744073709551615,"f":1.5,"z":null,
            "t":true,"a":[1,"x",{"k":"v"},[]],"o":{"p":[{}]},"e":{}}"#;
        let owned: Value = serde_json::from_str(text).expect("plain serde_json");
        assert_eq!(parse_json(text.as_bytes(), "t", 4), Ok(owned));
        let tape = parse_object_tape(text.as_bytes(), "t", 4).expect("parses");
        let object = tape.value(0).as_object().expect("object");
        assert_eq!(object.get("s").and_then(|v| v.as_str()), Some("a\"b"));
        assert_eq!(object.get("n").and_then(|v| v.as_i64()), Some(-3));
        assert_eq!(object.get("u").and_then(|v| v.as_i64()), None);
        assert_eq!(object.get("u").and_then(|v| v.as_u64()), Some(u64::MAX));
        assert_eq!(object.get("f").and_then(|v| v.as_i64()), None);
        let a = object.get("a").and_then(|v| v.as_array()).expect("array");
        assert_eq!(a.len(), 4);
        let kinds: Vec<Value> = a.iter().map(|v| v.to_value()).collect();
        assert_eq!(kinds, [json!(1), json!("x"), json!({"k": "v"}), json!([])]);
        // Members after nested containers are found: the tape skips whole subtrees.
        assert!(object.get("e").and_then(|v| v.as_object()).is_some());
        assert_eq!(object.get("missing").map(|v| v.to_value()), None);
        assert_eq!(
            object.keys().collect::<Vec<_>>(),
            ["s", "n", "u", "f", "z", "t", "a", "o", "e"]
        );
    }

    #[test]
    fn several_documents_share_a_tape() {
        let texts = [
            r#"["s","n",{"a":[1,2]}]"#,
            r#"{"b":1,"b":2}"#,
            r#"["t","m",3]"#,
        ];
        let mut tape = Tape::default();
        let first = parse_into(texts[0].as_bytes(), "t", 4, &mut tape).expect("first");
        assert_eq!(
            parse_into(texts[1].as_bytes(), "t", 4, &mut tape).map_err(|e| e.code()),
            Err("licence.duplicate_key")
        );
        let third = parse_into(texts[2].as_bytes(), "t", 4, &mut tape).expect("third");
        assert_eq!(
            tape.value(first).to_value(),
            json!(["s", "n", {"a": [1, 2]}])
        );
        assert_eq!(tape.value(third).to_value(), json!(["t", "m", 3]));
    }

    #[test]
    fn decoding_into_a_shared_buffer_is_as_strict() {
        let mut buf = [0u8; 8];
        assert_eq!(b64url_decode_into("AQID", "t", &mut buf), Ok(3));
        assert_eq!(&buf[..3], &[1, 2, 3]);
        for bad in ["AQ==", "+/8", "AR", "A"] {
            let mut buf = vec![0u8; b64url_decoded_capacity(bad.len())];
            assert_eq!(
                b64url_decode_into(bad, "t", &mut buf).map_err(|e| e.code()),
                Err("licence.bad_base64url"),
                "{bad:?}"
            );
        }
    }
}
