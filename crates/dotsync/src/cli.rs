use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use dotsync_api::{Direction, Keep, OnConflict, Side};

/// Keeps your dotfiles identical across your machines, through an ordinary git repository.
#[derive(Parser, Debug)]
#[command(
    name = "dotsync",
    version,
    about,
    propagate_version = true,
    after_help = "A new machine: `dotsync init REMOTE`, then `dotsync add ~/.zshrc ...`.\n\
        Environment: DOTSYNC_HOME (state, ~/.dotsync), DOTSYNC_ADDR (the daemon's address, \
        127.0.0.1:11000), DOTSYNC_MACHINE (this machine's name)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the largest variant (a config's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Set up this machine: check git, create the state, check the remote and, on a machine
    /// joining a remote that has files, show which of yours differ before anything is touched.
    Init(InitArgs),
    /// Sync files or directories: add them to the default config (created with the remote
    /// `dotsync init` checked, named `dotfiles`).
    Add {
        /// Files or directories (`~/.zshrc`, `~/.config/nvim`).
        #[arg(required = true)]
        paths: Vec<String>,
        /// The config to add them to (default: the only config, or `dotfiles`).
        #[arg(long)]
        config: Option<String>,
        /// Show what the first sync would do with them; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop syncing files or directories: remove them from their config. The files stay as
    /// they are here, on the remote and on the other machines.
    Forget {
        /// Paths exactly as the config lists them (`dotsync config show NAME`).
        #[arg(required = true)]
        paths: Vec<String>,
        /// The config to remove them from (default: the one that lists each path).
        #[arg(long)]
        config: Option<String>,
    },
    /// Stop the daemon from syncing by itself: one config, or every config. What changes
    /// meanwhile is kept and synced on `dotsync resume`; `dotsync sync` still syncs on request.
    Pause {
        /// The config's name or id; every config when left out.
        name: Option<String>,
    },
    /// Let the daemon sync by itself again (and sync what changed while paused).
    Resume {
        /// The config's name or id; every config when left out.
        name: Option<String>,
    },
    /// This machine's key for the files configs encrypt (`--encrypt`): create, show, export
    /// to another machine, import.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Run the daemon: the API on 127.0.0.1:11000, syncing by itself.
    Daemon(DaemonArgs),
    /// Create, list, show, edit and remove sync configs.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Show which configs sync a file; exits non-zero when none does.
    Which {
        /// A path (`~/.zshrc`, `/home/me/.zshrc`) or a bare file name.
        path: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List conflicts, or show how the two versions of one differ.
    Conflicts {
        /// A conflicted file: print a unified diff from the other machine's version to this
        /// machine's (coloured on a terminal). Exits non-zero if it is not in conflict.
        path: Option<String>,
        /// Only this config (name or id).
        #[arg(long)]
        config: Option<String>,
        /// Print only one side's raw bytes instead of the diff.
        #[arg(long, requires = "path", value_parser = side_parser())]
        side: Option<Side>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a conflict: keep this machine's version, the other's, or an edited result.
    Resolve {
        /// The conflicted file (`~/.zshrc`).
        path: String,
        /// `local` (this machine's) or `remote` (the other machine's).
        #[arg(long, value_parser = keep_parser(), conflicts_with = "file")]
        keep: Option<Keep>,
        /// A file with the edited result (`-` reads standard input).
        #[arg(long)]
        file: Option<String>,
        /// The config the file belongs to (name or id), when several sync it.
        #[arg(long)]
        config: Option<String>,
    },
    /// List every synced version of a file: time, machine, size.
    Log {
        /// The file (`~/.zshrc`).
        path: String,
        /// The config the file belongs to (name or id), when several sync it.
        #[arg(long)]
        config: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put an old version of a file back; it then syncs like any edit.
    Restore {
        /// The file (`~/.zshrc`).
        path: String,
        /// The version's commit id, from `dotsync log`.
        #[arg(long)]
        rev: String,
        /// The config the file belongs to (name or id), when several sync it.
        #[arg(long)]
        config: Option<String>,
    },
    /// Open the web app in your browser, signed in (the daemon must be running).
    Ui {
        /// Print the one-time sign-in link instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// Sync now: one config by name or id, or every config one after another.
    Sync(SyncArgs),
    /// Show what the daemon and each config are doing (fast enough for a shell prompt).
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon as a user service: systemd on Linux, launchd on macOS.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// List the machines of each remote: name, version, last seen, and whether each can be
    /// poked now.
    Machines {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List a config's files and their state.
    Files {
        /// The config's name or id; may be left out when there is one config.
        config: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `dotsync completions bash > /etc/bash_completion.d/dotsync`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `dotsync man > ~/.local/share/man/man1/dotsync.1`.
    Man {
        /// Write `dotsync.1` and one page per command (`dotsync-init.1`, ...) into this
        /// directory instead.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The git remote your dotfiles go to: URL, user@host:path, or a path to a repository
    /// (create an empty one with `git init --bare -b main PATH`, or on your git host).
    pub remote: Option<String>,
    /// The branch on the remote.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// The default config's name (`dotsync add` adds to it).
    #[arg(long, default_value = "dotfiles")]
    pub name: String,
    /// On a remote that already has files: create the default config with them without
    /// asking (differing files become conflicts at the first sync: both kept).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also install and start the daemon as a user service (`dotsync service install`).
    #[arg(long)]
    pub service: bool,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Address to listen on; loopback only.
    #[arg(long, env = "DOTSYNC_ADDR", default_value = crate::client::DEFAULT_ADDR)]
    pub addr: String,
    /// Quiet period after a file changes before it syncs, in milliseconds: a burst of writes
    /// within it becomes one sync.
    #[arg(long, env = "DOTSYNC_DEBOUNCE_MS", default_value_t = 500)]
    pub debounce_ms: u64,
    /// Watch at most this many directories; configs beyond are rescanned every interval.
    #[arg(long, env = "DOTSYNC_WATCH_LIMIT", hide = true)]
    pub watch_limit: Option<usize>,
    /// How long a connection may take to send a request's headers, and may sit idle between
    /// requests, before it is closed; in milliseconds.
    #[arg(long, env = "DOTSYNC_HEADER_TIMEOUT_MS", hide = true, default_value_t = 30_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// At most this many connections at once (fewer if the open-file limit is low).
    #[arg(long, env = "DOTSYNC_MAX_CONNECTIONS", hide = true, default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_connections: u64,
    /// Tell the other machines of a remote directly (a signed UDP poke) right after a push,
    /// and take their pokes: `on` or `off`.
    #[arg(long, env = "DOTSYNC_NOTIFY", default_value = "on", value_parser = parse_on_off,
        action = clap::ArgAction::Set)]
    pub notify: bool,
    /// Where the listener for pokes binds: `0.0.0.0:PORT` announces this machine's addresses
    /// (a taken port falls back to a free one), a specific IP only that one.
    #[arg(long, env = "DOTSYNC_NOTIFY_ADDR", default_value = "0.0.0.0:11001")]
    pub notify_addr: String,
    /// An MQTT broker that relays pokes, for machines on other networks: `mqtt://HOST[:PORT]`
    /// (or `mqtt://USER:PASSWORD@HOST:PORT`).
    #[arg(long, env = "DOTSYNC_RELAY")]
    pub relay: Option<String>,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{s:?}: use on or off")),
    }
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The config's name or id; all configs when left out.
    pub name: Option<String>,
    /// Show what the sync would do; change nothing (here or on the remote).
    #[arg(long)]
    pub dry_run: bool,
    /// Print the sync's NDJSON stream (one JSON object per line) instead of a report.
    #[arg(long)]
    pub json: bool,
    /// Go on even if the sync would delete most of a config's files.
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// After the remote's branch was moved back: put this machine's files back on the remote.
    #[arg(long, conflicts_with = "take_remote")]
    pub push_local: bool,
    /// After the remote's branch was moved back: take the remote's files (this machine's
    /// versions stay in `dotsync log`).
    #[arg(long)]
    pub take_remote: bool,
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum ServiceCmd {
    /// Write the service definition for this binary, enable it and start it.
    Install,
    /// Stop the service and remove its definition.
    Uninstall,
    /// Tell whether the service is installed and whether the daemon runs.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Create a config: `dotsync config add dots --remote git@host:me/dots.git ~/.zshrc ~/.config/nvim`
    Add {
        /// A short name, such as `dotfiles`.
        name: String,
        /// The git remote: URL, user@host:path, or a path to a repository.
        #[arg(long)]
        remote: String,
        /// Files or directories to sync (`~/...` or absolute, inside your home).
        #[arg(required = true)]
        paths: Vec<String>,
        /// Show what the first sync would do; create nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not contact the remote now (it is checked at the first sync).
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// List configs.
    #[command(alias = "ls")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one config.
    Show {
        /// Name or id.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Change fields of a config; fields not given keep their value.
    Edit {
        /// Name or id.
        name: String,
        /// Rename the config.
        #[arg(long = "name")]
        new_name: Option<String>,
        /// Point the config at another git remote.
        #[arg(long)]
        remote: Option<String>,
        /// Replace the whole path list (repeatable).
        #[arg(long = "path")]
        set_paths: Vec<String>,
        /// Add a path (repeatable).
        #[arg(long)]
        add_path: Vec<String>,
        /// Remove a path (repeatable).
        #[arg(long)]
        rm_path: Vec<String>,
        /// Remove every ignore pattern before adding those given.
        #[arg(long)]
        clear_ignore: bool,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Remove a config. Your files and the remote's history stay as they are.
    #[command(alias = "remove")]
    Rm {
        /// Name or id.
        name: String,
    },
}

#[derive(Args, Debug, Default)]
pub struct FieldArgs {
    /// A glob pattern of files to leave alone (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// The remote branch (a new config: main).
    #[arg(long)]
    pub branch: Option<String>,
    /// Which way changes travel (a new config: both).
    #[arg(long, value_parser = direction_parser())]
    pub direction: Option<Direction>,
    /// What to do when both sides changed the same lines (a new config: keep-both).
    #[arg(long, value_parser = on_conflict_parser())]
    pub on_conflict: Option<OnConflict>,
    /// Whether the daemon syncs this config by itself (a new config: true).
    #[arg(long)]
    pub auto: Option<bool>,
    /// Seconds between checks of the remote (a new config: 60).
    #[arg(long = "interval")]
    pub interval_s: Option<u64>,
    /// Whether the other machines are told at once after a push, direct pokes (a new config:
    /// true).
    #[arg(long)]
    pub notify: Option<bool>,
    /// Whether settings files (JSON, TOML, YAML, INI/gitconfig) whose edits touch the same lines
    /// are merged key by key (a new config: true).
    #[arg(long)]
    pub structured_merge: Option<bool>,
    /// Merge the files GLOB matches by key as FORMAT (json, toml, yaml or ini); repeatable
    /// (`config edit` adds to the config's list, or changes a glob's format).
    #[arg(long = "merge-format", value_name = "GLOB=FORMAT")]
    pub merge_formats: Vec<String>,
    /// The machines this config applies to, comma-separated (`--machines laptop,desk`); a
    /// machine not listed does not sync it. An empty value (`--machines ''`) means every machine.
    #[arg(long, value_name = "NAMES")]
    pub machines: Option<String>,
    /// Store the files GLOB matches encrypted on the remote (age; `dotsync key init` first);
    /// repeatable (`config edit` adds to the config's list).
    #[arg(long = "encrypt", value_name = "GLOB")]
    pub encrypt: Vec<String>,
    /// Keep a version of the files GLOB matches per machine (`PATH##machine.NAME` in the
    /// repository); repeatable (`config edit` adds to the config's list).
    #[arg(long = "per-machine", value_name = "GLOB")]
    pub per_machine: Vec<String>,
    /// Push the files GLOB matches as they are even if they look like they hold a secret (a
    /// private key, a token), which are otherwise held; repeatable (`config edit` adds to the
    /// config's list).
    #[arg(long = "plaintext", value_name = "GLOB")]
    pub plaintext: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Create this machine's key (age X25519, in the state directory, 0600). Configs with
    /// `encrypt` globs then encrypt to it too.
    Init,
    /// Print this machine's public keys.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print this machine's key encrypted with a passphrase, for `dotsync key import` on
    /// another machine.
    Export {
        /// Read the passphrase from the first line of this file instead of asking.
        #[arg(long)]
        passphrase_file: Option<String>,
        /// Write the export to this file instead of standard output.
        #[arg(long, short)]
        output: Option<String>,
    },
    /// Encrypt to another machine's public key too (as `dotsync key show` prints it there).
    /// A key the repository lists is never encrypted to before it is trusted here.
    Trust {
        /// The other machine's public key (`age1...`).
        public_key: String,
    },
    /// Add a key exported on another machine (`-` reads standard input); its encrypted files
    /// then sync here.
    Import {
        file: String,
        /// Read the passphrase from the first line of this file instead of asking.
        #[arg(long)]
        passphrase_file: Option<String>,
    },
}

/// `--direction`: the names of the config's JSON, each with its help.
fn direction_parser() -> impl TypedValueParser<Value = Direction> {
    let help = |d: Direction| match d {
        Direction::Both => "Push this machine's changes and pull the others'",
        Direction::Push => "Only push: this machine's files win; the remote's stay in history",
        Direction::Pull => "Only pull: never push from this machine",
    };
    PossibleValuesParser::new(Direction::ALL.map(|d| PossibleValue::new(d.as_str()).help(help(d))))
        .map(|s| {
            Direction::ALL
                .into_iter()
                .find(|d| d.as_str() == s)
                .unwrap_or_default()
        })
}

/// `--on-conflict`: the names of the config's JSON, each with its help.
fn on_conflict_parser() -> impl TypedValueParser<Value = OnConflict> {
    let help = |c: OnConflict| match c {
        OnConflict::KeepBoth => {
            "Keep this machine's file and the other version, until you resolve it"
        }
        OnConflict::Local => "This machine's version wins (the other stays in history)",
        OnConflict::Remote => "The remote's version wins (this machine's is committed first)",
    };
    PossibleValuesParser::new(OnConflict::ALL.map(|c| PossibleValue::new(c.as_str()).help(help(c))))
        .map(|s| {
            OnConflict::ALL
                .into_iter()
                .find(|c| c.as_str() == s)
                .unwrap_or_default()
        })
}

/// `--side`: local, remote or base.
fn side_parser() -> impl TypedValueParser<Value = Side> {
    PossibleValuesParser::new(["local", "remote", "base"]).map(|s| Side::from_name(&s))
}

/// `--keep`: local or remote (an edited result is `--file`).
fn keep_parser() -> impl TypedValueParser<Value = Keep> {
    PossibleValuesParser::new(["local", "remote"]).map(|s| Keep::from_name(&s))
}
