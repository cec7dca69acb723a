//! Creating a BagIt 1.0 bag around a folder that already holds its payload in `data/`.
//!
//! Writes only new tag files (create-only: an existing `bagit.txt` or manifest is an error,
//! never overwritten) and never touches the payload.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::hash::{hash_all, HashAlg, Job};
use super::text::percent_encode;
use super::Error;
use crate::digest::Algorithm;

/// Makes `dir` a BagIt 1.0 bag: `dir/data/` must already hold the payload.
///
/// Writes `bagit.txt` (1.0, UTF-8), `manifest-<alg>.txt` for each algorithm, `bag-info.txt`
/// holding `info` in order plus `Payload-Oxum` and (unless given) `Bagging-Date`, and
/// `tagmanifest-<alg>.txt` over every tag file. Paths are percent-encoded for CR, LF and `%`
/// as RFC 8493 §2.1.3 requires. Every written file is fsynced.
pub fn create_bag(dir: &Path, info: &[(String, String)], algs: &[Algorithm]) -> Result<(), Error> {
    let mut algs: Vec<Algorithm> = algs.to_vec();
    algs.sort();
    algs.dedup();
    if algs.is_empty() {
        return Err(Error::NoAlgorithms);
    }
    for (label, value) in info {
        check_element(label, value)?;
        if label.eq_ignore_ascii_case("Payload-Oxum") {
            return Err(Error::InvalidInfo {
                label: label.clone(),
                reason: "is computed from the payload and cannot be given",
            });
        }
    }
    let data = dir.join("data");
    if !std::fs::symlink_metadata(&data).is_ok_and(|m| m.is_dir()) {
        return Err(Error::NoPayloadDir(dir.to_path_buf()));
    }
    let files = list_payload(dir, &data)?;
    let hash_algs: Vec<HashAlg> = algs.iter().map(|a| HashAlg::Known(*a)).collect();
    let jobs = files
        .iter()
        .map(|rel| Job {
            rel: rel.clone(),
            abs: dir.join(rel),
            algs: hash_algs.clone(),
        })
        .collect();
    let mut rows = Vec::with_capacity(files.len());
    let (mut octets, mut streams) = (0u64, 0u64);
    for o in hash_all(jobs, 0) {
        let (digests, n) = o.result.map_err(|source| Error::Io {
            path: dir.join(&o.rel),
            source,
        })?;
        octets += n;
        streams += 1;
        rows.push((o.rel, digests));
    }

    write_new(
        dir,
        "bagit.txt",
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
    )?;
    for alg in &hash_algs {
        let mut body = String::new();
        for (rel, digests) in &rows {
            if let Some(d) = digests.get(alg) {
                body.push_str(&format!("{d}  {}\n", percent_encode(rel)));
            }
        }
        write_new(
            dir,
            &format!("manifest-{}.txt", alg.manifest_name()),
            body.as_bytes(),
        )?;
    }
    let mut body = String::new();
    for (label, value) in info {
        body.push_str(&format!("{label}: {value}\n"));
    }
    if !info
        .iter()
        .any(|(l, _)| l.eq_ignore_ascii_case("Bagging-Date"))
    {
        body.push_str(&format!(
            "Bagging-Date: {}\n",
            chrono::Utc::now().format("%Y-%m-%d")
        ));
    }
    body.push_str(&format!("Payload-Oxum: {octets}.{streams}\n"));
    write_new(dir, "bag-info.txt", body.as_bytes())?;

    // Tag manifests cover every tag file now present, except tag manifests themselves.
    let tags = list_tags(dir)?;
    let jobs = tags
        .iter()
        .map(|rel| Job {
            rel: rel.clone(),
            abs: dir.join(rel),
            algs: hash_algs.clone(),
        })
        .collect();
    let mut tag_rows = Vec::new();
    for o in hash_all(jobs, 0) {
        let (digests, _) = o.result.map_err(|source| Error::Io {
            path: dir.join(&o.rel),
            source,
        })?;
        tag_rows.push((o.rel, digests));
    }
    for alg in &hash_algs {
        let mut body = String::new();
        for (rel, digests) in &tag_rows {
            if let Some(d) = digests.get(alg) {
                body.push_str(&format!("{d}  {}\n", percent_encode(rel)));
            }
        }
        write_new(
            dir,
            &format!("tagmanifest-{}.txt", alg.manifest_name()),
            body.as_bytes(),
        )?;
    }
    sync_dir(dir)
}

/// RFC 8493 §2.2.2: a label without colon, CR, LF or surrounding whitespace; a value on one
/// line (folding is not written, so that the value reads back exactly).
fn check_element(label: &str, value: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidInfo {
            label: label.to_string(),
            reason,
        })
    };
    if label.is_empty() {
        return bad("label is empty");
    }
    if label.contains([':', '\r', '\n']) {
        return bad("label contains a colon or a line break");
    }
    if label.trim() != label {
        return bad("label starts or ends with whitespace");
    }
    if value.contains(['\r', '\n']) {
        return bad("value contains a line break");
    }
    if value.trim() != value {
        return bad("value starts or ends with whitespace, which would not read back");
    }
    Ok(())
}

fn walk_err(e: walkdir::Error, fallback: &Path) -> Error {
    let path = e
        .path()
        .map_or_else(|| fallback.to_path_buf(), Path::to_path_buf);
    let source = e
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("file system loop"));
    Error::Io { path, source }
}

fn rel_string(dir: &Path, p: &Path) -> Result<String, Error> {
    let rel = p
        .strip_prefix(dir)
        .map_err(|_| Error::NonUtf8Path(p.to_path_buf()))?;
    let mut parts = Vec::new();
    for c in rel.components() {
        parts.push(
            c.as_os_str()
                .to_str()
                .ok_or_else(|| Error::NonUtf8Path(p.to_path_buf()))?,
        );
    }
    Ok(parts.join("/"))
}

/// Every regular file under `data/`, sorted; links and special files are refused.
fn list_payload(dir: &Path, data: &Path) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(data)
        .follow_links(false)
        .sort_by_file_name()
    {
        let e = e.map_err(|e| walk_err(e, data))?;
        let ft = e.file_type();
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            return Err(Error::NotRegular(e.path().to_path_buf()));
        }
        out.push(rel_string(dir, e.path())?);
    }
    out.sort();
    Ok(out)
}

/// Every regular file outside `data/` except tag manifests, sorted.
fn list_tags(dir: &Path) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !(e.depth() == 1 && e.file_name() == "data"));
    for e in walker {
        let e = e.map_err(|e| walk_err(e, dir))?;
        let ft = e.file_type();
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            return Err(Error::NotRegular(e.path().to_path_buf()));
        }
        let rel = rel_string(dir, e.path())?;
        let is_tag_manifest = rel.starts_with("tagmanifest-") && !rel.contains('/');
        if !is_tag_manifest {
            out.push(rel);
        }
    }
    out.sort();
    Ok(out)
}

/// Create-only write, then fsync: a bag's tag files are never rewritten in place.
fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let path: PathBuf = dir.join(name);
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let mut f = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists(path))
        }
        Err(e) => return Err(io(e)),
    };
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })
}
