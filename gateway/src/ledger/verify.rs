//! What an auditor runs: recompute the log from its entries and check it against the signed
//! tree heads, trusting nothing the hub computed.
//!
//! Checks, in order, and the first failure is named:
//! 1. entries are consecutive from index 0 (a deleted entry leaves a gap);
//! 2. each body hashes to its leaf hash, and records its own index (a changed byte changes the
//!    hash; swapped entries carry each other's indices);
//! 3. every signed head's signature verifies with the log's public key, sizes and times never
//!    go backwards, and each head's root is the root recomputed from the leaves at its size;
//! 4. consecutive heads are consistent (and the hub's consistency proofs, when given, verify).
//!
//! Entries purged under the retention policy have no body; their leaf hashes still enter the
//! tree, so the heads still check, and the report counts them.

use serde::Serialize;

use super::heads::{TreeHead, parse_hash};
use super::merkle::{self, Hash, Tree};

/// One stored entry as the auditor received it.
#[derive(Debug, Clone)]
pub struct DumpEntry {
    /// Its leaf index.
    pub index: u64,
    /// The stored leaf hash (hex).
    pub leaf_hash: String,
    /// The canonical JSON body; `None` if purged.
    pub body: Option<String>,
}

/// What verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// Entries whose bodies were purged under retention (hash-only).
    pub purged: u64,
    /// Signed heads checked.
    pub heads: u64,
    /// The latest head's size.
    pub latest_head_size: u64,
    /// The latest head's root.
    pub latest_root: String,
    /// Entries after the latest head (not yet covered by a signature).
    pub unsigned_tail: u64,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// An entry is missing, altered or out of place.
    #[error("entry {index}: {reason}")]
    Entry {
        /// Leaf index of the first bad entry.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A signed head does not hold.
    #[error("tree head at size {size}: {reason}")]
    Head {
        /// Its size.
        size: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Verifies `entries` (in index order) against `heads` (any order) signed by `public_key`.
/// `consistency` may supply the hub's consistency proofs between consecutive heads, as
/// `(first, second, proof)`; each is checked against the signed roots.
pub fn verify(
    entries: &[DumpEntry],
    heads: &[TreeHead],
    public_key: &[u8],
    consistency: &[(u64, u64, Vec<Hash>)],
) -> Result<Report, Failure> {
    let mut report = Report::default();
    let mut tree = Tree::new();
    for (position, e) in entries.iter().enumerate() {
        let position = position as u64;
        if e.index != position {
            return Err(Failure::Entry {
                index: position,
                reason: if entries.iter().any(|x| x.index == position) {
                    format!("out of order (found entry {} here)", e.index)
                } else if e.index > position {
                    format!("missing (the next stored entry is {})", e.index)
                } else {
                    format!("out of order (found entry {} here)", e.index)
                },
            });
        }
        let stored = parse_hash(&e.leaf_hash).ok_or_else(|| Failure::Entry {
            index: position,
            reason: "its leaf hash is not 64 hex digits".into(),
        })?;
        match &e.body {
            Some(body) => {
                if merkle::leaf_hash(body.as_bytes()) != stored {
                    return Err(Failure::Entry {
                        index: position,
                        reason: "its body does not match its leaf hash (altered)".into(),
                    });
                }
                let recorded = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.get("index").and_then(serde_json::Value::as_u64));
                if recorded != Some(position) {
                    return Err(Failure::Entry {
                        index: position,
                        reason: match recorded {
                            Some(other) => {
                                format!("records index {other} (entries were reordered)")
                            }
                            None => "its body records no index".into(),
                        },
                    });
                }
            }
            None => report.purged += 1,
        }
        tree.push(stored);
        report.entries += 1;
    }

    let mut heads: Vec<&TreeHead> = heads.iter().collect();
    heads.sort_by_key(|h| h.tree_size);
    let mut previous: Option<(&TreeHead, Hash)> = None;
    for head in heads {
        let size = head.tree_size;
        let bad = |reason: String| Failure::Head { size, reason };
        head.verify(public_key).map_err(|e| bad(e.to_string()))?;
        let root = head.root().map_err(|e| bad(e.to_string()))?;
        let Some(recomputed) = tree.root(size) else {
            return Err(Failure::Entry {
                index: tree.size(),
                reason: format!(
                    "missing: a signed head covers {size} entries but only {} are stored",
                    tree.size()
                ),
            });
        };
        if recomputed != root {
            let from = previous.map_or(0, |(p, _)| p.tree_size);
            return Err(Failure::Head {
                size,
                reason: format!(
                    "the stored entries do not give its root: an entry between {from} and {} was altered",
                    size.saturating_sub(1)
                ),
            });
        }
        if let Some((prev, prev_root)) = previous {
            if head.timestamp < prev.timestamp {
                return Err(bad(format!(
                    "signed before the head at size {}",
                    prev.tree_size
                )));
            }
            let proof = tree
                .consistency_proof(prev.tree_size, size)
                .map_err(|e| bad(e.to_string()))?;
            merkle::verify_consistency(prev.tree_size, size, &prev_root, &root, &proof)
                .map_err(|e| bad(format!("not consistent with size {}: {e}", prev.tree_size)))?;
            if let Some((_, _, served)) = consistency
                .iter()
                .find(|(a, b, _)| *a == prev.tree_size && *b == size)
            {
                merkle::verify_consistency(prev.tree_size, size, &prev_root, &root, served)
                    .map_err(|e| {
                        bad(format!(
                            "the hub's consistency proof from size {} fails: {e}",
                            prev.tree_size
                        ))
                    })?;
            }
        }
        report.heads += 1;
        report.latest_head_size = size;
        report.latest_root = head.root_hash.clone();
        previous = Some((head, root));
    }
    report.unsigned_tail = tree.size() - report.latest_head_size;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::heads::SigningKey;

    fn log(n: u64) -> Vec<DumpEntry> {
        (0..n)
            .map(|i| {
                let body = format!(r#"{{"index":{i},"what":"entry {i}"}}"#);
                DumpEntry {
                    index: i,
                    leaf_hash: hex::encode(merkle::leaf_hash(body.as_bytes())),
                    body: Some(body),
                }
            })
            .collect()
    }

    fn heads(entries: &[DumpEntry], key: &SigningKey, sizes: &[u64]) -> Vec<TreeHead> {
        let mut tree = Tree::new();
        for e in entries {
            tree.push(parse_hash(&e.leaf_hash).expect("hash"));
        }
        sizes
            .iter()
            .map(|s| key.sign(*s, &tree.root(*s).expect("root"), 1000 + *s as i64))
            .collect()
    }

    #[test]
    fn an_intact_log_verifies_and_any_change_names_the_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = SigningKey::load_or_create(&dir.path().join("k")).expect("key");
        let entries = log(20);
        let signed = heads(&entries, &key, &[5, 12, 20]);
        let report = verify(&entries, &signed, key.public_key(), &[]).expect("verifies");
        assert_eq!(
            (report.entries, report.heads, report.unsigned_tail),
            (20, 3, 0)
        );

        // One byte of a body.
        let mut altered = entries.clone();
        let body = altered[7].body.as_mut().expect("body");
        *body = body.replacen("entry", "entrz", 1);
        let failure = verify(&altered, &signed, key.public_key(), &[]).expect_err("altered");
        assert!(
            matches!(failure, Failure::Entry { index: 7, .. }),
            "{failure}"
        );

        // The body and its leaf hash both rewritten: the head covering it fails.
        altered[7].leaf_hash = hex::encode(merkle::leaf_hash(
            altered[7].body.as_deref().expect("body").as_bytes(),
        ));
        let failure = verify(&altered, &signed, key.public_key(), &[]).expect_err("rewritten");
        assert!(
            matches!(failure, Failure::Head { size: 12, .. }),
            "{failure}"
        );

        // A deleted entry.
        let mut deleted = entries.clone();
        deleted.remove(3);
        let failure = verify(&deleted, &signed, key.public_key(), &[]).expect_err("deleted");
        assert!(
            matches!(failure, Failure::Entry { index: 3, .. }),
            "{failure}"
        );

        // Two entries swapped, with their indices.
        let mut swapped = entries.clone();
        swapped.swap(10, 11);
        let failure = verify(&swapped, &signed, key.public_key(), &[]).expect_err("swapped");
        assert!(
            matches!(failure, Failure::Entry { index: 10, .. }),
            "{failure}"
        );

        // Two bodies swapped in place (indices relabelled).
        let mut relabelled = entries.clone();
        let (a, b) = (relabelled[10].clone(), relabelled[11].clone());
        relabelled[10] = DumpEntry { index: 10, ..b };
        relabelled[11] = DumpEntry { index: 11, ..a };
        let failure = verify(&relabelled, &signed, key.public_key(), &[]).expect_err("relabelled");
        assert!(
            matches!(failure, Failure::Entry { index: 10, .. }),
            "{failure}"
        );

        // The tail truncated below a signed head.
        let failure =
            verify(&entries[..15], &signed, key.public_key(), &[]).expect_err("truncated");
        assert!(
            matches!(failure, Failure::Entry { index: 15, .. }),
            "{failure}"
        );

        // A head signed by someone else.
        let other = SigningKey::load_or_create(&dir.path().join("o")).expect("key");
        let forged = heads(&entries, &other, &[20]);
        let failure = verify(&entries, &forged, key.public_key(), &[]).expect_err("forged");
        assert!(
            matches!(failure, Failure::Head { size: 20, .. }),
            "{failure}"
        );

        // Purged bodies still verify through their hashes.
        let mut purged = entries.clone();
        for e in &mut purged[..6] {
            e.body = None;
        }
        let report = verify(&purged, &signed, key.public_key(), &[]).expect("purged verifies");
        assert_eq!(report.purged, 6);
    }
}
