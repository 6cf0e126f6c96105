//! Camera source URLs: what is accepted, and everything else refused in plain words.
//!
//! A source is one of: a network URL (`rtsp`, `rtsps`, `http`, `https`) decoded by an
//! ffmpeg child or fetched by Vigil; a `file` inside the camera files folder (looped
//! demos and tests); a V4L2 `device` (`device:///dev/video0`); or `browser` (frames pushed
//! by a page, no address). Anything else is refused, in particular every ffmpeg protocol
//! that could read local files or other inputs (`concat:`, `subfile:`, `pipe:`, `data:`,
//! a `|` list, …): the URL reaches ffmpeg as one argument, and
//! [`SourceUrl::protocol_whitelist`] gives the `-protocol_whitelist` that keeps ffmpeg
//! from following it anywhere else.
//!
//! Network URLs may carry credentials, so [`SourceUrl`]'s `Display` and `Debug` print the
//! redacted form ([`crate::net::secret_url`]); the full text comes out only through the
//! explicit [`SourceUrl::expose`] / [`NetworkUrl::expose`].

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use url::{Host, Url};
use vigil_config::Settings;

use super::secret_url;

/// Longest URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// The schemes a network source may use.
const ACCEPTED: &str = "rtsp, rtsps, http, https, file, device or browser";

/// ffmpeg protocols named specially in the refusal, because someone typing them expects
/// ffmpeg's meaning (reading files, other inputs, raw sockets).
const FFMPEG_PROTOCOLS: &[&str] = &[
    "amqp",
    "async",
    "bluray",
    "cache",
    "concat",
    "concatf",
    "crypto",
    "data",
    "fd",
    "ftp",
    "gopher",
    "gophers",
    "hls",
    "httpproxy",
    "icecast",
    "ipfs",
    "ipns",
    "md5",
    "mmsh",
    "mmst",
    "pipe",
    "prompeg",
    "rtmp",
    "rtmpe",
    "rtmps",
    "rtmpt",
    "rtmpte",
    "rtmpts",
    "rtp",
    "sctp",
    "sftp",
    "smb",
    "srt",
    "srtp",
    "subfile",
    "tcp",
    "tee",
    "tls",
    "udp",
    "udplite",
    "unix",
    "zmq",
];

