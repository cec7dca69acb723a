//! The `strongroom` command: a thin CLI over the library.
//!
//! Run with `cargo run -- --help`. Results go to stdout (JSON with `--json`), progress and
//! diagnostics to stderr. Exit codes: 0 done, 1 refused/invalid/damaged, 2 usage or
//! environment errors.

mod copy_cli;
mod ledger_cli;
mod replica_cli;
mod retention_cli;
mod seal_cli;
mod search_cli;
mod server_cli;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use strongroom::intake::{self, IntakeOptions, Outcome, Progress};
use strongroom::{access, bagit, home::Home, ocfl, sign, verify};

#[derive(Parser)]
#[command(
    name = "strongroom",
    version,
    about = "A long-term electronic archive repository"
)]
struct Cli {
    /// The archive's local home: config, private key, caches.
    #[arg(
        long,
        global = true,
        env = "STRONGROOM_HOME",
        default_value = "./strongroom-data"
    )]
    home: PathBuf,
    /// Print results as JSON (schemas in formats/).
    #[arg(long, global = true)]
    json: bool,
    /// Who is acting (recorded with every change). Default: the OS user.
    #[arg(long = "as", global = true, value_name = "USER")]
    actor: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the home, the archive's key pair and the store.
    Init {
        /// Store URL: file:///abs/path (default <home>/store), s3://bucket/prefix (reached
        /// through the AWS_* environment; see `[s3]` in config.toml) or memory://.
        #[arg(long)]
        store: Option<String>,
        /// The signing key's name (fixed for the archive's life).
        #[arg(long, default_value = "strongroom.archive")]
        key_name: String,
    },
    /// Take a transfer package (bag folder, .tar, .tar.zst or .zip): receipt or report.
    Transfer {
        /// The package.
        package: PathBuf,
        /// Also write the rejection report (JSON) here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Also write the signed receipt (signed-note) here.
        #[arg(long)]
        receipt: Option<PathBuf>,
    },
    /// BagIt (RFC 8493) validation alone.
    Bag {
        #[command(subcommand)]
        command: BagCommand,
    },
    /// OCFL 1.1 validation of an object or storage root.
    Ocfl {
        #[command(subcommand)]
        command: OcflCommand,
    },
    /// List the records in the archive.
    List,
    /// Show a record: metadata, files, digests, versions.
    Show {
        /// 档号.
        reference_code: String,
        /// Why you read it (recorded in the ledger with who read what).
        #[arg(long, default_value = "unspecified")]
        purpose: String,
    },
    /// Stream one file of a record.
    Get {
        /// 档号.
        reference_code: String,
        /// File path in the record folder (or record.json, evidence/intake.json).
        file: String,
        /// Version (default: newest).
        #[arg(long)]
        version: Option<String>,
        /// Write here instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Why you read it (recorded in the ledger with who read what).
        #[arg(long, default_value = "unspecified")]
        purpose: String,
    },
    /// Re-read every stored byte and check digests and structure.
    Verify {
        /// Only these records (档号); default: the whole archive.
        reference_codes: Vec<String>,
        /// First check the primary and every replica against the ledger and restore missing
        /// or damaged object files from a good copy, each repair a ledger entry.
        #[arg(long)]
        repair: bool,
        /// Rolling audit: re-read this share of the archive (`1/365`, `0.01`, `5%`), taking
        /// up where the last rolling run stopped, oldest-checked first; one ledger entry.
        #[arg(long, value_name = "FRACTION")]
        rolling: Option<String>,
        /// With --rolling: re-read at most this many bytes a second (`50M`, `1G`), so that
        /// intake keeps its share of the disks.
        #[arg(long, value_name = "RATE", requires = "rolling")]
        max_rate: Option<String>,
    },
    /// Copy to the replicas named in config.toml (all when none is named) everything the
    /// ledger has published since each last caught up.
    Replicate {
        /// Replica names; default: every one.
        names: Vec<String>,
    },
    /// Receipts.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// Correct a record's metadata: a new version with a new record.json (--metadata) or
    /// with named fields changed (--set; the fields of the 档号 cannot change).
    Amend {
        /// 档号.
        reference_code: String,
        /// The corrected record.json.
        #[arg(long, required_unless_present = "set", conflicts_with = "set")]
        metadata: Option<PathBuf>,
        /// FIELD=VALUE to change (repeatable; an empty VALUE removes an optional field).
        #[arg(long, value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Why (kept in the version and the commit record).
        #[arg(long)]
        reason: String,
    },
    /// The ledger: signed checkpoints, entries, inclusion and consistency proofs, verification.
    Ledger {
        #[command(subcommand)]
        command: ledger_cli::LedgerCommand,
    },
    /// Electronic seals: the registry of agencies' trusted certificates and keys, and
    /// verification of a file's detached seal against it.
    Seal {
        #[command(subcommand)]
        command: seal_cli::SealCommand,
    },
    /// Search the archive: words (Chinese or English), "phrases", title:/case:/doc:/creator:,
    /// refcode:PREFIX*, ranges; catches the index up with the ledger first.
    Search {
        #[command(flatten)]
        args: search_cli::SearchArgs,
    },
    /// Rebuild the search index from scratch from the store and the ledger.
    Reindex {},
    /// Issue an authenticated copy bundle for a court (`copy REF... --request T --for COURT
    /// -o FILE`), or check one offline (`copy verify FILE [--key VKEY_FILE]`).
    Copy {
        #[command(flatten)]
        args: copy_cli::CopyArgs,
    },
    /// Retention (保管期限): the due list, named events, re-appraisal.
    Retention {
        #[command(subcommand)]
        command: retention_cli::RetentionCommand,
    },
    /// Holds (冻结): place, lift (two archivists), list.
    Hold {
        #[command(subcommand)]
        command: retention_cli::HoldCommand,
    },
    /// Disposition (销毁): propose a batch, approve (two archivists), execute before two
    /// witnesses, the signed certificate.
    Dispose {
        #[command(subcommand)]
        command: retention_cli::DisposeCommand,
    },
    /// Transfer out (移交进馆): write an approved transfer batch as a BagIt package
    /// (`transfer-out BATCH --to PATH`), then `transfer-out confirm BATCH RECEIPT --key VKEY`
    /// with the receiving archive's receipt removes the records here.
    #[command(
        name = "transfer-out",
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    TransferOut {
        #[command(subcommand)]
        command: Option<retention_cli::TransferOutCommand>,
        /// Batch number.
        #[arg(required = true)]
        batch: Option<u64>,
        /// The package's folder (must not exist).
        #[arg(long, required = true)]
        to: Option<PathBuf>,
        /// The package's External-Identifier (default OUT-<batch>).
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Start the archive on its embedded default: init (if needed), the sample transfer, list.
    Demo {
        /// The package to load (default: the sample transfer in tests/data).
        #[arg(long)]
        package: Option<PathBuf>,
    },
    /// Run the HTTP API and the web pages (`--demo`: on the embedded default, with a token).
    Serve {
        #[command(flatten)]
        args: server_cli::ServeArgs,
    },
    /// Users of the server and their one role each (三员分立).
    User {
        #[command(subcommand)]
        command: server_cli::UserCommand,
    },
    /// API tokens: issued once, stored only as hashes, with expiry and revocation.
    Token {
        #[command(subcommand)]
        command: server_cli::TokenCommand,
    },
}

