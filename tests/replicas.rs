//! Replicas (副本) and lawful destruction (销毁), through the binary: replicating the ledger
//! entries that record a destruction removes the record from every replica (its objects
//! deleted, the primary's tombstone put, the replica's ledger verifying), a replica that was
//! offline during the destruction catches up the same way, a replica first filled after it
//! never receives the record, and `verify --repair` restores nothing destroyed onto any copy.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// Due for destruction today in common::due_package (D5 since 2022-01-01; closed 2016-08-01,
/// D5); its third record, DUE_R2 (D10, due 2027), is kept.
const R1: &str = DUE_R1;
const R3: &str = DUE_R3;

/// The sample moved to `year`'s series (its own 档号), as its own transfer.
fn year_package(dir: &Path, year: u32) -> PathBuf {
    let bag = sample_copy(dir, &format!("YJ-{year}-0001"));
    for (folder, mut rec) in records(&bag) {
        let code =
            rec["reference_code"]
                .as_str()
                .unwrap()
                .replacen("·2016-", &format!("·{year}-"), 1);
        rec["reference_code"] = code.into();
        rec["year"] = year.into();
        write_json(&bag.join("data").join(&folder).join("record.json"), &rec);
    }
    rebag(&bag, &[("External-Identifier", &format!("YJ-{year}-0001"))]);
    bag
}

fn ok(out: Output, what: &str) -> Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

fn open(url: &str) -> strongroom::store::Store {
    match moto() {
        Some(m) if url.starts_with("s3://") => {
            strongroom::store::Store::open_with(url, &m.settings()).unwrap()
        }
        _ => strongroom::store::Store::open(url).unwrap(),
    }
}

/// Every object under a store's prefix `under`, sorted.
fn listing(s: &strongroom::store::Store, under: &str) -> Vec<String> {
    let mut v: Vec<String> = block_on(s.list_paths(&object_store::path::Path::from(under)))
        .unwrap()
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    v.sort();
    v
}

fn get(s: &strongroom::store::Store, p: &str) -> Option<Vec<u8>> {
    block_on(s.get_bytes(&object_store::path::Path::from(p)))
        .unwrap()
        .map(|b| b.to_vec())
}

fn add_replicas(a: &Archive, replicas: &[(&str, &str)]) {
    let mut config = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    for (name, url) in replicas {
        config.push_str(&format!(
            "\n[[replicas]]\nname = \"{name}\"\nstore = \"{url}\"\n"
        ));
    }
    std::fs::write(a.home.join("config.toml"), config).unwrap();
}

fn store_url(a: &Archive) -> String {
    let text = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["store"].as_str().unwrap().to_string()
}

/// The replica's store checked against its own ledger as `verify` does (every byte, every
/// digest, every version the ledger promises and nothing else), without the CLI's ledger
/// entry for the run: a replica's ledger is only ever the primary's.
fn verify_without_recording(name: &str, url: &str) {
    let r = block_on(strongroom::verify::verify(&open(url), &[], "tester", None)).unwrap();
    assert!(r.is_intact(), "{name}: {:#?}", r.damage);
    assert!(r.records_checked > 0, "{name}");
}

/// A home like `a`'s whose store is the replica at `url`: the replica read as an archive.
fn home_on(a: &Archive, name: &str, url: &str) -> Archive {
    let copy = Archive {
        dir: tempfile::tempdir().unwrap(),
        home: a.dir.path().join(format!("home-{name}")),
        env: a.env.clone(),
    };
    let _ = std::fs::remove_dir_all(&copy.home);
    copy_home(&a.home, &copy.home);
    let cfg = std::fs::read_to_string(copy.home.join("config.toml"))
        .unwrap()
        .replacen(
            &format!("store = \"{}\"", store_url(a)),
            &format!("store = \"{url}\""),
            1,
        );
    std::fs::write(copy.home.join("config.toml"), cfg).unwrap();
    copy
}

