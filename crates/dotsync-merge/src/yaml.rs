//! YAML's common subset in settings files, parsed line by line by indentation: block mappings
//! (`key: value`, nested by indentation), block sequences (`- item`), comments. A mapping's
//! value that is a flow collection on one line (`{a: 1, b: 2}`, `[x, y]`) is parsed member by
//! member ([`flow`]) and edited in place. A block scalar (`|`, `>`), a sequence item that is
//! itself a mapping, or a flow collection the flow parser refuses is an opaque value (compared
//! by its text, replaced whole). Anchors, aliases, tags,
//! complex keys, multi-line plain scalars and several documents are refused, since they cannot
//! be edited safely line by line. Edits splice whole lines of the local file, or a value's
//! text within its line.

use std::ops::Range;

mod flow;

use crate::Refusal;
use crate::tree::{Edit, Entry, Kind, Node, ParseError, Splice, splice};

/// A line that is not blank nor only a comment.
#[derive(Debug)]
struct Line {
    /// The line's bytes, its newline included.
    range: Range<usize>,
    indent: usize,
    /// Where the content starts (after the indentation).
    at: usize,
    /// The content without its trailing comment and spaces.
    body: Range<usize>,
}

fn unsupported(why: &str) -> ParseError {
    ParseError::Unsupported(why.into())
}

/// The end of `s` before a trailing comment (`#` after a space, outside quotes).
fn strip_comment(s: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && (prev == ' ' || prev == '\t' || i == 0) => {
                return s[..i].trim_end();
            }
            _ => {}
        }
        prev = c;
    }
    s.trim_end()
}

fn lines(src: &str) -> Result<Vec<Line>, ParseError> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut seen_content = false;
    while at < src.len() {
        let end = src[at..].find('\n').map_or(src.len(), |p| at + p + 1);
        let text = src[at..end].trim_end_matches(['\n', '\r']);
        let content = text.trim_start_matches(' ');
        if content.starts_with('\t') {
            return Err(unsupported("tabs in indentation"));
        }
        let body = strip_comment(content);
        let start = at + (text.len() - content.len());
        if !body.is_empty() {
            if body == "---" && !seen_content {
                at = end;
                continue;
            }
            if body.starts_with("---") || body == "..." || body.starts_with('%') {
                return Err(unsupported("several documents or directives"));
            }
            seen_content = true;
            out.push(Line {
                range: at..end,
                indent: text.len() - content.len(),
                at: start,
                body: start..start + body.len(),
            });
        }
        at = end;
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    lines: Vec<Line>,
    i: usize,
}

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        src,
        lines: lines(src)?,
        i: 0,
    };
    if p.lines.is_empty() {
        return Ok(Node {
            span: src.len()..src.len(),
            kind: Kind::Map(Vec::new()),
        });
    }
    let indent = p.lines[0].indent;
    let mut root = p.block(indent, 0)?;
    if p.i != p.lines.len() {
        return Err(ParseError::Invalid);
    }
    if matches!(root.kind, Kind::Scalar(_)) {
        return Err(unsupported("a document that is a single value"));
    }
    root.span = 0..src.len();
    Ok(root)
}

/// The canonical form of a scalar's text.
fn canon(v: &str) -> Result<String, ParseError> {
    if let Some(c) = v.chars().next()
        && matches!(c, '&' | '*' | '!' | '?' | '@' | '`')
    {
        return Err(unsupported("anchors, aliases, tags or complex keys"));
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Ok(format!("s:{}", inner.replace("''", "'")));
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Ok(format!("s:{inner}"));
    }
    if v.starts_with(['[', '{']) {
        let open = v.matches(['[', '{']).count();
        let close = v.matches([']', '}']).count();
        if open != close {
            return Err(unsupported("a flow collection over several lines"));
        }
        return Ok(format!("flow:{v}"));
    }
    if v.starts_with(['"', '\'']) {
        // A quoted string with escapes, or one over several lines.
        if v.len() < 2 || !v.ends_with(&v[..1]) {
            return Err(unsupported("a quoted string over several lines"));
        }
    }
    // A plain scalar is typed by its text (`1`, `true`, `null` are no strings), so it never
    // means the same as a quoted one.
    Ok(format!("p:{v}"))
}

