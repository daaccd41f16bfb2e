//! Syntax tree of a GNU ld linker script.
//!
//! The tree mirrors the script as written: nothing is evaluated, no names are resolved and
//! no file named by `INCLUDE` is read. Nodes that later stages may need to blame in a
//! diagnostic carry a [`Loc`], the 1-based line and column where they start.

use std::fmt;

/// A position in a script: 1-based line and column (columns count characters, a tab is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A whole linker script: its top-level commands in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    /// The name the script was parsed under (used in diagnostics).
    pub file: String,
    pub commands: Vec<Command>,
}

/// A top-level command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `ENTRY(symbol)`
    Entry(String),
    /// `OUTPUT_FORMAT(bfdname)` or `OUTPUT_FORMAT(default, big, little)`.
    OutputFormat(Vec<String>),
    /// `OUTPUT_ARCH(arch)`, e.g. `i386:x86-64`.
    OutputArch(String),
    /// `OUTPUT(filename)`
    Output(String),
    /// `TARGET(bfdname)`
    Target(String),
    /// `SEARCH_DIR(path)`; a leading `=` or `$SYSROOT` is kept as written.
    SearchDir(String),
    /// `STARTUP(filename)`
    Startup(String),
    /// `MAP(filename)`
    Map(String),
    /// `INPUT(...)`
    Input(Vec<InputItem>),
    /// `GROUP(...)`
    Group(Vec<InputItem>),
    /// `INCLUDE filename`
    Include(String),
    /// A symbol assignment, including `PROVIDE`, `PROVIDE_HIDDEN` and `HIDDEN`.
    Assignment(Assignment),
    /// `ASSERT(expr, "message")`
    Assert(Assert),
    /// `SECTIONS { ... }`
    Sections(Vec<SectionsCommand>),
    /// `PHDRS { ... }`
    Phdrs(Vec<PhdrDecl>),
    /// `MEMORY { ... }`
    Memory(Vec<MemoryCommand>),
    /// `INSERT AFTER section` (`after == true`) or `INSERT BEFORE section`.
    Insert { after: bool, section: String },
    /// `NOCROSSREFS(section ...)`
    NoCrossRefs(Vec<String>),
    /// `NOCROSSREFS_TO(to_section from_section ...)`
    NoCrossRefsTo(Vec<String>),
    /// `EXTERN(symbol ...)`
    Extern(Vec<String>),
    /// `FORCE_COMMON_ALLOCATION`
    ForceCommonAllocation,
    /// `INHIBIT_COMMON_ALLOCATION`
    InhibitCommonAllocation,
    /// `FORCE_GROUP_ALLOCATION`
    ForceGroupAllocation,
    /// `REGION_ALIAS(alias, region)`
    RegionAlias { alias: String, region: String },
    /// `LD_FEATURE(feature)`
    LdFeature(String),
    /// `VERSION { ... }`: the version-script text between the braces, unparsed.
    Version(String),
    /// A command GNU ld accepts and ignores (`HLL`, `SYSLIB`, `FLOAT`, `NOFLOAT`).
    Unsupported { name: String, loc: Loc },
}

/// One entry of `INPUT(...)` or `GROUP(...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputItem {
    /// A file name (possibly starting with `=` or `$SYSROOT`).
    File(String),
    /// `-lname`: the name without the `-l`.
    Library(String),
    /// `AS_NEEDED(...)`
    AsNeeded(Vec<InputItem>),
}

/// `target op expr`, possibly wrapped in `PROVIDE(...)`, `PROVIDE_HIDDEN(...)` or `HIDDEN(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The symbol assigned, or `.` for the location counter.
    pub target: String,
    pub op: AssignOp,
    pub expr: Expr,
    pub kind: AssignKind,
    pub loc: Loc,
}

impl Assignment {
    /// Whether this assigns the location counter `.`.
    pub fn is_location_counter(&self) -> bool {
        self.target == "."
    }
}

/// The operator of an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignOp {
    /// `=`
    Assign,
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `<<=`
    Shl,
    /// `>>=`
    Shr,
    /// `&=`
    And,
    /// `|=`
    Or,
    /// `^=`
    Xor,
}

