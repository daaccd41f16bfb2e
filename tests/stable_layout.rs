//! Version-stable layout (`--layout FILE`) on real library updates: zlib 1.2.13 → 1.3.1,
//! zstd 1.5.5 → 1.5.6, lz4 1.9.3 → 1.9.4 and Lua 5.4.6 → 5.4.7 (sources from crates.io, see
//! `common/versions.rs`), linked into the programs of `testdata/stable/`.
//!
//! For each single-library update, the program linked against the old and then the new version
//! with one layout file must behave exactly like its ld.bfd-linked twin, and most of its code
//! pages must be byte-identical across the update (`spacer share`).  The tests print the
//! sharing spacer achieves next to what ld.bfd achieves for the same pair.
//!
//! Run with `cargo test --release --test stable_layout -- --nocapture` to see the numbers.
//! `cargo test --release --test stable_layout -- --ignored build_corpus_only` only builds the
//! libraries (for `bench/sharing.sh`).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::share::{share, Count, ImageShare};
use common::versions::{self, Built, Flavour, LibVersion};
use common::*;

/// The libraries in link order: `-lz -lzstd -llz4 -llua -lsqlite3`.
const LIB_ORDER: &[&str] = &["zlib", "zstd", "lz4", "lua", "sqlite"];

/// The test programs and the libraries each uses.
const PROGRAMS: &[(&str, &[&str])] = &[
    ("zall", &["zlib", "zstd", "lz4"]),
    ("zlz4", &["zlib", "lz4"]),
    ("zstdlz4", &["zstd", "lz4"]),
    ("zonly", &["zlib"]),
    ("zlua", &["zlib", "lua"]),
];

/// Programs only the update and plan tests link (not part of the fleet linked one by one).
const UPDATE_PROGRAMS: &[(&str, &[&str])] = &[("zsql", &["zlib", "sqlite"]), ("zcxx", &["zlib"])];

/// The compiler driver that builds and links `program` (`zcxx` is C++).
fn driver_of(program: &str) -> Driver {
    if program == "zcxx" {
        Driver::Gxx
    } else {
        Driver::Gcc
    }
}

/// The executable-page share the layout must reach across an update of a library that is under
/// a tenth of the program's code.
const TARGET_SHARE: f64 = 0.90;

fn stable_src_dir() -> PathBuf {
    testdata_dir().join("stable")
}

/// One version of each library.
#[derive(Clone, Copy)]
struct VersionSet {
    libs: [&'static LibVersion; 5],
    flavour: Flavour,
}

impl VersionSet {
    fn old() -> VersionSet {
        VersionSet {
            libs: [
                &versions::ZLIB_OLD,
                &versions::ZSTD_OLD,
                &versions::LZ4_OLD,
                &versions::LUA_OLD,
                &versions::SQLITE_OLD,
            ],
            flavour: Flavour::Sections,
        }
    }

    /// The same versions built as `flavour` says.
    fn built_as(self, flavour: Flavour) -> VersionSet {
        VersionSet { flavour, ..self }
    }

    /// The old set with `new` in place of its library's old version.
    fn with(self, new: &'static LibVersion) -> VersionSet {
        let mut s = self;
        for l in s.libs.iter_mut() {
            if l.name == new.name {
                *l = new;
            }
        }
        s
    }

    fn get(&self, name: &str) -> &'static LibVersion {
        self.libs.iter().find(|l| l.name == name).unwrap()
    }

