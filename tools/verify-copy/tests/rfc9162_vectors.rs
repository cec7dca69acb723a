//! verify-copy's own RFC 9162 proof code against the transparency-dev/merkle vectors in
//! `../shared/conformance/rfc9162-merkle/` (read in place; `STRONGROOM_CONFORMANCE` points
//! elsewhere). Every `wantErr` vector is refused and every other accepted, with the folder
//! README's rules: nothing is proved from size 0 and every hash is 32 bytes (so the one vector
//! with 12-byte roots and `wantErr: false` is refused, as strongroom's own test documents).
//!
//! Run with `cargo test -p verify-copy --test rfc9162_vectors`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use verify_copy::merkle::{hash_from, verify_consistency, verify_inclusion, Hash, ProofError};

const OVERRIDDEN: &str = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json";

fn suite() -> PathBuf {
    match std::env::var("STRONGROOM_CONFORMANCE") {
        Ok(p) => PathBuf::from(p).join("rfc9162-merkle"),
        Err(_) => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/rfc9162-merkle")
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn vectors(kind: &str) -> Vec<(String, Value)> {
    let root = suite();
    let mut files = Vec::new();
    walk(&root.join(kind), &mut files);
    files.sort();
    assert!(
        files.len() >= 10,
        "too few vectors under {}",
        root.display()
    );
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                rel,
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect()
}

fn hash(v: &Value) -> Result<Hash, ProofError> {
    let raw = B64
        .decode(v.as_str().unwrap_or(""))
        .map_err(|_| ProofError::HashLength(0))?;
    hash_from(&raw)
}

fn proof(v: &Value) -> Result<Vec<Hash>, ProofError> {
    v.as_array().into_iter().flatten().map(hash).collect()
}

fn run(kind: &str, check: impl Fn(&Value) -> Result<(), ProofError>) {
    let (mut accepted, mut refused, mut failures) = (0, 0, Vec::new());
    for (rel, v) in vectors(kind) {
        let want_err = v["wantErr"].as_bool().unwrap() || rel == OVERRIDDEN;
        match (check(&v), want_err) {
            (Ok(()), false) => accepted += 1,
            (Err(_), true) => refused += 1,
            (r, _) => failures.push(format!("{rel}: got {r:?}, wantErr {want_err}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn inclusion_vectors() {
    run("inclusion", |v| {
        verify_inclusion(
            v["leafIdx"].as_u64().unwrap(),
            v["treeSize"].as_u64().unwrap(),
            &hash(&v["leafHash"])?,
            &proof(&v["proof"])?,
            &hash(&v["root"])?,
        )
    });
}

#[test]
fn consistency_vectors() {
    run("consistency", |v| {
        verify_consistency(
            v["size1"].as_u64().unwrap(),
            v["size2"].as_u64().unwrap(),
            &hash(&v["root1"])?,
            &hash(&v["root2"])?,
            &proof(&v["proof"])?,
        )
    });
}

#[test]
fn the_overridden_vector_still_has_short_roots() {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(suite().join(OVERRIDDEN)).unwrap()).unwrap();
    assert_eq!(v["wantErr"], Value::Bool(false));
    assert_eq!(hash(&v["root1"]), Err(ProofError::HashLength(12)));
}
