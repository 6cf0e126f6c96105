//! The web console's pages: server-rendered HTML (askama templates in `templates/`,
//! compiled into the binary and escaped automatically) with small ES modules from
//! `assets/js/` for the actions.
//!
//! Lists (users, API keys, one's sessions) are read through the identity use cases
//! (`vigil-core`) while rendering, so a page shows its data without JavaScript; every change goes through the
//! JSON API from `console.js`, which sends the CSRF token rendered into
//! `<meta name="csrf-token">`. Access is decided by the auth middleware from the rule
//! table ([`crate::routes::table`]); handlers check the principal again only so a
//! missing rule or layer fails closed instead of rendering a page for nobody.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use vigil_core::{now_ms, Principal, PrincipalKind, Role, UserId, UtcTime};

use crate::auth::middleware::{login_redirect, redirect};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Which console page is showing (marks the current nav link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/`
    Home,
    /// `/live`
    Live,
    /// `/cameras`, a camera's page and its browser-camera page
    Cameras,
    /// `/violations`
    Violations,
    /// `/stats`
    Stats,
    /// `/try`
    Try,
    /// `/account`
    Account,
    /// `/admin/users`
    Users,
    /// `/admin/apikeys`
    ApiKeys,
    /// `/admin/audit`
    Audit,
    /// Login, setup and reset pages (no nav).
    None,
}

/// A link in the shared navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    /// Target path.
    pub href: &'static str,
    /// Link text.
    pub label: &'static str,
    /// One line on the home page.
    pub description: &'static str,
    /// Whether this is the page showing.
    pub current: bool,
}

/// The signed-in person shown in the header.
#[derive(Debug, Clone)]
pub struct Me {
    /// Username.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// What the shared layout needs: title, nav, who is signed in, the CSRF token.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Page title (also the `<h1>`).
    pub title: &'static str,
    /// The page showing.
    pub current: Nav,
    /// The signed-in person, if any.
    pub me: Option<Me>,
    csrf: Option<String>,
}

impl Chrome {
    /// Layout for a public page (nobody shown, no nav).
    pub fn public(title: &'static str) -> Chrome {
        Chrome {
            title,
            current: Nav::None,
            me: None,
            csrf: None,
        }
    }

    /// Layout for a signed-in person's page.
    pub fn for_person(title: &'static str, current: Nav, p: &Principal) -> Chrome {
        let csrf = match &p.kind {
            PrincipalKind::Session { csrf_token, .. } => Some(csrf_token.clone()),
            PrincipalKind::ApiKey => None,
        };
        Chrome {
            title,
            current,
            me: Some(Me {
                name: p.name.clone(),
                role: p.role,
            }),
            csrf,
        }
    }

    /// The CSRF token for the `<meta>` tag.
    pub fn csrf_token(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    /// The nav links this person's role may open (the rows of
    /// [`ROUTES`](super::table::ROUTES) with a nav entry, in table order).
    pub fn links(&self) -> Vec<NavLink> {
        let Some(me) = &self.me else {
            return Vec::new();
        };
        // The pages with a nav entry in the route table, to the roles their rule lets in.
        super::table::ROUTES
            .iter()
            .filter_map(|route| Some((route, route.nav?, route.page_role()?)))
            .filter(|(_, _, min)| me.role >= *min)
            .map(|(route, entry, _)| NavLink {
                href: route.path,
                label: entry.label,
                description: entry.description,
                current: entry.nav == self.current,
            })
            .collect()
    }
}

/// A `<select>` option.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Submitted value (also shown).
    pub value: String,
    /// Pre-selected.
    pub selected: bool,
}

fn role_choices(selected: Role) -> Vec<Choice> {
    Role::ALL
        .iter()
        .map(|r| Choice {
            value: r.as_str().to_string(),
            selected: *r == selected,
        })
        .collect()
}

/// A time for display: ISO 8601 for `<time datetime>` and a short UTC text.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// `2025-03-01T12:30:05Z`
    pub iso: String,
    /// `2025-03-01 12:30 UTC`
    pub text: String,
}

impl Stamp {
    /// From Unix milliseconds.
    pub fn from_ms(ms: i64) -> Stamp {
        let t = UtcTime::from_unix_ms(ms);
        let (y, m, d) = (t.year, t.month, t.day);
        let (hh, mm, ss) = (t.hour, t.minute, t.second);
        Stamp {
            iso: format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
            text: format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC"),
        }
    }
}

/// Where to go after signing in: `next` when it is a path on this site, else `/`.
/// Refuses `//host`, `/\host` (browsers treat both as another origin), schemes and
/// control characters, so the login page cannot be used as an open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Renders a template as an uncacheable HTML page (pages carry the CSRF token).
fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            ApiError::internal(anyhow::Error::new(e).context("rendering a page")).into_response()
        }
    }
}

