//! The trust list: which issuer keys verify which licences.
//!
//! The trust list is a JWKS signed by the exchange's trust anchor (the data bureau's key,
//! configured out of band). Each key carries, beside its JWK members, the department it speaks
//! for, the licence types it may sign, whether it may sign status lists, and its signing window
//! (`issue_from` to `issue_until`). Rotation closes the old key's window and opens a new key's:
//! the old key stays in the list, so licences issued while it was in service keep verifying,
//! while a token carrying a later `iat` under the old key is refused. A compromised key is
//! removed from the list instead, which invalidates everything it signed.
//!
//! A verifier parses the list once into a [`TrustStore`]: keys are decoded and handed to
//! OpenSSL at load time, never per token.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use tongban_schemas::licence::LicenceType;

use crate::error::LicenceError;
use crate::jws::{self, Limits, int_claim};
use crate::keys::{SigningKey, VerifyingKey};

/// `typ` of a signed trust list.
pub const TRUST_LIST_TYP: &str = "tongban-trustlist+jwt";

/// One issuer key and what it may do.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustEntry {
    /// Department code of the issuer, e.g. `market-regulation`; the `iss` of its tokens.
    pub department: String,
    /// The public key, with its one algorithm.
    pub key: VerifyingKey,
    /// Licence types the key may sign.
    pub licence_types: Vec<LicenceType>,
    /// Whether the key may sign the department's status lists.
    pub status_lists: bool,
    /// First second (Unix time) at which the key may sign.
    pub issue_from: i64,
    /// Last second at which the key may sign; `None` while the key is in service.
    pub issue_until: Option<i64>,
}

impl TrustEntry {
    /// Whether a token issued at `iat` falls in the key's signing window.
    pub fn in_window(&self, iat: i64) -> bool {
        iat >= self.issue_from && self.issue_until.is_none_or(|until| iat <= until)
    }

    fn to_json(&self) -> Value {
        let mut jwk = self.key.to_jwk();
        jwk.insert("dept".to_owned(), Value::from(self.department.clone()));
        jwk.insert(
            "licence_types".to_owned(),
            Value::from(
                self.licence_types
                    .iter()
                    .map(|t| t.slug())
                    .collect::<Vec<_>>(),
            ),
        );
        jwk.insert("status_lists".to_owned(), Value::from(self.status_lists));
        jwk.insert("issue_from".to_owned(), Value::from(self.issue_from));
        if let Some(until) = self.issue_until {
            jwk.insert("issue_until".to_owned(), Value::from(until));
        }
        Value::Object(jwk)
    }

