//! `strongroom ledger …`: thin glue over [`strongroom::ledger::log`] that opens the archive,
//! calls the library and prints. Results go to stdout (JSON with `--json`), progress and
//! diagnostics to stderr. Exit codes as for every command: 0 done, 1 invalid or damaged,
//! 2 usage or environment errors (returned as `Err`).

use crate::print_json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use strongroom::home::Home;
use strongroom::ledger::entry::Entry;
use strongroom::ledger::log::Ledger;
use strongroom::sign::Verifier;
use strongroom::store::{ArchiveInfo, Store};

/// `strongroom ledger` subcommands.
#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Print the latest signed checkpoint (C2SP tlog-checkpoint as a signed note).
    Checkpoint,
    /// Print the verifier key that checkpoints are signed with (C2SP signed-note vkey).
    Vkey,
    /// Show one ledger entry, decoded.
    Show {
        /// Entry index, from 0.
        index: u64,
    },
    /// Print the offline inclusion proof of an entry in C2SP tlog-proof form.
    Prove {
        /// Entry index, from 0.
        index: u64,
        /// Prove against the signed checkpoint of this size (default: the latest).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Print the consistency proof from tree size OLD to NEW (base64 hashes, one per line).
    Consistency {
        /// The older tree size (at least 1).
        old: u64,
        /// The newer tree size (at most the latest).
        new: u64,
    },
    /// Get an RFC 3161 token for the latest signed checkpoint from the authority in
    /// `[timestamp]` of config.toml (kept in the store; a checkpoint already stamped keeps its
    /// token).
    Timestamp,
    /// Recompute every tile and the root from the entries and check every signed checkpoint:
    /// exit 0 intact, 1 damaged (each finding named with its path).
    Verify {
        /// A signed checkpoint kept earlier: also prove the ledger is an extension of it.
        #[arg(long, value_name = "CHECKPOINT_FILE")]
        since: Option<PathBuf>,
        /// Verifier key to trust (default: archive.pub in the home).
        #[arg(long)]
        key: Option<String>,
    },
}

async fn open(home_dir: &Path) -> Result<(Home, Store, ArchiveInfo, Ledger)> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let info = store.archive_info().await?;
    let ledger = strongroom::ledger::commit::open(&store).await?;
    Ok((home, store, info, ledger))
}

/// The key to trust: `--key`, else `archive.pub` in the home (kept apart from the store),
/// else the one the store publishes in `archive.json`.
fn trusted_key(home: &Home, info: &ArchiveInfo, key: Option<&str>) -> Result<Verifier> {
    let vkey = match key {
        Some(k) => k.to_string(),
        None => match std::fs::read_to_string(home.dir().join("archive.pub")) {
            Ok(k) => {
                let k = k.trim().to_string();
                if k != info.verifier_key {
                    eprintln!(
                        "warning: archive.pub in the home differs from the store's archive.json; trusting archive.pub"
                    );
                }
                k
            }
            Err(_) => info.verifier_key.clone(),
        },
    };
    Verifier::from_verifier_key(&vkey).context("the verifier key")
}