/// Why a source URL was refused. Messages are sentences for the person who typed the
/// URL (they become 422 messages) and never repeat a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceUrlError {
    /// Nothing was given.
    #[error("the camera URL is empty")]
    Empty,
    /// Longer than [`MAX_URL_LEN`].
    #[error("the camera URL is {0} characters long; at most {MAX_URL_LEN} are accepted")]
    TooLong(usize),
    /// A control character (newline, NUL, …) anywhere.
    #[error("the camera URL contains a control character (such as a line break)")]
    ControlCharacter,
    /// A space or other blank anywhere.
    #[error("the camera URL contains a space; write spaces as %20")]
    Whitespace,
    /// Any character outside ASCII.
    #[error("the camera URL contains a non-ASCII character; percent-encode it (%xx)")]
    NonAscii,
    /// `|`, which ffmpeg reads as a list of inputs.
    #[error("the camera URL contains `|`, which ffmpeg reads as a list of inputs")]
    Pipe,
    /// `\`, which URL parsers and ffmpeg read differently.
    #[error("the camera URL contains a backslash; use `/`")]
    Backslash,
    /// No `scheme:` prefix.
    #[error("the camera URL has no scheme: write it like rtsp://camera.local/stream")]
    NoScheme,
    /// A scheme that is not accepted.
    #[error("`{0}:` URLs are not accepted; use {ACCEPTED}")]
    Scheme(String),
    /// An ffmpeg protocol that is not accepted.
    #[error("`{0}:` is an ffmpeg protocol Vigil does not allow; use {ACCEPTED}")]
    FfmpegProtocol(String),
    /// Only `http`/`https` are accepted here (webhooks).
    #[error("`{0}:` is not accepted here; use http or https")]
    NotHttp(String),
    /// The URL does not parse.
    #[error("the camera URL is not a valid URL: {0}")]
    Malformed(String),
    /// A network URL without a host.
    #[error("the camera URL names no host: write it like {0}://camera.local/…")]
    NoHost(&'static str),
    /// A host name that is not a plain DNS name or IP address.
    #[error("`{0}` is not a valid host name or IP address")]
    BadHost(String),
    /// Port 0.
    #[error("port 0 cannot be connected to")]
    PortZero,
    /// A `#fragment`.
    #[error("the camera URL has a `#…` part, which cameras do not use; remove it")]
    Fragment,
    /// `browser` followed by something.
    #[error("a browser camera has no address: write just `browser`")]
    BrowserAddress,
    /// A host on a `file` or `device` URL.
    #[error("a {0} URL names no host: write {0}:///path (three slashes)")]
    LocalHost(&'static str),
    /// A user name or password on a `file` or `device` URL.
    #[error("a {0} URL cannot carry a user name or password")]
    LocalCredentials(&'static str),
    /// A query on a `file` or `device` URL.
    #[error("a {0} URL cannot have a `?…` part")]
    LocalQuery(&'static str),
    /// `.` or `..` path segments.
    #[error("the path may not contain `.` or `..` parts")]
    DotSegment,
    /// The path cannot be a local file path.
    #[error("the file URL does not name a usable local path")]
    NotAPath,
    /// The camera files folder is missing.
    #[error("the camera files folder {0} does not exist; create it or set cameras.files_dir")]
    FolderMissing(String),
    /// A file outside the camera files folder.
    #[error("file cameras may only read from the camera files folder {0}")]
    OutsideFolder(String),
    /// A symbolic link that leads outside the folder.
    #[error("{0} leads outside the camera files folder (a symbolic link)")]
    LinkEscape(String),
    /// No such file.
    #[error("there is no file {0} in the camera files folder")]
    FileMissing(String),
    /// A folder or device rather than a regular file.
    #[error("{0} is not a regular file")]
    NotAFile(String),
    /// A device path other than `/dev/videoN`.
    #[error("only V4L2 video devices are accepted: write device:///dev/video0")]
    BadDevice,
}

impl From<SourceUrlError> for crate::Error {
    fn from(e: SourceUrlError) -> Self {
        crate::Error::Invalid(e.to_string())
    }
}

/// What parsing needs from the configuration.
#[derive(Debug, Clone)]
pub struct SourceRules {
    /// The only folder `file` sources may read from (`cameras.files_dir`).
    pub files_dir: PathBuf,
}

impl SourceRules {
    /// The rules the settings give.
    pub fn from_settings(settings: &Settings) -> SourceRules {
        SourceRules {
            files_dir: settings.camera_files_dir(),
        }
    }
}

/// The network schemes a source (or webhook) may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetScheme {
    /// RTSP, media over RTP (UDP or interleaved TCP).
    Rtsp,
    /// RTSP over TLS.
    Rtsps,
    /// Plain HTTP (MJPEG stream or polled snapshot; webhooks).
    Http,
    /// HTTP over TLS.
    Https,
}

impl NetScheme {
    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            NetScheme::Rtsp => "rtsp",
            NetScheme::Rtsps => "rtsps",
            NetScheme::Http => "http",
            NetScheme::Https => "https",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            NetScheme::Rtsp => 554,
            NetScheme::Rtsps => 322,
            NetScheme::Http => 80,
            NetScheme::Https => 443,
        }
    }

    /// ffmpeg's `-protocol_whitelist` for this scheme: the protocol itself and the
    /// transports under it, nothing that reads files or opens other inputs.
    pub fn protocol_whitelist(self) -> &'static str {
        match self {
            NetScheme::Rtsp => "rtsp,rtp,udp,tcp",
            NetScheme::Rtsps => "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
            NetScheme::Http => "http,tcp",
            NetScheme::Https => "https,tls,tcp",
        }
    }

    fn from_name(name: &str) -> Option<NetScheme> {
        match name {
            "rtsp" => Some(NetScheme::Rtsp),
            "rtsps" => Some(NetScheme::Rtsps),
            "http" => Some(NetScheme::Http),
            "https" => Some(NetScheme::Https),
            _ => None,
        }
    }
}

