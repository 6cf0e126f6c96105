//! A child's stderr: drained concurrently into a bounded ring of redacted lines.
//!
//! ffmpeg must never block on a full stderr pipe, and a hostile or broken stream must
//! not make us hold unbounded text, so a task reads stderr as it comes and keeps only
//! the last [`RING_LINES`] lines of at most [`MAX_LINE`] bytes each. ffmpeg prints the
//! input URL in its messages, credentials included, so every line is redacted before it
//! is kept or logged: the exact secret strings the caller gave (and their
//! percent-decoded forms) and any `scheme://user:password@` userinfo become `***`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::process::ChildStderr;
use tokio::task::JoinHandle;

/// Lines kept per child.
pub(crate) const RING_LINES: usize = 16;

/// Longest line kept, in bytes; the rest of a longer line is dropped.
pub(crate) const MAX_LINE: usize = 1024;

/// What replaces a secret.
const MASK: &str = "***";

/// The last lines a child printed, redacted.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    lines: VecDeque<String>,
}

impl Ring {
    fn push(&mut self, line: String) {
        if self.lines.len() == RING_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The kept lines, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// Shared between the drain task and the reader.
pub(crate) type SharedRing = Arc<Mutex<Ring>>;

/// Replaces secrets in text. Built once per child.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Longest first, so a secret that contains another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these exact strings (empty ones ignored) and their
    /// percent-decoded forms.
    pub(crate) fn new(secrets: &[String]) -> Redactor {
        let mut all: Vec<String> = Vec::new();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            all.push(s.clone());
            if let Some(decoded) = percent_decode(s) {
                if !decoded.is_empty() && decoded != *s {
                    all.push(decoded);
                }
            }
        }
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Redactor { secrets: all }
    }

    /// `line` with every secret and URL password replaced by `***`. When the line was
    /// cut short (`truncated`), a trailing piece that could be the start of a secret is
    /// dropped too, so a cut never leaks part of one.
    pub(crate) fn redact(&self, line: &str, truncated: bool) -> String {
        let mut out = line.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out = mask_userinfo(&out);
        if truncated {
            for secret in &self.secrets {
                // Longest prefix of the secret the line ends with.
                let mut cut = None;
                for (i, _) in secret.char_indices().skip(1) {
                    if out.ends_with(&secret[..i]) {
                        cut = Some(i);
                    }
                }
                if let Some(n) = cut {
                    out.truncate(out.len() - n);
                }
            }
            out.push('…');
        }
        out
    }
}

/// `scheme://user:pass@host` → `scheme://user:***@host`, for every URL in the text.
fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or blank.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `%xx` escapes decoded, when the result is UTF-8; `None` when there is nothing to do.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Starts the task that drains `stderr` into a new ring until the pipe closes.
pub(crate) fn drain(
    stderr: ChildStderr,
    redactor: Redactor,
    tool: &'static str,
) -> (SharedRing, JoinHandle<()>) {
    let ring: SharedRing = Arc::default();
    let task = tokio::spawn(drain_into(stderr, redactor, tool, Arc::clone(&ring)));
    (ring, task)
}

async fn drain_into(
    mut stderr: ChildStderr,
    redactor: Redactor,
    tool: &'static str,
    ring: SharedRing,
) {
    let mut chunk = [0u8; 4096];
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut truncated = false;
    let keep = |line: &mut Vec<u8>, truncated: &mut bool| {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if !text.is_empty() {
            let clean = redactor.redact(text, *truncated);
            tracing::debug!(target: "vigil_media::stderr", tool, line = %clean);
            if let Ok(mut ring) = ring.lock() {
                ring.push(clean);
            }
        }
        line.clear();
        *truncated = false;
    };
    loop {
        let n = match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            // ffmpeg ends progress lines with '\r'; either ends a line here.
            if b == b'\n' || b == b'\r' {
                keep(&mut line, &mut truncated);
            } else if line.len() < MAX_LINE {
                line.push(b);
            } else {
                truncated = true;
            }
        }
    }
    keep(&mut line, &mut truncated);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_passwords_are_masked() {
        let r = Redactor::new(&["s3cr%40t".to_string(), "tok123".to_string(), String::new()]);
        let line = "rtsp://admin:s3cr%40t@10.0.0.5:554/cam?token=tok123: Server returned 401";
        assert_eq!(
            r.redact(line, false),
            "rtsp://admin:***@10.0.0.5:554/cam?token=***: Server returned 401"
        );
        // The decoded form too, and a URL password nobody told us about.
        assert_eq!(
            r.redact("password s3cr@t refused", false),
            "password *** refused"
        );
        assert_eq!(
            Redactor::new(&[]).redact("http://u:pw@h/x and https://h2/y and u@h", false),
            "http://u:***@h/x and https://h2/y and u@h"
        );
    }

    #[test]
    fn a_cut_line_does_not_end_with_the_start_of_a_secret() {
        let r = Redactor::new(&["hunter2".to_string()]);
        assert_eq!(r.redact("connecting with hunt", true), "connecting with …");
        assert_eq!(
            r.redact("connecting with hunt", false),
            "connecting with hunt"
        );
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%41b").as_deref(), Some("aAb"));
        assert_eq!(percent_decode("a%4").as_deref(), Some("a%4"));
        assert_eq!(percent_decode("a%zz%").as_deref(), Some("a%zz%"));
        assert_eq!(percent_decode("plain"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn the_ring_keeps_the_last_lines() {
        let mut ring = Ring::default();
        for i in 0..100 {
            ring.push(i.to_string());
        }
        let lines = ring.lines();
        assert_eq!(lines.len(), RING_LINES);
        assert_eq!(lines.last().map(String::as_str), Some("99"));
    }
}
