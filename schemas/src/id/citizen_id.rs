//! 公民身份号码 — the 18-character citizen ID number (GB 11643-1999).
//!
//! The number is the key of the population library and appears in every licence and credit
//! record about a person, so it is checked in full before it is held: six digits naming a GB/T
//! 2260 division (current or historical, because a number keeps the code in force when it was
//! assigned), a real birth date `YYYYMMDD` from 1900 on, a three-digit sequence whose last
//! digit's parity is the gender, and the ISO 7064 MOD 11-2 check character (upper-case `X`
//! only). MOD 11-2 catches every single-character substitution and every transposition of
//! adjacent characters, so a typed number that parses is almost certainly the intended one.
//!
//! "Not in the future" needs a date, and this crate never reads the clock, so it is a separate
//! constructor, [`CitizenId::parse_as_of`], that takes `today`.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{
    DivisionCode, IdError, IdKind, ascii_array, check_characters, check_length, string_identifier,
};

/// ISO 7064 MOD 11-2 weights of the first 17 characters (2^(18−i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum mod 11.
const CHECK_CHARACTERS: [u8; 11] = *b"10X98765432";
/// Birth dates before this are refused: GB 11643 numbers were issued to living people.
const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// Gender as encoded by the parity of the 17th character; codes follow GB/T 2261.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// 男, odd sequence.
    Male,
    /// 女, even sequence.
    Female,
}

