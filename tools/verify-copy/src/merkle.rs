//! RFC 9162 Merkle tree hashing and proof verification (section 2.1), written from the RFC
//! alone: leaf and node hashes, inclusion (2.1.3.2) and consistency (2.1.4.2) verification
//! with the strictness rules of `formats/ledger.md` §6.

use ring::digest::{Context, SHA256};

/// A 32-byte SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// A hash is not 32 bytes.
    HashLength(usize),
    /// The index is not inside the tree.
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The sizes cannot have a consistency proof (0, or old larger than new).
    BadSizes {
        /// Older size.
        old: u64,
        /// Newer size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes.
    WrongLength,
    /// The proof does not lead to the expected root(s).
    RootMismatch,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProofError::HashLength(n) => write!(f, "a hash of {n} bytes (must be 32)"),
            ProofError::IndexOutOfRange { index, size } => {
                write!(f, "index {index} is not in a tree of size {size}")
            }
            ProofError::BadSizes { old, new } => {
                write!(f, "no consistency proof exists from size {old} to {new}")
            }
            ProofError::WrongLength => write!(f, "the proof has the wrong number of hashes"),
            ProofError::RootMismatch => write!(f, "the proof does not lead to the signed root"),
        }
    }
}

impl std::error::Error for ProofError {}

/// A hash from bytes, refusing any length but 32.
pub fn hash_from(bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes
        .try_into()
        .map_err(|_| ProofError::HashLength(bytes.len()))
}

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut c = Context::new(&SHA256);
    c.update(&[0]);
    c.update(entry);
    finish(c)
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut c = Context::new(&SHA256);
    c.update(&[1]);
    c.update(left);
    c.update(right);
    finish(c)
}

fn finish(c: Context) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

/// RFC 9162 2.1.3.2: is `leaf` at `index` in the tree of `size` with `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 2.1.4.2 with `formats/ledger.md` §6's rules: nothing is proved from size 0;
/// equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new || old == 0 {
        return Err(ProofError::BadSizes { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 reference tree's roots (formats/ledger.md §2), computed by hand from leaves.
    #[test]
    fn reference_tree_root_of_three() {
        let l: Vec<Hash> = [&b""[..], &[0u8][..], &[0x10][..]]
            .iter()
            .map(|e| leaf_hash(e))
            .collect();
        let root = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        let hex: String = root.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
        );
        assert_eq!(
            verify_inclusion(2, 3, &l[2], &[node_hash(&l[0], &l[1])], &root),
            Ok(())
        );
        assert!(verify_inclusion(2, 3, &l[1], &[node_hash(&l[0], &l[1])], &root).is_err());
    }
}
