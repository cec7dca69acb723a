//! The `verify-copy` command: checks a strongroom copy bundle offline.
//!
//! Run with: `cargo run -p verify-copy -- BUNDLE.zip [--key VKEY_FILE]
//! [--known-checkpoint FILE [--consistency FILE]] [--tsa-cert FILE] [--json]`. Prints one line per check, then
//! VALID or INVALID. Exit 0 only when every check passes, 1 when one fails, 2 when the bundle
//! or a given file cannot be read or the arguments are wrong.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: verify-copy BUNDLE.zip [--key VKEY_FILE] \
[--known-checkpoint FILE [--consistency FILE]] [--tsa-cert FILE] [--json]";

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn run() -> Result<u8, String> {
    let mut bundle: Option<PathBuf> = None;
    let mut options = verify_copy::Options::default();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a file\n{USAGE}"));
        match a.as_str() {
            "--key" => options.key = Some(read(&value()?)?),
            "--known-checkpoint" => options.known_checkpoint = Some(read(&value()?)?),
            "--consistency" => options.consistency = Some(read(&value()?)?),
            "--tsa-cert" => {
                let path = value()?;
                options.tsa_cert =
                    Some(std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?);
            }
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(0);
            }
            _ if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
            _ if bundle.is_none() => bundle = Some(PathBuf::from(a)),
            _ => return Err(format!("one bundle at a time\n{USAGE}")),
        }
    }
    let bundle = bundle.ok_or(USAGE.to_string())?;
    let report = verify_copy::verify_file(&bundle, &options).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("{e}{cause}")
    })?;
    for n in &report.notices {
        eprintln!("\n!!! {n}\n");
    }
    if json {
        let text = serde_json::to_string_pretty(&report.to_json()).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.is_valid() { 0 } else { 1 })
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("verify-copy: {e}");
            ExitCode::from(2)
        }
    }
}
