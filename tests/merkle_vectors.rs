//! The ledger's Merkle proofs against the RFC 6962 / RFC 9162 vectors of
//! transparency-dev/merkle (`../shared/conformance/rfc9162-merkle/`, read in place, never
//! copied): every vector with `wantErr` is refused, every other accepted, with the three
//! strictness rules of that folder's README (no consistency proof from size 0, not even
//! 0 → 0; every hash exactly 32 bytes).
//!
//! Run with `cargo test --test merkle_vectors`; `STRONGROOM_CONFORMANCE` points elsewhere.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use strongroom::ledger::merkle::{
    self, leaf_hash, verify_consistency, verify_inclusion, Hash, LeafIndex, MemoryTree, TreeSize,
};

/// Vectors where the folder's README rules and the vector's own `wantErr` disagree, with the
/// rule that wins. The test checks each entry still describes its file, so an update of the
/// vectors cannot hide behind this list.
const README_RULE_OVERRIDES: &[(&str, &str)] = &[(
    // size1 = size2 = 1, empty proof, root1 = root2 = "don't care 2" (12 bytes), wantErr false
    // upstream; Go compares the two roots byte for byte without checking their length. The
    // README rule "a hash that is not 32 bytes is rejected" refuses it.
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
    "hash not 32 bytes",
)];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inclusion {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consistency {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

fn suite() -> PathBuf {
    common::conformance().join("rfc9162-merkle")
}

/// Every `*.json` below `dir`, sorted, relative to the suite.
fn vectors(kind: &str) -> Vec<(String, PathBuf)> {
    let root = suite();
    assert!(
        root.join(kind).is_dir(),
        "no {kind} vectors: {} is not a folder (set STRONGROOM_CONFORMANCE to the conformance folder)",
        root.join(kind).display()
    );
    let mut out: Vec<(String, PathBuf)> = walkdir::WalkDir::new(root.join(kind))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk the vectors"))
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(&root)
                .expect("under the suite")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, e.path().to_path_buf())
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 10,
        "only {} {kind} vectors found under {} (set STRONGROOM_CONFORMANCE to the conformance folder)",
        out.len(),
        root.display()
    );
    out
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).expect("read vector");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A hash as the verifier receives it: base64, then exactly 32 bytes.
fn hash(b64: &str) -> Result<Hash, merkle::Error> {
    let bytes = B64
        .decode(b64)
        .map_err(|source| merkle::Error::Base64 { source })?;
    Hash::from_slice(&bytes)
}

fn hashes(list: &Option<Vec<String>>) -> Result<Vec<Hash>, merkle::Error> {
    list.iter().flatten().map(|h| hash(h)).collect()
}

fn check_inclusion(v: &Inclusion) -> Result<(), merkle::Error> {
    let root = hash(&v.root)?;
    let leaf = hash(&v.leaf_hash)?;
    let proof = hashes(&v.proof)?;
    verify_inclusion(
        LeafIndex(v.leaf_idx),
        TreeSize(v.tree_size),
        &leaf,
        &proof,
        &root,
    )
}

fn check_consistency(v: &Consistency) -> Result<(), merkle::Error> {
    let root1 = hash(&v.root1)?;
    let root2 = hash(&v.root2)?;
    let proof = hashes(&v.proof)?;
    verify_consistency(TreeSize(v.size1), TreeSize(v.size2), &proof, &root1, &root2)
}

/// The outcome a vector must have: its `wantErr`, unless a README rule overrides it.
fn expect_err(rel: &str, want_err: bool) -> bool {
    match README_RULE_OVERRIDES.iter().find(|(p, _)| *p == rel) {
        Some(_) => {
            assert!(
                !want_err,
                "{rel}: listed as overridden but now wants an error; drop it from the list"
            );
            true
        }
        None => want_err,
    }
}

