//! Run with: `cargo run --release -p strongroom-bench --bin bench-ledger -- [--quick] [--out DIR] [--json]`
//!
//! The ledger's speed, each figure beside a baseline measured in the same run on the same
//! file system (the machines are shared and noisy; ratios carry over, absolute rates less):
//! - durable appends per second with 64 concurrent appenders sharing group commits, against
//!   the rate of `syncfs(2)` calls the file system sustains (each batch costs three);
//! - inclusion-proof generation at 10 million leaves (1 million with `--quick`), reading tiles
//!   from the store, after building that tree with bulk (non-durable) appends of 4,096;
//! - `ledger verify` throughput in entries/s, against `openssl dgst -sha256` over the same
//!   entry-bundle bytes (verify hashes every entry once more for the tiles above it).
//!
//! Goals (issue 3): ≥ 20,000 durable entries/s; a proof in < 1 ms. Goals, not tests: the exit
//! status is 0 whatever the figures, 1 when a step fails.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use serde_json::json;

use strongroom::ledger::log::{GroupCommit, Ledger, MAX_BATCH};
use strongroom::sign::ArchiveKey;
use strongroom::store::{ArchiveInfo, Store, Volatile};

const USAGE: &str = "usage: bench-ledger [--quick] [--out DIR] [--json] [--keep]";
const APPENDERS: usize = 64;
const GOAL_APPENDS_PER_S: f64 = 20_000.0;
const GOAL_PROOF_MS: f64 = 1.0;
const ORIGIN: &str = "bench.example/strongroom";

struct Args {
    quick: bool,
    out: Option<PathBuf>,
    json: bool,
    keep: bool,
}

