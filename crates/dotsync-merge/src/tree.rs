//! The format-independent part: a parsed file as a tree of keys with the byte spans of its
//! pieces, the three-way comparison that turns (base, ours, theirs) into edits of ours, and
//! the meaning a tree has (to check a spliced result).

use std::collections::BTreeMap;
use std::ops::Range;

/// Why a text is not a tree this crate can work on.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not valid in its format.
    Invalid,
    /// Valid (or possibly so), but uses syntax that cannot be edited without reformatting.
    Unsupported(String),
}

/// A value in a parsed file, with where it is in the text.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The value's bytes in the text (for block values of line-based formats: whole lines).
    pub span: Range<usize>,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Map(Vec<Entry>),
    List(Vec<Entry>),
    /// A canonical form of the value: two scalars mean the same when these are equal.
    Scalar(String),
}

/// A member of a map (`key` set) or an item of a list (`key` empty).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    /// Where the entry starts (its key, or the item's first byte / line).
    pub start: usize,
    /// Where the entry ends (past its value; line formats: past its last line's newline).
    pub end: usize,
    pub value: Node,
    /// JSON: the separating comma after the value, if any.
    pub comma: Option<usize>,
}

impl Node {
    pub fn scalar(span: Range<usize>, canon: impl Into<String>) -> Node {
        Node {
            span,
            kind: Kind::Scalar(canon.into()),
        }
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(e) | Kind::List(e) => Some(e),
            Kind::Scalar(_) => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Map(e) => e.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The node at a key path.
    pub fn at(&self, path: &[String]) -> Option<&Node> {
        let mut n = self;
        for k in path {
            n = &n.get(k)?.value;
        }
        Some(n)
    }

    /// The entry at a key path (not the root).
    pub fn entry_at(&self, path: &[String]) -> Option<&Entry> {
        let (last, parent) = path.split_last()?;
        self.at(parent)?.get(last)
    }

    pub fn to_val(&self) -> Val {
        match &self.kind {
            Kind::Map(es) => Val::Map(
                es.iter()
                    .map(|e| (e.key.clone(), e.value.to_val()))
                    .collect(),
            ),
            Kind::List(es) => Val::List(es.iter().map(|e| e.value.to_val()).collect()),
            Kind::Scalar(s) => Val::Scalar(s.clone()),
        }
    }
}

/// What a file means: maps compare regardless of key order, scalars by their canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Map(BTreeMap<String, Val>),
    List(Vec<Val>),
    Scalar(String),
}

/// A change to make to ours, taken from theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edit {
    /// The value at `path` becomes theirs.
    Set { path: Vec<String> },
    /// Theirs' member at `path` is added, after ours' member `after` (None: at the end).
    Insert {
        path: Vec<String>,
        after: Option<String>,
    },
    /// Ours' member at `path` goes.
    Delete { path: Vec<String> },
    /// Theirs' list items from index `from` are appended to ours' list at `path`.
    Append { path: Vec<String>, from: usize },
}

impl Edit {
    pub fn path(&self) -> &[String] {
        match self {
            Edit::Set { path }
            | Edit::Insert { path, .. }
            | Edit::Delete { path }
            | Edit::Append { path, .. } => path,
        }
    }
}

/// The outcome of comparing three trees.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub edits: Vec<Edit>,
    /// Key paths changed differently on both sides.
    pub conflicts: Vec<String>,
    /// Key paths changed on either side.
    pub keys: Vec<String>,
}

pub(crate) fn key_path(path: &[String]) -> String {
    if path.is_empty() {
        "(the whole file)".to_owned()
    } else {
        path.join(".")
    }
}

/// Whether two nodes mean the same.
pub(crate) fn same(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar(x), Kind::Scalar(y)) => x == y,
        (Kind::List(x), Kind::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(&p.value, &q.value))
        }
        (Kind::Map(x), Kind::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|e| y.iter().any(|f| f.key == e.key && same(&e.value, &f.value)))
        }
        _ => false,
    }
}

pub(crate) fn three_way(base: &Node, ours: &Node, theirs: &Node) -> Plan {
    let mut plan = Plan::default();
    value(&mut plan, &mut Vec::new(), Some(base), ours, theirs);
    plan
}

