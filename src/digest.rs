//! Fixity digests: the algorithms strongroom knows, and hashing several of them in one read.
//!
//! Owns the names of digest algorithms as BagIt and OCFL spell them (`sha512`, `blake2b-512`)
//! and streaming computation; never holds a whole file in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use digest::Digest as _;

/// A digest algorithm, named as in BagIt manifests and OCFL inventories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// MD5: accepted for reading old bags and OCFL fixity, never sufficient for an archive.
    Md5,
    /// SHA-1: as MD5.
    Sha1,
    /// SHA-256: the `fixity` digest of every stored file.
    Sha256,
    /// SHA-512: the OCFL manifest digest of every stored file.
    Sha512,
    /// SM3 (GB/T 32905-2016), the digest named by Chinese standards.
    Sm3,
    /// BLAKE2b-512: readable in OCFL objects made by others.
    Blake2b512,
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Sm3,
        Algorithm::Blake2b512,
    ];

    /// The name used in manifest file names and inventories.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Sm3 => "sm3",
            Algorithm::Blake2b512 => "blake2b-512",
        }
    }

    /// Length of the lowercase hex form.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha1 => 40,
            Algorithm::Sha256 | Algorithm::Sm3 => 64,
            Algorithm::Sha512 | Algorithm::Blake2b512 => 128,
        }
    }

    /// Strong enough to prove a file unchanged for decades (not MD5 or SHA-1).
    pub fn is_strong(self) -> bool {
        !matches!(self, Algorithm::Md5 | Algorithm::Sha1)
    }

    /// One of the algorithms a transfer package's payload manifest must use (sha256, sha512,
    /// or SM3, which Chinese standards name): what the archive keeps as the agency's word.
    pub fn is_transfer_manifest(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha512 | Algorithm::Sm3)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Algorithm::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown digest algorithm {0:?}")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| UnknownAlgorithm(s.to_string()))
    }
}

enum State {
    Ring(ring::digest::Context),
    Md5(md5::Md5),
    Sm3(sm3::Sm3),
    Blake2b(blake2::Blake2b512),
}

impl State {
    fn new(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Md5 => State::Md5(md5::Md5::new()),
            Algorithm::Sha1 => State::Ring(ring::digest::Context::new(
                &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            )),
            Algorithm::Sha256 => State::Ring(ring::digest::Context::new(&ring::digest::SHA256)),
            Algorithm::Sha512 => State::Ring(ring::digest::Context::new(&ring::digest::SHA512)),
            Algorithm::Sm3 => State::Sm3(sm3::Sm3::new()),
            Algorithm::Blake2b512 => State::Blake2b(blake2::Blake2b512::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            State::Ring(c) => c.update(data),
            State::Md5(h) => h.update(data),
            State::Sm3(h) => h.update(data),
            State::Blake2b(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        match self {
            State::Ring(c) => hex::encode(c.finish().as_ref()),
            State::Md5(h) => hex::encode(h.finalize()),
            State::Sm3(h) => hex::encode(h.finalize()),
            State::Blake2b(h) => hex::encode(h.finalize()),
        }
    }
}

/// One incremental digest.
pub struct Hasher {
    alg: Algorithm,
    state: State,
}

impl Hasher {
    /// Starts a digest.
    pub fn new(alg: Algorithm) -> Self {
        Hasher {
            alg,
            state: State::new(alg),
        }
    }

    /// The algorithm being computed.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.state.update(data)
    }

    /// Lowercase hex of the digest.
    pub fn finish(self) -> String {
        self.state.finish()
    }
}

/// Lowercase hex digests by algorithm.
pub type Digests = BTreeMap<Algorithm, String>;

/// Several digests fed by one read pass.
pub struct MultiHasher {
    hashers: Vec<Hasher>,
    bytes: u64,
}

impl MultiHasher {
    /// Starts the given digests (duplicates are computed once).
    pub fn new(algs: &[Algorithm]) -> Self {
        let mut algs = algs.to_vec();
        algs.sort();
        algs.dedup();
        MultiHasher {
            hashers: algs.into_iter().map(Hasher::new).collect(),
            bytes: 0,
        }
    }

