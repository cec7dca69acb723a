//! The fixity pass over a bag: every file read once, all its digests computed in that read,
//! files spread over worker threads that take the next job from a shared queue.
//!
//! Memory is bounded by one [`CHUNK`] buffer per worker whatever the file sizes.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use digest::Digest as _;

use crate::digest::{digest_file_pipelined, Algorithm, MultiHasher, CHUNK, PIPELINE_THRESHOLD};

/// A manifest algorithm: one strongroom keeps, or a SHA-2 variant that bags use and that is
/// verified here but not kept (sha224, sha384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum HashAlg {
    Known(Algorithm),
    Sha224,
    Sha384,
}

impl HashAlg {
    /// Maps the `<alg>` of `manifest-<alg>.txt`. RFC 8493 §2.1.3 names algorithms by their
    /// lowercased common name without non-alphanumerics (`sha256`, `blake2b512`); the OCFL
    /// spelling `blake2b-512` is accepted too.
    pub fn from_manifest_name(name: &str) -> Option<HashAlg> {
        let norm: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match norm.as_str() {
            "md5" => HashAlg::Known(Algorithm::Md5),
            "sha1" => HashAlg::Known(Algorithm::Sha1),
            "sha256" => HashAlg::Known(Algorithm::Sha256),
            "sha512" => HashAlg::Known(Algorithm::Sha512),
            "sm3" => HashAlg::Known(Algorithm::Sm3),
            "blake2b512" => HashAlg::Known(Algorithm::Blake2b512),
            "sha224" => HashAlg::Sha224,
            "sha384" => HashAlg::Sha384,
            _ => return None,
        })
    }

    /// The name as RFC 8493 spells it in file names.
    pub fn manifest_name(self) -> &'static str {
        match self {
            HashAlg::Known(Algorithm::Blake2b512) => "blake2b512",
            HashAlg::Known(a) => a.name(),
            HashAlg::Sha224 => "sha224",
            HashAlg::Sha384 => "sha384",
        }
    }

    /// Length of the hex form.
    pub fn hex_len(self) -> usize {
        match self {
            HashAlg::Known(a) => a.hex_len(),
            HashAlg::Sha224 => 56,
            HashAlg::Sha384 => 96,
        }
    }
}

/// Digests by manifest algorithm, lowercase hex.
pub(crate) type BagDigests = BTreeMap<HashAlg, String>;

/// One file to read.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Bag-relative path, for the caller.
    pub rel: String,
    pub abs: PathBuf,
    pub algs: Vec<HashAlg>,
}

/// What reading one file gave.
pub(crate) struct Outcome {
    pub rel: String,
    pub result: io::Result<(BagDigests, u64)>,
}

struct Hashers {
    multi: MultiHasher,
    sha224: Option<sha2::Sha224>,
    sha384: Option<sha2::Sha384>,
}

impl Hashers {
    fn new(algs: &[HashAlg]) -> Self {
        let known: Vec<Algorithm> = algs
            .iter()
            .filter_map(|a| match a {
                HashAlg::Known(k) => Some(*k),
                _ => None,
            })
            .collect();
        Hashers {
            multi: MultiHasher::new(&known),
            sha224: algs.contains(&HashAlg::Sha224).then(sha2::Sha224::new),
            sha384: algs.contains(&HashAlg::Sha384).then(sha2::Sha384::new),
        }
    }

    fn update(&mut self, data: &[u8]) {
        self.multi.update(data);
        if let Some(h) = &mut self.sha224 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha384 {
            h.update(data);
        }
    }

    fn finish(self) -> (BagDigests, u64) {
        let bytes = self.multi.bytes();
        let mut out: BagDigests = self
            .multi
            .finish()
            .into_iter()
            .map(|(a, d)| (HashAlg::Known(a), d))
            .collect();
        if let Some(h) = self.sha224 {
            out.insert(HashAlg::Sha224, hex::encode(h.finalize()));
        }
        if let Some(h) = self.sha384 {
            out.insert(HashAlg::Sha384, hex::encode(h.finalize()));
        }
        (out, bytes)
    }
}

