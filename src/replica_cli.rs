//! `strongroom replicate`, `strongroom verify --repair` and `strongroom verify --rolling`: the
//! command-line face of `strongroom::replica` and `strongroom::audit` (printing and exit
//! codes only).

use std::path::Path;

use anyhow::Result;
use strongroom::home::Home;
use strongroom::replica;

use crate::print_json;

/// Catches up the named replicas (all when none is named). Exit 0 when every one is caught up.
pub async fn replicate(home_dir: &Path, json: bool, names: &[String]) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let key = home.key()?;
    let replicas = home.replica_configs(names)?;
    if replicas.is_empty() {
        anyhow::bail!(
            "no replicas configured: add [[replicas]] name = …, store = … to config.toml"
        );
    }
    // One replica failing (offline, full, refused) does not keep the others behind: each is
    // tried, each failure is reported, and the exit code says whether all caught up.
    let mut reports = Vec::new();
    let mut failed = 0;
    for r in &replicas {
        if !json {
            eprintln!("replicating to {} ({})", r.name, r.store);
        }
        let result = async {
            let copy = r.open().await?;
            replica::replicate(&store, &copy, &key, &|what| {
                if !json {
                    eprint!("\r\x1b[K  {what}");
                }
            })
            .await
        }
        .await;
        if !json {
            eprint!("\r\x1b[K");
        }
        match result {
            Ok(report) => {
                if !json {
                    println!(
                        "{}: ledger {} → {} entries, {} versions, {} objects, {} bytes copied{}",
                        report.replica,
                        report.from_size,
                        report.to_size,
                        report.versions_copied,
                        report.objects_copied,
                        report.bytes_copied,
                        if report.records_removed > 0 {
                            format!(
                                ", {} destroyed or transferred records removed",
                                report.records_removed
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                reports.push(serde_json::to_value(&report)?);
            }
            Err(e) => {
                failed += 1;
                let why = format!("{:#}", anyhow::Error::from(e));
                if !json {
                    eprintln!("{}: NOT caught up: {why}", r.name);
                }
                reports.push(serde_json::json!({ "replica": r.name, "error": why }));
            }
        }
    }
    if json {
        print_json(&serde_json::json!({ "replicas": reports }))?;
    }
    if failed > 0 && !json {
        eprintln!("{failed} of {} replicas not caught up; run `strongroom replicate` again when they are reachable", replicas.len());
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Checks the primary and every replica against the ledger and restores what is missing or
/// damaged. Exit 0 when everything found was repaired (or nothing was wrong), 1 otherwise.
pub async fn repair(home_dir: &Path, json: bool, actor: &str) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let key = home.key()?;
    let replicas = home.replicas(&[]).await?;
    let report = replica::repair(&store, &replicas, &key, actor, &|what| {
        if !json {
            eprint!("\r\x1b[K  checking {what}");
        }
    })
    .await?;
    if !json {
        eprint!("\r\x1b[K");
    }
    if json {
        print_json(&report)?;
    } else {
        for r in &report.repairs {
            match (&r.source, r.ledger_index) {
                (Some(src), Some(i)) => println!(
                    "repaired {} {} on {} from {} (ledger entry {i})",
                    r.problem, r.path, r.copy, src
                ),
                _ => println!(
                    "NOT REPAIRED: {} {} on {}: no copy holds the bytes the ledger promised",
                    r.problem, r.path, r.copy
                ),
            }
        }
        println!(
            "{} copies ({}), {} files checked, {} repaired, {} beyond repair",
            report.copies.len(),
            report.copies.join(", "),
            report.files_checked,
            report.repairs.iter().filter(|r| r.source.is_some()).count(),
            report.repairs.iter().filter(|r| r.source.is_none()).count()
        );
    }
    Ok(if report.all_repaired() { 0 } else { 1 })
}

/// One rolling audit run. Exit 0 intact, 1 damaged (the run is recorded either way).
pub async fn rolling(
    home_dir: &Path,
    json: bool,
    actor: &str,
    fraction: &str,
    max_rate: Option<&str>,
) -> Result<u8> {
    let Some(f) = strongroom::audit::parse_fraction(fraction) else {
        anyhow::bail!("--rolling {fraction:?}: give a share of the archive above 0 and at most 1, e.g. 1/365, 0.01 or 5%");
    };
    let rate = match max_rate {
        None => None,
        Some(r) => match strongroom::audit::parse_rate(r) {
            Some(v) => Some(v),
            None => anyhow::bail!("--max-rate {r:?}: give bytes a second, e.g. 50M, 1G or 800k"),
        },
    };
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let key = home.key()?;
    let report = strongroom::audit::rolling(&store, &key, actor, f, rate, None).await?;
    if json {
        print_json(&report)?;
    } else {
        for d in &report.damage {
            println!(
                "{} {} record {} file {}: {} [{}]",
                d.severity,
                d.code,
                d.reference_code.as_deref().unwrap_or("-"),
                d.file.as_deref().unwrap_or("-"),
                d.message,
                d.location
            );
        }
        println!(
            "rolling audit, cycle {}: ledger entries {}..{} of {}: {} records, {} files, {} bytes re-read{}: {}",
            report.cycle,
            report.from,
            report.to,
            report.ledger_size,
            report.records_checked,
            report.files_checked,
            report.bytes_checked,
            if report.throttled_seconds > 0.0 {
                format!(" ({:.1} s waiting for the rate limit)", report.throttled_seconds)
            } else {
                String::new()
            },
            if report.is_intact() { "intact" } else { "DAMAGED" }
        );
        if let Some(i) = report.ledger_index {
            eprintln!("this run is recorded as ledger entry {i}");
        }
    }
    Ok(if report.is_intact() { 0 } else { 1 })
}

/// After a write: how far each configured replica is behind (one read of each replica's
/// checkpoint, at most 10 s each; never a wait for replication). Printed on stderr in text
/// mode; returned for `--json`. Empty when no replica is configured.
pub async fn lag_after_write(
    home: &Home,
    store: &strongroom::store::Store,
    json: bool,
) -> Vec<replica::ReplicaLag> {
    if home.config.replicas.is_empty() {
        return Vec::new();
    }
    let size = match store.ledger_size().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: the ledger's size could not be read for the replicas ({e})");
            return Vec::new();
        }
    };
    let lags = replica::lag(
        &home.config.replicas,
        size,
        std::time::Duration::from_secs(10),
    )
    .await;
    if !json {
        for l in &lags {
            match (&l.error, l.ledger_size) {
                (Some(e), _) => eprintln!("replica {}: unreachable ({e})", l.replica),
                (None, Some(n)) if l.behind == 0 => {
                    eprintln!("replica {}: up to date ({n} ledger entries)", l.replica)
                }
                (None, n) => eprintln!(
                    "replica {}: {} ledger entries behind ({} of {size})",
                    l.replica,
                    l.behind,
                    n.unwrap_or(0)
                ),
            }
        }
        if lags.iter().any(|l| l.behind > 0) {
            eprintln!(
                "replication is queued, not waited for: `strongroom replicate` or a running \
                 `strongroom serve` catches the replicas up"
            );
        }
    }
    lags
}
