//! 电子证照标识 — the e-licence identifier (GB/T 36904-2018, structure as used by public
//! implementations).
//!
//! ```text
//! 1.2.156.3005.2.<licence type code>.<issuer code>.<serial>.<version>.<check>
//! ```
//!
//! The identifier is what a clerk types or scans to fetch a licence from another department,
//! so it is checked before any lookup: the fixed OID prefix, a 21-character type code (the USCC
//! of the authority defining the type plus three digits), an issuer code, an upper-case
//! alphanumeric serial, a three-digit version and the ISO 7064 MOD 37,36 check character over
//! the four inner fields concatenated without dots.
//!
//! Issuers are mostly identified by their 18-character USCC, but some use a 6-digit division
//! code, so both lengths are accepted, and the issuer code is not itself validated as a USCC;
//! the check character is never relaxed. Accepting exactly those two lengths (rather than any
//! length) matters: the check runs over the fields without their dots, so a dot moved by one
//! place keeps the check valid, and only the fixed field lengths catch it.
//!
//! MOD 37,36 catches every single-character substitution. Unlike MOD 11-2 it is a hybrid
//! system and misses a few adjacent transpositions: swapping two characters whose values are
//! consecutive modulo 36 (`4`/`5`, `9`/`A`, `Z`/`0` …) goes unnoticed when the running state
//! before them is 18 minus the smaller value (mod 36), that is for one running state in 36.

use serde::Deserialize;

use super::{IdError, IdKind, string_identifier};

/// Every licence ID starts with this OID arc (ISO, member body, China, 3005, e-licence).
pub const LICENCE_ID_PREFIX: &str = "1.2.156.3005.2.";

/// Alphabet of MOD 37,36 and of every licence ID field.
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Length of the licence type code: an 18-character USCC and 3 digits.
const TYPE_CODE_LEN: usize = 21;
/// Accepted issuer code lengths: division code and USCC.
const ISSUER_LENS: [usize; 2] = [6, 18];
/// Longest serial accepted; real serials are far shorter, this only bounds the input.
const MAX_SERIAL_LEN: usize = 64;
/// Longest possible licence ID, so oversized input is refused before it is examined.
const MAX_LEN: usize =
    LICENCE_ID_PREFIX.len() + TYPE_CODE_LEN + 1 + 18 + 1 + MAX_SERIAL_LEN + 1 + 3 + 1 + 1;
/// What a clerk is told a field character must be.
const UPPER_ALNUM: &str = "a digit or an upper-case letter";

/// Value of a MOD 37,36 character (`0`–`9` → 0–9, `A`–`Z` → 10–35).
fn value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The ISO 7064 MOD 37,36 check character of `data` (digits and upper-case letters).
///
/// A character outside `0-9A-Z` is an [`IdError::Character`] whose position counts from the
/// start of `data`.
pub fn mod37_36_check(data: &str) -> Result<char, IdError> {
    let mut p: u32 = 36;
    for (i, c) in data.chars().enumerate() {
        let v = u8::try_from(c)
            .ok()
            .and_then(value)
            .ok_or_else(|| IdError::Character {
                kind: IdKind::LicenceId,
                position: i + 1,
                found: c,
                expected: UPPER_ALNUM,
            })?;
        p = (p + v) % 36;
        if p == 0 {
            p = 36;
        }
        p = (2 * p) % 37;
    }
    // p is in 1..=36 here, so the index is in 0..36.
    let index = ((37 - p) % 36) as usize;
    Ok(ALPHABET.get(index).map_or('0', |&b| char::from(b)))
}

/// A checked 电子证照标识.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct LicenceId(String);

string_identifier!(LicenceId);

/// The rules one dot-separated field must follow.
struct FieldRule {
    len_ok: fn(usize) -> bool,
    /// Number of trailing characters that must be digits.
    digit_suffix: usize,
    length_reason: &'static str,
}

