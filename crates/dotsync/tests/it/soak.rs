//! A bounded soak: three real daemons on one bare remote, watching and scheduling by themselves
//! (two `auto` configs, `interval_s` 1), while the test makes random edits on all three machines
//! for a while (creates, line edits, appends, deletes, editor-style saves, the same file edited
//! on two machines at once, conflicts resolved every way). Then it goes quiet, waits until every
//! daemon is idle with nothing pending and on the remote's tip, syncs each once more, and checks:
//!
//! 1. convergence: every machine holds the tip's bytes for every file not in conflict there, and
//!    every listed conflict matches the home (local side) and the tip (remote side);
//! 2. no lost edit: every content the test wrote is reachable by its blob id (the remote's
//!    objects, any machine's engine repository, any home) or, when a sync merged it with another
//!    machine's edit, by the line it added. The test never overwrites or deletes a content of its
//!    own before a sync of that machine stored it (or something else replaced it), so nothing
//!    it wrote is excused;
//! 3. no temporary files (`.dotsync-tmp-`) and nothing outside the config paths in any home.
//!
//! `DOTSYNC_SOAK_SECS` sets the editing time (default 20; 1800 for half an hour by hand) and
//! `DOTSYNC_SOAK_SEED` the seed, which is printed when the test fails.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Machine, World, git};

/// The config roots, under every home: (config, root).
const ROOTS: [(&str, &str); 3] = [("dots", ".config/app"), ("dots", "notes"), ("bin", "bin")];

/// The files the test edits (a small pool, so machines often meet on the same file).
const FILES: [&str; 11] = [
    ".config/app/a.conf",
    ".config/app/b.conf",
    ".config/app/sub/c.conf",
    "notes/todo.txt",
    "notes/ideas.txt",
    "bin/s1.sh",
    "bin/s2.sh",
    "bin/deep/s3.sh",
    // Never deleted, so that random deletions rarely take most of a config's files at once
    // (which the engine rightly refuses without a person's word; see `confirm_mass_deletes`).
    ".config/app/keep.conf",
    "notes/keep.txt",
    "bin/keep.sh",
];

fn deletable(path: &str) -> bool {
    !path.contains("/keep.")
}

/// Lines of a created file; edits replace one of them, so two machines often edit the same line.
const LINES: usize = 6;

/// How long a content the test wrote may stay on disk without a sync of its machine storing it.
const STALL: Duration = Duration::from_secs(45);

/// SplitMix64: small, seedable, good enough to pick edits.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "53 random bits, exact in an f64"
    )]
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// One content the test wrote.
struct Written {
    machine: usize,
    path: String,
    content: Vec<u8>,
    blob: String,
    /// The lines this write added, each unique in the whole run (they carry `[machine#n]`).
    added: Vec<String>,
    at: Instant,
    what: &'static str,
}

/// Prints the seed (and how to run again) if the test panics.
struct SeedOnFailure(u64);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\nsoak failed with seed {0}; run it again with DOTSYNC_SOAK_SEED={0}",
                self.0
            );
        }
    }
}

struct Soak {
    world_dir: PathBuf,
    machines: Vec<Machine>,
    remote: PathBuf,
    rng: Rng,
    writes: Vec<Written>,
    /// (machine, path) -> the last content the test wrote there.
    last: HashMap<(usize, String), usize>,
    /// Writes a sync of their machine is known to have stored (or that something replaced).
    seen: HashSet<usize>,
    journal: Vec<String>,
    start: Instant,
    seq: u64,
    counts: BTreeMap<&'static str, u64>,
    /// The slowest request the test made while editing, and what it was.
    slowest: (Duration, String),
}

