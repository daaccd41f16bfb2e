//! Recursive-descent parser for GNU ld linker scripts.
//!
//! The grammar follows GNU ld's, including its lenient spots: `;` after assignments and
//! statements is optional, commas between names in lists are optional, and the clauses
//! after an output section's closing brace may come in any order.

use super::ast::*;
use super::lexer::{LexError, Lexer, Mode, Tok, Token};

/// A syntax error, located at a 1-based line and column of a named script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScriptError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl ScriptError {
    /// An error at `loc` of `file` (also for later stages that check a parsed script).
    pub fn new(file: &str, loc: Loc, message: impl Into<String>) -> Self {
        ScriptError {
            file: file.to_string(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
        }
    }
}

/// Parses the text of a linker script. `file` names it in error messages.
pub fn parse_script(text: &str, file: &str) -> Result<Script, ScriptError> {
    let mut p = Parser::new(text, file);
    let commands = p.script()?;
    Ok(Script {
        file: file.to_string(),
        commands,
    })
}

/// Parses a single expression, such as the value of `--defsym sym=expr`. `file` names the
/// source in error messages.
pub fn parse_expression(text: &str, file: &str) -> Result<Expr, ScriptError> {
    let mut p = Parser::new(text, file);
    let e = p.expr()?;
    let t = p.peek(Mode::Expr)?;
    if !matches!(t.tok, Tok::Eof) {
        return Err(p.unexpected(&t, "end of expression"));
    }
    Ok(e)
}

/// Nesting limit for expressions, sort keywords and `AS_NEEDED`, so that hostile input
/// yields an error rather than exhausting the stack.
const MAX_DEPTH: u32 = 128;

type PResult<T> = Result<T, ScriptError>;

const ASSIGN_OPS: &[(&str, AssignOp)] = &[
    ("=", AssignOp::Assign),
    ("+=", AssignOp::Add),
    ("-=", AssignOp::Sub),
    ("*=", AssignOp::Mul),
    ("/=", AssignOp::Div),
    ("<<=", AssignOp::Shl),
    (">>=", AssignOp::Shr),
    ("&=", AssignOp::And),
    ("|=", AssignOp::Or),
    ("^=", AssignOp::Xor),
];

fn assign_op(t: &Token) -> Option<AssignOp> {
    match t.tok {
        Tok::Punct(p) => ASSIGN_OPS.iter().find(|(s, _)| *s == p).map(|(_, op)| *op),
        _ => None,
    }
}

fn is_punct(t: &Token, p: &str) -> bool {
    matches!(t.tok, Tok::Punct(q) if q == p)
}

fn is_sort_keyword(s: &str) -> bool {
    matches!(
        s,
        "SORT"
            | "SORT_BY_NAME"
            | "SORT_BY_ALIGNMENT"
            | "SORT_BY_INIT_PRIORITY"
            | "SORT_NONE"
            | "REVERSE"
    )
}

/// A pattern with its optional sort wrappers and `EXCLUDE_FILE` list.
struct WildSpec {
    pattern: String,
    exclude: Vec<String>,
    sort: Option<Sort>,
    reverse: bool,
}

impl WildSpec {
    fn is_plain(&self) -> bool {
        self.exclude.is_empty() && self.sort.is_none() && !self.reverse
    }
}

/// What may follow an output section's (or overlay's) closing brace.
#[derive(Default)]
struct Tail {
    region: Option<String>,
    lma_region: Option<String>,
    phdrs: Vec<String>,
    fill: Option<Expr>,
}

