//! The ledger in the store (`src/ledger/log.rs`), one suite run on every backend: `memory://`
//! and a `file://` temp dir. Appends across tile boundaries with every read-back checked
//! against an independent in-memory tree, garbage from a crashed append, recovery, group
//! commit under 64 concurrent appenders, and tampering that `verify` must name.

mod common;

use common::backends;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use strongroom::ledger::checkpoint::Checkpoint;
use strongroom::ledger::log::{self, codes, GroupCommit, Ledger, TlogProof};
use strongroom::ledger::merkle::{self, Hash, LeafIndex, MemoryTree, TreeSize};
use strongroom::ledger::tiles;
use strongroom::sign::ArchiveKey;
use strongroom::store::{Store, WriterLock};

const ORIGIN: &str = "archive.example.gov.cn/strongroom";

fn key() -> ArchiveKey {
    ArchiveKey::generate(ORIGIN).expect("key")
}

async fn take_lock(store: &Store) -> WriterLock {
    store.lock_writer("tester").await.expect("writer lock")
}

fn entry(tag: &str, i: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"event\":\"test\",\"tag\":\"{tag}\",\"n\":{i}}}"
    ))
}

/// xorshift64*: deterministic sampling.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Everything a reader can get from the ledger agrees with an independent in-memory tree.
async fn check_against(
    name: &str,
    ledger: &Ledger,
    key: &ArchiveKey,
    all: &[Bytes],
    tree: &MemoryTree,
    rng: &mut Rng,
) {
    let size = all.len() as u64;
    assert_eq!(ledger.size().await.expect("size"), size, "{name}");
    let latest = ledger
        .latest()
        .await
        .expect("latest")
        .expect("a checkpoint");
    let c = Checkpoint::verify(&latest.note, &key.verifier(), ORIGIN).expect("signed");
    assert_eq!(c.size(), TreeSize(size));
    assert_eq!(*c.root(), tree.root(), "{name}: root at {size}");
    assert_eq!(ledger.root_at(size).await.expect("root"), tree.root());
    let kept = ledger
        .checkpoint_at(size)
        .await
        .expect("kept")
        .expect("checkpoints/<size> exists");
    assert_eq!(kept.note, latest.note);

    // Entries read back: a window around every tile edge near the end, plus a sample.
    let from = size.saturating_sub(300);
    let got = ledger.entries(from, size).await.expect("entries");
    assert_eq!(
        got.as_slice(),
        &all[from as usize..],
        "{name}: tail at {size}"
    );
    for _ in 0..10 {
        let i = rng.below(size);
        assert_eq!(
            ledger.entry(i).await.expect("entry"),
            all[i as usize],
            "{name}: entry {i}"
        );
    }
    // Inclusion proofs against the latest and older sizes, consistency proofs between them.
    for _ in 0..12 {
        let n = 1 + rng.below(size);
        let i = rng.below(n);
        let proof = ledger.inclusion_proof(i, n).await.expect("inclusion");
        let root = tree.root_at(TreeSize(n)).expect("root at n");
        merkle::verify_inclusion(
            LeafIndex(i),
            TreeSize(n),
            &merkle::leaf_hash(&all[i as usize]),
            &proof,
            &root,
        )
        .unwrap_or_else(|e| panic!("{name}: inclusion {i} in {n}: {e}"));
        let m = 1 + rng.below(n);
        let proof = ledger.consistency_proof(m, n).await.expect("consistency");
        let old = tree.root_at(TreeSize(m)).expect("root at m");
        merkle::verify_consistency(TreeSize(m), TreeSize(n), &proof, &old, &root)
            .unwrap_or_else(|e| panic!("{name}: consistency {m} -> {n}: {e}"));
    }
    // The tlog-proof of the last entry verifies offline.
    let text = ledger.tlog_proof(size - 1, None).await.expect("tlog-proof");
    let p = TlogProof::parse(&text).expect("parse tlog-proof");
    assert_eq!(p.extra.as_deref(), Some(&all[size as usize - 1][..]));
    p.verify(&key.verifier(), ORIGIN)
        .expect("tlog-proof verifies");
}

#[tokio::test]
async fn appends_across_tile_boundaries_read_back_and_prove() {
    for (name, store, _dir) in backends() {
        let ledger = Ledger::new(store.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&store).await;
        assert_eq!(ledger.size().await.expect("size"), 0);
        assert!(ledger.latest().await.expect("latest").is_none());
        assert!(matches!(
            ledger.entry(0).await,
            Err(log::LedgerError::IndexOutOfRange { index: 0, size: 0 })
        ));

        let mut all: Vec<Bytes> = Vec::new();
        let mut tree = MemoryTree::new();
        let mut rng = Rng(0x1ed6_e500_0000_0001);
        let mut batches = vec![1u64, 254, 1, 1, 255, 256, 257, 3000];
        let mut total: u64 = batches.iter().sum();
        while total < 70_000 {
            let b = 4096.min(70_000 - total);
            batches.push(b);
            total += b;
        }
        let mut sizes = Vec::new();
        for b in batches {
            let start = all.len() as u64;
            let batch: Vec<Bytes> = (start..start + b).map(|i| entry("a", i)).collect();
            let appended = ledger.append(&lock, &key, &batch).await.expect("append");
            assert_eq!(appended.first_index, start);
            assert_eq!(appended.checkpoint.size(), start + b);
            for e in &batch {
                tree.push(merkle::leaf_hash(e));
            }
            all.extend(batch);
            sizes.push(all.len() as u64);
            check_against(&name, &ledger, &key, &all, &tree, &mut rng).await;
        }
        assert_eq!(all.len(), 70_000);
        // The spec's example: size 70,000 has these tiles (and they exist in the store).
        for t in tiles::tiles_for_size(TreeSize(70_000)) {
            assert!(
                store.exists(&log::tile_path(&t)).await.expect("head"),
                "{name}: {t}"
            );
        }
        // Every kept checkpoint proves consistent with the latest.
        let latest = ledger.latest().await.expect("latest").expect("cp");
        for &n in &sizes {
            let old = ledger.checkpoint_at(n).await.expect("kept").expect("kept");
            let proof = ledger.consistency_proof(n, 70_000).await.expect("proof");
            merkle::verify_consistency(
                TreeSize(n),
                TreeSize(70_000),
                &proof,
                &old.root(),
                &latest.root(),
            )
            .unwrap_or_else(|e| panic!("{name}: kept {n}: {e}"));
        }
        let report = ledger
            .verify(&key.verifier(), Some(&latest.note), &|_| {})
            .await
            .expect("verify");
        assert!(report.is_ok(), "{name}: {:#?}", report.findings);
        assert_eq!(report.entries_checked, 70_000);
        assert_eq!(report.checkpoints_checked as usize, sizes.len() + 2);

        // Bad requests are refused, not answered wrongly.
        assert!(matches!(
            ledger.append(&lock, &key, &[]).await,
            Err(log::LedgerError::EmptyBatch)
        ));
        let big = Bytes::from(vec![b'x'; 65_536]);
        assert!(matches!(
            ledger.append(&lock, &key, &[big]).await,
            Err(log::LedgerError::EntryTooLarge { len: 65_536 })
        ));
        assert!(matches!(
            ledger.inclusion_proof(0, 70_001).await,
            Err(log::LedgerError::SizeOutOfRange { .. })
        ));
        let max = Bytes::from(vec![b'y'; 65_535]);
        ledger
            .append(&lock, &key, &[max.clone(), Bytes::new()])
            .await
            .expect("the largest and the empty entry fit");
        assert_eq!(ledger.entry(70_000).await.expect("max"), max);
        assert_eq!(ledger.entry(70_001).await.expect("empty"), Bytes::new());
        let text = ledger.tlog_proof(70_001, None).await.expect("proof");
        assert!(!text.contains("extra"), "an empty entry has no extra line");
        TlogProof::parse(&text)
            .expect("parse")
            .verify(&key.verifier(), ORIGIN)
            .expect("verifies");
        lock.release().await.expect("release");
    }
}

