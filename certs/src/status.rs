//! Licence status: the IETF Token Status List, two bits per licence.
//!
//! Each issuer keeps one or more status lists; a licence names its list (`uri`) and its
//! position (`idx`) in the signed payload. Two bits per entry: `0` valid, `1` invalid (revoked),
//! `2` suspended (`3` is application-specific and refused by verifiers as unknown). Entries
//! are packed least-significant bits first; the byte array is DEFLATE-compressed in the zlib
//! format and base64url-encoded into `lst`, and the whole is published as a signed token of
//! `typ` `statuslist+jwt` whose `sub` is the list's URI.
//!
//! Revocation is final: a revoked licence can be neither reinstated nor suspended, so an
//! operator mistake cannot silently resurrect a licence. Decompression is bounded so that a
//! small hostile list cannot expand into gigabytes.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use serde_json::{Map, Value};

use crate::error::LicenceError;
use crate::jws::{self, Limits, int_claim, str_claim};
use crate::keys::SigningKey;
use crate::strict::{b64url_decode, b64url_encode};
use crate::trust::TrustStore;

/// `typ` of a signed status list.
pub const STATUS_LIST_TYP: &str = "statuslist+jwt";

/// Bits per entry.
pub const BITS: u8 = 2;

/// The status of one licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenceStatus {
    /// `0x00`, VALID.
    Valid,
    /// `0x01`, INVALID: revoked for good.
    Revoked,
    /// `0x02`, SUSPENDED: may be reinstated.
    Suspended,
}

impl LicenceStatus {
    /// The 2-bit value.
    pub fn value(self) -> u8 {
        match self {
            LicenceStatus::Valid => 0,
            LicenceStatus::Revoked => 1,
            LicenceStatus::Suspended => 2,
        }
    }

    /// The name used in messages and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::Suspended => "suspended",
        }
    }

    fn from_value(value: u8) -> Result<LicenceStatus, LicenceError> {
        match value {
            0 => Ok(LicenceStatus::Valid),
            1 => Ok(LicenceStatus::Revoked),
            2 => Ok(LicenceStatus::Suspended),
            value => Err(LicenceError::StatusUnknown { value }),
        }
    }
}

/// A status list of 2-bit entries.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusList")
            .field("entries", &self.len())
            .finish()
    }
}

impl StatusList {
    /// A list of `entries` valid licences (rounded up to a whole byte). Issuers should make
    /// lists large (the draft suggests at least 16 KiB of entries) so that fetching a list
    /// does not reveal which licence is being checked.
    pub fn new(entries: usize) -> StatusList {
        StatusList {
            bytes: vec![0; entries.div_ceil(4)],
        }
    }

    /// A list from its raw bytes, as stored by [`StatusList::as_bytes`].
    pub fn from_bytes(bytes: Vec<u8>) -> StatusList {
        StatusList { bytes }
    }

    /// The raw bytes, for the issuer's registry.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.bytes.len() * 4
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn raw(&self, idx: usize) -> Result<u8, LicenceError> {
        let byte = self
            .bytes
            .get(idx / 4)
            .ok_or(LicenceError::StatusIndexOutOfRange { idx })?;
        Ok((byte >> ((idx % 4) * 2)) & 0b11)
    }

    /// The status at `idx`.
    pub fn get(&self, idx: usize) -> Result<LicenceStatus, LicenceError> {
        LicenceStatus::from_value(self.raw(idx)?)
    }

    fn set(&mut self, idx: usize, status: LicenceStatus) -> Result<(), LicenceError> {
        let byte = self
            .bytes
            .get_mut(idx / 4)
            .ok_or(LicenceError::StatusIndexOutOfRange { idx })?;
        let shift = (idx % 4) * 2;
        *byte = (*byte & !(0b11 << shift)) | (status.value() << shift);
        Ok(())
    }

    fn transition(&mut self, idx: usize, to: LicenceStatus) -> Result<(), LicenceError> {
        let from = self.get(idx)?;
        let allowed = match (from, to) {
            (LicenceStatus::Revoked, LicenceStatus::Revoked) => true,
            (LicenceStatus::Revoked, _) => false,
            (LicenceStatus::Valid, LicenceStatus::Valid) => false,
            (LicenceStatus::Suspended, LicenceStatus::Suspended) => false,
            _ => true,
        };
        if !allowed {
            return Err(LicenceError::StatusTransition {
                from: from.name(),
                to: to.name(),
            });
        }
        self.set(idx, to)
    }

