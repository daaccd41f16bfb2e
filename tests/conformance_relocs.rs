//! GNU ld conformance: the command line, `--emit-relocs`, `-r` with more than 65,535 sections,
//! and `--discard-locals` / `--discard-all`. Each test links the same input with spacer and with
//! ld.bfd (the reference) and compares what the item is about, running the programs where there
//! are programs.
//!
//! - `one_dash_words_read_as_gnu_ld_reads_them`: words such as `-emit-relocs`, `-estart`,
//!   `-omagic`, `-output=x`, `-en` run through both linkers directly (no compiler driver, so
//!   that every word reaches the linker as given); the same command lines must fail or succeed,
//!   write the same files, and give programs with the same entry symbol and exit status.
//! - `emit_relocs_match_gnu_ld`, `emit_relocs_with_libc`: `-q` images have ld.bfd's relocation
//!   sections, relocation by relocation (freestanding) or by count and TLS types (with glibc),
//!   with and without `--gc-sections`, and run alike, also after `strip`.
//! - `discard_locals_match_gnu_ld`: the local symbols kept by default, `-X`, `-x` and
//!   `--discard-none` in final, `-q` and `-r` links are ld.bfd's.
//! - `partial_link_with_extended_section_numbering`: `-r` of an object with 70,000 sections
//!   reads and writes ELF extended section numbering; programs linked from it run.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn conformance_dir() -> PathBuf {
    testdata_dir().join("conformance")
}

fn tools_available() -> bool {
    require_tool("gcc", "gcc")
        && require_tool("ld.bfd", "binutils")
        && require_tool("readelf", "binutils")
        && require_tool("nm", "binutils")
}

/// One of the two linkers, run directly (`spacer ld …` or `ld.bfd …`).
fn ld_command(linker: Linker) -> Command {
    match linker {
        Linker::Spacer => {
            let mut c = Command::new(spacer_exe());
            c.arg("ld").arg("--no-fork");
            c
        }
        Linker::Bfd => Command::new("ld.bfd"),
    }
}

/// What a direct link did: whether it succeeded, which files it left in its (otherwise empty)
/// directory, and for each of them the symbol at its entry point and its exit status when run.
#[derive(Debug, PartialEq, Eq)]
struct DirectLink {
    success: bool,
    files: Vec<(String, String, Option<i32>)>,
}

fn direct_link(linker: Linker, dir: &Path, args: &[&str]) -> (DirectLink, String) {
    fs::create_dir_all(dir).unwrap();
    let mut cmd = ld_command(linker);
    cmd.args(args).current_dir(dir);
    let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let files = names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let run = run_program(&path, &[], dir);
            (name, entry_symbol(&path), run.code())
        })
        .collect();
    let report = format!(
        "{}: $ {}\n{}",
        linker.name(),
        display_command(&cmd),
        r.stderr_str()
    );
    (
        DirectLink {
            success: r.success(),
            files,
        },
        report,
    )
}

