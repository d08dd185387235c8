use super::*;

#[test]
fn backoff_doubles_from_the_interval_and_is_capped() {
    assert_eq!(backoff(1, 1), Duration::from_secs(1));
    assert_eq!(backoff(1, 2), Duration::from_secs(2));
    assert_eq!(backoff(1, 4), Duration::from_secs(8));
    assert_eq!(backoff(1, 30), Duration::from_secs(300));
    assert_eq!(backoff(60, 1), Duration::from_secs(30));
    assert_eq!(backoff(60, 5), Duration::from_secs(300));
    assert_eq!(backoff(3600, 10), Duration::from_secs(3600));
    assert_eq!(backoff(0, 0), Duration::from_secs(1));
}

#[test]
fn a_config_the_watcher_saw_nothing_of_is_still_looked_at_whole_now_and_then() {
    let c = Coordinator::default();
    let decide = |ago: Duration| {
        c.lock().entries.insert(
            "cfg".into(),
            Entry {
                watch: WatchMode::Watching,
                last_scan: Instant::now().checked_sub(ago),
                ..Entry::default()
            },
        );
        match c.schedule_decision("cfg") {
            ScheduleDecision::Check => "check",
            ScheduleDecision::Sync(t) => t,
            ScheduleDecision::Skip => "skip",
        }
    };
    assert_eq!(decide(Duration::from_secs(5)), "check");
    assert_eq!(decide(full_scan_every() + Duration::from_secs(1)), "rescan");
}

