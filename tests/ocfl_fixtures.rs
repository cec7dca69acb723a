//! The OCFL validator against the OCFL editors' fixtures (good, warn, bad objects), a small
//! storage root built in memory under layout 0003, and the 0003 mapping examples.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::Digest as _;
use strongroom::ocfl::layout::{
    extension_config_0003, layout_json_0003, object_root_0003, Layout0003,
};
use strongroom::ocfl::validate::{
    validate_local, validate_object, validate_storage_root, Options, ValidationReport,
};

fn conformance() -> PathBuf {
    if let Ok(p) = std::env::var("STRONGROOM_CONFORMANCE") {
        return PathBuf::from(p);
    }
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/conformance")
}

fn fixtures(kind: &str) -> Vec<(String, PathBuf)> {
    let dir = conformance().join("ocfl-fixtures/1.1").join(kind);
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    out.sort();
    out
}

/// Codes a fixture's name announces: the leading `E012_W004_…` tokens.
fn named_codes(name: &str) -> Vec<String> {
    name.split('_')
        .take_while(|t| {
            t.len() == 4
                && (t.starts_with('E') || t.starts_with('W'))
                && t[1..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

fn codes(r: &ValidationReport) -> String {
    let mut c: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
    c.sort();
    c.dedup();
    c.join(",")
}

fn table(rows: &[(String, String, ValidationReport)]) -> String {
    let mut s = String::new();
    for (kind, name, r) in rows {
        s.push_str(&format!("{kind:5} {name:50} [{}]\n", codes(r)));
        for f in &r.findings {
            s.push_str(&format!("        {f}\n"));
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_good_warn_bad() {
    let opts = Options::default();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut off_code = Vec::new();
    let mut counts = (0, 0, 0);
    for kind in ["good-objects", "warn-objects", "bad-objects"] {
        for (name, path) in fixtures(kind) {
            let r = validate_local(&path, &opts)
                .await
                .unwrap_or_else(|e| panic!("{name}: environment error {e:?}"));
            let errors = r.errors().count();
            let warnings = r.warnings().count();
            let named = named_codes(&name);
            match kind {
                "good-objects" => {
                    counts.0 += 1;
                    if !r.findings.is_empty() {
                        failures.push(format!("good {name}: expected no findings"));
                    }
                }
                "warn-objects" => {
                    counts.1 += 1;
                    if errors > 0 || warnings == 0 {
                        failures.push(format!("warn {name}: expected warnings only"));
                    }
                    for c in &named {
                        if !r.has_code(c) {
                            off_code.push(format!("warn {name}: {c} not reported"));
                        }
                    }
                }
                _ => {
                    counts.2 += 1;
                    if errors == 0 {
                        failures.push(format!("bad {name}: accepted"));
                    }
                    if !named.iter().any(|c| r.has_code(c)) {
                        off_code.push(format!("bad {name}: got [{}], named {named:?}", codes(&r)));
                    }
                }
            }
            rows.push((kind.split('-').next().unwrap_or(kind).to_string(), name, r));
        }
    }
    println!("{}", table(&rows));
    println!(
        "fixtures: {} good, {} warn, {} bad; named code not reported for {}:",
        counts.0,
        counts.1,
        counts.2,
        off_code.len()
    );
    for o in &off_code {
        println!("  {o}");
    }
    assert_eq!(counts, (12, 13, 55), "fixture counts changed");
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        table(&rows)
    );
    // Every warn fixture's named warning is reported; the bad ones may differ in code only.
    assert!(
        off_code.iter().all(|o| o.starts_with("bad ")),
        "{}",
        off_code.join("\n")
    );
}

#[tokio::test]
async fn digests_skipped_when_asked() {
    let path =
        conformance().join("ocfl-fixtures/1.1/bad-objects/E092_content_file_digest_mismatch");
    let full = validate_local(&path, &Options::default())
        .await
        .expect("validate");
    assert!(full.has_code("E092"));
    assert!(full.files_checked > 0 && full.bytes_checked > 0);
    let quick = validate_local(
        &path,
        &Options {
            check_digests: false,
            concurrency: 1,
            progress: None,
        },
    )
    .await
    .expect("validate");
    assert!(quick.is_valid(), "{:?}", quick.findings);
    assert_eq!(quick.files_checked, 0);
}

#[test]
fn layout_0003_examples() {
    // The extension's own examples (default parameters).
    assert_eq!(object_root_0003("object-01"), "3c0/ff4/240/object-01");
    assert_eq!(
        object_root_0003("..hor/rib:le-$id"),
        "487/326/d8c/%2e%2ehor%2frib%3ale-%24id"
    );
    assert_eq!(
        object_root_0003("..Hor/rib:lè-$id"),
        "373/529/21a/%2e%2eHor%2frib%3al%c3%a8-%24id"
    );
    let long = "abcdefghij".repeat(26);
    assert_eq!(
        object_root_0003(&long),
        format!(
            "55b/432/806/{}-55b432806f4e270da0cf23815ed338742179002153cd8d896f23b3e2d8a14359",
            "abcdefghij".repeat(10)
        )
    );
    let long101 = format!("{}a", "abcdefghij".repeat(10));
    assert_eq!(
        object_root_0003(&long101),
        format!(
            "5cc/73e/648/{}-5cc73e648fbcff136510e330871180922ddacf193b68fdeff855683a01464220",
            "abcdefghij".repeat(10)
        )
    );
    // Exactly 100 encoded characters are kept whole.
    let hundred = "abcdefghij".repeat(10);
    assert!(object_root_0003(&hundred).ends_with(&format!("/{hundred}")));
    // Other parameters, from the extension's examples and its Python tests.
    let cfg = |alg: &str, t: u64, n: u64| {
        Layout0003::from_config(&serde_json::json!({
            "extensionName": "0003-hash-and-id-n-tuple-storage-layout",
            "digestAlgorithm": alg, "tupleSize": t, "numberOfTuples": n
        }))
        .expect("valid config")
    };
    assert_eq!(
        cfg("md5", 2, 15).object_root("object-01"),
        "ff/75/53/44/92/48/5e/ab/b3/9f/86/35/67/28/88/object-01"
    );
    assert_eq!(
        cfg("md5", 2, 15).object_root("..hor/rib:le-$id"),
        "08/31/97/66/fb/6c/29/35/dd/17/5b/94/26/77/17/%2e%2ehor%2frib%3ale-%24id"
    );
    assert_eq!(
        cfg("md5", 3, 3).object_root("object-01"),
        "ff7/553/449/object-01"
    );
    assert_eq!(
        cfg("md5", 5, 2).object_root("object-01"),
        "ff755/34492/object-01"
    );
    assert_eq!(cfg("sha256", 0, 0).object_root("object-01"), "object-01");
    assert_eq!(
        cfg("md5", 3, 3).object_root("..hor/rib:le-$id"),
        "083/197/66f/%2e%2ehor%2frib%3ale-%24id"
    );
    // Bad configurations are refused, not mapped.
    assert!(
        Layout0003::from_config(&serde_json::json!({"tupleSize": 0, "numberOfTuples": 3})).is_err()
    );
    assert!(Layout0003::from_config(&serde_json::json!({"tupleSize": 33})).is_err());
    assert!(
        Layout0003::from_config(&serde_json::json!({"tupleSize": 32, "numberOfTuples": 3}))
            .is_err()
    );
    assert_eq!(
        Layout0003::from_config(&extension_config_0003()).expect("ours"),
        Layout0003::default()
    );
    assert_eq!(
        layout_json_0003()["extension"],
        "0003-hash-and-id-n-tuple-storage-layout"
    );
}

fn sha512_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(b))
}

/// Writes a one-version, one-file object with the given id and OCFL version at `root`.
async fn put_object(store: &dyn ObjectStore, root: &str, id: &str, spec: &str) {
    let content = b"hello, archive\n";
    let d = sha512_hex(content);
    let inv = serde_json::json!({
        "id": id,
        "type": format!("https://ocfl.io/{spec}/spec/#inventory"),
        "digestAlgorithm": "sha512",
        "head": "v1",
        "manifest": { d.clone(): ["v1/content/a.txt"] },
        "versions": { "v1": {
            "created": "2026-01-02T03:04:05Z",
            "message": "ingest",
            "user": { "name": "archivist", "address": "mailto:a@example.org" },
            "state": { d: ["a.txt"] }
        }}
    });
    let inv = serde_json::to_vec_pretty(&inv).expect("json");
    let side = format!("{} inventory.json\n", sha512_hex(&inv));
    let put = |rel: String, bytes: Vec<u8>| async move {
        store
            .put(&Path::parse(&rel).expect("path"), PutPayload::from(bytes))
            .await
            .expect("put");
    };
    put(
        format!("{root}/0=ocfl_object_{spec}"),
        format!("ocfl_object_{spec}\n").into_bytes(),
    )
    .await;
    for dir in ["", "/v1"] {
        put(format!("{root}{dir}/inventory.json"), inv.clone()).await;
        put(
            format!("{root}{dir}/inventory.json.sha512"),
            side.clone().into_bytes(),
        )
        .await;
    }
    put(format!("{root}/v1/content/a.txt"), content.to_vec()).await;
}

async fn put_root(store: &dyn ObjectStore) {
    for (rel, bytes) in [
        ("ocfl/0=ocfl_1.1", b"ocfl_1.1\n".to_vec()),
        (
            "ocfl/ocfl_layout.json",
            serde_json::to_vec(&layout_json_0003()).expect("json"),
        ),
        (
            "ocfl/extensions/0003-hash-and-id-n-tuple-storage-layout/config.json",
            serde_json::to_vec(&extension_config_0003()).expect("json"),
        ),
    ] {
        store
            .put(&Path::parse(rel).expect("path"), PutPayload::from(bytes))
            .await
            .expect("put");
    }
}

#[tokio::test]
async fn storage_root_in_memory() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let root = Path::parse("ocfl").expect("path");
    put_root(store.as_ref()).await;
    let id = "info:strongroom/0194-WS·2016-D30-BGS-0001";
    let at = object_root_0003(id);
    put_object(store.as_ref(), &format!("ocfl/{at}"), id, "1.1").await;
    // A 1.0 object may sit in a 1.1 storage root.
    let old = "urn:example:old-1.0";
    put_object(
        store.as_ref(),
        &format!("ocfl/{}", object_root_0003(old)),
        old,
        "1.0",
    )
    .await;

    let r = validate_storage_root(store.as_ref(), &root, &Options::default())
        .await
        .expect("validate");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.objects_checked, 2);
    assert_eq!(r.files_checked, 2);

    // The object alone validates too.
    let obj = Path::parse(format!("ocfl/{at}")).expect("path");
    let r = validate_object(store.as_ref(), &obj, &Options::default())
        .await
        .expect("validate");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);

    // An object at a path its id does not map to, a stray file inside the hierarchy, and an
    // unknown top-level file (ignored, as E087 requires).
    put_object(
        store.as_ref(),
        "ocfl/aaa/bbb/ccc/misplaced",
        "misplaced",
        "1.1",
    )
    .await;
    for rel in [
        format!("ocfl/{}/stray.txt", &at[..3]),
        "ocfl/notes.txt".to_string(),
        "ocfl/loose/file.bin".to_string(),
    ] {
        store
            .put(
                &Path::parse(&rel).expect("path"),
                PutPayload::from_static(b"x"),
            )
            .await
            .expect("put");
    }
    let r = validate_storage_root(store.as_ref(), &root, &Options::default())
        .await
        .expect("validate");
    let shown: Vec<String> = r.findings.iter().map(|f| f.to_string()).collect();
    assert!(!r.is_valid());
    assert_eq!(r.objects_checked, 3);
    let has = |code: &str, path: &str| {
        r.findings.iter().any(|f| {
            f.code == code
                && f.to_string()
                    .split(':')
                    .next()
                    .is_some_and(|loc| loc.ends_with(path))
        })
    };
    assert!(has("E083", "aaa/bbb/ccc/misplaced"), "{shown:#?}");
    assert!(has("E084", "stray.txt"), "{shown:#?}");
    assert!(has("E072", "loose/file.bin"), "{shown:#?}");
    assert!(!shown.iter().any(|s| s.contains("notes.txt")), "{shown:#?}");
    assert_eq!(r.errors().count(), 3, "{shown:#?}");

    // A damaged byte is found; a missing declaration is reported.
    store
        .put(
            &Path::parse(format!("ocfl/{at}/v1/content/a.txt")).expect("path"),
            PutPayload::from_static(b"tampered\n"),
        )
        .await
        .expect("put");
    store
        .delete(&Path::parse("ocfl/0=ocfl_1.1").expect("path"))
        .await
        .expect("delete");
    let r = validate_storage_root(store.as_ref(), &root, &Options::default())
        .await
        .expect("validate");
    assert!(
        r.has_code("E092") && r.has_code("E069"),
        "{:#?}",
        r.findings
    );
}

#[tokio::test]
async fn nested_object_rejected() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    put_root(store.as_ref()).await;
    let id = "outer";
    let at = format!("ocfl/{}", object_root_0003(id));
    put_object(store.as_ref(), &at, id, "1.1").await;
    put_object(store.as_ref(), &format!("{at}/inner"), "inner", "1.1").await;
    let r = validate_storage_root(
        store.as_ref(),
        &Path::parse("ocfl").expect("path"),
        &Options::default(),
    )
    .await
    .expect("validate");
    assert!(r.has_code("E082"), "{:#?}", r.findings);
    assert!(r.has_code("E001"), "{:#?}", r.findings);
}

