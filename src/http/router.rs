//! The route table: every path authd serves, with the methods each answers.
//! Paths match with or without their trailing slash (no redirect).

use hyper::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Register,
    Login,
    Refresh,
    Verify,
    Logout,
    Me,
    PasswordChange,
    PasswordReset,
    PasswordResetConfirm,
    Healthz,
    Readyz,
}

static POST: [Method; 1] = [Method::POST];
static GET: [Method; 2] = [Method::GET, Method::HEAD];
static GET_PATCH: [Method; 3] = [Method::GET, Method::HEAD, Method::PATCH];

/// Every path and its route; aliases of the old service included.
const TABLE: &[(&str, Route)] = &[
    ("/api/auth/register", Route::Register),
    ("/api/auth/login", Route::Login),
    ("/api/auth/token", Route::Login),
    ("/api/auth/token/refresh", Route::Refresh),
    ("/api/auth/token/verify", Route::Verify),
    ("/api/auth/logout", Route::Logout),
    ("/api/auth/token/blacklist", Route::Logout),
    ("/api/auth/me", Route::Me),
    ("/api/auth/password/change", Route::PasswordChange),
    ("/api/auth/password/reset", Route::PasswordReset),
    (
        "/api/auth/password/reset/confirm",
        Route::PasswordResetConfirm,
    ),
    ("/healthz", Route::Healthz),
    ("/readyz", Route::Readyz),
];

impl Route {
    /// The methods the route answers (OPTIONS is answered for every route).
    pub fn methods(self) -> &'static [Method] {
        match self {
            Route::Me => &GET_PATCH,
            Route::Healthz | Route::Readyz => &GET,
            _ => &POST,
        }
    }

    /// The canonical path, for logs.
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
}

/// The route of `path`, ignoring one trailing slash.
pub fn resolve(path: &str) -> Option<Route> {
    let path = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    TABLE
        .iter()
        .find(|(known, _)| *known == path)
        .map(|(_, route)| *route)
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
    }
}
