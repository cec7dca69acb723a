//! One conformance suite for every storage backend: the same cases against `memory://` and
//! `file://` (and, when the scale issue lands, `s3://`).

mod common;

use common::backends;

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStoreExt;
use strongroom::ledger::commit::LedgerBatch;
use strongroom::ledger::log::Ledger;
use strongroom::ocfl::inventory::{Inventory, NewFile, User};
use strongroom::sign::ArchiveKey;
use strongroom::store::{
    self, ledger_marker, ArchiveInfo, CommitPlan, FileSource, Intent, StagedFile, Store,
    StoreError, VersionWrite, WriterLock,
};

fn info() -> ArchiveInfo {
    ArchiveInfo {
        kind: "strongroom-archive".into(),
        format_version: 1,
        created: "2026-01-01T00:00:00Z".into(),
        key_name: "t".into(),
        verifier_key: "t+00000000+AA".into(),
    }
}

fn digests(b: &[u8]) -> (String, String) {
    let (d, _) = strongroom::digest::digest_reader(
        b,
        &[
            strongroom::digest::Algorithm::Sha256,
            strongroom::digest::Algorithm::Sha512,
        ],
    )
    .expect("digest");
    (
        d[&strongroom::digest::Algorithm::Sha256].clone(),
        d[&strongroom::digest::Algorithm::Sha512].clone(),
    )
}

/// Commits `writes` with one ledger entry as the commit point.
async fn commit(
    s: &Store,
    key: &ArchiveKey,
    lock: &WriterLock,
    writes: &[VersionWrite],
) -> Result<(), StoreError> {
    let ledger = Ledger::new(s.clone(), "test");
    let first = s.ledger_size().await?;
    let plan = CommitPlan {
        ledger_first: first,
        ledger_count: 1,
        after_commit: vec![],
    };
    let entry = Bytes::from(format!("{{\"test\":{first}}}"));
    let batch = LedgerBatch::new(&ledger, key, vec![entry]);
    s.commit(lock, plan, writes, &|_| {}, &batch).await
}

fn key() -> ArchiveKey {
    ArchiveKey::generate("test").expect("key")
}

/// A version of object `root` whose logical state is `files`, committed by ledger entry
/// `index`.
fn version(
    root: &Path,
    previous: Option<&Inventory>,
    index: u64,
    files: &[(&str, &[u8])],
) -> VersionWrite {
    let new: Vec<NewFile> = files
        .iter()
        .map(|(p, b)| {
            let (s256, s512) = digests(b);
            NewFile {
                logical_path: p.to_string(),
                sha512: s512,
                sha256: s256,
            }
        })
        .collect();
    let (inventory, to_write) = Inventory::next_version(
        previous,
        "urn:test:1",
        &new,
        "2026-01-01T00:00:00Z".into(),
        format!("test {}", ledger_marker(index)),
        User {
            name: "t".into(),
            address: None,
        },
    );
    let staged = to_write
        .into_iter()
        .map(|(cp, nf)| {
            let b = files
                .iter()
                .find(|(p, _)| *p == nf.logical_path)
                .map(|(_, b)| Bytes::copy_from_slice(b))
                .expect("file");
            StagedFile {
                content_path: cp,
                size: b.len() as u64,
                source: FileSource::Bytes(b),
            }
        })
        .collect();
    VersionWrite {
        object_root: root.clone(),
        previous: previous.cloned(),
        inventory,
        files: staged,
    }
}