#[tokio::test]
async fn storage_root_on_local_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn ObjectStore> = Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("local store"),
    );
    put_root(store.as_ref()).await;
    // Percent signs and colons in the 0003 directory name must survive the file system.
    let id = "info:strongroom/0194-WS·2016-D30-BGS-0001";
    put_object(
        store.as_ref(),
        &format!("ocfl/{}", object_root_0003(id)),
        id,
        "1.1",
    )
    .await;
    assert!(object_root_0003(id).contains("%3a"));
    let r = validate_local(&dir.path().join("ocfl"), &Options::default())
        .await
        .expect("validate");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!((r.objects_checked, r.files_checked), (1, 1));
    // The object directory alone is detected as an object.
    let obj = dir.path().join("ocfl").join(object_root_0003(id));
    let r = validate_local(&obj, &Options::default())
        .await
        .expect("validate");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.objects_checked, 1);
}

#[tokio::test]
async fn newer_object_in_older_root_and_duplicate_ids() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    store
        .put(
            &Path::parse("r/0=ocfl_1.0").expect("path"),
            PutPayload::from_static(b"ocfl_1.0\n"),
        )
        .await
        .expect("put");
    put_object(store.as_ref(), "r/a", "urn:x:1", "1.1").await;
    put_object(store.as_ref(), "r/b", "urn:x:1", "1.0").await;
    let r = validate_storage_root(
        store.as_ref(),
        &Path::parse("r").expect("path"),
        &Options::default(),
    )
    .await
    .expect("validate");
    assert!(r.has_code("E081"), "{:#?}", r.findings);
    assert!(r.has_code("E037"), "{:#?}", r.findings);
    assert_eq!(r.errors().count(), 2, "{:#?}", r.findings);
}

