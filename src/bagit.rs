//! STUB (replaced by h/bagit)
#![allow(missing_docs, unused)]
use crate::digest::{Algorithm, Digests};
use crate::findings::Finding;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    pub also_compute: Vec<Algorithm>,
    pub threads: usize,
}
#[derive(Debug, Clone)]
pub struct PayloadFile {
    pub path: String,
    pub size: u64,
    pub computed: Digests,
    pub declared: BTreeMap<Algorithm, String>,
}
#[derive(Debug, Clone)]
pub struct Bag {
    pub root: PathBuf,
    pub version: String,
    pub encoding: String,
    pub info: Vec<(String, String)>,
    pub manifest_algorithms: Vec<Algorithm>,
    pub tag_manifest_algorithms: Vec<Algorithm>,
    pub has_fetch: bool,
    pub payload: Vec<PayloadFile>,
}
impl Bag {
    pub fn info_value(&self, key: &str) -> Option<&str> {
        None
    }
    pub fn info_values(&self, key: &str) -> Vec<&str> {
        vec![]
    }
}
#[derive(Debug, Clone)]
pub struct BagReport {
    pub findings: Vec<Finding>,
    pub bag: Option<Bag>,
}
impl BagReport {
    pub fn is_valid(&self) -> bool {
        true
    }
}
pub fn validate(dir: &Path, opts: &ValidateOptions) -> BagReport {
    BagReport {
        findings: vec![],
        bag: None,
    }
}
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("x")]
    X,
}
pub fn create_bag(dir: &Path, info: &[(String, String)], algs: &[Algorithm]) -> Result<(), Error> {
    Ok(())
}
