//! STUB (replaced by h/package)
#![allow(missing_docs, unused)]
use crate::findings::Finding;
use std::path::Path;
#[derive(Debug, Clone)]
pub struct Registry;
#[derive(Debug, Clone)]
pub struct Identification {
    pub format_id: Option<String>,
    pub name: String,
    pub mime: String,
    pub preservation: bool,
    pub encrypted: bool,
    pub detail: Option<String>,
}
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("x")]
    X,
}
impl Registry {
    pub fn builtin() -> Registry {
        Registry
    }
    pub fn identify(&self, path: &Path) -> Result<Identification, Error> {
        Err(Error::X)
    }
}
pub fn check_usability(
    reg: &Registry,
    path: &Path,
    display_path: &str,
    record: &str,
) -> Vec<Finding> {
    vec![]
}
