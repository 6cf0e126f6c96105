//! The OpenAPI document served at `/api/v1/openapi.json`.
//!
//! Each handler's `#[utoipa::path]` describes its success answers and the errors only it
//! gives (404 for an unknown upload, 409 for a taken username…). The errors every route
//! of a kind can give come from the shared layers, which read the route table
//! ([`ROUTES`]); [`describe_shared_layers`] adds them from the same table, so the
//! document cannot drift from what the layers do:
//! - the access layer: 401 and 403 on every route that is not public, and the
//!   credentials each accepts (the security requirements);
//! - the rate limiter and the media gate: 429 on every rate-limited or gated route;
//! - the body extractors and limits: 400, 413, 415 and 422 on routes that take a JSON
//!   body, 400 and 413 on routes that take a file, 400 on routes with query or path
//!   parameters, 404 on routes with path parameters;
//! - storage: 503 on every route that reads the database (all but the two probes, which
//!   describe their own answers).
//!
//! A handler's own description of a status wins over the shared one. Every error is
//! described with the one error body ([`ErrorBody`]); the `api_contract` script (see the
//! README) runs schemathesis against the served document to hold the server to it.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};

use crate::auth::access::Access;
use crate::auth::cookie;
use crate::error::{self, ErrorBody};
use crate::ratelimits::RouteClass;
use crate::routes::table::{Handler, Route, ROUTES};

/// The document's fixed parts; paths are collected from the routers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Vigil API", description = "Self-hosted AI server for cameras and media."),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "auth", description = "Sign-in, sessions, TOTP, one's own account, access policy"),
        (name = "users", description = "User administration (admins)"),
        (name = "apikeys", description = "API keys for applications (admins)"),
        (name = "uploads", description = "Uploaded media (images, video, audio, documents)"),
        (name = "vision", description = "Face detection, mask classification, embeddings, liveness"),
        (name = "audit", description = "The tamper-evident audit log: listing and CSV export (admins)"),
        (name = "events", description = "Live events over Server-Sent Events and WebSocket, resumable"),
        (name = "webhooks", description = "Outgoing webhooks: signed event deliveries with retries and a delivery log (admins)"),
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, error::ErrorCode))
)]
pub struct ApiDoc;

/// Security scheme: an API key in `X-API-Key`.
const API_KEY: &str = "api_key";
/// Security scheme: an API key as `Authorization: Bearer …`.
const BEARER: &str = "bearer";
/// Security scheme: a signed-in person's session cookie (plus `X-CSRF-Token` on writes).
const SESSION: &str = "session";

/// Adds to every operation in `doc` the security requirements and the error answers of
/// the shared layers, as decided by its row in [`ROUTES`] (see the module docs).
pub fn describe_shared_layers(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-API-Key",
            "An API key (`vigil apikey create`, or POST /api/v1/apikeys).",
        ))),
    );
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            cookie::PLAIN_NAME,
            "The session cookie set by POST /api/v1/auth/login (`__Host-vigil_session` over \
             HTTPS); writes also need the `X-CSRF-Token` header.",
        ))),
    );
    for route in ROUTES {
        if !matches!(route.handler, Handler::Api(_)) {
            continue;
        }
        let Some(item) = doc.paths.paths.get_mut(route.path) else {
            continue; // not served with these settings (`only_if`)
        };
        if let Some(operation) = operation_mut(item, route) {
            describe(operation, route);
        }
    }
}

/// The operation of `item` for the row's method.
fn operation_mut<'a>(item: &'a mut PathItem, route: &Route) -> Option<&'a mut Operation> {
    use axum::http::Method;
    match route.method {
        Method::GET => item.get.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        _ => None,
    }
}

