//! Load on the server: concurrent search clients and concurrent transfers against a real
//! `strongroom serve` over loopback, bounded in count and time; reports requests per second,
//! latency percentiles, errors and the server's peak memory.
//!
//! Run with:
//! `cargo run --release -p strongroom-bench --bin bench-server -- [--quick] [--records N]
//!  [--seconds S] [--clients C] [--transfers T] [--strongroom PATH] [--json]`
//!
//! Defaults follow issue 8: 100,000 records, 50 search clients and 4 transfer clients for
//! 60 s; target 0 errors and search p99 ≤ 100 ms. `--quick`: 2,000 records, 10 s.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use strongroom::bagit::create_bag;
use strongroom::digest::Algorithm;

const FONDS: &str = "9999";
const AGENCY: &str = "11330100MB0000000X";
/// Words the records' titles and texts are made of, and the searches ask for.
const WORDS: [&str; 12] = [
    "政务服务",
    "会议纪要",
    "电子证照",
    "平台建设",
    "数据规范",
    "行政许可",
    "档案移交",
    "财政预算",
    "城市规划",
    "环境保护",
    "教育培训",
    "公共卫生",
];
/// Records per bag when loading.
const PER_BAG: usize = 500;

struct Args {
    records: usize,
    seconds: u64,
    clients: usize,
    transfers: usize,
    strongroom: Option<PathBuf>,
    /// An archive home to load once and reuse across runs (kept afterwards).
    home: Option<PathBuf>,
    /// `serve --search-cache` (None: the server's default).
    search_cache: Option<u64>,
    json: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        records: 100_000,
        seconds: 60,
        clients: 50,
        transfers: 4,
        strongroom: None,
        home: None,
        search_cache: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--quick" => {
                a.records = 2_000;
                a.seconds = 10;
            }
            "--records" => a.records = usize::try_from(num("--records")?)?,
            "--seconds" => a.seconds = num("--seconds")?.clamp(1, 600),
            "--clients" => a.clients = usize::try_from(num("--clients")?)?.clamp(1, 200),
            "--transfers" => a.transfers = usize::try_from(num("--transfers")?)?.min(16),
            "--strongroom" => {
                a.strongroom = Some(it.next().context("--strongroom needs a path")?.into())
            }
            "--home" => a.home = Some(it.next().context("--home needs a path")?.into()),
            "--search-cache" => a.search_cache = Some(num("--search-cache")?),
            "--json" => a.json = true,
            "--help" | "-h" => {
                println!("bench-server [--quick] [--records N] [--seconds S] [--clients C] [--transfers T] [--strongroom PATH] [--home DIR] [--search-cache N] [--json]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    Ok(a)
}

/// xorshift64*: the same pseudo-random words on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }
}

