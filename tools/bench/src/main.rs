//! Run with:
//!
//! ```sh
//! cargo build --release -p strongroom            # the binary under test (the bench builds it too)
//! cargo run --release -p strongroom-bench -- [--quick] [--out DIR] [--keep] [--json]
//! ```
//!
//! The benchmark harness of strongroom: builds its own data sets in a scratch folder, then in
//! one invocation measures the durable-write and digest baselines of this machine (`dd
//! conv=fdatasync`, `openssl dgst`, many small files written then `sync`), runs the real
//! `strongroom` binary (`init`, `transfer` of one large file, `transfer` of many small files,
//! `verify` of the store holding both), and where installed the same work done by third-party
//! tools (`bagit.py --validate`, ocfl-py, `rocfl validate`). It prints one table of times,
//! rates, ratios against the baselines with the performance goals beside them, and the peak
//! memory of every strongroom run (`--json`: one JSON document on stdout instead).
//!
//! Progress goes to stderr, results to stdout. The goals are goals, not pass/fail: the exit
//! status is 0 whatever the figures and 1 only when a step fails (a transfer rejected, a tool
//! erroring), after printing what the failing command said. `tools/bench/README.md` explains
//! how to read the figures.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use strongroom::bagit::create_bag;
use strongroom::digest::Algorithm;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: u64 = 1 << 30;

/// Goal: large-file intake at least this fraction of `dd conv=fdatasync`.
const GOAL_INTAKE_VS_DD: f64 = 0.8;
/// Goal: small-file intake at least this many files per second, durable.
const GOAL_SMALL_FILES_PER_S: f64 = 5000.0;
/// Goal: verify at least this fraction of `openssl dgst -sha512`.
const GOAL_VERIFY_VS_OPENSSL: f64 = 0.8;
/// Goal: every strongroom run below this peak resident set, MiB.
const GOAL_RSS_MIB: f64 = 100.0;

const USAGE: &str = "\
usage: bench [--quick] [--out DIR] [--keep] [--json] [--strongroom PATH]

  --quick            128 MiB large file and 2,000 small files in 20 records
                     (default: 1 GiB, and 10,000 small files in 100 records)
  --out DIR          make the scratch folder inside DIR (default: the target folder);
                     it must be on the file system you want to measure
  --keep             keep the scratch folder (bags, archive home, logs) afterwards
  --json             print one JSON document on stdout instead of the table
  --strongroom PATH  the strongroom binary to measure (default: target/release/strongroom,
                     built first with `cargo build --release -p strongroom`)";

/// Command-line options.
struct Args {
    quick: bool,
    out: Option<PathBuf>,
    keep: bool,
    json: bool,
    strongroom: Option<PathBuf>,
    /// Internal: make the data sets in this folder and exit (run as a child process, so that
    /// the harness's own peak memory, which Linux counts into its children's, stays small).
    make_data: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        quick: false,
        out: None,
        keep: false,
        json: false,
        strongroom: None,
        make_data: None,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--quick") => args.quick = true,
            Some("--keep") => args.keep = true,
            Some("--json") => args.json = true,
            Some("--out") => {
                args.out = Some(it.next().context("--out needs a folder")?.into());
            }
            Some("--strongroom") => {
                args.strongroom = Some(it.next().context("--strongroom needs a path")?.into());
            }
            Some("--make-data") => {
                args.make_data = Some(it.next().context("--make-data needs a folder")?.into());
            }
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    Ok(Some(args))
}

/// The sizes of one run.
#[derive(Clone, Copy)]
struct Sizes {
    large_bytes: u64,
    small_files: usize,
    small_records: usize,
    small_bytes: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                large_bytes: 128 << 20,
                small_files: 2_000,
                small_records: 20,
                small_bytes: 4096,
            }
        } else {
            Sizes {
                large_bytes: GIB,
                small_files: 10_000,
                small_records: 100,
                small_bytes: 4096,
            }
        }
    }
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.make_data {
        return match make_data(dir, &Sizes::new(args.quick)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench --make-data: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    let scratch = match Scratch::create(args.out.as_deref(), args.keep) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::from(1);
        }
    };
    let result = run(&args, &scratch);
    drop(scratch);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e:#}");
            if !args.keep {
                eprintln!("bench: (run again with --keep to inspect the scratch folder)");
            }
            ExitCode::from(1)
        }
    }
}

/// The scratch folder, removed on drop unless `--keep`.
struct Scratch {
    dir: PathBuf,
    keep: bool,
}

impl Scratch {
    fn create(out: Option<&Path>, keep: bool) -> Result<Scratch> {
        let base = match out {
            Some(d) => d.to_path_buf(),
            None => target_dir()?,
        };
        let dir = base.join(format!("bench-scratch-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        progress(format!("scratch folder {}", dir.display()));
        Ok(Scratch { dir, keep })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.keep {
            progress(format!("kept {}", self.dir.display()));
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("bench: could not remove {}: {e}", self.dir.display());
        }
    }
}

/// The cargo target folder holding this executable (`target/release/bench` → `target`).
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let profile_dir = exe.parent().context("bench executable has no folder")?;
    Ok(profile_dir
        .parent()
        .map_or_else(|| profile_dir.to_path_buf(), Path::to_path_buf))
}

/// The workspace root, as compiled in.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The strongroom binary: `--strongroom`, or `target/release/strongroom` built first.
fn strongroom_binary(args: &Args) -> Result<PathBuf> {
    if let Some(p) = &args.strongroom {
        if !p.is_file() {
            bail!("--strongroom {}: no such file", p.display());
        }
        return Ok(p.clone());
    }
    let bin = target_dir()?.join("release").join("strongroom");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    progress("cargo build --release -p strongroom");
    let built = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "strongroom",
            "--manifest-path",
        ])
        .arg(workspace_root().join("Cargo.toml"))
        .stdin(Stdio::null())
        .status();
    match built {
        Ok(s) if s.success() => {}
        Ok(s) if bin.is_file() => progress(format!(
            "building strongroom failed ({s}); measuring the existing {}",
            bin.display()
        )),
        Err(e) if bin.is_file() => progress(format!(
            "cannot run cargo ({e}); measuring the existing {}",
            bin.display()
        )),
        Ok(s) => bail!("cargo build --release -p strongroom failed ({s})"),
        Err(e) => bail!("cannot run cargo to build strongroom: {e}"),
    }
    if !bin.is_file() {
        bail!("{} is missing after the build", bin.display());
    }
    Ok(bin)
}