/// Writes what an append of `batch` onto `all` would write, with no checkpoint: a crash.
async fn crashed_append(store: &Store, all: &[Bytes], batch: &[Bytes]) -> Vec<String> {
    let old = all.len() as u64;
    let new = old + batch.len() as u64;
    let every: Vec<Bytes> = all.iter().chain(batch).cloned().collect();
    let tree = MemoryTree::from_leaf_hashes(every.iter().map(|e| merkle::leaf_hash(e)));
    let mut written = Vec::new();
    for t in tiles::tiles_added(TreeSize(old), TreeSize(new)) {
        let hashes: Vec<Hash> = t.nodes().map(|n| tree.node(n).expect("node")).collect();
        let p = log::tile_path(&t);
        store
            .put_create(&p, Bytes::from(tiles::encode_tile(&hashes)))
            .await
            .expect("garbage tile");
        written.push(p.to_string());
        if t.level() == 0 {
            let first = (t.index() * 256) as usize;
            let es = &every[first..first + usize::from(t.width())];
            let p = log::bundle_path(&t);
            store
                .put_create(&p, Bytes::from(tiles::encode_bundle(es).expect("bundle")))
                .await
                .expect("garbage bundle");
            written.push(p.to_string());
        }
    }
    written.sort();
    written
}

#[tokio::test]
async fn garbage_from_a_crashed_append_is_replaced_or_recovered() {
    for (name, store, _dir) in backends() {
        let ledger = Ledger::new(store.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&store).await;
        let mut all: Vec<Bytes> = (0..300).map(|i| entry("base", i)).collect();
        ledger.append(&lock, &key, &all).await.expect("append");

        // A crash after the tiles of a batch of 700, before its checkpoint; then a DIFFERENT
        // batch of 700 (same paths, other bytes) and one of 500 (some paths shared).
        let lost: Vec<Bytes> = (0..700).map(|i| entry("lost", i)).collect();
        let garbage = crashed_append(&store, &all, &lost).await;
        assert!(!garbage.is_empty());
        assert_eq!(ledger.size().await.expect("size"), 300, "{name}");
        assert_eq!(ledger.entry(299).await.expect("entry"), all[299]);
        let batch: Vec<Bytes> = (0..700).map(|i| entry("kept", i)).collect();
        ledger
            .append(&lock, &key, &batch)
            .await
            .expect("append over garbage");
        all.extend(batch);
        let got = ledger.entries(0, 1000).await.expect("entries");
        assert_eq!(got, all, "{name}");
        let latest = ledger.latest().await.expect("latest").expect("cp");
        let tree = MemoryTree::from_leaf_hashes(all.iter().map(|e| merkle::leaf_hash(e)));
        assert_eq!(latest.root(), tree.root());
        let report = ledger
            .verify(&key.verifier(), None, &|_| {})
            .await
            .expect("verify");
        assert!(report.is_ok(), "{name}: {:#?}", report.findings);

        // Recovery removes what a crash leaves right of the edge, and only that.
        let lost: Vec<Bytes> = (0..500).map(|i| entry("lost again", i)).collect();
        let garbage = crashed_append(&store, &all, &lost).await;
        let r = ledger.recover(&lock).await.expect("recover");
        assert_eq!(r.size, 1000);
        assert!(!r.checkpoint_kept, "checkpoints/1000 was there");
        assert_eq!(r.removed, garbage, "{name}");
        for p in &garbage {
            assert!(!store.exists(&Path::from(p.as_str())).await.expect("head"));
        }
        let again = ledger.recover(&lock).await.expect("recover again");
        assert!(
            again.removed.is_empty() && !again.checkpoint_kept,
            "idempotent"
        );
        let report = ledger
            .verify(&key.verifier(), None, &|_| {})
            .await
            .expect("verify");
        assert!(report.is_ok(), "{name}: {:#?}", report.findings);
        assert_eq!(ledger.entries(0, 1000).await.expect("entries"), all);

        // A crashed append onto an empty ledger: everything is garbage.
        let (_, empty_store, _d) = backends().remove(0);
        let empty = Ledger::new(empty_store.clone(), ORIGIN);
        let l2 = take_lock(&empty_store).await;
        let garbage = crashed_append(&empty_store, &[], &all[..600]).await;
        let r = empty.recover(&l2).await.expect("recover");
        assert_eq!((r.size, r.removed.clone()), (0, garbage));
        assert!(empty_store
            .list_paths(&Path::from("ledger"))
            .await
            .expect("list")
            .is_empty());
        lock.release().await.expect("release");
    }
}

#[tokio::test]
async fn recover_recreates_a_lost_kept_checkpoint() {
    for (name, store, _dir) in backends() {
        let ledger = Ledger::new(store.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&store).await;
        let r = ledger.recover(&lock).await.expect("recover empty");
        assert_eq!(r, log::LedgerRecovery::default());
        let batch: Vec<Bytes> = (0..10).map(|i| entry("k", i)).collect();
        let a = ledger.append(&lock, &key, &batch).await.expect("append");
        let kept = log::kept_checkpoint_path(10);
        store.backend().delete(&kept).await.expect("lose it");
        let report = ledger
            .verify(&key.verifier(), None, &|_| {})
            .await
            .expect("verify");
        assert!(report.is_ok(), "a lost kept checkpoint is a warning only");
        assert_eq!(report.codes(), [codes::CHECKPOINT_NOT_KEPT], "{name}");
        let r = ledger.recover(&lock).await.expect("recover");
        assert!(r.checkpoint_kept, "{name}");
        assert_eq!(r.size, 10);
        let back = ledger.checkpoint_at(10).await.expect("read").expect("kept");
        assert_eq!(back.note, a.checkpoint.note);
        assert!(!ledger.recover(&lock).await.expect("again").checkpoint_kept);
        verifies_clean(&ledger, &key, &name).await;
        lock.release().await.expect("release");
    }
}