    /// Feeds bytes to every digest.
    pub fn update(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        for h in &mut self.hashers {
            h.update(data);
        }
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Finishes every digest.
    pub fn finish(self) -> Digests {
        self.hashers
            .into_iter()
            .map(|h| (h.algorithm(), h.finish()))
            .collect()
    }
}

/// Lowercase hex SHA-256 of bytes in memory (documents, entries, inventories).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Lowercase hex SHA-512 of bytes in memory.
pub fn sha512_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA512, bytes).as_ref())
}

/// Read-buffer size for streaming digests: large enough to amortise syscalls, small enough
/// to keep memory bounded whatever the file size.
pub const CHUNK: usize = 1 << 20;

/// Digests everything a reader yields; returns the digests and the byte count.
pub fn digest_reader<R: Read>(mut reader: R, algs: &[Algorithm]) -> io::Result<(Digests, u64)> {
    let mut m = MultiHasher::new(algs);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        m.update(&buf[..n]);
    }
    let bytes = m.bytes();
    Ok((m.finish(), bytes))
}

/// Digests a local file.
pub fn digest_file(path: &Path, algs: &[Algorithm]) -> io::Result<(Digests, u64)> {
    digest_reader(std::fs::File::open(path)?, algs)
}

/// Files at least this large are hashed by [`digest_file_pipelined`].
pub const PIPELINE_THRESHOLD: u64 = 8 << 20;

/// Digests a local file reading it once, with each algorithm on its own thread, so that
/// SHA-256 and SHA-512 run beside each other and beside the reads instead of in sequence.
/// Memory stays bounded: at most a few [`CHUNK`]s are in flight per algorithm.
pub fn digest_file_pipelined(path: &Path, algs: &[Algorithm]) -> io::Result<(Digests, u64)> {
    use std::sync::mpsc::sync_channel;
    use std::sync::Arc;
    let mut algs = algs.to_vec();
    algs.sort();
    algs.dedup();
    if algs.len() < 2 {
        return digest_file(path, &algs);
    }
    let mut file = std::fs::File::open(path)?;
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        for alg in &algs {
            let (tx, rx) = sync_channel::<Arc<Vec<u8>>>(4);
            senders.push(tx);
            let alg = *alg;
            workers.push(scope.spawn(move || {
                let mut h = Hasher::new(alg);
                for chunk in rx {
                    h.update(&chunk);
                }
                (alg, h.finish())
            }));
        }
        let mut total = 0u64;
        let read_result = loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match file.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            buf.truncate(n);
            total += n as u64;
            let chunk = Arc::new(buf);
            for tx in &senders {
                // A worker only stops early by panicking; the join below reports it.
                let _ = tx.send(chunk.clone());
            }
        };
        drop(senders);
        let mut out = Digests::new();
        for w in workers {
            let (alg, d) = w
                .join()
                .map_err(|_| io::Error::other("a digest thread panicked"))?;
            out.insert(alg, d);
        }
        read_result.map(|()| (out, total))
    })
}

/// Digests a local file the fastest way for its size.
pub fn digest_file_auto(path: &Path, algs: &[Algorithm]) -> io::Result<(Digests, u64)> {
    let len = std::fs::metadata(path)?.len();
    if len >= PIPELINE_THRESHOLD {
        digest_file_pipelined(path, algs)
    } else {
        digest_file(path, algs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let (d, n) = digest_reader(&b"abc"[..], &Algorithm::ALL).expect("in-memory read");
        assert_eq!(n, 3);
        assert_eq!(d[&Algorithm::Md5], "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d[&Algorithm::Sha1],
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            d[&Algorithm::Sha256],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d[&Algorithm::Sha512].starts_with("ddaf35a193617aba"));
        // GB/T 32905-2016 appendix A example 1.
        assert_eq!(
            d[&Algorithm::Sm3],
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert!(d[&Algorithm::Blake2b512].starts_with("ba80a53f981c4d0d"));
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("big");
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).expect("write");
        let (seq, n1) = digest_reader(&data[..], &Algorithm::ALL).expect("seq");
        let (par, n2) = digest_file_pipelined(&p, &Algorithm::ALL).expect("par");
        assert_eq!((seq, n1), (par, n2));
        for a in Algorithm::ALL {
            assert_eq!(d[&a].len(), a.hex_len());
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
        }
    }
}