/// Runs one `strongroom ledger` command; returns the exit code.
pub async fn run(home_dir: &Path, json: bool, command: &LedgerCommand) -> Result<u8> {
    let (home, store, info, ledger) = open(home_dir).await?;
    match command {
        LedgerCommand::Checkpoint => {
            let Some(latest) = ledger.latest().await? else {
                eprintln!("the ledger is empty: no checkpoint has been signed yet");
                return Ok(1);
            };
            // A batch committed (claimed) but not yet written out: say so, since its entries
            // are in the ledger but not readable until the next writer finishes it.
            let pending = ledger.pending().await?;
            if let Some(p) = &pending {
                eprintln!(
                    "note: the batch from size {} to {} is committed but not yet written out (ledger/next/{:020}); the next writer's recovery finishes it",
                    p.old, p.new, p.old
                );
            }
            if json {
                print_json(&serde_json::json!({
                    "origin": latest.checkpoint.origin(),
                    "size": latest.size(),
                    "root": latest.root().to_base64(),
                    "note": latest.note,
                    "pending": pending.map(|p| serde_json::json!({"from": p.old, "to": p.new})),
                }))?;
            } else {
                print!("{}", latest.note);
            }
            Ok(0)
        }
        LedgerCommand::Timestamp => {
            let Some(cfg) = &home.config.timestamp else {
                anyhow::bail!(
                    "no timestamp authority configured: add [timestamp] url = \"http://…\" to {}",
                    home.dir().join("config.toml").display()
                );
            };
            match strongroom::copy::timestamp::stamp_latest(&store, cfg).await? {
                Some((size, time)) => {
                    if json {
                        print_json(&serde_json::json!({"size": size, "time": time}))?;
                    } else {
                        println!("checkpoint of size {size} timestamped at {time}");
                    }
                    Ok(0)
                }
                None => {
                    eprintln!("the ledger is empty: no checkpoint has been signed yet");
                    Ok(1)
                }
            }
        }
        LedgerCommand::Vkey => {
            if json {
                print_json(&serde_json::json!({
                    "origin": ledger.origin(),
                    "verifier_key": info.verifier_key,
                }))?;
            } else {
                println!("{}", info.verifier_key);
            }
            Ok(0)
        }
        LedgerCommand::Show { index } => {
            let bytes = ledger.entry(*index).await?;
            match Entry::decode(&bytes) {
                Ok(entry) => {
                    print_json(&entry)?;
                    Ok(0)
                }
                Err(e) => {
                    let raw = String::from_utf8_lossy(&bytes);
                    if json {
                        print_json(&serde_json::json!({
                            "index": index, "raw": raw, "error": e.to_string(),
                        }))?;
                    } else {
                        println!("{raw}");
                    }
                    eprintln!("entry {index} is not a valid ledger entry: {e}");
                    Ok(1)
                }
            }
        }
        LedgerCommand::Prove { index, size } => {
            let proof = ledger.tlog_proof(*index, *size).await?;
            if json {
                print_json(&serde_json::json!({"index": index, "tlog_proof": proof}))?;
            } else {
                print!("{proof}");
            }
            Ok(0)
        }
        LedgerCommand::Consistency { old, new } => {
            let proof = ledger.consistency_proof(*old, *new).await?;
            let hashes: Vec<String> = proof.iter().map(|h| h.to_base64()).collect();
            if json {
                print_json(&serde_json::json!({"old": old, "new": new, "proof": hashes}))?;
            } else {
                for h in hashes {
                    println!("{h}");
                }
            }
            Ok(0)
        }
        LedgerCommand::Verify { since, key } => {
            let verifier = trusted_key(&home, &info, key.as_deref())?;
            let since_note = match since {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let bar = if std::io::stderr().is_terminal() {
                let bar = ProgressBar::new(ledger.size().await?);
                bar.set_style(
                    ProgressStyle::with_template(
                        "verifying ledger [{bar:30}] {pos}/{len} entries ({per_sec})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            } else {
                ProgressBar::hidden()
            };
            let progress = |n: u64| bar.set_position(n);
            let r = ledger
                .verify(&verifier, since_note.as_deref(), &progress)
                .await?;
            bar.finish_and_clear();
            if json {
                print_json(&r)?;
            } else {
                for f in &r.findings {
                    println!("{f}");
                }
                if r.is_ok() {
                    println!(
                        "ledger intact: {} entries, {} bundles, {} tiles, {} checkpoints checked; size {} root {}",
                        r.entries_checked,
                        r.bundles_checked,
                        r.tiles_checked,
                        r.checkpoints_checked,
                        r.size,
                        r.root.as_deref().unwrap_or("(empty)")
                    );
                } else {
                    println!(
                        "LEDGER DAMAGED: {} finding(s)",
                        r.findings
                            .iter()
                            .filter(|f| matches!(f.severity, strongroom::findings::Severity::Error))
                            .count()
                    );
                }
            }
            Ok(if r.is_ok() { 0 } else { 1 })
        }
    }
}