/// An append that crashed after its kept checkpoint was durable but before it replaced
/// `ledger/checkpoint` is committed: recovery publishes it, and the next append extends it
/// (it never signs a second tree of that size).
#[tokio::test]
async fn recover_rolls_forward_to_a_durable_kept_checkpoint() {
    for (name, store, _dir) in backends() {
        let ledger = Ledger::new(store.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&store).await;
        let first: Vec<Bytes> = (0..5).map(|i| entry("a", i)).collect();
        let a = ledger.append(&lock, &key, &first).await.expect("append");
        let second: Vec<Bytes> = (5..9).map(|i| entry("b", i)).collect();
        let b = ledger.append(&lock, &key, &second).await.expect("append");
        // The crash: the published checkpoint is still the one of size 5, in a store written
        // before batch claims (no `ledger/next/`; with claims the chain leads on, see
        // `a_stale_latest_checkpoint_is_read_as_the_claims_chain_says`).
        overwrite(
            &store,
            "ledger/checkpoint",
            a.checkpoint.note.clone().into_bytes(),
        )
        .await;
        for p in store
            .list_paths(&Path::from(log::NEXT_DIR))
            .await
            .expect("list")
        {
            store.backend().delete(&p).await.expect("delete a claim");
        }
        let fresh = Ledger::new(store.clone(), ORIGIN);
        assert_eq!(fresh.size().await.expect("size"), 5, "{name}");
        let r = fresh.recover(&lock).await.expect("recover");
        assert_eq!(r.rolled_forward, Some(9), "{name}: {r:?}");
        assert_eq!(r.size, 9, "{name}");
        let latest = fresh.latest().await.expect("latest").expect("checkpoint");
        assert_eq!(
            latest.note, b.checkpoint.note,
            "{name}: the kept note, unchanged"
        );
        let c = fresh
            .append(&lock, &key, &[entry("c", 9)])
            .await
            .expect("append after roll-forward");
        assert_eq!(c.first_index, 9, "{name}");
        verifies_clean(&fresh, &key, &name).await;
        assert_eq!(
            fresh.recover(&lock).await.expect("again").rolled_forward,
            None,
            "{name}: idempotent"
        );
        lock.release().await.expect("release");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_shares_durable_writes() {
    for (name, store, _dir) in backends() {
        let ledger = Ledger::new(store.clone(), ORIGIN);
        let key = Arc::new(key());
        let gc = GroupCommit::start(ledger.clone(), take_lock(&store).await, key.clone());
        let mut tasks = Vec::new();
        for task in 0..64u64 {
            let gc = gc.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for k in 0..100u64 {
                    let e = entry(&format!("task {task}"), k);
                    let (index, cp) = gc.append_one(e.clone()).await.expect("append_one");
                    assert!(index < cp.size());
                    got.push((index, e));
                }
                got
            }));
        }
        let mut seen = HashMap::new();
        for t in tasks {
            for (index, e) in t.await.expect("task") {
                assert!(seen.insert(index, e).is_none(), "index {index} given twice");
            }
        }
        assert_eq!(seen.len(), 6400);
        assert_eq!(
            seen.keys().copied().collect::<BTreeSet<u64>>(),
            (0..6400).collect()
        );
        for (index, e) in &seen {
            assert_eq!(&ledger.entry(*index).await.expect("entry"), e, "{name}");
        }
        let batches = gc.batches();
        eprintln!("{name}: 6400 entries in {batches} batches");
        assert_eq!(gc.entries(), 6400);
        assert!(
            batches * 4 <= 6400,
            "{name}: {batches} batches for 6400 entries"
        );
        let lock = gc.shutdown().await.expect("shutdown");
        let report = ledger
            .verify(&key.verifier(), None, &|_| {})
            .await
            .expect("verify");
        assert!(report.is_ok(), "{name}: {:#?}", report.findings);
        lock.release().await.expect("release");
    }
}

/// A ledger of 600 entries appended as 300, 200, 100: full and partial tiles at two levels,
/// three kept checkpoints.
async fn built(store: &Store, key: &ArchiveKey) -> Ledger {
    let ledger = Ledger::new(store.clone(), ORIGIN);
    let lock = take_lock(store).await;
    let mut n = 0;
    for b in [300u64, 200, 100] {
        let batch: Vec<Bytes> = (n..n + b).map(|i| entry("t", i)).collect();
        ledger.append(&lock, key, &batch).await.expect("append");
        n += b;
    }
    lock.release().await.expect("release");
    ledger
}

async fn get(store: &Store, path: &str) -> Vec<u8> {
    store
        .get_bytes(&Path::from(path))
        .await
        .expect("get")
        .expect("present")
        .to_vec()
}

async fn overwrite(store: &Store, path: &str, bytes: Vec<u8>) {
    store
        .backend()
        .put(&Path::from(path), PutPayload::from(bytes))
        .await
        .expect("overwrite");
}

async fn flip(store: &Store, path: &str, at: usize) {
    let mut b = get(store, path).await;
    b[at] ^= 0x01;
    overwrite(store, path, b).await;
}

#[tokio::test]
async fn verify_names_each_tampering() {
    type Tamper = (
        &'static str,
        &'static str,
        &'static str,
        fn(Store, Arc<ArchiveKey>) -> futures::future::BoxFuture<'static, ()>,
    );
    let cases: Vec<Tamper> = vec![
        (
            "a byte of a full entry bundle",
            codes::BUNDLE_MISMATCH,
            "ledger/tile/entries/000",
            |s, _| Box::pin(async move { flip(&s, "ledger/tile/entries/000", 20).await }),
        ),
        (
            "a byte of the partial entry bundle",
            codes::BUNDLE_MISMATCH,
            "ledger/tile/entries/002.p/88",
            |s, _| Box::pin(async move { flip(&s, "ledger/tile/entries/002.p/88", 5).await }),
        ),
        (
            "a byte of a full level-0 tile",
            codes::TILE_MISMATCH,
            "ledger/tile/0/001",
            |s, _| Box::pin(async move { flip(&s, "ledger/tile/0/001", 100).await }),
        ),
        (
            "a byte of the partial level-0 tile",
            codes::TILE_MISMATCH,
            "ledger/tile/0/002.p/88",
            |s, _| Box::pin(async move { flip(&s, "ledger/tile/0/002.p/88", 0).await }),
        ),
        (
            "a byte of the level-1 tile",
            codes::TILE_MISMATCH,
            "ledger/tile/1/000.p/2",
            |s, _| Box::pin(async move { flip(&s, "ledger/tile/1/000.p/2", 40).await }),
        ),
        (
            "a byte of an old partial tile kept for size 500",
            codes::TILE_MISMATCH,
            "ledger/tile/0/001.p/244",
            |s, _| Box::pin(async move { flip(&s, "ledger/tile/0/001.p/244", 31).await }),
        ),
        (
            "a byte of the latest checkpoint's root line",
            codes::CHECKPOINT_SIGNATURE,
            "ledger/checkpoint",
            |s, _| {
                Box::pin(async move {
                    let b = get(&s, "ledger/checkpoint").await;
                    let root_line = String::from_utf8(b)
                        .expect("utf-8")
                        .find("\n600\n")
                        .expect("size line")
                        + 5;
                    flip(&s, "ledger/checkpoint", root_line + 3).await
                })
            },
        ),
        (
            "the last entry dropped from its bundle",
            codes::BUNDLE_MALFORMED,
            "ledger/tile/entries/002.p/88",
            |s, _| {
                Box::pin(async move {
                    let p = "ledger/tile/entries/002.p/88";
                    let b = get(&s, p).await;
                    let last = entry("t", 599).len() + 2;
                    overwrite(&s, p, b[..b.len() - last].to_vec()).await
                })
            },
        ),
        (
            "the last batch dropped by putting the previous checkpoint back",
            codes::CHECKPOINT_ROLLBACK,
            "ledger/checkpoints/00000000000000000600",
            |s, _| {
                Box::pin(async move {
                    let old = get(&s, "ledger/checkpoints/00000000000000000500").await;
                    overwrite(&s, "ledger/checkpoint", old).await;
                    // And its claim removed: with the claim there, the chain leads past the
                    // old checkpoint and it is only stale (the next test).
                    s.backend()
                        .delete(&log::claim_path(500))
                        .await
                        .expect("delete the claim");
                })
            },
        ),
        (
            "a forked checkpoint signed with the archive key",
            codes::CHECKPOINT_FORK,
            "ledger/checkpoints/00000000000000000500",
            |s, k| {
                Box::pin(async move {
                    let fork = Checkpoint::new(ORIGIN, TreeSize(500), merkle::leaf_hash(b"fork"))
                        .expect("checkpoint")
                        .sign(&k)
                        .expect("sign");
                    overwrite(
                        &s,
                        "ledger/checkpoints/00000000000000000500",
                        fork.into_bytes(),
                    )
                    .await
                })
            },
        ),
    ];
    for (backend, _, _) in backends() {
        let mut codes_seen = BTreeSet::new();
        for (what, code, path, tamper) in &cases {
            let (_, store, _dir) = backends()
                .into_iter()
                .find(|(n, _, _)| *n == backend)
                .expect("backend");
            let key = Arc::new(key());
            let ledger = built(&store, &key).await;
            let clean = ledger
                .verify(&key.verifier(), None, &|_| {})
                .await
                .expect("verify");
            assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
            tamper(store.clone(), key.clone()).await;
            let r = ledger
                .verify(&key.verifier(), None, &|_| {})
                .await
                .expect("verify");
            assert!(!r.is_ok(), "{backend}: {what} went unnoticed");
            let found: Vec<(&str, &str)> = r
                .findings
                .iter()
                .map(|f| (f.code.as_str(), f.path.as_str()))
                .collect();
            assert_eq!(
                found,
                [(*code, *path)],
                "{backend}: {what}: {:#?}",
                r.findings
            );
            codes_seen.insert(*code);
        }
        assert_eq!(
            codes_seen.len(),
            6,
            "one distinct code per kind of tampering"
        );
    }
}