impl<'a> Parser<'a> {
    fn body(&self, l: usize) -> &'a str {
        &self.src[self.lines[l].body.clone()]
    }

    fn is_item(&self, l: usize) -> bool {
        let b = self.body(l);
        b == "-" || b.starts_with("- ")
    }

    /// A mapping or sequence whose lines start at `indent`.
    fn block(&mut self, indent: usize, depth: usize) -> Result<Node, ParseError> {
        if depth > 64 {
            return Err(unsupported("nested too deeply"));
        }
        if self.is_item(self.i) {
            self.seq(indent)
        } else {
            self.map(indent, depth)
        }
    }

    /// The lines below line `l` indented more than `indent` (an opaque value): their end.
    fn skip_deeper(&mut self, indent: usize) -> usize {
        let mut end = self.lines[self.i - 1].range.end;
        while self.i < self.lines.len() && self.lines[self.i].indent > indent {
            end = self.lines[self.i].range.end;
            self.i += 1;
        }
        end
    }

    fn seq(&mut self, indent: usize) -> Result<Node, ParseError> {
        let start = self.lines[self.i].range.start;
        let mut items = Vec::new();
        while self.i < self.lines.len()
            && self.lines[self.i].indent == indent
            && self.is_item(self.i)
        {
            let l = self.i;
            self.i += 1;
            let rest = self.body(l)[1..].trim_start();
            let simple = !rest.is_empty() && !looks_like_key(rest);
            let end = self.skip_deeper(indent);
            let value = if simple && end == self.lines[l].range.end {
                let vs = self.lines[l].body.end - rest.len();
                Node::scalar(vs..self.lines[l].body.end, canon(rest)?)
            } else {
                // An item that is a mapping or a nested block: compared by its text.
                let text: Vec<&str> = self.src[self.lines[l].at..end]
                    .lines()
                    .map(|s| strip_comment(s.trim()))
                    .filter(|s| !s.is_empty())
                    .collect();
                if text.iter().any(|t| t.starts_with(['&', '*', '!'])) {
                    return Err(unsupported("anchors, aliases or tags"));
                }
                Node::scalar(
                    self.lines[l].range.start..end,
                    format!("item:{}", text.join("\n")),
                )
            };
            items.push(Entry {
                key: String::new(),
                start: self.lines[l].range.start,
                end,
                value,
                comma: None,
            });
        }
        if self.i < self.lines.len() && self.lines[self.i].indent > indent {
            return Err(ParseError::Invalid);
        }
        let end = items.last().map_or(start, |e| e.end);
        Ok(Node {
            span: start..end,
            kind: Kind::List(items),
        })
    }

    fn map(&mut self, indent: usize, depth: usize) -> Result<Node, ParseError> {
        let start = self.lines[self.i].range.start;
        let mut entries: Vec<Entry> = Vec::new();
        while self.i < self.lines.len() && self.lines[self.i].indent == indent {
            let l = self.i;
            if self.is_item(l) {
                return Err(ParseError::Invalid);
            }
            let body = self.body(l);
            let (key, rest_at) = split_key(body)?;
            if entries.iter().any(|e| e.key == key) {
                return Err(unsupported("a key that appears twice"));
            }
            self.i += 1;
            let rest = body[rest_at..].trim_start();
            let body_start = self.lines[l].body.start;
            let line_end = self.lines[l].range.end;
            let (value, end) = if rest.is_empty() {
                let next = self.lines.get(self.i);
                match next {
                    Some(n) if n.indent > indent => {
                        let child = self.block(n.indent, depth + 1)?;
                        let end = child.span.end;
                        (child, end)
                    }
                    Some(n) if n.indent == indent && self.is_item(self.i) => {
                        let child = self.seq(indent)?;
                        let end = child.span.end;
                        (child, end)
                    }
                    _ => {
                        let p = self.lines[l].body.end;
                        (Node::scalar(p..p, "null"), line_end)
                    }
                }
            } else if rest.starts_with(['|', '>']) {
                let end = self.skip_deeper(indent);
                (
                    Node::scalar(
                        line_end..end,
                        format!("block:{rest}\n{}", &self.src[line_end..end]),
                    ),
                    end,
                )
            } else {
                if self.lines.get(self.i).is_some_and(|n| n.indent > indent) {
                    return Err(unsupported("a value continued on the next lines"));
                }
                let vs = body_start + body.len() - rest.len();
                let parsed = rest
                    .starts_with(['{', '['])
                    .then(|| flow::parse(self.src, vs, vs + rest.len()).ok())
                    .flatten();
                match parsed {
                    Some(node) => (node, line_end),
                    None => (Node::scalar(vs..vs + rest.len(), canon(rest)?), line_end),
                }
            };
            entries.push(Entry {
                key,
                start: self.lines[l].range.start,
                end,
                value,
                comma: None,
            });
        }
        if self.i < self.lines.len() && self.lines[self.i].indent > indent {
            return Err(ParseError::Invalid);
        }
        let end = entries.last().map_or(start, |e| e.end);
        Ok(Node {
            span: start..end,
            kind: Kind::Map(entries),
        })
    }
}

