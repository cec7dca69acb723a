//! RFC 9162 (section 2.1) Merkle tree hashing with SHA-256: leaf and node hashes, tree heads,
//! inclusion and consistency proofs, generated and verified.
//!
//! Owns the arithmetic of the tree and nothing else: it never touches the store. Proof
//! generation reads the hashes of *complete subtrees* through a [`HashReader`], so the same
//! code serves proofs from an in-memory [`MemoryTree`] (tests, bulk builds) and from C2SP tiles
//! (`super::tiles::TileHashReader`). A complete subtree is named by [`NodeId`] `(level, index)`
//! node coordinates, not by Go's `sumdb/tlog` "stored hash index": level 0 are the leaf hashes,
//! and node `(level, index)` is `MTH(D[index·2^level : (index+1)·2^level])`.
//!
//! A proof is produced in two steps: a [`ProofPlan`] (pure arithmetic: which complete subtrees
//! are needed and how they combine) and its assembly from the hashes read. Callers with an
//! asynchronous store fetch `plan.nodes()` however they like and call [`ProofPlan::assemble`].
//!
//! Verification follows the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2 to the letter,
//! plus three strictness rules: a consistency proof from size 0 is refused (even between two
//! empty trees), and every hash is exactly 32 bytes ([`Hash`](struct@Hash) cannot hold
//! anything else; the parsers refuse other lengths). Specified in `formats/ledger.md`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::digest::{Context, SHA256};

/// Length in bytes of every hash in the tree (SHA-256).
pub const HASH_LEN: usize = 32;

/// Domain separation prefix of a leaf hash (RFC 9162 2.1.1).
const LEAF_PREFIX: u8 = 0x00;

/// Domain separation prefix of an interior node hash (RFC 9162 2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 tree hash: a leaf hash, an interior node, or a root. Always exactly 32 bytes.
///
/// `Display` is the standard base64 form used in checkpoints and proofs; `Debug` is hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; HASH_LEN]);

impl Hash {
    /// The hash with these bytes.
    pub const fn from_bytes(bytes: [u8; HASH_LEN]) -> Hash {
        Hash(bytes)
    }

    /// Reads a hash from bytes; anything but exactly 32 bytes is refused.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, Error> {
        let a: [u8; HASH_LEN] = bytes
            .try_into()
            .map_err(|_| Error::HashLength { len: bytes.len() })?;
        Ok(Hash(a))
    }

    /// Reads the standard (RFC 4648 section 4, padded) base64 form of a 32-byte hash.
    /// Non-canonical encodings (missing padding, stray bits) are refused.
    pub fn from_base64(s: &str) -> Result<Hash, Error> {
        let bytes = B64.decode(s).map_err(|source| Error::Base64 { source })?;
        Hash::from_slice(&bytes)
    }

    /// The standard padded base64 form (44 characters).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Lowercase hex (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(b: [u8; HASH_LEN]) -> Hash {
        Hash(b)
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = Error;
    fn try_from(b: &[u8]) -> Result<Hash, Error> {
        Hash::from_slice(b)
    }
}

/// Position of a leaf (an entry) in the log, counting from 0. Meaningful only together with
/// a [`TreeSize`] greater than it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafIndex(pub u64);

/// Number of leaves of a tree (a version of the log). Size 0 is the empty tree, whose root is
/// [`empty_root`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeSize(pub u64);

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for TreeSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A complete (perfect) subtree: the node at `level` above the leaves (0 = a leaf hash) and
/// `index` within that level. It covers the leaves `[index·2^level, (index+1)·2^level)` and
/// its hash is their MTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves, 0..=63.
    pub level: u8,
    /// Index among the nodes of that level, from the left.
    pub index: u64,
}

impl NodeId {
    /// The first leaf the subtree covers and the number of leaves, if they fit in a `u64`.
    pub fn leaves(&self) -> Option<(u64, u64)> {
        let width = 1u64.checked_shl(u32::from(self.level))?;
        let start = self.index.checked_mul(width)?;
        start.checked_add(width)?;
        Some((start, width))
    }

