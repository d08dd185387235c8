//! Paths in the home and paths in the repository, and the only mapping between them.
//!
//! A file `~/X` lives at path `X` in the repository. Every path that comes from outside (a config,
//! a request, a remote tree) is checked here before anything touches the filesystem: repository
//! paths never contain `..`, `.git`, empty or absolute components, and home paths never leave the
//! home directory.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0:?} must start with \"~/\" or be an absolute path inside your home directory")]
    NotHomeOrAbsolute(String),
    #[error("{0:?} contains a \"..\" segment; write the path without it")]
    DotDot(String),
    #[error(
        "{path:?} is outside your home directory {home:?}; dotsync only syncs files in the home"
    )]
    OutsideHome { path: String, home: String },
    #[error("{0:?} is the home directory itself; list the files or directories inside it instead")]
    WholeHome(String),
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    #[error("{0:?} is not a valid repository path ({1})")]
    BadRepoPath(String, &'static str),
}

/// Resolves a config path (`~/...` or absolute) against `home` and checks it stays strictly
/// inside it. The result is lexically normal: no `.` or `..` components, no trailing slash.
pub fn resolve_config_path(p: &str, home: &Path) -> Result<PathBuf, PathError> {
    if p.contains('\0') {
        return Err(PathError::Nul(p.to_owned()));
    }
    let joined = if p == "~" {
        home.to_path_buf()
    } else if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        return Err(PathError::NotHomeOrAbsolute(p.to_owned()));
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::DotDot(p.to_owned())),
            Component::Prefix(_) => return Err(PathError::NotHomeOrAbsolute(p.to_owned())),
        }
    }
    if out == home {
        return Err(PathError::WholeHome(p.to_owned()));
    }
    if !out.starts_with(home) {
        return Err(PathError::OutsideHome {
            path: p.to_owned(),
            home: home.display().to_string(),
        });
    }
    Ok(out)
}

/// Whether one of two normal absolute paths contains the other (or they are equal).
pub fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Normalises a path a person typed (`~/.zshrc`, `/home/me/.zshrc`, `.zshrc`) into an absolute
/// path, without requiring it to exist. A bare name (no `/`) is taken relative to the home.
pub fn resolve_query_path(q: &str, home: &Path) -> Result<PathBuf, PathError> {
    if q.starts_with('/') || q.starts_with("~/") || q == "~" {
        resolve_config_path(q, home)
    } else {
        resolve_config_path(&format!("~/{q}"), home)
    }
}

/// A path relative to the repository root, `/`-separated, checked to be safe to join onto a
/// directory: no empty, `.` or `..` components, no `.git` component, no NUL, not absolute.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RepoPath(String);

impl RepoPath {
    pub fn parse(s: &str) -> Result<Self, PathError> {
        let bad = |why| Err(PathError::BadRepoPath(s.to_owned(), why));
        if s.is_empty() {
            return bad("empty");
        }
        if s.contains('\0') {
            return bad("contains NUL");
        }
        if s.starts_with('/') {
            return bad("absolute");
        }
        for c in s.split('/') {
            if c.is_empty() {
                return bad("empty component");
            }
            if c == "." || c == ".." {
                return bad("'.' or '..' component");
            }
            if c.eq_ignore_ascii_case(".git") {
                return bad("'.git' component");
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The file name, the last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// `home/self`, as a path. Safe by construction: `self` has no `..` or absolute parts.
    /// A per-machine variant (`PATH##machine.NAME`) is the file at `PATH`.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(home_part(&self.0))
    }

    /// This machine's variant of a per-machine file: `PATH##machine.NAME`. `None` when the
    /// name cannot be part of a path.
    pub fn for_machine(&self, machine: &str) -> Option<RepoPath> {
        if machine.is_empty() || machine.contains('/') || machine.contains('\0') {
            return None;
        }
        RepoPath::parse(&format!("{}{MACHINE_MARK}{machine}", home_part(&self.0))).ok()
    }

    /// Whether `self` is `prefix` or lies below it.
    pub fn is_within(&self, prefix: &RepoPath) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'/'))
    }
}

/// Looked up by its text: maps keyed by `RepoPath` answer for a `&str` without parsing it
/// again (the order and equality are the inner string's).
impl std::borrow::Borrow<str> for RepoPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RepoPath {
    type Error = PathError;
    fn try_from(s: String) -> Result<Self, PathError> {
        RepoPath::parse(&s)
    }
}

