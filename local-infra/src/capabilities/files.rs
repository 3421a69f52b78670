//! Component `files`, as Spin 4.0.2's loader and `spin up` provide them.
//!
//! Spin resolves every entry once, when the app loads, and copies what it matched into a
//! directory of the component's own, which each instance gets read-only at `/`; so do we:
//! the globs are walked once, an instance only opens one directory. Spin's rules kept:
//!
//! - a string is a glob relative to the manifest's directory; each matching file appears at
//!   the same relative path under `/`. A string naming an existing file mounts that file; one
//!   naming an existing directory mounts its files under `/<dir>/<dir>/…`, since Spin joins the
//!   name twice (an app that runs here must see what it sees on Spin);
//! - `{ source, destination }`: a directory's files appear under `destination`, a file at it;
//! - `exclude_files` are globs against the path relative to the manifest's directory, matched
//!   with the `glob` crate's defaults (`*` also crosses `/`), and apply to what a glob or a
//!   directory matched, never to a file named by itself;
//! - a glob matching nothing gives an empty mount; a missing literal path, a missing source, a
//!   file copied to a directory-like destination refuse the app, in Spin's words.
//!
//! Stricter than Spin, on purpose: a destination must be absolute and free of `..` (Spin's
//! schema says "must be absolute" but strips the `/` and joins `..` as it comes), and a matched
//! file whose real path, symbolic links resolved, lies outside the manifest's directory refuses
//! the app. Spin copies a link's target wherever it points; here a link could otherwise hand a
//! guest any file the runtime can read. The copies are plain files, so nothing a guest reaches
//! links anywhere, and WASI preopens confine `..` and absolute paths to the copy.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::manifest::FilesMount;

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot resolve the application directory {}: {source}", dir.display())]
    AppDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{0:?} does not exist and doesn't appear to be a glob pattern")]
    PatternNotFound(String),
    #[error("File or directory {0:?} does not exist")]
    SourceNotFound(String),
    #[error(
        "{0} cannot be mapped because it is outside the application directory. Files must be within the application directory."
    )]
    Outside(String),
    #[error(
        "{shown} is a symbolic link to {}, which is outside the application directory. Files must be within the application directory.",
        target.display()
    )]
    LinkOutside { shown: String, target: PathBuf },
    #[error("{0:?} is not a valid destination file name")]
    BadDestination(String),
    #[error("Failed to resolve glob pattern {pattern:?}: {message}")]
    Glob { pattern: String, message: String },
    #[error("Invalid exclude_files glob pattern {pattern:?}: {message}")]
    Exclude { pattern: String, message: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FilesError {
    let path = path.to_owned();
    move |source| FilesError::Io { what, path, source }
}

/// What can be told of an entry without the file system, checked when the manifest is read.
pub fn validate_mount(mount: &FilesMount) -> Result<(), String> {
    match mount {
        FilesMount::Pattern(pattern) => {
            // Spin's own refusals, word for word.
            if pattern == ".." || pattern.ends_with("/..") {
                return Err("A file pattern can't end in a parent directory path (..)\nIf you want to include a directory, use source-destination form, or a glob pattern ending in **/*.\nLearn more: https://spinframework.dev/writing-apps#including-files-with-components".into());
            }
            if pattern == "." || pattern.ends_with("/.") {
                return Err("A file pattern can't end in a current directory path (.)\nIf you want to include a directory, use source-destination form, or a glob pattern ending in **/*.\nLearn more: https://spinframework.dev/writing-apps#including-files-with-components".into());
            }
            Ok(())
        }
        FilesMount::Placement {
            source,
            destination,
        } => {
            if source.is_empty() {
                return Err("files: `source` must not be empty".into());
            }
            if !destination.starts_with('/') {
                return Err(format!(
                    "files: destination `{destination}` must be an absolute path"
                ));
            }
            if Path::new(destination)
                .components()
                .any(|c| c == Component::ParentDir)
            {
                return Err(format!(
                    "files: destination `{destination}` must not contain `..`"
                ));
            }
            Ok(())
        }
    }
}

pub fn validate_exclude(pattern: &str) -> Result<(), String> {
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("Invalid exclude_files glob pattern {pattern:?}: {e}"))
}

/// A component's files, copied when the app loaded; every instance sees them read-only at `/`.
#[derive(Debug)]
pub struct ComponentFiles {
    dir: PathBuf,
}

impl ComponentFiles {
    pub(crate) fn preopen(&self, wasi: &mut WasiCtxBuilder, component_id: &str) {
        // Only a directory removed under the running app fails here; the instance then runs
        // with no files, as a guest would see a missing file, and the log says why.
        if let Err(e) = wasi.preopened_dir(&self.dir, "/", FsPerms::ReadOnly) {
            tracing::error!(
                component = component_id,
                dir = %self.dir.display(),
                "cannot open the component's files: {e}"
            );
        }
    }
}

/// Where the components' copies live while the app runs: a private temporary directory,
/// removed with the app.
pub struct FilesStore {
    dir: tempfile::TempDir,
}