fn value(plan: &mut Plan, path: &mut Vec<String>, b: Option<&Node>, o: &Node, t: &Node) {
    if let (Kind::Map(om), Kind::Map(tm)) = (&o.kind, &t.kind) {
        let bm = b.and_then(|b| match &b.kind {
            Kind::Map(m) => Some(&m[..]),
            _ => None,
        });
        map(plan, path, bm, om, tm);
        return;
    }
    if same(o, t) {
        if b.is_none_or(|b| !same(b, o)) {
            plan.keys.push(key_path(path));
        }
        return;
    }
    match b {
        Some(b) if same(b, t) => plan.keys.push(key_path(path)),
        Some(b) if same(b, o) => {
            plan.keys.push(key_path(path));
            plan.edits.push(Edit::Set { path: path.clone() });
        }
        // Both sides only appended (a single value counts as a list of one: git's repeated
        // keys): both appends are kept.
        Some(b) if appended_to(b, o) && appended_to(b, t) => {
            plan.keys.push(key_path(path));
            let from = match &b.kind {
                Kind::List(bl) => bl.len(),
                _ => 1,
            };
            let tail = |x: &Node| -> Vec<Val> {
                x.entries()
                    .unwrap_or_default()
                    .iter()
                    .skip(from)
                    .map(|e| e.value.to_val())
                    .collect()
            };
            let (ours, theirs) = (tail(o), tail(t));
            // The same items appended on both sides (or one side's appends already at the
            // start of the other's) are added once.
            if theirs.starts_with(&ours) {
                if theirs.len() > ours.len() {
                    plan.edits.push(Edit::Append {
                        path: path.clone(),
                        from: from + ours.len(),
                    });
                }
            } else if !ours.starts_with(&theirs) {
                plan.edits.push(Edit::Append {
                    path: path.clone(),
                    from,
                });
            }
        }
        _ => plan.conflicts.push(key_path(path)),
    }
}

/// Whether `x` is a list that starts with `base`'s items (or with `base`, a single value).
fn appended_to(base: &Node, x: &Node) -> bool {
    let Kind::List(xl) = &x.kind else {
        return false;
    };
    match &base.kind {
        Kind::List(bl) => {
            xl.len() >= bl.len() && bl.iter().zip(xl).all(|(p, q)| same(&p.value, &q.value))
        }
        Kind::Scalar(_) => xl.first().is_some_and(|f| same(&f.value, base)),
        Kind::Map(_) => false,
    }
}

fn map(plan: &mut Plan, path: &mut Vec<String>, bm: Option<&[Entry]>, om: &[Entry], tm: &[Entry]) {
    let find = |m: &[Entry], k: &str| m.iter().position(|e| e.key == k);
    let mut keys: Vec<&str> = om.iter().map(|e| e.key.as_str()).collect();
    keys.extend(
        tm.iter()
            .map(|e| e.key.as_str())
            .filter(|k| find(om, k).is_none()),
    );
    if let Some(bm) = bm {
        keys.extend(
            bm.iter()
                .map(|e| e.key.as_str())
                .filter(|k| find(om, k).is_none() && find(tm, k).is_none()),
        );
    }
    for k in keys {
        let bk = bm
            .and_then(|m| m.iter().find(|e| e.key == k))
            .map(|e| &e.value);
        let ok = om.iter().find(|e| e.key == k).map(|e| &e.value);
        let ti = find(tm, k);
        let tk = ti.map(|i| &tm[i].value);
        path.push(k.to_owned());
        match (ok, tk) {
            (Some(o), Some(t)) => value(plan, path, bk, o, t),
            (Some(o), None) => match bk {
                None => plan.keys.push(key_path(path)),
                Some(b) if same(b, o) => {
                    plan.keys.push(key_path(path));
                    plan.edits.push(Edit::Delete { path: path.clone() });
                }
                Some(_) => plan.conflicts.push(key_path(path)),
            },
            (None, Some(t)) => match bk {
                None => {
                    // After the nearest member before it in theirs that ours has.
                    // After the nearest member before it in theirs that ours has, and past
                    // the members ours added after that one.
                    let after = ti
                        .and_then(|i| tm[..i].iter().rev().find_map(|e| find(om, &e.key)))
                        .map(|mut at| {
                            while om.get(at + 1).is_some_and(|e| find(tm, &e.key).is_none()) {
                                at += 1;
                            }
                            om[at].key.clone()
                        });
                    plan.keys.push(key_path(path));
                    plan.edits.push(Edit::Insert {
                        path: path.clone(),
                        after,
                    });
                }
                Some(b) if same(b, t) => plan.keys.push(key_path(path)),
                Some(_) => plan.conflicts.push(key_path(path)),
            },
            (None, None) => plan.keys.push(key_path(path)),
        }
        path.pop();
    }
}

