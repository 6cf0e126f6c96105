//! Starting real Vigil servers for tests: in-process on port 0 (with a fresh SQLite file
//! or a fresh PostgreSQL database each), or as a child `vigil` process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_config::{Profile, Secret, Settings};
use vigil_server::Application;

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// True when running in CI, where missing services must fail rather than skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The URL of an external test service from `var`, if set; in CI it must be.
fn service_url(var: &str, service: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(!in_ci(), "CI must set {var} so the {service} tests run");
            None
        }
    }
}

/// The PostgreSQL admin URL for tests, if configured.
pub fn postgres_url() -> Option<String> {
    service_url("VIGIL_TEST_DATABASE_URL", "PostgreSQL")
}

/// The Redis URL for tests (`VIGIL_TEST_REDIS_URL`), if configured.
pub fn redis_url() -> Option<String> {
    service_url("VIGIL_TEST_REDIS_URL", "Redis")
}

/// The databases to run a test against: SQLite always, PostgreSQL when configured.
pub fn databases() -> Vec<Db> {
    let mut dbs = vec![Db::Sqlite];
    if postgres_url().is_some() {
        dbs.push(Db::Postgres);
    } else {
        eprintln!(
            "note: PostgreSQL variant skipped (set VIGIL_TEST_DATABASE_URL=postgres://… to run it)"
        );
    }
    dbs
}

/// A fresh, empty PostgreSQL database; returns its URL. Dropped by [`drop_pg_database`].
pub async fn fresh_pg_database(admin_url: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("vigil_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("URL has a database part");
    format!("{base}/{name}")
}

/// Drops a database made by [`fresh_pg_database`] (best effort).
pub async fn drop_pg_database(admin_url: &str, url: &str) {
    use sqlx::Connection;
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = sqlx::AnyConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// Settings for a test server: development profile, port 0, everything under `dir`.
pub fn test_settings(dir: &Path) -> Settings {
    let mut s = Settings {
        profile: Profile::Development,
        data_dir: dir.to_path_buf(),
        secret_key: Some(Secret::new("test-secret-key-0123456789-abcdefghijklmnop")),
        ..Settings::default()
    };
    s.server.listen = "127.0.0.1:0".parse().expect("addr");
    s.server.shutdown_grace_secs = 5;
    // Most tests do not need the face models; the vision tests switch them on.
    s.vision.enabled = false;
    // Budgets big enough that only the rate-limit tests ever meet them.
    s.rate_limit.default = vec!["1000000/day".into()];
    s.rate_limit.login = vec!["100000/minute".into()];
    s.rate_limit.recovery = vec!["100000/minute".into()];
    // The cheapest Argon2id the settings accept: tests hash many passwords.
    s.auth.argon2_memory_kib = 8 * 1024;
    s.auth.argon2_iterations = 1;
    s.vision.models_dir = Some(workspace_root().join("models"));
    s
}

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Sends an admin API key with every request.
    pub client: reqwest::Client,
    /// Sends no credentials.
    pub anon: reqwest::Client,
    /// The admin API key `client` sends.
    pub api_key: String,
    /// Kept so the data directory lives as long as the server.
    _dir: tempfile::TempDir,
    pub state: vigil_server::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg: Option<(String, String)>,
}

impl TestServer {
    /// Starts a server on `db` with default test settings.
    pub async fn start(db: Db) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server after letting `adjust` change the settings.
    pub async fn start_with(db: Db, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(dir.path());
        let mut pg = None;
        if db == Db::Postgres {
            let admin = postgres_url().expect("PostgreSQL configured");
            let url = fresh_pg_database(&admin).await;
            settings.database.url = Some(Secret::new(url.clone()));
            pg = Some((admin, url));
        }
        adjust(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("application builds");
        let addr = app.local_addr();
        let state = app.state().clone();
        let (api_key, _) = vigil_auth::apikeys::create(
            &state.db,
            "test admin",
            vigil_auth::Role::Admin,
            None,
            None,
        )
        .await
        .expect("create the test API key");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            client: client_with_key(&api_key),
            anon: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            api_key,
            _dir: dir,
            state,
            stop: Some(tx),
            task: Some(task),
            pg,
        }
    }

    /// `http://addr` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some((admin, url)) = self.pg.take() {
            drop_pg_database(&admin, &url).await;
        }
    }
}