    /// Whether every leaf of the subtree lies in a tree of `size` leaves.
    pub fn is_within(&self, size: TreeSize) -> bool {
        self.level < 64 && (u128::from(self.index) + 1) << self.level <= u128::from(size.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node (level {}, index {})", self.level, self.index)
    }
}

/// Why a proof, hash or request was refused. Every verification failure is one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A hash is not 32 bytes (SHA-256).
    #[error("a hash must be {HASH_LEN} bytes, got {len}")]
    HashLength {
        /// The length found.
        len: usize,
    },
    /// A hash is not standard padded base64.
    #[error("a hash is not standard base64")]
    Base64 {
        /// The decoder's complaint.
        #[source]
        source: base64::DecodeError,
    },
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The index given.
        index: u64,
        /// The tree size given.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("the old tree size {size1} is larger than the new tree size {size2}")]
    SizeOrder {
        /// The old size.
        size1: u64,
        /// The new size.
        size2: u64,
    },
    /// A consistency proof from the empty tree proves nothing and is refused, also when both
    /// sizes are 0.
    #[error("a consistency proof from the empty tree (size 0) is meaningless and is refused")]
    EmptyOldTree,
    /// The proof has the wrong number of hashes for the sizes (and index) given.
    #[error("the proof has {got} hashes, expected {want}")]
    ProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// A [`ProofPlan`] was given a different number of hashes than it has nodes (a
    /// [`HashReader`] broke its contract).
    #[error("{got} hashes were supplied for {want} subtree nodes")]
    HashCount {
        /// Hashes supplied.
        got: usize,
        /// Nodes in the plan.
        want: usize,
    },
    /// The proof does not lead to the expected root: the entry is not in the tree, the trees
    /// are not consistent, or a hash was altered.
    #[error("{which} mismatch: the proof yields {computed}, expected {expected}")]
    RootMismatch {
        /// Which root: `root` (inclusion), `root1` or `root2` (consistency).
        which: &'static str,
        /// The root given.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
}

/// Failure to produce a proof or root from a [`HashReader`].
#[derive(Debug, thiserror::Error)]
pub enum ProveError<E: std::error::Error + 'static> {
    /// The request itself is invalid (index out of range, sizes in the wrong order, ...).
    #[error(transparent)]
    Invalid(#[from] Error),
    /// The reader could not supply a subtree hash.
    #[error("cannot read the subtree hashes the proof needs")]
    Read(#[source] E),
}

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(d.as_ref());
    Hash(out)
}

/// The root of the empty tree: `SHA-256()` (RFC 9162 2.1.1).
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The leaf hash of an entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    sha256(&[&[LEAF_PREFIX], entry])
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[NODE_PREFIX], &left.0, &right.0])
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of a list of leaf hashes (RFC 9162 2.1.1), by the recursive definition.
pub fn root_of(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes {
        [] => empty_root(),
        [one] => *one,
        _ => {
            // Smaller than the length, so it fits in a usize.
            let k = split_point(leaf_hashes.len() as u64) as usize;
            let (l, r) = leaf_hashes.split_at(k);
            node_hash(&root_of(l), &root_of(r))
        }
    }
}

/// Supplies the hashes of complete subtrees of one version of the log.
pub trait HashReader {
    /// Why a hash could not be read.
    type Error: std::error::Error + 'static;

    /// The hash of each node, in the order asked. A reader MUST return exactly one hash per
    /// node, or an error.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// What a proof (or a root) is made of: for each hash of the result, the complete subtrees
/// whose hashes fold into it.
///
/// Each result hash is the MTH of a range of leaves `[a, a+s)` with `a` a multiple of the
/// smallest power of two `>= s`; that range splits into the complete subtrees given by the bits
/// of `s`, largest first, and folds right to left: `h1, h2, h3 → node(h1, node(h2, h3))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofPlan {
    nodes: Vec<NodeId>,
    /// Number of consecutive nodes folded into each result hash.
    groups: Vec<usize>,
}

impl ProofPlan {
    fn from_ranges(ranges: &[(u64, u64)]) -> ProofPlan {
        let mut nodes = Vec::new();
        let mut groups = Vec::with_capacity(ranges.len());
        for &(start, size) in ranges {
            let mut pos = start;
            let mut count = 0;
            for level in (0..64u8).rev() {
                if size & (1u64 << level) != 0 {
                    nodes.push(NodeId {
                        level,
                        index: pos >> level,
                    });
                    pos = pos.wrapping_add(1u64 << level);
                    count += 1;
                }
            }
            groups.push(count);
        }
        ProofPlan { nodes, groups }
    }

