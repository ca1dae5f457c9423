//! The OpenAPI 3.1 document of the HTTP API, generated from the code: the
//! handlers' `#[utoipa::path]` attributes and request/response types give
//! each operation, and the route table adds what every route of a kind can
//! answer (problem+json errors, throttling, `X-Request-Id`) and the aliases
//! of the old service. `/api/schema/` serves it and `authd openapi` prints
//! it; a test checks it against the route table both ways. `forms` makes
//! the other forms it is served in (YAML, OpenAPI 3.0, Swagger 2.0) from it.

mod common;
pub mod forms;
mod swagger2;
mod v30;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use super::error::Problem;
use super::handlers;
use super::router::Route;
use crate::config::Config;

/// Where the document is served.
pub const SCHEMA_PATH: &str = "/api/schema/";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = include_str!("description.md"),
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        handlers::register::post,
        handlers::login::post,
        handlers::refresh::post,
        handlers::verify::post,
        handlers::logout::post,
        handlers::me::get,
        handlers::me::patch,
        handlers::sessions::list,
        handlers::sessions::delete,
        handlers::password_change::post,
        handlers::password_reset::request,
        handlers::password_reset::confirm,
        handlers::jwks::get,
        handlers::health::healthz,
        handlers::health::readyz,
        handlers::metrics::get,
        handlers::docs::schema,
        handlers::docs::swagger_json,
        handlers::docs::swagger_yaml,
        handlers::docs::swagger,
        handlers::docs::redoc,
    ),
    components(schemas(Problem)),
    tags(
        (name = "accounts", description = "Registration and the caller's own account."),
        (name = "tokens", description = "Login, refresh rotation, verification and logout."),
        (name = "sessions", description = "The caller's own login sessions: list them, end one."),
        (name = "password reset", description = "Reset by emailed single-use token."),
        (name = "operations", description = "Health, metrics and this documentation."),
    ),
)]
struct ApiDoc;

/// The document for a server running with `config` (the refresh cookie's
/// name is configurable).
pub fn document(config: &Config) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from login, refresh or password change.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "refresh_cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            config.http.refresh_cookie.clone(),
            "The refresh token, as set by login and refresh (HttpOnly, SameSite=Strict, Path=/api/auth/)."
                .to_string(),
        ))),
    );
    common::add_responses(&mut doc);
    anonymous_as_no_security(&mut doc);
    add_aliases(&mut doc);
    doc
}

/// `security: []` for the operations anyone may call. utoipa writes
/// `security(())` as `[{}]` ("no requirement" as the only alternative),
/// which means the same, but client generators (openapi-python-client)
/// read any non-empty list as "needs credentials" and make callers
/// authenticate to register or log in.
fn anonymous_as_no_security(doc: &mut utoipa::openapi::OpenApi) {
    let empty = utoipa::openapi::security::SecurityRequirement::default();
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            if let Some(requirements) = operation.security.as_mut() {
                if requirements.iter().all(|r| *r == empty) {
                    requirements.clear();
                }
            }
        }
    }
}

/// The document as pretty JSON (what `/api/schema/` and `authd openapi` give).
pub fn json(config: &Config) -> Vec<u8> {
    let mut text =
        serde_json::to_vec_pretty(&document(config)).expect("the OpenAPI document serializes");
    text.push(b'\n');
    text
}

/// Every form of the document, for a server running with `config`.
pub fn documents(config: &Config) -> forms::Documents {
    forms::Documents::new(&document(config))
}

/// Copies each canonical path's item to its aliases (`/api/auth/token/`,
/// `/api/auth/token/blacklist/`), with operation ids of their own.
fn add_aliases(doc: &mut utoipa::openapi::OpenApi) {
    let paths = &mut doc.paths.paths;
    for (path, route) in Route::all_paths() {
        if path == route.path() {
            continue;
        }
        let Some(canonical) = paths.get(route.path()) else {
            continue;
        };
        let mut alias = canonical.clone();
        let name = path
            .trim_matches('/')
            .trim_start_matches("api/auth/")
            .replace('/', "_");
        for operation in operations_mut(&mut alias) {
            operation.operation_id = Some(name.clone());
            operation.description = Some(format!(
                "Alias of `{}` (the old service's path).\n\n{}",
                route.path(),
                operation.description.as_deref().unwrap_or_default()
            ));
        }
        paths.insert(path.to_string(), alias);
    }
}

/// Every operation of a path item.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