/// What the shared layers can answer on one route.
fn describe(op: &mut Operation, route: &Route) {
    // utoipa names an operation after its handler (`list`, `create`…), which repeats
    // across modules; the document needs unique ids, so each gets its tag in front.
    if let (Some(tag), Some(id)) = (op.tags.as_ref().and_then(|t| t.first()), &op.operation_id) {
        op.operation_id = Some(format!("{tag}_{id}"));
    }
    let has_param = |place: ParameterIn| {
        op.parameters
            .iter()
            .flatten()
            .any(|p| p.parameter_in == place)
    };
    let (path_params, query_params) = (has_param(ParameterIn::Path), has_param(ParameterIn::Query));
    query_values_are_never_null(op);
    let body_types: Vec<String> = op
        .request_body
        .iter()
        .flat_map(|b| b.content.keys().cloned())
        .collect();
    let json_body = body_types.iter().any(|t| t == "application/json");

    match route.access {
        Access::Public | Access::PublicPage => {}
        // Only people: one's own account, and the changes confirmed with a password.
        Access::Account | Access::AccountPage | Access::Confirmed(_) => {
            op.security = Some(vec![SecurityRequirement::new::<_, _, &str>(SESSION, [])]);
        }
        Access::Role(_) | Access::Page(_) => {
            op.security = Some(vec![
                SecurityRequirement::new::<_, _, &str>(API_KEY, []),
                SecurityRequirement::new::<_, _, &str>(BEARER, []),
                SecurityRequirement::new::<_, _, &str>(SESSION, []),
            ]);
        }
    }
    let public = matches!(route.access, Access::Public | Access::PublicPage);

    let mut add = |status: u16, description: &str| add_error(op, status, description);
    if json_body {
        add(
            400,
            "The body is not valid JSON (`invalid_json`), or the query string is malformed",
        );
    } else if !body_types.is_empty() {
        add(400, "The body or the multipart form cannot be read");
    } else if query_params {
        add(
            400,
            "The query string is malformed or names an unknown parameter",
        );
    } else if path_params {
        add(400, "The path cannot be decoded");
    }
    if !public {
        add(
            401,
            "No credentials, or an API key that is wrong, expired or revoked (`unauthorized`)",
        );
        add(
            403,
            "The caller may not do this: role too low or an API key on a route for signed-in \
             people (`forbidden`), a session write without its CSRF token or from a foreign \
             origin (`csrf_failed`), a TOTP enrolment the role requires \
             (`totp_enrollment_required`), or a change that needs the current password or \
             a recent sign-in (`reauth_required`)",
        );
    }
    if path_params {
        add(
            404,
            "Nothing has this id (a malformed id names nothing too)",
        );
    }
    if !body_types.is_empty() {
        add(408, "The body took too long to arrive");
        add(413, "The body is larger than this route accepts");
    }
    if json_body {
        add(
            415,
            "The body is not sent as `Content-Type: application/json`",
        );
        add(
            422,
            "The JSON does not fit this operation's schema, or its values are not acceptable",
        );
    }
    if route.rate != RouteClass::Exempt || route.body.gated() {
        add(
            429,
            "Too many requests from this caller (`rate_limited`); see `Retry-After`",
        );
    }
    // The probes (public and exempt from rate limits) describe their own answers; every
    // other route reads the database, at least to check the caller's credentials.
    if !(public && route.rate == RouteClass::Exempt) {
        add(
            503,
            "Storage is unavailable or the server is at capacity (`service_unavailable`, \
             `overloaded`); see `Retry-After`",
        );
    }
}

/// A query parameter is absent or has a value, never `null`; utoipa describes an
/// `Option<T>` field as `T` or `null`, which would invite clients (and schemathesis) to
/// send a null that cannot be written in a query string.
fn query_values_are_never_null(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        if p.parameter_in != ParameterIn::Query {
            continue;
        }
        let Some(RefOr::T(Schema::Object(schema))) = p.schema.as_mut() else {
            continue;
        };
        if let SchemaType::Array(types) = &schema.schema_type {
            let mut kept: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            schema.schema_type = match kept.len() {
                1 => SchemaType::Type(kept.remove(0)),
                _ => SchemaType::Array(kept),
            };
        }
    }
}

