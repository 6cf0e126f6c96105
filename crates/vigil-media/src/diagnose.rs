//! What went wrong, from what ffmpeg printed and how it exited.
//!
//! ffmpeg reports failures as free text on stderr (`rtsp://…: Connection refused`,
//! `Server returned 401 Unauthorized`, `moov atom not found`, …). A user needs one
//! sentence ("the camera refused the user name or password"), the camera core needs a
//! kind it can count and act on, so this module maps the last lines and the exit status
//! to a [`FailureKind`]. Pure: tested with lines copied from ffmpeg 5.1 runs.
//!
//! The more specific cause wins when several lines match (ffmpeg often prints a cause
//! and then a generic summary such as `Invalid data found when processing input`).

use std::time::Duration;

/// How a child process ended, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal (9 for `kill -9`).
    Signal(i32),
    /// Its end was not observed (still running, or it could not be waited for).
    Unknown,
}

impl Exit {
    /// From a `std::process::ExitStatus`.
    pub fn from_status(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Unknown,
        }
    }
}

/// The kind of failure, each with its sentence ([`FailureKind::plain_words`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Nothing listens at the address and port (TCP connection refused).
    ConnectionRefused,
    /// No route to the address, or the network is down.
    HostUnreachable,
    /// The address did not answer (connect or read timed out).
    TimedOut,
    /// The name could not be resolved (only when a caller passes a name, not an IP).
    NameNotResolved,
    /// 401: the user name or password was refused.
    AuthFailed,
    /// 403: the credentials are valid but not allowed to see this stream.
    Forbidden,
    /// 404: no stream at this path.
    StreamNotFound,
    /// Another 4xx/5xx answer from the camera.
    ServerError,
    /// TLS handshake or certificate failure.
    TlsFailed,
    /// The video is in a codec this ffmpeg cannot decode.
    UnsupportedCodec,
    /// The bytes are not a video ffmpeg can read.
    InvalidData,
    /// The source has no video stream (audio only, or empty).
    NoVideo,
    /// The file or device does not exist.
    FileNotFound,
    /// The device is in use by another program.
    DeviceBusy,
    /// Not allowed to open the file or device.
    PermissionDenied,
    /// ffmpeg refused a protocol outside the whitelist (a URL leading elsewhere).
    ProtocolNotAllowed,
    /// The stream ended normally (exit code 0): end of a file, or the camera closed it.
    Ended,
    /// ffmpeg was killed by a signal.
    Killed,
    /// No frame arrived within the deadline; the child was stopped.
    Stalled,
    /// ffmpeg exited with an error code and a message we do not recognise.
    Exited,
}

impl FailureKind {
    /// A short machine name (`connection_refused`, `auth_failed`, …) for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::ConnectionRefused => "connection_refused",
            FailureKind::HostUnreachable => "host_unreachable",
            FailureKind::TimedOut => "timed_out",
            FailureKind::NameNotResolved => "name_not_resolved",
            FailureKind::AuthFailed => "auth_failed",
            FailureKind::Forbidden => "forbidden",
            FailureKind::StreamNotFound => "stream_not_found",
            FailureKind::ServerError => "server_error",
            FailureKind::TlsFailed => "tls_failed",
            FailureKind::UnsupportedCodec => "unsupported_codec",
            FailureKind::InvalidData => "invalid_data",
            FailureKind::NoVideo => "no_video",
            FailureKind::FileNotFound => "file_not_found",
            FailureKind::DeviceBusy => "device_busy",
            FailureKind::PermissionDenied => "permission_denied",
            FailureKind::ProtocolNotAllowed => "protocol_not_allowed",
            FailureKind::Ended => "ended",
            FailureKind::Killed => "killed",
            FailureKind::Stalled => "stalled",
            FailureKind::Exited => "exited",
        }
    }

    /// The sentence for a user, without the exit details (see
    /// [`crate::Failure::plain_words`], which adds them where they help).
    pub fn plain_words(self) -> &'static str {
        match self {
            FailureKind::ConnectionRefused => {
                "connection refused: nothing answers at that address and port (is the camera on, and the port right?)"
            }
            FailureKind::HostUnreachable => {
                "host unreachable: there is no network route to the camera"
            }
            FailureKind::TimedOut => "timed out: the camera did not answer in time",
            FailureKind::NameNotResolved => "the camera's host name could not be resolved",
            FailureKind::AuthFailed => {
                "authentication failed (401): the camera refused the user name or password"
            }
            FailureKind::Forbidden => {
                "access denied (403): the camera does not let this user see the stream"
            }
            FailureKind::StreamNotFound => {
                "stream not found (404): the camera has no stream at that path"
            }
            FailureKind::ServerError => "the camera answered with an error",
            FailureKind::TlsFailed => "the secure connection (TLS) to the camera failed",
            FailureKind::UnsupportedCodec => {
                "unsupported codec: this ffmpeg cannot decode the camera's video format"
            }
            FailureKind::InvalidData => {
                "invalid data: the source is not a video stream ffmpeg can read"
            }
            FailureKind::NoVideo => "the source has no video stream",
            FailureKind::FileNotFound => "file not found",
            FailureKind::DeviceBusy => "device busy: another program is using the camera",
            FailureKind::PermissionDenied => "permission denied: Vigil may not open the source",
            FailureKind::ProtocolNotAllowed => {
                "the source tried to use a protocol Vigil does not allow"
            }
            FailureKind::Ended => "the stream ended: the source closed it or reached its end",
            FailureKind::Killed => "ffmpeg was killed",
            FailureKind::Stalled => "no frame arrived in time; the stream stalled",
            FailureKind::Exited => "ffmpeg stopped with an error",
        }
    }
}