/// The signed-in person with at least `min`, or the response to send instead. The
/// middleware has already decided; this only keeps a page from rendering if it did not run.
fn person(
    principal: Option<Extension<Principal>>,
    min: Role,
    uri: &Uri,
) -> Result<Principal, Box<Response>> {
    let Some(Extension(p)) = principal else {
        return Err(Box::new(login_redirect(uri)));
    };
    if !p.is_user() || p.role < min {
        return Err(Box::new(
            ApiError::new(ErrorCode::Forbidden, "this page is not for you").into_response(),
        ));
    }
    Ok(p)
}

fn internal(e: vigil_core::Error, doing: &'static str) -> Response {
    ApiError::internal(anyhow::Error::new(e).context(doing)).into_response()
}

// ---------------------------------------------------------------------------------------
// Home

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    metrics_link: bool,
    can_operate: bool,
}

/// `GET /`: the console home: the cameras and their state, today's compliance and the
/// latest violations (read by `home.js`), then the pages your role may open and the server.
pub async fn home(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    uri: Uri,
) -> Response {
    let p = match person(principal, Role::Viewer, &uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    page(&HomePage {
        can_operate: p.role >= Role::Operator,
        chrome: Chrome::for_person("Console", Nav::Home, &p),
        // With a separate metrics listener, /metrics is not on this address.
        metrics_link: state.settings.server.metrics_listen.is_none(),
    })
}

// ---------------------------------------------------------------------------------------
// Live mask compliance: the live wall, cameras, a camera, the browser camera, violations,
// stats and "try an image". These pages render a frame and read everything else from the
// camera API (`/api/v1/cameras`, `/violations`, `/stats`, `/events`) in their scripts, so
// a page shows the same numbers as the API and stays live without reloading.

/// The frame rate asked of a browser camera (`getUserMedia`'s ideal `frameRate`): smooth
/// local video; the page sends frames to the server at the camera's detect fps, not this.
pub const BROWSER_CAPTURE_FPS: u32 = 24;

/// Longest camera id a page accepts in its path.
const MAX_CAMERA_ID: usize = 64;

/// Whether `id` looks like a camera id (letters, digits, `_` or `-`; the server makes 32
/// hex digits). Pages only put it in their markup (escaped anyway) and in the scripts'
/// API calls; the API answers 404 for an id that does not exist.
pub fn is_camera_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CAMERA_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Renders the page `make` builds for the signed-in person, who needs at least `min`.
fn page_for<T: Template>(
    principal: Option<Extension<Principal>>,
    min: Role,
    uri: &Uri,
    make: impl FnOnce(&Principal) -> T,
) -> Response {
    match person(principal, min, uri) {
        Ok(p) => page(&make(&p)),
        Err(r) => *r,
    }
}

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    chrome: Chrome,
}

/// `GET /live`: every camera's annotated feed and state, updated from the event stream.
pub async fn live(principal: Option<Extension<Principal>>, uri: Uri) -> Response {
    page_for(principal, Role::Viewer, &uri, |p| LivePage {
        chrome: Chrome::for_person("Live", Nav::Live, p),
    })
}

