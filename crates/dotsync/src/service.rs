//! `dotsync service install|uninstall|status`: run the daemon as a user service.
//!
//! Linux: a systemd user unit, `~/.config/systemd/user/dotsync.service` (under
//! `$XDG_CONFIG_HOME` when set), enabled and started with `systemctl --user`. macOS: a launchd
//! agent, `~/Library/LaunchAgents/dev.dotsync.daemon.plist`, loaded with `launchctl`. Both run
//! this very binary (`dotsync daemon`), and keep `DOTSYNC_HOME` if it is set now. Where the
//! service manager is missing (a container, WSL without systemd) the file is still written and
//! the message says how to run the daemon instead.
//!
//! `DOTSYNC_SYSTEMCTL` / `DOTSYNC_LAUNCHCTL` name the program to run instead of `systemctl` /
//! `launchctl` (unusual installations, and tests).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use dotsync_state::Layout;

use crate::cli::ServiceCmd;
use crate::out::outln;
use crate::quote;

const UNIT: &str = "dotsync.service";
const LABEL: &str = "dev.dotsync.daemon";

pub fn run(cmd: ServiceCmd) -> Result<ExitCode> {
    let home = dotsync_state::home_dir()?;
    let exe = std::env::current_exe()
        .context("cannot find the path of this dotsync binary")?
        .canonicalize()
        .context("cannot resolve the path of this dotsync binary")?;
    let kind = if cfg!(target_os = "macos") {
        Kind::Launchd
    } else {
        Kind::Systemd
    };
    let svc = Service::new(kind, &home, exe);
    match cmd {
        ServiceCmd::Install => svc.install().map(|()| ExitCode::SUCCESS),
        ServiceCmd::Uninstall => svc.uninstall().map(|()| ExitCode::SUCCESS),
        ServiceCmd::Status => svc.status(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Systemd,
    Launchd,
}

struct Service {
    kind: Kind,
    home: PathBuf,
    exe: PathBuf,
    /// The unit or plist file.
    file: PathBuf,
    /// `DOTSYNC_HOME` to pass on, when set.
    dotsync_home: Option<OsString>,
}

impl Service {
    fn new(kind: Kind, home: &Path, exe: PathBuf) -> Self {
        let file = match kind {
            Kind::Systemd => {
                let config = std::env::var_os("XDG_CONFIG_HOME")
                    .filter(|v| !v.is_empty())
                    .map_or_else(|| home.join(".config"), PathBuf::from);
                config.join("systemd/user").join(UNIT)
            }
            Kind::Launchd => home
                .join("Library/LaunchAgents")
                .join(format!("{LABEL}.plist")),
        };
        Self {
            kind,
            home: home.to_path_buf(),
            exe,
            file,
            dotsync_home: std::env::var_os("DOTSYNC_HOME").filter(|v| !v.is_empty()),
        }
    }

    fn definition(&self) -> Result<String> {
        let exe = self
            .exe
            .to_str()
            .context("the path of this dotsync binary is not UTF-8; move it elsewhere")?;
        let dh = match &self.dotsync_home {
            Some(d) => Some(d.to_str().context("DOTSYNC_HOME is not UTF-8")?.to_owned()),
            None => None,
        };
        Ok(match self.kind {
            Kind::Systemd => systemd_unit(exe, dh.as_deref()),
            Kind::Launchd => {
                let log = self.home.join("Library/Logs/dotsync.log");
                launchd_plist(exe, dh.as_deref(), &log.to_string_lossy())
            }
        })
    }

    fn manager(&self) -> Manager {
        let (var, name) = match self.kind {
            Kind::Systemd => ("DOTSYNC_SYSTEMCTL", "systemctl"),
            Kind::Launchd => ("DOTSYNC_LAUNCHCTL", "launchctl"),
        };
        let program = std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| find_in_path(name));
        Manager {
            name,
            program: program.filter(|p| p.is_file()),
        }
    }

    fn install(&self) -> Result<()> {
        let text = self.definition()?;
        let dir = self
            .file
            .parent()
            .context("the service file has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // Written whole, then renamed: a service manager never reads half a file.
        dotsync_state::fs::write_atomic(&self.file, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", self.file.display()))?;
        eprintln!("wrote {}", quote::path(&self.file));
        if let Some(holder) = running_daemon() {
            eprintln!(
                "note: a dotsync daemon already runs (pid {holder}); stop it so that the service's \
                 daemon can take over"
            );
        }
        let m = self.manager();
        let Some(_) = &m.program else {
            eprintln!(
                "{} is not available here, so the service was not started; run `{} daemon` in \
                 a terminal or from your session's startup instead",
                m.name,
                quote::path(&self.exe)
            );
            return Ok(());
        };
        match self.kind {
            Kind::Systemd => {
                m.run(&["--user", "daemon-reload"])?;
                m.run(&["--user", "enable", "--now", UNIT])?;
                eprintln!(
                    "the dotsync service is enabled and running; `dotsync service status` shows \
                     it, `journalctl --user -u dotsync` its log"
                );
            }
            Kind::Launchd => {
                let domain = self.launchd_domain()?;
                // Loading twice fails; a previous definition is unloaded first.
                let _ = m.output(&["bootout", &domain, &self.file.to_string_lossy()]);
                m.run(&["bootstrap", &domain, &self.file.to_string_lossy()])?;
                eprintln!(
                    "the dotsync agent is loaded and running; its log is in \
                     ~/Library/Logs/dotsync.log"
                );
            }
        }
        Ok(())
    }

    fn uninstall(&self) -> Result<()> {
        let m = self.manager();
        if m.program.is_some() {
            // Stopping what is not loaded fails; that is fine here.
            match self.kind {
                Kind::Systemd => {
                    let _ = m.output(&["--user", "disable", "--now", UNIT]);
                }
                Kind::Launchd => {
                    let domain = self.launchd_domain()?;
                    let _ = m.output(&["bootout", &domain, &self.file.to_string_lossy()]);
                }
            }
        }
        match std::fs::remove_file(&self.file) {
            Ok(()) => eprintln!("removed {}", quote::path(&self.file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "the dotsync service is not installed ({} does not exist)",
                    quote::path(&self.file)
                );
                return Ok(());
            }
            Err(e) => bail!("cannot remove {}: {e}", self.file.display()),
        }
        if self.kind == Kind::Systemd && m.program.is_some() {
            let _ = m.output(&["--user", "daemon-reload"]);
        }
        Ok(())
    }

    fn status(&self) -> Result<ExitCode> {
        let installed = self.file.exists();
        outln!(
            "service file: {} ({})",
            quote::path(&self.file),
            if installed {
                "installed"
            } else {
                "not installed"
            }
        )?;
        let m = self.manager();
        match (&m.program, self.kind) {
            (None, _) => outln!("{}: not available on this machine", m.name)?,
            (Some(_), Kind::Systemd) => {
                let active = m
                    .output(&["--user", "is-active", UNIT])
                    .unwrap_or_else(|e| e.to_string());
                let enabled = m
                    .output(&["--user", "is-enabled", UNIT])
                    .unwrap_or_else(|e| e.to_string());
                outln!("systemd: {}, {}", active.trim(), enabled.trim())?;
            }
            (Some(_), Kind::Launchd) => {
                let domain = self.launchd_domain()?;
                let loaded = m.output(&["print", &format!("{domain}/{LABEL}")]).is_ok();
                outln!("launchd: {}", if loaded { "loaded" } else { "not loaded" })?;
            }
        }
        if let Some(pid) = running_daemon() {
            outln!("daemon: running (pid {pid})")?;
            Ok(ExitCode::SUCCESS)
        } else {
            outln!("daemon: not running")?;
            Ok(ExitCode::from(3))
        }
    }

    /// `gui/UID`, the user's launchd domain; the uid is the home directory's owner.
    fn launchd_domain(&self) -> Result<String> {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata(&self.home)
            .with_context(|| format!("cannot read {}", self.home.display()))?
            .uid();
        Ok(format!("gui/{uid}"))
    }
}

struct Manager {
    name: &'static str,
    program: Option<PathBuf>,
}

impl Manager {
    /// Runs it; stdout on success, an error with its stderr otherwise.
    fn output(&self, args: &[&str]) -> Result<String> {
        let program = self
            .program
            .as_ref()
            .with_context(|| format!("{} is not available", self.name))?;
        let out = Command::new(program)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {}", program.display()))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let said = if stderr.trim().is_empty() {
                stdout.trim().to_owned()
            } else {
                stderr.trim().to_owned()
            };
            bail!(
                "`{} {}` failed ({}): {said}",
                self.name,
                args.join(" "),
                out.status
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        self.output(args).map(|_| ()).with_context(|| {
            format!(
                "the service file is written, but {} could not start it; if this session has no \
                 {} (a container, WSL without systemd), run `dotsync daemon` instead",
                self.name, self.name
            )
        })
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The pid of the daemon of this `DOTSYNC_HOME`, if one runs.
fn running_daemon() -> Option<u32> {
    let layout = Layout::from_env().ok()?;
    match layout.try_lock() {
        // Nobody held it: no daemon (the lock is released again at once).
        Ok(_lock) => None,
        Err(dotsync_state::LayoutError::Locked { holder, .. }) => {
            holder.filter(|h| h.addr.is_some()).map(|h| h.pid)
        }
        Err(_) => None,
    }
}

/// Quotes one word of an `ExecStart=` line: double quotes, with `\`, `"`, `%` (specifiers) and
/// `$` (variables) escaped.
fn systemd_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn systemd_unit(exe: &str, dotsync_home: Option<&str>) -> String {
    let env = dotsync_home
        .map(|d| {
            format!(
                "Environment={}\n",
                systemd_quote(&format!("DOTSYNC_HOME={d}"))
            )
        })
        .unwrap_or_default();
    format!(
        "# Written by `dotsync service install`; `dotsync service uninstall` removes it.\n\
         [Unit]\n\
         Description=dotsync: keeps your dotfiles identical across your machines\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} daemon\n\
         {env}\
         Environment=DOTSYNC_LOG=info\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         # SIGTERM lets running syncs reach a safe point before the daemon exits.\n\
         KillSignal=SIGTERM\n\
         TimeoutStopSec=90\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        systemd_quote(exe)
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn launchd_plist(exe: &str, dotsync_home: Option<&str>, log: &str) -> String {
    let mut env = String::from("    <key>DOTSYNC_LOG</key><string>info</string>\n");
    if let Some(d) = dotsync_home {
        let _ = writeln!(
            env,
            "    <key>DOTSYNC_HOME</key><string>{}</string>",
            xml_escape(d)
        );
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by `dotsync service install`; `dotsync service uninstall` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key><string>{LABEL}</string>
  <key>ProgramArguments</key>
  <array><string>{}</string><string>daemon</string></array>
  <key>EnvironmentVariables</key>
  <dict>
{env}  </dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>ExitTimeOut</key><integer>90</integer>
  <key>StandardErrorPath</key><string>{}</string>
</dict>
</plist>
"#,
        xml_escape(exe),
        xml_escape(log)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_this_binary_and_survives_odd_paths() {
        let u = systemd_unit("/opt/my tools/dotsync", Some("/home/me/.dots%1"));
        assert!(
            u.contains("ExecStart=\"/opt/my tools/dotsync\" daemon\n"),
            "{u}"
        );
        assert!(
            u.contains("Environment=\"DOTSYNC_HOME=/home/me/.dots%%1\"\n"),
            "{u}"
        );
        assert!(u.contains("WantedBy=default.target"));
        assert_eq!(systemd_quote(r#"a"b\c$d"#), r#""a\"b\\c$$d""#);
    }

    #[test]
    fn the_plist_is_escaped() {
        let p = launchd_plist(
            "/Apps/a&b/dotsync",
            None,
            "/Users/me/Library/Logs/dotsync.log",
        );
        assert!(p.contains("<string>/Apps/a&amp;b/dotsync</string><string>daemon</string>"));
        assert!(p.contains("<key>Label</key><string>dev.dotsync.daemon</string>"));
        assert!(!p.contains("DOTSYNC_HOME"));
    }
}