fn parse_args() -> Result<Option<Args>> {
    let mut a = Args {
        quick: false,
        out: None,
        json: false,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--json" => a.json = true,
            "--keep" => a.keep = true,
            "--out" => a.out = Some(it.next().context("--out needs a folder")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(a))
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[bench-ledger] {}", msg.as_ref());
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ledger: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-ledger: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ledger: FAILED: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A scratch folder on the measured file system, removed afterwards unless `--keep`.
fn scratch(args: &Args) -> Result<PathBuf> {
    let base = match &args.out {
        Some(d) => d.clone(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    };
    let dir = base.join(format!("bench-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn info(key: &ArchiveKey) -> ArchiveInfo {
    ArchiveInfo {
        kind: "strongroom-archive".into(),
        format_version: 1,
        created: "2026-01-01T00:00:00Z".into(),
        key_name: key.name().into(),
        verifier_key: key.verifier_key(),
    }
}

/// An entry of about the size of a `record.stored` entry.
fn entry(i: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"actor\":\"bench\",\"inventory_sha512\":\"{:0128x}\",\"object_id\":\"urn:strongroom:9999-WS·2024-D30-BEN-{i:04}\",\"reference_code\":\"9999-WS·2024-D30-BEN-{i:04}\",\"time\":\"2026-12-01T00:00:00Z\",\"transfer\":\"BENCH/T-1\",\"type\":\"record.stored\",\"v\":1,\"version\":\"v1\"}}",
        i
    ))
}

/// How many `syncfs` calls a second the file system of `dir` sustains, each after a small
/// write: the floor under every durable batch.
fn syncfs_rate(dir: &Path) -> Result<f64> {
    let f = std::fs::File::open(dir)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        std::fs::write(dir.join(format!("probe-{n}")), [0u8; 512])?;
        rustix::fs::syncfs(&f)?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

async fn run(args: &Args) -> Result<()> {
    let dir = scratch(args)?;
    let result = measure(args, &dir).await;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(args: &Args, dir: &Path) -> Result<()> {
    let key = Arc::new(ArchiveKey::generate(ORIGIN)?);
    let per_appender: u64 = if args.quick { 100 } else { 500 };
    let big: u64 = if args.quick { 1_000_000 } else { 10_000_000 };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    // 1. Baseline and durable appends with 64 appenders.
    let probe = dir.join("syncfs-probe");
    std::fs::create_dir_all(&probe)?;
    progress("baseline: small write + syncfs, 2 s");
    let syncs_per_s = syncfs_rate(&probe)?;
    let durable = Store::open(&format!("file://{}", dir.join("durable").display()))?;
    durable.init(&info(&key)).await?;
    let lock = durable.lock_writer("bench").await?;
    let ledger = Ledger::new(durable.clone(), ORIGIN);
    let gc = GroupCommit::start(ledger, lock, key.clone());
    progress(format!(
        "durable appends: {APPENDERS} appenders × {per_appender} entries"
    ));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..APPENDERS as u64 {
        let gc = gc.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..per_appender {
                gc.append_one(entry(a * 1_000_000 + j)).await?;
            }
            Ok::<_, strongroom::ledger::log::LedgerError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let append_s = start.elapsed().as_secs_f64();
    let appended = (APPENDERS as u64 * per_appender) as f64;
    let batches = gc.batches();
    gc.shutdown().await?.release().await?;
    let appends_per_s = appended / append_s;
    let batches_per_s = batches as f64 / append_s;

    // 2. A large tree built with bulk appends (no syncs), then proofs read from its tiles.
    progress(format!("building a {big}-leaf ledger with bulk appends"));
    let bulk_root = dir.join("bulk");
    std::fs::create_dir_all(&bulk_root)?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(&bulk_root)?;
    let bulk = Store::with_backend(Arc::new(fs), Arc::new(Volatile), "file://bulk");
    bulk.init(&info(&key)).await?;
    let lock = bulk.lock_writer("bench").await?;
    let ledger = Ledger::new(bulk.clone(), ORIGIN);
    let start = Instant::now();
    let mut next = 0u64;
    while next < big {
        let n = (big - next).min(MAX_BATCH as u64);
        let batch: Vec<Bytes> = (next..next + n).map(entry).collect();
        ledger.append(&lock, &key, &batch).await?;
        next += n;
    }
    let build_s = start.elapsed().as_secs_f64();
    lock.release().await?;
    progress("inclusion proofs: 1,000 random leaves");
    let fresh = Ledger::new(bulk.clone(), ORIGIN);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut times = Vec::with_capacity(1000);
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % big;
        let t = Instant::now();
        let proof = fresh.inclusion_proof(i, big).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if proof.is_empty() {
            bail!("empty proof for leaf {i} of {big}");
        }
    }
    times.sort_by(f64::total_cmp);
    let proof_mean = times.iter().sum::<f64>() / times.len() as f64;
    let proof_p99 = times[times.len() * 99 / 100];

    // 3. ledger verify over the large tree, against openssl sha256 of its bundle bytes.
    progress("ledger verify over the large tree");
    let start = Instant::now();
    let report = fresh.verify(&key.verifier(), None, &|_| {}).await?;
    let verify_s = start.elapsed().as_secs_f64();
    if !report.is_ok() {
        bail!("ledger verify found damage: {:?}", report.codes());
    }
    let bundles = bulk_root.join("ledger/tile/entries");
    let (bundle_bytes, sha256_s) = openssl_sha256_under(&bundles)?;
    let verify_eps = report.entries_checked as f64 / verify_s;
    let verify_bps = bundle_bytes as f64 / verify_s;
    let openssl_bps = bundle_bytes as f64 / sha256_s;

    let doc = json!({
        "mode": if args.quick { "quick" } else { "full" },
        "load_average": load.trim(),
        "baseline_syncfs_per_s": syncs_per_s,
        "durable_appends": {
            "appenders": APPENDERS, "entries": appended, "seconds": append_s,
            "entries_per_s": appends_per_s, "batches": batches, "batches_per_s": batches_per_s,
            "syncs_per_batch": 3, "ratio_syncs_to_baseline": batches_per_s * 3.0 / syncs_per_s,
            "goal_entries_per_s": GOAL_APPENDS_PER_S,
        },
        "bulk_build": {"leaves": big, "seconds": build_s, "entries_per_s": big as f64 / build_s},
        "inclusion_proof_ms": {"leaves": big, "mean": proof_mean, "p99": proof_p99, "goal": GOAL_PROOF_MS},
        "ledger_verify": {
            "entries": report.entries_checked, "seconds": verify_s, "entries_per_s": verify_eps,
            "bundle_bytes": bundle_bytes, "openssl_sha256_bytes_per_s": openssl_bps,
            "ratio_to_openssl_sha256": verify_bps / openssl_bps,
        },
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "strongroom ledger bench, {} run; load average {}",
        doc["mode"].as_str().unwrap_or(""),
        load.trim()
    );
    println!("baseline  small write + syncfs:            {syncs_per_s:>10.0} syncs/s");
    println!(
        "appends   {APPENDERS} appenders, {appended:.0} entries:    {appends_per_s:>10.0} entries/s  ({batches} batches, {:.0} entries/batch; {:.2}× the syncfs rate in syncs)  goal ≥ {GOAL_APPENDS_PER_S:.0}: {}",
        appended / batches.max(1) as f64,
        batches_per_s * 3.0 / syncs_per_s,
        met(appends_per_s >= GOAL_APPENDS_PER_S)
    );
    println!(
        "build     {big} leaves, bulk appends:       {:>10.0} entries/s  ({build_s:.1} s)",
        big as f64 / build_s
    );
    println!(
        "proof     inclusion at {big} leaves:        mean {proof_mean:.3} ms, p99 {proof_p99:.3} ms  goal < {GOAL_PROOF_MS} ms: {}",
        met(proof_p99 < GOAL_PROOF_MS)
    );
    println!(
        "verify    ledger verify, {} entries:      {verify_eps:>10.0} entries/s  ({:.2}× openssl sha256 over the same {:.0} MiB of bundles)",
        report.entries_checked,
        verify_bps / openssl_bps,
        bundle_bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// Total bytes of the files under `dir` and the seconds `openssl dgst -sha256` takes over them
/// (in batches of 1,000 files per process).
fn openssl_sha256_under(dir: &Path) -> Result<(u64, f64)> {
    let mut files = Vec::new();
    let mut total = 0u64;
    for e in walk(dir)? {
        total += std::fs::metadata(&e)?.len();
        files.push(e);
    }
    let start = Instant::now();
    for chunk in files.chunks(1000) {
        let out = Command::new("openssl")
            .arg("dgst")
            .arg("-sha256")
            .args(chunk)
            .output()
            .context("running openssl")?;
        if !out.status.success() {
            bail!(
                "openssl dgst failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok((total, start.elapsed().as_secs_f64()))
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}
