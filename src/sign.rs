//! The archive's signature envelope: C2SP signed notes over RFC 8785 canonical JSON, Ed25519.
//!
//! Owns the archive key pair (its files, names and string forms, compatible with Go's
//! `golang.org/x/mod/sumdb/note`), signing and verifying notes, and the rule that a signed
//! document is its canonical JSON on one line. Every document the archive signs (receipts
//! 接收凭证, checkpoints, destruction certificates, copy-bundle manifests) goes through here.
//! The format is specified in `formats/signed-note.md`; keep the two in step.
//!
//! It does not decide what is signed or who is trusted: callers hand it a document and a
//! [`Verifier`] they got from configuration.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self as ringsig, KeyPair as _};
use serde::Serialize;

/// Version of the envelope described in `formats/signed-note.md`.
pub const FORMAT_VERSION: u32 = 1;

/// File name of the private key inside the key directory.
pub const PRIVATE_KEY_FILE: &str = "archive.key";

/// File name of the verifier (public) key inside the key directory.
pub const PUBLIC_KEY_FILE: &str = "archive.pub";

/// The signature type byte of Ed25519 in signed notes (C2SP `signed-note`, "Signature types").
const ALG_ED25519: u8 = 0x01;

/// Prefix of a private key string, as in Go's `note.NewSigner`.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// Start of every signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// At most this many signature lines are read from a note (the spec asks for at least 16;
/// Go's note package allows 100).
pub const MAX_SIGNATURES: usize = 100;

/// What went wrong signing, verifying or handling keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key name breaks the signed-note rules.
    #[error("invalid key name {name:?}: {reason}")]
    InvalidKeyName {
        /// The name given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A verifier key string is not `<name>+<8 hex id>+<base64(0x01 || pubkey)>`.
    #[error("malformed verifier key {key:?}: {reason}")]
    MalformedVerifierKey {
        /// The key string given (public, so safe to show).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key string is not `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
    /// The key itself is never echoed.
    #[error("malformed private key: {reason}")]
    MalformedPrivateKey {
        /// What is wrong with it.
        reason: String,
    },
    /// Text handed to [`ArchiveKey::sign_note`] cannot be a note's text.
    #[error("cannot sign this text: {0}")]
    InvalidText(&'static str),
    /// The note does not follow the signed-note grammar.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// No signature line belongs to the trusted key.
    #[error("the note carries no signature by key {name} (key id {id:08x})")]
    NoSignature {
        /// The trusted key's name.
        name: String,
        /// The trusted key's id.
        id: u32,
    },
    /// A signature by the trusted key does not verify: the text was changed or forged.
    #[error("the signature by key {name} (key id {id:08x}) does not verify: the note was altered or forged")]
    BadSignature {
        /// The trusted key's name.
        name: String,
        /// The trusted key's id.
        id: u32,
    },
    /// The signed text is not exactly one line of canonical JSON.
    #[error("signed document is not canonical JSON on one line: {0}")]
    NotCanonical(String),
    /// The document cannot be written as JSON (e.g. a map with non-string keys).
    #[error("cannot serialise the document as canonical JSON")]
    Json(#[source] serde_json::Error),
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The private key file may be read by others; it is refused rather than used.
    #[error("private key file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    KeyFileTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `archive.pub` does not belong to `archive.key`.
    #[error(
        "{path} does not match the private key beside it (expected {expected}, found {found})"
    )]
    PublicKeyMismatch {
        /// The public key file.
        path: PathBuf,
        /// The verifier key derived from the private key.
        expected: String,
        /// What the file holds.
        found: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The RFC 8785 (JCS) canonical JSON form of `doc`, with no trailing newline.
///
/// Object members are sorted by UTF-16 code units, numbers written as ECMAScript does,
/// strings with the minimal escapes; non-ASCII characters are kept as UTF-8.
pub fn canonical_json<T: Serialize>(doc: &T) -> Result<String, Error> {
    serde_json_canonicalizer::to_string(doc).map_err(Error::Json)
}

/// Checks a key name: non-empty, no Unicode white space, no `+` (C2SP signed-note), and no
/// control character (a note may not contain one).
fn check_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidKeyName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("a key name must not be empty");
    }
    if name.chars().any(char::is_whitespace) {
        return bad("a key name must not contain white space");
    }
    if name.contains('+') {
        return bad("a key name must not contain '+'");
    }
    if name.chars().any(char::is_control) {
        return bad("a key name must not contain control characters");
    }
    Ok(())
}

/// Key id: the first 4 bytes, big-endian, of SHA-256(name || "\n" || 0x01 || public key).
fn key_id(name: &str, public_key: &[u8]) -> u32 {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[ALG_ED25519]);
    ctx.update(public_key);
    let d = ctx.finish();
    let b = d.as_ref();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Splits `<name>+<8 hex id>+<base64>` (the base64 may itself contain `+`).
fn split_key(s: &str) -> Result<(&str, u32, Vec<u8>), String> {
    let (name, rest) = s.split_once('+').ok_or("expected <name>+<id>+<key>")?;
    let (id_hex, b64) = rest.split_once('+').ok_or("expected <name>+<id>+<key>")?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("key id {id_hex:?} is not 8 hex digits"));
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|e| e.to_string())?;
    let key = B64
        .decode(b64)
        .map_err(|e| format!("key is not standard base64: {e}"))?;
    if key.len() != 33 {
        return Err(format!(
            "key is {} bytes, expected 33 (type byte and 32-byte Ed25519 key)",
            key.len()
        ));
    }
    if key[0] != ALG_ED25519 {
        return Err(format!("key type 0x{:02x} is not Ed25519 (0x01)", key[0]));
    }
    Ok((name, id, key))
}

