//! The one error type of the identifier module.
//!
//! Callers (the gateway, the catalogue, the generator) turn these into responses for a clerk, so
//! every variant renders as a single sentence naming the identifier and what is wrong with it,
//! and carries a stable [`IdError::code`] for machines. Variants hold only what the clerk typed
//! and what was expected; nothing about the table or the implementation leaks out.

use std::fmt;

use chrono::NaiveDate;

/// Which identifier an [`IdError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// 公民身份号码 (GB 11643).
    CitizenId,
    /// 统一社会信用代码 (GB 32100).
    Uscc,
    /// 行政区划代码 (GB/T 2260).
    Division,
    /// 电子证照标识 (GB/T 36904).
    LicenceId,
}

impl IdKind {
    /// English label used in messages.
    pub fn label(self) -> &'static str {
        match self {
            IdKind::CitizenId => "citizen ID",
            IdKind::Uscc => "unified social credit code",
            IdKind::Division => "division code",
            IdKind::LicenceId => "licence ID",
        }
    }

    /// Chinese label (公民身份号码, 统一社会信用代码, 行政区划代码, 电子证照标识).
    pub fn label_zh(self) -> &'static str {
        match self {
            IdKind::CitizenId => "公民身份号码",
            IdKind::Uscc => "统一社会信用代码",
            IdKind::Division => "行政区划代码",
            IdKind::LicenceId => "电子证照标识",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a string is not a valid identifier. All variants are the caller's to fix (a 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Wrong number of characters.
    #[error("{kind} has {found} characters, expected {expected}")]
    Length {
        kind: IdKind,
        found: usize,
        expected: usize,
    },

    /// A character that may not appear at this position.
    #[error("{kind} character {position} is '{found}', expected {expected}")]
    Character {
        kind: IdKind,
        position: usize,
        found: char,
        expected: &'static str,
    },

    /// The check character does not match the rest of the identifier.
    #[error("{kind} check character is {found}, expected {expected}")]
    CheckCharacter {
        kind: IdKind,
        found: char,
        expected: char,
    },

    /// The embedded GB 11714 organisation-code check character (USCC position 17) is wrong.
    #[error("organisation code check character is {found}, expected {expected}")]
    OrgCodeCheck { found: char, expected: char },

    /// The birth date digits are not a real calendar date, or lie before 1900.
    #[error("birth date {digits} is not a real date from 1900 on")]
    BirthDate { digits: String },

    /// The birth date is after the day of validation.
    #[error("birth date {birth_date} is in the future (today is {today})")]
    FutureBirthDate {
        birth_date: NaiveDate,
        today: NaiveDate,
    },

    /// Six digits that are not in the GB/T 2260 table, current or historical.
    #[error("division code {code} is not a known GB/T 2260 code")]
    UnknownDivision { code: String },

    /// A number field out of its range (sequence, version).
    #[error("{kind} {field} {value} is out of range 0–{max}")]
    OutOfRange {
        kind: IdKind,
        field: &'static str,
        value: u32,
        max: u32,
    },

    /// Structure that does not fit the standard (prefix, field count, field shape).
    #[error("{kind} is not well formed: {reason}")]
    Format { kind: IdKind, reason: &'static str },
}

impl IdError {
    /// Stable machine code, e.g. `id.check_character`. Codes never change meaning.
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Length { .. } => "id.length",
            IdError::Character { .. } => "id.character",
            IdError::CheckCharacter { .. } => "id.check_character",
            IdError::OrgCodeCheck { .. } => "id.org_code_check",
            IdError::BirthDate { .. } => "id.birth_date",
            IdError::FutureBirthDate { .. } => "id.future_birth_date",
            IdError::UnknownDivision { .. } => "id.unknown_division",
            IdError::OutOfRange { .. } => "id.out_of_range",
            IdError::Format { .. } => "id.format",
        }
    }

    /// The identifier the error is about.
    pub fn kind(&self) -> IdKind {
        match self {
            IdError::Length { kind, .. }
            | IdError::Character { kind, .. }
            | IdError::CheckCharacter { kind, .. }
            | IdError::OutOfRange { kind, .. }
            | IdError::Format { kind, .. } => *kind,
            IdError::OrgCodeCheck { .. } => IdKind::Uscc,
            IdError::BirthDate { .. } | IdError::FutureBirthDate { .. } => IdKind::CitizenId,
            IdError::UnknownDivision { .. } => IdKind::Division,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_sentences() {
        let cases = [
            (
                IdError::CheckCharacter {
                    kind: IdKind::CitizenId,
                    found: '5',
                    expected: 'X',
                },
                "citizen ID check character is 5, expected X",
                "id.check_character",
            ),
            (
                IdError::Length {
                    kind: IdKind::Uscc,
                    found: 17,
                    expected: 18,
                },
                "unified social credit code has 17 characters, expected 18",
                "id.length",
            ),
            (
                IdError::UnknownDivision {
                    code: "999999".into(),
                },
                "division code 999999 is not a known GB/T 2260 code",
                "id.unknown_division",
            ),
        ];
        for (error, message, code) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.code(), code);
        }
    }
}
