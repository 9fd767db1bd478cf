//! Comments and docstrings, removed from the text the model reads exactly as training removes them
//! (`training/hunkguard_train/pycode.py`, `strip_lines`): training never shows the model a comment
//! on a vulnerable example, so a long trailing comment at run time once made a finding disappear.
//!
//! The rule is lexical and line-based, so that it works on fragments that do not parse and is the
//! same in both languages (the shared cases in `tests/fixtures/preprocess/` hold both to it):
//! - a `#` outside a string starts a comment, which is cut with the whitespace before it; a line the
//!   cut leaves blank is dropped;
//! - a bare string statement (a docstring, or any statement that is only a string literal, even over
//!   several lines) is dropped when nothing but a comment follows its closing quote;
//! - strings are `'`, `"`, their triple forms and any prefix (`r`, `b`, `f`, `u`, two at most); a
//!   backslash escapes the next character, and a single-quoted string ends at the end of its line.

/// Each line with its comment cut, or None where the line is dropped.
pub fn strip_lines(lines: &[&str]) -> Vec<Option<String>> {
    lex(lines).0
}

/// For each line, whether it continues the statement of the line above: it starts inside an open
/// bracket or a triple-quoted string, or after a backslash. Read by the same lexer as [`strip_lines`],
/// so a multi-line call is one statement to both.
pub fn continuation_lines(lines: &[&str]) -> Vec<bool> {
    lex(lines).1
}

/// The stripped lines, and which lines continue a statement.
fn lex(lines: &[&str]) -> (Vec<Option<String>>, Vec<bool>) {
    let mut out: Vec<Option<String>> = lines.iter().map(|l| Some((*l).to_string())).collect();
    let mut continues = vec![false; lines.len()];
    let mut open: Option<Quote> = None;
    let mut depth = 0usize;
    let mut continued = false;
    // the line where a bare string statement started, while its string is open
    let mut bare_from: Option<usize> = None;
    for (index, line) in lines.iter().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let at_statement = open.is_none() && depth == 0 && !continued;
        continues[index] = !at_statement;
        let bare_quote = if at_statement {
            first_string_quote(&chars)
        } else {
            None
        };
        let mut comment_at: Option<usize> = None;
        let mut k = 0;
        while k < chars.len() {
            if let Some(quote) = open {
                match quote.end_in(&chars, k) {
                    Some(after) => {
                        open = None;
                        k = after;
                        if let Some(from) = bare_from.take() {
                            let rest: String = chars[after..].iter().collect();
                            let rest = rest.trim_start();
                            if rest.is_empty() || rest.starts_with('#') {
                                for dropped in &mut out[from..=index] {
                                    *dropped = None;
                                }
                            }
                        }
                    }
                    None => {
                        if !quote.triple && !line.ends_with('\\') {
                            open = None;
                            bare_from = None;
                        }
                        k = chars.len();
                    }
                }
                continue;
            }
            let c = chars[k];
            match c {
                '#' => {
                    comment_at = Some(k);
                    break;
                }
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                '\'' | '"' => {
                    let triple = chars.get(k + 1) == Some(&c) && chars.get(k + 2) == Some(&c);
                    open = Some(Quote { quote: c, triple });
                    if bare_quote == Some(k) {
                        bare_from = Some(index);
                    }
                    k += if triple { 3 } else { 1 };
                    continue;
                }
                _ => {}
            }
            k += 1;
        }
        if let Some(quote) = open {
            if !quote.triple && !line.ends_with('\\') {
                open = None;
                bare_from = None;
            }
        }
        continued = open.is_none() && comment_at.is_none() && line.ends_with('\\');
        if let Some(cut) = comment_at.filter(|_| out[index].is_some()) {
            let code: String = chars[..cut].iter().collect();
            let code = code.trim_end();
            out[index] = (!code.trim().is_empty()).then(|| code.to_string());
        }
    }
    (out, continues)
}

/// An open string literal: its quote character and whether it is triple-quoted.
#[derive(Debug, Clone, Copy)]
struct Quote {
    quote: char,
    triple: bool,
}

impl Quote {
    /// Where the string that is open at `from` ends on this line: the index after its closing quote.
    fn end_in(&self, chars: &[char], from: usize) -> Option<usize> {
        let mut k = from;
        while k < chars.len() {
            let c = chars[k];
            if c == '\\' {
                k += 2;
                continue;
            }
            if c == self.quote {
                if !self.triple {
                    return Some(k + 1);
                }
                if chars.get(k + 1) == Some(&c) && chars.get(k + 2) == Some(&c) {
                    return Some(k + 3);
                }
            }
            k += 1;
        }
        None
    }
}

/// The index of the opening quote when the line's first token is a string literal.
fn first_string_quote(chars: &[char]) -> Option<usize> {
    let start = chars
        .iter()
        .position(|c| !matches!(c, ' ' | '\t' | '\x0c'))?;
    let prefix = chars[start..]
        .iter()
        .take_while(|c| matches!(c, 'r' | 'R' | 'b' | 'B' | 'u' | 'U' | 'f' | 'F'))
        .count();
    let quote = start + prefix;
    (prefix <= 2 && matches!(chars.get(quote), Some('\'' | '"'))).then_some(quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(text: &str) -> Vec<Option<String>> {
        strip_lines(&text.lines().collect::<Vec<_>>())
    }

    #[test]
    fn continuation_lines_are_those_inside_brackets_strings_or_after_a_backslash() {
        let lines = [
            "cur.execute(",
            "    f\"SELECT {t} \"",
            "    \"WHERE id=%s\",  # a ) in a comment",
            "    [pk],",
            ")",
            "q = '''a",
            "b'''",
            "x = 1 + \\",
            "    2",
            "y = ')'",
            "z = 3",
        ];
        assert_eq!(
            continuation_lines(&lines),
            vec![false, true, true, true, true, false, true, false, true, false, false]
        );
    }

    #[test]
    fn comments_are_cut_and_comment_lines_dropped() {
        assert_eq!(
            strip("x = 1  # set x\n    # alone\ny = '#not' + \"#no\"  # yes"),
            vec![
                Some("x = 1".into()),
                None,
                Some("y = '#not' + \"#no\"".into())
            ]
        );
    }

    #[test]
    fn docstrings_and_bare_strings_are_dropped_even_over_lines() {
        let text = "def f():\n    \"\"\"Doc.\n\n    # not a comment\n    \"\"\"  # trailing\n    s = \"\"\"keep\n    # inside\n    \"\"\"\n    r'bare'\n    \"x\".join(a)\n";
        assert_eq!(
            strip(text),
            vec![
                Some("def f():".into()),
                None,
                None,
                None,
                None,
                Some("    s = \"\"\"keep".into()),
                Some("    # inside".into()),
                Some("    \"\"\"".into()),
                None,
                Some("    \"x\".join(a)".into()),
            ]
        );
    }

    #[test]
    fn strings_inside_brackets_are_not_statements() {
        assert_eq!(
            strip("call(\n    'arg',  # why\n)"),
            vec![
                Some("call(".into()),
                Some("    'arg',".into()),
                Some(")".into())
            ]
        );
    }
}