#[derive(Template)]
#[template(path = "cameras.html")]
struct CamerasPage {
    chrome: Chrome,
    can_operate: bool,
}

/// `GET /cameras`: the cameras with their state; operators add, edit, test, start, stop
/// and delete them.
pub async fn cameras(principal: Option<Extension<Principal>>, uri: Uri) -> Response {
    page_for(principal, Role::Viewer, &uri, |p| CamerasPage {
        can_operate: p.role >= Role::Operator,
        chrome: Chrome::for_person("Cameras", Nav::Cameras, p),
    })
}

#[derive(Template)]
#[template(path = "camera.html")]
struct CameraPage {
    chrome: Chrome,
    camera_id: String,
    can_operate: bool,
}

/// `GET /cameras/{id}`: one camera's feed, today's numbers and its recent violations.
pub async fn camera(
    principal: Option<Extension<Principal>>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if !is_camera_id(&id) {
        return ApiError::not_found("camera").into_response();
    }
    page_for(principal, Role::Viewer, &uri, |p| CameraPage {
        can_operate: p.role >= Role::Operator,
        chrome: Chrome::for_person("Camera", Nav::Cameras, p),
        camera_id: id,
    })
}

#[derive(Template)]
#[template(path = "browser_camera.html")]
struct BrowserCameraPage {
    chrome: Chrome,
    camera_id: String,
    capture_fps: u32,
}

/// `GET /cameras/{id}/browser`: this browser's camera as a Vigil camera. The only pages
/// allowed the camera are this one and "try an image" (`media_capture` in the route table).
pub async fn browser_camera(
    principal: Option<Extension<Principal>>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if !is_camera_id(&id) {
        return ApiError::not_found("camera").into_response();
    }
    page_for(principal, Role::Operator, &uri, |p| BrowserCameraPage {
        chrome: Chrome::for_person("Browser camera", Nav::Cameras, p),
        camera_id: id,
        capture_fps: BROWSER_CAPTURE_FPS,
    })
}

#[derive(Template)]
#[template(path = "violations.html")]
struct ViolationsPage {
    chrome: Chrome,
    can_operate: bool,
}

/// `GET /violations`: snapshots of the people seen without a mask, filtered; operators
/// acknowledge (with a note) and delete.
pub async fn violations(principal: Option<Extension<Principal>>, uri: Uri) -> Response {
    page_for(principal, Role::Viewer, &uri, |p| ViolationsPage {
        can_operate: p.role >= Role::Operator,
        chrome: Chrome::for_person("Violations", Nav::Violations, p),
    })
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    chrome: Chrome,
}

/// `GET /stats`: compliance over time per camera and violations per hour, as charts.
pub async fn stats(principal: Option<Extension<Principal>>, uri: Uri) -> Response {
    page_for(principal, Role::Viewer, &uri, |p| StatsPage {
        chrome: Chrome::for_person("Statistics", Nav::Stats, p),
    })
}

#[derive(Template)]
#[template(path = "try.html")]
struct TryPage {
    chrome: Chrome,
}

/// `GET /try`: upload a picture or take one with the webcam and see the faces and mask
/// labels the engine finds, with its timings. Operators and up, like `/api/v1/analyze`.
pub async fn try_image(principal: Option<Extension<Principal>>, uri: Uri) -> Response {
    page_for(principal, Role::Operator, &uri, |p| TryPage {
        chrome: Chrome::for_person("Try an image", Nav::Try, p),
    })
}

// ---------------------------------------------------------------------------------------
// Login, first-admin setup, password reset

/// Query of `/login`.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    welcome: Option<String>,
    reset: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    notice: Option<&'static str>,
    signed_in_as: Option<String>,
}

