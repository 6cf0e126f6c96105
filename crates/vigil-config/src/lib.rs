//! Vigil's settings: one typed [`Settings`] value, layered and validated once at start-up.
//!
//! Layers, lowest precedence first:
//! 1. built-in defaults (zero-config: development profile, `127.0.0.1:8000`, `./data`);
//! 2. a TOML file (`--config FILE`, or `vigil.toml` in the working directory if present);
//! 3. a `.env` file in the working directory (only `VIGIL_*` and `DATABASE_URL` lines);
//! 4. the process environment: `VIGIL_*` (nested keys joined with `__`, e.g.
//!    `VIGIL_SERVER__LISTEN`) and `DATABASE_URL`;
//! 5. command-line flags, applied by the caller through [`Overrides`].
//!
//! Unknown keys are rejected so a typo never silently falls back to a default.
//! [`Settings::validate`] then applies the cross-field rules (the production profile
//! refuses default or short secrets, debug features and insecure cookies) and reports
//! every problem at once, each naming the setting and how to fix it.
//!
//! Settings are passed through the application state, never stored in a global.

pub mod load;
mod rate;
mod secret;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use load::{load, load_from_text, LoadError, Overrides};
pub use rate::{parse_rates, Rate};
pub use secret::Secret;
pub use validate::{ValidationError, ValidationErrors};

/// Minimum length of `secret_key` in bytes outside development.
pub const MIN_SECRET_BYTES: usize = 32;

/// The deployment profile: decides defaults (log format, debug features, HSTS) and how
/// strict validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Local development: readable logs, debug features on, insecure cookies allowed.
    #[default]
    Development,
    /// Pre-production: production-like logging, secrets required.
    Staging,
    /// Production: every hardening rule enforced at start-up.
    Production,
}

impl Profile {
    /// The profile's name as written in config files and `VIGIL_PROFILE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Staging => "staging",
            Profile::Production => "production",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Profile::Development),
            "staging" => Ok(Profile::Staging),
            "production" | "prod" => Ok(Profile::Production),
            other => Err(format!(
                "unknown profile `{other}`: use development, staging or production"
            )),
        }
    }
}

/// Every setting Vigil reads. Field doc comments are the reference the README repeats.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Deployment profile (`VIGIL_PROFILE`): development, staging or production.
    pub profile: Profile,
    /// Secret used to derive signing keys (`VIGIL_SECRET_KEY`). At least 32 random bytes
    /// outside development; in development a random one is generated and kept in the data
    /// directory when unset.
    pub secret_key: Option<Secret>,
    /// Directory holding the SQLite database, blobs and generated files (`--data-dir`).
    pub data_dir: PathBuf,
    /// Turns on development conveniences (unauthenticated development-only routes,
    /// verbose error logging). Defaults to on in development only; refused in production.
    pub debug: Option<bool>,
    /// HTTP listener settings.
    pub server: ServerSettings,
    /// TLS settings for serving HTTPS natively.
    pub tls: TlsSettings,
    /// Cookie settings.
    pub cookies: CookieSettings,
    /// Database settings.
    pub database: DatabaseSettings,
    /// Blob storage settings (snapshots, uploads, reference photos).
    pub storage: StorageSettings,
    /// Logging settings.
    pub log: LogSettings,
    /// Request size limits.
    pub limits: LimitSettings,
    /// Vision engine (face models) settings.
    pub vision: VisionSettings,
    /// Identity and access: sessions, passwords, login throttling.
    pub auth: AuthSettings,
    /// Request rate limits.
    pub rate_limit: RateLimitSettings,
    /// The event bus: retention of the `events` table and cross-instance fan-out.
    pub events: EventSettings,
    /// Cameras: where `file` sources may live and which networks camera (and webhook)
    /// URLs may reach beyond the default rules.
    pub cameras: CameraSettings,
    /// Redis URL (`VIGIL_REDIS_URL`); when set, rate-limit budgets are shared by every
    /// Vigil instance using it, and events published on one instance reach every other.
    pub redis_url: Option<Secret>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile: Profile::Development,
            secret_key: None,
            data_dir: PathBuf::from("data"),
            debug: None,
            server: ServerSettings::default(),
            tls: TlsSettings::default(),
            cookies: CookieSettings::default(),
            database: DatabaseSettings::default(),
            storage: StorageSettings::default(),
            log: LogSettings::default(),
            limits: LimitSettings::default(),
            vision: VisionSettings::default(),
            auth: AuthSettings::default(),
            rate_limit: RateLimitSettings::default(),
            events: EventSettings::default(),
            cameras: CameraSettings::default(),
            redis_url: None,
        }
    }
}

