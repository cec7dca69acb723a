//! `strongroom seal …`: thin glue over [`strongroom::seals`] that opens the archive, calls the
//! registry or a verifier and prints. Results go to stdout (JSON with `--json`), diagnostics
//! to stderr. Exit codes as for every command: 0 done (or the seal is valid), 1 refused or
//! invalid (bad certificate, key or CRL; a seal that does not verify), 2 usage or environment
//! errors (returned as `Err`).

use crate::print_json;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;

use strongroom::home::Home;
use strongroom::seals::registry::{self, AnchorInput, Registry, RegistryError};
use strongroom::seals::verdict::{AlgorithmPolicy, SealVerdict};
use strongroom::store::Store;

/// `strongroom seal` subcommands.
#[derive(Subcommand)]
pub enum SealCommand {
    /// The seal registry: the agencies' trusted certificates and keys, and revocations.
    Trust {
        #[command(subcommand)]
        command: TrustCommand,
    },
    /// Verify a file's detached seal (X.jws or X.p7s) against an agency's trust anchors:
    /// exit 0 valid, 1 not valid (the report says why).
    Verify {
        /// The sealed file.
        file: PathBuf,
        /// The seal (default: FILE.p7s or FILE.jws beside it).
        sig: Option<PathBuf>,
        /// The Agency-Code whose trust anchors the seal must verify with.
        #[arg(long)]
        agency: String,
        /// Judge the seal at this time (RFC 3339 or YYYY-MM-DD; default now).
        #[arg(long)]
        at: Option<String>,
        /// Also print the report signed by the archive's key (a signed note that
        /// `strongroom receipt verify` and any signed-note verifier can check).
        #[arg(long)]
        signed: bool,
    },
}

