//! A context-sensitive tokenizer for linker scripts.
//!
//! What counts as one word depends on where it appears, as in GNU ld: in an expression
//! `a-b` is a subtraction, while `.note.gnu.build-id` is a section name, `*crtbegin?.o` a
//! file pattern and `i386:x86-64` an architecture. The parser therefore asks for each token
//! in a [`Mode`] and the lexer never runs ahead of it.

/// The lexical context a token is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Expressions: identifiers are `[A-Za-z_.$][A-Za-z0-9_.$]*`, words starting with a
    /// digit are numbers, and every operator character is an operator.
    Expr,
    /// Command keywords, assignment targets, output section, region and segment names:
    /// words may contain `- + / \ ~ [ ]` besides letters, digits, `_ . $`, but not `: * ?`.
    Section,
    /// Input section descriptions: like `Section` plus the glob characters `* ? [ ] ^ !`
    /// and `:` (for `archive:member`). As in GNU ld, `/*` inside a word is part of it
    /// (`o1/*.o`); only at the start of a word does it open a comment.
    Wild,
    /// File names and other command arguments (`INPUT`, `SEARCH_DIR`, `OUTPUT_ARCH`, ...):
    /// anything up to white space or one of `( ) , ; " { }`.
    File,
}

/// The kind and text of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    /// An unquoted word.
    Name(&'a str),
    /// A double-quoted string, without its quotes.
    Str(&'a str),
    /// A number (only in [`Mode::Expr`]).
    Num(u64),
    /// An operator or delimiter.
    Punct(&'static str),
    Eof,
}

/// A token and its byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    pub start: usize,
    pub end: usize,
}

/// A lexical error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub offset: usize,
    pub message: String,
}

/// Operators and delimiters, longest first so the first match is the longest.
const PUNCTS: &[&str] = &[
    "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "&=",
    "|=", "^=", "(", ")", "{", "}", "[", "]", ";", ",", ":", "=", "+", "-", "*", "/", "%", "<",
    ">", "&", "|", "^", "!", "~", "?",
];

/// Compound assignment operators that start with a character a word may contain; a word
/// stops in front of them so that `x+=1` and `.-=4` read as assignments.
const ASSIGN_OPS_IN_WORDS: &[&str] = &["+=", "-=", "*=", "/=", "&=", "|=", "^="];

fn is_expr_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || matches!(c, b'_' | b'.' | b'$')
}

fn is_expr_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$')
}

fn is_word_char(mode: Mode, c: u8) -> bool {
    let common = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$' | b'/' | b'\\' | b'~');
    match mode {
        Mode::Expr => is_expr_ident_char(c),
        Mode::Section => common || matches!(c, b'-' | b'+' | b'[' | b']'),
        Mode::Wild => {
            common
                || matches!(
                    c,
                    b'-' | b'+' | b'[' | b']' | b'*' | b'?' | b'^' | b'!' | b':'
                )
        }
        Mode::File => {
            !c.is_ascii_whitespace()
                && !matches!(c, b'(' | b')' | b',' | b';' | b'"' | b'{' | b'}')
                && c != 0
        }
    }
}