/// Adds an error answer with the shared error body, unless the handler describes the
/// status itself.
fn add_error(op: &mut Operation, status: u16, description: &str) {
    let key = status.to_string();
    if op.responses.responses.contains_key(&key) {
        return;
    }
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name(
            <ErrorBody as utoipa::ToSchema>::name(),
        ))),
    );
    if matches!(status, 429 | 503) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    op.responses
        .responses
        .insert(key, RefOr::T(response.build()));
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{Operation, ParameterIn};
    use utoipa::openapi::{OpenApi, PathItem, RefOr};
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;

    use super::{describe_shared_layers, ApiDoc};
    use crate::routes::table::{Handler, ROUTES};
    use crate::state::AppState;

    /// The document as served with the default settings (every API row enabled).
    fn document() -> OpenApi {
        let mut router = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi());
        for route in ROUTES {
            if let Handler::Api(make) = route.handler {
                router = router.routes(make());
            }
        }
        let (_, mut doc) = router.split_for_parts();
        describe_shared_layers(&mut doc);
        doc
    }

    /// Every answer that has a body describes it with a schema, and every error answer
    /// uses the shared error body (except `/readyz`, whose 503 is its report).
    #[test]
    fn every_response_is_described_with_a_schema() {
        let doc = document();
        let mut checked = 0;
        for (path, item) in &doc.paths.paths {
            let ops = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                assert!(
                    op.responses
                        .responses
                        .keys()
                        .any(|s| s.starts_with('2') || s == "101"),
                    "{method} {path} documents no success"
                );
                for (status, response) in &op.responses.responses {
                    let RefOr::T(response) = response else {
                        panic!("{method} {path} {status}: a reference");
                    };
                    let bodiless = matches!(status.as_str(), "101" | "204" | "304");
                    assert_eq!(
                        response.content.is_empty(),
                        bodiless,
                        "{method} {path} {status}: body described iff the status has one"
                    );
                    for (media, content) in &response.content {
                        assert!(
                            content.schema.is_some(),
                            "{method} {path} {status} {media}: no schema"
                        );
                    }
                    let error = status.starts_with('4') || status.starts_with('5');
                    if error && !(path == "/readyz" && status == "503") {
                        let body = response.content.get("application/json").and_then(|c| {
                            match c.schema.as_ref() {
                                Some(RefOr::Ref(r)) => Some(r.ref_location.as_str()),
                                _ => None,
                            }
                        });
                        assert_eq!(
                            body,
                            Some("#/components/schemas/ErrorBody"),
                            "{method} {path} {status}: not the error body"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} responses checked");
        let mut ids = std::collections::BTreeSet::new();
        for item in doc.paths.paths.values() {
            for op in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let id = op.operation_id.clone().expect("an operation id");
                assert!(ids.insert(id.clone()), "operation id {id} repeats");
            }
        }
    }

    /// The shared layers' answers follow the route's row: a public route has no 401, an
    /// admin route has 401, 403 and 429, a JSON write has 415 and 422.
    #[test]
    fn shared_answers_follow_the_route_table() {
        let doc = document();
        let statuses = |path: &str, pick: fn(&PathItem) -> Option<&Operation>| {
            let op = pick(&doc.paths.paths[path]).expect("operation");
            op.responses.responses.keys().cloned().collect::<Vec<_>>()
        };
        let healthz = statuses("/healthz", |i| i.get.as_ref());
        assert_eq!(healthz, ["200"]);
        let create_user = statuses("/api/v1/users", |i| i.post.as_ref());
        for s in [
            "201", "400", "401", "403", "409", "413", "415", "422", "429", "503",
        ] {
            assert!(create_user.iter().any(|x| x == s), "POST /users lacks {s}");
        }
        let login = statuses("/api/v1/auth/login", |i| i.post.as_ref());
        assert!(!login.iter().any(|s| s == "403"), "{login:?}");
        let upload = statuses("/api/v1/uploads/{id}", |i| i.get.as_ref());
        assert!(upload.iter().any(|s| s == "404"));
        let list = doc.paths.paths["/api/v1/uploads"]
            .get
            .as_ref()
            .expect("GET /uploads");
        let limit = list
            .parameters
            .iter()
            .flatten()
            .find(|p| p.name == "limit")
            .expect("limit");
        assert!(
            limit.parameter_in == ParameterIn::Query,
            "limit is not in the query"
        );
        let schema = serde_json::to_value(&limit.schema).expect("json");
        assert_eq!(schema["type"], "integer", "{schema}");
        let security = |path: &str| {
            doc.paths.paths[path]
                .get
                .as_ref()
                .and_then(|o| o.security.clone())
        };
        assert!(security("/healthz").is_none());
        assert_eq!(security("/api/v1/auth/sessions").map(|s| s.len()), Some(1));
        assert_eq!(security("/api/v1/users").map(|s| s.len()), Some(3));
    }
}
