//! Placing the watches: which directories a config needs watched (its listed directories
//! recursively, their parents, the nearest existing ancestor of what does not exist yet), what
//! that costs in inotify watches, and falling back to rescans when the kernel's limit (or
//! `DOTSYNC_WATCH_LIMIT`) is reached.
//!
//! `count_dirs` walks a tree itself rather than asking the engine's scan: a recursive inotify
//! watch costs one watch per directory, ignored ones included, so it counts exactly those.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher as _};

use super::{State, WATCH_LIMIT_HINT};
use crate::coordinator::WatchMode;

impl State {
    /// The directories that should be watched now, and which configs need each.
    pub(super) fn desired(&self) -> BTreeMap<PathBuf, (bool, Vec<usize>)> {
        let mut want: BTreeMap<PathBuf, (bool, Vec<usize>)> = BTreeMap::new();
        let mut add = |p: PathBuf, recursive: bool, owner: usize| {
            let e = want.entry(p).or_insert((false, Vec::new()));
            e.0 |= recursive;
            e.1.push(owner);
        };
        for (i, w) in self.configs.iter().enumerate() {
            for root in &w.roots {
                match std::fs::symlink_metadata(root) {
                    Ok(m) if m.is_dir() => {
                        add(root.clone(), true, i);
                        if let Some(parent) = root.parent() {
                            add(parent.to_path_buf(), false, i);
                        }
                    }
                    Ok(_) => {
                        if let Some(parent) = root.parent() {
                            add(parent.to_path_buf(), false, i);
                        }
                    }
                    Err(_) => {
                        if let Some(a) = nearest_existing_dir(root, &self.home) {
                            add(a, false, i);
                        }
                    }
                }
            }
        }
        // A directory below a recursively watched one is already watched.
        let recursive: Vec<PathBuf> = want
            .iter()
            .filter(|(_, (r, _))| *r)
            .map(|(p, _)| p.clone())
            .collect();
        let covered: Vec<PathBuf> = want
            .keys()
            .filter(|p| recursive.iter().any(|r| p.starts_with(r) && *p != r))
            .cloned()
            .collect();
        for p in covered {
            if let Some((_, owners)) = want.remove(&p) {
                // Keep the owners on the covering watch, for error attribution.
                if let Some(r) = recursive.iter().find(|r| p.starts_with(r))
                    && let Some(e) = want.get_mut(r)
                {
                    e.1.extend(owners);
                }
            }
        }
        want
    }

    /// Brings the watches in line with the configs and what exists on disk.
    ///
    /// What appears between looking at the disk and placing a watch has no event of its own
    /// (`mkdir -p ~/.config/nvim` creates `nvim` while the watch on `~/.config` is being
    /// added), so the disk is looked at again once the watches are placed, until nothing new
    /// is wanted; the roots of a config whose wanted watches changed meanwhile are scanned.
    pub(super) fn rearm(&mut self) {
        let mut want = self.desired();
        #[cfg(test)]
        if let Some(f) = self.in_the_gap.as_mut() {
            f();
        }
        for _ in 0..16 {
            self.arm(&want);
            let now = self.desired();
            if now == want {
                return;
            }
            for (p, (_, owners)) in &now {
                if want.get(p) == now.get(p) {
                    continue;
                }
                for &o in owners {
                    let Some(w) = self.configs.get(o) else {
                        continue;
                    };
                    let touched: Vec<PathBuf> = w
                        .roots
                        .iter()
                        .filter(|r| r.starts_with(p))
                        .cloned()
                        .collect();
                    if !touched.is_empty() {
                        let id = w.id.clone();
                        self.app.quiet.touch(&id);
                        self.pending
                            .entry(id)
                            .or_default()
                            .roots_touched
                            .extend(touched);
                        self.touch();
                    }
                }
            }
            want = now;
        }
        // The disk kept changing under the watches: whatever was placed, vouch for nothing
        // seen before.
        self.app.quiet.touch_all();
    }