/// A coordinator on a clock the test moves by hand.
fn on_manual_clock() -> (Coordinator, Arc<Mutex<Instant>>) {
    let t = Arc::new(Mutex::new(Instant::now()));
    let t2 = t.clone();
    let c = Coordinator::with_clock(move || {
        *t2.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    (c, t)
}

fn advance(t: &Mutex<Instant>, by: Duration) {
    let mut g = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *g += by;
}

fn config(interval_s: u64) -> SyncConfig {
    serde_json::from_value(serde_json::json!({
        "id": "cfg", "name": "dots", "paths": ["~/.zshrc"], "ignore": [],
        "remote": "/nowhere.git", "branch": "main", "direction": "both",
        "on_conflict": "keep-both", "auto": true, "interval_s": interval_s, "notify": true,
    }))
    .expect("a config")
}

fn summary(ok: bool, kind: Option<&'static str>) -> SyncSummary {
    SyncSummary {
        config: "dots".into(),
        config_id: "cfg".into(),
        ok,
        error: (!ok).then(|| "it failed".to_owned()),
        error_kind: kind.map(dotsync_api::ErrorKind::from_name),
        ..SyncSummary::default()
    }
}

fn decision(c: &Coordinator) -> &'static str {
    match c.schedule_decision("cfg") {
        ScheduleDecision::Check => "check",
        ScheduleDecision::Sync(t) => t,
        ScheduleDecision::Skip => "skip",
    }
}

/// Runs the job the loop would run now: a queued sync, started and finished with `s`.
fn run_queued(c: &Coordinator, s: &SyncSummary) -> Queued {
    let Job::Run(q) = c.next_job("cfg") else {
        panic!("a queued run")
    };
    c.begin_run("cfg", &q.trigger, Arc::new(AtomicBool::new(false)));
    c.finish_run(&config(1), s);
    q
}

/// [`run_queued`], then the loop ends (nothing else is queued).
fn run_alone(c: &Coordinator, s: &SyncSummary) {
    run_queued(c, s);
    assert!(matches!(c.next_job("cfg"), Job::Done), "the loop ends");
}

#[test]
fn requests_during_a_sync_fold_into_one_follow_up_run() {
    let (c, _) = on_manual_clock();
    assert_eq!(
        c.enqueue("cfg", RunOptions::default(), "watch", None).ok(),
        Some(true),
        "the first request starts the config's loop"
    );
    let Job::Run(q) = c.next_job("cfg") else {
        panic!("a run")
    };
    assert_eq!(q.trigger, "watch");
    c.begin_run("cfg", &q.trigger, Arc::new(AtomicBool::new(false)));
    // Three more requests while it runs: no second loop, one follow-up.
    let (tx1, _rx1) = mpsc::unbounded_channel();
    let (tx2, _rx2) = mpsc::unbounded_channel();
    for (trigger, sub) in [("schedule", None), ("api", Some(tx1)), ("poke", Some(tx2))] {
        assert_eq!(
            c.enqueue("cfg", RunOptions::default(), trigger, sub).ok(),
            Some(false)
        );
    }
    c.finish_run(&config(1), &summary(true, None));
    let q = run_queued(&c, &summary(true, None));
    assert_eq!(q.trigger, "api", "the first caller waiting names the run");
    assert_eq!(
        q.subscribers.len(),
        2,
        "both callers get the follow-up's lines"
    );
    assert!(matches!(c.next_job("cfg"), Job::Done));
    assert_eq!(
        c.enqueue("cfg", RunOptions::default(), "watch", None).ok(),
        Some(true),
        "once the loop ended, the next request starts it again"
    );
}

#[test]
fn a_failed_sync_backs_off_and_is_retried_when_its_time_comes() {
    let (c, t) = on_manual_clock();
    let _ = c.enqueue("cfg", RunOptions::default(), "watch", None);
    run_alone(&c, &summary(false, Some("offline")));
    assert_eq!(
        c.status_of(&config(1), None, None).state,
        SyncState::Offline
    );
    assert_eq!(decision(&c), "skip", "in backoff");
    advance(&t, backoff(1, 1));
    assert_eq!(decision(&c), "retry");
    // It fails again: the wait doubles.
    let _ = c.enqueue("cfg", RunOptions::default(), "retry", None);
    run_alone(&c, &summary(false, Some("offline")));
    advance(&t, backoff(1, 1));
    assert_eq!(decision(&c), "skip", "the second wait is longer");
    advance(&t, backoff(1, 2).checked_sub(backoff(1, 1)).unwrap());
    assert_eq!(decision(&c), "retry");
    // A success clears it all.
    let _ = c.enqueue("cfg", RunOptions::default(), "retry", None);
    run_alone(&c, &summary(true, None));
    let st = c.status_of(&config(1), None, None);
    assert_eq!(
        (st.state, st.failures, st.retry_in_s),
        (SyncState::Idle, 0, None)
    );
    assert_eq!(decision(&c), "check");
    // An error that needs the person is retried slowly, not every second.
    let _ = c.enqueue("cfg", RunOptions::default(), "api", None);
    run_alone(&c, &summary(false, Some("not_found")));
    assert_eq!(c.status_of(&config(1), None, None).state, SyncState::Error);
    advance(&t, Duration::from_secs(299));
    assert_eq!(decision(&c), "skip");
    advance(&t, Duration::from_secs(1));
    assert_eq!(decision(&c), "retry");
}

#[test]
fn a_cancelled_sync_goes_back_to_its_state_and_keeps_the_changes_it_took() {
    let (c, _) = on_manual_clock();
    let p = PathBuf::from("/home/u/.zshrc");
    assert!(c.note_changes("cfg", vec![p.clone()], false));
    let Job::Check { paths, rescan } = c.next_job("cfg") else {
        panic!("a check of the watcher's paths")
    };
    assert_eq!((paths, rescan), (vec![p.clone()], false));
    assert!(
        c.after_check("cfg", vec![p.clone()], false),
        "a real change syncs"
    );
    c.begin_run("cfg", "watch", Arc::new(AtomicBool::new(false)));
    assert_eq!(
        c.status_of(&config(1), None, None).state,
        SyncState::Syncing
    );
    c.finish_run(&config(1), &summary(false, Some("cancelled")));
    let st = c.status_of(&config(1), None, None);
    assert_eq!(st.state, SyncState::Idle, "back to where it was");
    assert_eq!(st.pending_changes, 1, "the change waits for the next sync");
    assert_eq!(st.failures, 0, "a cancel is no failure");
}

#[test]
fn shutting_down_answers_what_is_queued_and_takes_nothing_new() {
    let (c, _) = on_manual_clock();
    let (tx, _rx) = mpsc::unbounded_channel();
    let _ = c.enqueue("cfg", RunOptions::default(), "api", Some(tx));
    c.begin_shutdown();
    let Job::Drain(q) = c.next_job("cfg") else {
        panic!("the queued run is drained, not run")
    };
    assert_eq!(q.subscribers.len(), 1);
    assert!(matches!(c.next_job("cfg"), Job::Done));
    assert!(matches!(
        c.enqueue("cfg", RunOptions::default(), "api", None),
        Err(RequestError::ShuttingDown)
    ));
    assert!(!c.note_changes("cfg", vec![PathBuf::from("/x")], false));
}

#[test]
fn a_file_still_being_written_is_looked_at_again_once_it_settles() {
    let (c, t) = on_manual_clock();
    let _ = c.enqueue("cfg", RunOptions::default(), "watch", None);
    let mut s = summary(true, None);
    s.retry = true;
    // The loop ends: no check spins while the file settles.
    run_alone(&c, &s);
    assert_eq!(decision(&c), "skip", "not before the file can have settled");
    advance(&t, settle().max(Duration::from_millis(200)));
    assert_eq!(decision(&c), "schedule");
}

#[test]
fn a_paused_config_starts_nothing_by_itself_but_runs_when_asked_by_name() {
    let (c, _) = on_manual_clock();
    c.set_paused(crate::pause::Paused {
        all: true,
        ..Default::default()
    });
    assert_eq!(
        c.enqueue("cfg", RunOptions::default(), "watch", None).ok(),
        Some(false)
    );
    assert!(!c.note_changes("cfg", vec![PathBuf::from("/x")], false));
    assert_eq!(decision(&c), "skip");
    assert_eq!(
        c.enqueue("cfg", RunOptions::default(), "api", None).ok(),
        Some(true),
        "a sync asked for by name runs"
    );
}

#[test]
fn a_rescan_asked_for_during_a_backoff_waits_for_it_instead_of_spinning() {
    let (c, t) = on_manual_clock();
    let _ = c.enqueue("cfg", RunOptions::default(), "watch", None);
    run_alone(&c, &summary(false, Some("offline")));
    // The kernel dropped events: the watcher asks for a rescan while the remote is away.
    assert!(c.note_changes("cfg", Vec::new(), true));
    assert!(
        matches!(c.next_job("cfg"), Job::Done),
        "nothing to check before the backoff ends"
    );
    advance(&t, backoff(1, 1));
    assert_eq!(decision(&c), "retry", "the retry takes the rescan along");
}

#[test]
fn the_scheduler_is_not_woken_for_a_retry_that_is_running() {
    let (c, t) = on_manual_clock();
    let _ = c.enqueue("cfg", RunOptions::default(), "watch", None);
    let mut s = summary(true, None);
    s.retry = true;
    run_alone(&c, &s);
    let regular = c.now() + Duration::from_secs(60);
    let due = c.next_due("cfg", regular);
    assert!(due < regular, "the retry is due before the regular check");
    advance(&t, Duration::from_secs(2));
    assert_eq!(decision(&c), "schedule");
    // The retry runs: no time in the past to wake for while it does.
    let _ = c.enqueue("cfg", RunOptions::default(), "schedule", None);
    let Job::Run(q) = c.next_job("cfg") else {
        panic!("a run")
    };
    c.begin_run("cfg", &q.trigger, Arc::new(AtomicBool::new(false)));
    assert_eq!(c.next_due("cfg", regular), regular);
    c.finish_run(&config(1), &summary(true, None));
    assert!(matches!(c.next_job("cfg"), Job::Done));
    assert_eq!(c.next_due("cfg", regular), regular, "nothing left to retry");
}
