//! The web console in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver, via `fantoccini`) against a real server on a random port.
//!
//! Each test starts its own chromedriver on a free port with a fresh profile. Without
//! `chromium` and `chromedriver` on PATH the tests say `note: … skipped`; in CI
//! (`CI=true`) that is a failure. Every page visited is also checked for Content Security
//! Policy violations, read from the browser's console log (`goog:loggingPrefs`).

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use vigil_auth::Role;

use crate::harness::{free_port, in_ci, Db, TestServer};

pub(crate) const ADMIN: &str = "ada";
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// A program on PATH, if there is one.
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A headless Chromium session; chromedriver is killed on drop.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    driver_port: u16,
    session_id: String,
    /// Kept so the profile directory lives as long as the browser.
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads its own process group (see `start`), and Chromium's many
        // processes are in it: kill the whole group, or a test that fails before
        // closing its session leaves a browser behind (hundreds, over a day of runs).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or `None` (with a note) when they are
    /// not installed outside CI.
    pub(crate) async fn start() -> Option<Browser> {
        Browser::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium flags (a fake camera, permission answers).
    pub(crate) async fn start_with(extra: &[String]) -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (on_path("chromium"), on_path("chromedriver"))
        else {
            assert!(
                !in_ci(),
                "CI must have chromium and chromedriver (apt-get install chromium chromium-driver)"
            );
            eprintln!("note: browser test skipped (apt-get install chromium chromium-driver)");
            return None;
        };
        let driver_port = free_port();
        let driver = Command::new(chromedriver)
            .process_group(0)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", driver_port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra.iter().cloned());
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                // The network is closed: without these Chromium keeps trying to reach
                // Google's services, and nothing may be downloaded during a test.
                "args": args,
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("capabilities are an object")
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let client = builder
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("WebDriver session with headless Chromium");
        let session_id = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Some(Browser {
            client,
            driver,
            driver_port,
            session_id,
            _profile: profile,
        })
    }

    /// Opens `url` and waits for the page's `<main>`.
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("main"))
            .await
            .expect("page has a <main>");
    }

    /// The path of the current page.
    pub(crate) async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .path()
            .to_string()
    }

    /// Waits until the current path is `path`.
    pub(crate) async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected to arrive at {path}, still at {now}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element's text once it is non-empty.
    pub(crate) async fn wait_for_text(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                let text = el.text().await.unwrap_or_default();
                if !text.trim().is_empty() {
                    return text;
                }
            }
            assert!(Instant::now() < deadline, "{css} never got any text");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of the input with id `id` once it is non-empty.
    pub(crate) async fn wait_for_value(&self, id: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self
                .client
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("#{id}: {e}"))
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default();
            if !value.is_empty() {
                return value;
            }
            assert!(Instant::now() < deadline, "#{id} never got a value");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(text)
            .await
            .expect("type");
    }

    /// The id of the focused element.
    pub(crate) async fn focused_id(&self) -> String {
        let el = self.client.active_element().await.expect("active element");
        el.attr("id").await.expect("id").unwrap_or_default()
    }

    /// Presses Tab on the focused element.
    pub(crate) async fn tab(&self) {
        let el = self.client.active_element().await.expect("active element");
        el.send_keys("\u{E004}").await.expect("Tab");
    }

    /// Browser console entries since the last call (chromedriver's log endpoint, which
    /// WebDriver proper does not have and fantoccini therefore does not wrap).
    pub(crate) async fn console_log(&self) -> Vec<String> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}/se/log",
            self.driver_port, self.session_id
        );
        let resp: Value = reqwest::Client::new()
            .post(url)
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("read the browser log")
            .json()
            .await
            .expect("log is JSON");
        resp["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// With `VIGIL_TEST_SCREENSHOTS=DIR`, saves a PNG of the page as `DIR/name.png` (for a
    /// person to look at the pages; tests never compare pixels).
    pub(crate) async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("VIGIL_TEST_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
    }

    /// Fails when the page logged a Content Security Policy violation (an inline script,
    /// style or handler the policy blocked) since the last check.
    pub(crate) async fn assert_no_csp_violations(&self, page: &str) {
        let violations: Vec<String> = self
            .console_log()
            .await
            .into_iter()
            .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
            .collect();
        assert!(
            violations.is_empty(),
            "CSP violations on {page}: {violations:#?}"
        );
    }
}

