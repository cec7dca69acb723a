//! The `strongroom` command: a thin CLI over the library.
//!
//! Minimal dispatch until the real CLI lands: `strongroom bag validate DIR` prints every
//! finding to stderr and exits 0 when the bag is valid, 1 when it is not, 2 on bad usage.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [bag, validate, dir] if bag == "bag" && validate == "validate" => {
            let report = strongroom::bagit::validate(
                std::path::Path::new(dir),
                &strongroom::bagit::ValidateOptions::default(),
            );
            for f in &report.findings {
                eprintln!("{f}");
            }
            if report.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        _ => {
            eprintln!("usage: strongroom bag validate DIR");
            ExitCode::from(2)
        }
    }
}