const TYPE_CODE: FieldRule = FieldRule {
    len_ok: |n| n == TYPE_CODE_LEN,
    digit_suffix: 3,
    length_reason: "the licence type code must be 21 characters",
};
const ISSUER: FieldRule = FieldRule {
    len_ok: |n| ISSUER_LENS.contains(&n),
    digit_suffix: 0,
    length_reason: "the issuer code must be 18 characters (a USCC) or 6 (a division code)",
};
const SERIAL: FieldRule = FieldRule {
    len_ok: |n| (1..=MAX_SERIAL_LEN).contains(&n),
    digit_suffix: 0,
    length_reason: "the serial must be 1 to 64 characters",
};
const VERSION: FieldRule = FieldRule {
    len_ok: |n| n == 3,
    digit_suffix: 3,
    length_reason: "the version must be 3 digits",
};
const CHECK: FieldRule = FieldRule {
    len_ok: |n| n == 1,
    digit_suffix: 0,
    length_reason: "the check character must be a single character",
};

impl FieldRule {
    /// Checks `field`, which starts at character `offset` (0-based) of the whole identifier.
    fn check(&self, field: &str, offset: usize) -> Result<(), IdError> {
        let kind = IdKind::LicenceId;
        let len = field.chars().count();
        let len_ok = (self.len_ok)(len);
        // Characters first, so that a lower-case letter is named even in a field of the wrong
        // length; the digit suffix only means something once the length is right.
        for (i, c) in field.chars().enumerate() {
            let must_be_digit = len_ok && i + self.digit_suffix >= len;
            let ok = if must_be_digit {
                c.is_ascii_digit()
            } else {
                c.is_ascii_digit() || c.is_ascii_uppercase()
            };
            if !ok {
                let expected = if must_be_digit {
                    "a digit"
                } else {
                    UPPER_ALNUM
                };
                return Err(IdError::Character {
                    kind,
                    position: offset + i + 1,
                    found: c,
                    expected,
                });
            }
        }
        if !len_ok {
            return Err(IdError::Format {
                kind,
                reason: self.length_reason,
            });
        }
        Ok(())
    }
}

/// Checks the four inner fields in order and returns their concatenation (the checked data).
fn check_inner(fields: [&str; 4]) -> Result<String, IdError> {
    let mut offset = LICENCE_ID_PREFIX.len();
    for (field, rule) in fields.iter().zip([&TYPE_CODE, &ISSUER, &SERIAL, &VERSION]) {
        rule.check(field, offset)?;
        // Fields that passed are ASCII, so bytes and characters agree.
        offset += field.len() + 1;
    }
    Ok(fields.concat())
}

impl LicenceId {
    /// Parses `1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`: the exact
    /// prefix, a 21-character type code ending in 3 digits, an issuer code of 18 or 6 characters,
    /// a serial of 1–64 characters (all digits and upper-case letters), a 3-digit version and
    /// the matching MOD 37,36 check character.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: IdKind = IdKind::LicenceId;
        if s.len() > MAX_LEN {
            return Err(IdError::Format {
                kind: KIND,
                reason: "it is longer than any licence ID",
            });
        }
        let Some(rest) = s.strip_prefix(LICENCE_ID_PREFIX) else {
            return Err(IdError::Format {
                kind: KIND,
                reason: "it must start with 1.2.156.3005.2.",
            });
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let [type_code, issuer, serial, version, check] = parts[..] else {
            return Err(IdError::Format {
                kind: KIND,
                reason: "it must have a type code, issuer code, serial, version and check \
                         character separated by dots",
            });
        };
        let data = check_inner([type_code, issuer, serial, version])?;
        let check_offset = s.len() - check.len();
        CHECK.check(check, check_offset)?;
        let expected = mod37_36_check(&data)?;
        let found = check.chars().next().unwrap_or(' ');
        if found != expected {
            return Err(IdError::CheckCharacter {
                kind: KIND,
                found,
                expected,
            });
        }
        Ok(LicenceId(s.to_owned()))
    }

