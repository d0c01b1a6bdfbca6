//! Issuing and verifying e-licences.
//!
//! [`issue`] is a pure function of its arguments: the face, the issuer's key, the status
//! index the registry reserved and `now`. It validates the face against its licence type,
//! assigns the GB/T 36904 identifier, and signs an SD-JWT in which every face field is its own
//! disclosure. Storing the licence, reserving status indices and checking the holder against
//! the base libraries are the caller's.
//!
//! [`verify`] is the one verification path, online and offline alike: the difference is only
//! where the trust store and the status lists came from and how old they may be. It runs the
//! strict layer over every part first, then trust, signature, claims, disclosures, key binding
//! and status, and names the first reason for refusal.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, TimeDelta};
use serde_json::{Map, Value};
use tongban_schemas::id::{LicenceId, Uscc};
use tongban_schemas::licence::{Face, FaceError, Holder, LicenceType, Validity};

use crate::error::{LicenceError, truncate};
use crate::jws::{self, Limits, int_claim, str_claim};
use crate::keys::{SigningKey, VerifyingKey};
use crate::sdjwt::{self, KB_TYP, KbExpectations, SD_ALG};
use crate::status::{LicenceStatus, VerifiedStatusList};
use crate::strict::Tape;
use crate::trust::TrustStore;

/// `typ` of an issued licence (SD-JWT VC).
pub const LICENCE_TYP: &str = "dc+sd-jwt";

/// Offset of China Standard Time from UTC: licence dates are days in Beijing time.
const CST_OFFSET_SECS: i64 = 8 * 3600;

/// Where a licence's status lives: list `uri` (list number `list` of its issuer), entry `idx`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusRef {
    /// The issuer's number for the list; part of the licence serial.
    pub list: u32,
    /// The entry reserved for this licence.
    pub idx: u32,
    /// Where the signed list is published.
    pub uri: String,
}

/// Everything that varies from one licence to the next.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// The type.
    pub licence_type: LicenceType,
    /// The holder, already checked against the base libraries by the caller.
    pub holder: Holder,
    /// The face fields.
    pub face: Face,
    /// The reserved status entry.
    pub status: StatusRef,
    /// The licence version (`001` for a first issue, higher for a re-issue).
    pub version: u16,
    /// The holder's public key, for key binding (`cnf`); `None` for licences presented without
    /// proof of possession.
    pub holder_key: Option<VerifyingKey>,
}

/// The issuing department and its current key.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    /// Department code, the `iss` of the licence.
    pub department: &'a str,
    /// The department's USCC, the issuer field of the licence ID.
    pub uscc: &'a Uscc,
    /// The department's signing key in service.
    pub key: &'a SigningKey,
}

/// An issued licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLicence {
    /// The GB/T 36904 identifier (`jti`).
    pub id: LicenceId,
    /// The SD-JWT with every disclosure, `<jwt>~<d1>~…~<dn>~`.
    pub token: String,
    /// The validity period from the face.
    pub validity: Validity,
    /// `nbf` of the token.
    pub not_before: i64,
    /// `exp` of the token, if the licence ends.
    pub expires_at: Option<i64>,
    /// The key that signed it.
    pub kid: String,
}

/// First second of `day` in Beijing time.
fn day_start(day: NaiveDate) -> Result<i64, LicenceError> {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp() - CST_OFFSET_SECS)
        .ok_or(LicenceError::Internal("midnight exists".to_owned()))
}

/// The Beijing date of a Unix time.
fn cst_date(now: i64) -> Result<NaiveDate, LicenceError> {
    chrono::DateTime::from_timestamp(now + CST_OFFSET_SECS, 0)
        .map(|t| t.date_naive())
        .ok_or(LicenceError::Internal("time out of range".to_owned()))
}