/// A validated network URL: accepted scheme, a plain host, a non-zero port.
///
/// `Display` and `Debug` show the redacted form; [`NetworkUrl::expose`] the full one.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkUrl {
    url: Url,
    scheme: NetScheme,
    host: Host<String>,
    port: u16,
}

impl NetworkUrl {
    /// Parses a URL a webhook may post to: `http` or `https` only, same rules otherwise.
    pub fn parse_http(input: &str) -> Result<NetworkUrl, SourceUrlError> {
        check_text(input)?;
        let scheme = scheme_of(input)?;
        match NetScheme::from_name(&scheme) {
            Some(s @ (NetScheme::Http | NetScheme::Https)) => NetworkUrl::parse_as(input, s),
            _ => Err(SourceUrlError::NotHttp(shorten(&scheme))),
        }
    }

    fn parse_as(input: &str, scheme: NetScheme) -> Result<NetworkUrl, SourceUrlError> {
        let mut url = Url::parse(input).map_err(|e| SourceUrlError::Malformed(e.to_string()))?;
        if url.fragment().is_some() {
            return Err(SourceUrlError::Fragment);
        }
        let raw_host = match url.host() {
            Some(Host::Domain(d)) if !d.is_empty() => Host::Domain(d.to_string()),
            Some(Host::Domain(_)) | None => return Err(SourceUrlError::NoHost(scheme.as_str())),
            Some(Host::Ipv4(ip)) => Host::Ipv4(ip),
            Some(Host::Ipv6(ip)) => Host::Ipv6(ip),
        };
        // `rtsp` is not a scheme the URL standard knows, so its host comes back opaque:
        // percent-escapes and numeric forms like `0x7f.1` untouched. Parse it the way
        // `http` hosts are parsed so every scheme ends with one canonical host.
        let host = match raw_host {
            Host::Domain(d) => Host::parse(&d).map_err(|_| SourceUrlError::BadHost(shorten(&d)))?,
            other => other,
        };
        if let Host::Domain(name) = &host {
            check_dns_name(name)?;
        }
        url.set_host(Some(&host.to_string()))
            .map_err(|_| SourceUrlError::BadHost(shorten(&host.to_string())))?;
        let port = match url.port() {
            Some(0) => return Err(SourceUrlError::PortZero),
            Some(p) => p,
            None => scheme.default_port(),
        };
        Ok(NetworkUrl {
            url,
            scheme,
            host,
            port,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> NetScheme {
        self.scheme
    }

    /// The host: a DNS name (lowercase ASCII) or an IP address.
    pub fn host(&self) -> &Host<String> {
        &self.host
    }

    /// The port, the scheme's default when the URL names none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name, percent-encoded as in the URL (empty when none).
    pub fn username(&self) -> &str {
        self.url.username()
    }

    /// Whether the URL carries a non-empty password.
    pub fn has_password(&self) -> bool {
        self.url.password().is_some_and(|p| !p.is_empty())
    }

    /// The password, percent-encoded as in the URL. Only for code that must hand it on.
    pub fn password(&self) -> Option<&str> {
        self.url.password()
    }

    /// The raw query (`a=1&b=2`), if any.
    pub fn query(&self) -> Option<&str> {
        self.url.query()
    }

    /// The full URL, credentials included: only for ffmpeg's argument vector, an HTTP
    /// client, or [`crate::net::seal`]. Never log it.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }

    /// The URL with the password and secret-looking query values replaced by `***`.
    pub fn redacted(&self) -> String {
        secret_url::redact(&self.url)
    }

    /// The full URL with the host replaced by `addr`, one of the addresses
    /// [`crate::net::resolve_and_check`] returned: connecting there, rather than to the
    /// name, means a second DNS answer (rebinding) cannot send the connection elsewhere.
    /// Send [`NetworkUrl::host_header`] as the `Host` header (ffmpeg:
    /// `-headers "Host: …\r\n"`); for `rtsps`/`https` also verify the certificate against
    /// the original name (an HTTP client's pinned-resolution feature does both, e.g.
    /// reqwest's `ClientBuilder::resolve`).
    pub fn with_address(&self, addr: SocketAddr) -> String {
        let mut url = self.url.clone();
        // Cannot fail: the URL has a host (checked at parse).
        let _ = url.set_ip_host(addr.ip());
        let _ = url.set_port(Some(addr.port()));
        url.into()
    }

    /// `host[:port]` as the original URL named it, for the `Host` header.
    pub fn host_header(&self) -> String {
        match self.url.port() {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// The IP address when the host is written as one (no DNS needed).
    pub fn ip_literal(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }
}

impl fmt::Display for NetworkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for NetworkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkUrl({})", self.redacted())
    }
}

/// A `file` source: a regular file inside the camera files folder, its path canonical
/// (no `..`, no symbolic link left to follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// The canonical path to hand to ffmpeg.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A V4L2 `device` source: `/dev/videoN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSource {
    path: PathBuf,
}

impl DeviceSource {
    /// The device node, `/dev/videoN`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A validated camera source.
#[derive(Clone, PartialEq, Eq)]
pub enum SourceUrl {
    /// `rtsp`, `rtsps`, `http` or `https`.
    Network(NetworkUrl),
    /// A looped local file in the camera files folder.
    File(FileSource),
    /// A V4L2 capture device.
    Device(DeviceSource),
    /// Frames pushed by a browser page; no address.
    Browser,
}

impl SourceUrl {
    /// Parses and validates what a user typed. The error says what is wrong in words
    /// fit for a 422 and never repeats a password.
    pub fn parse(input: &str, rules: &SourceRules) -> Result<SourceUrl, SourceUrlError> {
        check_text(input)?;
        if input.eq_ignore_ascii_case("browser") || input.eq_ignore_ascii_case("browser:") {
            return Ok(SourceUrl::Browser);
        }
        let scheme = scheme_of(input)?;
        if let Some(net) = NetScheme::from_name(&scheme) {
            return NetworkUrl::parse_as(input, net).map(SourceUrl::Network);
        }
        match scheme.as_str() {
            "file" => parse_file(input, rules).map(SourceUrl::File),
            "device" => parse_device(input).map(SourceUrl::Device),
            "browser" => Err(SourceUrlError::BrowserAddress),
            other if FFMPEG_PROTOCOLS.contains(&other) => {
                Err(SourceUrlError::FfmpegProtocol(other.to_string()))
            }
            other => Err(SourceUrlError::Scheme(shorten(other))),
        }
    }

    /// The kind, as the API names it: `rtsp`, `rtsps`, `http`, `https`, `file`,
    /// `device` or `browser`.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceUrl::Network(n) => n.scheme.as_str(),
            SourceUrl::File(_) => "file",
            SourceUrl::Device(_) => "device",
            SourceUrl::Browser => "browser",
        }
    }

    /// The network URL, for the sources that have one.
    pub fn network(&self) -> Option<&NetworkUrl> {
        match self {
            SourceUrl::Network(n) => Some(n),
            _ => None,
        }
    }

    /// The full URL text, credentials included; parsing it gives this source back. Only
    /// for storage through [`crate::net::seal`] and for the process that connects.
    pub fn expose(&self) -> String {
        match self {
            SourceUrl::Network(n) => n.expose().to_string(),
            SourceUrl::File(f) => file_url(&f.path),
            SourceUrl::Device(d) => format!("device://{}", d.path.display()),
            SourceUrl::Browser => "browser".into(),
        }
    }

    /// The URL safe to show and log: passwords and secret-looking query values masked.
    pub fn redacted(&self) -> String {
        match self {
            SourceUrl::Network(n) => n.redacted(),
            // No credentials can be in these (refused at parse).
            other => other.expose(),
        }
    }

    /// ffmpeg's `-protocol_whitelist` for this source, or `None` for a browser camera
    /// (no ffmpeg). A V4L2 device is opened by the `v4l2` input format (`-f v4l2`), not
    /// a protocol; `file` is listed so nothing else can be.
    pub fn protocol_whitelist(&self) -> Option<&'static str> {
        match self {
            SourceUrl::Network(n) => Some(n.scheme.protocol_whitelist()),
            SourceUrl::File(_) | SourceUrl::Device(_) => Some("file"),
            SourceUrl::Browser => None,
        }
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceUrl({})", self.redacted())
    }
}

