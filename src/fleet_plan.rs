//! `spacer layout plan`: one layout file for a fleet of programs, prepared from all of their
//! link commands at once.
//!
//! Linked one after another on one layout file, the programs of a fleet depend on the order
//! they are linked in: the first program lays out each library's region, and the members a
//! later program brings go wherever room is left, on pages mixed with members other programs
//! lack. The plan instead places every library member by the programs that use it:
//!
//! 1. each link command runs once as it is, with spacer as its linker and a layout file of its
//!    own, into a scratch directory (`SPACER_PLAN_TRIAL`); this gives every program's pieces
//!    (input sections with content hashes, sizes and alignments) and its linker arguments;
//! 2. the pieces are merged (`merge`): inside each library's region, pieces used by the same
//!    set of programs sit together, the sets used by the most programs first, each set from a
//!    page of its own, so that a page holds only members that the same programs use; the
//!    libraries' regions follow one another in the order the programs name them;
//! 3. every program is linked again with the merged file until the output sections' addresses
//!    settle (each section at the highest address any program needs for it);
//! 4. the merged file, with those addresses, is written: linking the programs with it in any
//!    order places every member where the plan says.

use crate::layout_file::{LayoutFile, PieceFunctions, Rec};
use crate::linker::stable::{Granule, PAGE};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The environment variable that makes a link a trial link of a plan: its value is a path
/// prefix `P`; the link saves its arguments to `P.args` and writes `P.out` and `P.layout`
/// instead of what its command line names.
pub const TRIAL_ENV: &str = "SPACER_PLAN_TRIAL";

/// How many times the programs are relinked at most while section addresses settle.
const ROUNDS: usize = 6;

/// What a plan found, for its report.
pub struct Outcome {
    pub programs: usize,
    pub libraries: usize,
    pub pieces: usize,
    pub rounds: usize,
    /// The programs' images from the last round, linked with the plan.
    pub images: Vec<PathBuf>,
    /// Code bytes of every program, and those another program of the fleet also links.
    pub code_bytes: u64,
    pub shared_code_bytes: u64,
}

/// `prefix` with `ext` appended to its last component (`p0` → `p0.layout`).
pub fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

/// Arguments a trial link is run with in place of `-o` and `--layout` of its command line.
pub fn trial_overrides(prefix: &Path) -> Vec<String> {
    let with = |ext: &str| with_ext(prefix, ext).to_string_lossy().into_owned();
    vec![
        "-o".into(),
        with(".out"),
        "--layout".into(),
        with(".layout"),
        "--no-fork".into(),
    ]
}

