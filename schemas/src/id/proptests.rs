//! Property tests: every identifier we build parses back to itself, and the typing errors a
//! check character is meant to catch are refused.
//!
//! What is asserted is what the schemes guarantee, no more: MOD 11-2 (citizen ID) and MOD 31
//! (USCC, weights 3^i mod 31) catch every single substitution and every adjacent transposition;
//! the hybrid MOD 37,36 (licence ID) catches every single substitution but misses an adjacent
//! transposition of values c, c + 1 (mod 36) when the running state before them is 18 − c
//! (mod 36), so the licence test predicts exactly those and asserts the rest are refused.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use serde::Deserialize;
use serde::de::value::{Error as DeError, StringDeserializer};

use super::{CitizenId, DivisionCode, Gender, LicenceId, USCC_ALPHABET, Uscc};

/// Characters tried at every position: both cases of letters, digits, punctuation and
/// full-width look-alikes.
fn substitutes() -> Vec<char> {
    let mut chars: Vec<char> = ('0'..='9').chain('A'..='Z').chain('a'..='z').collect();
    chars.extend(['.', '-', ' ', '/', '０', 'Ｘ', '·']);
    chars
}

/// Every string that differs from `s` in exactly one character.
fn substitutions(s: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = s.chars().collect();
    let subs = substitutes();
    (0..chars.len()).flat_map(move |i| {
        let original = chars[i];
        let chars = chars.clone();
        subs.clone()
            .into_iter()
            .filter(move |&c| c != original)
            .map(move |c| {
                let mut changed = chars.clone();
                changed[i] = c;
                changed.into_iter().collect()
            })
    })
}

/// Every string made from ASCII `s` by swapping two adjacent, different characters, with the
/// index of the first.
fn transpositions(s: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let bytes = s.as_bytes();
    (0..bytes.len().saturating_sub(1))
        .filter(move |&i| bytes[i] != bytes[i + 1])
        .map(move |i| {
            let mut swapped = bytes.to_vec();
            swapped.swap(i, i + 1);
            (
                i,
                String::from_utf8(swapped).expect("swapping ASCII bytes keeps it ASCII"),
            )
        })
}

fn divisions() -> impl Strategy<Value = DivisionCode> {
    prop::sample::select(DivisionCode::all().collect::<Vec<_>>())
}

fn birth_dates() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");
    let span = u64::try_from((last - first).num_days()).expect("positive span");
    // Mostly realistic dates, some anywhere up to the last four-digit year.
    prop_oneof![4 => 0..=73_000u64, 1 => 0..=span].prop_map(move |days| {
        first
            .checked_add_days(Days::new(days))
            .expect("within range")
    })
}

fn uscc_chars() -> impl Strategy<Value = char> {
    prop::sample::select(
        USCC_ALPHABET
            .iter()
            .map(|&b| char::from(b))
            .collect::<Vec<_>>(),
    )
}

