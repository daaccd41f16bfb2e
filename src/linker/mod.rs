//! The linker: GNU ld's command line in, a static ELF image (or a relocatable object) out.

pub mod args;
pub mod commons;
pub mod context;
pub mod diag;
pub mod eh_frame;
pub mod gc;
pub mod glob;
pub mod input;
pub mod layout;
pub mod lto;
pub mod map;
pub mod merge;
pub mod notes;
pub mod object_file;
pub mod options;
pub mod output;
pub mod reloc;
pub mod reloc_kinds;
pub mod relocatable;
pub mod resolve;
pub mod script;
pub mod stable;
pub mod symbols;
pub mod sysroot;

use anyhow::Result;
use args::Args;
use context::Link;
use layout::script::{self as plan, Plan};
use stable::Stable;
use std::time::{Duration, Instant};

/// Per-stage wall-clock and CPU times (all threads), printed to standard error with `--stats`
/// (or `--time`): a stage whose CPU time is close to its wall time runs on one core.
struct Timings {
    on: bool,
    last: Instant,
    last_cpu: Duration,
    start: Instant,
    rows: Vec<(&'static str, Duration, Duration)>,
}

/// CPU time this process has used so far, user and system, all threads.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

impl Timings {
    fn new(on: bool) -> Timings {
        let now = Instant::now();
        Timings {
            on,
            last: now,
            last_cpu: if on { cpu_time() } else { Duration::ZERO },
            start: now,
            rows: Vec::new(),
        }
    }

    /// Runs one stage and records how long it took.
    fn stage<T>(&mut self, name: &'static str, f: impl FnOnce() -> T) -> T {
        let r = f();
        if self.on {
            let (now, cpu) = (Instant::now(), cpu_time());
            self.rows
                .push((name, now - self.last, cpu.saturating_sub(self.last_cpu)));
            (self.last, self.last_cpu) = (now, cpu);
        }
        r
    }