#[derive(Subcommand)]
enum BagCommand {
    /// Validate a bag: exit 0 valid, 1 invalid; warnings on stderr.
    Validate {
        /// The bag's folder.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum OcflCommand {
    /// Validate an object or storage root: exit 0 valid (or warnings), 1 invalid.
    Validate {
        /// Object root or storage root folder.
        path: PathBuf,
        /// Skip recomputing content digests.
        #[arg(long)]
        no_digests: bool,
    },
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Check a signed receipt against the archive's verifier key.
    Verify {
        /// The receipt file (signed-note text; surrounding text is ignored).
        file: PathBuf,
        /// Verifier key (default: archive.pub in the home).
        #[arg(long)]
        key: Option<String>,
    },
}

fn actor(cli: &Cli) -> String {
    cli.actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(os_user_name)
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}

/// The name of the OS user running us, from /etc/passwd (no libc lookup needed).
fn os_user_name() -> Option<String> {
    let uid = rustix::process::getuid().as_raw().to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)? == uid).then(|| name.to_string())
        })
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// A command-line tool whose output is piped into `head` should stop quietly when the reader
/// goes away, as `cat` does, instead of panicking on the write (Rust ignores SIGPIPE).
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strongroom: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("strongroom: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli) -> Result<u8> {
    match &cli.command {
        Command::Init { store, key_name } => {
            let (home, key) = Home::init(&cli.home, store.as_deref(), key_name).await?;
            if cli.json {
                print_json(&serde_json::json!({
                    "home": home.dir(), "store": home.config.store,
                    "key_name": key.name(), "verifier_key": key.verifier_key(),
                }))?;
            } else {
                println!("initialised archive in {}", home.dir().display());
                println!("store:        {}", home.config.store);
                println!("verifier key: {}", key.verifier_key());
                eprintln!(
                    "Back up {} now and keep it apart from the store: the store plus this key is the whole archive.",
                    home.dir().join("archive.key").display()
                );
            }
            Ok(0)
        }
        Command::Transfer {
            package,
            report,
            receipt,
        } => transfer(cli, package, report.as_deref(), receipt.as_deref()).await,
        Command::Bag {
            command: BagCommand::Validate { dir },
        } => {
            let r = bagit::validate(dir, &bagit::ValidateOptions::default());
            for f in &r.findings {
                eprintln!("{f}");
            }
            if cli.json {
                print_json(&serde_json::json!({"valid": r.is_valid(), "findings": r.findings}))?;
            }
            Ok(if r.is_valid() { 0 } else { 1 })
        }
        Command::Ocfl {
            command: OcflCommand::Validate { path, no_digests },
        } => {
            if !path.exists() {
                bail!("{} does not exist", path.display());
            }
            let opts = ocfl::validate::Options {
                check_digests: !no_digests,
                ..Default::default()
            };
            let r = ocfl::validate::validate_local(path, &opts).await?;
            if !cli.json {
                for f in &r.findings {
                    println!("{f}");
                }
            }
            if cli.json {
                let findings: Vec<_> = r
                    .findings
                    .iter()
                    .map(|f| serde_json::json!({"code": f.code, "severity": format!("{:?}", f.severity).to_lowercase(), "object": f.object, "path": f.path, "message": f.message}))
                    .collect();
                print_json(
                    &serde_json::json!({"valid": r.is_valid(), "objects_checked": r.objects_checked, "findings": findings}),
                )?;
            } else if r.is_valid() {
                println!(
                    "valid ({} objects, {} files checked)",
                    r.objects_checked, r.files_checked
                );
            }
            Ok(if r.is_valid() { 0 } else { 1 })
        }
        Command::List => {
            let home = Home::open(&cli.home)?;
            let store = home.store().await?;
            let records = access::list(&store).await?;
            if cli.json {
                print_json(&records)?;
            } else {
                for r in &records {
                    println!(
                        "{}\t{}\t{}\t{}",
                        r.reference_code, r.version, r.transfer, r.title
                    );
                }
                eprintln!("{} record(s)", records.len());
            }
            Ok(0)
        }
        Command::Show {
            reference_code,
            purpose,
        } => {
            let home = Home::open(&cli.home)?;
            let store = home.store().await?;
            let v = match access::show(&store, reference_code).await {
                Ok(v) => v,
                Err(access::AccessError::Destroyed { .. }) => {
                    return retention_cli::show_tombstone(&store, reference_code, cli.json).await
                }
                Err(e) => return Err(e.into()),
            };
            // Recorded before anything is shown.
            access::record_read(&store, &home.key()?, &actor(cli), purpose, &v.read_target())
                .await?;
            let extra = retention_cli::show_extra(&store, &v).await?;
            if cli.json {
                let mut j = serde_json::to_value(&v)?;
                if let Some(o) = j.as_object_mut() {
                    o.insert("holds".into(), serde_json::to_value(&extra.holds)?);
                    o.insert(
                        "amendments".into(),
                        serde_json::to_value(&extra.amendments)?,
                    );
                    o.insert(
                        "retention_events".into(),
                        serde_json::to_value(&extra.retention_events)?,
                    );
                }
                print_json(&j)?;
            } else {
                println!("档号 {}  ({} {})", v.reference_code, v.object_id, v.head);
                println!("object root: {}", v.object_root);
                if let Some(m) = v.metadata.as_object() {
                    for (k, val) in m {
                        if k == "files" {
                            continue;
                        }
                        let s = val
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| val.to_string());
                        println!("  {k}: {s}");
                    }
                }
                println!("files:");
                for f in &v.files {
                    println!("  {}", f.path);
                    println!("    sha512 {}", f.sha512);
                    if let Some(s) = &f.sha256 {
                        println!("    sha256 {s}");
                    }
                }
                println!("versions:");
                for ver in &v.versions {
                    println!(
                        "  {} {} {} {}",
                        ver.version,
                        ver.created,
                        ver.user.as_deref().unwrap_or(""),
                        ver.message.as_deref().unwrap_or("")
                    );
                }
                retention_cli::print_extra(&extra);
            }
            Ok(0)
        }
        Command::Get {
            reference_code,
            file,
            version,
            output,
            purpose,
        } => {
            let home = Home::open(&cli.home)?;
            let store = home.store().await?;
            let (target, mut stream) =
                match access::get(&store, reference_code, file, version.as_deref()).await {
                    Ok(x) => x,
                    Err(e @ access::AccessError::Destroyed { .. }) => {
                        eprintln!("strongroom: {e}");
                        return Ok(1);
                    }
                    Err(e) => return Err(e.into()),
                };
            // Recorded before a byte is written out.
            access::record_read(&store, &home.key()?, &actor(cli), purpose, &target).await?;
            let mut out: Box<dyn Write> = match output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk?)?;
            }
            out.flush()?;
            Ok(0)
        }
        Command::Verify {
            reference_codes,
            repair,
            rolling,
            max_rate,
        } => {
            if let Some(fraction) = rolling {
                return replica_cli::rolling(
                    &cli.home,
                    cli.json,
                    &actor(cli),
                    fraction,
                    max_rate.as_deref(),
                )
                .await;
            }
            if *repair {
                let code = replica_cli::repair(&cli.home, cli.json, &actor(cli)).await?;
                if code != 0 || cli.json {
                    return Ok(code);
                }
            }
            let home = Home::open(&cli.home)?;
            let store = home.store().await?;
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template(
                    "{spinner} verifying: {bytes} re-read ({bytes_per_sec})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner.enable_steady_tick(std::time::Duration::from_millis(200));
            let bar = spinner.clone();
            let progress = ocfl::validate::BytesProgress(std::sync::Arc::new(move |n| bar.inc(n)));
            let r = verify::verify(&store, reference_codes, &actor(cli), Some(progress)).await?;
            spinner.finish_and_clear();
            if cli.json {
                print_json(&r)?;
            } else {
                for d in &r.damage {
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
                if r.is_intact() {
                    println!(
                        "intact: {} records, {} files, {} bytes re-read",
                        r.records_checked, r.files_checked, r.bytes_checked
                    );
                } else {
                    println!("DAMAGED records: {}", r.damaged_records().join(", "));
                }
            }
            // The run itself is evidence, recorded whatever it found; the findings above are
            // shown even when the ledger cannot take the record (a damaged ledger refuses).
            match verify::record_audit(&store, &home.key()?, &actor(cli), reference_codes, &r).await
            {
                Ok(index) => eprintln!("this run is recorded as ledger entry {index}"),
                Err(e) => {
                    eprintln!(
                        "could not record this run in the ledger: {:#}",
                        anyhow::Error::new(e)
                    );
                    return Ok(if r.is_intact() { 2 } else { 1 });
                }
            }
            Ok(if r.is_intact() { 0 } else { 1 })
        }
        Command::Receipt {
            command: ReceiptCommand::Verify { file, key },
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let vkey = match key {
                Some(k) => k.clone(),
                None => std::fs::read_to_string(cli.home.join("archive.pub"))
                    .with_context(|| "no --key given and no archive.pub in the home")?
                    .trim()
                    .to_string(),
            };
            let verifier = sign::Verifier::from_verifier_key(&vkey)?;
            let note = extract_note(&text);
            match sign::verify_document(&note, &verifier)
                .map_err(|e| e.to_string())
                .and_then(|doc| check_receipt_checkpoint(&text, &doc, &verifier).map(|c| (doc, c)))
            {
                Ok((doc, checkpoint)) => {
                    if cli.json {
                        print_json(&serde_json::json!({
                            "valid": true, "signer": verifier.name(), "document": doc,
                            "checkpoint_size": checkpoint,
                        }))?;
                    } else {
                        println!("valid: signed by {}", verifier.name());
                        match checkpoint {
                            Some(n) => println!(
                                "ledger checkpoint of size {n}: valid, signed by {}, includes the receipt's entries",
                                verifier.name()
                            ),
                            None => println!("(no ledger checkpoint in the file)"),
                        }
                    }
                    Ok(0)
                }
                Err(e) => {
                    if cli.json {
                        print_json(&serde_json::json!({"valid": false, "error": e.to_string()}))?;
                    } else {
                        println!("INVALID: {e}");
                    }
                    Ok(1)
                }
            }
        }
        Command::Amend {
            reference_code,
            metadata: None,
            set,
            reason,
        } => {
            retention_cli::amend_set(
                &cli.home,
                cli.json,
                &actor(cli),
                reference_code,
                set,
                reason,
            )
            .await
        }
        Command::Amend {
            reference_code,
            metadata: Some(metadata),
            reason,
            ..
        } => {
            let home = Home::open(&cli.home)?;
            let store = home.store().await?;
            let bytes = std::fs::read(metadata)
                .with_context(|| format!("reading {}", metadata.display()))?;
            let who = actor(cli);
            let lock = store
                .lock_writer_waiting(&who, strongroom::store::WRITER_WAIT)
                .await?;
            let key = home.key()?;
            let r = access::amend(
                &store,
                &key,
                &lock,
                reference_code,
                bytes.into(),
                reason,
                &who,
            )
            .await;
            lock.release().await?;
            match r {
                Ok(a) => {
                    search_cli::follow_after_write(&home, &store).await;
                    if cli.json {
                        print_json(&a)?;
                    } else {
                        println!("amended {}: now {}", a.reference_code, a.version);
                    }
                    Ok(0)
                }
                Err(access::AccessError::Invalid(findings)) => {
                    for f in &findings {
                        println!("- {f}");
                    }
                    Ok(1)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Ledger { command } => ledger_cli::run(&cli.home, cli.json, command).await,
        Command::Replicate { names } => replica_cli::replicate(&cli.home, cli.json, names).await,
        Command::Seal { command } => seal_cli::run(&cli.home, cli.json, &actor(cli), command).await,
        Command::Search { args } => search_cli::search(&cli.home, cli.json, args).await,
        Command::Reindex {} => search_cli::reindex(&cli.home, cli.json).await,
        Command::Copy { args } => copy_cli::run(&cli.home, cli.json, &actor(cli), args).await,
        Command::Retention { command } => {
            retention_cli::retention(&cli.home, cli.json, &actor(cli), command).await
        }
        Command::Hold { command } => {
            retention_cli::hold(&cli.home, cli.json, &actor(cli), command).await
        }
        Command::Dispose { command } => {
            retention_cli::dispose(&cli.home, cli.json, &actor(cli), command).await
        }
        Command::TransferOut {
            command,
            batch,
            to,
            external_id,
        } => {
            retention_cli::transfer_out(
                &cli.home,
                cli.json,
                &actor(cli),
                command.as_ref(),
                *batch,
                to.as_deref(),
                external_id.as_deref(),
            )
            .await
        }
        Command::Serve { args } => server_cli::serve(&cli.home, &actor(cli), args).await,
        Command::User { command } => {
            server_cli::user(&cli.home, cli.json, &actor(cli), command).await
        }
        Command::Token { command } => {
            server_cli::token(&cli.home, cli.json, &actor(cli), command).await
        }
        Command::Demo { package } => {
            if !cli.home.join("config.toml").exists() {
                let (home, key) = Home::init(&cli.home, None, "strongroom.archive").await?;
                eprintln!(
                    "initialised archive in {} (verifier key {})",
                    home.dir().display(),
                    key.verifier_key()
                );
            }
            let sample = package.clone().unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample-transfer")
            });
            eprintln!("transferring {}", sample.display());
            let code = transfer(cli, &sample, None, None).await?;
            if code != 0 {
                return Ok(code);
            }
            let home = Home::open(&cli.home)?;
            let store = home.store().await?;
            let records = access::list(&store).await?;
            println!("\nThe archive now holds {} record(s):", records.len());
            for r in &records {
                println!("{}\t{}\t{}", r.reference_code, r.version, r.title);
            }
            println!(
                "\nTry: strongroom --home {0} show {1} | strongroom --home {0} verify",
                cli.home.display(),
                records
                    .first()
                    .map(|r| r.reference_code.as_str())
                    .unwrap_or("REF")
            );
            Ok(0)
        }
    }
}

/// Takes the signed-note out of a file that may hold other text around it: from the first
/// line starting with `{` to the end of the signature lines after the blank line.
fn extract_note(text: &str) -> String {
    note_starting(text, |l| l.starts_with('{')).unwrap_or_else(|| text.to_string())
}

/// The signed note in `text` whose first line satisfies `first`: its text lines, the blank
/// line, and the signature lines after it.
pub(crate) fn note_starting(text: &str, first: impl Fn(&str) -> bool) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| first(l.trim_end_matches('\n')))?;
    let mut out = String::new();
    let mut i = start;
    while i < lines.len() && lines[i] != "\n" {
        out.push_str(lines[i]);
        i += 1;
    }
    if i < lines.len() {
        out.push_str(lines[i]);
        i += 1;
    }
    while i < lines.len() && lines[i].starts_with('\u{2014}') {
        out.push_str(lines[i]);
        i += 1;
    }
    Some(out)
}

