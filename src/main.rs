//! spacer: a static ELF linker for x86-64.
//!
//! Invoked as `ld` or `ld.spacer` (by name, e.g. through a symlink) or as `spacer ld ARGS…`,
//! it links like GNU ld. The pipeline runs in one direction: arguments → inputs → symbol
//! resolution → garbage collection → relocation scan → layout → output.

mod args;
mod eh_frame;
mod gc;
mod input;
mod layout;
mod link;
mod map;
mod merge;
mod object_file;
mod output;
mod reloc;
mod relocatable;
mod symbols;

use anyhow::{bail, Result};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::new().filter("SPACER_LOG")).init();
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let prog = Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest: Vec<String> = argv.collect();
    let ld_mode = prog == "ld" || prog.starts_with("ld.") || prog.ends_with("-ld");
    let result = if ld_mode {
        run_ld(rest)
    } else {
        match rest.first().map(String::as_str) {
            Some("ld") => run_ld(rest[1..].to_vec()),
            Some("--version") | Some("-V") | Some("version") => {
                print!("{}", args::VERSION_TEXT);
                Ok(())
            }
            Some("--help") | Some("-h") | Some("help") | None => {
                println!("usage: spacer ld [GNU ld options] FILES...\n       (or invoke spacer as `ld` / `ld.spacer`)\n");
                print!("{}", args::HELP_TEXT);
                Ok(())
            }
            Some(other) => Err(anyhow::anyhow!(
                "unknown command '{other}' (try `spacer ld ...` or `spacer --help`)"
            )),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spacer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_ld(raw: Vec<String>) -> Result<()> {
    let args = args::parse(raw.into_iter())?;
    if args.version {
        print!("{}", args::VERSION_TEXT);
        if args.inputs.is_empty() {
            return Ok(());
        }
    }
    if args.help {
        print!("{}", args::HELP_TEXT);
        return Ok(());
    }
    if args.inputs.is_empty() {
        bail!("no input files");
    }
    let output = args.output.clone();
    let result = link_all(args);
    if result.is_err() {
        // Like GNU ld, a failed link leaves no (stale) output behind.
        if output.is_file() {
            let _ = std::fs::remove_file(&output);
        }
    }
    result
}

fn link_all(args: args::Args) -> Result<()> {
    if args.shared {
        bail!("-shared: spacer links static executables only");
    }
    if args.pie && args.dynamic_linker {
        bail!(
            "dynamically linked position-independent executables are not supported: \
             spacer links static executables (use -static-pie or -static)"
        );
    }
    if let Some(s) = args.scripts.first() {
        bail!(
            "{}: linker scripts given with -T are not supported yet",
            s.display()
        );
    }
    let threads = args.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| link::run(args))
}
