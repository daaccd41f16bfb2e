//! spacer: a static ELF linker for x86-64.
//!
//! Invoked as `ld` or `ld.spacer` (by name, e.g. through a symlink) or as `spacer ld ARGS…`,
//! it links like GNU ld; as `spacer TOOL …` it runs the page tools. The work is done by the
//! library (`src/lib.rs`).

use anyhow::{bail, Context, Result};
use spacer::linker::args;
use spacer::pages::{run, share, store, verify};
use spacer::{atomic_file, detach, layout_file, linker};
use std::path::{Path, PathBuf};
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
    } else if rest.first().map(String::as_str) == Some("ld") {
        run_ld(rest[1..].to_vec())
    } else {
        run_tool(std::iter::once(argv0).chain(rest))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spacer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Parser)]
#[command(
    name = "spacer",
    version,
    about = "A static ELF linker for x86-64 with page sharing tools.\n\nTo link, run `spacer ld [GNU ld options] FILES...` or invoke spacer as `ld` / `ld.spacer`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum LayoutCommand {
    /// Prepare one layout file for a fleet of programs from all of their link commands.
    ///
    /// Each command (a compiler driver or linker command line linking one program; commands
    /// are separated by `--`) is run once with spacer as its linker, without touching its
    /// output; library members are then placed by the programs that use them, and the programs
    /// are relinked in a scratch directory until the sections' addresses settle. Linking the
    /// programs with `-Wl,--layout,FILE` afterwards, in any order, gives each the plan's
    /// addresses. The commands should link object files and archives: a command that also
    /// compiles links temporary objects that are gone when the plan relinks.
    Plan {
        /// The fleet's layout file to write.
        #[arg(long)]
        out: PathBuf,
        /// Scratch directory (default: OUT.plan.d, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
        /// `-- COMMAND... [-- COMMAND...]...`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        commands: Vec<String>,
    },
}