/// The blob id git gives `bytes`.
fn blob_id(bytes: &[u8]) -> String {
    let mut child = Command::new("git")
        .args(["hash-object", "--stdin"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git hash-object");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bytes)
        .expect("write to git");
    let out = child.wait_with_output().expect("git hash-object");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// git on a bare repository, with optional stdin; stdout, or None when git fails.
fn git_dir(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut child = Command::new("git")
        .args(args)
        .env("GIT_DIR", dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git");
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        // Written from a thread: git answers while it reads.
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    let out = child.wait_with_output().expect("git");
    out.status.success().then_some(out.stdout)
}

/// The engine repositories of a machine.
fn engine_repos(m: &Machine) -> Vec<PathBuf> {
    std::fs::read_dir(m.dotsync_home.join("state/repos"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "git"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every file under the config roots of a home: path -> bytes.
fn home_files(m: &Machine) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, home: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&p, home, out);
            } else {
                let rel = p.strip_prefix(home).unwrap().to_str().unwrap().to_owned();
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (_, root) in ROOTS {
        walk(&m.home.join(root), &m.home, &mut out);
    }
    out
}

/// The remote's tip and its files (without dotsync's own `.dotsync/meta.json`): path -> blob.
fn tip_files(remote: &Path) -> (String, BTreeMap<String, String>) {
    let tip = git(remote, &["rev-parse", "main"]).trim().to_owned();
    let mut files = BTreeMap::new();
    for line in git(remote, &["ls-tree", "-r", "main"]).lines() {
        let (meta, path) = line.split_once('\t').unwrap();
        if path.starts_with(".dotsync/") {
            continue;
        }
        let blob = meta.split_whitespace().nth(2).unwrap().to_owned();
        files.insert(path.to_owned(), blob);
    }
    (tip, files)
}

fn status_configs(m: &Machine) -> Vec<Value> {
    let r = m.get("/v1/status");
    assert_eq!(r.status, 200, "{}: status: {}", m.name, r.text);
    r.json["configs"].as_array().unwrap().clone()
}

fn conflicts(m: &Machine) -> Vec<Value> {
    let r = m.get("/v1/conflicts");
    assert_eq!(r.status, 200, "{}: conflicts: {}", m.name, r.text);
    r.json.as_array().unwrap().clone()
}

impl Soak {
    #[allow(
        clippy::needless_pass_by_value,
        reason = "every caller builds the line with format!"
    )]
    fn log(&mut self, line: String) {
        let t = self.start.elapsed().as_secs_f64();
        self.journal.push(format!("{t:8.3}s {line}"));
    }

    fn tag(&mut self, m: usize) -> String {
        self.seq += 1;
        format!("[{}#{}]", self.machines[m].name, self.seq)
    }

    fn path_of(&self, m: usize, rel: &str) -> PathBuf {
        self.machines[m].home.join(rel)
    }

    /// Whether the test may replace what (m, path) holds: the last content it wrote there was
    /// stored by a sync of m (its blob is in m's engine repository) or is no longer on disk.
    fn ready(&mut self, m: usize, path: &str) -> bool {
        let Some(&i) = self.last.get(&(m, path.to_owned())) else {
            return true;
        };
        if self.seen.contains(&i) {
            return true;
        }
        let w = &self.writes[i];
        let stored = engine_repos(&self.machines[m])
            .iter()
            .any(|r| git_dir(r, &["cat-file", "-e", &w.blob], None).is_some());
        let on_disk = std::fs::read(self.path_of(m, path)).ok();
        if stored || on_disk.as_deref() != Some(w.content.as_slice()) {
            self.seen.insert(i);
            return true;
        }
        if w.at.elapsed() > STALL {
            let (name, what, elapsed) = (self.machines[m].name.clone(), w.what, w.at.elapsed());
            self.fail(&[path], &format!(
                "{name}: the {what} of {path} ({}) is still on disk after {elapsed:?} and no sync \
                 of {name} has stored it",
                w.blob
            ));
        }
        false
    }

    /// Writes `content` to (m, path) the way people and editors do: in place, or a new file
    /// renamed over the old one.
    fn write(
        &mut self,
        m: usize,
        path: &str,
        content: Vec<u8>,
        added: Vec<String>,
        what: &'static str,
    ) {
        let p = self.path_of(m, path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        if self.rng.chance(0.5) {
            // In place, in two writes with a pause between, as a slow save: the first part
            // stops inside the last line, so a version read half way is malformed and the end
            // check finds it if it ever reaches the remote. Now and then the pause outlasts the
            // watcher's quiet period (500 ms), though not the settle time (1 s).
            let mut f = std::fs::File::create(&p).unwrap();
            let cut = content.len() - 2;
            f.write_all(&content[..cut]).unwrap();
            let pause = if self.rng.chance(0.05) {
                500 + self.rng.below(300)
            } else {
                self.rng.below(30)
            };
            std::thread::sleep(Duration::from_millis(pause as u64));
            f.write_all(&content[cut..]).unwrap();
        } else {
            // The temporary file lives outside the home, on the same file system.
            let tmp = self.world_dir.join(format!("save-{}", self.seq));
            std::fs::write(&tmp, &content).unwrap();
            std::fs::rename(&tmp, &p).unwrap();
        }
        let blob = blob_id(&content);
        let name = self.machines[m].name.clone();
        self.log(format!("{name}: {what} {path} -> {blob}"));
        *self.counts.entry(what).or_default() += 1;
        self.writes.push(Written {
            machine: m,
            path: path.to_owned(),
            content,
            blob,
            added,
            at: Instant::now(),
            what,
        });
        self.last
            .insert((m, path.to_owned()), self.writes.len() - 1);
    }

    /// One random edit of (m, path).
    fn edit(&mut self, m: usize, path: &str) {
        let p = self.path_of(m, path);
        let current = std::fs::read(&p).ok();
        let Some(current) = current else {
            let tag = self.tag(m);
            let lines: Vec<String> = (0..LINES).map(|i| format!("line {i} = {tag}")).collect();
            let content = format!("{}\n", lines.join("\n")).into_bytes();
            self.write(m, path, content, lines, "create");
            return;
        };
        let roll = self.rng.below(100);
        if roll < 10 && deletable(path) {
            let name = self.machines[m].name.clone();
            if std::fs::remove_file(&p).is_ok() {
                self.log(format!("{name}: delete {path}"));
                *self.counts.entry("delete").or_default() += 1;
            }
            return;
        }
        let text = String::from_utf8_lossy(&current).into_owned();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let tag = self.tag(m);
        if roll < 35 || lines.is_empty() {
            let line = format!("appended {tag}");
            lines.push(line.clone());
            let content = format!("{}\n", lines.join("\n")).into_bytes();
            self.write(m, path, content, vec![line], "append");
        } else {
            let i = self.rng.below(lines.len().min(LINES));
            let line = format!("line {i} = {tag}");
            lines[i].clone_from(&line);
            let content = format!("{}\n", lines.join("\n")).into_bytes();
            self.write(m, path, content, vec![line], "modify");
        }
    }

    /// Resolves one of m's conflicts, if it has any: keep local, remote, or an edited result.
    fn resolve(&mut self, m: usize) {
        let t = Instant::now();
        let list = conflicts(&self.machines[m]);
        self.took(t, format!("{}: GET /v1/conflicts", self.machines[m].name));
        if list.is_empty() {
            return;
        }
        let c = &list[self.rng.below(list.len())];
        let path = c["path"].as_str().unwrap().to_owned();
        let config = c["config"].as_str().unwrap().to_owned();
        let name = self.machines[m].name.clone();
        let (keep, content) = match self.rng.below(3) {
            0 => ("local", None),
            1 => ("remote", None),
            _ => {
                let tag = self.tag(m);
                let lines: Vec<String> = (0..LINES)
                    .map(|i| format!("line {i} = {tag} merged"))
                    .collect();
                ("content", Some((format!("{}\n", lines.join("\n")), lines)))
            }
        };
        let mut body = json!({"config": config, "path": path, "keep": keep});
        if let Some((text, _)) = &content {
            body["content"] = json!(text);
        }
        let t = Instant::now();
        let r = self.machines[m].post("/v1/conflicts/resolve", &body);
        self.took(t, format!("{name}: resolve {path} --keep {keep}"));
        // A conflict can settle by itself between the listing and the request.
        if r.status == 404 {
            self.log(format!(
                "{name}: resolve {path} --keep {keep}: gone ({})",
                r.text
            ));
            return;
        }
        assert_eq!(
            r.status, 200,
            "{name}: resolve {path} --keep {keep}: {}",
            r.text
        );
        self.log(format!("{name}: resolve {path} --keep {keep}"));
        *self.counts.entry("resolve").or_default() += 1;
        if let Some((text, added)) = content {
            let blob = blob_id(text.as_bytes());
            self.log(format!("{name}: resolved content of {path} -> {blob}"));
            self.writes.push(Written {
                machine: m,
                path: path.clone(),
                content: text.into_bytes(),
                blob,
                added,
                at: Instant::now(),
                what: "resolution",
            });
            self.last.insert((m, path), self.writes.len() - 1);
        }
    }

    /// Notes how long a request took, to report the slowest.
    fn took(&mut self, since: Instant, what: String) {
        let d = since.elapsed();
        if d > Duration::from_secs(2) {
            self.log(format!("slow: {what} took {d:?}"));
        }
        if d > self.slowest.0 {
            self.slowest = (d, what);
        }
    }

    /// Panics with `msg`, the journal's lines about `paths` and the daemons' log lines about them.
    fn fail(&self, paths: &[&str], msg: &str) -> ! {
        let mut out = format!("{msg}\n\njournal:\n");
        for l in &self.journal {
            if paths.is_empty() || paths.iter().any(|p| l.contains(p)) {
                let _ = writeln!(out, "  {l}");
            }
        }
        for m in &self.machines {
            let _ = write!(out, "\n{}'s daemon log:\n", m.name);
            let log = m.daemon_log();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| {
                    paths.is_empty()
                        || paths.iter().any(|p| l.contains(p))
                        || l.contains("WARN")
                        || l.contains("ERROR")
                })
                .collect();
            for l in lines.iter().rev().take(80).rev() {
                let _ = writeln!(out, "  {l}");
            }
        }
        panic!("{out}");
    }

    /// Confirms syncs the engine stopped because they would delete most of a config's files,
    /// as a person told so would (the test's random deletions can do that).
    fn confirm_mass_deletes(&mut self) {
        for m in 0..self.machines.len() {
            for c in status_configs(&self.machines[m]) {
                if c["last_error_kind"] != "mass_delete" || c["state"] == "syncing" {
                    continue;
                }
                let id = c["id"].as_str().unwrap();
                let t = Instant::now();
                let r = self.machines[m].req(
                    "POST",
                    &format!("/v1/sync/{id}?allow_mass_delete=true"),
                    None,
                );
                assert_eq!(r.status, 200, "{}", r.text);
                let name = self.machines[m].name.clone();
                self.took(t, format!("{name}: sync {} --allow-mass-delete", c["name"]));
                let summary = r.text.lines().last().unwrap_or("").to_owned();
                self.log(format!(
                    "{name}: sync {} --allow-mass-delete: {summary}",
                    c["name"]
                ));
                *self.counts.entry("mass delete confirmed").or_default() += 1;
            }
        }
    }

    /// Whether every daemon is idle on the remote's tip with nothing pending; why not, if not.
    fn settled(&self) -> Result<(), String> {
        let (tip, _) = tip_files(&self.remote);
        for m in &self.machines {
            for c in status_configs(m) {
                let name = format!("{}: {}", m.name, c["name"]);
                let state = c["state"].as_str().unwrap_or("");
                if state != "idle" && state != "conflict" {
                    return Err(format!("{name} is {state}: {c}"));
                }
                if c["pending_changes"] != 0 || c.get("trigger").is_some() {
                    return Err(format!("{name} has work: {c}"));
                }
                if c["commit"].as_str() != Some(tip.as_str()) {
                    return Err(format!("{name} is not on the tip {tip}: {c}"));
                }
            }
        }
        Ok(())
    }

    /// One `POST /v1/sync` on every machine; how many files any of them changed.
    fn sync_round(&self) -> u64 {
        let mut changed = 0;
        for m in &self.machines {
            let r = m.req("POST", "/v1/sync", None);
            assert_eq!(r.status, 200, "{}: sync: {}", m.name, r.text);
            for line in r.text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                if v["type"] != "summary" {
                    continue;
                }
                if v["ok"] != true {
                    self.fail(&[], &format!("{}: the final sync failed: {v}", m.name));
                }
                for k in [
                    "pushed", "pulled", "merged", "deleted", "resolved", "failed",
                ] {
                    changed += v[k].as_u64().unwrap_or(0);
                }
            }
        }
        changed
    }
}

#[test]
fn three_daemons_editing_at_random_converge_and_lose_no_edit() {
    let seed = std::env::var("DOTSYNC_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "the clock's low 64 bits make a seed"
            )]
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            seed
        });
    let secs: u64 = std::env::var("DOTSYNC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let _print_seed = SeedOnFailure(seed);
    eprintln!("soak: seed {seed}, {secs} s of edits");

    let w = World::new();
    let remote = w.bare_remote("dots");
    let mut machines: Vec<Machine> = ["a", "b", "c"].iter().map(|n| w.machine(n)).collect();
    for m in &mut machines {
        for (_, root) in ROOTS {
            std::fs::create_dir_all(m.home.join(root)).unwrap();
        }
        m.start_daemon();
        for cfg in ["dots", "bin"] {
            let paths: Vec<String> = ROOTS
                .iter()
                .filter(|(c, _)| *c == cfg)
                .map(|(_, r)| format!("~/{r}"))
                .collect();
            m.add_config(&json!({"name": cfg, "paths": paths,
                "remote": remote.to_str().unwrap(), "auto": true, "interval_s": 1}));
        }
    }
    let mut s = Soak {
        world_dir: w.path().to_path_buf(),
        machines,
        remote,
        rng: Rng(seed),
        writes: Vec::new(),
        last: HashMap::new(),
        seen: HashSet::new(),
        journal: Vec::new(),
        start: Instant::now(),
        seq: 0,
        counts: BTreeMap::new(),
        slowest: (Duration::ZERO, String::new()),
    };

    // Edits, at random, on all three machines.
    let until = Instant::now() + Duration::from_secs(secs);
    let mut next_confirm = Instant::now();
    while Instant::now() < until {
        if Instant::now() >= next_confirm {
            let t = Instant::now();
            s.confirm_mass_deletes();
            s.took(t, "GET /v1/status on every machine".into());
            next_confirm = Instant::now() + Duration::from_secs(1);
        }
        let m = s.rng.below(3);
        if s.rng.chance(0.1) {
            s.resolve(m);
            continue;
        }
        let path = FILES[s.rng.below(FILES.len())];
        if !s.ready(m, path) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        s.edit(m, path);
        // Now and then the same file on another machine before either has synced.
        if s.rng.chance(0.15) {
            let other = (m + 1 + s.rng.below(2)) % 3;
            if s.ready(other, path) {
                s.edit(other, path);
                *s.counts.entry("same file on two machines").or_default() += 1;
            }
        }
        // The pace of a busy person, not a wait for anything.
        let pause = 20 + s.rng.below(180) as u64;
        std::thread::sleep(Duration::from_millis(pause));
    }
    s.log("quiet".into());
    let edits_done = s.start.elapsed();

    // Quiet: wait until every daemon is idle on the tip, then sync each until nothing moves.
    let deadline = Instant::now() + Duration::from_secs(120 + secs / 4);
    loop {
        match s.settled() {
            Ok(()) => break,
            Err(why) if Instant::now() > deadline => {
                s.fail(&[], &format!("the daemons did not settle: {why}"))
            }
            Err(_) => {
                s.confirm_mass_deletes();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let settle_time = s.start.elapsed().checked_sub(edits_done).unwrap();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let changed = s.sync_round();
        if changed == 0 {
            break;
        }
        if rounds >= 5 {
            s.fail(
                &[],
                &format!("the final syncs still changed {changed} files after 5 rounds"),
            );
        }
    }

    // 1. Convergence, and conflicts that say what is really there.
    let (tip, tip_blobs) = tip_files(&s.remote);
    let mut homes: Vec<BTreeMap<String, Vec<u8>>> = Vec::new();
    let mut conflicted = 0;
    for m in &s.machines {
        let files = home_files(m);
        let list = conflicts(m);
        conflicted += list.len();
        let in_conflict: BTreeSet<String> = list
            .iter()
            .map(|c| c["path"].as_str().unwrap().to_owned())
            .collect();
        for c in &list {
            let path = c["path"].as_str().unwrap();
            let config = c["config"].as_str().unwrap();
            let side = |side: &str| {
                m.get(&format!(
                    "/v1/conflicts/content?config={config}&path={path}&side={side}"
                ))
            };
            let local = side("local");
            if let Some(bytes) = files.get(path) {
                assert_eq!(c["local_exists"], true, "{}: {c}", m.name);
                assert_eq!(local.status, 200, "{}: {path}: {}", m.name, local.text);
                if local.text.as_bytes() != bytes.as_slice() {
                    s.fail(
                        &[path],
                        &format!(
                            "{}: the conflict's local side of {path} is not the file in the home",
                            m.name
                        ),
                    );
                }
            } else {
                assert_eq!(c["local_exists"], false, "{}: {c}", m.name);
                assert_eq!(local.status, 404, "{}: {path}: {}", m.name, local.text);
            }
            if c["remote_commit"].as_str() != Some(tip.as_str()) {
                s.fail(
                    &[path],
                    &format!(
                        "{}: the conflict of {path} is against {}, not the tip {tip} it was last \
                     synced with: {c}",
                        m.name, c["remote_commit"]
                    ),
                );
            }
            let remote_side = side("remote");
            if let Some(blob) = tip_blobs.get(path) {
                assert_eq!(c["remote_exists"], true, "{}: {c}", m.name);
                assert_eq!(remote_side.status, 200, "{}: {}", m.name, remote_side.text);
                assert_eq!(
                    &blob_id(remote_side.text.as_bytes()),
                    blob,
                    "{}: the conflict's remote side of {path} is not the tip's",
                    m.name
                );
            } else {
                assert_eq!(c["remote_exists"], false, "{}: {c}", m.name);
                assert_eq!(remote_side.status, 404, "{}: {}", m.name, remote_side.text);
            }
        }
        for st in status_configs(m) {
            let n = list.iter().filter(|c| c["config"] == st["name"]).count();
            assert_eq!(
                st["conflicts"], n,
                "{}: the status counts other conflicts: {st}",
                m.name
            );
        }
        let paths: BTreeSet<&String> = files.keys().chain(tip_blobs.keys()).collect();
        for path in paths {
            if in_conflict.contains(path) {
                continue;
            }
            let here = files.get(path).map(|b| blob_id(b));
            if here.as_ref() != tip_blobs.get(path) {
                s.fail(
                    &[path],
                    &format!(
                        "{} has {path} as {here:?} but the tip {tip} as {:?}",
                        m.name,
                        tip_blobs.get(path)
                    ),
                );
            }
        }
        homes.push(files);
    }

    // 2. No lost edit: every content written is reachable by blob id, or merged.
    let mut reachable: HashSet<String> = HashSet::new();
    let mut corpus = String::new();
    let remote_objects = git(&s.remote, &["rev-list", "--objects", "--all"]);
    let ids: Vec<&str> = remote_objects
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    reachable.extend(ids.iter().map(std::string::ToString::to_string));
    let batch = git_dir(
        &s.remote,
        &["cat-file", "--batch"],
        Some(format!("{}\n", ids.join("\n")).as_bytes()),
    )
    .unwrap();
    corpus.push_str(&String::from_utf8_lossy(&batch));
    for m in &s.machines {
        for repo in engine_repos(m) {
            let all = git_dir(
                &repo,
                &[
                    "cat-file",
                    "--batch-all-objects",
                    "--batch-check=%(objectname)",
                ],
                None,
            )
            .unwrap();
            reachable.extend(String::from_utf8_lossy(&all).lines().map(str::to_owned));
            let contents =
                git_dir(&repo, &["cat-file", "--batch-all-objects", "--batch"], None).unwrap();
            corpus.push_str(&String::from_utf8_lossy(&contents));
        }
    }
    for files in &homes {
        for bytes in files.values() {
            reachable.insert(blob_id(bytes));
            corpus.push_str(&String::from_utf8_lossy(bytes));
        }
    }
    let mut merged = 0;
    for w in &s.writes {
        if reachable.contains(&w.blob) {
            continue;
        }
        if !w.added.is_empty() && w.added.iter().all(|l| corpus.contains(l.as_str())) {
            merged += 1;
            continue;
        }
        s.fail(
            &[&w.path],
            &format!(
                "lost edit: the {} of {} on {} ({}, written at {:.3}s) is nowhere: not on the \
             remote, in no engine repository, in no home",
                w.what,
                w.path,
                s.machines[w.machine].name,
                w.blob,
                w.at.duration_since(s.start).as_secs_f64()
            ),
        );
    }

    // 2b. No half-written version ever reached the remote: every version of every file in its
    // history is whole lines the test wrote (or a merge of them).
    let mut broken = Vec::new();
    for line in remote_objects.lines() {
        let mut parts = line.splitn(2, ' ');
        let (Some(id), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !FILES.contains(&path) {
            continue;
        }
        let Some(bytes) = git_dir(&s.remote, &["cat-file", "blob", id], None) else {
            continue; // a tree
        };
        let text = String::from_utf8_lossy(&bytes);
        let whole = !text.is_empty()
            && text.ends_with('\n')
            && text.lines().all(|l| {
                (l.starts_with("line ") || l.starts_with("appended ["))
                    && (l.ends_with(']') || l.ends_with("] merged"))
            });
        if !whole {
            broken.push(format!("{path} {id}: {text:?}"));
        }
    }
    if !broken.is_empty() {
        let paths: Vec<&str> = broken
            .iter()
            .map(|b| b.split(' ').next().unwrap())
            .collect();
        s.fail(
            &paths,
            &format!(
                "half-written versions reached the remote:\n  {}",
                broken.join("\n  ")
            ),
        );
    }

    // 3. No temporary file, nothing outside the config roots.
    for m in &s.machines {
        let mut stray = Vec::new();
        let mut stack = vec![m.home.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                let rel = p
                    .strip_prefix(&m.home)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                if rel == ".dotsync" {
                    continue;
                }
                if rel.contains(".dotsync-tmp-") {
                    stray.push(format!("temporary file {rel}"));
                }
                let inside = ROOTS
                    .iter()
                    .any(|(_, r)| rel == *r || rel.starts_with(&format!("{r}/")));
                let above = ROOTS.iter().any(|(_, r)| r.starts_with(&format!("{rel}/")));
                if !inside && !above {
                    stray.push(format!("{rel} outside the config paths"));
                }
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                }
            }
        }
        if !stray.is_empty() {
            s.fail(&[], &format!("{}: {}", m.name, stray.join(", ")));
        }
    }
    // Syncs that trusted the watcher instead of walking (the engine logs each at debug): the
    // checks above covered the no-walk path this many times.
    let mut no_walk = 0;
    for m in &s.machines {
        let log = m.daemon_log();
        if log.contains("panicked") {
            s.fail(&[], &format!("{}'s daemon panicked", m.name));
        }
        no_walk += log.matches("since the last sync: no walk").count();
    }

    eprintln!(
        "soak: seed {seed}: {:.1}s of edits {:?}, {} contents written ({merged} kept only \
         merged into another), settled in {:.1}s, {rounds} final round(s), {conflicted} \
         conflicts open at the end, tip {tip}; {no_walk} syncs without a walk; slowest \
         request {:.1}s ({})",
        edits_done.as_secs_f64(),
        s.counts,
        s.writes.len(),
        settle_time.as_secs_f64(),
        s.slowest.0.as_secs_f64(),
        s.slowest.1,
    );
}
