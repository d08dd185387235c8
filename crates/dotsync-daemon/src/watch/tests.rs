use super::place::{count_dirs, nearest_existing_dir};
use super::*;
use dotsync_core::ConfigInput;
use notify::event::{CreateKind, DataChange, Flag};
use std::path::Path;

fn cfg(id: &str, paths: &[&str], ignore: &[&str]) -> SyncConfig {
    let mut input = ConfigInput::new(
        id,
        "/nowhere.git",
        paths.iter().map(std::string::ToString::to_string).collect(),
    );
    input.ignore = ignore
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    input.into_config_unchecked(id.to_owned())
}

/// A watch loop's state without a kernel watcher, for feeding it events by hand.
fn state(dir: &Path) -> State {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".config/nvim")).expect("mkdir");
    let layout = dotsync_state::Layout::new(home.join(".dotsync"));
    let app = App::open(layout, home.clone()).expect("open");
    State {
        home,
        state_root: app.layout.root.clone(),
        app,
        backend: None,
        opts: WatchOptions {
            debounce: Duration::from_millis(500),
            limit: None,
        },
        configs: Vec::new(),
        current: BTreeMap::new(),
        degraded: HashMap::new(),
        pending: HashMap::new(),
        first_at: None,
        last_at: None,
        cookie_dir: None,
        cookies: HashMap::new(),
        cookie_seq: 0,
        broken: false,
        in_the_gap: None,
    }
}

fn ev(kind: EventKind, paths: &[PathBuf]) -> notify::Event {
    let mut e = notify::Event::new(kind);
    for p in paths {
        e = e.add_path(p.clone());
    }
    e
}

#[tokio::test]
async fn events_are_sorted_to_their_configs_and_noise_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = state(dir.path());
    let h = st.home.clone();
    st.set_configs(vec![
        cfg("zsh", &["~/.zshrc"], &[]),
        cfg("nvim", &["~/.config/nvim"], &["*.swp"]),
    ]);
    let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    st.on_event(ev(modify, &[h.join(".zshrc")]));
    st.on_event(ev(modify, &[h.join(".bash_history")]));
    st.on_event(ev(modify, &[h.join(".config/nvim/.init.lua.swp")]));
    st.on_event(ev(
        EventKind::Access(AccessKind::Open(AccessMode::Any)),
        &[h.join(".config/nvim/init.lua")],
    ));
    st.on_event(ev(modify, &[h.join(".dotsync/state/dotsync.db")]));
    st.on_event(ev(
        EventKind::Create(CreateKind::File),
        &[h.join(".config/nvim/lua/new.lua")],
    ));
    assert_eq!(st.pending["zsh"].paths, HashSet::from([h.join(".zshrc")]));
    assert_eq!(
        st.pending["nvim"].paths,
        HashSet::from([h.join(".config/nvim/lua/new.lua")])
    );
    assert!(st.deadline().is_some(), "a quiet period runs");
    // A rename within the tree is not a move out; a rename away is.
    let from = h.join(".config/nvim/a.lua");
    let to = h.join(".config/nvim/b.lua");
    st.on_event(ev(
        EventKind::Modify(ModifyKind::Name(RenameMode::From)),
        std::slice::from_ref(&from),
    ));
    st.on_event(ev(
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
        &[from.clone(), to],
    ));
    assert!(st.pending["nvim"].moved_out.is_empty());
    st.on_event(ev(
        EventKind::Modify(ModifyKind::Name(RenameMode::From)),
        &[h.join(".config/nvim/lua")],
    ));
    assert!(!st.pending["nvim"].moved_out.is_empty());
    // A directory above a listed one changed: what happened below it had no events, so
    // the listed directory is looked at when the quiet period ends.
    st.on_event(ev(
        EventKind::Remove(notify::event::RemoveKind::Folder),
        &[h.join(".config")],
    ));
    assert_eq!(
        st.pending["nvim"].roots_touched,
        HashSet::from([h.join(".config/nvim")])
    );
    assert!(st.pending["zsh"].roots_touched.is_empty());
}