/// HTTP listener settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on (`--listen`).
    pub listen: SocketAddr,
    /// Optional separate address for `/metrics` (kept off the public port when set).
    pub metrics_listen: Option<SocketAddr>,
    /// Optional plain-HTTP listener that redirects every request to HTTPS (needs TLS).
    pub redirect_listen: Option<SocketAddr>,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For`/`-Proto` are trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// Origins allowed to make cross-origin requests (exact `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// Longest time one request may take, in seconds, before a 408.
    pub request_timeout_secs: u64,
    /// Longest time a client may take to send request headers, in seconds (slowloris).
    pub header_read_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_secs: u64,
    /// Development only: serve plain HTTP on a non-loopback address anyway
    /// (`--insecure-lan`). Without it such a listener is refused, because passwords and
    /// session cookies would cross the network in clear; serve HTTPS instead
    /// (`vigil tls self-signed`). Production and staging are expected behind TLS (here
    /// or at a trusted proxy) and are not checked.
    pub allow_insecure_lan: bool,
    /// How often `/readyz`'s probes (database, blob store write, Redis) run in the
    /// background, in seconds; `/readyz` answers from their latest result, so calling it
    /// costs no I/O.
    pub readiness_interval_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            metrics_listen: None,
            redirect_listen: None,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            shutdown_grace_secs: 20,
            allow_insecure_lan: false,
            readiness_interval_secs: 5,
        }
    }
}

/// TLS settings. HTTPS is on when both files are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain (`--tls-cert`). Reloaded on SIGHUP or when the file changes.
    pub cert: Option<PathBuf>,
    /// PEM private key (`--tls-key`).
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// True when both a certificate and a key are configured.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }
}

/// Cookie settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieSettings {
    /// Mark cookies `Secure`. Defaults to on outside development or when TLS is on;
    /// production refuses `false`.
    pub secure: Option<bool>,
}

/// Database settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…` (`DATABASE_URL`). Unset: SQLite `vigil.db` in the data dir.
    pub url: Option<Secret>,
    /// Maximum pooled connections.
    pub max_connections: u32,
    /// Apply pending migrations at start-up (otherwise `vigil migrate` must be run first).
    pub auto_migrate: bool,
    /// SQLite: how long a writer waits for a lock, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            max_connections: 8,
            auto_migrate: true,
            busy_timeout_ms: 5000,
        }
    }
}

/// Which blob store backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A folder on the local disk (default: `<data_dir>/blobs`).
    #[default]
    Local,
    /// Any S3-compatible object store.
    S3,
}

/// Blob storage settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    /// `local` or `s3`.
    pub backend: StorageBackend,
    /// Local backend folder; default `<data_dir>/blobs`.
    pub path: Option<PathBuf>,
    /// S3 backend settings.
    pub s3: S3Settings,
}

/// S3-compatible object store settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL for non-AWS stores (MinIO, Ceph…); unset for AWS.
    pub endpoint: Option<String>,
    /// Region (any value for most non-AWS stores).
    pub region: Option<String>,
    /// Key prefix inside the bucket.
    pub prefix: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<Secret>,
    /// Allow a plain-HTTP endpoint (local test stores only).
    pub allow_http: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable in development, JSON otherwise.
    #[default]
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When a log file is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogRotation {
    /// A new file every hour.
    Hourly,
    /// A new file every day.
    #[default]
    Daily,
    /// Never rotate.
    Never,
}

/// Logging settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Filter directive (`info`, `vigil=debug,tower_http=info`…); `RUST_LOG` wins when set.
    pub level: Option<String>,
    /// `auto`, `text` or `json`.
    pub format: LogFormat,
    /// Also write logs to files in this directory.
    pub dir: Option<PathBuf>,
    /// Rotation of log files: `hourly`, `daily` or `never`.
    pub rotation: LogRotation,
    /// How many rotated files to keep.
    pub keep: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: None,
            format: LogFormat::Auto,
            dir: None,
            rotation: LogRotation::Daily,
            keep: 14,
        }
    }
}

