//! Every route the server answers, declared once: method, path, handler, access rule,
//! rate-limit class, body-limit/timeout class and, for console pages, the nav entry.
//!
//! Everything else is derived from [`ROUTES`]:
//! - the router ([`crate::api_routes`] / [`crate::router`]) registers each row's handler
//!   behind its body limit and timeout (rows whose [`Route::only_if`] is false are skipped);
//! - the OpenAPI document collects the [`Handler::Api`] rows (utoipa's `routes!`);
//! - the access layer's [`crate::auth::access::lookup`] and
//!   [`crate::auth::access::methods`] read the rows' rules;
//! - rate limiting ([`crate::middleware::rate_limit::classify`]) reads the rows' classes;
//! - the console nav ([`crate::routes::console::Chrome::links`]) lists the rows with a
//!   [`NavEntry`], in table order, to the roles their rule lets in.
//!
//! # Adding a route
//! 1. Write the handler in its `routes/` module. An API handler carries
//!    `#[utoipa::path(METHOD, path = "/api/v1/…", …)]`; a console page or file does not.
//! 2. Add **one row** here, in the group it belongs to:
//!    - an API operation: `Route::api(Method::POST, "/api/v1/things", OPERATOR, || routes!(things::create))`
//!      (one handler per row; the method and path must match the handler's `utoipa::path`,
//!      which the `api_rows_match_their_handlers` test checks);
//!    - a console page: `Route::page("/things", Page(Role::Viewer), || get(console::things))`,
//!      and `.nav(Nav::Things, "Things", "one line for the home page")` to list it in the nav
//!      (add the `Nav` variant in `routes/console.rs`; the handler passes it to `Chrome`);
//!    - then, only when the defaults do not fit: `.rate(RouteClass::…)` (the default is
//!      [`RouteClass::Api`] for API rows, [`RouteClass::Exempt`] for pages),
//!      `.body(BodyClass::…)` (default [`BodyClass::Small`]; [`BodyClass::Download`] also
//!      gives every answer the sandboxing media CSP),
//!      `.only_if(|settings| …)` for a route served only in some configurations,
//!      `.media_capture()` for a page that uses the camera or microphone (the default
//!      `Permissions-Policy` denies both).
//! 3. Add the route's expected answer per role to the matrix in
//!    `crates/vigil/tests/it/identity.rs` (`expected()`); the matrix test fails until you do.
//!
//! A route registered any other way has no rule: the access layer refuses it with 403
//! (fail closed) and the matrix test names it.

use axum::http::Method;
use axum::routing::{get, MethodRouter};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;
use vigil_config::Settings;
use vigil_core::Role;

use super::console::Nav;
use super::{
    analyze, apikeys, assets, audit, auth, cameras, console, docs, events, health, uploads, users,
    violations, webhooks,
};
use crate::auth::access::Access::{self, Account, AccountPage, Page, Public, PublicPage};
use crate::ratelimits::RouteClass;
use crate::state::AppState;

const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);
/// Admins who confirm with their password or a recent sign-in; never API keys.
const ADMIN_PERSON: Access = Access::Confirmed(Role::Admin);

/// What answers a route.
#[derive(Clone, Copy)]
pub enum Handler {
    /// An operation in the OpenAPI document: `|| routes!(module::handler)`.
    Api(fn() -> UtoipaMethodRouter<AppState>),
    /// A console page, file or document outside the OpenAPI document:
    /// `|| get(module::handler)`.
    Page(fn() -> MethodRouter<AppState>),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Api(_) => "Handler::Api",
            Handler::Page(_) => "Handler::Page",
        })
    }
}

/// The request-body limit and timeout a route runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyClass {
    /// `limits.json_body_bytes` and `server.request_timeout_secs`: JSON, pages, files.
    Small,
    /// The larger of `limits.media_upload_bytes` and `limits.image_upload_bytes`, and at
    /// least ten minutes: uploads of video, audio and documents.
    Media,
    /// `limits.image_upload_bytes` and `server.request_timeout_secs`: one image.
    Image,
    /// No body, `server.request_timeout_secs` to find and open the file, then streamed
    /// for as long as it takes; passes the media gate like [`BodyClass::Media`].
    Download,
    /// No body and no timeout: event streams stay open by design.
    Stream,
}

impl BodyClass {
    /// Whether transfers of this class pass the media gate (`middleware::media_gate`),
    /// which caps media in flight overall and per caller.
    pub fn gated(self) -> bool {
        matches!(self, BodyClass::Media | BodyClass::Download)
    }
}