impl AssignOp {
    /// The binary operator a compound assignment applies (`None` for plain `=`).
    pub fn binary_op(self) -> Option<BinaryOp> {
        Some(match self {
            AssignOp::Assign => return None,
            AssignOp::Add => BinaryOp::Add,
            AssignOp::Sub => BinaryOp::Sub,
            AssignOp::Mul => BinaryOp::Mul,
            AssignOp::Div => BinaryOp::Div,
            AssignOp::Shl => BinaryOp::Shl,
            AssignOp::Shr => BinaryOp::Shr,
            AssignOp::And => BinaryOp::BitAnd,
            AssignOp::Or => BinaryOp::BitOr,
            AssignOp::Xor => BinaryOp::BitXor,
        })
    }
}

/// How an assigned symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignKind {
    /// `sym = expr;`
    Plain,
    /// `PROVIDE(sym = expr)`: defined only if referenced and not defined elsewhere.
    Provide,
    /// `PROVIDE_HIDDEN(sym = expr)`
    ProvideHidden,
    /// `HIDDEN(sym = expr)`
    Hidden,
}

/// `ASSERT(expr, message)`
#[derive(Debug, Clone, PartialEq)]
pub struct Assert {
    pub expr: Expr,
    pub message: String,
    pub loc: Loc,
}

/// A command directly inside `SECTIONS { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub enum SectionsCommand {
    Assignment(Assignment),
    Assert(Assert),
    /// `ENTRY(symbol)` written inside `SECTIONS`.
    Entry(String),
    Include(String),
    /// An output section description; `/DISCARD/` is one named `/DISCARD/`.
    Output(OutputSection),
    /// `OVERLAY ... { ... }`
    Overlay(Overlay),
}

/// An output section description:
///
/// ```text
/// name [address] [(type)] : [AT(lma)] [ALIGN(align) | ALIGN_WITH_INPUT] [SUBALIGN(align)]
///     [constraint] { commands } [>region] [AT>lma_region] [:phdr ...] [=fill] [,]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSection {
    pub name: String,
    pub address: Option<Expr>,
    pub type_: Option<SectionType>,
    /// `AT(lma)`
    pub at: Option<Expr>,
    /// `ALIGN(x)` after the colon.
    pub align: Option<Expr>,
    /// `ALIGN_WITH_INPUT`
    pub align_with_input: bool,
    /// `SUBALIGN(x)`
    pub subalign: Option<Expr>,
    pub constraint: Option<Constraint>,
    pub commands: Vec<OutputSectionCommand>,
    /// `>region`
    pub region: Option<String>,
    /// `AT>region`
    pub lma_region: Option<String>,
    /// `:phdr` names, in order.
    pub phdrs: Vec<String>,
    /// `=fill`
    pub fill: Option<Expr>,
    pub loc: Loc,
}

impl OutputSection {
    /// Whether this is the special `/DISCARD/` section.
    pub fn is_discard(&self) -> bool {
        self.name == "/DISCARD/"
    }
}

/// The parenthesised output section type.
#[derive(Debug, Clone, PartialEq)]
pub enum SectionType {
    /// `(NOLOAD)`
    NoLoad,
    /// `(DSECT)`
    DSect,
    /// `(COPY)`
    Copy,
    /// `(INFO)`
    Info,
    /// `(OVERLAY)`
    Overlay,
    /// `(READONLY)`, or `(READONLY (TYPE = expr))` with the type expression.
    ReadOnly(Option<Expr>),
    /// `(TYPE = expr)`, e.g. `TYPE = SHT_PROGBITS` (the `SHT_*` names are plain symbols here).
    Type(Expr),
}

/// `ONLY_IF_RO`, `ONLY_IF_RW` or `SPECIAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Constraint {
    OnlyIfRo,
    OnlyIfRw,
    Special,
}