/// Reads tokens from a script on demand.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next unread character.
    pub pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    pub fn src(&self) -> &'a str {
        self.src
    }

    /// Skips white space, `/* */` comments and C preprocessor line markers (`#` as the
    /// first non-blank character of a line, as left by `cpp` without `-P`).
    fn skip_trivia(&self, mut pos: usize) -> Result<usize, LexError> {
        let b = self.src.as_bytes();
        loop {
            match b.get(pos) {
                Some(c) if c.is_ascii_whitespace() => pos += 1,
                Some(b'/') if b.get(pos + 1) == Some(&b'*') => match self.src[pos + 2..].find("*/")
                {
                    Some(i) => pos += 2 + i + 2,
                    None => {
                        return Err(LexError {
                            offset: pos,
                            message: "unterminated comment".into(),
                        })
                    }
                },
                Some(b'#') if self.at_line_start(pos) => {
                    pos = match self.src[pos..].find('\n') {
                        Some(i) => pos + i + 1,
                        None => b.len(),
                    }
                }
                _ => return Ok(pos),
            }
        }
    }

    fn at_line_start(&self, pos: usize) -> bool {
        self.src.as_bytes()[..pos]
            .iter()
            .rev()
            .take_while(|&&c| c != b'\n')
            .all(|&c| c == b' ' || c == b'\t' || c == b'\r')
    }

    /// Offset of the next token (after trivia), for diagnostics.
    pub fn next_token_offset(&self) -> usize {
        self.skip_trivia(self.pos).unwrap_or(self.pos)
    }

    /// Reads the token at `self.pos` in `mode` without consuming it.
    pub fn peek(&self, mode: Mode) -> Result<Token<'a>, LexError> {
        self.lex_at(self.pos, mode)
    }

    /// Reads and consumes the token at `self.pos`.
    pub fn next(&mut self, mode: Mode) -> Result<Token<'a>, LexError> {
        let t = self.peek(mode)?;
        self.pos = t.end;
        Ok(t)
    }

    /// Reads the token starting at or after `pos`.
    pub fn lex_at(&self, pos: usize, mode: Mode) -> Result<Token<'a>, LexError> {
        let start = self.skip_trivia(pos)?;
        let src = self.src;
        let b = src.as_bytes();
        let Some(&c) = b.get(start) else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let tok = |tok, end| Ok(Token { tok, start, end });

        if c == b'"' {
            return match src[start + 1..].find('"') {
                Some(i) => tok(Tok::Str(&src[start + 1..start + 1 + i]), start + i + 2),
                None => Err(LexError {
                    offset: start,
                    message: "unterminated string".into(),
                }),
            };
        }

        if mode == Mode::Expr {
            if c.is_ascii_digit() {
                let end = start
                    + b[start..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .count();
                let text = &src[start..end];
                return match parse_number(text) {
                    Some(v) => tok(Tok::Num(v), end),
                    None => Err(LexError {
                        offset: start,
                        message: format!("invalid number '{text}'"),
                    }),
                };
            }
            if is_expr_ident_start(c) {
                let end = start
                    + b[start..]
                        .iter()
                        .take_while(|&&c| is_expr_ident_char(c))
                        .count();
                return tok(Tok::Name(&src[start..end]), end);
            }
        } else {
            if let Some(op) = ASSIGN_OPS_IN_WORDS
                .iter()
                .find(|op| src[start..].starts_with(**op))
            {
                return tok(Tok::Punct(op), start + op.len());
            }
            if is_word_char(mode, c) && !src[start..].starts_with("/*") {
                let mut end = start;
                while end < b.len() && is_word_char(mode, b[end]) {
                    let next = b.get(end + 1).copied();
                    if end > start
                        && ((next == Some(b'=') && b"+-*/&|^".contains(&b[end]))
                            || (b[end] == b'/' && next == Some(b'*') && mode != Mode::Wild))
                    {
                        break;
                    }
                    end += 1;
                }
                return tok(Tok::Name(&src[start..end]), end);
            }
        }

        if let Some(p) = PUNCTS.iter().find(|p| src[start..].starts_with(**p)) {
            return tok(Tok::Punct(p), start + p.len());
        }
        let ch = src[start..].chars().next().unwrap_or('?');
        Err(LexError {
            offset: start,
            message: format!("unexpected character '{}'", ch.escape_default()),
        })
    }
}

/// Parses an integer the way GNU ld does: `0x1f` / `0X1F` hex, a leading `0` octal,
/// otherwise decimal, each optionally followed by `K` (×1024) or `M` (×1024²); or digits
/// with a radix suffix `h`/`x` (hex), `o` (octal), `b` (binary), `d` (decimal).
pub fn parse_number(text: &str) -> Option<u64> {
    let digits = |s: &str, radix: u32| -> Option<u64> {
        if s.is_empty() {
            return None;
        }
        u64::from_str_radix(s, radix).ok()
    };
    let scaled = |s: &str, radix: u32| -> Option<u64> {
        let (body, mult) = match s.as_bytes().last() {
            Some(b'K' | b'k') => (&s[..s.len() - 1], 1024u64),
            Some(b'M' | b'm') => (&s[..s.len() - 1], 1024 * 1024),
            _ => (s, 1),
        };
        digits(body, radix)?.checked_mul(mult)
    };
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return scaled(hex, 16);
    }
    if text.bytes().all(|c| c.is_ascii_digit()) {
        return if text.len() > 1 && text.starts_with('0') {
            digits(&text[1..], 8)
        } else {
            digits(text, 10)
        };
    }
    if let Some(v) = scaled_decimal_or_octal(text) {
        return Some(v);
    }
    let (body, suffix) = text.split_at(text.len() - 1);
    let radix = match suffix {
        "h" | "H" | "x" | "X" => 16,
        "o" | "O" => 8,
        "b" | "B" => 2,
        "d" | "D" => 10,
        _ => return None,
    };
    if !body.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    digits(body, radix)
}

