//! Wildcard patterns as linker scripts use them (`*`, `?`, `[a-z]`, `[!0-9]`), matched
//! against section and file names.

/// A compiled pattern: literal patterns compare directly, the rest are matched with
/// backtracking over `*`.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: Vec<u8>,
    literal: bool,
}

impl Glob {
    pub fn new(p: &str) -> Glob {
        let pattern = p.as_bytes().to_vec();
        let literal = !pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        Glob { pattern, literal }
    }

    /// The bytes every name this pattern matches starts with (up to its first wildcard).
    pub fn literal_prefix(&self) -> &[u8] {
        let end = self
            .pattern
            .iter()
            .position(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
            .unwrap_or(self.pattern.len());
        &self.pattern[..end]
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        if self.literal {
            return self.pattern == s;
        }
        matches_at(&self.pattern, s)
    }
}

fn matches_at(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    // Position to resume after the last `*`: (pattern index after star, string index).
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&p[pi..], s[si]) {
                        if ok {
                            pi += next;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == b'[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                b'\\' if pi + 1 < p.len() && p[pi + 1] == s[si] => {
                    pi += 2;
                    si += 1;
                    continue;
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches one byte against a bracket expression at the start of `p`. Returns whether it
/// matched and the length of the expression, or None if the bracket is not closed.
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = i < p.len() && (p[i] == b'!' || p[i] == b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn wildcards() {
        assert!(Glob::new(".text").matches(b".text"));
        assert!(!Glob::new(".text").matches(b".text.x"));
        assert!(Glob::new(".text.*").matches(b".text.foo"));
        assert!(!Glob::new(".text.*").matches(b".text"));
        assert!(Glob::new("*crtbegin?.o").matches(b"/usr/lib/crtbeginT.o"));
        assert!(Glob::new(".uk_inittab_[1-6][0-9]").matches(b".uk_inittab_42"));
        assert!(!Glob::new(".uk_inittab_[1-6][0-9]").matches(b".uk_inittab_72"));
        assert!(Glob::new("[!a]b").matches(b"cb"));
        assert!(!Glob::new("[!a]b").matches(b"ab"));
        assert!(Glob::new("*").matches(b""));
        assert!(Glob::new("a*b*c").matches(b"axxbyyc"));
        assert!(!Glob::new("a*b*c").matches(b"axxbyy"));
    }
}