/// A console page's link in the shared navigation (and on the home page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavEntry {
    /// Which page this is (the page's handler passes the same value to its `Chrome`).
    pub nav: Nav,
    /// Link text.
    pub label: &'static str,
    /// One line on the home page.
    pub description: &'static str,
}

/// One route: a method on a path template, its handler and everything decided about it.
#[derive(Debug, Clone)]
pub struct Route {
    /// The method (`GET` also answers `HEAD`).
    pub method: Method,
    /// The path template exactly as registered (`/api/v1/users/{id}`).
    pub path: &'static str,
    /// What answers it.
    pub handler: Handler,
    /// Who may call it.
    pub access: Access,
    /// Which rate-limit budget it spends.
    pub rate: RouteClass,
    /// Its body limit and timeout.
    pub body: BodyClass,
    /// Its entry in the console nav, for pages listed there.
    pub nav: Option<NavEntry>,
    /// Whether the main router serves it with these settings (`None`: always).
    pub only_if: Option<fn(&Settings) -> bool>,
    /// Whether the page uses the camera or microphone (`getUserMedia`): only such pages
    /// get a `Permissions-Policy` that allows them (for our own origin); every other
    /// response denies both.
    pub media_capture: bool,
}

impl Route {
    /// An API operation (in the OpenAPI document): rate class [`RouteClass::Api`], body
    /// class [`BodyClass::Small`].
    pub const fn api(
        method: Method,
        path: &'static str,
        access: Access,
        handler: fn() -> UtoipaMethodRouter<AppState>,
    ) -> Route {
        Route {
            method,
            path,
            handler: Handler::Api(handler),
            access,
            rate: RouteClass::Api,
            body: BodyClass::Small,
            nav: None,
            only_if: None,
            media_capture: false,
        }
    }

    /// A `GET` console page, file or document outside the OpenAPI document: not rate
    /// limited, body class [`BodyClass::Small`], not in the nav.
    pub const fn page(
        path: &'static str,
        access: Access,
        handler: fn() -> MethodRouter<AppState>,
    ) -> Route {
        Route {
            method: Method::GET,
            path,
            handler: Handler::Page(handler),
            access,
            rate: RouteClass::Exempt,
            body: BodyClass::Small,
            nav: None,
            only_if: None,
            media_capture: false,
        }
    }

    /// Spends the budget of `rate` instead of the default.
    pub const fn rate(mut self, rate: RouteClass) -> Route {
        self.rate = rate;
        self
    }

    /// Runs under the body limit and timeout of `body` instead of the default.
    pub const fn body(mut self, body: BodyClass) -> Route {
        self.body = body;
        self
    }

    /// Lists the page in the console nav as `label`, described on the home page by
    /// `description`; shown to the roles the page's rule lets in.
    pub const fn nav(mut self, nav: Nav, label: &'static str, description: &'static str) -> Route {
        self.nav = Some(NavEntry {
            nav,
            label,
            description,
        });
        self
    }

    /// Serves the route only when `when(settings)` is true.
    pub const fn only_if(mut self, when: fn(&Settings) -> bool) -> Route {
        self.only_if = Some(when);
        self
    }

    /// Lets the page use the camera and microphone (see [`Route::media_capture`]): for
    /// capture and proctoring pages only.
    pub const fn media_capture(mut self) -> Route {
        self.media_capture = true;
        self
    }

    /// Whether the main router serves this route with `settings`.
    pub fn enabled(&self, settings: &Settings) -> bool {
        self.only_if.is_none_or(|when| when(settings))
    }