impl From<RepoPath> for String {
    fn from(p: RepoPath) -> String {
        p.0
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute path inside the home together with its repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomePath {
    pub abs: PathBuf,
    pub repo: RepoPath,
}

impl HomePath {
    /// Maps an absolute, lexically normal path strictly inside `home` to its repository path.
    pub fn from_abs(abs: &Path, home: &Path) -> Result<Self, PathError> {
        let rel = abs.strip_prefix(home).map_err(|_| PathError::OutsideHome {
            path: abs.display().to_string(),
            home: home.display().to_string(),
        })?;
        let s = rel
            .to_str()
            .ok_or_else(|| PathError::BadRepoPath(rel.display().to_string(), "not UTF-8"))?;
        Ok(Self {
            abs: abs.to_path_buf(),
            repo: RepoPath::parse(s)?,
        })
    }
}

/// A config's ignore patterns, compiled.
///
/// A pattern without `/` matches a file or directory name anywhere (`*.swp`, `node_modules`);
/// a pattern with `/` matches the whole home-relative path (`.config/nvim/plugin/**`). A leading
/// `~/` is allowed and ignored.
#[derive(Debug, Clone)]
pub struct Ignore {
    names: GlobSet,
    paths: GlobSet,
}

impl Ignore {
    pub fn new(patterns: &[String]) -> Result<Self, globset::Error> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for p in patterns {
            let p = p.strip_prefix("~/").unwrap_or(p);
            let p = p.strip_prefix('/').unwrap_or(p);
            let p = p.strip_suffix('/').unwrap_or(p);
            let glob = GlobBuilder::new(p).literal_separator(true).build()?;
            if p.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        Ok(Self {
            names: names.build()?,
            paths: paths.build()?,
        })
    }

    /// Whether a repository path, or any directory above it, is ignored.
    pub fn is_ignored(&self, path: &str) -> bool {
        if self.paths.is_match(path) {
            return true;
        }
        let mut end = 0;
        for comp in path.split('/') {
            end += comp.len();
            if self.names.is_match(comp) || (end < path.len() && self.paths.is_match(&path[..end]))
            {
                return true;
            }
            end += 1;
        }
        false
    }
}

impl Ignore {
    /// Whether nothing is ignored.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.paths.is_empty()
    }

    /// Like [`is_ignored`](Self::is_ignored) for an entry whose parent directories are already
    /// known not to be ignored (a walk that never descends into an ignored directory): only the
    /// entry's own name and its whole path are matched.
    pub fn is_ignored_entry(&self, path: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        self.names.is_match(name) || self.paths.is_match(path)
    }
}

/// What separates a per-machine file's path from the machine's name in the repository
/// (`.config/monitors.xml##machine.desk`), as yadm's alternates do.
pub const MACHINE_MARK: &str = "##machine.";

/// A repository path's per-machine variant: (the file's path, the machine), if it is one.
pub fn machine_variant(path: &str) -> Option<(&str, &str)> {
    let name_at = path.rfind('/').map_or(0, |i| i + 1);
    // Most names have no `#` at all: a byte search answers them without the string searcher
    // (asked for every file of every sync).
    if !path.as_bytes()[name_at..].contains(&b'#') {
        return None;
    }
    let i = path[name_at..].rfind(MACHINE_MARK)? + name_at;
    let machine = &path[i + MACHINE_MARK.len()..];
    (i > name_at && !machine.is_empty()).then(|| (&path[..i], machine))
}

/// The path in the home a repository path stands for: a per-machine variant's file.
pub fn home_part(path: &str) -> &str {
    machine_variant(path).map_or(path, |(p, _)| p)
}

/// The one answer to "does this config cover this file": a config's paths and ignore patterns
/// compiled once, to test many paths quickly (a sync asks for every base and every remote
/// entry). The engine's sync and watcher filter, the daemon's watcher and the API's lookups all
/// ask it.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The config's roots as repository paths (`.config/nvim`).
    roots: Vec<String>,
    ignore: Ignore,
    home: PathBuf,
}

impl Coverage {
    /// `paths` must be valid config paths (invalid ones cover nothing).
    pub fn new(paths: &[String], ignore: Ignore, home: &Path) -> Self {
        let roots = paths
            .iter()
            .filter_map(|p| resolve_config_path(p, home).ok())
            .filter_map(|abs| HomePath::from_abs(&abs, home).ok())
            .map(|hp| hp.repo.0)
            .collect();
        Self {
            roots,
            ignore,
            home: home.to_path_buf(),
        }
    }

    /// The coverage of a config; fails only on an ignore pattern that does not compile.
    pub fn of(cfg: &crate::SyncConfig, home: &Path) -> Result<Self, globset::Error> {
        Ok(Self::new(&cfg.paths, Ignore::new(&cfg.ignore)?, home))
    }

    /// Whether the config covers the repository path `path` (a per-machine variant: its file).
    pub fn covers(&self, path: &str) -> bool {
        self.covers_home_part(home_part(path))
    }

    /// Whether the config covers `file`, an absolute, lexically normal path in the home, taken
    /// as it is (a name that looks like a per-machine variant is not read as its file: the
    /// home holds files by their own names).
    pub fn covers_file(&self, file: &Path) -> bool {
        HomePath::from_abs(file, &self.home).is_ok_and(|hp| self.covers_home_part(hp.repo.as_str()))
    }

