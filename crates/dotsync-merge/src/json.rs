//! JSON and JSON with comments (`//`, `/* */`) and trailing commas: a small parser that
//! records the span of every key, value and separating comma, and edits applied as splices of
//! the local text (a value's span replaced, a member inserted after its neighbour with the
//! neighbour's indentation, a member removed with its comma).

use crate::Refusal;
use crate::tree::{
    Edit, Entry, Kind, Node, ParseError, Splice, line_end, line_start, own_line_indent, reindent,
    splice,
};

/// Deeper nesting than this is refused rather than recursed into.
const MAX_DEPTH: usize = 128;

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        s: src.as_bytes(),
        i: 0,
    };
    p.ws()?;
    let root = p.value(0)?;
    p.ws()?;
    if p.i != p.s.len() {
        return Err(ParseError::Invalid);
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips whitespace and comments.
    fn ws(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.i += 1,
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'/') => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'*') => {
                    self.i += 2;
                    loop {
                        match self.peek() {
                            None => return Err(ParseError::Invalid),
                            Some(b'*') if self.s.get(self.i + 1) == Some(&b'/') => {
                                self.i += 2;
                                break;
                            }
                            _ => self.i += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::Unsupported("nested too deeply".into()));
        }
        let start = self.i;
        match self.peek() {
            Some(b'{') => self.container(depth, b'}'),
            Some(b'[') => self.container(depth, b']'),
            Some(b'"') => {
                let raw = self.string()?;
                Ok(Node::scalar(start..self.i, format!("s:{raw}")))
            }
            Some(b'-' | b'0'..=b'9') => {
                while self.peek().is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|_| ParseError::Invalid)?;
                if text.parse::<f64>().is_err() {
                    return Err(ParseError::Invalid);
                }
                Ok(Node::scalar(start..self.i, format!("n:{text}")))
            }
            _ => {
                for lit in ["true", "false", "null"] {
                    if self.s[self.i..].starts_with(lit.as_bytes()) {
                        self.i += lit.len();
                        return Ok(Node::scalar(start..self.i, lit));
                    }
                }
                Err(ParseError::Invalid)
            }
        }
    }

    /// A string literal; returns its raw content between the quotes.
    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek() {
                None => return Err(ParseError::Invalid),
                Some(b'"') => break,
                Some(b'\\') => self.i += 2,
                Some(c) if c < 0x20 => return Err(ParseError::Invalid),
                Some(_) => self.i += 1,
            }
        }
        let raw = std::str::from_utf8(&self.s[start..self.i.min(self.s.len())])
            .map_err(|_| ParseError::Invalid)?
            .to_owned();
        self.i += 1;
        Ok(raw)
    }

    fn container(&mut self, depth: usize, close: u8) -> Result<Node, ParseError> {
        let start = self.i;
        self.i += 1;
        let is_map = close == b'}';
        let mut entries: Vec<Entry> = Vec::new();
        self.ws()?;
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                break;
            }
            let entry_start = self.i;
            let key = if is_map {
                if self.peek() != Some(b'"') {
                    return Err(ParseError::Invalid);
                }
                let k = self.string()?;
                self.ws()?;
                if self.peek() != Some(b':') {
                    return Err(ParseError::Invalid);
                }
                self.i += 1;
                self.ws()?;
                if entries.iter().any(|e| e.key == k) {
                    return Err(ParseError::Unsupported(format!(
                        "the key {k:?} appears twice"
                    )));
                }
                k
            } else {
                String::new()
            };
            let value = self.value(depth + 1)?;
            let end = self.i;
            self.ws()?;
            let comma = if self.peek() == Some(b',') {
                let c = self.i;
                self.i += 1;
                self.ws()?;
                Some(c)
            } else if self.peek() == Some(close) {
                None
            } else {
                return Err(ParseError::Invalid);
            };
            entries.push(Entry {
                key,
                start: entry_start,
                end,
                value,
                comma,
            });
        }
        let kind = if is_map {
            Kind::Map(entries)
        } else {
            Kind::List(entries)
        };
        Ok(Node {
            span: start..self.i,
            kind,
        })
    }
}

/// Whether the rest of the line from `i` holds nothing but whitespace or a line comment.
fn rest_is_trivia(src: &str, i: usize) -> bool {
    let rest = src[i..line_end(src, i)].trim();
    rest.is_empty() || rest.starts_with("//")
}

fn cannot(why: &str) -> Refusal {
    Refusal::CannotPreserve(why.into())
}

/// The indentation of the line holding byte `i`.
fn line_indent(src: &str, i: usize) -> &str {
    let ls = line_start(src, i);
    let line = &src[ls..];
    let n = line.len() - line.trim_start_matches([' ', '\t']).len();
    &line[..n]
}

/// An entry's text in its file (key and value), and the indentation it was written at.
fn entry_text<'a>(src: &'a str, e: &Entry) -> (&'a str, &'a str) {
    (
        &src[e.start..e.end],
        own_line_indent(src, e.start).unwrap_or_else(|| line_indent(src, e.start)),
    )
}