/// A command inside an output section's braces.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputSectionCommand {
    Assignment(Assignment),
    /// An input section description such as `KEEP(*(.init))`.
    Input(InputSectionDesc),
    /// `BYTE(x)`, `SHORT(x)`, `LONG(x)`, `QUAD(x)` or `SQUAD(x)`.
    Data {
        size: DataSize,
        expr: Expr,
    },
    /// `ASCIZ "string"`
    Asciz(String),
    /// `FILL(x)`
    Fill(Expr),
    Assert(Assert),
    Include(String),
    /// `CONSTRUCTORS`, or `SORT(CONSTRUCTORS)` / `SORT_BY_NAME(CONSTRUCTORS)` when `sorted`.
    Constructors {
        sorted: bool,
    },
    /// `CREATE_OBJECT_SYMBOLS`
    CreateObjectSymbols,
    /// `LINKER_VERSION`
    LinkerVersion,
}

/// The width of a data command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataSize {
    Byte,
    Short,
    Long,
    Quad,
    SQuad,
}

impl DataSize {
    /// Size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            DataSize::Byte => 1,
            DataSize::Short => 2,
            DataSize::Long => 4,
            DataSize::Quad | DataSize::SQuad => 8,
        }
    }
}

/// An input section description: `[KEEP(] [INPUT_SECTION_FLAGS(...)] file(sections...) [)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSectionDesc {
    /// Wrapped in `KEEP(...)`.
    pub keep: bool,
    /// `INPUT_SECTION_FLAGS(...)`.
    pub flags: Vec<SectionFlag>,
    pub file: FilePattern,
    /// The section patterns. Empty when the statement names only a file (`foo.o`), which
    /// selects all of that file's sections.
    pub sections: Vec<SectionPattern>,
    pub loc: Loc,
}

/// One flag test of `INPUT_SECTION_FLAGS`, e.g. `SHF_WRITE` or `!SHF_EXECINSTR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionFlag {
    pub name: String,
    /// Written with a leading `!`: the flag must be clear.
    pub negated: bool,
}

/// The file side of an input section description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern {
    /// A glob such as `*`, `*crtbegin?.o`, `libc.a:printf.o` or `/usr/lib/x.a`.
    pub pattern: String,
    /// `EXCLUDE_FILE(...)` before the file pattern: excluded for all the sections listed.
    pub exclude: Vec<String>,
    /// `SORT_BY_NAME(...)`, `SORT_NONE(...)` around the file pattern.
    pub sort: Option<Sort>,
    /// `REVERSE(...)` around the file pattern.
    pub reverse: bool,
}

impl FilePattern {
    /// For `archive:member` patterns, the two halves (either may be empty:
    /// `archive:` matches the whole archive, `:member` a file outside any archive).
    pub fn archive_member(&self) -> Option<(&str, &str)> {
        self.pattern.split_once(':')
    }
}

/// One section pattern inside the parentheses of an input section description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionPattern {
    /// A glob such as `.text.*` or `.uk_inittab[1-6][0-9]`, or `COMMON`.
    pub pattern: String,
    /// `EXCLUDE_FILE(...)` written just before this pattern inside the list. As in GNU ld
    /// it applies to this pattern only, not to the patterns after it.
    pub exclude_files: Vec<String>,
    pub sort: Option<Sort>,
    /// `REVERSE(...)`: the sort order is reversed (alone, it implies sorting by name).
    pub reverse: bool,
}

/// The sort applied to the sections (or files) a pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    /// `SORT(...)` / `SORT_BY_NAME(...)`
    Name,
    /// `SORT_BY_ALIGNMENT(...)` (descending alignment)
    Alignment,
    /// `SORT_BY_NAME(SORT_BY_ALIGNMENT(...))`
    NameThenAlignment,
    /// `SORT_BY_ALIGNMENT(SORT_BY_NAME(...))`
    AlignmentThenName,
    /// `SORT_BY_INIT_PRIORITY(...)`
    InitPriority,
    /// `SORT_NONE(...)`: never sort, even under `--sort-section`.
    None,
}

