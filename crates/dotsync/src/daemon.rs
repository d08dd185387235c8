//! `dotsync daemon`.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use dotsync_state::Layout;

use crate::cli::DaemonArgs;

pub fn run(args: &DaemonArgs) -> Result<()> {
    init_logging();
    let addr: SocketAddr = resolve_addr(&args.addr)?;
    dotsync_daemon::check_loopback(&addr)?;
    let layout = Layout::from_env()?;
    let mut lock = take_lock(&layout)?;
    let home = dotsync_state::home_dir()?;
    let app = dotsync_daemon::App::open(layout, home)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(source) => {
                let in_use = source.kind() == std::io::ErrorKind::AddrInUse;
                let err = anyhow::Error::from(dotsync_daemon::StartError::Bind {
                    addr: addr.to_string(),
                    source,
                });
                return Err(if in_use {
                    err.context(format!(
                        "another program listens on {addr}; choose another address with \
                         `dotsync daemon --addr 127.0.0.1:PORT` or DOTSYNC_ADDR=127.0.0.1:PORT \
                         (the CLI finds the daemon by itself)"
                    ))
                } else {
                    err
                });
            }
        };
        let local = listener.local_addr()?;
        lock.set_addr(&local.to_string())?;
        tracing::info!(
            "dotsync {} listening on http://{local} (state in {})",
            env!("CARGO_PKG_VERSION"),
            app.layout.state_dir().display()
        );
        let opts = dotsync_daemon::ServeOptions {
            debounce: std::time::Duration::from_millis(args.debounce_ms),
            watch_limit: args.watch_limit,
            header_read_timeout: std::time::Duration::from_millis(args.header_timeout_ms),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            notify: dotsync_daemon::NotifyOptions {
                direct: args.notify,
                addr: args.notify_addr.clone(),
                relay: args.relay.clone(),
            },
            ..Default::default()
        };
        dotsync_daemon::serve_with(app, listener, shutdown_signal(), opts).await?;
        Ok(())
    });
    // Dropping the runtime waits for blocking work still running (a sync that outlived the
    // grace period); only then may another process take the state, so two syncs never share a
    // home or a repository.
    drop(rt);
    drop(lock);
    tracing::info!("dotsync stopped");
    result
}

fn resolve_addr(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    // `localhost:PORT` is accepted and means the IPv4 loopback.
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .with_context(|| format!("{s:?} has no valid port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    anyhow::bail!("{s:?} is not an address such as 127.0.0.1:11000")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("DOTSYNC_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .try_init();
}

/// Takes the state lock. When the process that wrote the lock file is gone but the lock is
/// still held, a child it started (a git that inherited nothing should, but the kernel may
/// still be closing its files) is about to let go: wait a moment for it instead of refusing.
fn take_lock(layout: &Layout) -> Result<dotsync_state::StateLock> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match layout.try_lock() {
            Ok(lock) => return Ok(lock),
            Err(dotsync_state::LayoutError::Locked {
                holder: Some(h), ..
            }) if !process_alive(h.pid) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether a process with this id exists (signal 0 checks without sending anything).
#[allow(unsafe_code)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only reports whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