/// Checks the ledger checkpoint kept with a receipt, when the file has one: signed by the same
/// key, of the origin the receipt names, and of the size that first includes its entries.
/// Returns its size, or None when the file holds no checkpoint.
fn check_receipt_checkpoint(
    text: &str,
    receipt: &serde_json::Value,
    verifier: &sign::Verifier,
) -> std::result::Result<Option<u64>, String> {
    let Some(ledger) = receipt.get("ledger") else {
        return Ok(None);
    };
    let (Some(origin), Some(size)) = (
        ledger.get("origin").and_then(|v| v.as_str()),
        ledger.get("tree_size").and_then(|v| v.as_u64()),
    ) else {
        return Err("the receipt's ledger member lacks origin or tree_size".into());
    };
    // The checkpoint note starts at its origin line and runs to the end of its signatures.
    let Some(note) = note_starting(text, |l| l == origin) else {
        return Ok(None);
    };
    let c = strongroom::ledger::checkpoint::Checkpoint::verify(&note, verifier, origin)
        .map_err(|e| format!("the ledger checkpoint does not verify: {e}"))?;
    if c.size().0 != size {
        return Err(format!(
            "the ledger checkpoint has size {}, the receipt names {size}",
            c.size().0
        ));
    }
    Ok(Some(size))
}