/// The global symbol at the entry point of an executable.
fn entry_symbol(exe: &Path) -> String {
    let exe = exe.to_str().unwrap();
    let header = tool(&["readelf", "-h", exe]);
    let entry = header
        .lines()
        .find_map(|l| l.trim().strip_prefix("Entry point address:"))
        .map(|v| u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).unwrap())
        .expect("readelf -h shows the entry point");
    tool(&["nm", exe])
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let value = u64::from_str_radix(f.next()?, 16).ok()?;
            let class = f.next()?;
            let name = f.next()?;
            (value == entry && class == "T").then(|| name.to_string())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn one_dash_words_read_as_gnu_ld_reads_them() {
    if !tools_available() {
        return;
    }
    let obj = compile(Driver::Gcc, &conformance_dir().join("entries.s"), &[]);
    let obj = obj.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["-estart"],
        &["-entry=foo"],
        &["-entr=foo"],
        &["-e", "foo"],
        &["-omagic"],
        &["-output=x"],
        &["--outp=zz"],
        &["-gc-sections", "-print-gc-sections"],
        &["-static", "-no-pie", "-nostdlib"],
        &["-non"],
        &["-Bstatic", "-whole-archive", "-no-whole-archive"],
        &["-sS"],
        &["-emit-relocs"],
        &["-q"],
        &["-en"],
        &["-dTfoo"],
        &["-Tb"],
        &["--gc"],
        &["-ex"],
    ];
    let dir = scratch_dir("conformance", "one_dash_words");
    let mut failures = Vec::new();
    for (n, words) in cases.iter().enumerate() {
        // The output file is named by `-o` first, so that a word that names it again wins.
        let mut args = vec!["-o", "out"];
        args.extend_from_slice(words);
        args.push(obj);
        let (ours, ours_report) =
            direct_link(Linker::Spacer, &dir.join(format!("{n}.spacer")), &args);
        let (theirs, theirs_report) =
            direct_link(Linker::Bfd, &dir.join(format!("{n}.bfd")), &args);
        if ours != theirs {
            failures.push(format!(
                "{words:?}:\n  spacer: {ours:?}\n  ld.bfd: {theirs:?}\n{ours_report}\n{theirs_report}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// --emit-relocs
// ---------------------------------------------------------------------------------------------

/// One relocation of an image as `readelf -rW` shows it, with its place and target named by
/// the symbols around them, so that two images with different addresses compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NamedReloc {
    place: String,
    ty: String,
    /// The symbol as readelf names it (an output section's name for a section symbol).
    symbol: String,
    /// Symbol value + addend, named.
    target: String,
}

/// `nm -n --defined-only`, and the start of every allocated section as `[name]` (so that a
/// place in a section without symbols is named by its offset there): (address, name), sorted,
/// a section's start before the symbols at the same address.
fn defined_symbols(exe: &Path) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, bool, String)> =
        tool(&["nm", "-n", "--defined-only", exe.to_str().unwrap()])
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let [value, _class, name] = f[..] else {
                    return None;
                };
                Some((u64::from_str_radix(value, 16).ok()?, true, name.to_string()))
            })
            .collect();
    for line in tool(&["readelf", "-SW", exe.to_str().unwrap()]).lines() {
        let Some((_, rest)) = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
        else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(name), Some(addr)) = (
            f.first(),
            f.get(2).and_then(|a| u64::from_str_radix(a, 16).ok()),
        ) {
            if addr != 0 {
                out.push((addr, false, format!("[{name}]")));
            }
        }
    }
    out.sort();
    out.into_iter().map(|(a, _, n)| (a, n)).collect()
}

/// `name+offset` of the nearest symbol at or below `v`.
fn symbolize(symbols: &[(u64, String)], v: u64) -> String {
    let at = symbols.partition_point(|(a, _)| *a <= v);
    match at.checked_sub(1).map(|i| &symbols[i]) {
        Some((a, name)) => format!("{name}+{:#x}", v - a),
        None => format!("{v:#x}"),
    }
}

/// Types whose field holds S + A - P with the field 4 bytes before the instruction's end: their
/// target is named at S + A + 4, the place they refer to.
fn pc_relative(ty: &str) -> bool {
    matches!(
        ty,
        "R_X86_64_PC32"
            | "R_X86_64_PLT32"
            | "R_X86_64_GOTPCREL"
            | "R_X86_64_GOTPCRELX"
            | "R_X86_64_REX_GOTPCRELX"
            | "R_X86_64_GOTTPOFF"
            | "R_X86_64_TLSGD"
            | "R_X86_64_TLSLD"
            | "R_X86_64_GOTPC32_TLSDESC"
    )
}

