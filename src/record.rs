//! STUB (replaced by h/sign)
#![allow(missing_docs, unused)]
use crate::findings::Finding;
use crate::refcode::RefCode;
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileRole {
    Main,
    Attachment,
    Seal,
    Evidence,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordFile {
    pub path: String,
    pub order: u32,
    pub role: FileRole,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Classification {
    #[serde(rename = "公开")]
    Public,
    #[serde(rename = "内部")]
    Internal,
    #[serde(rename = "限制")]
    Restricted,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordMetadata {
    pub reference_code: RefCode,
    pub title: String,
    pub creator: String,
    pub date: String,
    pub retention: String,
    pub fonds: String,
    pub category: String,
    pub year: u16,
    pub organization: String,
    pub item_number: u32,
    pub classification: Classification,
    pub files: Vec<RecordFile>,
    pub case_number: Option<String>,
    pub document_number: Option<String>,
    pub closed_date: Option<String>,
    pub keywords: Vec<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
pub fn check_record_json(bytes: &[u8], folder: &str) -> (Option<RecordMetadata>, Vec<Finding>) {
    (None, vec![])
}
