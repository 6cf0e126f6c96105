//! What to read, and the ffmpeg/ffprobe input options that read it safely.
//!
//! An [`Input`] arrives already checked by the caller (vigil-core's `net` module): the
//! scheme accepted, the host resolved and let through the network guard, and the
//! checked IP address put in the URL, so a second DNS answer cannot send ffmpeg
//! elsewhere. Here it becomes input options: the protocol whitelist (ffmpeg follows
//! nothing else: no `concat:`, no local file from a playlist), timeouts so a silent
//! camera is an error and not a hang, TCP for RTSP (works through NAT and firewalls, no
//! UDP port range to open), and `-re -stream_loop -1` for a looped file.
//!
//! `Debug` never prints a network URL's credentials.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::diagnose::InputKind;
use crate::stderr::Redactor;

/// A source of video, ready for ffmpeg.
///
/// Redirects: HTTP redirects are refused (`-max_redirects 0`). ffmpeg's RTSP client
/// follows an RTSP `3xx` with a `Location` (to any host) and has no option to stop it, so
/// an RTSP camera can send ffmpeg's RTSP requests to an address the network guard never
/// checked; only RTSP can be spoken there (the whitelist) and nothing but decoded frames
/// comes back.
///
/// TLS (`rtsps`, `https`): ffmpeg 5.1 does not verify certificates by default, and with
/// the checked IP in the URL it could not check them against the camera's name anyway,
/// so through ffmpeg these are encrypted but not authenticated. HTTP cameras are meant
/// to be fetched in Rust (pinned resolution, certificate checked against the name) and
/// fed to [`crate::mjpeg::MjpegParser`].
#[derive(Clone, PartialEq, Eq)]
pub enum Input {
    /// An `rtsp`, `rtsps`, `http` or `https` URL.
    Network {
        /// The full URL, credentials included, the host replaced by the checked IP
        /// address (vigil-core: `NetworkUrl::with_address`).
        url: String,
        /// The original `host[:port]`, sent as the HTTP `Host` header (`http`/`https`
        /// only; RTSP requests carry none) so name-based virtual hosts still answer.
        host_header: Option<String>,
        /// ffmpeg's `-protocol_whitelist` for the scheme (vigil-core:
        /// `NetScheme::protocol_whitelist`), e.g. `rtsp,rtp,udp,tcp`.
        protocol_whitelist: &'static str,
        /// The exact strings to mask in anything ffmpeg prints (the password, secret
        /// query values), as they appear in `url`.
        secrets: Vec<String>,
    },
    /// A local video file (already checked to be inside the camera files folder).
    File {
        /// The file.
        path: PathBuf,
        /// Play it in a loop at its own rate (`-re -stream_loop -1`), as a camera would
        /// deliver it; `false` reads it once, as fast as ffmpeg can.
        looped: bool,
    },
    /// A V4L2 capture device, `/dev/videoN`.
    Device {
        /// The device node.
        path: PathBuf,
    },
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Network {
                protocol_whitelist,
                host_header,
                ..
            } => f
                .debug_struct("Network")
                .field("url", &self.describe())
                .field("host_header", host_header)
                .field("protocol_whitelist", protocol_whitelist)
                .finish_non_exhaustive(),
            Input::File { path, looped } => f
                .debug_struct("File")
                .field("path", path)
                .field("looped", looped)
                .finish(),
            Input::Device { path } => f.debug_struct("Device").field("path", path).finish(),
        }
    }
}

/// The default network I/O timeout: long enough for a slow camera's first answer,
/// short enough that a camera that vanished shows `offline` well within the 10 s the
/// camera issue asks for.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(5);

impl Input {
    /// The input as safe to show: a network URL with credentials masked, a path as is.
    pub fn describe(&self) -> String {
        match self {
            Input::Network { url, .. } => self.redactor().redact(url, false),
            Input::File { path, .. } | Input::Device { path } => path.display().to_string(),
        }
    }

    /// The redactor for what a child reading this input prints.
    pub(crate) fn redactor(&self) -> Redactor {
        match self {
            Input::Network { secrets, .. } => Redactor::new(secrets),
            _ => Redactor::default(),
        }
    }

    pub(crate) fn kind(&self) -> InputKind {
        match self {
            Input::Network { url, .. } if is_rtsp(url) => InputKind::Rtsp,
            Input::Network { .. } => InputKind::Http,
            Input::File { .. } => InputKind::File,
            Input::Device { .. } => InputKind::Device,
        }
    }