/// Request body size limits, in bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// JSON and form bodies.
    pub json_body_bytes: usize,
    /// Image uploads.
    pub image_upload_bytes: usize,
    /// Video and audio uploads.
    pub media_upload_bytes: usize,
    /// Media transfers (uploads and content downloads) in flight at once, over all
    /// callers; beyond it the server answers 503 with `Retry-After`.
    pub media_in_flight: usize,
    /// Media transfers in flight at once per caller (API key, else user, else client
    /// address); beyond it the caller gets 429.
    pub media_in_flight_per_caller: usize,
    /// Largest image width or height in pixels accepted for decoding.
    pub image_max_dimension: u32,
    /// Largest image area in pixels accepted for decoding.
    pub image_max_pixels: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            json_body_bytes: 1024 * 1024,
            image_upload_bytes: 16 * 1024 * 1024,
            media_upload_bytes: 512 * 1024 * 1024,
            // Each transfer holds about 1 MiB of buffers and one file; 16 keep a 2-core
            // box's disk busy without letting one client monopolise it.
            media_in_flight: 16,
            media_in_flight_per_caller: 4,
            image_max_dimension: 12_000,
            image_max_pixels: 50_000_000,
        }
    }
}

/// Which inference engine runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VisionEngine {
    /// ONNX Runtime when its library loads, otherwise rten.
    #[default]
    Auto,
    /// ONNX Runtime only (fails to start without its library).
    Onnxruntime,
    /// rten, pure Rust, on any CPU.
    Rten,
}

/// Vision engine settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionSettings {
    /// Load the face models at start-up (off: the analysis API answers 503).
    pub enabled: bool,
    /// Folder holding the `.onnx` models (see `models/MODELS.md`). Unset: the first of
    /// `<binary dir>/models`, `<binary dir>/../share/vigil/models`,
    /// `/usr/share/vigil/models` and `./models` that holds them.
    pub models_dir: Option<PathBuf>,
    /// `auto`, `onnxruntime` or `rten`.
    pub engine: VisionEngine,
    /// Path of `libonnxruntime.so`; default `ORT_DYLIB_PATH`, else `runtime/libonnxruntime.so`.
    pub onnxruntime_path: Option<PathBuf>,
    /// Threads per model run.
    pub threads: usize,
    /// Inference jobs run at once (default: number of CPU cores).
    pub workers: Option<usize>,
    /// Jobs allowed to wait for a worker before requests get 503 + Retry-After.
    pub queue: usize,
    /// Default face detection threshold in [0, 1].
    pub det_threshold: f32,
}

impl Default for VisionSettings {
    fn default() -> Self {
        VisionSettings {
            enabled: true,
            models_dir: None,
            engine: VisionEngine::Auto,
            onnxruntime_path: None,
            threads: 1,
            workers: None,
            queue: 16,
            det_threshold: 0.75,
        }
    }
}