    /// The complete subtrees to read, in the order [`ProofPlan::assemble`] expects them.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// Number of hashes in the result.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether the result is empty (e.g. an inclusion proof in a tree of one leaf).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Combines the hashes of [`ProofPlan::nodes`] (same order) into the result.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, Error> {
        if hashes.len() != self.nodes.len() {
            return Err(Error::HashCount {
                got: hashes.len(),
                want: self.nodes.len(),
            });
        }
        let mut out = Vec::with_capacity(self.groups.len());
        let mut at = 0;
        for &count in &self.groups {
            let group = &hashes[at..at + count];
            at += count;
            let h = match group.split_last() {
                None => empty_root(),
                Some((last, rest)) => rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)),
            };
            out.push(h);
        }
        Ok(out)
    }

    /// Reads the nodes through `reader` and assembles the result.
    pub fn read<R: HashReader + ?Sized>(
        &self,
        reader: &R,
    ) -> Result<Vec<Hash>, ProveError<R::Error>> {
        let hashes = reader.read_hashes(&self.nodes).map_err(ProveError::Read)?;
        Ok(self.assemble(&hashes)?)
    }
}

/// The plan of the root of a tree of `size` leaves (one hash; the empty root for size 0).
pub fn root_plan(size: TreeSize) -> ProofPlan {
    ProofPlan::from_ranges(&[(0, size.0)])
}

/// PATH(m, D[n]) of RFC 9162 2.1.3.1 as leaf ranges, bottom first.
fn path_ranges(m: u64, offset: u64, n: u64, out: &mut Vec<(u64, u64)>) {
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path_ranges(m, offset, k, out);
        out.push((offset + k, n - k));
    } else {
        path_ranges(m - k, offset + k, n - k, out);
        out.push((offset, k));
    }
}

/// SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1 as leaf ranges, bottom first.
fn subproof_ranges(m: u64, offset: u64, n: u64, b: bool, out: &mut Vec<(u64, u64)>) {
    if m == n {
        if !b {
            out.push((offset, n));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof_ranges(m, offset, k, b, out);
        out.push((offset + k, n - k));
    } else {
        subproof_ranges(m - k, offset + k, n - k, false, out);
        out.push((offset, k));
    }
}

/// The plan of the inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_plan(index: LeafIndex, size: TreeSize) -> Result<ProofPlan, Error> {
    if index.0 >= size.0 {
        return Err(Error::IndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    let mut ranges = Vec::new();
    path_ranges(index.0, 0, size.0, &mut ranges);
    Ok(ProofPlan::from_ranges(&ranges))
}

/// The plan of the consistency proof from the tree of `size1` leaves to the tree of `size2`
/// (`0 < size1 <= size2`; empty when the sizes are equal).
pub fn consistency_plan(size1: TreeSize, size2: TreeSize) -> Result<ProofPlan, Error> {
    check_consistency_sizes(size1, size2)?;
    let mut ranges = Vec::new();
    if size1 != size2 {
        subproof_ranges(size1.0, 0, size2.0, true, &mut ranges);
    }
    Ok(ProofPlan::from_ranges(&ranges))
}

fn check_consistency_sizes(size1: TreeSize, size2: TreeSize) -> Result<(), Error> {
    if size1.0 > size2.0 {
        return Err(Error::SizeOrder {
            size1: size1.0,
            size2: size2.0,
        });
    }
    if size1.0 == 0 {
        return Err(Error::EmptyOldTree);
    }
    Ok(())
}

/// The root of the tree of `size` leaves, read through `reader`.
pub fn root<R: HashReader + ?Sized>(
    reader: &R,
    size: TreeSize,
) -> Result<Hash, ProveError<R::Error>> {
    let hashes = root_plan(size).read(reader)?;
    hashes
        .first()
        .copied()
        .ok_or(ProveError::Invalid(Error::HashCount { got: 0, want: 1 }))
}

/// The inclusion proof (RFC 9162 PATH) of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: LeafIndex,
    size: TreeSize,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    inclusion_plan(index, size)?.read(reader)
}

/// The consistency proof (RFC 9162 PROOF) from the tree of `size1` leaves to that of `size2`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    size1: TreeSize,
    size2: TreeSize,
) -> Result<Vec<Hash>, ProveError<R::Error>> {
    consistency_plan(size1, size2)?.read(reader)
}

