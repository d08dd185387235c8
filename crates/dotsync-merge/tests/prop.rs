//! Property: for random documents and random edits of different keys on two sides, the merge
//! means both edit sets applied, whichever side is local.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use dotsync_merge::{Format, merge, parse_val};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum V {
    Int(i64),
    Map(BTreeMap<String, i64>),
}

type Doc = BTreeMap<String, V>;

#[derive(Debug, Clone, Copy)]
enum Op {
    Set(i64),
    Delete,
}

fn render(format: Format, doc: &Doc) -> String {
    let scalars = doc.iter().filter_map(|(k, v)| match v {
        V::Int(i) => Some((k, *i)),
        V::Map(_) => None,
    });
    let maps: Vec<(&String, &BTreeMap<String, i64>)> = doc
        .iter()
        .filter_map(|(k, v)| match v {
            V::Map(m) => Some((k, m)),
            V::Int(_) => None,
        })
        .collect();
    let mut s = String::new();
    match format {
        Format::Json => {
            let mut members = Vec::new();
            for (k, v) in doc {
                members.push(match v {
                    V::Int(i) => format!("  \"{k}\": {i}"),
                    V::Map(m) => {
                        let inner: Vec<String> =
                            m.iter().map(|(n, i)| format!("    \"{n}\": {i}")).collect();
                        format!("  \"{k}\": {{\n{}\n  }}", inner.join(",\n"))
                    }
                });
            }
            s = format!("{{\n{}\n}}\n", members.join(",\n"));
        }
        Format::Toml | Format::Ini => {
            s.push_str("# settings\n");
            for (k, i) in scalars {
                let _ = writeln!(s, "{k} = {i}");
            }
            for (k, m) in maps {
                let _ = write!(s, "\n[{k}]\n");
                for (n, i) in m {
                    let _ = writeln!(s, "{n} = {i}");
                }
            }
        }
        Format::Yaml => {
            s.push_str("# settings\n");
            for (k, v) in doc {
                match v {
                    V::Int(i) => {
                        let _ = writeln!(s, "{k}: {i}");
                    }
                    // Some mappings on one line (`kb: {na: 1, nb: 2}`), the others as blocks.
                    V::Map(m) if k.as_str() < "kc" => {
                        let inner: Vec<String> =
                            m.iter().map(|(n, i)| format!("{n}: {i}")).collect();
                        let _ = writeln!(s, "{k}: {{{}}}", inner.join(", "));
                    }
                    V::Map(m) => {
                        let _ = writeln!(s, "{k}:");
                        for (n, i) in m {
                            let _ = writeln!(s, "  {n}: {i}");
                        }
                    }
                }
            }
        }
    }
    s
}

/// Every key path an edit may touch: leaves of the document and a few new keys.
fn candidates(doc: &Doc) -> Vec<(String, Option<String>, bool)> {
    let mut out = Vec::new();
    for (k, v) in doc {
        match v {
            V::Int(_) => out.push((k.clone(), None, true)),
            V::Map(m) => {
                for n in m.keys() {
                    out.push((k.clone(), Some(n.clone()), false));
                }
                out.push((k.clone(), Some(format!("added_{k}")), false));
            }
        }
    }
    out.push(("zz_new".into(), None, true));
    out.push(("aa_new".into(), None, true));
    out
}

fn apply(doc: &mut Doc, path: &(String, Option<String>, bool), op: Op) {
    match (&path.1, op) {
        (None, Op::Set(i)) => {
            doc.insert(path.0.clone(), V::Int(i));
        }
        (None, Op::Delete) => {
            doc.remove(&path.0);
        }
        (Some(n), op) => {
            if let Some(V::Map(m)) = doc.get_mut(&path.0) {
                match op {
                    Op::Set(i) => {
                        m.insert(n.clone(), i);
                    }
                    // Nested maps keep their leaves (an empty YAML mapping is a null).
                    Op::Delete => {}
                }
            }
        }
    }
}

fn doc_strategy() -> impl Strategy<Value = Doc> {
    let value = prop_oneof![
        (0i64..100).prop_map(V::Int),
        prop::collection::btree_map("n[a-c]", 0i64..100, 1..4).prop_map(V::Map),
    ];
    prop::collection::btree_map("k[a-f]", value, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn disjoint_edits_merge_to_both_whatever_the_order(
        base in doc_strategy(),
        picks in prop::collection::vec((0u8..3, 100i64..200, any::<bool>()), 16),
        format in prop_oneof![Just(Format::Json), Just(Format::Toml), Just(Format::Yaml), Just(Format::Ini)],
    ) {
        let (mut ours, mut theirs, mut both) = (base.clone(), base.clone(), base.clone());
        for (c, (side, v, del)) in candidates(&base).iter().zip(&picks) {
            // Only top-level scalars that exist are deleted; everything else is set.
            let op = if *del && c.2 && base.contains_key(&c.0) { Op::Delete } else { Op::Set(*v) };
            match side {
                0 => apply(&mut ours, c, op),
                1 => apply(&mut theirs, c, op),
                _ => continue,
            }
            apply(&mut both, c, op);
        }
        let (b, o, t, e) = (
            render(format, &base),
            render(format, &ours),
            render(format, &theirs),
            render(format, &both),
        );
        let expected = parse_val(format, &e).expect("the expected document parses");
        let m1 = merge(format, b.as_bytes(), o.as_bytes(), t.as_bytes());
        let m2 = merge(format, b.as_bytes(), t.as_bytes(), o.as_bytes());
        let (m1, m2) = match (m1, m2) {
            (Ok(m1), Ok(m2)) => (m1, m2),
            (r1, r2) => panic!("{format}: {r1:?} / {r2:?}\nbase:\n{b}\nours:\n{o}\ntheirs:\n{t}"),
        };
        let t1 = String::from_utf8(m1.bytes).expect("utf-8");
        let t2 = String::from_utf8(m2.bytes).expect("utf-8");
        prop_assert_eq!(parse_val(format, &t1), Some(expected.clone()), "{}", t1);
        prop_assert_eq!(parse_val(format, &t2), Some(expected), "{}", t2);
        prop_assert_eq!(m1.keys, m2.keys);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Whatever the three texts, a merge answers (a file or a refusal) and never panics; a
    /// file it answers parses.
    #[test]
    fn any_input_is_answered_without_a_panic(
        b in "[ \\n\\t{}\\[\\]:,=#;\"'a-c0-2./\\-|>&*!]{0,60}",
        o in "[ \\n\\t{}\\[\\]:,=#;\"'a-c0-2./\\-|>&*!]{0,60}",
        t in "[ \\n\\t{}\\[\\]:,=#;\"'a-c0-2./\\-|>&*!]{0,60}",
        format in prop_oneof![Just(Format::Json), Just(Format::Toml), Just(Format::Yaml), Just(Format::Ini)],
    ) {
        if let Ok(m) = merge(format, b.as_bytes(), o.as_bytes(), t.as_bytes()) {
            let text = String::from_utf8(m.bytes).expect("utf-8");
            prop_assert!(parse_val(format, &text).is_some(), "{}", text);
        }
    }
}
