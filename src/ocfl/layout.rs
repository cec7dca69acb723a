//! OCFL storage layout extension 0003 (`0003-hash-and-id-n-tuple-storage-layout`): where an
//! object's root sits under the storage root, as a pure function of its identifier.
//!
//! Owns the mapping and the two JSON documents that declare it (`ocfl_layout.json` and the
//! extension's `config.json`); it never touches a store.

use serde_json::{json, Value};

use crate::digest::{Algorithm, Hasher};

/// The registered name of the extension, as written in `ocfl_layout.json` and as the
/// directory name under `extensions/`.
pub const EXTENSION_0003: &str = "0003-hash-and-id-n-tuple-storage-layout";

/// Longest encapsulation directory name kept whole; longer ones are cut and suffixed with
/// the identifier's digest (the extension's ">100 characters" rule).
const MAX_ENCAPSULATION: usize = 100;

/// Parameters of extension 0003 (its `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout0003 {
    /// Digest applied to the UTF-8 identifier (default sha256).
    pub digest_algorithm: Algorithm,
    /// Characters of the hex digest per directory level (default 3).
    pub tuple_size: usize,
    /// Directory levels taken from the digest (default 3).
    pub number_of_tuples: usize,
}

impl Default for Layout0003 {
    fn default() -> Self {
        Layout0003 {
            digest_algorithm: Algorithm::Sha256,
            tuple_size: 3,
            number_of_tuples: 3,
        }
    }
}

/// Why a `config.json` for 0003 cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The document is not a JSON object or a field has the wrong type.
    #[error("0003 config: field {field:?} {problem}")]
    BadField {
        /// The offending key.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl Layout0003 {
    /// Reads the extension's `config.json`; absent keys take the defaults.
    pub fn from_config(config: &Value) -> Result<Self, LayoutError> {
        let obj = config.as_object().ok_or(LayoutError::BadField {
            field: "extensionName",
            problem: "document is not a JSON object".into(),
        })?;
        let mut layout = Layout0003::default();
        if let Some(name) = obj.get("extensionName") {
            if name.as_str() != Some(EXTENSION_0003) {
                return Err(LayoutError::BadField {
                    field: "extensionName",
                    problem: format!("is {name}, expected {EXTENSION_0003:?}"),
                });
            }
        }
        if let Some(alg) = obj.get("digestAlgorithm") {
            let name = alg.as_str().ok_or(LayoutError::BadField {
                field: "digestAlgorithm",
                problem: "is not a string".into(),
            })?;
            layout.digest_algorithm = name.parse().map_err(|_| LayoutError::BadField {
                field: "digestAlgorithm",
                problem: format!("names an unsupported algorithm {name:?}"),
            })?;
        }
        let int = |field: &'static str| -> Result<Option<usize>, LayoutError> {
            match obj.get(field) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if n <= 32 => Ok(Some(n as usize)),
                    _ => Err(LayoutError::BadField {
                        field,
                        problem: format!("is {v}, expected an integer from 0 to 32"),
                    }),
                },
            }
        };
        if let Some(n) = int("tupleSize")? {
            layout.tuple_size = n;
        }
        if let Some(n) = int("numberOfTuples")? {
            layout.number_of_tuples = n;
        }
        if (layout.tuple_size == 0) != (layout.number_of_tuples == 0) {
            return Err(LayoutError::BadField {
                field: "tupleSize",
                problem: "and numberOfTuples must both be 0 or both be positive".into(),
            });
        }
        if layout.tuple_size * layout.number_of_tuples > layout.digest_algorithm.hex_len() {
            return Err(LayoutError::BadField {
                field: "tupleSize",
                problem: "times numberOfTuples exceeds the digest length".into(),
            });
        }
        Ok(layout)
    }

    /// The object root, relative to the storage root, for an identifier.
    pub fn object_root(&self, object_id: &str) -> String {
        let mut h = Hasher::new(self.digest_algorithm);
        h.update(object_id.as_bytes());
        let digest = h.finish();
        let mut out = String::new();
        for i in 0..self.number_of_tuples {
            // from_config bounds the product by the digest length; get() keeps a hand-built
            // Layout0003 with bad numbers from panicking.
            if let Some(t) = digest.get(i * self.tuple_size..(i + 1) * self.tuple_size) {
                out.push_str(t);
                out.push('/');
            }
        }
        out.push_str(&encapsulation_dir(object_id, &digest));
        out
    }
}

/// Percent-encodes every character outside `A-Z a-z 0-9 - _`, byte by byte of its UTF-8,
/// in lowercase hex; cuts names past 100 characters and appends the digest.
fn encapsulation_dir(object_id: &str, digest: &str) -> String {
    let mut d = String::with_capacity(object_id.len());
    for b in object_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            d.push(b as char);
        } else {
            d.push_str(&format!("%{b:02x}"));
        }
    }
    if d.len() > MAX_ENCAPSULATION {
        // The encoded name is ASCII, so cutting at a byte index is cutting at a character.
        d.truncate(MAX_ENCAPSULATION);
        d.push('-');
        d.push_str(digest);
    }
    d
}

/// 0003-hash-and-id-n-tuple-storage-layout with the defaults (sha256, tupleSize 3,
/// numberOfTuples 3): e.g. `3c0/ff4/240/object-01`.
pub fn object_root_0003(object_id: &str) -> String {
    Layout0003::default().object_root(object_id)
}

/// Contents of the storage root's `ocfl_layout.json` declaring extension 0003.
pub fn layout_json_0003() -> Value {
    json!({
        "extension": EXTENSION_0003,
        "description": "Hashed (sha256) truncated n-tuple trees (3 tuples of 3) with an object-ID \
                        encapsulating directory; see extensions/0003-hash-and-id-n-tuple-storage-layout",
    })
}

/// Contents of `extensions/0003-hash-and-id-n-tuple-storage-layout/config.json`.
pub fn extension_config_0003() -> Value {
    json!({
        "extensionName": EXTENSION_0003,
        "digestAlgorithm": "sha256",
        "tupleSize": 3,
        "numberOfTuples": 3,
    })
}