/// The replica at `url` holds exactly the primary's records and tombstones, and is a whole
/// archive: its ledger has the primary's size and verifies, its store verifies, the destroyed
/// records show their tombstone, and a local one passes the OCFL validator.
fn assert_same_archive(a: &Archive, name: &str, url: &str, destroyed: &BTreeSet<String>) {
    let primary = open(&store_url(a));
    let replica = open(url);
    assert_eq!(
        listing(&replica, "ocfl"),
        listing(&primary, "ocfl"),
        "{name}: the replica's OCFL objects are the primary's"
    );
    let tombstones = listing(&primary, "retention/destroyed");
    assert_eq!(tombstones.len(), destroyed.len());
    for t in &tombstones {
        assert_eq!(get(&replica, t), get(&primary, t), "{name}: tombstone {t}");
    }
    assert_eq!(
        block_on(replica.ledger_size()).unwrap(),
        block_on(primary.ledger_size()).unwrap(),
        "{name}"
    );
    let h = home_on(a, name, url);
    ok(h.run(&["ledger", "verify"]), "ledger verify on the replica");
    verify_without_recording(name, url);
    for code in destroyed {
        // `show` of a destroyed record prints its tombstone (and records no read).
        let v = json_of(&ok(h.run(&["--json", "show", code]), "show on the replica"));
        assert_eq!(
            v["destroyed"]["reference_code"],
            code.as_str(),
            "{name}: {v:#}"
        );
        assert_eq!(v["destroyed"]["disposition"], "destroyed", "{name}: {v:#}");
    }
    if let Some(dir) = url.strip_prefix("file://") {
        ok(
            Command::new(bin())
                .args(["ocfl", "validate"])
                .arg(Path::new(dir).join("ocfl"))
                .output()
                .unwrap(),
            "ocfl validate on the replica",
        );
    }
}