// ---------------------------------------------------------------------------------------------
// Data sets

/// Fast pseudo-random lowercase text: xorshift64*, 63 letters and a newline per 64 bytes.
/// About 4.7 bits of entropy per byte, valid UTF-8 and plain text for any format identifier.
struct Letters(u64);

/// Byte → letter, near-uniform (`b * 26 / 256`).
const LETTER: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = b'a' + ((i * 26) >> 8) as u8;
        i += 1;
    }
    t
};

impl Letters {
    fn new(seed: u64) -> Letters {
        // splitmix64 of the seed, so that neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Letters((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `buf` (a multiple of 64 bytes) with lines of 63 letters.
    fn fill(&mut self, buf: &mut [u8]) {
        for line in buf.chunks_exact_mut(64) {
            for word in line[..56].chunks_exact_mut(8) {
                let x = self.next().to_le_bytes();
                for (b, r) in word.iter_mut().zip(x) {
                    *b = LETTER[usize::from(r)];
                }
            }
            let x = self.next().to_le_bytes();
            for (b, r) in line[56..63].iter_mut().zip(x) {
                *b = LETTER[usize::from(r)];
            }
            line[63] = b'\n';
        }
    }
}

/// Writes `size` bytes (a multiple of 64) of pseudo-random text to a new file.
fn write_text_file(path: &Path, size: u64, seed: u64, buf: &mut [u8]) -> Result<()> {
    let mut f = File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    let mut gen = Letters::new(seed);
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64))?;
        gen.fill(&mut buf[..n]);
        f.write_all(&buf[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        left -= n as u64;
    }
    Ok(())
}

const FONDS: &str = "9999";
const AGENCY_CODE: &str = "11330100MB0000000X";

/// record.json of one bench record, every file a `.txt`, the first the main file.
fn record_json(organization: &str, item: u32, title: &str, files: &[String]) -> Result<String> {
    let list: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "path": p,
                "order": i + 1,
                "role": if i == 0 { "main" } else { "attachment" },
            })
        })
        .collect();
    let v = json!({
        "reference_code": format!("{FONDS}-WS\u{00B7}2024-D30-{organization}-{item:04}"),
        "title": title,
        "creator": "strongroom 基准测试",
        "date": "2024-01-15",
        "retention": "D30",
        "fonds": FONDS,
        "category": "WS",
        "year": 2024,
        "organization": organization,
        "item_number": item,
        "classification": "公开",
        "files": list,
    });
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

