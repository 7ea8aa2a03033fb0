//! Compose-file variable interpolation and `.env` file parsing.
//!
//! Both follow docker compose v2 (compose-go's `template` and `dotenv` packages) rather than
//! POSIX shell rules: a compose project must mean the same thing under skiff as under
//! `docker compose`, including compose-go's quirks (see the notes on [`interpolate`]).

use std::collections::HashMap;
use std::fmt;

/// Why a template could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${VAR:?message}` / `${VAR?message}` with VAR unset (or empty for `:?`): carries VAR and
    /// the message
    Required { var: String, message: String },
    /// malformed template such as `${`, `${}`, `${VAR`, `${VAR:x}`, `${1abc}`: carries a short
    /// human reason
    Invalid(String),
}

impl fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            Self::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
            Self::Invalid(reason) => write!(f, "invalid interpolation format: {reason}"),
        }
    }
}

impl std::error::Error for InterpolateError {}

/// Substitutes `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`,
/// `${VAR:+alt}`, `${VAR+alt}`, and `$$` (a literal `$`) in `template`. `lookup` returns a
/// variable's value (None = unset; Some("") = set but empty).
///
/// Unset variables without a modifier become the empty string (compose only warns). The text
/// after a modifier ends at the `}` that balances the opening `${`, counted the way compose-go
/// counts it (the character right after any `{` is skipped), and never crosses a line break; if
/// nothing balances it runs to the last `}` on the line. That text is interpolated only when its
/// branch is taken, so an unused default can never fail.
pub fn interpolate(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut pos = 0;
    while let Some(offset) = template[pos..].find('$') {
        let dollar = pos + offset;
        out.push_str(&template[pos..dollar]);
        pos = match bytes.get(dollar + 1) {
            Some(b'$') => {
                out.push('$');
                dollar + 2
            }
            Some(b'{') => {
                let (value, end) = braced(template, dollar, lookup)?;
                out.push_str(&value);
                end
            }
            _ => match name_len(&bytes[dollar + 1..]) {
                // `$` before anything that is not a name stays literal, like compose-go.
                0 => {
                    out.push('$');
                    dollar + 1
                }
                len => {
                    let name = &template[dollar + 1..dollar + 1 + len];
                    out.push_str(&lookup(name).unwrap_or_default());
                    dollar + 1 + len
                }
            },
        };
    }
    out.push_str(&template[pos..]);
    Ok(out)
}

/// Length of the variable name (`[_a-zA-Z][_a-zA-Z0-9]*`) at the start of `s`, 0 if none.
fn name_len(s: &[u8]) -> usize {
    match s.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
            1 + s[1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count()
        }
        _ => 0,
    }
}

/// Expands the `${...}` starting at `template[dollar]`; returns its value and the index after it.
fn braced(
    template: &str,
    dollar: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), InterpolateError> {
    let bytes = template.as_bytes();
    let invalid = |why: &str| InterpolateError::Invalid(format!("{why} in {template:?}"));
    let name_start = dollar + 2;
    let name_end = name_start + name_len(&bytes[name_start..]);
    if name_end == name_start {
        return Err(invalid("\"${\" is not followed by a variable name"));
    }
    let name = &template[name_start..name_end];
    let colon = bytes.get(name_end) == Some(&b':');
    let op_at = name_end + usize::from(colon);
    let op = match bytes.get(op_at) {
        Some(b'}') if !colon => return Ok((lookup(name).unwrap_or_default(), name_end + 1)),
        Some(&op @ (b'-' | b'+' | b'?')) => op,
        Some(_) => {
            let c = template[op_at..].chars().next().unwrap_or('?');
            return Err(invalid(&format!(
                "unexpected character {:?} after variable name {name}",
                c.to_string()
            )));
        }
        None => return Err(invalid("missing closing \"}\"")),
    };
    let arg_start = op_at + 1;
    let line_end = template[arg_start..]
        .find('\n')
        .map_or(template.len(), |i| arg_start + i);
    let Some(last) = template[arg_start..line_end].rfind('}') else {
        return Err(invalid("missing closing \"}\""));
    };
    let last = arg_start + last;
    let close = balancing_brace(&bytes[dollar..=last]).map_or(last, |i| dollar + i);
    let arg = &template[arg_start..close];

    let value = lookup(name);
    // For `:` forms an empty value counts as absent; otherwise only an unset one does.
    let present = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
    let result = match (op, present) {
        (b'-', true) | (b'?', true) | (b'+', false) => value.unwrap_or_default(),
        (b'-', false) | (b'+', true) => interpolate(arg, lookup)?,
        _ => {
            return Err(InterpolateError::Required {
                var: name.to_string(),
                message: interpolate(arg, lookup)?,
            });
        }
    };
    Ok((result, close + 1))
}

