use super::*;
use std::process::Command as Process;

fn parse(text: &str) -> Script {
    match parse_script(text, "test.lds") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn parse_err(text: &str) -> String {
    match parse_script(text, "link64.lds") {
        Ok(s) => panic!("expected an error, parsed {s:?}"),
        Err(e) => e.to_string(),
    }
}

fn sections(s: &Script) -> Vec<&SectionsCommand> {
    s.commands
        .iter()
        .filter_map(|c| match c {
            Command::Sections(v) => Some(v),
            _ => None,
        })
        .flatten()
        .collect()
}

fn output<'s>(s: &'s Script, name: &str) -> &'s OutputSection {
    sections(s)
        .into_iter()
        .find_map(|c| match c {
            SectionsCommand::Output(o) if o.name == name => Some(o),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no output section {name}"))
}

fn inputs(o: &OutputSection) -> Vec<&InputSectionDesc> {
    o.commands
        .iter()
        .filter_map(|c| match c {
            OutputSectionCommand::Input(i) => Some(i),
            _ => None,
        })
        .collect()
}

fn expr(text: &str) -> Expr {
    let s = parse(&format!("x = {text};"));
    match &s.commands[0] {
        Command::Assignment(a) => a.expr.clone(),
        c => panic!("{c:?}"),
    }
}

fn sym(s: &str) -> Box<Expr> {
    Box::new(Expr::Symbol(s.into()))
}

fn num(n: u64) -> Box<Expr> {
    Box::new(Expr::Number(n))
}

/// GNU ld's built-in script, as `ld --verbose` prints it between lines of `=`.
fn gnu_default_script(extra: &[&str]) -> Option<String> {
    let out = Process::new("ld")
        .arg("--verbose")
        .args(extra)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut parts = text.split("==================================================");
    parts.next()?;
    let script = parts.next()?;
    parts.next()?;
    Some(script.to_string())
}

#[test]
fn gnu_ld_default_script() {
    let Some(text) = gnu_default_script(&[]) else {
        eprintln!("ld not found; skipping");
        return;
    };
    let s = parse(&text);
    assert!(s.commands.contains(&Command::OutputFormat(vec![
        "elf64-x86-64".into(),
        "elf64-x86-64".into(),
        "elf64-x86-64".into()
    ])));
    assert!(s
        .commands
        .contains(&Command::OutputArch("i386:x86-64".into())));
    assert!(s.commands.contains(&Command::Entry("_start".into())));
    assert!(s
        .commands
        .iter()
        .any(|c| matches!(c, Command::SearchDir(d) if d.starts_with("=/"))));

    // PROVIDE (__executable_start = SEGMENT_START("text-segment", 0x400000));
    let first = sections(&s)[0];
    let SectionsCommand::Assignment(a) = first else {
        panic!("{first:?}")
    };
    assert_eq!(a.kind, AssignKind::Provide);
    assert_eq!(a.target, "__executable_start");
    assert_eq!(
        a.expr,
        Expr::SegmentStart {
            segment: "text-segment".into(),
            default: num(0x400000)
        }
    );

    let text_sec = output(&s, ".text");
    let pats: Vec<&str> = inputs(text_sec)
        .iter()
        .flat_map(|i| i.sections.iter().map(|p| p.pattern.as_str()))
        .collect();
    assert!(pats.contains(&".text.unlikely"));
    assert!(pats.contains(&".text.*"));
    assert!(inputs(text_sec)
        .iter()
        .any(|i| i.sections.iter().any(|p| p.sort == Some(Sort::Name))));

    let init = inputs(output(&s, ".init"))[0];
    assert!(init.keep);
    assert_eq!(init.file.pattern, "*");
    assert_eq!(init.sections[0].pattern, ".init");
    assert_eq!(init.sections[0].sort, Some(Sort::None));

    let tdata = output(&s, ".tdata");
    assert!(tdata.commands.iter().any(|c| matches!(c,
        OutputSectionCommand::Assignment(a) if a.kind == AssignKind::ProvideHidden && a.target == "__tdata_start")));

    let init_array = output(&s, ".init_array");
    assert!(matches!(&init_array.commands[0],
        OutputSectionCommand::Assignment(a) if a.kind == AssignKind::ProvideHidden
            && a.target == "__init_array_start" && a.expr == Expr::Dot));
    let ia = inputs(init_array);
    assert!(ia[0].keep);
    assert_eq!(ia[0].sections.len(), 2);
    assert_eq!(ia[0].sections[0].pattern, ".init_array.*");
    assert_eq!(ia[0].sections[0].sort, Some(Sort::InitPriority));
    // EXCLUDE_FILE inside the list applies to the following pattern only.
    assert_eq!(ia[1].sections[0].pattern, ".init_array");
    assert!(ia[1].sections[0].exclude_files.is_empty());
    assert_eq!(ia[1].sections[1].pattern, ".ctors");
    assert_eq!(
        ia[1].sections[1].exclude_files,
        ["*crtbegin.o", "*crtbegin?.o", "*crtend.o", "*crtend?.o"]
    );

    let ctors = inputs(output(&s, ".ctors"));
    assert_eq!(ctors[0].file.pattern, "*crtbegin.o");
    assert_eq!(ctors[1].file.pattern, "*crtbegin?.o");

    assert!(output(&s, ".data")
        .commands
        .contains(&OutputSectionCommand::Constructors { sorted: true }));
    assert_eq!(
        output(&s, ".eh_frame").constraint,
        Some(Constraint::OnlyIfRo)
    );
    assert_eq!(output(&s, ".comment").address, Some(Expr::Number(0)));
    assert!(matches!(
        output(&s, ".lrodata").address,
        Some(Expr::Binary(BinaryOp::Add, _, _))
    ));
    assert!(inputs(output(&s, ".bss"))
        .iter()
        .any(|i| i.sections[0].pattern == "COMMON"));
    let discard = output(&s, "/DISCARD/");
    assert!(discard.is_discard());
    assert!(sections(&s).iter().any(|c| matches!(c,
        SectionsCommand::Assignment(a) if matches!(a.expr, Expr::DataSegmentRelroEnd { .. }))));
    // . = ALIGN(. != 0 ? 64 / 8 : 1);
    let bss_align = output(&s, ".bss").commands.iter().find_map(|c| match c {
        OutputSectionCommand::Assignment(a) if a.is_location_counter() => Some(a.expr.clone()),
        _ => None,
    });
    assert_eq!(
        bss_align,
        Some(Expr::Align {
            value: None,
            align: Box::new(Expr::Conditional(
                Box::new(Expr::Binary(BinaryOp::Ne, Box::new(Expr::Dot), num(0))),
                Box::new(Expr::Binary(BinaryOp::Div, num(64), num(8))),
                num(1)
            ))
        })
    );
}

#[test]
fn gnu_ld_script_variants() {
    let mut count = 0;
    for extra in [
        &["-shared"][..],
        &["-pie"],
        &["-r"],
        &["-N"],
        &["-z", "norelro"],
        &["-z", "noseparate-code"],
        &["-m", "elf_i386"],
    ] {
        if let Some(text) = gnu_default_script(extra) {
            parse(&text);
            count += 1;
        }
    }
    // The scripts binutils installs for every emulation and option combination.
    for dir in ["/usr/lib/x86_64-linux-gnu/ldscripts", "/usr/lib/ldscripts"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if let Err(err) = parse_script(&text, &path.to_string_lossy()) {
                panic!("{err}");
            }
            count += 1;
        }
    }
    eprintln!("parsed {count} GNU ld scripts");
}