    /// The least role that may open this console page, when it is one a signed-in person
    /// can open (the nav shows it to them).
    pub fn page_role(&self) -> Option<Role> {
        match self.access {
            Page(role) => Some(role),
            AccountPage => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// Every route, grouped by area. See the module docs for how to add one.
pub static ROUTES: &[Route] = &[
    // Operations. Probes stay open; metrics need a viewer key unless served on the
    // separate metrics listener (then the main listener does not serve them at all).
    Route::api(Method::GET, "/healthz", Public, || routes!(health::healthz))
        .rate(RouteClass::Exempt),
    Route::api(Method::GET, "/readyz", Public, || routes!(health::readyz)).rate(RouteClass::Exempt),
    Route::api(Method::GET, "/metrics", VIEWER, || routes!(health::metrics))
        .rate(RouteClass::Exempt)
        .only_if(|s| s.server.metrics_listen.is_none()),
    // API documentation and static assets.
    Route::page("/api/v1/openapi.json", Public, || get(docs::openapi)),
    Route::page("/api/v1/docs", Public, || get(docs::page)),
    Route::page("/assets/{*path}", Public, || get(assets::asset)),
    // Sign-in (per client address budgets) and one's own account.
    Route::api(Method::POST, "/api/v1/auth/login", Public, || {
        routes!(auth::login)
    })
    .rate(RouteClass::Login),
    Route::api(Method::POST, "/api/v1/auth/bootstrap", Public, || {
        routes!(auth::bootstrap)
    })
    .rate(RouteClass::Recovery),
    Route::api(Method::POST, "/api/v1/auth/reset", Public, || {
        routes!(auth::reset)
    })
    .rate(RouteClass::Recovery),
    Route::api(Method::POST, "/api/v1/auth/logout", Account, || {
        routes!(auth::logout)
    }),
    Route::api(Method::GET, "/api/v1/auth/me", VIEWER, || routes!(auth::me)),
    Route::api(Method::POST, "/api/v1/auth/password", Account, || {
        routes!(auth::change_password)
    }),
    Route::api(Method::POST, "/api/v1/auth/totp/enroll", Account, || {
        routes!(auth::totp_enroll)
    }),
    Route::api(Method::POST, "/api/v1/auth/totp/confirm", Account, || {
        routes!(auth::totp_confirm)
    }),
    Route::api(Method::POST, "/api/v1/auth/totp/disable", Account, || {
        routes!(auth::totp_disable)
    }),
    Route::api(Method::GET, "/api/v1/auth/sessions", Account, || {
        routes!(auth::my_sessions)
    }),
    Route::api(
        Method::DELETE,
        "/api/v1/auth/sessions/{id}",
        Account,
        || routes!(auth::revoke_my_session),
    ),
    Route::api(Method::GET, "/api/v1/auth/policy", ADMIN, || {
        routes!(auth::get_policy)
    }),
    Route::api(Method::PUT, "/api/v1/auth/policy", ADMIN, || {
        routes!(auth::put_policy)
    }),
    // Users, their sessions, API keys: admins only.
    Route::api(Method::GET, "/api/v1/users", ADMIN, || routes!(users::list)),
    Route::api(Method::POST, "/api/v1/users", ADMIN_PERSON, || {
        routes!(users::create)
    }),
    Route::api(Method::GET, "/api/v1/users/{id}", ADMIN, || {
        routes!(users::get_one)
    }),
    Route::api(Method::PATCH, "/api/v1/users/{id}", ADMIN_PERSON, || {
        routes!(users::update)
    }),
    Route::api(Method::DELETE, "/api/v1/users/{id}", ADMIN, || {
        routes!(users::delete)
    }),
    Route::api(
        Method::POST,
        "/api/v1/users/{id}/reset-link",
        ADMIN_PERSON,
        || routes!(users::reset_link),
    ),
    Route::api(Method::GET, "/api/v1/users/{id}/sessions", ADMIN, || {
        routes!(users::list_sessions)
    }),
    Route::api(Method::DELETE, "/api/v1/users/{id}/sessions", ADMIN, || {
        routes!(users::revoke_sessions)
    }),
    Route::api(
        Method::DELETE,
        "/api/v1/users/{id}/sessions/{session_id}",
        ADMIN,
        || routes!(users::revoke_session),
    ),
    Route::api(Method::GET, "/api/v1/apikeys", ADMIN, || {
        routes!(apikeys::list)
    }),
    Route::api(Method::POST, "/api/v1/apikeys", ADMIN_PERSON, || {
        routes!(apikeys::create)
    }),
    Route::api(Method::DELETE, "/api/v1/apikeys/{id}", ADMIN, || {
        routes!(apikeys::revoke)
    }),
    // The audit log: admins only (it names every user and address).
    Route::api(Method::GET, "/api/v1/audit", ADMIN, || routes!(audit::list)),
    Route::api(Method::GET, "/api/v1/audit/export.csv", ADMIN, || {
        routes!(audit::export_csv)
    }),
    // Webhooks: admins only (they send data out of Vigil).
    Route::api(Method::GET, "/api/v1/webhooks", ADMIN, || {
        routes!(webhooks::list)
    }),
    Route::api(Method::POST, "/api/v1/webhooks", ADMIN, || {
        routes!(webhooks::create)
    }),
    Route::api(Method::GET, "/api/v1/webhooks/{id}", ADMIN, || {
        routes!(webhooks::get_one)
    }),
    Route::api(Method::PATCH, "/api/v1/webhooks/{id}", ADMIN, || {
        routes!(webhooks::update)
    }),
    Route::api(Method::DELETE, "/api/v1/webhooks/{id}", ADMIN, || {
        routes!(webhooks::delete)
    }),
    Route::api(Method::POST, "/api/v1/webhooks/{id}/test", ADMIN, || {
        routes!(webhooks::test)
    }),
    Route::api(
        Method::GET,
        "/api/v1/webhooks/{id}/deliveries",
        ADMIN,
        || routes!(webhooks::deliveries),
    ),
    // Live events: any signed-in role may connect; each event is filtered by its role.
    Route::api(Method::GET, "/api/v1/events", VIEWER, || {
        routes!(events::stream)
    })
    .body(BodyClass::Stream),
    Route::api(Method::GET, "/api/v1/events/ws", VIEWER, || {
        routes!(events::websocket)
    })
    .body(BodyClass::Stream),
    // Uploads and analysis: viewers read, operators write.
    Route::api(Method::GET, "/api/v1/uploads", VIEWER, || {
        routes!(uploads::list)
    }),
    Route::api(Method::POST, "/api/v1/uploads", OPERATOR, || {
        routes!(uploads::create)
    })
    .body(BodyClass::Media),
    Route::api(Method::GET, "/api/v1/uploads/{id}", VIEWER, || {
        routes!(uploads::get_one)
    }),
    Route::api(Method::PATCH, "/api/v1/uploads/{id}", OPERATOR, || {
        routes!(uploads::update)
    }),
    Route::api(Method::DELETE, "/api/v1/uploads/{id}", OPERATOR, || {
        routes!(uploads::delete)
    }),
    Route::api(Method::GET, "/api/v1/uploads/{id}/content", VIEWER, || {
        routes!(uploads::content)
    })
    .body(BodyClass::Download),
    Route::api(Method::POST, "/api/v1/analyze", OPERATOR, || {
        routes!(analyze::analyze)
    })
    .body(BodyClass::Image),
    // Cameras, violations and statistics: viewers watch, operators manage.
    Route::api(Method::GET, "/api/v1/cameras", VIEWER, || {
        routes!(cameras::list)
    }),
    Route::api(Method::POST, "/api/v1/cameras", OPERATOR, || {
        routes!(cameras::create)
    }),
    Route::api(Method::POST, "/api/v1/cameras/test", OPERATOR, || {
        routes!(cameras::test)
    }),
    Route::api(Method::GET, "/api/v1/cameras/{id}", VIEWER, || {
        routes!(cameras::get_one)
    }),
    Route::api(Method::PATCH, "/api/v1/cameras/{id}", OPERATOR, || {
        routes!(cameras::update)
    }),
    Route::api(Method::DELETE, "/api/v1/cameras/{id}", OPERATOR, || {
        routes!(cameras::delete)
    }),
    Route::api(Method::POST, "/api/v1/cameras/{id}/start", OPERATOR, || {
        routes!(cameras::start)
    }),
    Route::api(Method::POST, "/api/v1/cameras/{id}/stop", OPERATOR, || {
        routes!(cameras::stop)
    }),
    Route::api(
        Method::GET,
        "/api/v1/cameras/{id}/snapshot.jpg",
        VIEWER,
        || routes!(cameras::snapshot),
    )
    .body(BodyClass::Download),
    Route::api(Method::GET, "/api/v1/cameras/{id}/stream", VIEWER, || {
        routes!(cameras::stream)
    })
    .body(BodyClass::Stream),
    Route::api(Method::GET, "/api/v1/cameras/{id}/ws", OPERATOR, || {
        routes!(cameras::websocket)
    })
    .body(BodyClass::Stream),
    Route::api(Method::GET, "/api/v1/violations", VIEWER, || {
        routes!(violations::list)
    }),
    Route::api(Method::GET, "/api/v1/violations/export.csv", VIEWER, || {
        routes!(violations::export)
    }),
    Route::api(Method::GET, "/api/v1/violations/{id}", VIEWER, || {
        routes!(violations::get_one)
    }),
    Route::api(Method::DELETE, "/api/v1/violations/{id}", OPERATOR, || {
        routes!(violations::delete)
    }),
    Route::api(
        Method::POST,
        "/api/v1/violations/{id}/acknowledge",
        OPERATOR,
        || routes!(violations::acknowledge),
    ),
    Route::api(
        Method::GET,
        "/api/v1/violations/{id}/frame.jpg",
        VIEWER,
        || routes!(violations::frame),
    )
    .body(BodyClass::Download),
    Route::api(
        Method::GET,
        "/api/v1/violations/{id}/face.jpg",
        VIEWER,
        || routes!(violations::face),
    )
    .body(BodyClass::Download),
    Route::api(Method::GET, "/api/v1/stats", VIEWER, || {
        routes!(violations::stats)
    }),
    // Console pages. The nav lists the rows with `.nav(…)` in this order.
    Route::page("/", Page(Role::Viewer), || get(console::home)).nav(
        Nav::Home,
        "Home",
        "cameras, today's compliance and the latest violations",
    ),
    Route::page("/live", Page(Role::Viewer), || get(console::live)).nav(
        Nav::Live,
        "Live",
        "every camera's feed with faces and masks marked",
    ),
    Route::page("/cameras", Page(Role::Viewer), || get(console::cameras)).nav(
        Nav::Cameras,
        "Cameras",
        "the cameras and their state; operators add, test and change them",
    ),
    Route::page("/cameras/{id}", Page(Role::Viewer), || get(console::camera)),
    Route::page("/cameras/{id}/browser", Page(Role::Operator), || {
        get(console::browser_camera)
    })
    .media_capture(),
    Route::page("/violations", Page(Role::Viewer), || {
        get(console::violations)
    })
    .nav(
        Nav::Violations,
        "Violations",
        "people seen without a mask, with snapshots; acknowledge or export them",
    ),
    Route::page("/stats", Page(Role::Viewer), || get(console::stats)).nav(
        Nav::Stats,
        "Statistics",
        "compliance over time and violations per hour, per camera",
    ),
    Route::page("/try", Page(Role::Operator), || get(console::try_image))
        .media_capture()
        .nav(
            Nav::Try,
            "Try an image",
            "upload a picture or take one with your webcam and see what Vigil finds",
        ),
    Route::page("/login", PublicPage, || get(console::login)),
    Route::page("/setup", PublicPage, || get(console::setup)),
    Route::page("/reset", PublicPage, || get(console::reset)),
    Route::page("/account", AccountPage, || get(console::account)).nav(
        Nav::Account,
        "Account",
        "your password, two-factor sign-in and sessions",
    ),
    Route::page("/admin/users", Page(Role::Admin), || {
        get(console::admin_users)
    })
    .nav(
        Nav::Users,
        "Users",
        "add people, change roles, reset passwords",
    ),
    Route::page("/admin/apikeys", Page(Role::Admin), || {
        get(console::admin_apikeys)
    })
    .nav(
        Nav::ApiKeys,
        "API keys",
        "keys for applications and cameras",
    ),
    Route::page("/admin/audit", Page(Role::Admin), || {
        get(console::admin_audit)
    })
    .nav(Nav::Audit, "Audit log", "who did what, and when"),
];

/// The row for `method` on the route template `path` (`HEAD` finds the `GET` row).
pub fn find(method: &Method, path: &str) -> Option<&'static Route> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_declared_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[i + 1..]
                    .iter()
                    .any(|o| o.method == r.method && o.path == r.path),
                "two rows for {} {}",
                r.method,
                r.path
            );
        }
        assert_eq!(
            find(&Method::HEAD, "/healthz").map(|r| r.access),
            Some(Public)
        );
        assert!(find(&Method::GET, "/nope").is_none());
    }

    /// A row's method and path are what the access and rate-limit layers match on, so
    /// they must be exactly the handler's `#[utoipa::path]`.
    #[test]
    fn api_rows_match_their_handlers() {
        for r in ROUTES {
            let Handler::Api(make) = r.handler else {
                continue;
            };
            let (_, paths, _) = make();
            let documented: Vec<&str> = paths.paths.keys().map(String::as_str).collect();
            assert_eq!(documented, [r.path], "{} {}", r.method, r.path);
            let item = &paths.paths[r.path];
            let ops = [
                (Method::GET, item.get.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
            ];
            let methods: Vec<_> = ops.iter().filter(|(_, on)| *on).map(|(m, _)| m).collect();
            assert_eq!(methods, [&r.method], "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn only_pages_are_in_the_nav() {
        for r in ROUTES.iter().filter(|r| r.nav.is_some()) {
            assert!(r.page_role().is_some(), "{} is in the nav", r.path);
        }
    }
}