/// The archive's signing key (Ed25519) and its name, e.g. `archive.example.gov.cn/strongroom`.
///
/// The private half lives in `archive.key` in the home directory and is backed up apart from
/// the store (DESIGN.md "Where state lives").
pub struct ArchiveKey {
    name: String,
    seed: [u8; 32],
    pair: ringsig::Ed25519KeyPair,
    id: u32,
}

impl std::fmt::Debug for ArchiveKey {
    /// Shows the name and key id only: the seed must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveKey")
            .field("name", &self.name)
            .field("id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl ArchiveKey {
    fn from_seed(name: &str, seed: [u8; 32]) -> Result<ArchiveKey, Error> {
        check_name(name)?;
        let pair = ringsig::Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| {
            Error::MalformedPrivateKey {
                reason: format!("seed rejected: {e}"),
            }
        })?;
        let id = key_id(name, pair.public_key().as_ref());
        Ok(ArchiveKey {
            name: name.to_string(),
            seed,
            pair,
            id,
        })
    }

    /// A fresh key pair from the system's random generator.
    pub fn generate(name: &str) -> Result<ArchiveKey, Error> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Random)?;
        ArchiveKey::from_seed(name, seed)
    }

    /// The key's name, as it appears in signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (see `formats/signed-note.md`).
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// `<name>+<8 hex id>+<base64(0x01 || pubkey)>`, what Go's `note.NewVerifier` reads.
    pub fn verifier_key(&self) -> String {
        let mut k = Vec::with_capacity(33);
        k.push(ALG_ED25519);
        k.extend_from_slice(self.pair.public_key().as_ref());
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(k))
    }

    /// The verifier for this key's own signatures.
    pub fn verifier(&self) -> Verifier {
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(self.pair.public_key().as_ref());
        Verifier {
            name: self.name.clone(),
            id: self.id,
            public_key,
        }
    }

    /// `PRIVATE+KEY+<name>+<8 hex id>+<base64(0x01 || seed)>`, what Go's `note.NewSigner`
    /// reads. Secret: goes only to the key file.
    pub fn private_key_string(&self) -> String {
        let mut k = Vec::with_capacity(33);
        k.push(ALG_ED25519);
        k.extend_from_slice(&self.seed);
        format!(
            "{PRIVATE_PREFIX}{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(k)
        )
    }

    /// Reads a private key string; the id must match the name and key.
    pub fn from_private_key_string(s: &str) -> Result<ArchiveKey, Error> {
        let s = s.trim_end_matches(['\n', '\r']);
        let rest = s
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or_else(|| Error::MalformedPrivateKey {
                reason: format!("does not start with {PRIVATE_PREFIX:?}"),
            })?;
        let (name, id, key) =
            split_key(rest).map_err(|reason| Error::MalformedPrivateKey { reason })?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&key[1..]);
        let k = ArchiveKey::from_seed(name, seed)?;
        if k.id != id {
            return Err(Error::MalformedPrivateKey {
                reason: format!(
                    "key id {id:08x} does not match the name and key (computed {:08x})",
                    k.id
                ),
            });
        }
        Ok(k)
    }

    /// Writes `archive.key` (mode 0600, never overwriting, fsynced) and `archive.pub`
    /// (the verifier key and a newline) into `dir`, then fsyncs `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let key_path = dir.join(PRIVATE_KEY_FILE);
        let pub_path = dir.join(PUBLIC_KEY_FILE);
        write_new(
            &key_path,
            format!("{}\n", self.private_key_string()).as_bytes(),
            0o600,
        )?;
        write_new(
            &pub_path,
            format!("{}\n", self.verifier_key()).as_bytes(),
            0o644,
        )?;
        let d = fs::File::open(dir).map_err(io_err(dir))?;
        d.sync_all().map_err(io_err(dir))?;
        Ok(())
    }

    /// Reads the key from `dir/archive.key`, refusing a file that group or others may read,
    /// and checks `archive.pub` beside it, if present, names the same key.
    pub fn load(dir: &Path) -> Result<ArchiveKey, Error> {
        let key_path = dir.join(PRIVATE_KEY_FILE);
        let meta = fs::metadata(&key_path).map_err(io_err(&key_path))?;
        check_private_mode(&key_path, &meta)?;
        let text = fs::read_to_string(&key_path).map_err(io_err(&key_path))?;
        let key = ArchiveKey::from_private_key_string(text.trim())?;
        let pub_path = dir.join(PUBLIC_KEY_FILE);
        match fs::read_to_string(&pub_path) {
            Ok(found) => {
                let expected = key.verifier_key();
                if found.trim() != expected {
                    return Err(Error::PublicKeyMismatch {
                        path: pub_path,
                        expected,
                        found: found.trim().to_string(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&pub_path)(e)),
        }
        Ok(key)
    }

    /// Signs a note's text (which must end in a newline and hold no control character but
    /// newline) and returns the whole note: text, blank line, one signature line.
    pub fn sign_note(&self, text: &str) -> Result<String, Error> {
        if !text.ends_with('\n') {
            return Err(Error::InvalidText("the text must end with a newline"));
        }
        if text.chars().any(|c| c < ' ' && c != '\n') {
            return Err(Error::InvalidText(
                "the text must not contain control characters other than newline",
            ));
        }
        let sig = self.pair.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(sig.as_ref());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }

    /// Signs a document: its canonical JSON on one line, then a newline, as a signed note.
    pub fn sign_document<T: Serialize>(&self, doc: &T) -> Result<String, Error> {
        let mut text = canonical_json(doc)?;
        text.push('\n');
        self.sign_note(&text)
    }
}

#[cfg(unix)]
fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), Error> {
    Ok(())
}

/// Creates `path` (failing if it exists) with `mode`, writes `bytes`, fsyncs.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    Ok(())
}