/// Which kind of input failed: some messages mean different things per kind (for a
/// device "No such file or directory" means the device is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// `rtsp`/`rtsps`.
    Rtsp,
    /// `http`/`https`.
    Http,
    /// A local file.
    File,
    /// A V4L2 device.
    Device,
}

/// Patterns in the order they are tried: the first kind with a matching line wins,
/// so specific causes come before generic summaries. Matched case-insensitively.
const PATTERNS: &[(FailureKind, &[&str])] = &[
    (FailureKind::ProtocolNotAllowed, &["not on whitelist"]),
    (
        FailureKind::AuthFailed,
        &[
            "401 unauthorized",
            "returned 401",
            "failed: 401",
            "authorization failed",
        ],
    ),
    (
        FailureKind::Forbidden,
        &["403 forbidden", "returned 403", "failed: 403"],
    ),
    (
        FailureKind::StreamNotFound,
        &["404 not found", "returned 404", "failed: 404"],
    ),
    (
        FailureKind::ServerError,
        &[
            "server returned 4",
            "server returned 5",
            "method describe failed",
            "method setup failed",
            "method play failed",
        ],
    ),
    (FailureKind::ConnectionRefused, &["connection refused"]),
    (
        FailureKind::HostUnreachable,
        &[
            "no route to host",
            "network is unreachable",
            "host is unreachable",
        ],
    ),
    (
        FailureKind::TimedOut,
        // Not "timeout": ffmpeg prints `tcp://host:port?timeout=…` in unrelated lines.
        &["timed out"],
    ),
    (
        FailureKind::NameNotResolved,
        &[
            "name or service not known",
            "temporary failure in name resolution",
            "failed to resolve hostname",
        ],
    ),
    (
        FailureKind::TlsFailed,
        // ffmpeg's TLS layer logs as `[tls @ 0x…]`; OpenSSL/GnuTLS reasons follow.
        &["[tls @", "ssl routines", "certificate", "handshake"],
    ),
    (FailureKind::DeviceBusy, &["device or resource busy"]),
    (FailureKind::PermissionDenied, &["permission denied"]),
    (FailureKind::FileNotFound, &["no such file or directory"]),
    (
        FailureKind::UnsupportedCodec,
        &[
            "decoder (codec",
            "unsupported codec",
            "codec not currently supported",
            "unsupported rtp payload",
            "no decoder",
            "unknown codec",
        ],
    ),
    (
        FailureKind::NoVideo,
        &[
            "does not contain any stream",
            "matches no streams",
            "no video stream",
        ],
    ),
    (
        FailureKind::InvalidData,
        &[
            "invalid data found",
            "moov atom not found",
            "could not find codec parameters",
        ],
    ),
    (FailureKind::Ended, &["end of file"]),
];

