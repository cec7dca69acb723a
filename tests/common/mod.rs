//! Helpers shared by the integration tests: a throwaway archive driven through the binary,
//! package builders, and store snapshots for "nothing changed" assertions.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use strongroom::digest::Algorithm;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_strongroom")
}

/// The sample transfer shipped with the tests.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample-transfer")
}

/// The conformance suites (see ../shared/conformance/README.md).
pub fn conformance() -> PathBuf {
    if let Ok(p) = std::env::var("STRONGROOM_CONFORMANCE") {
        return PathBuf::from(p);
    }
    let rel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    if rel.exists() {
        return rel;
    }
    PathBuf::from("/work/shared/conformance")
}

/// A fresh archive in a temp dir, initialised through the CLI.
pub struct Archive {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    /// Environment every run gets (the `AWS_*` of an `s3://` store).
    pub env: Vec<(&'static str, String)>,
}

impl Archive {
    pub fn new() -> Archive {
        Archive::on_store(None, Vec::new())
    }

    /// An archive on a fresh prefix of the test's moto server (None when moto is missing).
    pub fn on_s3() -> Option<Archive> {
        let m = moto()?;
        Some(Archive::on_store(Some(&m.url()), m.env()))
    }

    /// An archive on the given store URL (default `<home>/store`), runs getting `env`.
    pub fn on_store(url: Option<&str>, env: Vec<(&'static str, String)>) -> Archive {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        let a = Archive { dir, home, env };
        let out = match url {
            Some(u) => a.run(&["init", "--store", u]),
            None => a.run(&["init"]),
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "init failed: {}",
            text(&out.stderr)
        );
        a
    }

    /// Runs the binary with `--home` and `--as tester`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run strongroom")
    }

    /// Runs the binary with `--home` and `--as who` (an archivist's name, for the steps that
    /// need distinct people).
    pub fn run_as(&self, who: &str, args: &[&str]) -> Output {
        self.cmd_as(who, args).output().expect("run strongroom")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_as("tester", args)
    }

    fn cmd_as(&self, who: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--home").arg(&self.home).arg("--as").arg(who);
        c.args(args);
        c.env_remove("STRONGROOM_TEST_KILL_AT_WRITE");
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        self.json_as("tester", args)
    }

    /// Runs with `--json --as who` and parses stdout.
    pub fn json_as(&self, who: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run_as(who, &a);
        let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not JSON ({e}): {}\nstderr: {}",
                text(&out.stdout),
                text(&out.stderr)
            )
        });
        (out.status.code(), v)
    }

    pub fn store(&self) -> PathBuf {
        self.home.join("store")
    }

    /// Every file of the store except kept reports and the lock, with its SHA-256.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot(&self.store(), &["reports", "locks"])
    }

    /// Number of rejection reports kept in the store.
    pub fn reports(&self) -> usize {
        std::fs::read_dir(self.store().join("reports"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Transfers a package and asserts it was accepted.
    pub fn accept(&self, package: &Path) -> serde_json::Value {
        let (code, v) = self.json(&["transfer", package.to_str().expect("utf-8 path")]);
        assert_eq!(code, Some(0), "transfer refused: {v:#}");
        v
    }

    /// Transfers a package, asserts it was rejected with nothing stored, returns the codes.
    pub fn reject(&self, package: &Path) -> Vec<String> {
        let before = self.snapshot();
        let reports = self.reports();
        let (code, v) = self.json(&["transfer", package.to_str().expect("utf-8 path")]);
        assert_eq!(code, Some(1), "expected rejection, got: {v:#}");
        assert_eq!(
            self.snapshot(),
            before,
            "a rejected transfer changed the store"
        );
        assert_eq!(
            self.reports(),
            reports + 1,
            "the report was not kept in the store"
        );
        codes(&v)
    }
}

/// Codes of a report's findings.
pub fn codes(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// path → sha256 of every file below `root`, skipping top-level folders in `skip`.
pub fn snapshot(root: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.expect("walk store");
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        if skip.iter().any(|s| rel.starts_with(&format!("{s}/"))) {
            continue;
        }
        let (d, _) = strongroom::digest::digest_file(e.path(), &[Algorithm::Sha256]).expect("read");
        out.insert(rel, d[&Algorithm::Sha256].clone());
    }
    out
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(from).expect("under");
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// A copy of the sample transfer in `dir`, ready to be changed and re-bagged.
pub fn sample_copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    copy_tree(&sample(), &to);
    to
}

/// bag-info.txt of a bag as (label, value), without the generated fields.
pub fn bag_info(bag: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(bag.join("bag-info.txt")).expect("bag-info.txt");
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| k != "Payload-Oxum" && k != "Bagging-Date")
        .collect()
}

/// Rewrites a bag's manifests after its payload changed; `set` overrides bag-info fields.
pub fn rebag(bag: &Path, set: &[(&str, &str)]) {
    let mut info = bag_info(bag);
    for (k, v) in set {
        info.retain(|(key, _)| key != k);
        info.push((k.to_string(), v.to_string()));
    }
    for e in std::fs::read_dir(bag).expect("bag dir") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("manifest-")
            || name.starts_with("tagmanifest-")
            || name == "bag-info.txt"
            || name == "bagit.txt"
        {
            std::fs::remove_file(e.path()).expect("remove manifest");
        }
    }
    strongroom::bagit::create_bag(bag, &info, &[Algorithm::Sha256, Algorithm::Sha512])
        .expect("create_bag");
}

