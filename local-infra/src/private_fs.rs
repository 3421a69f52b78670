//! Directories and files that only the runtime's user may open. The state dir holds the app's
//! data (databases, key-value store, component logs) and the compile cache holds native code
//! the runtime runs: neither is anyone else's to read, and the cache is no one else's to write.
//!
//! Modes are given when a file is created rather than through the process umask, which is
//! process-wide and would also reach what `build` runs.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents with mode 0700; existing ones are left as they are.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// As [`create_dir_all`], and an existing `path` that others may enter is restricted to 0700:
/// an older runtime, or a `mkdir` before this one ran, made it 0755. A sticky directory is
/// shared by design (`/tmp`) and left alone.
pub fn prepare_dir(path: &Path) -> std::io::Result<()> {
    create_dir_all(path)?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 && mode & 0o1000 == 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// Options that create a file with mode 0600 (an existing file keeps its mode).
pub fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Makes sure `path` exists and only its owner may open it: created empty with mode 0600 when
/// missing (so that SQLite, which gives a database's journal and WAL files the database's own
/// mode, never creates any of them readable by others), restricted to 0600 when others could.
pub fn ensure_file(path: &Path) -> std::io::Result<()> {
    match open_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => restrict_file(path),
        Err(e) => Err(e),
    }
}

/// Takes group and other permissions off an existing file.
pub fn restrict_file(path: &Path) -> std::io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(())
}

/// Writes `bytes` to a new file `path` with mode 0600; fails if it exists.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let mut file = open_options().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn made_and_restricted_for_the_owner_only() {
        let root = tempfile::tempdir().expect("dir");
        let state = root.path().join("a/b");
        prepare_dir(&state).expect("made");
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);

        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        prepare_dir(&state).expect("restricted");
        assert_eq!(mode(&state), 0o700);

        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).expect("dir");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        prepare_dir(&shared).expect("left alone");
        assert_eq!(mode(&shared), 0o1777);

        let file = state.join("db");
        ensure_file(&file).expect("made");
        assert_eq!(mode(&file), 0o600);
        std::fs::write(&file, "data").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        ensure_file(&file).expect("restricted");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "data");

        let written = state.join("new");
        write_new(&written, b"x").expect("written");
        assert_eq!(mode(&written), 0o600);
        assert!(write_new(&written, b"y").is_err());
    }
}
