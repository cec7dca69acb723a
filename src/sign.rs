//! STUB (replaced by h/sign)
#![allow(missing_docs, unused)]
use serde::Serialize;
use std::path::Path;
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("x")]
    X,
}
pub fn canonical_json<T: Serialize>(doc: &T) -> Result<String, Error> {
    Err(Error::X)
}
#[derive(Debug)]
pub struct ArchiveKey;
impl ArchiveKey {
    pub fn generate(name: &str) -> Result<ArchiveKey, Error> {
        Err(Error::X)
    }
    pub fn name(&self) -> &str {
        ""
    }
    pub fn verifier_key(&self) -> String {
        String::new()
    }
    pub fn private_key_string(&self) -> String {
        String::new()
    }
    pub fn from_private_key_string(s: &str) -> Result<ArchiveKey, Error> {
        Err(Error::X)
    }
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        Ok(())
    }
    pub fn load(dir: &Path) -> Result<ArchiveKey, Error> {
        Err(Error::X)
    }
    pub fn sign_note(&self, text: &str) -> Result<String, Error> {
        Err(Error::X)
    }
    pub fn sign_document<T: Serialize>(&self, doc: &T) -> Result<String, Error> {
        Err(Error::X)
    }
}
#[derive(Debug)]
pub struct Verifier;
impl Verifier {
    pub fn from_verifier_key(s: &str) -> Result<Verifier, Error> {
        Err(Error::X)
    }
    pub fn name(&self) -> &str {
        ""
    }
}
pub fn verify_note(note: &str, verifier: &Verifier) -> Result<String, Error> {
    Err(Error::X)
}
pub fn verify_document(note: &str, verifier: &Verifier) -> Result<serde_json::Value, Error> {
    Err(Error::X)
}
