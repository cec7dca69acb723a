//! The batch claim (`ledger/next/<old size>`): the one object that decides which batch follows
//! each ledger size, and the commit point of an append (`formats/ledger.md` §7a).
//!
//! Owns the claim's bytes (encode and strict decode) and nothing else: it never touches the
//! store; [`super::log`] puts claims create-only and rolls them forward.
//!
//! A claim holds everything needed to finish its batch without its writer: the entries, the
//! root before and after, and the signed checkpoint of the new size. So once a claim exists,
//! anyone who finds it writes the same tiles, bundles and checkpoint as its writer would.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};
use super::tiles::MAX_ENTRY_LEN;

/// The claim document's `type`.
pub const CLAIM_TYPE: &str = "strongroom.ledger.claim";

/// The claim format version this code writes and reads.
pub const CLAIM_VERSION: u32 = 1;

/// Errors decoding a claim.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Not the JSON document of a claim.
    #[error("not a ledger claim document")]
    Json(#[source] serde_json::Error),
    /// Another `type` or a `v` this code does not know.
    #[error("not a version {CLAIM_VERSION} ledger claim (type {kind:?}, v {v})")]
    Kind {
        /// The `type` found.
        kind: String,
        /// The `v` found.
        v: u32,
    },
    /// A hash that is not 32 bytes of standard base64.
    #[error("the claim's {field} is not a base64 hash")]
    Hash {
        /// Which member.
        field: &'static str,
        /// Why.
        #[source]
        source: merkle::Error,
    },
    /// The entries member does not decode.
    #[error("the claim's entries do not decode: {0}")]
    Entries(String),
    /// The sizes and the entry count disagree.
    #[error("the claim follows size {old} and gives size {new} but holds {count} entries")]
    Count {
        /// `old`.
        old: u64,
        /// `new`.
        new: u64,
        /// Entries held.
        count: usize,
    },
}

/// A claim on the position after `old`: the batch that takes the ledger from `old` entries to
/// `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The size the batch appends after (the claim's name).
    pub old: u64,
    /// The size after the batch.
    pub new: u64,
    /// The root of the tree of `old` entries (the empty root for 0).
    pub old_root: Hash,
    /// The root of the tree of `new` entries.
    pub root: Hash,
    /// The writer lock token of the writer that claimed (who, in `locks/writer.json` terms).
    pub writer: String,
    /// The signed checkpoint note of size `new`, verbatim.
    pub checkpoint: String,
    /// The batch's entries, in order.
    pub entries: Vec<Bytes>,
}

/// The JSON form; `entries` is the base64 of the entries each prefixed by its length as a
/// big-endian u16 (the entry-bundle encoding, without the 256 limit).
#[derive(Serialize, Deserialize)]
struct Doc {
    #[serde(rename = "type")]
    kind: String,
    v: u32,
    old: u64,
    new: u64,
    old_root: String,
    root: String,
    writer: String,
    checkpoint: String,
    entries: String,
}

impl Claim {
    /// The claim's bytes: one JSON object (members in a fixed order), no trailing newline.
    /// Deterministic, so a writer retrying the same batch puts the same bytes.
    pub fn encode(&self) -> Bytes {
        let mut raw = Vec::with_capacity(self.entries.iter().map(|e| e.len() + 2).sum());
        for e in &self.entries {
            // Entries are checked against MAX_ENTRY_LEN before a batch is built.
            let len = u16::try_from(e.len()).unwrap_or(u16::MAX);
            raw.extend_from_slice(&len.to_be_bytes());
            raw.extend_from_slice(e);
        }
        let doc = Doc {
            kind: CLAIM_TYPE.into(),
            v: CLAIM_VERSION,
            old: self.old,
            new: self.new,
            old_root: self.old_root.to_base64(),
            root: self.root.to_base64(),
            writer: self.writer.clone(),
            checkpoint: self.checkpoint.clone(),
            entries: B64.encode(raw),
        };
        // A struct of strings and integers always serialises.
        Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
    }

    /// Decodes a claim strictly: the type and version, two 32-byte roots, entries that decode
    /// exactly and number `new - old`.
    pub fn decode(bytes: &[u8]) -> Result<Claim, ClaimError> {
        let doc: Doc = serde_json::from_slice(bytes).map_err(ClaimError::Json)?;
        if doc.kind != CLAIM_TYPE || doc.v != CLAIM_VERSION {
            return Err(ClaimError::Kind {
                kind: doc.kind,
                v: doc.v,
            });
        }
        let hash = |field: &'static str, s: &str| {
            Hash::from_base64(s).map_err(|source| ClaimError::Hash { field, source })
        };
        let raw = B64
            .decode(&doc.entries)
            .map_err(|e| ClaimError::Entries(e.to_string()))?;
        let raw = Bytes::from(raw);
        let mut entries = Vec::new();
        let mut at = 0;
        while at < raw.len() {
            let len = raw
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or_else(|| ClaimError::Entries(format!("truncated length at byte {at}")))?;
            if len > MAX_ENTRY_LEN || at + 2 + len > raw.len() {
                return Err(ClaimError::Entries(format!(
                    "entry {} runs past the end",
                    entries.len()
                )));
            }
            entries.push(raw.slice(at + 2..at + 2 + len));
            at += 2 + len;
        }
        if doc.new.checked_sub(doc.old) != Some(entries.len() as u64) || entries.is_empty() {
            return Err(ClaimError::Count {
                old: doc.old,
                new: doc.new,
                count: entries.len(),
            });
        }
        Ok(Claim {
            old: doc.old,
            new: doc.new,
            old_root: hash("old_root", &doc.old_root)?,
            root: hash("root", &doc.root)?,
            writer: doc.writer,
            checkpoint: doc.checkpoint,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Claim {
        Claim {
            old: 3,
            new: 5,
            old_root: merkle::leaf_hash(b"a"),
            root: merkle::leaf_hash(b"b"),
            writer: "0123abcd".into(),
            checkpoint: "o\n5\nAAAA\n\n\u{2014} o sig\n".into(),
            entries: vec![Bytes::from_static(b"{\"x\":1}"), Bytes::new()],
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let c = sample();
        let bytes = c.encode();
        assert_eq!(bytes, c.encode());
        assert_eq!(Claim::decode(&bytes).expect("decode"), c);
    }

    #[test]
    fn refuses_what_is_not_a_claim() {
        let good: serde_json::Value = serde_json::from_slice(&sample().encode()).expect("json");
        let mut cases = Vec::new();
        for (k, v) in [
            ("type", serde_json::json!("strongroom.other")),
            ("v", serde_json::json!(2)),
            ("new", serde_json::json!(6)),
            ("root", serde_json::json!("AAAA")),
            ("entries", serde_json::json!("AAE=")),
        ] {
            let mut d = good.clone();
            d[k] = v;
            cases.push(serde_json::to_vec(&d).expect("json"));
        }
        cases.push(b"not json".to_vec());
        for c in cases {
            assert!(
                Claim::decode(&c).is_err(),
                "{}",
                String::from_utf8_lossy(&c)
            );
        }
    }
}
