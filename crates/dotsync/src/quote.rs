//! Names and messages made safe to print on a terminal.
//!
//! A file name comes from whoever pushed to the remote and may hold anything but `/` and NUL:
//! `ESC ] 0 ; … BEL` retitles the terminal, `ESC [ 2 K` erases a line, CR and newlines forge
//! lines and break tables, bidirectional overrides reorder what is shown. So human output never
//! prints such a character raw. As git and `ls` do, a name that holds one (or a `"` or `\`) is
//! shown in double quotes with C-style escapes (`\e`, `\n`, `\r`, `\t`, `\\`, `\"`, `\x07`,
//! `\u{202e}`); any other name, including one in any script, is printed as it is. Messages
//! (errors, commit messages, the daemon's notes) get the same escapes without quotes.
//!
//! `--json` output never goes through here: it carries the exact names.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One name or path, as a person should see it: unchanged if it is harmless, otherwise quoted
/// and escaped so that it can be read back exactly.
pub fn name(s: &str) -> Cow<'_, str> {
    escape(s, Style::Name)
}

/// A local path, as [`name`] shows it (bytes that are not UTF-8 shown as U+FFFD).
pub fn path(p: &std::path::Path) -> String {
    name(&p.to_string_lossy()).into_owned()
}

/// Text for one line (a table cell, a note): every control character escaped, no quotes.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, Style::Line)
}

/// A message that may span lines (an error): like [`line`], but newlines and tabs stay.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, Style::Text)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Name,
    Line,
    Text,
}

/// Characters a terminal acts on or that change how the text around them is shown: C0 and C1
/// controls, DEL, bidirectional marks and overrides, line and paragraph separators.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// The one escaping function behind [`name`], [`line`] and [`text`].
fn escape(s: &str, style: Style) -> Cow<'_, str> {
    let kept = |c: char| style == Style::Text && matches!(c, '\n' | '\t');
    let needs =
        |c: char| (is_unsafe(c) && !kept(c)) || (style == Style::Name && matches!(c, '"' | '\\'));
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    if style == Style::Name {
        out.push('"');
    }
    for c in s.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    if style == Style::Name {
        out.push('"');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_printed_as_they_are() {
        for s in [
            ".zshrc",
            ".config/nvim/init.lua",
            "with space",
            "ünïcödé/日本語",
            "it's",
            "",
        ] {
            assert!(matches!(name(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(name(s), s);
            assert_eq!(line(s), s);
            assert_eq!(text(s), s);
        }
    }

    #[test]
    fn terminal_sequences_in_a_name_are_quoted_and_escaped() {
        assert_eq!(
            name("title\x1b]0;pwned\x07\x1b[2K\r\nnext"),
            r#""title\e]0;pwned\x07\e[2K\r\nnext""#
        );
        assert_eq!(name("tab\there"), r#""tab\there""#);
        assert_eq!(name("del\x7f"), r#""del\x7f""#);
        assert_eq!(name("nul\0"), r#""nul\x00""#);
        // C1 controls (CSI on terminals that take 8-bit controls) and display tricks.
        assert_eq!(name("csi\u{9b}2J"), r#""csi\u{9b}2J""#);
        assert_eq!(name("gpj.\u{202e}exe"), r#""gpj.\u{202e}exe""#);
        assert_eq!(name("a\u{2028}b"), r#""a\u{2028}b""#);
    }

    #[test]
    fn quotes_and_backslashes_make_a_name_quoted_so_it_reads_back_exactly() {
        assert_eq!(name(r"back\slash"), r#""back\\slash""#);
        assert_eq!(name(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(name(r#""quoted""#), r#""\"quoted\"""#);
        // A name that looks like an escape is not confused with one.
        assert_eq!(name(r"x\e"), r#""x\\e""#);
    }

    #[test]
    fn messages_keep_their_lines_but_lose_their_escapes() {
        assert_eq!(
            text("cannot write ~/a\x1b[2K:\n  permission denied\tx"),
            "cannot write ~/a\\e[2K:\n  permission denied\tx"
        );
        assert_eq!(text(r#"a "quoted" \ path"#), r#"a "quoted" \ path"#);
        assert_eq!(line("one\ntwo\tthree\r"), r"one\ntwo\tthree\r");
        assert_eq!(line(r"C:\path"), r"C:\path");
    }

    #[test]
    fn escaped_output_holds_no_control_character() {
        let all: String = (0u32..0x2100).filter_map(char::from_u32).collect();
        for out in [name(&all), line(&all)] {
            assert!(!out.chars().any(is_unsafe), "{out:?}");
        }
        assert!(
            !text(&all)
                .chars()
                .any(|c| is_unsafe(c) && c != '\n' && c != '\t')
        );
        // Escaping twice changes nothing more for lines and messages (tables re-escape cells
        // that already hold quoted names).
        let once = name("a\x1bb").into_owned();
        assert_eq!(line(&once), once);
        assert_eq!(text(&once), once);
    }
}