#[tokio::test]
async fn since_proves_a_prefix_and_refuses_a_fork() {
    let (_, store, _dir) = backends().remove(1);
    let key = key();
    let ledger = built(&store, &key).await;
    let at_500 = ledger
        .checkpoint_at(500)
        .await
        .expect("read")
        .expect("kept");
    let r = ledger
        .verify(&key.verifier(), Some(&at_500.note), &|_| {})
        .await
        .expect("verify");
    assert!(r.findings.is_empty(), "{:#?}", r.findings);

    let fork = Checkpoint::new(ORIGIN, TreeSize(450), merkle::leaf_hash(b"elsewhere"))
        .expect("cp")
        .sign(&key)
        .expect("sign");
    let r = ledger
        .verify(&key.verifier(), Some(&fork), &|_| {})
        .await
        .expect("verify");
    assert_eq!(r.codes(), [codes::SINCE_FORK, codes::SINCE_PROOF]);

    let beyond = Checkpoint::new(ORIGIN, TreeSize(601), merkle::leaf_hash(b"x"))
        .expect("cp")
        .sign(&key)
        .expect("sign");
    let r = ledger
        .verify(&key.verifier(), Some(&beyond), &|_| {})
        .await
        .expect("verify");
    assert_eq!(r.codes(), [codes::SINCE_BEYOND]);

    let other = ArchiveKey::generate(ORIGIN).expect("other key");
    let r = ledger
        .verify(&key.verifier(), Some(&at_500.note), &|_| {})
        .await
        .expect("verify");
    assert!(r.is_ok());
    let r = ledger
        .verify(&other.verifier(), None, &|_| {})
        .await
        .expect("verify");
    assert!(r.codes().contains(&codes::CHECKPOINT_SIGNATURE));

    // The progress callback sees every entry.
    let last = std::sync::atomic::AtomicU64::new(0);
    ledger
        .verify(&key.verifier(), None, &|n| {
            last.store(n, std::sync::atomic::Ordering::Relaxed)
        })
        .await
        .expect("verify");
    assert_eq!(last.into_inner(), 600);
}

