//! The one error type of this crate, with the sentence a user sees.
//!
//! A camera's state shows its last error in plain words, and the console's "test
//! connection" reports what ffmpeg said; both come from [`MediaError::plain_words`].
//! No variant ever holds a password: stderr lines are redacted before they are stored
//! (see the `stderr` module), and inputs are never printed with their credentials.

use std::path::PathBuf;

use crate::diagnose::{Exit, FailureKind};
use crate::info::ProbeParseError;

/// Why reading or probing video failed. `Display` is [`MediaError::plain_words`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The ffmpeg or ffprobe binary is missing.
    NotInstalled {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The configured path, when one was configured.
        configured: Option<PathBuf>,
    },
    /// The binary exists but could not be started.
    Spawn {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// The operating system's reason.
        reason: String,
    },
    /// `-version` failed or printed no version.
    Check {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The requested frame size or rate is out of range (a caller's mistake or a bad
    /// camera setting), said in words that name the value.
    InvalidSpec(String),
    /// The child failed: what its stderr and exit status said.
    Failed(Failure),
    /// [`crate::FrameReader::kill`] stopped the reader.
    Stopped,
    /// ffprobe ran but its output does not describe a usable video.
    Probe(ProbeParseError),
}

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.plain_words())
    }
}

impl std::error::Error for MediaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MediaError::Probe(e) => Some(e),
            _ => None,
        }
    }
}

impl MediaError {
    /// One sentence for a user: what happened, without secrets.
    pub fn plain_words(&self) -> String {
        match self {
            MediaError::NotInstalled {
                tool,
                configured: Some(path),
            } if path.components().count() > 1 || path.is_absolute() => {
                format!(
                    "{tool} was not found at {} (the configured path)",
                    path.display()
                )
            }
            MediaError::NotInstalled { tool, .. } => {
                format!("{tool} is not installed (apt-get install ffmpeg)")
            }
            MediaError::Spawn { tool, reason } => format!("{tool} could not be started: {reason}"),
            MediaError::Check { tool, reason } => format!("{tool} does not work: {reason}"),
            MediaError::InvalidSpec(what) => what.clone(),
            MediaError::Failed(failure) => failure.plain_words(),
            MediaError::Stopped => "the video reader was stopped".to_string(),
            MediaError::Probe(e) => e.to_string(),
        }
    }

    /// The failure kind when the child failed (`None` for the other variants).
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            MediaError::Failed(f) => Some(f.kind),
            MediaError::Probe(ProbeParseError::NoVideo) => Some(FailureKind::NoVideo),
            _ => None,
        }
    }
}

/// A failed ffmpeg or ffprobe child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure, from stderr and the exit status.
    pub kind: FailureKind,
    /// `ffmpeg` or `ffprobe`.
    pub tool: &'static str,
    /// How the child ended.
    pub exit: Exit,
    /// The last lines it printed on stderr, oldest first, credentials replaced by `***`
    /// (at most a few, each shortened).
    pub lines: Vec<String>,
}

impl Failure {
    /// The sentence for this failure. A kind we recognise speaks for itself; an unknown
    /// one adds the exit code and ffmpeg's last line.
    pub fn plain_words(&self) -> String {
        match (self.kind, self.exit) {
            (FailureKind::Killed, Exit::Signal(sig)) => {
                format!("{} was killed (signal {sig})", self.tool)
            }
            (FailureKind::Exited, Exit::Code(code)) => match self.lines.last() {
                Some(last) => format!("{} exited with code {code}: {last}", self.tool),
                None => format!("{} exited with code {code}", self.tool),
            },
            (FailureKind::Exited, _) => match self.lines.last() {
                Some(last) => format!("{} stopped: {last}", self.tool),
                None => format!("{} stopped", self.tool),
            },
            (kind, _) => kind.plain_words().to_string(),
        }
    }

    /// ffmpeg's own last lines, redacted, joined by newlines: the detail under the
    /// sentence in "test connection".
    pub fn detail(&self) -> String {
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: FailureKind, exit: Exit, lines: &[&str]) -> MediaError {
        MediaError::Failed(Failure {
            kind,
            tool: "ffmpeg",
            exit,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn plain_words_per_failure() {
        let cases = [
            (
                failure(FailureKind::Killed, Exit::Signal(9), &[]),
                "ffmpeg was killed (signal 9)",
            ),
            (
                failure(FailureKind::Exited, Exit::Code(187), &["a", "what it said"]),
                "ffmpeg exited with code 187: what it said",
            ),
            (
                failure(FailureKind::Exited, Exit::Code(3), &[]),
                "ffmpeg exited with code 3",
            ),
            (
                failure(FailureKind::StreamNotFound, Exit::Code(1), &["x"]),
                "stream not found (404): the camera has no stream at that path",
            ),
            (MediaError::Stopped, "the video reader was stopped"),
            (
                MediaError::NotInstalled {
                    tool: "ffmpeg",
                    configured: None,
                },
                "ffmpeg is not installed (apt-get install ffmpeg)",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.plain_words(), want);
            assert_eq!(err.to_string(), want);
        }
    }
}
