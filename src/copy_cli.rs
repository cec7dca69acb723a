//! `strongroom copy …`: thin glue over [`strongroom::copy`] (issuing a court copy bundle) and
//! the standalone verifier's library (`copy verify`). Results on stdout (JSON with `--json`),
//! progress on stderr; exit 0 done or valid, 1 refused or invalid, 2 usage or environment.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::print_json;
use strongroom::copy::{self, CopyError, CopyRequest};
use strongroom::home::Home;

/// `strongroom copy REF... --request TEXT --for COURT [--version N] -o FILE`,
/// `strongroom copy verify FILE`, `strongroom copy list [--court ID] [--all]`,
/// `strongroom copy revoke COPY_ID --reason TEXT`, or `strongroom copy prune [--dry-run]`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CopyArgs {
    #[command(subcommand)]
    command: Option<CopyCommand>,
    /// 档号 of the records to copy.
    #[arg(required = true)]
    reference_codes: Vec<String>,
    /// The court's request as it should be recorded (case number, letter reference).
    #[arg(long, required = true)]
    request: Option<String>,
    /// Who the copy is for (the court).
    #[arg(long = "for", value_name = "COURT", required = true)]
    requested_for: Option<String>,
    /// The version to copy (e.g. 2 or v2; default: each record's newest).
    #[arg(long)]
    version: Option<String>,
    /// The bundle to write (a .zip; never overwritten).
    #[arg(short = 'o', long, required = true)]
    output: Option<PathBuf>,
}