/// Refusals that need no parsing: length and characters.
fn check_text(input: &str) -> Result<(), SourceUrlError> {
    if input.is_empty() {
        return Err(SourceUrlError::Empty);
    }
    if input.len() > MAX_URL_LEN {
        return Err(SourceUrlError::TooLong(input.len()));
    }
    for c in input.chars() {
        if c.is_control() {
            return Err(SourceUrlError::ControlCharacter);
        }
        if c.is_whitespace() {
            return Err(SourceUrlError::Whitespace);
        }
        if !c.is_ascii() {
            return Err(SourceUrlError::NonAscii);
        }
        if c == '|' {
            return Err(SourceUrlError::Pipe);
        }
        if c == '\\' {
            return Err(SourceUrlError::Backslash);
        }
    }
    Ok(())
}

/// The lowercase scheme before the first `:`.
fn scheme_of(input: &str) -> Result<String, SourceUrlError> {
    let (scheme, _) = input.split_once(':').ok_or(SourceUrlError::NoScheme)?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
        return Err(SourceUrlError::NoScheme);
    }
    Ok(scheme.to_ascii_lowercase())
}

/// A DNS name: labels of letters, digits, `-` and `_`, none empty, within DNS lengths.
fn check_dns_name(name: &str) -> Result<(), SourceUrlError> {
    let bad = || SourceUrlError::BadHost(shorten(name));
    if name.len() > 253 {
        return Err(bad());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// Refuses `.`/`..` segments, also percent-encoded, in the text after `scheme:`.
fn check_dot_segments(input: &str) -> Result<(), SourceUrlError> {
    let rest = input.split_once(':').map_or(input, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    for segment in path.split('/') {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if decoded == "." || decoded == ".." {
            return Err(SourceUrlError::DotSegment);
        }
    }
    Ok(())
}

/// Checks shared by `file` and `device`: no host, credentials, query or fragment.
fn local_url(input: &str, kind: &'static str) -> Result<Url, SourceUrlError> {
    check_dot_segments(input)?;
    let url = Url::parse(input).map_err(|e| SourceUrlError::Malformed(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SourceUrlError::LocalCredentials(kind));
    }
    if url.host_str().is_some_and(|h| !h.is_empty()) {
        return Err(SourceUrlError::LocalHost(kind));
    }
    if url.query().is_some() {
        return Err(SourceUrlError::LocalQuery(kind));
    }
    if url.fragment().is_some() {
        return Err(SourceUrlError::Fragment);
    }
    Ok(url)
}

fn parse_file(input: &str, rules: &SourceRules) -> Result<FileSource, SourceUrlError> {
    // `file:NAME` (no slash after the colon) names a file in the camera files folder,
    // the short form users type; `file:///abs/path` is the full form.
    let path = match input
        .get(5..)
        .filter(|rest| !rest.starts_with('/') && !rest.is_empty())
    {
        Some(name) if input[..5].eq_ignore_ascii_case("file:") => {
            check_dot_segments(input)?;
            rules.files_dir.join(name)
        }
        _ => {
            let url = local_url(input, "file")?;
            url.to_file_path().map_err(|_| SourceUrlError::NotAPath)?
        }
    };
    let shown_dir = rules.files_dir.display().to_string();
    let dir = rules
        .files_dir
        .canonicalize()
        .map_err(|_| SourceUrlError::FolderMissing(shown_dir.clone()))?;
    // Refuse by name first, so the answer never says whether a file outside exists.
    let inside_by_name = path.starts_with(&dir)
        || (rules.files_dir.is_absolute() && path.starts_with(&rules.files_dir));
    if !inside_by_name {
        return Err(SourceUrlError::OutsideFolder(shown_dir));
    }
    let shown = path.display().to_string();
    let canonical = match path.canonicalize() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SourceUrlError::FileMissing(shown))
        }
        Err(_) => return Err(SourceUrlError::NotAPath),
    };
    if !canonical.starts_with(&dir) || canonical == dir {
        return Err(SourceUrlError::LinkEscape(shown));
    }
    if !canonical.is_file() {
        return Err(SourceUrlError::NotAFile(shown));
    }
    Ok(FileSource { path: canonical })
}

