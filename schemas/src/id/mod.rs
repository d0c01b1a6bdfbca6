//! Identifiers with check characters: citizen ID, USCC, division code, e-licence ID.
//!
//! Every record the exchange moves is keyed by one of these identifiers, and a mistyped key
//! silently joins the wrong person or company. So each identifier is a newtype whose only
//! constructors check it completely — structure, alphabet, embedded dates and division codes,
//! and the check character of its standard. Holding a [`CitizenId`] proves it was checked;
//! serde goes through the same `parse` (`try_from = "String"`), so invalid input never becomes
//! a value.
//!
//! Errors are one [`IdError`] enum with a stable machine [`IdError::code`] and a one-line
//! message a clerk at the window can act on ("check character is 5, expected X"). Messages
//! quote only the input's own characters, never internal state.
//!
//! Nothing here reads the clock: [`CitizenId::parse_as_of`] takes `today` from the caller.

mod citizen_id;
mod division;
mod error;
mod licence_id;
#[cfg(test)]
mod proptests;
mod uscc;

pub use citizen_id::{CitizenId, Gender, citizen_id_check_character};
pub use division::{DivisionCode, DivisionLevel};
pub use error::{IdError, IdKind};
pub use licence_id::{LICENCE_ID_PREFIX, LicenceId, mod37_36_check};
pub use uscc::{USCC_ALPHABET, Uscc};

/// Implements the string-facing traits shared by every identifier: `Display`, `Debug`,
/// `FromStr`, `TryFrom<&str>`, `TryFrom<String>`, `AsRef<str>` and `Serialize` as a string.
/// `Deserialize` is derived on each type with `#[serde(try_from = "String")]`.
macro_rules! string_identifier {
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.as_str())
                    .finish()
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::id::IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::id::IdError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::id::IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
use string_identifier;

/// Checks that `s` has exactly `expected` characters. Characters, not bytes, so that a clerk
/// who typed a full-width digit is told the length they see and then which character is wrong.
fn check_length(kind: IdKind, s: &str, expected: usize) -> Result<(), IdError> {
    let found = s.chars().count();
    if found == expected {
        Ok(())
    } else {
        Err(IdError::Length {
            kind,
            found,
            expected,
        })
    }
}

/// Checks every character of `s` with `ok`, which is given the 0-based position and returns
/// what was expected there when the character does not fit.
fn check_characters(
    kind: IdKind,
    s: &str,
    ok: impl Fn(usize, char) -> Result<(), &'static str>,
) -> Result<(), IdError> {
    for (i, c) in s.chars().enumerate() {
        ok(i, c).map_err(|expected| IdError::Character {
            kind,
            position: i + 1,
            found: c,
            expected,
        })?;
    }
    Ok(())
}

/// The bytes of `s`, which the caller has checked to be `N` ASCII characters.
fn ascii_array<const N: usize>(kind: IdKind, s: &str) -> Result<[u8; N], IdError> {
    s.as_bytes().try_into().map_err(|_| IdError::Format {
        kind,
        reason: "it is malformed",
    })
}
