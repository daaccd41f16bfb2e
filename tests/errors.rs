//! Links that must fail: spacer has to exit with status 1, print an error line on stderr that
//! names the offending file (and symbol or option, where there is one), and leave no output
//! file behind.
//!
//! The exact wording of the messages is spacer's business; the tests only look for robust
//! substrings on one line: `error`, the file name, the symbol name.  Each fixture is also given
//! to ld.bfd, which must reject it too, so a test cannot pass on an input that is not broken.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Flags for the small objects the error tests link without a C library.
const FREESTANDING: &[&str] = &[
    "-O1",
    "-ffreestanding",
    "-fno-pic",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
];

/// A scratch directory for one error case, holding its input files; links write into the
/// (initially empty) `out/` subdirectory, which must still be empty afterwards.
struct Case {
    name: String,
    dir: Scratch,
}

impl Case {
    fn new(name: &str) -> Case {
        let dir = scratch_dir("errors", name);
        fs::create_dir_all(dir.join("out")).unwrap();
        Case {
            name: name.to_string(),
            dir,
        }
    }

    /// Compiles `testdata/errors/<source>` into `<case dir>/<stem>.o` and returns the file name.
    fn compile(&self, source: &str, flags: &[&str]) -> String {
        let src = testdata_dir().join("errors").join(source);
        let obj = format!(
            "{}.o",
            Path::new(source).file_stem().unwrap().to_string_lossy()
        );
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        compile_to(Driver::Gcc, &src, &flags, &self.dir.join(&obj));
        obj
    }

    /// Compiles a test program from `testdata/programs` (a large, real object file).
    fn compile_program(&self, source: &str, obj: &str) -> String {
        let src = programs_dir().join(source);
        compile_to(
            Driver::Gcc,
            &src,
            &["-O2".to_string(), "-g".to_string()],
            &self.dir.join(obj),
        );
        obj.to_string()
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Runs `spacer ld ARGS...` in the case directory.
    fn spacer(&self, args: &[&str]) -> (String, RunResult) {
        let mut cmd = Command::new(spacer_exe());
        cmd.current_dir(&self.dir).arg("ld").args(args);
        let command = display_command(&cmd);
        (command, run_with_timeout(&mut cmd, LINK_TIMEOUT))
    }

    /// ld.bfd must reject the same link, or the fixture is not what the test thinks it is.
    fn reference_rejects(&self, args: &[&str]) {
        let out = self.dir.join("reference-out");
        fs::create_dir_all(&out).unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("out/", "reference-out/"))
            .collect();
        let mut cmd = Command::new("ld.bfd");
        cmd.current_dir(&self.dir).args(&args);
        let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
        assert!(
            !r.success(),
            "case `{}`: ld.bfd accepted the input, so the fixture is not broken\n$ {}\n{}",
            self.name,
            display_command(&cmd),
            r.stderr_str()
        );
    }

    /// Links with spacer and checks the failure (see [`check_failure`]).
    fn expect_error(&self, args: &[&str], mentions: &[&str]) {
        let (command, r) = self.spacer(args);
        check_failure(&self.name, &command, &r, mentions, &self.dir.join("out"));
    }
}

