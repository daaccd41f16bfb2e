//! GNU ld conformance of the notes and debug sections spacer writes itself, each compared with
//! ld.bfd on the same inputs:
//!
//! - `.note.gnu.property` merged from the inputs (`readelf -n`), its section and its
//!   PT_NOTE / PT_GNU_PROPERTY program headers, with `-z ibt`, `-z shstk`, `-z x86-64-v2`,
//!   `-z cet-report`, in static, static-pie and `-r` links, and as an orphan of a user script;
//! - `--compress-debug-sections=zlib|zstd`: which sections are compressed (`readelf -S`), and
//!   DWARF that reads the same as uncompressed (`readelf --debug-dump`, gdb);
//! - `--package-metadata` (`.note.package`).
//!
//! Programs are run wherever there are programs. Inputs are in `testdata/conformance/`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn conformance_dir() -> PathBuf {
    testdata_dir().join("conformance")
}

fn tools_available() -> bool {
    require_tool("gcc", "gcc") && require_tool("ld.bfd", "binutils")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A C source of `testdata/conformance` compiled with `flags`.
fn c_obj(name: &str, flags: &[&str]) -> PathBuf {
    compile(Driver::Gcc, &conformance_dir().join(name), &strings(flags))
}

/// An assembly source of `testdata/conformance` assembled.
fn asm_obj(name: &str) -> PathBuf {
    compile(Driver::Gcc, &conformance_dir().join(name), &[])
}

/// Runs `spacer ld` or `ld.bfd` directly (no compiler driver, no C library) with `args`.
fn ld(linker: Linker, args: &[String], out: &Path) -> RunResult {
    let _ = fs::remove_file(out);
    let mut cmd = match linker {
        Linker::Spacer => {
            let mut c = Command::new(spacer_exe());
            c.arg("ld");
            c
        }
        Linker::Bfd => Command::new("ld.bfd"),
    };
    cmd.args(args).arg("-o").arg(out);
    run_with_timeout(&mut cmd, LINK_TIMEOUT)
}

/// Links with both linkers through the compiler driver; both must succeed.
fn link_both(dir: &Path, inputs: &[PathBuf], ldflags: &[&str]) -> (PathBuf, PathBuf) {
    let ldflags = strings(ldflags);
    let (bfd, spacer) = (dir.join("out.bfd"), dir.join("out.spacer"));
    let b = link(Driver::Gcc, Linker::Bfd, inputs, &ldflags, &bfd);
    assert!(b.ok(), "{}", b.report(Linker::Bfd));
    let s = link(Driver::Gcc, Linker::Spacer, inputs, &ldflags, &spacer);
    assert!(s.ok(), "{}", s.report(Linker::Spacer));
    (bfd, spacer)
}

/// Links with both linkers directly; both must succeed.
fn ld_both(dir: &Path, args: &[String]) -> (PathBuf, PathBuf) {
    let (bfd, spacer) = (dir.join("out.bfd"), dir.join("out.spacer"));
    let b = ld(Linker::Bfd, args, &bfd);
    assert!(b.success(), "ld.bfd {args:?}: {}", b.stderr_str());
    let s = ld(Linker::Spacer, args, &spacer);
    assert!(s.success(), "spacer ld {args:?}: {}", s.stderr_str());
    (bfd, spacer)
}

/// `readelf -n`, without the build ID's value (a hash of the whole image).
fn notes(path: &Path) -> String {
    tool(&["readelf", "-nW", &path.to_string_lossy()])
        .lines()
        .filter(|l| !l.contains("Build ID:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The note sections in header order (name, alignment, size) and the PT_NOTE and
/// PT_GNU_PROPERTY headers (alignment, size, sections): what the note layout decides, without
/// the addresses, which differ with the size of the program headers.
fn note_layout(path: &Path) -> Vec<String> {
    let p = path.to_string_lossy();
    let mut out: Vec<String> = tool(&["readelf", "-SW", &p])
        .lines()
        .filter_map(|l| {
            let l = l.split_once(']')?.1;
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"NOTE"))
                .then(|| format!("section {} align {} size {}", f[0], f[f.len() - 1], f[4]))
        })
        .collect();
    let segs = tool(&["readelf", "-lW", &p]);
    let headers: Vec<Vec<&str>> = segs
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Type"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mapping: Vec<&str> = segs
        .lines()
        .skip_while(|l| !l.contains("Section to Segment mapping"))
        .skip(2)
        .collect();
    for (i, h) in headers.iter().enumerate() {
        if h[0] == "NOTE" || h[0] == "GNU_PROPERTY" {
            let secs = mapping
                .get(i)
                .map(|m| m.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            out.push(format!(
                "{} align {} filesz {} [{secs}]",
                h[0],
                h[h.len() - 1],
                h[4]
            ));
        }
    }
    out
}

/// The property note and the note layout of spacer's output must be ld.bfd's.
fn assert_same_notes(case: &str, bfd: &Path, spacer: &Path) {
    assert_eq!(
        notes(spacer),
        notes(bfd),
        "{case}: readelf -n of spacer's output (left) differs from ld.bfd's (right)"
    );
    assert_eq!(
        note_layout(spacer),
        note_layout(bfd),
        "{case}: note sections and segments of spacer's output (left) differ from ld.bfd's"
    );
}

fn run_both(dir: &Path, bfd: &Path, spacer: &Path) {
    let b = run_program(bfd, &[], dir);
    let s = run_program(spacer, &[], dir);
    assert!(b.success(), "ld.bfd's program failed: {}", b.describe());
    assert!(s.success(), "spacer's program failed: {}", s.describe());
    assert_eq!(s.stdout_str(), b.stdout_str(), "program output");
}

fn property_line(path: &Path) -> String {
    notes(path)
        .lines()
        .skip_while(|l| !l.contains(".note.gnu.property"))
        .filter(|l| l.contains("Properties:") || l.starts_with('\t'))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// .note.gnu.property
// ---------------------------------------------------------------------------------------------

/// C objects built with -fcf-protection linked against glibc's static objects (which lack
/// the IBT/SHSTK property, so the AND drops it, while crt1.o's ISA-needed property is ORed
/// in), then with `-z ibt -z shstk` forcing the marking on, with and without -fcf-protection,
/// static and static-pie: the merged note and its segments as ld.bfd writes them.
#[test]
fn gnu_property_of_c_programs() {
    if !tools_available() {
        return;
    }
    let cet = [
        c_obj("cet_main.c", &["-O2", "-fcf-protection"]),
        c_obj("cet_other.c", &["-O2", "-fcf-protection"]),
    ];
    let nocet = [
        c_obj("cet_main.c", &["-O2", "-fcf-protection=none"]),
        c_obj("cet_other.c", &["-O2", "-fcf-protection=none"]),
    ];
    let pie = [
        c_obj("cet_main.c", &["-O2", "-fPIE", "-fcf-protection"]),
        c_obj("cet_other.c", &["-O2", "-fPIE", "-fcf-protection"]),
    ];
    let cases: [(&str, &[PathBuf], &[&str], &str); 5] = [
        ("cet-glibc", &cet, &[], "x86 ISA needed: x86-64-baseline"),
        ("cet-forced", &cet, &["-Wl,-z,ibt,-z,shstk"], "IBT, SHSTK"),
        (
            "nocet-ibt",
            &nocet,
            &["-Wl,-z,ibt", "-Wl,--build-id"],
            "IBT",
        ),
        ("nocet-isa", &nocet, &["-Wl,-z,x86-64-v2"], "x86-64-v2"),
        (
            "pie-forced",
            &pie,
            &["-static-pie", "-Wl,-z,ibt,-z,shstk"],
            "IBT, SHSTK",
        ),
    ];
    for (case, inputs, flags, expect) in cases {
        let dir = scratch_dir("conformance_notes", case);
        let (bfd, spacer) = link_both(&dir, inputs, flags);
        // The case must be about something: ld.bfd writes the property it is named for.
        assert!(
            property_line(&bfd).contains(expect),
            "{case}: ld.bfd's property note is not what the test expects: {}",
            property_line(&bfd)
        );
        assert_same_notes(case, &bfd, &spacer);
        run_both(&dir, &bfd, &spacer);
    }
}

/// Hand-written property notes of every merge kind (AND, OR, OR-and-AND, stack size, no
/// copy on protected), in final links and in `-r` links (whose output is linked again).
#[test]
fn gnu_property_merge_rules() {
    if !tools_available() {
        return;
    }
    let o = |n: &str| {
        asm_obj(&format!("props_{n}.s"))
            .to_string_lossy()
            .into_owned()
    };
    let cases: [(&str, Vec<String>); 7] = [
        ("alone", vec![o("start")]),
        ("and-ibt", vec![o("start"), o("ibt")]),
        ("or-and", vec![o("start"), o("full")]),
        ("missing", vec![o("start"), o("full"), o("none")]),
        ("stack-max", vec![o("start"), o("full"), o("stack")]),
        (
            "forced",
            vec![
                "-z".into(),
                "shstk".into(),
                o("start"),
                o("ibt"),
                o("stack"),
            ],
        ),
        (
            "isa-level",
            vec!["-z".into(), "x86-64-v3".into(), o("start"), o("ibt")],
        ),
    ];
    for (case, args) in cases {
        let dir = scratch_dir("conformance_notes", &format!("merge-{case}"));
        let (bfd, spacer) = ld_both(&dir, &args);
        assert_same_notes(case, &bfd, &spacer);
        run_both(&dir, &bfd, &spacer);

        // The same inputs merged by a partial link, then linked alone.
        let mut r = vec!["-r".to_string()];
        r.extend(args.iter().cloned());
        let rdir = scratch_dir("conformance_notes", &format!("merge-{case}-r"));
        let (rbfd, rspacer) = ld_both(&rdir, &r);
        assert_eq!(
            notes(&rspacer),
            notes(&rbfd),
            "{case} -r: readelf -n of spacer's object (left) differs from ld.bfd's"
        );
        let again = rdir.join("again");
        let s = ld(
            Linker::Spacer,
            &[rspacer.to_string_lossy().into_owned()],
            &again,
        );
        assert!(
            s.success(),
            "{case}: linking spacer's -r output: {}",
            s.stderr_str()
        );
        assert_eq!(
            property_line(&again),
            property_line(&spacer),
            "{case}: the -r output linked alone has another property note"
        );
    }
}

/// With a linker script that names no notes (and one that names only the build ID), the
/// property note is an orphan: GNU ld keeps notes grouped by alignment, the 8-byte aligned
/// property note in its own PT_NOTE.
#[test]
fn gnu_property_orphan_in_user_script() {
    if !tools_available() {
        return;
    }
    let o = |n: &str| {
        asm_obj(&format!("props_{n}.s"))
            .to_string_lossy()
            .into_owned()
    };
    let script = |n: &str| conformance_dir().join(n).to_string_lossy().into_owned();
    for (case, lds, extra) in [
        ("orphans", "notes.lds", None),
        ("build-id", "notes_buildid.lds", Some("--build-id")),
    ] {
        let mut args = vec!["-T".to_string(), script(lds)];
        args.extend(extra.map(String::from));
        args.extend([o("none"), o("start"), o("full")]);
        let dir = scratch_dir("conformance_notes", &format!("script-{case}"));
        let (bfd, spacer) = ld_both(&dir, &args);
        assert!(
            note_layout(&bfd)
                .iter()
                .any(|l| l.starts_with("GNU_PROPERTY")),
            "{case}: ld.bfd wrote no PT_GNU_PROPERTY: {:?}",
            note_layout(&bfd)
        );
        assert_same_notes(case, &bfd, &spacer);
        run_both(&dir, &bfd, &spacer);
    }
}

/// The inputs `-z cet-report` names, from ld.bfd's or spacer's messages.
fn reported(stderr: &str) -> Vec<String> {
    let mut v: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("missing"))
        .map(|l| {
            let file = l
                .split(": ")
                .find(|w| w.ends_with(".o"))
                .unwrap_or("?")
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let what = l.split("missing ").nth(1).unwrap_or("").to_string();
            format!("{file}: {what}")
        })
        .collect();
    v.sort();
    v
}

/// `-z cet-report=warning` warns about the inputs ld.bfd warns about (and `--fatal-warnings`
/// makes that fatal); `=error` fails the link without output, naming them.
#[test]
fn cet_report() {
    if !tools_available() {
        return;
    }
    let o = |n: &str| {
        asm_obj(&format!("props_{n}.s"))
            .to_string_lossy()
            .into_owned()
    };
    let inputs = [o("start"), o("ibt"), o("none")];
    let dir = scratch_dir("conformance_notes", "cet-report");
    for (mode, extra, fails) in [
        ("warning", None, false),
        ("warning", Some("--fatal-warnings"), true),
        ("error", None, true),
        ("warning", Some("-zibt"), false),
    ] {
        let mut args = vec!["-z".to_string(), format!("cet-report={mode}")];
        args.extend(extra.map(String::from));
        args.extend(inputs.iter().cloned());
        let (bfd_out, spacer_out) = (dir.join("out.bfd"), dir.join("out.spacer"));
        let b = ld(Linker::Bfd, &args, &bfd_out);
        let s = ld(Linker::Spacer, &args, &spacer_out);
        let what = format!("-z cet-report={mode} {extra:?}");
        assert_eq!(b.success(), !fails, "{what}: ld.bfd: {}", b.stderr_str());
        assert_eq!(s.success(), !fails, "{what}: spacer: {}", s.stderr_str());
        assert_eq!(spacer_out.exists(), !fails, "{what}: spacer's output file");
        if fails {
            assert_eq!(s.code(), Some(1), "{what}: spacer's exit status");
        }
        let (rb, rs) = (reported(&b.stderr_str()), reported(&s.stderr_str()));
        assert!(!rb.is_empty(), "{what}: ld.bfd reported nothing");
        assert_eq!(
            rs, rb,
            "{what}: inputs spacer reports (left) and ld.bfd (right)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// --compress-debug-sections
// ---------------------------------------------------------------------------------------------

/// Section name → flags of the `.debug_*` sections.
fn debug_flags(path: &Path) -> Vec<(String, String)> {
    tool(&["readelf", "-SW", &path.to_string_lossy()])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_once(']')?.1.split_whitespace().collect();
            let name = f.first()?.to_string();
            // Flags sit between the entry size and the link field; none shows as no field.
            let flags = if f.len() == 10 { f[6] } else { "" };
            name.starts_with(".debug")
                .then(|| (name, flags.to_string()))
        })
        .collect()
}

fn is_compressed(path: &Path, name: &str) -> bool {
    debug_flags(path)
        .iter()
        .any(|(n, f)| n == name && f.contains('C'))
}

fn dwarf_dump(path: &Path) -> String {
    tool(&[
        "readelf",
        "--debug-dump=info,abbrev,line,decodedline,str",
        &path.to_string_lossy(),
    ])
    .lines()
    .filter(|l| !l.starts_with("File:"))
    .collect::<Vec<_>>()
    .join("\n")
}

/// The decoded line table with each address as an offset from the start of its sequence
/// (the two linkers put the code at different addresses).
fn relative_lines(path: &Path) -> Vec<String> {
    let dump = tool(&[
        "readelf",
        "--debug-dump=decodedline",
        &path.to_string_lossy(),
    ]);
    let mut base: Option<u64> = None;
    let mut out = Vec::new();
    for l in dump.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(at) = f.iter().position(|w| w.starts_with("0x")) else {
            continue;
        };
        let addr = u64::from_str_radix(&f[at][2..], 16).unwrap();
        let b = *base.get_or_insert(addr);
        out.push(format!(
            "{} {} +{:#x} {}",
            f[0],
            f[1],
            addr - b,
            f[at + 1..].join(" ")
        ));
        if f[1] == "-" {
            base = None; // end of sequence
        }
    }
    out
}

/// gdb's view of the program's lines: where `main` and `sum_labels` start.
fn gdb_lines(path: &Path) -> String {
    let r = must_run(
        Command::new("gdb").args([
            "-batch",
            "-nx",
            "-ex",
            "info line sum_labels",
            "-ex",
            "info line main",
            &path.to_string_lossy(),
        ]),
        RUN_TIMEOUT,
        "gdb",
    );
    // Keep "Line N of "file"", not the addresses.
    let text = r.stdout_str();
    text.lines()
        .map(|l| l.split(" starts at").next().unwrap_or(l).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A -g program linked with `--compress-debug-sections=zlib` and `=zstd`: the sections ld.bfd
/// compresses are compressed, the DWARF reads exactly as spacer's uncompressed image's, the
/// line table corresponds to ld.bfd's, gdb finds the same lines, and the programs run.
#[test]
fn compressed_debug_sections() {
    if !tools_available() || !require_tool("gdb", "gdb") {
        return;
    }
    let obj = c_obj("debug_prog.c", &["-O1", "-g"]);
    let dir = scratch_dir("conformance_notes", "compress");
    let plain = dir.join("plain.spacer");
    let l = link(
        Driver::Gcc,
        Linker::Spacer,
        std::slice::from_ref(&obj),
        &[],
        &plain,
    );
    assert!(l.ok(), "{}", l.report(Linker::Spacer));
    for kind in ["zlib", "zstd"] {
        let flag = format!("-Wl,--compress-debug-sections={kind}");
        let (bfd, spacer) = link_both(&dir, std::slice::from_ref(&obj), &[&flag]);
        for name in [".debug_info", ".debug_line", ".debug_abbrev"] {
            assert!(
                is_compressed(&bfd, name),
                "{kind}: ld.bfd left {name} as is"
            );
            assert!(
                is_compressed(&spacer, name),
                "{kind}: {name} is not compressed: {:?}",
                debug_flags(&spacer)
            );
        }
        // A section ld.bfd leaves uncompressed because it would not shrink stays so.
        for (name, flags) in debug_flags(&bfd) {
            if !flags.contains('C') && debug_flags(&spacer).iter().any(|(n, _)| *n == name) {
                assert!(
                    !is_compressed(&spacer, &name),
                    "{kind}: {name} grew compressed"
                );
            }
        }
        assert_eq!(
            dwarf_dump(&spacer),
            dwarf_dump(&plain),
            "{kind}: the compressed image's DWARF (left) reads differently from the plain one's"
        );
        assert_eq!(
            relative_lines(&spacer),
            relative_lines(&bfd),
            "{kind}: spacer's line table (left) does not correspond to ld.bfd's"
        );
        let (s, b) = (gdb_lines(&spacer), gdb_lines(&bfd));
        assert!(s.contains("Line "), "{kind}: gdb found no lines: {s}");
        assert_eq!(
            s, b,
            "{kind}: gdb's lines of spacer's image (left) and ld.bfd's"
        );
        run_both(&dir, &bfd, &spacer);
    }
}

/// `-r --compress-debug-sections`: the partial link compresses its debug sections as ld.bfd
/// does, and linking the result (reading the compressed sections) gives the line table of the
/// uncompressed link.
#[test]
fn compressed_debug_sections_partial_link() {
    if !tools_available() {
        return;
    }
    let obj = c_obj("debug_prog.c", &["-O1", "-g"]);
    let dir = scratch_dir("conformance_notes", "compress-r");
    let args = vec![
        "-r".to_string(),
        "--compress-debug-sections=zstd".into(),
        obj.to_string_lossy().into_owned(),
    ];
    let (bfd, spacer) = ld_both(&dir, &args);
    for name in [".debug_info", ".debug_line", ".debug_abbrev"] {
        assert!(is_compressed(&bfd, name), "ld.bfd -r left {name} as is");
        assert!(is_compressed(&spacer, name), "spacer -r left {name} as is");
    }
    let (exe, plain) = (dir.join("exe"), dir.join("plain"));
    let l = link(Driver::Gcc, Linker::Spacer, &[spacer], &[], &exe);
    assert!(l.ok(), "{}", l.report(Linker::Spacer));
    let l = link(Driver::Gcc, Linker::Spacer, &[obj], &[], &plain);
    assert!(l.ok(), "{}", l.report(Linker::Spacer));
    assert_eq!(relative_lines(&exe), relative_lines(&plain));
    let r = run_program(&exe, &[], &dir);
    assert!(r.success(), "{}", r.describe());
}

/// The legacy GNU format (`.zdebug_*` sections) is one spacer does not write: a clear error
/// naming the option, exit status 1, no output.
#[test]
fn compress_debug_sections_zlib_gnu_is_refused() {
    if !tools_available() {
        return;
    }
    let dir = scratch_dir("conformance_notes", "compress-zlib-gnu");
    let out = dir.join("out");
    let obj = asm_obj("props_start.s");
    let args = vec![
        "--compress-debug-sections=zlib-gnu".to_string(),
        obj.to_string_lossy().into_owned(),
    ];
    let b = ld(Linker::Bfd, &args, &dir.join("out.bfd"));
    assert!(b.success(), "ld.bfd accepts zlib-gnu: {}", b.stderr_str());
    let s = ld(Linker::Spacer, &args, &out);
    assert_eq!(s.code(), Some(1), "{}", s.describe());
    assert!(
        s.stderr_str().contains("error") && s.stderr_str().contains("zlib-gnu"),
        "{}",
        s.stderr_str()
    );
    assert!(!out.exists(), "spacer left an output file");
}

// ---------------------------------------------------------------------------------------------
// --package-metadata
// ---------------------------------------------------------------------------------------------

/// `--package-metadata=JSON` writes the `.note.package` ld.bfd writes, among the other notes
/// where ld.bfd puts it; text that is not JSON gives a warning and no note with both.
#[test]
fn package_metadata_note() {
    if !tools_available() {
        return;
    }
    let objs = [
        c_obj("cet_main.c", &["-O2"]),
        c_obj("cet_other.c", &["-O2"]),
    ];
    let json = r#"{"type":"deb","os":"debian","name":"spacer-test","version":"1.0-1"}"#;
    let cases = [
        ("package", format!("--package-metadata={json}"), true),
        (
            "package-odd-length",
            r#"--package-metadata={"a":"bc"}"#.into(),
            true,
        ),
        (
            "package-invalid",
            "--package-metadata=not json".into(),
            false,
        ),
    ];
    for (case, flag, written) in cases {
        let dir = scratch_dir("conformance_notes", case);
        let flags = ["-Xlinker", flag.as_str(), "-Wl,--build-id"];
        let (bfd, spacer) = link_both(&dir, &objs, &flags);
        assert_eq!(
            notes(&bfd).contains("FDO_PACKAGING_METADATA"),
            written,
            "{case}: ld.bfd's notes: {}",
            notes(&bfd)
        );
        assert_same_notes(case, &bfd, &spacer);
        run_both(&dir, &bfd, &spacer);
    }
    // Without a value the option asks for nothing and takes no argument.
    let dir = scratch_dir("conformance_notes", "package-no-value");
    let start = asm_obj("props_start.s").to_string_lossy().into_owned();
    let (bfd, spacer) = ld_both(&dir, &["--package-metadata".into(), start]);
    assert_same_notes("package-no-value", &bfd, &spacer);
}
