//! The route table: every path authd serves, with the methods each answers
//! and what the OpenAPI document needs to know of it (whether it reads a
//! body, needs a Bearer token, is throttled). Paths match with or without
//! their trailing slash (no redirect); a `{name}` segment matches any one
//! non-empty segment (see [`Route::param`]); Swagger UI's assets live under
//! `/swagger/`.

use std::sync::LazyLock;

use hyper::Method;

use crate::throttle::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Register,
    Login,
    Refresh,
    Verify,
    Logout,
    Me,
    /// The caller's live sessions.
    Sessions,
    /// One of the caller's sessions (`{id}`: its `sid`).
    Session,
    PasswordChange,
    PasswordReset,
    PasswordResetConfirm,
    Jwks,
    Healthz,
    Readyz,
    Metrics,
    Schema,
    SwaggerJson,
    SwaggerYaml,
    Swagger,
    Redoc,
}

static POST: [Method; 1] = [Method::POST];
static GET: [Method; 2] = [Method::GET, Method::HEAD];
static GET_PATCH: [Method; 3] = [Method::GET, Method::HEAD, Method::PATCH];
static DELETE: [Method; 1] = [Method::DELETE];

/// Every path and its route, as API.md and the OpenAPI document write it;
/// aliases of the old service after their canonical path.
const TABLE: &[(&str, Route)] = &[
    ("/api/auth/register/", Route::Register),
    ("/api/auth/login/", Route::Login),
    ("/api/auth/token/", Route::Login),
    ("/api/auth/token/refresh/", Route::Refresh),
    ("/api/auth/token/verify/", Route::Verify),
    ("/api/auth/logout/", Route::Logout),
    ("/api/auth/token/blacklist/", Route::Logout),
    ("/api/auth/me/", Route::Me),
    ("/api/auth/sessions/", Route::Sessions),
    ("/api/auth/sessions/{id}/", Route::Session),
    ("/api/auth/password/change/", Route::PasswordChange),
    ("/api/auth/password/reset/", Route::PasswordReset),
    (
        "/api/auth/password/reset/confirm/",
        Route::PasswordResetConfirm,
    ),
    ("/.well-known/jwks.json", Route::Jwks),
    ("/healthz", Route::Healthz),
    ("/readyz", Route::Readyz),
    ("/metrics", Route::Metrics),
    ("/api/schema/", Route::Schema),
    ("/swagger.json", Route::SwaggerJson),
    ("/swagger.yaml", Route::SwaggerYaml),
    ("/swagger/", Route::Swagger),
    ("/redoc/", Route::Redoc),
];

/// Swagger UI's files (`/swagger/swagger-ui.css`, ...).
const SWAGGER_ASSETS: &str = "/swagger/";

impl Route {
    /// The methods the route answers (OPTIONS is answered for every route).
    pub fn methods(self) -> &'static [Method] {
        match self {
            Route::Me => &GET_PATCH,
            Route::Session => &DELETE,
            Route::Sessions
            | Route::Jwks
            | Route::Healthz
            | Route::Readyz
            | Route::Metrics
            | Route::Schema
            | Route::SwaggerJson
            | Route::SwaggerYaml
            | Route::Swagger
            | Route::Redoc => &GET,
            _ => &POST,
        }
    }

    /// Whether a request may carry a JSON body (`PATCH /me` and every POST).
    pub fn reads_body(self) -> bool {
        !matches!(
            self,
            Route::Sessions
                | Route::Session
                | Route::Jwks
                | Route::Healthz
                | Route::Readyz
                | Route::Metrics
                | Route::Schema
                | Route::SwaggerJson
                | Route::SwaggerYaml
                | Route::Swagger
                | Route::Redoc
        )
    }

    /// Whether the route needs `Authorization: Bearer <access token>`.
    pub fn needs_bearer(self) -> bool {
        matches!(
            self,
            Route::Me | Route::PasswordChange | Route::Sessions | Route::Session
        )
    }

    /// Whether the route accepts the refresh token from the cookie.
    pub fn reads_refresh_cookie(self) -> bool {
        matches!(self, Route::Refresh | Route::Logout)
    }

    /// The throttle scopes every request of the route counts against (a
    /// request passes only if each has room), the more specific first.
    pub fn throttle_scopes(self) -> &'static [Scope] {
        match self {
            Route::Register => &[Scope::Registration],
            Route::Login => &[Scope::Login, Scope::LoginIp],
            Route::PasswordReset => &[Scope::PasswordReset, Scope::PasswordResetIp],
            Route::PasswordResetConfirm => &[Scope::PasswordResetCompletion],
            Route::PasswordChange => &[Scope::PasswordChange],
            _ => &[],
        }
    }

    /// Whether the route is throttled at all.
    pub fn is_throttled(self) -> bool {
        !self.throttle_scopes().is_empty()
    }

    /// The canonical path, as documented (for logs and the schema).
    pub fn path(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, route)| *route == self)
            .map_or("?", |(path, _)| path)
    }

    /// Every served path (canonical and aliases), for the schema and tests.
    pub fn all_paths() -> impl Iterator<Item = (&'static str, Route)> {
        TABLE.iter().copied()
    }

    /// The segment of `path` (a path this route resolved) that its
    /// canonical path's `{name}` stands for, as sent (not percent-decoded).
    pub fn param(self, path: &str) -> Option<&str> {
        let pattern = without_slash(self.path()).split('/');
        pattern
            .zip(without_slash(path).split('/'))
            .find(|(want, _)| is_param(want))
            .map(|(_, got)| got)
    }
}

