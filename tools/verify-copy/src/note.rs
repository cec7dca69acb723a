//! C2SP signed notes with Ed25519 verifier keys, C2SP `tlog-checkpoint` text and C2SP
//! `tlog-proof` text, as `formats/signed-note.md` and `formats/ledger.md` §5, §9 specify them.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::signature::{UnparsedPublicKey, ED25519};

use crate::merkle::{hash_from, Hash};

/// Why a key, note, checkpoint or proof is refused; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FormatError {}

fn bad<T>(m: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(m.into()))
}

/// An Ed25519 verifier key: `<name>+<8 hex key id>+<base64(0x01 || key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// The key name (the archive's name, and the ledger's origin).
    pub name: String,
    /// The 4-byte key id.
    pub id: [u8; 4],
    /// The 32-byte Ed25519 public key.
    pub key: [u8; 32],
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

impl VerifierKey {
    /// Parses and checks a verifier key (the key id must match the name and key).
    pub fn parse(s: &str) -> Result<VerifierKey, FormatError> {
        let s = s.trim();
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return bad("a verifier key is <name>+<key id>+<base64 key>");
        };
        if !valid_key_name(name) {
            return bad(format!("{name:?} is not a valid key name"));
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("the key id is not 8 hex digits");
        }
        let raw = B64
            .decode(b64)
            .or_else(|_| bad("the key is not standard base64"))?;
        if raw.len() != 33 || raw[0] != 0x01 {
            return bad("not an Ed25519 verifier key (type byte 0x01 and 32 bytes)");
        }
        let id = key_id(name, &raw);
        let given: String = id.iter().map(|b| format!("{b:02x}")).collect();
        if given != id_hex.to_ascii_lowercase() {
            return bad(format!(
                "the key id {id_hex} does not match the name and key (it should be {given})"
            ));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[1..]);
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            key,
        })
    }
}

fn key_id(name: &str, typed_key: &[u8]) -> [u8; 4] {
    let mut m = Vec::with_capacity(name.len() + 1 + typed_key.len());
    m.extend_from_slice(name.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(typed_key);
    let d = digest(&SHA256, &m);
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// Verifies a signed note with `key` and returns its text (final LF included). Signature
/// lines by other keys are ignored; every line by this key must verify, and one must exist.
pub fn verify_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, FormatError> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return bad("the note holds a control character other than line feed");
    }
    let Some(split) = note.rfind("\n\n") else {
        return bad("the note has no blank line between text and signatures");
    };
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return bad("the note's signature lines are missing or do not end with a line feed");
    }
    let mut verified = 0;
    for line in sigs[..sigs.len() - 1].split('\n') {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return bad("a signature line does not start with an em dash and a space");
        };
        let Some((name, b64)) = rest.split_once(' ') else {
            return bad("a signature line has no key name");
        };
        if !valid_key_name(name) {
            return bad("a signature line has an invalid key name");
        }
        let blob = B64
            .decode(b64)
            .or_else(|_| bad("a signature is not standard base64"))?;
        if blob.len() < 5 {
            return bad("a signature is too short");
        }
        if name != key.name || blob[..4] != key.id {
            continue;
        }
        UnparsedPublicKey::new(&ED25519, key.key)
            .verify(text.as_bytes(), &blob[4..])
            .or_else(|_| bad(format!("the signature by {name} does not verify")))?;
        verified += 1;
    }
    if verified == 0 {
        return bad(format!(
            "no signature by the trusted key {} (signed by another key, or not at all)",
            key.name
        ));
    }
    Ok(text)
}

/// A checkpoint: origin, tree size, root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// Parses checkpoint text (`formats/ledger.md` §5).
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint, FormatError> {
    let Some(body) = text.strip_suffix('\n') else {
        return bad("the checkpoint does not end with a line feed");
    };
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.len() < 3 || lines.iter().any(|l| l.is_empty()) {
        return bad("a checkpoint is origin, size and root lines, none empty");
    }
    let size = decimal(lines[1]).ok_or_else(|| FormatError("the size is not a decimal".into()))?;
    let root = strict_hash(lines[2])?;
    Ok(Checkpoint {
        origin: lines[0].to_string(),
        size,
        root,
    })
}

/// Verifies a signed checkpoint note with `key` and parses it.
pub fn verify_checkpoint(note: &str, key: &VerifierKey) -> Result<Checkpoint, FormatError> {
    parse_checkpoint(verify_note(note, key)?)
}

/// A decimal without leading zeros.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A 32-byte hash in canonical standard base64.
pub fn strict_hash(s: &str) -> Result<Hash, FormatError> {
    let raw = B64
        .decode(s)
        .or_else(|_| bad(format!("{s:?} is not standard base64")))?;
    if B64.encode(&raw) != s {
        return bad(format!("{s:?} is not canonical base64"));
    }
    hash_from(&raw).map_err(|e| FormatError(e.to_string()))
}

/// Base64 hashes one a line (a consistency proof as `strongroom ledger consistency` prints it).
pub fn parse_hash_lines(text: &str) -> Result<Vec<Hash>, FormatError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(strict_hash)
        .collect()
}

/// A C2SP tlog-proof (`formats/ledger.md` §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The entry's bytes (`extra`; empty when the line is absent).
    pub extra: Vec<u8>,
    /// Leaf index.
    pub index: u64,
    /// Inclusion proof hashes.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: String,
}

/// Parses a tlog-proof strictly.
pub fn parse_tlog_proof(text: &str) -> Result<TlogProof, FormatError> {
    let mut rest = text;
    let mut next = || -> Result<&str, FormatError> {
        let Some((line, tail)) = rest.split_once('\n') else {
            return bad("the proof ends before its checkpoint");
        };
        rest = tail;
        Ok(line)
    };
    if next()? != "c2sp.org/tlog-proof@v1" {
        return bad("the first line is not c2sp.org/tlog-proof@v1");
    }
    let mut line = next()?;
    let mut extra = Vec::new();
    if let Some(b64) = line.strip_prefix("extra ") {
        extra = B64
            .decode(b64)
            .or_else(|_| bad("extra is not standard base64"))?;
        line = next()?;
    }
    let index = line
        .strip_prefix("index ")
        .and_then(decimal)
        .ok_or_else(|| FormatError("no valid index line".into()))?;
    let mut proof = Vec::new();
    loop {
        let line = next()?;
        if line.is_empty() {
            break;
        }
        proof.push(strict_hash(line)?);
    }
    Ok(TlogProof {
        extra,
        index,
        proof,
        checkpoint: rest.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `note` package known answer (formats/signed-note.md §6).
    #[test]
    fn go_known_answer_verifies() {
        let key = VerifierKey::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .expect("key");
        let note = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert!(verify_note(note, &key).is_ok());
        let changed = note.replacen("problem,", "problem;", 1);
        assert!(verify_note(&changed, &key).is_err());
        assert!(VerifierKey::parse(
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err());
    }
}