#[test]
fn destruction_reaches_every_replica_in_ledger_order_and_repair_restores_nothing_destroyed() {
    // The moto environment reaches the S3 replica (when moto is installed).
    let a = Archive::on_store(None, moto().map(|m| m.env()).unwrap_or_default());
    a.accept(&due_package(a.dir.path()));
    let dir = a.dir.path();
    let offsite = format!("file://{}", dir.join("offsite").display());
    let late_dir = dir.join("late");
    let late = format!("file://{}", late_dir.display());
    let mut replicas = vec![("offsite", offsite.as_str()), ("late", late.as_str())];
    let cloud = moto().map(|m| m.url());
    if let Some(u) = &cloud {
        replicas.push(("cloud", u.as_str()));
    }
    add_replicas(&a, &replicas);
    let r = json_of(&ok(a.run(&["--json", "replicate"]), "replicate"));
    for i in 0..replicas.len() {
        assert_eq!(r["replicas"][i]["versions_copied"], 3, "{r:#}");
        assert_eq!(r["replicas"][i]["records_removed"], 0, "{r:#}");
    }
    let primary = open(&store_url(&a));
    let before = listing(&primary, "ocfl");
    assert_eq!(listing(&open(&late), "ocfl"), before);

    let destroyed = destroy_due(&a);
    assert_eq!(destroyed, BTreeSet::from([R1.to_string(), R3.to_string()]));
    assert!(listing(&primary, "ocfl").len() < before.len());

    // "late" is offline during the destruction's replication: its folder is not there (a
    // file stands in its place), so every store operation on it fails.
    std::fs::rename(&late_dir, dir.join("late.away")).unwrap();
    std::fs::write(&late_dir, b"unplugged").unwrap();
    let out = a.run(&["--json", "replicate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let r = json_of(&out);
    let by_name = |r: &Value, n: &str| {
        r["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["replica"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} not in {r:#}"))
    };
    assert_eq!(by_name(&r, "offsite")["records_removed"], 2, "{r:#}");
    assert_eq!(by_name(&r, "offsite")["versions_copied"], 0, "{r:#}");
    assert!(by_name(&r, "late")["error"].is_string(), "{r:#}");
    assert_same_archive(&a, "offsite", &offsite, &destroyed);
    if let Some(u) = &cloud {
        assert_same_archive(&a, "cloud", u, &destroyed);
    }

    // Back online, still holding the destroyed records (its ledger does not record their
    // destruction yet). A repair must not restore them anywhere, least of all onto the
    // primary, from the copy that still has them.
    std::fs::remove_file(&late_dir).unwrap();
    std::fs::rename(dir.join("late.away"), &late_dir).unwrap();
    assert_eq!(listing(&open(&late), "ocfl"), before);
    let after_destruction = listing(&primary, "ocfl");
    let size = block_on(primary.ledger_size()).unwrap();
    let rep = json_of(&ok(a.run(&["--json", "verify", "--repair"]), "repair"));
    assert_eq!(rep["repairs"], serde_json::json!([]), "{rep:#}");
    assert_eq!(listing(&primary, "ocfl"), after_destruction);
    assert_eq!(block_on(primary.ledger_size()).unwrap(), size);

    // Caught up, the same way.
    let r = json_of(&ok(a.run(&["--json", "replicate", "late"]), "late"));
    assert_eq!(r["replicas"][0]["records_removed"], 2, "{r:#}");
    assert_same_archive(&a, "late", &late, &destroyed);
    let again = json_of(&ok(a.run(&["--json", "replicate"]), "again"));
    for x in again["replicas"].as_array().unwrap() {
        assert_eq!(x["records_removed"], 0, "{again:#}");
        assert_eq!(x["objects_copied"], 0, "{again:#}");
    }

    // A replica first filled after the destruction never receives the destroyed records,
    // but holds their tombstones.
    let fresh = format!("file://{}", dir.join("fresh").display());
    add_replicas(&a, &[("fresh", fresh.as_str())]);
    let r = json_of(&ok(a.run(&["--json", "replicate", "fresh"]), "fresh"));
    assert_eq!(r["replicas"][0]["versions_copied"], 1, "only R2: {r:#}");
    assert_same_archive(&a, "fresh", &fresh, &destroyed);

    // A repair afterwards checks every copy and restores nothing destroyed.
    let rep = json_of(&ok(a.run(&["--json", "verify", "--repair"]), "repair"));
    assert_eq!(rep["repairs"], serde_json::json!([]), "{rep:#}");
    for (name, url) in [("offsite", &offsite), ("late", &late), ("fresh", &fresh)] {
        assert_eq!(
            listing(&open(url), "ocfl"),
            after_destruction,
            "{name} after repair"
        );
    }
}

/// Waits up to a minute for `cond`, polling.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn intake_queues_replication_that_a_server_carries_out_in_the_background() {
    let a = Archive::new();
    let dir = a.dir.path();
    let offsite = format!("file://{}", dir.join("offsite").display());
    let flaky_dir = dir.join("flaky");
    let flaky = format!("file://{}", flaky_dir.display());
    add_replicas(
        &a,
        &[("offsite", offsite.as_str()), ("flaky", flaky.as_str())],
    );
    let mut cfg = std::fs::read_to_string(a.home.join("config.toml")).unwrap();
    cfg.push_str("\n[replication]\ninterval_seconds = 1\nretry_max_seconds = 2\n");
    std::fs::write(a.home.join("config.toml"), cfg).unwrap();
    // "flaky" is offline: a file stands where its folder should be.
    std::fs::write(&flaky_dir, b"unplugged").unwrap();
    let primary = open(&store_url(&a));

    // The CLI does not wait for the replicas; it says how far behind each is.
    let out = ok(
        a.run(&["--json", "transfer", sample().to_str().unwrap()]),
        "transfer",
    );
    let v = json_of(&out);
    let size = block_on(primary.ledger_size()).unwrap();
    assert_eq!(v["replicas"][0]["replica"], "offsite", "{v:#}");
    assert_eq!(v["replicas"][0]["ledger_size"], 0, "{v:#}");
    assert_eq!(v["replicas"][0]["behind"], size, "{v:#}");
    assert_eq!(v["replicas"][1]["replica"], "flaky");
    assert!(v["replicas"][1]["error"].is_string(), "{v:#}");
    assert_eq!(block_on(open(&offsite).ledger_size()).unwrap(), 0);
    let out = ok(
        a.run(&["transfer", year_package(dir, 2017).to_str().unwrap()]),
        "text transfer",
    );
    let says = text(&out.stderr);
    assert!(says.contains("replica offsite: "), "{says}");
    assert!(says.contains("entries behind"), "{says}");
    assert!(says.contains("replica flaky: unreachable"), "{says}");
    assert!(says.contains("strongroom replicate"), "{says}");

    // A server catches the reachable replica up at once, and after each transfer it takes;
    // the offline one never holds intake up and shows in /metrics.
    let agency = user_token(&a, "agency", "agency:11330100MB0000000X");
    let admin = user_token(&a, "sys", "system-admin");
    let s = ServeProcess::start(&a, "server.log");
    let replica_size = |url: &str| block_on(open(url).ledger_size()).unwrap_or(0);
    let primary_size = || block_on(primary.ledger_size()).unwrap();
    eventually("offsite caught up at start", || {
        replica_size(&offsite) == primary_size()
    });
    let bag = year_package(dir, 2018);
    let t = http_transfer(&s, &agency, &bag, &dir.join("2018.tar"));
    assert_eq!(t["state"], "accepted", "{t:#}");
    eventually("offsite caught up after an HTTP transfer", || {
        replica_size(&offsite) == primary_size()
    });
    let metrics = |s: &ServeProcess| {
        let (status, body) = http_get(s, "/metrics", &admin);
        assert_eq!(status, 200, "{body}");
        body
    };
    eventually("/metrics shows flaky failing and behind", || {
        let m = metrics(&s);
        metric(&m, "strongroom_replica_up{replica=\"flaky\"}") == Some(0)
            && metric(&m, "strongroom_replica_lag_entries{replica=\"flaky\"}")
                == Some(primary_size())
            && metric(&m, "strongroom_replica_failures_total{replica=\"flaky\"}")
                .is_some_and(|n| n >= 1)
            && metric(&m, "strongroom_replica_lag_entries{replica=\"offsite\"}") == Some(0)
            && metric(&m, "strongroom_replica_up{replica=\"offsite\"}") == Some(1)
    });

    // Another writer's commit (the CLI) is picked up by the periodic round.
    let bag = year_package(dir, 2019);
    ok(
        a.run(&["transfer", bag.to_str().unwrap()]),
        "CLI transfer while serving",
    );
    eventually("offsite caught up with another writer's commit", || {
        replica_size(&offsite) == primary_size()
    });

    // Back online: retried after its back-off, caught up, and /metrics says so.
    std::fs::remove_file(&flaky_dir).unwrap();
    eventually("flaky caught up once reachable", || {
        replica_size(&flaky) == primary_size()
    });
    eventually("/metrics shows flaky up", || {
        let m = metrics(&s);
        metric(&m, "strongroom_replica_up{replica=\"flaky\"}") == Some(1)
            && metric(&m, "strongroom_replica_lag_entries{replica=\"flaky\"}") == Some(0)
            && metric(&m, "strongroom_replica_ledger_size{replica=\"flaky\"}")
                == Some(primary_size())
    });
    drop(s);
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    assert!(log.contains("replica not caught up"), "{log}");
    assert!(log.contains("replica caught up"), "{log}");
    for (name, url) in [("offsite", &offsite), ("flaky", &flaky)] {
        let h = home_on(&a, name, url);
        ok(h.run(&["ledger", "verify"]), "ledger verify on the replica");
        verify_without_recording(name, url);
    }
}

