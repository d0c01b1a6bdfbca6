//! Who is calling: department systems by client certificate, people by bearer token.
//!
//! A department system proves itself in the TLS handshake with a certificate from the hub's
//! CA; the gateway then looks the certificate's fingerprint up in the store, so a certificate
//! the hub did not register (or has revoked) is refused even when the CA signed it. People
//! sign in with a password (Argon2id) and get an opaque bearer token; only its SHA-256 is
//! stored. Roles come from the store, never from the request.

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::StoreError;
use crate::tls::ClientCertificate;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages departments, users, keys and certificates.
    Admin,
    /// Publishes base libraries and approves conditional-sharing requests.
    Provider,
    /// Queries shared records under grants.
    Consumer,
    /// Issues, suspends and revokes e-licences.
    Issuer,
    /// Verifies licences and resolves materials at the window.
    Clerk,
    /// Reviews the audit log.
    Auditor,
    /// A member of the public, bound to their own citizen ID: sees who accessed their data.
    Citizen,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Provider,
        Role::Consumer,
        Role::Issuer,
        Role::Clerk,
        Role::Auditor,
        Role::Citizen,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Provider => "provider",
            Role::Consumer => "consumer",
            Role::Issuer => "issuer",
            Role::Clerk => "clerk",
            Role::Auditor => "auditor",
            Role::Citizen => "citizen",
        }
    }

    /// Chinese label for the console.
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::Provider => "数据提供部门",
            Role::Consumer => "数据使用部门",
            Role::Issuer => "发证部门",
            Role::Clerk => "窗口工作人员",
            Role::Auditor => "电子监察",
            Role::Citizen => "公众",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// A set of roles.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// Whether the set holds `role`.
    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether every role of `self` is in `other`.
    pub fn is_subset_of(self, other: Roles) -> bool {
        self.0 & !other.0 == 0
    }

    /// The roles, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        Roles(iter.into_iter().fold(0, |acc, r| acc | r.bit()))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Roles({self})")
    }
}

impl FromStr for Roles {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Role::from_str)
            .collect()
    }
}

impl Serialize for Roles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Credential {
    /// A registered client certificate.
    Certificate {
        /// SHA-256 of the certificate.
        fingerprint: String,
    },
    /// The operator on the hub's own host, using the command line against the store.
    Local {
        /// Operator name.
        operator: String,
    },
    /// A signed-in person.
    Token {
        /// User id.
        user_id: i64,
        /// Sign-in name.
        username: String,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// Department code.
    pub department: String,
    /// Department name.
    pub department_name: String,
    /// Roles in force for this request.
    pub roles: Roles,
    /// How the caller proved who they are.
    pub credential: Credential,
    /// For a citizen's account, the citizen ID it is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Principal {
    /// Refuses the request unless the principal holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(role))
        }
    }

    /// Refuses the request unless the principal holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        match roles.iter().find(|r| self.roles.contains(**r)) {
            Some(_) => Ok(()),
            None => Err(ApiError::Forbidden(
                roles.first().copied().unwrap_or(Role::Admin),
            )),
        }
    }

    /// A name for records: the username, or `dept:<code>` for a department system.
    pub fn actor(&self) -> String {
        match &self.credential {
            Credential::Token { username, .. } => username.clone(),
            Credential::Certificate { .. } => format!("dept:{}", self.department),
            Credential::Local { operator } => format!("local:{operator}"),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A header that is not visible ASCII is an invalid token, not an absent one.
        let authorization = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        authenticate(
            state,
            authorization,
            parts.extensions.get::<ClientCertificate>(),
        )
        .await
    }
}

/// Resolves the caller from what a transport carries: the `authorization` header, if sent,
/// and the client certificate of the TLS connection, if presented. A bearer token wins.
/// Shared by the HTTPS extractor and Arrow Flight SQL so both accept exactly the same callers.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    certificate: Option<&ClientCertificate>,
) -> Result<Principal, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    if let Some(header) = authorization {
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or(ApiError::InvalidToken)?;
        let user = match state.store.session_user(&token_hash(token), now).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(ApiError::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        return Ok(Principal {
            department: user.department,
            department_name: user.department_name,
            roles: user.roles,
            credential: Credential::Token {
                user_id: user.id,
                username: user.username,
            },
            subject: user.subject_id,
        });
    }
    if let Some(cert) = certificate {
        let (record, dept) = match state.store.certificate(&cert.fingerprint).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(ApiError::UnknownCertificate),
            Err(e) => return Err(e.into()),
        };
        if record.revoked || record.not_after * 1000 <= now {
            return Err(ApiError::UnknownCertificate);
        }
        return Ok(Principal {
            department: dept.code,
            department_name: dept.name,
            roles: dept.roles,
            credential: Credential::Certificate {
                fingerprint: record.fingerprint,
            },
            subject: None,
        });
    }
    Err(ApiError::Unauthenticated)
}

/// SHA-256 of a bearer token, hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random bearer token (256 bits, base64url).
pub fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|_| ApiError::Internal("no randomness available".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh random password for seeded accounts (128 bits, base64url).
pub fn new_password() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|_| ApiError::Internal("no randomness available".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Hashes a password with Argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| ApiError::Internal("no randomness available".into()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|_| ApiError::Internal("salt encoding".into()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::Internal("password hashing failed".into()))
}

/// Checks a password against a stored Argon2 hash. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, checked when the user does not exist so that sign-in takes
/// the same time either way.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password never used").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_as_text() {
        let roles: Roles = "consumer,clerk".parse().expect("valid");
        assert!(
            roles.contains(Role::Clerk)
                && roles.contains(Role::Consumer)
                && !roles.contains(Role::Admin)
        );
        assert_eq!(roles.to_string(), "consumer,clerk");
        assert!("consumer,overlord".parse::<Roles>().is_err());
        assert!(roles.is_subset_of("consumer,clerk,issuer".parse().expect("valid")));
        assert!(!roles.is_subset_of("consumer".parse().expect("valid")));
    }

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct hors", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert_ne!(
            hash,
            hash_password("correct horse").expect("hash"),
            "salted"
        );
    }
}