/// Saves a trial link's own arguments (NUL-separated) to `prefix.args`.
pub fn save_trial_args(prefix: &Path, args: &[String]) -> Result<()> {
    let path = with_ext(prefix, ".args");
    let mut text = Vec::new();
    for a in args {
        text.extend_from_slice(a.as_bytes());
        text.push(0);
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The arguments `save_trial_args` saved, if the trial link ran.
fn read_trial_args(prefix: &Path) -> Option<Vec<String>> {
    let argv = std::fs::read(with_ext(prefix, ".args")).ok()?;
    Some(
        argv.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Runs the plan for `commands` (each a compiler driver or linker command line that links one
/// program) and writes the fleet's layout file to `out`. `spacer` is this program, run as the
/// linker; `work` is a scratch directory.
pub fn plan(spacer: &Path, commands: &[Vec<String>], out: &Path, work: &Path) -> Result<Outcome> {
    if commands.len() < 2 {
        bail!("a fleet plan needs the link commands of two programs or more");
    }
    std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin)?;
    let ld = bin.join("ld");
    let _ = std::fs::remove_file(&ld);
    std::os::unix::fs::symlink(spacer, &ld)
        .with_context(|| format!("cannot create {}", ld.display()))?;

    // 1. Each command as it is, spacer its linker.
    let mut own = Vec::new();
    let mut args = Vec::new();
    for (i, cmd) in commands.iter().enumerate() {
        let prefix = work.join(format!("p{i}"));
        for ext in [".layout", ".args", ".out"] {
            let _ = std::fs::remove_file(with_ext(&prefix, ext));
        }
        let status = std::process::Command::new(&cmd[0])
            .arg(format!("-B{}/", bin.display()))
            .args(&cmd[1..])
            .env(TRIAL_ENV, &prefix)
            .status()
            .with_context(|| format!("cannot run `{}`", cmd[0]))?;
        if !status.success() {
            bail!(
                "link command {} failed ({status}): {}",
                i + 1,
                cmd.join(" ")
            );
        }
        args.push(read_trial_args(&prefix).with_context(|| {
            format!(
                "link command {} did not run spacer as its linker (does `{}` take -B?)",
                i + 1,
                cmd[0]
            )
        })?);
        own.push(LayoutFile::read(&with_ext(&prefix, ".layout"))?);
    }

    // 2. The merged layout.
    let mut fleet = merge(&own);

    // 3. Relink until the section addresses settle.
    let mut rounds = 0;
    let mut images = Vec::new();
    loop {
        rounds += 1;
        images.clear();
        let mut wanted = fleet.sections.clone();
        for (i, a) in args.iter().enumerate() {
            let prefix = work.join(format!("p{i}-r{rounds}"));
            let layout = with_ext(&prefix, ".layout");
            std::fs::write(&layout, fleet.render())?;
            let out = std::process::Command::new(spacer)
                .arg("ld")
                .args(a)
                .args(trial_overrides(&prefix))
                .output()
                .with_context(|| format!("cannot run {}", spacer.display()))?;
            if !out.status.success() {
                bail!(
                    "linking program {} with the plan failed:\n{}",
                    i + 1,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let got = LayoutFile::read(&layout)?;
            for (name, &addr) in &got.sections {
                let w = wanted.entry(name.clone()).or_insert(addr);
                *w = (*w).max(addr);
            }
            for (k, &v) in &got.slots {
                fleet.slots.entry(k.clone()).or_insert(v);
            }
            images.push(with_ext(&prefix, ".out"));
        }
        if wanted == fleet.sections {
            break;
        }
        if rounds == ROUNDS {
            bail!(
                "the output sections' addresses did not settle in {ROUNDS} links of each program"
            );
        }
        fleet.sections = wanted;
    }
    crate::atomic_file::write_file_atomically(out, fleet.render().as_bytes(), false)?;

    let (code_bytes, shared_code_bytes) = ideal_code_sharing(&own);
    Ok(Outcome {
        programs: commands.len(),
        libraries: fleet
            .regions
            .keys()
            .map(|(_, l)| l)
            .collect::<BTreeSet<_>>()
            .len(),
        pieces: fleet.pieces.values().map(BTreeMap::len).sum(),
        rounds,
        images,
        code_bytes,
        shared_code_bytes,
    })
}

/// A piece as the programs' own layouts recorded it.
struct Variant {
    key: String,
    hash: Option<u64>,
    size: u64,
    align: u64,
    /// The programs that link it (indices, ascending).
    users: Vec<usize>,
    /// The first program that links it, and its offset there: the usual order.
    first: (usize, u64),
}

/// Whether a key is a piece's own record (not a moved copy or an earlier content).
fn is_own(key: &str) -> bool {
    !key.contains('#') && !key.ends_with("@moved")
}

/// The fleet's layout from each program's own: see the module documentation.
pub fn merge(programs: &[LayoutFile]) -> LayoutFile {
    let mut out = LayoutFile::default();
    // Per output section, each library with where it first appears.
    let mut libraries: BTreeMap<&str, BTreeMap<&str, (usize, u64)>> = BTreeMap::new();
    for (i, p) in programs.iter().enumerate() {
        for ((sec, lib), &(off, _)) in &p.regions {
            let first = libraries
                .entry(sec)
                .or_default()
                .entry(lib)
                .or_insert((i, off));
            *first = (*first).min((i, off));
        }
    }
    for (sec, libs) in libraries {
        let granule = Granule::of(sec);
        let mut order: Vec<(&str, (usize, u64))> = libs.into_iter().collect();
        order.sort_by_key(|&(lib, first)| (first, lib));
        let mut at = 0u64;
        for (lib, _) in order {
            let key = (sec.to_string(), lib.to_string());
            let (records, syms, size) = plan_region(programs, &key, granule);
            let reserved = granule.reserve(size);
            if reserved == 0 {
                continue;
            }
            at = at.next_multiple_of(granule.region_align(reserved));
            out.regions.insert(key.clone(), (at, reserved));
            at += reserved;
            if !syms.is_empty() {
                out.syms.insert(key.clone(), syms);
            }
            out.pieces.insert(key, records);
        }
    }
    // Table slots: the entries most programs use first, then by name.
    let mut users: BTreeMap<(String, String), usize> = BTreeMap::new();
    for p in programs {
        for k in p.slots.keys() {
            *users.entry(k.clone()).or_default() += 1;
        }
    }
    let mut by_table: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
    for ((table, name), n) in &users {
        by_table.entry(table).or_default().push((*n, name));
    }
    for (table, mut entries) in by_table {
        entries.sort_by_key(|&(n, name)| (std::cmp::Reverse(n), name));
        for (i, (_, name)) in entries.into_iter().enumerate() {
            out.slots
                .insert((table.to_string(), name.to_string()), i as u32);
        }
    }
    out
}

/// One library's region in one output section: its pieces grouped by the programs that use
/// them, each group from a page of its own (where regions are on pages). Returns the records,
/// the functions inside pieces, and the size used.
fn plan_region(
    programs: &[LayoutFile],
    key: &(String, String),
    granule: Granule,
) -> (BTreeMap<String, Rec>, PieceFunctions, u64) {
    let mut variants: BTreeMap<(String, Option<u64>), Variant> = BTreeMap::new();
    let mut syms = PieceFunctions::new();
    for (i, p) in programs.iter().enumerate() {
        let Some(pieces) = p.pieces.get(key) else {
            continue;
        };
        for (k, r) in pieces.iter().filter(|(k, _)| is_own(k)) {
            let v = variants
                .entry((k.clone(), r.hash))
                .or_insert_with(|| Variant {
                    key: k.clone(),
                    hash: r.hash,
                    size: r.size,
                    align: r.align.max(16),
                    users: Vec::new(),
                    first: (i, r.off),
                });
            v.users.push(i);
            v.size = v.size.max(r.size);
            if let Some(f) = p.syms.get(key).and_then(|m| m.get(k)) {
                syms.entry(k.clone()).or_insert_with(|| f.clone());
            }
        }
    }
    // A key with two contents (two versions of a member): the one more programs use keeps the
    // key, the other is recorded under its content hash.
    let mut primary: BTreeMap<&str, (usize, Option<u64>)> = BTreeMap::new();
    for v in variants.values() {
        let best = primary.entry(&v.key).or_insert((v.users.len(), v.hash));
        if v.users.len() > best.0 {
            *best = (v.users.len(), v.hash);
        }
    }
    let mut groups: BTreeMap<(std::cmp::Reverse<usize>, Vec<usize>), Vec<&Variant>> =
        BTreeMap::new();
    for v in variants.values() {
        groups
            .entry((std::cmp::Reverse(v.users.len()), v.users.clone()))
            .or_default()
            .push(v);
    }
    let paged = !granule.keep_size;
    let mut records = BTreeMap::new();
    let mut at = 0u64;
    for (_, mut members) in groups {
        members.sort_by_key(|v| v.first);
        if paged && at > 0 {
            at = at.next_multiple_of(PAGE);
        }
        for v in members {
            at = at.next_multiple_of(v.align);
            let name = if primary[v.key.as_str()].1 == v.hash {
                v.key.clone()
            } else {
                format!("{}#{:016x}", v.key, v.hash.unwrap_or(0))
            };
            records.insert(name, Rec::new(at, v.size, v.hash, v.align));
            at += v.size;
        }
    }
    (records, syms, at)
}

/// Code bytes of every program (the executable output sections' pieces), and those of pieces
/// (same key, same content) another program also links: what ideal deduplication of identical
/// input sections would share.
fn ideal_code_sharing(programs: &[LayoutFile]) -> (u64, u64) {
    let code = |p: &'_ LayoutFile| {
        p.pieces
            .iter()
            .filter(|((s, _), _)| s == ".text")
            .flat_map(|((_, lib), pieces)| {
                pieces
                    .iter()
                    .filter(|(k, _)| is_own(k))
                    .map(move |(k, r)| ((lib.clone(), k.clone(), r.hash), r.size))
            })
            .collect::<Vec<_>>()
    };
    let mut users: BTreeMap<(String, String, Option<u64>), usize> = BTreeMap::new();
    for p in programs {
        for (id, _) in code(p) {
            *users.entry(id).or_default() += 1;
        }
    }
    let (mut total, mut shared) = (0, 0);
    for p in programs {
        for (id, size) in code(p) {
            total += size;
            if users[&id] > 1 {
                shared += size;
            }
        }
    }
    (total, shared)
}