impl Gender {
    /// GB/T 2261.1 code: `"1"` male, `"2"` female.
    pub fn code(self) -> &'static str {
        match self {
            Gender::Male => "1",
            Gender::Female => "2",
        }
    }

    /// The gender of a GB/T 2261.1 code; `None` for `0` (unknown), `9` (unspecified) and
    /// anything else.
    pub fn from_code(code: &str) -> Option<Gender> {
        match code {
            "1" => Some(Gender::Male),
            "2" => Some(Gender::Female),
            _ => None,
        }
    }

    /// 男 or 女.
    pub fn label_zh(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

/// A checked 公民身份号码: known division, real birth date, valid MOD 11-2 check character.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct CitizenId([u8; 18]);

string_identifier!(CitizenId);

/// The ISO 7064 MOD 11-2 check character (`b'0'..=b'9'` or `b'X'`) of 17 ASCII digits.
///
/// Bytes that are not ASCII digits give a meaningless (but not panicking) result; validate
/// first.
pub fn citizen_id_check_character(first17: &[u8; 17]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    // `sum % 11` is below 11, so the index is in bounds.
    CHECK_CHARACTERS[(sum % 11) as usize]
}

impl CitizenId {
    /// Parses an 18-character number: 17 digits and a digit or upper-case `X`, a division code
    /// in the table (current or historical, any level), a real birth date from 1900-01-01, and
    /// a matching check character. Does not look at today's date; see [`Self::parse_as_of`].
    pub fn parse(s: &str) -> Result<Self, IdError> {
        const KIND: IdKind = IdKind::CitizenId;
        check_length(KIND, s, 18)?;
        check_characters(KIND, s, |i, c| match i {
            0..17 if c.is_ascii_digit() => Ok(()),
            0..17 => Err("a digit"),
            _ if c.is_ascii_digit() || c == 'X' => Ok(()),
            _ => Err("a digit or upper-case X"),
        })?;
        let bytes: [u8; 18] = ascii_array(KIND, s)?;
        let data: [u8; 17] = ascii_array(KIND, &s[..17])?;
        let last = bytes[17];
        let expected = citizen_id_check_character(&data);
        if last != expected {
            return Err(IdError::CheckCharacter {
                kind: KIND,
                found: char::from(last),
                expected: char::from(expected),
            });
        }
        if DivisionCode::find(&s[..6]).is_none() {
            return Err(IdError::UnknownDivision {
                code: s[..6].to_owned(),
            });
        }
        birth_date_of(&s[6..14])?;
        Ok(CitizenId(bytes))
    }

    /// [`Self::parse`], and the birth date must not be after `today`.
    pub fn parse_as_of(s: &str, today: NaiveDate) -> Result<Self, IdError> {
        let id = Self::parse(s)?;
        let birth_date = id.birth_date();
        if birth_date > today {
            return Err(IdError::FutureBirthDate { birth_date, today });
        }
        Ok(id)
    }

    /// Builds the number of a person registered in `division`, born on `birth_date`, with the
    /// sequence `0..=999` (odd for men, even for women), computing the check character.
    ///
    /// Whether the person was born after the division was created is the caller's concern:
    /// real numbers may carry any code the table has.
    pub fn from_parts(
        division: DivisionCode,
        birth_date: NaiveDate,
        sequence: u16,
    ) -> Result<Self, IdError> {
        if sequence > 999 {
            return Err(IdError::OutOfRange {
                kind: IdKind::CitizenId,
                field: "sequence",
                value: u32::from(sequence),
                max: 999,
            });
        }
        if !(EARLIEST_BIRTH_YEAR..=9999).contains(&birth_date.year()) {
            return Err(IdError::BirthDate {
                digits: birth_date.format("%Y%m%d").to_string(),
            });
        }
        let first17 = format!(
            "{}{}{sequence:03}",
            division.as_str(),
            birth_date.format("%Y%m%d")
        );
        // Six division digits, an eight-digit date (the year is four digits, checked above)
        // and three sequence digits always make 17; refuse rather than build a wrong number.
        let digits: [u8; 17] = first17.as_bytes().try_into().map_err(|_| IdError::Format {
            kind: IdKind::CitizenId,
            reason: "its parts do not make 17 digits",
        })?;
        let mut bytes = [0u8; 18];
        bytes[..17].copy_from_slice(&digits);
        bytes[17] = citizen_id_check_character(&digits);
        Ok(CitizenId(bytes))
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a CitizenId holds only ASCII digits and X")
    }

    /// The division code (positions 1–6).
    pub fn division(&self) -> DivisionCode {
        DivisionCode::find(&self.as_str()[..6])
            .expect("a CitizenId's division was found in the table when it was made")
    }

    /// The birth date (positions 7–14).
    pub fn birth_date(&self) -> NaiveDate {
        birth_date_of(&self.as_str()[6..14])
            .expect("a CitizenId's birth date was checked when it was made")
    }

    /// The gender: odd 17th digit male, even female.
    pub fn gender(&self) -> Gender {
        if (self.0[16] - b'0') % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// The sequence number (positions 15–17), `0..=999`.
    pub fn sequence(&self) -> u16 {
        self.0[14..17]
            .iter()
            .fold(0, |n, &b| n * 10 + u16::from(b - b'0'))
    }
}

/// Parses `YYYYMMDD` (eight ASCII digits) as a real date from 1900-01-01.
fn birth_date_of(digits: &str) -> Result<NaiveDate, IdError> {
    let refuse = || IdError::BirthDate {
        digits: digits.to_owned(),
    };
    let year: i32 = digits
        .get(..4)
        .and_then(|s| s.parse().ok())
        .ok_or_else(refuse)?;
    let month: u32 = digits
        .get(4..6)
        .and_then(|s| s.parse().ok())
        .ok_or_else(refuse)?;
    let day: u32 = digits
        .get(6..8)
        .and_then(|s| s.parse().ok())
        .ok_or_else(refuse)?;
    if year < EARLIEST_BIRTH_YEAR {
        return Err(refuse());
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are valid")
    }

    /// Appends the correct check character, so a case can fail on something other than it.
    fn with_check(first17: &str) -> String {
        let digits: [u8; 17] = first17
            .as_bytes()
            .try_into()
            .expect("test input has 17 bytes");
        format!(
            "{first17}{}",
            char::from(citizen_id_check_character(&digits))
        )
    }

    /// Valid numbers from DOMAIN.md: number, division, birth date, gender, sequence.
    #[test]
    fn valid_examples() {
        let cases = [
            (
                "110101199003070011",
                "110101",
                ymd(1990, 3, 7),
                Gender::Male,
                1,
            ),
            (
                "210202198511150027",
                "210202",
                ymd(1985, 11, 15),
                Gender::Female,
                2,
            ),
            (
                "13100219980621124X",
                "131002",
                ymd(1998, 6, 21),
                Gender::Female,
                124,
            ),
        ];
        for (input, division, birth_date, gender, sequence) in cases {
            let id = CitizenId::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(id.as_str(), input);
            assert_eq!(id.to_string(), input);
            assert_eq!(id.division().as_str(), division);
            assert_eq!(id.birth_date(), birth_date);
            assert_eq!(id.gender(), gender);
            assert_eq!(id.sequence(), sequence);
            let rebuilt = CitizenId::from_parts(id.division(), birth_date, sequence);
            assert_eq!(rebuilt.as_ref(), Ok(&id));
            assert_eq!(input.parse::<CitizenId>().as_ref(), Ok(&id));
            assert_eq!(CitizenId::parse_as_of(input, ymd(2025, 1, 1)), Ok(id));
        }
    }

    /// Refused numbers: input, machine code, message.
    #[test]
    fn refusals() {
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "11010119900307001".into(),
                "id.length",
                "citizen ID has 17 characters, expected 18",
            ),
            (
                "1101011990030700111".into(),
                "id.length",
                "citizen ID has 19 characters, expected 18",
            ),
            (
                "".into(),
                "id.length",
                "citizen ID has 0 characters, expected 18",
            ),
            (
                "13100219980621124x".into(),
                "id.character",
                "citizen ID character 18 is 'x', expected a digit or upper-case X",
            ),
            (
                "1101011990030700A1".into(),
                "id.character",
                "citizen ID character 17 is 'A', expected a digit",
            ),
            (
                "１10101199003070011".into(),
                "id.character",
                "citizen ID character 1 is '１', expected a digit",
            ),
            (
                "110101199003070012".into(),
                "id.check_character",
                "citizen ID check character is 2, expected 1",
            ),
            (
                "131002199806211245".into(),
                "id.check_character",
                "citizen ID check character is 5, expected X",
            ),
            (
                with_check("11010119900230001"),
                "id.birth_date",
                "birth date 19900230 is not a real date from 1900 on",
            ),
            (
                with_check("11010118991231001"),
                "id.birth_date",
                "birth date 18991231 is not a real date from 1900 on",
            ),
            (
                with_check("11010119901301001"),
                "id.birth_date",
                "birth date 19901301 is not a real date from 1900 on",
            ),
            (
                with_check("99999919900307001"),
                "id.unknown_division",
                "division code 999999 is not a known GB/T 2260 code",
            ),
        ];
        for (input, code, message) in cases {
            let error = CitizenId::parse(&input).expect_err(&input);
            assert_eq!(
                (error.code(), error.to_string().as_str()),
                (code, message),
                "{input}"
            );
        }
    }

    #[test]
    fn historical_divisions_are_accepted() {
        // 110103 崇文区 was merged into 东城区 in 2010; people born there keep the code.
        let id = CitizenId::parse(&with_check("11010319750101002")).expect("historical code");
        assert!(!id.division().is_current());
        // Province and prefecture codes are in the table too.
        assert!(CitizenId::parse(&with_check("11000019750101002")).is_ok());
    }

    #[test]
    fn future_birth_dates_need_today() {
        let input = with_check("11010120300101001");
        assert!(
            CitizenId::parse(&input).is_ok(),
            "parse does not read the clock"
        );
        let error = CitizenId::parse_as_of(&input, ymd(2025, 6, 1)).expect_err("future");
        assert_eq!(error.code(), "id.future_birth_date");
        assert_eq!(
            error.to_string(),
            "birth date 2030-01-01 is in the future (today is 2025-06-01)"
        );
        // Born today is fine.
        assert!(CitizenId::parse_as_of(&input, ymd(2030, 1, 1)).is_ok());
    }

    #[test]
    fn from_parts_refuses_what_parse_would() {
        let anci = DivisionCode::parse("131002").expect("known");
        let error = CitizenId::from_parts(anci, ymd(1990, 1, 1), 1000).expect_err("sequence");
        assert_eq!(error.code(), "id.out_of_range");
        let error = CitizenId::from_parts(anci, ymd(1899, 12, 31), 1).expect_err("too early");
        assert_eq!(error.code(), "id.birth_date");
        let id =
            CitizenId::from_parts(anci, ymd(1900, 1, 1), 0).expect("earliest date, sequence 0");
        assert_eq!((id.sequence(), id.gender()), (0, Gender::Female));
    }

    #[test]
    fn check_character_table() {
        // S mod 11 = 0..10 maps to 1 0 X 9 8 7 6 5 4 3 2 (GB 11643).
        assert_eq!(&CHECK_CHARACTERS, b"10X98765432");
        assert_eq!(citizen_id_check_character(b"13100219980621124"), b'X');
        assert_eq!(citizen_id_check_character(b"00000000000000000"), b'1');
        // Weights are 2^(18-i) mod 11, as ISO 7064 MOD 11-2 prescribes.
        for (i, &w) in WEIGHTS.iter().enumerate() {
            assert_eq!(w, (1u32 << (17 - i)) % 11, "weight {i}");
        }
    }

    #[test]
    fn gender_codes() {
        for gender in [Gender::Male, Gender::Female] {
            assert_eq!(Gender::from_code(gender.code()), Some(gender));
        }
        assert_eq!((Gender::Male.code(), Gender::Male.label_zh()), ("1", "男"));
        assert_eq!(
            (Gender::Female.code(), Gender::Female.label_zh()),
            ("2", "女")
        );
        assert_eq!(Gender::from_code("9"), None);
    }

    #[test]
    fn deserialize_goes_through_parse() {
        use serde::de::value::{Error, StringDeserializer};
        let de = |s: &str| CitizenId::deserialize(StringDeserializer::<Error>::new(s.to_owned()));
        assert_eq!(de("110101199003070011").map(|id| id.sequence()), Ok(1));
        assert!(de("110101199003070012").is_err());
        assert!(de("13100219980621124x").is_err());
    }
}