    fn covers_home_part(&self, path: &str) -> bool {
        let inside = self.roots.iter().any(|r| {
            path == r
                || (path.starts_with(r.as_str()) && path.as_bytes().get(r.len()) == Some(&b'/'))
        });
        inside && (self.ignore.is_empty() || !self.ignore.is_ignored(path))
    }

    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "/home/me";

    #[test]
    fn config_paths_resolve_inside_home_only() {
        let home = Path::new(HOME);
        assert_eq!(
            resolve_config_path("~/.config/nvim/", home),
            Ok(PathBuf::from("/home/me/.config/nvim"))
        );
        assert_eq!(
            resolve_config_path("/home/me/./.zshrc", home),
            Ok(PathBuf::from("/home/me/.zshrc"))
        );
        assert!(matches!(
            resolve_config_path("~/a/../../x", home),
            Err(PathError::DotDot(_))
        ));
        assert!(matches!(
            resolve_config_path("/home/meme/.x", home),
            Err(PathError::OutsideHome { .. })
        ));
        assert!(matches!(
            resolve_config_path("~", home),
            Err(PathError::WholeHome(_))
        ));
        assert!(matches!(
            resolve_config_path(".zshrc", home),
            Err(PathError::NotHomeOrAbsolute(_))
        ));
    }

    #[test]
    fn repo_paths_refuse_escapes() {
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "..",
            "a//b",
            ".git/config",
            "x/.GIT/hooks",
            "a/./b",
        ] {
            assert!(RepoPath::parse(bad).is_err(), "{bad:?} must be refused");
        }
        let ok = RepoPath::parse(".config/nvim/init.lua").expect("valid");
        assert_eq!(ok.file_name(), "init.lua");
        assert!(ok.is_within(&RepoPath::parse(".config").expect("valid")));
        assert!(!ok.is_within(&RepoPath::parse(".conf").expect("valid")));
    }

    #[test]
    fn ignore_matches_names_anywhere_and_paths_from_the_home() {
        let ig = Ignore::new(&[
            "*.swp".into(),
            "~/.config/nvim/plugin/**".into(),
            "node_modules".into(),
        ])
        .expect("valid globs");
        assert!(ig.is_ignored(".config/nvim/.init.lua.swp"));
        assert!(ig.is_ignored(".config/nvim/plugin/packer.lua"));
        assert!(ig.is_ignored(".config/app/node_modules/x/y.js"));
        assert!(!ig.is_ignored(".config/nvim/init.lua"));
    }

    #[test]
    fn a_home_file_is_covered_as_its_repository_path_is() {
        let home = Path::new(HOME);
        let ig = Ignore::new(&["*.bak".into(), ".config/nvim/plugin/**".into()]).expect("valid");
        let paths = vec!["~/.config/nvim".to_owned(), "/home/me/.zshrc".to_owned()];
        let cov = Coverage::new(&paths, ig, home);
        for (f, covered) in [
            (".zshrc", true),
            (".zshrc.local", false),
            (".config/nvim/init.lua", true),
            (".config/nvim", true),
            (".config/nvim/a.bak", false),
            (".config/nvimrc", false),
            (".config/nvim/plugin/x.lua", false),
            (".config", false),
            ("x/.zshrc", false),
        ] {
            assert_eq!(cov.covers(f), covered, "{f}");
            assert_eq!(cov.covers_file(&home.join(f)), covered, "{f}");
        }
        assert!(!cov.covers_file(Path::new("/home/me/.config/nvim/.git/config")));
        assert!(!cov.covers_file(Path::new("/home/meme/.zshrc")));
        // A repository entry of a per-machine variant is its file; a home file by that name is
        // just a file of that name.
        assert!(cov.covers(".zshrc##machine.desk"));
        assert!(!cov.covers_file(Path::new("/home/me/.zshrc##machine.desk")));
        assert!(cov.covers_file(Path::new("/home/me/.config/nvim/a##machine.desk")));
    }

    #[test]
    fn covers_files_inside_listed_directories_but_not_ignored_ones() {
        let home = Path::new(HOME);
        let ig = Ignore::new(&["*.bak".into()]).expect("valid");
        let paths = vec!["~/.config/nvim".to_owned(), "~/.zshrc".to_owned()];
        let cov = Coverage::new(&paths, ig, home);
        let covers = |f: &str| cov.covers_file(Path::new(f));
        assert!(covers("/home/me/.zshrc"));
        assert!(covers("/home/me/.config/nvim/init.lua"));
        assert!(!covers("/home/me/.config/nvim/init.lua.bak"));
        assert!(!covers("/home/me/.config/nvimrc"));
        assert!(!covers("/home/me/.zshrc.local"));
    }
}