#[test]
fn a_replica_killed_before_any_write_of_a_replicated_destruction_finishes_it_next_time() {
    let a = Archive::new();
    a.accept(&due_package(a.dir.path()));
    let dir = a.dir.path();
    let offsite_dir = dir.join("offsite");
    let offsite = format!("file://{}", offsite_dir.display());
    add_replicas(&a, &[("offsite", offsite.as_str())]);
    ok(a.run(&["replicate"]), "replicate");
    let destroyed = destroy_due(&a);
    let saved = dir.join("offsite.before");
    copy_tree(&offsite_dir, &saved);
    // SIGKILL before the 1st, 2nd, … write of the run that carries the destruction over,
    // until a run completes; after each kill a plain run finishes the job.
    let mut completed = false;
    for n in 1..400 {
        let _ = std::fs::remove_dir_all(&offsite_dir);
        copy_tree(&saved, &offsite_dir);
        let out = a
            .cmd(&["replicate", "offsite"])
            .env("STRONGROOM_TEST_KILL_AT_WRITE", n.to_string())
            .output()
            .unwrap();
        if out.status.code() == Some(0) {
            completed = true;
            eprintln!("a run completes after {} writes", n - 1);
            // The lock, the removal, tiles, checkpoint, tombstones and every deleted file.
            assert!(
                n > 20,
                "only {} writes: the removal was not carried over",
                n - 1
            );
            break;
        }
        assert_eq!(
            out.status.code(),
            None,
            "killed at write {n}: {}",
            text(&out.stderr)
        );
        ok(
            a.run(&["replicate", "offsite"]),
            &format!("after a kill at write {n}"),
        );
        let primary = open(&store_url(&a));
        let replica = open(&offsite);
        assert_eq!(
            listing(&replica, "ocfl"),
            listing(&primary, "ocfl"),
            "after a kill at write {n}"
        );
        for t in listing(&primary, "retention/destroyed") {
            assert_eq!(get(&replica, &t), get(&primary, &t), "kill at {n}: {t}");
        }
        assert!(listing(&replica, "removals").is_empty(), "kill at {n}");
        let h = home_on(&a, "offsite", &offsite);
        ok(
            h.run(&["ledger", "verify"]),
            &format!("ledger verify, kill at {n}"),
        );
    }
    assert!(completed, "the run never completed");
    assert_same_archive(&a, "offsite", &offsite, &destroyed);
}