struct Parser<'a> {
    lx: Lexer<'a>,
    file: &'a str,
    line_starts: Vec<usize>,
    depth: u32,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, file: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(
                src.bytes()
                    .enumerate()
                    .filter(|&(_, c)| c == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        Parser {
            lx: Lexer::new(src),
            file,
            line_starts,
            depth: 0,
        }
    }

    // ---- positions and errors -------------------------------------------------------------

    fn loc(&self, offset: usize) -> Loc {
        let src = self.lx.src();
        let offset = offset.min(src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.line_starts[line - 1];
        let column = src
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count());
        Loc {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    fn err_at(&self, offset: usize, message: impl Into<String>) -> ScriptError {
        ScriptError::new(self.file, self.loc(offset), message)
    }

    fn lex_err(&self, e: LexError) -> ScriptError {
        self.err_at(e.offset, e.message)
    }

    fn describe(&self, t: &Token) -> String {
        if matches!(t.tok, Tok::Eof) {
            return "end of file".into();
        }
        let text = &self.lx.src()[t.start..t.end];
        if text.chars().count() > 40 {
            let short: String = text.chars().take(37).collect();
            format!("'{short}...'")
        } else {
            format!("'{text}'")
        }
    }

    fn unexpected(&self, t: &Token, expected: &str) -> ScriptError {
        self.err_at(
            t.start,
            format!("expected {expected} but found {}", self.describe(t)),
        )
    }

    fn enter(&mut self, offset: usize) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(offset, "nesting too deep"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- token helpers ----------------------------------------------------------------------

    fn peek(&self, mode: Mode) -> PResult<Token<'a>> {
        self.lx.peek(mode).map_err(|e| self.lex_err(e))
    }

    /// The token after `t` (which must be the current token or one peeked after it).
    fn peek_after(&self, t: &Token, mode: Mode) -> PResult<Token<'a>> {
        self.lx.lex_at(t.end, mode).map_err(|e| self.lex_err(e))
    }

    fn next(&mut self, mode: Mode) -> PResult<Token<'a>> {
        let t = self.peek(mode)?;
        self.lx.pos = t.end;
        Ok(t)
    }

    fn bump(&mut self, t: &Token) {
        self.lx.pos = t.end;
    }

    fn peek_is(&self, mode: Mode, p: &str) -> PResult<bool> {
        Ok(is_punct(&self.peek(mode)?, p))
    }

    fn eat(&mut self, mode: Mode, p: &str) -> PResult<bool> {
        let t = self.peek(mode)?;
        if is_punct(&t, p) {
            self.bump(&t);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect(&mut self, mode: Mode, p: &str) -> PResult<Token<'a>> {
        let t = self.peek(mode)?;
        if is_punct(&t, p) {
            self.bump(&t);
            Ok(t)
        } else {
            Err(self.unexpected(&t, &format!("'{p}'")))
        }
    }

    /// A word or quoted string.
    fn expect_name(&mut self, mode: Mode, what: &str) -> PResult<(String, usize)> {
        let t = self.peek(mode)?;
        match t.tok {
            Tok::Name(s) | Tok::Str(s) => {
                self.bump(&t);
                Ok((s.to_string(), t.start))
            }
            _ => Err(self.unexpected(&t, what)),
        }
    }

    /// Whether the current token is the word `kw` followed by `p`.
    fn at_keyword_then(&self, mode: Mode, kw: &str, p: &str) -> PResult<bool> {
        let t = self.peek(mode)?;
        if !matches!(t.tok, Tok::Name(s) if s == kw) {
            return Ok(false);
        }
        Ok(is_punct(&self.peek_after(&t, mode)?, p))
    }

    /// `( name )`
    fn paren_name(&mut self, mode: Mode, what: &str) -> PResult<String> {
        self.expect(mode, "(")?;
        let (name, _) = self.expect_name(mode, what)?;
        self.expect(mode, ")")?;
        Ok(name)
    }

    /// `( expr )`
    fn paren_expr(&mut self) -> PResult<Expr> {
        self.expect(Mode::Expr, "(")?;
        let e = self.expr()?;
        self.expect(Mode::Expr, ")")?;
        Ok(e)
    }

    /// `( name name, name ... )` with optional commas.
    fn name_list(&mut self, what: &str) -> PResult<Vec<String>> {
        self.expect(Mode::File, "(")?;
        let mut names = Vec::new();
        loop {
            let t = self.next(Mode::File)?;
            match t.tok {
                Tok::Punct(")") => return Ok(names),
                Tok::Punct(",") => {}
                Tok::Name(s) | Tok::Str(s) => names.push(s.to_string()),
                _ => return Err(self.unexpected(&t, &format!("{what} or ')'"))),
            }
        }
    }

    /// An optional statement separator (`;` or, after assignments, `,`).
    fn separator(&mut self) -> PResult<()> {
        if !self.eat(Mode::Section, ";")? {
            self.eat(Mode::Section, ",")?;
        }
        Ok(())
    }

    // ---- top level --------------------------------------------------------------------------

    fn script(&mut self) -> PResult<Vec<Command>> {
        let mut commands = Vec::new();
        loop {
            let t = self.peek(Mode::Section)?;
            match t.tok {
                Tok::Eof => return Ok(commands),
                Tok::Punct(";") => self.bump(&t),
                Tok::Name(name) => commands.push(self.command(&t, name)?),
                Tok::Str(_) if assign_op(&self.peek_after(&t, Mode::Section)?).is_some() => {
                    commands.push(Command::Assignment(self.assignment(Mode::Section)?))
                }
                _ => return Err(self.unexpected(&t, "a linker script command")),
            }
        }
    }

    fn command(&mut self, t: &Token<'a>, name: &'a str) -> PResult<Command> {
        // The arguments of some commands are read in another mode; a character that cannot
        // start a token here is left for that mode to judge.
        let after = self.peek_after(t, Mode::Section).unwrap_or(Token {
            tok: Tok::Eof,
            start: t.end,
            end: t.end,
        });
        let paren = is_punct(&after, "(");
        if assign_op(&after).is_some() {
            return Ok(Command::Assignment(self.assignment(Mode::Section)?));
        }
        let simple = |p: &mut Self, what: &str| -> PResult<String> {
            p.bump(t);
            p.paren_name(Mode::File, what)
        };
        let cmd = match name {
            "ENTRY" => Command::Entry(simple(self, "a symbol name")?),
            "OUTPUT_ARCH" => Command::OutputArch(simple(self, "an architecture name")?),
            "OUTPUT" => Command::Output(simple(self, "a file name")?),
            "TARGET" => Command::Target(simple(self, "a format name")?),
            "SEARCH_DIR" => Command::SearchDir(simple(self, "a directory name")?),
            "STARTUP" => Command::Startup(simple(self, "a file name")?),
            "MAP" => Command::Map(simple(self, "a file name")?),
            "LD_FEATURE" => Command::LdFeature(simple(self, "a feature name")?),
            "OUTPUT_FORMAT" => {
                self.bump(t);
                let open = self.expect(Mode::File, "(")?;
                let mut names = vec![self.expect_name(Mode::File, "a format name")?.0];
                while self.eat(Mode::File, ",")? {
                    names.push(self.expect_name(Mode::File, "a format name")?.0);
                }
                self.expect(Mode::File, ")")?;
                if names.len() != 1 && names.len() != 3 {
                    return Err(self.err_at(open.start, "OUTPUT_FORMAT takes one or three names"));
                }
                Command::OutputFormat(names)
            }
            "INPUT" | "GROUP" => {
                self.bump(t);
                let items = self.input_list()?;
                if name == "INPUT" {
                    Command::Input(items)
                } else {
                    Command::Group(items)
                }
            }
            "INCLUDE" => {
                self.bump(t);
                Command::Include(self.expect_name(Mode::File, "a file name")?.0)
            }
            "SECTIONS" => {
                self.bump(t);
                Command::Sections(self.sections()?)
            }
            "PHDRS" => {
                self.bump(t);
                Command::Phdrs(self.phdrs()?)
            }
            "MEMORY" => {
                self.bump(t);
                Command::Memory(self.memory()?)
            }
            "VERSION" => {
                self.bump(t);
                Command::Version(self.version()?)
            }
            "INSERT" => {
                self.bump(t);
                let w = self.peek(Mode::Section)?;
                let after = match w.tok {
                    Tok::Name("AFTER") => true,
                    Tok::Name("BEFORE") => false,
                    _ => return Err(self.unexpected(&w, "AFTER or BEFORE")),
                };
                self.bump(&w);
                let (section, _) = self.expect_name(Mode::Section, "an output section name")?;
                Command::Insert { after, section }
            }
            "NOCROSSREFS" => {
                self.bump(t);
                Command::NoCrossRefs(self.name_list("a section name")?)
            }
            "NOCROSSREFS_TO" => {
                self.bump(t);
                Command::NoCrossRefsTo(self.name_list("a section name")?)
            }
            "EXTERN" => {
                self.bump(t);
                Command::Extern(self.name_list("a symbol name")?)
            }
            "FORCE_COMMON_ALLOCATION" => {
                self.bump(t);
                Command::ForceCommonAllocation
            }
            "INHIBIT_COMMON_ALLOCATION" => {
                self.bump(t);
                Command::InhibitCommonAllocation
            }
            "FORCE_GROUP_ALLOCATION" => {
                self.bump(t);
                Command::ForceGroupAllocation
            }
            "REGION_ALIAS" => {
                self.bump(t);
                self.expect(Mode::File, "(")?;
                let (alias, _) = self.expect_name(Mode::File, "a region alias")?;
                self.expect(Mode::File, ",")?;
                let (region, _) = self.expect_name(Mode::File, "a memory region name")?;
                self.expect(Mode::File, ")")?;
                Command::RegionAlias { alias, region }
            }
            "ASSERT" if paren => Command::Assert(self.assert_stmt()?),
            "PROVIDE" | "PROVIDE_HIDDEN" | "HIDDEN" if paren => {
                Command::Assignment(self.assignment(Mode::Section)?)
            }
            "HLL" | "SYSLIB" | "FLOAT" | "NOFLOAT" => {
                self.bump(t);
                if paren {
                    self.name_list("a name")?;
                }
                Command::Unsupported {
                    name: name.to_string(),
                    loc: self.loc(t.start),
                }
            }
            _ => {
                return Err(self.err_at(t.start, format!("unknown linker script command '{name}'")))
            }
        };
        Ok(cmd)
    }

    /// `( item ... )` of `INPUT`, `GROUP` and `AS_NEEDED`.
    fn input_list(&mut self) -> PResult<Vec<InputItem>> {
        let open = self.expect(Mode::File, "(")?;
        self.enter(open.start)?;
        let mut items = Vec::new();
        loop {
            let t = self.next(Mode::File)?;
            match t.tok {
                Tok::Punct(")") => break,
                Tok::Punct(",") => {}
                Tok::Name("AS_NEEDED") if self.peek_is(Mode::File, "(")? => {
                    items.push(InputItem::AsNeeded(self.input_list()?))
                }
                Tok::Name(s) => match s.strip_prefix("-l") {
                    Some(lib) if !lib.is_empty() => items.push(InputItem::Library(lib.to_string())),
                    _ => items.push(InputItem::File(s.to_string())),
                },
                Tok::Str(s) => items.push(InputItem::File(s.to_string())),
                _ => return Err(self.unexpected(&t, "a file name or ')'")),
            }
        }
        self.leave();
        Ok(items)
    }

    /// `VERSION { ... }`: returns the text between the braces.
    fn version(&mut self) -> PResult<String> {
        let open = self.expect(Mode::Section, "{")?;
        let src = self.lx.src();
        let b = src.as_bytes();
        let start = open.end;
        let mut i = start;
        let mut depth = 1u32;
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'*') => match src[i + 2..].find("*/") {
                    Some(n) => i += 2 + n + 2,
                    None => return Err(self.err_at(i, "unterminated comment")),
                },
                b'"' => match src[i + 1..].find('"') {
                    Some(n) => i += n + 2,
                    None => return Err(self.err_at(i, "unterminated string")),
                },
                b'{' => {
                    depth += 1;
                    i += 1;
                }
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        self.lx.pos = i + 1;
                        return Ok(src[start..i].trim().to_string());
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        Err(self.err_at(b.len(), "expected '}' but found end of file"))
    }

    // ---- statements shared by several levels ------------------------------------------------

    /// An assignment statement starting at the current token, read in `mode`, with its
    /// optional separator.
    fn assignment(&mut self, mode: Mode) -> PResult<Assignment> {
        let t = self.next(mode)?;
        let loc = self.loc(t.start);
        let kind = match t.tok {
            Tok::Name("PROVIDE") => AssignKind::Provide,
            Tok::Name("PROVIDE_HIDDEN") => AssignKind::ProvideHidden,
            Tok::Name("HIDDEN") => AssignKind::Hidden,
            _ => AssignKind::Plain,
        };
        let a = if kind == AssignKind::Plain {
            let target = match t.tok {
                Tok::Name(s) | Tok::Str(s) => s.to_string(),
                _ => return Err(self.unexpected(&t, "a symbol name")),
            };
            let op_tok = self.next(mode)?;
            let Some(op) = assign_op(&op_tok) else {
                return Err(self.unexpected(&op_tok, "an assignment operator"));
            };
            let expr = self.expr()?;
            Assignment {
                target,
                op,
                expr,
                kind,
                loc,
            }
        } else {
            self.expect(mode, "(")?;
            let (target, _) = self.expect_name(Mode::Section, "a symbol name")?;
            self.expect(Mode::Section, "=")?;
            let expr = self.expr()?;
            self.expect(Mode::Expr, ")")?;
            Assignment {
                target,
                op: AssignOp::Assign,
                expr,
                kind,
                loc,
            }
        };
        self.separator()?;
        Ok(a)
    }

    /// `ASSERT(expr, message)` as a statement, with its optional `;`.
    fn assert_stmt(&mut self) -> PResult<Assert> {
        let t = self.next(Mode::Section)?;
        let loc = self.loc(t.start);
        let (expr, message) = self.assert_args()?;
        self.separator()?;
        Ok(Assert { expr, message, loc })
    }

    fn assert_args(&mut self) -> PResult<(Expr, String)> {
        self.expect(Mode::Expr, "(")?;
        let expr = self.expr()?;
        self.expect(Mode::Expr, ",")?;
        let (message, _) = self.expect_name(Mode::File, "an assertion message")?;
        self.expect(Mode::File, ")")?;
        Ok((expr, message))
    }

    // ---- SECTIONS ---------------------------------------------------------------------------

    fn sections(&mut self) -> PResult<Vec<SectionsCommand>> {
        self.expect(Mode::Section, "{")?;
        let mut cmds = Vec::new();
        loop {
            let t = self.peek(Mode::Section)?;
            let after = || self.peek_after(&t, Mode::Section);
            let cmd = match t.tok {
                Tok::Punct("}") => {
                    self.bump(&t);
                    return Ok(cmds);
                }
                Tok::Punct(";") => {
                    self.bump(&t);
                    continue;
                }
                Tok::Name("ENTRY") if is_punct(&after()?, "(") => {
                    self.bump(&t);
                    let name = self.paren_name(Mode::File, "a symbol name")?;
                    self.separator()?;
                    SectionsCommand::Entry(name)
                }
                Tok::Name("ASSERT") if is_punct(&after()?, "(") => {
                    SectionsCommand::Assert(self.assert_stmt()?)
                }
                Tok::Name("INCLUDE") => {
                    self.bump(&t);
                    SectionsCommand::Include(self.expect_name(Mode::File, "a file name")?.0)
                }
                Tok::Name("OVERLAY") if assign_op(&after()?).is_none() => {
                    SectionsCommand::Overlay(self.overlay()?)
                }
                Tok::Name("PROVIDE" | "PROVIDE_HIDDEN" | "HIDDEN") if is_punct(&after()?, "(") => {
                    SectionsCommand::Assignment(self.assignment(Mode::Section)?)
                }
                Tok::Name(_) | Tok::Str(_) => {
                    if assign_op(&after()?).is_some() {
                        SectionsCommand::Assignment(self.assignment(Mode::Section)?)
                    } else {
                        SectionsCommand::Output(self.output_section()?)
                    }
                }
                _ => return Err(self.unexpected(&t, "an output section, an assignment or '}'")),
            };
            cmds.push(cmd);
        }
    }

    /// Whether the current token starts a parenthesised output section type such as
    /// `(NOLOAD)`, `(READONLY)`, `(TYPE = SHT_PROGBITS)` or `()`.
    fn at_section_type(&self) -> PResult<bool> {
        let open = self.peek(Mode::Section)?;
        if !is_punct(&open, "(") {
            return Ok(false);
        }
        let kw = self.peek_after(&open, Mode::Section)?;
        let third = || self.peek_after(&kw, Mode::Section);
        Ok(match kw.tok {
            Tok::Punct(")") => true,
            Tok::Name("NOLOAD" | "DSECT" | "COPY" | "INFO" | "OVERLAY") => is_punct(&third()?, ")"),
            Tok::Name("READONLY") => {
                let t = third()?;
                is_punct(&t, ")") || is_punct(&t, "(")
            }
            Tok::Name("TYPE") => is_punct(&third()?, "="),
            _ => false,
        })
    }

    fn section_type(&mut self) -> PResult<Option<SectionType>> {
        self.expect(Mode::Section, "(")?;
        if self.eat(Mode::Section, ")")? {
            return Ok(None);
        }
        let t = self.next(Mode::Section)?;
        let ty = match t.tok {
            Tok::Name("NOLOAD") => SectionType::NoLoad,
            Tok::Name("DSECT") => SectionType::DSect,
            Tok::Name("COPY") => SectionType::Copy,
            Tok::Name("INFO") => SectionType::Info,
            Tok::Name("OVERLAY") => SectionType::Overlay,
            Tok::Name("READONLY") => {
                if self.eat(Mode::Section, "(")? {
                    let ty = self.type_eq()?;
                    self.expect(Mode::Expr, ")")?;
                    SectionType::ReadOnly(Some(ty))
                } else {
                    SectionType::ReadOnly(None)
                }
            }
            Tok::Name("TYPE") => {
                self.lx.pos = t.start;
                SectionType::Type(self.type_eq()?)
            }
            _ => return Err(self.unexpected(&t, "an output section type")),
        };
        self.expect(Mode::Expr, ")")?;
        Ok(Some(ty))
    }

    /// `TYPE = expr`
    fn type_eq(&mut self) -> PResult<Expr> {
        let t = self.next(Mode::Section)?;
        if !matches!(t.tok, Tok::Name("TYPE")) {
            return Err(self.unexpected(&t, "'TYPE'"));
        }
        self.expect(Mode::Section, "=")?;
        self.expr()
    }

    fn output_section(&mut self) -> PResult<OutputSection> {
        let (name, start) = self.expect_name(Mode::Section, "an output section name")?;
        let loc = self.loc(start);
        let mut address = None;
        let mut type_ = None;
        if !self.peek_is(Mode::Section, ":")? {
            if !self.at_section_type()? {
                address = Some(self.expr()?);
            }
            if self.at_section_type()? {
                type_ = self.section_type()?;
            }
        }
        self.expect(Mode::Section, ":")?;

        let mut at = None;
        let mut align = None;
        let mut align_with_input = false;
        let mut subalign = None;
        let mut constraint = None;
        loop {
            let t = self.peek(Mode::Section)?;
            let paren =
                || -> PResult<bool> { Ok(is_punct(&self.peek_after(&t, Mode::Section)?, "(")) };
            match t.tok {
                Tok::Name("AT") if paren()? => {
                    self.bump(&t);
                    at = Some(self.paren_expr()?);
                }
                Tok::Name("ALIGN") if paren()? => {
                    self.bump(&t);
                    align = Some(self.paren_expr()?);
                }
                Tok::Name("SUBALIGN") if paren()? => {
                    self.bump(&t);
                    subalign = Some(self.paren_expr()?);
                }
                Tok::Name("ALIGN_WITH_INPUT") => {
                    self.bump(&t);
                    align_with_input = true;
                }
                Tok::Name(c @ ("ONLY_IF_RO" | "ONLY_IF_RW" | "SPECIAL")) => {
                    self.bump(&t);
                    constraint = Some(match c {
                        "ONLY_IF_RO" => Constraint::OnlyIfRo,
                        "ONLY_IF_RW" => Constraint::OnlyIfRw,
                        _ => Constraint::Special,
                    });
                }
                _ => break,
            }
        }
        self.expect(Mode::Section, "{")?;
        let commands = self.output_section_commands()?;
        let tail = self.tail(true)?;
        Ok(OutputSection {
            name,
            address,
            type_,
            at,
            align,
            align_with_input,
            subalign,
            constraint,
            commands,
            region: tail.region,
            lma_region: tail.lma_region,
            phdrs: tail.phdrs,
            fill: tail.fill,
            loc,
        })
    }

    /// `[>region] [AT>region] [:phdr ...] [=fill] [,]` after a closing brace.
    fn tail(&mut self, regions: bool) -> PResult<Tail> {
        let mut tail = Tail::default();
        loop {
            let t = self.peek(Mode::Section)?;
            match t.tok {
                Tok::Punct(">") if regions => {
                    self.bump(&t);
                    tail.region = Some(self.expect_name(Mode::Section, "a memory region name")?.0);
                }
                Tok::Name("AT")
                    if regions && is_punct(&self.peek_after(&t, Mode::Section)?, ">") =>
                {
                    self.bump(&t);
                    self.expect(Mode::Section, ">")?;
                    tail.lma_region =
                        Some(self.expect_name(Mode::Section, "a memory region name")?.0);
                }
                Tok::Punct(":") => {
                    self.bump(&t);
                    tail.phdrs
                        .push(self.expect_name(Mode::Section, "a program header name")?.0);
                }
                Tok::Punct("=") => {
                    self.bump(&t);
                    tail.fill = Some(self.expr()?);
                }
                Tok::Punct(",") => {
                    self.bump(&t);
                    return Ok(tail);
                }
                _ => return Ok(tail),
            }
        }
    }

    fn overlay(&mut self) -> PResult<Overlay> {
        let t = self.next(Mode::Section)?;
        let loc = self.loc(t.start);
        let start = if self.peek_is(Mode::Section, ":")? {
            None
        } else {
            Some(self.expr()?)
        };
        self.expect(Mode::Section, ":")?;
        let mut no_cross_refs = false;
        let mut at = None;
        let mut subalign = None;
        loop {
            if self.at_keyword_then(Mode::Section, "AT", "(")? {
                self.next(Mode::Section)?;
                at = Some(self.paren_expr()?);
            } else if self.at_keyword_then(Mode::Section, "SUBALIGN", "(")? {
                self.next(Mode::Section)?;
                subalign = Some(self.paren_expr()?);
            } else if matches!(self.peek(Mode::Section)?.tok, Tok::Name("NOCROSSREFS")) {
                self.next(Mode::Section)?;
                no_cross_refs = true;
            } else {
                break;
            }
        }
        self.expect(Mode::Section, "{")?;
        let mut sections = Vec::new();
        loop {
            let t = self.peek(Mode::Section)?;
            match t.tok {
                Tok::Punct("}") => {
                    self.bump(&t);
                    break;
                }
                Tok::Punct(";" | ",") => self.bump(&t),
                Tok::Name(s) | Tok::Str(s) => {
                    self.bump(&t);
                    self.expect(Mode::Section, "{")?;
                    let commands = self.output_section_commands()?;
                    let tail = self.tail(false)?;
                    sections.push(OverlaySection {
                        name: s.to_string(),
                        commands,
                        phdrs: tail.phdrs,
                        fill: tail.fill,
                        loc: self.loc(t.start),
                    });
                }
                _ => return Err(self.unexpected(&t, "an overlay section name or '}'")),
            }
        }
        let tail = self.tail(true)?;
        Ok(Overlay {
            start,
            no_cross_refs,
            at,
            subalign,
            sections,
            region: tail.region,
            lma_region: tail.lma_region,
            phdrs: tail.phdrs,
            fill: tail.fill,
            loc,
        })
    }

    /// The commands of an output section, after its `{`, up to and including its `}`.
    fn output_section_commands(&mut self) -> PResult<Vec<OutputSectionCommand>> {
        let mut cmds = Vec::new();
        loop {
            let t = self.peek(Mode::Wild)?;
            let cmd = match t.tok {
                Tok::Punct("}") => {
                    self.bump(&t);
                    return Ok(cmds);
                }
                Tok::Punct(";") => {
                    self.bump(&t);
                    continue;
                }
                Tok::Name(name) => {
                    let after = self.peek_after(&t, Mode::Wild)?;
                    let paren = is_punct(&after, "(");
                    match name {
                        _ if assign_op(&after).is_some() => {
                            OutputSectionCommand::Assignment(self.assignment(Mode::Wild)?)
                        }
                        "PROVIDE" | "PROVIDE_HIDDEN" | "HIDDEN" if paren => {
                            OutputSectionCommand::Assignment(self.assignment(Mode::Wild)?)
                        }
                        "BYTE" | "SHORT" | "LONG" | "QUAD" | "SQUAD" if paren => {
                            self.bump(&t);
                            let size = match name {
                                "BYTE" => DataSize::Byte,
                                "SHORT" => DataSize::Short,
                                "LONG" => DataSize::Long,
                                "QUAD" => DataSize::Quad,
                                _ => DataSize::SQuad,
                            };
                            let expr = self.paren_expr()?;
                            OutputSectionCommand::Data { size, expr }
                        }
                        "FILL" if paren => {
                            self.bump(&t);
                            OutputSectionCommand::Fill(self.paren_expr()?)
                        }
                        "ASSERT" if paren => OutputSectionCommand::Assert(self.assert_stmt()?),
                        "INCLUDE" => {
                            self.bump(&t);
                            OutputSectionCommand::Include(
                                self.expect_name(Mode::File, "a file name")?.0,
                            )
                        }
                        "ASCIZ" => {
                            self.bump(&t);
                            let s = self.peek(Mode::File)?;
                            match s.tok {
                                Tok::Str(text) => {
                                    self.bump(&s);
                                    OutputSectionCommand::Asciz(text.to_string())
                                }
                                _ => return Err(self.unexpected(&s, "a quoted string")),
                            }
                        }
                        "CONSTRUCTORS" => {
                            self.bump(&t);
                            OutputSectionCommand::Constructors { sorted: false }
                        }
                        "SORT" | "SORT_BY_NAME"
                            if paren
                                && matches!(
                                    self.peek_after(&after, Mode::Wild)?.tok,
                                    Tok::Name("CONSTRUCTORS")
                                ) =>
                        {
                            self.bump(&t);
                            self.expect(Mode::Wild, "(")?;
                            self.next(Mode::Wild)?;
                            self.expect(Mode::Wild, ")")?;
                            OutputSectionCommand::Constructors { sorted: true }
                        }
                        "CREATE_OBJECT_SYMBOLS" => {
                            self.bump(&t);
                            OutputSectionCommand::CreateObjectSymbols
                        }
                        "LINKER_VERSION" => {
                            self.bump(&t);
                            OutputSectionCommand::LinkerVersion
                        }
                        _ => OutputSectionCommand::Input(self.input_section()?),
                    }
                }
                Tok::Str(_) => {
                    if assign_op(&self.peek_after(&t, Mode::Wild)?).is_some() {
                        OutputSectionCommand::Assignment(self.assignment(Mode::Wild)?)
                    } else {
                        OutputSectionCommand::Input(self.input_section()?)
                    }
                }
                _ => {
                    return Err(
                        self.unexpected(&t, "an input section description, an assignment or '}'")
                    )
                }
            };
            cmds.push(cmd);
        }
    }

    /// `[KEEP(] [INPUT_SECTION_FLAGS(...)] file-spec [(section-spec ...)] [)]`, optionally
    /// followed by `;`.
    fn input_section(&mut self) -> PResult<InputSectionDesc> {
        let loc = self.loc(self.lx.next_token_offset());
        let keep = self.at_keyword_then(Mode::Wild, "KEEP", "(")?;
        if keep {
            self.next(Mode::Wild)?;
            self.next(Mode::Wild)?;
        }
        let mut flags = Vec::new();
        if self.at_keyword_then(Mode::Wild, "INPUT_SECTION_FLAGS", "(")? {
            self.next(Mode::Wild)?;
            self.next(Mode::Wild)?;
            loop {
                let (flag, _) = self.expect_name(Mode::Wild, "a section flag name")?;
                let (name, negated) = match flag.strip_prefix('!') {
                    Some(rest) => (rest.to_string(), true),
                    None => (flag, false),
                };
                flags.push(SectionFlag { name, negated });
                if !self.eat(Mode::Wild, "&")? {
                    break;
                }
            }
            self.expect(Mode::Wild, ")")?;
        }
        let file_start = self.lx.next_token_offset();
        let file = self.wild_spec("a file name pattern", true)?;
        let mut sections = Vec::new();
        if self.eat(Mode::Wild, "(")? {
            loop {
                let t = self.peek(Mode::Wild)?;
                match t.tok {
                    Tok::Punct(")") if !sections.is_empty() => {
                        self.bump(&t);
                        break;
                    }
                    Tok::Punct(",") if !sections.is_empty() => self.bump(&t),
                    _ => {
                        let s = self.wild_spec("a section name pattern", false)?;
                        sections.push(SectionPattern {
                            pattern: s.pattern,
                            exclude_files: s.exclude,
                            sort: s.sort,
                            reverse: s.reverse,
                        });
                    }
                }
            }
        } else if !file.is_plain() {
            let t = self.peek(Mode::Wild)?;
            return Err(self.unexpected(&t, "'('"));
        } else if file.pattern.is_empty() {
            return Err(self.err_at(file_start, "empty file name"));
        }
        if keep {
            self.expect(Mode::Wild, ")")?;
        }
        self.eat(Mode::Wild, ";")?;
        Ok(InputSectionDesc {
            keep,
            flags,
            file: FilePattern {
                pattern: file.pattern,
                exclude: file.exclude,
                sort: file.sort,
                reverse: file.reverse,
            },
            sections,
            loc,
        })
    }

    /// A pattern wrapped in any of `SORT*(...)`/`REVERSE(...)`, optionally preceded by
    /// `EXCLUDE_FILE(...)`.
    fn wild_spec(&mut self, what: &str, file_side: bool) -> PResult<WildSpec> {
        let mut sorts: Vec<(&str, usize)> = Vec::new();
        let mut reverse = false;
        let mut opened = 0u32;
        loop {
            let t = self.peek(Mode::Wild)?;
            let Tok::Name(kw) = t.tok else { break };
            if !is_sort_keyword(kw) || !is_punct(&self.peek_after(&t, Mode::Wild)?, "(") {
                break;
            }
            self.bump(&t);
            self.next(Mode::Wild)?;
            opened += 1;
            if opened > 3 {
                return Err(self.err_at(t.start, format!("too many nested sorts at '{kw}'")));
            }
            if kw == "REVERSE" {
                if reverse {
                    return Err(self.err_at(t.start, "REVERSE given twice"));
                }
                reverse = true;
            } else {
                sorts.push((kw, t.start));
            }
        }
        let mut exclude = Vec::new();
        if self.at_keyword_then(Mode::Wild, "EXCLUDE_FILE", "(")? {
            self.next(Mode::Wild)?;
            self.next(Mode::Wild)?;
            loop {
                let t = self.next(Mode::Wild)?;
                match t.tok {
                    Tok::Punct(")") if !exclude.is_empty() => break,
                    Tok::Punct(",") if !exclude.is_empty() => {}
                    Tok::Name(s) | Tok::Str(s) => exclude.push(s.to_string()),
                    _ => return Err(self.unexpected(&t, "a file name pattern")),
                }
            }
        }
        let (pattern, _) = self.expect_name(Mode::Wild, what)?;
        for _ in 0..opened {
            self.expect(Mode::Wild, ")")?;
        }
        let kind = |kw: &str| match kw {
            "SORT" | "SORT_BY_NAME" => Sort::Name,
            "SORT_BY_ALIGNMENT" => Sort::Alignment,
            "SORT_BY_INIT_PRIORITY" => Sort::InitPriority,
            _ => Sort::None,
        };
        let sort = match sorts.as_slice() {
            [] => None,
            [(a, _)] => Some(kind(a)),
            [(a, _), (b, off)] => Some(match (kind(a), kind(b)) {
                (Sort::Name, Sort::Name) => Sort::Name,
                (Sort::Name, Sort::Alignment) => Sort::NameThenAlignment,
                (Sort::Alignment, Sort::Name) => Sort::AlignmentThenName,
                (Sort::Alignment, Sort::Alignment) => Sort::Alignment,
                _ => {
                    return Err(self.err_at(*off, format!("{b} cannot be nested inside {a}")));
                }
            }),
            [_, _, (c, off), ..] => {
                return Err(self.err_at(*off, format!("too many nested sorts at '{c}'")));
            }
        };
        if let Some((kw, off)) = sorts.first() {
            if file_side && !matches!(sort, Some(Sort::Name | Sort::None)) {
                return Err(self.err_at(*off, format!("{kw} cannot be applied to file names")));
            }
            if reverse && sort == Some(Sort::None) {
                return Err(self.err_at(*off, "REVERSE cannot be combined with SORT_NONE"));
            }
        }
        Ok(WildSpec {
            pattern,
            exclude,
            sort: if reverse && sort.is_none() {
                Some(Sort::Name)
            } else {
                sort
            },
            reverse,
        })
    }

    // ---- PHDRS and MEMORY -------------------------------------------------------------------

    fn phdrs(&mut self) -> PResult<Vec<PhdrDecl>> {
        self.expect(Mode::Section, "{")?;
        let mut decls = Vec::new();
        loop {
            let t = self.peek(Mode::Section)?;
            match t.tok {
                Tok::Punct("}") => {
                    self.bump(&t);
                    return Ok(decls);
                }
                Tok::Punct(";") => self.bump(&t),
                Tok::Name(_) | Tok::Str(_) => decls.push(self.phdr()?),
                _ => return Err(self.unexpected(&t, "a program header name or '}'")),
            }
        }
    }

    fn phdr(&mut self) -> PResult<PhdrDecl> {
        let (name, start) = self.expect_name(Mode::Section, "a program header name")?;
        let ty = self.expr()?;
        let type_ = match &ty {
            Expr::Symbol(s) => match PtKind::from_keyword(s) {
                Some(k) => PhdrType::Known(k),
                None => PhdrType::Expr(ty),
            },
            _ => PhdrType::Expr(ty),
        };
        let mut decl = PhdrDecl {
            name,
            type_,
            filehdr: false,
            phdrs: false,
            at: None,
            flags: None,
            loc: self.loc(start),
        };
        loop {
            let t = self.peek(Mode::Section)?;
            match t.tok {
                Tok::Name("FILEHDR") => {
                    self.bump(&t);
                    decl.filehdr = true;
                }
                Tok::Name("PHDRS") => {
                    self.bump(&t);
                    decl.phdrs = true;
                }
                Tok::Name("AT") if is_punct(&self.peek_after(&t, Mode::Section)?, "(") => {
                    self.bump(&t);
                    decl.at = Some(self.paren_expr()?);
                }
                Tok::Name("FLAGS") if is_punct(&self.peek_after(&t, Mode::Section)?, "(") => {
                    self.bump(&t);
                    decl.flags = Some(self.paren_expr()?);
                }
                Tok::Punct(";") => {
                    self.bump(&t);
                    return Ok(decl);
                }
                Tok::Punct("}") => return Ok(decl),
                _ => return Err(self.unexpected(&t, "';'")),
            }
        }
    }

    fn memory(&mut self) -> PResult<Vec<MemoryCommand>> {
        self.expect(Mode::Section, "{")?;
        let mut cmds = Vec::new();
        loop {
            let t = self.peek(Mode::Section)?;
            match t.tok {
                Tok::Punct("}") => {
                    self.bump(&t);
                    return Ok(cmds);
                }
                Tok::Punct(";" | ",") => self.bump(&t),
                Tok::Name("INCLUDE") => {
                    self.bump(&t);
                    cmds.push(MemoryCommand::Include(
                        self.expect_name(Mode::File, "a file name")?.0,
                    ));
                }
                Tok::Name(_) | Tok::Str(_) => {
                    cmds.push(MemoryCommand::Region(self.memory_region()?))
                }
                _ => return Err(self.unexpected(&t, "a memory region name or '}'")),
            }
        }
    }

    fn memory_region(&mut self) -> PResult<MemoryRegion> {
        let (name, start) = self.expect_name(Mode::Section, "a memory region name")?;
        let mut attributes = None;
        if self.eat(Mode::Section, "(")? {
            let open = self.lx.pos;
            let src = self.lx.src();
            let Some(len) = src[open..].find(')') else {
                return Err(self.err_at(src.len(), "expected ')' but found end of file"));
            };
            attributes = Some(src[open..open + len].trim().to_string());
            self.lx.pos = open + len + 1;
        }
        self.expect(Mode::Section, ":")?;
        let origin = self.memory_attr(&["ORIGIN", "org", "o"])?;
        self.eat(Mode::Expr, ",")?;
        let length = self.memory_attr(&["LENGTH", "len", "l"])?;
        Ok(MemoryRegion {
            name,
            attributes,
            origin,
            length,
            loc: self.loc(start),
        })
    }

    /// `ORIGIN = expr` (or one of its abbreviations in `names`).
    fn memory_attr(&mut self, names: &[&str]) -> PResult<Expr> {
        let t = self.peek(Mode::Section)?;
        match t.tok {
            Tok::Name(s) if names.contains(&s) => self.bump(&t),
            _ => return Err(self.unexpected(&t, names[0])),
        }
        self.expect(Mode::Section, "=")?;
        self.expr()
    }

    // ---- expressions ------------------------------------------------------------------------

    fn expr(&mut self) -> PResult<Expr> {
        let start = self.lx.next_token_offset();
        self.enter(start)?;
        let cond = self.binary(1)?;
        let e = if self.eat(Mode::Expr, "?")? {
            let then = self.expr()?;
            self.expect(Mode::Expr, ":")?;
            let other = self.expr()?;
            Expr::Conditional(Box::new(cond), Box::new(then), Box::new(other))
        } else {
            cond
        };
        self.leave();
        Ok(e)
    }

    /// Operators binding at least as tightly as `min_prec`, left-associative.
    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let t = self.peek(Mode::Expr)?;
            let Tok::Punct(p) = t.tok else { break };
            let Some(op) = BinaryOp::from_token(p) else {
                break;
            };
            if op.precedence() < min_prec {
                break;
            }
            self.bump(&t);
            let rhs = self.binary(op.precedence() + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let t = self.peek(Mode::Expr)?;
        self.enter(t.start)?;
        let op = match t.tok {
            Tok::Punct("-") => Some(Some(UnaryOp::Neg)),
            Tok::Punct("!") => Some(Some(UnaryOp::Not)),
            Tok::Punct("~") => Some(Some(UnaryOp::BitNot)),
            Tok::Punct("+") => Some(None),
            _ => None,
        };
        let e = match op {
            Some(op) => {
                self.bump(&t);
                let operand = self.unary()?;
                match op {
                    Some(op) => Expr::Unary(op, Box::new(operand)),
                    None => operand,
                }
            }
            None => self.primary()?,
        };
        self.leave();
        Ok(e)
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.next(Mode::Expr)?;
        match t.tok {
            Tok::Num(n) => Ok(Expr::Number(n)),
            Tok::Str(s) => Ok(Expr::Symbol(s.to_string())),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(Mode::Expr, ")")?;
                Ok(e)
            }
            Tok::Name(".") => Ok(Expr::Dot),
            Tok::Name("SIZEOF_HEADERS" | "sizeof_headers") => Ok(Expr::SizeOfHeaders),
            Tok::Name(name) => {
                // `sym (NOLOAD)` is an output section address followed by its type.
                if self.peek_is(Mode::Expr, "(")? && !self.at_section_type()? {
                    self.call(&t, name)
                } else {
                    Ok(Expr::Symbol(name.to_string()))
                }
            }
            _ => Err(self.unexpected(&t, "an expression")),
        }
    }

    /// A built-in function call; the current token is its `(`.
    fn call(&mut self, t: &Token, name: &str) -> PResult<Expr> {
        let b = Box::new;
        let e = match name {
            "ALIGN" => {
                self.expect(Mode::Expr, "(")?;
                let first = self.expr()?;
                let e = if self.eat(Mode::Expr, ",")? {
                    Expr::Align {
                        value: Some(b(first)),
                        align: b(self.expr()?),
                    }
                } else {
                    Expr::Align {
                        value: None,
                        align: b(first),
                    }
                };
                self.expect(Mode::Expr, ")")?;
                e
            }
            "BLOCK" => Expr::Block(b(self.paren_expr()?)),
            "ABSOLUTE" => Expr::Absolute(b(self.paren_expr()?)),
            "NEXT" => Expr::Next(b(self.paren_expr()?)),
            "LOG2CEIL" => Expr::Log2Ceil(b(self.paren_expr()?)),
            "DATA_SEGMENT_END" => Expr::DataSegmentEnd(b(self.paren_expr()?)),
            "MAX" | "MIN" | "DATA_SEGMENT_ALIGN" | "DATA_SEGMENT_RELRO_END" => {
                self.expect(Mode::Expr, "(")?;
                let x = b(self.expr()?);
                self.expect(Mode::Expr, ",")?;
                let y = b(self.expr()?);
                self.expect(Mode::Expr, ")")?;
                match name {
                    "MAX" => Expr::Max(x, y),
                    "MIN" => Expr::Min(x, y),
                    "DATA_SEGMENT_ALIGN" => Expr::DataSegmentAlign {
                        max_page_size: x,
                        common_page_size: y,
                    },
                    _ => Expr::DataSegmentRelroEnd {
                        offset: x,
                        value: y,
                    },
                }
            }
            "ALIGNOF" | "SIZEOF" | "ADDR" | "LOADADDR" | "ORIGIN" | "LENGTH" => {
                let what = if matches!(name, "ORIGIN" | "LENGTH") {
                    "a memory region name"
                } else {
                    "a section name"
                };
                let arg = self.paren_name(Mode::Section, what)?;
                match name {
                    "ALIGNOF" => Expr::AlignOf(arg),
                    "SIZEOF" => Expr::SizeOf(arg),
                    "ADDR" => Expr::Addr(arg),
                    "LOADADDR" => Expr::LoadAddr(arg),
                    "ORIGIN" => Expr::Origin(arg),
                    _ => Expr::Length(arg),
                }
            }
            "DEFINED" => Expr::Defined(self.paren_name(Mode::Section, "a symbol name")?),
            "CONSTANT" => {
                self.expect(Mode::Expr, "(")?;
                let (arg, off) =
                    self.expect_name(Mode::Section, "MAXPAGESIZE or COMMONPAGESIZE")?;
                let kind = match arg.as_str() {
                    "MAXPAGESIZE" => ConstantKind::MaxPageSize,
                    "COMMONPAGESIZE" => ConstantKind::CommonPageSize,
                    _ => {
                        return Err(
                            self.err_at(off, format!("unknown constant '{arg}' in CONSTANT()"))
                        )
                    }
                };
                self.expect(Mode::Expr, ")")?;
                Expr::Constant(kind)
            }
            "SEGMENT_START" => {
                self.expect(Mode::Expr, "(")?;
                let (segment, _) = self.expect_name(Mode::Section, "a segment name")?;
                self.expect(Mode::Expr, ",")?;
                let default = b(self.expr()?);
                self.expect(Mode::Expr, ")")?;
                Expr::SegmentStart { segment, default }
            }
            "ASSERT" => {
                let (expr, message) = self.assert_args()?;
                Expr::Assert {
                    expr: b(expr),
                    message,
                }
            }
            _ => return Err(self.err_at(t.start, format!("unknown function '{name}'"))),
        };
        Ok(e)
    }
}