#[tokio::test]
async fn create_only_puts_never_overwrite() {
    for (name, s, _d) in backends() {
        s.init(&info()).await.expect("init");
        assert!(
            matches!(s.init(&info()).await, Err(StoreError::AlreadyExists { .. })),
            "{name}: init twice"
        );
        let p = Path::from("x/y.txt");
        s.put_create(&p, Bytes::from_static(b"one"))
            .await
            .expect("put");
        let again = s.put_create(&p, Bytes::from_static(b"two")).await;
        assert!(
            matches!(again, Err(StoreError::AlreadyExists { .. })),
            "{name}"
        );
        assert_eq!(
            s.get_bytes(&p).await.expect("get").as_deref(),
            Some(&b"one"[..]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn versions_commit_and_uncommitted_ones_are_invisible() {
    let key = key();
    for (name, s, _d) in backends() {
        s.init(&info()).await.expect("init");
        let lock = s.lock_writer("t").await.expect("lock");
        let root = store::join(&s.ocfl_root(), "obj1");
        let v1 = version(&root, None, 0, &[("a.txt", b"alpha"), ("b.txt", b"beta")]);
        commit(&s, &key, &lock, std::slice::from_ref(&v1))
            .await
            .expect("commit v1");
        assert_eq!(s.ledger_size().await.expect("size"), 1, "{name}");
        let inv = s
            .committed_inventory(&root, 1)
            .await
            .expect("read")
            .expect("committed");
        assert_eq!(inv.head, "v1", "{name}");

        // Writing v1 of a stored object again is refused before anything is written, and
        // changes nothing (a rollback would otherwise remove the committed object).
        let again = commit(
            &s,
            &key,
            &lock,
            &[version(&root, None, 1, &[("a.txt", b"x")])],
        )
        .await;
        assert!(
            matches!(again, Err(StoreError::AlreadyExists { .. })),
            "{name}: {again:?}"
        );
        assert_eq!(
            s.committed_inventory(&root, 1).await.expect("read"),
            Some(inv.clone()),
            "{name}: untouched"
        );

        // v2 changes one file; unchanged content is not stored again.
        let v2 = version(
            &root,
            Some(&inv),
            1,
            &[("a.txt", b"alpha"), ("b.txt", b"BETA")],
        );
        assert_eq!(
            v2.files.len(),
            1,
            "{name}: only the changed file is written"
        );
        commit(&s, &key, &lock, &[v2]).await.expect("commit v2");
        let inv2 = s
            .committed_inventory(&root, 2)
            .await
            .expect("read")
            .expect("committed");
        assert_eq!(inv2.head, "v2", "{name}");
        // A reader whose horizon predates entry 1 sees v1.
        let old = s.committed_inventory(&root, 1).await.expect("read");
        assert_eq!(old.map(|i| i.head).as_deref(), Some("v1"), "{name}");

        // A v3 written but never committed (a crash before its ledger entry) is invisible,
        // and recovery removes it, restoring v2 as the root inventory.
        let v3 = version(&root, Some(&inv2), 2, &[("a.txt", b"ALPHA")]);
        let intent = Intent {
            plan: CommitPlan {
                ledger_first: 2,
                ledger_count: 1,
                after_commit: vec![],
            },
            versions: vec![(root.to_string(), 3)],
            actor: "t".into(),
            started: "2026-01-01T00:00:00Z".into(),
            writer: String::new(),
        };
        s.put_create(&Path::from("intents/crash.json"), store::pretty(&intent))
            .await
            .expect("intent");
        for f in &v3.files {
            if let FileSource::Bytes(b) = &f.source {
                s.put_create(&store::join(&root, &f.content_path), b.clone())
                    .await
                    .expect("put");
            }
        }
        let json = Bytes::from(v3.inventory.to_json());
        s.put_create(&store::join(&root, "v3/inventory.json"), json.clone())
            .await
            .expect("put");
        let root_inv = store::join(&root, "inventory.json");
        // Overwrite the root inventory as a crashed writer would have (rename over it).
        s.backend()
            .put(&root_inv, json.into())
            .await
            .expect("overwrite");
        let size = s.ledger_size().await.expect("size");
        let seen = s
            .committed_inventory(&root, size)
            .await
            .expect("read")
            .expect("committed");
        assert_eq!(seen.head, "v2", "{name}: readers ignore uncommitted v3");
        let report = s.recover(&lock).await.expect("recover");
        assert_eq!(report.removed.len(), 1, "{name}: {report:?}");
        assert!(
            s.list_paths(&store::join(&root, "v3"))
                .await
                .expect("list")
                .is_empty(),
            "{name}"
        );
        let root_json: Inventory = s.get_json(&root_inv).await.expect("get").expect("root");
        assert_eq!(root_json.head, "v2", "{name}: root inventory restored");
        let r = strongroom::ocfl::validate::validate_object(
            s.backend().as_ref(),
            &root,
            &strongroom::ocfl::validate::Options::default(),
        )
        .await
        .expect("validate");
        assert!(r.is_valid(), "{name}: {:#?}", r.findings);
        assert!(
            s.recover(&lock).await.expect("again").is_clean(),
            "{name}: idempotent"
        );

        // A write whose batch did become durable before the crash is finished, not undone:
        // recovery puts the lookup documents it left out.
        let v3 = version(&root, Some(&inv2), 2, &[("a.txt", b"ALPHA")]);
        let ledger = Ledger::new(s.clone(), "test");
        ledger
            .append(&lock, &key, &[Bytes::from_static(b"{\"test\":2}")])
            .await
            .expect("append");
        let intent = Intent {
            plan: CommitPlan {
                ledger_first: 2,
                ledger_count: 1,
                after_commit: vec![("lookups/v3.json".into(), serde_json::json!({"v": 3}))],
            },
            versions: vec![(root.to_string(), 3)],
            actor: "t".into(),
            started: "2026-01-01T00:00:00Z".into(),
            writer: String::new(),
        };
        s.put_create(&Path::from("intents/late.json"), store::pretty(&intent))
            .await
            .expect("intent");
        for f in &v3.files {
            if let FileSource::Bytes(b) = &f.source {
                s.put_create(&store::join(&root, &f.content_path), b.clone())
                    .await
                    .expect("put");
            }
        }
        let json = Bytes::from(v3.inventory.to_json());
        s.put_create(&store::join(&root, "v3/inventory.json"), json.clone())
            .await
            .expect("put");
        s.backend()
            .put(&root_inv, json.into())
            .await
            .expect("overwrite");
        let report = s.recover(&lock).await.expect("recover");
        assert_eq!(report.completed, 1, "{name}: {report:?}");
        assert!(report.removed.is_empty(), "{name}: {report:?}");
        assert!(
            s.exists(&Path::from("lookups/v3.json"))
                .await
                .expect("head"),
            "{name}: lookup written by recovery"
        );
        let inv3 = s
            .committed_inventory(&root, 3)
            .await
            .expect("read")
            .expect("committed");
        assert_eq!(inv3.head, "v3", "{name}");
        lock.release().await.expect("release");
    }
}

#[tokio::test]
async fn one_writer_at_a_time_and_stale_locks_are_broken() {
    for (name, s, _d) in backends() {
        s.init(&info()).await.expect("init");
        let lock = s.lock_writer("first").await.expect("lock");
        match s.lock_writer("second").await {
            Err(StoreError::Locked(held)) => assert_eq!(held.actor, "first", "{name}"),
            other => panic!("{name}: second writer got {other:?}"),
        }
        lock.release().await.expect("release");
        let again = s.lock_writer("second").await.expect("free again");
        // A lock left by a dead process on this host is stale.
        again.release().await.expect("release");
        let mut dead =
            serde_json::to_value(s.lock_writer("ghost").await.expect("lock").info()).expect("json");
        dead["pid"] = serde_json::json!(u32::MAX / 2);
        let lp = Path::from("locks/writer.json");
        s.backend()
            .put(&lp, serde_json::to_vec(&dead).expect("json").into())
            .await
            .expect("put");
        let taken = s.lock_writer("third").await.expect("stale lock broken");
        assert_eq!(taken.info().actor, "third", "{name}");
        taken.release().await.expect("release");
    }
}

#[tokio::test]
async fn a_file_store_streams_large_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&format!("file://{}", dir.path().join("s").display())).expect("open");
    s.init(&info()).await.expect("init");
    let big: Vec<u8> = (0..(5u32 << 20)).map(|i| (i % 253) as u8).collect();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, &big).expect("write");
    let (s256, s512) = digests(&big);
    let root = store::join(&s.ocfl_root(), "big");
    let (inventory, to_write) = Inventory::next_version(
        None,
        "urn:test:big",
        &[NewFile {
            logical_path: "big.bin".into(),
            sha512: s512,
            sha256: s256,
        }],
        "2026-01-01T00:00:00Z".into(),
        format!("t {}", ledger_marker(0)),
        User {
            name: "t".into(),
            address: None,
        },
    );
    let files = to_write
        .into_iter()
        .map(|(cp, _)| StagedFile {
            content_path: cp,
            source: FileSource::Local(src.clone()),
            size: big.len() as u64,
        })
        .collect();
    let lock = s.lock_writer("t").await.expect("lock");
    let w = VersionWrite {
        object_root: root.clone(),
        previous: None,
        inventory,
        files,
    };
    commit(&s, &key(), &lock, &[w]).await.expect("commit");
    lock.release().await.expect("release");
    let stored = std::fs::read(dir.path().join("s/ocfl/big/v1/content/big.bin")).expect("stored");
    assert!(stored == big, "bit-exact");
    let r = strongroom::ocfl::validate::validate_object(
        s.backend().as_ref(),
        &root,
        &Default::default(),
    )
    .await
    .expect("validate");
    assert!(r.is_valid(), "{:#?}", r.findings);
    let _ = Arc::new(());
}

/// A server that accepts `If-None-Match: *` and overwrites anyway (some S3-compatible
/// servers did, before conditional writes were common): every put becomes an overwrite. With
/// `read_only`, credentials that may not write: every put is refused.
#[derive(Debug)]
struct IgnoresConditions(Arc<dyn object_store::ObjectStore>, bool);

impl std::fmt::Display for IgnoresConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IgnoresConditions({})", self.0)
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for IgnoresConditions {
    async fn put_opts(
        &self,
        location: &Path,
        payload: object_store::PutPayload,
        _opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if self.1 {
            return Err(object_store::Error::PermissionDenied {
                path: location.to_string(),
                source: "read-only credentials".into(),
            });
        }
        self.0
            .put_opts(location, payload, object_store::PutOptions::default())
            .await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn the_probe_passes_every_backend_and_refuses_a_server_ignoring_conditions() {
    for (name, s, _d) in backends() {
        s.probe().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            s.list_paths(&Path::from("probes"))
                .await
                .expect("list")
                .is_empty(),
            "{name}: the probe object was left behind"
        );
    }
    let liar = Store::with_backend(
        Arc::new(IgnoresConditions(
            Arc::new(object_store::memory::InMemory::new()),
            false,
        )),
        Arc::new(store::Volatile),
        "s3://liar/archive",
    );
    match liar.probe().await {
        Err(e @ StoreError::NoConditionalWrites { .. }) => {
            assert!(e.to_string().contains("ignores conditional writes"), "{e}")
        }
        other => panic!("a server ignoring If-None-Match was accepted: {other:?}"),
    }
    // Read-only credentials pass the probe (they cannot overwrite anything) and still read.
    let inner: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    inner
        .put(&Path::from("archive.json"), b"{}".to_vec().into())
        .await
        .expect("put");
    let reader = Store::with_backend(
        Arc::new(IgnoresConditions(inner, true)),
        Arc::new(store::Volatile),
        "s3://audit/archive",
    );
    reader.probe().await.expect("read-only probe");
    assert!(reader
        .get_bytes(&Path::from("archive.json"))
        .await
        .expect("read")
        .is_some());
    assert!(matches!(
        reader
            .put_create(&Path::from("x"), Bytes::from_static(b"x"))
            .await,
        Err(StoreError::Backend { .. })
    ));
}

#[tokio::test]
async fn a_writer_whose_lock_was_broken_commits_nothing() {
    let key = key();
    for (name, s, _d) in backends() {
        s.init(&info()).await.expect("init");
        let ledger = Ledger::new(s.clone(), "test");
        let lock = s.lock_writer("slow").await.expect("lock");
        ledger
            .append(&lock, &key, &[Bytes::from_static(b"{\"first\":1}")])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Its lease ran out while it was stopped, and another writer broke the lock and took
        // it (simulated: the lock object now carries another token).
        let mut other = serde_json::to_value(lock.info()).expect("json");
        other["token"] = "someone-else".into();
        s.backend()
            .put(
                &Path::from("locks/writer.json"),
                serde_json::to_vec(&other).expect("json").into(),
            )
            .await
            .expect("put");
        let before = s.ledger_size().await.expect("size");
        let r = ledger
            .append(&lock, &key, &[Bytes::from_static(b"{\"second\":2}")])
            .await;
        assert!(
            matches!(
                r,
                Err(strongroom::ledger::log::LedgerError::Store(
                    StoreError::LockLost
                ))
            ),
            "{name}: {r:?}"
        );
        assert!(!lock.is_held(), "{name}");
        assert_eq!(s.ledger_size().await.expect("size"), before, "{name}");
        // Releasing a lost lock leaves the new holder's lock alone.
        lock.release().await.expect("release");
        assert!(
            s.exists(&Path::from("locks/writer.json"))
                .await
                .expect("head"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_lease_is_renewed_while_held_and_given_up_once_broken() {
    for (name, s, _d) in backends() {
        s.init(&info()).await.expect("init");
        let lock = s.lock_writer("long transfer").await.expect("lock");
        let first = lock.lease_expires();
        // Lease ends are kept to the second.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(lock.renew().await.expect("renew"), "{name}");
        let renewed = lock.lease_expires();
        assert!(renewed > first, "{name}: {first} → {renewed}");
        let stored: serde_json::Value = s
            .get_json(&Path::from("locks/writer.json"))
            .await
            .expect("get")
            .expect("lock object");
        assert_eq!(stored["expires"], renewed.as_str(), "{name}");
        assert_eq!(stored["token"], lock.info().token.as_str(), "{name}");
        // Someone broke it: the next renewal gives the lock up instead of overwriting theirs.
        let mut other = stored.clone();
        other["token"] = "the-new-writer".into();
        s.backend()
            .put(
                &Path::from("locks/writer.json"),
                serde_json::to_vec(&other).expect("json").into(),
            )
            .await
            .expect("put");
        assert!(!lock.renew().await.expect("renew"), "{name}");
        assert!(!lock.is_held(), "{name}");
        let now: serde_json::Value = s
            .get_json(&Path::from("locks/writer.json"))
            .await
            .expect("get")
            .expect("lock object");
        assert_eq!(now["token"], "the-new-writer", "{name}");
    }
}