/// Every `LEDGER_*` code `verify` can emit is in the table of `formats/ledger.md` §10, and
/// the table lists no code the code does not emit.
#[test]
fn verify_codes_are_documented() {
    fn scan(text: &str, open: char, close: char) -> BTreeSet<String> {
        text.split(open)
            .skip(1)
            .filter_map(|s| s.split(close).next())
            .filter(|s| {
                s.starts_with("LEDGER_")
                    && s.len() > 7
                    && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .map(String::from)
            .collect()
    }
    let src = include_str!("../src/ledger/log.rs");
    let doc = include_str!("../formats/ledger.md");
    let emitted = scan(src, '"', '"');
    let documented = scan(doc, '`', '`');
    assert!(emitted.len() >= 20, "{emitted:?}");
    assert_eq!(
        emitted, documented,
        "formats/ledger.md §10 and src/ledger/log.rs"
    );
}

/// Durable appends per second with 64 concurrent appenders on a `file://` store (a probe, not
/// a pass/fail test: `cargo test --release --test ledger_store -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn group_commit_throughput() {
    let (_, store, _dir) = backends().remove(if std::env::var("LEDGER_BENCH_MEMORY").is_ok() {
        0
    } else {
        1
    });
    let ledger = Ledger::new(store.clone(), ORIGIN);
    let key = Arc::new(key());
    let gc = GroupCommit::start(ledger.clone(), take_lock(&store).await, key.clone());
    let per_task = 2000u64;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for task in 0..64u64 {
        let gc = gc.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..per_task {
                let e = Bytes::from(format!(
                    "{{\"actor\":\"task {task}\",\"n\":{k},\"object_id\":\"urn:strongroom:0194-WS·2016-D30-BGS-{k:04}\",\"sha512\":\"{}\",\"time\":\"2026-01-01T00:00:00Z\",\"type\":\"record.read\",\"v\":1}}",
                    "ab".repeat(64)
                ));
                gc.append_one(e).await.expect("append_one");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let secs = started.elapsed().as_secs_f64();
    let n = 64 * per_task;
    eprintln!(
        "{n} durable entries in {secs:.2}s: {:.0} entries/s, {} batches ({:.0} entries/batch)",
        n as f64 / secs,
        gc.batches(),
        n as f64 / gc.batches() as f64
    );
    let started = std::time::Instant::now();
    let r = ledger
        .verify(&key.verifier(), None, &|_| {})
        .await
        .expect("verify");
    assert!(r.is_ok());
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "verify: {} entries in {secs:.2}s: {:.0} entries/s",
        r.entries_checked,
        r.entries_checked as f64 / secs
    );
    let started = std::time::Instant::now();
    for i in 0..1000u64 {
        ledger
            .inclusion_proof((i * 7919) % n, n)
            .await
            .expect("proof");
    }
    eprintln!(
        "inclusion proof at {n} leaves: {:.3} ms each",
        started.elapsed().as_secs_f64()
    );
    gc.shutdown()
        .await
        .expect("shutdown")
        .release()
        .await
        .expect("release");
}

// ---------------------------------------------------------------------------------------------
// Several writers: the batch claim `ledger/next/<size>` (formats/ledger.md §7, docs/scale.md §2).

/// A store wrapper that stops the first put under `prefix` after it is armed, until opened:
/// a writer paused (a VM stopped, a long GC) at exactly that point of its append.
struct Gate {
    inner: Arc<dyn object_store::ObjectStore>,
    prefix: String,
    armed: std::sync::atomic::AtomicBool,
    reached: tokio::sync::Notify,
    open: tokio::sync::Semaphore,
}

impl Gate {
    fn new(inner: Arc<dyn object_store::ObjectStore>, prefix: &str) -> Arc<Gate> {
        Arc::new(Gate {
            inner,
            prefix: prefix.into(),
            armed: false.into(),
            reached: tokio::sync::Notify::new(),
            open: tokio::sync::Semaphore::new(0),
        })
    }
    fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    async fn wait_reached(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(60), self.reached.notified())
            .await
            .expect("the writer never reached the gated write");
    }
    fn release(&self) {
        self.open.add_permits(1);
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({})", self.prefix)
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({}, {})", self.prefix, self.inner)
    }
}

#[async_trait::async_trait]
impl object_store::ObjectStore for Gate {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        if location.as_ref().starts_with(&self.prefix)
            && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.reached.notify_one();
            self.open.acquire().await.expect("gate").forget();
        }
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// The same store as `store`, seen by another writer through `gate`.
fn through(store: &Store, gate: &Arc<Gate>) -> Store {
    let durability: Arc<dyn strongroom::store::Durability> =
        match store.url().strip_prefix("file://") {
            Some(root) => Arc::new(strongroom::store::SyncFs::new(root.into())),
            None => Arc::new(strongroom::store::Volatile),
        };
    Store::with_backend(gate.clone(), durability, store.url())
}

/// The lock's holder stopped renewing long ago: its lease has run out (the lock object as its
/// last renewal left it, with an end in the past).
async fn lease_runs_out(store: &Store) {
    let mut stale: serde_json::Value = store
        .get_json(&Path::from("locks/writer.json"))
        .await
        .expect("get")
        .expect("a lock is held");
    stale["expires"] = "2000-01-01T00:00:00Z".into();
    overwrite(
        store,
        "locks/writer.json",
        serde_json::to_vec(&stale).expect("json"),
    )
    .await;
}

/// Every object under `ledger/` with its bytes.
async fn ledger_objects(store: &Store) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for p in store.list_paths(&Path::from("ledger")).await.expect("list") {
        out.insert(p.to_string(), get(store, p.as_ref()).await);
    }
    out
}

fn entries(tag: &str, n: u64) -> Vec<Bytes> {
    (0..n).map(|i| entry(tag, i)).collect()
}

/// Writer A of the claim tests: its view of the store through a gate on `gated` (armed by
/// the test where A is to stop), its lock and ledger, after it appended `base`.
struct WriterA {
    gate: Arc<Gate>,
    store: Store,
    ledger: Ledger,
    lock: WriterLock,
    base: Vec<Bytes>,
}

async fn writer_a(store: &Store, key: &ArchiveKey, gated: &str, base: u64) -> WriterA {
    let gate = Gate::new(store.backend().clone(), gated);
    let a_store = through(store, &gate);
    let ledger = Ledger::new(a_store.clone(), ORIGIN);
    let lock = a_store.lock_writer("A").await.expect("A's lock");
    let base = entries("base", base);
    ledger.append(&lock, key, &base).await.expect("base");
    WriterA {
        gate,
        store: a_store,
        ledger,
        lock,
        base,
    }
}

/// Writer A appends `batch` in a task and is stopped at its armed gate; the task gives back
/// the append's result and A's lock once the gate is opened.
async fn a_stopped_appending(
    gate: &Gate,
    a: &Ledger,
    a_lock: WriterLock,
    key: &Arc<ArchiveKey>,
    batch: &[Bytes],
) -> tokio::task::JoinHandle<(Result<log::Appended, log::LedgerError>, WriterLock)> {
    gate.arm();
    let (a, key, batch) = (a.clone(), key.clone(), batch.to_vec());
    let task = tokio::spawn(async move {
        let r = a.append(&a_lock, &key, &batch).await;
        (r, a_lock)
    });
    gate.wait_reached().await;
    task
}

/// Writer B: A's lease runs out (A is stopped) and B takes the lock by breaking it.
async fn writer_b_breaks_in(store: &Store) -> (Ledger, WriterLock) {
    lease_runs_out(store).await;
    let lock = store
        .lock_writer("B")
        .await
        .expect("B breaks the stale lock");
    (Ledger::new(store.clone(), ORIGIN), lock)
}

/// The zombie: writer A confirms the lock and is stopped (past its whole lease) right
/// before its first ledger write; B breaks the lock, recovers and commits a batch after the
/// same size; A wakes up. A's claim finds B's, so A commits nothing and writes nothing: B's
/// tiles (the batches both cross a full tile, so their paths collide) stay as B wrote them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stopped_past_its_lease_cannot_overwrite_or_fork() {
    for (name, store, _dir) in backends() {
        let key = Arc::new(key());
        let WriterA {
            gate,
            ledger: a,
            lock: a_lock,
            base,
            ..
        } = writer_a(&store, &key, "ledger/", 300).await;

        let a_batch = entries("A, stopped", 250);
        let zombie = a_stopped_appending(&gate, &a, a_lock, &key, &a_batch).await;

        let (b, b_lock) = writer_b_breaks_in(&store).await;
        b.recover(&b_lock).await.expect("B recovers");
        store.recover(&b_lock).await.expect("B recovers the store");
        let b_batch = entries("B", 230);
        let appended = b.append(&b_lock, &key, &b_batch).await.expect("B appends");
        assert_eq!(appended.first_index, 300, "{name}");
        let before = ledger_objects(&store).await;
        assert!(
            before.contains_key("ledger/tile/0/001"),
            "{name}: a full tile both write"
        );

        gate.release();
        let (r, a_lock) = zombie.await.expect("A's task");
        assert!(
            matches!(
                r,
                Err(log::LedgerError::Store(
                    strongroom::store::StoreError::LockLost
                ))
            ),
            "{name}: {r:?}"
        );
        assert!(!a_lock.is_held(), "{name}");
        assert_eq!(
            ledger_objects(&store).await,
            before,
            "{name}: A wrote nothing"
        );
        let mut all = base.clone();
        all.extend(b_batch);
        assert_eq!(b.size().await.expect("size"), 530, "{name}");
        assert_eq!(b.entries(0, 530).await.expect("entries"), all, "{name}");
        verifies_clean(&b, &key, &name).await;
        let claim = b.claim_at(300).await.expect("claim").expect("B's claim");
        assert_eq!(claim.writer, b_lock.info().token, "{name}");
        assert_eq!(claim.new, 530, "{name}");
        // B goes on as if nothing happened.
        b.append(&b_lock, &key, &entries("B again", 3))
            .await
            .expect("B appends again");
        b_lock.release().await.expect("release");
    }
}