/// The relocation sections `--emit-relocs` wrote (not the image's own `.rela.plt`), by name.
fn emitted_relocs(exe: &Path) -> std::collections::BTreeMap<String, Vec<NamedReloc>> {
    let symbols = defined_symbols(exe);
    let mut out = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in tool(&["readelf", "-rW", exe.to_str().unwrap()]).lines() {
        if let Some(rest) = line.strip_prefix("Relocation section '") {
            let name = rest.split('\'').next().unwrap().to_string();
            current = (!matches!(name.as_str(), ".rela.plt" | ".rela.dyn" | ".rela.iplt"))
                .then(|| name.clone());
            if let Some(n) = &current {
                out.insert(n.clone(), Vec::new());
            }
            continue;
        }
        let (Some(sec), Some(first)) = (&current, line.split_whitespace().next()) else {
            continue;
        };
        let Ok(place) = u64::from_str_radix(first, 16) else {
            continue;
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let ty = f[2].to_string();
        let r = if ty == "R_X86_64_NONE" {
            // Where GNU ld puts the no-ops is its own business; that they are there counts.
            NamedReloc {
                place: String::new(),
                ty,
                symbol: String::new(),
                target: String::new(),
            }
        } else if f.len() == 7 {
            let addend = i64::from_str_radix(f[6], 16).unwrap() * if f[5] == "-" { -1 } else { 1 };
            let adjust = if pc_relative(&ty) { 4 } else { 0 };
            // readelf shows an IFUNC as `name()` instead of its value.
            let target = match u64::from_str_radix(f[3], 16) {
                Ok(value) => symbolize(
                    &symbols,
                    value.wrapping_add(addend as u64).wrapping_add(adjust),
                ),
                Err(_) => format!("{}{addend:+}", f[3]),
            };
            NamedReloc {
                place: symbolize(&symbols, place),
                symbol: f[4].to_string(),
                target,
                ty,
            }
        } else {
            NamedReloc {
                place: symbolize(&symbols, place),
                symbol: String::new(),
                target: f.last().unwrap().to_string(),
                ty,
            }
        };
        out.get_mut(sec).unwrap().push(r);
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// `readelf -SW` rows: (index, name, type, flags, link, info). The null section has no name,
/// and readelf spells SHT_SYMTAB_SHNDX in three words.
fn section_headers(exe: &Path) -> Vec<(u32, String, String, String, u32, u32)> {
    tool(&["readelf", "-SW", exe.to_str().unwrap()])
        .lines()
        .filter_map(|l| {
            let (idx, rest) = l.trim_start().strip_prefix('[')?.split_once(']')?;
            let idx: u32 = idx.trim().parse().ok()?;
            let rest = rest.replace("SYMTAB SECTION INDICES", "SYMTAB_SHNDX");
            let mut f: Vec<&str> = rest.split_whitespace().collect();
            if f.first() == Some(&"NULL") {
                f.insert(0, "");
            }
            // name type addr off size es [flags] lk inf al
            let (flags, lk, inf) = match f.len() {
                10 => (f[6], f[7], f[8]),
                9 => ("", f[6], f[7]),
                _ => return None,
            };
            Some((
                idx,
                f[0].to_string(),
                f[1].to_string(),
                flags.to_string(),
                lk.parse().ok()?,
                inf.parse().ok()?,
            ))
        })
        .collect()
}

/// Every `.rela.X` of an image is a RELA section with SHF_INFO_LINK, linked to `.symtab`, whose
/// sh_info is section X.
fn check_rela_headers(exe: &Path) {
    let shdrs = section_headers(exe);
    let name_of = |i: u32| {
        shdrs
            .iter()
            .find(|s| s.0 == i)
            .map(|s| s.1.clone())
            .unwrap_or_default()
    };
    let mut seen = 0;
    for (_, name, ty, flags, link, info) in &shdrs {
        let Some(target) = name.strip_prefix(".rela") else {
            continue;
        };
        if name == ".rela.plt" || name == ".rela.dyn" || name == ".rela.iplt" {
            continue;
        }
        seen += 1;
        assert_eq!(ty, "RELA", "{name} in {}", exe.display());
        assert!(flags.contains('I'), "{name} lacks SHF_INFO_LINK: {flags}");
        assert_eq!(name_of(*link), ".symtab", "{name}: sh_link");
        assert_eq!(name_of(*info), target, "{name}: sh_info");
    }
    assert!(seen > 0, "{} has no relocation sections", exe.display());
}

/// Freestanding: every relocation compared one by one (place, type, symbol, target), with and
/// without --gc-sections; the relaxed GOT loads and calls have ld.bfd's types; both programs
/// exit alike, also spacer's after `strip`.
#[test]
fn emit_relocs_match_gnu_ld() {
    if !tools_available() || !require_tool("strip", "binutils") {
        return;
    }
    let flags: Vec<String> = [
        "-O2",
        "-fPIC",
        "-fno-plt",
        "-ffunction-sections",
        "-fdata-sections",
        "-fno-stack-protector",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let obj = compile(
        Driver::Gcc,
        &conformance_dir().join("emit_relocs.c"),
        &flags,
    );
    let dir = scratch_dir("conformance", "emit_relocs");
    for (n, extra) in [&[][..], &["--gc-sections"][..]].iter().enumerate() {
        let exe = |l: Linker| dir.join(format!("{n}.{}", l.name()));
        for l in [Linker::Spacer, Linker::Bfd] {
            let mut cmd = ld_command(l);
            cmd.arg("-q").args(*extra).arg("-o").arg(exe(l)).arg(&obj);
            must_run(&mut cmd, LINK_TIMEOUT, l.name());
        }
        let (ours, theirs) = (exe(Linker::Spacer), exe(Linker::Bfd));
        check_rela_headers(&ours);
        assert_eq!(
            emitted_relocs(&ours),
            emitted_relocs(&theirs),
            "{extra:?}: spacer's relocations (left) against ld.bfd's"
        );
        let status = run_program(&theirs, &[], &dir).code();
        assert_eq!(run_program(&ours, &[], &dir).code(), status, "{extra:?}");
        let stripped = dir.join(format!("{n}.stripped"));
        tool(&[
            "strip",
            "-o",
            stripped.to_str().unwrap(),
            ours.to_str().unwrap(),
        ]);
        assert_eq!(
            run_program(&stripped, &[], &dir).code(),
            status,
            "{extra:?}: stripped"
        );
        if !extra.is_empty() {
            let all = format!("{:?}", emitted_relocs(&ours));
            assert!(
                !all.contains("unused"),
                "relocations of a discarded function remain: {all}"
            );
        }
    }
}

/// With the C library: the same relocation sections with the same number of relocations as
/// ld.bfd's, the TLS ones of the same types (GNU ld keeps their types through relaxation), and
/// a program that runs alike, also after `strip`; with --gc-sections, nothing of the discarded
/// function remains.
#[test]
fn emit_relocs_with_libc() {
    if !tools_available() || !require_tool("strip", "binutils") {
        return;
    }
    let obj = compile(
        Driver::Gcc,
        &conformance_dir().join("emit_relocs_libc.c"),
        &["-O2".into(), "-ffunction-sections".into()],
    );
    let dir = scratch_dir("conformance", "emit_relocs_libc");
    for (n, extra) in [&["-Wl,-q"][..], &["-Wl,--emit-relocs,--gc-sections"][..]]
        .iter()
        .enumerate()
    {
        let flags: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let exe = |l: Linker| dir.join(format!("{n}.{}", l.name()));
        for l in [Linker::Spacer, Linker::Bfd] {
            let r = link(Driver::Gcc, l, std::slice::from_ref(&obj), &flags, &exe(l));
            assert!(r.ok(), "{}", r.report(l));
        }
        let (ours, theirs) = (exe(Linker::Spacer), exe(Linker::Bfd));
        check_rela_headers(&ours);
        let (a, b) = (emitted_relocs(&ours), emitted_relocs(&theirs));
        let counts = |m: &std::collections::BTreeMap<String, Vec<NamedReloc>>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            counts(&a),
            counts(&b),
            "{extra:?}: relocations per section, spacer (left) and ld.bfd"
        );
        let tls = |m: &std::collections::BTreeMap<String, Vec<NamedReloc>>| {
            let mut v: Vec<(String, String)> = m
                .values()
                .flatten()
                .filter(|r| r.ty.contains("TPOFF") || r.ty.contains("TLS"))
                .map(|r| (r.ty.clone(), r.symbol.clone()))
                .collect();
            v.sort();
            v
        };
        assert!(!tls(&b).is_empty());
        assert_eq!(tls(&a), tls(&b), "{extra:?}: TLS relocations");
        let expected = run_program(&theirs, &[], &dir);
        assert!(expected.success(), "{}", expected.describe());
        for exe in [ours.clone(), dir.join(format!("{n}.stripped"))] {
            if exe != ours {
                tool(&["strip", "-o", exe.to_str().unwrap(), ours.to_str().unwrap()]);
            }
            let r = run_program(&exe, &[], &dir);
            assert_eq!(r.stdout_str(), expected.stdout_str(), "{}", exe.display());
            assert_eq!(r.code(), expected.code());
        }
        let gc = extra[0].contains("gc-sections");
        let all = format!("{a:?}");
        assert_eq!(all.contains("never_called"), !gc, "{extra:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// --discard-locals / --discard-all
// ---------------------------------------------------------------------------------------------

/// The local symbols (not section symbols) of the inputs: their names.
fn input_locals(objects: &[PathBuf]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for o in objects {
        for line in tool(&["readelf", "-sW", o.to_str().unwrap()]).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 8 && f[4] == "LOCAL" && f[3] != "SECTION" {
                names.insert(f[7].to_string());
            }
        }
    }
    names
}

/// The symbols of `out` named like one of `names`, with their type and binding.
fn symbols_named(out: &Path, names: &BTreeSet<String>) -> BTreeSet<(String, String, String)> {
    tool(&["readelf", "-sW", out.to_str().unwrap()])
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() == 8 && f[3] != "SECTION" && names.contains(f[7]))
                .then(|| (f[7].to_string(), f[3].to_string(), f[4].to_string()))
        })
        .collect()
}

/// Which local symbols of the inputs the output keeps, for the default, -X, -x and
/// --discard-none, in final links (also with -q, which keeps the labels relocations name) and
/// in -r links: the same as ld.bfd's. The programs run alike.
#[test]
fn discard_locals_match_gnu_ld() {
    if !tools_available() {
        return;
    }
    let keep_labels: Vec<String> = vec![
        "-O2".into(),
        "-Wa,-L".into(),
        "-fno-asynchronous-unwind-tables".into(),
    ];
    let objects = vec![
        compile(
            Driver::Gcc,
            &conformance_dir().join("discard.s"),
            &["-Wa,-L".into()],
        ),
        compile(
            Driver::Gcc,
            &conformance_dir().join("discard.c"),
            &keep_labels,
        ),
    ];
    let names = input_locals(&objects);
    assert!(
        names.iter().any(|n| n.starts_with(".L")) && names.contains("discard.s"),
        "{names:?}"
    );
    let dir = scratch_dir("conformance", "discard_locals");
    let mut failures = Vec::new();
    let mut kept = Vec::new();
    for (n, flags) in [
        &[][..],
        &["-X"],
        &["-x"],
        &["--discard-none"],
        &["--discard-locals", "-q"],
        &["--discard-all", "--emit-relocs"],
        &["-r"],
        &["-r", "-X"],
        &["-r", "-x"],
    ]
    .iter()
    .enumerate()
    {
        let out = |l: Linker| dir.join(format!("{n}.{}", l.name()));
        for l in [Linker::Spacer, Linker::Bfd] {
            let mut cmd = ld_command(l);
            cmd.args(*flags).arg("-o").arg(out(l)).args(&objects);
            must_run(&mut cmd, LINK_TIMEOUT, l.name());
        }
        let ours = symbols_named(&out(Linker::Spacer), &names);
        let theirs = symbols_named(&out(Linker::Bfd), &names);
        if ours != theirs {
            failures.push(format!(
                "{flags:?}:\n  spacer: {ours:?}\n  ld.bfd: {theirs:?}"
            ));
        }
        kept.push(theirs.len());
        if !flags.contains(&"-r") {
            let status = run_program(&out(Linker::Bfd), &[], &dir).code();
            assert_eq!(status, Some(7), "{flags:?}: the ld.bfd-linked program");
            assert_eq!(
                run_program(&out(Linker::Spacer), &[], &dir).code(),
                status,
                "{flags:?}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The modes do differ on these inputs: -x keeps fewer symbols than -X, -X fewer than the
    // default, the default fewer than --discard-none.
    assert!(
        kept[2] < kept[1] && kept[1] < kept[0] && kept[0] < kept[3],
        "{kept:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// -r with more than 65,535 sections
// ---------------------------------------------------------------------------------------------

/// Functions in the generated object, one section each.
const MANY: usize = 70_000;

/// Assembly for `MANY` functions, `f<N>` in `.text.f<N>` returning N % 1000.
fn many_sections_source() -> String {
    let mut s = String::with_capacity(MANY * 80);
    for n in 0..MANY {
        s.push_str(&format!(
            ".section .text.f{n},\"ax\",@progbits\n.globl f{n}\n.type f{n},@function\nf{n}: mov ${}, %eax\nret\n",
            n % 1000
        ));
    }
    s.push_str(".section .note.GNU-stack,\"\",@progbits\n");
    s
}

/// What `readelf -h` says about the section count and the `.shstrtab` index: the header's
/// fields and the values readelf uses (with extended numbering, in parentheses after the
/// header's 0 and SHN_XINDEX).
fn header_section_facts(obj: &Path) -> [(u64, u64); 2] {
    let header = tool(&["readelf", "-hW", obj.to_str().unwrap()]);
    let fact = |label: &str| {
        let line = header.lines().find(|l| l.contains(label)).expect(label);
        let v = line.split(':').nth(1).unwrap().trim();
        let field: u64 = v.split_whitespace().next().unwrap().parse().unwrap();
        let real = match v.split_once('(') {
            Some((_, r)) => r.trim_end_matches(')').parse().unwrap(),
            None => field,
        };
        (field, real)
    };
    [
        fact("Number of section headers"),
        fact("Section header string table index"),
    ]
}

/// The header's section facts agree with the section table readelf lists.
fn check_header_facts(obj: &Path) -> [(u64, u64); 2] {
    let facts = header_section_facts(obj);
    let shdrs = section_headers(obj);
    assert_eq!(
        facts[0].1,
        shdrs.len() as u64,
        "{}: section count",
        obj.display()
    );
    let shstrtab = shdrs
        .iter()
        .find(|s| s.1 == ".shstrtab")
        .expect(".shstrtab");
    assert_eq!(
        facts[1].1,
        shstrtab.0 as u64,
        "{}: .shstrtab index",
        obj.display()
    );
    facts
}

/// Section names of an object and how often each occurs (spacer's own `.comment`, naming the
/// linker, left out).
fn section_name_counts(obj: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for (_, name, ..) in section_headers(obj) {
        if !name.is_empty() && name != ".comment" {
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    counts
}

/// `-r` of an object with 70,000 sections: spacer reads the input's extended section numbering
/// and writes its own (e_shnum 0 and the count in section 0, e_shstrndx SHN_XINDEX, symbols
/// through `.symtab_shndx`), with the header facts and section names of ld.bfd's `-r` output;
/// a program linked from it (by spacer and by ld.bfd), and one spacer links from the input
/// itself, call the functions at the reserved indices and print what the program ld.bfd links
/// from ld.bfd's `-r` output prints.
#[test]
fn partial_link_with_extended_section_numbering() {
    if !tools_available() || !require_tool("as", "binutils") {
        return;
    }
    let dir = scratch_dir("conformance", "many_sections");
    let src = dir.join("many.s");
    fs::write(&src, many_sections_source()).unwrap();
    let many = compile(Driver::Gcc, &src, &[]);
    let main = compile(
        Driver::Gcc,
        &conformance_dir().join("many_sections_main.c"),
        &["-O2".into()],
    );
    let partial = |l: Linker| dir.join(format!("many.{}.o", l.name()));
    for l in [Linker::Spacer, Linker::Bfd] {
        let mut cmd = ld_command(l);
        cmd.arg("-r").arg("-o").arg(partial(l)).arg(&many);
        must_run(&mut cmd, LINK_TIMEOUT, l.name());
    }
    let (ours, theirs) = (partial(Linker::Spacer), partial(Linker::Bfd));
    let facts = check_header_facts(&theirs);
    assert_eq!(
        facts.map(|f| f.0),
        [0, 0xffff],
        "ld.bfd's output uses extended numbering"
    );
    let ours_facts = check_header_facts(&ours);
    assert_eq!(
        ours_facts.map(|f| f.0),
        [0, 0xffff],
        "spacer's header fields"
    );
    let names = section_name_counts(&ours);
    assert!(
        names.contains_key(".symtab_shndx"),
        "spacer's output has no .symtab_shndx"
    );
    assert_eq!(
        names,
        section_name_counts(&theirs),
        "section names, spacer (left) and ld.bfd"
    );
    // Every function keeps its own section and its symbol's section, also past the reserved
    // indices.
    let syms = tool(&["nm", ours.to_str().unwrap()]);
    assert_eq!(syms.lines().filter(|l| l.contains(" T f")).count(), MANY);
    // The functions the program calls sit at the reserved indices (as in the input).
    let shndx: std::collections::BTreeMap<String, String> =
        tool(&["readelf", "-sW", ours.to_str().unwrap()])
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 8).then(|| (f[7].to_string(), f[6].to_string()))
            })
            .collect();
    for (f, idx) in [
        ("f65276", "65280"),
        ("f65517", "65521"),
        ("f65518", "65522"),
        ("f65531", "65535"),
    ] {
        assert_eq!(
            shndx.get(f).map(String::as_str),
            Some(idx),
            "section of {f} in spacer's output"
        );
    }

    let exe = |l: Linker, input: &Path| {
        dir.join(format!(
            "prog.{}.{}",
            l.name(),
            input.file_name().unwrap().to_string_lossy()
        ))
    };
    let reference = link(
        Driver::Gcc,
        Linker::Bfd,
        &[main.clone(), theirs.clone()],
        &[],
        &exe(Linker::Bfd, &theirs),
    );
    assert!(reference.ok(), "{}", reference.report(Linker::Bfd));
    let expected = run_program(&exe(Linker::Bfd, &theirs), &[], &dir);
    assert!(expected.success(), "{}", expected.describe());
    // Spacer's -r output, linked by both; and the assembler's object, linked by spacer.
    for (l, input) in [
        (Linker::Spacer, &ours),
        (Linker::Bfd, &ours),
        (Linker::Spacer, &many),
    ] {
        let r = link(
            Driver::Gcc,
            l,
            &[main.clone(), input.clone()],
            &[],
            &exe(l, input),
        );
        assert!(r.ok(), "{}", r.report(l));
        let run = run_program(&exe(l, input), &[], &dir);
        assert_eq!(
            run.stdout_str(),
            expected.stdout_str(),
            "{} link of {}",
            l.name(),
            input.display()
        );
    }
}