    /// The options before and including `-i …`, with network reads and connects timing
    /// out after `io_timeout` (`-timeout` for RTSP, `-rw_timeout` for HTTP). `live`
    /// adds the looped-file options (a reader); a probe reads the file once.
    pub(crate) fn args(&self, io_timeout: Duration, live: bool) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |s: &str| args.push(OsString::from(s));
        let micros = io_timeout.as_micros().max(1).to_string();
        match self {
            Input::Network {
                url,
                host_header,
                protocol_whitelist,
                ..
            } => {
                push("-protocol_whitelist");
                push(protocol_whitelist);
                if is_rtsp(url) {
                    push("-rtsp_transport");
                    push("tcp");
                    // ffmpeg 5.1's RTSP demuxer: socket I/O timeout in microseconds
                    // (`-stimeout` before 5.0).
                    push("-timeout");
                    push(&micros);
                    push("-allowed_media_types");
                    push("video");
                } else {
                    push("-rw_timeout");
                    push(&micros);
                    // A redirect would lead ffmpeg to an address the network guard never
                    // saw: refuse them, as the Rust HTTP client does.
                    push("-max_redirects");
                    push("0");
                    if let Some(host) = host_header {
                        // Only a plain `host[:port]`: no line break can smuggle
                        // another header in.
                        if is_plain_host(host) {
                            push("-headers");
                            push(&format!("Host: {host}\r\n"));
                        }
                    }
                }
                push("-i");
                push(url);
            }
            Input::File { path, looped } => {
                push("-protocol_whitelist");
                push("file");
                if live && *looped {
                    push("-re");
                    push("-stream_loop");
                    push("-1");
                }
                push("-i");
                // `file:` so a name with a colon is never read as a protocol.
                let mut arg = OsString::from("file:");
                arg.push(path.as_os_str());
                args.push(arg);
            }
            Input::Device { path } => {
                push("-protocol_whitelist");
                push("file");
                push("-f");
                push("v4l2");
                push("-i");
                args.push(path.as_os_str().to_os_string());
            }
        }
        args
    }
}

fn is_rtsp(url: &str) -> bool {
    let lower = url.get(..6).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("rtsp:") || lower.starts_with("rtsps:")
}

fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn rtsp_uses_tcp_a_socket_timeout_and_the_whitelist() {
        let input = Input::Network {
            url: "rtsp://u:pw@10.0.0.5:554/cam".into(),
            host_header: Some("cam.local".into()),
            protocol_whitelist: "rtsp,rtp,udp,tcp",
            secrets: vec!["pw".into()],
        };
        assert_eq!(
            strings(input.args(DEFAULT_IO_TIMEOUT, true)),
            [
                "-protocol_whitelist",
                "rtsp,rtp,udp,tcp",
                "-rtsp_transport",
                "tcp",
                "-timeout",
                "5000000",
                "-allowed_media_types",
                "video",
                "-i",
                "rtsp://u:pw@10.0.0.5:554/cam"
            ]
        );
        assert_eq!(input.describe(), "rtsp://u:***@10.0.0.5:554/cam");
        let debug = format!("{input:?}");
        assert!(!debug.contains("pw@"), "{debug}");
    }

    #[test]
    fn http_sends_the_original_host_and_a_read_timeout() {
        let input = Input::Network {
            url: "http://10.0.0.5:8080/video".into(),
            host_header: Some("cam.local:8080".into()),
            protocol_whitelist: "http,tcp",
            secrets: vec![],
        };
        let args = strings(input.args(DEFAULT_IO_TIMEOUT, true));
        assert_eq!(
            args,
            [
                "-protocol_whitelist",
                "http,tcp",
                "-rw_timeout",
                "5000000",
                "-max_redirects",
                "0",
                "-headers",
                "Host: cam.local:8080\r\n",
                "-i",
                "http://10.0.0.5:8080/video"
            ]
        );
        let sneaky = Input::Network {
            url: "http://10.0.0.5/".into(),
            host_header: Some("a\r\nX-Evil: 1".into()),
            protocol_whitelist: "http,tcp",
            secrets: vec![],
        };
        assert!(!strings(sneaky.args(DEFAULT_IO_TIMEOUT, true)).contains(&"-headers".into()));
    }

    #[test]
    fn a_looped_file_is_read_at_its_rate_forever_only_when_live() {
        let input = Input::File {
            path: "/srv/cams/a:b.mp4".into(),
            looped: true,
        };
        assert_eq!(
            strings(input.args(DEFAULT_IO_TIMEOUT, true)),
            [
                "-protocol_whitelist",
                "file",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                "file:/srv/cams/a:b.mp4"
            ]
        );
        assert_eq!(
            strings(input.args(DEFAULT_IO_TIMEOUT, false)),
            [
                "-protocol_whitelist",
                "file",
                "-i",
                "file:/srv/cams/a:b.mp4"
            ]
        );
        let device = Input::Device {
            path: "/dev/video0".into(),
        };
        assert_eq!(
            strings(device.args(DEFAULT_IO_TIMEOUT, true)),
            [
                "-protocol_whitelist",
                "file",
                "-f",
                "v4l2",
                "-i",
                "/dev/video0"
            ]
        );
    }
}