/// A server with one admin, made through the library as `vigil user add` would.
pub(crate) async fn server_with_admin() -> TestServer {
    let server = TestServer::start(Db::Sqlite).await;
    vigil_auth::users::create(
        &server.state.db,
        &server.state.identity.passwords,
        ADMIN,
        ADMIN_PASSWORD,
        Role::Admin,
    )
    .await
    .expect("create admin");
    server
}

/// Signs in through the login page: types the credentials and presses Enter.
pub(crate) async fn sign_in(b: &Browser, server: &TestServer, next: Option<&str>) {
    let url = match next {
        Some(n) => server.url(&format!("/login?next={n}")),
        None => server.url("/login"),
    };
    b.open(&url).await;
    b.type_into("#username", ADMIN).await;
    b.type_into("#password", &format!("{ADMIN_PASSWORD}\u{E007}"))
        .await;
}

#[tokio::test]
async fn login_page_signs_in_shows_console_and_logout_kills_the_cookie() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = server_with_admin().await;

    b.open(&server.url("/login")).await;
    b.assert_no_csp_violations("/login").await;
    b.screenshot("login").await;
    // The checker itself sees a violation: an inline script added to the page is blocked.
    b.client
        .execute(
            "const s = document.createElement('script'); s.textContent = '1'; document.body.append(s);",
            vec![],
        )
        .await
        .expect("inject an inline script");
    let seen = b.console_log().await;
    assert!(
        seen.iter().any(|m| m.contains("Content Security Policy")),
        "the CSP check must notice a blocked inline script: {seen:?}"
    );

    // Keyboard: the form is focused first, then Tab walks username → password → button.
    assert_eq!(
        b.focused_id().await,
        "username",
        "login starts in the username field"
    );
    b.tab().await;
    assert_eq!(b.focused_id().await, "password");
    b.tab().await;
    assert_eq!(
        b.focused_id().await,
        "sign-in",
        "the hidden TOTP field is skipped"
    );

    // A wrong password is announced in the form's live region, without leaving the page.
    b.type_into("#username", ADMIN).await;
    b.type_into("#password", "wrong password\u{E007}").await;
    let error = b.wait_for_text("#login-form [data-status].error").await;
    assert!(!error.is_empty());
    assert_eq!(b.path().await, "/login");

    sign_in(&b, &server, None).await;
    b.wait_for_path("/").await;
    let welcome = b.wait_for_text("#welcome").await;
    assert!(
        welcome.contains(ADMIN),
        "home shows who is signed in: {welcome}"
    );
    let who = b.wait_for_text("#whoami-name").await;
    assert_eq!(who, ADMIN);
    b.assert_no_csp_violations("/").await;

    // The session cookie is HttpOnly (page scripts cannot read it), but WebDriver can.
    let cookie = b
        .client
        .get_named_cookie("vigil_session")
        .await
        .expect("session cookie after sign-in");
    assert_eq!(cookie.http_only(), Some(true));
    let cookie_header = format!("vigil_session={}", cookie.value());
    let me = server
        .anon
        .get(server.url("/api/v1/auth/me"))
        .header("Cookie", &cookie_header)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200, "the browser's cookie works before logout");

    // Sign out with the header button: back at the login page.
    b.client
        .find(Locator::Id("sign-out"))
        .await
        .expect("sign-out button")
        .click()
        .await
        .expect("click");
    b.wait_for_path("/login").await;
    b.assert_no_csp_violations("sign-out").await;

    // The old cookie is dead on the server, not just forgotten by the browser.
    let me = server
        .anon
        .get(server.url("/api/v1/auth/me"))
        .header("Cookie", &cookie_header)
        .send()
        .await
        .expect("me");
    let status = me.status();
    let body: Value = me.json().await.expect("error body");
    assert_eq!(
        status, 401,
        "the old cookie must not work after logout: {body}"
    );
    assert_eq!(body["error"]["code"], "unauthorized");

    drop(b);
    server.stop().await;
}