/// The link must have failed cleanly: exit status 1 (not a crash, a panic or a hang), one line
/// of stderr containing `error` and every string in `mentions`, and an empty output directory
/// (no output file, no temporary file).
fn check_failure(case: &str, command: &str, r: &RunResult, mentions: &[&str], out_dir: &Path) {
    let stderr = r.stderr_str();
    let context = format!(
        "case `{case}`\n$ {command}\nstatus: {}\n--- stderr:\n{}\n--- stdout:\n{}",
        r.describe(),
        excerpt(&r.stderr, 6000),
        excerpt(&r.stdout, 2000)
    );
    assert!(
        !r.timed_out,
        "spacer did not finish on a broken input\n{context}"
    );
    assert!(
        !stderr.contains("panicked at"),
        "spacer panicked instead of reporting an error\n{context}"
    );
    assert!(
        r.code() == Some(1),
        "spacer should exit with status 1 on a link error\n{context}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("error") && mentions.iter().all(|m| l.contains(m)));
    assert!(
        line.is_some(),
        "no line of stderr contains `error` and all of {mentions:?}\n{context}"
    );
    let left: Vec<String> = fs::read_dir(out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.is_empty(),
        "the failed link left files in {}: {left:?}\n{context}",
        out_dir.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Symbols
// ---------------------------------------------------------------------------------------------

#[test]
fn undefined_symbol() {
    let case = Case::new("undefined_symbol");
    let obj = case.compile("undefined_main.c", FREESTANDING);
    let args = ["-static", "-o", "out/prog", &obj];
    case.reference_rejects(&args);
    case.expect_error(
        &args,
        &["missing_function_for_spacer_test", "undefined_main.o"],
    );
}

/// The same through gcc, with the C library: the error must still name the symbol and the file.
#[test]
fn undefined_symbol_through_gcc() {
    let case = Case::new("undefined_symbol_through_gcc");
    let obj = case.compile("undefined_libc_main.c", &["-O2"]);
    let mut cmd = Command::new("gcc");
    let mut b = linker_dir().as_os_str().to_os_string();
    b.push("/");
    cmd.current_dir(&case.dir)
        .arg("-static")
        .arg("-B")
        .arg(b)
        .arg(&obj)
        .args(["-o", "out/prog"]);
    let command = display_command(&cmd);
    let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
    // gcc's collect2 adds its own "ld returned 1 exit status" line and exits with 1.
    check_failure(
        &case.name,
        &command,
        &r,
        &["missing_function_for_spacer_test", "undefined_libc_main.o"],
        &case.dir.join("out"),
    );
    assert!(
        r.stderr_str().lines().any(|l| l.starts_with("spacer")),
        "no message from spacer itself:\n{}",
        r.stderr_str()
    );
}

#[test]
fn duplicate_definition() {
    let case = Case::new("duplicate_definition");
    let a = case.compile("duplicate_a.c", FREESTANDING);
    let b = case.compile("duplicate_b.c", FREESTANDING);
    let args = ["-static", "-o", "out/prog", &a, &b];
    case.reference_rejects(&args);
    let (command, r) = case.spacer(&args);
    // The message must name the symbol and at least one of the two files defining it.
    let names_a = ["duplicated_symbol_for_spacer_test", "duplicate_a.o"];
    let names_b = ["duplicated_symbol_for_spacer_test", "duplicate_b.o"];
    let stderr = r.stderr_str();
    let mentions: &[&str] = if stderr
        .lines()
        .any(|l| l.contains("error") && names_b.iter().all(|m| l.contains(m)))
    {
        &names_b
    } else {
        &names_a
    };
    check_failure(&case.name, &command, &r, mentions, &case.dir.join("out"));
}

// ---------------------------------------------------------------------------------------------
// Broken object files
// ---------------------------------------------------------------------------------------------

/// A real object file cut in half (its section header table is gone).
#[test]
fn truncated_object() {
    let case = Case::new("truncated_object");
    let full = case.compile_program("c_stdio.c", "full.o");
    let data = fs::read(case.path(&full)).unwrap();
    fs::write(case.path("truncated.o"), &data[..data.len() / 2]).unwrap();
    let args = ["-static", "-o", "out/prog", "truncated.o"];
    case.reference_rejects(&args);
    case.expect_error(&args, &["truncated.o"]);
}

/// An object file cut inside its ELF header.
#[test]
fn truncated_elf_header() {
    let case = Case::new("truncated_elf_header");
    let full = case.compile_program("c_stdio.c", "full.o");
    let data = fs::read(case.path(&full)).unwrap();
    fs::write(case.path("stub.o"), &data[..20]).unwrap();
    let args = ["-static", "-o", "out/prog", "stub.o"];
    case.reference_rejects(&args);
    case.expect_error(&args, &["stub.o"]);
}

/// A file that is neither an ELF object nor an archive (nor a linker script ld.bfd can parse).
#[test]
fn not_an_object_file() {
    let case = Case::new("not_an_object_file");
    fs::write(
        case.path("garbage.o"),
        b"\x01\x02\x03 this is not an object file \xff\xfe\n".repeat(20),
    )
    .unwrap();
    let args = ["-static", "-o", "out/prog", "garbage.o"];
    case.reference_rejects(&args);
    case.expect_error(&args, &["garbage.o"]);
}

#[test]
fn missing_input_file() {
    let case = Case::new("missing_input_file");
    let args = ["-static", "-o", "out/prog", "does_not_exist.o"];
    case.reference_rejects(&args);
    case.expect_error(&args, &["does_not_exist.o"]);
}

#[test]
fn missing_library() {
    let case = Case::new("missing_library");
    let obj = case.compile("undefined_main.c", FREESTANDING);
    let args = [
        "-static",
        "-o",
        "out/prog",
        &obj,
        "-lspacer_test_no_such_library",
    ];
    case.reference_rejects(&args);
    case.expect_error(&args, &["spacer_test_no_such_library"]);
}

// ---------------------------------------------------------------------------------------------
// Broken archives
// ---------------------------------------------------------------------------------------------

/// Builds `libbroken.a` = [filler, needed] and the object that needs the last member, and
/// returns (user object, archive bytes, offset of the last member's header).
fn archive_fixture(case: &Case) -> (String, Vec<u8>, usize) {
    let user = case.compile("archive_user.c", FREESTANDING);
    let filler = case.compile("archive_member_filler.c", FREESTANDING);
    let needed = case.compile("archive_member_needed.c", FREESTANDING);
    let good = case.path("libgood.a");
    make_archive(&good, &[case.path(&filler), case.path(&needed)]);
    let data = fs::read(&good).unwrap();
    let last = archive_member_offsets(&data)
        .last()
        .copied()
        .expect("archive has members");
    // Sanity check: the intact archive links.
    let out = case.path("intact-prog");
    let r = run_with_timeout(
        Command::new("ld.bfd")
            .current_dir(&case.dir)
            .args(["-static", "-o"])
            .arg(&out)
            .arg(&user)
            .arg("libgood.a"),
        LINK_TIMEOUT,
    );
    assert!(
        r.success(),
        "intact archive fixture does not link: {}",
        r.stderr_str()
    );
    (user, data, last)
}

/// Offsets of the member headers of a System V / GNU `ar` archive.
fn archive_member_offsets(data: &[u8]) -> Vec<usize> {
    assert!(data.starts_with(b"!<arch>\n"), "not an ar archive");
    let mut offsets = Vec::new();
    let mut off = 8;
    while off + 60 <= data.len() {
        offsets.push(off);
        let size: usize = std::str::from_utf8(&data[off + 48..off + 58])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        off += 60 + size;
        off += off & 1;
    }
    offsets
}

/// Links `archive_user.o` against a damaged copy of the fixture archive and expects an error
/// naming the archive.  `mutate` gets the archive bytes and the offset of the last member's
/// header (the member the link needs).
fn broken_archive_case(
    name: &str,
    reference_rejects: bool,
    mutate: impl FnOnce(&mut Vec<u8>, usize),
) {
    let case = Case::new(name);
    let (user, mut data, last) = archive_fixture(&case);
    mutate(&mut data, last);
    fs::write(case.path("libbroken.a"), &data).unwrap();
    let args = ["-static", "-o", "out/prog", &user, "libbroken.a"];
    if reference_rejects {
        case.reference_rejects(&args);
    }
    case.expect_error(&args, &["libbroken.a"]);
}

/// An archive whose last member (the one the link needs) is cut short.  (ld.bfd does not
/// notice: it reads the member's ELF headers and sections where they would be and finds them in
/// what is left of the file.)
#[test]
fn truncated_archive() {
    broken_archive_case("truncated_archive", false, |data, last| {
        let cut = last + 60 + (data.len() - last - 60) / 2;
        data.truncate(cut);
    });
}

/// An archive whose last member header claims a size far beyond the end of the file (ld.bfd
/// does not check this either).
#[test]
fn archive_member_past_end() {
    broken_archive_case("archive_member_past_end", false, |data, last| {
        data[last + 48..last + 58].copy_from_slice(b"9999999999");
    });
}

/// A member header whose size field is not a number.
#[test]
fn corrupt_archive_member_size() {
    broken_archive_case("corrupt_archive_member_size", true, |data, last| {
        data[last + 48..last + 58].copy_from_slice(b"12abc     ");
    });
}

/// A member header without its "`\n" terminator.
#[test]
fn corrupt_archive_member_terminator() {
    broken_archive_case("corrupt_archive_member_terminator", true, |data, last| {
        data[last + 58..last + 60].copy_from_slice(b"XX");
    });
}

/// A needed archive member that is not an ELF object.
#[test]
fn corrupt_archive_member_contents() {
    broken_archive_case("corrupt_archive_member_contents", true, |data, last| {
        data[last + 60..last + 64].copy_from_slice(b"JUNK");
    });
}

/// An archive cut inside its symbol index (the first member).
#[test]
fn truncated_archive_index() {
    broken_archive_case("truncated_archive_index", true, |data, _| {
        let first = archive_member_offsets(data)[0];
        assert_eq!(
            &data[first..first + 2],
            b"/ ",
            "first member is the symbol index"
        );
        data.truncate(first + 60 + 6);
    });
}

// ---------------------------------------------------------------------------------------------
// Relocations
// ---------------------------------------------------------------------------------------------

const R_X86_64_64: u32 = 1;
const R_X86_64_JUMP_SLOT: u32 = 7;

/// Relocation types of every RELA entry of an ELF64 little-endian relocatable object.
fn rela_types(data: &[u8]) -> Vec<(usize, u32)> {
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&data[..5], b"\x7fELF\x02", "not an ELF64 file");
    let shoff = u64_at(0x28);
    let shentsize = u16_at(0x3a);
    let shnum = u16_at(0x3c);
    let mut types = Vec::new();
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        const SHT_RELA: u32 = 4;
        if u32_at(sh + 4) != SHT_RELA {
            continue;
        }
        let (offset, size) = (u64_at(sh + 0x18), u64_at(sh + 0x20));
        for entry in (offset..offset + size).step_by(24) {
            // r_info is at +8; its low 32 bits are the type.
            types.push((entry + 8, u32_at(entry + 8)));
        }
    }
    types
}

/// R_X86_64_JUMP_SLOT, a type that only belongs in dynamic relocation tables.  ld.bfd quietly
/// accepts it, so there is no reference check.
#[test]
fn unsupported_relocation_type() {
    let case = Case::new("unsupported_relocation_type");
    let obj = case.compile("reloc_dynamic_only.s", &[]);
    let types = rela_types(&fs::read(case.path(&obj)).unwrap());
    assert!(
        types.iter().any(|&(_, t)| t == R_X86_64_JUMP_SLOT),
        "the assembler did not emit R_X86_64_JUMP_SLOT: {types:?}"
    );
    case.expect_error(&["-static", "-o", "out/prog", &obj], &[&obj]);
}

/// A relocation type number that does not exist.
#[test]
fn invalid_relocation_type() {
    let case = Case::new("invalid_relocation_type");
    let obj = case.compile("reloc_invalid.s", &[]);
    let mut data = fs::read(case.path(&obj)).unwrap();
    let types = rela_types(&data);
    let abs64: Vec<usize> = types
        .iter()
        .filter(|&&(_, t)| t == R_X86_64_64)
        .map(|&(o, _)| o)
        .collect();
    assert_eq!(
        abs64.len(),
        1,
        "expected one R_X86_64_64 relocation: {types:?}"
    );
    data[abs64[0]..abs64[0] + 4].copy_from_slice(&250u32.to_le_bytes());
    fs::write(case.path("bad_reloc.o"), &data).unwrap();
    let args = ["-static", "-o", "out/prog", "bad_reloc.o"];
    case.reference_rejects(&args);
    case.expect_error(&args, &["bad_reloc.o"]);
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_option() {
    let case = Case::new("unknown_option");
    let obj = case.compile("duplicate_a.c", FREESTANDING);
    let args = [
        "--no-such-option-for-spacer-test",
        "-static",
        "-o",
        "out/prog",
        &obj,
    ];
    case.reference_rejects(&args);
    case.expect_error(&args, &["no-such-option-for-spacer-test"]);
}

/// Sanity check of the fixtures: the freestanding objects do link when nothing is wrong.
/// A broken layout file (`--layout`) is reported with its name and line, nothing is written,
/// and the file itself is left as it was.
#[test]
fn broken_layout_file() {
    let case = Case::new("broken_layout_file");
    let obj = case.compile("duplicate_a.c", FREESTANDING);
    let cases: &[(&str, &str, &str)] = &[
        ("header", "# some other file\n", "layout-header.txt:1"),
        (
            "line",
            "# spacer layout v2\nsection .text 0x401000\nregion .text\n",
            "layout-line.txt:3",
        ),
        (
            "number",
            "# spacer layout v2\nsection .text 0x40zz00\n",
            "layout-number.txt:2",
        ),
        (
            "slot",
            "# spacer layout v2\nslot got stdout 0x1ffffffff\n",
            "layout-slot.txt:2",
        ),
    ];
    for (name, text, mention) in cases {
        let file = case.path(&format!("layout-{name}.txt"));
        fs::write(&file, text).unwrap();
        let layout = file.to_str().unwrap().to_string();
        let args = [
            "-static", "-e", "main", "-o", "out/prog", &obj, "--layout", &layout,
        ];
        case.expect_error(&args, &[mention]);
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            *text,
            "a failed link changed the layout file {}",
            file.display()
        );
    }
}

#[test]
fn fixtures_link_when_intact() {
    let case = Case::new("fixtures_link_when_intact");
    let obj = case.compile("duplicate_a.c", FREESTANDING);
    let (command, r) = case.spacer(&["-static", "-o", "out/prog", &obj]);
    assert!(
        r.success() && case.path("out/prog").exists(),
        "linking an intact object failed ({})\n$ {command}\n{}",
        r.describe(),
        r.stderr_str()
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzz regressions: tests/fuzz-regressions/ (see its README.md)
// ---------------------------------------------------------------------------------------------

/// Mutated inputs GNU ld links into a program (it ignores the damaged field): spacer must link
/// them too, and the program must do what ld.bfd's does.
const LINKED_LIKE_GNU_LD: &[&str] = &["merge-entsize.o", "symbol-section-index.o"];

/// The bounds every link of a hostile input runs under: an address-space limit (a size taken
/// from the file without a bound shows up as an allocation failure) and a time limit (a count
/// taken from the file as a hang).
const HOSTILE_MEMORY: &str = "--as=4000000000";
const HOSTILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn fuzz_regression_inputs() -> Vec<String> {
    let dir = manifest_dir().join("tests/fuzz-regressions");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| (n.ends_with(".o") || n.ends_with(".a")) && n != "intact.o")
        .collect();
    names.sort();
    assert!(
        names.len() >= 30,
        "fuzz regression inputs missing: {names:?}"
    );
    names
}

/// `prlimit --as=… gcc -static [EXTRA] -B <spacer> INPUT companion.o -o out/prog`: the input
/// goes through the whole link with the C library, as a user's object would.
fn hostile_gcc_link(
    case: &Case,
    input: &str,
    extra: &[&str],
    linker: Option<&Path>,
) -> (String, RunResult) {
    let mut cmd = Command::new("prlimit");
    cmd.current_dir(&case.dir)
        .args([HOSTILE_MEMORY, "gcc", "-static"])
        .args(extra);
    if let Some(dir) = linker {
        let mut b = dir.as_os_str().to_os_string();
        b.push("/");
        cmd.arg("-B").arg(b);
    }
    cmd.args([input, "companion.o", "-o", "out/prog"]);
    let command = display_command(&cmd);
    (command, run_with_timeout(&mut cmd, HOSTILE_TIMEOUT))
}

/// Every committed fuzz regression input, linked as an executable (plain and with
/// `--gc-sections`) and with `-r`: a clean error naming the input (status 1, no output file,
/// within the time and memory bounds), except where GNU ld makes a working program of it.
/// With `-r` spacer may be stricter than GNU ld (which copies relocations without looking at
/// them) but never laxer: where spacer writes an output, ld.bfd must write one too.
#[test]
fn fuzz_regressions_fail_cleanly() {
    let case = Case::new("fuzz_regressions");
    let src = manifest_dir().join("tests/fuzz-regressions");
    compile_to(
        Driver::Gcc,
        &src.join("companion.c"),
        &["-O2".to_string()],
        &case.path("companion.o"),
    );
    for name in fuzz_regression_inputs()
        .iter()
        .map(String::as_str)
        .chain(["intact.o"])
    {
        fs::copy(src.join(name), case.path(name)).unwrap();
        let out = case.path("out/prog");
        for extra in [&[][..], &["-Wl,--gc-sections"][..]] {
            let (command, r) = hostile_gcc_link(&case, name, extra, Some(linker_dir()));
            if name == "intact.o" || LINKED_LIKE_GNU_LD.contains(&name) {
                assert!(
                    r.success(),
                    "{name} should link as with GNU ld\n$ {command}\n{}",
                    r.stderr_str()
                );
                let ours = run_program(&out, &[], &case.dir);
                fs::remove_file(&out).unwrap();
                let (command, r) = hostile_gcc_link(&case, name, extra, None);
                assert!(r.success(), "ld.bfd: {command}\n{}", r.stderr_str());
                let theirs = run_program(&out, &[], &case.dir);
                fs::remove_file(&out).unwrap();
                assert_eq!(
                    (ours.code(), ours.stdout_str()),
                    (theirs.code(), theirs.stdout_str()),
                    "{name}{extra:?}: the program linked by spacer and by ld.bfd differ"
                );
            } else {
                check_failure(
                    &format!("{name} {extra:?}"),
                    &command,
                    &r,
                    &[name],
                    &case.dir.join("out"),
                );
            }
        }
        // -r: the linker alone.
        let mut cmd = Command::new("prlimit");
        cmd.current_dir(&case.dir)
            .args([HOSTILE_MEMORY])
            .arg(spacer_exe())
            .args(["ld", "-r", name, "companion.o", "-o", "out/prog"]);
        let command = display_command(&cmd);
        let r = run_with_timeout(&mut cmd, HOSTILE_TIMEOUT);
        if r.success() {
            fs::remove_file(&out).unwrap();
            let bfd = run_with_timeout(
                Command::new("ld.bfd").current_dir(&case.dir).args([
                    "-r",
                    name,
                    "companion.o",
                    "-o",
                    "reference.o",
                ]),
                LINK_TIMEOUT,
            );
            assert!(
                bfd.success(),
                "{name} -r: spacer accepted what ld.bfd refuses\n$ {command}\nld.bfd: {}",
                bfd.stderr_str()
            );
        } else {
            check_failure(
                &format!("{name} -r"),
                &command,
                &r,
                &[name],
                &case.dir.join("out"),
            );
        }
    }
}

/// LLVM bitcode (clang -flto): refused with a message that says what it is (ld.bfd, without
/// LLVM's plugin, does not know the format either).
#[test]
fn llvm_bitcode_input() {
    if !require_tool("clang", "clang") {
        return;
    }
    let case = Case::new("llvm_bitcode_input");
    let src = programs_dir().join("c_stdio.c");
    let mut clang = Command::new("clang");
    clang
        .args(["-O2", "-flto", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(case.path("bitcode.o"));
    must_run(&mut clang, LINK_TIMEOUT, "clang -flto -c");
    let args = ["-static", "-o", "out/prog", "bitcode.o"];
    case.reference_rejects(&args);
    case.expect_error(&args, &["bitcode.o", "LLVM bitcode"]);
}

/// `spacer layout plan` with commands it cannot plan from: fewer than two, a command that
/// fails, a command that does not link through spacer. Each is refused with a message naming
/// the command, and no layout file is written.
#[test]
fn fleet_plan_refuses_what_it_cannot_plan() {
    let case = Case::new("fleet_plan");
    let out = "out/fleet.layout";
    let cases: [(&str, &[&str], &[&str]); 3] = [
        ("one command", &["--", "true"], &["two programs"]),
        (
            "a failing command",
            &["--", "false", "--", "true"],
            &["link command 1 failed", "false"],
        ),
        (
            "a command that does not link",
            &["--", "true", "--", "true"],
            &["link command 1", "did not run spacer as its linker"],
        ),
    ];
    for (what, commands, mentions) in cases {
        let mut cmd = Command::new(spacer_exe());
        cmd.current_dir(case.path(""))
            .args(["layout", "plan", "--out", out, "--work", "work"])
            .args(commands);
        let command = display_command(&cmd);
        let r = run_with_timeout(&mut cmd, LINK_TIMEOUT);
        check_failure(
            &format!("fleet plan, {what}"),
            &command,
            &r,
            mentions,
            &case.path("out"),
        );
    }
}