/// A bag of `count` one-file records of organization `org`, items `first..`.
fn make_bag(
    dir: &Path,
    external_id: &str,
    org: &str,
    first: usize,
    count: usize,
    rng: &mut Rng,
) -> Result<()> {
    for i in 0..count {
        let item = first + i;
        let rec = dir.join("data").join(format!("{item:04}"));
        fs::create_dir_all(&rec)?;
        let (w1, w2) = (rng.word(), rng.word());
        let body = format!(
            "关于{w1}和{w2}的文件，第{item}号。{}\n",
            [w1, w2, rng.word()].join("、").repeat(20)
        );
        fs::write(rec.join("正文.txt"), body)?;
        let v = json!({
            "reference_code": format!("{FONDS}-WS\u{00B7}2024-D30-{org}-{item:04}"),
            "title": format!("关于{w1}{w2}的通知 {item}"),
            "creator": "strongroom 基准测试",
            "date": "2024-01-15",
            "retention": "D30",
            "fonds": FONDS,
            "category": "WS",
            "year": 2024,
            "organization": org,
            "item_number": item,
            "classification": "公开",
            "files": [{"path": "正文.txt", "order": 1, "role": "main"}],
        });
        fs::write(
            rec.join("record.json"),
            serde_json::to_string_pretty(&v)? + "\n",
        )?;
    }
    let info: Vec<(String, String)> = [
        ("Source-Organization", "strongroom 基准测试单位"),
        ("Agency-Code", AGENCY),
        ("Fonds-Code", FONDS),
        ("External-Identifier", external_id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    create_bag(dir, &info, &[Algorithm::Sha256, Algorithm::Sha512])
        .with_context(|| format!("making a bag of {}", dir.display()))
}

fn run(sr: &Path, home: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(sr)
        .arg("--home")
        .arg(home)
        .args(["--as", "bench"])
        .args(args)
        .output()
        .with_context(|| format!("running {}", sr.display()))?;
    if !out.status.success() {
        bail!(
            "strongroom {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The server's result-cache counters (hits, misses) and per-segment partial counters (hits,
/// misses) from `/metrics`; zeros if unreadable.
fn cache_counts(base: &str, token: &str) -> (u64, u64, u64, u64) {
    let text = agent()
        .get(format!("{base}/metrics"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let count = |metric: &str, what: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{metric}{{result=\"{what}\"}} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let (results, segments) = (
        "strongroom_search_cache_total",
        "strongroom_search_segments_total",
    );
    (
        count(results, "hit"),
        count(results, "miss"),
        count(segments, "hit"),
        count(segments, "miss"),
    )
}

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn bench() -> Result<()> {
    let args = parse_args()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sr = match &args.strongroom {
        Some(p) => p.clone(),
        None => {
            eprintln!("building strongroom (release)");
            let ok = Command::new("cargo")
                .args(["build", "--release", "-p", "strongroom"])
                .current_dir(&root)
                .status()?
                .success();
            if !ok {
                bail!("cargo build --release failed");
            }
            root.join("target/release/strongroom")
        }
    };
    let scratch = root.join(format!("target/bench-server-{}", std::process::id()));
    fs::create_dir_all(&scratch)?;
    let result = load(&args, &sr, &scratch);
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn load(args: &Args, sr: &Path, scratch: &Path) -> Result<()> {
    let home = args.home.clone().unwrap_or_else(|| scratch.join("home"));
    // A kept home loaded by an earlier run with the same record count is reused as it is
    // (its tokens are kept beside it): iterating on the server then skips the load.
    let kept = home.join(format!("bench-server-{}.json", args.records));
    let (reader, agency, load_secs) = match fs::read(&kept)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        Some(v) if args.home.is_some() => {
            eprintln!("reusing the archive at {}", home.display());
            (
                v["reader"]
                    .as_str()
                    .context("kept reader token")?
                    .to_string(),
                v["agency"]
                    .as_str()
                    .context("kept agency token")?
                    .to_string(),
                0.0,
            )
        }
        _ => {
            let (reader, agency, secs) = load_archive(args, sr, scratch, &home)?;
            if args.home.is_some() {
                fs::write(
                    &kept,
                    serde_json::to_vec(&json!({"reader": reader, "agency": agency}))?,
                )?;
            }
            (reader, agency, secs)
        }
    };
    drive(args, sr, scratch, &home, &reader, &agency, load_secs)
}

/// A fresh archive of `args.records` records: returns the archivist's and the agency's tokens
/// and the seconds the load took.
fn load_archive(
    args: &Args,
    sr: &Path,
    scratch: &Path,
    home: &Path,
) -> Result<(String, String, f64)> {
    let home = home.to_path_buf();
    run(sr, &home, &["init"])?;
    run(sr, &home, &["user", "add", "reader", "--role", "archivist"])?;
    let reader = run(sr, &home, &["token", "issue", "reader"])?;
    run(
        sr,
        &home,
        &[
            "user",
            "add",
            "agency",
            "--role",
            &format!("agency:{AGENCY}"),
        ],
    )?;
    let agency = run(sr, &home, &["token", "issue", "agency"])?;

    // The archive: args.records records in bags of PER_BAG.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut loaded = 0;
    let mut n = 0;
    while loaded < args.records {
        let count = PER_BAG.min(args.records - loaded);
        let bag = scratch.join(format!("load-{n}"));
        // Organization codes AAA, AAB, … so that items stay within 5 digits.
        let org: String = [n / 676, (n / 26) % 26, n % 26]
            .iter()
            .map(|d| (b'A' + *d as u8) as char)
            .collect();
        make_bag(&bag, &format!("LOAD-{n}"), &org, 1, count, &mut rng)?;
        run(
            sr,
            &home,
            &["transfer", bag.to_str().context("utf-8 path")?],
        )?;
        fs::remove_dir_all(&bag)?;
        loaded += count;
        n += 1;
        eprint!("\rloaded {loaded}/{} records", args.records);
    }
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!(" in {load_secs:.0} s");
    Ok((reader, agency, load_secs))
}

/// The load itself: transfer packages made, the server started on `home`, clients run.
fn drive(
    args: &Args,
    sr: &Path,
    scratch: &Path,
    home: &Path,
    reader: &str,
    agency: &str,
    load_secs: f64,
) -> Result<()> {
    let (reader, agency) = (reader.to_string(), agency.to_string());
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    // Which run on this home this is (a fresh home: 0).
    let runs = home.join("bench-server-runs");
    let run_no: u64 = fs::read_to_string(&runs)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    fs::write(&runs, (run_no + 1).to_string())?;

    // Packages for the transfer clients, made before the clock starts.
    let per_client = (args.seconds as usize / 2).clamp(2, 60);
    let mut packages: Vec<Vec<PathBuf>> = Vec::new();
    for t in 0..args.transfers {
        let mut mine = Vec::new();
        for k in 0..per_client {
            let bag = scratch.join(format!("t{t}-{k}"));
            make_bag(
                &bag,
                &format!("LIVE-{run_no}-{t}-{k}"),
                // A kept home is driven again and again: each run's live records get their
                // own organization code so that their 档号 are new.
                &format!(
                    "L{}{}",
                    (b'A' + (run_no % 26) as u8) as char,
                    (b'A' + t as u8) as char
                ),
                k * 10 + 1,
                10,
                &mut rng,
            )?;
            let tar = scratch.join(format!("t{t}-{k}.tar"));
            let ok = Command::new("tar")
                .arg("-cf")
                .arg(&tar)
                .arg("-C")
                .arg(&bag)
                .arg(".")
                .status()?
                .success();
            if !ok {
                bail!("tar failed");
            }
            mine.push(tar);
        }
        packages.push(mine);
    }

    // An auditor reads the server's counters at the end (the result cache's hits).
    let auditor = format!("auditor{run_no}");
    run(sr, home, &["user", "add", &auditor, "--role", "auditor"])?;
    let auditor = run(sr, home, &["token", "issue", &auditor])?;
    let mut server = Command::new(sr);
    server
        .arg("--home")
        .arg(home)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    if let Some(n) = args.search_cache {
        server.arg("--search-cache").arg(n.to_string());
    }
    let mut server = server
        .env("STRONGROOM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(server.stdout.take().context("stdout")?).read_line(&mut line)?;
    let base = line
        .trim()
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    let pid = server.id();

    // The first search brings the index up to the ledger.
    // (It may outlast the server's request time limit: 408 means ask again.)
    let t = Instant::now();
    loop {
        let r = agent()
            .get(format!("{base}/api/search?q={}", enc(WORDS[0])))
            .header("Authorization", format!("Bearer {reader}"))
            .call()?;
        match r.status().as_u16() {
            200 => break,
            408 if t.elapsed() < Duration::from_secs(3600) => continue,
            other => bail!("the first search answered {other}"),
        }
    }
    let index_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "index caught up in {index_secs:.1} s; load for {} s",
        args.seconds
    );

    let stop = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(Mutex::new(Tally::default()));
    let transfers = Arc::new(Mutex::new(Tally::default()));
    let mut threads = Vec::new();
    for c in 0..args.clients {
        let (stop, tally, base, tok) =
            (stop.clone(), searches.clone(), base.clone(), reader.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng(0x1234_5678 + c as u64);
            let agent = agent();
            while !stop.load(Ordering::Relaxed) {
                let q = format!("{}/api/search?q={}&limit=20", base, enc(rng.word()));
                let t = Instant::now();
                let r = agent
                    .get(&q)
                    .header("Authorization", format!("Bearer {tok}"))
                    .call();
                let secs = t.elapsed().as_secs_f64();
                let mut g = tally.lock().unwrap_or_else(|p| p.into_inner());
                match r {
                    Ok(mut r) if r.status() == 200 => {
                        let _ = r.body_mut().read_to_vec();
                        g.latencies.push(secs);
                    }
                    Ok(r) => g.error(format!("search answered {}", r.status())),
                    Err(e) => g.error(format!("search: {e}")),
                }
            }
        }));
    }
    for mine in packages {
        let (stop, tally, base, tok) = (
            stop.clone(),
            transfers.clone(),
            base.clone(),
            agency.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let agent = agent();
            for pkg in mine {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                let outcome = (|| -> std::result::Result<(), String> {
                    let bytes = fs::read(&pkg).map_err(|e| e.to_string())?;
                    let mut r = agent
                        .post(format!("{base}/api/transfers"))
                        .header("Authorization", format!("Bearer {tok}"))
                        .send(&bytes[..])
                        .map_err(|e| e.to_string())?;
                    if r.status() != 202 {
                        return Err(format!("upload answered {}", r.status()));
                    }
                    let v: Value = r.body_mut().read_json().map_err(|e| e.to_string())?;
                    let id = v["id"].as_str().unwrap_or("").to_string();
                    loop {
                        std::thread::sleep(Duration::from_millis(50));
                        let mut r = agent
                            .get(format!("{base}/api/transfers/{id}"))
                            .header("Authorization", format!("Bearer {tok}"))
                            .call()
                            .map_err(|e| e.to_string())?;
                        let v: Value = r.body_mut().read_json().map_err(|e| e.to_string())?;
                        match v["state"].as_str() {
                            Some("checking") => continue,
                            Some("accepted") => return Ok(()),
                            other => return Err(format!("transfer ended {other:?}: {v}")),
                        }
                    }
                })();
                let secs = t.elapsed().as_secs_f64();
                let mut g = tally.lock().unwrap_or_else(|p| p.into_inner());
                match outcome {
                    Ok(()) => g.latencies.push(secs),
                    Err(e) => g.error(e),
                }
            }
        }));
    }
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let rss = peak_rss(pid);
    let cache = cache_counts(&base, &auditor);
    // SIGTERM: graceful shutdown.
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = server.wait();

    let summary = |t: &Mutex<Tally>| {
        let mut g = t.lock().unwrap_or_else(|p| p.into_inner());
        g.latencies.sort_by(|a, b| a.total_cmp(b));
        json!({
            "completed": g.latencies.len(),
            "per_second": g.latencies.len() as f64 / elapsed,
            "p50_ms": percentile(&g.latencies, 0.5) * 1000.0,
            "p99_ms": percentile(&g.latencies, 0.99) * 1000.0,
            "max_ms": g.latencies.last().copied().unwrap_or(0.0) * 1000.0,
            "errors": g.errors,
            "first_error": g.first_error,
        })
    };
    let s = summary(&searches);
    let tr = summary(&transfers);
    let doc = json!({
        "records": args.records, "load_seconds": load_secs, "index_catch_up_seconds": index_secs,
        "seconds": elapsed, "search_clients": args.clients, "transfer_clients": args.transfers,
        "search": s, "transfers": tr, "server_peak_rss_bytes": rss,
        "search_cache": {"entries": args.search_cache, "hits": cache.0, "misses": cache.1,
                         "segment_hits": cache.2, "segment_misses": cache.3},
        "goals": {"errors": 0, "search_p99_ms": 100},
    });
    let table = format!(
        "server load: {} records, {} search clients + {} transfer clients for {:.0} s (loopback)\n\
         search     {:>8} done {:>8.1}/s  p50 {:>7.1} ms  p99 {:>7.1} ms  errors {}  (goal: p99 ≤ 100 ms, 0 errors)\n\
         transfers  {:>8} done {:>8.2}/s  p50 {:>7.0} ms  p99 {:>7.0} ms  errors {}  (10 records each, upload to accepted)\n\
         server peak RSS {} MiB; records loaded in {:.0} s; index caught up in {:.1} s\n\
         search result cache ({}): {} hits, {} misses; segments of the misses: {} reused, {} searched",
        args.records, args.clients, args.transfers, elapsed,
        s["completed"], s["per_second"].as_f64().unwrap_or(0.0), s["p50_ms"].as_f64().unwrap_or(0.0), s["p99_ms"].as_f64().unwrap_or(0.0), s["errors"],
        tr["completed"], tr["per_second"].as_f64().unwrap_or(0.0), tr["p50_ms"].as_f64().unwrap_or(0.0), tr["p99_ms"].as_f64().unwrap_or(0.0), tr["errors"],
        rss >> 20, load_secs, index_secs,
        args.search_cache.map_or("server default".to_string(), |n| format!("{n} entries")), cache.0, cache.1, cache.2, cache.3,
    );
    if args.json {
        eprintln!("{table}");
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        println!("{table}");
        for (what, v) in [("search", &s), ("transfers", &tr)] {
            if let Some(e) = v["first_error"].as_str() {
                println!("first {what} error: {e}");
            }
        }
    }
    Ok(())
}