/// Index of the `}` closing the `{` at `s[1]`, mirroring compose-go's counting, which skips the
/// character after every `{` (so `{}` inside a default does not count as a pair).
fn balancing_brace(s: &[u8]) -> Option<usize> {
    let mut open = 0usize;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'}' => {
                open = open.saturating_sub(1);
                if open == 0 {
                    return Some(i);
                }
            }
            b'{' => {
                open += 1;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses a `.env` / `--env-file` file the way compose-go's dotenv does; returns (key, value) in
/// file order. `lookup` gives already-known variables for `${VAR}` expansion inside unquoted and
/// double-quoted values.
///
/// As in compose-go, `lookup` takes precedence over values set earlier in the file (the process
/// environment beats the file), `KEY: value` is accepted like `KEY=value`, single-quoted values
/// may span lines and honour `\'`, and text after a closing quote is parsed as a new statement.
/// A key that appears twice keeps its first position and its last value. Unlike compose-go, an
/// empty key (`=value`) is rejected and a bare key on the last line is inherited, because
/// compose-go's results there (a variable named "") are accidents, not behaviour to copy.
pub fn parse_env_file(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let (mut pos, mut line, mut counted) = (0, 1, 0);
    loop {
        pos = statement_start(src, pos);
        if pos >= src.len() {
            return Ok(vars);
        }
        line += src[counted..pos].matches('\n').count();
        counted = pos;

        let mut stmt = &src[pos..];
        if let Some(after) = stmt.strip_prefix("export") {
            let trimmed = after.trim_start_matches(is_space);
            // `export` alone (or `export=1`) is an ordinary key, not the keyword.
            if trimmed.len() < after.len() && !trimmed.is_empty() && !trimmed.starts_with('\n') {
                stmt = trimmed;
            }
        }
        let first_line = stmt.find('\n').map_or(stmt, |i| &stmt[..i]);
        let unexpected = |c: char| {
            format!(
                "line {line}: unexpected character {:?} in variable name {first_line:?}",
                c.to_string()
            )
        };
        let mut terminator = None;
        for (i, c) in stmt.char_indices() {
            match c {
                '=' | ':' | '\n' => {
                    terminator = Some((i, c));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() || is_space(c) => {}
                c => return Err(unexpected(c)),
            }
        }
        // A key with no `=` (or a bare key on the last line) is inherited from `lookup`.
        let (key, inherited, after) = match terminator {
            Some((0, c)) => return Err(unexpected(c)),
            Some((i, c)) => (stmt[..i].trim_end(), c == '\n', &stmt[i + 1..]),
            None => (stmt.trim_end(), true, ""),
        };
        if key.contains(char::is_whitespace) {
            return Err(format!("line {line}: key cannot contain a space"));
        }
        let known =
            |name: &str| lookup(name).or_else(|| index.get(name).map(|&i| vars[i].1.clone()));
        let expand =
            |value: &str| interpolate(value, &known).map_err(|e| format!("line {line}: {e}"));

        let rest = after.trim_start_matches(is_space);
        let (value, next) = if inherited {
            (known(key), after)
        } else if let Some(quote @ ('"' | '\'')) = rest.chars().next() {
            let Some((raw, end)) = quoted(rest, quote) else {
                let shown = rest.find('\n').map_or(rest, |i| &rest[..i]);
                return Err(format!("line {line}: unterminated quoted value {shown}"));
            };
            let value = if quote == '"' {
                expand(&expand_escapes(&raw))?
            } else {
                raw
            };
            (Some(value), &rest[end..])
        } else {
            let (raw, next) = rest.split_once('\n').unwrap_or((rest, ""));
            let raw = raw.find(" #").map_or(raw, |i| &raw[..i]);
            (Some(expand(raw.trim_end())?), next)
        };
        // Every slice above is a suffix of `src`, so its length locates it.
        pos = src.len() - next.len();
        if let Some(value) = value {
            match index.get(key) {
                Some(&i) => vars[i].1 = value,
                None => {
                    index.insert(key.to_string(), vars.len());
                    vars.push((key.to_string(), value));
                }
            }
        }
    }
}

/// Index of the next statement at or after `pos`, skipping whitespace and `#` comment lines.
fn statement_start(src: &str, mut pos: usize) -> usize {
    loop {
        let rest = &src[pos..];
        let trimmed = rest.trim_start();
        pos += rest.len() - trimmed.len();
        if !trimmed.starts_with('#') {
            return pos;
        }
        pos += trimmed.find('\n').unwrap_or(trimmed.len());
    }
}

/// Horizontal whitespace as compose-go's dotenv defines it (line breaks excluded).
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Reads the quoted value at the start of `s` (which begins with `quote`), returning the raw
/// content and the index after the closing quote. A backslash before the quote character
/// yields the quote; any other backslash pair is kept verbatim for [`expand_escapes`].
fn quoted(s: &str, quote: char) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if c == quote && !escaped {
            return Some((value, i + 1));
        }
        if escaped && c != quote {
            value.push('\\');
        }
        escaped = !escaped && c == '\\';
        if !escaped {
            value.push(c);
        }
    }
    None
}

/// Expands the shell-echo escapes compose-go honours in double-quoted values: `\a \b \f \n \r
/// \t \v \" \\`, `\0ooo` octal, and `\$` (kept as `$$` so interpolation leaves a literal `$`).
/// Anything else, `\x41` or `\u00e9` included, stays as written.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let simple = match tail.as_bytes().first() {
            Some(b'a') => Some("\u{7}"),
            Some(b'b') => Some("\u{8}"),
            Some(b'f') => Some("\u{c}"),
            Some(b'n') => Some("\n"),
            Some(b'r') => Some("\r"),
            Some(b't') => Some("\t"),
            Some(b'v') => Some("\u{b}"),
            Some(b'"') => Some("\""),
            Some(b'\\') => Some("\\"),
            Some(b'$') => Some("$$"),
            _ => None,
        };
        if let Some(replacement) = simple {
            out.push_str(replacement);
            rest = &tail[1..];
        } else if let Some(after_zero) = tail.strip_prefix('0') {
            let digits = after_zero
                .bytes()
                .take_while(u8::is_ascii_digit)
                .take(3)
                .count();
            let code = &after_zero[..digits];
            // Go needs exactly three octal digits worth at most 255; otherwise it is literal.
            let decoded = u32::from_str_radix(code, 8)
                .ok()
                .filter(|v| digits == 3 && *v <= 255)
                .and_then(char::from_u32);
            match decoded {
                Some(c) => out.push(c),
                None => {
                    out.push_str("\\0");
                    out.push_str(code);
                }
            }
            rest = &after_zero[digits..];
        } else {
            out.push('\\');
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mirrors compose-go's test mapping: one set, one empty, one JSON-looking variable.
    fn env(name: &str) -> Option<String> {
        let value = match name {
            "FOO" => "first",
            "BAR" => "",
            "JSON" => r#"{"json":2}"#,
            _ => return None,
        };
        Some(value.to_string())
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_env_file(text, &env).unwrap()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// One test per row: `name: template => expected output`.
    macro_rules! interpolates {
        ($($name:ident: $template:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(interpolate($template, &env), Ok($want.to_string()));
            }
        )*};
    }

    /// One test per row: `name: template => expected Display of the error`.
    macro_rules! fails {
        ($($name:ident: $template:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let err = interpolate($template, &env).unwrap_err().to_string();
                assert!(err.starts_with($want), "{:?} gave {err}", $template);
            }
        )*};
    }

    /// One test per row: `name: env file with one entry => its value`.
    macro_rules! dotenv_value {
        ($($name:ident: $text:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let vars = pairs($text);
                assert_eq!(vars.len(), 1, "{:?} gave {vars:?}", $text);
                assert_eq!(vars[0].1, $want);
            }
        )*};
    }

    /// One test per row: `name: env file => expected start of the error`.
    macro_rules! dotenv_fails {
        ($($name:ident: $text:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let err = parse_env_file($text, &env).unwrap_err();
                assert!(err.starts_with($want), "{:?} gave {err}", $text);
            }
        )*};
    }

    interpolates! {
        plain_name: "This $FOO var" => "This first var";
        braced_name: "This ${FOO} var" => "This first var";
        name_stops_at_dash: "$FOO-bar" => "first-bar";
        unset_is_blank: "This ${missing} var$missing" => "This  var";
        empty_is_blank: "This ${BAR} var" => "This  var";
        lone_dollars_literal: "a $ b ^RE$ $} $1abc $-5 $é" => "a $ b ^RE$ $} $1abc $-5 $é";
        double_dollar_blocks_braces: "$${foo}" => "${foo}";
        double_dollar_blocks_names: "$$FOO $$$FOO" => "$FOO $first";
        double_dollar_in_default: "${missing:-$$}" => "$";
        soft_default_unset: "ok ${missing:-def}" => "ok def";
        soft_default_empty: "ok ${BAR:-def}" => "ok def";
        soft_default_set: "ok ${FOO:-def}" => "ok first";
        hard_default_unset: "ok ${missing-def}" => "ok def";
        hard_default_empty: "ok ${BAR-def}" => "ok ";
        hard_default_set: "ok ${FOO-def}" => "ok first";
        soft_alt_unset: "ok ${missing:+alt}" => "ok ";
        soft_alt_empty: "ok ${BAR:+alt}" => "ok ";
        soft_alt_set: "ok ${FOO:+alt}" => "ok alt";
        hard_alt_unset: "ok ${missing+alt}" => "ok ";
        hard_alt_empty: "ok ${BAR+alt}" => "ok alt";
        hard_alt_set: "ok ${FOO+alt}" => "ok alt";
        required_satisfied: "ok ${FOO:?err} ${FOO?err}" => "ok first first";
        required_empty_is_set: "ok ${BAR?err}" => "ok ";
        nested_default: "${A:-${B:-x}}" => "x";
        nested_default_twice: "ok ${missing-${FOO} ${FOO}}" => "ok first first";
        nested_plain_name: "ok ${BAR:-$FOO}" => "ok first";
        nested_alternative: "ok ${BAR+$FOO ${FOO:+second}}" => "ok first second";
        nested_empty_result: "+ok ${UNSET:-${BAR-defaultValue}}" => "+ok ";
        deep_nesting_then_tail: "${A:-${B:-${FOO}}}-tail ${FOO}" => "first-tail first";
        untaken_default_not_evaluated: "${FOO:-${missing:?boom}}" => "first";
        untaken_broken_message: "${FOO?${}}" => "first";
        untaken_alternative: "${A:+${A},}B" => "B";
        two_on_one_line: "ok ${SUB:-redis}.${FOO:?}" => "ok redis.first";
        three_on_one_line: "${A:-a} and ${B-b} and $FOO" => "a and b and first";
        stray_closing_brace: "${A:-x}}" => "x}";
        operators_in_default: "ok ${BAR:-/non:-alphanumeric}" => "ok /non:-alphanumeric";
        first_operator_wins: "${missing-myerror?msg}" => "myerror?msg";
        json_default: r#"ok ${missing:-{"json":1}}"# => r#"ok {"json":1}"#;
        json_default_unused: r#"ok ${JSON-{"json":1}}"# => r#"ok {"json":2}"#;
        empty_braces_default: "${missing:-{}}" => "{}";
        default_stays_on_its_line: "${A:-x}\n${B:-y}" => "x\ny";
    }

    fails! {
        required_soft_unset: "${UNSET:?Must}" => "required variable UNSET is missing a value: Must";
        required_hard_unset: "${UNSET?Must}" => "required variable UNSET is missing a value: Must";
        required_soft_empty: "${BAR:?empty}" => "required variable BAR is missing a value: empty";
        required_without_message: "${UNSET:?}" => "required variable UNSET is missing a value";
        invalid_bare_open: "${" => "invalid interpolation format: \"${\" is not followed";
        invalid_empty_braces: "${}" => "invalid interpolation format: \"${\" is not followed";
        invalid_leading_space: "${ foo}" => "invalid interpolation format: \"${\" is not followed";
        invalid_digit_name: "${1abc}" => "invalid interpolation format: \"${\" is not followed";
        invalid_trailing_space: "${foo }" => "invalid interpolation format: unexpected character";
        invalid_bang: "${foo!}" => "invalid interpolation format: unexpected character \"!\"";
        invalid_colon_x: "${VAR:x}" => "invalid interpolation format: unexpected character \"x\"";
        invalid_bare_colon: "${VAR:}" => "invalid interpolation format: unexpected character \"}\"";
        invalid_unterminated: "${VAR" => "invalid interpolation format: missing closing";
        invalid_unterminated_default: "${VAR:-x" => "invalid interpolation format: missing closing";
        invalid_across_lines: "a ${B:-x\n}" => "invalid interpolation format: missing closing";
    }

    #[test]
    fn required_error_carries_var_and_nested_message() {
        let err = interpolate("x ${UNSET?bar-baz ${FOO}}", &env).unwrap_err();
        let (var, message) = ("UNSET".to_string(), "bar-baz first".to_string());
        assert_eq!(err, InterpolateError::Required { var, message });
    }

    #[test]
    fn invalid_display_is_one_line() {
        let text = interpolate("a\n${VAR", &env).unwrap_err().to_string();
        assert!(
            text.ends_with(r#"in "a\n${VAR""#) && !text.contains('\n'),
            "{text}"
        );
    }

    dotenv_value! {
        unquoted_trailing_space: "FOO=bar " => "bar";
        unquoted_leading_space: "FOO= bar" => "bar";
        spaced_key: " KEY =value" => "value";
        equals_in_value: "FOO=foobar=" => "foobar=";
        unquoted_backslash_kept: "FOO=a\\tb" => "a\\tb";
        empty_crlf_value: "FOO=\r\n" => "";
        inline_comment: "FOO=bar # this is foo" => "bar";
        hash_without_space_kept: "FOO=123#not-a-comment" => "123#not-a-comment";
        yaml_style: "OPTION_A: Foo=bar" => "Foo=bar";
        colon_in_value: "OPTION_A=1:B" => "1:B";
        export_prefix: "\texport\tA=2" => "2";
        export_keyword_in_quotes: r#"export A="export A""# => "export A";
        single_quotes_literal: "A='quote $FOO ${X:?no}'" => "quote $FOO ${X:?no}";
        single_quotes_no_escapes: r"A='\n'" => r"\n";
        single_quotes_escaped_quote: r"A='Let\'s go!'" => "Let's go!";
        single_quotes_then_comment: "A='bar#baz' # comment" => "bar#baz";
        double_quotes_expand: r#"A="quote $FOO""# => "quote first";
        double_quotes_escaped_quote: r#"A="escaped\"bar""# => "escaped\"bar";
        double_quotes_trailing_backslash: r#"A="bar\nbaz\\""# => "bar\nbaz\\";
        double_quotes_escaped_dollar: r#"A="foo\${FOO} ${FOO}""# => "foo${FOO} first";
        double_quotes_unknown_escape: r#"A="bar\n\ b\az""# => "bar\n\\ b\u{7}z";
        double_quotes_then_hash: "A=\"bar#baz\"#" => "bar#baz";
        shell_escapes: r#"K="\a\b\f\n\r\t\v\\Z\0123Z""# => "\u{7}\u{8}\u{c}\n\r\t\u{b}\\ZSZ";
        non_echo_escapes_kept: r#"K="\x07 \u12e4 \0 \012 \0777""# => r"\x07 \u12e4 \0 \012 \0777";
        byte_order_mark: "\u{feff}A=1" => "1";
    }

    dotenv_fails! {
        bad_key_char: "# c\nA=1\nlol$wut" => r#"line 3: unexpected character "$" in variable"#;
        missing_key: "A=1\n=value" => "line 2: unexpected character \"=\"";
        key_with_space: "KEY NAME=x" => "line 1: key cannot contain a space";
        space_after_multiline: "#\nf=\"\n a\n b\n\"\nBAD LINE\nz=q" => "line 6: key cannot contain";
        open_double_quote: "KEY=\"value" => "line 1: unterminated quoted value \"value";
        escaped_double_quote: "KEY=\"value\\\"" => "line 1: unterminated quoted value";
        open_single_quote: "\nKEY='value\"" => "line 2: unterminated quoted value";
        required_in_value: "A=1\nB=${NO:?set}" => "line 2: required variable NO is missing a value";
        invalid_in_quotes: "A=\"${\"" => "line 1: invalid interpolation format";
    }

    #[test]
    fn dotenv_pairs_in_file_order_skipping_comments() {
        let text = "# header\nB=2\n\n  \t# indented\r\nA=1 # trailing\nC = 3\n";
        assert_eq!(pairs(text), owned(&[("B", "2"), ("A", "1"), ("C", "3")]));
    }

    #[test]
    fn dotenv_key_forms() {
        let text = "export X=1\nexportY=2\nexport=3\na.b=4\na[1]=5\nx-y=6\nárvíz=7";
        let keys: Vec<String> = pairs(text).into_iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            ["X", "exportY", "export", "a.b", "a[1]", "x-y", "árvíz"]
        );
    }

    #[test]
    fn dotenv_multiline_quotes() {
        let got = pairs("A=\"first line\nsecond $FOO\"\nB='one\ntwo'\nC=3");
        assert_eq!(
            got,
            owned(&[
                ("A", "first line\nsecond first"),
                ("B", "one\ntwo"),
                ("C", "3")
            ])
        );
    }

    #[test]
    fn dotenv_earlier_values_are_visible() {
        let got = pairs("A=1\nB=${A}\nC=$B\nD=${A}_${B}\nE=${UNDEFINED}\nF=\"<$A>\"");
        let want = [
            ("A", "1"),
            ("B", "1"),
            ("C", "1"),
            ("D", "1_1"),
            ("E", ""),
            ("F", "<1>"),
        ];
        assert_eq!(got, owned(&want));
    }

    #[test]
    fn dotenv_lookup_beats_file_values() {
        let got = pairs("FOO=file\nX=$FOO\nY=${FOO:-d}");
        assert_eq!(
            got,
            owned(&[("FOO", "file"), ("X", "first"), ("Y", "first")])
        );
    }

    #[test]
    fn dotenv_bare_keys_are_inherited() {
        let got = pairs("a=b\nFOO\nNOT_SET\nBAR\r\nc=d\nX=1\nX");
        let want = [
            ("a", "b"),
            ("FOO", "first"),
            ("BAR", ""),
            ("c", "d"),
            ("X", "1"),
        ];
        assert_eq!(got, owned(&want));
    }

    #[test]
    fn dotenv_duplicate_key_keeps_first_position_last_value() {
        assert_eq!(pairs("A=1\nB=2\nA=3"), owned(&[("A", "3"), ("B", "2")]));
    }

    #[test]
    fn dotenv_text_after_closing_quote_is_a_new_statement() {
        assert_eq!(pairs("A=\"x\" B=2"), owned(&[("A", "x"), ("B", "2")]));
    }
}