/// A writer stopped after its claim (its commit point) and before any tile: the batch is
/// committed, so the next writer's recovery writes it out from the claim; its entries are
/// there exactly once, the ledger verifies, and when the stopped writer wakes it finishes
/// with the same bytes and never moves the latest checkpoint back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stopped_after_its_claim_is_rolled_forward_by_the_next_writer() {
    for (name, store, _dir) in backends() {
        let key = Arc::new(key());
        let WriterA {
            gate,
            ledger: a,
            lock: a_lock,
            base,
            ..
        } = writer_a(&store, &key, "ledger/tile/", 300).await;

        let a_batch = entries("A, stopped", 250);
        let stopped = a_stopped_appending(&gate, &a, a_lock, &key, &a_batch).await;
        let reader = Ledger::new(store.clone(), ORIGIN);
        assert_eq!(
            reader.size().await.expect("size"),
            300,
            "{name}: not written out yet"
        );
        let pending = reader.pending().await.expect("pending").expect("a claim");
        assert_eq!((pending.old, pending.new), (300, 550), "{name}");
        let report = reader
            .verify(&key.verifier(), None, &|_| {})
            .await
            .expect("verify");
        assert_eq!(report.codes(), [codes::CLAIM_PENDING], "{name}");
        assert!(report.is_ok(), "{name}: pending is a warning");

        let (b, b_lock) = writer_b_breaks_in(&store).await;
        let r = b.recover(&b_lock).await.expect("B recovers");
        assert_eq!(r.claims_finished, [550], "{name}: {r:?}");
        assert_eq!((r.size, r.rolled_forward), (550, Some(550)), "{name}");
        let mut all = base.clone();
        all.extend(a_batch.iter().cloned());
        assert_eq!(b.size().await.expect("size"), 550, "{name}");
        assert_eq!(b.entries(0, 550).await.expect("entries"), all, "{name}");
        verifies_clean(&b, &key, &name).await;
        let b_batch = entries("B", 10);
        let appended = b.append(&b_lock, &key, &b_batch).await.expect("B appends");
        assert_eq!(appended.first_index, 550, "{name}");
        all.extend(b_batch);

        // A wakes: its batch was committed, it writes the same bytes and reports success;
        // the latest checkpoint stays at B's size.
        gate.release();
        let (r, a_lock) = stopped.await.expect("A's task");
        assert_eq!(
            r.expect("A's batch is committed").first_index,
            300,
            "{name}"
        );
        drop(a_lock);
        assert_eq!(b.size().await.expect("size"), 560, "{name}");
        let published = b.latest().await.expect("latest").expect("checkpoint");
        assert_eq!(published.note, appended.checkpoint.note, "{name}");
        assert_eq!(
            get(&store, "ledger/checkpoint").await,
            appended.checkpoint.note.as_bytes(),
            "{name}: never moved back"
        );
        assert_eq!(b.entries(0, 560).await.expect("entries"), all, "{name}");
        verifies_clean(&b, &key, &name).await;
        b_lock.release().await.expect("release");
    }
}

/// `ledger/checkpoint` put back to an older size (a writer that stalled between its batch and
/// publishing it, waking after later batches): readers follow the claims chain to the true
/// size, `verify` says it is stale (a warning) and checks the true tree, and the next append
/// extends the true tree and publishes it.
#[tokio::test]
async fn a_stale_latest_checkpoint_is_read_as_the_claims_chain_says() {
    for (name, store, _dir) in backends() {
        let ledger = Ledger::new(store.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&store).await;
        let a = ledger
            .append(&lock, &key, &entries("a", 5))
            .await
            .expect("a");
        let b = ledger
            .append(&lock, &key, &entries("b", 4))
            .await
            .expect("b");
        overwrite(
            &store,
            "ledger/checkpoint",
            a.checkpoint.note.clone().into_bytes(),
        )
        .await;

        let fresh = Ledger::new(store.clone(), ORIGIN);
        assert_eq!(fresh.size().await.expect("size"), 9, "{name}");
        let latest = fresh.latest().await.expect("latest").expect("checkpoint");
        assert_eq!(latest.note, b.checkpoint.note, "{name}");
        assert_eq!(
            fresh.entry(8).await.expect("entry"),
            entry("b", 3),
            "{name}"
        );
        assert!(fresh.pending().await.expect("pending").is_none(), "{name}");
        let report = fresh
            .verify(&key.verifier(), None, &|_| {})
            .await
            .expect("verify");
        assert_eq!(
            report.codes(),
            [codes::CHECKPOINT_STALE],
            "{name}: {:#?}",
            report.findings
        );
        assert_eq!(report.size, 9, "{name}");
        assert!(report.is_ok(), "{name}");

        let c = fresh
            .append(&lock, &key, &[entry("c", 9)])
            .await
            .expect("append onto the true size");
        assert_eq!(c.first_index, 9, "{name}");
        assert_eq!(
            get(&store, "ledger/checkpoint").await,
            c.checkpoint.note.as_bytes(),
            "{name}"
        );
        verifies_clean(&fresh, &key, &name).await;
        lock.release().await.expect("release");
    }
}

/// Counts the requests a store receives, by kind.
#[derive(Debug, Default)]
struct Counts {
    get: std::sync::atomic::AtomicU64,
    head: std::sync::atomic::AtomicU64,
    put: std::sync::atomic::AtomicU64,
    other: std::sync::atomic::AtomicU64,
}

impl Counts {
    fn take(&self) -> (u64, u64, u64, u64) {
        use std::sync::atomic::Ordering::SeqCst;
        (
            self.get.swap(0, SeqCst),
            self.head.swap(0, SeqCst),
            self.put.swap(0, SeqCst),
            self.other.swap(0, SeqCst),
        )
    }
}

#[derive(Debug)]
struct Counting {
    inner: Arc<dyn object_store::ObjectStore>,
    counts: Arc<Counts>,
}

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

fn bump(c: &std::sync::atomic::AtomicU64) {
    c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[async_trait::async_trait]
impl object_store::ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        bump(&self.counts.put);
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        bump(&self.counts.other);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        bump(if options.head {
            &self.counts.head
        } else {
            &self.counts.get
        });
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        bump(&self.counts.get);
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        bump(&self.counts.other);
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        bump(&self.counts.other);
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        bump(&self.counts.other);
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        bump(&self.counts.other);
        self.inner.copy_opts(from, to, options).await
    }
    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::RenameOptions,
    ) -> object_store::Result<()> {
        bump(&self.counts.other);
        self.inner.rename_opts(from, to, options).await
    }
}

/// `ledger verify` of `ledger` finds nothing.
async fn verifies_clean(ledger: &Ledger, key: &ArchiveKey, name: &str) {
    let report = ledger
        .verify(&key.verifier(), None, &|_| {})
        .await
        .expect("ledger verify");
    assert!(report.findings.is_empty(), "{name}: {:#?}", report.findings);
}

/// `store` seen through a request counter.
fn counting(store: &Store) -> (Store, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let counted = Store::with_backend(
        Arc::new(Counting {
            inner: store.backend().clone(),
            counts: counts.clone(),
        }),
        Arc::new(strongroom::store::Volatile),
        store.url(),
    );
    (counted, counts)
}

