//! STUB (replaced by h/sign)
#![allow(missing_docs, unused)]
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RefCode(String);
#[derive(Debug, thiserror::Error)]
pub enum RefCodeError {
    #[error("x")]
    X,
}
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub fonds: String,
    pub category: String,
    pub year: u16,
    pub retention: String,
    pub organization: String,
}
impl std::fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}
impl std::fmt::Display for RefCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::str::FromStr for RefCode {
    type Err = RefCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RefCode::parse(s)
    }
}
impl RefCode {
    pub fn parse(s: &str) -> Result<RefCode, RefCodeError> {
        Ok(RefCode(s.into()))
    }
    pub fn fonds(&self) -> &str {
        ""
    }
    pub fn category(&self) -> &str {
        ""
    }
    pub fn year(&self) -> u16 {
        0
    }
    pub fn retention(&self) -> &str {
        ""
    }
    pub fn organization(&self) -> &str {
        ""
    }
    pub fn item_number(&self) -> u32 {
        0
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn series(&self) -> SeriesKey {
        todo!()
    }
}