/// `strongroom copy` subcommands.
#[derive(Subcommand)]
enum CopyCommand {
    /// Check a copy bundle offline, exactly as the standalone tools/verify-copy does.
    Verify {
        /// The bundle.
        file: PathBuf,
        /// The archive's published verifier key (file); default: the bundle's own, with a notice.
        #[arg(long, value_name = "VKEY_FILE")]
        key: Option<PathBuf>,
        /// A signed checkpoint you already hold: also prove the bundle's is of the same log.
        #[arg(long, value_name = "FILE")]
        known_checkpoint: Option<PathBuf>,
        /// The consistency proof between the two (`strongroom ledger consistency OLD NEW`).
        #[arg(long, value_name = "FILE")]
        consistency: Option<PathBuf>,
        /// The timestamp authority's certificate (PEM or DER); default: the one in the token.
        #[arg(long, value_name = "FILE")]
        tsa_cert: Option<PathBuf>,
    },
    /// List the copies granted to courts through the server (调阅授权): id, court, records,
    /// request, who granted it and when, expiry and state; the grants in force unless --all.
    List {
        /// Only this court's grants (the `<id>` of `court:<id>`).
        #[arg(long, value_name = "ID")]
        court: Option<String>,
        /// Also the revoked and expired grants.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a court's grant of a copy issued through the server (撤销调阅授权): the court
    /// can no longer download it nor read the records it names; a `copy.revoked` entry. The
    /// bundle is removed from `<home>/copies/` (the ledger keeps the grant and the revocation).
    Revoke {
        /// The copy's id (`strongroom copy list`, `GET /api/copies`, the copies page).
        copy_id: String,
        /// Why, as it should be recorded.
        #[arg(long, required = true)]
        reason: String,
    },
    /// Remove from `<home>/copies/` the bundles of grants revoked or expired (the grants and
    /// their ledger entries stay); files no grant names are listed, never removed.
    Prune {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

struct Bars {
    index: ProgressBar,
    quiet: bool,
}

impl copy::Progress for Bars {
    fn index(&self, done: u64, total: u64) {
        self.index.set_length(total);
        self.index.set_position(done);
    }
    fn record(&self, reference_code: &str) {
        if !self.quiet {
            eprintln!("copying {reference_code}");
        }
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs `strongroom copy`.
pub async fn run(home_dir: &Path, json: bool, actor: &str, args: &CopyArgs) -> Result<u8> {
    if let Some(CopyCommand::Verify {
        file,
        key,
        known_checkpoint,
        consistency,
        tsa_cert,
    }) = &args.command
    {
        let options = verify_copy::Options {
            key: key.as_deref().map(read).transpose()?,
            known_checkpoint: known_checkpoint.as_deref().map(read).transpose()?,
            consistency: consistency.as_deref().map(read).transpose()?,
            tsa_cert: tsa_cert
                .as_deref()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .transpose()?,
        };
        let report = copy::verify(file, &options)?;
        for n in &report.notices {
            eprintln!("\n!!! {n}\n");
        }
        if json {
            print_json(&report.to_json())?;
        } else {
            print!("{}", report.to_text());
        }
        return Ok(if report.is_valid() { 0 } else { 1 });
    }
    if let Some(CopyCommand::Revoke { copy_id, reason }) = &args.command {
        return revoke(home_dir, json, actor, copy_id, reason).await;
    }
    if let Some(CopyCommand::List { court, all }) = &args.command {
        return list(home_dir, json, court.as_deref(), *all).await;
    }
    if let Some(CopyCommand::Prune { dry_run }) = &args.command {
        return prune(home_dir, json, *dry_run).await;
    }
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let key = home.key()?;
    let req = CopyRequest {
        records: args.reference_codes.clone(),
        version: args.version.clone(),
        request: args.request.clone().unwrap_or_default(),
        requested_for: args.requested_for.clone().unwrap_or_default(),
        actor: actor.to_string(),
        timestamp: home.config.timestamp.clone(),
    };
    let output = args.output.clone().unwrap_or_default();
    let quiet = !std::io::stderr().is_terminal();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "reading the ledger for the entry index {bar:30} {pos}/{len} entries",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let bars = Bars { index: bar, quiet };
    let result = copy::issue(home.dir(), &store, &key, &req, &output, &bars).await;
    bars.index.finish_and_clear();
    match result {
        Ok(issued) => {
            if json {
                print_json(&issued)?;
            } else {
                println!(
                    "issued copy {} for {}: {} ({} bytes)",
                    issued.copy_id,
                    req.requested_for,
                    issued.output.display(),
                    issued.bytes
                );
                for r in &issued.records {
                    println!(
                        "  {} {}: {} files, {} ledger entries with proofs",
                        r.reference_code, r.version, r.files, r.entries
                    );
                }
                println!(
                    "proofs lead to the signed checkpoint of size {}; the copy.issued entry is ledger index {} (manifest sha256 {})",
                    issued.checkpoint_size, issued.ledger_index, issued.manifest_sha256
                );
            }
            Ok(0)
        }
        Err(
            e @ (CopyError::NoSuchRecord(_)
            | CopyError::NoSuchVersion { .. }
            | CopyError::Duplicate(_)
            | CopyError::NoRecords
            | CopyError::Damaged { .. }
            | CopyError::OutputExists(_)),
        ) => {
            if json {
                print_json(&serde_json::json!({"issued": false, "error": e.to_string()}))?;
            } else {
                println!("REFUSED: {e}");
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

/// `strongroom copy list [--court ID] [--all]`: the grants as `GET /api/copies` shows an
/// archivist, read by the same code ([`strongroom::copy::grant::Grants::listing`]).
async fn list(home_dir: &Path, json: bool, court: Option<&str>, all: bool) -> Result<u8> {
    use strongroom::copy::grant::{GrantState, Grants};
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let court = court.map(str::trim).filter(|c| !c.is_empty());
    let grants = Grants::load(&store).await?;
    let listed = grants.listing(court, all, chrono::Utc::now());
    if json {
        print_json(&listed)?;
        return Ok(0);
    }
    if listed.is_empty() {
        let whose = court.map(|c| format!(" to court {c}")).unwrap_or_default();
        let which = if all {
            ""
        } else {
            " in force (--all lists revoked and expired ones too)"
        };
        println!("no copies granted{whose}{which}");
        return Ok(0);
    }
    for s in &listed {
        let g = &s.grant;
        let state = match (s.state, &s.revoked) {
            (GrantState::Revoked, Some(r)) => format!(
                "revoked by {} at {} (ledger entry {}): {}",
                r.revoked_by, r.revoked_at, r.ledger_index, r.reason
            ),
            (GrantState::Expired, _) => {
                format!("expired at {}", g.expires.as_deref().unwrap_or("?"))
            }
            _ => match &g.expires {
                Some(e) => format!("active until {e}"),
                None => "active until revoked".to_string(),
            },
        };
        println!("copy {}  court {}  {state}", g.copy_id, g.court);
        println!("  request:    {}", g.request);
        println!(
            "  granted:    by {} at {} (ledger entries {} issued, {} granted)",
            g.granted_by, g.granted_at, g.issued_ledger_index, g.ledger_index
        );
        for (i, rc) in g.reference_codes.iter().enumerate() {
            let v = g.versions.get(i).map(String::as_str).unwrap_or("");
            println!("  record:     {rc} {v}");
        }
        println!(
            "  bundle:     copies/{} ({} bytes)",
            g.bundle, g.bundle_bytes
        );
    }
    Ok(0)
}

/// `strongroom copy prune [--dry-run]`.
async fn prune(home_dir: &Path, json: bool, dry_run: bool) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let report =
        strongroom::copy::bundles::prune(home.dir(), &store, chrono::Utc::now(), dry_run).await?;
    if json {
        print_json(&report)?;
        return Ok(0);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for p in &report.removed {
        println!(
            "{verb} copies/{} ({} bytes): copy {} for court {}, {} at {}",
            p.bundle,
            p.bytes,
            p.copy_id,
            p.court,
            p.state.as_str(),
            p.since
        );
    }
    println!(
        "{verb} {} bundles ({} bytes) of revoked or expired grants; kept {} in force; {} already gone",
        report.removed.len(),
        report.bytes_removed,
        report.kept,
        report.already_gone
    );
    for name in &report.unreferenced {
        eprintln!("note: copies/{name} is named by no grant; left alone");
    }
    Ok(0)
}

/// `strongroom copy revoke COPY_ID --reason TEXT`.
async fn revoke(
    home_dir: &Path,
    json: bool,
    actor: &str,
    copy_id: &str,
    reason: &str,
) -> Result<u8> {
    use strongroom::copy::grant::GrantError;
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let key = home.key()?;
    match strongroom::copy::bundles::revoke(home.dir(), &store, &key, actor, copy_id, reason).await
    {
        Ok(done) => {
            let (g, r) = (&done.grant, &done.revocation);
            if let Some(problem) = &done.bundle_problem {
                eprintln!("warning: the bundle could not be removed ({problem}); strongroom copy prune removes it");
            }
            if json {
                print_json(&done.to_json())?;
            } else {
                println!(
                    "revoked court {}'s grant of copy {} ({} records); copy.revoked is ledger index {}{}",
                    g.court,
                    g.copy_id,
                    g.reference_codes.len(),
                    r.ledger_index,
                    if done.bundle_removed { "; its bundle was removed" } else { "" }
                );
            }
            Ok(0)
        }
        Err(
            e @ (GrantError::NoSuchGrant(_)
            | GrantError::AlreadyRevoked { .. }
            | GrantError::NoReason),
        ) => {
            if json {
                print_json(&serde_json::json!({"revoked": false, "error": e.to_string()}))?;
            } else {
                println!("REFUSED: {e}");
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
