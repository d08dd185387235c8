//! INI files and git's config format, parsed line by line: `[section]` and `[section "sub"]`
//! headers (the key path is `section.sub.key`), `key = value` lines, `;` and `#` comments, a
//! bare `key` (git's boolean). A key repeated in a section is one array value. Edits are
//! splices of whole lines of the local file, or of a value's text within its line, so every
//! other line stays as it was.

use std::ops::Range;

use crate::Refusal;
use crate::tree::{Edit, Entry, Kind, Node, ParseError, Splice, own_line_indent, splice};

/// One key line: its key, the line's bytes (with its newline), the value's bytes.
#[allow(
    clippy::struct_field_names,
    reason = "`line` is the key line's whole range, beside its key's and its value's"
)]
struct Line {
    key: String,
    line: Range<usize>,
    value: Range<usize>,
    canon: String,
}

/// Splits off a trailing comment (`;` or `#` outside double quotes).
fn strip_comment(s: &str) -> &str {
    let mut quoted = false;
    let mut prev = '\0';
    for (i, c) in s.char_indices() {
        match c {
            '"' if prev != '\\' => quoted = !quoted,
            ';' | '#' if !quoted => return &s[..i],
            _ => {}
        }
        prev = c;
    }
    s
}

fn section_name(header: &str) -> Result<String, ParseError> {
    let inner = header.trim();
    match inner.split_once(char::is_whitespace) {
        Some((name, sub)) => {
            let sub = sub.trim();
            let sub = sub
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .ok_or(ParseError::Invalid)?;
            Ok(format!(
                "{name}.{}",
                sub.replace("\\\"", "\"").replace("\\\\", "\\")
            ))
        }
        None if !inner.is_empty() => Ok(inner.to_owned()),
        None => Err(ParseError::Invalid),
    }
}

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    // (name, header line, key lines)
    let mut root: Vec<Line> = Vec::new();
    let mut sections: Vec<(String, Range<usize>, Vec<Line>)> = Vec::new();
    let mut at = 0;
    while at < src.len() {
        let end = src[at..].find('\n').map_or(src.len(), |p| at + p + 1);
        let raw = &src[at..end];
        let text = raw.trim_end_matches(['\n', '\r']);
        let trimmed = text.trim_start();
        let lead = text.len() - trimmed.len();
        let body = strip_comment(trimmed).trim_end();
        if body.is_empty() {
            at = end;
            continue;
        }
        if body.ends_with('\\') {
            return Err(ParseError::Unsupported(
                "a value continued on the next line".into(),
            ));
        }
        if let Some(h) = body.strip_prefix('[') {
            let h = h.strip_suffix(']').ok_or(ParseError::Invalid)?;
            let name = section_name(h)?;
            if sections.iter().any(|(n, _, _)| *n == name) {
                return Err(ParseError::Unsupported(format!(
                    "the section [{h}] appears twice"
                )));
            }
            sections.push((name, at..end, Vec::new()));
            at = end;
            continue;
        }
        let key_start = at + lead;
        let (key, value) = match body.find('=') {
            Some(eq) => {
                let v = &body[eq + 1..];
                let v_start = key_start + eq + 1 + (v.len() - v.trim_start().len());
                (body[..eq].trim_end(), v_start..v_start + v.trim().len())
            }
            None if !body.contains(char::is_whitespace) => {
                (body, key_start + body.len()..key_start + body.len())
            }
            None => return Err(ParseError::Invalid),
        };
        if key.is_empty() {
            return Err(ParseError::Invalid);
        }
        let canon = if body.contains('=') {
            format!("v:{}", &src[value.clone()])
        } else {
            "implicit".to_owned()
        };
        let line = Line {
            key: key.to_owned(),
            line: at..end,
            value,
            canon,
        };
        match sections.last_mut() {
            Some((_, _, lines)) => lines.push(line),
            None => root.push(line),
        }
        at = end;
    }
    let mut entries = keys(root);
    for (name, header, lines) in sections {
        if entries.iter().any(|e| e.key == name) {
            return Err(ParseError::Unsupported(format!(
                "{name} is both a key and a section"
            )));
        }
        let end = lines.last().map_or(header.end, |l| l.line.end);
        entries.push(Entry {
            key: name,
            start: header.start,
            end,
            value: Node {
                span: header.start..end,
                kind: Kind::Map(keys(lines)),
            },
            comma: None,
        });
    }
    Ok(Node {
        span: 0..src.len(),
        kind: Kind::Map(entries),
    })
}

