//! GNU ld behaviours a static link relies on, each checked against ld.bfd on the same inputs:
//! common symbols and archives, `--warn-common` and `--fatal-warnings`, section addresses from
//! the command line, sysroot paths, `INPUT`/`SEARCH_DIR` of `-T` scripts, `--wrap`, the
//! page-size and code-separation `-z` options, and a clear refusal of an option spacer lacks.
//!
//! Sources are in `testdata/conformance/`; every program is linked by both linkers and run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A scratch directory with the case's objects, linked by both linkers.
struct Case {
    dir: Scratch,
}

impl Case {
    fn new(name: &str) -> Case {
        Case {
            dir: scratch_dir("conformance", name),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Compiles `testdata/conformance/<src>` into the case directory.
    fn obj(&self, src: &str, flags: &[&str]) -> PathBuf {
        let obj = self.path(&src.replace(".c", ".o"));
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        compile_to(
            Driver::Gcc,
            &testdata_dir().join("conformance").join(src),
            &flags,
            &obj,
        );
        obj
    }

    fn archive(&self, name: &str, objects: &[PathBuf]) -> PathBuf {
        let lib = self.path(name);
        make_archive(&lib, objects);
        lib
    }

    /// Links with `linker` (through gcc, `-static`) into `<case>/<out>`.
    fn link(&self, linker: Linker, inputs: &[PathBuf], flags: &[&str], out: &str) -> LinkResult {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        link(Driver::Gcc, linker, inputs, &flags, &self.path(out))
    }

    /// Links with both linkers, requires both to succeed, runs both and requires the same
    /// output; returns (spacer's image, ld.bfd's image, the output).
    fn both(&self, inputs: &[PathBuf], flags: &[&str], name: &str) -> (PathBuf, PathBuf, String) {
        let mut outs = Vec::new();
        for linker in [Linker::Bfd, Linker::Spacer] {
            let out = format!("{name}.{}", linker.name());
            let r = self.link(linker, inputs, flags, &out);
            assert!(r.ok(), "{}", r.report(linker));
            let run = run_program(&r.output, &[], &self.dir);
            assert!(
                run.success(),
                "{} ({}) failed: {}\n{}",
                r.output.display(),
                linker.name(),
                run.describe(),
                run.stderr_str()
            );
            outs.push((r.output, run.stdout_str()));
        }
        let (bfd, bfd_out) = outs.remove(0);
        let (ours, our_out) = outs.remove(0);
        assert_eq!(
            our_out, bfd_out,
            "{name}: spacer's program differs from ld.bfd's"
        );
        (ours, bfd, our_out)
    }
}

/// `spacer ld` or `ld.bfd`, to be given the rest of a link's arguments.
fn ld_command(linker: Linker) -> Command {
    match linker {
        Linker::Spacer => {
            let mut cmd = Command::new(spacer_exe());
            cmd.arg("ld");
            cmd
        }
        Linker::Bfd => Command::new("ld.bfd"),
    }
}

/// `gcc -B DIR/`, DIR holding spacer as `ld`: a link through the compiler driver with spacer.
fn gcc_with_spacer() -> Command {
    let mut gcc = Command::new("gcc");
    let mut b = linker_dir().as_os_str().to_owned();
    b.push("/");
    gcc.arg("-B").arg(b);
    gcc
}

fn has_symbol(image: &Path, name: &str) -> bool {
    tool(&["nm", image.to_str().unwrap()])
        .lines()
        .any(|l| l.split_whitespace().last() == Some(name))
}

/// `int foo;` in the program and `int foo = 5;` in an archive member: the member is extracted
/// (GNU ld extracts a member that defines a common's name as data), while a member holding
/// only a common of that name and an unused function stays out.
#[test]
fn common_symbol_extracts_the_member_defining_it() {
    let c = Case::new("common_archive");
    let main = c.obj("common_main.c", &["-O2", "-fcommon"]);
    let def = c.obj("common_def.c", &["-O2", "-fcommon"]);
    let other = c.obj("common_other.c", &["-O2", "-fcommon"]);
    // The commons-only member comes first, so that a rule "any index entry extracts" fails.
    let lib = c.archive("libcommon.a", &[other, def]);
    let (ours, bfd, out) = c.both(&[main, lib], &[], "prog");
    assert_eq!(out, "foo=5\n");
    for image in [&ours, &bfd] {
        assert!(
            !has_symbol(image, "common_other_marker"),
            "{}: the commons-only member was extracted",
            image.display()
        );
    }
}

/// The messages of `--warn-common`, one per way a common meets a symbol, name the same files
/// and symbol as ld.bfd's (spacer prints "warning:" before the file, ld.bfd after it).
#[test]
fn warn_common_reports_what_gnu_ld_reports() {
    let c = Case::new("warn_common");
    let f = ["-O2", "-fcommon"];
    let main = c.obj("common_main.c", &f);
    let def = c.obj("common_def.c", &f);
    let small = c.obj("common_small.c", &f);
    let large = c.obj("common_large.c", &f);
    let lib = c.archive("libdef.a", std::slice::from_ref(&def));
    let cases: Vec<(&str, Vec<PathBuf>)> = vec![
        ("common then definition", vec![main.clone(), def.clone()]),
        ("definition then common", vec![def.clone(), main.clone()]),
        ("two commons", vec![main.clone(), small.clone()]),
        ("smaller then larger", vec![main.clone(), large.clone()]),
        ("larger then smaller", vec![large.clone(), main.clone()]),
        (
            "definition from an archive",
            vec![main.clone(), lib.clone()],
        ),
    ];
    for (what, inputs) in cases {
        let mut msgs = Vec::new();
        for linker in [Linker::Bfd, Linker::Spacer] {
            let r = c.link(linker, &inputs, &["-Wl,--warn-common"], "warned");
            assert!(r.ok(), "{what}: {}", r.report(linker));
            let stderr = r.result.stderr_str();
            let mut lines: Vec<String> = stderr
                .lines()
                .filter_map(|l| match linker {
                    // "/usr/bin/ld.bfd: a.o: warning: common of `foo' ..."
                    Linker::Bfd => l
                        .split_once(": ")
                        .map(|(_, rest)| rest.replacen(": warning: ", ": ", 1)),
                    Linker::Spacer => l.strip_prefix("spacer: warning: ").map(str::to_string),
                })
                .map(|l| {
                    // File names as the case directory holds them.
                    l.replace(&format!("{}/", c.dir.display()), "")
                })
                .collect();
            lines.sort();
            msgs.push(lines);
        }
        assert!(!msgs[0].is_empty(), "{what}: ld.bfd printed no warning");
        assert_eq!(
            msgs[1], msgs[0],
            "{what}: spacer's warnings differ from ld.bfd's"
        );
    }
}

/// `--fatal-warnings` turns the warnings into a failed link with no output, for both linkers.
#[test]
fn fatal_warnings_fail_the_link() {
    let c = Case::new("fatal_warnings");
    let f = ["-O2", "-fcommon"];
    let inputs = [c.obj("common_main.c", &f), c.obj("common_def.c", &f)];
    for linker in [Linker::Bfd, Linker::Spacer] {
        let r = c.link(
            linker,
            &inputs,
            &["-Wl,--warn-common", "-Wl,--fatal-warnings"],
            "fatal",
        );
        assert!(!r.result.success(), "{}", r.report(linker));
        assert!(!r.output.exists(), "{}: output left behind", linker.name());
        if linker == Linker::Spacer {
            let err = r.result.stderr_str();
            assert!(err.contains("--fatal-warnings"), "{err}");
            assert!(
                err.contains("common of `foo'") || err.contains("`foo'"),
                "{err}"
            );
        }
    }
    // Without it, the same link succeeds.
    let r = c.link(Linker::Spacer, &inputs, &["-Wl,--warn-common"], "warned");
    assert!(r.ok(), "{}", r.report(Linker::Spacer));
}

/// Section addresses as `readelf -S` shows them: name → address.
fn section_addresses(image: &Path) -> Vec<(String, u64)> {
    elf_layout::layout(image)
        .sections
        .into_iter()
        .map(|(name, s)| (name, s.addr))
        .collect()
}

fn address_of(image: &Path, name: &str) -> u64 {
    section_addresses(image)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{}: no section {name}", image.display()))
        .1
}

/// `-Ttext`, `-Tdata`, `-Tbss` and `--section-start` put the sections they name where they
/// say, in script sections and orphans alike, as ld.bfd does; the programs run alike.
#[test]
fn section_addresses_from_the_command_line() {
    let c = Case::new("section_start");
    let obj = c.obj("sections.c", &["-O2"]);
    // Linker flags, and the address each named section must get.
    type Want<'a> = (&'a [&'a str], &'a [(&'a str, u64)]);
    let cases: &[Want] = &[
        (&["-no-pie", "-Wl,-Ttext=0x800000"], &[(".text", 0x800000)]),
        (
            &["-Wl,--section-start=.mysec=0x2000000", "-Wl,-Tbss=3000000"],
            &[(".mysec", 0x2000000), (".bss", 0x3000000)],
        ),
        (&["-Wl,-Tdata=0x1000000"], &[(".data", 0x1000000)]),
    ];
    for (k, (flags, want)) in cases.iter().enumerate() {
        let (ours, bfd, _) = c.both(std::slice::from_ref(&obj), flags, &format!("t{k}"));
        for (name, addr) in *want {
            assert_eq!(address_of(&bfd, name), *addr, "ld.bfd, {flags:?}: {name}");
            assert_eq!(address_of(&ours, name), *addr, "spacer, {flags:?}: {name}");
        }
        check_loads_congruent(&ours);
    }
}

/// Every PT_LOAD's offset is congruent to its address modulo its alignment, as loaders need.
fn check_loads_congruent(image: &Path) {
    for p in loads(image) {
        assert_eq!(
            p.offset % p.align,
            p.vaddr % p.align,
            "{}: load at {:#x} has offset {:#x}, alignment {:#x}",
            image.display(),
            p.vaddr,
            p.offset,
            p.align
        );
    }
}

struct Load {
    offset: u64,
    vaddr: u64,
    filesz: u64,
    flags: String,
    align: u64,
}

/// The PT_LOAD headers as `readelf -lW` prints them.
fn loads(image: &Path) -> Vec<Load> {
    tool(&["readelf", "-lW", image.to_str().unwrap()])
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // LOAD off vaddr paddr filesz memsz flags... align
            Load {
                offset: elf_layout::hex(w[1]),
                vaddr: elf_layout::hex(w[2]),
                filesz: elf_layout::hex(w[4]),
                flags: w[6..w.len() - 1].join(""),
                align: elf_layout::hex(w[w.len() - 1]),
            }
        })
        .collect()
}

/// `-z max-page-size`, `-z noseparate-code` and `-z separate-code` give the loads ld.bfd gives:
/// the same permissions in the same order and the same alignment. `-z
/// separate-loadable-segments` (which ld.bfd ignores for x86-64) starts every load on its own
/// file page.
#[test]
fn page_size_and_code_separation() {
    let c = Case::new("z_options");
    let obj = c.obj("sections.c", &["-O2"]);
    for flags in [
        &["-Wl,-z,max-page-size=0x200000"][..],
        &["-Wl,-z,noseparate-code"],
        &["-Wl,-z,separate-code"],
        &["-Wl,-z,max-page-size=0x10000", "-Wl,-z,noseparate-code"],
    ] {
        let (ours, bfd, _) = c.both(std::slice::from_ref(&obj), flags, "z");
        let (a, b) = (loads(&ours), loads(&bfd));
        let perms = |l: &[Load]| l.iter().map(|p| p.flags.clone()).collect::<Vec<_>>();
        assert_eq!(perms(&a), perms(&b), "{flags:?}: load permissions");
        let aligns = |l: &[Load]| l.iter().map(|p| p.align).collect::<Vec<_>>();
        assert_eq!(aligns(&a), aligns(&b), "{flags:?}: load alignment");
        check_loads_congruent(&ours);
    }
    for flags in [
        &["-Wl,-z,separate-loadable-segments"][..],
        &[
            "-Wl,-z,separate-loadable-segments",
            "-Wl,-z,noseparate-code",
        ],
    ] {
        let r = c.link(Linker::Spacer, std::slice::from_ref(&obj), flags, "sep");
        assert!(r.ok(), "{}", r.report(Linker::Spacer));
        let run = run_program(&r.output, &[], &c.dir);
        assert!(run.success(), "{flags:?}: {}", run.describe());
        check_loads_congruent(&r.output);
        let l = loads(&r.output);
        for w in l.windows(2) {
            let end_page = (w[0].offset + w[0].filesz).div_ceil(0x1000);
            assert!(
                w[1].offset / 0x1000 >= end_page,
                "{flags:?}: the load at {:#x} shares a file page with the one before",
                w[1].vaddr
            );
        }
    }
}

/// `--sysroot`: `-L=DIR` and `-L$SYSROOT/DIR` search under the sysroot; a script inside the
/// sysroot finds its absolute and `=` names under it.
#[test]
fn sysroot_paths() {
    let c = Case::new("sysroot");
    let root = c.path("root");
    for d in ["usr/lib", "opt"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let main = c.obj("two_libs.c", &["-O2"]);
    let foo = c.obj("lib_foo.c", &["-O2"]);
    let bar = c.obj("lib_bar.c", &["-O2"]);
    make_archive(&root.join("usr/lib/libfoo.a"), &[foo]);
    make_archive(&root.join("opt/libbarimpl.a"), &[bar]);
    // Input scripts named like archives, as toolchains ship them.
    fs::write(
        root.join("usr/lib/libbar.a"),
        "GROUP ( /opt/libbarimpl.a )\n",
    )
    .unwrap();
    fs::write(
        root.join("usr/lib/libbar2.a"),
        "INPUT ( =/opt/libbarimpl.a )\n",
    )
    .unwrap();
    let sysroot = format!("-Wl,--sysroot={}", root.display());
    for (lflag, lib) in [
        ("-Wl,-L=/usr/lib", "-lbar"),
        ("-Wl,-L$SYSROOT/usr/lib", "-lbar2"),
    ] {
        let (_, _, out) = c.both(
            std::slice::from_ref(&main),
            &[&sysroot, lflag, "-lfoo", lib],
            "sysroot",
        );
        assert_eq!(out, "foo=11 bar=22\n");
    }
}

/// A `-T` script's `INPUT` adds files at the script's place and its `SEARCH_DIR` (here with a
/// sysroot prefix) is searched for `-l`.
#[test]
fn script_input_and_search_dir() {
    let c = Case::new("script_input");
    let root = c.path("root");
    fs::create_dir_all(root.join("lib")).unwrap();
    let main = c.obj("script_input.c", &["-O2"]);
    let extra = c.obj("extra.c", &["-O2"]);
    let foo = c.obj("lib_foo.c", &["-O2"]);
    make_archive(&root.join("lib/libfoo.a"), &[foo]);
    let script = c.path("extra.lds");
    fs::write(
        &script,
        format!(
            "INPUT({})\nSEARCH_DIR(\"=/lib\")\nSECTIONS {{ .mydata : {{ *(.mydata) }} }} INSERT AFTER .data;\n",
            extra.display()
        ),
    )
    .unwrap();
    let sysroot = format!("-Wl,--sysroot={}", root.display());
    let t = format!("-Wl,-T,{}", script.display());
    let (_, _, out) = c.both(&[main], &[&sysroot, &t, "-lfoo"], "scripted");
    assert_eq!(out, "foo=11 extra=7\n");
}

/// `--wrap=malloc` sends every undefined reference to malloc (the program's and the C
/// library's) to `__wrap_malloc`, and `__real_malloc` to malloc: the same count as ld.bfd's.
#[test]
fn wrap_symbol() {
    let c = Case::new("wrap");
    let obj = c.obj("wrap.c", &["-O2"]);
    let (_, _, out) = c.both(&[obj], &["-Wl,--wrap=malloc"], "wrapped");
    assert!(
        out.starts_with("wrapped calls=") && out.ends_with("ok=1\n"),
        "{out}"
    );
    assert!(!out.starts_with("wrapped calls=0"), "{out}");
}

/// An option ld.bfd has and spacer does not is refused: exit status 1, a message naming it,
/// no output file.
#[test]
fn unsupported_option_is_refused() {
    let c = Case::new("unsupported_option");
    let obj = c.obj("extra.c", &["-O2"]);
    let out = c.path("out");
    let mut cmd = Command::new(spacer_exe());
    cmd.args(["ld", "--just-symbols"])
        .arg(&obj)
        .arg(&obj)
        .arg("-o")
        .arg(&out);
    let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    assert_eq!(r.code(), Some(1), "{}", r.stderr_str());
    let err = r.stderr_str();
    assert!(err.contains("--just-symbols"), "{err}");
    assert!(!out.exists(), "output written");
    // ld.bfd knows the option (a symbols-only input), so the refusal is spacer's own.
    let mut bfd = Command::new("ld.bfd");
    bfd.arg("--just-symbols")
        .arg(&obj)
        .arg("-e")
        .arg("0")
        .arg("-o")
        .arg(c.path("bfd.out"));
    let r = run_with_timeout(&mut bfd, LINK_TIMEOUT);
    assert!(r.success(), "ld.bfd: {}", r.stderr_str());
}

/// `-o` naming something other than a file (here a FIFO; `-o /dev/null` is the common case) is
/// written into, as GNU ld writes into it, and stays what it was: replacing it with the image
/// would turn `/dev/null` into a plain file.
#[test]
fn output_into_a_fifo_keeps_the_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let c = Case::new("fifo");
    let obj = c.obj("trace_main.c", &["-O2"]);
    let plain = c.link(Linker::Spacer, std::slice::from_ref(&obj), &[], "plain");
    assert!(plain.ok(), "{}", plain.report(Linker::Spacer));
    let fifo = c.path("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    let mut gcc = gcc_with_spacer();
    gcc.arg("-static").arg(&obj).arg("-o").arg(&fifo);
    let r = run_with_timeout(&mut gcc, LINK_TIMEOUT);
    assert!(r.success(), "link into a FIFO failed: {}", r.stderr_str());
    // Checked before waiting for the reader, which a replaced FIFO would leave blocked.
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO was replaced"
    );
    let bytes = reader.join().unwrap();
    assert_eq!(
        bytes,
        fs::read(&plain.output).unwrap(),
        "the FIFO did not receive the image"
    );
    let leftovers: Vec<_> = fs::read_dir(c.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("spacer-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// The `.rodata` bytes and the `.data` words of a link of `testdata/conformance/merge_aligned.s`
/// with `linker`: each word as an offset from `.rodata`'s address.
fn merged_strings(c: &Case, linker: Linker, obj: &Path) -> (Vec<u8>, Vec<u64>) {
    let out = c.path(&format!("merge.{}", linker.name()));
    let mut cmd = ld_command(linker);
    cmd.args(["-static", "-e", "0"])
        .arg(obj)
        .arg("-o")
        .arg(&out);
    must_run(&mut cmd, LINK_TIMEOUT, linker.name());
    let o = out.to_str().unwrap();
    let section = |name: &str| {
        let bin = format!("{o}{name}.bin");
        tool(&["objcopy", "-O", "binary", "-j", name, o, &bin]);
        fs::read(&bin).unwrap()
    };
    let rodata_addr = tool(&["readelf", "-SW", o])
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|w| *w == ".rodata")?;
            u64::from_str_radix(f.get(i + 2)?, 16).ok()
        })
        .expect("no .rodata");
    let words = section(".data")
        .chunks(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap()) - rodata_addr)
        .collect();
    (section(".rodata"), words)
}

/// Strings of aligned string sections (`.str1.8`) are merged as GNU ld merges them: the NULs
/// padding one string to the next aligned one are no strings of their own, and every string
/// keeps the alignment it had, so the merged bytes and every reference into them come out
/// as ld.bfd's.
#[test]
fn aligned_string_sections_merge_like_gnu_ld() {
    let c = Case::new("merge_aligned");
    let obj = c.path("merge_aligned.o");
    compile_to(
        Driver::Gcc,
        &testdata_dir().join("conformance/merge_aligned.s"),
        &[],
        &obj,
    );
    let (bfd_bytes, bfd_words) = merged_strings(&c, Linker::Bfd, &obj);
    let (our_bytes, our_words) = merged_strings(&c, Linker::Spacer, &obj);
    assert_eq!(
        our_bytes,
        bfd_bytes,
        "merged .rodata differs from ld.bfd's:\n{}",
        first_difference("ld.bfd", &bfd_bytes, "spacer", &our_bytes)
    );
    assert_eq!(
        our_words, bfd_words,
        "string references differ from ld.bfd's"
    );
    // Duplicates were merged: "second" and "eight-aligned one" are stored once.
    assert_eq!(our_words[1], our_words[3]);
    assert_eq!(our_words[0], our_words[5]);
}

/// `--require-defined`: the symbol is a root like `-u` (its archive member is linked in), and a
/// symbol no input defines fails the link with GNU ld's message and no output.
#[test]
fn require_defined_like_gnu_ld() {
    let c = Case::new("require_defined");
    let main = c.obj("options.c", &["-O2"]);
    let lib = c.archive(
        "liboptions.a",
        &[
            c.obj("options_lib.c", &["-O2"]),
            c.obj("options_required.c", &["-O2"]),
        ],
    );
    let (ours, bfd, _) = c.both(
        &[main.clone(), lib.clone()],
        &["-Wl,--require-defined=only_required"],
        "required",
    );
    assert!(has_symbol(&ours, "only_required") && has_symbol(&bfd, "only_required"));
    for linker in [Linker::Bfd, Linker::Spacer] {
        let out = format!("missing.{}", linker.name());
        let r = c.link(
            linker,
            &[main.clone(), lib.clone()],
            &["-Wl,--require-defined=no_such_symbol"],
            &out,
        );
        assert_eq!(r.result.code(), Some(1), "{}", r.report(linker));
        assert!(
            r.result
                .stderr_str()
                .contains("required symbol `no_such_symbol' not defined"),
            "{}",
            r.report(linker)
        );
        assert!(!c.path(&out).exists(), "{}: output written", linker.name());
    }
}

/// The names in an image's `.symtab`.
fn symtab_names(image: &Path) -> std::collections::BTreeSet<String> {
    tool(&["readelf", "-sW", image.to_str().unwrap()])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 8 && f[0].ends_with(':')).then(|| f[7].to_string())
        })
        .collect()
}