/// `strongroom seal trust` subcommands.
#[derive(Subcommand)]
pub enum TrustCommand {
    /// Add a trust anchor: a CA certificate (--cert) or a bare public key (--key).
    Add {
        /// Agency-Code (立档单位代码) whose seals the anchor vouches for.
        #[arg(long)]
        agency: String,
        /// An X.509 CA certificate, PEM or DER.
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        cert: Option<PathBuf>,
        /// A public key: PEM "PUBLIC KEY", SubjectPublicKeyInfo DER, or 32 raw Ed25519 bytes.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Trusted from (RFC 3339 or YYYY-MM-DD; default the certificate's notBefore).
        #[arg(long)]
        from: Option<String>,
        /// Trusted until (RFC 3339 or YYYY-MM-DD; default the certificate's notAfter).
        #[arg(long)]
        until: Option<String>,
    },
    /// List the trust anchors, revocations and CRLs.
    List {
        /// Only this agency.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Revoke a certificate by serial (issued by one of the agency's CAs), or an anchor itself.
    Revoke {
        /// Agency-Code.
        #[arg(long)]
        agency: String,
        /// The revoked certificate's serial number, hex.
        #[arg(long, conflicts_with = "anchor", required_unless_present = "anchor")]
        serial: Option<String>,
        /// Fingerprint of the issuing CA anchor (needed when the agency has several).
        #[arg(long)]
        issuer: Option<String>,
        /// Revoke this anchor itself (its fingerprint, as `seal trust list` shows it).
        #[arg(long)]
        anchor: Option<String>,
        /// Revoked from this time on (RFC 3339).
        #[arg(long)]
        at: String,
    },
    /// Import a CRL (PEM or DER) signed by one of the agency's CA anchors.
    ImportCrl {
        /// Agency-Code.
        #[arg(long)]
        agency: String,
        /// The CRL file.
        file: PathBuf,
    },
}

fn time_arg(name: &str, value: &str) -> Result<DateTime<Utc>> {
    match registry::parse_time(value) {
        Some(t) => Ok(t),
        None => bail!(
            "{name} {value:?} is not a date: use RFC 3339 (2026-12-01T09:00:00Z) or YYYY-MM-DD"
        ),
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.len() > 64 * 1024 * 1024 {
        bail!(
            "{} is larger than 64 MiB: not a certificate, key or CRL",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Maps a registry result to an exit code: refused input is 1 with its message, everything
/// else (usage, store, ledger) is an error (2).
fn refused(e: RegistryError) -> Result<u8> {
    match e {
        RegistryError::BadInput(m) | RegistryError::Duplicate(m) => {
            eprintln!("strongroom: refused: {m}");
            Ok(1)
        }
        other => Err(other.into()),
    }
}

async fn open(home_dir: &Path) -> Result<(Home, Store)> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    store.archive_info().await?;
    Ok((home, store))
}

/// Runs one `strongroom seal` command; returns the exit code.
pub async fn run(home_dir: &Path, json: bool, actor: &str, command: &SealCommand) -> Result<u8> {
    match command {
        SealCommand::Trust { command } => trust(home_dir, json, actor, command).await,
        SealCommand::Verify {
            file,
            sig,
            agency,
            at,
            signed,
        } => {
            let how = Verification {
                agency,
                at: at.as_deref(),
                signed: *signed,
                actor,
            };
            verify(home_dir, json, file, sig.as_deref(), &how).await
        }
    }
}

async fn trust(home_dir: &Path, json: bool, actor: &str, command: &TrustCommand) -> Result<u8> {
    // Arguments first: a bad one stores nothing and needs no archive.
    match command {
        TrustCommand::Add {
            agency,
            cert,
            key,
            from,
            until,
        } => {
            registry::check_agency(agency)?;
            let from = from.as_deref().map(|f| time_arg("--from", f)).transpose()?;
            let until = until
                .as_deref()
                .map(|u| time_arg("--until", u))
                .transpose()?;
            let input = match (cert, key) {
                (Some(c), None) => AnchorInput::Certificate(read_input(c)?),
                (None, Some(k)) => AnchorInput::PublicKey(read_input(k)?),
                _ => bail!("give exactly one of --cert FILE or --key FILE"),
            };
            let (home, store) = open(home_dir).await?;
            let key = home.key()?;
            let (anchor, applied) =
                match registry::add_anchor(&store, &key, actor, agency, input, from, until).await {
                    Ok(r) => r,
                    Err(e) => return refused(e),
                };
            if json {
                print_json(&serde_json::json!({"anchor": anchor, "applied": applied}))?;
            } else {
                println!(
                    "added {} {} for agency {} ({}), trusted {}; ledger entry {}",
                    anchor.anchor.as_str().replace('_', " "),
                    anchor.fingerprint,
                    anchor.agency_code,
                    anchor.subject.as_deref().unwrap_or(&anchor.key_algorithm),
                    window(&anchor),
                    applied.ledger_index
                );
            }
            Ok(0)
        }
        TrustCommand::List { agency } => {
            if let Some(a) = agency {
                registry::check_agency(a)?;
            }
            let (_home, store) = open(home_dir).await?;
            let reg = Registry::load(&store).await?;
            list(&reg, agency.as_deref(), json)
        }
        TrustCommand::Revoke {
            agency,
            serial,
            issuer,
            anchor,
            at,
        } => {
            registry::check_agency(agency)?;
            let at = time_arg("--at", at)?;
            let (home, store) = open(home_dir).await?;
            let key = home.key()?;
            let result = match (serial, anchor) {
                (Some(s), None) => {
                    registry::revoke_certificate(
                        &store,
                        &key,
                        actor,
                        agency,
                        s,
                        issuer.as_deref(),
                        at,
                    )
                    .await
                }
                (None, Some(a)) => {
                    if issuer.is_some() {
                        bail!("--issuer goes with --serial, not --anchor");
                    }
                    registry::revoke_anchor(&store, &key, actor, agency, a, at).await
                }
                _ => bail!("give exactly one of --serial HEX or --anchor FINGERPRINT"),
            };
            let applied = match result {
                Ok(a) => a,
                Err(e) => return refused(e),
            };
            if json {
                print_json(&applied)?;
            } else {
                println!(
                    "revoked from {} ({}); ledger entry {}",
                    registry::format_time(at),
                    applied.event,
                    applied.ledger_index
                );
            }
            Ok(0)
        }
        TrustCommand::ImportCrl { agency, file } => {
            registry::check_agency(agency)?;
            let bytes = read_input(file)?;
            let (home, store) = open(home_dir).await?;
            let key = home.key()?;
            let (crl, applied) = match registry::import_crl(
                &store,
                &key,
                actor,
                agency,
                &bytes,
                &AlgorithmPolicy::default(),
            )
            .await
            {
                Ok(r) => r,
                Err(e) => return refused(e),
            };
            if json {
                print_json(&serde_json::json!({"crl": crl, "applied": applied}))?;
            } else {
                println!(
                    "imported CRL {} of {} ({} revoked certificate(s), this update {}); ledger entry {}",
                    crl.crl_sha256, crl.issuer, crl.revoked, crl.this_update, applied.ledger_index
                );
            }
            Ok(0)
        }
    }
}

fn window(a: &registry::AnchorRecord) -> String {
    format!(
        "{} to {}",
        a.valid_from.as_deref().unwrap_or("(always)"),
        a.valid_until.as_deref().unwrap_or("(no end)")
    )
}

fn list(reg: &Registry, agency: Option<&str>, json: bool) -> Result<u8> {
    let keep = |a: &str| agency.is_none_or(|x| x == a);
    let anchors: Vec<_> = reg
        .anchors
        .iter()
        .filter(|a| keep(&a.agency_code))
        .collect();
    let revocations: Vec<_> = reg
        .revocations
        .iter()
        .filter(|r| keep(&r.agency_code))
        .collect();
    let crls: Vec<_> = reg.crls.iter().filter(|c| keep(&c.agency_code)).collect();
    for i in &reg.ignored {
        eprintln!("warning: ignoring {}: {}", i.path, i.reason);
    }
    // Written with `?`, not `println!`, so that a closed pipe (`| head`) ends the listing
    // instead of panicking.
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&serde_json::json!({
            "anchors": anchors, "revocations": revocations, "crls": crls, "ignored": reg.ignored,
        }))?;
        return Ok(0);
    }
    if anchors.is_empty() {
        writeln!(
            out,
            "no trust anchors{}",
            agency
                .map(|a| format!(" for agency {a}"))
                .unwrap_or_default()
        )?;
    }
    for a in anchors {
        writeln!(
            out,
            "{}  {}  {}  {}  {}  trusted {}{}",
            a.agency_code,
            a.anchor.as_str(),
            a.key_algorithm,
            a.fingerprint,
            a.subject.as_deref().unwrap_or("-"),
            window(a),
            a.revoked_at
                .as_deref()
                .map(|r| format!("  REVOKED from {r}"))
                .unwrap_or_default()
        )?;
    }
    for r in revocations {
        let source = match &r.source {
            registry::RevocationSource::Manual => "by hand".to_string(),
            registry::RevocationSource::Crl(sha) => format!("CRL {sha}"),
        };
        writeln!(
            out,
            "revoked: {}  serial {} of {}  from {}  ({source})",
            r.agency_code, r.serial, r.issuer, r.revoked_at
        )?;
    }
    for c in crls {
        writeln!(
            out,
            "crl: {}  {}  {}  this update {}  {} revoked",
            c.agency_code, c.crl_sha256, c.issuer, c.this_update, c.revoked
        )?;
    }
    Ok(0)
}

/// How `seal verify` was asked to judge.
struct Verification<'a> {
    agency: &'a str,
    at: Option<&'a str>,
    signed: bool,
    actor: &'a str,
}

async fn verify(
    home_dir: &Path,
    json: bool,
    file: &Path,
    sig: Option<&Path>,
    how: &Verification<'_>,
) -> Result<u8> {
    let (agency, at) = (how.agency, how.at);
    registry::check_agency(agency)?;
    let at = match at {
        Some(t) => time_arg("--at", t)?,
        None => Utc::now(),
    };
    if !file.is_file() {
        bail!("{} is not a file", file.display());
    }
    let sidecar = |ext: &str| {
        let mut s = file.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let sig = match sig {
        Some(s) => Some(s.to_path_buf()),
        None => [sidecar(".p7s"), sidecar(".jws")]
            .into_iter()
            .find(|p| p.is_file()),
    };
    // Without a detached seal, a PDF's embedded signatures are what is checked.
    if sig.is_none() && !looks_like_pdf(file)? {
        bail!(
            "no seal given, neither {0}.p7s nor {0}.jws exists, and {0} is not a PDF with \
             embedded signatures",
            file.display()
        );
    }
    let (home, store) = open(home_dir).await?;
    let reg = Registry::load(&store).await?;
    // The archive's policy for this agency (`[seals]` in config.toml).
    let (policy, _) = home.config.seals.for_agency(agency);
    let (verdict, pdf) = match &sig {
        Some(sig) => {
            let v: SealVerdict =
                strongroom::seals::verify_seal_file(file, sig, &reg, agency, &policy, at)
                    .with_context(|| format!("reading {} or {}", file.display(), sig.display()))?;
            (Some(v), None)
        }
        None => {
            let p = strongroom::seals::verify_pdf_file(file, &reg, agency, &policy, at)
                .with_context(|| format!("reading {}", file.display()))?;
            if p.signatures.is_empty() && p.problems.is_empty() {
                bail!(
                    "{} carries no embedded signature and has no .p7s or .jws beside it: \
                     nothing to verify",
                    file.display()
                );
            }
            (None, Some(p))
        }
    };
    let valid = verdict.as_ref().is_none_or(|v| v.valid) && pdf.as_ref().is_none_or(|p| p.valid());
    let signed = if how.signed {
        let key = home.key()?;
        let report = strongroom::seals::VerificationReport {
            kind: "strongroom.seal-verification-report".into(),
            format_version: 1,
            archive: key.name().to_string(),
            checked_at: registry::format_time(Utc::now()),
            checked_by: how.actor.to_string(),
            file: strongroom::seals::ReportedFile::of(file)?,
            seal: sig
                .as_deref()
                .map(strongroom::seals::ReportedFile::of)
                .transpose()?,
            agency: agency.to_string(),
            verdict: verdict.clone(),
            pdf: pdf.clone(),
            valid,
        };
        Some(key.sign_document(&report)?)
    } else {
        None
    };
    if json {
        print_json(&serde_json::json!({
            "file": file, "seal": sig, "agency": agency, "valid": valid, "verdict": verdict,
            "pdf": pdf, "signed": signed,
        }))?;
    } else if let Some(verdict) = &verdict {
        print_verdict(file, sig.as_deref().unwrap_or(file), agency, verdict, at);
    } else if let Some(pdf) = &pdf {
        print_pdf(file, pdf);
    }
    if let (Some(note), false) = (&signed, json) {
        println!("\n签名核验报告 Verification report signed by the archive (check with `strongroom receipt verify FILE`):");
        print!("{note}");
    }
    Ok(if valid { 0 } else { 1 })
}

/// Whether `file` starts like a PDF (`%PDF-` within its first KiB, as readers allow).
fn looks_like_pdf(file: &Path) -> Result<bool> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(file)
        .with_context(|| format!("reading {}", file.display()))?
        .take(1024)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {}", file.display()))?;
    Ok(head.windows(5).any(|w| w == b"%PDF-"))
}

fn print_verdict(file: &Path, sig: &Path, agency: &str, verdict: &SealVerdict, at: DateTime<Utc>) {
    if verdict.valid {
        let signer = verdict.signers.first();
        println!(
            "VALID: {} is sealed by agency {agency} ({}; {}), judged at {}",
            file.display(),
            signer.and_then(|s| s.anchor.as_deref()).unwrap_or("-"),
            signer
                .and_then(|s| s.signature_algorithm.as_deref())
                .unwrap_or("-"),
            registry::format_time(at)
        );
        for n in signer.map(|s| s.notes.as_slice()).unwrap_or_default() {
            println!("note: {n}");
        }
    } else {
        println!(
            "NOT VALID: the seal {} on {}:",
            sig.display(),
            file.display()
        );
        for p in &verdict.problems {
            println!("  {p}");
        }
    }
}

fn print_pdf(file: &Path, pdf: &strongroom::seals::pdf::PdfSeals) {
    println!(
        "{}: {} embedded signature(s) in {}",
        if pdf.valid() { "VALID" } else { "NOT VALID" },
        pdf.signatures.len(),
        file.display()
    );
    for (n, s) in pdf.signatures.iter().enumerate() {
        let name = s
            .field_name
            .clone()
            .unwrap_or_else(|| format!("signature {}", n + 1));
        let signer = s.verdict.signers.first();
        println!(
            "  {name}: {} ({}; covers bytes 0..{})",
            if s.verdict.valid {
                "valid"
            } else {
                "NOT valid"
            },
            signer.and_then(|x| x.subject.as_deref()).unwrap_or("-"),
            s.covers_up_to
        );
        for p in &s.verdict.problems {
            println!("    {p}");
        }
        for note in signer.map(|x| x.notes.as_slice()).unwrap_or_default() {
            println!("    note: {note}");
        }
    }
    for p in &pdf.problems {
        println!("  the document: {p}");
    }
}