/// A kernel image script in the style of a unikernel's `link64.lds.S` after `cpp -P`.
const KERNEL_LDS: &str = r#"
PHDRS
{
	text PT_LOAD FLAGS((0x4 | 0x1));
	rodata PT_LOAD FLAGS((0x4));
	data PT_LOAD;
	tls PT_TLS;
	tls_load PT_LOAD;
	stack PT_GNU_STACK FLAGS((0x4 | 0x2));
	headers PT_PHDR FILEHDR PHDRS;
	dynamic PT_DYNAMIC AT(0x1000);
	note 4;
}

SECTIONS
{
	. = 0x100000;
	_base_addr = .;
	_text = .;
	.text :
	{
		KEEP (*(.data.boot))
		KEEP (*(.data.boot.*))
		*(.text.boot)
		*(.text)
		*(.text.*)
	} :text
	_etext = .;

	. = ALIGN((1 << 12));
	_rodata = .;
	.rodata : { *(.rodata) *(.rodata.*) } :rodata
	_erodata = .;

	. = ALIGN((1 << 12));
	__eh_frame_start = .;
	.eh_frame : { KEEP(*(.eh_frame)) KEEP(*(.eh_frame.*)) }
	__eh_frame_end = .;

	uk_ctortab_start = .;
	.uk_ctortab : { KEEP(*(SORT_BY_NAME(.uk_ctortab[0-9]))) }
	uk_ctortab_end = .;
	.uk_inittab : { KEEP(*(SORT_BY_NAME(.uk_inittab[1-6][0-9]))) }

	. = ALIGN(0x8);
	.init_array : {
		PROVIDE_HIDDEN (__init_array_start = .);
		KEEP (*(SORT_BY_INIT_PRIORITY(.init_array.*) SORT_BY_INIT_PRIORITY(.ctors.*)))
		KEEP (*(.init_array .ctors))
		PROVIDE_HIDDEN (__init_array_end = .);
	}

	. = ALIGN((1 << 12));
	_tls_start = .;
	.tdata : { *(.tdata) *(.tdata.*) *(.gnu.linkonce.td.*) } :tls :tls_load
	_etdata = .;
	.tbss : { *(.tbss) *(.tbss.*) *(.gnu.linkonce.tb.*) *(.tcommon) } :tls
	_tls_end = . + SIZEOF(.tbss);

	. = ALIGN((1 << 12));
	_data = .;
	.data : { *(.data) *(.data.*) } :data
	_edata = .;
	. = ALIGN((1 << 12));
	__bss_start = .;
	.bss : { *(.bss) *(.bss.*) *(COMMON) . = ALIGN((1 << 12)); }
	_end = .;
	.comment 0 : { *(.comment) }
	.debug_info 0 : { *(.debug_info .gnu.linkonce.wi.*) }
	.gnu.attributes 0 : { KEEP (*(.gnu.attributes)) }
	/DISCARD/ : { *(.note.gnu.build-id) }
}
"#;