    fn describe(&self) -> String {
        self.libs
            .iter()
            .map(|l| l.id())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A program built against one version set: its object and the link flags.
struct Build {
    program: &'static str,
    object: PathBuf,
    /// `-L` and `-l` flags, in link order.
    lib_flags: Vec<String>,
}

fn uses(program: &str) -> &'static [&'static str] {
    PROGRAMS
        .iter()
        .chain(UPDATE_PROGRAMS)
        .find(|(p, _)| *p == program)
        .unwrap()
        .1
}

fn build(program: &'static str, set: VersionSet) -> Build {
    let libs: Vec<&'static str> = LIB_ORDER
        .iter()
        .copied()
        .filter(|l| uses(program).contains(l))
        .collect();
    let archives: Vec<(&'static str, Built)> = libs
        .iter()
        .map(|l| (*l, set.get(l).build_as(set.flavour)))
        .collect();
    let mut cflags: Vec<String> = vec!["-O2".into()];
    cflags.extend(
        archives
            .iter()
            .map(|(_, b)| format!("-I{}", b.include.display())),
    );
    let ext = if driver_of(program) == Driver::Gxx {
        "cpp"
    } else {
        "c"
    };
    let cached = compile(
        driver_of(program),
        &stable_src_dir().join(format!("{program}.{ext}")),
        &cflags,
    );
    // The layout file knows an object by its file name: link `<program>.o` (as a user's build
    // would), not the cache's hashed name.
    let object = tests_dir()
        .join("stable-obj")
        .join(cached.file_stem().unwrap())
        .join(format!("{program}.o"));
    if !object.exists() {
        fs::create_dir_all(object.parent().unwrap()).unwrap();
        write_atomic(&object, &fs::read(&cached).unwrap());
    }
    let mut lib_flags: Vec<String> = archives
        .iter()
        .map(|(_, b)| format!("-L{}", b.lib_dir.display()))
        .collect();
    lib_flags.extend(libs.iter().map(|l| format!("-l{}", set.get(l).lib)));
    // Lua needs the C library's maths; the others do not mind.
    lib_flags.push("-lm".into());
    Build {
        program,
        object,
        lib_flags,
    }
}

/// Links `b` into `out`; with spacer and `layout`, passes `-Wl,--layout,<layout>`; with ld.bfd,
/// writes a link map to `<out>.map`.
fn link_build(b: &Build, linker: Linker, layout: Option<&Path>, out: &Path) -> LinkResult {
    let mut flags = b.lib_flags.clone();
    if let Some(l) = layout {
        flags.push(format!("-Wl,--layout,{}", l.display()));
    }
    if linker == Linker::Bfd {
        flags.push(format!("-Wl,-Map,{}.map", out.display()));
    }
    link(
        driver_of(b.program),
        linker,
        std::slice::from_ref(&b.object),
        &flags,
        out,
    )
}

/// Links, panicking on failure; returns what the linker printed on standard error.
fn link_ok(b: &Build, linker: Linker, layout: Option<&Path>, out: &Path) -> String {
    let r = link_build(b, linker, layout, out);
    if !r.ok() {
        let hint = if r.result.stderr_str().contains("--layout") {
            "\n(this spacer does not know --layout yet?)"
        } else {
            ""
        };
        panic!("linking `{}` failed{hint}\n{}", b.program, r.report(linker));
    }
    r.result.stderr_str()
}

/// Links `b` with ld.bfd and with spacer on `layout` into `dir/NAME.bfd` and `dir/NAME.spacer`;
/// the layout file must be written and the spacer build must behave like the ld.bfd one.
/// Returns (spacer build, ld.bfd build).
fn link_both(b: &Build, layout: &Path, dir: &Path, name: &str, what: &str) -> (PathBuf, PathBuf) {
    let bfd = dir.join(format!("{name}.bfd"));
    let sp = dir.join(format!("{name}.spacer"));
    link_ok(b, Linker::Bfd, None, &bfd);
    link_ok(b, Linker::Spacer, Some(layout), &sp);
    check_layout_file(layout);
    check_same(what, &sp, &bfd);
    (sp, bfd)
}

/// What a run printed and how it ended.
struct Behaviour {
    stdout: Vec<u8>,
    describe: String,
    code: Option<i32>,
}

fn run(exe: &Path) -> Behaviour {
    let r = run_program(exe, &[], exe.parent().unwrap());
    Behaviour {
        stdout: r.stdout.clone(),
        describe: r.describe(),
        code: if r.timed_out { None } else { r.code() },
    }
}

/// Runs the reference executable (which must succeed) and `exe`, which must behave the same.
fn check_same(what: &str, exe: &Path, reference: &Path) -> Behaviour {
    let want = run(reference);
    assert!(
        want.code == Some(0),
        "{what}: the ld.bfd-linked {} failed ({}), so the test is broken\n{}",
        reference.display(),
        want.describe,
        excerpt(&want.stdout, 4000)
    );
    let got = run(exe);
    if got.code != want.code || got.stdout != want.stdout {
        panic!(
            "{what}: {} behaves differently from the ld.bfd-linked {}\nstatus: {} vs {}\n{}\n--- stdout:\n{}",
            exe.display(),
            reference.display(),
            got.describe,
            want.describe,
            first_difference("spacer", &got.stdout, "ld.bfd", &want.stdout),
            excerpt(&got.stdout, 4000)
        );
    }
    got
}

/// One input section as a GNU ld link map lists it.
struct MapInput {
    /// Output section it went to.
    output: String,
    /// Input section name.
    name: String,
    /// File (`/path/libz.a(adler32.o)` or `/path/main.o`).
    file: String,
    size: u64,
}

/// The input sections of a GNU ld link map, and the size of each output section.
fn map_inputs(map: &Path) -> (Vec<MapInput>, Vec<(String, u64)>) {
    let text = fs::read_to_string(map).unwrap_or_else(|e| panic!("reading {}: {e}", map.display()));
    let mut output = String::new();
    let mut outputs = Vec::new();
    let mut inputs = Vec::new();
    let mut pending: Option<String> = None;
    // Only what follows the memory map: the discarded sections come before it.
    let body = text
        .split("Linker script and memory map")
        .nth(1)
        .unwrap_or("");
    for line in body.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            // An output section header: `.text  0xADDR 0xSIZE` (or the name alone).
            let mut it = line.split_whitespace();
            output = it.next().unwrap_or("").to_string();
            if let Some(size) = it.nth(1).and_then(parse_hex) {
                outputs.push((output.clone(), size));
            }
            pending = None;
            continue;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        // ` .text.name  0xADDR  0xSIZE  file`, or ` .text.long_name` then `  0xADDR 0xSIZE file`.
        let (name, size, file) = match toks.as_slice() {
            [name, addr, size, file, ..]
                if name.starts_with('.') && addr.starts_with("0x") && size.starts_with("0x") =>
            {
                (name.to_string(), parse_hex(size), *file)
            }
            [addr, size, file, ..]
                if pending.is_some() && addr.starts_with("0x") && size.starts_with("0x") =>
            {
                (pending.take().unwrap(), parse_hex(size), *file)
            }
            [name] if name.starts_with('.') => {
                pending = Some(name.to_string());
                continue;
            }
            _ => {
                pending = None;
                continue;
            }
        };
        pending = None;
        inputs.push(MapInput {
            output: output.clone(),
            name,
            file: file.to_string(),
            size: size.unwrap_or(0),
        });
    }
    (inputs, outputs)
}

/// Bytes of `.text` input sections that came from `archive_name` (e.g. `libz.a`), and the size
/// of the output `.text`, from a GNU ld link map.
fn text_contribution(map: &Path, archive_name: &str) -> (u64, u64) {
    let (inputs, outputs) = map_inputs(map);
    let needle = format!("/{archive_name}(");
    let from_lib = inputs
        .iter()
        .filter(|i| i.output == ".text")
        .filter(|i| i.file.contains(&needle) || i.file.starts_with(&format!("{archive_name}(")))
        .map(|i| i.size)
        .sum();
    let total = outputs
        .iter()
        .find(|(n, _)| n == ".text")
        .map_or(0, |(_, z)| *z);
    (from_lib, total)
}

/// Output sections that hold code in these programs.
const CODE_SECTIONS: &[&str] = &[".init", ".text", "__libc_freeres_fn", ".fini"];

/// What ideal deduplication of identical input sections would share in a fleet: for each
/// program (from its ld.bfd link map), the bytes of its code input sections that another
/// program also contains, and all its code bytes. Identical means the same input section of the
/// same file: the fleet links the same library files, so such sections have the same bytes
/// and the same relocations; the programs' own objects are different files.
fn ideal_code_sharing(maps: &[PathBuf]) -> Vec<(u64, u64)> {
    let sets: Vec<Vec<(String, u64)>> = maps
        .iter()
        .map(|m| {
            map_inputs(m)
                .0
                .into_iter()
                .filter(|i| CODE_SECTIONS.contains(&i.output.as_str()) && i.size > 0)
                .map(|i| (format!("{}:{}", i.file, i.name), i.size))
                .collect()
        })
        .collect();
    let keys: Vec<std::collections::HashSet<&str>> = sets
        .iter()
        .map(|s| s.iter().map(|(k, _)| k.as_str()).collect())
        .collect();
    sets.iter()
        .enumerate()
        .map(|(i, s)| {
            let shared = s
                .iter()
                .filter(|(k, _)| (0..sets.len()).any(|j| j != i && keys[j].contains(k.as_str())))
                .map(|(_, z)| z)
                .sum();
            (shared, s.iter().map(|(_, z)| z).sum())
        })
        .collect()
}

fn file_size(p: &Path) -> u64 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .len()
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// The layout file must be UTF-8 text that starts with its format header.
fn check_layout_file(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| {
        panic!(
            "the link did not write the layout file {}: {e}",
            path.display()
        )
    });
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("layout file {} is not UTF-8: {e}", path.display()));
    assert!(
        text.starts_with("# spacer layout v"),
        "layout file {} does not start with its header:\n{}",
        path.display(),
        excerpt(text.as_bytes(), 2000)
    );
    text
}