/// `OVERLAY [start] : [NOCROSSREFS] [AT(lma)] [SUBALIGN(x)] { sections } [>region]
/// [AT>region] [:phdr ...] [=fill] [,]`
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    pub start: Option<Expr>,
    pub no_cross_refs: bool,
    pub at: Option<Expr>,
    pub subalign: Option<Expr>,
    pub sections: Vec<OverlaySection>,
    pub region: Option<String>,
    pub lma_region: Option<String>,
    pub phdrs: Vec<String>,
    pub fill: Option<Expr>,
    pub loc: Loc,
}

/// `name { commands } [:phdr ...] [=fill]` inside an `OVERLAY`.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlaySection {
    pub name: String,
    pub commands: Vec<OutputSectionCommand>,
    pub phdrs: Vec<String>,
    pub fill: Option<Expr>,
    pub loc: Loc,
}

/// `name type [FILEHDR] [PHDRS] [AT(address)] [FLAGS(flags)] ;` inside `PHDRS`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhdrDecl {
    pub name: String,
    pub type_: PhdrType,
    /// `FILEHDR`: the segment includes the ELF file header.
    pub filehdr: bool,
    /// `PHDRS`: the segment includes the program headers.
    pub phdrs: bool,
    pub at: Option<Expr>,
    pub flags: Option<Expr>,
    pub loc: Loc,
}

/// A program header type: a `PT_*` keyword or an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum PhdrType {
    Known(PtKind),
    Expr(Expr),
}

/// The program header types that have a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PtKind {
    Null,
    Load,
    Dynamic,
    Interp,
    Note,
    Shlib,
    Phdr,
    Tls,
    GnuEhFrame,
    GnuStack,
    GnuRelro,
    GnuProperty,
}

impl PtKind {
    /// Looks up a `PT_*` keyword.
    pub fn from_keyword(s: &str) -> Option<PtKind> {
        Some(match s {
            "PT_NULL" => PtKind::Null,
            "PT_LOAD" => PtKind::Load,
            "PT_DYNAMIC" => PtKind::Dynamic,
            "PT_INTERP" => PtKind::Interp,
            "PT_NOTE" => PtKind::Note,
            "PT_SHLIB" => PtKind::Shlib,
            "PT_PHDR" => PtKind::Phdr,
            "PT_TLS" => PtKind::Tls,
            "PT_GNU_EH_FRAME" => PtKind::GnuEhFrame,
            "PT_GNU_STACK" => PtKind::GnuStack,
            "PT_GNU_RELRO" => PtKind::GnuRelro,
            "PT_GNU_PROPERTY" => PtKind::GnuProperty,
            _ => return None,
        })
    }

    /// The `p_type` value.
    pub fn value(self) -> u32 {
        match self {
            PtKind::Null => 0,
            PtKind::Load => 1,
            PtKind::Dynamic => 2,
            PtKind::Interp => 3,
            PtKind::Note => 4,
            PtKind::Shlib => 5,
            PtKind::Phdr => 6,
            PtKind::Tls => 7,
            PtKind::GnuEhFrame => 0x6474_e550,
            PtKind::GnuStack => 0x6474_e551,
            PtKind::GnuRelro => 0x6474_e552,
            PtKind::GnuProperty => 0x6474_e553,
        }
    }
}

/// An entry of `MEMORY { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryCommand {
    Region(MemoryRegion),
    Include(String),
}

/// `name [(attributes)] : ORIGIN = origin, LENGTH = length`
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRegion {
    pub name: String,
    /// The attribute string between the parentheses, e.g. `rwx` or `!w`, as written.
    pub attributes: Option<String>,
    pub origin: Expr,
    pub length: Expr,
    pub loc: Loc,
}

