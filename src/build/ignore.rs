//! `.dockerignore`: which files of the build context are left out.
//!
//! Semantics follow docker's `moby/patternmatcher` and its `ignorefile` reader: patterns
//! are Go `filepath.Match` globs plus `**`, the last matching pattern wins, `!` lines
//! re-include, and a pattern matching a parent directory excludes everything below it.

/// Why a pattern was refused by [`Matcher::try_parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    #[error(".dockerignore line {line}: illegal exclusion pattern: \"!\"")]
    LoneBang { line: usize },
    #[error(".dockerignore line {line}: syntax error in pattern {pattern:?}")]
    BadPattern { line: usize, pattern: String },
}

/// The compiled patterns of one `.dockerignore` file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    /// A `!` line: matching paths are included again.
    exception: bool,
    kind: Kind,
}

/// patternmatcher picks a cheaper test than a full glob when the pattern allows; the
/// suffix test is not quite the same as the glob (`**foo` matches `barfoo`), so the
/// distinction is kept rather than always globbing.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Exact(String),
    /// `foo/**`: everything starting with the text.
    Prefix(String),
    /// `**/foo`: everything ending with the text (or equal to it without the `/`).
    Suffix(String),
    Glob(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/` in the middle: any number of whole directories, including none.
    Dirs,
    /// `**` at the end: anything at all.
    Rest,
    /// `[...]`, possibly negated with `^`: inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Matcher {
    /// Parse the file's text. Invalid patterns (an unclosed `[`, a lone `!`) are skipped;
    /// use [`Matcher::try_parse`] to report them instead.
    pub fn parse(text: &str) -> Matcher {
        let patterns = lines(text)
            .filter_map(|(_, line)| compile_line(line).ok().flatten())
            .collect();
        Matcher { patterns }
    }

    /// Like [`Matcher::parse`], but a pattern docker would refuse is an error.
    pub fn try_parse(text: &str) -> Result<Matcher, IgnoreError> {
        let mut patterns = Vec::new();
        for (line, text) in lines(text) {
            match compile_line(text) {
                Ok(Some(p)) => patterns.push(p),
                Ok(None) => {}
                Err(LineError::LoneBang) => return Err(IgnoreError::LoneBang { line }),
                Err(LineError::Bad(pattern)) => {
                    return Err(IgnoreError::BadPattern { line, pattern });
                }
            }
        }
        Ok(Matcher { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the context path (slash-separated, relative) is excluded. The last
    /// matching pattern wins, and a pattern that matches any parent directory counts as
    /// matching the path (docker's `MatchesOrParentMatches`).
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        if path.is_empty() || path == "." {
            // Docker never lets the context root itself be excluded.
            return false;
        }
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut matched = false;
        for p in &self.patterns {
            // An include only matters while the path is not yet excluded, an exception
            // only once it is.
            if p.exception != matched {
                continue;
            }
            if p.matches(&path) || parents.iter().any(|d| p.matches(d)) {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Whether a walk must descend into `dir`: it is not excluded, or some exception
    /// pattern could match a path below it (docker walks into such directories, since
    /// `dir` excluded with `!dir/keep` still sends `dir/keep`).
    pub fn must_descend(&self, dir: &str) -> bool {
        if !self.excluded(dir) {
            return true;
        }
        let dir = clean(dir);
        let prefix = format!("{dir}/");
        self.patterns
            .iter()
            .any(|p| p.exception && p.could_match_below(&prefix))
    }
}

/// The meaningful lines of the file with their 1-based numbers, as docker's
/// `ignorefile.ReadAll` sees them: a `#` in the first column starts a comment (an
/// indented `#` does not), surrounding whitespace is trimmed, blank lines are skipped.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

enum LineError {
    LoneBang,
    Bad(String),
}

fn compile_line(line: &str) -> Result<Option<Pattern>, LineError> {
    let (exception, rest) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    if exception && rest.is_empty() {
        return Err(LineError::LoneBang);
    }
    let cleaned = clean(rest);
    let kind = compile(&cleaned).ok_or_else(|| LineError::Bad(line.to_string()))?;
    Ok(Some(Pattern { exception, kind }))
}

/// Go's `filepath.Clean` followed by dropping a leading `/`: patterns and paths are
/// relative to the context root, so `/a`, `./a` and `a/b/..` all mean `a`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                // Above the root there is nothing: `/../a` is `a`, as is `../a` here
                // because a context path cannot leave the context.
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return ".".to_string();
    }
    parts.join("/")
}

