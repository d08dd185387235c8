//! TOML through `toml_edit`, whose document keeps every comment, space and key order of the
//! text it parsed: the local file is parsed, the merged keys are set, inserted or removed in
//! it (a replaced value keeps the local value's surrounding spaces and comment), and it is
//! written back. A file `toml_edit` would not write back byte for byte is refused.

use toml_edit::{DocumentMut, Item, Table, Value};

use crate::Refusal;
use crate::tree::{Edit, Entry, Kind, Node, ParseError};

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    let doc: DocumentMut = src.parse().map_err(|_| ParseError::Invalid)?;
    Ok(item_node(doc.as_item()))
}

fn entry(key: &str, value: Node) -> Entry {
    Entry {
        key: key.to_owned(),
        start: 0,
        end: 0,
        value,
        comma: None,
    }
}

fn map_node<'a>(items: impl Iterator<Item = (&'a str, &'a Item)>) -> Node {
    Node {
        span: 0..0,
        kind: Kind::Map(
            items
                .filter(|(_, i)| !i.is_none())
                .map(|(k, i)| entry(k, item_node(i)))
                .collect(),
        ),
    }
}

fn item_node(item: &Item) -> Node {
    match item {
        Item::Value(v) => value_node(v),
        Item::Table(t) => map_node(t.iter()),
        Item::ArrayOfTables(a) => Node {
            span: 0..0,
            kind: Kind::List(a.iter().map(|t| entry("", map_node(t.iter()))).collect()),
        },
        Item::None => Node::scalar(0..0, "none"),
    }
}

fn value_node(v: &Value) -> Node {
    match v {
        Value::Array(a) => Node {
            span: 0..0,
            kind: Kind::List(a.iter().map(|v| entry("", value_node(v))).collect()),
        },
        Value::InlineTable(t) => Node {
            span: 0..0,
            kind: Kind::Map(t.iter().map(|(k, v)| entry(k, value_node(v))).collect()),
        },
        Value::String(s) => Node::scalar(0..0, format!("s:{}", s.value())),
        Value::Integer(i) => Node::scalar(0..0, format!("i:{}", i.value())),
        Value::Float(f) => Node::scalar(0..0, format!("f:{:?}", f.value())),
        Value::Boolean(b) => Node::scalar(0..0, format!("b:{}", b.value())),
        Value::Datetime(d) => Node::scalar(0..0, format!("d:{}", d.value())),
    }
}

fn cannot(why: &str) -> Refusal {
    Refusal::CannotPreserve(why.into())
}

/// The item at `path` in `root`.
fn get<'a>(root: &'a Item, path: &[String]) -> Option<&'a Item> {
    let mut cur = root;
    for k in path {
        cur = cur.as_table_like()?.get(k)?;
    }
    Some(cur)
}

fn get_mut<'a>(root: &'a mut Item, path: &[String]) -> Option<&'a mut Item> {
    let mut cur = root;
    for k in path {
        cur = cur.as_table_like_mut()?.get_mut(k)?;
    }
    Some(cur)
}

/// A copy of theirs' item to put into ours: tables placed by ours' document.
fn transplant(item: &Item) -> Item {
    fn unplace(t: &mut Table) {
        t.set_position(None);
        for (_, i) in t.iter_mut() {
            match i {
                Item::Table(t) => unplace(t),
                Item::ArrayOfTables(a) => a.iter_mut().for_each(unplace),
                _ => {}
            }
        }
    }
    let mut item = item.clone();
    match &mut item {
        Item::Table(t) => unplace(t),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(unplace),
        _ => {}
    }
    item
}

pub(crate) fn apply(ours: &str, theirs: &str, edits: &[Edit]) -> Result<String, Refusal> {
    let mut doc: DocumentMut = ours.parse().map_err(|_| cannot("local file"))?;
    if doc.to_string() != ours {
        return Err(cannot(
            "toml_edit would not write the local file back as it is",
        ));
    }
    let tdoc: DocumentMut = theirs.parse().map_err(|_| cannot("remote file"))?;
    let troot = tdoc.as_item();
    for edit in edits {
        let path = edit.path();
        let (last, parent) = path
            .split_last()
            .ok_or_else(|| cannot("the whole file changed type"))?;
        let t = get(troot, path);
        let p = get_mut(doc.as_item_mut(), parent).ok_or_else(|| cannot("a parent is gone"))?;
        let tl = p
            .as_table_like_mut()
            .ok_or_else(|| cannot("a parent is not a table"))?;
        match edit {
            Edit::Set { .. } => {
                let t = t.ok_or_else(|| cannot("a changed key is gone"))?;
                let o = tl
                    .get_mut(last)
                    .ok_or_else(|| cannot("a changed key is gone"))?;
                let mut new = transplant(t);
                if let (Item::Value(ov), Item::Value(nv)) = (&*o, &mut new) {
                    *nv.decor_mut() = ov.decor().clone();
                }
                *o = new;
            }
            Edit::Insert { .. } => {
                let t = t.ok_or_else(|| cannot("an added key is gone"))?;
                let tparent = get(troot, parent).and_then(|i| i.as_table_like());
                let key = tparent.and_then(|tp| tp.key(last)).cloned();
                let item = transplant(t);
                match (p.as_table_mut(), key) {
                    (Some(table), Some(key)) => {
                        table.insert_formatted(&key, item);
                    }
                    _ => {
                        p.as_table_like_mut()
                            .ok_or_else(|| cannot("a parent is not a table"))?
                            .insert(last, item);
                    }
                }
            }
            Edit::Delete { .. } => {
                tl.remove(last);
            }
            Edit::Append { from, .. } => {
                let t = t.ok_or_else(|| cannot("a list is gone"))?;
                let o = tl.get_mut(last).ok_or_else(|| cannot("a list is gone"))?;
                match (o, t) {
                    (Item::Value(Value::Array(oa)), Item::Value(Value::Array(ta))) => {
                        for v in ta.iter().skip(*from) {
                            oa.push_formatted(v.clone());
                        }
                    }
                    (Item::ArrayOfTables(oa), Item::ArrayOfTables(ta)) => {
                        for tbl in ta.iter().skip(*from) {
                            if let Item::Table(tbl) = transplant(&Item::Table(tbl.clone())) {
                                oa.push(tbl);
                            }
                        }
                    }
                    _ => return Err(cannot("a list changed its kind")),
                }
            }
        }
    }
    Ok(doc.to_string())
}