fn looks_like_key(s: &str) -> bool {
    split_key(s).is_ok()
}

/// A mapping line's key and where the text after its `:` starts.
fn split_key(body: &str) -> Result<(String, usize), ParseError> {
    if let Some(q) = body.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = body[1..].find(q).ok_or(ParseError::Invalid)? + 1;
        let after = &body[close + 1..];
        let after_trim = after.trim_start();
        if !after_trim.starts_with(':') {
            return Err(ParseError::Invalid);
        }
        let colon = close + 1 + (after.len() - after_trim.len());
        return Ok((body[1..close].to_owned(), colon + 1));
    }
    if body.starts_with(['?', '&', '*', '!', '[', '{']) {
        return Err(unsupported("complex keys, anchors, aliases or tags"));
    }
    let colon = body
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| i + 1 == body.len() || body[i + 1..].starts_with([' ', '\t']))
        .ok_or(ParseError::Invalid)?;
    let key = body[..colon].trim_end();
    if key.is_empty() {
        return Err(ParseError::Invalid);
    }
    Ok((key.to_owned(), colon + 1))
}

/// One edit of a member of the flow collection `container` of ours, made on its line.
fn flow_edit(
    on: &Node,
    container: &Node,
    theirs: &str,
    tn: &Node,
    edit: &Edit,
) -> Result<Splice, Refusal> {
    let path = edit.path();
    let members = container.entries().unwrap_or_default();
    let one_line = |t: &str| {
        if t.contains('\n') {
            Err(cannot("a value over several lines in a flow collection"))
        } else {
            Ok(t.to_owned())
        }
    };
    match edit {
        Edit::Set { .. } => {
            let oe = on
                .entry_at(path)
                .ok_or_else(|| cannot("a changed key is gone"))?;
            let te = tn
                .entry_at(path)
                .ok_or_else(|| cannot("a changed key is gone"))?;
            Ok(Splice {
                range: oe.value.span.clone(),
                text: one_line(&theirs[te.value.span.clone()])?,
            })
        }
        Edit::Delete { .. } => {
            let key = path.last().ok_or_else(|| cannot("a deleted key is gone"))?;
            let i = members
                .iter()
                .position(|e| &e.key == key)
                .ok_or_else(|| cannot("a deleted key is gone"))?;
            let e = &members[i];
            let range = match (e.comma, i.checked_sub(1).map(|p| &members[p])) {
                // `a: 1, b: 2` without `a`: up to the next member.
                (Some(c), _) => e.start..members.get(i + 1).map_or(c + 1, |n| n.start),
                // The last member: from the comma before it.
                (None, Some(prev)) => prev.comma.unwrap_or(prev.end)..e.end,
                (None, None) => e.start..e.end,
            };
            Ok(Splice {
                range,
                text: String::new(),
            })
        }
        Edit::Insert { after, .. } => {
            let te = tn
                .entry_at(path)
                .ok_or_else(|| cannot("an added key is gone"))?;
            let text = one_line(&theirs[te.start..te.end])?;
            let anchor = match after {
                Some(k) => members.iter().find(|e| e.key == *k),
                None => members.last(),
            };
            Ok(if let Some(a) = anchor {
                Splice {
                    range: a.end..a.end,
                    text: format!(", {text}"),
                }
            } else {
                let at = container.span.start + 1;
                Splice {
                    range: at..at,
                    text,
                }
            })
        }
        Edit::Append { from, .. } => {
            let t = tn.at(path).ok_or_else(|| cannot("a list is gone"))?;
            let (Some(last), Some(items)) = (members.last(), t.entries()) else {
                return Err(cannot("an empty list"));
            };
            let mut text = String::new();
            for item in items.iter().skip(*from) {
                text.push_str(", ");
                text.push_str(&one_line(&theirs[item.start..item.end])?);
            }
            Ok(Splice {
                range: last.end..last.end,
                text,
            })
        }
    }
}

fn cannot(why: &str) -> Refusal {
    Refusal::CannotPreserve(why.into())
}

