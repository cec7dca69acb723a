//! The OCFL inventory as strongroom writes and reads it (`inventory.json`, OCFL 1.1 §3.5).
//!
//! Owns building the next version's inventory from the previous one; never touches storage.
//! Validation of inventories written by others is `ocfl::validate`'s job, which reads them
//! as untyped JSON so that every malformed field gets its own code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The OCFL 1.1 inventory `type`.
pub const INVENTORY_TYPE: &str = "https://ocfl.io/1.1/spec/#inventory";
/// The object declaration file name (NAMASTE).
pub const OBJECT_NAMASTE: &str = "0=ocfl_object_1.1";
/// The object declaration file content.
pub const OBJECT_NAMASTE_CONTENT: &str = "ocfl_object_1.1\n";
/// The content directory name strongroom uses (the OCFL default).
pub const CONTENT_DIR: &str = "content";

/// The `user` of a version block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Who made the version.
    pub name: String,
    /// A URI for them, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl User {
    /// A strongroom actor (`--as`), with the URI OCFL asks for (W008): `urn:strongroom:actor:<name>`.
    pub fn actor(name: &str) -> User {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        User {
            name: name.to_string(),
            address: Some(format!("urn:strongroom:actor:{encoded}")),
        }
    }
}

/// One version block: its logical state and who made it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// RFC 3339 creation time, to the second.
    pub created: String,
    /// sha512 digest → logical paths.
    pub state: BTreeMap<String, Vec<String>>,
    /// Why the version exists; strongroom puts the commit key here (see `formats/store-layout.md`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who made the version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

/// An OCFL inventory, field order as in the spec's examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The object id (`urn:strongroom:<档号>`).
    pub id: String,
    /// [`INVENTORY_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `sha512` for strongroom's own objects.
    pub digest_algorithm: String,
    /// The most recent version, `v1`, `v2`, …
    pub head: String,
    /// The content directory name, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_directory: Option<String>,
    /// Digest → content paths (relative to the object root).
    pub manifest: BTreeMap<String, Vec<String>>,
    /// Version name → version block.
    pub versions: BTreeMap<String, Version>,
    /// Algorithm → digest → content paths (strongroom keeps sha256 here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fixity: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// A file to put in a new version: its logical path and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Logical path in the version's state.
    pub logical_path: String,
    /// Lowercase hex sha512.
    pub sha512: String,
    /// Lowercase hex sha256.
    pub sha256: String,
}

/// Names version `n` (`v1`, `v2`, …; strongroom never zero-pads).
pub fn version_name(n: u32) -> String {
    format!("v{n}")
}

/// Parses `vN` (unpadded) into N.
pub fn version_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix('v')?;
    if digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

impl Inventory {
    /// The head version's number.
    pub fn head_number(&self) -> Option<u32> {
        version_number(&self.head)
    }

    /// The logical state of a version as logical path → sha512.
    pub fn logical_state(&self, version: &str) -> Option<BTreeMap<String, String>> {
        let v = self.versions.get(version)?;
        let mut out = BTreeMap::new();
        for (digest, paths) in &v.state {
            for p in paths {
                out.insert(p.clone(), digest.clone());
            }
        }
        Some(out)
    }

    /// The first content path holding the given sha512 digest.
    pub fn content_path(&self, sha512: &str) -> Option<&str> {
        self.manifest
            .get(sha512)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The sha256 fixity of a content path, when recorded.
    pub fn sha256_of(&self, content_path: &str) -> Option<&str> {
        self.fixity.get("sha256").and_then(|m| {
            m.iter()
                .find(|(_, paths)| paths.iter().any(|p| p == content_path))
                .map(|(d, _)| d.as_str())
        })
    }

    /// Builds the inventory of the next version (v1 when `previous` is None) whose logical
    /// state is exactly `files`. Content already in the object is not stored again (OCFL
    /// deduplication by digest); returns the inventory and the files that must be written,
    /// as (content path, file).
    pub fn next_version(
        previous: Option<&Inventory>,
        object_id: &str,
        files: &[NewFile],
        created: String,
        message: String,
        user: User,
    ) -> (Inventory, Vec<(String, NewFile)>) {
        let mut inv = match previous {
            Some(p) => p.clone(),
            None => Inventory {
                id: object_id.to_string(),
                kind: INVENTORY_TYPE.to_string(),
                digest_algorithm: "sha512".to_string(),
                head: String::new(),
                content_directory: None,
                manifest: BTreeMap::new(),
                versions: BTreeMap::new(),
                fixity: BTreeMap::new(),
            },
        };
        let n = previous.and_then(Inventory::head_number).unwrap_or(0) + 1;
        let vname = version_name(n);
        let mut state: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut to_write = Vec::new();
        for f in files {
            state
                .entry(f.sha512.clone())
                .or_default()
                .push(f.logical_path.clone());
            if !inv.manifest.contains_key(&f.sha512) {
                let content_path = format!("{vname}/{CONTENT_DIR}/{}", f.logical_path);
                inv.manifest
                    .insert(f.sha512.clone(), vec![content_path.clone()]);
                inv.fixity
                    .entry("sha256".to_string())
                    .or_default()
                    .entry(f.sha256.clone())
                    .or_default()
                    .push(content_path.clone());
                to_write.push((content_path, f.clone()));
            }
        }
        for paths in state.values_mut() {
            paths.sort();
        }
        inv.versions.insert(
            vname.clone(),
            Version {
                created,
                state,
                message: Some(message),
                user: Some(user),
            },
        );
        inv.head = vname;
        (inv, to_write)
    }

    /// The inventory as written to disk: pretty JSON, versions in numeric order.
    pub fn to_json(&self) -> Vec<u8> {
        // BTreeMap orders "v10" before "v2"; order the versions numerically for readers.
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(versions) = value.get_mut("versions").and_then(|v| v.as_object_mut()) {
            let mut entries: Vec<(String, serde_json::Value)> =
                std::mem::take(versions).into_iter().collect();
            entries.sort_by_key(|(k, _)| version_number(k).unwrap_or(u32::MAX));
            versions.extend(entries);
        }
        let mut out = serde_json::to_vec_pretty(&value).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, d: &str) -> NewFile {
        NewFile {
            logical_path: path.into(),
            sha512: d.repeat(128),
            sha256: d.repeat(64),
        }
    }

    #[test]
    fn second_version_dedupes_unchanged_content() {
        let user = User {
            name: "t".into(),
            address: None,
        };
        let (v1, w1) = Inventory::next_version(
            None,
            "urn:x",
            &[f("a", "a"), f("b", "b")],
            "2026-01-01T00:00:00Z".into(),
            "m".into(),
            user.clone(),
        );
        assert_eq!(v1.head, "v1");
        assert_eq!(w1.len(), 2);
        let (v2, w2) = Inventory::next_version(
            Some(&v1),
            "urn:x",
            &[f("a", "a"), f("b", "c")],
            "2026-01-02T00:00:00Z".into(),
            "m".into(),
            user,
        );
        assert_eq!(v2.head, "v2");
        assert_eq!(w2.len(), 1);
        assert_eq!(w2[0].0, "v2/content/b");
        assert_eq!(v2.content_path(&"a".repeat(128)), Some("v1/content/a"));
        assert_eq!(v2.sha256_of("v2/content/b"), Some("c".repeat(64).as_str()));
        assert_eq!(version_number("v10"), Some(10));
        assert_eq!(version_number("v01"), None);
    }
}
