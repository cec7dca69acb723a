//! STUB (replaced by h/package)
#![allow(missing_docs, unused)]
use crate::findings::Finding;
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub max_total_bytes: u64,
    pub max_files: u64,
    pub max_path_bytes: usize,
    pub max_ratio: u64,
    pub max_depth: usize,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageKind {
    Directory,
    Tar,
    TarZstd,
    Zip,
}
#[derive(Debug)]
pub struct Unpacked {
    pub root: PathBuf,
    pub kind: PackageKind,
    pub findings: Vec<Finding>,
    pub bytes: u64,
    pub files: u64,
}
impl Unpacked {
    pub fn is_safe(&self) -> bool {
        true
    }
}
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("x")]
    X,
}
pub fn open(package: &Path, staging_parent: &Path, limits: &Limits) -> Result<Unpacked, Error> {
    Err(Error::X)
}
pub fn virus_scan(root: &Path, command: &str) -> Result<Vec<Finding>, Error> {
    Ok(vec![])
}
