//! YAML flow collections on one line (`editor: {fontSize: 12, theme: dark}`,
//! `plugins: [git, fzf]`), parsed with the spans of their members, so that two machines
//! changing two different keys of one line merge key by key, edited in place.

use crate::tree::{Entry, Kind, Node, ParseError};

use super::{canon, unsupported};

/// Parses the flow collection `src[start..end]` (it must be the whole of that range, apart
/// from trailing spaces).
pub(super) fn parse(src: &str, start: usize, end: usize) -> Result<Node, ParseError> {
    let mut p = Flow {
        src,
        pos: start,
        end,
        depth: 0,
    };
    let node = p.value()?;
    p.ws();
    if p.pos != end {
        return Err(ParseError::Invalid);
    }
    Ok(node)
}

/// Whether `node` (of `src`) is a flow collection.
pub(super) fn is_flow(src: &str, node: &Node) -> bool {
    !matches!(node.kind, Kind::Scalar(_))
        && matches!(src.as_bytes().get(node.span.start), Some(b'{' | b'['))
}

struct Flow<'a> {
    src: &'a str,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Flow<'_> {
    fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.src.as_bytes()[self.pos])
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ParseError::Invalid)
        }
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.collection(true),
            Some(b'[') => self.collection(false),
            Some(_) => self.scalar(false).map(|(node, _)| node),
            None => Err(ParseError::Invalid),
        }
    }

    fn collection(&mut self, map: bool) -> Result<Node, ParseError> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(unsupported("flow collections nested too deep"));
        }
        let start = self.pos;
        let close = if map { b'}' } else { b']' };
        self.pos += 1;
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            let entry_start = self.pos;
            let key = if map {
                let (_, key) = self.scalar(true)?;
                self.expect(b':')?;
                if entries.iter().any(|e| e.key == key) {
                    return Err(unsupported("a key that appears twice"));
                }
                key
            } else {
                String::new()
            };
            let value = self.value()?;
            let end = value.span.end;
            self.ws();
            let comma = (self.peek() == Some(b',')).then_some(self.pos);
            entries.push(Entry {
                key,
                start: entry_start,
                end,
                value,
                comma,
            });
            if comma.is_some() {
                self.pos += 1;
            } else {
                self.expect(close)?;
                break;
            }
        }
        self.depth -= 1;
        Ok(Node {
            span: start..self.pos,
            kind: if map {
                Kind::Map(entries)
            } else {
                Kind::List(entries)
            },
        })
    }

    /// A scalar: quoted, or plain up to the next `,`, `]`, `}` (and for a key, `:`). Returns
    /// the node and the key it names (the text without its quotes).
    fn scalar(&mut self, key: bool) -> Result<(Node, String), ParseError> {
        self.ws();
        let start = self.pos;
        let bytes = self.src.as_bytes();
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => return Err(ParseError::Invalid),
                        Some(b'\\') if q == b'"' => {
                            return Err(unsupported("escapes in a quoted string"));
                        }
                        Some(c) if c == q => {
                            // '' inside single quotes is one quote.
                            if q == b'\'' && bytes.get(self.pos + 1) == Some(&b'\'') {
                                self.pos += 2;
                                continue;
                            }
                            self.pos += 1;
                            break;
                        }
                        Some(_) => self.pos += 1,
                    }
                }
            }
            Some(b'{' | b'[' | b',' | b']' | b'}' | b':') | None => {
                return Err(ParseError::Invalid);
            }
            Some(_) => {
                while let Some(c) = self.peek() {
                    let stop = matches!(c, b',' | b']' | b'}')
                        || (c == b':'
                            && (key
                                || matches!(
                                    bytes.get(self.pos + 1),
                                    None | Some(b' ' | b',' | b']' | b'}')
                                )));
                    if stop || c == b'#' {
                        break;
                    }
                    self.pos += 1;
                }
                while self.pos > start && bytes[self.pos - 1] == b' ' {
                    self.pos -= 1;
                }
            }
        }
        let text = &self.src[start..self.pos];
        if text.is_empty() {
            return Err(ParseError::Invalid);
        }
        let canon = canon(text)?;
        let name = canon
            .strip_prefix("s:")
            .or_else(|| canon.strip_prefix("p:"))
            .unwrap_or(&canon)
            .to_owned();
        Ok((Node::scalar(start..self.pos, canon), name))
    }
}