/// The indentation of the line starting at `start`.
fn indent_at(src: &str, start: usize) -> usize {
    src[start..].len() - src[start..].trim_start_matches(' ').len()
}

/// Whole lines of theirs moved from indentation `from` to `to`, ending with a newline.
fn moved(text: &str, from: usize, to: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let lead = line.len() - line.trim_start_matches(' ').len();
        if line.trim().is_empty() {
            out.push_str(line);
        } else if lead >= from {
            out.push_str(&" ".repeat(to));
            out.push_str(&line[from..]);
        } else {
            out.push_str(line);
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

pub(crate) fn apply(
    ours: &str,
    on: &Node,
    theirs: &str,
    tn: &Node,
    edits: &[Edit],
) -> Result<String, Refusal> {
    let mut splices = Vec::new();
    let insert_at = |p: usize, text: String| -> Splice {
        if p > 0 && !ours[..p].ends_with('\n') {
            Splice {
                range: p..p,
                text: format!("\n{}", text.trim_end_matches('\n')),
            }
        } else {
            Splice { range: p..p, text }
        }
    };
    let inline = |n: &Node, src: &str| {
        matches!(n.kind, Kind::Scalar(_))
            && !src[n.span.clone()].contains('\n')
            && !n.span.is_empty()
    };
    for edit in edits {
        let path = edit.path();
        let (_, parent) = path
            .split_last()
            .ok_or_else(|| cannot("the whole document changed"))?;
        // Inside a flow collection (`{a: 1, b: 2}`), edits are made in place on its line.
        let flow_target = match edit {
            Edit::Append { .. } => on.at(path),
            _ => on.at(parent),
        };
        if let Some(container) = flow_target.filter(|n| flow::is_flow(ours, n)) {
            splices.push(flow_edit(on, container, theirs, tn, edit)?);
            continue;
        }
        match edit {
            Edit::Set { .. } => {
                let oe = on
                    .entry_at(path)
                    .ok_or_else(|| cannot("a changed key is gone"))?;
                let te = tn
                    .entry_at(path)
                    .ok_or_else(|| cannot("a changed key is gone"))?;
                if inline(&oe.value, ours) && inline(&te.value, theirs) {
                    splices.push(Splice {
                        range: oe.value.span.clone(),
                        text: theirs[te.value.span.clone()].to_owned(),
                    });
                } else {
                    let text = moved(
                        &theirs[te.start..te.end],
                        indent_at(theirs, te.start),
                        indent_at(ours, oe.start),
                    );
                    let text = if ours[oe.start..oe.end].ends_with('\n') {
                        text
                    } else {
                        text.trim_end_matches('\n').to_owned()
                    };
                    splices.push(Splice {
                        range: oe.start..oe.end,
                        text,
                    });
                }
            }
            Edit::Delete { .. } => {
                let oe = on
                    .entry_at(path)
                    .ok_or_else(|| cannot("a deleted key is gone"))?;
                splices.push(Splice {
                    range: oe.start..oe.end,
                    text: String::new(),
                });
            }
            Edit::Insert { after, .. } => {
                let te = tn
                    .entry_at(path)
                    .ok_or_else(|| cannot("an added key is gone"))?;
                let container = on.at(parent).ok_or_else(|| cannot("a parent is gone"))?;
                let members = container.entries().unwrap_or_default();
                let anchor = match after {
                    Some(k) => members.iter().find(|e| e.key == *k),
                    None => members.last(),
                };
                let (pos, to) = match anchor {
                    Some(a) => (a.end, indent_at(ours, a.start)),
                    None if parent.is_empty() => (ours.len(), 0),
                    None => return Err(cannot("an empty mapping")),
                };
                let text = moved(&theirs[te.start..te.end], indent_at(theirs, te.start), to);
                splices.push(insert_at(pos, text));
            }
            Edit::Append { from, .. } => {
                let o = on.at(path).ok_or_else(|| cannot("a list is gone"))?;
                let t = tn.at(path).ok_or_else(|| cannot("a list is gone"))?;
                let (Some(last), Kind::List(items)) = (o.entries().and_then(|e| e.last()), &t.kind)
                else {
                    return Err(cannot("an empty list"));
                };
                let to = indent_at(ours, last.start);
                let mut text = String::new();
                for item in items.iter().skip(*from) {
                    text.push_str(&moved(
                        &theirs[item.start..item.end],
                        indent_at(theirs, item.start),
                        to,
                    ));
                }
                splices.push(insert_at(last.end, text));
            }
        }
    }
    splice(ours, splices)
}