/// Wraps `dir/data/` as a bag with sha256 and sha512 manifests and the transfer profile.
fn bag(dir: &Path, external_id: &str) -> Result<()> {
    let info: Vec<(String, String)> = [
        ("Source-Organization", "strongroom 基准测试单位"),
        ("Agency-Code", AGENCY_CODE),
        ("Fonds-Code", FONDS),
        ("External-Identifier", external_id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    create_bag(dir, &info, &[Algorithm::Sha256, Algorithm::Sha512])
        .with_context(|| format!("making a bag of {}", dir.display()))
}

/// The large-file bag's one data file.
fn large_file_of(bag: &Path) -> PathBuf {
    bag.join("data").join("0001").join("large.txt")
}

/// Makes both bags in `dir` (`large-bag/`, `small-bag/`), each file streamed through one
/// 4 MiB buffer.
fn make_data(dir: &Path, s: &Sizes) -> Result<()> {
    let mut buf = vec![0u8; 4 << 20];
    progress(format!(
        "making the large-file bag: one record, one {} text file",
        size_text(s.large_bytes)
    ));
    make_large_bag(&dir.join("large-bag"), s.large_bytes, &mut buf)?;
    progress(format!(
        "making the small-files bag: {} files of {} KiB in {} records",
        s.small_files,
        s.small_bytes / 1024,
        s.small_records
    ));
    make_small_bag(&dir.join("small-bag"), s, &mut buf, "SML", "BENCH-SMALL")?;
    progress("making two more small-files bags (the same shape, other 档号)");
    make_small_bag(
        &dir.join("small-bag-2"),
        s,
        &mut buf,
        "SM2",
        "BENCH-SMALL-2",
    )?;
    make_small_bag(
        &dir.join("small-bag-3"),
        s,
        &mut buf,
        "SM3",
        "BENCH-SMALL-3",
    )
}

/// The large-file bag: one record, one text file of `bytes`.
fn make_large_bag(dir: &Path, bytes: u64, buf: &mut [u8]) -> Result<()> {
    let file = large_file_of(dir);
    let rec = file.parent().context("no record folder")?;
    fs::create_dir_all(rec)?;
    write_text_file(&file, bytes, 1, buf)?;
    let json = record_json("BIG", 1, "基准测试：一个大文件", &["large.txt".into()])?;
    fs::write(rec.join("record.json"), json)?;
    bag(dir, "BENCH-LARGE")
}

/// A small-files bag: `records` records of `files / records` text files each, organization
/// code `organization` (so that two bags have different 档号).
fn make_small_bag(
    dir: &Path,
    s: &Sizes,
    buf: &mut [u8],
    organization: &str,
    external_id: &str,
) -> Result<()> {
    let per_record = s.small_files.div_ceil(s.small_records);
    let mut n = 0;
    for r in 1..=s.small_records {
        let rec = dir.join("data").join(format!("{r:04}"));
        fs::create_dir_all(&rec)?;
        let mut names = Vec::new();
        while names.len() < per_record && n < s.small_files {
            let name = format!("f{:04}.txt", names.len() + 1);
            let path = rec.join(&name);
            write_text_file(&path, s.small_bytes as u64, 1_000_000 + n as u64, buf)?;
            names.push(name);
            n += 1;
        }
        let item = u32::try_from(r)?;
        let json = record_json(organization, item, &format!("基准测试：小文件 {r}"), &names)?;
        fs::write(rec.join("record.json"), json)?;
    }
    bag(dir, external_id)
}

// ---------------------------------------------------------------------------------------------
// Running and measuring commands

/// One finished command: wall time, status, peak RSS, where its output went.
struct Ran {
    what: String,
    seconds: f64,
    status: ExitStatus,
    max_rss_bytes: u64,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Ran {
    fn rss_mib(&self) -> f64 {
        self.max_rss_bytes as f64 / MIB
    }

    /// The command's stdout and stderr, last lines, for a failure message.
    fn output_tail(&self) -> String {
        let mut s = String::new();
        for (name, p) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let text = fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(200);
            if !lines.is_empty() {
                let _ = writeln!(s, "--- {name} of {}:", self.what);
                for l in &lines[from..] {
                    let _ = writeln!(s, "{l}");
                }
            }
        }
        s
    }

    /// An error unless the command exited 0.
    fn ok(self) -> Result<Ran> {
        if self.status.success() {
            Ok(self)
        } else {
            bail!(
                "{} failed ({})\n{}",
                self.what,
                self.status,
                self.output_tail()
            )
        }
    }
}

/// Waits for `child` with `wait4(2)`, which gives this one child's resource usage.
///
/// `ru_maxrss` is its peak resident set in KiB. Linux counts into it the parent's peak at the
/// time of the fork, so the harness keeps its own memory small (it streams every file).
#[allow(unsafe_code)]
fn wait_with_rusage(child: &Child) -> io::Result<(ExitStatus, u64)> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are live, writable locals of the types wait4 expects,
        // and `pid` is our own child that nothing else waits for (std's `Child` is not waited).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let max_rss_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((ExitStatus::from_raw(status), max_rss_kib * 1024))
}

/// Runs `cmd` with stdout and stderr in files under `logs`, timing it wall clock.
fn run_cmd(cmd: &mut Command, logs: &Path, name: &str) -> Result<Ran> {
    let what = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(OsStr::to_string_lossy)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let stdout = logs.join(format!("{name}.stdout"));
    let stderr = logs.join(format!("{name}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&stdout)?)
        .stderr(File::create(&stderr)?);
    let start = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let (status, max_rss_bytes) =
        wait_with_rusage(&child).with_context(|| format!("waiting for {what}"))?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(Ran {
        what,
        seconds,
        status,
        max_rss_bytes,
        stdout,
        stderr,
    })
}

/// `sync`: nothing written earlier is left for the next measurement to flush.
fn sync() -> Result<()> {
    let s = Command::new("sync").status().context("running sync")?;
    if !s.success() {
        bail!("sync failed ({s})");
    }
    Ok(())
}

/// Whether reads after [`drop_caches`] come from the disk.
enum Cache {
    /// The page cache was emptied.
    Dropped,
    /// It could not be (not root, read-only /proc/sys): why.
    Warm(String),
}

/// Empties the page cache if this process may (root, writable /proc/sys); says how it went.
fn drop_caches() -> Result<Cache> {
    sync()?;
    Ok(match fs::write("/proc/sys/vm/drop_caches", "3\n") {
        Ok(()) => Cache::Dropped,
        Err(e) => Cache::Warm(e.to_string()),
    })
}

/// The harness's own peak RSS in bytes (`VmHWM`), counted into each child's by Linux.
fn own_peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `/proc/loadavg`'s first three fields: other work on the machine skews every figure.
fn load_average() -> Option<String> {
    let s = fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// An executable named `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A Python tool: in the workspace's `.venv` (where tools/test installs it) or on PATH.
fn python_tool(name: &str) -> Option<PathBuf> {
    let venv = workspace_root().join(".venv/bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    on_path(name)
}

/// Every regular file under `dir`, sorted, with the byte total.
fn files_under(dir: &Path) -> Result<(Vec<PathBuf>, u64)> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                total += e.metadata()?.len();
                out.push(e.path());
            }
        }
    }
    out.sort();
    Ok((out, total))
}

/// `openssl dgst -sha512` over `files`, one process at a time in batches that fit a command
/// line. Returns the total wall time.
fn openssl_over(files: &[PathBuf], logs: &Path, name: &str) -> Result<f64> {
    let mut seconds = 0.0;
    for (i, batch) in files.chunks(1000).enumerate() {
        let ran = run_cmd(
            Command::new("openssl")
                .args(["dgst", "-sha512"])
                .args(batch),
            logs,
            &format!("{name}-{i}"),
        )?
        .ok()?;
        seconds += ran.seconds;
    }
    Ok(seconds)
}

// ---------------------------------------------------------------------------------------------
// Figures

fn mib_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / MIB / seconds
}

fn size_text(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.0} MiB", bytes as f64 / MIB)
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// One line of the table.
#[derive(Default)]
struct Row {
    label: String,
    time: String,
    rate: String,
    ratio: String,
    goal: String,
    rss: String,
}

impl Row {
    fn new(label: impl Into<String>) -> Row {
        Row {
            label: label.into(),
            ..Row::default()
        }
    }
    fn time(mut self, seconds: f64) -> Row {
        self.time = format!("{seconds:.2} s");
        self
    }
    fn rate(mut self, rate: impl Into<String>) -> Row {
        self.rate = rate.into();
        self
    }
    fn ratio(mut self, ratio: impl Into<String>, goal: impl Into<String>) -> Row {
        self.ratio = ratio.into();
        self.goal = goal.into();
        self
    }
    fn rss(mut self, ran: &Ran) -> Row {
        let mib = ran.rss_mib();
        self.rss = format!(
            "{mib:.1} MiB (goal < {GOAL_RSS_MIB:.0}: {})",
            met(mib < GOAL_RSS_MIB)
        );
        self
    }
}