/// Issues a licence at `now` (Unix seconds).
///
/// The serial of the licence ID is `<year><list:04><idx:08>`, unique per issuer as long as the
/// caller never reserves the same status entry twice.
pub fn issue(
    request: &IssueRequest,
    issuer: &Issuer<'_>,
    now: i64,
) -> Result<IssuedLicence, LicenceError> {
    let licence_type = request.licence_type;
    if issuer.department != licence_type.issuing_department() {
        return Err(LicenceError::IssuerNotAuthorisedForType {
            issuer: issuer.department.to_owned(),
            licence_type: licence_type.slug().to_owned(),
        });
    }
    let validity = licence_type.validate(&request.face, &request.holder)?;
    let today = cst_date(now)?;
    if validity.to.is_some_and(|to| to < today) {
        return Err(FaceError::Validity {
            reason: "the period ended before the licence is issued".to_owned(),
        }
        .into());
    }
    let serial = format!(
        "{}{:04}{:08}",
        today.format("%Y"),
        request.status.list,
        request.status.idx
    );
    let id = LicenceId::new(
        licence_type.type_code(),
        issuer.uscc.as_str(),
        &serial,
        request.version,
    )
    .map_err(|e| LicenceError::Internal(format!("licence ID: {e}")))?;
    let not_before = day_start(validity.from)?;
    let expires_at = validity
        .to
        .map(|to| day_start(to + TimeDelta::days(1)))
        .transpose()?;

    let mut disclosures = Vec::with_capacity(request.face.len());
    for (name, value) in &request.face {
        disclosures.push(sdjwt::disclose(name, &Value::from(value.as_str()))?);
    }
    let mut digests: Vec<Value> = disclosures
        .iter()
        .map(|d| Value::from(d.digest.clone()))
        .collect();
    // Sorted digests do not reveal the order, and so not the names, of the fields.
    digests.sort_by(|a, b| a.as_str().cmp(&b.as_str()));

    let mut payload = Map::new();
    payload.insert("iss".to_owned(), Value::from(issuer.department));
    payload.insert("jti".to_owned(), Value::from(id.as_str()));
    payload.insert("vct".to_owned(), Value::from(licence_type.slug()));
    payload.insert("iat".to_owned(), Value::from(now));
    payload.insert("nbf".to_owned(), Value::from(not_before));
    if let Some(exp) = expires_at {
        payload.insert("exp".to_owned(), Value::from(exp));
    }
    payload.insert(
        "holder".to_owned(),
        serde_json::json!({"type": request.holder.kind().code(), "id": request.holder.id()}),
    );
    payload.insert(
        "status".to_owned(),
        serde_json::json!({"status_list": {"idx": request.status.idx, "uri": request.status.uri}}),
    );
    payload.insert("_sd".to_owned(), Value::Array(digests));
    payload.insert("_sd_alg".to_owned(), Value::from(SD_ALG));
    if let Some(holder_key) = &request.holder_key {
        payload.insert(
            "cnf".to_owned(),
            serde_json::json!({"jwk": Value::Object(holder_key.to_jwk())}),
        );
    }
    let mut token = jws::sign(issuer.key, LICENCE_TYP, &payload)?;
    token.push('~');
    for d in &disclosures {
        token.push_str(&d.encoded);
        token.push('~');
    }
    Ok(IssuedLicence {
        id,
        token,
        validity,
        not_before,
        expires_at,
        kid: issuer.key.kid().to_owned(),
    })
}

/// Status lists at hand, by URI.
#[derive(Debug, Clone, Default)]
pub struct StatusLists {
    by_uri: HashMap<String, VerifiedStatusList>,
}

impl StatusLists {
    /// No lists.
    pub fn new() -> StatusLists {
        StatusLists::default()
    }

    /// Adds or replaces the list for its URI.
    pub fn insert(&mut self, list: VerifiedStatusList) {
        self.by_uri.insert(list.uri.clone(), list);
    }

    /// The list for `uri`.
    pub fn get(&self, uri: &str) -> Option<&VerifiedStatusList> {
        self.by_uri.get(uri)
    }
}

/// What a verifier accepts. One policy per verifying context (a clerk's window, an offline
/// scanner), built once.
#[derive(Debug, Clone)]
pub struct VerifyPolicy {
    /// Size and nesting limits.
    pub limits: Limits,
    /// Seconds of clock difference tolerated on `iat`, `nbf` and `exp`.
    pub leeway: i64,
    /// Accepted `typ` values of the licence JWT.
    pub typs: Vec<String>,
    /// The verifier's identity: when set, a KB-JWT for exactly this audience is required.
    pub audience: Option<String>,
    /// The challenge the presenter must have signed; when set, a KB-JWT is required.
    pub nonce: Option<String>,
    /// Whether a KB-JWT is required even without audience or nonce.
    pub require_key_binding: bool,
    /// Oldest accepted KB-JWT `iat`, in seconds before `now`.
    pub key_binding_max_age: i64,
    /// Oldest accepted trust list (offline use); `None` online.
    pub max_trust_list_age: Option<i64>,
    /// Oldest accepted status list (offline use); `None` online.
    pub max_status_list_age: Option<i64>,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        VerifyPolicy {
            limits: Limits::default(),
            leeway: 60,
            typs: vec![LICENCE_TYP.to_owned()],
            audience: None,
            nonce: None,
            require_key_binding: false,
            key_binding_max_age: 300,
            max_trust_list_age: None,
            max_status_list_age: None,
        }
    }
}