/// Record folders of a bag with their parsed record.json.
pub fn records(bag: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(bag.join("data"))
        .expect("data/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let rj = std::fs::read(d.join("record.json")).expect("record.json");
        let v: serde_json::Value = serde_json::from_slice(&rj).expect("record.json parses");
        out.push((
            d.file_name().expect("name").to_string_lossy().into_owned(),
            v,
        ));
    }
    out
}

/// Writes a tar of a folder (entries under `prefix/`).
pub fn tar_of(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).expect("create tar");
    let mut b = tar::Builder::new(f);
    // Archive links as links: a package that holds one must be refused for it.
    b.follow_symlinks(false);
    b.append_dir_all("bag", dir).expect("tar");
    b.finish().expect("finish tar");
}

/// Writes a tar.zst of a folder.
pub fn tar_zst_of(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).expect("create");
    let enc = zstd::Encoder::new(f, 3).expect("zstd");
    let mut b = tar::Builder::new(enc);
    b.append_dir_all("bag", dir).expect("tar");
    b.into_inner().expect("tar").finish().expect("zstd finish");
}

/// Writes a zip of a folder.
pub fn zip_of(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).expect("create zip");
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.expect("walk");
        let rel = e
            .path()
            .strip_prefix(dir)
            .expect("under")
            .to_string_lossy()
            .replace('\\', "/");
        if rel.is_empty() {
            continue;
        }
        if e.file_type().is_dir() {
            z.add_directory(format!("{rel}/"), opts).expect("zip dir");
        } else {
            z.start_file(rel, opts).expect("zip file");
            let mut src = std::fs::File::open(e.path()).expect("open");
            std::io::copy(&mut src, &mut z).expect("zip write");
        }
    }
    z.finish().expect("zip finish");
}

/// Writes a JSON value as a file.
pub fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).expect("json")).expect("write json");
}

/// A copy of the sample whose records are moved to the 2017 series, so that it does not
/// clash with the sample itself; `edit` may change each (index, folder path, record) before
/// the bag is re-made with `External-Identifier` = `external_id`.
pub fn next_year_package(
    dir: &Path,
    external_id: &str,
    mut edit: impl FnMut(usize, &Path, &mut serde_json::Value),
) -> PathBuf {
    let bag = sample_copy(dir, external_id);
    for (i, (folder, mut rec)) in records(&bag).into_iter().enumerate() {
        let code = rec["reference_code"]
            .as_str()
            .expect("档号")
            .replacen("·2016-", "·2017-", 1);
        rec["reference_code"] = code.into();
        rec["year"] = 2017.into();
        let folder = bag.join("data").join(&folder);
        edit(i, &folder, &mut rec);
        write_json(&folder.join("record.json"), &rec);
    }
    rebag(&bag, &[("External-Identifier", external_id)]);
    bag
}

/// One store per backend for the conformance suites: `memory://`, a `file://` temp dir and,
/// when moto is installed (`tools/test` installs it), an `s3://` prefix in a bucket of a
/// `moto_server` this test process started: (name, store, the temp dir to keep alive).
pub fn backends() -> Vec<(String, strongroom::store::Store, Option<tempfile::TempDir>)> {
    use strongroom::store::Store;
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("file://{}", dir.path().join("store").display());
    let mut all = vec![
        (
            "memory".into(),
            Store::open("memory://").expect("memory"),
            None,
        ),
        ("file".into(), Store::open(&url).expect("file"), Some(dir)),
    ];
    if let Some(m) = moto() {
        all.push(("s3".into(), m.store(), None));
    }
    all
}

/// A `moto_server` on 127.0.0.1, started once per test process on a free port and stopped
/// when the process exits (its shell wrapper kills it when our end of its stdin closes).
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The one bucket the tests use; each store takes its own random prefix in it.
    pub bucket: String,
    _child: std::sync::Mutex<std::process::Child>,
}