#[tokio::test]
async fn the_watcher_asks_the_engines_coverage_so_nothing_a_sync_never_syncs_is_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = state(dir.path());
    let h = st.home.clone();
    st.set_configs(vec![cfg("nvim", &["~/.config/nvim"], &["*.swp"])]);
    let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    // The engine's own temporary file of a write, a repository inside the config (never a
    // synced path) and a folder of it removed: none of them is a change of the config.
    st.on_event(ev(
        modify,
        &[h.join(".config/nvim/.init.lua.dotsync-tmp-0123abcd")],
    ));
    st.on_event(ev(modify, &[h.join(".config/nvim/pack/x/.git/index")]));
    st.on_event(ev(
        EventKind::Remove(notify::event::RemoveKind::Folder),
        &[h.join(".config/nvim/pack/x/.git/objects/aa")],
    ));
    assert!(
        !st.pending.contains_key("nvim"),
        "nothing pending, and no rescan: {:?}",
        st.pending.get("nvim").map(|p| (&p.paths, p.rescan))
    );
    st.on_event(ev(modify, &[h.join(".config/nvim/init.lua")]));
    assert_eq!(
        st.pending["nvim"].paths,
        HashSet::from([h.join(".config/nvim/init.lua")])
    );
}

#[tokio::test]
async fn an_overflow_rescans_every_config_and_shows_in_the_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = state(dir.path());
    st.set_configs(vec![
        cfg("zsh", &["~/.zshrc"], &[]),
        cfg("nvim", &["~/.config/nvim"], &[]),
    ]);
    st.on_event(notify::Event::new(EventKind::Other).set_flag(Flag::Rescan));
    assert!(st.pending["zsh"].rescan && st.pending["nvim"].rescan);
    let w = st.app.sync.watcher_status();
    assert_eq!(w.overflows, 1);
    assert!(w.last_overflow.is_some());
}

#[tokio::test]
async fn past_the_watch_limit_a_config_falls_back_to_rescans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = state(dir.path());
    std::fs::create_dir_all(st.home.join(".config/nvim/lua/plugins")).expect("mkdir");
    st.backend = Some(
        RecommendedWatcher::new(
            |_: notify::Result<notify::Event>| {},
            notify::Config::default(),
        )
        .expect("watcher"),
    );
    st.opts.limit = Some(2);
    let nvim = cfg("nvim", &["~/.config/nvim"], &[]);
    st.set_configs(vec![cfg("zsh", &["~/.zshrc"], &[]), nvim.clone()]);
    assert!(st.degraded.contains_key("nvim"));
    assert!(!st.degraded.contains_key("zsh"));
    assert!(st.pending["nvim"].rescan, "one rescan at once");
    let status = st.app.sync.status_of(&nvim, None, None);
    assert_eq!(
        status.watch,
        dotsync_api::WatchState::Off,
        "no daemon: shown as off"
    );
    st.app.sync.set_background(true);
    let status = st.app.sync.status_of(&nvim, None, None);
    assert_eq!(status.watch, dotsync_api::WatchState::Rescan);
    assert!(
        status
            .watch_detail
            .is_some_and(|d| d.contains("max_user_watches"))
    );
}

#[test]
fn the_nearest_existing_directory_stays_in_the_home() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".config")).expect("mkdir");
    assert_eq!(
        nearest_existing_dir(&home.join(".config/nvim/init.lua"), &home),
        Some(home.join(".config"))
    );
    assert_eq!(
        nearest_existing_dir(&home.join(".zshrc"), &home),
        Some(home.clone())
    );
    assert_eq!(nearest_existing_dir(Path::new("/elsewhere/x"), &home), None);
}

#[test]
fn recursive_watches_cost_one_watch_per_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("a/b/c")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("d")).expect("mkdir");
    std::fs::write(dir.path().join("a/file"), "x").expect("write");
    assert_eq!(count_dirs(dir.path()), 5);
}