/// What an append and a size read cost in requests, on S3 (moto) and memory (the same
/// object_store calls): the claim adds one PUT per append and one GET (a 404) per size read.
/// (`file://` adds a staged rename and the latest checkpoint's re-read; local calls.)
#[tokio::test]
async fn the_claim_costs_one_put_per_append_and_one_get_per_size_read() {
    for (name, store, _dir) in backends() {
        if name == "file" {
            continue;
        }
        let (counted, counts) = counting(&store);
        let ledger = Ledger::new(counted.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&counted).await;
        ledger
            .append(&lock, &key, &entries("warm", 3))
            .await
            .expect("first");
        counts.take();
        // A steady append (this process committed the last batch: its edge is cached). Small
        // ledger: one level-0 tile and one bundle.
        ledger
            .append(&lock, &key, &entries("steady", 2))
            .await
            .expect("append");
        let (get, head, put, other) = counts.take();
        eprintln!("{name}: append: {get} GET, {head} HEAD, {put} PUT, {other} other");
        // GET: the lock twice (confirmations), ledger/checkpoint once. PUT: the claim, a tile,
        // a bundle, the kept checkpoint, ledger/checkpoint (If-Match).
        assert_eq!((get, head, put, other), (3, 0, 5, 0), "{name}");
        assert_eq!(ledger.size().await.expect("size"), 5);
        let (get, head, put, other) = counts.take();
        eprintln!("{name}: size read: {get} GET, {head} HEAD, {put} PUT, {other} other");
        // ledger/checkpoint and ledger/next/<size> (absent).
        assert_eq!((get, head, put, other), (2, 0, 0, 0), "{name}");
        lock.release().await.expect("release");
    }
}

// ---------------------------------------------------------------------------------------------
// The fence: a writer stopped before its claim, whose write the next holder undoes
// (docs/scale.md §2, "The fence").

/// A record's version 1 at its place in the OCFL root, committed by entry `index`, with the
/// `record.stored` entry that commits it.
fn record_write(store: &Store, code: &str, index: u64) -> (strongroom::store::VersionWrite, Bytes) {
    use strongroom::ocfl::inventory::{Inventory, NewFile, User};
    let object_id = format!("urn:strongroom:{code}");
    let body = format!("正文 of {code}\n").into_bytes();
    let (d, _) = strongroom::digest::digest_reader(
        &body[..],
        &[
            strongroom::digest::Algorithm::Sha256,
            strongroom::digest::Algorithm::Sha512,
        ],
    )
    .expect("digest");
    let (inventory, to_write) = Inventory::next_version(
        None,
        &object_id,
        &[NewFile {
            logical_path: "files/正文.txt".into(),
            sha512: d[&strongroom::digest::Algorithm::Sha512].clone(),
            sha256: d[&strongroom::digest::Algorithm::Sha256].clone(),
        }],
        "2026-12-01T00:00:00Z".into(),
        format!("移交 {}", strongroom::store::ledger_marker(index)),
        User {
            name: "A".into(),
            address: None,
        },
    );
    let inventory_sha512 =
        hex::encode(ring::digest::digest(&ring::digest::SHA512, &inventory.to_json()).as_ref());
    let files = to_write
        .into_iter()
        .map(|(content_path, _)| strongroom::store::StagedFile {
            content_path,
            size: body.len() as u64,
            source: strongroom::store::FileSource::Bytes(Bytes::from(body.clone())),
        })
        .collect();
    let write = strongroom::store::VersionWrite {
        object_root: strongroom::intake::object_root(store, &object_id),
        previous: None,
        inventory,
        files,
    };
    let event = strongroom::ledger::entry::Event::RecordStored {
        reference_code: code.into(),
        object_id,
        version: "v1".into(),
        inventory_sha512,
        transfer: "AG/T-1".into(),
    };
    let entry = strongroom::ledger::entry::Entry::new(&event, "A", "2026-12-01T00:00:00Z");
    (write, Bytes::from(entry.encode().expect("entry")))
}

/// The zombie stopped between its last confirmation and its claim, with its versions written:
/// A writes record X's version 1 (its intent and every object) and is stopped right before
/// its claim `ledger/next/3`; its lease runs out; B breaks the lock. B's store recovery alone
/// (no key) leaves A's write in place, since A may still wake; B's keyed recovery appends one
/// `writer.fenced` entry (its claim takes index 3) and only then rolls A's write back, and
/// appends nothing else. A wakes: its claim finds B's, it reports `LockLost`, and nothing in
/// the ledger names A's version; `ledger verify` and `verify` are clean; B's next append lands
/// at 4. (Before the fence, A's claim on 3 succeeded and committed a version already deleted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stopped_before_its_claim_is_fenced_before_its_write_is_undone() {
    use strongroom::ledger::commit::{self, LedgerBatch};
    use strongroom::store::{CommitPlan, StoreError};
    for (name, store, _dir) in backends() {
        let key = Arc::new(key());
        store
            .init(&strongroom::store::ArchiveInfo {
                kind: "strongroom-archive".into(),
                format_version: 1,
                created: "2026-12-01T00:00:00Z".into(),
                key_name: ORIGIN.into(),
                verifier_key: key.verifier_key(),
            })
            .await
            .expect("init");
        let WriterA {
            gate,
            store: a_store,
            ledger: a,
            lock: a_lock,
            ..
        } = writer_a(&store, &key, "ledger/next/", 3).await;

        let code = "0194-WS·2016-D30-BGS-0001";
        let (write, entry) = record_write(&store, code, 3);
        let root = write.object_root.clone();
        let a_token = a_lock.info().token.clone();
        gate.arm();
        // A and B in one task (`Store::commit`'s future is not `Send`): A runs until the gate
        // stops it before its claim, B does its part, then opens the gate.
        let a_writes = async {
            let batch = LedgerBatch::new(&a, &key, vec![entry.clone()]);
            let plan = CommitPlan {
                ledger_first: 3,
                ledger_count: 1,
                after_commit: vec![],
            };
            a_store
                .commit(&a_lock, plan, &[write], &|_| {}, &batch)
                .await
        };
        let b_breaks_in = async {
            gate.wait_reached().await;
            let inventory = strongroom::store::join(&root, "inventory.json");
            assert!(
                store.exists(&inventory).await.expect("head"),
                "{name}: A's version is written"
            );
            let (b, b_lock) = writer_b_breaks_in(&store).await;
            // Without the key (`verify`, a server starting): A's write is left as it is.
            let keyless = store.recover(&b_lock).await.expect("store recovery");
            assert_eq!(keyless.unfenced.len(), 1, "{name}: {keyless:?}");
            assert!(keyless.removed.is_empty(), "{name}: {keyless:?}");
            assert!(store.exists(&inventory).await.expect("head"), "{name}");

            let r = commit::recover(&store, &b, &b_lock, &key)
                .await
                .expect("B's recovery");
            assert_eq!(r.fenced_at, Some(3), "{name}: {r:?}");
            assert_eq!(r.store.removed, [format!("{root}@v1")], "{name}: {r:?}");
            assert!(r.store.unfenced.is_empty(), "{name}: {r:?}");
            assert!(
                store.list_paths(&root).await.expect("list").is_empty(),
                "{name}: A's version rolled back"
            );
            let fence = b.claim_at(3).await.expect("claim").expect("B's claim");
            assert_eq!(fence.writer, b_lock.info().token, "{name}");
            let fenced =
                strongroom::ledger::entry::Entry::decode(&b.entry(3).await.expect("entry"))
                    .expect("decode");
            assert_eq!(fenced.kind, "writer.fenced", "{name}");
            assert_eq!(
                fenced.fields["writers"],
                serde_json::json!([a_token]),
                "{name}"
            );
            assert_eq!(
                fenced.fields["versions"],
                serde_json::json!([format!("{root}@v1")]),
                "{name}"
            );
            assert_eq!(b.size().await.expect("size"), 4, "{name}: the fence only");
            // A wakes: its claim on 3 finds B's.
            gate.release();
            (b, b_lock)
        };
        let (r, (b, b_lock)) = tokio::join!(a_writes, b_breaks_in);
        let err = r.expect_err("A committed nothing");
        assert!(
            matches!(&err, StoreError::CommitPoint(e)
                if matches!(e.downcast_ref::<log::LedgerError>(),
                    Some(log::LedgerError::Store(StoreError::LockLost)))),
            "{name}: {err:?}"
        );
        assert!(!a_lock.is_held(), "{name}");
        assert_eq!(b.size().await.expect("size"), 4, "{name}");
        for (i, e) in b.entries(0, 4).await.expect("entries").iter().enumerate() {
            assert_ne!(e, &entry, "{name}: entry {i} is A's");
        }
        assert!(
            store.list_paths(&root).await.expect("list").is_empty(),
            "{name}: A wrote nothing more"
        );
        verifies_clean(&b, &key, &name).await;

        // B goes on: no `Overtaken`.
        let next = b
            .append(&b_lock, &key, &entries("B", 2))
            .await
            .expect("B appends");
        assert_eq!(next.first_index, 4, "{name}");
        b_lock.release().await.expect("release");
        let v = strongroom::verify::verify(&store, &[], "auditor", None)
            .await
            .expect("verify");
        assert!(v.damage.is_empty(), "{name}: {:#?}", v.damage);
    }
}