/// `GET /login`: the sign-in form. Someone already signed in is offered a link onwards
/// rather than redirected, so the page stays reachable to switch accounts.
pub async fn login(
    principal: Option<Extension<Principal>>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let signed_in_as = principal
        .filter(|Extension(p)| p.is_user())
        .map(|Extension(p)| p.name);
    let notice = if q.welcome.is_some() {
        Some("The administrator account is ready: sign in with it.")
    } else if q.reset.is_some() {
        Some("Your password is set: sign in with it.")
    } else {
        None
    };
    page(&LoginPage {
        chrome: Chrome::public("Sign in"),
        next,
        notice,
        signed_in_as,
    })
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    already_set_up: bool,
    min_password: usize,
}

/// `page(t)` with `Referrer-Policy: same-origin`: the setup and reset pages hold a
/// one-time token (in the URL's fragment until their script moves it into the form), and
/// no link or resource they load may carry anything of their address to another site.
/// Not `no-referrer`: under it a browser may send the page's own POSTs with
/// `Origin: null` (the Fetch standard says so; Firefox does it for `fetch`, Chromium
/// for forms), which the origin check refuses. Same-origin requests get a `Referer`,
/// but never the fragment, and the script has wiped the token from the address anyway.
fn token_page(t: &impl Template) -> Response {
    let mut response = page(t);
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET /setup#token=…`: create the first administrator with the bootstrap token. The
/// token is in the fragment, which the browser never sends: the page's script reads it,
/// removes it from the address bar, and sends it in the body of the setup request.
pub async fn setup(State(state): State<AppState>) -> Response {
    let already_set_up = match state.identity.is_set_up().await {
        Ok(set_up) => set_up,
        Err(e) => return internal(e, "counting users"),
    };
    token_page(&SetupPage {
        chrome: Chrome::public("Set up Vigil"),
        already_set_up,
        min_password: state.settings.auth.min_password_length,
    })
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    chrome: Chrome,
    min_password: usize,
}

/// `GET /reset#token=…`: set a new password with an admin-issued link. As for `/setup`,
/// the token never reaches the server in the request line; an invalid or expired one is
/// reported when the form is sent.
pub async fn reset(State(state): State<AppState>) -> Response {
    token_page(&ResetPage {
        chrome: Chrome::public("Choose a new password"),
        min_password: state.settings.auth.min_password_length,
    })
}

// ---------------------------------------------------------------------------------------
// Account

/// One of the person's sessions as shown on the account page.
#[derive(Debug)]
struct SessionRow {
    id: String,
    current: bool,
    ip: String,
    user_agent: String,
    created_at: Stamp,
    last_seen_at: Stamp,
    expires_at: Stamp,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    must_enroll_totp: bool,
    totp_enabled: bool,
    min_password: usize,
    sessions: Vec<SessionRow>,
}

/// `GET /account`: change password, enrol or turn off TOTP, see and end one's sessions.
pub async fn account(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    uri: Uri,
) -> Response {
    let p = match person(principal, Role::Viewer, &uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let (current, must_enroll_totp) = match &p.kind {
        PrincipalKind::Session {
            session_id,
            must_enroll_totp,
            ..
        } => (session_id.as_str(), *must_enroll_totp),
        PrincipalKind::ApiKey => ("", false),
    };
    let me = UserId::from_stored(p.id.clone());
    let totp_enabled = match state.identity.get_user(&me).await {
        Ok(u) => u.totp_enabled,
        // Deleted between the middleware's check and now: treat as signed out.
        Err(vigil_core::Error::NotFound(_)) => return redirect("/login"),
        Err(e) => return internal(e, "reading the signed-in user"),
    };
    let list = match state.identity.list_sessions(&me).await {
        Ok(l) => l,
        Err(e) => return internal(e, "listing sessions"),
    };
    let sessions = list
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == current,
            ip: s.ip.unwrap_or_else(|| "unknown".into()),
            user_agent: s
                .user_agent
                .map(|ua| shorten(&ua, 80))
                .unwrap_or_else(|| "unknown browser".into()),
            created_at: Stamp::from_ms(s.created_at),
            last_seen_at: Stamp::from_ms(s.last_seen_at),
            expires_at: Stamp::from_ms(s.expires_at),
            id: s.id,
        })
        .collect();
    page(&AccountPage {
        chrome: Chrome::for_person("Your account", Nav::Account, &p),
        must_enroll_totp,
        totp_enabled,
        min_password: state.settings.auth.min_password_length,
        sessions,
    })
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Admin: users

#[derive(Debug)]
struct UserRow {
    id: String,
    username: String,
    is_self: bool,
    role_choices: Vec<Choice>,
    disabled: bool,
    totp_enabled: bool,
    created_at: Stamp,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    min_password: usize,
    new_role_choices: Vec<Choice>,
    users: Vec<UserRow>,
}

/// `GET /admin/users`: list, add, change role, disable, reset link, sign out, delete.
pub async fn admin_users(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    uri: Uri,
) -> Response {
    let p = match person(principal, Role::Admin, &uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let list = match state.identity.list_users().await {
        Ok(l) => l,
        Err(e) => return internal(e, "listing users"),
    };
    let users = list
        .into_iter()
        .map(|u| UserRow {
            is_self: u.id == p.id,
            role_choices: role_choices(u.role),
            disabled: u.disabled,
            totp_enabled: u.totp_enabled,
            created_at: Stamp::from_ms(u.created_at),
            username: u.username,
            id: u.id,
        })
        .collect();
    page(&UsersPage {
        chrome: Chrome::for_person("Users", Nav::Users, &p),
        min_password: state.settings.auth.min_password_length,
        new_role_choices: role_choices(Role::Viewer),
        users,
    })
}

// ---------------------------------------------------------------------------------------
// Admin: API keys

#[derive(Debug)]
struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    role: Role,
    acts_as: Option<Role>,
    created_at: Stamp,
    expires_at: Option<Stamp>,
    last_used_at: Option<Stamp>,
    active: bool,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "admin_apikeys.html")]
