//! Watching the files of `auto` configs, so that a save becomes a sync without anyone asking.
//!
//! - Parent directories are watched, not files: editors such as vim save by writing a new file
//!   and renaming it over the old one, which silences a watch on the file itself. A listed
//!   directory is watched recursively (new subdirectories are added as they appear), together
//!   with its parent, so that the directory being removed and created again is noticed. A listed
//!   path that does not exist yet is waited for from its nearest existing ancestor.
//! - A burst of events (a `git pull` into `~/.config/nvim`, an editor's several writes) becomes
//!   one report per config after a quiet period (500 ms by default, at most ten quiet periods
//!   after the first event). The coordinator then drops the paths the engine itself wrote
//!   ([`dotsync_engine::Engine::is_unchanged`]) once any sync of the config has finished.
//! - Lost events (the kernel's queue overflowed) become a rescan of every watched config. When
//!   the kernel's watch limit is reached, the configs concerned are rescanned every `interval_s`
//!   instead, and `GET /v1/status` says so.
//!
//! - Every event under a config's paths, every overflow and every watch that could not be
//!   placed moves the config's generation in [`Quiet`], so that a sync the watcher can vouch
//!   for reuses the last scan instead of walking the home (`quiet.rs`).
//!
//! The debouncing is done here rather than with `notify-debouncer-full`, whose timer thread
//! ticks several times a second even when nothing happens: an idle daemon must not wake up but
//! for its remote checks. The inotify backend blocks until the kernel has something to say, and
//! the loop below sleeps only while a burst is pending.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use dotsync_core::SyncConfig;
use dotsync_core::paths::resolve_config_path;
use dotsync_engine::ChangeScope;
use notify::event::{AccessKind, AccessMode, ModifyKind, RemoveKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::App;
use crate::coordinator::WatchMode;

mod quiet;
pub(crate) use quiet::Quiet;

/// Messages to the watch loop.
pub(crate) enum Msg {
    /// From the kernel, through notify's thread.
    Fs(notify::Result<notify::Event>),
    /// The configs changed; these are the ones to watch now (every config, auto or not).
    Configs(Vec<SyncConfig>),
    /// Answer once every file event that happened before this message is accounted for (see
    /// `quiet.rs`).
    Barrier(oneshot::Sender<()>),
}

/// Handle of the running watch loop.
pub(crate) struct Watcher {
    tx: mpsc::UnboundedSender<Msg>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<Msg> {
        self.tx.clone()
    }

    pub(crate) async fn stop(self) {
        drop(self.tx);
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Options of the watcher.
#[derive(Debug, Clone)]
pub(crate) struct WatchOptions {
    pub debounce: Duration,
    /// At most this many directories are watched; beyond, configs fall back to rescans as if
    /// the kernel's limit had been reached (`DOTSYNC_WATCH_LIMIT`, for machines where dotsync
    /// must leave inotify watches to other programs, and for tests).
    pub limit: Option<usize>,
}

pub(crate) fn start(app: App, opts: WatchOptions, shutdown: watch::Receiver<bool>) -> Watcher {
    let (tx, rx) = mpsc::unbounded_channel();
    let fs_tx = tx.clone();
    let backend = RecommendedWatcher::new(
        move |res: notify::Result<notify::Event>| {
            let _ = fs_tx.send(Msg::Fs(res));
        },
        // The engine never follows symlinks in the home; neither does the watcher.
        notify::Config::default().with_follow_symlinks(false),
    );
    let backend = match backend {
        Ok(w) => {
            app.sync.update_watcher(|s| {
                s.running = true;
                s.error = None;
            });
            Some(w)
        }
        Err(e) => {
            let msg = format!(
                "cannot watch files ({e}); changes are found by rescanning each config every \
                 interval_s instead"
            );
            tracing::warn!("{msg}");
            app.sync.update_watcher(|s| {
                s.running = false;
                s.error = Some(msg);
            });
            None
        }
    };
    // The cookies of barriers: a directory of dotsync's own, watched by the same inotify
    // instance as the home, so a cookie's event comes after every earlier event of the home.
    let mut backend = backend;
    let cookie_dir = app.layout.state_dir().join("watch-cookies");
    let _ = std::fs::remove_dir_all(&cookie_dir);
    let cookie_dir = backend.as_mut().and_then(|b| {
        std::fs::create_dir_all(&cookie_dir).ok()?;
        b.watch(&cookie_dir, RecursiveMode::NonRecursive).ok()?;
        Some(cookie_dir)
    });
    app.quiet.reset(cookie_dir.as_ref().map(|_| tx.clone()));
    let state = State {
        home: app.home.clone(),
        state_root: app.layout.root.clone(),
        app,
        backend,
        opts,
        configs: Vec::new(),
        current: BTreeMap::new(),
        degraded: HashMap::new(),
        pending: HashMap::new(),
        first_at: None,
        last_at: None,
        cookie_dir,
        cookies: HashMap::new(),
        cookie_seq: 0,
        broken: false,
        #[cfg(test)]
        in_the_gap: None,
    };
    let task = tokio::spawn(state.run(rx, shutdown));
    Watcher { tx, task }
}

struct Watched {
    id: String,
    /// The config's paths, resolved: where watches go.
    roots: Vec<PathBuf>,
    /// Which events are about the config's files (the engine's answer, on its `Coverage`).
    scope: ChangeScope,
}

#[derive(Default)]
struct Pending {
    paths: HashSet<PathBuf>,
    /// Renamed away with no rename into a watched place seen: if it was a directory, the files
    /// below it vanished without an event each.
    moved_out: HashSet<PathBuf>,
    /// Listed paths below a directory that appeared, vanished or moved; looked at when the
    /// quiet period ends.
    roots_touched: HashSet<PathBuf>,
    rescan: bool,
}

#[allow(
    clippy::struct_field_names,
    reason = "`state_root` is `DOTSYNC_HOME`, dotsync's state, not this struct's"
)]
struct State {
    app: App,
    home: PathBuf,
    /// `DOTSYNC_HOME`: never a source of changes.
    state_root: PathBuf,
    backend: Option<RecommendedWatcher>,
    opts: WatchOptions,
    configs: Vec<Watched>,
    /// What is watched now: path → (recursive, directories it covers).
    current: BTreeMap<PathBuf, (bool, usize)>,
    /// Configs whose changes are found by rescans, and why.
    degraded: HashMap<String, String>,
    pending: HashMap<String, Pending>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    /// Where barriers' cookie files are created (`None`: no barriers, the watcher vouches for
    /// nothing).
    cookie_dir: Option<PathBuf>,
    /// Cookie files created and not seen yet, with whoever waits for each.
    cookies: HashMap<PathBuf, oneshot::Sender<()>>,
    cookie_seq: u64,
    /// The backend reported an error it did not say the extent of: from now on the watcher
    /// vouches for nothing (every sync walks, as without a watcher).
    broken: bool,
    /// Runs between looking at the disk and placing the watches: a test's way into that gap.
    #[cfg(test)]
    in_the_gap: Option<Box<dyn FnMut() + Send>>,
}

const WATCH_LIMIT_HINT: &str = "the kernel's limit of inotify watches was reached, so dotsync \
    finds this config's changes by rescanning it every interval_s; raise the limit (for example \
    `sudo sysctl fs.inotify.max_user_watches=524288`) and restart the daemon";

impl State {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let deadline = self.deadline();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Fs(Ok(ev))) => off_the_runtime(|| self.on_event(ev)),
                    Some(Msg::Fs(Err(e))) => off_the_runtime(|| self.on_error(e)),
                    Some(Msg::Configs(cfgs)) => off_the_runtime(|| self.set_configs(cfgs)),
                    Some(Msg::Barrier(done)) => off_the_runtime(|| self.barrier(done)),
                    None => break,
                },
                () = sleep_until_opt(deadline) => off_the_runtime(|| self.flush()),
                _ = shutdown.changed() => break,
            }
        }
        self.app.sync.update_watcher(|s| s.running = false);
        self.app.quiet.reset(None);
    }

    /// Creates a cookie file; its event answers `done` (see `quiet.rs`). Without a cookie
    /// directory, or if the file cannot be created, `done` is dropped: no answer, walk.
    fn barrier(&mut self, done: oneshot::Sender<()>) {
        let Some(dir) = &self.cookie_dir else {
            return;
        };
        self.cookie_seq += 1;
        let cookie = dir.join(format!("cookie-{}", self.cookie_seq));
        if std::fs::File::create(&cookie).is_ok() {
            self.cookies.insert(cookie, done);
        }
    }

    /// An event in the cookie directory: answers the barrier whose cookie appeared.
    fn on_cookie(&mut self, ev: &notify::Event) {
        if !matches!(ev.kind, EventKind::Create(_)) {
            return;
        }
        for p in &ev.paths {
            if let Some(done) = self.cookies.remove(p) {
                let _ = done.send(());
                let _ = std::fs::remove_file(p);
            }
        }
    }

    /// Tells [`Quiet`] which configs have every watch they need in place.
    fn report_watched(&self, want: Option<&BTreeMap<PathBuf, (bool, Vec<usize>)>>) {
        for (i, w) in self.configs.iter().enumerate() {
            let whole = !self.broken
                && self.cookie_dir.is_some()
                && !self.degraded.contains_key(&w.id)
                && want.is_some_and(|want| {
                    want.iter()
                        .filter(|(_, (_, owners))| owners.contains(&i))
                        .all(|(p, _)| self.current.contains_key(p))
                });
            self.app.quiet.set_watched(&w.id, whole);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first_at?, self.last_at?);
        let quiet = last + self.opts.debounce;
        let longest = first + self.opts.debounce * 10;
        Some(quiet.min(longest))
    }

    fn set_configs(&mut self, cfgs: Vec<SyncConfig>) {
        let mut watched = Vec::new();
        for cfg in cfgs {
            if !cfg.auto || !cfg.applies_to(self.app.engine.machine()) {
                self.app.sync.set_watch(&cfg.id, WatchMode::Off);
                continue;
            }
            let roots = cfg
                .paths
                .iter()
                .filter_map(|p| resolve_config_path(p, &self.home).ok())
                .collect();
            let scope = match self.app.engine.change_scope(&cfg) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(config = %cfg.name, "ignore patterns do not compile: {e}");
                    continue;
                }
            };
            watched.push(Watched {
                id: cfg.id,
                roots,
                scope,
            });
        }
        let ids: HashSet<&str> = watched.iter().map(|w| w.id.as_str()).collect();
        self.degraded.retain(|id, _| ids.contains(id.as_str()));
        self.pending.retain(|id, _| ids.contains(id.as_str()));
        self.app
            .quiet
            .retain(&ids.iter().copied().collect::<Vec<_>>());
        // A config's paths or ignores may have changed: nothing seen before counts.
        for w in &watched {
            self.app.quiet.touch(&w.id);
        }
        self.configs = watched;
        self.rearm();
    }

    fn touch(&mut self) {
        let now = Instant::now();
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "the watcher's channel hands each event over; it ends here"
    )]
    fn on_event(&mut self, ev: notify::Event) {
        if let Some(dir) = &self.cookie_dir
            && !ev.paths.is_empty()
            && ev.paths.iter().all(|p| p.starts_with(dir))
        {
            self.on_cookie(&ev);
            return;
        }
        if ev.need_rescan() {
            // Every config may have changed unseen; a barrier waiting now may have lost its
            // cookie's event too (it then gets no answer: walk).
            self.app.quiet.touch_all();
            self.cookies.clear();
            tracing::warn!(
                "the kernel dropped file events (its queue overflowed); rescanning every watched \
                 config"
            );
            self.app.sync.update_watcher(|s| {
                s.overflows += 1;
                s.last_overflow = Some(dotsync_state::now_unix());
            });
            for w in &self.configs {
                self.pending.entry(w.id.clone()).or_default().rescan = true;
            }
            self.touch();
            return;
        }
        let structural = matches!(
            ev.kind,
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
        );
        match ev.kind {
            EventKind::Create(_)
            | EventKind::Remove(_)
            | EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            // Opening and reading (the engine's own scan, a shell reading its rc file) change
            // nothing.
            _ => return,
        }
        let mut relevant = false;
        let mut rearm = false;
        for (i, p) in ev.paths.iter().enumerate() {
            if p.starts_with(&self.state_root) {
                continue;
            }
            for w in &self.configs {
                if structural && w.roots.iter().any(|r| r.starts_with(p)) {
                    rearm = true;
                    // A directory above a listed path appeared, vanished or moved: whatever
                    // happened below it before the watches caught up had no events of its own
                    // (`mkdir -p ~/.config/app && cp ...`, `mv ~/.config ~/.config.old`).
                    let below: Vec<&PathBuf> = w
                        .roots
                        .iter()
                        .filter(|r| r.starts_with(p) && *r != p)
                        .collect();
                    if !below.is_empty() {
                        let pend = self.pending.entry(w.id.clone()).or_default();
                        pend.roots_touched.extend(below.into_iter().cloned());
                        relevant = true;
                        self.app.quiet.touch(&w.id);
                    }
                }
                if !w.scope.matters(p) {
                    continue;
                }
                self.app.quiet.touch(&w.id);
                let pend = self.pending.entry(w.id.clone()).or_default();
                pend.paths.insert(p.clone());
                match ev.kind {
                    EventKind::Remove(RemoveKind::Folder) => pend.rescan = true,
                    EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                        pend.moved_out.insert(p.clone());
                    }
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if i == 0 => {
                        pend.moved_out.remove(p);
                    }
                    _ => {}
                }
                relevant = true;
            }
        }
        if rearm {
            self.rearm();
        }
        if relevant {
            self.touch();
        }
    }

    #[allow(
        clippy::needless_pass_by_value,
        reason = "the watcher's channel hands each error over; it ends here"
    )]
    fn on_error(&mut self, e: notify::Error) {
        if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
            // A directory created inside a watched tree could not be watched.
            let mut hit = Vec::new();
            for w in &self.configs {
                let concerned = e.paths.is_empty()
                    || e.paths
                        .iter()
                        .any(|p| w.roots.iter().any(|r| p.starts_with(r)));
                if concerned && !self.degraded.contains_key(&w.id) {
                    hit.push(w.id.clone());
                }
            }
            for id in hit {
                tracing::warn!(config = %id, "{WATCH_LIMIT_HINT}");
                self.app.quiet.set_watched(&id, false);
                self.degraded
                    .insert(id.clone(), WATCH_LIMIT_HINT.to_owned());
                self.app
                    .sync
                    .set_watch(&id, WatchMode::Rescan(WATCH_LIMIT_HINT.to_owned()));
                self.pending.entry(id).or_default().rescan = true;
            }
            self.app
                .sync
                .update_watcher(|s| s.error = Some(WATCH_LIMIT_HINT.to_owned()));
            self.touch();
            return;
        }
        tracing::warn!("file watcher: {e}");
        // A watch below a watched directory may be missing now (a new directory that could
        // not be watched): vouch for nothing any more.
        self.broken = true;
        for w in &self.configs {
            self.app.quiet.set_watched(&w.id, false);
        }
    }

    fn flush(&mut self) {
        self.first_at = None;
        self.last_at = None;
        for (id, mut p) in self.pending.drain() {
            let mut rescan = p.rescan || !p.moved_out.is_empty();
            for root in p.roots_touched.drain() {
                if std::fs::symlink_metadata(&root).is_ok() {
                    // Compared file by file: the engine creating ~/.config for a pulled file
                    // is no reason to sync again.
                    p.paths.insert(root);
                } else {
                    // Gone with its files, which had no events of their own.
                    rescan = true;
                }
            }
            tracing::debug!(
                config = %id,
                paths = p.paths.len(),
                rescan,
                "local changes after the quiet period"
            );
            self.app
                .sync
                .local_changes(&self.app, &id, p.paths.into_iter().collect(), rescan);
        }
    }
}

/// Runs the loop's file-system work (stat calls, directory listings, placing watches) where
/// blocking is allowed, so the API's tasks on the same runtime are never held up by it.
fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

mod place;
#[cfg(test)]
mod tests;