#[tokio::test]
async fn a_listed_directory_created_while_its_parent_is_being_watched_is_watched_and_scanned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = state(dir.path());
    let h = st.home.clone();
    std::fs::remove_dir_all(h.join(".config")).expect("rm");
    let (tx, _rx) = std::sync::mpsc::channel();
    st.backend = Some(
        RecommendedWatcher::new(
            move |res: notify::Result<notify::Event>| {
                let _ = tx.send(res);
            },
            notify::Config::default(),
        )
        .expect("inotify"),
    );
    st.set_configs(vec![cfg("nvim", &["~/.config/nvim"], &[])]);
    assert!(st.current.contains_key(&h), "waits for it from the home");
    // `mkdir -p ~/.config/nvim && echo > init.lua` while the watcher reacts to `.config`.
    let nvim = h.join(".config/nvim");
    let made = nvim.clone();
    st.in_the_gap = Some(Box::new(move || {
        std::fs::create_dir_all(&made).expect("mkdir");
        std::fs::write(made.join("init.lua"), "x").expect("write");
    }));
    st.rearm();
    st.in_the_gap = None;
    assert_eq!(
        st.current.get(&nvim).map(|(r, _)| *r),
        Some(true),
        "the new directory is watched recursively: {:?}",
        st.current.keys().collect::<Vec<_>>()
    );
    assert!(
        st.pending["nvim"].roots_touched.contains(&nvim),
        "what was written before the watch existed is looked at"
    );
}

#[tokio::test]
async fn the_watcher_vouches_for_a_config_only_until_anything_happens_under_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = state(dir.path());
    let h = st.home.clone();
    st.backend = Some(
        RecommendedWatcher::new(
            |_: notify::Result<notify::Event>| {},
            notify::Config::default(),
        )
        .expect("inotify"),
    );
    // No barrier possible: nothing vouched for.
    st.set_configs(vec![cfg("nvim", &["~/.config/nvim"], &["*.swp"])]);
    assert_eq!(st.app.quiet.generation("nvim"), None);
    let cookies = st.app.layout.state_dir().join("watch-cookies");
    std::fs::create_dir_all(&cookies).expect("mkdir");
    st.cookie_dir = Some(cookies.clone());
    st.set_configs(vec![
        cfg("zsh", &["~/.zshrc"], &[]),
        cfg("nvim", &["~/.config/nvim"], &["*.swp"]),
    ]);
    let g0 = st.app.quiet.generation("nvim").expect("watched whole");
    let z0 = st.app.quiet.generation("zsh").expect("watched whole");
    // Reading, ignored files, another config's files and dotsync's state change nothing.
    let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    st.on_event(ev(
        EventKind::Access(AccessKind::Open(AccessMode::Any)),
        &[h.join(".config/nvim/init.lua")],
    ));
    st.on_event(ev(modify, &[h.join(".config/nvim/.init.lua.swp")]));
    st.on_event(ev(modify, &[h.join(".zshrc")]));
    st.on_event(ev(modify, &[h.join(".dotsync/state/dotsync.db")]));
    assert_eq!(st.app.quiet.generation("nvim"), Some(g0));
    assert_ne!(st.app.quiet.generation("zsh"), Some(z0));
    // A cookie's event answers its barrier and counts as nothing else.
    let (done, mut seen) = tokio::sync::oneshot::channel();
    st.barrier(done);
    let cookie = cookies.join("cookie-1");
    assert!(cookie.exists());
    st.on_event(ev(
        EventKind::Create(CreateKind::File),
        std::slice::from_ref(&cookie),
    ));
    assert_eq!(seen.try_recv(), Ok(()));
    assert!(!cookie.exists(), "the cookie is removed once seen");
    assert_eq!(st.app.quiet.generation("nvim"), Some(g0));
    // An edit under the config moves its generation.
    st.on_event(ev(modify, &[h.join(".config/nvim/init.lua")]));
    let g1 = st.app.quiet.generation("nvim").expect("still watched");
    assert_ne!(g1, g0);
    // An overflow moves every generation, and a barrier waiting then gets no answer (walk).
    let (done, mut seen) = tokio::sync::oneshot::channel();
    st.barrier(done);
    st.on_event(notify::Event::new(EventKind::Other).set_flag(Flag::Rescan));
    assert_ne!(st.app.quiet.generation("nvim"), Some(g1));
    assert!(seen.try_recv().is_err());
    // A directory below that could not be watched (the kernel's limit): nothing vouched for.
    st.on_error(notify::Error::new(notify::ErrorKind::MaxFilesWatch));
    assert_eq!(st.app.quiet.generation("nvim"), None);
}