/// A trusted public key: whose signatures [`verify_note`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    public_key: [u8; 32],
}

impl Verifier {
    /// Reads `<name>+<8 hex id>+<base64(0x01 || pubkey)>`; the id must match.
    pub fn from_verifier_key(s: &str) -> Result<Verifier, Error> {
        let s = s.trim_end_matches(['\n', '\r']);
        let bad = |reason: String| Error::MalformedVerifierKey {
            key: s.to_string(),
            reason,
        };
        let (name, id, key) = split_key(s).map_err(bad)?;
        check_name(name)?;
        let computed = key_id(name, &key[1..]);
        if computed != id {
            return Err(bad(format!(
                "key id {id:08x} does not match the name and key (computed {computed:08x})"
            )));
        }
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(&key[1..]);
        Ok(Verifier {
            name: name.to_string(),
            id,
            public_key,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The verifier key string, as [`ArchiveKey::verifier_key`] gives it.
    pub fn verifier_key(&self) -> String {
        let mut k = Vec::with_capacity(33);
        k.push(ALG_ED25519);
        k.extend_from_slice(&self.public_key);
        format!("{}+{:08x}+{}", self.name, self.id, B64.encode(k))
    }
}

/// Checks a signed note against one trusted key and returns its text (with final newline).
///
/// As the spec says: signatures by other keys are ignored; every signature by the trusted key
/// must verify; at least one must be present.
pub fn verify_note(note: &str, verifier: &Verifier) -> Result<String, Error> {
    let malformed = |m: &str| Error::MalformedNote(m.to_string());
    if let Some(c) = note.chars().find(|&c| c < ' ' && c != '\n') {
        return Err(Error::MalformedNote(format!(
            "control character U+{:04X} (only newline is allowed)",
            c as u32
        )));
    }
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line between text and signatures"))?;
    let text = &note[..split + 1];
    let sigs = &note[split + 2..];
    if sigs.is_empty() {
        return Err(malformed("no signature lines after the blank line"));
    }
    if !sigs.ends_with('\n') {
        return Err(malformed(
            "the last signature line does not end with a newline",
        ));
    }
    let mut verified = false;
    let mut count = 0usize;
    for line in sigs[..sigs.len() - 1].split('\n') {
        count += 1;
        if count > MAX_SIGNATURES {
            return Err(Error::MalformedNote(format!(
                "more than {MAX_SIGNATURES} signature lines"
            )));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            Error::MalformedNote(format!(
                "signature line {line:?} does not start with an em dash (U+2014) and a space"
            ))
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            Error::MalformedNote(format!(
                "signature line {line:?} has no space before the signature"
            ))
        })?;
        if check_name(name).is_err() {
            return Err(Error::MalformedNote(format!(
                "signature line {line:?} has an invalid key name"
            )));
        }
        let blob = B64.decode(b64).map_err(|e| {
            Error::MalformedNote(format!("signature line {line:?}: not standard base64: {e}"))
        })?;
        if blob.len() < 5 {
            return Err(Error::MalformedNote(format!(
                "signature line {line:?}: signature too short"
            )));
        }
        let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if name != verifier.name || id != verifier.id {
            continue; // unknown key: ignored, as the spec requires
        }
        let pk = ringsig::UnparsedPublicKey::new(&ringsig::ED25519, &verifier.public_key);
        if pk.verify(text.as_bytes(), &blob[4..]).is_err() {
            return Err(Error::BadSignature {
                name: verifier.name.clone(),
                id: verifier.id,
            });
        }
        verified = true;
    }
    if !verified {
        return Err(Error::NoSignature {
            name: verifier.name.clone(),
            id: verifier.id,
        });
    }
    Ok(text.to_string())
}

/// Checks a signed document: the note verifies, and its text is one line of JSON that is
/// exactly its own RFC 8785 canonical form. Returns the parsed document.
pub fn verify_document(note: &str, verifier: &Verifier) -> Result<serde_json::Value, Error> {
    let text = verify_note(note, verifier)?;
    let line = text
        .strip_suffix('\n')
        .ok_or_else(|| Error::NotCanonical("text does not end with a newline".into()))?;
    if line.contains('\n') {
        return Err(Error::NotCanonical("text has more than one line".into()));
    }
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| Error::NotCanonical(format!("not JSON: {e}")))?;
    let canon = canonical_json(&value)?;
    if canon != line {
        return Err(Error::NotCanonical(
            "the JSON is not in RFC 8785 canonical form (member order, number form, escapes or white space differ)"
                .into(),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/sumdb/note: the package documentation's example and note_test.go.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n\
                           \n\
                           \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    // A second key of the same test file, to play the unknown signer.
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";

    fn key() -> ArchiveKey {
        ArchiveKey::generate("archive.example/strongroom").expect("generate")
    }

    #[test]
    fn go_known_answer_verifies() {
        let v = Verifier::from_verifier_key(GO_VKEY).expect("go verifier key");
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.verifier_key(), GO_VKEY);
        assert_eq!(verify_note(GO_NOTE, &v).expect("verify"), GO_TEXT);
        let tampered = GO_NOTE.replace("cryptography", "cryptographY");
        assert!(matches!(
            verify_note(&tampered, &v),
            Err(Error::BadSignature { .. })
        ));
    }

    #[test]
    fn go_private_key_signs_byte_for_byte() {
        // Ed25519 is deterministic, so our note must equal Go's exactly.
        let k = ArchiveKey::from_private_key_string(GO_SKEY).expect("go private key");
        assert_eq!(k.verifier_key(), GO_VKEY);
        assert_eq!(k.private_key_string(), GO_SKEY);
        assert_eq!(k.sign_note(GO_TEXT).expect("sign"), GO_NOTE);
    }

    #[test]
    fn round_trip_document() {
        let k = key();
        let doc =
            serde_json::json!({"z": 1, "a": "档号 0194-WS·2016-D30-BGS-0001", "n": [1.5, 1e21]});
        let note = k.sign_document(&doc).expect("sign");
        let first = note.lines().next().expect("line");
        assert_eq!(first, canonical_json(&doc).expect("canon"));
        let v = Verifier::from_verifier_key(&k.verifier_key()).expect("vkey");
        assert_eq!(v, k.verifier());
        assert_eq!(verify_document(&note, &v).expect("verify"), doc);
        assert!(note.contains(&format!("\n\n\u{2014} {} ", k.name())));
    }

    #[test]
    fn tampered_text_is_refused() {
        let k = key();
        let note = k
            .sign_document(&serde_json::json!({"size": 10}))
            .expect("sign");
        let bad = note.replace("10", "11");
        assert!(matches!(
            verify_document(&bad, &k.verifier()),
            Err(Error::BadSignature { .. })
        ));
    }

    #[test]
    fn wrong_key_finds_no_signature() {
        let k = key();
        let other = ArchiveKey::generate("archive.example/strongroom").expect("generate");
        let note = k.sign_note("hello\n").expect("sign");
        // Same name, different key, so different id: ignored, and nothing else verifies.
        assert!(matches!(
            verify_note(&note, &other.verifier()),
            Err(Error::NoSignature { .. })
        ));
    }

    #[test]
    fn extra_unknown_signature_is_ignored() {
        let k = key();
        let other = ArchiveKey::generate("witness.example/w1").expect("generate");
        let note = k.sign_note("hello\n").expect("sign");
        let other_line = other
            .sign_note("hello\n")
            .expect("sign")
            .rsplit_once("\n\n")
            .expect("split")
            .1
            .to_string();
        let both = format!("{note}{other_line}");
        assert_eq!(
            verify_note(&both, &k.verifier()).expect("verify"),
            "hello\n"
        );
        assert_eq!(
            verify_note(&both, &other.verifier()).expect("verify"),
            "hello\n"
        );
        let enoch = Verifier::from_verifier_key(ENOCH_VKEY).expect("enoch");
        assert!(matches!(
            verify_note(&both, &enoch),
            Err(Error::NoSignature { .. })
        ));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let v = Verifier::from_verifier_key(GO_VKEY).expect("vkey");
        let sig = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
        let cases = [
            ("no blank line", format!("{GO_TEXT}{sig}\n")),
            ("no final newline", format!("{GO_TEXT}\n{sig}")),
            ("hyphen not em dash", format!("{GO_TEXT}\n- PeterNeumann x08go\n")),
            ("no signature", format!("{GO_TEXT}\n")),
            ("bad base64", format!("{GO_TEXT}\n\u{2014} PeterNeumann !!!\n")),
            ("short sig", format!("{GO_TEXT}\n\u{2014} PeterNeumann AAAA\n")),
            ("no space", format!("{GO_TEXT}\n\u{2014} PeterNeumann\n")),
            ("control char", format!("If\tyou\n\n{sig}\n")),
            ("CRLF", GO_NOTE.replace('\n', "\r\n")),
            ("name with plus", format!("{GO_TEXT}\n\u{2014} Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")),
        ];
        for (what, note) in cases {
            match verify_note(&note, &v) {
                Err(Error::MalformedNote(_)) => {}
                other => panic!("{what}: expected MalformedNote, got {other:?}"),
            }
        }
    }

    #[test]
    fn key_strings_checked() {
        assert!(ArchiveKey::generate("").is_err());
        assert!(ArchiveKey::generate("a b").is_err());
        assert!(ArchiveKey::generate("a+b").is_err());
        assert!(ArchiveKey::generate("a\u{3000}b").is_err());
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", // id
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // short id
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  // base64
            "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // type/len
            "PeterNeumann",
            "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert!(Verifier::from_verifier_key(bad).is_err(), "{bad}");
        }
        assert!(ArchiveKey::from_private_key_string(GO_VKEY).is_err());
        let wrong_id = GO_SKEY.replace("c74f20a3", "c74f20a4");
        let err = ArchiveKey::from_private_key_string(&wrong_id).expect_err("id");
        assert!(!err.to_string().contains("AYEKF"), "secret leaked: {err}");
    }

    #[test]
    fn sign_note_refuses_bad_text() {
        let k = key();
        assert!(k.sign_note("no newline").is_err());
        assert!(k.sign_note("tab\there\n").is_err());
    }

    #[test]
    fn non_canonical_document_refused() {
        let k = key();
        for text in [
            "{\"b\":1,\"a\":2}\n",
            "{\"a\": 2}\n",
            "{\"a\":1.0}\n",
            "{\"a\":1}\n{}\n",
            "nope\n",
        ] {
            let note = k.sign_note(text).expect("sign");
            assert!(
                matches!(
                    verify_document(&note, &k.verifier()),
                    Err(Error::NotCanonical(_))
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn rfc8785_vectors() {
        // RFC 8785 section 3.2.3 (sorting) and 3.2.2.3 / appendix B (numbers).
        let v: serde_json::Value = serde_json::from_str(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        )
        .expect("json");
        let keys: Vec<String> =
            match serde_json::from_str::<serde_json::Value>(&canonical_json(&v).expect("canon"))
                .expect("reparse")
            {
                serde_json::Value::Object(m) => m.keys().cloned().collect(),
                _ => panic!("not an object"),
            };
        assert_eq!(
            keys,
            [
                "\r",
                "1",
                "\u{80}",
                "\u{f6}",
                "\u{20ac}",
                "\u{1f600}",
                "\u{fb33}"
            ]
        );
        let v: serde_json::Value = serde_json::from_str(
            r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#,
        )
        .expect("json");
        assert_eq!(
            canonical_json(&v).expect("canon"),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
        for (input, want) in [
            ("0", "0"),
            ("-0.0", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("9007199254740991", "9007199254740991"),
            ("0.1", "0.1"),
            ("1.5e-7", "1.5e-7"),
            ("123e-10", "1.23e-8"),
        ] {
            let v: serde_json::Value = serde_json::from_str(input).expect("num");
            assert_eq!(canonical_json(&v).expect("canon"), want, "{input}");
        }
    }

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = key();
        k.save(dir.path()).expect("save");
        assert!(k.save(dir.path()).is_err(), "save must not overwrite");
        let l = ArchiveKey::load(dir.path()).expect("load");
        assert_eq!(l.verifier_key(), k.verifier_key());
        let pubtext = fs::read_to_string(dir.path().join(PUBLIC_KEY_FILE)).expect("pub");
        assert_eq!(pubtext, format!("{}\n", k.verifier_key()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join(PRIVATE_KEY_FILE);
            let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).expect("chmod");
            let err = ArchiveKey::load(dir.path()).expect_err("too open");
            assert!(matches!(err, Error::KeyFileTooOpen { .. }));
            assert!(err.to_string().contains("chmod 600"));
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let other = key();
        fs::write(dir.path().join(PUBLIC_KEY_FILE), other.verifier_key()).expect("write");
        assert!(matches!(
            ArchiveKey::load(dir.path()),
            Err(Error::PublicKeyMismatch { .. })
        ));
    }
}
