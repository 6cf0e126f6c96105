//! Who may call what: the one table of access rules.
//!
//! Every route the server registers must have a rule here, keyed by method and the
//! route's path template exactly as registered (`/api/v1/users/{id}`). A route without a
//! rule is refused with 403 (fail closed) and logged; the route × role matrix test walks
//! every registered route and fails when one is missing.

use axum::http::Method;
use vigil_auth::Role;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials (health, docs, login).
    Public,
    /// A user session or API key whose role is at least this.
    Role(Role),
    /// A signed-in person (any role), not an API key: their own account.
    Account,
    /// A console page for a signed-in person whose role is at least this. Anonymous
    /// visitors are redirected to the login page instead of getting a 401.
    Page(Role),
    /// A console page anyone may open (login, first-admin setup, password reset).
    PublicPage,
    /// The console page of one's own account: any signed-in person, also before a
    /// required TOTP enrolment (pages redirect there to enrol, so it must not redirect).
    AccountPage,
}

impl Access {
    /// Whether this is a console page (HTML) rather than an API route.
    pub fn is_page(self) -> bool {
        matches!(
            self,
            Access::Page(_) | Access::PublicPage | Access::AccountPage
        )
    }

    /// Whether a session that must still enrol TOTP may use this route.
    pub fn allowed_before_totp_enrolment(self) -> bool {
        matches!(
            self,
            Access::Public | Access::PublicPage | Access::Account | Access::AccountPage
        )
    }
}

use Access::{Account, AccountPage, Page, Public, PublicPage};
const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

/// Every route's rule: (method, path template, access). `GET` rules also cover `HEAD`.
pub const RULES: &[(&str, &str, Access)] = &[
    // Operations. Probes stay open; metrics need a viewer key unless served on the
    // separate metrics listener.
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", VIEWER),
    // API documentation and static assets.
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/api/v1/docs", Public),
    ("GET", "/assets/{*path}", Public),
    // Sign-in and one's own account.
    ("POST", "/api/v1/auth/login", Public),
    ("POST", "/api/v1/auth/bootstrap", Public),
    ("POST", "/api/v1/auth/reset", Public),
    ("POST", "/api/v1/auth/logout", Account),
    ("GET", "/api/v1/auth/me", Access::Role(Role::Viewer)),
    ("POST", "/api/v1/auth/password", Account),
    ("POST", "/api/v1/auth/totp/enroll", Account),
    ("POST", "/api/v1/auth/totp/confirm", Account),
    ("POST", "/api/v1/auth/totp/disable", Account),
    ("GET", "/api/v1/auth/sessions", Account),
    ("DELETE", "/api/v1/auth/sessions/{id}", Account),
    ("GET", "/api/v1/auth/policy", ADMIN),
    ("PUT", "/api/v1/auth/policy", ADMIN),
    // Users, their sessions, API keys: admins only.
    ("GET", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users", ADMIN),
    ("GET", "/api/v1/users/{id}", ADMIN),
    ("PATCH", "/api/v1/users/{id}", ADMIN),
    ("DELETE", "/api/v1/users/{id}", ADMIN),
    ("POST", "/api/v1/users/{id}/reset-link", ADMIN),
    ("GET", "/api/v1/users/{id}/sessions", ADMIN),
    ("DELETE", "/api/v1/users/{id}/sessions", ADMIN),
    ("DELETE", "/api/v1/users/{id}/sessions/{session_id}", ADMIN),
    ("GET", "/api/v1/apikeys", ADMIN),
    ("POST", "/api/v1/apikeys", ADMIN),
    ("DELETE", "/api/v1/apikeys/{id}", ADMIN),
    // The audit log: admins only (it names every user and address).
    ("GET", "/api/v1/audit", ADMIN),
    ("GET", "/api/v1/audit/export.csv", ADMIN),
    // Live events: any signed-in role may connect; each event is filtered by its role.
    ("GET", "/api/v1/events", VIEWER),
    ("GET", "/api/v1/events/ws", VIEWER),
    // Uploads and analysis: viewers read, operators write.
    ("GET", "/api/v1/uploads", VIEWER),
    ("POST", "/api/v1/uploads", OPERATOR),
    ("GET", "/api/v1/uploads/{id}", VIEWER),
    ("PATCH", "/api/v1/uploads/{id}", OPERATOR),
    ("DELETE", "/api/v1/uploads/{id}", OPERATOR),
    ("GET", "/api/v1/uploads/{id}/content", VIEWER),
    ("POST", "/api/v1/analyze", OPERATOR),
    // Console pages.
    ("GET", "/", Page(Role::Viewer)),
    ("GET", "/login", PublicPage),
    ("GET", "/setup", PublicPage),
    ("GET", "/reset", PublicPage),
    ("GET", "/account", AccountPage),
    ("GET", "/admin/users", Page(Role::Admin)),
    ("GET", "/admin/apikeys", Page(Role::Admin)),
    ("GET", "/admin/audit", Page(Role::Admin)),
];

/// The rule for `method` on the route template `path`, if there is one.
pub fn lookup(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// The methods that have rules for the route template `path` (for `Allow` on a 405).
pub fn methods(path: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = RULES
        .iter()
        .filter(|(_, p, _)| *p == path)
        .map(|(m, _, _)| *m)
        .collect();
    if out.contains(&"GET") {
        out.push("HEAD");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_unique() {
        for (i, (m, p, _)) in RULES.iter().enumerate() {
            assert!(
                !RULES[i + 1..].iter().any(|(m2, p2, _)| m == m2 && p == p2),
                "two rules for {m} {p}"
            );
        }
        assert_eq!(lookup(&Method::HEAD, "/healthz"), Some(Public));
        assert_eq!(lookup(&Method::GET, "/nope"), None);
    }
}