#[derive(clap::Subcommand)]
enum Command {
    /// Fleet layouts (`spacer layout plan --out FILE -- CMD... -- CMD...`).
    Layout {
        #[command(subcommand)]
        command: LayoutCommand,
    },
    /// Link like GNU ld (all remaining arguments are ld's).
    Ld {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Add or refresh the per-page digest section of a static ELF image (any linker's).
    Digest {
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Check every loaded page of each image against its digest section.
    Verify {
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Start a static executable with its read-only pages shared through a page store.
    Run {
        /// Page store directory (default: $SPACER_PAGE_STORE or /dev/shm/spacer-UID).
        #[arg(long)]
        store: Option<PathBuf>,
        image: PathBuf,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Boot a Multiboot x86-64 unikernel under KVM with its pages shared through a page store.
    ///
    /// The guest's COM1 output goes to standard output; the exit status is QEMU's for a write
    /// of V to an isa-debug-exit port (0xf4 or 0x501), (V << 1) | 1, or 0 when the guest
    /// halts or powers off. See docs/vm.md.
    Vm {
        /// Page store directory (default: $SPACER_PAGE_STORE or /dev/shm/spacer-UID).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 64)]
        memory: u64,
        /// Kernel arguments: the Multiboot command line is the image's path followed by
        /// these, as QEMU's `-kernel IMAGE -append ARGS` gives it.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Once the guest stops, keep the VM and its memory until spacer is killed (for
        /// measuring what a fleet of running VMs shares).
        #[arg(long)]
        hold: bool,
        /// Print the pages loaded and the time taken on standard error.
        #[arg(long)]
        stats: bool,
        /// The kernel: an x86-64 ELF with a Multiboot header (64-bit, or the 32-bit container
        /// QEMU boots).
        image: PathBuf,
    },
    /// Report how many loaded pages of each image also exist in the other images.
    Share {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Layout file the images were linked with: attributes unshared pages to libraries.
        #[arg(long)]
        layout: Option<PathBuf>,
        /// List every image's unshared pages by section (and library, with --layout).
        #[arg(long)]
        why: bool,
        /// Write an HTML page map to this file.
        #[arg(long)]
        html: Option<PathBuf>,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
}

fn run_tool(argv: impl Iterator<Item = String>) -> Result<()> {
    use clap::Parser;
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with success; usage errors exit 2 as usual.
            e.exit();
        }
    };
    match cli.command {
        Command::Ld { args } => run_ld(args),
        Command::Layout {
            command:
                LayoutCommand::Plan {
                    out,
                    work,
                    commands,
                },
        } => plan_fleet(&out, work, &commands),
        Command::Run { store, image, args } => {
            let store = store.unwrap_or_else(store::default_store);
            match run::run(&image, &args, &store)? {}
        }
        Command::Vm {
            store,
            memory,
            cmdline,
            hold,
            stats,
            image,
        } => {
            let opts = spacer::vm::Options {
                image,
                store: store.unwrap_or_else(store::default_store),
                memory,
                cmdline,
                hold,
                stats,
            };
            let status = spacer::vm::boot(&opts)?;
            std::process::exit(status)
        }
        Command::Digest { images } => {
            for img in images {
                let n = verify::add_to_image(&img)?;
                println!("{}: {n} page digests", img.display());
            }
            Ok(())
        }
        Command::Verify { images } => {
            for img in images {
                let n = verify::verify(&img)?;
                println!("{}: {n} pages verified", img.display());
            }
            Ok(())
        }
        Command::Share {
            json,
            layout,
            why,
            html,
            images,
        } => {
            let layout = layout
                .map(|p| layout_file::LayoutFile::read(&p))
                .transpose()?;
            let r = share::analyse(&images)?;
            print!(
                "{}",
                if json {
                    share::render_json(&r)
                } else {
                    share::render_text(&r)
                }
            );
            if why {
                print!("{}", share::unshared(&images, layout.as_ref())?);
            }
            if let Some(out) = html {
                let page = share::render_html(&images, layout.as_ref())?;
                atomic_file::write_file_atomically(&out, page.as_bytes(), false)?;
            }
            Ok(())
        }
    }
}

/// `spacer layout plan`: see `spacer::fleet_plan`.
fn plan_fleet(out: &Path, work: Option<PathBuf>, words: &[String]) -> Result<()> {
    let commands: Vec<Vec<String>> = words
        .split(|w| w == "--")
        .filter(|c| !c.is_empty())
        .map(<[String]>::to_vec)
        .collect();
    let keep = work.is_some();
    let work = work.unwrap_or_else(|| spacer::fleet_plan::with_ext(out, ".plan.d"));
    let spacer = std::env::current_exe().context("cannot find spacer's own executable")?;
    let result = spacer::fleet_plan::plan(&spacer, &commands, out, &work);
    let report = result.and_then(|o| {
        let images = share::analyse(&o.images)?;
        let mut exec = share::Count::default();
        for i in &images {
            exec.add(i.exec);
        }
        let ideal = o.shared_code_bytes as f64 / o.code_bytes.max(1) as f64;
        let reached = exec.shared as f64 / exec.pages.max(1) as f64;
        println!(
            "{}: {} programs, {} libraries, {} pieces; section addresses settled after {} link(s) of each",
            out.display(),
            o.programs,
            o.libraries,
            o.pieces,
            o.rounds
        );
        println!(
            "executable pages found in another program of the fleet: {}/{} ({:.1}%); ideal \
             deduplication of identical input sections: {:.1}% of code bytes (about {} of those \
             pages); reached {:.1}% of ideal",
            exec.shared,
            exec.pages,
            100.0 * reached,
            100.0 * ideal,
            (ideal * exec.pages as f64).round(),
            100.0 * reached / ideal.max(f64::MIN_POSITIVE)
        );
        Ok(())
    });
    if !keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    report
}

fn run_ld(mut raw: Vec<String>) -> Result<()> {
    // A trial link of `spacer layout plan`: keep the arguments, write to the plan's files.
    if let Some(prefix) = std::env::var_os(spacer::fleet_plan::TRIAL_ENV) {
        let prefix = PathBuf::from(prefix);
        spacer::fleet_plan::save_trial_args(&prefix, &raw)?;
        raw.extend(spacer::fleet_plan::trial_overrides(&prefix));
    }
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
    let fork = args.fork;
    let link = move || {
        let result = link_all(args);
        if result.is_err() {
            // Like GNU ld, a failed link leaves no (stale) output behind.
            if output.is_file() {
                let _ = std::fs::remove_file(&output);
            }
        }
        result
    };
    let result = if fork { detach::run(link) } else { link() };
    atomic_file::remove_deferred();
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
    let threads = args.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| linker::link(args))
}