struct KeysPage {
    chrome: Chrome,
    new_role_choices: Vec<Choice>,
    keys: Vec<KeyRow>,
}

/// `GET /admin/apikeys`: list, create (the key is shown once), revoke.
pub async fn admin_apikeys(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    uri: Uri,
) -> Response {
    let p = match person(principal, Role::Admin, &uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let list = match state.identity.list_api_keys_in_effect().await {
        Ok(l) => l,
        Err(e) => return internal(e, "listing API keys"),
    };
    let now = now_ms();
    let keys = list
        .into_iter()
        .map(|(k, acts_as)| {
            let active = k.is_active(now);
            let status = match acts_as {
                // Working on its own terms, but its creator is disabled or gone.
                None if active => "suspended (creator disabled)",
                _ => k.status(now),
            };
            KeyRow {
                active,
                status,
                // Shown only when the creator's current role holds the key below its own.
                acts_as: acts_as.filter(|r| *r != k.role),
                role: k.role,
                created_at: Stamp::from_ms(k.created_at),
                expires_at: k.expires_at.map(Stamp::from_ms),
                last_used_at: k.last_used_at.map(Stamp::from_ms),
                id: k.id,
                name: k.name,
                prefix: k.prefix,
            }
        })
        .collect();
    page(&KeysPage {
        chrome: Chrome::for_person("API keys", Nav::ApiKeys, &p),
        new_role_choices: role_choices(Role::Viewer),
        keys,
    })
}

// ---------------------------------------------------------------------------------------
// Admin: audit log

/// Query of `/admin/audit`: the filter form's fields, echoed back into the form. The
/// table itself is fetched by `audit.js` from `/api/v1/audit` with the same filters.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

/// The filter as shown in the form.
#[derive(Debug, Default)]
struct AuditFilter {
    action: String,
    actor: String,
    since: String,
    until: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    filter: AuditFilter,
    outcome_choices: Vec<Choice>,
    limit_choices: Vec<Choice>,
}

/// `GET /admin/audit`: filter form, table, paging and CSV export.
pub async fn admin_audit(
    principal: Option<Extension<Principal>>,
    uri: Uri,
    Query(q): Query<AuditQuery>,
) -> Response {
    let p = match person(principal, Role::Admin, &uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let outcome = q.outcome.unwrap_or_default();
    let limit = q.limit.and_then(|l| l.parse::<u32>().ok()).unwrap_or(50);
    page(&AuditPage {
        chrome: Chrome::for_person("Audit log", Nav::Audit, &p),
        filter: AuditFilter {
            action: q.action.unwrap_or_default(),
            actor: q.actor.unwrap_or_default(),
            since: q.since.unwrap_or_default(),
            until: q.until.unwrap_or_default(),
        },
        outcome_choices: ["", "success", "failure"]
            .iter()
            .map(|o| Choice {
                value: (*o).to_string(),
                selected: *o == outcome,
            })
            .collect(),
        limit_choices: [25u32, 50, 100, 200]
            .iter()
            .map(|n| Choice {
                value: n.to_string(),
                selected: *n == limit,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_kept_only_when_it_stays_on_this_site() {
        for (given, expected) in [
            (None, "/"),
            (Some("/account"), "/account"),
            (Some("/admin/users?x=1"), "/admin/users?x=1"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some("/a\nb"), "/"),
            (Some(""), "/"),
        ] {
            assert_eq!(safe_next(given), expected, "{given:?}");
        }
    }

    #[test]
    fn stamps_are_utc_calendar_dates() {
        let s = Stamp::from_ms(0);
        assert_eq!(s.iso, "1970-01-01T00:00:00Z");
        let s = Stamp::from_ms(1_709_294_405_000); // 2024-03-01T12:00:05Z (leap year)
        assert_eq!(s.iso, "2024-03-01T12:00:05Z");
        assert_eq!(s.text, "2024-03-01 12:00 UTC");
        assert_eq!(Stamp::from_ms(951_782_400_000).iso, "2000-02-29T00:00:00Z");
    }

    #[test]
    fn nav_shows_only_pages_the_role_may_open() {
        let chrome = |role| Chrome {
            title: "t",
            current: Nav::Home,
            me: Some(Me {
                name: "x".into(),
                role,
            }),
            csrf: None,
        };
        let hrefs = |role| {
            chrome(role)
                .links()
                .iter()
                .map(|l| l.href)
                .collect::<Vec<_>>()
        };
        let viewer = ["/", "/live", "/cameras", "/violations", "/stats"];
        assert_eq!(hrefs(Role::Viewer), [&viewer[..], &["/account"]].concat());
        assert_eq!(
            hrefs(Role::Operator),
            [&viewer[..], &["/try", "/account"]].concat()
        );
        assert_eq!(
            hrefs(Role::Admin),
            [
                "/",
                "/live",
                "/cameras",
                "/violations",
                "/stats",
                "/try",
                "/account",
                "/admin/users",
                "/admin/apikeys",
                "/admin/audit"
            ]
        );
        assert!(Chrome::public("t").links().is_empty());
    }

    #[test]
    fn camera_ids_in_page_paths_are_checked() {
        for ok in ["0123456789abcdef0123456789abcdef", "cam_a-b_c", "1"] {
            assert!(is_camera_id(ok), "{ok}");
        }
        let long = "a".repeat(MAX_CAMERA_ID + 1);
        for bad in ["", "<x>", "a/b", "é", "a b", "..", long.as_str()] {
            assert!(!is_camera_id(bad), "{bad}");
        }
    }

    #[test]
    fn pages_escape_user_text() {
        let html = LoginPage {
            chrome: Chrome::public("Sign in"),
            next: "/\"><script>x</script>".into(),
            notice: None,
            signed_in_as: Some("<b>".into()),
        }
        .render()
        .expect("renders");
        assert!(!html.contains("<script>x"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
    }
}