    /// Places and removes watches so that exactly `want` is watched.
    fn arm(&mut self, want: &BTreeMap<PathBuf, (bool, Vec<usize>)>) {
        let Some(backend) = self.backend.as_mut() else {
            for w in &self.configs {
                self.app.sync.set_watch(
                    &w.id,
                    WatchMode::Rescan(
                        "file notifications are not available; dotsync rescans this config \
                         every interval_s"
                            .to_owned(),
                    ),
                );
            }
            self.report_watched(None);
            return;
        };
        let stale: Vec<PathBuf> = self
            .current
            .iter()
            .filter(|(p, (r, _))| want.get(*p).is_none_or(|(wr, _)| wr != r))
            .map(|(p, _)| p.clone())
            .collect();
        for p in stale {
            let _ = backend.unwatch(&p);
            self.current.remove(&p);
        }
        let mut total: usize = self.current.values().map(|(_, n)| n).sum();
        let mut newly_degraded: Vec<(usize, String)> = Vec::new();
        for (p, (recursive, owners)) in want {
            if self.current.contains_key(p) {
                continue;
            }
            let dirs = if *recursive { count_dirs(p) } else { 1 };
            if self.opts.limit.is_some_and(|l| total + dirs > l) {
                for &o in owners {
                    newly_degraded.push((o, WATCH_LIMIT_HINT.to_owned()));
                }
                continue;
            }
            let mode = if *recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match backend.watch(p, mode) {
                Ok(()) => {
                    self.current.insert(p.clone(), (*recursive, dirs));
                    total += dirs;
                }
                Err(e) => match e.kind {
                    notify::ErrorKind::MaxFilesWatch => {
                        for &o in owners {
                            newly_degraded.push((o, WATCH_LIMIT_HINT.to_owned()));
                        }
                        // Part of a recursive tree may be watched; unwatching frees it.
                        let _ = backend.unwatch(p);
                    }
                    // Gone between the look and the watch: the next event re-arms.
                    notify::ErrorKind::PathNotFound => {}
                    _ => {
                        for &o in owners {
                            newly_degraded.push((
                                o,
                                format!(
                                    "{} cannot be watched ({e}); dotsync rescans this config \
                                     every interval_s",
                                    p.display()
                                ),
                            ));
                        }
                    }
                },
            }
        }
        for (o, why) in newly_degraded {
            if let Some(w) = self.configs.get(o)
                && !self.degraded.contains_key(&w.id)
            {
                tracing::warn!(config = %w.id, "{why}");
                self.degraded.insert(w.id.clone(), why);
                // Whatever happened before the fallback took over is found by one rescan now.
                self.pending.entry(w.id.clone()).or_default().rescan = true;
                self.touch();
            }
        }
        for w in &self.configs {
            let mode = match self.degraded.get(&w.id) {
                Some(why) => WatchMode::Rescan(why.clone()),
                None => WatchMode::Watching,
            };
            self.app.sync.set_watch(&w.id, mode);
        }
        self.report_watched(Some(want));
        let n = self.current.values().map(|(_, n)| n).sum();
        let limit_error = (!self.degraded.is_empty()).then(|| WATCH_LIMIT_HINT.to_owned());
        self.app.sync.update_watcher(|s| {
            s.watches = n;
            if limit_error.is_some() {
                s.error = limit_error;
            }
        });
    }
}

/// The closest ancestor of `p` that is an existing directory, not above `home`.
pub(super) fn nearest_existing_dir(p: &Path, home: &Path) -> Option<PathBuf> {
    let mut cur = p.parent();
    while let Some(dir) = cur {
        if !dir.starts_with(home) {
            return None;
        }
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Some(dir.to_path_buf());
        }
        cur = dir.parent();
    }
    None
}

/// Directories in the tree at `p` (itself included), symlinks not followed: what a recursive
/// inotify watch of it costs.
pub(super) fn count_dirs(p: &Path) -> usize {
    let mut n = 1;
    let mut stack = vec![p.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n += 1;
                stack.push(e.path());
            }
        }
    }
    n
}
