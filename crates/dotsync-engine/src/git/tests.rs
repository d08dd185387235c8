use super::*;

#[test]
fn git_messages_map_to_what_the_person_can_do() {
    use crate::RemoteProblem as P;
    for (msg, want) in [
        (
            "ssh: connect to host example.com port 22: Connection refused\nfatal: Could not read from remote repository.",
            P::Offline,
        ),
        (
            "fatal: unable to access 'https://x/': Could not resolve host: x",
            P::Offline,
        ),
        (
            "git@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.",
            P::Auth,
        ),
        (
            "fatal: unable to access 'https://x/r.git/': The requested URL returned error: 403",
            P::Auth,
        ),
        (
            "fatal: '/srv/none.git' does not appear to be a git repository",
            P::NotFound,
        ),
        ("remote: Repository not found.", P::NotFound),
        (
            "error: unable to write file: No space left on device",
            P::DiskFull,
        ),
        (
            "remote: error: cannot lock ref 'refs/heads/main': Unable to create '/srv/r.git/refs/heads/main.lock': File exists.",
            P::Locked,
        ),
        (
            "! [remote rejected] main -> main (pre-receive hook declined)",
            P::Rejected,
        ),
    ] {
        assert_eq!(classify(msg), want, "{msg}");
    }
}

#[test]
fn blob_ids_match_git() {
    // `printf 'hello\n' | git hash-object --stdin`
    assert_eq!(
        blob_id(b"hello\n"),
        "ce013625030ba8dba906f756967f9e9ca394464a"
    );
    assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

#[test]
fn written_blobs_are_readable_by_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
    let oid = repo.write_blob(b"some content\n").expect("write");
    assert_eq!(repo.read_blob(&oid).expect("read"), b"some content\n");
    let tree = repo
        .build_tree(None, &[("a/b.txt".into(), Some((0o100644, oid.clone())))])
        .expect("tree");
    let commit = repo
        .commit_tree(&tree, None, "m", ("t", "t@x"))
        .expect("commit");
    let entries = repo.ls_tree(&commit).expect("ls-tree");
    let got: Vec<_> = entries
        .into_iter()
        .map(|e| (e.mode, e.oid, e.size, e.name))
        .collect();
    assert_eq!(got, vec![(0o100644, oid.clone(), 13, b"a/b.txt".to_vec())]);
    let mut stream = repo.blob_stream().expect("cat-file");
    assert_eq!(stream.read(&oid).expect("read"), b"some content\n");
    assert_eq!(stream.read(&oid).expect("read again"), b"some content\n");
}

#[test]
fn text_merges_apart_and_refuses_overlaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
    let base = b"a\nb\nc\nd\ne\n";
    let ours = b"A\nb\nc\nd\ne\n";
    let theirs = b"a\nb\nc\nd\nE\n";
    assert_eq!(
        repo.merge_text(ours, base, theirs)
            .expect("merge")
            .as_deref(),
        Some(&b"A\nb\nc\nd\nE\n"[..])
    );
    assert_eq!(
        repo.merge_text(b"x\n", b"a\n", b"y\n").expect("merge"),
        None
    );
}