/// An expression. Built-in functions are variants of their own so evaluation can match
/// on them directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// An integer literal (already scaled by any `K`/`M` suffix).
    Number(u64),
    /// A symbol reference (quoted names have their quotes removed).
    Symbol(String),
    /// The location counter `.`.
    Dot,
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `cond ? then : else`
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `ALIGN(align)` (`value: None`, aligns `.`) or `ALIGN(value, align)`.
    Align {
        value: Option<Box<Expr>>,
        align: Box<Expr>,
    },
    /// `BLOCK(align)`: an old synonym of `ALIGN(align)`.
    Block(Box<Expr>),
    /// `ALIGNOF(section)`
    AlignOf(String),
    /// `SIZEOF(section)`
    SizeOf(String),
    /// `SIZEOF_HEADERS`
    SizeOfHeaders,
    /// `ADDR(section)`
    Addr(String),
    /// `LOADADDR(section)`
    LoadAddr(String),
    /// `DEFINED(symbol)`
    Defined(String),
    /// `ABSOLUTE(x)`
    Absolute(Box<Expr>),
    /// `MAX(a, b)`
    Max(Box<Expr>, Box<Expr>),
    /// `MIN(a, b)`
    Min(Box<Expr>, Box<Expr>),
    /// `CONSTANT(MAXPAGESIZE)` or `CONSTANT(COMMONPAGESIZE)`
    Constant(ConstantKind),
    /// `DATA_SEGMENT_ALIGN(maxpagesize, commonpagesize)`
    DataSegmentAlign {
        max_page_size: Box<Expr>,
        common_page_size: Box<Expr>,
    },
    /// `DATA_SEGMENT_RELRO_END(offset, value)`
    DataSegmentRelroEnd {
        offset: Box<Expr>,
        value: Box<Expr>,
    },
    /// `DATA_SEGMENT_END(x)`
    DataSegmentEnd(Box<Expr>),
    /// `SEGMENT_START("segment", default)`
    SegmentStart {
        segment: String,
        default: Box<Expr>,
    },
    /// `NEXT(x)`
    Next(Box<Expr>),
    /// `ORIGIN(region)`
    Origin(String),
    /// `LENGTH(region)`
    Length(String),
    /// `LOG2CEIL(x)`
    Log2Ceil(Box<Expr>),
    /// `ASSERT(expr, message)` used as a value (it yields `expr`).
    Assert {
        expr: Box<Expr>,
        message: String,
    },
}

/// `CONSTANT(...)` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConstantKind {
    MaxPageSize,
    CommonPageSize,
}

/// Unary operators (`+x` is parsed as `x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `~x`
    BitNot,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Mul,
    Div,
    Mod,
    Add,
    Sub,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    BitAnd,
    BitXor,
    BitOr,
    LogAnd,
    LogOr,
}

impl BinaryOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Shl => "<<",
            BinaryOp::Shr => ">>",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitXor => "^",
            BinaryOp::BitOr => "|",
            BinaryOp::LogAnd => "&&",
            BinaryOp::LogOr => "||",
        }
    }

    /// Binding strength, C's: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 10,
            BinaryOp::Add | BinaryOp::Sub => 9,
            BinaryOp::Shl | BinaryOp::Shr => 8,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 7,
            BinaryOp::Eq | BinaryOp::Ne => 6,
            BinaryOp::BitAnd => 5,
            BinaryOp::BitXor => 4,
            BinaryOp::BitOr => 3,
            BinaryOp::LogAnd => 2,
            BinaryOp::LogOr => 1,
        }
    }

    /// Looks up a binary operator token.
    pub fn from_token(s: &str) -> Option<BinaryOp> {
        Some(match s {
            "*" => BinaryOp::Mul,
            "/" => BinaryOp::Div,
            "%" => BinaryOp::Mod,
            "+" => BinaryOp::Add,
            "-" => BinaryOp::Sub,
            "<<" => BinaryOp::Shl,
            ">>" => BinaryOp::Shr,
            "==" => BinaryOp::Eq,
            "!=" => BinaryOp::Ne,
            "<" => BinaryOp::Lt,
            "<=" => BinaryOp::Le,
            ">" => BinaryOp::Gt,
            ">=" => BinaryOp::Ge,
            "&" => BinaryOp::BitAnd,
            "^" => BinaryOp::BitXor,
            "|" => BinaryOp::BitOr,
            "&&" => BinaryOp::LogAnd,
            "||" => BinaryOp::LogOr,
            _ => return None,
        })
    }
}
