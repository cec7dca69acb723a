//! Power cut: SIGKILL leaves the page cache intact, so it cannot show durability. Here the
//! store is wrapped in a journal that remembers which writes the sync step made durable; a
//! "power cut" keeps only those (and, in a second variant, an arbitrary subset of the rest,
//! as a real disk may). After each cut and the start-up recovery, the store must validate,
//! every receipted transfer must be complete, and every transfer must be all or nothing.

mod common;

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    UploadPart,
};

use strongroom::intake::{self, IntakeOptions, Outcome};
use strongroom::sign::ArchiveKey;
use strongroom::store::{ArchiveInfo, Durability, Store, StoreError, Volatile};

#[derive(Debug, Clone)]
enum Op {
    Put(Path, Bytes),
    Delete(Path),
    Rename(Path, Path),
    Copy(Path, Path),
}

#[derive(Debug)]
struct Journal {
    live: InMemory,
    ops: Mutex<Vec<Op>>,
    durable: AtomicUsize,
    /// Operations from this index on fail, as if the machine had lost power there.
    fail_from: AtomicUsize,
}

#[derive(Debug, Clone)]
struct PowerCut(Arc<Journal>);

impl fmt::Display for PowerCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PowerCut")
    }
}

fn cut_error() -> object_store::Error {
    object_store::Error::Generic {
        store: "PowerCut",
        source: "power lost".into(),
    }
}

impl PowerCut {
    fn new(initial: Vec<(Path, Bytes)>) -> PowerCut {
        let j = Journal {
            live: InMemory::new(),
            ops: Mutex::new(Vec::new()),
            durable: AtomicUsize::new(0),
            fail_from: AtomicUsize::new(usize::MAX),
        };
        let pc = PowerCut(Arc::new(j));
        let rt = tokio::runtime::Handle::current();
        let _ = rt;
        pc.0.ops
            .lock()
            .expect("lock")
            .extend(initial.into_iter().map(|(p, b)| Op::Put(p, b)));
        pc
    }

    async fn load(&self) {
        let ops = self.0.ops.lock().expect("lock").clone();
        apply_all(&self.0.live, &ops).await;
        self.0.durable.store(ops.len(), Ordering::SeqCst);
    }

    fn ops_len(&self) -> usize {
        self.0.ops.lock().expect("lock").len()
    }

    /// Admits an operation (or refuses it after the cut point) and journals it.
    fn admit(&self, op: Op) -> object_store::Result<()> {
        let mut ops = self.0.ops.lock().expect("lock");
        if ops.len() >= self.0.fail_from.load(Ordering::SeqCst) {
            return Err(cut_error());
        }
        ops.push(op);
        Ok(())
    }

    /// The disk after a power cut: durable ops, plus the unsynced ones `keep` selects.
    async fn after_cut(&self, keep: impl Fn(usize) -> bool) -> Vec<(Path, Bytes)> {
        let ops = self.0.ops.lock().expect("lock").clone();
        let durable = self.0.durable.load(Ordering::SeqCst);
        let mut chosen: Vec<Op> = ops[..durable].to_vec();
        chosen.extend(
            ops[durable..]
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, o)| o.clone()),
        );
        let disk = InMemory::new();
        apply_all(&disk, &chosen).await;
        let mut objects = dump(&disk).await;
        // The machine restarts: a lock (or a claim to break one) left by the writer names the
        // boot before the cut.
        for (path, bytes) in &mut objects {
            if path.as_ref().starts_with("locks/") && path.as_ref().ends_with(".json") {
                let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("lock json");
                v["boot_id"] = "boot-before-the-power-cut".into();
                *bytes = Bytes::from(serde_json::to_vec(&v).expect("json"));
            }
        }
        objects
    }
}

async fn apply_all(store: &InMemory, ops: &[Op]) {
    for op in ops {
        // A replayed rename whose source was lost simply does not happen.
        let _ = match op {
            Op::Put(p, b) => store
                .put(p, PutPayload::from_bytes(b.clone()))
                .await
                .map(|_| ()),
            Op::Delete(p) => store.delete(p).await,
            Op::Rename(a, b) => store.rename(a, b).await,
            Op::Copy(a, b) => store.copy(a, b).await,
        };
    }
}