fn copy(from: &Path, to: &Path) {
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

// ---------------------------------------------------------------------------------------------
// Single-library updates
// ---------------------------------------------------------------------------------------------

/// Old → new version of one library in `program`, spacer with one layout file against ld.bfd;
/// then back to the old version with the same layout file.
fn bump(program: &'static str, old: &'static LibVersion, new: &'static LibVersion) {
    let a_set = VersionSet::old();
    let b_set = a_set.with(new);
    let a = build(program, a_set);
    let b = build(program, b_set);
    let dir = scratch_dir("stable", &format!("bump-{}", old.name));
    let layout = dir.join(format!("{program}.layout"));

    let bfd_a = dir.join(format!("{program}-a.bfd"));
    let bfd_b = dir.join(format!("{program}-b.bfd"));
    link_ok(&a, Linker::Bfd, None, &bfd_a);
    link_ok(&b, Linker::Bfd, None, &bfd_b);

    // The changed library's share of the code, from ld.bfd's map of the new version.
    let archive_name = format!("lib{}.a", new.lib);
    let (lib_text, total_text) = text_contribution(
        &PathBuf::from(format!("{}.map", bfd_b.display())),
        &archive_name,
    );
    assert!(
        total_text > 0,
        "no .text size in the ld.bfd map of {}",
        bfd_b.display()
    );
    let lib_fraction = lib_text as f64 / total_text as f64;

    let sp_a = dir.join(format!("{program}-a.spacer"));
    let sp_b = dir.join(format!("{program}-b.spacer"));
    link_ok(&a, Linker::Spacer, Some(&layout), &sp_a);
    let layout_after_a = check_layout_file(&layout);
    check_same(
        &format!("{program} with {}", a_set.describe()),
        &sp_a,
        &bfd_a,
    );
    let notes_b = link_ok(&b, Linker::Spacer, Some(&layout), &sp_b);
    let layout_after_b = check_layout_file(&layout);
    let out_b = check_same(
        &format!("{program} with {}", b_set.describe()),
        &sp_b,
        &bfd_b,
    );
    let version_line = format!("{} {}", new.name, new.version);
    assert!(
        String::from_utf8_lossy(&out_b.stdout).contains(&version_line),
        "the new build does not report {version_line}:\n{}",
        String::from_utf8_lossy(&out_b.stdout)
    );

    // Linking the same thing twice with the same layout file gives the same executable.
    let l1 = dir.join("again1.layout");
    let l2 = dir.join("again2.layout");
    copy(&layout, &l1);
    copy(&layout, &l2);
    let again1 = dir.join(format!("{program}-b-again1.spacer"));
    let again2 = dir.join(format!("{program}-b-again2.spacer"));
    link_ok(&b, Linker::Spacer, Some(&l1), &again1);
    link_ok(&b, Linker::Spacer, Some(&l2), &again2);
    assert!(
        fs::read(&again1).unwrap() == fs::read(&again2).unwrap(),
        "two links of the same inputs with the same layout file differ: {} and {}",
        again1.display(),
        again2.display()
    );
    assert_eq!(
        fs::read(&l1).unwrap(),
        fs::read(&l2).unwrap(),
        "two links with the same layout file wrote different layout files"
    );
    let relink_same = fs::read(&again1).unwrap() == fs::read(&sp_b).unwrap();

    // Back to the old version with the same layout file (A → B → A').
    let sp_a2 = dir.join(format!("{program}-a2.spacer"));
    link_ok(&a, Linker::Spacer, Some(&layout), &sp_a2);
    check_layout_file(&layout);
    check_same(
        &format!(
            "{program} relinked with {} after {}",
            a_set.describe(),
            new.id()
        ),
        &sp_a2,
        &bfd_a,
    );

    let spacer_ab = share(&[&sp_a, &sp_b]);
    let bfd_ab = share(&[&bfd_a, &bfd_b]);
    let spacer_aa = share(&[&sp_a, &sp_a2]);
    let size = |p: &Path| fs::metadata(p).unwrap().len();

    let mut report = String::new();
    let _ = writeln!(
        report,
        "{program}, {} -> {} ({} is {:.1}% of .text: {} of {} bytes)",
        old.id(),
        new.id(),
        archive_name,
        100.0 * lib_fraction,
        lib_text,
        total_text
    );
    let _ = writeln!(
        report,
        "  new image's pages found in the old one: spacer --layout exec {}  ro {}  rw {}",
        spacer_ab[1].exec, spacer_ab[1].read_only, spacer_ab[1].writable
    );
    let _ = writeln!(
        report,
        "                                          ld.bfd          exec {}  ro {}  rw {}",
        bfd_ab[1].exec, bfd_ab[1].read_only, bfd_ab[1].writable
    );
    let _ = writeln!(
        report,
        "  relinking the old version after the update: exec pages shared with the first link {}",
        spacer_aa[1].exec
    );
    let _ = writeln!(
        report,
        "  file size: spacer {} / {} bytes, ld.bfd {} / {} bytes; relink with the final layout file reproduces the new image: {}",
        size(&sp_a),
        size(&sp_b),
        size(&bfd_a),
        size(&bfd_b),
        if relink_same { "yes" } else { "no" }
    );
    if layout_after_a != layout_after_b {
        let _ = writeln!(report, "  the update changed the layout file; spacer said:");
        for l in notes_b.lines() {
            let _ = writeln!(report, "    {l}");
        }
    }
    println!("{report}");

    // The stable layout must beat an ordinary link for every update, and share at least 90% of
    // the new image's executable pages when the changed library is under a tenth of the code.
    let meets = lib_fraction >= 0.10 || spacer_ab[1].exec.ratio() >= TARGET_SHARE;
    println!(
        "  target ({:.0}% of executable pages when the library is under 10% of the code): {}",
        100.0 * TARGET_SHARE,
        if lib_fraction >= 0.10 {
            "not applicable"
        } else if meets {
            "met"
        } else {
            "MISSED"
        }
    );
    assert!(
        spacer_ab[1].exec.ratio() > bfd_ab[1].exec.ratio(),
        "{} update: spacer --layout shares {} of the new image's executable pages, no more than \
         ld.bfd's {}\n{report}\nexecutables and layout file in {}",
        archive_name,
        spacer_ab[1].exec,
        bfd_ab[1].exec,
        dir.display()
    );
    assert!(
        meets,
        "{} update: spacer --layout shares {} of the new image's executable pages, below the \
         target of {:.0}% for a library under a tenth of the code\n{report}\nexecutables and \
         layout file in {}",
        archive_name,
        spacer_ab[1].exec,
        100.0 * TARGET_SHARE,
        dir.display()
    );
}

#[test]
fn bump_zlib() {
    bump("zall", &versions::ZLIB_OLD, &versions::ZLIB_NEW);
}

#[test]
fn bump_zstd() {
    bump("zall", &versions::ZSTD_OLD, &versions::ZSTD_NEW);
}

#[test]
fn bump_lz4() {
    bump("zall", &versions::LZ4_OLD, &versions::LZ4_NEW);
}

#[test]
fn bump_lua() {
    bump("zlua", &versions::LUA_OLD, &versions::LUA_NEW);
}

// ---------------------------------------------------------------------------------------------
// Without --layout
// ---------------------------------------------------------------------------------------------

/// Without `--layout` the link is an ordinary one: the program works, two links are identical
/// and no layout file appears anywhere in the directory the link ran from.
#[test]
fn no_layout_option_is_an_ordinary_link() {
    let b = build("zall", VersionSet::old());
    let dir = scratch_dir("stable", "no-layout");
    let bfd = dir.join("zall.bfd");
    link_ok(&b, Linker::Bfd, None, &bfd);
    let _ = fs::remove_file(format!("{}.map", bfd.display()));
    let mut outputs = Vec::new();
    for n in 1..=2 {
        let out = dir.join(format!("zall-{n}.spacer"));
        let mut flags = b.lib_flags.clone();
        flags.push("-o".into());
        flags.push(out.display().to_string());
        let mut cmd = Command::new("gcc");
        cmd.current_dir(&*dir)
            .arg("-static")
            .arg("-B")
            .arg(format!("{}/", linker_dir().display()))
            .arg(&b.object)
            .args(&flags);
        let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
        assert!(
            r.success() && out.exists(),
            "spacer link failed ({})\n$ {}\n{}",
            r.describe(),
            display_command(&cmd),
            r.stderr_str()
        );
        check_same("zall linked without --layout", &out, &bfd);
        outputs.push(out);
    }
    assert!(
        fs::read(&outputs[0]).unwrap() == fs::read(&outputs[1]).unwrap(),
        "two links without --layout differ"
    );
    let mut names: Vec<String> = fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["zall-1.spacer", "zall-2.spacer", "zall.bfd"],
        "a link without --layout left files behind"
    );
}