    /// Builds a licence ID from its fields, computing the check character. The fields follow
    /// the rules of [`Self::parse`]; `version` is `0..=999`.
    pub fn new(
        type_code: &str,
        issuer_code: &str,
        serial: &str,
        version: u16,
    ) -> Result<Self, IdError> {
        if version > 999 {
            return Err(IdError::OutOfRange {
                kind: IdKind::LicenceId,
                field: "version",
                value: u32::from(version),
                max: 999,
            });
        }
        let version = format!("{version:03}");
        let data = check_inner([type_code, issuer_code, serial, &version])?;
        let check = mod37_36_check(&data)?;
        Ok(LicenceId(format!(
            "{LICENCE_ID_PREFIX}{type_code}.{issuer_code}.{serial}.{version}.{check}"
        )))
    }

    /// The whole identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The five dot-separated fields after the prefix.
    fn fields(&self) -> [&str; 5] {
        let rest = self.0.get(LICENCE_ID_PREFIX.len()..).unwrap_or_default();
        let mut parts = rest.split('.');
        std::array::from_fn(|_| parts.next().unwrap_or_default())
    }

    /// The 21-character licence type code.
    pub fn type_code(&self) -> &str {
        self.fields()[0]
    }

    /// The issuer code (usually the issuer's USCC).
    pub fn issuer_code(&self) -> &str {
        self.fields()[1]
    }

    /// The issuer-defined serial.
    pub fn serial(&self) -> &str {
        self.fields()[2]
    }

    /// The version, `0..=999`.
    pub fn version(&self) -> u16 {
        self.fields()[3]
            .bytes()
            .fold(0, |n, b| n * 10 + u16::from(b.wrapping_sub(b'0') % 10))
    }

