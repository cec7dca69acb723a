//! `strongroom replicate` and `strongroom verify --repair`: the command-line face of
//! `strongroom::replica` (printing and exit codes only).

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
    let replicas = home.replicas(names).await?;
    if replicas.is_empty() {
        anyhow::bail!(
            "no replicas configured: add [[replicas]] name = …, store = … to config.toml"
        );
    }
    let mut reports = Vec::new();
    for r in &replicas {
        if !json {
            eprintln!("replicating to {} ({})", r.name, r.store.url());
        }
        let report = replica::replicate(&store, r, &key, &|what| {
            if !json {
                eprint!("\r\x1b[K  {what}");
            }
        })
        .await?;
        if !json {
            eprint!("\r\x1b[K");
            println!(
                "{}: ledger {} → {} entries, {} versions, {} objects, {} bytes copied",
                report.replica,
                report.from_size,
                report.to_size,
                report.versions_copied,
                report.objects_copied,
                report.bytes_copied
            );
        }
        reports.push(report);
    }
    if json {
        print_json(&serde_json::json!({ "replicas": reports }))?;
    }
    Ok(0)
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