/// `--retain-symbols-file` keeps just the listed symbols in `.symtab`, as GNU ld does, and
/// options that have no effect on a static image (`-init`, `-fini`, `-z nodefaultlib`,
/// `-z start-stop-visibility`, `-R` naming no file) are accepted; `-z keep-text-section-prefix` is ignored with
/// GNU ld's warning.
#[test]
fn symbol_file_and_dynamic_only_options_like_gnu_ld() {
    let c = Case::new("retain_symbols");
    let main = c.obj("options.c", &["-O2"]);
    let lib = c.obj("options_lib.c", &["-O2"]);
    let keep = c.path("keep.txt");
    fs::write(&keep, "main\nkeep_me\n\nlib_value\nnot_in_the_image\n").unwrap();
    let flag = format!("-Wl,--retain-symbols-file={}", keep.display());
    let (ours, bfd, out) = c.both(&[main.clone(), lib.clone()], &[&flag], "retained");
    assert_eq!(out, "lib 42, keep 7, set of 3\n");
    let names = symtab_names(&ours);
    assert_eq!(
        names,
        symtab_names(&bfd),
        "symbol tables differ from ld.bfd's"
    );
    assert!(
        names.contains("keep_me") && !names.contains("printf"),
        "{names:?}"
    );

    let flags = [
        "-Wl,-init=keep_me",
        "-Wl,-fini=keep_me",
        "-Wl,-z,nodefaultlib",
        "-Wl,-z,start-stop-visibility=hidden",
        "-Wl,-z,keep-text-section-prefix",
        // Not a file: an rpath, as GNU ld takes it.
        "-Wl,-R,/no/such/directory",
    ];
    c.both(&[main.clone(), lib.clone()], &flags, "accepted");
    let r = c.link(Linker::Spacer, &[main, lib], &flags, "warned");
    assert!(
        r.result
            .stderr_str()
            .contains("-z keep-text-section-prefix ignored"),
        "{}",
        r.report(Linker::Spacer)
    );
}