/// A strong password for the people tests sign in as (it passes the strength rule).
pub const ADMIN_PASSWORD: &str = "orchid lantern rides the quiet tramline";

/// The `name=value` pair of a response's `Set-Cookie`.
pub fn cookie_of(resp: &reqwest::Response) -> String {
    resp.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie pair")
        .to_string()
}

/// Signs `name` in at `base`; returns the session's cookie pair and CSRF token.
pub async fn sign_in_at(base: &str, name: &str, password: &str) -> (String, String) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": name, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), reqwest::StatusCode::OK, "signing in {name}");
    let cookie = cookie_of(&resp);
    let body: serde_json::Value = resp.json().await.expect("login JSON");
    let csrf = body["csrf_token"].as_str().expect("csrf token").to_string();
    (cookie, csrf)
}

/// A client signed in at `base` as `name` (our Origin, the session cookie and its CSRF
/// token on every request): for what only a person may do, such as creating API keys
/// or issuing reset links (API keys cannot; a fresh sign-in needs no password again).
pub async fn session_client(base: &str, name: &str, password: &str) -> reqwest::Client {
    let (cookie, csrf) = sign_in_at(base, name, password).await;
    let mut headers = reqwest::header::HeaderMap::new();
    let value = |v: &str| reqwest::header::HeaderValue::from_str(v).expect("header value");
    headers.insert(reqwest::header::COOKIE, value(&cookie));
    headers.insert(reqwest::header::ORIGIN, value(base));
    headers.insert("x-csrf-token", value(&csrf));
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl TestServer {
    /// Creates a person directly in the database, as `vigil user add` would.
    pub async fn add_person(
        &self,
        name: &str,
        role: vigil_auth::Role,
        password: &str,
    ) -> vigil_auth::users::User {
        vigil_auth::users::create(
            &self.state.db,
            &self.state.identity.passwords,
            name,
            password,
            role,
        )
        .await
        .expect("create user")
    }

    /// Publishes `kind` on the server's bus, as the camera core does; returns the event
    /// id (0 for transient kinds such as detections).
    pub async fn publish(&self, kind: vigil_core::events::EventKind) -> i64 {
        self.state.events.publish(&kind).await.expect("publish").id
    }

    /// `GET path` with the admin key, as JSON (the answer must be 200).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self.client.get(self.url(path)).send().await.expect("GET");
        assert_eq!(resp.status(), reqwest::StatusCode::OK, "GET {path}");
        resp.json().await.expect("JSON")
    }

    /// A client signed in as a new admin person (see [`session_client`]), made directly
    /// in the database: only people may create users through the API.
    pub async fn admin_session(&self) -> reqwest::Client {
        let name = format!("admin-{}", hex::encode(rand::random::<[u8; 3]>()));
        self.add_person(&name, vigil_auth::Role::Admin, ADMIN_PASSWORD)
            .await;
        session_client(&self.url(""), &name, ADMIN_PASSWORD).await
    }
}

/// A client that sends `X-API-Key: key` and does not follow redirects.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-api-key",
        reqwest::header::HeaderValue::from_str(key).expect("key is a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Path of the `vigil` binary under test.
pub fn vigil_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigil"))
}

/// A `vigil` command with a clean environment (no stray `VIGIL_*` from the developer).
pub fn vigil() -> Command {
    clean(Command::new(vigil_bin()))
}

/// [`vigil`] run with the given umask (through `sh`, which sets it and execs the
/// binary), to show files get their modes whatever the umask.
pub fn vigil_with_umask(umask: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(vigil_bin());
    clean(cmd)
}

fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("VIGIL_") || k == "DATABASE_URL" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A free TCP port on loopback (bound then released; good enough for child processes).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A `vigil serve` child process.
pub struct ChildServer {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    /// An admin API key created (with `vigil apikey create`) before the server started.
    pub api_key: String,
    /// The data directory and environment the server runs with, for `vigil` commands.
    data_dir: PathBuf,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl ChildServer {
    /// Starts `vigil serve --data-dir dir` on a free port and waits until it accepts connections.
    pub fn start(data_dir: &Path) -> ChildServer {
        Self::start_cmd(vigil(), data_dir)
    }

    /// Like [`ChildServer::start`] with a prepared command (extra environment).
    pub fn start_cmd(mut cmd: Command, data_dir: &Path) -> ChildServer {
        // Same environment as the server, so the key lands in the same database.
        let env: Vec<_> = cmd
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_os_string(), v?.to_os_string())))
            .collect();
        let mut create = vigil();
        create.envs(env.iter().map(|(k, v)| (k, v)));
        let out = create
            .args([
                "apikey",
                "create",
                "--name",
                "test admin",
                "--role",
                "admin",
                "--data-dir",
            ])
            .arg(data_dir)
            .output()
            .expect("run vigil apikey create");
        assert!(
            out.status.success(),
            "vigil apikey create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let api_key = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let port = free_port();
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        // Crash and backup tests send hundreds of requests from one address; rate limits
        // stay off unless the test asks for them (ratelimit.rs does).
        if !cmd
            .get_envs()
            .any(|(k, _)| k == "VIGIL_RATE_LIMIT__ENABLED")
        {
            cmd.env("VIGIL_RATE_LIMIT__ENABLED", "false");
        }
        let child = cmd
            // These servers test storage and shutdown; loading the face models would only slow them.
            .env("VIGIL_VISION__ENABLED", "false")
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(log_file.try_clone().expect("clone"))
            .stderr(log_file)
            .spawn()
            .expect("spawn vigil serve");
        let server = ChildServer {
            child,
            port,
            log,
            api_key,
            data_dir: data_dir.to_path_buf(),
            env,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "vigil serve did not start; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// `http://127.0.0.1:port` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// A client signed in as a new admin person `name`, made with `vigil user add` (only
    /// people may create users through the API).
    pub async fn admin_session(&self, name: &str) -> reqwest::Client {
        use std::io::Write as _;
        let mut add = vigil()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args([
                "user",
                "add",
                name,
                "--admin",
                "--password-stdin",
                "--data-dir",
            ])
            .arg(&self.data_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run vigil user add");
        add.stdin
            .take()
            .expect("stdin")
            .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
            .expect("write the password");
        let out = add.wait_with_output().expect("vigil user add");
        assert!(
            out.status.success(),
            "vigil user add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        session_client(&self.url(""), name, ADMIN_PASSWORD).await
    }

    /// A client sending this server's admin API key.
    pub fn client(&self) -> reqwest::Client {
        client_with_key(&self.api_key)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny valid PNG (1×1) with `seed` mixed into a text chunk so each is distinct.
pub fn png(seed: u64) -> Vec<u8> {
    // 1×1 greyscale PNG; a tEXt chunk carries the seed (CRC is not checked by sniffing,
    // but we compute it anyway so the file is valid).
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    };
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    chunk(&mut out, b"tEXt", format!("seed\0{seed}").as_bytes());
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// CRC-32 as PNG chunks use it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Lowercase hex SHA-256.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The repository root (models, testdata, runtime live there).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The ONNX Runtime library for tests: `ORT_DYLIB_PATH`, else `runtime/libonnxruntime.so`.
/// `None` (with a note) when absent; with `VIGIL_TEST_REQUIRE_ORT=1` absence fails.
pub fn onnxruntime_library() -> Option<PathBuf> {
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("runtime/libonnxruntime.so"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("VIGIL_TEST_REQUIRE_ORT").is_err(),
        "VIGIL_TEST_REQUIRE_ORT is set but {} does not exist",
        path.display()
    );
    eprintln!("note: ONNX Runtime variant skipped (run scripts/fetch-onnxruntime.sh or set ORT_DYLIB_PATH)");
    None
}

/// Uploads acknowledged by the server: id → SHA-256 of the bytes sent.
pub type Acked = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;

/// Posts distinct PNGs to `base` until `stop`, recording every upload the server
/// acknowledged with 201; `seed` numbers the images across writers.
pub fn spawn_upload_writer(
    base: String,
    client: reqwest::Client,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: Acked,
    seed: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let bytes = png(seed.fetch_add(1, Ordering::Relaxed));
            match client
                .post(format!("{base}/api/v1/uploads"))
                .body(bytes.clone())
                .send()
                .await
            {
                Ok(resp) if resp.status() == reqwest::StatusCode::CREATED => {
                    if let Ok(v) = resp.json::<serde_json::Value>().await {
                        if let Some(id) = v["id"].as_str() {
                            acked
                                .lock()
                                .expect("lock")
                                .insert(id.to_string(), sha256(&bytes));
                        }
                    }
                }
                Ok(_) => {}
                // The server is gone (killed): back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
}

/// Sends only the headers of a request declaring a `len`-byte body, then reads the answer:
/// an oversized body must be refused before it is read (a real client sending it all
/// would race the server closing the connection).
pub async fn post_declaring_length(
    addr: SocketAddr,
    api_key: &str,
    path: &str,
    content_type: &str,
    len: usize,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {api_key}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("write headers");
    stream
        .write_all(&vec![b'a'; 4096])
        .await
        .expect("write a little body");
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Camera and violation events as the camera core publishes them (ids are 32 hex digits).
pub mod camera_events {
    use vigil_core::cameras::{
        CameraId, CameraSettings, CameraState, CameraStatus, CameraView, Detections, LiveFace,
        StateChange, ViolationId, ViolationView,
    };
    use vigil_core::events::EventKind;

    fn status(state: CameraState, error: Option<&str>) -> CameraStatus {
        CameraStatus {
            state,
            error: error.map(str::to_string),
            since: vigil_store::now_ms(),
            fps: if state == CameraState::Online {
                5.0
            } else {
                0.0
            },
        }
    }

    /// `camera.state`.
    pub fn state(camera: &str, name: &str, state: CameraState, error: Option<&str>) -> EventKind {
        EventKind::CameraState(StateChange {
            camera_id: CameraId::parse(camera).expect("a camera id"),
            name: name.into(),
            status: status(state, error),
        })
    }

    /// `camera.deleted`.
    pub fn deleted(camera: &str, name: &str) -> EventKind {
        let now = vigil_store::now_ms();
        EventKind::CameraChanged {
            action: "deleted",
            camera: Box::new(CameraView {
                id: CameraId::parse(camera).expect("a camera id"),
                name: name.into(),
                kind: "browser".into(),
                url: "browser".into(),
                enabled: false,
                settings: CameraSettings::default(),
                status: status(CameraState::Stopped, None),
                created_at: now,
                updated_at: now,
            }),
        }
    }

    /// `camera.detections` (transient): one face per label (`mask`, `no_mask`, `unknown`).
    pub fn detections(camera: &str, labels: &[&str]) -> EventKind {
        EventKind::Detections(Detections {
            camera_id: CameraId::parse(camera).expect("a camera id"),
            at: vigil_store::now_ms(),
            width: 640,
            height: 480,
            faces: labels
                .iter()
                .zip(1u64..)
                .map(|(label, track)| LiveFace {
                    track,
                    bbox: [10.0, 10.0, 60.0, 60.0],
                    label: (*label).into(),
                    score: 0.9,
                })
                .collect(),
            skipped: false,
        })
    }

    /// The violation `id` on `camera`, as the API shows it.
    pub fn violation_view(id: &str, camera: &str) -> ViolationView {
        ViolationView {
            id: ViolationId::parse(id).expect("a violation id"),
            camera_id: CameraId::parse(camera).expect("a camera id"),
            camera_name: "Entrance".into(),
            at: vigil_store::now_ms(),
            track: 7,
            score: 0.93,
            zone: None,
            bbox: [10.0, 20.0, 64.0, 64.0],
            frame_width: 640,
            frame_height: 480,
            acknowledged: None,
        }
    }

    /// `violation.created`.
    pub fn violation(id: &str, camera: &str) -> EventKind {
        EventKind::Violation {
            action: "created",
            violation: Box::new(violation_view(id, camera)),
        }
    }
}
