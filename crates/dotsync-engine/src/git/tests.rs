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
    let mut stream = repo.blob_stream();
    assert_eq!(stream.read(&oid).expect("read"), b"some content\n");
    assert_eq!(stream.read(&oid).expect("read again"), b"some content\n");
}

#[test]
fn commits_are_found_loose_and_in_packs_git_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
    let mut commits = Vec::new();
    let mut parent: Option<String> = None;
    for i in 0..40 {
        let oid = repo
            .write_blob(format!("v{i}\n").as_bytes())
            .expect("write");
        let tree = repo
            .build_tree(None, &[("f".into(), Some((0o100644, oid)))])
            .expect("tree");
        let c = repo
            .commit_tree(&tree, parent.as_deref(), "m", ("t", "t@x"))
            .expect("commit");
        parent = Some(c.clone());
        commits.push(c);
    }
    let tip = commits.last().expect("commits").clone();
    let absent = object_id("commit", b"never made");
    assert!(repo.has_object_here(&tip), "a loose commit");
    assert!(!repo.has_object_here(&absent));
    assert!(!repo.has_commit(&absent));
    // Packed by git (and the loose objects pruned): found in its index, and git agrees.
    repo.set_ref("refs/heads/main", &tip).expect("ref");
    repo.run(&["repack", "-a", "-d", "-q"], None)
        .expect("repack");
    repo.run(&["prune-packed"], None).expect("prune");
    assert!(
        !repo
            .dir
            .join("objects")
            .join(&tip[..2])
            .join(&tip[2..])
            .exists(),
        "the commit is only in the pack now"
    );
    for c in &commits {
        assert!(repo.has_object_here(c), "{c} in git's pack");
        assert!(
            repo.has_object_here(&c.to_ascii_uppercase()),
            "{c} in upper case"
        );
        assert!(repo.has_commit(&c.to_ascii_uppercase()));
    }
    assert!(!repo.has_object_here(&absent));
    assert!(!repo.has_commit(&absent));
    assert!(!repo.has_object_here("not an id"));
}

#[test]
fn loose_objects_are_read_in_process_and_the_rest_by_git() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
    let packed = repo.write_blob(b"packed later\n").expect("write");
    let tree = repo
        .build_tree(None, &[("p".into(), Some((0o100644, packed.clone())))])
        .expect("tree");
    let commit = repo
        .commit_tree(&tree, None, "m", ("t", "t@x"))
        .expect("commit");
    repo.set_ref("refs/heads/main", &commit).expect("ref");
    repo.run(&["repack", "-a", "-d", "-q"], None)
        .expect("repack");
    repo.run(&["prune-packed"], None).expect("prune");
    let loose = repo.write_blob(b"loose\n").expect("write");
    let empty = repo.write_blob(b"").expect("write");

    let mut stream = repo.blob_stream();
    assert_eq!(stream.read(&loose).expect("read"), b"loose\n");
    assert_eq!(stream.read(&empty).expect("read"), b"");
    assert!(!stream.started_git(), "loose objects need no process");
    assert_eq!(stream.read(&packed).expect("read"), b"packed later\n");
    assert!(stream.started_git(), "a packed object is git's to read");
    // A commit and a tree read through the same stream are their raw bodies, as git gives.
    let body = stream.read(&commit).expect("commit");
    assert!(body.starts_with(format!("tree {tree}").as_bytes()));

    // A damaged loose copy of an object the pack also has: git's copy is read.
    let path = repo
        .dir
        .join("objects")
        .join(&packed[..2])
        .join(&packed[2..]);
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(&path, b"not zlib at all").expect("write");
    let mut stream = repo.blob_stream();
    assert_eq!(stream.read(&packed).expect("read"), b"packed later\n");
    // What no store has is an error, not empty bytes.
    let absent = object_id("blob", b"never written");
    assert!(stream.read(&absent).is_err());
    assert!(repo.read_blobs(&[&loose, &absent]).is_err());
}

/// Many objects asked for at once come back in order, more of them than a pipe holds (the
/// feeding thread and the reads must not wait on each other); a read out of the announced
/// order, or of an object no store has, is an error, and dropping the stream half way stops
/// git and its feeder.
#[test]
fn objects_read_ahead_come_in_order_and_errors_stop_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open_or_init(&dir.path().join("r.git")).expect("init");
    let bodies: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("file {i}\n{}\n", "x".repeat(i % 97)).into_bytes())
        .collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| repo.write_blob(b).expect("write"))
        .collect();

    let mut stream = repo.blob_stream();
    stream.read_ahead(ids.clone()).expect("ahead");
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(&stream.read(id).expect("read"), body);
    }
    // After the announced ones, loose objects still read.
    assert_eq!(stream.read(&ids[0]).expect("read"), bodies[0]);

    let mut stream = repo.blob_stream();
    stream.read_ahead(ids.clone()).expect("ahead");
    assert!(stream.read(&ids[1]).is_err(), "read out of order");

    let absent = object_id("blob", b"never written");
    let mut stream = repo.blob_stream();
    stream
        .read_ahead(vec![ids[0].clone(), absent.clone(), ids[1].clone()])
        .expect("ahead");
    assert_eq!(stream.read(&ids[0]).expect("read"), bodies[0]);
    assert!(stream.read(&absent).is_err(), "no store has it");

    // Dropped with most of the answers unread: no hang.
    let mut stream = repo.blob_stream();
    stream.read_ahead(ids.clone()).expect("ahead");
    assert_eq!(stream.read(&ids[0]).expect("read"), bodies[0]);
    drop(stream);
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
