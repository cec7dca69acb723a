//! `strongroom search` and `strongroom reindex`: thin glue over [`strongroom::search`] that
//! opens the home's index, catches it up with the ledger, and searches or rebuilds it.
//! Results go to stdout (JSON with `--json`), progress and diagnostics to stderr.

use crate::print_json;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use strongroom::home::Home;
use strongroom::search::{self, CatchUp, CatchUpOptions, Filters, Scope, SearchIndex};

/// Arguments of `strongroom search`.
#[derive(Args)]
pub struct SearchArgs {
    /// The query: words, "phrases", AND/OR/NOT, title:…, case:…, doc:…, creator:…,
    /// refcode:PREFIX*, year:[2016 TO 2019], date:[2016-01-01 TO 2016-06-30].
    pub query: String,
    /// Only this agency (Agency-Code).
    #[arg(long)]
    pub agency: Option<String>,
    /// Only these years: 2016 or 2016..2019.
    #[arg(long)]
    pub year: Option<String>,
    /// Only this retention period code (Y, D30, D10 …).
    #[arg(long)]
    pub retention: Option<String>,
    /// Also count matches per agency, fonds, year, retention and format.
    #[arg(long)]
    pub facets: bool,
    /// Most results listed.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

fn years(s: &str) -> Result<(i64, i64)> {
    let parse = |t: &str| -> Result<i64> {
        t.trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("--year: {t:?} is not a year (use 2016 or 2016..2019)"))
    };
    match s.split_once("..") {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => {
            let y = parse(s)?;
            Ok((y, y))
        }
    }
}

fn bar(total: u64, label: &str, always: bool) -> ProgressBar {
    if !std::io::stderr().is_terminal() || !(always || total > 1000) {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(total);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{label} [{{bar:30}}] {{pos}}/{{len}} ledger entries ({{per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

fn report_catch_up(c: &CatchUp) {
    if c.busy {
        eprintln!(
            "warning: another process is updating the search index; results may be behind the ledger"
        );
    }
    for p in &c.extraction_problems {
        eprintln!("text extraction: {p}");
    }
    if c.malformed_entries > 0 {
        eprintln!(
            "warning: {} ledger entries could not be read and were skipped (run `strongroom ledger verify`)",
            c.malformed_entries
        );
    }
}

/// After a write through the CLI (a transfer, an amendment): bring the search index up to the
/// ledger so the new records are found at once. The write is already committed, so nothing
/// here can fail it: problems are warnings, and a busy index (a running server holds its
/// writer) is left to that follower. An archive whose index was never made (no `search`,
/// `reindex` or `serve` yet) is left without one: the first search builds it.
pub async fn follow_after_write(home: &Home, store: &strongroom::store::Store) {
    if !search::index_dir(home).exists() {
        return;
    }
    let result = async {
        let index = SearchIndex::open(&search::index_dir(home))?;
        search::catch_up(store, &index, &CatchUpOptions::default(), &|_, _| {}).await
    }
    .await;
    match result {
        Ok(c) if c.busy => {}
        Ok(c) => report_catch_up(&c),
        Err(e) => eprintln!(
            "warning: the search index could not follow this change ({e}); \
             `strongroom search` or `strongroom reindex` will catch up"
        ),
    }
}

/// `strongroom search`: catch up, then search everything (the CLI is the archivist's).
pub async fn search(home_dir: &Path, json: bool, args: &SearchArgs) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let index = SearchIndex::open(&search::index_dir(&home))?;
    let behind = store
        .ledger_size()
        .await?
        .saturating_sub(index.position()?.map_or(0, |p| p.applied));
    let b = bar(behind, "indexing", false);
    let progress = |done: u64, _total: u64| b.set_position(done);
    let c = search::catch_up(&store, &index, &CatchUpOptions::default(), &progress).await?;
    b.finish_and_clear();
    report_catch_up(&c);
    let filters = Filters {
        agency: args.agency.clone(),
        years: args.year.as_deref().map(years).transpose()?,
        retention: args.retention.clone(),
    };
    let r = search::search(
        &index,
        &args.query,
        &filters,
        &Scope::All,
        args.limit,
        args.facets,
    )?;
    for w in &r.warnings {
        eprintln!("query: {w}");
    }
    if json {
        print_json(&r)?;
    } else {
        for h in &r.hits {
            println!(
                "{}\t{}\t{}\t{}",
                h.reference_code, h.date, h.agency, h.title
            );
            if h.snippet != h.title {
                println!("    {}", h.snippet);
            }
        }
        if let Some(f) = &r.facets {
            for (dim, values) in f {
                let list: Vec<String> = values.iter().map(|(v, n)| format!("{v} ({n})")).collect();
                println!("{dim}: {}", list.join(", "));
            }
        }
        eprintln!("{} record(s) found, {} shown", r.total, r.hits.len());
    }
    Ok(0)
}

/// `strongroom reindex`: delete the index and rebuild it from the ledger and the store.
pub async fn reindex(home_dir: &Path, json: bool) -> Result<u8> {
    let home = Home::open(home_dir)?;
    let store = home.store().await?;
    let dir = search::index_dir(&home);
    let total = store.ledger_size().await?;
    let b = bar(total, "reindexing", true);
    let progress = |done: u64, _total: u64| b.set_position(done);
    let (_, c) = search::reindex(&store, &dir, &CatchUpOptions::default(), &progress).await?;
    b.finish_and_clear();
    report_catch_up(&c);
    if c.busy {
        bail!("the search index is in use by another process; try again when it is done");
    }
    if json {
        print_json(&c)?;
    } else {
        println!(
            "reindexed: {} ledger entries, {} records indexed",
            c.to, c.records_indexed
        );
    }
    Ok(0)
}