/// A section of the table: a heading and its rows.
struct Section {
    heading: &'static str,
    rows: Vec<Row>,
}

fn render(header: &[String], sections: &[Section]) -> String {
    let rows = || sections.iter().flat_map(|s| &s.rows);
    let w = |f: fn(&Row) -> &str| rows().map(|r| f(r).chars().count()).max().unwrap_or(0);
    let heading = sections
        .iter()
        .map(|s| s.heading.chars().count())
        .max()
        .unwrap_or(0);
    let (wl, wt, wr, wq, wg) = (
        (w(|r| &r.label) + 2).max(heading),
        w(|r| &r.time).max(4),
        w(|r| &r.rate).max(4),
        w(|r| &r.ratio).max(5),
        w(|r| &r.goal).max(4),
    );
    let mut out = String::new();
    for h in header {
        let _ = writeln!(out, "{h}");
    }
    for s in sections {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<wl$}  {:>wt$}  {:>wr$}  {:<wq$}  {:<wg$}  peak RSS",
            s.heading, "time", "rate", "ratio", "goal"
        );
        for r in &s.rows {
            let line = format!(
                "  {:<w0$}  {:>wt$}  {:>wr$}  {:<wq$}  {:<wg$}  {}",
                r.label,
                r.time,
                r.rate,
                r.ratio,
                r.goal,
                r.rss,
                w0 = wl - 2
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The run

/// The two bags and their data files.
struct DataSets {
    large_bag: PathBuf,
    small_bag: PathBuf,
    /// The same shape as `small_bag`, other 档号: transferred alone into the full archive,
    /// then `small_bag_3` while a rolling audit runs.
    small_bag_2: PathBuf,
    small_bag_3: PathBuf,
    large_file: PathBuf,
    small_files: Vec<PathBuf>,
}

/// Makes the data sets in a child process (`--make-data`), so that the harness stays small.
fn data_sets(args: &Args, dir: &Path) -> Result<DataSets> {
    let mut make = Command::new(std::env::current_exe()?);
    make.arg("--make-data").arg(dir);
    if args.quick {
        make.arg("--quick");
    }
    let made = make.status().context("starting bench --make-data")?;
    if !made.success() {
        bail!("making the data sets failed ({made})");
    }
    let large_bag = dir.join("large-bag");
    let small_bag = dir.join("small-bag");
    let (mut small_files, _) = files_under(&small_bag.join("data"))?;
    small_files.retain(|p| p.file_name() != Some(OsStr::new("record.json")));
    sync()?;
    Ok(DataSets {
        large_file: large_file_of(&large_bag),
        large_bag,
        small_bag,
        small_bag_2: dir.join("small-bag-2"),
        small_bag_3: dir.join("small-bag-3"),
        small_files,
    })
}

/// Seconds taken by the baselines on the data sets' own bytes.
struct Baselines {
    dd: f64,
    sha512: f64,
    sha256: f64,
    small_write_sync: f64,
}

fn baselines(data: &DataSets, dir: &Path, logs: &Path) -> Result<Baselines> {
    progress("baseline: dd bs=4M conv=fdatasync");
    let dd_out = dir.join("dd.out");
    let dd = run_cmd(
        Command::new("dd")
            .arg(format!("if={}", data.large_file.display()))
            .arg(format!("of={}", dd_out.display()))
            .args(["bs=4M", "conv=fdatasync"]),
        logs,
        "dd",
    )?
    .ok()?;
    fs::remove_file(&dd_out)?;
    sync()?;
    progress("baseline: openssl dgst -sha512, -sha256");
    let dgst = |alg: &str| -> Result<f64> {
        let ran = run_cmd(
            Command::new("openssl")
                .args(["dgst", &format!("-{alg}")])
                .arg(&data.large_file),
            logs,
            &format!("openssl-{alg}"),
        )?;
        Ok(ran.ok()?.seconds)
    };
    let (sha512, sha256) = (dgst("sha512")?, dgst("sha256")?);
    progress(format!(
        "baseline: {} small files copied, then sync",
        data.small_files.len()
    ));
    let copy_dir = dir.join("small-copy");
    let start = Instant::now();
    for f in &data.small_files {
        let to = copy_dir.join(f.strip_prefix(&data.small_bag)?);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        let bytes = fs::read(f)?;
        fs::write(&to, bytes)?;
    }
    sync()?;
    let small_write_sync = start.elapsed().as_secs_f64();
    fs::remove_dir_all(&copy_dir)?;
    sync()?;
    Ok(Baselines {
        dd: dd.seconds,
        sha512,
        sha256,
        small_write_sync,
    })
}

/// The strongroom binary and the archive home it works on.
struct Strongroom {
    bin: PathBuf,
    home: PathBuf,
    logs: PathBuf,
}

impl Strongroom {
    /// Runs `strongroom --home H --as bench ARGS…`; an error unless it exits 0.
    fn run(&self, name: &str, args: &[&OsStr]) -> Result<Ran> {
        let mut c = Command::new(&self.bin);
        c.arg("--home")
            .arg(&self.home)
            .args(["--as", "bench"])
            .args(args);
        run_cmd(&mut c, &self.logs, name)?.ok()
    }

    fn ocfl_root(&self) -> PathBuf {
        self.home.join("store").join("ocfl")
    }
}

/// `verify` and its baseline, both over the stored bytes.
struct Verified {
    cache: Cache,
    stored_files: usize,
    stored_bytes: u64,
    openssl: f64,
    ran: Ran,
    bytes: u64,
    files: u64,
}

/// `openssl dgst -sha512` over every stored file, then `strongroom verify`, both from a cold
/// page cache when it can be dropped.
fn verify(sr: &Strongroom) -> Result<Verified> {
    let (stored, stored_bytes) = files_under(&sr.ocfl_root())?;
    progress(format!(
        "baseline: openssl dgst -sha512 over the {} stored files ({})",
        stored.len(),
        size_text(stored_bytes)
    ));
    let cache = drop_caches()?;
    let openssl = openssl_over(&stored, &sr.logs, "openssl-store")?;
    progress("strongroom verify");
    drop_caches()?;
    let ran = sr.run("verify", &["--json".as_ref(), "verify".as_ref()])?;
    let report: Value = serde_json::from_str(&fs::read_to_string(&ran.stdout)?)
        .with_context(|| format!("reading the JSON of {}", ran.what))?;
    Ok(Verified {
        cache,
        stored_files: stored.len(),
        stored_bytes,
        openssl,
        bytes: report["bytes_checked"].as_u64().unwrap_or(stored_bytes),
        files: report["files_checked"].as_u64().unwrap_or(0),
        ran,
    })
}

/// A court copy of the large-file record (issue 7): issuing the bundle and checking it
/// offline, both over the large file's bytes (page cache warm: it was just verified).
struct Copied {
    issue: Ran,
    verify: Ran,
    bundle_bytes: u64,
}

fn copy_large(sr: &Strongroom, dir: &Path) -> Result<Copied> {
    let listed = sr.run("list", &["--json".as_ref(), "list".as_ref()])?;
    let records: Value = serde_json::from_str(&fs::read_to_string(&listed.stdout)?)
        .with_context(|| format!("reading the JSON of {}", listed.what))?;
    let refcode = records
        .as_array()
        .and_then(|a| {
            a.iter().find(|r| {
                r["transfer"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("/BENCH-LARGE"))
            })
        })
        .and_then(|r| r["reference_code"].as_str())
        .context("the large-file record is not listed")?
        .to_string();
    let bundle = dir.join("copy-large.zip");
    let _ = fs::remove_file(&bundle);
    progress("strongroom copy: the large-file record");
    let issue = sr.run(
        "copy",
        &[
            "copy".as_ref(),
            refcode.as_ref(),
            "--request".as_ref(),
            "bench".as_ref(),
            "--for".as_ref(),
            "bench".as_ref(),
            "-o".as_ref(),
            bundle.as_os_str(),
        ],
    )?;
    let bundle_bytes = fs::metadata(&bundle)?.len();
    progress("strongroom copy verify");
    let verify = sr.run(
        "copy-verify",
        &["copy".as_ref(), "verify".as_ref(), bundle.as_os_str()],
    )?;
    Ok(Copied {
        issue,
        verify,
        bundle_bytes,
    })
}

/// Replication (issue 9): `strongroom replicate` of the whole archive to a new `file://`
/// replica on the same file system, and its baseline on the same bytes: `cp -r` of the
/// store's `ocfl/` and `ledger/`, then `sync`. Both from a cold page cache when it can be
/// dropped.
struct Replicated {
    /// The baseline's seconds (copy and sync).
    baseline: f64,
    /// Bytes under the store's `ocfl/` and `ledger/`: what the baseline copied.
    store_bytes: u64,
    ran: Ran,
    /// `bytes_copied` and `objects_copied` from `replicate --json`.
    bytes: u64,
    objects: u64,
}

fn replicate(sr: &Strongroom, dir: &Path) -> Result<Replicated> {
    let store = sr.home.join("store");
    let parts = [store.join("ocfl"), store.join("ledger")];
    let mut store_bytes = 0;
    for p in &parts {
        store_bytes += files_under(p)?.1;
    }
    progress(format!(
        "baseline: cp -r of the store's ocfl/ and ledger/ ({}), then sync",
        size_text(store_bytes)
    ));
    let copy = dir.join("store-copy");
    fs::create_dir_all(&copy)?;
    drop_caches()?;
    let start = Instant::now();
    run_cmd(
        Command::new("cp").arg("-r").args(&parts).arg(&copy),
        &sr.logs,
        "cp-store",
    )?
    .ok()?;
    sync()?;
    let baseline = start.elapsed().as_secs_f64();
    fs::remove_dir_all(&copy)?;
    sync()?;

    // A replica named in config.toml (`[[replicas]]`, docs/scale.md §3), empty until now.
    let replica = dir.join("replica");
    let config = sr.home.join("config.toml");
    let mut text = fs::read_to_string(&config)?;
    text.push_str(&format!(
        "\n[[replicas]]\nname = \"bench\"\nstore = \"file://{}\"\n",
        replica.display()
    ));
    fs::write(&config, text)?;
    progress("strongroom replicate: the whole archive to a new file:// replica");
    drop_caches()?;
    let ran = sr.run("replicate", &["--json".as_ref(), "replicate".as_ref()])?;
    let report: Value = serde_json::from_str(&fs::read_to_string(&ran.stdout)?)
        .with_context(|| format!("reading the JSON of {}", ran.what))?;
    let first = &report["replicas"][0];
    if let Some(e) = first["error"].as_str() {
        bail!("replicate failed: {e}");
    }
    Ok(Replicated {
        baseline,
        store_bytes,
        bytes: first["bytes_copied"].as_u64().unwrap_or(0),
        objects: first["objects_copied"].as_u64().unwrap_or(0),
        ran,
    })
}

/// Two more small-files transfers into the full archive: one alone, one while rolling audits
/// run back to back.
struct Audited {
    alone: Ran,
    transfer: Ran,
    /// The audits' `--max-rate`, bytes/s.
    max_rate: u64,
    /// Audit runs started during the transfer.
    audits: u64,
}

/// Intake while the fixity audit runs (issue 9: the audit is rate-limited so that intake keeps
/// its share): `verify --rolling 100% --max-rate R` back to back, R a quarter of this disk's
/// `dd conv=fdatasync` rate, during the transfer of a bag shaped like the first small-files
/// bag; compared with the same transfer into the same archive made alone just before (both
/// from a cold page cache).
fn audited_intake(sr: &Strongroom, data: &DataSets, dd_bps: f64) -> Result<Audited> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    progress("strongroom transfer: a second small-files bag, alone, into the full archive");
    drop_caches()?;
    let alone = sr.run(
        "transfer-small-alone",
        &["transfer".as_ref(), data.small_bag_2.as_os_str()],
    )?;
    let max_rate = (dd_bps / 4.0).max(1.0) as u64;
    progress(format!(
        "strongroom transfer: a third small-files bag while `verify --rolling 100% --max-rate {}` runs back to back",
        size_text(max_rate)
    ));
    drop_caches()?;
    let (stop, audits) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let auditor = {
        let (stop, audits) = (stop.clone(), audits.clone());
        let (bin, home, logs) = (sr.bin.clone(), sr.home.clone(), sr.logs.clone());
        std::thread::spawn(move || -> Result<()> {
            while !stop.load(Ordering::Relaxed) {
                let n = audits.fetch_add(1, Ordering::Relaxed);
                let mut cmd = Command::new(&bin);
                cmd.arg("--home").arg(&home).args([
                    "--as",
                    "bench",
                    "verify",
                    "--rolling",
                    "100%",
                    "--max-rate",
                    &max_rate.to_string(),
                ]);
                run_cmd(&mut cmd, &logs, &format!("audit-{n}"))?.ok()?;
            }
            Ok(())
        })
    };
    let transfer = sr.run(
        "transfer-small-audited",
        &["transfer".as_ref(), data.small_bag_3.as_os_str()],
    );
    stop.store(true, Ordering::Relaxed);
    let audit = auditor
        .join()
        .map_err(|_| anyhow::anyhow!("the audit thread panicked"))?;
    let transfer = transfer?;
    audit.context("a rolling audit during the transfer failed")?;
    Ok(Audited {
        alone,
        transfer,
        max_rate,
        audits: audits.load(Ordering::Relaxed),
    })
}

/// Third-party tools on the same data: table rows, JSON, and the output of any that failed.
#[derive(Default)]
struct ThirdParty {
    rows: Vec<Row>,
    json: serde_json::Map<String, Value>,
    failed: Vec<String>,
}

impl ThirdParty {
    /// Runs one tool from a cold cache; `ok` judges its output beyond the exit status.
    /// `rate` turns seconds into the rate column.
    fn run(
        &mut self,
        key: &str,
        label: String,
        cmd: &mut Command,
        logs: &Path,
        ok: impl Fn(&str) -> bool,
        rate: impl Fn(f64) -> String,
    ) -> Result<()> {
        progress(&label);
        drop_caches()?;
        let ran = run_cmd(cmd, logs, key)?;
        let said = fs::read_to_string(&ran.stdout).unwrap_or_default()
            + &fs::read_to_string(&ran.stderr).unwrap_or_default();
        let good = ran.status.success() && ok(&said);
        let row = Row::new(label).time(ran.seconds);
        self.rows.push(if good {
            row.rate(rate(ran.seconds))
        } else {
            self.failed.push(ran.output_tail());
            row.rate(format!("FAILED ({})", ran.status))
        });
        self.json.insert(
            key.into(),
            json!({"seconds": ran.seconds, "ok": good, "peak_rss_bytes": ran.max_rss_bytes}),
        );
        Ok(())
    }

    fn missing(&mut self, label: &str) {
        self.rows.push(Row::new(label).rate("not installed"));
    }
}

fn third_party(data: &DataSets, sizes: &Sizes, sr: &Strongroom) -> Result<ThirdParty> {
    let mut t = ThirdParty::default();
    let logs = &sr.logs;
    match python_tool("bagit.py") {
        Some(tool) => {
            let large = sizes.large_bytes;
            t.run(
                "bagit_py_large",
                "bagit.py --validate, large bag".into(),
                Command::new(&tool).arg("--validate").arg(&data.large_bag),
                logs,
                |_| true,
                |s| format!("{:.1} MiB/s", mib_s(large, s)),
            )?;
            let n = data.small_files.len() as f64;
            t.run(
                "bagit_py_small",
                "bagit.py --validate, small bag".into(),
                Command::new(&tool).arg("--validate").arg(&data.small_bag),
                logs,
                |_| true,
                |s| format!("{:.0} files/s", n / s),
            )?;
        }
        None => t.missing("bagit.py --validate"),
    }
    let (_, stored_bytes) = files_under(&sr.ocfl_root())?;
    let stored_rate = |s| format!("{:.1} MiB/s", mib_s(stored_bytes, s));
    match python_tool("ocfl-root.py") {
        Some(tool) => t.run(
            "ocfl_py",
            "ocfl-py validate --check-digests, store".into(),
            Command::new(&tool)
                .args(["validate", "--root"])
                .arg(sr.ocfl_root())
                .args(["--validate-objects", "--check-digests"]),
            logs,
            // ocfl-root.py exits 0 even on an invalid store; it says "is INVALID".
            |said| !said.contains("INVALID"),
            stored_rate,
        )?,
        None => t.missing("ocfl-py (ocfl-root.py validate)"),
    }
    match on_path("rocfl") {
        Some(tool) => t.run(
            "rocfl",
            "rocfl validate, store".into(),
            Command::new(&tool)
                .arg("--root")
                .arg(sr.ocfl_root())
                .arg("validate"),
            logs,
            |_| true,
            stored_rate,
        )?,
        None => t.missing("rocfl validate"),
    }
    Ok(t)
}

fn run(args: &Args, scratch: &Scratch) -> Result<()> {
    if cfg!(debug_assertions) {
        progress("warning: the harness itself is a debug build; use cargo run --release");
    }
    let sizes = Sizes::new(args.quick);
    let bin = strongroom_binary(args)?;
    let dir = &scratch.dir;
    let logs = dir.join("logs");
    fs::create_dir_all(&logs)?;

    let load_before = load_average();
    let data = data_sets(args, dir)?;
    let harness_rss = own_peak_rss();
    let base = baselines(&data, dir, &logs)?;

    let sr = Strongroom {
        bin,
        home: dir.join("home"),
        logs,
    };
    progress("strongroom init");
    sr.run("init", &["init".as_ref()])?;
    sync()?;
    progress("strongroom transfer: the large-file bag");
    let t_large = sr.run(
        "transfer-large",
        &["transfer".as_ref(), data.large_bag.as_os_str()],
    )?;
    sync()?;
    progress("strongroom transfer: the small-files bag");
    let t_small = sr.run(
        "transfer-small",
        &["transfer".as_ref(), data.small_bag.as_os_str()],
    )?;
    let ver = verify(&sr)?;
    let copied = copy_large(&sr, dir)?;
    let replicated = replicate(&sr, dir)?;
    let audited = audited_intake(&sr, &data, sizes.large_bytes as f64 / base.dd)?;
    let third = third_party(&data, &sizes, &sr)?;

    // Figures.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let b = sizes.large_bytes as f64;
    let n_small = data.small_files.len();
    let dd_bps = b / base.dd;
    let sha512_bps = b / base.sha512;
    let sha256_bps = b / base.sha256;
    let small_base_fps = n_small as f64 / base.small_write_sync;
    let store_sha512_bps = ver.stored_bytes as f64 / ver.openssl;
    let large_bps = b / t_large.seconds;
    let small_fps = n_small as f64 / t_small.seconds;
    let verify_bps = ver.bytes as f64 / ver.ran.seconds;
    let r_large_dd = large_bps / dd_bps;
    let r_large_sha = large_bps / sha512_bps;
    let r_small = small_fps / small_base_fps;
    let r_verify = verify_bps / store_sha512_bps;
    let copy_bps = b / copied.issue.seconds;
    let copy_verify_bps = b / copied.verify.seconds;
    let r_copy = copy_bps / sha512_bps;
    let r_copy_verify = copy_verify_bps / sha512_bps;
    let cp_bps = replicated.store_bytes as f64 / replicated.baseline;
    let replicate_bps = replicated.bytes as f64 / replicated.ran.seconds;
    let r_replicate = replicate_bps / cp_bps;
    let audited_fps = n_small as f64 / audited.transfer.seconds;
    let alone_fps = n_small as f64 / audited.alone.seconds;
    let r_audited = audited_fps / alone_fps;
    let cache_note = match &ver.cache {
        Cache::Dropped => {
            "dropped before each cold read (sync; echo 3 > /proc/sys/vm/drop_caches)".into()
        }
        Cache::Warm(e) => format!("warm cache (could not drop the page cache: {e})"),
    };

    let mode = if args.quick { "quick" } else { "full" };
    let sz = size_text(sizes.large_bytes);
    let header = vec![
        format!(
            "strongroom bench, {mode} run: one {sz} file; {n_small} files of {} KiB in {} records",
            sizes.small_bytes / 1024,
            sizes.small_records
        ),
        format!(
            "machine: {cores} cores, load average {} at start; scratch and store on the file \
             system of {}",
            load_before.as_deref().unwrap_or("unknown"),
            dir.display()
        ),
        format!("page cache for verify and third-party tools: {cache_note}"),
        format!(
            "harness peak RSS {:.1} MiB (Linux counts it into each child's peak RSS)",
            harness_rss.unwrap_or(0) as f64 / MIB
        ),
    ];
    let sections = vec![
        Section {
            heading: "baselines (same bytes)",
            rows: vec![
                Row::new(format!("dd bs=4M conv=fdatasync, {sz}"))
                    .time(base.dd)
                    .rate(format!("{:.1} MiB/s", dd_bps / MIB)),
                Row::new(format!("openssl dgst -sha512, {sz}"))
                    .time(base.sha512)
                    .rate(format!("{:.1} MiB/s", sha512_bps / MIB)),
                Row::new(format!("openssl dgst -sha256, {sz}"))
                    .time(base.sha256)
                    .rate(format!("{:.1} MiB/s", sha256_bps / MIB)),
                Row::new(format!(
                    "{n_small} × {} KiB files written, then sync",
                    sizes.small_bytes / 1024
                ))
                .time(base.small_write_sync)
                .rate(format!("{small_base_fps:.0} files/s")),
                Row::new(format!(
                    "openssl dgst -sha512, {} stored files, {}",
                    ver.stored_files,
                    size_text(ver.stored_bytes)
                ))
                .time(ver.openssl)
                .rate(format!("{:.1} MiB/s", store_sha512_bps / MIB)),
                Row::new(format!(
                    "cp -r of the store, then sync, {}",
                    size_text(replicated.store_bytes)
                ))
                .time(replicated.baseline)
                .rate(format!("{:.1} MiB/s", cp_bps / MIB)),
            ],
        },
        Section {
            heading: "strongroom",
            rows: vec![
                Row::new(format!("transfer: 1 record, one {sz} file"))
                    .time(t_large.seconds)
                    .rate(format!("{:.1} MiB/s", large_bps / MIB))
                    .ratio(
                        format!("{r_large_dd:.2}× dd fdatasync"),
                        format!(
                            "≥ {GOAL_INTAKE_VS_DD:.1}×: {}",
                            met(r_large_dd >= GOAL_INTAKE_VS_DD)
                        ),
                    )
                    .rss(&t_large),
                Row::new("").ratio(format!("{r_large_sha:.2}× openssl sha512"), ""),
                Row::new(format!(
                    "transfer: {} records, {n_small} files",
                    sizes.small_records
                ))
                .time(t_small.seconds)
                .rate(format!("{small_fps:.0} files/s"))
                .ratio(
                    format!("{r_small:.2}× write+sync"),
                    format!(
                        "≥ {GOAL_SMALL_FILES_PER_S:.0} files/s: {}",
                        met(small_fps >= GOAL_SMALL_FILES_PER_S)
                    ),
                )
                .rss(&t_small),
                Row::new("the same again, into the full archive")
                    .time(audited.alone.seconds)
                    .rate(format!("{alone_fps:.0} files/s"))
                    .rss(&audited.alone),
                Row::new(format!(
                    "the same under a rolling audit ({} runs, --max-rate {}/s = ¼ dd)",
                    audited.audits,
                    size_text(audited.max_rate)
                ))
                .time(audited.transfer.seconds)
                .rate(format!("{audited_fps:.0} files/s"))
                .ratio(format!("{r_audited:.2}× alone"), "")
                .rss(&audited.transfer),
                Row::new(format!(
                    "verify: {} files, {}",
                    ver.files,
                    size_text(ver.bytes)
                ))
                .time(ver.ran.seconds)
                .rate(format!("{:.1} MiB/s", verify_bps / MIB))
                .ratio(
                    format!("{r_verify:.2}× openssl sha512"),
                    format!(
                        "≥ {GOAL_VERIFY_VS_OPENSSL:.1}×: {}",
                        met(r_verify >= GOAL_VERIFY_VS_OPENSSL)
                    ),
                )
                .rss(&ver.ran),
                Row::new(format!(
                    "copy: the {sz} record as a court bundle ({})",
                    size_text(copied.bundle_bytes)
                ))
                .time(copied.issue.seconds)
                .rate(format!("{:.1} MiB/s", copy_bps / MIB))
                .ratio(format!("{r_copy:.2}× openssl sha512"), "")
                .rss(&copied.issue),
                Row::new("copy verify: that bundle, offline")
                    .time(copied.verify.seconds)
                    .rate(format!("{:.1} MiB/s", copy_verify_bps / MIB))
                    .ratio(format!("{r_copy_verify:.2}× openssl sha512"), "")
                    .rss(&copied.verify),
                Row::new(format!(
                    "replicate: {} objects, {} to a new file:// replica",
                    replicated.objects,
                    size_text(replicated.bytes)
                ))
                .time(replicated.ran.seconds)
                .rate(format!("{:.1} MiB/s", replicate_bps / MIB))
                .ratio(format!("{r_replicate:.2}× cp -r + sync"), "")
                .rss(&replicated.ran),
            ],
        },
        Section {
            heading: "third-party tools (same data)",
            rows: third.rows,
        },
    ];
    let table = render(&header, &sections);

    let summary = json!({
        "mode": mode,
        "cores": cores,
        "load_average_at_start": load_before,
        "scratch": dir,
        "page_cache_dropped": matches!(ver.cache, Cache::Dropped),
        "page_cache_note": cache_note,
        "harness_peak_rss_bytes": harness_rss,
        "data": {
            "large_file_bytes": sizes.large_bytes,
            "small_files": n_small,
            "small_file_bytes": sizes.small_bytes,
            "small_records": sizes.small_records,
            "stored_files": ver.stored_files,
            "stored_bytes": ver.stored_bytes,
        },
        "baselines": {
            "dd_fdatasync": {"seconds": base.dd, "bytes_per_s": dd_bps},
            "openssl_sha512": {"seconds": base.sha512, "bytes_per_s": sha512_bps},
            "openssl_sha256": {"seconds": base.sha256, "bytes_per_s": sha256_bps},
            "small_files_write_sync": {
                "seconds": base.small_write_sync,
                "files_per_s": small_base_fps,
            },
            "openssl_sha512_store": {"seconds": ver.openssl, "bytes_per_s": store_sha512_bps},
        },
        "transfer_large": {
            "seconds": t_large.seconds,
            "bytes_per_s": large_bps,
            "ratio_dd_fdatasync": r_large_dd,
            "ratio_openssl_sha512": r_large_sha,
            "peak_rss_bytes": t_large.max_rss_bytes,
        },
        "transfer_small": {
            "seconds": t_small.seconds,
            "files_per_s": small_fps,
            "ratio_write_sync": r_small,
            "peak_rss_bytes": t_small.max_rss_bytes,
        },
        "transfer_small_under_audit": {
            "seconds": audited.transfer.seconds,
            "files_per_s": audited_fps,
            "ratio_alone": r_audited,
            "alone_seconds": audited.alone.seconds,
            "alone_files_per_s": alone_fps,
            "audit_max_rate_bytes_per_s": audited.max_rate,
            "audit_runs": audited.audits,
            "peak_rss_bytes": audited.transfer.max_rss_bytes,
        },
        "verify": {
            "seconds": ver.ran.seconds,
            "bytes": ver.bytes,
            "files": ver.files,
            "bytes_per_s": verify_bps,
            "ratio_openssl_sha512": r_verify,
            "peak_rss_bytes": ver.ran.max_rss_bytes,
        },
        "copy": {
            "seconds": copied.issue.seconds,
            "bundle_bytes": copied.bundle_bytes,
            "bytes_per_s": copy_bps,
            "ratio_openssl_sha512": r_copy,
            "peak_rss_bytes": copied.issue.max_rss_bytes,
            "verify_seconds": copied.verify.seconds,
            "verify_bytes_per_s": copy_verify_bps,
            "verify_ratio_openssl_sha512": r_copy_verify,
            "verify_peak_rss_bytes": copied.verify.max_rss_bytes,
        },
        "replicate": {
            "seconds": replicated.ran.seconds,
            "bytes": replicated.bytes,
            "objects": replicated.objects,
            "bytes_per_s": replicate_bps,
            "ratio_cp_sync": r_replicate,
            "peak_rss_bytes": replicated.ran.max_rss_bytes,
            "baseline_cp_sync": {
                "seconds": replicated.baseline,
                "bytes": replicated.store_bytes,
                "bytes_per_s": cp_bps,
            },
        },
        "third_party": third.json,
        "goals": {
            "transfer_large_ratio_dd_fdatasync_min": GOAL_INTAKE_VS_DD,
            "transfer_small_files_per_s_min": GOAL_SMALL_FILES_PER_S,
            "verify_ratio_openssl_sha512_min": GOAL_VERIFY_VS_OPENSSL,
            "peak_rss_mib_max": GOAL_RSS_MIB,
        },
    });

    if args.json {
        eprint!("{table}");
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{table}");
    }
    if !third.failed.is_empty() {
        bail!("third-party tools failed:\n{}", third.failed.join("\n"));
    }
    Ok(())
}