fn parse_device(input: &str) -> Result<DeviceSource, SourceUrlError> {
    let url = local_url(input, "device")?;
    let number = url
        .path()
        .strip_prefix("/dev/video")
        .ok_or(SourceUrlError::BadDevice)?;
    if number.is_empty() || number.len() > 3 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SourceUrlError::BadDevice);
    }
    Ok(DeviceSource {
        path: PathBuf::from(url.path()),
    })
}

/// `file://` + the path, percent-encoded as a URL.
fn file_url(path: &Path) -> String {
    Url::from_file_path(path)
        .map(String::from)
        .unwrap_or_else(|()| format!("file://{}", path.display()))
}

/// Echoed input is cut short so an error message stays a message.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> (tempfile::TempDir, SourceRules) {
        let dir = tempfile::tempdir().unwrap();
        let rules = SourceRules {
            files_dir: dir.path().join("clips"),
        };
        std::fs::create_dir(&rules.files_dir).unwrap();
        std::fs::write(rules.files_dir.join("demo.mp4"), b"not really a video").unwrap();
        (dir, rules)
    }

    #[test]
    fn every_accepted_scheme_parses_to_its_kind() {
        let (_dir, rules) = rules();
        let demo = rules.files_dir.canonicalize().unwrap().join("demo.mp4");
        let file = format!("file://{}", demo.display());
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("rtsp://cam.local/stream1", "rtsp", Some("rtsp,rtp,udp,tcp")),
            (
                "RTSP://Cam.Local:8554/live",
                "rtsp",
                Some("rtsp,rtp,udp,tcp"),
            ),
            (
                "rtsps://cam.local/s",
                "rtsps",
                Some("rtsp,rtsps,rtp,srtp,udp,tcp,tls"),
            ),
            (
                "http://192.168.1.10/mjpg/video.mjpg",
                "http",
                Some("http,tcp"),
            ),
            (
                "https://cam.example/snapshot.jpg?x=1",
                "https",
                Some("https,tls,tcp"),
            ),
            ("http://[fd12::5]:8080/", "http", Some("http,tcp")),
            (&file, "file", Some("file")),
            ("device:///dev/video0", "device", Some("file")),
            ("device:/dev/video12", "device", Some("file")),
            ("browser", "browser", None),
            ("Browser:", "browser", None),
        ];
        for (input, kind, whitelist) in cases {
            let url =
                SourceUrl::parse(input, &rules).unwrap_or_else(|e| panic!("{input} refused: {e}"));
            assert_eq!(url.kind(), *kind, "{input}");
            assert_eq!(url.protocol_whitelist(), *whitelist, "{input}");
            // The exposed text parses back to the same source.
            assert_eq!(
                SourceUrl::parse(&url.expose(), &rules).unwrap(),
                url,
                "{input}"
            );
        }
    }

    #[test]
    fn hosts_ports_and_defaults_are_canonical() {
        let (_dir, rules) = rules();
        let cases: &[(&str, &str, u16)] = &[
            ("rtsp://Cam.LOCAL/x", "cam.local", 554),
            ("rtsps://cam/x", "cam", 322),
            ("http://cam/x", "cam", 80),
            ("https://cam/x", "cam", 443),
            ("rtsp://cam:8554/x", "cam", 8554),
            // Numeric and escaped forms mean the address they spell, for rtsp as for http.
            ("rtsp://0x7f.1/x", "127.0.0.1", 554),
            ("rtsp://2130706433/x", "127.0.0.1", 554),
            ("rtsp://%31%32%37.0.0.1/x", "127.0.0.1", 554),
            ("http://0177.0.0.1/x", "127.0.0.1", 80),
            ("rtsp://[::FFFF:127.0.0.1]/x", "[::ffff:7f00:1]", 554),
        ];
        for (input, host, port) in cases {
            let url = SourceUrl::parse(input, &rules).unwrap();
            let net = url.network().unwrap();
            assert_eq!(net.host().to_string(), *host, "{input}");
            assert_eq!(net.port(), *port, "{input}");
        }
        let ip = SourceUrl::parse("rtsp://0x7f.1/x", &rules).unwrap();
        assert_eq!(ip.expose(), "rtsp://127.0.0.1/x");
        assert_eq!(
            ip.network().unwrap().ip_literal(),
            Some("127.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn each_refusal_says_what_is_wrong() {
        let (dir, rules) = rules();
        let outside = dir.path().join("secret.txt");
        std::fs::write(&outside, b"x").unwrap();
        let link = rules.files_dir.join("link.mp4");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        std::fs::create_dir(rules.files_dir.join("sub")).unwrap();
        let clips = rules.files_dir.display().to_string();
        let long = format!("rtsp://cam/{}", "a".repeat(MAX_URL_LEN));
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "the camera URL is empty"),
            (long, "at most 2048 are accepted"),
            ("rtsp://cam/x\n".into(), "control character"),
            ("rtsp://cam/\u{0}".into(), "control character"),
            ("rtsp://cam/a b".into(), "contains a space"),
            ("rtsp://cam/\u{a0}".into(), "contains a space"),
            ("rtsp://cäm/x".into(), "non-ASCII"),
            ("concat:/etc/passwd|/etc/shadow".into(), "`|`"),
            ("http://cam/a|b".into(), "`|`"),
            ("http:\\\\cam\\x".into(), "backslash"),
            ("cam.local/stream".into(), "has no scheme"),
            ("//cam.local/stream".into(), "has no scheme"),
            ("1rtsp://cam".into(), "has no scheme"),
            ("concat:a.mp4".into(), "`concat:` is an ffmpeg protocol"),
            (
                "subfile:,,start,0,end,0,,:/etc/passwd".into(),
                "`subfile:` is an ffmpeg protocol",
            ),
            ("pipe:0".into(), "`pipe:` is an ffmpeg protocol"),
            (
                "data:image/jpeg;base64,AA==".into(),
                "`data:` is an ffmpeg protocol",
            ),
            ("tcp://cam:554".into(), "`tcp:` is an ffmpeg protocol"),
            (
                "hls+http://cam/x.m3u8".into(),
                "`hls+http:` URLs are not accepted",
            ),
            ("ftp://cam/x".into(), "`ftp:` is an ffmpeg protocol"),
            (
                "javascript:alert(1)".into(),
                "`javascript:` URLs are not accepted",
            ),
            ("rtsp:cam".into(), "names no host"),
            ("http://:80/x".into(), "not a valid URL"),
            ("rtsp:///stream".into(), "names no host"),
            ("rtsp://cam_era!/x".into(), "is not a valid host name"),
            ("rtsp://-cam/x".into(), "is not a valid host name"),
            ("rtsp://a..b/x".into(), "is not a valid host name"),
            ("rtsp://cam:0/x".into(), "port 0"),
            ("rtsp://cam:70000/x".into(), "not a valid URL"),
            ("rtsp://cam/x#frag".into(), "`#…` part"),
            ("browser://page".into(), "write just `browser`"),
            (
                "file://server/share/x.mp4".into(),
                "a file URL names no host",
            ),
            (
                "file:///etc/passwd".into(),
                "may only read from the camera files folder",
            ),
            (
                format!("file://{clips}/../secret.txt"),
                "may not contain `.` or `..`",
            ),
            (
                format!("file://{clips}/%2E%2e/secret.txt"),
                "may not contain `.` or `..`",
            ),
            (
                format!("file://{clips}/link.mp4"),
                "leads outside the camera files folder",
            ),
            (format!("file://{clips}/absent.mp4"), "there is no file"),
            (format!("file://{clips}/sub"), "is not a regular file"),
            (
                format!("file://{clips}/demo.mp4?x=1"),
                "cannot have a `?…` part",
            ),
            ("device://dev/video0".into(), "a device URL names no host"),
            (
                "device://user:pw@cam/dev/video0".into(),
                "user name or password",
            ),
            ("device:///dev/sda".into(), "only V4L2 video devices"),
            ("device:///dev/video".into(), "only V4L2 video devices"),
            ("device:///dev/video0x".into(), "only V4L2 video devices"),
            ("device:///dev/video1234".into(), "only V4L2 video devices"),
            (
                "device:///dev/./video0".into(),
                "may not contain `.` or `..`",
            ),
        ];
        for (input, expected) in &cases {
            match SourceUrl::parse(input, &rules) {
                Ok(url) => panic!("{input:?} accepted as {url}"),
                Err(e) => assert!(
                    e.to_string().contains(expected),
                    "{input:?}: `{e}` does not say `{expected}`"
                ),
            }
        }
        // A folder that does not exist is named.
        let missing = SourceRules {
            files_dir: dir.path().join("nowhere"),
        };
        let err = SourceUrl::parse("file:///x/y.mp4", &missing).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn refusals_never_repeat_the_password() {
        let (_dir, rules) = rules();
        for input in [
            "rtsp://admin:hunter2secret@cam/x#frag",
            "rtsp://admin:hunter2secret@cam:0/x",
            "rtsp://admin:hunter2secret@cam_!/x",
            "nope://admin:hunter2secret@cam/x",
        ] {
            let err = SourceUrl::parse(input, &rules).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{input}: {err}");
        }
    }

    #[test]
    fn webhook_urls_are_http_only() {
        assert!(NetworkUrl::parse_http("https://hooks.example/x?token=1").is_ok());
        assert!(NetworkUrl::parse_http("http://10.0.0.5:8080/hook").is_ok());
        let err = NetworkUrl::parse_http("rtsp://cam/x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`rtsp:` is not accepted here; use http or https"
        );
        let err = NetworkUrl::parse_http("file:///etc/passwd").unwrap_err();
        assert!(err.to_string().contains("use http or https"), "{err}");
    }

    #[test]
    fn with_address_pins_the_checked_ip_and_keeps_the_host_header() {
        let url = NetworkUrl::parse_http("http://user:pw@cam.local:8080/a?b=1").unwrap();
        let pinned = url.with_address("192.168.1.10:8080".parse().unwrap());
        assert_eq!(pinned, "http://user:pw@192.168.1.10:8080/a?b=1");
        assert_eq!(url.host_header(), "cam.local:8080");
        let v6 = SourceUrl::parse(
            "rtsp://cam/s",
            &SourceRules {
                files_dir: "/nonexistent".into(),
            },
        )
        .unwrap();
        let v6 = v6.network().unwrap();
        assert_eq!(
            v6.with_address("[fd00::7]:554".parse().unwrap()),
            "rtsp://[fd00::7]:554/s"
        );
        assert_eq!(v6.host_header(), "cam");
    }
}