// ---------------------------------------------------------------------------------------------
// A fleet of programs sharing one layout file
// ---------------------------------------------------------------------------------------------

/// The five programs on the same library versions, linked one after another with one layout
/// file: every program works; prints how many of each program's code pages exist in another.
#[test]
fn fleet_shares_one_layout_file() {
    let set = VersionSet::old();
    let dir = scratch_dir("stable", "fleet");
    let layout = dir.join("fleet.layout");
    let mut spacer_exes = Vec::new();
    let mut bfd_exes = Vec::new();
    for (program, _) in PROGRAMS {
        let b = build(program, set);
        let (sp, bfd) = link_both(
            &b,
            &layout,
            &dir,
            program,
            &format!("{program} in the fleet"),
        );
        spacer_exes.push(sp);
        bfd_exes.push(bfd);
    }
    // Relinking the first program with the fleet's final layout file keeps it working.
    let first = build(PROGRAMS[0].0, set);
    let relinked = dir.join(format!("{}-relinked.spacer", PROGRAMS[0].0));
    link_ok(&first, Linker::Spacer, Some(&layout), &relinked);
    check_same("zall relinked after the fleet", &relinked, &bfd_exes[0]);

    let mut report = String::from("fleet (");
    report.push_str(&set.describe());
    report.push_str("), executable pages of the row's program found in the column's:\n");
    let _ = write!(report, "{:>10}", "");
    for (p, _) in PROGRAMS {
        let _ = write!(report, " {:>26}", p);
    }
    report.push('\n');
    for (i, (p, _)) in PROGRAMS.iter().enumerate() {
        let _ = write!(report, "{p:>10}");
        for j in 0..PROGRAMS.len() {
            if i == j {
                let _ = write!(report, " {:>26}", "-");
                continue;
            }
            let s = share(&[&spacer_exes[i], &spacer_exes[j]])[0].exec;
            let f = share(&[&bfd_exes[i], &bfd_exes[j]])[0].exec;
            let _ = write!(
                report,
                " {:>26}",
                format!("{:.0}% (bfd {:.0}%)", 100.0 * s.ratio(), 100.0 * f.ratio())
            );
        }
        report.push('\n');
    }
    let sp: Vec<&Path> = spacer_exes.iter().map(|p| p.as_path()).collect();
    let bf: Vec<&Path> = bfd_exes.iter().map(|p| p.as_path()).collect();
    let sp_all = share(&sp);
    let bf_all = share(&bf);
    let _ = writeln!(report, "found in any other program of the fleet:");
    for (i, (p, _)) in PROGRAMS.iter().enumerate() {
        let _ = writeln!(
            report,
            "  {p:>10}: spacer --layout exec {}  ld.bfd exec {}",
            sp_all[i].exec, bf_all[i].exec
        );
    }
    let sum = |v: &[ImageShare]| {
        v.iter().fold(Count::default(), |a, s| Count {
            pages: a.pages + s.exec.pages,
            shared: a.shared + s.exec.shared,
        })
    };
    let (sp_sum, bf_sum) = (sum(&sp_all), sum(&bf_all));
    let _ = writeln!(
        report,
        "  all programs: spacer --layout exec {sp_sum}  ld.bfd exec {bf_sum}"
    );
    // Against ideal deduplication of identical input sections (from ld.bfd's maps).
    let maps: Vec<PathBuf> = bfd_exes
        .iter()
        .map(|e| PathBuf::from(format!("{}.map", e.display())))
        .collect();
    let ideal = ideal_code_sharing(&maps);
    for (i, (p, _)) in PROGRAMS.iter().enumerate() {
        let (shared, total) = ideal[i];
        let _ = writeln!(
            report,
            "  {p:>10}: ideal deduplication of identical input sections: {shared} of {total} code bytes ({:.1}%)",
            100.0 * shared as f64 / total as f64
        );
    }
    let (ideal_shared, ideal_total) = ideal.iter().fold((0, 0), |(a, b), (s, t)| (a + s, b + t));
    let ideal_ratio = ideal_shared as f64 / ideal_total as f64;
    let relative = sp_sum.ratio() / ideal_ratio;
    let _ = writeln!(
        report,
        "  all programs: ideal {:.1}% of code bytes; spacer reaches {:.1}% of that (target 90%)",
        100.0 * ideal_ratio,
        100.0 * relative
    );
    // File size: regions, slack and the regions of libraries a program lacks must not cost
    // more than 15% against ld.bfd.
    let mut too_big = Vec::new();
    for (i, (p, _)) in PROGRAMS.iter().enumerate() {
        let (s, b) = (file_size(&spacer_exes[i]), file_size(&bfd_exes[i]));
        let overhead = s as f64 / b as f64 - 1.0;
        let _ = writeln!(
            report,
            "  {p:>10}: file size spacer --layout {s}, ld.bfd {b} ({:+.1}%)",
            100.0 * overhead
        );
        if overhead >= 0.15 {
            too_big.push(p);
        }
    }
    println!("{report}");
    assert!(
        sp_sum.ratio() > bf_sum.ratio(),
        "one layout file for the fleet should share more code pages than ld.bfd does\n{report}"
    );
    assert!(
        too_big.is_empty(),
        "file size overhead of 15% or more against ld.bfd for {too_big:?}\n{report}"
    );
    assert!(
        relative >= 0.9,
        "the fleet shares less than 90% of what ideal deduplication would\n{report}"
    );
}