/// `--oformat binary`: the loaded sections at their load addresses, nothing else, as
/// `objcopy -O binary` makes of the ELF image of the same link.
#[test]
fn binary_output_holds_the_loaded_sections() {
    let c = Case::new("oformat_binary");
    let obj = c.obj("options_lib.c", &["-O2", "-fno-asynchronous-unwind-tables"]);
    let link = |extra: &[&str], out: &str| {
        let mut cmd = Command::new(spacer_exe());
        cmd.args(["ld", "-e", "lib_value", "-Ttext=0x1000", "-Tdata=0x3000"])
            .args(extra)
            .arg(&obj)
            .arg("-o")
            .arg(c.path(out));
        must_run(&mut cmd, LINK_TIMEOUT, "spacer ld");
        c.path(out)
    };
    let elf = link(&[], "image.elf");
    let flat = link(&["--oformat=binary"], "image.bin");
    let copied = c.path("objcopy.bin");
    tool(&[
        "objcopy",
        "-O",
        "binary",
        elf.to_str().unwrap(),
        copied.to_str().unwrap(),
    ]);
    let (flat, copied) = (fs::read(&flat).unwrap(), fs::read(&copied).unwrap());
    assert!(
        !flat.is_empty() && !flat.starts_with(b"\x7fELF"),
        "not a flat image"
    );
    assert_eq!(
        flat, copied,
        "--oformat binary differs from objcopy -O binary"
    );
    let mut cmd = Command::new(spacer_exe());
    cmd.args(["ld", "--oformat=srec", "-e", "0"])
        .arg(&obj)
        .arg("-o")
        .arg(c.path("srec"));
    let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    assert_eq!(r.code(), Some(1));
    assert!(r.stderr_str().contains("unsupported output format 'srec'"));
}