pub(crate) fn apply(
    ours: &str,
    on: &Node,
    theirs: &str,
    tn: &Node,
    edits: &[Edit],
) -> Result<String, Refusal> {
    let mut splices = Vec::new();
    // Deletions are made per object, all at once, so that neighbours' commas stay right.
    let mut deletions: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    // Insertions at one anchor go in together, in theirs' order.
    let mut groups: Vec<(Vec<String>, Option<String>, Vec<&Entry>)> = Vec::new();
    for edit in edits {
        match edit {
            Edit::Set { path } => {
                let o = on.at(path).ok_or_else(|| cannot("a changed key is gone"))?;
                let t = tn.at(path).ok_or_else(|| cannot("a changed key is gone"))?;
                let (from, to) = match (tn.entry_at(path), on.entry_at(path)) {
                    (Some(te), Some(oe)) => (entry_text(theirs, te).1, entry_text(ours, oe).1),
                    _ => ("", ""),
                };
                splices.push(Splice {
                    range: o.span.clone(),
                    text: reindent(&theirs[t.span.clone()], from, to),
                });
            }
            Edit::Delete { path } => {
                let (last, parent) = path.split_last().ok_or_else(|| cannot("no key"))?;
                match deletions.iter_mut().find(|(p, _)| p == parent) {
                    Some(d) => d.1.push(last.clone()),
                    None => deletions.push((parent.to_vec(), vec![last.clone()])),
                }
            }
            Edit::Insert { path, after } => {
                let (_, parent) = path.split_last().ok_or_else(|| cannot("no key"))?;
                let te = tn
                    .entry_at(path)
                    .ok_or_else(|| cannot("an added key is gone"))?;
                match groups
                    .iter_mut()
                    .find(|(p, a, _)| p == parent && a == after)
                {
                    Some(g) => g.2.push(te),
                    None => groups.push((parent.to_vec(), after.clone(), vec![te])),
                }
            }
            Edit::Append { path, from } => {
                let o = on.at(path).ok_or_else(|| cannot("a list is gone"))?;
                let t = tn.at(path).ok_or_else(|| cannot("a list is gone"))?;
                let items: Vec<&Entry> =
                    t.entries().unwrap_or_default().iter().skip(*from).collect();
                insert(ours, o, None, &[], theirs, t, &items, &mut splices)?;
            }
        }
    }
    for (parent, keys) in &deletions {
        let container = on.at(parent).ok_or_else(|| cannot("a parent is gone"))?;
        let entries = container.entries().unwrap_or_default();
        let gone: Vec<bool> = entries.iter().map(|e| keys.contains(&e.key)).collect();
        delete(ours, entries, &gone, &mut splices);
    }
    for (parent, after, items) in groups {
        let o = on.at(&parent).ok_or_else(|| cannot("a parent is gone"))?;
        let t = tn.at(&parent).ok_or_else(|| cannot("a parent is gone"))?;
        let gone = deletions
            .iter()
            .find(|(p, _)| *p == parent)
            .map(|(_, k)| k.as_slice())
            .unwrap_or_default();
        insert(
            ours,
            o,
            after.as_deref(),
            gone,
            theirs,
            t,
            &items,
            &mut splices,
        )?;
    }
    // A file with CRLF line ends keeps them: what goes in at a line's end goes before its
    // `\r`, and its own line ends are CRLF too.
    if ours.contains("\r\n") {
        let b = ours.as_bytes();
        for sp in &mut splices {
            let at = sp.range.start;
            if sp.range.is_empty() && at > 0 && b.get(at) == Some(&b'\n') && b[at - 1] == b'\r' {
                sp.range = at - 1..at - 1;
            }
            sp.text = sp.text.replace("\r\n", "\n").replace('\n', "\r\n");
        }
    }
    splice(ours, splices)
}

/// Splices that remove the entries marked `gone`, with their commas.
fn delete(src: &str, entries: &[Entry], gone: &[bool], out: &mut Vec<Splice>) {
    let mut del = |range: std::ops::Range<usize>| {
        out.push(Splice {
            range,
            text: String::new(),
        });
    };
    let last_alive = gone.iter().rposition(|g| !g);
    let tail_from = last_alive.map_or(0, |s| s + 1);
    for (i, e) in entries.iter().enumerate().take(tail_from) {
        if !gone[i] {
            continue;
        }
        // A next entry exists (at most the last alive one), and this one has a comma.
        let next = &entries[i + 1];
        let e_end = e.comma.map_or(e.end, |c| c + 1);
        if own_line_indent(src, e.start).is_some()
            && rest_is_trivia(src, e_end)
            && own_line_indent(src, next.start).is_some()
        {
            let le = line_end(src, e_end);
            del(line_start(src, e.start)..(le + 1).min(src.len()));
        } else {
            del(e.start..next.start);
        }
    }
    let (Some(first), Some(lastm)) = (entries.get(tail_from), entries.last()) else {
        return;
    };
    let e_end = lastm.comma.map_or(lastm.end, |c| c + 1);
    let end = if rest_is_trivia(src, e_end) {
        line_end(src, e_end)
    } else {
        e_end
    };
    let own = own_line_indent(src, first.start).is_some();
    match last_alive {
        None if own => del(line_start(src, first.start)..(end + 1).min(src.len())),
        None => del(first.start..e_end),
        Some(s) => {
            let prev = &entries[s];
            let pc = prev.comma.unwrap_or(prev.end);
            if own {
                if lastm.comma.is_none() {
                    del(pc..pc + 1);
                }
                del(line_start(src, first.start).saturating_sub(1)..end);
            } else if lastm.comma.is_none() {
                del(pc..e_end);
            } else {
                del(pc + 1..e_end);
            }
        }
    }
}