/// Digests a reader with the given algorithms, streaming through `buf`.
pub(crate) fn digest_stream<R: Read>(
    mut reader: R,
    algs: &[HashAlg],
    buf: &mut [u8],
) -> io::Result<(BagDigests, u64)> {
    let mut h = Hashers::new(algs);
    loop {
        match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(h.finish())
}

/// A large file: when every algorithm is one strongroom keeps, each runs on its own thread
/// beside the reads (SHA-512 alone is slower than the disk); otherwise the plain pass.
fn digest_large(job: &Job, buf: &mut [u8]) -> io::Result<(BagDigests, u64)> {
    let known: Option<Vec<Algorithm>> = job
        .algs
        .iter()
        .map(|a| match a {
            HashAlg::Known(k) => Some(*k),
            _ => None,
        })
        .collect();
    match known {
        Some(algs) if algs.len() > 1 => {
            let (d, n) = digest_file_pipelined(&job.abs, &algs)?;
            Ok((
                d.into_iter().map(|(a, h)| (HashAlg::Known(a), h)).collect(),
                n,
            ))
        }
        _ => std::fs::File::open(&job.abs).and_then(|f| digest_stream(f, &job.algs, buf)),
    }
}

/// Number of workers for a requested count (0 = all cores).
pub(crate) fn worker_count(requested: usize, jobs: usize) -> usize {
    let n = if requested == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    };
    n.clamp(1, jobs.max(1))
}

/// Reads every job's file once on `threads` workers; outcomes come back in job order.
pub(crate) fn hash_all(mut jobs: Vec<Job>, threads: usize) -> Vec<Outcome> {
    // Largest first, so one big file does not start last and hold up the end.
    let sizes: Vec<u64> = jobs
        .iter()
        .map(|j| std::fs::symlink_metadata(&j.abs).map_or(0, |m| m.len()))
        .collect();
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let workers = worker_count(threads, jobs.len());
    let next = AtomicUsize::new(0);
    let jobs_ref = &jobs;
    let order_ref = &order;
    let sizes_ref = &sizes;
    let mut results: Vec<Option<io::Result<(BagDigests, u64)>>> =
        (0..jobs.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    let mut buf = vec![0u8; CHUNK];
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order_ref.get(k) else { break };
                        let job = &jobs_ref[i];
                        let r = if sizes_ref[i] >= PIPELINE_THRESHOLD {
                            digest_large(job, &mut buf)
                        } else {
                            std::fs::File::open(&job.abs)
                                .and_then(|f| digest_stream(f, &job.algs, &mut buf))
                        };
                        done.push((i, r));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            // A worker that panicked leaves its jobs unanswered; they are reported as I/O
            // failures below rather than taking the validator down.
            if let Ok(done) = h.join() {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        }
    });
    jobs.iter_mut()
        .zip(results)
        .map(|(job, r)| Outcome {
            rel: std::mem::take(&mut job.rel),
            result: r.unwrap_or_else(|| Err(io::Error::other("hashing worker failed"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            HashAlg::from_manifest_name("sha256"),
            Some(HashAlg::Known(Algorithm::Sha256))
        );
        assert_eq!(
            HashAlg::from_manifest_name("SHA-512"),
            Some(HashAlg::Known(Algorithm::Sha512))
        );
        assert_eq!(
            HashAlg::from_manifest_name("blake2b-512"),
            Some(HashAlg::Known(Algorithm::Blake2b512))
        );
        assert_eq!(HashAlg::from_manifest_name("sha224"), Some(HashAlg::Sha224));
        assert_eq!(HashAlg::from_manifest_name("crc32"), None);
        assert_eq!(
            HashAlg::Known(Algorithm::Blake2b512).manifest_name(),
            "blake2b512"
        );
    }

    #[test]
    fn extra_sha2() {
        let mut buf = vec![0u8; 7];
        let (d, n) = digest_stream(&b"abc"[..], &[HashAlg::Sha224, HashAlg::Sha384], &mut buf)
            .expect("in memory");
        assert_eq!(n, 3);
        assert_eq!(
            d[&HashAlg::Sha224],
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert!(d[&HashAlg::Sha384].starts_with("cb00753f45a35e8bb5a03d699ac65007"));
    }

    #[test]
    fn parallel_matches_serial() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut jobs = Vec::new();
        for i in 0..20 {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, vec![i as u8; i * 1000]).expect("write");
            jobs.push(Job {
                rel: format!("f{i}"),
                abs: p,
                algs: vec![
                    HashAlg::Known(Algorithm::Sha256),
                    HashAlg::Known(Algorithm::Md5),
                ],
            });
        }
        jobs.push(Job {
            rel: "missing".into(),
            abs: dir.path().join("missing"),
            algs: vec![HashAlg::Known(Algorithm::Sha256)],
        });
        let out = hash_all(jobs, 3);
        assert_eq!(out.len(), 21);
        for (i, o) in out.iter().take(20).enumerate() {
            assert_eq!(o.rel, format!("f{i}"));
            let (d, n) = o.result.as_ref().expect("hashed");
            assert_eq!(*n, (i * 1000) as u64);
            let (want, _) =
                crate::digest::digest_reader(&vec![i as u8; i * 1000][..], &[Algorithm::Sha256])
                    .expect("mem");
            assert_eq!(
                d[&HashAlg::Known(Algorithm::Sha256)],
                want[&Algorithm::Sha256]
            );
        }
        assert!(out[20].result.is_err());
    }
}