/// A writer stopped before its claim with plain events (no write in the store to undo): its
/// lease runs out, B breaks the lock and recovers with the key, appending nothing of its own.
/// The fence still takes the tip, so A cannot commit at it, naming a state B may change next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stopped_before_its_claim_with_plain_events_is_fenced_too() {
    use strongroom::ledger::commit;
    use strongroom::store::StoreError;
    for (name, store, _dir) in backends() {
        let key = Arc::new(key());
        let WriterA {
            gate,
            ledger: a,
            lock: a_lock,
            ..
        } = writer_a(&store, &key, "ledger/next/", 5).await;
        let a_token = a_lock.info().token.clone();
        let a_batch = entries("A, stopped", 2);
        let zombie = a_stopped_appending(&gate, &a, a_lock, &key, &a_batch).await;

        let (b, b_lock) = writer_b_breaks_in(&store).await;
        let r = commit::recover(&store, &b, &b_lock, &key)
            .await
            .expect("B's recovery");
        assert_eq!(r.fenced_at, Some(5), "{name}: {r:?}");
        let fenced = strongroom::ledger::entry::Entry::decode(&b.entry(5).await.expect("entry"))
            .expect("decode");
        assert_eq!(fenced.kind, "writer.fenced", "{name}");
        assert_eq!(
            fenced.fields["writers"],
            serde_json::json!([a_token]),
            "{name}"
        );
        // Once per lock: a second recovery under the same lock appends nothing.
        let again = commit::recover(&store, &b, &b_lock, &key)
            .await
            .expect("again");
        assert_eq!(again.fenced_at, None, "{name}");

        gate.release();
        let err = zombie
            .await
            .expect("A's task")
            .0
            .expect_err("A committed nothing");
        assert!(
            matches!(err, log::LedgerError::Store(StoreError::LockLost)),
            "{name}: {err:?}"
        );
        assert_eq!(b.size().await.expect("size"), 6, "{name}: the fence only");
        for e in b.entries(0, 6).await.expect("entries") {
            assert!(
                !a_batch.contains(&e),
                "{name}: one of A's entries was committed"
            );
        }
        let next = b
            .append(&b_lock, &key, &entries("B", 2))
            .await
            .expect("B appends");
        assert_eq!(next.first_index, 6, "{name}");
        verifies_clean(&b, &key, &name).await;
        b_lock.release().await.expect("release");
    }
}

/// What a writer's start-up recovery costs in requests when nothing was left behind: on S3
/// (moto) the ledger's search for garbage beyond the edge lists one folder per level and kind
/// instead of probing 18 tile indices each (which `memory://` still does: there a request is
/// a function call), and it still finds garbage planted beyond the edge.
#[tokio::test]
async fn a_writer_start_on_s3_lists_instead_of_probing() {
    for (name, store, _dir) in backends() {
        if name == "file" {
            continue;
        }
        let (counted, counts) = counting(&store);
        let ledger = Ledger::new(counted.clone(), ORIGIN);
        let key = key();
        let lock = take_lock(&counted).await;
        let all = entries("base", 600);
        ledger.append(&lock, &key, &all).await.expect("append");
        counts.take();
        let fresh = Ledger::new(counted.clone(), ORIGIN);
        let r = fresh.recover(&lock).await.expect("ledger recovery");
        assert!(r.removed.is_empty(), "{name}: {r:?}");
        let ledger_counts = counts.take();
        let s = counted.recover(&lock).await.expect("store recovery");
        assert!(s.is_clean(), "{name}: {s:?}");
        let store_counts = counts.take();
        eprintln!(
            "{name}: writer start at 600 entries: ledger recovery {} GET, {} HEAD, {} PUT, {} \
             LIST/other; store recovery {} GET, {} HEAD, {} PUT, {} LIST/other",
            ledger_counts.0,
            ledger_counts.1,
            ledger_counts.2,
            ledger_counts.3,
            store_counts.0,
            store_counts.1,
            store_counts.2,
            store_counts.3
        );
        // The store's: `ledger/checkpoint` and `ledger/next/<size>` (the size), one LIST of
        // `intents/`, `removals/` and `staging/` each.
        assert_eq!(store_counts, (2, 0, 0, 3), "{name}");
        if name == "s3" {
            // Levels 0 (tiles, bundles), 1 and 2 (empty: the end), and `checkpoints/` after
            // the published size: 5 LISTs; no HEAD.
            assert_eq!((ledger_counts.1, ledger_counts.3), (0, 5), "{name}");
        } else {
            assert!(ledger_counts.1 + ledger_counts.3 > 50, "{name}: the probe");
        }

        // Garbage beyond the edge, as a crashed append of a store written before claims left
        // it, is found the same way.
        let lost = entries("lost", 300);
        let garbage = crashed_append(&counted, &all, &lost).await;
        let r = fresh.recover(&lock).await.expect("recover");
        assert_eq!(r.removed, garbage, "{name}");
        verifies_clean(&fresh, &key, &name).await;
        lock.release().await.expect("release");
    }
}