/// The failure kind for the last lines of stderr and the exit.
///
/// `elapsed` is how long the child ran and `io_timeout` its I/O timeout: ffmpeg 5.1's
/// RTSP demuxer reports a socket timeout as `Invalid data found when processing input`,
/// so for RTSP that message after about the timeout is reported as [`FailureKind::TimedOut`].
pub fn classify(
    lines: &[String],
    exit: Exit,
    input: InputKind,
    elapsed: Duration,
    io_timeout: Duration,
) -> FailureKind {
    if let Exit::Signal(_) = exit {
        return FailureKind::Killed;
    }
    let lowered: Vec<String> = lines.iter().map(|l| l.to_ascii_lowercase()).collect();
    for (kind, needles) in PATTERNS {
        let hit = lowered
            .iter()
            .any(|line| needles.iter().any(|needle| line.contains(needle)));
        if hit {
            if *kind == FailureKind::InvalidData
                && input == InputKind::Rtsp
                && !io_timeout.is_zero()
                && elapsed + Duration::from_millis(250) >= io_timeout
            {
                return FailureKind::TimedOut;
            }
            if *kind == FailureKind::TlsFailed
                && input != InputKind::Rtsp
                && input != InputKind::Http
            {
                // "tls"/"ssl" may appear in a file name; only network inputs do TLS.
                continue;
            }
            return *kind;
        }
    }
    match exit {
        Exit::Code(0) => FailureKind::Ended,
        _ => FailureKind::Exited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    const NO_TIME: Duration = Duration::ZERO;
    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn ffmpeg_5_1_messages_map_to_their_kind() {
        // Lines copied from Debian's ffmpeg 5.1 (the host part as a test printed it).
        let cases: &[(&str, InputKind, FailureKind)] = &[
            (
                "[tcp @ 0x55d9] Connection to tcp://127.0.0.1:1?timeout=3000000 failed: Connection refused\nrtsp://127.0.0.1:1/x: Connection refused",
                InputKind::Rtsp,
                FailureKind::ConnectionRefused,
            ),
            (
                "http://127.0.0.1:18554/x: Connection timed out",
                InputKind::Http,
                FailureKind::TimedOut,
            ),
            (
                "[rtsp @ 0x5] method DESCRIBE failed: 404 Not Found\nrtsp://127.0.0.1:8554/nope: Server returned 404 Not Found",
                InputKind::Rtsp,
                FailureKind::StreamNotFound,
            ),
            (
                "[rtsp @ 0x5] method DESCRIBE failed: 401 Unauthorized\nrtsp://u:***@127.0.0.1:8554/cam: Server returned 401 Unauthorized (authorization failed)",
                InputKind::Rtsp,
                FailureKind::AuthFailed,
            ),
            (
                "http://127.0.0.1:9/x: Server returned 403 Forbidden (access denied)",
                InputKind::Http,
                FailureKind::Forbidden,
            ),
            (
                "http://127.0.0.1:9/x: Server returned 5XX Server Error reply",
                InputKind::Http,
                FailureKind::ServerError,
            ),
            (
                "file:/nonexist.mp4: No such file or directory",
                InputKind::File,
                FailureKind::FileNotFound,
            ),
            (
                "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55b2] moov atom not found\nfile:junk.mp4: Invalid data found when processing input",
                InputKind::File,
                FailureKind::InvalidData,
            ),
            (
                "[video4linux2,v4l2 @ 0x5571] Cannot open video device /dev/video9: No such file or directory\n/dev/video9: No such file or directory",
                InputKind::Device,
                FailureKind::FileNotFound,
            ),
            (
                "[video4linux2,v4l2 @ 0x5571] Cannot open video device /dev/video0: Device or resource busy",
                InputKind::Device,
                FailureKind::DeviceBusy,
            ),
            (
                "[concat @ 0x55ba] Protocol 'concat' not on whitelist 'file'!\nconcat:a.mp4: Invalid argument",
                InputKind::File,
                FailureKind::ProtocolNotAllowed,
            ),
            (
                "Decoder (codec av1) not found for input stream #0:0",
                InputKind::File,
                FailureKind::UnsupportedCodec,
            ),
            (
                "Output file #0 does not contain any stream",
                InputKind::File,
                FailureKind::NoVideo,
            ),
        ];
        for (text, input, want) in cases {
            let got = classify(&lines(text), Exit::Code(1), *input, NO_TIME, FIVE);
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn rtsp_invalid_data_after_the_timeout_is_a_timeout() {
        let text = lines("rtsp://127.0.0.1:18554/x: Invalid data found when processing input");
        let early = classify(
            &text,
            Exit::Code(1),
            InputKind::Rtsp,
            Duration::from_millis(100),
            FIVE,
        );
        assert_eq!(early, FailureKind::InvalidData);
        let late = classify(
            &text,
            Exit::Code(1),
            InputKind::Rtsp,
            Duration::from_secs(5),
            FIVE,
        );
        assert_eq!(late, FailureKind::TimedOut);
        let file = classify(
            &text,
            Exit::Code(1),
            InputKind::File,
            Duration::from_secs(9),
            FIVE,
        );
        assert_eq!(file, FailureKind::InvalidData);
    }

    #[test]
    fn exits_without_a_known_message() {
        assert_eq!(
            classify(&[], Exit::Signal(9), InputKind::Rtsp, NO_TIME, FIVE),
            FailureKind::Killed
        );
        assert_eq!(
            classify(&[], Exit::Code(0), InputKind::File, NO_TIME, FIVE),
            FailureKind::Ended
        );
        assert_eq!(
            classify(
                &lines("something new"),
                Exit::Code(187),
                InputKind::File,
                NO_TIME,
                FIVE
            ),
            FailureKind::Exited
        );
    }

    #[test]
    fn tls_words_in_a_file_name_are_not_a_tls_failure() {
        let text = lines("file:/srv/tls_demo.mp4: Invalid data found when processing input");
        assert_eq!(
            classify(&text, Exit::Code(1), InputKind::File, NO_TIME, FIVE),
            FailureKind::InvalidData
        );
    }
}
