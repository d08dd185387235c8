//! The engine test harness: machines (a home, a state store and an engine each) sharing one
//! real bare git remote, in one process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dotsync_core::{ConfigInput, SyncConfig};
use dotsync_engine::{Engine, FileAction, SyncEvent, SyncOptions, SyncSummary};
use dotsync_state::{Layout, Store};

pub struct Machine {
    pub home: PathBuf,
    pub engine: Engine,
    pub store: Arc<Store>,
    pub cfg: SyncConfig,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn bare(dir: &Path) -> PathBuf {
    bare_named(dir, "remote.git")
}

/// An empty bare repository `dir/name` with `main` as its default branch (another remote).
pub fn bare_named(dir: &Path, name: &str) -> PathBuf {
    let r = dir.join(name);
    git(
        dir,
        &["init", "-q", "--bare", "-b", "main", r.to_str().unwrap()],
    );
    r
}

pub fn machine(dir: &Path, name: &str, remote: &Path, cfg_json: serde_json::Value) -> Machine {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let layout = Layout::new(home.join(".dotsync"));
    layout.ensure().unwrap();
    let store = Arc::new(Store::open(&layout.db_path()).unwrap());
    let mut body = cfg_json;
    body["remote"] = serde_json::json!(remote.to_str().unwrap());
    let input: ConfigInput = serde_json::from_value(body).unwrap();
    let cfg = input
        .validate("cfg_00000000000000aa".into(), &home)
        .unwrap();
    store.create_config(&cfg, &home).unwrap();
    let engine = Engine::new(layout, store.clone(), home.clone())
        .unwrap()
        .with_machine(name);
    Machine {
        home,
        engine,
        store,
        cfg,
    }
}

impl Machine {
    pub fn sync_with(
        &self,
        opts: &SyncOptions,
    ) -> (
        Result<SyncSummary, dotsync_engine::SyncError>,
        Vec<SyncEvent>,
    ) {
        let mut events = Vec::new();
        let r = self
            .engine
            .sync(&self.cfg, opts, &mut |e| events.push(e.clone()));
        (r, events)
    }
    pub fn sync(&self) -> (SyncSummary, Vec<SyncEvent>) {
        let (r, ev) = self.sync_with(&SyncOptions::default());
        (
            r.unwrap_or_else(|e| panic!("sync failed: {e}; events: {ev:?}")),
            ev,
        )
    }
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.home.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.home.join(rel)).unwrap()
    }
}

pub fn actions(ev: &[SyncEvent]) -> Vec<(String, FileAction)> {
    ev.iter()
        .filter_map(|e| match e {
            SyncEvent::File { path, action, .. } => Some((path.clone(), *action)),
            _ => None,
        })
        .collect()
}

pub fn two(dir: &Path) -> (Machine, Machine) {
    let remote = bare(dir);
    let cfg =
        serde_json::json!({"name": "dots", "paths": ["~/.zshrc", "~/.config/nvim", "~/.ssh"]});
    (
        machine(dir, "laptop", &remote, cfg.clone()),
        machine(dir, "desktop", &remote, cfg),
    )
}

pub fn remote_dir(dir: &Path) -> PathBuf {
    dir.join("remote.git")
}

pub fn sync_err(m: &Machine, opts: &SyncOptions) -> dotsync_engine::SyncError {
    match m.sync_with(opts).0 {
        Ok(s) => panic!("the sync should have stopped, it did: {s:?}"),
        Err(e) => e,
    }
}

/// Every blob id reachable from the remote's refs.
pub fn remote_blobs(dir: &Path) -> String {
    git(&remote_dir(dir), &["rev-list", "--objects", "--all"])
}

pub fn history_blobs(m: &Machine, path: &str) -> Vec<Option<String>> {
    m.engine
        .history(&m.cfg, path)
        .unwrap()
        .into_iter()
        .map(|h| h.blob)
        .collect()
}

pub fn blob_of(content: &str) -> String {
    let out = Command::new("git")
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(content.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Machine {
    /// The process died and starts again: a new store connection and a new engine on the same
    /// home and state directory (nothing in memory survives).
    pub fn restart(self) -> Machine {
        let name = self.engine.machine().to_owned();
        let Machine { home, cfg, .. } = self;
        let layout = Layout::new(home.join(".dotsync"));
        let store = Arc::new(Store::open(&layout.db_path()).unwrap());
        let engine = Engine::new(layout, store.clone(), home.clone())
            .unwrap()
            .with_machine(&name);
        Machine {
            home,
            engine,
            store,
            cfg,
        }
    }

    /// Every file under the home but dotsync's state, with its bytes.
    pub fn files(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                if rel == ".dotsync" {
                    continue;
                }
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    walk(root, &p, out);
                } else if t.is_symlink() {
                    out.insert(
                        rel,
                        std::fs::read_link(&p)
                            .unwrap()
                            .to_string_lossy()
                            .as_bytes()
                            .to_vec(),
                    );
                } else {
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = std::collections::BTreeMap::new();
        walk(&self.home, &self.home, &mut out);
        out
    }
}