async fn dump(store: &dyn ObjectStore) -> Vec<(Path, Bytes)> {
    let metas: Vec<ObjectMeta> = store.list(None).try_collect().await.expect("list");
    let mut out = Vec::new();
    for m in metas {
        let b = store
            .get(&m.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        out.push((m.location, b));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl Durability for PowerCut {
    fn sync(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let ops = self.0.ops.lock().expect("lock");
            if ops.len() >= self.0.fail_from.load(Ordering::SeqCst) {
                return Err(StoreError::Sync {
                    path: "powercut".into(),
                    source: std::io::Error::other("power lost"),
                });
            }
            self.0.durable.store(ops.len(), Ordering::SeqCst);
            Ok(())
        })
    }
}

#[derive(Debug)]
struct BufferedUpload {
    store: PowerCut,
    path: Path,
    buf: Vec<u8>,
}

#[async_trait]
impl MultipartUpload for BufferedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        for b in &data {
            self.buf.extend_from_slice(b);
        }
        Box::pin(async { Ok(()) })
    }
    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let bytes = Bytes::from(std::mem::take(&mut self.buf));
        self.store
            .put_opts(
                &self.path,
                PutPayload::from_bytes(bytes),
                PutOptions::default(),
            )
            .await
    }
    async fn abort(&mut self) -> object_store::Result<()> {
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for PowerCut {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let bytes: Bytes = payload.clone().into();
        // Check the mode against the live store before journaling, so a refused create-only
        // put leaves no trace.
        let r = self.0.live.put_opts(location, payload, opts).await?;
        if let Err(e) = self.admit(Op::Put(location.clone(), bytes)) {
            let _ = self.0.live.delete(location).await;
            return Err(e);
        }
        Ok(r)
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(BufferedUpload {
            store: self.clone(),
            path: location.clone(),
            buf: Vec::new(),
        }))
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.0.live.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.0.live.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let me = self.clone();
        Box::pin(locations.and_then(move |p| {
            let me = me.clone();
            async move {
                me.admit(Op::Delete(p.clone()))?;
                me.0.live.delete(&p).await?;
                Ok(p)
            }
        }))
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.0.live.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.0.live.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.admit(Op::Copy(from.clone(), to.clone()))?;
        self.0.live.copy_opts(from, to, options).await
    }
    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.admit(Op::Rename(from.clone(), to.clone()))?;
        self.0.live.rename_opts(from, to, options).await
    }
}

fn store_of(pc: &PowerCut) -> Store {
    Store::with_backend(
        Arc::new(pc.clone()),
        Arc::new(pc.clone()),
        "memory://powercut",
    )
}

async fn reopened(objects: Vec<(Path, Bytes)>) -> Store {
    let mem = InMemory::new();
    for (p, b) in objects {
        mem.put(&p, PutPayload::from_bytes(b)).await.expect("put");
    }
    Store::with_backend(Arc::new(mem), Arc::new(Volatile), "memory://after-cut")
}

fn options(dir: &std::path::Path) -> IntakeOptions {
    IntakeOptions {
        limits: strongroom::package::Limits::default(),
        virus_scan: None,
        staging_dir: dir.join("staging"),
        actor: "tester".into(),
        threads: 1,
        seal_policy: Default::default(),
        retention_policy: None,
    }
}

async fn committed_codes(store: &Store) -> BTreeSet<String> {
    strongroom::access::list(store)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.reference_code)
        .collect()
}