/// Number of bits needed to write `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// The number of hashes in the inclusion proof of `index` in a tree of `size` (index < size):
/// the levels where the paths to `index` and to the last leaf diverge, plus the left siblings
/// above that.
fn inclusion_len(index: u64, size: u64) -> (u32, u32) {
    let inner = bit_len(index ^ (size - 1));
    let border = (index >> inner).count_ones();
    (inner, border)
}

/// The number of hashes in the consistency proof from `size1` to `size2` (0 < size1 < size2).
fn consistency_len(size1: u64, size2: u64) -> usize {
    let (inner, border) = inclusion_len(size1 - 1, size2);
    let shift = size1.trailing_zeros();
    let start = usize::from(!size1.is_power_of_two());
    start + (inner - shift) as usize + border as usize
}

/// The root that an inclusion proof leads to (RFC 9162 2.1.3.2, steps 1 to 4).
pub fn root_from_inclusion_proof(
    index: LeafIndex,
    size: TreeSize,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, Error> {
    if index.0 >= size.0 {
        return Err(Error::IndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    let (inner, border) = inclusion_len(index.0, size.0);
    let want = (inner + border) as usize;
    if proof.len() != want {
        return Err(Error::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let mut fnode = index.0;
    let mut snode = size.0 - 1;
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(Error::ProofLength {
                got: proof.len(),
                want,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(Error::ProofLength {
            got: proof.len(),
            want,
        });
    }
    Ok(r)
}

/// Verifies that `leaf` is the leaf hash at `index` of the tree of `size` leaves and `root`
/// (RFC 9162 2.1.3.2).
pub fn verify_inclusion(
    index: LeafIndex,
    size: TreeSize,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if computed != *root {
        return Err(Error::RootMismatch {
            which: "root",
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// Verifies that the tree of `size1` leaves and root `root1` is a prefix of the tree of
/// `size2` leaves and root `root2` (RFC 9162 2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots. `size1 = 0` is refused
/// ([`Error::EmptyOldTree`]), as is `size1 > size2`.
pub fn verify_consistency(
    size1: TreeSize,
    size2: TreeSize,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), Error> {
    check_consistency_sizes(size1, size2)?;
    let (m, n) = (size1.0, size2.0);
    if m == n {
        if !proof.is_empty() {
            return Err(Error::ProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(Error::RootMismatch {
                which: "root2",
                expected: *root2,
                computed: *root1,
            });
        }
        return Ok(());
    }
    let want = consistency_len(m, n);
    if proof.len() != want {
        return Err(Error::ProofLength {
            got: proof.len(),
            want,
        });
    }
    // Step 2: if size1 is an exact power of two, root1 is the first node of the path.
    let mut path = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(Error::ProofLength { got: 0, want });
    };
    let mut fnode = m - 1;
    let mut snode = n - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = *first;
    let mut sr = *first;
    for c in rest {
        if snode == 0 {
            return Err(Error::ProofLength {
                got: proof.len(),
                want,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(Error::ProofLength {
            got: proof.len(),
            want,
        });
    }
    if fr != *root1 {
        return Err(Error::RootMismatch {
            which: "root1",
            expected: *root1,
            computed: fr,
        });
    }
    if sr != *root2 {
        return Err(Error::RootMismatch {
            which: "root2",
            expected: *root2,
            computed: sr,
        });
    }
    Ok(())
}

/// An in-memory tree that keeps every complete subtree hash: O(1) reads, about two hashes of
/// memory per leaf. For tests, bulk builds and recomputing a log during verification.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of node `(l, i)`; only complete subtrees are kept.
    levels: Vec<Vec<Hash>>,
}

/// A [`MemoryTree`] was asked for a subtree it does not hold (not yet complete).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{node} is not a complete subtree of the in-memory tree")]
pub struct MissingNode {
    /// The node asked for.
    pub node: NodeId,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// A tree of these leaf hashes.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaves: I) -> MemoryTree {
        let mut t = MemoryTree::new();
        for h in leaves {
            t.push(h);
        }
        t
    }

    /// Appends a leaf hash, returning its index.
    pub fn push(&mut self, leaf: Hash) -> LeafIndex {
        let index = self.size().0;
        let mut level = 0;
        let mut h = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(h);
            if row.len() % 2 == 1 {
                break;
            }
            h = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
        LeafIndex(index)
    }

    /// Number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.levels.first().map_or(0, |l| l.len() as u64))
    }

    /// The hash of a complete subtree, if the tree holds it.
    pub fn node(&self, node: NodeId) -> Option<Hash> {
        let row = self.levels.get(usize::from(node.level))?;
        let i = usize::try_from(node.index).ok()?;
        row.get(i).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or_else(|_| empty_root())
    }

    /// The root of the tree at an earlier (or the current) size.
    pub fn root_at(&self, size: TreeSize) -> Result<Hash, ProveError<MissingNode>> {
        root(self, size)
    }
}

impl HashReader for MemoryTree {
    type Error = MissingNode;

    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        nodes
            .iter()
            .map(|&node| self.node(node).ok_or(MissingNode { node }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 8 entries of the RFC 6962 / transparency-dev reference tree.
    const REFERENCE_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Roots of the reference tree at sizes 1..=8 (transparency-dev/merkle
    /// `testonly/reference_test.go`, RFC 6962 test vectors).
    const REFERENCE_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_leaf_hashes() -> Vec<Hash> {
        REFERENCE_LEAVES
            .iter()
            .map(|h| leaf_hash(&hex::decode(h).expect("hex leaf")))
            .collect()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// RFC 9162 PATH computed directly on hashes (independent of plans and readers).
    fn ref_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return Vec::new();
        }
        let k = split_point(d.len() as u64) as usize;
        let mut out;
        if m < k {
            out = ref_path(m, &d[..k]);
            out.push(root_of(&d[k..]));
        } else {
            out = ref_path(m - k, &d[k..]);
            out.push(root_of(&d[..k]));
        }
        out
    }

    /// RFC 9162 SUBPROOF computed directly on hashes.
    fn ref_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![root_of(d)] };
        }
        let k = split_point(n as u64) as usize;
        let mut out;
        if m <= k {
            out = ref_subproof(m, &d[..k], b);
            out.push(root_of(&d[k..]));
        } else {
            out = ref_subproof(m - k, &d[k..], false);
            out.push(root_of(&d[..k]));
        }
        out
    }

    #[test]
    fn hashing_primitives() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962 reference: the leaf hash of the empty entry.
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut manual = vec![1u8];
        manual.extend_from_slice(a.as_bytes());
        manual.extend_from_slice(b.as_bytes());
        assert_eq!(node_hash(&a, &b), sha256(&[&manual]));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    }

    #[test]
    fn reference_tree_roots() {
        let hashes = reference_leaf_hashes();
        let tree = MemoryTree::from_leaf_hashes(hashes.iter().copied());
        assert_eq!(root_of(&[]), empty_root());
        assert_eq!(tree.root_at(TreeSize(0)).expect("root 0"), empty_root());
        for (i, want) in REFERENCE_ROOTS.iter().enumerate() {
            let size = i + 1;
            assert_eq!(root_of(&hashes[..size]).to_hex(), *want, "size {size}");
            assert_eq!(
                tree.root_at(TreeSize(size as u64)).expect("root").to_hex(),
                *want,
                "size {size} from the memory tree"
            );
        }
        assert_eq!(tree.root().to_hex(), REFERENCE_ROOTS[7]);
    }

    #[test]
    fn hash_parsing_is_strict() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()).expect("round trip"), h);
        assert_eq!(
            Hash::from_slice(&[0u8; 31]),
            Err(Error::HashLength { len: 31 })
        );
        assert_eq!(
            Hash::from_slice(&[0u8; 33]),
            Err(Error::HashLength { len: 33 })
        );
        assert!(matches!(
            Hash::from_base64("ZG9uJ3QgY2FyZSAy"),
            Err(Error::HashLength { len: 12 })
        ));
        let unpadded = h.to_base64().trim_end_matches('=').to_string();
        assert!(matches!(
            Hash::from_base64(&unpadded),
            Err(Error::Base64 { .. })
        ));
        let url_safe = "_".repeat(43) + "=";
        assert!(matches!(
            Hash::from_base64(&url_safe),
            Err(Error::Base64 { .. })
        ));
    }

    #[test]
    fn memory_tree_keeps_complete_subtrees() {
        let hs = leaves(13);
        let t = MemoryTree::from_leaf_hashes(hs.iter().copied());
        assert_eq!(t.size(), TreeSize(13));
        for level in 0..5u8 {
            for index in 0..20u64 {
                let node = NodeId { level, index };
                let within = node.is_within(TreeSize(13));
                assert_eq!(t.node(node).is_some(), within, "{node}");
                if let (true, Some((start, width))) = (within, node.leaves()) {
                    let want = root_of(&hs[start as usize..(start + width) as usize]);
                    assert_eq!(t.node(node), Some(want), "{node}");
                }
            }
        }
        assert!(t.read_hashes(&[NodeId { level: 3, index: 1 }]).is_err());
    }

    #[test]
    fn every_inclusion_proof_up_to_64_leaves() {
        let hs = leaves(64);
        let tree = MemoryTree::from_leaf_hashes(hs.iter().copied());
        let mut checked = 0;
        for size in 1..=64u64 {
            let root = root_of(&hs[..size as usize]);
            assert_eq!(tree.root_at(TreeSize(size)).expect("root"), root);
            for index in 0..size {
                let proof = inclusion_proof(&tree, LeafIndex(index), TreeSize(size))
                    .expect("inclusion proof");
                assert_eq!(
                    proof,
                    ref_path(index as usize, &hs[..size as usize]),
                    "PATH({index}, {size})"
                );
                let leaf = &hs[index as usize];
                verify_inclusion(LeafIndex(index), TreeSize(size), leaf, &proof, &root)
                    .unwrap_or_else(|e| panic!("inclusion {index} in {size}: {e}"));
                // The same proof for another leaf or index must fail.
                let other = leaf_hash(b"not in the tree");
                assert!(
                    verify_inclusion(LeafIndex(index), TreeSize(size), &other, &proof, &root)
                        .is_err()
                );
                if size > 1 {
                    let wrong = LeafIndex((index + 1) % size);
                    assert!(verify_inclusion(wrong, TreeSize(size), leaf, &proof, &root).is_err());
                }
                // A proof does not carry its tree size: for some shapes the proof for size n
                // also leads to the root of size n when told n + 1, but never to the root of
                // size n + 1, which is what a checkpoint of size n + 1 carries.
                if (size as usize) < hs.len() {
                    let next = root_of(&hs[..size as usize + 1]);
                    let at_next = TreeSize(size + 1);
                    assert!(
                        verify_inclusion(LeafIndex(index), at_next, leaf, &proof, &next).is_err()
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 64 * 65 / 2);
    }

    #[test]
    fn every_consistency_proof_up_to_64_leaves() {
        let hs = leaves(64);
        let tree = MemoryTree::from_leaf_hashes(hs.iter().copied());
        let roots: Vec<Hash> = (0..=64).map(|n| root_of(&hs[..n])).collect();
        let mut checked = 0;
        for m in 1..=64u64 {
            for n in m..=64u64 {
                let proof =
                    consistency_proof(&tree, TreeSize(m), TreeSize(n)).expect("consistency proof");
                assert_eq!(
                    proof,
                    ref_subproof(m as usize, &hs[..n as usize], true),
                    "PROOF({m}, {n})"
                );
                let (r1, r2) = (&roots[m as usize], &roots[n as usize]);
                verify_consistency(TreeSize(m), TreeSize(n), &proof, r1, r2)
                    .unwrap_or_else(|e| panic!("consistency {m} -> {n}: {e}"));
                if m < n {
                    // Swapped or foreign roots must fail.
                    assert!(verify_consistency(TreeSize(m), TreeSize(n), &proof, r2, r1).is_err());
                    let foreign = leaf_hash(b"fork");
                    assert!(
                        verify_consistency(TreeSize(m), TreeSize(n), &proof, r1, &foreign).is_err()
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 64 * 65 / 2);
    }

    /// xorshift64*: a small deterministic generator for sampled property tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn flip_bit(proof: &mut [Hash], rng: &mut Rng) {
        let i = rng.below(proof.len() as u64) as usize;
        let bit = rng.below(256) as usize;
        let mut b = *proof[i].as_bytes();
        b[bit / 8] ^= 1 << (bit % 8);
        proof[i] = Hash::from_bytes(b);
    }

    #[test]
    fn sampled_proofs_verify_and_any_flipped_bit_fails() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let tree = MemoryTree::from_leaf_hashes(leaves(4000));
        for _ in 0..300 {
            let size = 1 + rng.below(4000);
            let root = tree.root_at(TreeSize(size)).expect("root");
            let index = rng.below(size);
            let leaf = tree.node(NodeId { level: 0, index }).expect("leaf");
            let mut proof =
                inclusion_proof(&tree, LeafIndex(index), TreeSize(size)).expect("inclusion");
            verify_inclusion(LeafIndex(index), TreeSize(size), &leaf, &proof, &root)
                .expect("inclusion verifies");
            if !proof.is_empty() {
                flip_bit(&mut proof, &mut rng);
                assert!(
                    verify_inclusion(LeafIndex(index), TreeSize(size), &leaf, &proof, &root)
                        .is_err()
                );
            }
            let m = 1 + rng.below(size);
            let root1 = tree.root_at(TreeSize(m)).expect("root1");
            let mut proof =
                consistency_proof(&tree, TreeSize(m), TreeSize(size)).expect("consistency");
            verify_consistency(TreeSize(m), TreeSize(size), &proof, &root1, &root)
                .expect("consistency verifies");
            if !proof.is_empty() {
                flip_bit(&mut proof, &mut rng);
                assert!(
                    verify_consistency(TreeSize(m), TreeSize(size), &proof, &root1, &root).is_err()
                );
            }
        }
    }

    #[test]
    fn strictness_rules() {
        let e = empty_root();
        let one = leaf_hash(b"");
        assert_eq!(
            verify_consistency(TreeSize(0), TreeSize(0), &[], &e, &e),
            Err(Error::EmptyOldTree)
        );
        assert_eq!(
            verify_consistency(TreeSize(0), TreeSize(1), &[], &e, &one),
            Err(Error::EmptyOldTree)
        );
        assert_eq!(
            verify_consistency(TreeSize(2), TreeSize(1), &[], &one, &one),
            Err(Error::SizeOrder { size1: 2, size2: 1 })
        );
        assert_eq!(
            verify_consistency(TreeSize(1), TreeSize(1), &[one], &one, &one),
            Err(Error::ProofLength { got: 1, want: 0 })
        );
        assert!(consistency_plan(TreeSize(0), TreeSize(5)).is_err());
        assert!(inclusion_plan(LeafIndex(5), TreeSize(5)).is_err());
        assert_eq!(
            verify_inclusion(LeafIndex(0), TreeSize(0), &one, &[], &e),
            Err(Error::IndexOutOfRange { index: 0, size: 0 })
        );
    }

    #[test]
    fn plans_name_complete_subtrees() {
        // The 7-leaf tree: PATH(0) = [leaf 1, MTH(2..4), MTH(4..7)], the last from two nodes.
        let plan = inclusion_plan(LeafIndex(0), TreeSize(7)).expect("plan");
        assert_eq!(plan.len(), 3);
        assert_eq!(
            plan.nodes(),
            &[
                NodeId { level: 0, index: 1 },
                NodeId { level: 1, index: 1 },
                NodeId { level: 1, index: 2 },
                NodeId { level: 0, index: 6 },
            ]
        );
        let root = root_plan(TreeSize(70_000));
        assert_eq!(root.len(), 1);
        assert_eq!(root.nodes().len(), 70_000u64.count_ones() as usize);
        assert!(root.nodes().iter().all(|n| n.is_within(TreeSize(70_000))));
        assert_eq!(root_plan(TreeSize(0)).nodes(), &[]);
    }
}