    fn from_json(value: &Value) -> Result<TrustEntry, LicenceError> {
        let invalid = |reason: &str| LicenceError::TrustListInvalid {
            reason: reason.to_owned(),
        };
        let Value::Object(jwk) = value else {
            return Err(invalid("a key entry must be an object"));
        };
        let department = jwk
            .get("dept")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty() && d.len() <= 64)
            .ok_or_else(|| invalid("a key entry needs its department"))?
            .to_owned();
        let licence_types = jwk
            .get("licence_types")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("a key entry needs its licence types"))?
            .iter()
            .map(|t| {
                t.as_str()
                    .and_then(|s| LicenceType::from_slug(s).ok())
                    .ok_or_else(|| invalid("a key entry names an unknown licence type"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status_lists = jwk
            .get("status_lists")
            .and_then(Value::as_bool)
            .ok_or_else(|| invalid("a key entry needs status_lists"))?;
        let issue_from = int_claim(jwk, "issue_from")
            .ok()
            .flatten()
            .ok_or_else(|| invalid("a key entry needs issue_from"))?;
        let issue_until =
            int_claim(jwk, "issue_until").map_err(|_| invalid("issue_until must be a number"))?;
        let key = VerifyingKey::from_jwk(jwk).map_err(|e| LicenceError::TrustListInvalid {
            reason: e.to_string(),
        })?;
        Ok(TrustEntry {
            department,
            key,
            licence_types,
            status_lists,
            issue_from,
            issue_until,
        })
    }
}

/// The content of a trust list, as the administrator maintains it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustList {
    /// Every key, current and retired.
    pub entries: Vec<TrustEntry>,
}

impl TrustList {
    /// Adds `key` for `department` from `now` on, closing the signing window of the
    /// department's keys still in service at `now - 1`. Earlier keys stay in the list so that
    /// licences they signed keep verifying.
    pub fn rotate(
        &mut self,
        department: &str,
        key: VerifyingKey,
        licence_types: Vec<LicenceType>,
        now: i64,
    ) {
        for entry in &mut self.entries {
            if entry.department == department && entry.issue_until.is_none() {
                entry.issue_until = Some(now - 1);
            }
        }
        self.entries.push(TrustEntry {
            department: department.to_owned(),
            key,
            licence_types,
            status_lists: true,
            issue_from: now,
            issue_until: None,
        });
    }

    /// Signs the list with the trust anchor: `iss` is the anchor's department, `iat` is `now`
    /// and `exp`, if given, bounds how long any verifier may use it.
    pub fn sign(
        &self,
        anchor: &SigningKey,
        issuer: &str,
        now: i64,
        exp: Option<i64>,
    ) -> Result<String, LicenceError> {
        let mut payload = Map::new();
        payload.insert("iss".to_owned(), Value::from(issuer));
        payload.insert("iat".to_owned(), Value::from(now));
        if let Some(exp) = exp {
            payload.insert("exp".to_owned(), Value::from(exp));
        }
        payload.insert(
            "keys".to_owned(),
            Value::Array(self.entries.iter().map(TrustEntry::to_json).collect()),
        );
        jws::sign(anchor, TRUST_LIST_TYP, &payload)
    }
}

/// A verified trust list, ready for lookups by `kid`.
#[derive(Debug, Clone)]
pub struct TrustStore {
    by_kid: HashMap<String, TrustEntry>,
    departments: HashSet<String>,
    issued_at: i64,
    expires_at: Option<i64>,
}

impl TrustStore {
    /// Verifies a signed trust list against the trust anchor and loads its keys. Whether it is
    /// fresh enough is decided per verification, against that verification's `now`.
    pub fn from_token(
        token: &str,
        anchor: &VerifyingKey,
        limits: &Limits,
    ) -> Result<TrustStore, LicenceError> {
        // A JWKS of many departments and retired keys outgrows a licence; nesting stays small.
        let limits = Limits {
            max_token_bytes: limits.max_token_bytes.max(1024 * 1024),
            ..*limits
        };
        let parsed = jws::parse(token, &[TRUST_LIST_TYP], false, &limits)?;
        if parsed.kid.as_deref() != Some(anchor.kid()) {
            return Err(LicenceError::TrustListInvalid {
                reason: "it is not signed by the trust anchor".to_owned(),
            });
        }
        parsed.verify_with(anchor)?;
        let issued_at = int_claim(&parsed.payload, "iat")?
            .ok_or(LicenceError::ClaimInvalid { claim: "iat" })?;
        let expires_at = int_claim(&parsed.payload, "exp")?;
        let keys = parsed
            .payload
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(LicenceError::ClaimInvalid { claim: "keys" })?;
        let entries = keys
            .iter()
            .map(TrustEntry::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        TrustStore::from_entries(entries, issued_at, expires_at)
    }

    /// Builds a store directly from entries the caller already trusts (the gateway's own key
    /// registry, online), dated `issued_at`.
    pub fn from_entries(
        entries: Vec<TrustEntry>,
        issued_at: i64,
        expires_at: Option<i64>,
    ) -> Result<TrustStore, LicenceError> {
        let mut by_kid = HashMap::with_capacity(entries.len());
        let mut departments = HashSet::new();
        for entry in entries {
            departments.insert(entry.department.clone());
            let kid = entry.key.kid().to_owned();
            if by_kid.insert(kid, entry).is_some() {
                return Err(LicenceError::TrustListInvalid {
                    reason: "a key appears twice".to_owned(),
                });
            }
        }
        Ok(TrustStore {
            by_kid,
            departments,
            issued_at,
            expires_at,
        })
    }

    /// Refuses a list older than `max_age` seconds at `now`, or past its own `exp`.
    pub fn check_fresh(&self, now: i64, max_age: Option<i64>) -> Result<(), LicenceError> {
        let too_old = max_age.is_some_and(|age| now - self.issued_at > age);
        let expired = self.expires_at.is_some_and(|exp| now > exp);
        if too_old || expired {
            return Err(LicenceError::TrustListStale);
        }
        Ok(())
    }

    /// The entry of a key.
    pub fn entry(&self, kid: &str) -> Option<&TrustEntry> {
        self.by_kid.get(kid)
    }

    /// Whether the department has any key in the list.
    pub fn knows_department(&self, department: &str) -> bool {
        self.departments.contains(department)
    }

    /// The `iat` of the list.
    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &TrustEntry> {
        self.by_kid.values()
    }
}