/// Key lines as map entries; a repeated key is one entry holding a list of its lines.
fn keys(lines: Vec<Line>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for l in lines {
        let item = Entry {
            key: String::new(),
            start: l.line.start,
            end: l.line.end,
            value: Node::scalar(l.value.clone(), l.canon),
            comma: None,
        };
        match out.iter_mut().find(|e| e.key == l.key) {
            Some(e) => {
                if let Kind::Scalar(_) = e.value.kind {
                    let first = Entry {
                        key: String::new(),
                        start: e.start,
                        end: e.end,
                        value: e.value.clone(),
                        comma: None,
                    };
                    e.value = Node {
                        span: e.start..e.end,
                        kind: Kind::List(vec![first]),
                    };
                }
                if let Kind::List(items) = &mut e.value.kind {
                    items.push(item);
                }
                e.end = l.line.end;
                e.value.span.end = l.line.end;
            }
            None => out.push(Entry {
                key: l.key,
                start: item.start,
                end: item.end,
                value: item.value,
                comma: None,
            }),
        }
    }
    out
}

fn cannot(why: &str) -> Refusal {
    Refusal::CannotPreserve(why.into())
}

/// The line ranges an entry occupies (one per occurrence of a repeated key; a section's
/// whole block).
fn line_ranges(e: &Entry) -> Vec<Range<usize>> {
    match &e.value.kind {
        Kind::List(items) => items.iter().map(|i| i.start..i.end).collect(),
        _ => std::iter::once(e.start..e.end).collect(),
    }
}

/// Theirs' lines for an entry, moved to `indent` (keys only; sections as they are).
fn entry_lines(theirs: &str, e: &Entry, indent: Option<&str>) -> String {
    let mut out = String::new();
    for r in line_ranges(e) {
        let mut text = theirs[r.clone()].to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if let (Some(to), false) = (indent, matches!(e.value.kind, Kind::Map(_))) {
            let lead = text.len() - text.trim_start_matches([' ', '\t']).len();
            text = format!("{to}{}", &text[lead..]);
        }
        out.push_str(&text);
    }
    out
}

fn indent_of(src: &str, e: &Entry) -> Option<String> {
    if matches!(e.value.kind, Kind::Map(_)) {
        return None;
    }
    let r = line_ranges(e).into_iter().next()?;
    let line = &src[r];
    Some(line[..line.len() - line.trim_start_matches([' ', '\t']).len()].to_owned())
}

