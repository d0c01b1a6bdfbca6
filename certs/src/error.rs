//! The one error type of the crate, with a stable code per reason.
//!
//! A verifier must be able to tell a clerk, an auditor and an attacker's log line apart
//! exactly why a token was refused, so every refusal has its own variant and its own code
//! (`licence.bad_signature`, `licence.revoked` …). Codes never change meaning; messages quote
//! only what the presented token itself contains, never key material or internal state.

use tongban_schemas::licence::FaceError;

/// Who must act on an error: decides the HTTP status class and whether an operator is alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The presenter or requester: the token or the request is refused (a 4xx).
    Caller,
    /// The operator: keys, trust list or status lists are misconfigured or out of date (a 5xx
    /// and an alert).
    Operator,
    /// A bug in this crate.
    Internal,
}

/// Why issuing, presenting or verifying a licence failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenceError {
    // --- The caller: structure and encoding -------------------------------------------------
    /// The token, a part of it, or a decompressed payload exceeds its size limit.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// JSON nested deeper than allowed.
    #[error("{part} is nested deeper than {limit} levels")]
    TooDeep {
        /// Header, payload or disclosure.
        part: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The token does not have the structure of its kind.
    #[error("token is malformed: {reason}")]
    Malformed {
        /// Why.
        reason: &'static str,
    },
    /// A segment is not strict unpadded base64url with canonical trailing bits.
    #[error("{part} is not strict base64url")]
    BadBase64url {
        /// Which segment.
        part: &'static str,
    },
    /// A JSON object with the same member twice.
    #[error("{part} has the member {key:?} more than once")]
    DuplicateKey {
        /// Header, payload or disclosure.
        part: &'static str,
        /// The repeated member name (truncated).
        key: String,
    },
    /// Text that is not the JSON its part must be.
    #[error("{part} is not valid JSON of the expected shape")]
    BadJson {
        /// Header, payload or disclosure.
        part: &'static str,
    },

    // --- The caller: header ------------------------------------------------------------------
    /// An algorithm outside the allow-list (`none`, HMAC …).
    #[error("algorithm {alg:?} is not allowed")]
    AlgNotAllowed {
        /// The header's `alg` (truncated).
        alg: String,
    },
    /// An allowed algorithm that is not the one registered for the key.
    #[error("the key is registered for {expected}, the header says {found}")]
    AlgMismatch {
        /// The key's algorithm.
        expected: &'static str,
        /// The header's algorithm.
        found: &'static str,
    },
    /// A `typ` outside the allow-list of the token kind.
    #[error("token type {typ:?} is not accepted here")]
    TypNotAllowed {
        /// The header's `typ`, or empty when missing (truncated).
        typ: String,
    },
    /// A header carries key material or a key location, which is never trusted.
    #[error("header parameter {param} is not trusted")]
    HeaderKeyNotTrusted {
        /// `jwk`, `jku`, `x5u`, `x5c`, `x5t` or `x5t#S256`.
        param: &'static str,
    },
    /// A header parameter outside the supported set.
    #[error("header parameter {param:?} is not supported")]
    HeaderParamUnsupported {
        /// The parameter (truncated).
        param: String,
    },
    /// `crit` names an extension this verifier does not implement.
    #[error("critical header parameter {param:?} is not supported")]
    CritUnsupported {
        /// The extension (truncated).
        param: String,
    },
    /// `crit` breaks RFC 7515 §4.1.11 (empty, not a list of strings, naming a standard
    /// parameter or one absent from the header).
    #[error("crit is invalid: {reason}")]
    CritInvalid {
        /// Why.
        reason: &'static str,
    },
    /// `kid` missing or not a key thumbprint (path separators, quotes and the like).
    #[error("kid is missing or not a key thumbprint")]
    KidInvalid,

    // --- The caller: trust ------------------------------------------------------------------
    /// The issuer has no keys in the trust list.
    #[error("issuer {issuer:?} is not in the trust list")]
    UnknownIssuer {
        /// The `iss` claim (truncated).
        issuer: String,
    },
    /// No key of the issuer has this `kid`.
    #[error("the issuer has no key {kid:?}")]
    UnknownKey {
        /// The header's `kid`.
        kid: String,
    },
    /// The key may not sign licences of this type.
    #[error("the key may not sign {licence_type} licences")]
    KeyNotAuthorisedForType {
        /// The `vct` claim.
        licence_type: String,
    },
    /// The issuer is not the department authorised for the licence type.
    #[error("{issuer} does not issue {licence_type} licences")]
    IssuerNotAuthorisedForType {
        /// The `iss` claim.
        issuer: String,
        /// The `vct` claim.
        licence_type: String,
    },
    /// The token was issued outside the key's signing window.
    #[error("the key was not in service when the token was issued")]
    KeyNotValidAtIssuance,
    /// The signature has the wrong length or an out-of-range value (r or s zero or ≥ n, a DER
    /// encoding …) and is refused before any cryptography.
    #[error("signature is malformed")]
    SignatureMalformed,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,

    // --- The caller: claims -----------------------------------------------------------------
    /// A required claim is missing or has the wrong type or value.
    #[error("claim {claim} is missing or invalid")]
    ClaimInvalid {
        /// The claim.
        claim: &'static str,
    },
    /// A licence type the exchange does not know.
    #[error("{vct:?} is not a licence type")]
    UnknownType {
        /// The `vct` claim (truncated).
        vct: String,
    },
    /// `exp` is in the past (beyond the leeway).
    #[error("the licence expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the licence is not valid yet")]
    NotYetValid,
    /// A face or holder that no issuer may have signed.
    #[error(transparent)]
    Face(#[from] FaceError),

    // --- The caller: selective disclosure and key binding -----------------------------------
    /// A disclosure whose digest is not in the signed payload.
    #[error("a disclosure does not match the signed licence")]
    DisclosureTampered,
    /// A disclosure that is not `[salt, name, value]` with a face field name and string value.
    #[error("a disclosure is malformed: {reason}")]
    DisclosureMalformed {
        /// Why.
        reason: &'static str,
    },
    /// The same disclosure or face field twice.
    #[error("a disclosure appears twice")]
    DisclosureDuplicate,
    /// A face field that the licence does not contain was asked for.
    #[error("the licence has no disclosable field {field:?}")]
    FieldNotInLicence {
        /// The field.
        field: String,
    },
    /// The verifier requires proof of possession and none was presented.
    #[error("key binding is required")]
    KeyBindingRequired,
    /// The key-binding JWT does not verify or does not match the presentation.
    #[error("key binding is invalid: {reason}")]
    KeyBindingInvalid {
        /// Why.
        reason: &'static str,
    },
    /// The key-binding JWT is for another audience.
    #[error("the presentation is for another audience")]
    AudienceMismatch,
    /// The key-binding JWT answers another nonce.
    #[error("the presentation answers another nonce")]
    NonceMismatch,

    // --- The caller: status ------------------------------------------------------------------
    /// The licence is revoked (status INVALID).
    #[error("the licence is revoked")]
    Revoked,
    /// The licence is suspended.
    #[error("the licence is suspended")]
    Suspended,
    /// A status value this verifier does not know (3).
    #[error("the licence has an unknown status {value}")]
    StatusUnknown {
        /// The 2-bit value.
        value: u8,
    },
    /// The status reference points past the end of its list.
    #[error("status index {idx} is outside the status list")]
    StatusIndexOutOfRange {
        /// The index.
        idx: usize,
    },
    /// The change of status is not allowed (a revoked licence stays revoked).
    #[error("a licence cannot go from {from} to {to}")]
    StatusTransition {
        /// Current status.
        from: &'static str,
        /// Requested status.
        to: &'static str,
    },

    // --- The caller: QR codes and compression ----------------------------------------------
    /// Decompression would exceed its limit (a zlib bomb).
    #[error("compressed data expands beyond {limit} bytes")]
    DecompressionLimit {
        /// The limit.
        limit: usize,
    },
    /// Data that is not a zlib stream.
    #[error("compressed data is not a valid zlib stream")]
    BadZlib,
    /// Text that is not base45 (RFC 9285).
    #[error("QR text is not valid base45")]
    BadBase45,
    /// An image with no readable QR code.
    #[error("no readable QR code in the image")]
    QrUnreadable,
    /// Bytes that are not a PNG or JPEG image within the size limits.
    #[error("the image cannot be decoded")]
    ImageInvalid,
    /// A token too long for one QR code.
    #[error("the token does not fit in a QR code")]
    QrTooLarge,

    // --- The operator ------------------------------------------------------------------------
    /// No status list is loaded for the licence's status reference.
    #[error("no status list is available for {uri}")]
    StatusUnavailable {
        /// The status list URI.
        uri: String,
    },
    /// The status list is older than the allowed staleness or past its `exp`.
    #[error("the status list is too old to rely on")]
    StatusListStale,
    /// The trust list is older than the allowed staleness or past its `exp`.
    #[error("the trust list is too old to rely on")]
    TrustListStale,
    /// A status list token that is not signed by a key of the issuer it speaks for, or whose
    /// subject is not the expected URI.
    #[error("the status list is not valid: {reason}")]
    StatusListInvalid {
        /// Why.
        reason: &'static str,
    },
    /// A trust list that does not verify against the trust anchor or has invalid entries.
    #[error("the trust list is not valid: {reason}")]
    TrustListInvalid {
        /// Why.
        reason: String,
    },
    /// A key that cannot be used (wrong type, unsupported curve, broken JWK, weak RSA).
    #[error("the key cannot be used: {reason}")]
    Key {
        /// Why.
        reason: String,
    },

    // --- Us ---------------------------------------------------------------------------------
    /// A bug: an invariant of this crate did not hold.
    #[error("internal error in the licence library: {0}")]
    Internal(String),
}

impl LicenceError {
    /// Stable machine code, e.g. `licence.bad_signature`. Codes never change meaning.
    pub fn code(&self) -> &'static str {
        use LicenceError as E;
        match self {
            E::TooLarge { .. } => "licence.too_large",
            E::TooDeep { .. } => "licence.too_deep",
            E::Malformed { .. } => "licence.malformed",
            E::BadBase64url { .. } => "licence.bad_base64url",
            E::DuplicateKey { .. } => "licence.duplicate_key",
            E::BadJson { .. } => "licence.bad_json",
            E::AlgNotAllowed { .. } => "licence.alg_not_allowed",
            E::AlgMismatch { .. } => "licence.alg_mismatch",
            E::TypNotAllowed { .. } => "licence.typ_not_allowed",
            E::HeaderKeyNotTrusted { .. } => "licence.header_key_not_trusted",
            E::HeaderParamUnsupported { .. } => "licence.header_param_unsupported",
            E::CritUnsupported { .. } => "licence.crit_unsupported",
            E::CritInvalid { .. } => "licence.crit_invalid",
            E::KidInvalid => "licence.kid_invalid",
            E::UnknownIssuer { .. } => "licence.unknown_issuer",
            E::UnknownKey { .. } => "licence.unknown_key",
            E::KeyNotAuthorisedForType { .. } => "licence.key_not_authorised_for_type",
            E::IssuerNotAuthorisedForType { .. } => "licence.issuer_not_authorised_for_type",
            E::KeyNotValidAtIssuance => "licence.key_not_valid_at_issuance",
            E::SignatureMalformed => "licence.signature_malformed",
            E::BadSignature => "licence.bad_signature",
            E::ClaimInvalid { .. } => "licence.claim_invalid",
            E::UnknownType { .. } => "licence.unknown_type",
            E::Expired => "licence.expired",
            E::NotYetValid => "licence.not_yet_valid",
            E::Face(e) => e.code(),
            E::DisclosureTampered => "licence.disclosure_tampered",
            E::DisclosureMalformed { .. } => "licence.disclosure_malformed",
            E::DisclosureDuplicate => "licence.disclosure_duplicate",
            E::FieldNotInLicence { .. } => "licence.field_not_in_licence",
            E::KeyBindingRequired => "licence.key_binding_required",
            E::KeyBindingInvalid { .. } => "licence.key_binding_invalid",
            E::AudienceMismatch => "licence.audience_mismatch",
            E::NonceMismatch => "licence.nonce_mismatch",
            E::Revoked => "licence.revoked",
            E::Suspended => "licence.suspended",
            E::StatusUnknown { .. } => "licence.status_unknown",
            E::StatusIndexOutOfRange { .. } => "licence.status_index_out_of_range",
            E::StatusTransition { .. } => "licence.status_transition_invalid",
            E::DecompressionLimit { .. } => "licence.decompression_limit",
            E::BadZlib => "licence.bad_zlib",
            E::BadBase45 => "licence.bad_base45",
            E::QrUnreadable => "licence.qr_unreadable",
            E::ImageInvalid => "licence.image_invalid",
            E::QrTooLarge => "licence.qr_too_large",
            E::StatusUnavailable { .. } => "licence.status_unavailable",
            E::StatusListStale => "licence.status_list_stale",
            E::TrustListStale => "licence.trust_list_stale",
            E::StatusListInvalid { .. } => "licence.status_list_invalid",
            E::TrustListInvalid { .. } => "licence.trust_list_invalid",
            E::Key { .. } => "licence.key_invalid",
            E::Internal(_) => "licence.internal",
        }
    }

    /// Who must act on the error.
    pub fn party(&self) -> Party {
        use LicenceError as E;
        match self {
            E::StatusUnavailable { .. }
            | E::StatusListStale
            | E::TrustListStale
            | E::StatusListInvalid { .. }
            | E::TrustListInvalid { .. }
            | E::Key { .. } => Party::Operator,
            E::Internal(_) => Party::Internal,
            _ => Party::Caller,
        }
    }
}

/// Cuts attacker-supplied text to a length fit for a message or a log field.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