/// The programs of a fleet linked at the same time (as `make -j` would) with one layout file:
/// links take turns on the file, so every program's regions end up in it, and every program
/// works.
#[test]
fn fleet_linked_in_parallel() {
    let set = VersionSet::old();
    let dir = scratch_dir("stable", "fleet-parallel");
    let layout = dir.join("fleet.layout");
    let builds: Vec<(&str, Build)> = PROGRAMS.iter().map(|(p, _)| (*p, build(p, set))).collect();
    std::thread::scope(|s| {
        for (program, b) in &builds {
            let (dir, layout) = (&dir, &layout);
            s.spawn(move || {
                link_ok(
                    b,
                    Linker::Spacer,
                    Some(layout),
                    &dir.join(format!("{program}.spacer")),
                );
            });
        }
    });
    let text = check_layout_file(&layout);
    for (program, b) in &builds {
        let bfd = dir.join(format!("{program}.bfd"));
        link_ok(b, Linker::Bfd, None, &bfd);
        let sp = dir.join(format!("{program}.spacer"));
        check_same(&format!("{program}, linked in parallel"), &sp, &bfd);
        let region = format!("region .text {program}.o ");
        assert!(
            text.lines().any(|l| l.starts_with(&region)),
            "the layout file lost {program}'s region (links in parallel overwrote each other):\n{}",
            text.lines()
                .filter(|l| l.starts_with("region .text"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Several updates in a row on one layout file (zlib, then lz4, then zstd, then all three back
/// to their old versions): after each, zall behaves like its ld.bfd twin and shares more of its
/// code pages with the previous image than ld.bfd's build does.
#[test]
fn successive_updates() {
    let dir = scratch_dir("stable", "successive");
    let layout = dir.join("zall.layout");
    let old = VersionSet::old();
    let steps = [
        ("old", old),
        ("zlib", old.with(&versions::ZLIB_NEW)),
        (
            "zlib+lz4",
            old.with(&versions::ZLIB_NEW).with(&versions::LZ4_NEW),
        ),
        (
            "zlib+lz4+zstd",
            old.with(&versions::ZLIB_NEW)
                .with(&versions::LZ4_NEW)
                .with(&versions::ZSTD_NEW),
        ),
        ("back to old", old),
    ];
    let mut report = String::from("zall through successive updates on one layout file:\n");
    let mut prev: Option<(PathBuf, PathBuf)> = None;
    let mut better = true;
    for (i, (name, set)) in steps.iter().enumerate() {
        let b = build("zall", *set);
        let what = format!("zall, step {i} ({name})");
        let (sp, bfd) = link_both(&b, &layout, &dir, &format!("zall-{i}"), &what);
        if let Some((psp, pbfd)) = &prev {
            let s = share(&[psp, &sp])[1].exec;
            let f = share(&[pbfd, &bfd])[1].exec;
            let _ = writeln!(
                report,
                "  step {i} ({name}): spacer --layout {s}  ld.bfd {f}"
            );
            better &= s.ratio() > f.ratio();
        }
        prev = Some((sp, bfd));
    }
    println!("{report}");
    assert!(
        better,
        "an update shared no more than ld.bfd's build\n{report}"
    );
}

/// The whole fleet updated to every library's new version with the layout file of the old
/// fleet: every program still behaves like its ld.bfd twin (also after `strip`), and the new
/// programs share code pages with the old ones (libc, and the libraries' unchanged functions).
#[test]
fn fleet_update_to_new_versions() {
    let old_set = VersionSet::old();
    let mut new_set = old_set;
    for (_, new) in versions::BUMPS {
        new_set = new_set.with(new);
    }
    let dir = scratch_dir("stable", "fleet-update");
    let layout = dir.join("fleet.layout");
    let mut report = format!(
        "fleet updated from {} to {}, executable pages of each new program found in the old fleet:\n",
        old_set.describe(),
        new_set.describe()
    );
    let mut images: Vec<[PathBuf; 4]> = Vec::new();
    for (round, set) in [("old", old_set), ("new", new_set)] {
        for (i, (program, _)) in PROGRAMS.iter().enumerate() {
            let b = build(program, set);
            let what = format!("{program} with {}", set.describe());
            let (sp, bfd) = link_both(&b, &layout, &dir, &format!("{program}-{round}"), &what);
            if round == "old" {
                images.push([sp, bfd, PathBuf::new(), PathBuf::new()]);
            } else {
                images[i][2] = sp;
                images[i][3] = bfd;
            }
        }
    }
    // A stripped image keeps working (its sections split at holes and the room left in the
    // RELRO range survive strip).
    let stripped = dir.join("zall-new.stripped");
    let st = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&images[0][2])
        .status()
        .expect("running strip");
    assert!(st.success(), "strip failed on {}", images[0][2].display());
    check_same(
        "zall with the new versions, stripped",
        &stripped,
        &images[0][3],
    );

    let mut better = true;
    for (i, (p, _)) in PROGRAMS.iter().enumerate() {
        let [_, _, sp_new, bfd_new] = &images[i];
        let olds_sp: Vec<&Path> = images.iter().map(|x| x[0].as_path()).collect();
        let olds_bfd: Vec<&Path> = images.iter().map(|x| x[1].as_path()).collect();
        let with = |olds: &[&Path], new: &Path| {
            let mut all = olds.to_vec();
            all.push(new);
            share(&all).last().unwrap().exec
        };
        let (s, f) = (with(&olds_sp, sp_new), with(&olds_bfd, bfd_new));
        let _ = writeln!(report, "  {p:>10}: spacer --layout {s}  ld.bfd {f}");
        better &= s.ratio() > f.ratio();
    }
    println!("{report}");
    assert!(
        better,
        "after the update, some program shares no more with the old fleet than ld.bfd\n{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// The planner against per-library regions only
// ---------------------------------------------------------------------------------------------

/// Each update of the corpus (and SQLite's, in its own program) with the libraries built as
/// `flavour` says, linked twice with one layout file per mode: `--layout` (the planner) and
/// `--layout-mode=regions` (page-aligned regions at recorded addresses, input sections in their
/// usual order). The planner must share at least as many of the new image's executable pages
/// as regions alone, and leave no more of them unshared; both builds of the new version must
/// behave like ld.bfd's, and `--layout-report` must name the updated library.
fn planner_against_regions(flavour: Flavour) {
    let updates: [(&str, &LibVersion); 5] = [
        ("zall", &versions::ZLIB_NEW),
        ("zall", &versions::ZSTD_NEW),
        ("zall", &versions::LZ4_NEW),
        ("zlua", &versions::LUA_NEW),
        ("zsql", &versions::SQLITE_NEW),
    ];
    let tag = match flavour {
        Flavour::Sections => "sections",
        Flavour::Plain => "plain",
    };
    let mut table = format!(
        "{}: executable pages of the new image found in the old one\n",
        flavour.name()
    );
    let mut failures = Vec::new();
    for (program, new) in updates {
        let old_set = VersionSet::old().built_as(flavour);
        let a = build(program, old_set);
        let b = build(program, old_set.with(new));
        let dir = scratch_dir("stable", &format!("planner-{tag}-{}", new.name));
        let bfd_b = dir.join("b.bfd");
        link_ok(&b, Linker::Bfd, None, &bfd_b);
        let mut got = Vec::new();
        for mode in ["stable", "regions"] {
            let layout = dir.join(format!("{mode}.layout"));
            let _ = fs::remove_file(&layout);
            let with_mode = |x: &Build| Build {
                program: x.program,
                object: x.object.clone(),
                lib_flags: x
                    .lib_flags
                    .iter()
                    .cloned()
                    .chain([
                        format!("-Wl,--layout-mode={mode}"),
                        "-Wl,--layout-report".into(),
                    ])
                    .collect(),
            };
            let sp_a = dir.join(format!("a.{mode}"));
            let sp_b = dir.join(format!("b.{mode}"));
            link_ok(&with_mode(&a), Linker::Spacer, Some(&layout), &sp_a);
            let report = link_ok(&with_mode(&b), Linker::Spacer, Some(&layout), &sp_b);
            check_same(
                &format!("{program} with {} ({}, {mode})", new.id(), flavour.name()),
                &sp_b,
                &bfd_b,
            );
            let archive = format!(" lib{}.a: ", new.lib);
            assert!(
                report
                    .lines()
                    .any(|l| l.starts_with("spacer: layout: .text") && l.contains(&archive))
                    || mode == "regions",
                "--layout-report says nothing of{archive}the .text of {program}:\n{report}"
            );
            got.push(share(&[&sp_a, &sp_b])[1].exec);
        }
        let (planner, regions) = (got[0], got[1]);
        let _ = writeln!(
            table,
            "  {:<14} {:<6} --layout {:>9} ({:5.1}%)   --layout-mode=regions {:>9} ({:5.1}%)",
            new.id(),
            program,
            format!("{}/{}", planner.shared, planner.pages),
            100.0 * planner.ratio(),
            format!("{}/{}", regions.shared, regions.pages),
            100.0 * regions.ratio(),
        );
        if planner.shared < regions.shared
            || planner.pages - planner.shared > regions.pages - regions.shared
        {
            failures.push(format!(
                "{} ({}): --layout shares {}/{} executable pages, regions alone {}/{} (in {})",
                new.id(),
                flavour.name(),
                planner.shared,
                planner.pages,
                regions.shared,
                regions.pages,
                dir.display()
            ));
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "the planner lost to per-library regions:\n{}\n{table}",
        failures.join("\n")
    );
}

#[test]
fn planner_beats_regions_with_function_sections() {
    planner_against_regions(Flavour::Sections);
}

#[test]
fn planner_beats_regions_on_plain_builds() {
    planner_against_regions(Flavour::Plain);
}

// ---------------------------------------------------------------------------------------------
// A fleet planned from all of its link commands (`spacer layout plan`)
// ---------------------------------------------------------------------------------------------

/// The planned fleet: different library sets, one program with SQLite, programs with libm (Lua
/// and SQLite need it), one C++ program with libstdc++.
const PLANNED_FLEET: &[&str] = &["zall", "zlua", "zstdlz4", "zsql", "zcxx"];

/// `spacer layout plan` on the link commands of the whole fleet (and of `zonly` on zlib 1.3.1
/// where the others have 1.2.13), then every program linked with
/// (a copy of) the plan in the fleet's order and in reverse order: the images must be the same
/// whichever order, behave like ld.bfd's, and share at least 90% of what ideal deduplication of
/// identical input sections would (from ld.bfd's link maps). Linking one after another on one
/// layout file without a plan is measured beside it.
fn planned_fleet(flavour: Flavour) {
    let tag = match flavour {
        Flavour::Sections => "sections",
        Flavour::Plain => "plain",
    };
    let set = VersionSet::old().built_as(flavour);
    let mut builds: Vec<Build> = PLANNED_FLEET.iter().map(|p| build(p, set)).collect();
    // And one program on the other zlib release: the plan holds both versions' members.
    builds.push(build("zonly", set.with(&versions::ZLIB_NEW)));
    let dir = scratch_dir("stable", &format!("plan-{tag}"));
    let mut maps = Vec::new();
    let mut bfd = Vec::new();
    for b in &builds {
        let out = dir.join(format!("{}.bfd", b.program));
        link_ok(b, Linker::Bfd, None, &out);
        maps.push(PathBuf::from(format!("{}.map", out.display())));
        bfd.push(out);
    }
    let ideal = ideal_code_sharing(&maps);
    let (ideal_shared, ideal_total) = ideal.iter().fold((0, 0), |(s, t), (a, b)| (s + a, t + b));
    let ideal_ratio = ideal_shared as f64 / ideal_total as f64;

    // The plan, from the commands a build would run (their outputs are not touched).
    let plan = dir.join("fleet.layout");
    let _ = fs::remove_file(&plan);
    let mut cmd = Command::new(spacer_exe());
    cmd.args(["layout", "plan", "--out"]).arg(&plan);
    for b in &builds {
        cmd.arg("--")
            .arg(driver_of(b.program).program())
            .arg("-static")
            .arg(&b.object)
            .args(&b.lib_flags)
            .arg("-o")
            .arg(dir.join(format!("{}.untouched", b.program)));
    }
    let r = must_run(&mut cmd, LINK_TIMEOUT, "spacer layout plan");
    let plan_report = r.stdout_str();
    for b in &builds {
        assert!(
            !dir.join(format!("{}.untouched", b.program)).exists(),
            "spacer layout plan wrote the output a link command names"
        );
    }

    let n = builds.len();
    let forward: Vec<usize> = (0..n).collect();
    let reverse: Vec<usize> = (0..n).rev().collect();
    // Linked with the plan, and one after another on one layout file without it.
    let mut images: BTreeMap<(&str, bool), Vec<PathBuf>> = BTreeMap::new();
    for (name, planned) in [("plan", true), ("one-by-one", false)] {
        for (order_name, order) in [("forward", &forward), ("reverse", &reverse)] {
            let layout = dir.join(format!("{name}-{order_name}.layout"));
            let _ = fs::remove_file(&layout);
            if planned {
                copy(&plan, &layout);
            }
            let mut outs = vec![PathBuf::new(); n];
            for &i in order.iter() {
                let out = dir.join(format!("{}.{name}-{order_name}", builds[i].program));
                link_ok(&builds[i], Linker::Spacer, Some(&layout), &out);
                outs[i] = out;
            }
            images.insert((order_name, planned), outs);
        }
    }
    // Every image runs like ld.bfd's: C++ exceptions too, whose frames a later program's
    // libraries (libstdc++ after the C programs) must not put behind `.eh_frame`'s terminator.
    for ((order_name, planned), outs) in &images {
        for (i, b) in builds.iter().enumerate() {
            check_same(
                &format!(
                    "{} linked {} in {order_name} order ({})",
                    b.program,
                    if *planned {
                        "with the fleet plan"
                    } else {
                        "one by one"
                    },
                    flavour.name()
                ),
                &outs[i],
                &bfd[i],
            );
        }
    }
    for (i, b) in builds.iter().enumerate() {
        let fwd = &images[&("forward", true)][i];
        assert!(
            fs::read(fwd).unwrap() == fs::read(&images[&("reverse", true)][i]).unwrap(),
            "{} linked with the plan differs between the fleet's order and the reverse order \
             ({})",
            b.program,
            dir.display()
        );
    }
    let fleet_share = |outs: &[PathBuf]| -> Count {
        let refs: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
        share(&refs).iter().fold(Count::default(), |mut c, s| {
            c.pages += s.exec.pages;
            c.shared += s.exec.shared;
            c
        })
    };
    let mut report = format!(
        "fleet {:?} + zonly on zlib 1.3.1 ({}): executable pages found in another program; \
         ideal deduplication of identical input sections {:.1}% of code bytes\n",
        PLANNED_FLEET,
        flavour.name(),
        100.0 * ideal_ratio
    );
    let mut planned_of_ideal = 0.0;
    for ((order_name, planned), outs) in &images {
        let c = fleet_share(outs);
        let of_ideal = c.ratio() / ideal_ratio;
        if *planned && *order_name == "forward" {
            planned_of_ideal = of_ideal;
        }
        let _ = writeln!(
            report,
            "  {:<10} {:<8} {}, {:.1}% of ideal",
            if *planned { "plan" } else { "one-by-one" },
            order_name,
            c,
            100.0 * of_ideal
        );
    }
    let _ = write!(report, "  spacer layout plan said: {plan_report}");
    println!("{report}");
    assert!(
        planned_of_ideal >= 0.90,
        "the planned fleet shares {:.1}% of what ideal deduplication would (target 90%)\n{report}",
        100.0 * planned_of_ideal
    );
}

#[test]
fn planned_fleet_with_function_sections() {
    planned_fleet(Flavour::Sections);
}

#[test]
fn planned_fleet_on_plain_builds() {
    planned_fleet(Flavour::Plain);
}

// ---------------------------------------------------------------------------------------------
// For bench/sharing.sh
// ---------------------------------------------------------------------------------------------

/// Builds every library version and writes `target/spacer-corpus/stable/corpus.tsv`.
#[test]
#[ignore = "builds the corpus for bench/sharing.sh"]
fn build_corpus_only() {
    let tsv = versions::build_all();
    println!("corpus: {}", tsv.display());
}

/// A relink with `--layout` and page digests writes the same image and the same layout file
/// whatever the thread count: merging, statement matching, piece identities and placement run
/// in parallel, and none of them may leak the order threads finish in.
#[test]
fn layout_links_do_not_depend_on_thread_count() {
    let b = build("zall", VersionSet::old());
    let dir = scratch_dir("stable", "threads");
    let first = dir.join("first.layout");
    let _ = fs::remove_file(&first);
    link_ok(&b, Linker::Spacer, Some(&first), &dir.join("first.spacer"));
    let mut results: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    for threads in [1, 2, 4] {
        let layout = dir.join(format!("threads{threads}.layout"));
        copy(&first, &layout);
        let mut lib_flags = b.lib_flags.clone();
        lib_flags.push(format!("-Wl,--threads={threads}"));
        lib_flags.push("-Wl,--page-digests".into());
        let bt = Build {
            program: b.program,
            object: b.object.clone(),
            lib_flags,
        };
        let out = dir.join(format!("threads{threads}.spacer"));
        link_ok(&bt, Linker::Spacer, Some(&layout), &out);
        results.push((threads, fs::read(&out).unwrap(), fs::read(&layout).unwrap()));
    }
    let (_, image, layout) = &results[0];
    for (threads, other_image, other_layout) in &results[1..] {
        assert!(
            other_image == image,
            "--threads={threads} wrote another image than --threads=1 (kept in {})",
            dir.display()
        );
        assert!(
            other_layout == layout,
            "--threads={threads} wrote another layout file than --threads=1 (kept in {})",
            dir.display()
        );
    }
}