/// `123K`, `4M`, `010K` (octal, like GNU ld's base-0 scan).
fn scaled_decimal_or_octal(text: &str) -> Option<u64> {
    let (body, mult) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1024u64),
        b'M' | b'm' => (&text[..text.len() - 1], 1024 * 1024),
        _ => return None,
    };
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = if body.len() > 1 && body.starts_with('0') {
        u64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<u64>().ok()?
    };
    v.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str, mode: Mode) -> Vec<String> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next(mode).unwrap();
            match t.tok {
                Tok::Eof => return out,
                Tok::Name(s) => out.push(format!("N:{s}")),
                Tok::Str(s) => out.push(format!("S:{s}")),
                Tok::Num(n) => out.push(format!("#{n}")),
                Tok::Punct(p) => out.push(p.to_string()),
            }
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x1000"), Some(0x1000));
        assert_eq!(parse_number("0X1fK"), Some(0x1f * 1024));
        assert_eq!(parse_number("010"), Some(8));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("4K"), Some(4096));
        assert_eq!(parse_number("2M"), Some(2 << 20));
        assert_eq!(parse_number("10h"), Some(16));
        assert_eq!(parse_number("ffh"), Some(255));
        assert_eq!(parse_number("101b"), Some(5));
        assert_eq!(parse_number("17o"), Some(15));
        assert_eq!(parse_number("99d"), Some(99));
        assert_eq!(parse_number("08"), None);
        assert_eq!(parse_number("12q"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("99999999999999999999999"), None);
        assert_eq!(parse_number("0xffffffffffffffffK"), None);
    }

    #[test]
    fn modes() {
        assert_eq!(words("a-b", Mode::Expr), ["N:a", "-", "N:b"]);
        assert_eq!(words(".+4", Mode::Expr), ["N:.", "+", "#4"]);
        assert_eq!(words("a-b", Mode::Section), ["N:a-b"]);
        assert_eq!(
            words(".note.gnu.build-id :", Mode::Section),
            ["N:.note.gnu.build-id", ":"]
        );
        assert_eq!(words(".text:{", Mode::Section), ["N:.text", ":", "{"]);
        assert_eq!(words("x+=1", Mode::Section), ["N:x", "+=", "N:1"]);
        assert_eq!(words(".-=4", Mode::Section), ["N:.", "-=", "N:4"]);
        assert_eq!(
            words("*crtbegin?.o(.ctors .uk[1-6][0-9])", Mode::Wild),
            ["N:*crtbegin?.o", "(", "N:.ctors", "N:.uk[1-6][0-9]", ")"]
        );
        assert_eq!(
            words("lib*.a:foo.o(.data)", Mode::Wild),
            ["N:lib*.a:foo.o", "(", "N:.data", ")"]
        );
        assert_eq!(
            words("*(.text)/* c */x", Mode::Wild),
            ["N:*", "(", "N:.text", ")", "N:x"]
        );
        assert_eq!(
            words("o1/*.o(.text)", Mode::Wild),
            ["N:o1/*.o", "(", "N:.text", ")"]
        );
        assert_eq!(words("a.o/* c */", Mode::File), ["N:a.o"]);
        assert_eq!(words("i386:x86-64)", Mode::File), ["N:i386:x86-64", ")"]);
        assert_eq!(words("\"a b\",-lc", Mode::File), ["S:a b", ",", "N:-lc"]);
        assert_eq!(words("<<= >= ? :", Mode::Expr), ["<<=", ">=", "?", ":"]);
    }

    #[test]
    fn trivia() {
        assert_eq!(words("/* x */ a /**/ b", Mode::Section), ["N:a", "N:b"]);
        assert_eq!(words("# 1 \"x.lds.S\"\n  # 2\na", Mode::Section), ["N:a"]);
        assert!(Lexer::new("a # b").lex_at(1, Mode::Section).is_err());
        let lx = Lexer::new("a /* never ends");
        let mut lx2 = lx.clone();
        lx2.next(Mode::Section).unwrap();
        assert_eq!(lx2.next(Mode::Section).unwrap_err().offset, 2);
        assert!(Lexer::new("\"open").peek(Mode::Expr).is_err());
        assert!(Lexer::new("@").peek(Mode::Expr).is_err());
    }
}
