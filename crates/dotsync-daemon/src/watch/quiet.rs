//! What the watcher vouches for: per config, whether anything may have changed under its paths
//! since a given moment (git's fsmonitor idea), so that a sync of a config nothing touched can
//! reuse the last scan instead of walking the home.
//!
//! Each watched config has a *generation*, a number that changes whenever the watcher sees an
//! event under the config's paths, loses events (an overflow), fails to place or keep a watch,
//! or its configs change. A sync passes the generation it read to the engine
//! ([`dotsync_engine::SyncOptions::unchanged_since`]); the engine keeps its scan under that
//! number and reuses it only for a sync that brings the same number. Generations come from one
//! counter and are never repeated, not even across watcher restarts, so a stale number can
//! only ever mean "walk".
//!
//! Reading a generation is only meaningful once every event that happened before the read has
//! reached the watch loop: [`Quiet::vouch`] first asks the loop for a *barrier* (it creates a
//! cookie file in a directory it watches and waits for that file's own event, which the kernel
//! queues after every earlier one). Anything in doubt — no watcher, a config not watched or
//! not fully watched, a barrier that does not come back in time — answers `None`: walk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::Msg;

/// How long a sync waits for the watcher's barrier before it walks instead.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(2);

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Quiet {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The last generation handed out.
    last: u64,
    /// Config id → (its generation, whether every watch it needs is in place).
    configs: HashMap<String, (u64, bool)>,
    /// The running watch loop, for barriers.
    loop_tx: Option<mpsc::UnboundedSender<Msg>>,
}

impl Inner {
    fn fresh(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
}

impl Quiet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Something may have changed under `id`'s paths.
    pub(crate) fn touch(&self, id: &str) {
        let mut inner = self.lock();
        let g = inner.fresh();
        inner.configs.entry(id.to_owned()).or_insert((g, false)).0 = g;
    }

    /// Something may have changed under every config's paths (events were lost).
    pub(crate) fn touch_all(&self) {
        let mut inner = self.lock();
        let ids: Vec<String> = inner.configs.keys().cloned().collect();
        for id in ids {
            let g = inner.fresh();
            if let Some(e) = inner.configs.get_mut(&id) {
                e.0 = g;
            }
        }
    }

    /// Whether every watch `id` needs is in place. Not being watched whole is a change too:
    /// what happens meanwhile may go unseen, so the generation moves on either way.
    pub(crate) fn set_watched(&self, id: &str, whole: bool) {
        let mut inner = self.lock();
        let was = inner.configs.get(id).map(|e| e.1);
        if was == Some(true) && whole {
            return;
        }
        let g = inner.fresh();
        inner.configs.insert(id.to_owned(), (g, whole));
    }

    /// Drops every config but those in `ids` (no longer watched).
    pub(crate) fn retain(&self, ids: &[&str]) {
        self.lock()
            .configs
            .retain(|id, _| ids.contains(&id.as_str()));
    }

    /// The watch loop started (with the sender for barriers) or stopped (`None`): either way
    /// nothing it saw before counts any more.
    pub(crate) fn reset(&self, loop_tx: Option<mpsc::UnboundedSender<Msg>>) {
        let mut inner = self.lock();
        inner.configs.clear();
        inner.loop_tx = loop_tx;
    }

    /// `id`'s generation as the events seen so far have left it, if it is watched whole.
    pub(crate) fn generation(&self, id: &str) -> Option<u64> {
        match self.lock().configs.get(id) {
            Some(&(g, true)) => Some(g),
            _ => None,
        }
    }

    /// `id`'s generation once every event that happened before this call has been seen (see
    /// the module documentation); `None` when the watcher cannot vouch for `id`.
    pub(crate) async fn vouch(&self, id: &str) -> Option<u64> {
        self.generation(id)?;
        let tx = self.lock().loop_tx.clone()?;
        let (done, seen) = oneshot::channel();
        tx.send(Msg::Barrier(done)).ok()?;
        tokio::time::timeout(BARRIER_TIMEOUT, seen)
            .await
            .ok()?
            .ok()?;
        self.generation(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_holds_until_anything_happens_under_the_config() {
        let q = Quiet::default();
        assert_eq!(q.generation("a"), None, "not watched: nothing vouched for");
        q.set_watched("a", true);
        q.set_watched("b", true);
        let a0 = q.generation("a").expect("watched");
        let b0 = q.generation("b").expect("watched");
        // Placing the same watches again changes nothing.
        q.set_watched("a", true);
        assert_eq!(q.generation("a"), Some(a0));
        // An event under a: a moves on, b does not.
        q.touch("a");
        let a1 = q.generation("a").expect("watched");
        assert_ne!(a1, a0);
        assert_eq!(q.generation("b"), Some(b0));
        // Lost events: everyone moves on.
        q.touch_all();
        let a2 = q.generation("a").expect("watched");
        assert_ne!(a2, a1);
        assert_ne!(q.generation("b"), Some(b0));
        // A watch that could not be placed: nothing vouched for; once it is, a new number,
        // never the one from before the gap.
        q.set_watched("a", false);
        assert_eq!(q.generation("a"), None);
        q.touch("a");
        q.set_watched("a", true);
        let a3 = q.generation("a").expect("watched again");
        assert!(a3 != a2 && a3 != a1 && a3 != a0);
        // A config no longer watched, and a watcher restart, forget everything.
        q.retain(&["a"]);
        assert_eq!(q.generation("b"), None);
        q.reset(None);
        assert_eq!(q.generation("a"), None);
        q.set_watched("a", true);
        let a4 = q.generation("a").expect("watched");
        assert!(a4 > a3, "numbers are never reused across restarts");
    }

    #[tokio::test]
    async fn without_a_watch_loop_to_answer_the_barrier_nothing_is_vouched_for() {
        let q = Quiet::default();
        q.set_watched("a", true);
        assert_eq!(q.vouch("a").await, None, "no loop");
        let (tx, rx) = mpsc::unbounded_channel();
        q.reset(Some(tx));
        q.set_watched("a", true);
        drop(rx);
        assert_eq!(q.vouch("a").await, None, "the loop is gone");
    }
}