#[test]
fn kernel_script() {
    let s = parse(KERNEL_LDS);
    let Command::Phdrs(ph) = &s.commands[0] else {
        panic!()
    };
    assert_eq!(ph.len(), 9);
    assert_eq!(ph[0].name, "text");
    assert_eq!(ph[0].type_, PhdrType::Known(PtKind::Load));
    assert_eq!(
        ph[0].flags,
        Some(Expr::Binary(BinaryOp::BitOr, num(4), num(1)))
    );
    assert_eq!(ph[3].type_, PhdrType::Known(PtKind::Tls));
    assert_eq!(ph[5].type_, PhdrType::Known(PtKind::GnuStack));
    assert!(ph[6].filehdr && ph[6].phdrs);
    assert!(!ph[0].filehdr && !ph[0].phdrs);
    assert_eq!(ph[7].at, Some(Expr::Number(0x1000)));
    assert_eq!(ph[8].type_, PhdrType::Expr(Expr::Number(4)));
    assert_eq!(
        ph[8].loc,
        Loc {
            line: 12,
            column: 2
        }
    );

    let text = output(&s, ".text");
    assert_eq!(text.phdrs, ["text"]);
    assert!(inputs(text)[0].keep);
    assert!(!inputs(text)[2].keep);
    assert_eq!(output(&s, ".tdata").phdrs, ["tls", "tls_load"]);
    assert_eq!(output(&s, ".tbss").phdrs, ["tls"]);
    let tab = inputs(output(&s, ".uk_inittab"))[0];
    assert_eq!(tab.sections[0].pattern, ".uk_inittab[1-6][0-9]");
    assert_eq!(tab.sections[0].sort, Some(Sort::Name));
    let cmds = sections(&s);
    assert!(cmds.iter().any(|c| matches!(c,
        SectionsCommand::Assignment(a) if a.target == "_tls_end"
            && a.expr == Expr::Binary(BinaryOp::Add, Box::new(Expr::Dot),
                Box::new(Expr::SizeOf(".tbss".into()))))));
    assert!(cmds.iter().any(|c| matches!(c,
        SectionsCommand::Assignment(a) if a.is_location_counter()
            && a.expr == Expr::Align { value: None,
                align: Box::new(Expr::Binary(BinaryOp::Shl, num(1), num(12))) })));
    let bss = output(&s, ".bss");
    assert!(
        matches!(bss.commands.last(), Some(OutputSectionCommand::Assignment(a)) if a.target == ".")
    );
    assert_eq!(output(&s, ".comment").address, Some(Expr::Number(0)));
    assert_eq!(output(&s, "/DISCARD/").loc.line, 71);
}

