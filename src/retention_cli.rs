//! `strongroom retention …` (due, event, extend), `hold …`, `dispose …` and `amend --set`: thin glue over
//! [`strongroom::retention`] that opens the archive, calls the library and prints. Exit codes:
//! 0 done, 1 refused or invalid (the message says why), 2 usage or environment errors
//! (returned as `Err`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use strongroom::access::{self, RecordView};
use strongroom::home::Home;
use strongroom::ledger::entry::Entry;
use strongroom::retention::{
    appraise, dispose, due, event, hold, policy, transfer_out, Action, Policy, RetentionError,
    RetentionState,
};
use strongroom::store::{self, Store};

use crate::print_json;

/// `strongroom retention` subcommands.
#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Records whose retention period has run (the columns of a 销毁清册).
    Due {
        /// Judge as of this calendar date in China Standard Time (YYYY-MM-DD; default today).
        #[arg(long)]
        as_of: Option<String>,
        /// Only records whose action is this: destroy, transfer or review.
        #[arg(long)]
        action: Option<String>,
        /// CSV (UTF-8 with BOM) instead of a table.
        #[arg(long)]
        csv: bool,
        /// The retention schedule (default: <home>/retention-policy.toml, else the shipped one).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Record a named event (起算事件) for records: rules with `trigger = "event"` naming it
    /// count their period from the day after DATE.
    Event {
        /// 档号 of the records it concerns.
        #[arg(required = true)]
        reference_codes: Vec<String>,
        /// The event's name, as the schedule's rule names it (e.g. licence-expired).
        #[arg(long)]
        name: String,
        /// The day it happened (YYYY-MM-DD, China Standard Time; not after today).
        #[arg(long)]
        date: String,
        /// What happened, on whose word (e.g. the court's ruling, the licence's number).
        #[arg(long)]
        reason: String,
        /// The schedule to check the name against (default: <home>/retention-policy.toml,
        /// else the shipped one); a name no rule uses is recorded with a warning.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Re-appraise (鉴定) a record to a longer period: a new version of its metadata.
    Extend {
        /// 档号.
        reference_code: String,
        /// The new period: Y, D30, D10, … or a number of years.
        #[arg(long)]
        to: String,
        /// Why (the appraisal's grounds).
        #[arg(long)]
        reason: String,
    },
}

/// `strongroom hold` subcommands.
#[derive(Subcommand)]
pub enum HoldCommand {
    /// Place a hold (冻结) on records: they are never due and cannot be disposed of.
    Place {
        /// 档号 of the records.
        #[arg(required = true)]
        reference_codes: Vec<String>,
        /// Why (litigation, audit, …).
        #[arg(long)]
        reason: String,
        /// Who ordered it (court, case number, auditor, …).
        #[arg(long)]
        authority: String,
    },
    /// Approve lifting a hold; the second approval, by another archivist, lifts it.
    Lift {
        /// The hold's id (H1, …).
        hold: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Every hold, active or lifted.
    List,
}

/// `strongroom dispose` subcommands.
#[derive(Subcommand)]
pub enum DisposeCommand {
    /// Draw up a disposition batch (销毁清册) from the due list.
    Propose {
        /// Judge as of this date in China Standard Time (YYYY-MM-DD; default today).
        #[arg(long)]
        as_of: Option<String>,
        /// destroy (default) or transfer.
        #[arg(long, default_value = "destroy")]
        action: String,
        /// The retention schedule (default: <home>/retention-policy.toml, else the shipped one).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
    /// Approve a batch (`--as USER`); two distinct archivists must approve.
    Approve {
        /// Batch number.
        batch: u64,
    },
    /// Destroy an approved batch before two witnesses; re-checks holds and due dates today.
    Execute {
        /// Batch number.
        batch: u64,
        /// A witness (监销人); give two.
        #[arg(long = "witness", required = true)]
        witnesses: Vec<String>,
    },
    /// A batch: its list, approvals and status.
    Show {
        /// Batch number.
        batch: u64,
    },
    /// Every batch and its status.
    List,
    /// The destruction certificate of an executed batch (printable text and signed note).
    Certificate {
        /// Batch number.
        batch: u64,
        /// Write it here instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// Check a certificate file: the archive's signature and its entries in the ledger.
    Verify {
        /// The certificate (its signed note; surrounding text is ignored).
        file: PathBuf,
    },
}

/// `strongroom transfer-out confirm`.
#[derive(Subcommand)]
pub enum TransferOutCommand {
    /// Record the receiving archive's receipt and remove the transferred records here.
    Confirm {
        /// Batch number.
        batch: u64,
        /// The receipt (signed note, as `transfer --receipt FILE` writes it).
        receipt: PathBuf,
        /// The receiving archive's verifier key, or a file holding it.
        #[arg(long)]
        key: String,
    },
}

/// `strongroom transfer-out …`.
pub async fn transfer_out(
    home_dir: &Path,
    json: bool,
    actor: &str,
    command: Option<&TransferOutCommand>,
    batch: Option<u64>,
    to: Option<&Path>,
    external_id: Option<&str>,
) -> Result<u8> {
    let (home, store) = open(home_dir).await?;
    let key = home.key()?;
    match command {
        Some(TransferOutCommand::Confirm {
            batch,
            receipt,
            key: vkey,
        }) => {
            let vkey = if Path::new(vkey).is_file() {
                std::fs::read_to_string(vkey).with_context(|| format!("reading {vkey}"))?
            } else {
                vkey.clone()
            };
            let verifier = strongroom::sign::Verifier::from_verifier_key(vkey.trim())?;
            let text = std::fs::read_to_string(receipt)
                .with_context(|| format!("reading {}", receipt.display()))?;
            let note =
                crate::note_starting(&text, |l| l.starts_with('{')).unwrap_or_else(|| text.clone());
            match transfer_out::confirm(&store, &key, actor, *batch, &note, &verifier).await {
                Ok(c) => {
                    if json {
                        print_json(&c)?;
                    } else if c.already_confirmed {
                        println!(
                            "batch {batch} was already confirmed with this receipt ({}): its {} \
                             record(s) are no longer here",
                            c.receipt_sha256,
                            c.transferred.len()
                        );
                    } else {
                        println!(
                            "batch {batch}: {} record(s) received by {} (receipt {}) and removed here",
                            c.transferred.len(),
                            c.receiving_archive,
                            c.receipt_sha256
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        None => {
            let (Some(batch), Some(to)) = (batch, to) else {
                anyhow::bail!("give BATCH and --to PATH, or `confirm BATCH RECEIPT --key VKEY`");
            };
            match transfer_out::write_package(&store, &key, actor, batch, to, external_id).await {
                Ok(p) => {
                    if json {
                        print_json(&p)?;
                    } else {
                        println!(
                            "batch {batch}: {} record(s) written to {} (External-Identifier {}); \
                             give it to the receiving archive, then `transfer-out confirm {batch} RECEIPT --key VKEY`",
                            p.records.len(),
                            p.path.display(),
                            p.external_identifier
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
    }
}

async fn open(home_dir: &Path) -> Result<(Home, Store)> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    Ok((home, store))
}

/// Prints a refusal and returns exit 1; other errors go up (exit 2).
fn refused(e: RetentionError, json: bool) -> Result<u8> {
    if e.is_refusal() {
        if json {
            print_json(&serde_json::json!({"error": e.to_string()}))?;
        }
        eprintln!("strongroom: {e}");
        Ok(1)
    } else {
        Err(e.into())
    }
}

fn load_policy(
    home: &Home,
    explicit: Option<&Path>,
) -> Result<std::result::Result<Policy, RetentionError>> {
    let local = home.dir().join("retention-policy.toml");
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| local.exists().then_some(local));
    Ok(match path {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading the retention policy {}", p.display()))?;
            Policy::parse(&text)
                .map_err(|e| RetentionError::Policy(format!("{}: {e}", p.display())))
        }
        None => Policy::default_schedule(),
    })
}

/// The schedule in force: `<home>/retention-policy.toml` when it exists, else the shipped
/// one. A home schedule that does not parse is an error naming the file.
pub fn policy_in_force(home: &Home) -> Result<Policy> {
    Ok(strongroom::retention::policy_in_force(home)?)
}

/// The as-of date (default: today in China Standard Time) and the action, or why not.
fn date_and_action(
    date: Option<&str>,
    action: Option<&str>,
) -> std::result::Result<(chrono::NaiveDate, Option<Action>), Box<RetentionError>> {
    let date = match date {
        Some(s) => policy::parse_as_of(s)?,
        None => policy::today_cst(),
    };
    let action = match action {
        Some(a) => Some(Action::parse(a).ok_or_else(|| {
            RetentionError::Usage(format!("--action {a:?}: give destroy, transfer or review"))
        })?),
        None => None,
    };
    Ok((date, action))
}

/// `strongroom retention …`.
pub async fn retention(
    home_dir: &Path,
    json: bool,
    actor: &str,
    cmd: &RetentionCommand,
) -> Result<u8> {
    let (home, store) = open(home_dir).await?;
    match cmd {
        RetentionCommand::Due {
            as_of: date,
            action,
            csv,
            policy,
        } => {
            let p = match load_policy(&home, policy.as_deref())? {
                Ok(p) => p,
                Err(e) => return refused(e, json),
            };
            let (date, action) = match date_and_action(date.as_deref(), action.as_deref()) {
                Ok(x) => x,
                Err(e) => return refused(*e, json),
            };
            let list = due::due_list(&store, &p, date, action).await?;
            if json {
                print_json(&list)?;
            } else if *csv {
                print!("{}", due::to_csv(&list.items));
            } else {
                print!("{}", due::to_text(&list.items));
            }
            eprintln!(
                "{} of {} record(s) due as of {} (China Standard Time) under {} ({})",
                list.items.len(),
                list.records_checked,
                list.as_of,
                list.policy_name,
                list.policy_sha256
            );
            for (code, holds) in &list.held {
                eprintln!("held, not listed: {code} ({})", holds.join(", "));
            }
            for w in &list.waiting {
                eprintln!(
                    "not due, waiting for event {:?}: {} (rule {})",
                    w.event, w.reference_code, w.rule
                );
            }
            Ok(0)
        }
        RetentionCommand::Event {
            reference_codes,
            name,
            date,
            reason,
            policy: policy_file,
        } => {
            let key = home.key()?;
            let today = policy::today_cst();
            match event::record(
                &store,
                &key,
                actor,
                reference_codes,
                name,
                date,
                reason,
                today,
            )
            .await
            {
                Ok((applied, doc)) => {
                    // A name no rule of the schedule in force uses starts no period: say so,
                    // since a misspelt name would otherwise go unnoticed until nothing falls due.
                    let used = match load_policy(&home, policy_file.as_deref())? {
                        Ok(p) => p.rules.iter().any(|r| r.event.as_deref() == Some(name)),
                        Err(_) => true,
                    };
                    if !used {
                        eprintln!(
                            "warning: no rule of the schedule in force counts from event {name:?}; \
                             it is recorded, but starts no period until a rule names it"
                        );
                    }
                    if json {
                        print_json(&serde_json::json!({"event": doc, "applied": applied}))?;
                    } else {
                        println!(
                            "event {} ({name} on {}) recorded for {} record(s) (ledger entry {})",
                            doc.event,
                            doc.date,
                            doc.reference_codes.len(),
                            applied.ledger_index
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        RetentionCommand::Extend {
            reference_code,
            to,
            reason,
        } => {
            let key = home.key()?;
            match appraise::extend(&store, &key, actor, reference_code, to, reason).await {
                Ok(a) => {
                    crate::search_cli::follow_after_write(&home, &store).await;
                    if json {
                        print_json(&a)?;
                    } else {
                        println!(
                            "re-appraised {}: now {} (ledger entry {})",
                            a.reference_code, a.version, a.ledger_index
                        );
                    }
                    Ok(0)
                }
                Err(e) => amend_error(e, json),
            }
        }
    }
}

fn amend_error(e: RetentionError, json: bool) -> Result<u8> {
    if let RetentionError::Access(access::AccessError::Invalid(findings)) = &e {
        for f in findings {
            println!("- {f}");
        }
        return Ok(1);
    }
    refused(e, json)
}

/// `strongroom amend REF --set FIELD=VALUE… --reason`.
pub async fn amend_set(
    home_dir: &Path,
    json: bool,
    actor: &str,
    reference_code: &str,
    set: &[String],
    reason: &str,
) -> Result<u8> {
    let (home, store) = open(home_dir).await?;
    let key = home.key()?;
    match appraise::set_fields(&store, &key, actor, reference_code, set, reason).await {
        Ok(a) => {
            if json {
                print_json(&a)?;
            } else {
                println!("amended {}: now {}", a.reference_code, a.version);
            }
            Ok(0)
        }
        Err(e) => amend_error(e, json),
    }
}

/// `strongroom hold …`.
pub async fn hold(home_dir: &Path, json: bool, actor: &str, cmd: &HoldCommand) -> Result<u8> {
    let (home, store) = open(home_dir).await?;
    match cmd {
        HoldCommand::Place {
            reference_codes,
            reason,
            authority,
        } => {
            let key = home.key()?;
            match hold::place(&store, &key, actor, reference_codes, reason, authority).await {
                Ok((applied, id)) => {
                    if json {
                        print_json(&serde_json::json!({"hold": id, "applied": applied}))?;
                    } else {
                        println!(
                            "hold {id} placed on {} record(s) (ledger entry {})",
                            reference_codes.len(),
                            applied.ledger_index
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        HoldCommand::Lift { hold: id, reason } => {
            let key = home.key()?;
            match hold::lift(&store, &key, actor, id, reason).await {
                Ok(l) => {
                    if json {
                        print_json(&l)?;
                    } else if l.lifted {
                        println!("hold {id} lifted (second approval, by {actor})");
                    } else {
                        println!(
                            "lifting hold {id} approved by {actor}; a second, distinct archivist \
                             must approve before it is lifted"
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        HoldCommand::List => {
            let st = RetentionState::load(&store).await?;
            if json {
                print_json(&st.holds)?;
            } else {
                for h in &st.holds {
                    println!(
                        "{}\t{}\t{}\tby {}\t{}\t{}",
                        h.doc.hold,
                        if h.active() { "active" } else { "lifted" },
                        h.doc.placed_at,
                        h.doc.authority,
                        h.doc.reason,
                        h.doc.reference_codes.join(" ")
                    );
                }
            }
            Ok(0)
        }
    }
}

/// `strongroom dispose …`.
pub async fn dispose(home_dir: &Path, json: bool, actor: &str, cmd: &DisposeCommand) -> Result<u8> {
    let (home, store) = open(home_dir).await?;
    match cmd {
        DisposeCommand::Propose {
            as_of: date,
            action,
            policy,
        } => {
            let p = match load_policy(&home, policy.as_deref())? {
                Ok(p) => p,
                Err(e) => return refused(e, json),
            };
            let (date, action) = match date_and_action(date.as_deref(), Some(action)) {
                // The action was given, so it is there.
                Ok((d, a)) => (d, a.unwrap_or(Action::Destroy)),
                Err(e) => return refused(*e, json),
            };
            let key = home.key()?;
            match dispose::propose(&store, &key, actor, &p, date, action).await {
                Ok((applied, batch)) => {
                    if json {
                        print_json(&serde_json::json!({"batch": batch, "applied": applied}))?;
                    } else {
                        println!(
                            "batch {} proposed: {} {} record(s) as of {} (ledger entry {})",
                            batch.batch,
                            batch.action,
                            batch.items.len(),
                            batch.as_of,
                            applied.ledger_index
                        );
                        print!("{}", due::to_text(&batch.items));
                        println!(
                            "Two distinct archivists approve with `strongroom --as NAME dispose approve {}`.",
                            batch.batch
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        DisposeCommand::Approve { batch } => {
            let key = home.key()?;
            match dispose::approve(&store, &key, actor, *batch).await {
                Ok(a) => {
                    if json {
                        print_json(&a)?;
                    } else if a.approvers.len() >= 2 {
                        println!(
                            "batch {batch} approved by {}: it can be executed (destroy) or written out (transfer)",
                            a.approvers.join(" and ")
                        );
                    } else {
                        println!(
                            "batch {batch}: approval 1 by {actor}; a second, distinct archivist must approve"
                        );
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        DisposeCommand::Execute { batch, witnesses } => {
            let key = home.key()?;
            let today = policy::today_cst();
            match dispose::execute(&store, &key, actor, *batch, witnesses, today).await {
                Ok(x) => {
                    // Destroyed records leave the search results now, not at the next search.
                    crate::search_cli::follow_after_write(&home, &store).await;
                    if json {
                        print_json(&x)?;
                    } else {
                        if x.already_executed {
                            eprintln!("batch {batch} was already executed; its certificate:");
                        }
                        print!("{}", x.certificate.to_text());
                        println!("\n签名 Signed certificate:");
                        print!("{}", x.signed);
                    }
                    for n in &x.certificate.not_destroyed {
                        eprintln!("not destroyed: {} ({})", n.reference_code, n.reason);
                    }
                    Ok(0)
                }
                Err(e) => refused(e, json),
            }
        }
        DisposeCommand::Show { batch } => {
            let st = RetentionState::load(&store).await?;
            let Some(b) = st.batches.get(batch) else {
                return refused(RetentionError::NoSuchBatch(*batch), json);
            };
            if json {
                print_json(&serde_json::json!({"status": b.status(), "batch": b}))?;
            } else {
                println!(
                    "batch {} ({}): {} as of {}, proposed by {} at {}, policy {} ({})",
                    b.doc.batch,
                    b.status(),
                    b.doc.action,
                    b.doc.as_of,
                    b.doc.proposed_by,
                    b.doc.proposed_at,
                    b.doc.policy_name,
                    b.doc.policy_sha256
                );
                println!("approved by: {}", b.approvers().join(", "));
                print!("{}", due::to_text(&b.doc.items));
            }
            Ok(0)
        }
        DisposeCommand::List => {
            let st = RetentionState::load(&store).await?;
            if json {
                let v: Vec<_> = st
                    .batches
                    .values()
                    .map(|b| serde_json::json!({"batch": b.doc.batch, "status": b.status(), "action": b.doc.action, "as_of": b.doc.as_of, "records": b.doc.items.len(), "approvers": b.approvers()}))
                    .collect();
                print_json(&v)?;
            } else {
                for b in st.batches.values() {
                    println!(
                        "{}\t{}\t{}\tas of {}\t{} record(s)\tapproved by {}",
                        b.doc.batch,
                        b.status(),
                        b.doc.action,
                        b.doc.as_of,
                        b.doc.items.len(),
                        b.approvers().join(", ")
                    );
                }
            }
            Ok(0)
        }
        DisposeCommand::Certificate { batch, output } => {
            let (cert, doc) = match dispose::certificate(&store, *batch).await {
                Ok(c) => c,
                Err(e) => return refused(e, json),
            };
            if let Some(o) = output {
                std::fs::write(o, &doc.text).with_context(|| format!("writing {}", o.display()))?;
            }
            if json {
                print_json(
                    &serde_json::json!({"certificate": cert, "signed": doc.signed, "text": doc.text}),
                )?;
            } else if output.is_none() {
                print!("{}", doc.text);
            }
            Ok(0)
        }
        DisposeCommand::Verify { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let vkey = std::fs::read_to_string(home.dir().join("archive.pub"))
                .context("no archive.pub in the home")?;
            let verifier = strongroom::sign::Verifier::from_verifier_key(vkey.trim())?;
            let note =
                crate::note_starting(&text, |l| l.starts_with('{')).unwrap_or_else(|| text.clone());
            match dispose::verify_certificate(&store, &note, &verifier).await {
                Ok(c) => {
                    if json {
                        print_json(
                            &serde_json::json!({"valid": true, "signer": c.signer, "certificate": c.certificate, "entries_checked": c.entries_checked}),
                        )?;
                    } else {
                        println!(
                            "valid: destruction certificate of batch {} signed by {}; its {} ledger entries match",
                            c.certificate.batch, c.signer, c.entries_checked
                        );
                    }
                    Ok(0)
                }
                Err(e) if e.is_refusal() => {
                    if json {
                        print_json(&serde_json::json!({"valid": false, "error": e.to_string()}))?;
                    } else {
                        println!("INVALID: {e}");
                    }
                    Ok(1)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// What `show` adds about retention: the record's holds and its amendments.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RetentionView {
    /// Holds that named it (active or lifted).
    pub holds: Vec<serde_json::Value>,
    /// Every later version's entry: corrections and re-appraisals.
    pub amendments: Vec<serde_json::Value>,
    /// Named events recorded for it (起算事件), in the order recorded.
    pub retention_events: Vec<serde_json::Value>,
}

/// The holds and amendments of a record, for `show`.
pub async fn show_extra(store: &Store, v: &RecordView) -> Result<RetentionView> {
    let st = RetentionState::load(store).await?;
    let holds = st
        .holds_naming(&v.reference_code)
        .into_iter()
        .map(|h| {
            serde_json::json!({
                "hold": h.doc.hold, "active": h.active(), "reason": h.doc.reason,
                "authority": h.doc.authority, "placed_by": h.doc.placed_by,
                "placed_at": h.doc.placed_at,
                "lifted_by": h.lift_approvals.iter().map(|a| a.by.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let retention_events = st
        .events_naming(&v.reference_code)
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "event": e.event, "name": e.name, "date": e.date, "reason": e.reason,
                "recorded_by": e.recorded_by, "recorded_at": e.recorded_at,
                "ledger_index": e.ledger_index,
            })
        })
        .collect();
    let ledger = strongroom::ledger::commit::open(store).await?;
    let mut amendments = Vec::new();
    for ver in &v.versions {
        let Some(i) = ver
            .message
            .as_deref()
            .and_then(store::ledger_index_of_message)
        else {
            continue;
        };
        let Ok(e) = Entry::decode(&ledger.entry(i).await?) else {
            continue;
        };
        if e.kind == "record.amended" || e.kind == "record.reappraised" {
            let mut m = serde_json::Map::new();
            m.insert("version".into(), ver.version.clone().into());
            m.insert("type".into(), e.kind.clone().into());
            m.insert("by".into(), e.actor.clone().into());
            m.insert("at".into(), e.time.clone().into());
            m.insert("ledger_index".into(), i.into());
            for k in ["reason", "fields", "retention_from", "retention_to"] {
                if let Some(x) = e.fields.get(k) {
                    m.insert(k.into(), x.clone());
                }
            }
            amendments.push(serde_json::Value::Object(m));
        }
    }
    Ok(RetentionView {
        holds,
        amendments,
        retention_events,
    })
}

/// Prints the retention part of `show`.
pub fn print_extra(x: &RetentionView) {
    if !x.holds.is_empty() {
        println!("holds (冻结):");
        for h in &x.holds {
            println!(
                "  {} {} by {}: {} (placed by {} at {})",
                h["hold"].as_str().unwrap_or_default(),
                if h["active"].as_bool().unwrap_or(false) {
                    "ACTIVE"
                } else {
                    "lifted"
                },
                h["authority"].as_str().unwrap_or_default(),
                h["reason"].as_str().unwrap_or_default(),
                h["placed_by"].as_str().unwrap_or_default(),
                h["placed_at"].as_str().unwrap_or_default(),
            );
        }
    }
    if !x.retention_events.is_empty() {
        println!("events (起算事件):");
        for e in &x.retention_events {
            println!(
                "  {} {} on {}: {} (recorded by {} at {}, ledger {})",
                e["event"].as_str().unwrap_or_default(),
                e["name"].as_str().unwrap_or_default(),
                e["date"].as_str().unwrap_or_default(),
                e["reason"].as_str().unwrap_or_default(),
                e["recorded_by"].as_str().unwrap_or_default(),
                e["recorded_at"].as_str().unwrap_or_default(),
                e["ledger_index"]
            );
        }
    }
    if !x.amendments.is_empty() {
        println!("amendments (著录修改 / 鉴定):");
        for a in &x.amendments {
            let what = match a["type"].as_str() {
                Some("record.reappraised") => format!(
                    "re-appraised {} to {}",
                    a["retention_from"].as_str().unwrap_or_default(),
                    a["retention_to"].as_str().unwrap_or_default()
                ),
                _ => match a["fields"].as_array() {
                    Some(f) => format!(
                        "corrected {}",
                        f.iter()
                            .filter_map(|x| x.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => "corrected record.json".into(),
                },
            };
            println!(
                "  {} {} by {} at {}: {} (ledger {})",
                a["version"].as_str().unwrap_or_default(),
                what,
                a["by"].as_str().unwrap_or_default(),
                a["at"].as_str().unwrap_or_default(),
                a["reason"].as_str().unwrap_or_default(),
                a["ledger_index"]
            );
        }
    }
}

/// `show` of a destroyed record: its tombstone (exit 0).
pub async fn show_tombstone(store: &Store, reference_code: &str, json: bool) -> Result<u8> {
    let rc = strongroom::refcode::RefCode::parse(reference_code.trim())?;
    let oid = strongroom::intake::object_id(&rc);
    let Some(t) = strongroom::retention::state::tombstone(store, &oid).await? else {
        anyhow::bail!("no tombstone for {reference_code}");
    };
    if json {
        print_json(&serde_json::json!({"reference_code": t.reference_code, "destroyed": t}))?;
    } else {
        let how = if t.disposition == "transferred" {
            "TRANSFERRED OUT (移交)"
        } else {
            "DESTROYED (销毁)"
        };
        println!(
            "档号 {}  {how} on {} by batch {}",
            t.reference_code, t.destroyed_on, t.batch
        );
        if let Some(r) = &t.receipt_sha256 {
            println!("  receiving archive's receipt: {r}");
        }
        println!("  title: {}", t.title);
        println!("  object: {} (last version {})", t.object_id, t.version);
        println!("  last inventory sha512: {}", t.inventory_sha512);
        println!("  rule: {} under policy {}", t.rule, t.policy_sha256);
        println!("  approved by: {}", t.approvers.join(", "));
        println!("  witnessed by: {}", t.witnesses.join(", "));
        println!("  executed by {} at {}", t.destroyed_by, t.destroyed_at);
        println!("  ledger entry: {}", t.ledger_index);
    }
    Ok(0)
}