impl FilesStore {
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("wasmshop-spin-files-")
            .tempdir()?;
        Ok(Self { dir })
    }

    /// Resolves `files` against `app_dir` and copies the result into the component's own
    /// directory. `None` for a component without files: like Spin, it gets no file system.
    pub fn prepare(
        &self,
        component_id: &str,
        app_dir: &Path,
        files: &[FilesMount],
        exclude_files: &[String],
    ) -> Result<Option<ComponentFiles>, FilesError> {
        if files.is_empty() {
            return Ok(None);
        }
        let copies = resolve(app_dir, files, exclude_files)?;
        let dir = self.dir.path().join(component_id);
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        for (dest, src) in &copies {
            let target = dir.join(dest);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
            }
            std::fs::copy(src, &target).map_err(io("cannot copy to", &target))?;
        }
        Ok(Some(ComponentFiles { dir }))
    }
}

/// Guest path (relative to `/`) → the real host file to copy there. A later entry that maps
/// the same guest path wins, so the result does not depend on the order of a directory walk.
type Copies = BTreeMap<PathBuf, PathBuf>;

fn resolve(
    app_dir: &Path,
    files: &[FilesMount],
    exclude_files: &[String],
) -> Result<Copies, FilesError> {
    let root = app_dir
        .canonicalize()
        .map_err(|source| FilesError::AppDir {
            dir: app_dir.to_owned(),
            source,
        })?;
    let excludes = exclude_files
        .iter()
        .map(|pattern| {
            glob::Pattern::new(pattern).map_err(|e| FilesError::Exclude {
                pattern: pattern.clone(),
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let resolver = Resolver { root, excludes };
    let mut copies = Copies::new();
    for mount in files {
        match mount {
            FilesMount::Pattern(pattern) => resolver.pattern(pattern, &mut copies)?,
            FilesMount::Placement {
                source,
                destination,
            } => resolver.placement(source, destination, &mut copies)?,
        }
    }
    Ok(copies)
}

struct Resolver {
    /// The manifest's directory, symbolic links resolved.
    root: PathBuf,
    excludes: Vec<glob::Pattern>,
}

impl Resolver {
    fn pattern(&self, pattern: &str, copies: &mut Copies) -> Result<(), FilesError> {
        if pattern == "*" || pattern == "**/*" {
            tracing::warn!(
                "a component includes the entire application directory as asset files (`{pattern}`); use `./{pattern}` if that is what you want"
            );
        }
        let path = self.root.join(pattern);
        if path.is_dir() {
            let dest = lexical(Path::new(pattern))
                .ok_or_else(|| FilesError::Outside(pattern.to_owned()))?;
            self.glob(&glob_under(&path, "**/*"), &self.root, &dest, copies)
        } else if path.exists() {
            let dest = lexical(Path::new(pattern))
                .ok_or_else(|| FilesError::Outside(pattern.to_owned()))?;
            let real = self.inside(&path, pattern)?;
            copies.insert(dest, real);
            Ok(())
        } else if glob::Pattern::escape(pattern) != pattern {
            let full = if Path::new(pattern).is_absolute() {
                pattern.to_owned()
            } else {
                glob_under(&self.root, pattern)
            };
            self.glob(&full, &self.root, Path::new(""), copies)
        } else {
            Err(FilesError::PatternNotFound(pattern.to_owned()))
        }
    }

    fn placement(
        &self,
        source: &str,
        destination: &str,
        copies: &mut Copies,
    ) -> Result<(), FilesError> {
        let path = self.root.join(source);
        let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FilesError::SourceNotFound(source.to_owned()),
            _ => FilesError::Io {
                what: "invalid file mount source",
                path: path.clone(),
                source: e,
            },
        })?;
        let dest = lexical(Path::new(destination.trim_start_matches('/')))
            .ok_or_else(|| FilesError::Outside(destination.to_owned()))?;
        if meta.is_dir() {
            self.glob(&glob_under(&path, "**/*"), &path, &dest, copies)
        } else {
            let directory_like = destination.ends_with('/') || destination.ends_with('.');
            if directory_like || dest.as_os_str().is_empty() {
                return Err(FilesError::BadDestination(destination.to_owned()));
            }
            let real = self.inside(&path, source)?;
            copies.insert(dest, real);
            Ok(())
        }
    }

    /// Every file `pattern` matches, less the excluded ones, at `dest` joined with its path
    /// relative to `prefix`.
    fn glob(
        &self,
        pattern: &str,
        prefix: &Path,
        dest: &Path,
        copies: &mut Copies,
    ) -> Result<(), FilesError> {
        let glob_error = |message: String| FilesError::Glob {
            pattern: pattern.to_owned(),
            message,
        };
        for entry in glob::glob(pattern).map_err(|e| glob_error(e.to_string()))? {
            let path = entry.map_err(|e| glob_error(e.to_string()))?;
            // Directories are walked by the glob itself; a dangling link is skipped, as Spin.
            if !path.is_file() {
                continue;
            }
            let Ok(from_root) = path.strip_prefix(&self.root) else {
                return Err(FilesError::Outside(pattern.to_owned()));
            };
            if self.excludes.iter().any(|p| p.matches_path(from_root)) {
                continue;
            }
            let relative = path
                .strip_prefix(prefix)
                .map_err(|_| FilesError::Outside(pattern.to_owned()))?;
            let guest = lexical(&dest.join(relative))
                .ok_or_else(|| FilesError::Outside(pattern.to_owned()))?;
            let real = self.inside(&path, &from_root.display().to_string())?;
            copies.insert(guest, real);
        }
        Ok(())
    }

    /// The real path of `path`, which must lie inside the app's directory.
    fn inside(&self, path: &Path, shown: &str) -> Result<PathBuf, FilesError> {
        let real = path.canonicalize().map_err(io("cannot resolve", path))?;
        if real.starts_with(&self.root) {
            return Ok(real);
        }
        let is_link = path
            .ancestors()
            .take_while(|a| a.starts_with(&self.root) && *a != self.root)
            .any(|a| a.is_symlink());
        if is_link {
            Err(FilesError::LinkOutside {
                shown: shown.to_owned(),
                target: real,
            })
        } else {
            Err(FilesError::Outside(shown.to_owned()))
        }
    }
}

/// `dir` as a glob prefix (its own metacharacters escaped), joined with `pattern`.
fn glob_under(dir: &Path, pattern: &str) -> String {
    let dir = glob::Pattern::escape(&dir.to_string_lossy());
    format!("{}/{pattern}", dir.trim_end_matches('/'))
}

/// `path` with `.` and `..` folded, relative; `None` if it climbs above its start or is
/// absolute.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> FilesMount {
        FilesMount::Pattern(p.into())
    }

    fn placement(source: &str, destination: &str) -> FilesMount {
        FilesMount::Placement {
            source: source.into(),
            destination: destination.into(),
        }
    }

    #[test]
    fn spins_pattern_refusals_and_our_destination_rules() {
        assert!(validate_mount(&pattern("static/**/*")).is_ok());
        assert!(validate_mount(&pattern("a/..")).is_err());
        assert!(validate_mount(&pattern("a/.")).is_err());
        assert!(validate_mount(&placement("a", "/")).is_ok());
        assert!(validate_mount(&placement("a", "/x/y")).is_ok());
        assert!(validate_mount(&placement("a", "x")).is_err());
        assert!(validate_mount(&placement("a", "/x/../..")).is_err());
        assert!(validate_mount(&placement("", "/x")).is_err());
        assert!(validate_exclude("**/*.tmp").is_ok());
        assert!(validate_exclude("[").is_err());
    }

    #[test]
    fn lexical_folds_dots_and_refuses_to_climb() {
        assert_eq!(lexical(Path::new("a/./b/../c")), Some(PathBuf::from("a/c")));
        assert_eq!(lexical(Path::new("")), Some(PathBuf::new()));
        assert_eq!(lexical(Path::new("a/../../b")), None);
        assert_eq!(lexical(Path::new("/a")), None);
    }

    #[test]
    fn a_glob_prefix_escapes_the_directorys_own_metacharacters() {
        assert_eq!(
            glob_under(Path::new("/srv/app[1]"), "**/*"),
            "/srv/app[[]1[]]/**/*"
        );
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("dir");
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, file).expect("write");
        }
        dir
    }

    fn guest_paths(copies: &Copies) -> Vec<String> {
        copies.keys().map(|k| k.display().to_string()).collect()
    }

    #[test]
    fn a_directory_named_by_a_string_lands_under_its_name_twice_as_in_spin() {
        let dir = tree(&["static/a.css", "static/img/b.png"]);
        let copies = resolve(dir.path(), &[pattern("static")], &[]).expect("resolves");
        assert_eq!(
            guest_paths(&copies),
            ["static/static/a.css", "static/static/img/b.png"]
        );
    }

    #[test]
    fn excludes_match_paths_from_the_app_dir_and_star_crosses_slashes() {
        let dir = tree(&["s/a.css", "s/d/b.tmp", "s/c.tmp", "named.tmp"]);
        let copies = resolve(
            dir.path(),
            &[pattern("s/**/*"), pattern("named.tmp")],
            &["*.tmp".into()],
        )
        .expect("resolves");
        // A file named by itself is not subject to `exclude_files`, in Spin either.
        assert_eq!(guest_paths(&copies), ["named.tmp", "s/a.css"]);
    }

    #[test]
    fn a_later_entry_wins_a_shared_guest_path() {
        let dir = tree(&["one/x.txt", "two/x.txt"]);
        let copies = resolve(
            dir.path(),
            &[placement("one", "/d"), placement("two", "/d")],
            &[],
        )
        .expect("resolves");
        assert_eq!(
            copies[Path::new("d/x.txt")],
            dir.path().canonicalize().expect("real").join("two/x.txt")
        );
    }
}
