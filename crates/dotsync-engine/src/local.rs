//! Local-only blocks: the lines between a `dotsync:local-begin` and a `dotsync:local-end`
//! marker (in any comment syntax: `# dotsync:local-begin`, `// dotsync:local-begin`, ...) stay
//! on this machine. The synced version of the file holds the marker lines with nothing
//! between them; writing a version into the home puts this machine's blocks back between its
//! markers. So a work laptop keeps its `[user] email` in `~/.gitconfig` while every other line
//! syncs and merges as usual.
//!
//! The engine versions such a file by its synced form ([`synced_form`]): the scan hashes it,
//! a push stores it, a merge merges it; the home keeps the whole file.

use std::borrow::Cow;

const BEGIN: &[u8] = b"dotsync:local-begin";
const END: &[u8] = b"dotsync:local-end";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A file's lines, each with its line end.
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|b| *b == b'\n').collect()
}

/// The blocks of a file: for each, the marker lines and the lines between them.
struct Block<'a> {
    begin: &'a [u8],
    inner: Vec<&'a [u8]>,
    end: Option<&'a [u8]>,
}

/// Splits a file into the text around its blocks and the blocks.
fn parse(bytes: &[u8]) -> (Vec<Vec<&[u8]>>, Vec<Block<'_>>) {
    let mut outside: Vec<Vec<&[u8]>> = vec![Vec::new()];
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut open: Option<Block<'_>> = None;
    for line in lines(bytes) {
        match open.as_mut() {
            None if contains(line, BEGIN) => {
                open = Some(Block {
                    begin: line,
                    inner: Vec::new(),
                    end: None,
                });
            }
            None => outside.last_mut().map_or((), |o| o.push(line)),
            Some(b) if contains(line, END) => {
                b.end = Some(line);
                blocks.extend(open.take());
                outside.push(Vec::new());
            }
            Some(b) => b.inner.push(line),
        }
    }
    if let Some(b) = open {
        // A block never closed runs to the end of the file.
        blocks.push(b);
        outside.push(Vec::new());
    }
    (outside, blocks)
}

/// Whether the file has local-only blocks.
pub fn has_blocks(bytes: &[u8]) -> bool {
    contains(bytes, BEGIN)
}

/// What of a home file syncs: the file without the lines of its local-only blocks (their
/// markers stay). A file without blocks is itself.
pub fn synced_form(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !has_blocks(bytes) {
        return Cow::Borrowed(bytes);
    }
    let (outside, blocks) = parse(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    for (i, text) in outside.iter().enumerate() {
        for l in text {
            out.extend_from_slice(l);
        }
        if let Some(b) = blocks.get(i) {
            out.extend_from_slice(b.begin);
            if let Some(e) = b.end {
                out.extend_from_slice(e);
            }
        }
    }
    Cow::Owned(out)
}

/// The file to write into the home for the synced version `synced`, given what the home
/// file holds now (`here`): this machine's blocks go back between the markers, in order. A
/// block of this machine the synced version has no markers for any more is kept at the end
/// of the file, markers and all: a local line is never lost.
pub fn with_local_blocks(synced: &[u8], here: Option<&[u8]>) -> Vec<u8> {
    let Some(here) = here.filter(|h| has_blocks(h)) else {
        return synced.to_vec();
    };
    let (_, mine) = parse(here);
    let (outside, slots) = parse(synced);
    let mut out = Vec::with_capacity(synced.len() + here.len());
    for (i, text) in outside.iter().enumerate() {
        for l in text {
            out.extend_from_slice(l);
        }
        if let Some(slot) = slots.get(i) {
            out.extend_from_slice(slot.begin);
            if let Some(b) = mine.get(i) {
                for l in &b.inner {
                    out.extend_from_slice(l);
                }
            }
            if let Some(e) = slot.end {
                out.extend_from_slice(e);
            }
        }
    }
    for b in mine.iter().skip(slots.len()) {
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(b.begin);
        for l in &b.inner {
            out.extend_from_slice(l);
        }
        if let Some(e) = b.end {
            out.extend_from_slice(e);
        }
    }
    out
}

/// The bytes to write at `abs` for the synced version `synced` of a file: with the local-only
/// blocks the file there holds now (a symlink, or a file without blocks, as they are).
pub fn for_home(abs: &std::path::Path, kind: dotsync_core::plan::Kind, synced: Vec<u8>) -> Vec<u8> {
    if kind != dotsync_core::plan::Kind::File {
        return synced;
    }
    match std::fs::read(abs) {
        Ok(here) if has_blocks(&here) => with_local_blocks(&synced, Some(&here)),
        _ => synced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "[user]\n\tname = me\n# dotsync:local-begin\n\temail = me@work.example\n# dotsync:local-end\n[core]\n\teditor = vim\n";

    #[test]
    fn the_block_stays_here_and_its_markers_sync() {
        assert_eq!(
            synced_form(HOME.as_bytes()).as_ref(),
            b"[user]\n\tname = me\n# dotsync:local-begin\n# dotsync:local-end\n[core]\n\teditor = vim\n"
        );
        assert_eq!(synced_form(b"no blocks\n").as_ref(), b"no blocks\n");
    }

    #[test]
    fn a_synced_version_gets_this_machines_block_back() {
        // Another machine changed the lines around the block.
        let synced = "[user]\n\tname = Me Myself\n// dotsync:local-begin\n// dotsync:local-end\n[core]\n\teditor = hx\n";
        let out = with_local_blocks(synced.as_bytes(), Some(HOME.as_bytes()));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[user]\n\tname = Me Myself\n// dotsync:local-begin\n\temail = me@work.example\n// dotsync:local-end\n[core]\n\teditor = hx\n"
        );
        // Its synced form is the synced version: nothing of the block leaks.
        let again = with_local_blocks(synced.as_bytes(), Some(HOME.as_bytes()));
        assert_eq!(synced_form(&again).as_ref(), synced.as_bytes());
    }

    #[test]
    fn a_block_whose_markers_went_away_is_kept_at_the_end() {
        let out = with_local_blocks(b"[core]\n\teditor = hx\n", Some(HOME.as_bytes()));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[core]\n\teditor = hx\n"), "{text}");
        assert!(text.contains("\temail = me@work.example\n"), "{text}");
    }

    #[test]
    fn a_block_never_closed_runs_to_the_end() {
        let home = b"a\n# dotsync:local-begin\nsecret\n";
        assert_eq!(synced_form(home).as_ref(), b"a\n# dotsync:local-begin\n");
        assert_eq!(
            with_local_blocks(b"b\n# dotsync:local-begin\n", Some(home)),
            b"b\n# dotsync:local-begin\nsecret\n"
        );
    }
}