/// Translate a cleaned pattern, tracking patternmatcher's choice of match type.
fn compile(pattern: &str) -> Option<Kind> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut detected = Detected::Exact;
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is the same as `**`: the slash belongs to the wildcard.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        detected = Detected::Glob;
                    }
                    toks.push(Tok::Rest);
                } else {
                    detected = Detected::Glob;
                    toks.push(Tok::Dirs);
                }
                if start == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                detected = Detected::Glob;
            }
            '?' => {
                toks.push(Tok::One);
                detected = Detected::Glob;
            }
            '\\' => match chars.get(i) {
                Some(&n) => {
                    i += 1;
                    toks.push(Tok::Lit(n));
                    detected = Detected::Glob;
                }
                // A trailing backslash is Go's ErrBadPattern.
                None => return None,
            },
            '[' => {
                let (tok, next) = class(&chars, i)?;
                toks.push(tok);
                i = next;
                detected = Detected::Glob;
            }
            // A stray `]` is an ordinary character for Go's matcher, but it still makes
            // patternmatcher treat the pattern as a regexp.
            ']' => {
                toks.push(Tok::Lit(c));
                detected = Detected::Glob;
            }
            _ => toks.push(Tok::Lit(c)),
        }
    }
    Some(match detected {
        Detected::Exact => Kind::Exact(pattern.to_string()),
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Glob => Kind::Glob(toks),
    })
}

/// Parse a character class whose `[` is just before `i`; returns the token and the
/// index after the closing `]`, or `None` when the class is malformed.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let take = |i: &mut usize| -> Option<char> {
        let c = *chars.get(*i)?;
        *i += 1;
        if c == '\\' {
            let n = *chars.get(*i)?;
            *i += 1;
            return Some(n);
        }
        Some(c)
    };
    loop {
        match chars.get(i) {
            None => return None,
            Some(']') if !ranges.is_empty() => {
                return Some((Tok::Class { negated, ranges }, i + 1));
            }
            // Go refuses an empty class `[]`.
            Some(']') => return None,
            Some(_) => {
                let lo = take(&mut i)?;
                let hi = if chars.get(i) == Some(&'-') && chars.get(i + 1) != Some(&']') {
                    i += 1;
                    take(&mut i)?
                } else {
                    lo
                };
                if hi < lo {
                    return None;
                }
                ranges.push((lo, hi));
            }
        }
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact(p) => path == p,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => {
                let text: Vec<char> = path.chars().collect();
                glob(toks, &text, false)
            }
        }
    }

    /// Whether some path starting with `prefix` (a directory plus `/`) could match.
    fn could_match_below(&self, prefix: &str) -> bool {
        match &self.kind {
            Kind::Exact(p) => p.starts_with(prefix),
            Kind::Prefix(p) => p.starts_with(prefix) || prefix.starts_with(p.as_str()),
            // Any directory can contain a path ending in the suffix.
            Kind::Suffix(_) => true,
            Kind::Glob(toks) => {
                let text: Vec<char> = prefix.chars().collect();
                glob(toks, &text, true)
            }
        }
    }
}