async fn transfer(
    cli: &Cli,
    package: &Path,
    report_out: Option<&Path>,
    receipt_out: Option<&Path>,
) -> Result<u8> {
    let home = Home::open(&cli.home)?;
    let store = home.store().await?;
    let key = home.key()?;
    if !package.exists() {
        bail!("package {} does not exist", package.display());
    }
    let opts = IntakeOptions {
        limits: home.limits(),
        virus_scan: home.config.virus_scan.clone(),
        staging_dir: home.staging_dir(),
        actor: actor(cli),
        threads: 0,
        seal_policy: home.config.seals.clone(),
        retention_policy: Some(retention_cli::policy_in_force(&home)?),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>18} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |p: Progress| match p {
        Progress::Phase { name, total } => {
            bar.set_message(name);
            bar.set_position(0);
            bar.set_length(total.unwrap_or(0));
        }
        Progress::Bytes(n) => bar.inc(n),
    };
    let outcome = intake::transfer(&store, &key, package, &opts, &progress).await?;
    bar.finish_and_clear();
    match outcome {
        Outcome::Accepted {
            receipt,
            signed,
            checkpoint,
        } => {
            search_cli::follow_after_write(&home, &store).await;
            // Each published checkpoint gets a trusted timestamp when an authority is
            // configured; the transfer is committed already, so a failure is a warning.
            if let Some(cfg) = &home.config.timestamp {
                if let Err(e) = strongroom::copy::timestamp::stamp_latest(&store, cfg).await {
                    eprintln!(
                        "warning: the checkpoint could not be timestamped ({e}); \
                         `strongroom ledger timestamp` retries"
                    );
                }
            }
            if let Some(p) = receipt_out {
                std::fs::write(p, format!("{signed}\n{checkpoint}"))
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            // Intake wrote the primary only; the replicas' lag is reported, not waited for.
            let replicas = replica_cli::lag_after_write(&home, &store, cli.json).await;
            if cli.json {
                let mut out = serde_json::json!({
                    "decision": "accepted", "receipt": receipt, "signed": signed,
                    "checkpoint": checkpoint,
                });
                if !replicas.is_empty() {
                    out["replicas"] = serde_json::to_value(&replicas)?;
                }
                print_json(&out)?;
            } else {
                print!("{}", receipt.to_text());
                println!(
                    "\n签名接收凭证 Signed receipt (verify with `strongroom receipt verify FILE`):"
                );
                print!("{signed}");
                println!("\n账本检查点 Signed ledger checkpoint that includes it:");
                print!("{checkpoint}");
            }
            Ok(0)
        }
        Outcome::AlreadyAccepted { signed, checkpoint } => {
            let both = format!("{signed}\n{}", checkpoint.as_deref().unwrap_or_default());
            if let Some(p) = receipt_out {
                std::fs::write(p, &both).with_context(|| format!("writing {}", p.display()))?;
            }
            eprintln!("this transfer was already accepted with the same content; nothing was stored again");
            if cli.json {
                let doc: serde_json::Value = signed
                    .lines()
                    .next()
                    .and_then(|l| serde_json::from_str(l).ok())
                    .unwrap_or(serde_json::Value::Null);
                print_json(&serde_json::json!({
                    "decision": "already-accepted", "receipt": doc, "signed": signed,
                    "checkpoint": checkpoint,
                }))?;
            } else {
                print!("{both}");
            }
            Ok(0)
        }
        Outcome::Rejected { report, kept_at } => {
            if let Some(p) = report_out {
                let mut f =
                    std::fs::File::create(p).with_context(|| format!("writing {}", p.display()))?;
                serde_json::to_writer_pretty(&mut f, &report)?;
                writeln!(f)?;
            }
            if cli.json {
                print_json(&report)?;
            } else {
                print!("{}", report.to_text());
            }
            if let Some(k) = kept_at {
                eprintln!("report kept in the store at {k}");
            }
            Ok(1)
        }
    }
}