/// Identity and access settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after login, however active.
    pub session_lifetime_hours: u64,
    /// How often ended sessions and spent or expired one-time tokens are deleted, in
    /// seconds (a background task; they are refused as soon as they end either way).
    pub purge_interval_secs: u64,
    /// Shortest password accepted, in characters.
    pub min_password_length: usize,
    /// Least strength a new password needs, as the offline estimator zxcvbn scores it:
    /// 0 (off) to 4; 3 ("safely unguessable") refuses common, keyboard-walk and
    /// username-based passwords.
    pub min_password_score: u8,
    /// Seconds after signing in (or re-entering the password) during which sensitive
    /// changes (TOTP, API keys, reset links) need no password again; after that they
    /// ask for the current password (ASVS 3.7.1). 0 always asks.
    pub reauth_window_secs: u64,
    /// How long an admin-issued password reset link stays valid, in minutes.
    pub reset_link_minutes: u64,
    /// Failed logins for one username from one address before that pair must wait.
    pub max_failures: u32,
    /// Failed logins from one address (any usernames) before that address must wait.
    pub max_failures_per_ip: u32,
    /// The window failed logins are counted over, in minutes; a wait never lasts longer.
    pub failure_window_minutes: u64,
    /// Failed logins for one account (any addresses) within
    /// `account_failure_window_minutes` before the account waits (ASVS 2.2.1: at most 100
    /// an hour). Browsers that signed in as the user before (device cookie) have their
    /// own budget, so an attack does not lock the owner out.
    pub max_failures_per_account: u32,
    /// The window of `max_failures_per_account`, in minutes.
    pub account_failure_window_minutes: u64,
    /// Wrong second-factor codes (TOTP or recovery) for one account within
    /// `failure_window_minutes` before its sign-ins wait.
    pub max_second_factor_failures: u32,
    /// Argon2id memory cost in KiB (OWASP: 19456 with 2 iterations).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// The URL users reach Vigil at (`https://vigil.example.com`), used in bootstrap and
    /// reset links and as the origin browser requests must come from; defaults to the
    /// listen address. Required in production, where the `Host` header is not trusted as
    /// our origin (DNS rebinding; HTTP/2 has no `Host`).
    pub public_url: Option<String>,
    /// Seconds a verified API key or session is remembered in memory, sparing the
    /// database lookup on the next requests; 0 turns the cache off. Revocation, logout,
    /// disabling a user and role or password changes drop cached entries at once, on
    /// every instance (through the event bus).
    pub cache_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_idle_minutes: 30,
            session_lifetime_hours: 12,
            purge_interval_secs: 600,
            min_password_length: 12,
            min_password_score: 3,
            reauth_window_secs: 300,
            reset_link_minutes: 30,
            max_failures: 5,
            max_failures_per_ip: 20,
            failure_window_minutes: 15,
            max_failures_per_account: 100,
            account_failure_window_minutes: 60,
            max_second_factor_failures: 10,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            public_url: None,
            cache_secs: 5,
        }
    }
}

/// The event bus (`GET /api/v1/events`, its WebSocket, and fan-out between instances).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSettings {
    /// Hours an event stays in the `events` table, so a client that reconnects with
    /// `Last-Event-ID` gets what it missed; older events are deleted hourly.
    pub retention_hours: u64,
    /// Redis pub/sub channel events travel on between instances (when `redis_url` is
    /// set); deployments, or test runs, sharing one Redis use different channels.
    pub redis_channel: String,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            retention_hours: 72,
            redis_channel: "vigil:events".into(),
        }
    }
}

/// Camera sources and the network guard in front of every outgoing connection that a
/// user's URL decides (cameras, webhooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraSettings {
    /// The only folder `file` cameras may read from (`VIGIL_CAMERAS__FILES_DIR`);
    /// default `<data_dir>/camera-files`. A `file` URL outside it, or reaching outside it
    /// through `..` or a symbolic link, is refused.
    pub files_dir: Option<PathBuf>,
    /// CIDR ranges (`VIGIL_CAMERAS__ALLOWED_NETWORKS`, e.g. `["127.0.0.1/32"]`) that camera
    /// and webhook URLs may reach although the network guard refuses them by default:
    /// loopback, link-local, cloud metadata, multicast, broadcast and unspecified
    /// addresses. Private LAN ranges (10/8, 172.16/12, 192.168/16, fc00::/7) need no entry:
    /// cameras live there. Vigil's own listen addresses stay refused whatever this says.
    pub allowed_networks: Vec<IpNet>,
    /// The ffmpeg program that decodes camera streams (`VIGIL_CAMERAS__FFMPEG`); default
    /// `ffmpeg` from `PATH`. Its absence is reported in `/readyz` and on each camera.
    pub ffmpeg: Option<PathBuf>,
    /// The ffprobe program ("test connection", video facts); default `ffprobe` from `PATH`.
    pub ffprobe: Option<PathBuf>,
    /// Viewers of one camera's live stream at once (`/stream`); more get 409. Each viewer
    /// costs a JPEG encode per analysed frame (shared) and the bandwidth of the stream.
    pub max_viewers: usize,
}

impl Default for CameraSettings {
    fn default() -> Self {
        CameraSettings {
            files_dir: None,
            allowed_networks: Vec::new(),
            ffmpeg: None,
            ffprobe: None,
            max_viewers: 8,
        }
    }
}