#[test]
fn insert_fragments() {
    let s = parse(
        "SECTIONS\n{\n\t.uk_thread_inittab : {\n\t\tPROVIDE(_uk_thread_inittab_start = .);\n\
         \t\tKEEP (*(.uk_thread_inittab0))\n\t\tKEEP (*(.uk_thread_inittab0.*))\n\
         \t\tPROVIDE(_uk_thread_inittab_end = .);\n\t}\n}\nINSERT AFTER .rodata;\n",
    );
    assert_eq!(s.commands.len(), 2);
    assert_eq!(
        s.commands[1],
        Command::Insert {
            after: true,
            section: ".rodata".into()
        }
    );
    let o = output(&s, ".uk_thread_inittab");
    assert!(matches!(&o.commands[0], OutputSectionCommand::Assignment(a)
        if a.kind == AssignKind::Provide && a.target == "_uk_thread_inittab_start"));

    // `;` after input descriptions, INSERT without `;`, two SECTIONS/INSERT pairs.
    let s = parse(
        "SECTIONS {\n  . = ALIGN(8);\n  PROVIDE(params_start = .);\n  .uk_params : {\n\
         KEEP(*(SORT_BY_NAME(.uk_params)));\n  }\n  PROVIDE(params_end = .);\n}\n\
         INSERT AFTER .rodata\n\
         SECTIONS { .uk_reloc : { _uk_reloc_start = .; . += 4; KEEP(*(.uk_reloc)) } :data }\n\
         INSERT BEFORE .bss\n\
         PHDRS { dynamic PT_DYNAMIC; }\n\
         SECTIONS { .uk_testtab ALIGN(8) : { KEEP(*(SORT_BY_NAME(.uk_testtab_*))) } }\n\
         INSERT AFTER .data;",
    );
    let inserts: Vec<_> = s
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Insert { after, section } => Some((*after, section.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        inserts,
        [(true, ".rodata"), (false, ".bss"), (true, ".data")]
    );
    let reloc = output(&s, ".uk_reloc");
    assert!(
        matches!(&reloc.commands[1], OutputSectionCommand::Assignment(a)
        if a.op == AssignOp::Add && a.target == "." && a.expr == Expr::Number(4))
    );
    assert_eq!(reloc.phdrs, ["data"]);
    assert_eq!(
        output(&s, ".uk_testtab").address,
        Some(Expr::Align {
            value: None,
            align: num(8)
        })
    );
}

#[test]
fn top_level_commands() {
    let s = parse(
        r#"
        OUTPUT_FORMAT(elf64-x86-64)
        OUTPUT_ARCH(i386:x86-64)
        TARGET(binary)
        OUTPUT(a.out)
        ENTRY(_start)
        SEARCH_DIR(/usr/lib) SEARCH_DIR("=/lib")
        STARTUP(crt0.o)
        INPUT(a.o, "b c.o" -lfoo /usr/lib/libx.a)
        GROUP ( /lib/libc.so.6 /usr/lib/libc_nonshared.a AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 -lm ) )
        INCLUDE other.ld
        EXTERN(foo bar, baz)
        NOCROSSREFS(.text .data)
        NOCROSSREFS_TO(.text .data)
        FORCE_COMMON_ALLOCATION
        INHIBIT_COMMON_ALLOCATION
        REGION_ALIAS("REGION_TEXT", rom)
        LD_FEATURE("SANE_EXPR")
        ASSERT(DEFINED(_start), "no entry point")
        PROVIDE(foo = 1);
        PROVIDE_HIDDEN(bar = foo + 1)
        HIDDEN(baz = 3);
        "quoted sym" = 4;
        x += 2; y -= 1; z *= 3; w /= 2; v <<= 1; u >>= 1; t &= 1; s |= 1; r ^= 1;
        a=1,b=2;
        HLL() FLOAT NOFLOAT
        VERSION { VERS_1.0 { global: foo; local: *; }; VERS_2.0 { bar; } VERS_1.0; }
        "#,
    );
    let c = &s.commands;
    assert_eq!(c[0], Command::OutputFormat(vec!["elf64-x86-64".into()]));
    assert_eq!(c[2], Command::Target("binary".into()));
    assert_eq!(c[3], Command::Output("a.out".into()));
    assert_eq!(c[5], Command::SearchDir("/usr/lib".into()));
    assert_eq!(c[6], Command::SearchDir("=/lib".into()));
    assert_eq!(c[7], Command::Startup("crt0.o".into()));
    assert_eq!(
        c[8],
        Command::Input(vec![
            InputItem::File("a.o".into()),
            InputItem::File("b c.o".into()),
            InputItem::Library("foo".into()),
            InputItem::File("/usr/lib/libx.a".into()),
        ])
    );
    assert_eq!(
        c[9],
        Command::Group(vec![
            InputItem::File("/lib/libc.so.6".into()),
            InputItem::File("/usr/lib/libc_nonshared.a".into()),
            InputItem::AsNeeded(vec![
                InputItem::File("/lib64/ld-linux-x86-64.so.2".into()),
                InputItem::Library("m".into()),
            ]),
        ])
    );
    assert_eq!(c[10], Command::Include("other.ld".into()));
    assert_eq!(
        c[11],
        Command::Extern(vec!["foo".into(), "bar".into(), "baz".into()])
    );
    assert_eq!(
        c[12],
        Command::NoCrossRefs(vec![".text".into(), ".data".into()])
    );
    assert!(matches!(c[13], Command::NoCrossRefsTo(_)));
    assert_eq!(c[14], Command::ForceCommonAllocation);
    assert_eq!(c[15], Command::InhibitCommonAllocation);
    assert_eq!(
        c[16],
        Command::RegionAlias {
            alias: "REGION_TEXT".into(),
            region: "rom".into()
        }
    );
    assert_eq!(c[17], Command::LdFeature("SANE_EXPR".into()));
    let Command::Assert(a) = &c[18] else { panic!() };
    assert_eq!(a.expr, Expr::Defined("_start".into()));
    assert_eq!(a.message, "no entry point");
    let kinds: Vec<_> = c[19..22]
        .iter()
        .map(|c| match c {
            Command::Assignment(a) => (a.kind, a.target.as_str()),
            _ => panic!("{c:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (AssignKind::Provide, "foo"),
            (AssignKind::ProvideHidden, "bar"),
            (AssignKind::Hidden, "baz")
        ]
    );
    let ops: Vec<_> = c[22..34]
        .iter()
        .map(|c| match c {
            Command::Assignment(a) => (a.target.as_str(), a.op),
            _ => panic!("{c:?}"),
        })
        .collect();
    use AssignOp::*;
    assert_eq!(
        ops,
        [
            ("quoted sym", Assign),
            ("x", Add),
            ("y", Sub),
            ("z", Mul),
            ("w", Div),
            ("v", Shl),
            ("u", Shr),
            ("t", And),
            ("s", Or),
            ("r", Xor),
            ("a", Assign),
            ("b", Assign)
        ]
    );
    assert!(matches!(&c[34], Command::Unsupported { name, .. } if name == "HLL"));
    let Command::Version(v) = &c[37] else {
        panic!("{:?}", c[37])
    };
    assert!(v.starts_with("VERS_1.0 {") && v.ends_with("VERS_1.0;"));
    assert_eq!(c.len(), 38);
}

#[test]
fn memory_and_regions() {
    let s = parse(
        "MEMORY\n{\n  rom (rx) : ORIGIN = 0x0, LENGTH = 256K\n  ram (!rx) : org = 0x20000000, l = 64K\n\
         \x20 \"big\" : o = 1M len = 2M\n}\n\
         SECTIONS {\n  .text : { *(.text) } >rom\n  .data : AT(0x100) { *(.data) } >ram AT>rom :data =0x90\n\
         \x20 .bss (NOLOAD) : { *(.bss) } > ram,\n  . = ORIGIN(ram) + LENGTH(ram);\n}",
    );
    let Command::Memory(m) = &s.commands[0] else {
        panic!()
    };
    let regions: Vec<&MemoryRegion> = m
        .iter()
        .map(|c| match c {
            MemoryCommand::Region(r) => r,
            _ => panic!(),
        })
        .collect();
    assert_eq!(regions[0].name, "rom");
    assert_eq!(regions[0].attributes.as_deref(), Some("rx"));
    assert_eq!(regions[0].length, Expr::Number(256 * 1024));
    assert_eq!(regions[1].attributes.as_deref(), Some("!rx"));
    assert_eq!(regions[1].origin, Expr::Number(0x2000_0000));
    assert_eq!(regions[2].name, "big");
    assert_eq!(regions[2].length, Expr::Number(2 << 20));
    assert_eq!(output(&s, ".text").region.as_deref(), Some("rom"));
    let data = output(&s, ".data");
    assert_eq!(data.at, Some(Expr::Number(0x100)));
    assert_eq!(data.region.as_deref(), Some("ram"));
    assert_eq!(data.lma_region.as_deref(), Some("rom"));
    assert_eq!(data.phdrs, ["data"]);
    assert_eq!(data.fill, Some(Expr::Number(0x90)));
    let bss = output(&s, ".bss");
    assert_eq!(bss.type_, Some(SectionType::NoLoad));
    assert_eq!(bss.region.as_deref(), Some("ram"));
}

#[test]
fn output_section_heads() {
    let s = parse(
        "SECTIONS {\n\
         .a 0x1000 (NOLOAD) : { *(.a) }\n\
         .b (COPY) : { *(.b) }\n\
         .c (READONLY) : {}\n\
         .d (TYPE = SHT_PROGBITS) : { BYTE(1) SHORT(2) LONG(3) QUAD(4) SQUAD(-5) FILL(0x90) ASCIZ \"hi\" }\n\
         .e (READONLY (TYPE = 1)) : { LINKER_VERSION CREATE_OBJECT_SYMBOLS CONSTRUCTORS }\n\
         .f : AT(ADDR(.a) + 0x10) ALIGN(16) SUBALIGN(4) ONLY_IF_RW { *(.f) }\n\
         .g : ALIGN_WITH_INPUT SPECIAL { INCLUDE g.ld ASSERT(. < 0x100, \"too big\"); }\n\
         .h: { *(.h) }\n\
         .i base_sym (INFO) : { *(.i) }\n\
         .j () : { *(.j) }\n\
         \"quoted name\" : { *(.q) }\n\
         .note.gnu.build-id : { *(.note.gnu.build-id) }\n\
         ENTRY(main)\n\
         INCLUDE more.ld\n\
         ASSERT(SIZEOF(.a) == 0, msg)\n\
         }",
    );
    let a = output(&s, ".a");
    assert_eq!(a.address, Some(Expr::Number(0x1000)));
    assert_eq!(a.type_, Some(SectionType::NoLoad));
    assert_eq!(output(&s, ".b").type_, Some(SectionType::Copy));
    assert_eq!(output(&s, ".c").type_, Some(SectionType::ReadOnly(None)));
    assert!(output(&s, ".c").commands.is_empty());
    let d = output(&s, ".d");
    assert_eq!(
        d.type_,
        Some(SectionType::Type(Expr::Symbol("SHT_PROGBITS".into())))
    );
    assert_eq!(
        d.commands,
        [
            OutputSectionCommand::Data {
                size: DataSize::Byte,
                expr: Expr::Number(1)
            },
            OutputSectionCommand::Data {
                size: DataSize::Short,
                expr: Expr::Number(2)
            },
            OutputSectionCommand::Data {
                size: DataSize::Long,
                expr: Expr::Number(3)
            },
            OutputSectionCommand::Data {
                size: DataSize::Quad,
                expr: Expr::Number(4)
            },
            OutputSectionCommand::Data {
                size: DataSize::SQuad,
                expr: Expr::Unary(UnaryOp::Neg, num(5))
            },
            OutputSectionCommand::Fill(Expr::Number(0x90)),
            OutputSectionCommand::Asciz("hi".into()),
        ]
    );
    let e = output(&s, ".e");
    assert_eq!(e.type_, Some(SectionType::ReadOnly(Some(Expr::Number(1)))));
    assert_eq!(
        e.commands,
        [
            OutputSectionCommand::LinkerVersion,
            OutputSectionCommand::CreateObjectSymbols,
            OutputSectionCommand::Constructors { sorted: false }
        ]
    );
    let f = output(&s, ".f");
    assert_eq!(
        f.at,
        Some(Expr::Binary(
            BinaryOp::Add,
            Box::new(Expr::Addr(".a".into())),
            num(0x10)
        ))
    );
    assert_eq!(f.align, Some(Expr::Number(16)));
    assert_eq!(f.subalign, Some(Expr::Number(4)));
    assert_eq!(f.constraint, Some(Constraint::OnlyIfRw));
    let g = output(&s, ".g");
    assert!(g.align_with_input);
    assert_eq!(g.constraint, Some(Constraint::Special));
    assert_eq!(g.commands[0], OutputSectionCommand::Include("g.ld".into()));
    assert!(matches!(&g.commands[1], OutputSectionCommand::Assert(a) if a.message == "too big"));
    assert_eq!(inputs(output(&s, ".h")).len(), 1);
    let i = output(&s, ".i");
    assert_eq!(i.address, Some(Expr::Symbol("base_sym".into())));
    assert_eq!(i.type_, Some(SectionType::Info));
    assert_eq!(output(&s, ".j").type_, None);
    output(&s, "quoted name");
    output(&s, ".note.gnu.build-id");
    let cmds = sections(&s);
    assert!(cmds.contains(&&SectionsCommand::Entry("main".into())));
    assert!(cmds.contains(&&SectionsCommand::Include("more.ld".into())));
    assert!(matches!(cmds.last(), Some(SectionsCommand::Assert(a)) if a.message == "msg"));
}

#[test]
fn input_section_descriptions() {
    let s = parse(
        "SECTIONS { .x : {\n\
         *(.text .text.*)\n\
         *(.a, .b)\n\
         libfoo*.a:bar.o(.data)\n\
         crt0.o\n\
         \"odd file.o\"(.odd)\n\
         EXCLUDE_FILE(*crtend.o *otherfile.o) *(.ctors)\n\
         *(SORT_BY_NAME(SORT_BY_ALIGNMENT(.s1)) SORT_BY_ALIGNMENT(SORT_BY_NAME(.s2)))\n\
         *(SORT(SORT(.s3)) SORT_BY_ALIGNMENT(SORT_BY_ALIGNMENT(.s4)) SORT_NONE(.s5))\n\
         *(REVERSE(.r1) SORT_BY_NAME(REVERSE(.r2)) REVERSE(SORT_BY_INIT_PRIORITY(.r3)))\n\
         *(SORT(EXCLUDE_FILE(a.o) .e1) EXCLUDE_FILE(b.o c.o) .e2 .e3)\n\
         SORT(*)(.sorted_files)\n\
         INPUT_SECTION_FLAGS (SHF_MERGE & SHF_STRINGS & !SHF_WRITE) *(.rodata.str*)\n\
         KEEP(INPUT_SECTION_FLAGS(SHF_ALLOC) *(.k))\n\
         *(.text$*) *(.uk[1-6][0-9]) *(.x?y) *(.[!a]*)\n\
         :nonarchive.o(.z)\n\
         } }",
    );
    let i = inputs(output(&s, ".x"));
    let pat =
        |n: usize| -> Vec<&str> { i[n].sections.iter().map(|p| p.pattern.as_str()).collect() };
    assert_eq!(i[0].file.pattern, "*");
    assert_eq!(pat(0), [".text", ".text.*"]);
    assert_eq!(pat(1), [".a", ".b"]);
    assert_eq!(i[2].file.pattern, "libfoo*.a:bar.o");
    assert_eq!(i[2].file.archive_member(), Some(("libfoo*.a", "bar.o")));
    assert_eq!(i[3].file.pattern, "crt0.o");
    assert!(i[3].sections.is_empty());
    assert_eq!(i[4].file.pattern, "odd file.o");
    assert_eq!(i[5].file.exclude, ["*crtend.o", "*otherfile.o"]);
    assert_eq!(i[5].file.pattern, "*");
    let sorts = |n: usize| -> Vec<(Option<Sort>, bool)> {
        i[n].sections.iter().map(|p| (p.sort, p.reverse)).collect()
    };
    assert_eq!(
        sorts(6),
        [
            (Some(Sort::NameThenAlignment), false),
            (Some(Sort::AlignmentThenName), false)
        ]
    );
    assert_eq!(
        sorts(7),
        [
            (Some(Sort::Name), false),
            (Some(Sort::Alignment), false),
            (Some(Sort::None), false)
        ]
    );
    assert_eq!(
        sorts(8),
        [
            (Some(Sort::Name), true),
            (Some(Sort::Name), true),
            (Some(Sort::InitPriority), true)
        ]
    );
    assert_eq!(pat(9), [".e1", ".e2", ".e3"]);
    assert_eq!(i[9].sections[0].exclude_files, ["a.o"]);
    assert_eq!(i[9].sections[0].sort, Some(Sort::Name));
    assert_eq!(i[9].sections[1].exclude_files, ["b.o", "c.o"]);
    assert!(i[9].sections[2].exclude_files.is_empty());
    assert_eq!(i[10].file.sort, Some(Sort::Name));
    assert_eq!(
        i[11].flags,
        [
            SectionFlag {
                name: "SHF_MERGE".into(),
                negated: false
            },
            SectionFlag {
                name: "SHF_STRINGS".into(),
                negated: false
            },
            SectionFlag {
                name: "SHF_WRITE".into(),
                negated: true
            },
        ]
    );
    assert!(i[12].keep);
    assert_eq!(i[12].flags.len(), 1);
    assert_eq!(pat(13), [".text$*"]);
    assert_eq!(pat(14), [".uk[1-6][0-9]"]);
    assert_eq!(pat(15), [".x?y"]);
    assert_eq!(pat(16), [".[!a]*"]);
    assert_eq!(i[17].file.archive_member(), Some(("", "nonarchive.o")));
    assert_eq!(i.len(), 18);
}

#[test]
fn overlays() {
    let s = parse(
        "SECTIONS {\n OVERLAY 0x1000 : NOCROSSREFS AT (0x4000) {\n\
         .text0 { o1/*.o(.text) } :ov =0\n .text1 { o2/*.o(.text) }\n } >ram :text =0x90,\n\
         OVERLAY : { .a { *(.a) } .b { *(.b) } }\n}",
    );
    let ovs: Vec<&Overlay> = sections(&s)
        .into_iter()
        .filter_map(|c| match c {
            SectionsCommand::Overlay(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(ovs.len(), 2);
    let o = ovs[0];
    assert_eq!(o.start, Some(Expr::Number(0x1000)));
    assert!(o.no_cross_refs);
    assert_eq!(o.at, Some(Expr::Number(0x4000)));
    assert_eq!(o.sections.len(), 2);
    assert_eq!(o.sections[0].name, ".text0");
    assert_eq!(o.sections[0].phdrs, ["ov"]);
    assert_eq!(o.sections[0].fill, Some(Expr::Number(0)));
    let OutputSectionCommand::Input(i) = &o.sections[1].commands[0] else {
        panic!()
    };
    assert_eq!(i.file.pattern, "o2/*.o");
    assert_eq!(o.region.as_deref(), Some("ram"));
    assert_eq!(o.phdrs, ["text"]);
    assert_eq!(o.fill, Some(Expr::Number(0x90)));
    assert_eq!(ovs[1].start, None);
    assert_eq!(ovs[1].sections.len(), 2);
}

#[test]
fn expressions() {
    use BinaryOp::*;
    let bin = |op, a: Box<Expr>, b: Box<Expr>| Box::new(Expr::Binary(op, a, b));
    assert_eq!(
        expr("1 + 2 * 3"),
        *bin(Add, num(1), bin(Mul, num(2), num(3)))
    );
    assert_eq!(
        expr("1 - 2 - 3"),
        *bin(Sub, bin(Sub, num(1), num(2)), num(3))
    );
    assert_eq!(expr("a-b"), *bin(Sub, sym("a"), sym("b")));
    assert_eq!(
        expr("(1 + 2) * 3"),
        *bin(Mul, bin(Add, num(1), num(2)), num(3))
    );
    assert_eq!(
        expr("1 << 2 + 3"),
        *bin(Shl, num(1), bin(Add, num(2), num(3)))
    );
    assert_eq!(
        expr("a & b == c"),
        *bin(BitAnd, sym("a"), bin(Eq, sym("b"), sym("c")))
    );
    assert_eq!(
        expr("a || b && c | d ^ e"),
        *bin(
            LogOr,
            sym("a"),
            bin(
                LogAnd,
                sym("b"),
                bin(BitOr, sym("c"), bin(BitXor, sym("d"), sym("e")))
            )
        )
    );
    assert_eq!(
        expr("a < b != c >= d"),
        *bin(Ne, bin(Lt, sym("a"), sym("b")), bin(Ge, sym("c"), sym("d")))
    );
    assert_eq!(
        expr("10 % 3 / 2"),
        *bin(Div, bin(Mod, num(10), num(3)), num(2))
    );
    assert_eq!(
        expr("a ? b : c ? d : e"),
        Expr::Conditional(
            sym("a"),
            sym("b"),
            Box::new(Expr::Conditional(sym("c"), sym("d"), sym("e")))
        )
    );
    assert_eq!(
        expr("-~!+x"),
        Expr::Unary(
            UnaryOp::Neg,
            Box::new(Expr::Unary(
                UnaryOp::BitNot,
                Box::new(Expr::Unary(UnaryOp::Not, sym("x")))
            ))
        )
    );
    assert_eq!(
        expr("- 1 * 2"),
        *bin(Mul, Box::new(Expr::Unary(UnaryOp::Neg, num(1))), num(2))
    );
    assert_eq!(expr("0x10 + 010 + 10 + 4K + 2M + 10h + 101b + 17o + 9d"), {
        let vals = [0x10, 8, 10, 4096, 2 << 20, 16, 5, 15, 9];
        let mut e = num(vals[0]);
        for v in &vals[1..] {
            e = bin(Add, e, num(*v));
        }
        *e
    });
    assert_eq!(
        expr("\"weird-sym\" + .foo"),
        *bin(Add, sym("weird-sym"), sym(".foo"))
    );
    assert_eq!(expr("."), Expr::Dot);
    assert_eq!(
        expr("ALIGN(., 16)"),
        Expr::Align {
            value: Some(Box::new(Expr::Dot)),
            align: num(16)
        }
    );
    assert_eq!(expr("ALIGNOF(.tdata)"), Expr::AlignOf(".tdata".into()));
    assert_eq!(expr("SIZEOF(.got-plt)"), Expr::SizeOf(".got-plt".into()));
    assert_eq!(expr("SIZEOF_HEADERS"), Expr::SizeOfHeaders);
    assert_eq!(expr("LOADADDR(.data)"), Expr::LoadAddr(".data".into()));
    assert_eq!(expr("DEFINED(foo)"), Expr::Defined("foo".into()));
    assert_eq!(expr("ABSOLUTE(x)"), Expr::Absolute(sym("x")));
    assert_eq!(expr("MAX(1, 2)"), Expr::Max(num(1), num(2)));
    assert_eq!(expr("MIN(1, 2)"), Expr::Min(num(1), num(2)));
    assert_eq!(
        expr("CONSTANT (COMMONPAGESIZE)"),
        Expr::Constant(ConstantKind::CommonPageSize)
    );
    assert_eq!(
        expr("DATA_SEGMENT_ALIGN(CONSTANT(MAXPAGESIZE), 4096)"),
        Expr::DataSegmentAlign {
            max_page_size: Box::new(Expr::Constant(ConstantKind::MaxPageSize)),
            common_page_size: num(4096)
        }
    );
    assert_eq!(
        expr("DATA_SEGMENT_END(.)"),
        Expr::DataSegmentEnd(Box::new(Expr::Dot))
    );
    assert_eq!(
        expr("SEGMENT_START(\"text-segment\", 0x400000)"),
        Expr::SegmentStart {
            segment: "text-segment".into(),
            default: num(0x400000)
        }
    );
    assert_eq!(expr("NEXT(8)"), Expr::Next(num(8)));
    assert_eq!(expr("ORIGIN(ram)"), Expr::Origin("ram".into()));
    assert_eq!(expr("LENGTH(ram)"), Expr::Length("ram".into()));
    assert_eq!(expr("LOG2CEIL(100)"), Expr::Log2Ceil(num(100)));
    assert_eq!(expr("BLOCK(0x1000)"), Expr::Block(num(0x1000)));
    assert_eq!(
        expr("ASSERT(x, \"m\")"),
        Expr::Assert {
            expr: sym("x"),
            message: "m".into()
        }
    );
}

#[test]
fn lone_expressions() {
    assert_eq!(
        parse_expression("__stack_top - 0x10", "--defsym").unwrap(),
        Expr::Binary(BinaryOp::Sub, sym("__stack_top"), num(0x10))
    );
    assert_eq!(
        parse_expression("1 2", "--defsym").unwrap_err().to_string(),
        "--defsym:1:3: expected end of expression but found '2'"
    );
    assert_eq!(
        parse_script("INCLUDE @x.ld", "t").unwrap().commands,
        [Command::Include("@x.ld".into())]
    );
}

#[test]
fn locations() {
    let s = parse("\n\nSECTIONS\n{\n\t.text : {\n  *(.text)\n }\n  x = 1;\n}\n");
    let o = output(&s, ".text");
    assert_eq!(o.loc, Loc { line: 5, column: 2 });
    assert_eq!(inputs(o)[0].loc, Loc { line: 6, column: 3 });
    let SectionsCommand::Assignment(a) = sections(&s)[1] else {
        panic!()
    };
    assert_eq!(a.loc, Loc { line: 8, column: 3 });
}

#[test]
fn errors() {
    assert_eq!(
        parse_err("SECTIONS\n{\n  .text : {\n    KEEP(*(.text) {\n"),
        "link64.lds:4:19: expected ')' but found '{'"
    );
    assert_eq!(
        parse_err("ENTRY(_start)\n/* unterminated\n comment"),
        "link64.lds:2:1: unterminated comment"
    );
    assert_eq!(
        parse_err("ENTRY(_start)\n  FROBNICATE(1)\n"),
        "link64.lds:2:3: unknown linker script command 'FROBNICATE'"
    );
    assert_eq!(
        parse_err("SECTIONS {\n  . = ALIGN(4;\n}"),
        "link64.lds:2:14: expected ')' but found ';'"
    );
    assert_eq!(
        parse_err("SECTIONS { .text : { *(.text) }"),
        "link64.lds:1:32: expected an output section, an assignment or '}' but found end of file"
    );
    assert_eq!(
        parse_err("x = 1 +;"),
        "link64.lds:1:8: expected an expression but found ';'"
    );
    assert_eq!(
        parse_err("x = 12q;"),
        "link64.lds:1:5: invalid number '12q'"
    );
    assert_eq!(
        parse_err("x = \"open;"),
        "link64.lds:1:5: unterminated string"
    );
    assert_eq!(
        parse_err("x = FOO(1);"),
        "link64.lds:1:5: unknown function 'FOO'"
    );
    assert_eq!(
        parse_err("x = CONSTANT(PAGESIZE);"),
        "link64.lds:1:14: unknown constant 'PAGESIZE' in CONSTANT()"
    );
    assert_eq!(
        parse_err("OUTPUT_FORMAT(a, b)"),
        "link64.lds:1:14: OUTPUT_FORMAT takes one or three names"
    );
    assert_eq!(
        parse_err("SECTIONS { .t : { *(SORT_NONE(SORT_BY_NAME(.t))) } }"),
        "link64.lds:1:31: SORT_BY_NAME cannot be nested inside SORT_NONE"
    );
    assert_eq!(
        parse_err("SECTIONS { .t : { *() } }"),
        "link64.lds:1:21: expected a section name pattern but found ')'"
    );
    assert_eq!(
        parse_err("INSERT INTO .text"),
        "link64.lds:1:8: expected AFTER or BEFORE but found 'INTO'"
    );
    assert_eq!(
        parse_err("PHDRS { text PT_LOAD FLAGS(5) junk; }"),
        "link64.lds:1:31: expected ';' but found 'junk'"
    );
    assert_eq!(
        parse_err("x = @;"),
        "link64.lds:1:5: unexpected character '@'"
    );
    assert_eq!(
        parse_err("MEMORY { ram : ORIGIN = 0 }"),
        "link64.lds:1:27: expected LENGTH but found '}'"
    );
    // Columns count characters, not bytes.
    assert_eq!(
        parse_err("/* é */ BAD"),
        "link64.lds:1:9: unknown linker script command 'BAD'"
    );
    let deep = format!("x = {}1{};", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_err(&deep).contains("nesting too deep"));
    let deep = format!("x = {}1;", "-".repeat(10_000));
    assert!(parse_err(&deep).contains("nesting too deep"));
    let deep = format!("INPUT({})", "AS_NEEDED(".repeat(10_000));
    assert!(parse_err(&deep).contains("nesting too deep"));
}

#[test]
fn lenient_separators_and_comments() {
    let s = parse(
        "# 1 \"link64.lds.S\"\n# 1 \"<built-in>\" 1\nSECTIONS\n{\n  a = 1\n  b = 2;;\n  .t : { x = 3; *(.t) y = 4 }\n  c = 5\n}\n;ENTRY(s);",
    );
    assert_eq!(sections(&s).len(), 4);
    let t = output(&s, ".t");
    assert_eq!(t.commands.len(), 3);
    assert!(s.commands.contains(&Command::Entry("s".into())));
}

/// Small deterministic generator for the fuzz test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn never_panics_on_mangled_scripts() {
    let mut corpus = vec![KERNEL_LDS.to_string()];
    corpus.extend(gnu_default_script(&[]));
    corpus.push(
        "MEMORY { r (rx) : ORIGIN = 0, LENGTH = 1K } SECTIONS { OVERLAY : { .a { *(.a) } } \
         .x (READONLY (TYPE = 1)) : AT(0) { KEEP(INPUT_SECTION_FLAGS(!SHF_WRITE) \
         SORT(*)(REVERSE(SORT_BY_NAME(.x*)))) } >r AT>r :p =1, } VERSION { V { *; }; } \
         INPUT(AS_NEEDED(-lc)) PHDRS { p PT_LOAD FILEHDR PHDRS AT(1) FLAGS(7); }"
            .to_string(),
    );
    let alphabet: &[u8] = b"(){}[];:,=+-*/<>!~?&|^\"'.$ \n\t0123456789abcxyzKMh_ #\\";
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for text in &corpus {
        // Every truncation at a character boundary.
        for (i, _) in text.char_indices().step_by(3) {
            let _ = parse_script(&text[..i], "t.lds");
        }
        // Random byte replacements, insertions and deletions.
        for _ in 0..1000 {
            let mut bytes = text.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                let c = alphabet[rng.below(alphabet.len())];
                match rng.below(3) {
                    0 => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let mangled = String::from_utf8_lossy(&bytes);
            if let Err(e) = parse_script(&mangled, "t.lds") {
                assert!(e.line >= 1 && e.column >= 1, "{e}");
            }
        }
    }
}

/// Parses every file in the directory named by `SPACER_TEST_SCRIPTS` (if set), e.g. a
/// collection of preprocessed project linker scripts.
#[test]
fn scripts_from_environment() {
    let Some(dir) = std::env::var_os("SPACER_TEST_SCRIPTS") else {
        return;
    };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("SPACER_TEST_SCRIPTS")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    for path in &entries {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        if let Err(e) = parse_script(&text, &path.to_string_lossy()) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("parsed {} scripts", entries.len());
}
