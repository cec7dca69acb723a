//! Past one machine (issue 9, `docs/scale.md`): several `strongroom` processes writing one
//! store at once (`file://` and `s3://` on a moto server), an S3 server that ignores
//! conditional writes refused through the CLI, replicas caught up and repaired.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::*;

/// A copy of the sample moved to `year`'s series (its own 档号), as its own transfer.
fn year_package(dir: &Path, year: u32) -> PathBuf {
    let name = format!("YJ-{year}-0001");
    let bag = sample_copy(dir, &name);
    for (folder, mut rec) in records(&bag) {
        let code = rec["reference_code"].as_str().expect("档号").replacen(
            "·2016-",
            &format!("·{year}-"),
            1,
        );
        rec["reference_code"] = code.into();
        rec["year"] = year.into();
        write_json(&bag.join("data").join(&folder).join("record.json"), &rec);
    }
    rebag(&bag, &[("External-Identifier", &name)]);
    bag
}

fn ok(a: &Archive, args: &[&str]) -> Output {
    let out = a.run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn ledger_size(a: &Archive) -> u64 {
    text(&ok(a, &["ledger", "checkpoint"]).stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("checkpoint size line")
}

/// Runs `n` transfers as `n` processes at once and checks that nothing was lost, forked or
/// overwritten: every receipt verifies, every ledger index is used exactly once, the ledger
/// holds exactly one `transfer.accepted` per transfer and one `record.stored` per record,
/// and `ledger verify` and `verify` pass. Returns every 档号 stored.
fn transfers_at_once(a: &Archive, n: u32) -> BTreeSet<String> {
    let packages: Vec<PathBuf> = (0..n)
        .map(|i| year_package(a.dir.path(), 2017 + i))
        .collect();
    let children: Vec<_> = packages
        .iter()
        .map(|p| {
            a.cmd(&["--json", "transfer", p.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut used = BTreeSet::new();
    let mut codes = BTreeSet::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "transfer {i} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let receipt = &v["receipt"];
        let first = receipt["ledger"]["transfer_index"].as_u64().unwrap();
        assert!(used.insert(first), "ledger index {first} given twice");
        for rec in receipt["records"].as_array().unwrap() {
            let index = rec["ledger_index"].as_u64().unwrap();
            assert!(used.insert(index), "ledger index {index} given twice");
            assert!(codes.insert(rec["reference_code"].as_str().unwrap().to_string()));
        }
        let file = a.dir.path().join(format!("receipt-{i}.txt"));
        std::fs::write(&file, v["signed"].as_str().unwrap()).unwrap();
        ok(a, &["receipt", "verify", file.to_str().unwrap()]);
    }
    assert_eq!(codes.len(), 3 * n as usize);
    // The ledger: exactly the entries the receipts name, each once, nothing else lost.
    let size = ledger_size(a);
    let mut kinds: BTreeMap<String, u32> = BTreeMap::new();
    let mut stored = BTreeSet::new();
    for i in 0..size {
        let e: serde_json::Value =
            serde_json::from_slice(&ok(a, &["ledger", "show", &i.to_string()]).stdout).unwrap();
        let kind = e["type"].as_str().unwrap().to_string();
        if kind == "record.stored" {
            assert!(
                stored.insert(e["reference_code"].as_str().unwrap().to_string()),
                "{} stored twice",
                e["reference_code"]
            );
        }
        *kinds.entry(kind).or_default() += 1;
    }
    assert_eq!(kinds.get("transfer.accepted"), Some(&n), "{kinds:?}");
    assert_eq!(
        stored, codes,
        "the ledger's records are the receipts' records"
    );
    assert!(used.iter().all(|i| *i < size));
    ok(a, &["ledger", "verify"]);
    ok(a, &["verify"]);
    codes
}

/// ocfl-py (tools/test installs it) on a local OCFL root: None when it is not installed.
fn ocfl_py_check(ocfl_root: &Path) {
    let Ok(tool) = std::env::var("STRONGROOM_OCFL_PY") else {
        eprintln!("SKIPPED: ocfl-py not installed (run tools/test to install it)");
        return;
    };
    let out = std::process::Command::new(&tool)
        .args(["validate", "--root"])
        .arg(ocfl_root)
        .args(["--validate-objects", "--check-digests"])
        .output()
        .expect("ocfl-py");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !all.contains("is INVALID") && all.contains("is VALID"),
        "ocfl-py: {all}"
    );
}

/// The store URL an archive's config names.
fn store_url(a: &Archive) -> String {
    let text = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["store"].as_str().unwrap().to_string()
}

/// Copies every object of an `s3://` store into a `file://` store at `to` (object_store's
/// local mapping of names, exactly as a `file://` archive would hold them), for ocfl-py.
fn mirror(url: &str, to: &Path) {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let m = moto().expect("moto");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = strongroom::store::Store::open_with(url, &m.settings()).unwrap();
        let local = strongroom::store::Store::open(&format!("file://{}", to.display())).unwrap();
        let all: Vec<_> = s.backend().list(None).try_collect().await.unwrap();
        for meta in all {
            let bytes = s.backend().get(&meta.location).await.unwrap().bytes().await;
            local
                .backend()
                .put(&meta.location, bytes.unwrap().into())
                .await
                .unwrap();
        }
    });
}

#[test]
fn several_transfer_processes_at_once_on_a_file_store() {
    let a = Archive::new();
    transfers_at_once(&a, 4);
    ocfl_py_check(&a.store().join("ocfl"));
}

#[test]
fn several_transfer_processes_at_once_on_an_s3_store() {
    let Some(a) = Archive::on_s3() else { return };
    transfers_at_once(&a, 4);
    let local = a.dir.path().join("mirror");
    mirror(&store_url(&a), &local);
    ocfl_py_check(&local.join("ocfl"));
}

/// A TCP proxy in front of `upstream` that renames every `If-None-Match` request header (in
/// place, same length), as an S3-compatible server that ignores conditional writes behaves:
/// the server never sees the condition and overwrites. Returns its port.
fn proxy_dropping_conditions(upstream: u16) -> u16 {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    const PATTERN: &[u8] = b"if-none-match:";
    const RENAMED: &[u8] = b"x-ignored-mtc:";
    fn pump_rewriting(mut from: TcpStream, mut to: TcpStream) {
        from.set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .unwrap();
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    // Nothing more is coming for now: a held-back tail cannot be a header.
                    if !pending.is_empty() && to.write_all(&pending).is_err() {
                        break;
                    }
                    pending.clear();
                    continue;
                }
                Err(_) => break,
            }
            let mut i = 0;
            while i + PATTERN.len() <= pending.len() {
                if pending[i..i + PATTERN.len()].eq_ignore_ascii_case(PATTERN) {
                    pending[i..i + PATTERN.len()].copy_from_slice(RENAMED);
                    i += PATTERN.len();
                } else {
                    i += 1;
                }
            }
            // Hold back a tail that may be the start of a header split across reads.
            let keep = (1..PATTERN.len())
                .rev()
                .find(|k| {
                    *k <= pending.len()
                        && pending[pending.len() - k..].eq_ignore_ascii_case(&PATTERN[..*k])
                })
                .unwrap_or(0);
            let send = pending.len() - keep;
            if to.write_all(&pending[..send]).is_err() {
                break;
            }
            pending.drain(..send);
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump_rewriting(client, server));
            std::thread::spawn(move || {
                let (mut from, mut to) = (s2, c2);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

#[test]
fn init_refuses_an_s3_server_that_ignores_conditional_writes() {
    let Some(m) = moto() else { return };
    let upstream: u16 = m.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let port = proxy_dropping_conditions(upstream);
    let url = m.url();
    let mut env = m.env();
    env.retain(|(k, _)| *k != "AWS_ENDPOINT");
    env.push(("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")));
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = std::process::Command::new(bin())
        .arg("--home")
        .arg(&home)
        .args(["init", "--store", &url])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "init accepted the server");
    assert!(
        text(&out.stderr).contains("ignores conditional writes"),
        "{}",
        text(&out.stderr)
    );
    assert!(!home.join("config.toml").exists());
    // Nothing of an archive was written, and the probe cleaned up after itself.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let left = rt.block_on(async {
        let s = strongroom::store::Store::open_with(&url, &m.settings()).unwrap();
        s.list_paths(&object_store::path::Path::from(""))
            .await
            .unwrap()
    });
    assert!(left.is_empty(), "{left:?}");
    // The same server reached directly honours the condition: init succeeds there.
    let out = std::process::Command::new(bin())
        .arg("--home")
        .arg(&home)
        .args(["init", "--store", &url])
        .envs(m.env().iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// Opens a store as the archive's config would (file:// or the test's moto).
fn open(url: &str) -> strongroom::store::Store {
    match moto() {
        Some(m) if url.starts_with("s3://") => {
            strongroom::store::Store::open_with(url, &m.settings()).unwrap()
        }
        _ => strongroom::store::Store::open(url).unwrap(),
    }
}

/// Every content file of a store's OCFL objects, sorted.
fn content_files(s: &strongroom::store::Store) -> Vec<object_store::path::Path> {
    let mut v: Vec<_> = block_on(s.list_paths(&object_store::path::Path::from("ocfl")))
        .unwrap()
        .into_iter()
        .filter(|p| p.as_ref().contains("/content/"))
        .collect();
    v.sort();
    v
}

fn get(s: &strongroom::store::Store, p: &object_store::path::Path) -> Option<Vec<u8>> {
    block_on(s.get_bytes(p)).unwrap().map(|b| b.to_vec())
}

fn put(s: &strongroom::store::Store, p: &object_store::path::Path, b: &[u8]) {
    use object_store::ObjectStoreExt;
    block_on(s.backend().put(p, b.to_vec().into())).unwrap();
}

fn delete(s: &strongroom::store::Store, p: &object_store::path::Path) {
    use object_store::ObjectStoreExt;
    block_on(s.backend().delete(p)).unwrap();
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn replicas_are_caught_up_and_damage_is_repaired_from_a_copy_the_ledger_vouches_for() {
    let env = moto().map(|m| m.env()).unwrap_or_default();
    let a = Archive::on_store(None, env);
    a.accept(&sample());
    // Replicas: a local folder, and a bucket prefix when moto is installed.
    let mut urls = vec![(
        "offsite".to_string(),
        format!("file://{}", a.dir.path().join("replica").display()),
    )];
    if let Some(m) = moto() {
        urls.push(("cloud".to_string(), m.url()));
    }
    let mut config = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    for (name, url) in &urls {
        config.push_str(&format!(
            "\n[[replicas]]\nname = \"{name}\"\nstore = \"{url}\"\n"
        ));
    }
    std::fs::write(a.home.join("config.toml"), config).unwrap();

    let r = json_of(&ok(&a, &["--json", "replicate"]));
    let size = ledger_size(&a);
    for (i, (name, _)) in urls.iter().enumerate() {
        let rep = &r["replicas"][i];
        assert_eq!(rep["replica"], name.as_str());
        assert_eq!(rep["to_size"], size);
        assert_eq!(rep["versions_copied"], 3, "{rep}");
    }
    // Caught up: nothing more to copy. One amendment later: one version more.
    let again = json_of(&ok(&a, &["--json", "replicate", "offsite"]));
    assert_eq!(again["replicas"][0]["versions_copied"], 0);
    let (_, rec) = &records(&sample())[0];
    let code = rec["reference_code"].as_str().unwrap();
    let mut changed = rec.clone();
    changed["title"] = "更正后的题名".into();
    let meta = a.dir.path().join("record.json");
    std::fs::write(&meta, serde_json::to_vec_pretty(&changed).unwrap()).unwrap();
    ok(
        &a,
        &[
            "amend",
            code,
            "--metadata",
            meta.to_str().unwrap(),
            "--reason",
            "更正",
        ],
    );
    let r = json_of(&ok(&a, &["--json", "replicate"]));
    assert_eq!(r["replicas"][0]["versions_copied"], 1, "{r}");

    // Each replica is a whole archive: its ledger and store verify, ocfl-py accepts it.
    let primary = open(&store_url(&a));
    for (name, url) in &urls {
        let copy = Archive {
            dir: tempfile::tempdir().unwrap(),
            home: a.dir.path().join(format!("home-{name}")),
            env: a.env.clone(),
        };
        copy_tree(&a.home, &copy.home);
        let cfg = std::fs::read_to_string(copy.home.join("config.toml"))
            .unwrap()
            .replacen(
                &format!("store = \"{}\"", store_url(&a)),
                &format!("store = \"{url}\""),
                1,
            );
        std::fs::write(copy.home.join("config.toml"), cfg).unwrap();
        assert_eq!(ledger_size(&copy), ledger_size(&a), "{name}");
        ok(&copy, &["ledger", "verify"]);
        let rep = open(url);
        assert_eq!(content_files(&rep), content_files(&primary), "{name}");
        if url.starts_with("file://") {
            ocfl_py_check(&a.dir.path().join("replica/ocfl"));
        }
    }

    // Damage: on the local replica one file altered, one deleted, a root inventory deleted;
    // on the primary one file altered (its good bytes are on the replicas).
    let offsite = open(&urls[0].1);
    let files = content_files(&primary);
    assert!(files.len() >= 4);
    let good: Vec<Vec<u8>> = files.iter().map(|p| get(&primary, p).unwrap()).collect();
    put(&offsite, &files[0], b"bit rot");
    delete(&offsite, &files[1]);
    let root_inv = {
        let p = files[2].as_ref();
        let version_dir = &p[..p.find("/content/").unwrap()];
        let root = &version_dir[..version_dir.rfind('/').unwrap()];
        object_store::path::Path::parse(format!("{root}/inventory.json")).unwrap()
    };
    let good_inv = get(&offsite, &root_inv).unwrap();
    delete(&offsite, &root_inv);
    put(&primary, &files[3], b"altered on the primary");
    if urls.len() > 1 {
        delete(&open(&urls[1].1), &files[0]);
    }
    let before = ledger_size(&a);
    let out = a.run(&["--json", "verify", "--repair"]);
    let rep = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{rep:#}");
    let repairs = rep["repairs"].as_array().unwrap();
    let find = |copy: &str, path: &object_store::path::Path| {
        repairs
            .iter()
            .find(|r| r["copy"] == copy && r["path"] == path.as_ref())
            .unwrap_or_else(|| panic!("no repair of {path} on {copy}: {rep:#}"))
    };
    assert_eq!(find("offsite", &files[0])["problem"], "damaged");
    assert_eq!(find("offsite", &files[1])["problem"], "missing");
    assert_eq!(find("offsite", &root_inv)["problem"], "missing");
    assert_eq!(find("primary", &files[3])["problem"], "damaged");
    assert_ne!(find("primary", &files[3])["source"], "primary");
    let expected = 4 + usize::from(urls.len() > 1);
    assert_eq!(repairs.len(), expected, "{rep:#}");
    // Each repair is a ledger entry.
    assert_eq!(ledger_size(&a), before + expected as u64);
    for r in repairs {
        let i = r["ledger_index"].as_u64().unwrap();
        let e = json_of(&ok(&a, &["ledger", "show", &i.to_string()]));
        assert_eq!(e["type"], "copy.repaired");
        assert_eq!(e["path"], r["path"]);
        assert_eq!(e["copy"], r["copy"]);
    }
    // The bytes are back, everywhere.
    for (i, p) in files.iter().take(4).enumerate() {
        assert_eq!(get(&offsite, p).as_ref(), Some(&good[i]), "{p}");
        assert_eq!(get(&primary, p).as_ref(), Some(&good[i]), "{p}");
    }
    assert_eq!(get(&offsite, &root_inv), Some(good_inv));
    ok(&a, &["verify"]);
    ocfl_py_check(&a.dir.path().join("replica/ocfl"));
    let clean = json_of(&ok(&a, &["--json", "verify", "--repair"]));
    assert_eq!(clean["repairs"], serde_json::json!([]));

    // A repair never trusts a copy the ledger disagrees with: the same file damaged on every
    // copy is reported, not "restored" from a damaged one, and nothing is written.
    let copies: Vec<_> = urls.iter().map(|(_, u)| open(u)).collect();
    put(&primary, &files[0], b"damaged everywhere");
    for c in &copies {
        put(c, &files[0], b"damaged everywhere");
    }
    let size_before = ledger_size(&a);
    let out = a.run(&["--json", "verify", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let rep = json_of(&out);
    let unrepaired: Vec<_> = rep["repairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"].is_null())
        .collect();
    assert_eq!(unrepaired.len(), 1 + copies.len(), "{rep:#}");
    assert_eq!(
        ledger_size(&a),
        size_before,
        "nothing repaired, nothing recorded"
    );
    assert_eq!(get(&primary, &files[0]).unwrap(), b"damaged everywhere");
}

#[test]
fn a_rolling_audit_takes_each_record_once_per_cycle_resumes_and_is_rate_limited() {
    let a = Archive::new();
    a.accept(&sample());
    a.accept(&year_package(a.dir.path(), 2017));
    a.accept(&year_package(a.dir.path(), 2018));
    let records = 9;

    // Refused arguments change nothing.
    let size = ledger_size(&a);
    for bad in [
        &["verify", "--rolling", "0"][..],
        &["verify", "--rolling", "1/4", "--max-rate", "fast"],
    ] {
        let out = a.run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }
    assert_eq!(ledger_size(&a), size);

    // Quarter by quarter: each run starts where the last stopped, and one cycle checks every
    // record exactly once.
    let mut runs = Vec::new();
    loop {
        let out = a.run(&["--json", "verify", "--rolling", "1/4"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let r = json_of(&out);
        if r["cycle"] != 1 {
            assert_eq!(r["cycle"], 2);
            assert_eq!(r["from"], 0, "a new cycle starts from the oldest");
            break;
        }
        if let Some(prev) = runs.last() {
            let prev: &serde_json::Value = prev;
            assert_eq!(r["from"], prev["to"], "resumes where the last run stopped");
        } else {
            assert_eq!(r["from"], 0);
        }
        let e = json_of(&ok(&a, &["ledger", "show", &r["ledger_index"].to_string()]));
        assert_eq!(e["type"], "fixity.rolling");
        assert_eq!(e["from"], r["from"]);
        assert_eq!(e["to"], r["to"]);
        assert_eq!(e["result"], "intact");
        runs.push(r);
        assert!(runs.len() < 20, "the cycle never ended");
    }
    assert!(runs.len() >= 4, "{runs:#?}");
    let checked: u64 = runs
        .iter()
        .map(|r| r["records_checked"].as_u64().unwrap())
        .sum();
    assert_eq!(checked, records, "every record once per cycle");

    // Damage is found by the run whose share holds the record, and recorded as such.
    let primary = open(&store_url(&a));
    let victim = content_files(&primary)[0].clone();
    put(&primary, &victim, b"bit rot");
    let out = a.run(&["--json", "verify", "--rolling", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let r = json_of(&out);
    assert!(
        r["damage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["severity"] == "error"
                && d["location"]
                    .as_str()
                    .is_some_and(|l| victim.as_ref().starts_with(l))),
        "{r:#}"
    );
    let e = json_of(&ok(&a, &["ledger", "show", &r["ledger_index"].to_string()]));
    assert_eq!(e["result"], "damaged");
    assert_eq!(e["damaged_count"], 1);

    // The rate limit: a whole pass held to half the bytes per second it needs takes ≥ 2 s.
    let bytes = r["bytes_checked"].as_u64().unwrap();
    let rate = (bytes / 2).max(1).to_string();
    let started = std::time::Instant::now();
    let out = a.run(&["--json", "verify", "--rolling", "1", "--max-rate", &rate]);
    let r = json_of(&out);
    assert!(r["throttled_seconds"].as_f64().unwrap() > 0.5, "{r:#}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1800));
}

#[test]
fn replicate_refuses_another_archive_and_a_damaged_primary_and_leaves_the_replica_as_it_was() {
    let a = Archive::new();
    a.accept(&sample());
    // A replica that is another archive is refused, untouched.
    let other = Archive::new();
    let offsite = a.dir.path().join("offsite");
    let mut config = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    config.push_str(&format!(
        "\n[[replicas]]\nname = \"wrong\"\nstore = \"file://{}\"\n\n[[replicas]]\nname = \"offsite\"\nstore = \"file://{}\"\n",
        other.store().display(),
        offsite.display()
    ));
    std::fs::write(a.home.join("config.toml"), config).unwrap();
    let before = snapshot(&other.store(), &["locks"]);
    let out = a.run(&["replicate", "wrong"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("holds another archive"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(&other.store(), &["locks"]), before);
    let out = a.run(&["replicate", "nowhere"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("no replica named"),
        "{}",
        text(&out.stderr)
    );

    // A primary file that no longer matches its inventory is never copied: replication stops
    // naming it, and the replica keeps neither the version's files nor a newer ledger.
    ok(&a, &["replicate", "offsite"]);
    let primary = open(&store_url(&a));
    let old_files = content_files(&primary);
    a.accept(&year_package(a.dir.path(), 2017));
    let new_files: Vec<_> = content_files(&primary)
        .into_iter()
        .filter(|p| !old_files.contains(p))
        .collect();
    let victim = new_files.last().unwrap().clone();
    put(&primary, &victim, b"bit rot on the primary");
    let replica_url = format!("file://{}", offsite.display());
    let replica = open(&replica_url);
    let size_before = block_on(replica.ledger_size()).unwrap();
    let before = snapshot(&offsite, &["locks"]);
    let out = a.run(&["replicate", "offsite"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("does not match its ledger"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(block_on(replica.ledger_size()).unwrap(), size_before);
    let after = snapshot(&offsite, &["locks"]);
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    // Versions before the damaged one may have been copied whole; none of the damaged
    // record's files stayed.
    // `ocfl/aaa/bbb/ccc`: the damaged object's hash tuples, plain hex on every backend.
    let tuples = victim
        .as_ref()
        .split('/')
        .take(4)
        .collect::<Vec<_>>()
        .join("/");
    assert!(tuples.starts_with("ocfl/") && tuples.len() == "ocfl/aaa/bbb/ccc".len());
    assert!(added.iter().all(|k| !k.starts_with(&tuples)), "{added:#?}");
    ocfl_py_check(&offsite.join("ocfl"));
    // Repaired from the replica? No: the replica never had it. verify --repair says so.
    let out = a.run(&["verify", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

/// Two `serve` nodes with their own homes (their own search index folders) on the store of
/// `a`: transfers posted to both alternately over HTTP, and concurrently, are all accepted;
/// each node's search finds every record (its index catches up from the ledger); the ledger
/// verifies and holds each transfer and record exactly once.
fn two_nodes_on_one_store(a: Archive) {
    let agency = user_token(&a, "agency", "agency:11330100MB0000000X");
    let archivist = user_token(&a, "arch", "archivist");
    // Node 2: the same config (store URL, key) in another home, with no index of its own yet.
    let node2 = Archive {
        dir: tempfile::tempdir().unwrap(),
        home: a.dir.path().join("node2"),
        env: a.env.clone(),
    };
    copy_home(&a.home, &node2.home);
    let nodes = [
        ServeProcess::start(&a, "node1.log"),
        ServeProcess::start(&node2, "node2.log"),
    ];
    // Four transfers, alternately to each node, all uploading at once.
    let years: Vec<u32> = (2016..2020).collect();
    let done: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = years
            .iter()
            .enumerate()
            .map(|(i, &year)| {
                let node = &nodes[i % 2];
                let bag = if year == 2016 {
                    sample()
                } else {
                    year_package(a.dir.path(), year)
                };
                let tar = a.dir.path().join(format!("{year}.tar"));
                let token = agency.clone();
                scope.spawn(move || http_transfer(node, &token, &bag, &tar))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut codes = BTreeSet::new();
    for t in &done {
        assert_eq!(t["state"], "accepted", "{t:#}");
        for r in t["receipt"]["records"].as_array().unwrap() {
            assert!(codes.insert(r["reference_code"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(codes.len(), 12);
    // Each node finds every record, whichever node took it.
    for (n, node) in nodes.iter().enumerate() {
        let (status, body) = http_get(node, "/api/search?limit=200&facets=false", &archivist);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let found: BTreeSet<String> = v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["reference_code"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(found, codes, "node {}", n + 1);
    }
    drop(nodes);
    assert!(
        node2.home.join("index").exists(),
        "node 2 keeps its own index"
    );
    // The ledger: one transfer.accepted per transfer, one record.stored per record.
    let size = ledger_size(&a);
    let mut accepted = 0;
    let mut stored = BTreeSet::new();
    for i in 0..size {
        let e = json_of(&ok(&a, &["ledger", "show", &i.to_string()]));
        match e["type"].as_str().unwrap() {
            "transfer.accepted" => accepted += 1,
            "record.stored" => assert!(
                stored.insert(e["reference_code"].as_str().unwrap().to_string()),
                "{} stored twice",
                e["reference_code"]
            ),
            _ => {}
        }
    }
    assert_eq!(accepted, years.len());
    assert_eq!(stored, codes);
    ok(&a, &["ledger", "verify"]);
    ok(&a, &["verify"]);
}

#[test]
fn two_serve_nodes_share_a_file_store() {
    two_nodes_on_one_store(Archive::new());
}

#[test]
fn two_serve_nodes_share_an_s3_store() {
    let Some(a) = Archive::on_s3() else {
        eprintln!("SKIPPED: moto not installed");
        return;
    };
    two_nodes_on_one_store(a);
}
