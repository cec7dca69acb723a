//! Path safety for package entries: traversal, absolute paths, over-long names, and names
//! that would collide on a file system that normalises Unicode (NFC) or ignores case.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use super::{finding, Limits};
use crate::findings::Finding;

/// Checks paths one at a time and remembers them to catch collisions.
#[derive(Debug)]
pub struct NameChecker {
    max_path_bytes: usize,
    max_depth: usize,
    /// NFC form → the spelling first seen.
    nfc: HashMap<String, String>,
    /// Case-folded NFC form → the spelling first seen.
    folded: HashMap<String, String>,
}

/// Longest file-name component most file systems hold.
const MAX_COMPONENT_BYTES: usize = 255;

impl NameChecker {
    /// A checker under these limits.
    pub fn new(limits: &Limits) -> Self {
        NameChecker {
            max_path_bytes: limits.max_path_bytes,
            max_depth: limits.max_depth,
            nfc: HashMap::new(),
            folded: HashMap::new(),
        }
    }

    /// Every problem with one '/'-separated relative path; remembers it when it is safe.
    pub fn check(&mut self, path: &str) -> Vec<Finding> {
        let shown = path.to_string();
        let mut out = Vec::new();
        if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
            out.push(
                finding(
                    "PKG_ABSOLUTE_PATH",
                    "absolute paths are not accepted in a package",
                )
                .file(shown),
            );
            return out;
        }
        if path.chars().any(|c| c.is_control() || c == '\\') {
            out.push(
                finding(
                    "PKG_BAD_NAME",
                    "names may not hold control characters or backslashes",
                )
                .file(shown),
            );
            return out;
        }
        let parts: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.contains(&"..") {
            out.push(
                finding("PKG_PATH_TRAVERSAL", "`..` would reach outside the package").file(shown),
            );
            return out;
        }
        if path.len() > self.max_path_bytes {
            out.push(
                finding("PKG_PATH_TOO_LONG", "the path is longer than the limit")
                    .file(shown.clone())
                    .expected_found(
                        format!("at most {} bytes", self.max_path_bytes),
                        format!("{} bytes", path.len()),
                    ),
            );
        }
        if let Some(long) = parts.iter().find(|p| p.len() > MAX_COMPONENT_BYTES) {
            out.push(
                finding(
                    "PKG_PATH_TOO_LONG",
                    "a file or folder name is longer than 255 bytes",
                )
                .file(shown.clone())
                .expected_found("at most 255 bytes", format!("{} bytes: {long}", long.len())),
            );
        }
        if parts.len() > self.max_depth {
            out.push(
                finding("PKG_TOO_DEEP", "the path is nested deeper than the limit")
                    .file(shown.clone())
                    .expected_found(
                        format!("at most {} levels", self.max_depth),
                        parts.len().to_string(),
                    ),
            );
        }
        if !out.is_empty() {
            return out;
        }
        // Every prefix, so that `Dir/a` and `dir/b` collide through their folders.
        let mut prefix = String::new();
        for part in parts {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            let nfc: String = prefix.nfc().collect();
            let folded = caseless::default_case_fold_str(&nfc);
            match self.nfc.get(&nfc) {
                Some(first) if *first != prefix => {
                    out.push(
                        finding(
                            "PKG_NAME_COLLISION",
                            format!(
                                "{prefix:?} and {first:?} are the same name after Unicode NFC \
                                 normalisation; one would overwrite the other"
                            ),
                        )
                        .file(shown),
                    );
                    return out;
                }
                Some(_) => continue,
                None => {}
            }
            if let Some(first) = self.folded.get(&folded) {
                if *first != prefix {
                    out.push(
                        finding(
                            "PKG_NAME_COLLISION",
                            format!(
                                "{prefix:?} and {first:?} differ only in case; they collide on \
                                 file systems that ignore case"
                            ),
                        )
                        .file(shown),
                    );
                    return out;
                }
            }
            self.nfc.insert(nfc, prefix.clone());
            self.folded.insert(folded, prefix.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(c: &mut NameChecker, p: &str) -> Vec<String> {
        c.check(p).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn refuses_unsafe_and_colliding_names() {
        let mut c = NameChecker::new(&Limits::default());
        assert!(codes(&mut c, "bag/data/a.txt").is_empty());
        assert!(
            codes(&mut c, "bag/data/a.txt").is_empty(),
            "same spelling again is not a collision"
        );
        assert_eq!(codes(&mut c, "/etc/passwd"), ["PKG_ABSOLUTE_PATH"]);
        assert_eq!(codes(&mut c, "bag/../x"), ["PKG_PATH_TRAVERSAL"]);
        assert_eq!(codes(&mut c, "bag/a\u{7}b"), ["PKG_BAD_NAME"]);
        assert_eq!(codes(&mut c, "bag/data/A.txt"), ["PKG_NAME_COLLISION"]);
        assert!(codes(&mut c, "bag/data/caf\u{e9}").is_empty());
        assert_eq!(
            codes(&mut c, "bag/data/cafe\u{301}"),
            ["PKG_NAME_COLLISION"]
        );
        assert_eq!(
            codes(&mut c, "BAG/other.txt"),
            ["PKG_NAME_COLLISION"],
            "through a folder"
        );
        assert_eq!(
            codes(&mut c, &format!("bag/{}", "x".repeat(300))),
            ["PKG_PATH_TOO_LONG"]
        );
        let deep = vec!["d"; 40].join("/");
        assert_eq!(codes(&mut c, &deep), ["PKG_TOO_DEEP"]);
    }
}