#[tokio::test]
async fn anonymous_visit_to_account_goes_to_login_and_back_after_sign_in() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = server_with_admin().await;

    b.open(&server.url("/account")).await;
    assert_eq!(b.path().await, "/login");
    let url = b.client.current_url().await.expect("url");
    assert_eq!(
        url.query_pairs()
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned()),
        Some("/account".to_string())
    );

    // After signing in, the login page sends us where we were going.
    b.type_into("#username", ADMIN).await;
    b.type_into("#password", &format!("{ADMIN_PASSWORD}\u{E007}"))
        .await;
    b.wait_for_path("/account").await;
    b.client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("password-form"))
        .await
        .expect("account page");
    b.assert_no_csp_violations("/account").await;

    // An off-site `next` is ignored.
    let second = Browser::start().await.expect("second browser");
    sign_in(&second, &server, Some("//evil.example/")).await;
    second.wait_for_path("/").await;
    assert_eq!(
        second.client.current_url().await.expect("url").host_str(),
        Some("127.0.0.1")
    );

    drop(second);
    drop(b);
    server.stop().await;
}

#[tokio::test]
async fn admin_creates_an_api_key_and_sees_it_only_once() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = server_with_admin().await;
    sign_in(&b, &server, Some("/admin/apikeys")).await;
    b.wait_for_path("/admin/apikeys").await;
    b.assert_no_csp_violations("/admin/apikeys").await;

    b.type_into("#key-name", "door camera").await;
    b.client
        .find(Locator::Id("key-role"))
        .await
        .expect("role")
        .select_by_value("operator")
        .await
        .expect("select");
    b.type_into("#key-days", "30\u{E007}").await;

    // The new key appears once, selected for copying, and it works.
    let key = b.wait_for_value("new-key-value").await;
    assert!(key.starts_with("vgl_"), "{key}");
    b.screenshot("apikey-created").await;
    let me: Value = server
        .anon
        .get(server.url("/api/v1/auth/me"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("me with the key")
        .json()
        .await
        .expect("json");
    assert_eq!(me["kind"], "apikey", "{me}");
    assert_eq!(me["role"], "operator");

    // After "Done" the list has the key by name and prefix only.
    b.client
        .find(Locator::Css("#new-key button[data-action=reload]"))
        .await
        .expect("done button")
        .click()
        .await
        .expect("click");
    let row = b.wait_for_text("#apikeys tbody tr[data-key]").await;
    assert!(row.contains("door camera"), "{row}");
    let html = b.client.source().await.expect("source");
    assert!(!html.contains(&key), "the key must not be shown again");
    // The harness's own key has no expiry: the list says so in words, not a blank.
    let unlimited = b.wait_for_text("#apikeys .never-expires").await;
    assert_eq!(unlimited, "never expires");
    b.assert_no_csp_violations("/admin/apikeys after create")
        .await;

    // The other admin pages render under the CSP too.
    for path in ["/admin/users", "/admin/audit", "/account", "/"] {
        b.open(&server.url(path)).await;
        assert_eq!(b.path().await, path);
        b.assert_no_csp_violations(path).await;
        b.screenshot(&path.replace('/', "_")).await;
    }

    drop(b);
    server.stop().await;
}

/// A sign-in older than the re-authentication window: creating a key makes the console
/// ask for the current password in its dialog, show a wrong one's error there, and
/// retry the request once the right one is given.
#[tokio::test]
async fn a_sensitive_change_asks_for_the_current_password_in_a_dialog() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start_with(Db::Sqlite, |s| s.auth.reauth_window_secs = 0).await;
    server.add_person(ADMIN, Role::Admin, ADMIN_PASSWORD).await;
    sign_in(&b, &server, Some("/admin/apikeys")).await;
    b.wait_for_path("/admin/apikeys").await;
    b.type_into("#key-name", "door camera").await;
    b.type_into("#key-days", "30\u{E007}").await;

    // The dialog opens with the focus in its password field.
    b.client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#reauth-dialog[open]"))
        .await
        .expect("the password dialog opens");
    assert_eq!(b.focused_id().await, "reauth-password");
    b.screenshot("reauth-dialog").await;
    b.type_into("#reauth-password", "not my password at all\u{E007}")
        .await;
    let said = b.wait_for_text("#reauth-dialog [data-status]").await;
    assert!(said.contains("not correct"), "{said}");
    b.type_into("#reauth-password", &format!("{ADMIN_PASSWORD}\u{E007}"))
        .await;

    let key = b.wait_for_value("new-key-value").await;
    assert!(key.starts_with("vgl_"), "{key}");
    assert!(b
        .client
        .find(Locator::Css("#reauth-dialog[open]"))
        .await
        .is_err());
    b.assert_no_csp_violations("/admin/apikeys with the dialog")
        .await;
    drop(b);
    server.stop().await;
}