/// The route of `path`, with or without its trailing slash.
pub fn resolve(path: &str) -> Option<Route> {
    let path = without_slash(path);
    PATTERNS
        .iter()
        .find(|pattern| pattern.matches(path))
        .map(|pattern| pattern.route)
        .or_else(|| path.starts_with(SWAGGER_ASSETS).then_some(Route::Swagger))
}

/// A table entry as requests are matched against it, prepared once: this
/// runs for every entry before a request's route is found, so each is a
/// flag and a comparison (a scan for `{` and a slash stripped per entry and
/// request were a tenth of what `/healthz` cost).
struct Pattern {
    /// The path without its trailing slash.
    path: &'static str,
    has_params: bool,
    route: Route,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    TABLE
        .iter()
        .map(|&(path, route)| Pattern {
            path: without_slash(path),
            has_params: path.contains('{'),
            route,
        })
        .collect()
});

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        if self.has_params {
            matches_segments(self.path, path)
        } else {
            self.path == path
        }
    }
}

/// Whether `path` is `pattern`, a `{name}` segment matching any non-empty one.
fn matches_segments(pattern: &str, path: &str) -> bool {
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w == g || (is_param(w) && !g.is_empty()) => {}
            _ => return false,
        }
    }
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// `path` without one trailing slash (`/` stays `/`).
fn without_slash(path: &str) -> &str {
    if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    }
}

/// The Swagger UI file a `/swagger/...` path names (`""` for the page).
pub fn swagger_asset(path: &str) -> &str {
    path.strip_prefix(SWAGGER_ASSETS).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_slash_forms_and_aliases_resolve() {
        assert_eq!(resolve("/api/auth/login"), Some(Route::Login));
        assert_eq!(resolve("/api/auth/login/"), Some(Route::Login));
        assert_eq!(resolve("/api/auth/token/"), Some(Route::Login));
        assert_eq!(resolve("/api/auth/token/blacklist/"), Some(Route::Logout));
        assert_eq!(resolve("/healthz/"), Some(Route::Healthz));
        assert_eq!(resolve("/api/auth/login//"), None);
        assert_eq!(resolve("/API/auth/login"), None);
        assert_eq!(resolve("/"), None);
        assert_eq!(resolve("/swagger"), Some(Route::Swagger));
        assert_eq!(resolve("/swagger/swagger-ui.css"), Some(Route::Swagger));
        assert_eq!(swagger_asset("/swagger/swagger-ui.css"), "swagger-ui.css");
        assert_eq!(swagger_asset("/swagger/"), "");
        assert_eq!(resolve("/swaggerx"), None);
        assert_eq!(resolve("/swagger.json"), Some(Route::SwaggerJson));
        assert_eq!(resolve("/swagger.yaml"), Some(Route::SwaggerYaml));
    }

    #[test]
    fn every_path_of_the_table_resolves_to_its_route() {
        for &(path, route) in TABLE.iter().filter(|(path, _)| !path.contains('{')) {
            assert_eq!(resolve(path), Some(route), "{path}");
            assert_eq!(resolve(without_slash(path)), Some(route), "{path}");
        }
    }

    #[test]
    fn a_session_id_is_one_segment_of_its_path() {
        assert_eq!(resolve("/api/auth/sessions"), Some(Route::Sessions));
        assert_eq!(resolve("/api/auth/sessions/"), Some(Route::Sessions));
        assert_eq!(resolve("/api/auth/sessions/ab12"), Some(Route::Session));
        assert_eq!(resolve("/api/auth/sessions/ab12/"), Some(Route::Session));
        assert_eq!(
            Route::Session.param("/api/auth/sessions/ab12/"),
            Some("ab12")
        );
        assert_eq!(
            Route::Session.param("/api/auth/sessions/ab12"),
            Some("ab12")
        );
        assert_eq!(resolve("/api/auth/sessions//"), None);
        assert_eq!(resolve("/api/auth/sessions/ab12/x"), None);
        assert_eq!(Route::Me.param("/api/auth/me/"), None);
    }

    #[test]
    fn the_throttled_routes_have_their_scopes() {
        let throttled: Vec<_> = Route::all_paths()
            .filter(|(_, route)| route.is_throttled())
            .map(|(_, route)| (route, route.throttle_scopes()))
            .collect();
        assert_eq!(
            throttled,
            [
                (Route::Register, &[Scope::Registration][..]),
                (Route::Login, &[Scope::Login, Scope::LoginIp]),
                (Route::Login, &[Scope::Login, Scope::LoginIp]),
                (Route::PasswordChange, &[Scope::PasswordChange]),
                (
                    Route::PasswordReset,
                    &[Scope::PasswordReset, Scope::PasswordResetIp]
                ),
                (
                    Route::PasswordResetConfirm,
                    &[Scope::PasswordResetCompletion]
                ),
            ]
        );
        let every: std::collections::HashSet<_> = throttled
            .iter()
            .flat_map(|(_, scopes)| scopes.iter())
            .collect();
        assert_eq!(every.len(), Scope::ALL.len(), "every scope is used");
    }
}