/// Splices that add theirs' `items` to ours' `container` after the entry `after` (None: the
/// last).
#[allow(clippy::too_many_arguments)]
fn insert(
    src: &str,
    container: &Node,
    after: Option<&str>,
    gone: &[String],
    theirs: &str,
    tcontainer: &Node,
    items: &[&Entry],
    out: &mut Vec<Splice>,
) -> Result<(), Refusal> {
    if items.is_empty() {
        return Ok(());
    }
    let entries = container
        .entries()
        .ok_or_else(|| cannot("not an object or array"))?;
    let alive: Vec<&Entry> = entries.iter().filter(|e| !gone.contains(&e.key)).collect();
    if let (true, Some(first), Some(lastm)) = (alive.is_empty(), entries.first(), entries.last()) {
        // Every member goes: the new ones take the first one's place and style.
        let trailing = if lastm.comma.is_some() { "," } else { "" };
        let (p, text) = if let Some(ind) = own_line_indent(src, first.start) {
            let body: Vec<String> = items
                .iter()
                .map(|e| {
                    let (t, from) = entry_text(theirs, e);
                    format!("{ind}{}", reindent(t, from, ind))
                })
                .collect();
            (
                line_start(src, first.start),
                format!("{}{trailing}\n", body.join(",\n")),
            )
        } else {
            let body: Vec<&str> = items.iter().map(|e| entry_text(theirs, e).0).collect();
            (first.start, format!("{}{trailing}", body.join(", ")))
        };
        out.push(Splice { range: p..p, text });
        return Ok(());
    }
    let anchor = match after {
        Some(k) => alive.iter().copied().find(|e| e.key == k),
        None => None,
    }
    .or_else(|| alive.last().copied());
    // The last member left loses its comma when the members after it go without a trailing one.
    let comma = |a: &Entry| {
        let is_last_alive = alive.last().is_some_and(|l| std::ptr::eq(*l, a));
        let tail_gone = entries.last().is_some_and(|l| !std::ptr::eq(l, a));
        match entries.last() {
            Some(l) if is_last_alive && tail_gone && l.comma.is_none() => None,
            _ => a.comma,
        }
    };
    let Some(a) = anchor else {
        // An empty container: only whitespace may be inside.
        let inner = container.span.start + 1..container.span.end - 1;
        if !src[inner.clone()].trim().is_empty() {
            return Err(cannot("an empty object holds comments"));
        }
        let multiline = theirs[tcontainer.span.clone()].contains('\n');
        let text = if multiline {
            let base = line_indent(src, container.span.start);
            let tbase = line_indent(theirs, tcontainer.span.start);
            let unit = items
                .first()
                .map_or(2, |e| {
                    entry_text(theirs, e).1.len().saturating_sub(tbase.len())
                })
                .max(1);
            let ind = format!("{base}{}", " ".repeat(unit));
            let body: Vec<String> = items
                .iter()
                .map(|e| {
                    let (t, from) = entry_text(theirs, e);
                    reindent(t, from, &ind)
                })
                .collect();
            format!("\n{ind}{}\n{base}", body.join(&format!(",\n{ind}")))
        } else {
            let body: Vec<&str> = items.iter().map(|e| entry_text(theirs, e).0).collect();
            body.join(", ")
        };
        out.push(Splice { range: inner, text });
        return Ok(());
    };
    let indent = own_line_indent(src, a.start);
    let texts: Vec<String> = items
        .iter()
        .map(|e| {
            let (t, from) = entry_text(theirs, e);
            reindent(t, from, indent.unwrap_or(""))
        })
        .collect();
    match (indent, comma(a)) {
        (Some(ind), Some(c)) if rest_is_trivia(src, c + 1) => {
            let group = texts.join(&format!(",\n{ind}"));
            let p = line_end(src, c + 1);
            out.push(Splice {
                range: p..p,
                text: format!("\n{ind}{group},"),
            });
        }
        (Some(ind), None) => {
            let group = texts.join(&format!(",\n{ind}"));
            out.push(Splice {
                range: a.end..a.end,
                text: ",".into(),
            });
            let p = if rest_is_trivia(src, a.end) {
                line_end(src, a.end)
            } else {
                a.end
            };
            out.push(Splice {
                range: p..p,
                text: format!("\n{ind}{group}"),
            });
        }
        (_, Some(c)) => {
            out.push(Splice {
                range: c + 1..c + 1,
                text: format!(" {},", texts.join(", ")),
            });
        }
        (None, None) => {
            out.push(Splice {
                range: a.end..a.end,
                text: format!(", {}", texts.join(", ")),
            });
        }
    }
    Ok(())
}