/// Every top-level inventory field replaced by every JSON type: findings, never a panic or
/// an environment error, and never a valid verdict.
#[tokio::test]
async fn malformed_inventory_fields_are_findings() {
    let keys = [
        "id",
        "type",
        "digestAlgorithm",
        "head",
        "contentDirectory",
        "manifest",
        "versions",
        "fixity",
    ];
    let values = [
        serde_json::json!(null),
        serde_json::json!(7),
        serde_json::json!("v1"),
        serde_json::json!([]),
        serde_json::json!(["a", 1]),
        serde_json::json!({}),
        serde_json::json!({"v1": {"created": 1, "state": {"x": "y"}}}),
        serde_json::json!({"abc": ["v1/content/a.txt", null]}),
    ];
    for key in keys {
        for value in &values {
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            put_object(store.as_ref(), "o", "urn:x:1", "1.1").await;
            let inv_path = Path::parse("o/inventory.json").expect("path");
            let bytes = store
                .get(&inv_path)
                .await
                .expect("get")
                .bytes()
                .await
                .expect("bytes");
            let mut inv: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            inv[key] = value.clone();
            let new = serde_json::to_vec(&inv).expect("json");
            let side = format!("{} inventory.json\n", sha512_hex(&new));
            store
                .put(&inv_path, PutPayload::from(new))
                .await
                .expect("put");
            store
                .put(
                    &Path::parse("o/inventory.json.sha512").expect("path"),
                    PutPayload::from(side.into_bytes()),
                )
                .await
                .expect("put");
            let r = validate_object(
                store.as_ref(),
                &Path::parse("o").expect("path"),
                &Options::default(),
            )
            .await
            .expect("no environment error");
            // Only a contentDirectory of "v1" leaves the object valid in structure, but then
            // the content sits outside it.
            assert!(!r.is_valid(), "{key} = {value}: accepted");
        }
    }
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Large content is streamed: validating 3 × 48 MiB files leaves the peak memory far below
/// their size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_stream_in_bounded_memory() {
    const SIZE: usize = 48 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut manifest = serde_json::Map::new();
    let mut state = serde_json::Map::new();
    std::fs::create_dir_all(root.join("v1/content")).expect("mkdir");
    for i in 0..3u8 {
        let name = format!("big-{i}.bin");
        let mut hasher = sha2::Sha512::new();
        {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(root.join("v1/content").join(&name)).expect("create"),
            );
            let block = vec![i; 1 << 20];
            for _ in 0..SIZE >> 20 {
                f.write_all(&block).expect("write");
                hasher.update(&block);
            }
        }
        let d = hex::encode(hasher.finalize());
        manifest.insert(d.clone(), serde_json::json!([format!("v1/content/{name}")]));
        state.insert(d, serde_json::json!([name]));
    }
    let inv = serde_json::to_vec(&serde_json::json!({
        "id": "urn:x:big", "type": "https://ocfl.io/1.1/spec/#inventory",
        "digestAlgorithm": "sha512", "head": "v1", "manifest": manifest,
        "versions": {"v1": {"created": "2026-01-01T00:00:00Z", "message": "m",
            "user": {"name": "n", "address": "mailto:n@example.org"}, "state": state}}
    }))
    .expect("json");
    let side = format!("{} inventory.json\n", sha512_hex(&inv));
    std::fs::write(root.join("0=ocfl_object_1.1"), "ocfl_object_1.1\n").expect("write");
    for d in [root.to_path_buf(), root.join("v1")] {
        std::fs::write(d.join("inventory.json"), &inv).expect("write");
        std::fs::write(d.join("inventory.json.sha512"), &side).expect("write");
    }
    let before = peak_rss_kib();
    let r = validate_local(root, &Options::default())
        .await
        .expect("validate");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.files_checked, 3);
    assert_eq!(r.bytes_checked, 3 * SIZE as u64);
    if let (Some(b), Some(a)) = (before, peak_rss_kib()) {
        assert!(
            a.saturating_sub(b) < 40 << 10,
            "peak RSS grew by {} KiB",
            a - b
        );
    }
}