#[test]
fn inclusion_vectors() {
    let mut failures = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for (rel, path) in vectors("inclusion") {
        let v: Inclusion = read(&path);
        let want_err = expect_err(&rel, v.want_err);
        match (check_inclusion(&v), want_err) {
            (Ok(()), false) => accepted += 1,
            (Err(_), true) => refused += 1,
            (Ok(()), true) => failures.push(format!("{rel}: accepted, must be refused")),
            (Err(e), false) => failures.push(format!("{rel}: refused ({e}), must be accepted")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
    eprintln!("inclusion vectors: {accepted} accepted, {refused} refused");
}

#[test]
fn consistency_vectors() {
    let mut failures = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for (rel, path) in vectors("consistency") {
        let v: Consistency = read(&path);
        let want_err = expect_err(&rel, v.want_err);
        match (check_consistency(&v), want_err) {
            (Ok(()), false) => accepted += 1,
            (Err(_), true) => refused += 1,
            (Ok(()), true) => failures.push(format!("{rel}: accepted, must be refused")),
            (Err(e), false) => failures.push(format!("{rel}: refused ({e}), must be accepted")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
    eprintln!("consistency vectors: {accepted} accepted, {refused} refused");
}

#[test]
fn overrides_still_describe_their_files() {
    for (rel, rule) in README_RULE_OVERRIDES {
        let v: Consistency = read(&suite().join(rel));
        assert!(!v.want_err, "{rel}");
        assert!(
            matches!(hash(&v.root1), Err(merkle::Error::HashLength { .. })),
            "{rel}: no longer breaks the rule {rule:?}"
        );
    }
}

/// The three strictness rules of the README, each shown on a vector of the suite.
#[test]
fn readme_strictness_rules() {
    let c: Consistency = read(&suite().join(
        "consistency/additional/consistency-check-on-empty-tree-size1-is-zero-is-useless.json",
    ));
    assert_eq!(c.size1, 0);
    assert_eq!(check_consistency(&c), Err(merkle::Error::EmptyOldTree));
    let c: Consistency =
        read(&suite().join("consistency/additional/size1-is-zero-and-size2-is-not-zero.json"));
    assert_eq!(hash(&c.root1), Ok(merkle::empty_root()));
    let empty = merkle::empty_root();
    assert_eq!(
        verify_consistency(TreeSize(0), TreeSize(1), &[], &empty, &leaf_hash(b"")),
        Err(merkle::Error::EmptyOldTree)
    );
    assert_eq!(
        verify_consistency(TreeSize(0), TreeSize(0), &[], &empty, &empty),
        Err(merkle::Error::EmptyOldTree)
    );
    let i: Inclusion = read(&suite().join("inclusion/single-entry/empty-root-and-leaf.json"));
    assert!(i.want_err);
    assert_eq!(
        check_inclusion(&i),
        Err(merkle::Error::HashLength { len: 0 })
    );
}

/// The proofs in the vectors are exactly what this code generates for the reference tree.
#[test]
fn happy_path_proofs_are_what_we_generate() {
    let leaves = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let tree = MemoryTree::from_leaf_hashes(
        leaves
            .iter()
            .map(|h| leaf_hash(&hex::decode(h).expect("hex"))),
    );
    let mut compared = 0;
    for (rel, path) in vectors("inclusion") {
        if !rel.ends_with("/happy-path.json") {
            continue;
        }
        let v: Inclusion = read(&path);
        let proof = merkle::inclusion_proof(&tree, LeafIndex(v.leaf_idx), TreeSize(v.tree_size))
            .expect("generate");
        assert_eq!(Ok(proof), hashes(&v.proof), "{rel}");
        assert_eq!(
            Ok(tree.root_at(TreeSize(v.tree_size)).expect("root")),
            hash(&v.root),
            "{rel}"
        );
        compared += 1;
    }
    for (rel, path) in vectors("consistency") {
        if !rel.ends_with("/happy-path.json") {
            continue;
        }
        let v: Consistency = read(&path);
        let proof = merkle::consistency_proof(&tree, TreeSize(v.size1), TreeSize(v.size2))
            .expect("generate");
        assert_eq!(Ok(proof), hashes(&v.proof), "{rel}");
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} happy paths found");
}
