//! `GET /v1/fs?path=`: a read-only listing of one directory of the home, for the web app's
//! path picker.
//!
//! Only names, kinds and sizes are listed, never contents, and only inside the home: `..` is
//! refused outright and the walk from the home to the directory follows no symlink, so neither a
//! crafted path nor a link planted in the home can list anything outside it.

use std::path::{Component, Path, PathBuf};

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiQuery;

/// At most this many entries are returned for one directory.
pub const MAX_ENTRIES: usize = 5000;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct FsQuery {
    /// `~`, `~/dir`, a path relative to the home, or an absolute path inside it; default `~`.
    pub path: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema, Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
    Other,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FsEntry {
    pub name: String,
    /// The entry as a config path: `~/...`.
    pub path: String,
    pub kind: EntryKind,
    /// Bytes, for files; `null` otherwise.
    pub size: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FsListing {
    /// The listed directory, `~` or `~/...`.
    pub path: String,
    /// Its parent, or `null` for the home itself.
    pub parent: Option<String>,
    /// Directories first, then by name.
    pub entries: Vec<FsEntry>,
    /// Whether entries were left out past [`MAX_ENTRIES`] (or for names that are not UTF-8).
    pub truncated: bool,
}

/// Lists a directory inside the home.
#[utoipa::path(get, path = "/v1/fs", operation_id = "list_dir", tag = "app", params(FsQuery),
    responses((status = 200, body = FsListing), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<FsQuery>,
) -> Result<Json<FsListing>, ApiError> {
    let home = app.home.clone();
    let raw = q.path.unwrap_or_default();
    tokio::task::spawn_blocking(move || list_dir(&home, &raw))
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

/// The components of `raw` below the home, or why it is refused.
fn relative_parts(raw: &str, home: &Path) -> Result<Vec<String>, ApiError> {
    let raw = raw.trim();
    let rel: &str = if raw.is_empty() || raw == "~" {
        ""
    } else if let Some(r) = raw.strip_prefix("~/") {
        r
    } else if raw.starts_with('/') {
        let Some(home_str) = home.to_str() else {
            return Err(ApiError::invalid(
                "path",
                "your home directory's path is not UTF-8; give the path as ~/...",
            ));
        };
        match raw.strip_prefix(home_str) {
            Some("") => "",
            Some(r) if r.starts_with('/') => r,
            _ => {
                return Err(ApiError::invalid(
                    "path",
                    format!("{raw:?} is outside your home directory; only the home can be browsed"),
                ));
            }
        }
    } else if raw.starts_with('~') {
        return Err(ApiError::invalid(
            "path",
            format!("{raw:?}: only your own home (~ or ~/...) can be browsed"),
        ));
    } else {
        raw
    };
    let mut parts = Vec::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s.to_owned()),
                None => return Err(ApiError::invalid("path", "the path is not UTF-8")),
            },
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                return Err(ApiError::invalid(
                    "path",
                    format!("{raw:?} contains \"..\"; give a path inside your home without it"),
                ));
            }
            Component::Prefix(_) => return Err(ApiError::invalid("path", "not a path")),
        }
    }
    Ok(parts)
}

fn display(parts: &[String]) -> String {
    if parts.is_empty() {
        "~".to_owned()
    } else {
        format!("~/{}", parts.join("/"))
    }
}

fn list_dir(home: &Path, raw: &str) -> Result<FsListing, ApiError> {
    let parts = relative_parts(raw, home)?;
    let shown = display(&parts);
    let mut dir: PathBuf = home.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        dir.push(part);
        let meta = match std::fs::symlink_metadata(&dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found(format!("{shown} does not exist")));
            }
            Err(e) => {
                return Err(ApiError::invalid(
                    "path",
                    format!("cannot read {shown}: {e}"),
                ));
            }
        };
        if meta.file_type().is_symlink() {
            return Err(ApiError::invalid(
                "path",
                format!(
                    "{} is a symbolic link; the picker does not follow links, so that nothing \
                     outside your home can be listed",
                    display(&parts[..=i])
                ),
            ));
        }
        if !meta.is_dir() {
            return Err(ApiError::invalid(
                "path",
                format!("{shown} is not a directory"),
            ));
        }
    }
    let read = std::fs::read_dir(&dir)
        .map_err(|e| ApiError::invalid("path", format!("cannot list {shown}: {e}")))?;
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in read {
        let Ok(entry) = entry else {
            truncated = true;
            continue;
        };
        let Ok(name) = entry.file_name().into_string() else {
            truncated = true;
            continue;
        };
        if entries.len() >= MAX_ENTRIES {
            truncated = true;
            break;
        }
        // `DirEntry::metadata` does not follow symlinks.
        let (kind, size) = match entry.metadata() {
            Ok(m) if m.file_type().is_symlink() => (EntryKind::Symlink, None),
            Ok(m) if m.is_dir() => (EntryKind::Dir, None),
            Ok(m) if m.is_file() => (EntryKind::File, Some(m.len())),
            _ => (EntryKind::Other, None),
        };
        let mut child = parts.clone();
        child.push(name.clone());
        entries.push(FsEntry {
            path: display(&child),
            name,
            kind,
            size,
        });
    }
    entries.sort_by(|a, b| {
        (a.kind != EntryKind::Dir, &a.name).cmp(&(b.kind != EntryKind::Dir, &b.name))
    });
    let parent = (!parts.is_empty()).then(|| display(&parts[..parts.len() - 1]));
    Ok(FsListing {
        path: shown,
        parent,
        entries,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_home_only() {
        let home = Path::new("/home/me");
        assert!(relative_parts("", home).unwrap().is_empty());
        assert!(relative_parts("~", home).unwrap().is_empty());
        assert!(relative_parts("/home/me", home).unwrap().is_empty());
        assert_eq!(
            relative_parts("~/.config/nvim", home).unwrap(),
            [".config", "nvim"]
        );
        assert_eq!(
            relative_parts("/home/me/.config", home).unwrap(),
            [".config"]
        );
        assert_eq!(
            relative_parts(".config/./x", home).unwrap(),
            [".config", "x"]
        );
        for bad in [
            "~/..",
            "~/a/../../etc",
            "/etc",
            "/home/meme",
            "~root",
            "../x",
        ] {
            let e = relative_parts(bad, home).unwrap_err();
            assert_eq!(e.field, Some("path"), "{bad}");
        }
    }
}