/// Start-up recovery, then: valid OCFL, the receipted codes present, `batch` all or nothing.
async fn check_after_cut(
    objects: Vec<(Path, Bytes)>,
    must_have: &BTreeSet<String>,
    batch: &BTreeSet<String>,
    batch_receipted: bool,
    what: &str,
) {
    let store = reopened(objects).await;
    let lock = store.lock_writer("recovery").await.expect("lock");
    let ledger = strongroom::ledger::commit::open(&store)
        .await
        .expect("ledger");
    ledger.recover(&lock).await.expect("ledger recovery");
    store.recover(&lock).await.expect("recover");
    lock.release().await.expect("release");
    let verifier = strongroom::sign::Verifier::from_verifier_key(
        &store.archive_info().await.expect("info").verifier_key,
    )
    .expect("vkey");
    let lv = ledger
        .verify(&verifier, None, &|_| {})
        .await
        .expect("ledger verify");
    assert!(lv.is_ok(), "{what}: ledger damaged after cut: {lv:#?}");
    let report = strongroom::ocfl::validate::validate_storage_root(
        store.backend().as_ref(),
        &store.ocfl_root(),
        &strongroom::ocfl::validate::Options::default(),
    )
    .await
    .expect("validate");
    assert!(
        report.is_valid(),
        "{what}: store invalid after cut: {:#?}",
        report.findings
    );
    let codes = committed_codes(&store).await;
    assert!(
        must_have.is_subset(&codes),
        "{what}: receipted records lost: {codes:?}"
    );
    let have_batch = batch.is_subset(&codes);
    let none_batch = batch.is_disjoint(&codes);
    assert!(
        have_batch || none_batch,
        "{what}: transfer half present: {codes:?}"
    );
    if batch_receipted {
        assert!(have_batch, "{what}: a receipted transfer was lost");
    }
    let v = strongroom::verify::verify(&store, &[], "tester", None)
        .await
        .expect("verify");
    assert!(v.is_intact(), "{what}: {:#?}", v.damage);
}

fn sample_codes(bag: &std::path::Path) -> BTreeSet<String> {
    common::records(bag)
        .into_iter()
        .map(|(_, r)| r["reference_code"].as_str().expect("档号").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_receipted_is_lost_at_any_power_cut() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = ArchiveKey::generate("test.archive").expect("key");
    let pc = PowerCut::new(Vec::new());
    let store = store_of(&pc);
    store
        .init(&ArchiveInfo {
            kind: "strongroom-archive".into(),
            format_version: 1,
            created: "2026-01-01T00:00:00Z".into(),
            key_name: key.name().into(),
            verifier_key: key.verifier_key(),
        })
        .await
        .expect("init");
    let first = common::sample();
    let out = intake::transfer(&store, &key, &first, &options(dir.path()), &|_| {})
        .await
        .expect("transfer");
    assert!(matches!(out, Outcome::Accepted { .. }), "{out:?}");
    let first_codes = sample_codes(&first);

    // The receipt was printed: a cut now, forgetting everything not synced, loses nothing.
    let base = pc.after_cut(|_| false).await;
    check_after_cut(
        base.clone(),
        &first_codes,
        &BTreeSet::new(),
        false,
        "after receipt",
    )
    .await;

    // A second transfer, cut before each of its writes in turn.
    let second = common::next_year_package(dir.path(), "POWERCUT-2", |_, _, _| {});
    let second_codes = sample_codes(&second);
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 2000, "the transfer never completed");
        let pc = PowerCut::new(base.clone());
        pc.load().await;
        pc.0.fail_from.store(pc.ops_len() + n, Ordering::SeqCst);
        let store = store_of(&pc);
        let out = intake::transfer(&store, &key, &second, &options(dir.path()), &|_| {}).await;
        let receipted = matches!(out, Ok(Outcome::Accepted { .. }));
        let reached_end = pc.ops_len() < pc.0.fail_from.load(Ordering::SeqCst);
        for (variant, keep) in [
            (
                "unsynced writes lost",
                Box::new(|_: usize| false) as Box<dyn Fn(usize) -> bool>,
            ),
            (
                "some unsynced writes kept",
                Box::new(move |i: usize| (i * 7 + n).is_multiple_of(3)),
            ),
        ] {
            let objects = pc.after_cut(keep).await;
            check_after_cut(
                objects,
                &first_codes,
                &second_codes,
                receipted,
                &format!("cut at write {n} ({variant})"),
            )
            .await;
        }
        if reached_end {
            assert!(receipted, "completed without a receipt: {out:?}");
            break;
        }
    }
    eprintln!("power cut before each of {n} writes: nothing receipted lost");
}