pub(crate) fn apply(
    ours: &str,
    on: &Node,
    theirs: &str,
    tn: &Node,
    edits: &[Edit],
) -> Result<String, Refusal> {
    let mut splices = Vec::new();
    let del = |r: Range<usize>| Splice {
        range: r,
        text: String::new(),
    };
    // A text inserted at the end of a file that does not end in a newline gets one first.
    let at_end = |p: usize, text: String| -> Splice {
        if p == ours.len() && !ours.is_empty() && !ours.ends_with('\n') {
            Splice {
                range: p..p,
                text: format!("\n{text}"),
            }
        } else {
            Splice { range: p..p, text }
        }
    };
    for edit in edits {
        let path = edit.path();
        let (last, parent) = path
            .split_last()
            .ok_or_else(|| cannot("the whole file changed"))?;
        let container = on.at(parent).ok_or_else(|| cannot("a section is gone"))?;
        let Kind::Map(members) = &container.kind else {
            return Err(cannot("not a section"));
        };
        match edit {
            Edit::Set { .. } => {
                let oe = on
                    .entry_at(path)
                    .ok_or_else(|| cannot("a changed key is gone"))?;
                let te = tn
                    .entry_at(path)
                    .ok_or_else(|| cannot("a changed key is gone"))?;
                match (&oe.value.kind, &te.value.kind) {
                    (Kind::Scalar(oc), Kind::Scalar(tc))
                        if oc != "implicit" && tc != "implicit" =>
                    {
                        splices.push(Splice {
                            range: oe.value.span.clone(),
                            text: theirs[te.value.span.clone()].to_owned(),
                        });
                    }
                    _ => {
                        let ranges = line_ranges(oe);
                        let indent = indent_of(ours, oe);
                        for (n, r) in ranges.into_iter().enumerate() {
                            if n == 0 {
                                splices.push(Splice {
                                    range: r,
                                    text: entry_lines(theirs, te, indent.as_deref()),
                                });
                            } else {
                                splices.push(del(r));
                            }
                        }
                    }
                }
            }
            Edit::Delete { .. } => {
                let oe = on
                    .entry_at(path)
                    .ok_or_else(|| cannot("a deleted key is gone"))?;
                splices.extend(line_ranges(oe).into_iter().map(del));
            }
            Edit::Insert { after, .. } => {
                let te = tn
                    .entry_at(path)
                    .ok_or_else(|| cannot("an added key is gone"))?;
                let is_section = matches!(te.value.kind, Kind::Map(_));
                let anchor = match after {
                    Some(k) => members.iter().find(|e| e.key == *k),
                    None => members.last(),
                };
                let anchor = anchor.filter(|a| matches!(a.value.kind, Kind::Map(_)) == is_section);
                let pos = match (anchor, is_section) {
                    (Some(a), _) => line_ranges(a).last().map_or(a.end, |r| r.end),
                    // A key of the file's top, before the first section.
                    (None, false) if parent.is_empty() => members
                        .iter()
                        .find(|e| matches!(e.value.kind, Kind::Map(_)))
                        .map_or(ours.len(), |s| s.start),
                    // The first key of a section: after its header line.
                    (None, false) => {
                        let h = container.span.start;
                        ours[h..].find('\n').map_or(ours.len(), |p| h + p + 1)
                    }
                    (None, true) => ours.len(),
                };
                let indent = anchor
                    .and_then(|a| indent_of(ours, a))
                    .or_else(|| members.iter().find_map(|m| indent_of(ours, m)));
                let mut text = entry_lines(theirs, te, indent.as_deref());
                if is_section
                    && pos > 0
                    && !ours[..pos].ends_with("\n\n")
                    && own_line_indent(theirs, te.start).is_some()
                    && theirs[..te.start].ends_with("\n\n")
                {
                    text.insert(0, '\n');
                }
                splices.push(at_end(pos, text));
                let _ = last;
            }
            Edit::Append { from, .. } => {
                let oe = on.entry_at(path).ok_or_else(|| cannot("a list is gone"))?;
                let te = tn.entry_at(path).ok_or_else(|| cannot("a list is gone"))?;
                let Kind::List(items) = &te.value.kind else {
                    return Err(cannot("not a repeated key"));
                };
                let pos = line_ranges(oe).last().map_or(oe.end, |r| r.end);
                let indent = indent_of(ours, oe);
                let mut text = String::new();
                for item in items.iter().skip(*from) {
                    let mut line = theirs[item.start..item.end].to_owned();
                    if !line.ends_with('\n') {
                        line.push('\n');
                    }
                    if let Some(ind) = &indent {
                        line = format!("{ind}{}", line.trim_start_matches([' ', '\t']));
                    }
                    text.push_str(&line);
                }
                splices.push(at_end(pos, text));
            }
        }
    }
    splice(ours, splices)
}
