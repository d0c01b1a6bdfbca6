//! Signed tree heads. The signed bytes are RFC 6962 §3.5's `TreeHeadSignature` (version v1,
//! signature type `tree_hash`, timestamp, tree size, root hash), signed with Ed25519 by a key
//! used for nothing else.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeHead {
    /// Leaves covered.
    pub tree_size: u64,
    /// Hex of the root hash.
    pub root_hash: String,
    /// Unix milliseconds.
    pub timestamp: i64,
    /// Id of the signing key.
    pub key_id: String,
    /// Base64 Ed25519 signature of the RFC 6962 `TreeHeadSignature` bytes.
    pub signature: String,
}

/// The bytes a tree head's signature covers.
pub fn signed_bytes(tree_size: u64, timestamp: i64, root: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 8 + 8 + 32);
    out.push(0); // version v1
    out.push(1); // signature_type tree_hash
    out.extend_from_slice(&(timestamp as u64).to_be_bytes());
    out.extend_from_slice(&tree_size.to_be_bytes());
    out.extend_from_slice(root);
    out
}

/// Id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// Parses a hex hash.
pub fn parse_hash(hex_text: &str) -> Option<Hash> {
    let bytes = hex::decode(hex_text).ok()?;
    bytes.try_into().ok()
}

/// Why a key could not be loaded or a head did not verify.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The key file is missing, unreadable or not an Ed25519 PKCS#8 key.
    #[error("audit signing key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The head is malformed or its signature does not verify.
    #[error("tree head at size {size}: {reason}")]
    Invalid {
        /// Its size.
        size: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The log's signing key.
#[derive(Debug)]
pub struct SigningKey {
    pair: Ed25519KeyPair,
    key_id: String,
}

impl SigningKey {
    /// Loads the PKCS#8 key at `path`, creating it (readable by the owner only) if absent.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, HeadError> {
        let err = |reason: String| HeadError::Key {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| err("cannot generate a key".into()))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
            }
            super::write_secret(path, pkcs8.as_ref()).map_err(|e| err(e.to_string()))?;
        }
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&bytes)
            .map_err(|e| err(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let key_id = key_id(pair.public_key().as_ref());
        Ok(SigningKey { pair, key_id })
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs the tree of `tree_size` leaves with root `root` at `timestamp`.
    pub fn sign(&self, tree_size: u64, root: &Hash, timestamp: i64) -> TreeHead {
        let signature = self.pair.sign(&signed_bytes(tree_size, timestamp, root));
        TreeHead {
            tree_size,
            root_hash: hex::encode(root),
            timestamp,
            key_id: self.key_id.clone(),
            signature: BASE64.encode(signature.as_ref()),
        }
    }
}

impl TreeHead {
    /// The root hash.
    pub fn root(&self) -> Result<Hash, HeadError> {
        parse_hash(&self.root_hash).ok_or_else(|| HeadError::Invalid {
            size: self.tree_size,
            reason: "the root hash is not 64 hex digits".into(),
        })
    }

    /// Checks the signature with the raw Ed25519 `public_key`.
    pub fn verify(&self, public_key: &[u8]) -> Result<(), HeadError> {
        let invalid = |reason: &str| HeadError::Invalid {
            size: self.tree_size,
            reason: reason.to_owned(),
        };
        if self.key_id != key_id(public_key) {
            return Err(invalid("signed by another key"));
        }
        let signature = BASE64
            .decode(&self.signature)
            .map_err(|_| invalid("the signature is not base64"))?;
        let message = signed_bytes(self.tree_size, self.timestamp, &self.root()?);
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&message, &signature)
            .map_err(|_| invalid("the signature does not verify"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_verify_with_their_key_and_fail_when_changed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.pk8");
        let key = SigningKey::load_or_create(&path).expect("key");
        let again = SigningKey::load_or_create(&path).expect("same key");
        assert_eq!(key.key_id(), again.key_id());
        let root = super::super::merkle::leaf_hash(b"x");
        let head = key.sign(7, &root, 1_700_000_000_000);
        head.verify(key.public_key()).expect("verifies");
        let mut bigger = head.clone();
        bigger.tree_size = 8;
        assert!(bigger.verify(key.public_key()).is_err());
        let mut later = head.clone();
        later.timestamp += 1;
        assert!(later.verify(key.public_key()).is_err());
        let other = SigningKey::load_or_create(&dir.path().join("other.pk8")).expect("key");
        assert!(head.verify(other.public_key()).is_err());
    }

    #[test]
    fn signed_bytes_follow_rfc_6962() {
        let root = [7u8; 32];
        let bytes = signed_bytes(0x0102, 0x0a0b, &root);
        assert_eq!(bytes.len(), 50);
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(&bytes[2..10], &0x0a0bu64.to_be_bytes());
        assert_eq!(&bytes[10..18], &0x0102u64.to_be_bytes());
        assert_eq!(&bytes[18..], &root);
    }
}