/// A licence that passed every check, with only the disclosed face fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicence {
    /// The GB/T 36904 identifier.
    pub id: LicenceId,
    /// The type.
    pub licence_type: LicenceType,
    /// The issuing department.
    pub issuer: String,
    /// The holder.
    pub holder: Holder,
    /// When it was issued.
    pub issued_at: i64,
    /// First second of validity (`nbf`).
    pub valid_from: i64,
    /// End of validity (`exp`), if any.
    pub valid_until: Option<i64>,
    /// Always [`LicenceStatus::Valid`]: other statuses are refusals.
    pub status: LicenceStatus,
    /// The status reference, for the audit log.
    pub status_ref: StatusRef,
    /// The disclosed face fields only.
    pub disclosed: BTreeMap<String, String>,
    /// The key that signed it.
    pub kid: String,
    /// Whether the presenter proved possession of the holder key.
    pub key_bound: bool,
}

/// Verifies a licence presentation at `now` against a trust store and status lists.
pub fn verify(
    presentation: &str,
    trust: &TrustStore,
    status_lists: &StatusLists,
    policy: &VerifyPolicy,
    now: i64,
) -> Result<VerifiedLicence, LicenceError> {
    let limits = &policy.limits;
    trust.check_fresh(now, policy.max_trust_list_age)?;

    // 1. The strict layer over every part, before anything is trusted. Payload and
    // disclosures are read in place from two decode buffers: a claim is copied only when it
    // becomes part of the result.
    let parts = sdjwt::split(presentation, limits)?;
    let mut payload_bytes = Vec::new();
    let jwt = jws::parse_borrowed(parts.jwt, &policy.typs, false, limits, &mut payload_bytes)?;
    let (mut disclosure_bytes, mut disclosure_tape) = (Vec::new(), Tape::default());
    let disclosures = sdjwt::parse_disclosures(
        &parts.disclosures,
        limits,
        &mut disclosure_bytes,
        &mut disclosure_tape,
    )?;
    let kb = parts
        .key_binding
        .map(|kb| jws::parse(kb, &[KB_TYP], true, limits))
        .transpose()?;
    let payload = &jwt.payload.object();

    // 2. Trust and signature.
    let issuer = str_claim(payload, "iss")?;
    if !trust.knows_department(issuer) {
        return Err(LicenceError::UnknownIssuer {
            issuer: truncate(issuer),
        });
    }
    let kid = jws::required_kid(&jwt)?;
    let entry = trust
        .entry(kid)
        .filter(|e| e.department == issuer)
        .ok_or_else(|| LicenceError::UnknownKey {
            kid: kid.to_owned(),
        })?;
    jwt.verify_with(&entry.key)?;

    // 3. Type, authority and the key's window.
    let vct = str_claim(payload, "vct")?;
    let licence_type = LicenceType::from_slug(vct)
        .map_err(|_| LicenceError::UnknownType { vct: truncate(vct) })?;
    if issuer != licence_type.issuing_department() {
        return Err(LicenceError::IssuerNotAuthorisedForType {
            issuer: issuer.to_owned(),
            licence_type: vct.to_owned(),
        });
    }
    if !entry.licence_types.contains(&licence_type) {
        return Err(LicenceError::KeyNotAuthorisedForType {
            licence_type: vct.to_owned(),
        });
    }
    let issued_at =
        int_claim(payload, "iat")?.ok_or(LicenceError::ClaimInvalid { claim: "iat" })?;
    if !entry.in_window(issued_at) {
        return Err(LicenceError::KeyNotValidAtIssuance);
    }

    // 4. Time.
    let valid_from =
        int_claim(payload, "nbf")?.ok_or(LicenceError::ClaimInvalid { claim: "nbf" })?;
    let valid_until = int_claim(payload, "exp")?;
    if issued_at > now + policy.leeway || valid_from > now + policy.leeway {
        return Err(LicenceError::NotYetValid);
    }
    if valid_until.is_some_and(|exp| exp + policy.leeway <= now) {
        return Err(LicenceError::Expired);
    }

    // 5. Identifier and holder.
    let id = LicenceId::parse(str_claim(payload, "jti")?)
        .map_err(|_| LicenceError::ClaimInvalid { claim: "jti" })?;
    if id.type_code() != licence_type.type_code() {
        return Err(LicenceError::ClaimInvalid { claim: "jti" });
    }
    let holder_claim = payload
        .get("holder")
        .and_then(|v| v.as_object())
        .ok_or(LicenceError::ClaimInvalid { claim: "holder" })?;
    let holder = Holder::parse(
        str_claim(&holder_claim, "type")?,
        str_claim(&holder_claim, "id")?,
    )?;
    if !licence_type.holder_kinds().contains(&holder.kind()) {
        return Err(FaceError::HolderKind {
            licence_type,
            found: holder.kind().code(),
        }
        .into());
    }

    // 6. Disclosures. `_sd` is sorted once so that each disclosure is found by binary search
    // and marked; RFC 9901 §7.1 refuses a payload that lists one digest twice.
    if payload.get("_sd_alg").and_then(|v| v.as_str()) != Some(SD_ALG) {
        return Err(LicenceError::ClaimInvalid { claim: "_sd_alg" });
    }
    let mut digests = payload
        .get("_sd")
        .and_then(|v| v.as_array())
        .ok_or(LicenceError::ClaimInvalid { claim: "_sd" })?
        .iter()
        .map(|v| v.as_str().map(str::as_bytes))
        .collect::<Option<Vec<&[u8]>>>()
        .ok_or(LicenceError::ClaimInvalid { claim: "_sd" })?;
    digests.sort_unstable();
    if digests.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(LicenceError::ClaimInvalid { claim: "_sd" });
    }
    let mut used = vec![false; digests.len()];
    let mut disclosed = BTreeMap::new();
    for d in &disclosures {
        let Ok(at) = digests.binary_search(&d.digest.as_slice()) else {
            return Err(LicenceError::DisclosureTampered);
        };
        if std::mem::replace(&mut used[at], true) {
            return Err(LicenceError::DisclosureDuplicate);
        }
        let Some(value) = d.value.as_str() else {
            return Err(LicenceError::DisclosureMalformed {
                reason: "a face field value must be a string",
            });
        };
        licence_type.validate_field(d.name, value)?;
        if disclosed
            .insert(d.name.to_owned(), value.to_owned())
            .is_some()
        {
            return Err(LicenceError::DisclosureDuplicate);
        }
    }

    // 7. Key binding.
    let must_bind =
        policy.require_key_binding || policy.audience.is_some() || policy.nonce.is_some();
    let key_bound = match &kb {
        None if must_bind => return Err(LicenceError::KeyBindingRequired),
        None => false,
        Some(kb) => {
            let jwk = payload
                .get("cnf")
                .and_then(|c| c.as_object())
                .and_then(|c| c.get("jwk"))
                .and_then(|j| j.as_object())
                .ok_or(LicenceError::KeyBindingInvalid {
                    reason: "the licence names no holder key",
                })?
                .to_map();
            let holder_key = VerifyingKey::from_jwk_inferring_alg(&jwk).map_err(|_| {
                LicenceError::KeyBindingInvalid {
                    reason: "the licence's holder key is unusable",
                }
            })?;
            sdjwt::verify_key_binding(
                kb,
                &holder_key,
                parts.without_kb,
                &KbExpectations {
                    audience: policy.audience.as_deref(),
                    nonce: policy.nonce.as_deref(),
                    now,
                    leeway: policy.leeway,
                    max_age: policy.key_binding_max_age,
                },
            )?;
            true
        }
    };

    // 8. Status.
    let status_ref = payload
        .get("status")
        .and_then(|s| s.as_object())
        .and_then(|s| s.get("status_list"))
        .and_then(|s| s.as_object())
        .ok_or(LicenceError::ClaimInvalid { claim: "status" })?;
    let idx = status_ref
        .get("idx")
        .and_then(|i| i.as_u64())
        .and_then(|i| u32::try_from(i).ok())
        .ok_or(LicenceError::ClaimInvalid { claim: "status" })?;
    let uri = str_claim(&status_ref, "uri")?;
    let list = status_lists
        .get(uri)
        .filter(|l| l.department == issuer)
        .ok_or_else(|| LicenceError::StatusUnavailable { uri: truncate(uri) })?;
    list.check_fresh(now, policy.max_status_list_age)?;
    let status = list.list.get(idx as usize)?;
    match status {
        LicenceStatus::Valid => {}
        LicenceStatus::Revoked => return Err(LicenceError::Revoked),
        LicenceStatus::Suspended => return Err(LicenceError::Suspended),
    }
    let list_no = id
        .serial()
        .get(4..8)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();

    Ok(VerifiedLicence {
        id,
        licence_type,
        issuer: issuer.to_owned(),
        holder,
        issued_at,
        valid_from,
        valid_until,
        status,
        status_ref: StatusRef {
            list: list_no,
            idx,
            uri: uri.to_owned(),
        },
        disclosed,
        kid: kid.to_owned(),
        key_bound,
    })
}
