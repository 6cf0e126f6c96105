//! Finding ffmpeg and ffprobe, and checking that ffmpeg runs.
//!
//! Both are looked up once, when the camera service starts (a configured path, else
//! `PATH`), so a missing binary is one typed error in plain words ("ffmpeg is not
//! installed (apt-get install ffmpeg)") shown in `/readyz` and the console, never a
//! crash and never a vague "No such file or directory" per camera. The two types are
//! distinct so a probe cannot be started with ffmpeg or a reader with ffprobe.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::error::MediaError;

/// How long [`Ffmpeg::check`] waits for `ffmpeg -version`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The ffmpeg binary, found and executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffmpeg {
    path: PathBuf,
}

/// The ffprobe binary, found and executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ffprobe {
    path: PathBuf,
}

impl Ffmpeg {
    /// Finds ffmpeg: `configured` when given (a path, or a bare name looked up in
    /// `PATH`), else `ffmpeg` in `PATH`.
    ///
    /// # Errors
    /// [`MediaError::NotInstalled`] when there is no such executable file.
    pub fn locate(configured: Option<&Path>) -> Result<Ffmpeg, MediaError> {
        locate("ffmpeg", configured).map(|path| Ffmpeg { path })
    }

    /// The binary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `ffmpeg -version` and returns the version (`5.1.8-0+deb12u1`): a cheap check
    /// for `/readyz` that the binary found at start-up still runs.
    ///
    /// # Errors
    /// [`MediaError::NotInstalled`] when the file has gone, [`MediaError::Spawn`] when
    /// it cannot be run, [`MediaError::Check`] when it fails or says something else.
    pub async fn check(&self) -> Result<String, MediaError> {
        version_of("ffmpeg", &self.path).await
    }
}

impl Ffprobe {
    /// Finds ffprobe: `configured` when given (a path, or a bare name looked up in
    /// `PATH`), else `ffprobe` in `PATH`.
    ///
    /// # Errors
    /// [`MediaError::NotInstalled`] when there is no such executable file.
    pub fn locate(configured: Option<&Path>) -> Result<Ffprobe, MediaError> {
        locate("ffprobe", configured).map(|path| Ffprobe { path })
    }

    /// Finds the ffprobe that belongs to `ffmpeg`: the `ffprobe` in the same folder when
    /// there is one (a custom ffmpeg build comes with its own), else `ffprobe` in `PATH`.
    ///
    /// # Errors
    /// [`MediaError::NotInstalled`] when neither exists.
    pub fn beside(ffmpeg: &Ffmpeg) -> Result<Ffprobe, MediaError> {
        if let Some(dir) = ffmpeg.path.parent() {
            let sibling = dir.join("ffprobe");
            if is_executable(&sibling) {
                return Ok(Ffprobe { path: sibling });
            }
        }
        Ffprobe::locate(None)
    }

    /// The binary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `ffprobe -version` and returns the version.
    ///
    /// # Errors
    /// As [`Ffmpeg::check`].
    pub async fn check(&self) -> Result<String, MediaError> {
        version_of("ffprobe", &self.path).await
    }
}

fn locate(tool: &'static str, configured: Option<&Path>) -> Result<PathBuf, MediaError> {
    let wanted = configured.unwrap_or(Path::new(tool));
    let missing = || MediaError::NotInstalled {
        tool,
        configured: configured.map(Path::to_path_buf),
    };
    // A path with a separator is taken as written; a bare name is searched in PATH,
    // as a shell would (but without running one).
    if wanted.components().count() > 1 || wanted.is_absolute() {
        return if is_executable(wanted) {
            Ok(wanted.to_path_buf())
        } else {
            Err(missing())
        };
    }
    find_in_path(wanted.as_os_str()).ok_or_else(missing)
}

fn find_in_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

async fn version_of(tool: &'static str, path: &Path) -> Result<String, MediaError> {
    if !is_executable(path) {
        return Err(MediaError::NotInstalled {
            tool,
            configured: Some(path.to_path_buf()),
        });
    }
    let mut child = Command::new(path)
        .args(["-hide_banner", "-version"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| MediaError::Spawn {
            tool,
            reason: e.to_string(),
        })?;
    let mut out = Vec::new();
    let read = async {
        if let Some(stdout) = child.stdout.take() {
            // The version banner is a few hundred bytes; never keep more than 64 KiB.
            stdout.take(64 * 1024).read_to_end(&mut out).await?;
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(CHECK_TIMEOUT, read).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(MediaError::Check {
                tool,
                reason: e.to_string(),
            })
        }
        Err(_) => {
            return Err(MediaError::Check {
                tool,
                reason: format!("`{tool} -version` did not answer within 5 s"),
            })
        }
    };
    let text = String::from_utf8_lossy(&out);
    match parse_version(tool, &text) {
        Some(v) if status.success() => Ok(v),
        _ => Err(MediaError::Check {
            tool,
            reason: format!("`{tool} -version` did not print a version ({status})"),
        }),
    }
}

/// `ffmpeg version 5.1.8-0+deb12u1 Copyright …` → `5.1.8-0+deb12u1`.
fn parse_version(tool: &str, text: &str) -> Option<String> {
    let first = text.lines().next()?;
    let rest = first
        .strip_prefix(tool)?
        .trim_start()
        .strip_prefix("version")?;
    let version = rest.split_whitespace().next()?;
    Some(version.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_word_after_version() {
        let text = "ffmpeg version 5.1.8-0+deb12u1 Copyright (c) 2000-2025 the FFmpeg developers\nbuilt with gcc 12";
        assert_eq!(
            parse_version("ffmpeg", text).as_deref(),
            Some("5.1.8-0+deb12u1")
        );
        assert_eq!(parse_version("ffmpeg", "ffprobe version 5"), None);
        assert_eq!(parse_version("ffmpeg", ""), None);
    }

    #[test]
    fn a_missing_configured_binary_is_not_installed_in_plain_words() {
        let err = Ffmpeg::locate(Some(Path::new("/nonexistent/bin/ffmpeg"))).unwrap_err();
        assert!(matches!(
            err,
            MediaError::NotInstalled { tool: "ffmpeg", .. }
        ));
        assert_eq!(
            err.plain_words(),
            "ffmpeg was not found at /nonexistent/bin/ffmpeg (the configured path)"
        );
        let err = Ffprobe::locate(Some(Path::new("no-such-ffprobe-here"))).unwrap_err();
        assert_eq!(
            err.plain_words(),
            "ffprobe is not installed (apt-get install ffmpeg)"
        );
    }

    #[test]
    fn a_folder_or_a_non_executable_file_is_not_a_binary() {
        let dir = std::env::temp_dir();
        assert!(Ffmpeg::locate(Some(&dir)).is_err());
        let file = dir.join(format!("vigil-media-not-exec-{}", std::process::id()));
        std::fs::write(&file, b"#!/bin/sh\n").unwrap();
        assert!(Ffmpeg::locate(Some(&file)).is_err());
        std::fs::remove_file(&file).unwrap();
    }
}