    /// Suspends a valid licence.
    pub fn suspend(&mut self, idx: usize) -> Result<(), LicenceError> {
        self.transition(idx, LicenceStatus::Suspended)
    }

    /// Reinstates a suspended licence.
    pub fn reinstate(&mut self, idx: usize) -> Result<(), LicenceError> {
        self.transition(idx, LicenceStatus::Valid)
    }

    /// Revokes a licence for good (revoking twice is not an error).
    pub fn revoke(&mut self, idx: usize) -> Result<(), LicenceError> {
        self.transition(idx, LicenceStatus::Revoked)
    }

    /// `lst`: the zlib-compressed bytes, base64url-encoded.
    pub fn encode(&self) -> Result<String, LicenceError> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder
            .write_all(&self.bytes)
            .and_then(|()| encoder.finish())
            .map(b64url_encode)
            .map_err(|e| LicenceError::Internal(format!("compressing a status list: {e}")))
    }

    /// Decodes `lst`, refusing more than `max_bytes` of decompressed data.
    pub fn decode(lst: &str, max_bytes: usize) -> Result<StatusList, LicenceError> {
        let compressed = b64url_decode(lst, "status list")?;
        Ok(StatusList {
            bytes: inflate_bounded(&compressed, max_bytes)?,
        })
    }

    /// Signs the list as a `statuslist+jwt` token for `uri`, issued by `department` at `now`,
    /// valid until `exp` and to be re-fetched after `ttl` seconds.
    pub fn sign(
        &self,
        key: &SigningKey,
        department: &str,
        uri: &str,
        now: i64,
        exp: Option<i64>,
        ttl: Option<i64>,
    ) -> Result<String, LicenceError> {
        let mut list = Map::new();
        list.insert("bits".to_owned(), Value::from(BITS));
        list.insert("lst".to_owned(), Value::from(self.encode()?));
        let mut payload = Map::new();
        payload.insert("iss".to_owned(), Value::from(department));
        payload.insert("sub".to_owned(), Value::from(uri));
        payload.insert("iat".to_owned(), Value::from(now));
        if let Some(exp) = exp {
            payload.insert("exp".to_owned(), Value::from(exp));
        }
        if let Some(ttl) = ttl {
            payload.insert("ttl".to_owned(), Value::from(ttl));
        }
        payload.insert("status_list".to_owned(), Value::Object(list));
        jws::sign(key, STATUS_LIST_TYP, &payload)
    }
}

/// Inflates a zlib stream, refusing output beyond `max_bytes` and trailing garbage.
pub(crate) fn inflate_bounded(
    compressed: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, LicenceError> {
    let mut decoder = ZlibDecoder::new(compressed);
    let mut out = Vec::new();
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    (&mut decoder)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| LicenceError::BadZlib)?;
    if out.len() > max_bytes {
        return Err(LicenceError::DecompressionLimit { limit: max_bytes });
    }
    if decoder.total_in() != compressed.len() as u64 {
        return Err(LicenceError::BadZlib);
    }
    Ok(out)
}

/// A status list whose token verified against the trust store, or that the issuer's own
/// registry supplied directly.
#[derive(Debug, Clone)]
pub struct VerifiedStatusList {
    /// The list's URI (`sub`).
    pub uri: String,
    /// The department whose licences it covers.
    pub department: String,
    /// When the list was signed.
    pub issued_at: i64,
    /// When it stops being usable, if it says.
    pub expires_at: Option<i64>,
    /// The entries.
    pub list: StatusList,
}