    /// The MOD 37,36 check character.
    pub fn check_character(&self) -> char {
        self.fields()[4].chars().next().unwrap_or('0')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str =
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";

    #[test]
    fn valid_example() {
        let id = LicenceId::parse(EXAMPLE).expect("DOMAIN.md example");
        assert_eq!(id.as_str(), EXAMPLE);
        assert_eq!(id.type_code(), "11100000000013338W011");
        assert_eq!(id.issuer_code(), "11430000006122244L");
        assert_eq!(id.serial(), "20230000403");
        assert_eq!(id.version(), 1);
        assert_eq!(id.check_character(), 'U');
        let built = LicenceId::new(
            "11100000000013338W011",
            "11430000006122244L",
            "20230000403",
            1,
        );
        assert_eq!(built, Ok(id));
    }

    #[test]
    fn division_code_issuers_are_accepted() {
        let id = LicenceId::new("11100000000013338W011", "131002", "A0001", 12).expect("6 digits");
        assert_eq!(
            id.as_str().len(),
            LICENCE_ID_PREFIX.len() + 21 + 1 + 6 + 1 + 5 + 1 + 3 + 1 + 1
        );
        assert_eq!(
            LicenceId::parse(id.as_str()).map(|p| (p.issuer_code().len(), p.version())),
            Ok((6, 12))
        );
    }

    /// Refused identifiers: input, machine code, message.
    #[test]
    fn refusals() {
        let long_serial = format!(
            // A 6-digit issuer keeps the whole under the longest possible licence ID.
            "1.2.156.3005.2.11100000000013338W011.131002.{}.001.U",
            "1".repeat(65)
        );
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "1.2.156.3005.3.11100000000013338W011.11430000006122244L.20230000403.001.U".into(),
                "id.format",
                "licence ID is not well formed: it must start with 1.2.156.3005.2.",
            ),
            (
                "2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U".into(),
                "id.format",
                "licence ID is not well formed: it must start with 1.2.156.3005.2.",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.V".into(),
                "id.check_character",
                "licence ID check character is V, expected U",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U".into(),
                "id.format",
                "licence ID is not well formed: the version must be 3 digits",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.0A1.U".into(),
                "id.character",
                "licence ID character 70 is 'A', expected a digit",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.u".into(),
                "id.character",
                "licence ID character 73 is 'u', expected a digit or an upper-case letter",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023000040a.001.U".into(),
                "id.character",
                "licence ID character 67 is 'a', expected a digit or an upper-case letter",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001".into(),
                "id.format",
                "licence ID is not well formed: it must have a type code, issuer code, serial, \
                 version and check character separated by dots",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U.".into(),
                "id.format",
                "licence ID is not well formed: it must have a type code, issuer code, serial, \
                 version and check character separated by dots",
            ),
            (
                "1.2.156.3005.2.11100000000013338W01.11430000006122244L.20230000403.001.U".into(),
                "id.format",
                "licence ID is not well formed: the licence type code must be 21 characters",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.1143000000612224.20230000403.001.U".into(),
                "id.format",
                "licence ID is not well formed: the issuer code must be 18 characters (a USCC) or \
                 6 (a division code)",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L..001.U".into(),
                "id.format",
                "licence ID is not well formed: the serial must be 1 to 64 characters",
            ),
            (
                long_serial,
                "id.format",
                "licence ID is not well formed: the serial must be 1 to 64 characters",
            ),
            (
                format!("{EXAMPLE}{}", "0".repeat(200)),
                "id.format",
                "licence ID is not well formed: it is longer than any licence ID",
            ),
            (
                "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.UU".into(),
                "id.format",
                "licence ID is not well formed: the check character must be a single character",
            ),
        ];
        for (input, code, message) in cases {
            let error = LicenceId::parse(&input).expect_err(&input);
            assert_eq!(
                (error.code(), error.to_string().as_str()),
                (code, message),
                "{input}"
            );
        }
    }

    #[test]
    fn new_refuses_bad_fields() {
        let type_code = "11100000000013338W011";
        let issuer = "11430000006122244L";
        let cases = [
            (type_code, issuer, "1", 1000, "id.out_of_range"),
            ("11100000000013338W0A1", issuer, "1", 1, "id.character"),
            (type_code, issuer, "a1", 1, "id.character"),
            (type_code, issuer, "1.2", 1, "id.character"),
            (type_code, issuer, "", 1, "id.format"),
            (type_code, "1143000000612224", "1", 1, "id.format"),
        ];
        for (type_code, issuer, serial, version, code) in cases {
            let error = LicenceId::new(type_code, issuer, serial, version).expect_err(serial);
            assert_eq!(
                error.code(),
                code,
                "{type_code}.{issuer}.{serial}.{version}: {error}"
            );
        }
    }

    #[test]
    fn mod37_36_reference_values() {
        assert_eq!(
            mod37_36_check("11100000000013338W01111430000006122244L20230000403001"),
            Ok('U')
        );
        assert_eq!(
            mod37_36_check("a").map_err(|e| e.code()),
            Err("id.character")
        );
        // Every single substitution changes the check.
        let data = b"11100000000013338W01111430000006122244L20230000403001";
        for i in 0..data.len() {
            for &c in ALPHABET.iter().filter(|&&c| c != data[i]) {
                let mut changed = data.to_vec();
                changed[i] = c;
                let changed = String::from_utf8(changed).expect("ASCII");
                assert_ne!(mod37_36_check(&changed), Ok('U'), "{changed}");
            }
        }
    }

    /// Exhaustive over every running state p and character pair: swapping adjacent a ≠ b goes
    /// unnoticed exactly when {a, b} = {c, c + 1 mod 36} and p + c ≡ 18 (mod 36). The module
    /// docs and the property tests rely on this characterisation.
    #[test]
    fn transposition_blind_spot() {
        let step = |p: u32, v: u32| {
            let q = (p + v) % 36;
            (2 * if q == 0 { 36 } else { q }) % 37
        };
        for p in 1..=36 {
            for a in 0..36 {
                for b in 0..36 {
                    if a == b {
                        continue;
                    }
                    let undetected = step(step(p, a), b) == step(step(p, b), a);
                    let predicted = [(a, b), (b, a)]
                        .iter()
                        .any(|&(c, d)| d == (c + 1) % 36 && (p + c) % 36 == 18);
                    assert_eq!(undetected, predicted, "p={p} a={a} b={b}");
                }
            }
        }
        // A concrete instance: the initial state is 36, so I (18) and J (19) swap unnoticed.
        assert_eq!(mod37_36_check("IJ7"), mod37_36_check("JI7"));
        assert_ne!(mod37_36_check("IK7"), mod37_36_check("KI7"));
    }
}
