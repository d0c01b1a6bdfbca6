//! The Merkle tree of the audit log, as RFC 6962 §2.1 defines it and RFC 9162 §2.1 restates
//! it: leaves are hashed with a 0x00 prefix, interior nodes with 0x01, the tree over `n`
//! leaves splits at the largest power of two below `n`, and the empty tree hashes to
//! SHA-256 of nothing.
//!
//! [`Tree`] keeps every complete subtree hash, so the root at any earlier size, inclusion
//! proofs and consistency proofs take O(log² n) hash operations. The verification functions
//! follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step; they are what an auditor runs.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n` > 1).
fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index or sizes are out of range for the tree.
    #[error("index or size out of range: {0}")]
    OutOfRange(String),
    /// The proof has the wrong number of hashes.
    #[error("the proof has {got} hashes, {want} expected")]
    WrongLength {
        /// Hashes given.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// The proof does not lead to the root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// A Merkle tree that grows by appending leaf hashes.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][j]` is the hash of the complete subtree of leaves `[j·2^k, (j+1)·2^k)`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Tree {
        Tree {
            levels: vec![Vec::new()],
        }
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        // Every time a level gets an even number of nodes, their parent is complete.
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let parent = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// The root of the tree at `size` (at most the current size).
    pub fn root(&self, size: u64) -> Option<Hash> {
        if size > self.size() {
            return None;
        }
        Some(if size == 0 {
            empty_root()
        } else {
            self.subtree(0, size)
        })
    }

    /// MTH of leaves `[start, end)`, `start < end ≤ size`.
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            return self.levels[level][(start >> level) as usize];
        }
        let k = split_point(n);
        node_hash(
            &self.subtree(start, start + k),
            &self.subtree(start + k, end),
        )
    }

    /// The inclusion proof of leaf `index` in the tree at `size` (RFC 6962 §2.1.1).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if size > self.size() || index >= size {
            return Err(ProofError::OutOfRange(format!(
                "leaf {index} in a tree of {size} (the log holds {})",
                self.size()
            )));
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    fn path(&self, m: u64, start: u64, end: u64, proof: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, start + k, proof);
            proof.push(self.subtree(start + k, end));
        } else {
            self.path(m - k, start + k, end, proof);
            proof.push(self.subtree(start, start + k));
        }
    }

    /// The consistency proof between the tree at `first` and at `second`
    /// (RFC 6962 §2.1.2).
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        if second > self.size() || first > second {
            return Err(ProofError::OutOfRange(format!(
                "sizes {first} and {second} (the log holds {})",
                self.size()
            )));
        }
        let mut proof = Vec::new();
        if first > 0 && first < second {
            self.subproof(first, 0, second, true, &mut proof);
        }
        Ok(proof)
    }

    fn subproof(&self, m: u64, start: u64, end: u64, whole: bool, proof: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(self.subtree(start, end));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, proof);
            proof.push(self.subtree(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, proof);
            proof.push(self.subtree(start, start + k));
        }
    }
}

/// The root of a list of leaf hashes, computed from scratch.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange(format!(
            "leaf {index} in a tree of {size}"
        )));
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: inclusion_length(index, size),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want: inclusion_length(index, size),
        });
    }
    if &r == root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Hashes in the inclusion proof of `index` in a tree of `size` leaves.
fn inclusion_length(index: u64, size: u64) -> usize {
    let (mut f_n, mut s_n, mut len) = (index, size.saturating_sub(1), 0);
    while s_n != 0 {
        if f_n & 1 == 0 && f_n == s_n {
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        }
        f_n >>= 1;
        s_n >>= 1;
        len += 1;
    }
    len
}

