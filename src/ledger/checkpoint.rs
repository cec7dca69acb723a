//! C2SP `tlog-checkpoint`: the note text that commits to one version of the ledger (origin,
//! tree size, root hash, optional extension lines), formatted, parsed strictly, and signed.
//!
//! Owns the checkpoint text only. Signing and verifying go through the archive's one
//! signed-note implementation, [`crate::sign`] (`ArchiveKey::sign_note`, `verify_note`); this
//! module never touches keys or the store, and it does not decide when a checkpoint may be
//! signed (that is the append path's job: never two checkpoints that are not consistent).
//! Specified in `formats/ledger.md`.

use std::fmt;

use super::merkle::{self, Hash, TreeSize};
use crate::sign::{self, ArchiveKey, Verifier};

/// What is wrong with a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text does not end with a newline.
    #[error("the checkpoint text does not end with a newline")]
    MissingNewline,
    /// Fewer than the three mandatory lines.
    #[error("the checkpoint text has {lines} lines; origin, tree size and root hash are required")]
    TooFewLines {
        /// Lines found.
        lines: usize,
    },
    /// The origin line is empty.
    #[error("the origin line is empty")]
    EmptyOrigin,
    /// A line holds a character a note may not hold (a control character other than newline).
    #[error("line {line} holds a control character")]
    ControlCharacter {
        /// 1-based line number.
        line: usize,
    },
    /// The size line is not a decimal `u64` without leading zeros.
    #[error("the tree size {found:?} is not a decimal number without leading zeros")]
    BadSize {
        /// The line found.
        found: String,
    },
    /// The root hash line is not the base64 of 32 bytes.
    #[error("the root hash {found:?} is not the standard base64 of a 32-byte hash")]
    BadRoot {
        /// The line found.
        found: String,
        /// The cause.
        #[source]
        source: merkle::Error,
    },
    /// An extension line is empty (which also catches a blank line inside the text).
    #[error("extension line {line} is empty")]
    EmptyExtension {
        /// 1-based line number.
        line: usize,
    },
    /// The checkpoint is for another log.
    #[error("the checkpoint's origin is {found:?}, expected {expected:?}")]
    WrongOrigin {
        /// The origin this log uses.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// Signing failed or the signature does not verify.
    #[error(transparent)]
    Signature(#[from] sign::Error),
}

/// The tree head of one version of the log: `origin`, `size` and `root`, plus opaque
/// extension lines (none written by strongroom so far).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: TreeSize,
    root: Hash,
    extensions: Vec<String>,
}

