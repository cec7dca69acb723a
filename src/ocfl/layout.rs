//! placeholder until the h/ocflval merge
/// placeholder
pub fn object_root_0003(object_id: &str) -> String {
    let d = hex::encode(ring::digest::digest(&ring::digest::SHA256, object_id.as_bytes()).as_ref());
    format!(
        "{}/{}/{}/{}",
        &d[0..3],
        &d[3..6],
        &d[6..9],
        object_id.replace(':', "%3a")
    )
}
/// placeholder
pub fn layout_json_0003() -> serde_json::Value {
    serde_json::json!({"extension":"0003-hash-and-id-n-tuple-storage-layout","description":"Hashed Truncated N-tuple Trees with Object ID Encapsulating Directory for OCFL Storage Hierarchies"})
}
/// placeholder
pub fn extension_config_0003() -> serde_json::Value {
    serde_json::json!({"extensionName":"0003-hash-and-id-n-tuple-storage-layout","digestAlgorithm":"sha256","tupleSize":3,"numberOfTuples":3})
}