/// The data output sections of an image, in order, each with its contents.
fn data_sections(image: &Path) -> Vec<(String, String)> {
    let o = image.to_str().unwrap();
    tool(&["readelf", "-SW", o])
        .lines()
        .filter_map(|l| {
            let name = l.split(']').nth(1)?.split_whitespace().next()?;
            (name.starts_with(".data") || name.starts_with(".orphan")).then(|| name.to_string())
        })
        .map(|name| {
            let dump = tool(&["readelf", "-x", &name, o]);
            let bytes: String = dump
                .lines()
                .filter(|l| l.trim_start().starts_with("0x"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
                .collect();
            (name, bytes)
        })
        .collect()
}

/// `--unique=PATTERN` gives each matching input section an output section of its own, even
/// where the script would gather it into `.data`; a bare `--unique` does so for orphans. The
/// sections and their contents come out as ld.bfd's.
#[test]
fn unique_sections_like_gnu_ld() {
    let c = Case::new("unique");
    let obj = c.path("unique.o");
    compile_to(
        Driver::Gcc,
        &testdata_dir().join("conformance/unique.s"),
        &[],
        &obj,
    );
    for flag in ["--unique=*foo*", "--unique"] {
        let mut images = Vec::new();
        for linker in [Linker::Bfd, Linker::Spacer] {
            let out = c.path(&format!("unique.{}", linker.name()));
            let mut cmd = ld_command(linker);
            cmd.args(["-static", flag]).arg(&obj).arg("-o").arg(&out);
            must_run(&mut cmd, LINK_TIMEOUT, linker.name());
            images.push(data_sections(&out));
        }
        assert_eq!(
            images[1], images[0],
            "{flag}: spacer's data sections differ from ld.bfd's"
        );
    }
}

/// GCC link-time optimization: objects compiled with `-flto` (slim, intermediate code only)
/// are compiled by GCC's lto-wrapper and linked with a plain archive, as through GNU ld and
/// its plugin; the program behaves the same, lto-wrapper's objects are removed afterwards, LTO
/// members of archives are compiled when the link needs them, and fat LTO objects are
/// compiled anew as GCC's plugin has them compiled.
#[test]
fn gcc_lto_links_like_gnu_ld() {
    let c = Case::new("lto");
    let lto = ["-O2", "-flto"];
    let main = c.obj("lto_main.c", &lto);
    let lib = c.obj("lto_lib.c", &lto);
    let helper = c.archive("libhelper.a", &[c.obj("lto_helper.c", &["-O2"])]);
    let inputs = [main.clone(), lib.clone(), helper];
    let (ours, _, out) = c.both(&inputs, &lto, "lto");
    assert_eq!(out, "lto: sum 34, offset 100\n");
    let sections = tool(&["readelf", "-SW", ours.to_str().unwrap()]);
    assert!(
        !sections.contains(".gnu.lto_"),
        "intermediate code in the image"
    );

    // lto-wrapper writes its objects to TMPDIR; none may stay behind.
    let tmp = c.path("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let mut gcc = gcc_with_spacer();
    gcc.env("TMPDIR", &tmp)
        .args(lto)
        .arg("-static")
        .args(&inputs)
        .arg("-o")
        .arg(c.path("lto.tmpdir"));
    must_run(&mut gcc, LINK_TIMEOUT, "gcc -flto with spacer");
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");

    // LTO objects in an archive (whose index `ar` fills from the intermediate code): the
    // members the link needs are compiled with the rest, for an LTO or a plain main.
    let lto_archive = c.archive("liblto.a", std::slice::from_ref(&lib));
    let helper = inputs[2].clone();
    let (_, _, out) = c.both(
        &[main.clone(), lto_archive.clone(), helper.clone()],
        &lto,
        "member",
    );
    assert_eq!(out, "lto: sum 34, offset 100\n");
    let plain_main = c.path("plain_main.o");
    compile_to(
        Driver::Gcc,
        &testdata_dir().join("conformance/lto_main.c"),
        &["-O2".to_string()],
        &plain_main,
    );
    let (_, _, out) = c.both(&[plain_main, lto_archive, helper], &["-O2"], "member_only");
    assert_eq!(out, "lto: sum 34, offset 100\n");

    // Fat LTO objects (machine code and intermediate code) are compiled anew, as GCC's plugin
    // has them compiled: lto-wrapper's whole-program pass runs (gcc -v shows it).
    let fat = ["-O2", "-flto", "-ffat-lto-objects"];
    let helper = inputs[2].clone();
    let fat_inputs = [c.obj("lto_main.c", &fat), c.obj("lto_lib.c", &fat), helper];
    let (_, _, out) = c.both(&fat_inputs, &["-O2"], "fat");
    assert_eq!(out, "lto: sum 34, offset 100\n");
    let mut gcc = gcc_with_spacer();
    gcc.args(["-v", "-static"])
        .args(&fat_inputs)
        .arg("-o")
        .arg(c.path("fat.verbose"));
    let r = must_run(&mut gcc, LINK_TIMEOUT, "gcc -v with fat LTO objects");
    assert!(
        r.stderr_str().contains("-fwpa"),
        "no LTO pass ran for fat objects"
    );
}

/// The gaps alignment leaves between code sections hold NOPs of GNU ld's sizes (ten-byte
/// ones, then one for the rest), so the code bytes come out as ld.bfd's.
#[test]
fn code_padding_is_gnu_ld_nops() {
    let c = Case::new("code_padding");
    let obj = c.path("code_padding.o");
    compile_to(
        Driver::Gcc,
        &testdata_dir().join("conformance/code_padding.s"),
        &[],
        &obj,
    );
    let mut text = Vec::new();
    for linker in [Linker::Bfd, Linker::Spacer] {
        let out = c.path(&format!("padding.{}", linker.name()));
        let mut cmd = ld_command(linker);
        cmd.arg(&obj).arg("-o").arg(&out);
        must_run(&mut cmd, LINK_TIMEOUT, linker.name());
        let bin = c.path(&format!("text.{}", linker.name()));
        tool(&[
            "objcopy",
            "-O",
            "binary",
            "-j",
            ".text",
            out.to_str().unwrap(),
            bin.to_str().unwrap(),
        ]);
        text.push(fs::read(&bin).unwrap());
    }
    assert_eq!(
        text[0].len(),
        0x63,
        "ld.bfd's .text is not what the test expects"
    );
    assert_eq!(
        text[1],
        text[0],
        "{}",
        first_difference("ld.bfd", &text[0], "spacer", &text[1])
    );
}
