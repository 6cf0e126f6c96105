//! Who may call what: the kinds of access rule, and the lookup of a route's rule.
//!
//! Each route's rule is declared on its row in [`ROUTES`] (`routes/table.rs`), keyed by
//! method and the route's path template exactly as registered (`/api/v1/users/{id}`). A
//! route without a row is refused with 403 (fail closed) and logged; the route × role
//! matrix test walks every registered route and fails when one is missing.

use axum::http::Method;
use vigil_auth::Role;

use crate::routes::table::{self, ROUTES};

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials (health, docs, login).
    Public,
    /// A user session or API key whose role is at least this.
    Role(Role),
    /// A signed-in person (any role), not an API key: their own account.
    Account,
    /// A signed-in person whose role is at least this, not an API key: a sensitive
    /// change the person confirms with their password or a recent sign-in (creating API
    /// keys, issuing reset links; see `vigil_core::reauth`). Keys get 403
    /// `reauth_required`, since they have no password to confirm with.
    Confirmed(Role),
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

/// The rule for `method` on the route template `path`, if the route is declared
/// ([`ROUTES`]; `HEAD` has the `GET` rule).
pub fn lookup(method: &Method, path: &str) -> Option<Access> {
    table::find(method, path).map(|route| route.access)
}

/// The methods declared for the route template `path` (for `Allow` on a 405).
pub fn methods(path: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = ROUTES
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.method.as_str())
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
    fn rules_come_from_the_route_table() {
        assert_eq!(lookup(&Method::HEAD, "/healthz"), Some(Access::Public));
        assert_eq!(
            lookup(&Method::DELETE, "/api/v1/users/{id}"),
            Some(Access::Role(Role::Admin))
        );
        assert_eq!(lookup(&Method::GET, "/nope"), None);
        assert_eq!(methods("/api/v1/apikeys"), ["GET", "POST", "HEAD"]);
        assert!(methods("/nope").is_empty());
    }
}
