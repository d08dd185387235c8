//! "Start at login": an XDG autostart entry on Linux and other free desktops
//! (`$XDG_CONFIG_HOME/autostart/dotsync.desktop`), a login item (a launch agent) on macOS. The
//! app starts there with `--hidden`: in the tray, without opening its window.

use std::path::{Path, PathBuf};

/// Where the entry lives, from the environment (`HOME`, `XDG_CONFIG_HOME`).
pub fn entry_path(home: &Path, xdg_config_home: Option<&Path>) -> PathBuf {
    if cfg!(target_os = "macos") {
        home.join("Library/LaunchAgents/dev.dotsync.desktop.plist")
    } else {
        let base = xdg_config_home
            .filter(|p| p.is_absolute())
            .map_or_else(|| home.join(".config"), Path::to_path_buf);
        base.join("autostart/dotsync.desktop")
    }
}

/// The entry's text for the app at `exe`.
pub fn entry_text(exe: &Path) -> String {
    let exe = exe.display().to_string();
    if cfg!(target_os = "macos") {
        let esc = exe
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
             \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\"><dict>\n\
             <key>Label</key><string>dev.dotsync.desktop</string>\n\
             <key>ProgramArguments</key><array><string>{esc}</string><string>--hidden</string></array>\n\
             <key>RunAtLoad</key><true/>\n\
             </dict></plist>\n"
        )
    } else {
        // Desktop entry Exec quoting: the path in double quotes, with \ " ` $ escaped.
        let mut q = String::new();
        for c in exe.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        format!(
            "[Desktop Entry]\n\
             Type=Application\n\
             Name=dotsync\n\
             Comment=Keeps your dotfiles the same on all your machines\n\
             Exec=\"{q}\" --hidden\n\
             Icon=dotsync-desktop\n\
             Terminal=false\n\
             X-GNOME-Autostart-enabled=true\n"
        )
    }
}

/// Adds or removes the entry. Removing an entry that is not there is fine.
pub fn set(entry: &Path, exe: &Path, on: bool) -> std::io::Result<()> {
    if on {
        if let Some(dir) = entry.parent() {
            std::fs::create_dir_all(dir)?;
        }
        dotsync_state::fs::write_atomic(entry, entry_text(exe).as_bytes(), 0o644)
    } else {
        match std::fs::remove_file(entry) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Whether the entry is there.
pub fn is_set(entry: &Path) -> bool {
    entry.is_file()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[cfg(not(target_os = "macos"))]
    #[test]
    fn the_entry_follows_xdg_config_home_and_quotes_the_path() {
        let home = Path::new("/home/ada");
        assert_eq!(
            entry_path(home, None),
            Path::new("/home/ada/.config/autostart/dotsync.desktop")
        );
        assert_eq!(
            entry_path(home, Some(Path::new("/x/conf"))),
            Path::new("/x/conf/autostart/dotsync.desktop")
        );
        assert_eq!(
            entry_path(home, Some(Path::new("relative"))),
            Path::new("/home/ada/.config/autostart/dotsync.desktop"),
            "a relative XDG_CONFIG_HOME is ignored, as the spec says"
        );
        let text = entry_text(Path::new("/opt/my apps/dotsync-desktop"));
        assert!(
            text.contains("Exec=\"/opt/my apps/dotsync-desktop\" --hidden\n"),
            "{text}"
        );
        assert!(entry_text(Path::new("/a$b")).contains("Exec=\"/a\\$b\""));
    }

    #[test]
    fn set_adds_and_removes_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let entry = entry_path(dir.path(), None);
        set(&entry, Path::new("/usr/bin/dotsync-desktop"), true).unwrap();
        assert!(is_set(&entry));
        assert!(
            std::fs::read_to_string(&entry)
                .unwrap()
                .contains("/usr/bin/dotsync-desktop")
        );
        set(&entry, Path::new("/usr/bin/dotsync-desktop"), false).unwrap();
        assert!(!is_set(&entry));
        set(&entry, Path::new("/usr/bin/dotsync-desktop"), false).unwrap();
    }
}