impl Moto {
    /// The settings that reach this server.
    pub fn settings(&self) -> strongroom::store::S3Settings {
        strongroom::store::S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            path_style: Some(true),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            session_token: None,
            allow_http: Some(true),
        }
    }

    /// A fresh `s3://` URL (a new random prefix).
    pub fn url(&self) -> String {
        format!("s3://{}/t{}", self.bucket, strongroom::store::random_hex(8))
    }

    /// A store on a fresh prefix.
    pub fn store(&self) -> strongroom::store::Store {
        strongroom::store::Store::open_with(&self.url(), &self.settings()).expect("s3 store")
    }

    /// The `AWS_*` variables a child `strongroom` needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false".into()),
        ]
    }
}

fn moto_server_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("STRONGROOM_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    p.exists().then_some(p)
}

/// The shared moto server, or None (and a note on stderr) when moto is not installed; in CI
/// (`STRONGROOM_REQUIRE_CROSSCHECKS` set) a missing moto is a failure.
pub fn moto() -> Option<&'static Moto> {
    static MOTO: std::sync::OnceLock<Option<Moto>> = std::sync::OnceLock::new();
    MOTO.get_or_init(start_moto).as_ref()
}

fn start_moto() -> Option<Moto> {
    use std::io::{Read, Write};
    let Some(server) = moto_server_path() else {
        if std::env::var("STRONGROOM_REQUIRE_CROSSCHECKS").is_ok_and(|v| !v.is_empty()) {
            panic!("moto_server not found: run tools/test or set STRONGROOM_MOTO_SERVER");
        }
        eprintln!("note: moto_server not installed; s3:// cases skipped (tools/test installs it)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    // The shell waits on its stdin; when this process exits (however it ends) the pipe
    // closes and the shell kills the server.
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read _ignored; kill $pid; wait $pid"#)
        .arg(&server)
        .arg(port.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("start moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let bucket = "strongroom-tests".to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        // Create the bucket (moto accepts unsigned requests); success means it is up.
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let req = format!(
                "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let mut resp = String::new();
            if s.write_all(req.as_bytes()).is_ok() && s.read_to_string(&mut resp).is_ok() {
                if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
                    break;
                }
                panic!("moto refused to create the test bucket: {resp}");
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut child = child;
    // Keep our end of the pipe open for the life of the process.
    let stdin = child.stdin.take();
    std::mem::forget(stdin);
    Some(Moto {
        endpoint,
        bucket,
        _child: std::sync::Mutex::new(child),
    })
}

/// A record due for destruction since 2022-01-01 (D5, year-end trigger), in [`due_package`].
pub const DUE_R1: &str = "0194-WS·2016-D5-BGS-0001";
/// A record due only on 2027-01-01 (D10), in [`due_package`].
pub const DUE_R2: &str = "0194-WS·2016-D10-BGS-0001";
/// A record due since 2021-08-02 (D5, closed 2016-08-01), in [`due_package`].
pub const DUE_R3: &str = "0194-WS·2016-D5-BGS-0002";

/// The sample transfer re-coded so that two records are due today ([`DUE_R1`], [`DUE_R3`])
/// and one is not ([`DUE_R2`]); item numbers run without gaps in each series.
pub fn due_package(dir: &Path) -> PathBuf {
    let bag = sample_copy(dir, "due-package");
    for (i, (folder, mut rec)) in records(&bag).into_iter().enumerate() {
        let (code, item) = [(DUE_R1, 1), (DUE_R2, 1), (DUE_R3, 2)][i];
        rec["reference_code"] = code.into();
        rec["retention"] = code.split('-').nth(2).unwrap_or_default().into();
        rec["item_number"] = item.into();
        write_json(&bag.join("data").join(&folder).join("record.json"), &rec);
    }
    rebag(&bag, &[]);
    bag
}

/// Asserts a run exited 0, showing its output otherwise.
pub fn ok(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Proposes a disposition batch as of today (carol) and has two distinct archivists (alice,
/// bob) approve it: its number.
pub fn approved_batch(a: &Archive) -> u64 {
    let (code, v) = a.json_as("carol", &["dispose", "propose"]);
    assert_eq!(code, Some(0), "propose: {v:#}");
    let n = v["batch"]["batch"].as_u64().unwrap();
    approve_by_two(a, n);
    n
}

/// Two distinct archivists (alice, bob) approve a disposition batch.
pub fn approve_by_two(a: &Archive, batch: u64) {
    let n = batch.to_string();
    ok(&a.run_as("alice", &["dispose", "approve", &n]), "approve 1");
    ok(&a.run_as("bob", &["dispose", "approve", &n]), "approve 2");
}

/// Executes a disposition batch (carol, before two witnesses): exit code and JSON.
pub fn execute_batch(a: &Archive, batch: u64) -> (Option<i32>, serde_json::Value) {
    a.json_as(
        "carol",
        &[
            "dispose",
            "execute",
            &batch.to_string(),
            "--witness",
            "王监销",
            "--witness",
            "李监销",
        ],
    )
}

/// Destroys what is due today: proposes, has two archivists approve and executes one batch
/// ([`approved_batch`], [`execute_batch`]); the 档号 destroyed.
pub fn destroy_due(a: &Archive) -> std::collections::BTreeSet<String> {
    let n = approved_batch(a);
    let (code, x) = execute_batch(a, n);
    assert_eq!(code, Some(0), "execute: {x:#}");
    x["destroyed_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// A running `strongroom serve` (killed when dropped).
pub struct ServeProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`, for tests that speak raw HTTP on a socket.
    pub addr: String,
    _out: std::io::BufReader<std::process::ChildStdout>,
}

impl ServeProcess {
    /// Starts `serve` on a free port with its log in `<archive dir>/<log>`.
    pub fn start(a: &Archive, log: &str) -> ServeProcess {
        ServeProcess::start_with(a, log, &[])
    }

    /// Starts `serve` on a free port with more arguments (`--max-upload-bytes N`, ...).
    pub fn start_with(a: &Archive, log: &str, extra: &[&str]) -> ServeProcess {
        use std::io::BufRead;
        let log = std::fs::File::create(a.dir.path().join(log)).unwrap();
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = a
            .cmd(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::from(log))
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim_end_matches('/')
            .to_string();
        let addr = base.trim_start_matches("http://").to_string();
        ServeProcess {
            child,
            base,
            addr,
            _out: out,
        }
    }

    /// SIGTERM, then waits (at most 30 s) for the graceful shutdown: its exit code.
    pub fn stop(mut self) -> Option<i32> {
        let pid = self.child.id() as i32;
        sigterm(pid);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGKILL: the server dies at once, as in a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(unsafe_code)]
fn sigterm(pid: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that reports every status as an answer (never an error) and follows no
/// redirect, so tests see a 303 as it is.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    )
}

/// An HTTP answer.
pub struct Resp {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics, showing it, when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value ("" when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

/// Percent-encodes a URL path or query value (keeps `/`).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Reads a whole answer (up to 1 GiB) into a [`Resp`].
pub fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// GET, with a bearer token when given.
pub fn get(s: &ServeProcess, path: &str, token: Option<&str>) -> Resp {
    get_h(s, path, token, &[])
}

/// GET with more headers (`Range`, `Accept-Language`, ...).
pub fn get_h(s: &ServeProcess, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Resp {
    let mut req = agent().get(format!("{}{}", s.base, path));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    finish(req.call())
}

/// POST a JSON body (or none), with a bearer token when given.
pub fn post(
    s: &ServeProcess,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Resp {
    let mut req = agent().post(format!("{}{}", s.base, path));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    finish(match body {
        Some(b) => req.send_json(b),
        None => req.send_empty(),
    })
}

/// POST a package's bytes to `/api/transfers`.
pub fn upload(s: &ServeProcess, token: &str, bytes: &[u8]) -> Resp {
    finish(
        agent()
            .post(format!("{}/api/transfers", s.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/octet-stream")
            .send(bytes),
    )
}

/// Polls a transfer until its check is done (at most 120 s): its final status.
pub fn wait_transfer(s: &ServeProcess, token: &str, id: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let r = get(s, &format!("/api/transfers/{id}"), Some(token));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        if v["state"] != "checking" {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "transfer {id} still checking"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// GET with a token: (status, body).
pub fn http_get(s: &ServeProcess, path: &str, token: &str) -> (u16, String) {
    let r = get(s, path, Some(token));
    (r.status, r.text())
}

/// Uploads a package as a tar and waits for its check: the transfer's final status.
pub fn http_transfer(s: &ServeProcess, token: &str, bag: &Path, tar: &Path) -> serde_json::Value {
    tar_of(bag, tar);
    let r = upload(s, token, &std::fs::read(tar).unwrap());
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_transfer(s, token, &id)
}

/// Adds a user with `role` through the CLI and returns a fresh token for them.
pub fn user_token(a: &Archive, name: &str, role: &str) -> String {
    let out = a.run(&["user", "add", name, "--role", role]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = a.run(&["token", "issue", name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// The value of a `/metrics` series, if present.
pub fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Copies a home's configuration and key (not its store, index or staging folder) to `to`:
/// another node's home on the same store, or, with its `store` changed, a replica's.
pub fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["store", "index", "staging"].iter().any(|s| name == *s) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}