fn upper_alnum(len: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(('0'..='9').chain('A'..='Z').collect::<Vec<_>>()),
        len,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Runs every string-facing constructor on `s` and checks they agree with `expected`.
macro_rules! check_entry_points {
    ($ty:ident, $s:expr, $expected:expr) => {{
        let s: &str = $s;
        let expected = $expected;
        prop_assert_eq!(&$ty::parse(s), &expected);
        prop_assert_eq!(&s.parse::<$ty>(), &expected);
        prop_assert_eq!(&$ty::try_from(s), &expected);
        prop_assert_eq!(&$ty::try_from(s.to_owned()), &expected);
        let de = $ty::deserialize(StringDeserializer::<DeError>::new(s.to_owned()));
        prop_assert_eq!(de.ok(), expected.clone().ok());
    }};
}

proptest! {
    #[test]
    fn citizen_ids_round_trip(division in divisions(), birth_date in birth_dates(), sequence in 0..=999u16) {
        let id = CitizenId::from_parts(division, birth_date, sequence)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_entry_points!(CitizenId, id.as_str(), Ok(id.clone()));
        prop_assert_eq!(id.to_string(), id.as_str());
        prop_assert_eq!(id.division(), division);
        prop_assert_eq!(id.birth_date(), birth_date);
        prop_assert_eq!(id.sequence(), sequence);
        let gender = if sequence % 2 == 1 { Gender::Male } else { Gender::Female };
        prop_assert_eq!(id.gender(), gender);
        prop_assert_eq!(CitizenId::parse_as_of(id.as_str(), birth_date), Ok(id.clone()));
        if let Some(day_before) = birth_date.pred_opt() {
            prop_assert!(CitizenId::parse_as_of(id.as_str(), day_before).is_err());
        }
    }

    #[test]
    fn citizen_id_typing_errors_are_refused(division in divisions(), birth_date in birth_dates(), sequence in 0..=999u16) {
        let id = CitizenId::from_parts(division, birth_date, sequence)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for changed in substitutions(id.as_str()) {
            prop_assert!(CitizenId::parse(&changed).is_err(), "{} accepted", changed);
        }
        for (i, swapped) in transpositions(id.as_str()) {
            prop_assert!(CitizenId::parse(&swapped).is_err(), "{} (swap at {}) accepted", swapped, i);
        }
    }

    #[test]
    fn usccs_round_trip(
        authority in uscc_chars(),
        category in uscc_chars(),
        division in divisions(),
        body in prop::collection::vec(uscc_chars(), 8),
    ) {
        let body: String = body.into_iter().collect();
        let uscc = Uscc::from_parts(authority, category, division, &body)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_entry_points!(Uscc, uscc.as_str(), Ok(uscc.clone()));
        prop_assert_eq!(uscc.registration_authority(), authority);
        prop_assert_eq!(uscc.category(), category);
        prop_assert_eq!(uscc.division_digits(), division.as_str());
        prop_assert_eq!(uscc.division(), Some(division));
        prop_assert_eq!(&uscc.organisation_code()[..8], body.as_str());
    }

    #[test]
    fn uscc_typing_errors_are_refused(
        authority in uscc_chars(),
        category in uscc_chars(),
        division in divisions(),
        body in prop::collection::vec(uscc_chars(), 8),
    ) {
        let body: String = body.into_iter().collect();
        let uscc = Uscc::from_parts(authority, category, division, &body)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for changed in substitutions(uscc.as_str()) {
            prop_assert!(Uscc::parse(&changed).is_err(), "{} accepted", changed);
        }
        for (i, swapped) in transpositions(uscc.as_str()) {
            prop_assert!(Uscc::parse(&swapped).is_err(), "{} (swap at {}) accepted", swapped, i);
        }
    }

    #[test]
    fn licence_ids_round_trip(
        type_code in (upper_alnum(18), 0..=999u16).prop_map(|(uscc, n)| format!("{uscc}{n:03}")),
        issuer in prop_oneof![upper_alnum(18), upper_alnum(6)],
        serial in upper_alnum(1..=64),
        version in 0..=999u16,
    ) {
        let id = LicenceId::new(&type_code, &issuer, &serial, version)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_entry_points!(LicenceId, id.as_str(), Ok(id.clone()));
        prop_assert_eq!(id.type_code(), type_code.as_str());
        prop_assert_eq!(id.issuer_code(), issuer.as_str());
        prop_assert_eq!(id.serial(), serial.as_str());
        prop_assert_eq!(id.version(), version);
    }

    #[test]
    fn licence_id_typing_errors_are_refused(
        type_code in (upper_alnum(18), 0..=999u16).prop_map(|(uscc, n)| format!("{uscc}{n:03}")),
        issuer in prop_oneof![upper_alnum(18), upper_alnum(6)],
        serial in upper_alnum(1..=12),
        version in 0..=999u16,
    ) {
        let id = LicenceId::new(&type_code, &issuer, &serial, version)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let s = id.as_str();
        for changed in substitutions(s) {
            prop_assert!(LicenceId::parse(&changed).is_err(), "{} accepted", changed);
        }
        for (i, swapped) in transpositions(s) {
            // Only swaps in the scheme's blind spot may pass; even those are often caught
            // by the field formats (a type code ends in three digits, for instance).
            let accepted = LicenceId::parse(&swapped).is_ok();
            prop_assert!(!accepted || mod37_36_blind_spot(s, i), "{} (swap at {}) accepted", swapped, i);
        }
    }
}

/// Value of a MOD 37,36 character.
fn value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// Whether swapping characters `i` and `i + 1` of the licence ID `s` is one MOD 37,36 cannot
/// see: both are checked data in the same field, their values are c and c + 1 (mod 36), and
/// the running state before them is 18 − c (mod 36). Any other swap changes a fixed part, a
/// field length or the check.
fn mod37_36_blind_spot(s: &str, i: usize) -> bool {
    let prefix = super::LICENCE_ID_PREFIX.len();
    let check_at = s.len() - 1;
    let bytes = s.as_bytes();
    if i < prefix || i + 1 >= check_at - 1 {
        return false;
    }
    let (Some(a), Some(b)) = (value(bytes[i]), value(bytes[i + 1])) else {
        return false;
    };
    let mut p = 36;
    for &c in &bytes[prefix..i] {
        if let Some(v) = value(c) {
            p = (p + v) % 36;
            if p == 0 {
                p = 36;
            }
            p = (2 * p) % 37;
        }
    }
    [(a, b), (b, a)]
        .iter()
        .any(|&(c, d)| d == (c + 1) % 36 && (p + c) % 36 == 18)
}