/// Request rate limits. A limit is written `N/second`, `N/minute`, `N/hour` or `N/day`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Whether limits are enforced at all.
    pub enabled: bool,
    /// Limits every API route shares, per API key, else user, else client address.
    pub default: Vec<String>,
    /// Login attempts per client address.
    pub login: Vec<String>,
    /// First-admin setup and password reset attempts per client address.
    pub recovery: Vec<String>,
    /// Extra limits for single routes, keyed `"METHOD /path"` as in the API docs
    /// (for example `"POST /api/v1/analyze" = ["30/minute"]`).
    pub routes: std::collections::BTreeMap<String, Vec<String>>,
    /// Prefix of every rate-limit key in Redis (and in memory), so several Vigil
    /// deployments, or test runs, can share one Redis without sharing budgets.
    pub redis_prefix: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            default: vec!["200/day".into(), "50/hour".into()],
            login: vec!["10/minute".into()],
            recovery: vec!["5/hour".into()],
            routes: std::collections::BTreeMap::new(),
            redis_prefix: "vigil:rl:".into(),
        }
    }
}

impl Settings {
    /// Whether debug features are on (explicit setting, else on in development only).
    pub fn debug_enabled(&self) -> bool {
        self.debug.unwrap_or(self.profile == Profile::Development)
    }

    /// Whether cookies are marked `Secure` (explicit setting, else on outside
    /// development or when TLS is on).
    pub fn cookies_secure(&self) -> bool {
        self.cookies
            .secure
            .unwrap_or(self.profile != Profile::Development || self.tls.enabled())
    }

    /// Whether responses carry `Strict-Transport-Security`.
    pub fn hsts_enabled(&self) -> bool {
        self.profile == Profile::Production || self.tls.enabled()
    }

    /// Whether logs are written as JSON.
    pub fn log_json(&self) -> bool {
        match self.log.format {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => self.profile != Profile::Development,
        }
    }

    /// The default log filter for the profile, unless configured.
    pub fn log_filter(&self) -> String {
        self.log.level.clone().unwrap_or_else(|| {
            match self.profile {
                // ONNX Runtime logs every allocation at info; keep its warnings only.
                Profile::Development => "info,vigil=debug,ort=warn",
                _ => "info,ort=warn",
            }
            .to_string()
        })
    }

    /// The database URL: configured, else SQLite `vigil.db` in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite://{}", self.data_dir.join("vigil.db").display()),
        }
    }

    /// The local blob folder: configured, else `blobs` in the data directory.
    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// The folder `file` cameras may read from: configured, else `camera-files` in the
    /// data directory.
    pub fn camera_files_dir(&self) -> PathBuf {
        self.cameras
            .files_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("camera-files"))
    }

    /// The effective settings as TOML with every secret masked, for `vigil config show`.
    pub fn to_masked_toml(&self) -> String {
        // Show what is in force, not what was left unset: resolve profile-dependent values.
        let mut effective = self.clone();
        effective.debug = Some(self.debug_enabled());
        effective.cookies.secure = Some(self.cookies_secure());
        effective.log.level = Some(self.log_filter());
        // `Secret` serialises as a mask, so plain serialisation is already safe to print.
        toml::to_string_pretty(&effective)
            .unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_networks_are_cidrs_checked_when_the_config_is_read() {
        let settings: Settings = toml::from_str(
            "[cameras]\nallowed_networks = [\"127.0.0.1/32\", \"fd00::/8\"]\nfiles_dir = \"/srv/clips\"\n",
        )
        .unwrap();
        assert_eq!(
            settings.cameras.allowed_networks,
            vec![
                "127.0.0.1/32".parse::<IpNet>().unwrap(),
                "fd00::/8".parse().unwrap()
            ]
        );
        assert_eq!(settings.camera_files_dir(), PathBuf::from("/srv/clips"));

        let err = toml::from_str::<Settings>("[cameras]\nallowed_networks = [\"10.0.0.0/33\"]\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("invalid IP address syntax"),
            "{err}"
        );
        let err = toml::from_str::<Settings>("[cameras]\nallowed_network = []\n").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn camera_files_default_to_the_data_folder() {
        let settings = Settings {
            data_dir: PathBuf::from("/var/lib/vigil"),
            ..Settings::default()
        };
        assert!(settings.cameras.allowed_networks.is_empty());
        assert_eq!(
            settings.camera_files_dir(),
            PathBuf::from("/var/lib/vigil/camera-files")
        );
    }
}