/// Checks that the tree of `second` leaves with root `second_root` extends the tree of
/// `first` leaves with root `first_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::OutOfRange(format!(
            "first size {first} exceeds second size {second}"
        )));
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if first == 0 {
        // A proof from the empty tree proves nothing; ask for the second tree instead.
        return Err(ProofError::OutOfRange(
            "a consistency proof from the empty tree is meaningless".into(),
        ));
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength { got: 0, want: 1 });
    }
    // Step 2: if first is an exact power of two, prepend first_root to the proof.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut f_n, mut s_n) = (first - 1, second - 1);
    // Step 4: shift both right while the lowest bit of fn is set.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: proof.len() - 1,
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want: proof.len() + 1,
        });
    }
    if &fr == first_root && &sr == second_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(n: u64) -> (Tree, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = Tree::new();
        for l in &leaves {
            tree.push(*l);
        }
        (tree, leaves)
    }

    #[test]
    fn roots_at_every_size_match_the_definition() {
        let (tree, leaves) = tree_of(70);
        for size in 0..=70u64 {
            assert_eq!(
                tree.root(size),
                Some(root_of(&leaves[..size as usize])),
                "size {size}"
            );
        }
        assert_eq!(tree.root(71), None);
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        let (tree, leaves) = tree_of(33);
        for size in 1..=33u64 {
            let root = tree.root(size).expect("root");
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).expect("proof");
                let leaf = &leaves[index as usize];
                assert_eq!(verify_inclusion(index, size, leaf, &proof, &root), Ok(()));
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
                if size > 1 {
                    assert!(
                        verify_inclusion((index + 1) % size, size, leaf, &proof, &root).is_err()
                    );
                    assert!(verify_inclusion(index, size, leaf, &proof[1..], &root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_wrong_one_does_not() {
        let (tree, _) = tree_of(33);
        for second in 1..=33u64 {
            for first in 1..=second {
                let proof = tree.consistency_proof(first, second).expect("proof");
                let (r1, r2) = (
                    tree.root(first).expect("root"),
                    tree.root(second).expect("root"),
                );
                assert_eq!(
                    verify_consistency(first, second, &r1, &r2, &proof),
                    Ok(()),
                    "{first} -> {second}"
                );
                if first < second {
                    let wrong = leaf_hash(b"wrong");
                    assert!(verify_consistency(first, second, &wrong, &r2, &proof).is_err());
                    assert!(verify_consistency(first, second, &r1, &wrong, &proof).is_err());
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(verify_consistency(first, second, &r1, &r2, &bad).is_err());
                }
            }
        }
    }

    // The published RFC 6962 test vectors (see tests/data/merkle/SOURCE.md).

    fn b64(v: &serde_json::Value) -> Option<Vec<u8>> {
        use base64::Engine as _;
        match v {
            serde_json::Value::Null => Some(Vec::new()),
            serde_json::Value::String(s) => {
                base64::engine::general_purpose::STANDARD.decode(s).ok()
            }
            _ => None,
        }
    }

    fn hash(v: &serde_json::Value) -> Option<Hash> {
        b64(v)?.try_into().ok()
    }

    fn proof(v: &serde_json::Value) -> Option<Vec<Hash>> {
        match v {
            serde_json::Value::Null => Some(Vec::new()),
            serde_json::Value::Array(items) => items.iter().map(hash).collect(),
            _ => None,
        }
    }

    #[test]
    fn published_inclusion_vectors() {
        let cases = include_str!("../../tests/data/merkle/inclusion.jsonl");
        let mut checked = 0;
        for line in cases.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).expect("a JSON case");
            let name = case["name"].as_str().unwrap_or("?");
            let want_err = case["wantErr"].as_bool().expect("wantErr");
            let result = (|| {
                let index = case["leafIdx"].as_u64()?;
                let size = case["treeSize"].as_u64()?;
                let root = hash(&case["root"])?;
                let leaf = hash(&case["leafHash"])?;
                let proof = proof(&case["proof"])?;
                Some(verify_inclusion(index, size, &leaf, &proof, &root).is_ok())
            })();
            let ok = result.unwrap_or(false);
            assert_eq!(ok, !want_err, "inclusion case {name}");
            checked += 1;
        }
        assert!(checked >= 100, "only {checked} inclusion cases");
    }

    #[test]
    fn published_consistency_vectors() {
        let cases = include_str!("../../tests/data/merkle/consistency.jsonl");
        let mut checked = 0;
        for line in cases.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).expect("a JSON case");
            let name = case["name"].as_str().unwrap_or("?");
            let want_err = case["wantErr"].as_bool().expect("wantErr");
            let result = (|| {
                let first = case["size1"].as_u64()?;
                let second = case["size2"].as_u64()?;
                if first == second && (hash(&case["root1"]).is_none() || first == 0) {
                    // Roots that are not hashes (the upstream "don't care" values) can only
                    // be compared: equal sizes need equal roots and an empty proof.
                    let empty = proof(&case["proof"]).is_some_and(|p| p.is_empty());
                    return Some(empty && b64(&case["root1"])? == b64(&case["root2"])?);
                }
                let r1 = hash(&case["root1"])?;
                let r2 = hash(&case["root2"])?;
                let proof = proof(&case["proof"])?;
                Some(verify_consistency(first, second, &r1, &r2, &proof).is_ok())
            })();
            let ok = result.unwrap_or(false);
            assert_eq!(ok, !want_err, "consistency case {name}");
            checked += 1;
        }
        assert!(checked >= 100, "only {checked} consistency cases");
    }

    /// The RFC 6962 reference tree: its roots, and the proofs our tree produces for it.
    #[test]
    fn reference_tree_roots_and_proofs() {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/merkle/reference.json"))
                .expect("reference data");
        let hex_of = |v: &serde_json::Value| hex::decode(v.as_str().expect("hex")).expect("hex");
        let hash_of = |v: &serde_json::Value| -> Hash { hex_of(v).try_into().expect("32 bytes") };
        assert_eq!(empty_root(), hash_of(&data["hasher"]["empty"]));
        for case in data["hasher"]["leaf"].as_array().expect("leaf cases") {
            assert_eq!(leaf_hash(&hex_of(&case["input"])), hash_of(&case["hash"]));
        }
        for case in data["hasher"]["node"].as_array().expect("node cases") {
            assert_eq!(
                node_hash(&hex_of(&case["left"]), &hex_of(&case["right"])),
                hash_of(&case["hash"])
            );
        }
        let mut tree = Tree::new();
        for leaf in data["leaves"].as_array().expect("leaves") {
            tree.push(leaf_hash(&hex_of(leaf)));
        }
        let roots: Vec<Hash> = data["roots"]
            .as_array()
            .expect("roots")
            .iter()
            .map(hash_of)
            .collect();
        for (i, root) in roots.iter().enumerate() {
            assert_eq!(
                tree.root(i as u64 + 1),
                Some(*root),
                "root at size {}",
                i + 1
            );
        }
        let base = data["index_base"].as_u64().expect("index base");
        for case in data["inclusion"].as_array().expect("inclusion") {
            let leaf = case["leaf"].as_u64().expect("leaf");
            if leaf < base {
                continue; // the upstream placeholder row
            }
            let (index, size) = (leaf - base, case["size"].as_u64().expect("size"));
            let want: Vec<Hash> = case["proof"]
                .as_array()
                .expect("proof")
                .iter()
                .map(hash_of)
                .collect();
            assert_eq!(tree.inclusion_proof(index, size).ok(), Some(want.clone()));
            let root = tree.root(size).expect("root");
            let leaf = tree.leaf(index).expect("leaf");
            assert_eq!(verify_inclusion(index, size, &leaf, &want, &root), Ok(()));
        }
        for case in data["consistency"].as_array().expect("consistency") {
            let (first, second) = (
                case["size1"].as_u64().expect("size1"),
                case["size2"].as_u64().expect("size2"),
            );
            let want: Vec<Hash> = case["proof"]
                .as_array()
                .expect("proof")
                .iter()
                .map(hash_of)
                .collect();
            assert_eq!(
                tree.consistency_proof(first, second).ok(),
                Some(want.clone())
            );
            let (r1, r2) = (
                tree.root(first).expect("root"),
                tree.root(second).expect("root"),
            );
            assert_eq!(verify_consistency(first, second, &r1, &r2, &want), Ok(()));
        }
    }
}