/// Applies an edit to a tree's meaning, taking values from `theirs`.
pub(crate) fn apply_val(v: &mut Val, edit: &Edit, theirs: &Node) {
    let path = edit.path();
    let Some((last, parent)) = path.split_last() else {
        if let Some(t) = theirs.at(path) {
            match edit {
                Edit::Append { from, .. } => {
                    if let (Val::List(l), Kind::List(tl)) = (&mut *v, &t.kind) {
                        l.extend(tl.iter().skip(*from).map(|e| e.value.to_val()));
                    }
                }
                _ => *v = t.to_val(),
            }
        }
        return;
    };
    let mut cur = v;
    for k in parent {
        let Val::Map(m) = cur else { return };
        let Some(next) = m.get_mut(k) else { return };
        cur = next;
    }
    let Val::Map(m) = cur else { return };
    let tv = theirs.at(path);
    match edit {
        Edit::Set { .. } | Edit::Insert { .. } => {
            if let Some(t) = tv {
                m.insert(last.clone(), t.to_val());
            }
        }
        Edit::Delete { .. } => {
            m.remove(last);
        }
        Edit::Append { from, .. } => {
            if let (
                Some(Val::List(l)),
                Some(Node {
                    kind: Kind::List(tl),
                    ..
                }),
            ) = (m.get_mut(last), tv)
            {
                l.extend(tl.iter().skip(*from).map(|e| e.value.to_val()));
            }
        }
    }
}

/// A replacement of `range` of a text by `text`.
#[derive(Debug, Clone)]
pub(crate) struct Splice {
    pub range: Range<usize>,
    pub text: String,
}

/// Applies splices to `src`; splices at one position apply in the order given. Overlapping
/// splices mean the edits touch each other: refused.
pub(crate) fn splice(src: &str, mut splices: Vec<Splice>) -> Result<String, crate::Refusal> {
    // Stable: insertions at one point keep their order.
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    let mut out = String::with_capacity(src.len());
    let mut at = 0;
    for s in splices {
        if s.range.start < at || s.range.end > src.len() || s.range.start > s.range.end {
            return Err(crate::Refusal::CannotPreserve(
                "two changes touch the same text".into(),
            ));
        }
        out.push_str(&src[at..s.range.start]);
        out.push_str(&s.text);
        at = s.range.end;
    }
    out.push_str(&src[at..]);
    Ok(out)
}

/// Start of the line holding byte `i`.
pub(crate) fn line_start(src: &str, i: usize) -> usize {
    src[..i].rfind('\n').map_or(0, |p| p + 1)
}

/// End of the line holding byte `i` (the position of its `\n`, or the text's end).
pub(crate) fn line_end(src: &str, i: usize) -> usize {
    src[i..].find('\n').map_or(src.len(), |p| i + p)
}

/// The whitespace before byte `i` on its line, if only whitespace is there.
pub(crate) fn own_line_indent(src: &str, i: usize) -> Option<&str> {
    let ls = line_start(src, i);
    let pre = &src[ls..i];
    pre.chars().all(|c| c == ' ' || c == '\t').then_some(pre)
}

/// `text` (taken from a place indented by `from`) with its following lines moved to `to`.
pub(crate) fn reindent(text: &str, from: &str, to: &str) -> String {
    if from == to || !text.contains('\n') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
            match line.strip_prefix(from) {
                Some(rest) => {
                    out.push_str(to);
                    out.push_str(rest);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
    }
    out
}