fn check_line(line: &str, number: usize) -> Result<(), Error> {
    if line.chars().any(char::is_control) {
        return Err(Error::ControlCharacter { line: number });
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines. The origin must be non-empty and hold no control
    /// character (so no newline); it SHOULD be the log's URL without scheme, e.g.
    /// `archive.example.gov.cn/strongroom`, and match the signing key's name.
    pub fn new(origin: &str, size: TreeSize, root: Hash) -> Result<Checkpoint, Error> {
        Checkpoint::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines, each non-empty and without control characters.
    pub fn with_extensions(
        origin: &str,
        size: TreeSize,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Checkpoint, Error> {
        if origin.is_empty() {
            return Err(Error::EmptyOrigin);
        }
        check_line(origin, 1)?;
        for (i, e) in extensions.iter().enumerate() {
            if e.is_empty() {
                return Err(Error::EmptyExtension { line: i + 4 });
            }
            check_line(e, i + 4)?;
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> TreeSize {
        self.size
    }

    /// The root hash at that size.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, in order.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: `origin\nsize\nbase64(root)\n` then each extension line and a newline.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size.0,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a note text strictly: every line non-empty and newline-terminated (no CR), the
    /// size decimal without leading zeros ("0" for the empty tree) and within `u64`, the root
    /// the canonical padded standard base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Checkpoint, Error> {
        let body = text.strip_suffix('\n').ok_or(Error::MissingNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        for (i, l) in lines.iter().enumerate() {
            check_line(l, i + 1)?;
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(Error::TooFewLines { lines: lines.len() });
        };
        if origin.is_empty() {
            return Err(Error::EmptyOrigin);
        }
        let size = parse_size(size).ok_or_else(|| Error::BadSize {
            found: size.to_string(),
        })?;
        let root = Hash::from_base64(root).map_err(|source| Error::BadRoot {
            found: root.to_string(),
            source,
        })?;
        let mut ext = Vec::with_capacity(extensions.len());
        for (i, e) in extensions.iter().enumerate() {
            if e.is_empty() {
                return Err(Error::EmptyExtension { line: i + 4 });
            }
            ext.push(e.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions: ext,
        })
    }

    /// The checkpoint as a signed note by the archive key.
    pub fn sign(&self, key: &ArchiveKey) -> Result<String, Error> {
        Ok(key.sign_note(&self.to_text())?)
    }

    /// Verifies a signed checkpoint against the trusted key, parses it, and checks that it is
    /// for the log `origin`. Signatures by other keys are ignored (signed-note rules).
    pub fn verify(note: &str, verifier: &Verifier, origin: &str) -> Result<Checkpoint, Error> {
        let text = sign::verify_note(note, verifier)?;
        let c = Checkpoint::parse(&text)?;
        if c.origin != origin {
            return Err(Error::WrongOrigin {
                expected: origin.to_string(),
                found: c.origin,
            });
        }
        Ok(c)
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A tree size: ASCII decimal digits, no sign, no leading zeros except "0" itself.
fn parse_size(s: &str) -> Option<TreeSize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok().map(TreeSize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::{empty_root, leaf_hash};

    const ORIGIN: &str = "archive.example.gov.cn/strongroom";

    fn key() -> ArchiveKey {
        ArchiveKey::generate(ORIGIN).expect("key")
    }

    fn sample() -> Checkpoint {
        Checkpoint::new(ORIGIN, TreeSize(20_852_163), leaf_hash(b"x")).expect("checkpoint")
    }

    #[test]
    fn spec_example_parses() {
        // The example of c2sp.org/tlog-checkpoint.
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse(text).expect("spec example");
        assert_eq!(c.origin(), "example.com/behind-the-sofa");
        assert_eq!(c.size(), TreeSize(20_852_163));
        assert_eq!(
            c.root().to_base64(),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(c.extensions().is_empty());
        assert_eq!(c.to_text(), text);
    }

    #[test]
    fn round_trip() {
        let c = sample();
        assert_eq!(Checkpoint::parse(&c.to_text()).expect("parse"), c);
        let empty = Checkpoint::new(ORIGIN, TreeSize(0), empty_root()).expect("empty");
        assert_eq!(
            empty.to_text(),
            format!("{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
        );
        assert_eq!(Checkpoint::parse(&empty.to_text()).expect("parse"), empty);
        let ext = Checkpoint::with_extensions(
            ORIGIN,
            TreeSize(u64::MAX),
            leaf_hash(b""),
            vec!["timestamp 1700000000".into(), "档号 extension".into()],
        )
        .expect("with extensions");
        assert_eq!(Checkpoint::parse(&ext.to_text()).expect("parse"), ext);
        assert_eq!(ext.to_text().lines().count(), 5);
    }

    #[test]
    fn signed_round_trip() {
        let k = key();
        let c = sample();
        let note = c.sign(&k).expect("sign");
        assert!(note.starts_with(&c.to_text()));
        assert!(note.contains(&format!("\n\n\u{2014} {ORIGIN} ")));
        assert_eq!(
            Checkpoint::verify(&note, &k.verifier(), ORIGIN).expect("verify"),
            c
        );
        // Another log's origin, another key, a changed size: all refused.
        assert!(matches!(
            Checkpoint::verify(&note, &k.verifier(), "other.example/log"),
            Err(Error::WrongOrigin { .. })
        ));
        let other = key();
        assert!(matches!(
            Checkpoint::verify(&note, &other.verifier(), ORIGIN),
            Err(Error::Signature(sign::Error::NoSignature { .. }))
        ));
        let forged = note.replace("\n20852163\n", "\n20852164\n");
        assert!(matches!(
            Checkpoint::verify(&forged, &k.verifier(), ORIGIN),
            Err(Error::Signature(sign::Error::BadSignature { .. }))
        ));
    }

    #[test]
    fn signed_but_malformed_text_is_refused() {
        let k = key();
        let note = k
            .sign_note(&format!("{ORIGIN}\n012\nAAAA\n"))
            .expect("sign");
        assert!(matches!(
            Checkpoint::verify(&note, &k.verifier(), ORIGIN),
            Err(Error::BadSize { .. })
        ));
    }

    #[test]
    fn parse_rejects() {
        let root = leaf_hash(b"x").to_base64();
        let short = leaf_hash(b"x").as_bytes()[..31].to_vec();
        let long = [leaf_hash(b"x").as_bytes().as_slice(), &[0]].concat();
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        type Case = (&'static str, String, fn(&Error) -> bool);
        let cases: Vec<Case> = vec![
            ("no trailing newline", format!("{ORIGIN}\n5\n{root}"), |e| {
                matches!(e, Error::MissingNewline)
            }),
            ("two lines", format!("{ORIGIN}\n5\n"), |e| {
                matches!(e, Error::TooFewLines { lines: 2 })
            }),
            ("empty origin", format!("\n5\n{root}\n"), |e| {
                matches!(e, Error::EmptyOrigin)
            }),
            ("leading zero", format!("{ORIGIN}\n05\n{root}\n"), |e| {
                matches!(e, Error::BadSize { .. })
            }),
            ("00", format!("{ORIGIN}\n00\n{root}\n"), |e| {
                matches!(e, Error::BadSize { .. })
            }),
            ("sign", format!("{ORIGIN}\n+5\n{root}\n"), |e| {
                matches!(e, Error::BadSize { .. })
            }),
            ("hex size", format!("{ORIGIN}\n0x5\n{root}\n"), |e| {
                matches!(e, Error::BadSize { .. })
            }),
            ("space", format!("{ORIGIN}\n 5\n{root}\n"), |e| {
                matches!(e, Error::BadSize { .. })
            }),
            ("empty size", format!("{ORIGIN}\n\n{root}\n"), |e| {
                matches!(e, Error::BadSize { .. })
            }),
            (
                "size over u64",
                format!("{ORIGIN}\n18446744073709551616\n{root}\n"),
                |e| matches!(e, Error::BadSize { .. }),
            ),
            (
                "non-ASCII digit",
                format!("{ORIGIN}\n\u{0665}\n{root}\n"),
                |e| matches!(e, Error::BadSize { .. }),
            ),
            (
                "bad base64",
                format!("{ORIGIN}\n5\n{}!\n", &root[..43]),
                |e| {
                    matches!(
                        e,
                        Error::BadRoot {
                            source: merkle::Error::Base64 { .. },
                            ..
                        }
                    )
                },
            ),
            (
                "unpadded base64",
                format!("{ORIGIN}\n5\n{}\n", &root[..43]),
                |e| {
                    matches!(
                        e,
                        Error::BadRoot {
                            source: merkle::Error::Base64 { .. },
                            ..
                        }
                    )
                },
            ),
            (
                "31-byte hash",
                format!("{ORIGIN}\n5\n{}\n", b64(&short)),
                |e| {
                    matches!(
                        e,
                        Error::BadRoot {
                            source: merkle::Error::HashLength { len: 31 },
                            ..
                        }
                    )
                },
            ),
            (
                "33-byte hash",
                format!("{ORIGIN}\n5\n{}\n", b64(&long)),
                |e| {
                    matches!(
                        e,
                        Error::BadRoot {
                            source: merkle::Error::HashLength { len: 33 },
                            ..
                        }
                    )
                },
            ),
            (
                "hex hash",
                format!("{ORIGIN}\n5\n{}\n", leaf_hash(b"x").to_hex()),
                |e| matches!(e, Error::BadRoot { .. }),
            ),
            ("empty extension", format!("{ORIGIN}\n5\n{root}\n\n"), |e| {
                matches!(e, Error::EmptyExtension { line: 4 })
            }),
            (
                "blank then extension",
                format!("{ORIGIN}\n5\n{root}\n\next\n"),
                |e| matches!(e, Error::EmptyExtension { line: 4 }),
            ),
            ("CRLF", format!("{ORIGIN}\r\n5\r\n{root}\r\n"), |e| {
                matches!(e, Error::ControlCharacter { line: 1 })
            }),
            ("tab", format!("{ORIGIN}\n5\n{root}\next\tension\n"), |e| {
                matches!(e, Error::ControlCharacter { line: 4 })
            }),
        ];
        for (what, text, want) in cases {
            match Checkpoint::parse(&text) {
                Err(e) if want(&e) => {}
                other => panic!("{what}: unexpected {other:?}"),
            }
        }
        // And the good neighbours of those cases parse.
        assert!(Checkpoint::parse(&format!("{ORIGIN}\n0\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("{ORIGIN}\n18446744073709551615\n{root}\n")).is_ok());
        assert!(Checkpoint::parse(&format!("{ORIGIN}\n5\n{root}\next\n")).is_ok());
    }

    #[test]
    fn construction_is_checked() {
        let r = leaf_hash(b"");
        assert!(matches!(
            Checkpoint::new("", TreeSize(1), r),
            Err(Error::EmptyOrigin)
        ));
        assert!(matches!(
            Checkpoint::new("a\nb", TreeSize(1), r),
            Err(Error::ControlCharacter { line: 1 })
        ));
        assert!(matches!(
            Checkpoint::with_extensions(ORIGIN, TreeSize(1), r, vec![String::new()]),
            Err(Error::EmptyExtension { line: 4 })
        ));
    }
}
