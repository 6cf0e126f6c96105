//! Files and folders that only Vigil's own user may open: the data folders 0700, the
//! SQLite files and backup archives 0600, whatever the process umask (a service started
//! with `umask 000`, or a shell's `022`, would otherwise make them readable to every
//! local account). Modes are set explicitly, not left to the umask.
//!
//! Folders made by an older Vigil with looser modes are tightened when they are opened,
//! with an INFO log naming the old mode, so an upgrade fixes them without a manual step.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every data folder: owner only.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the database files and backup archives: owner read and write only.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and any missing parent) with mode 0700, or tightens it to 0700 when it
/// exists with more. Only for folders that belong to Vigil (the data folder, the blob
/// folder, staging folders): an existing parent is never touched.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return tighten(dir, DIR_MODE, "folder");
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    // The umask may have taken bits away from the mode asked for (`umask 277`): set it.
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Creates any missing folder up to `dir` with mode 0700 and leaves an existing one as it
/// is: for a folder the user chose that may be shared (the parent of a database file
/// given by URL, the folder a backup is written to).
pub fn create_missing_dirs(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Creates (or truncates) `path` for writing with mode 0600. A file that existed keeps
/// its inode but gets mode 0600 too.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Gives `path` mode 0600 when it exists with more (logged at INFO); a missing file is
/// fine.
pub fn tighten_file(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => tighten(path, FILE_MODE, "file"),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sets `mode` on `path` when its current mode grants anything `mode` does not.
fn tighten(path: &Path, mode: u32, what: &str) -> io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o7777;
    if current & !mode == 0 {
        return Ok(());
    }
    fs::set_permissions(path, Permissions::from_mode(mode))?;
    tracing::info!(
        path = %path.display(),
        from = format!("{current:o}"),
        to = format!("{mode:o}"),
        "tightened the permissions of a data {what} (only Vigil's user may read it)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_folders_are_0700_and_old_ones_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        private_dir(&nested).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);

        let old = root.path().join("old");
        fs::create_dir(&old).unwrap();
        fs::set_permissions(&old, Permissions::from_mode(0o755)).unwrap();
        private_dir(&old).unwrap();
        assert_eq!(mode(&old), 0o700);
    }

    #[test]
    fn an_existing_shared_parent_is_left_alone() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), Permissions::from_mode(0o755)).unwrap();
        create_missing_dirs(root.path()).unwrap();
        assert_eq!(mode(root.path()), 0o755);
        create_missing_dirs(&root.path().join("new")).unwrap();
        assert_eq!(mode(&root.path().join("new")) & 0o077, 0);
    }

    #[test]
    fn files_are_0600_created_or_tightened() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("f");
        fs::write(&path, b"x").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o666)).unwrap();
        drop(create_private_file(&path).unwrap());
        assert_eq!(mode(&path), 0o600);

        let other = root.path().join("g");
        fs::write(&other, b"x").unwrap();
        fs::set_permissions(&other, Permissions::from_mode(0o644)).unwrap();
        tighten_file(&other).unwrap();
        assert_eq!(mode(&other), 0o600);
        tighten_file(&root.path().join("missing")).unwrap();
    }
}