/// Match `toks` against `text`. With `partial`, succeed as soon as all of `text` is
/// consumed by a prefix of the pattern: the rest of the pattern could then match
/// whatever follows in a longer path.
fn glob(toks: &[Tok], text: &[char], partial: bool) -> bool {
    if partial && text.is_empty() {
        return true;
    }
    let Some((tok, rest)) = toks.split_first() else {
        return text.is_empty();
    };
    match tok {
        Tok::Lit(c) => text.first() == Some(c) && glob(rest, &text[1..], partial),
        Tok::One => text.first().is_some_and(|&c| c != '/') && glob(rest, &text[1..], partial),
        Tok::Class { negated, ranges } => text.first().is_some_and(|&c| {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                && glob(rest, &text[1..], partial)
        }),
        Tok::Star => {
            let run = text.iter().take_while(|&&c| c != '/').count();
            (0..=run).any(|n| glob(rest, &text[n..], partial))
        }
        Tok::Dirs => {
            // Nothing, or anything up to and including some `/`.
            glob(rest, text, partial)
                || text
                    .iter()
                    .enumerate()
                    .filter(|&(_, &c)| c == '/')
                    .any(|(n, _)| glob(rest, &text[n + 1..], partial))
        }
        Tok::Rest => (0..=text.len()).any(|n| glob(rest, &text[n..], partial)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::parse(text)
    }

    #[test]
    fn docker_documentation_examples() {
        // https://docs.docker.com/build/concepts/context/#dockerignore-files
        let ig = m("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(ig.excluded("somedir/temporary.txt"));
        assert!(ig.excluded("somedir/temp"));
        assert!(!ig.excluded("temporary.txt"));
        assert!(ig.excluded("somedir/subdir/temporary.txt"));
        assert!(!ig.excluded("a/b/c/temporary.txt"));
        assert!(ig.excluded("tempa"));
        assert!(ig.excluded("tempb"));
        assert!(!ig.excluded("temp"));
        assert!(!ig.excluded("tempab"));
        // Something below an excluded path is excluded too.
        assert!(ig.excluded("tempa/inner/file"));
    }

    #[test]
    fn double_star() {
        let ig = m("**/*.go");
        assert!(ig.excluded("main.go"));
        assert!(ig.excluded("a/b/c/main.go"));
        assert!(!ig.excluded("main.rs"));
        let ig = m("a/**/z");
        assert!(ig.excluded("a/z"));
        assert!(ig.excluded("a/b/z"));
        assert!(ig.excluded("a/b/c/z"));
        assert!(!ig.excluded("b/z"));
        let ig = m("build/**");
        assert!(ig.excluded("build/x"));
        assert!(ig.excluded("build/x/y"));
        assert!(!ig.excluded("builder"));
        let ig = m("**");
        assert!(ig.excluded("anything/at/all"));
        let ig = m("**/node_modules");
        assert!(ig.excluded("node_modules"));
        assert!(ig.excluded("web/node_modules/x/y.js"));
        assert!(!ig.excluded("my_node_modules"));
    }

    #[test]
    fn exceptions_and_order() {
        let ig = m("*.md\n!README*.md\n");
        assert!(ig.excluded("CHANGES.md"));
        assert!(!ig.excluded("README.md"));
        assert!(!ig.excluded("README-secret.md"));
        // The last matching line wins.
        let ig = m("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(ig.excluded("README-secret.md"));
        assert!(!ig.excluded("README.md"));
        let ig = m("*.md\nREADME-secret.md\n!README*.md\n");
        assert!(!ig.excluded("README-secret.md"));
        assert!(ig.excluded("other.md"));
    }

    #[test]
    fn excluded_directory_with_exception_inside() {
        let ig = m("docs\n!docs/keep.txt\n");
        assert!(ig.excluded("docs"));
        assert!(ig.excluded("docs/other.txt"));
        assert!(ig.excluded("docs/sub/x"));
        assert!(!ig.excluded("docs/keep.txt"));
        assert!(ig.must_descend("docs"));
        assert!(!ig.must_descend("docs/sub"));
        assert!(ig.must_descend("src"), "not excluded, so walked");
        let ig = m("vendor\n!vendor/**/LICENSE\n");
        assert!(ig.must_descend("vendor"));
        assert!(ig.must_descend("vendor/a/b"));
        assert!(!ig.excluded("vendor/a/b/LICENSE"));
        assert!(ig.excluded("vendor/a/b/main.go"));
        let ig = m("*\n!src/*.rs\n");
        assert!(ig.must_descend("src"));
        assert!(!ig.must_descend("target"));
        assert!(!ig.excluded("src/lib.rs"));
        assert!(ig.excluded("src/x.c"));
        let ig = m("*\n!**/keep\n");
        assert!(ig.must_descend("anything"));
    }

    #[test]
    fn parsing_rules() {
        let ig = m("\u{feff}a\n\n   \n  # indented hash is a pattern\n/b\n./c/../d\n!/e/\n");
        assert!(ig.excluded("a"));
        assert!(ig.excluded("# indented hash is a pattern"));
        assert!(ig.excluded("b"));
        assert!(ig.excluded("d"));
        assert!(!ig.excluded("c"));
        assert!(!ig.is_empty());
        assert!(m("# only a comment\n\n").is_empty());
        assert!(m("").is_empty());
        // Paths given to the matcher are cleaned too, and the root is never excluded.
        assert!(ig.excluded("./a"));
        assert!(!m("*").excluded("."));
        assert!(!m("*").excluded(""));
    }

    #[test]
    fn globs_and_classes() {
        let ig = m("file[0-9].txt\n[^a]x\n\\*lit\ndir/*/deep\n");
        assert!(ig.excluded("file3.txt"));
        assert!(!ig.excluded("fileA.txt"));
        assert!(ig.excluded("bx"));
        assert!(!ig.excluded("ax"));
        assert!(ig.excluded("*lit"));
        assert!(!ig.excluded("xlit"));
        assert!(ig.excluded("dir/one/deep"));
        assert!(!ig.excluded("dir/one/two/deep"));
        // `*` does not cross directories, but a match on a parent counts.
        let ig = m("*.log");
        assert!(ig.excluded("x.log"));
        assert!(!ig.excluded("sub/x.log"));
        let ig = m("sub");
        assert!(ig.excluded("sub/x.log"));
    }

    #[test]
    fn invalid_patterns() {
        assert!(Matcher::parse("[abc\nok\n").excluded("ok"));
        assert_eq!(
            Matcher::try_parse("ok\n[abc\n"),
            Err(IgnoreError::BadPattern {
                line: 2,
                pattern: "[abc".to_string()
            })
        );
        assert_eq!(
            Matcher::try_parse("!\n"),
            Err(IgnoreError::LoneBang { line: 1 })
        );
        assert!(Matcher::try_parse("a\\").is_err());
        assert!(Matcher::try_parse("[]").is_err());
        assert!(Matcher::try_parse("[z-a]").is_err());
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a/../b"), "b");
        assert_eq!(clean("/a//b/"), "a/b");
        assert_eq!(clean("/../a"), "a");
        assert_eq!(clean("a/.."), ".");
        assert_eq!(clean(""), ".");
    }
}