/// The setup and reset pages' own POSTs carry their origin: under `no-referrer` a
/// browser sends them with `Origin: null` (Chromium does for forms), which the origin
/// check refuses, and that refusal must stay (a null Origin can be any page).
#[tokio::test]
async fn token_pages_post_with_their_own_origin() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(Db::Sqlite).await;
    let null = server
        .anon
        .post(server.url("/api/v1/auth/login"))
        .header("origin", "null")
        .json(&json!({"username": "nobody", "password": "not a password at all"}))
        .send()
        .await
        .expect("login");
    assert_eq!(null.status(), 403, "Origin: null is refused");
    for path in ["/setup", "/reset"] {
        b.open(&server.url(path)).await;
        b.client
            .execute(
                "const f = document.createElement('form'); f.method = 'post'; \
                 f.action = '/api/v1/auth/login'; document.body.append(f); f.submit();",
                vec![],
            )
            .await
            .expect("submit a form");
        b.wait_for_path("/api/v1/auth/login").await;
        let answer = b.client.source().await.expect("page source");
        assert!(answer.contains("\"error\""), "{path}: {answer}");
        assert!(!answer.contains("csrf_failed"), "{path}: {answer}");
    }
    drop(b);
    server.stop().await;
}

/// The token of a setup or reset link rides in the URL's fragment: the page moves it into
/// its form, wipes it from the address bar, and sends it in the request body; the pages
/// send no Referer anywhere. First the first-admin setup, then a reset link.
#[tokio::test]
async fn setup_and_reset_links_keep_their_token_out_of_the_request_line() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start(Db::Sqlite).await;
    for path in ["/setup", "/reset"] {
        let resp = server
            .anon
            .get(server.url(path))
            .send()
            .await
            .expect("page");
        assert_eq!(resp.headers()["referrer-policy"], "same-origin", "{path}");
    }

    // First admin, from the start-up link.
    let link = server
        .state
        .identity
        .bootstrap_link(&server.url(""))
        .await
        .expect("link")
        .expect("no users yet");
    let (_, token) = link
        .split_once("/setup#token=")
        .expect("token in the fragment");
    b.open(&link).await;
    let url = b.client.current_url().await.expect("url");
    assert_eq!(
        url.fragment(),
        None,
        "the token is wiped from the address bar"
    );
    assert!(!url.as_str().contains(token), "{url}");
    let field = b
        .client
        .find(Locator::Id("token"))
        .await
        .expect("token field")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(field.as_deref(), Some(token), "the form holds the token");
    b.assert_no_csp_violations("/setup").await;
    b.type_into("#username", ADMIN).await;
    b.type_into("#password", ADMIN_PASSWORD).await;
    b.type_into("#password-again", &format!("{ADMIN_PASSWORD}\u{E007}"))
        .await;
    b.wait_for_path("/login").await;

    // A reset link for a second person, issued by an admin person (API keys cannot
    // create users or issue links).
    let admin = server.admin_session().await;
    let user: Value = admin
        .post(server.url("/api/v1/users"))
        .json(&json!({"username": "rita", "password": "rita's first passphrase", "role": "viewer"}))
        .send()
        .await
        .expect("create user")
        .json()
        .await
        .expect("user");
    let issued: Value = admin
        .post(server.url(&format!(
            "/api/v1/users/{}/reset-link",
            user["id"].as_str().expect("id")
        )))
        .send()
        .await
        .expect("reset link")
        .json()
        .await
        .expect("json");
    let link = issued["url"].as_str().expect("url");
    assert!(link.contains("/reset#token="), "{link}");
    b.open(link).await;
    let url = b.client.current_url().await.expect("url");
    assert_eq!(
        url.fragment(),
        None,
        "the token is wiped from the address bar"
    );
    assert_eq!(url.path(), "/reset");
    let new_password = "rita's brand new passphrase";
    b.type_into("#password", new_password).await;
    b.type_into("#password-again", &format!("{new_password}\u{E007}"))
        .await;
    b.wait_for_path("/login").await;
    b.assert_no_csp_violations("/reset").await;
    let login = server
        .anon
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "rita", "password": new_password}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "the new password works");

    // Without a token the page says the link is incomplete instead of showing the form.
    b.open(&server.url("/reset")).await;
    let notice = b.wait_for_text("#reset-missing").await;
    assert!(notice.contains("incomplete"), "{notice}");

    drop(b);
    server.stop().await;
}