impl VerifiedStatusList {
    /// Verifies a `statuslist+jwt` token: strict parse, a key of the trust store whose
    /// department is the token's `iss` and that may sign status lists, signed within the key's
    /// window, two bits per entry, bounded decompression. `expected_uri`, when given, must be
    /// the token's `sub`.
    pub fn from_token(
        token: &str,
        trust: &TrustStore,
        expected_uri: Option<&str>,
        limits: &Limits,
    ) -> Result<VerifiedStatusList, LicenceError> {
        let limits = Limits {
            max_token_bytes: limits
                .max_token_bytes
                .max(limits.max_decompressed_bytes * 2),
            ..*limits
        };
        let parsed = jws::parse(token, &[STATUS_LIST_TYP], false, &limits)?;
        let department = str_claim(&parsed.payload, "iss")?;
        let entry = trust
            .entry(jws::required_kid(&parsed)?)
            .filter(|e| e.department == department)
            .ok_or_else(|| LicenceError::UnknownKey {
                kid: parsed.kid.clone().unwrap_or_default(),
            })?;
        parsed.verify_with(&entry.key)?;
        if !entry.status_lists {
            return Err(LicenceError::StatusListInvalid {
                reason: "the key may not sign status lists",
            });
        }
        let issued_at = int_claim(&parsed.payload, "iat")?
            .ok_or(LicenceError::ClaimInvalid { claim: "iat" })?;
        if !entry.in_window(issued_at) {
            return Err(LicenceError::KeyNotValidAtIssuance);
        }
        let uri = str_claim(&parsed.payload, "sub")?;
        if expected_uri.is_some_and(|expected| expected != uri) {
            return Err(LicenceError::StatusListInvalid {
                reason: "the list is for another URI",
            });
        }
        let list = parsed
            .payload
            .get("status_list")
            .and_then(Value::as_object)
            .ok_or(LicenceError::ClaimInvalid {
                claim: "status_list",
            })?;
        if list.get("bits").and_then(Value::as_u64) != Some(u64::from(BITS)) {
            return Err(LicenceError::StatusListInvalid {
                reason: "the list must have 2 bits per entry",
            });
        }
        let lst = list
            .get("lst")
            .and_then(Value::as_str)
            .ok_or(LicenceError::ClaimInvalid { claim: "lst" })?;
        Ok(VerifiedStatusList {
            uri: uri.to_owned(),
            department: department.to_owned(),
            issued_at,
            expires_at: int_claim(&parsed.payload, "exp")?,
            list: StatusList::decode(lst, limits.max_decompressed_bytes)?,
        })
    }

    /// Refuses a list older than `max_age` seconds at `now`, or past its own `exp`.
    pub fn check_fresh(&self, now: i64, max_age: Option<i64>) -> Result<(), LicenceError> {
        let too_old = max_age.is_some_and(|age| now - self.issued_at > age);
        let expired = self.expires_at.is_some_and(|exp| now > exp);
        if too_old || expired {
            return Err(LicenceError::StatusListStale);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_example_bit_order() {
        // draft-ietf-oauth-status-list §4.1, 2-bit example: statuses 1,2,0,3,0,1,0,1,1,2,3,3
        // pack into c9 44 f9.
        let mut list = StatusList::new(12);
        for (i, v) in [1u8, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
            .into_iter()
            .enumerate()
        {
            let byte = &mut list.bytes[i / 4];
            *byte |= v << ((i % 4) * 2);
        }
        assert_eq!(list.as_bytes(), &[0xc9, 0x44, 0xf9]);
        assert_eq!(list.get(0), Ok(LicenceStatus::Revoked));
        assert_eq!(list.get(1), Ok(LicenceStatus::Suspended));
        assert_eq!(
            list.get(3).map_err(|e| e.code()),
            Err("licence.status_unknown")
        );
    }

    #[test]
    fn transitions() {
        let mut list = StatusList::new(8);
        assert_eq!(list.suspend(3), Ok(()));
        assert_eq!(list.get(3), Ok(LicenceStatus::Suspended));
        assert_eq!(list.get(2), Ok(LicenceStatus::Valid));
        assert_eq!(list.reinstate(3), Ok(()));
        assert_eq!(list.revoke(3), Ok(()));
        assert_eq!(
            list.reinstate(3).map_err(|e| e.code()),
            Err("licence.status_transition_invalid")
        );
        assert_eq!(
            list.suspend(8).map_err(|e| e.code()),
            Err("licence.status_index_out_of_range")
        );
        let decoded = StatusList::decode(&list.encode().expect("encode"), 1024).expect("decode");
        assert_eq!(decoded, list);
    }

    #[test]
    fn zlib_bombs_are_refused() {
        let bomb = StatusList::new(40 * 1024 * 1024).encode().expect("encode");
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            StatusList::decode(&bomb, 1024 * 1024).map_err(|e| e.code()),
            Err("licence.decompression_limit")
        );
        assert_eq!(
            StatusList::decode("AAAA", 1024).map_err(|e| e.code()),
            Err("licence.bad_zlib")
        );
    }
}