    fn print(&self) {
        if !self.on {
            return;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for (name, d, cpu) in &self.rows {
            eprintln!(
                "spacer: stats: {name:<20} {:9.3} ms  (cpu {:8.3} ms)",
                ms(*d),
                ms(*cpu)
            );
        }
        let total = self.start.elapsed().as_secs_f64() * 1e3;
        eprintln!(
            "spacer: stats: {:<20} {total:9.3} ms  (cpu {:8.3} ms)",
            "total",
            ms(cpu_time())
        );
    }
}

/// Links: the stages in order, each taking what the earlier ones produced.
pub fn link(args: Args) -> Result<()> {
    let mut t = Timings::new(args.stats);
    diag::set_fatal_warnings(args.fatal_warnings);
    diag::set_demangle(args.demangle);
    diag::set_noinhibit_exec(args.noinhibit_exec);
    let mut args = args;
    let (loaded, _lto) = t.stage("load inputs", || load_inputs(&mut args))?;
    let mut link = Link::new(args, loaded.files, loaded.symtab);
    resolve::check_duplicates(&link)?;
    notes::add_linker_notes(&mut link)?;
    let r = if link.args.relocatable {
        if let Some(path) = &link.args.layout {
            // Addresses are decided by the final link; that is where the layout file belongs.
            diag::warn(format_args!(
                "--layout {} has no effect with -r (give it to the final link)",
                path.display()
            ));
        }
        t.stage("relocatable output", || {
            resolve::check_required(&link)?;
            diag::check_fatal()?;
            relocatable::link_relocatable(&mut link)
        })
    } else {
        link_executable(link, &mut t)
    };
    t.print();
    r
}

/// Loads the inputs. LTO objects (slim ones met on the command line or as archive members the
/// link needs, and fat ones of the command line when gcc runs the link) are compiled by GCC's
/// lto-wrapper and the inputs loaded again with its objects in their place, until no new
/// member is needed (`lto`). The objects it made live as long as the result.
fn load_inputs(args: &mut Args) -> Result<(input::Loaded, Option<lto::Compiled>)> {
    let original = args.inputs.clone();
    let mut members: Vec<object_file::SlimLtoMember> = Vec::new();
    let mut compiled: Option<lto::Compiled> = None;
    let mut result = input::load(args);
    loop {
        let failed = match result {
            // Fat LTO objects: compiled anew once, as GCC's plugin has them compiled.
            Ok(loaded)
                if compiled.is_none()
                    && !args.relocatable
                    && lto::wants_fat_compiled(args, &loaded.files) =>
            {
                None
            }
            Ok(loaded) => return Ok((loaded, compiled)),
            Err(e) if !lto::needs_lto(&e) => return Err(e),
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            if args.relocatable {
                return Err(e.context(
                    "-r: a partial link keeps no LTO object (GCC's plugin would be needed)",
                ));
            }
            match lto::member_of(&e) {
                Some(m) if !members.iter().any(|x| x.name == m.name) => members.push(m.clone()),
                // Compiled once already and needed again: the archive's index and the code
                // lto-wrapper made disagree.
                Some(_) => return Err(e.context(lto::MEMBER_NEEDED_AGAIN)),
                None if compiled.is_some() => return Err(e),
                None => {}
            }
        }
        // The objects of an earlier pass go first (their names are reused).
        drop(compiled.take());
        args.inputs = original.clone();
        compiled = Some(lto::compile(args, &members.iter().collect::<Vec<_>>())?);
        result = input::load(args);
    }
}

/// A final link: the layout comes from a linker script (the command line's, or the built-in
/// one), and with `--layout` from the layout file too.
fn link_executable(mut link: Link, t: &mut Timings) -> Result<()> {
    let mut plan = t.stage("read scripts", || plan::load(&link.args))?;
    // Held until this function returns, after the layout file is written back.
    let _layout_lock = match &link.args.layout {
        Some(path) => Some(stable::LayoutLock::acquire(path)?),
        None => None,
    };
    let mut stable = t.stage("read layout file", || read_layout_file(&link.args))?;
    t.stage("linker symbols", || define_symbols(&mut plan, &mut link));
    resolve::check_required(&link)?;
    t.stage("gc sections", || select_sections(&mut plan, &mut link))?;
    link.tables = t.stage("scan relocations", || -> Result<_> {
        let tables = reloc::scan_relocations(&link)?;
        Ok(match stable.as_mut() {
            Some(st) => stable::keep_table_slots(st, &link, tables),
            None => tables,
        })
    })?;
    t.stage("layout", || {
        layout::stage::lay_out(&mut plan, &mut link, stable.as_mut())
    })?;
    if link.args.compress_debug != args::CompressDebug::None {
        t.stage("compress debug", || {
            output::compress::compress_debug_sections(&mut link)
        })?;
    }
    t.stage("write output", || write_outputs(&link))?;
    if let (Some(st), Some(path)) = (&stable, &link.args.layout) {
        t.stage("write layout file", || -> Result<()> {
            for m in &st.moved {
                eprintln!("spacer: note: {m}");
            }
            if link.args.layout_report {
                for line in st.report.values() {
                    eprintln!("spacer: layout: {line}");
                }
            }
            // A relink that changed nothing leaves the file as it is.
            if st.new == st.old && path.exists() {
                return Ok(());
            }
            crate::atomic_file::write_file_atomically(path, st.new.render().as_bytes(), false)
        })?;
    }
    // The process ends after the link: freeing its tables piece by piece (hundreds of thousands
    // of sections in a large program) would only delay the moment the build hears it is done.
    std::mem::forget(link);
    std::mem::forget(plan);
    std::mem::forget(stable);
    Ok(())
}

/// The state of a `--layout` link: the layout file the previous link wrote, if any.
fn read_layout_file(args: &Args) -> Result<Option<Stable>> {
    let Some(path) = &args.layout else {
        return Ok(None);
    };
    let old = if path.exists() {
        stable::LayoutFile::read(path)?
    } else {
        Default::default()
    };
    Ok(Some(Stable::new(old, args.layout_mode)))
}

/// Symbols the script and the linker define, and the entry point the script names.
fn define_symbols(plan: &mut Plan, link: &mut Link) {
    if link.args.strip != args::Strip::None {
        for file in link.files.iter_mut() {
            for sec in file.sections.iter_mut() {
                if !sec.is_alloc() && layout::is_debug(sec.name) {
                    sec.state = object_file::SecState::Ignored;
                }
            }
        }
    }
    plan::define_symbols(plan, link);
    resolve::define_linker_symbols(link);
    if link.args.entry.is_none() {
        link.args.entry = plan.entry.clone();
    }
}

/// Which input sections the output keeps: each goes to a script statement, `--gc-sections`
/// drops what nothing reaches, `.eh_frame` keeps the records of kept code, commons get a place.
fn select_sections(plan: &mut Plan, link: &mut Link) -> Result<()> {
    gc::split_eh_frames(link)?;
    let kept = layout::assign::assign_inputs(plan, link);
    gc::collect_garbage(link, &kept)?;
    gc::finalize_eh_frames(link);
    link.commons = commons::allocate_commons(link);
    Ok(())
}

fn write_outputs(link: &Link) -> Result<()> {
    diag::check_fatal()?;
    if let Some(map) = &link.args.map_file {
        map::write_map(link, map)?;
    }
    output::write(link)
}
