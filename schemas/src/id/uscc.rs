//! 统一社会信用代码 — the unified social credit code, USCC (GB 32100-2015).
//!
//! The USCC is the key of the legal-entity library and names the issuer and holder of most
//! licences. It carries two check characters, and both are verified: position 18 is a MOD 31
//! check over the whole code (weights 3^i mod 31, which catch every single substitution and
//! every adjacent transposition), and position 17 is the check digit of the embedded GB 11714
//! organisation code, computed with GB 11714's own letter values (A = 10 … Z = 35), not the
//! USCC alphabet index — the usual trap.
//!
//! Positions 3–8 hold the division code of the registering office. They are not required to be
//! digits or a known division: some authorities (A, N, Y …) and older registrations do not
//! follow the pattern, and refusing them would refuse real companies. [`Uscc::division`] looks
//! them up when a caller wants to.

use serde::Deserialize;

use super::{
    DivisionCode, IdError, IdKind, ascii_array, check_characters, check_length, string_identifier,
};

/// The 31 characters a USCC may contain: digits and upper-case letters except I, O, S, V, Z.
pub const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1–17 for the MOD 31 check (3^(i−1) mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// GB 11714 weights of the eight organisation-code body characters.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
/// What a clerk is told a USCC character must be.
const EXPECTED_CHARACTER: &str = "a digit or an upper-case letter other than I, O, S, V, Z";

/// Alphabet index of each ASCII byte, or `u8::MAX` if it is not in [`USCC_ALPHABET`].
const INDEX: [u8; 128] = {
    let mut index = [u8::MAX; 128];
    let mut i = 0;
    while i < USCC_ALPHABET.len() {
        index[USCC_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    index
};

/// The USCC alphabet index of `c`, if it is in the alphabet.
fn uscc_value(c: u8) -> Option<u32> {
    match INDEX.get(usize::from(c)) {
        Some(&v) if v != u8::MAX => Some(u32::from(v)),
        _ => None,
    }
}

/// Whether `c` is in [`USCC_ALPHABET`].
fn in_alphabet(c: char) -> bool {
    u8::try_from(c).ok().and_then(uscc_value).is_some()
}

/// The GB 11714 value of a digit or upper-case letter (A = 10 … Z = 35).
fn org_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The MOD 31 check character of the first 17 characters, or `None` if one is outside the
/// alphabet.
fn uscc_check(first17: &[u8]) -> Option<u8> {
    let mut sum = 0;
    for (&c, w) in first17.iter().zip(WEIGHTS) {
        sum += uscc_value(c)? * w;
    }
    USCC_ALPHABET.get(((31 - sum % 31) % 31) as usize).copied()
}

/// The GB 11714 check character (`0`–`9` or `X`) of an eight-character organisation-code
/// body, or `None` if a character is not a digit or upper-case letter.
fn org_check(body: &[u8]) -> Option<u8> {
    let mut sum = 0;
    for (&c, w) in body.iter().zip(ORG_WEIGHTS) {
        sum += org_value(c)? * w;
    }
    match 11 - sum % 11 {
        10 => Some(b'X'),
        11 => Some(b'0'),
        // 1..=9 here, so the digit fits.
        d => Some(b'0' + d as u8),
    }
}

/// A checked 统一社会信用代码: 18 characters of the USCC alphabet with valid MOD 31 and GB 11714
/// check characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Uscc([u8; 18]);

string_identifier!(Uscc);

impl Uscc {
    /// Parses 18 characters from [`USCC_ALPHABET`] whose position 18 is the MOD 31 check and
    /// position 17 the GB 11714 organisation-code check. The first eight characters need not
    /// be digits or a known division.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: IdKind = IdKind::Uscc;
        check_length(KIND, s, 18)?;
        check_characters(KIND, s, |_, c| {
            if in_alphabet(c) {
                Ok(())
            } else {
                Err(EXPECTED_CHARACTER)
            }
        })?;
        let bytes: [u8; 18] = ascii_array(KIND, s)?;
        let expected = uscc_check(&bytes[..17]).ok_or(IdError::Format {
            kind: KIND,
            reason: "it contains characters outside the code alphabet",
        })?;
        if bytes[17] != expected {
            return Err(IdError::CheckCharacter {
                kind: KIND,
                found: char::from(bytes[17]),
                expected: char::from(expected),
            });
        }
        let expected_org = org_check(&bytes[8..16]).ok_or(IdError::Format {
            kind: KIND,
            reason: "it contains characters outside the code alphabet",
        })?;
        if bytes[16] != expected_org {
            return Err(IdError::OrgCodeCheck {
                found: char::from(bytes[16]),
                expected: char::from(expected_org),
            });
        }
        Ok(Uscc(bytes))
    }

    /// Builds a USCC from the registration authority (e.g. `'9'` market regulation), the
    /// category under it (e.g. `'1'` enterprise), the division of the registering office and
    /// the eight-character organisation-code body, computing both check characters.
    ///
    /// All characters must be in [`USCC_ALPHABET`]; the GB 11714 check (`0`–`9` or `X`)
    /// always is.
    pub fn from_parts(
        authority: char,
        category: char,
        division: DivisionCode,
        org_body: &str,
    ) -> Result<Self, IdError> {
        const KIND: IdKind = IdKind::Uscc;
        for (position, c) in [(1, authority), (2, category)] {
            if !in_alphabet(c) {
                return Err(IdError::Character {
                    kind: KIND,
                    position,
                    found: c,
                    expected: EXPECTED_CHARACTER,
                });
            }
        }
        if org_body.chars().count() != 8 {
            return Err(IdError::Format {
                kind: KIND,
                reason: "the organisation code body must be 8 characters",
            });
        }
        if let Some((i, c)) = org_body.chars().enumerate().find(|&(_, c)| !in_alphabet(c)) {
            return Err(IdError::Character {
                kind: KIND,
                position: 9 + i,
                found: c,
                expected: EXPECTED_CHARACTER,
            });
        }
        let mut bytes = [0u8; 18];
        // Both characters were just checked to be in the (ASCII) alphabet.
        bytes[0] = authority as u8;
        bytes[1] = category as u8;
        bytes[2..8].copy_from_slice(division.as_str().as_bytes());
        bytes[8..16].copy_from_slice(org_body.as_bytes());
        let refuse = IdError::Format {
            kind: KIND,
            reason: "it contains characters outside the code alphabet",
        };
        bytes[16] = org_check(&bytes[8..16]).ok_or(refuse.clone())?;
        bytes[17] = uscc_check(&bytes[..17]).ok_or(refuse)?;
        Ok(Uscc(bytes))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a Uscc holds only characters of the ASCII alphabet")
    }

    /// Position 1: the registration authority (`1` 编办, `5` 民政, `9` 市场监管, `A`, `N`, `Y` …).
    pub fn registration_authority(&self) -> char {
        char::from(self.0[0])
    }

    /// Position 2: the organisation category under the authority (e.g. `1` in `91` enterprise).
    pub fn category(&self) -> char {
        char::from(self.0[1])
    }

    /// Positions 3–8: the division digits of the registering office, as written.
    pub fn division_digits(&self) -> &str {
        &self.as_str()[2..8]
    }

    /// The division of the registering office, if positions 3–8 are a code in the table.
    pub fn division(&self) -> Option<DivisionCode> {
        DivisionCode::find(self.division_digits())
    }

    /// Positions 9–17: the GB 11714 organisation code, including its check character.
    pub fn organisation_code(&self) -> &str {
        &self.as_str()[8..17]
    }

    /// Position 18: the MOD 31 check character.
    pub fn check_character(&self) -> char {
        char::from(self.0[17])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Completes 16 characters with the GB 11714 and MOD 31 check characters.
    fn complete(first16: &str) -> String {
        let org = org_check(&first16.as_bytes()[8..16]).expect("test body is alphanumeric");
        let mut first17 = first16.as_bytes().to_vec();
        first17.push(org);
        let check = uscc_check(&first17).expect("test input is in the alphabet");
        format!("{first16}{}{}", char::from(org), char::from(check))
    }

    #[test]
    fn valid_example() {
        let uscc = Uscc::parse("91110000600037341L").expect("DOMAIN.md example");
        assert_eq!(uscc.as_str(), "91110000600037341L");
        assert_eq!(uscc.registration_authority(), '9');
        assert_eq!(uscc.category(), '1');
        assert_eq!(uscc.division_digits(), "110000");
        assert_eq!(uscc.division().map(|d| d.name()), Some("北京市"));
        assert_eq!(uscc.organisation_code(), "600037341");
        assert_eq!(uscc.check_character(), 'L');
        let division = DivisionCode::parse("110000").expect("known");
        assert_eq!(Uscc::from_parts('9', '1', division, "60003734"), Ok(uscc));
    }

    /// DOMAIN.md spells out the arithmetic: Σ = 538, 538 mod 31 = 11, 31 − 11 = 20 → L.
    #[test]
    fn worked_arithmetic() {
        let sum: u32 = b"91110000600037341"
            .iter()
            .zip(WEIGHTS)
            .map(|(&c, w)| uscc_value(c).expect("alphabet") * w)
            .sum();
        assert_eq!(sum, 538);
        assert_eq!(USCC_ALPHABET[20], b'L');
        // GB 11714 uses its own letter values: M is 22, although its USCC index is 21.
        assert_eq!(org_value(b'M'), Some(22));
        assert_eq!(uscc_value(b'M'), Some(21));
        for (i, &w) in WEIGHTS.iter().enumerate() {
            assert_eq!(
                w,
                3u32.pow(u32::try_from(i).expect("small")) % 31,
                "weight {i}"
            );
        }
    }

    #[test]
    fn codes_need_not_start_with_digits() {
        for first16 in ["A1110000MA1K2L3M", "N2ABCDEF12345678", "Y1131002ABCDEFGH"] {
            let code = complete(first16);
            let uscc = Uscc::parse(&code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(uscc.as_str(), code);
        }
        let uscc = Uscc::parse(&complete("N2ABCDEF12345678")).expect("letters in 3–8");
        assert_eq!((uscc.division_digits(), uscc.division()), ("ABCDEF", None));
    }

    /// Refused codes: input, machine code, message.
    #[test]
    fn refusals() {
        // Correct outer (MOD 31) check but GB 11714 check 2 instead of 1.
        let mut bad_org = b"91110000600037342".to_vec();
        bad_org.push(uscc_check(&bad_org).expect("alphabet"));
        let bad_org = String::from_utf8(bad_org).expect("ASCII");
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "91110000600037341".into(),
                "id.length",
                "unified social credit code has 17 characters, expected 18",
            ),
            (
                "91110000600037341l".into(),
                "id.character",
                "unified social credit code character 18 is 'l', expected a digit or an upper-case \
                 letter other than I, O, S, V, Z",
            ),
            (
                "91110000600037341K".into(),
                "id.check_character",
                "unified social credit code check character is K, expected L",
            ),
            (
                bad_org,
                "id.org_code_check",
                "organisation code check character is 2, expected 1",
            ),
        ];
        for (input, code, message) in cases {
            let error = Uscc::parse(&input).expect_err(&input);
            assert_eq!(
                (error.code(), error.to_string().as_str()),
                (code, message),
                "{input}"
            );
        }
        for letter in ['I', 'O', 'S', 'V', 'Z'] {
            let input = format!("9111000060003734{letter}L");
            let error = Uscc::parse(&input).expect_err(&input);
            assert_eq!(
                error,
                IdError::Character {
                    kind: IdKind::Uscc,
                    position: 17,
                    found: letter,
                    expected: EXPECTED_CHARACTER,
                }
            );
        }
    }

    #[test]
    fn from_parts_refusals() {
        let division = DivisionCode::parse("131002").expect("known");
        let cases = [
            ('I', '1', "60003734", "id.character"),
            ('9', 'o', "60003734", "id.character"),
            ('9', '1', "6000373", "id.format"),
            ('9', '1', "600037341", "id.format"),
            ('9', '1', "6000373S", "id.character"),
            ('9', '1', "6000373a", "id.character"),
        ];
        for (authority, category, body, code) in cases {
            let error = Uscc::from_parts(authority, category, division, body).expect_err(body);
            assert_eq!(error.code(), code, "{authority}{category} {body}: {error}");
        }
    }

    /// Positions 1–17 carry weights 3^i mod 31 and the check weight 1; swapping adjacent
    /// characters a ≠ b changes the sum by (a − b)(w_i − w_{i+1}), which is non-zero mod the
    /// prime 31 whenever the weights differ. So MOD 31 catches every adjacent transposition,
    /// including one with the check character. The property tests rely on this.
    #[test]
    fn adjacent_weights_differ() {
        let mut weights = WEIGHTS.to_vec();
        weights.push(1);
        for pair in weights.windows(2) {
            assert_ne!(pair[0] % 31, pair[1] % 31, "{pair:?}");
        }
    }

    #[test]
    fn deserialize_goes_through_parse() {
        use serde::de::value::{Error, StringDeserializer};
        let de = |s: &str| Uscc::deserialize(StringDeserializer::<Error>::new(s.to_owned()));
        assert_eq!(de("91110000600037341L").map(|u| u.category()), Ok('1'));
        assert!(de("91110000600037341K").is_err());
    }
}
