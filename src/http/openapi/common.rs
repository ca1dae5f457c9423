//! The answers every route of a kind can give, added to the document from
//! the route table rather than repeated on each handler: `400` (validation,
//! malformed JSON, reset token, disallowed `Host`), `401` for Bearer routes,
//! `413`/`415` for routes with a body, `429` and the rate-limit headers for
//! throttled routes, `503` for all (a store down, a full hashing pool, the
//! request timeout), and `X-Request-Id` on every response. It also marks
//! the bodies that may be left out.

use utoipa::openapi::header::Header;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required};

use super::operations_mut;
use crate::http::router::Route;

const PROBLEM: &str = "application/problem+json";

/// Adds the shared responses to `components` and to each operation.
pub fn add_responses(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, response) in shared_responses() {
        components
            .responses
            .insert(name.to_string(), response.into());
    }
    for (path, route) in Route::all_paths() {
        if path != route.path() {
            continue;
        }
        let Some(item) = doc.paths.paths.get_mut(path) else {
            continue;
        };
        for operation in operations_mut(item) {
            add_to_operation(operation, route);
        }
    }
}

fn add_to_operation(operation: &mut Operation, route: Route) {
    // An empty body reads as `{}`: refresh and logout may rely on the
    // cookie alone, and a PATCH may change nothing.
    if route.reads_refresh_cookie() || route == Route::Me {
        if let Some(body) = operation.request_body.as_mut() {
            body.required = Some(Required::False);
        }
    }
    let responses = &mut operation.responses.responses;
    for response in responses.values_mut() {
        if let RefOr::T(response) = response {
            response
                .headers
                .insert("X-Request-Id".into(), request_id_header());
            if route.is_throttled() {
                response.headers.extend(rate_limit_headers());
            }
        }
    }
    let mut add = |status: &str, name: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    };
    add("400", "BadRequest");
    if route.reads_body() {
        add("413", "PayloadTooLarge");
        add("415", "UnsupportedMediaType");
    }
    if route.needs_bearer() {
        add("401", "Unauthenticated");
    }
    if route.is_throttled() {
        add("429", "Throttled");
    }
    add("503", "Unavailable");
}

fn shared_responses() -> [(&'static str, Response); 6] {
    [
        (
            "BadRequest",
            problem(
                "`validation_error` (a field missing, blank, malformed or too long; a weak \
                 password; `errors` lists the messages per field), `malformed_json`, \
                 `reset_token_invalid`, or `disallowed_host` (a `Host` not in `http.allowed_hosts`).",
            )
            .build(),
        ),
        (
            "Unauthenticated",
            problem(
                "`not_authenticated` (no or malformed `Authorization: Bearer` header) or \
                 `token_not_valid` (bad signature, expired, revoked, wrong token type, user gone).",
            )
            .header(
                "WWW-Authenticate",
                described(Type::String, "`Bearer`, or `Bearer error=\"invalid_token\"`."),
            )
            .build(),
        ),
        (
            "PayloadTooLarge",
            problem("`payload_too_large`: the body is over `http.max_body_bytes` (16 KiB).").build(),
        ),
        (
            "UnsupportedMediaType",
            problem("`unsupported_media_type`: the body is not `application/json`.").build(),
        ),
        (
            "Throttled",
            problem("`throttled`: this operation's rate for the client is exhausted.")
                .header(
                    "Retry-After",
                    described(Type::Integer, "Seconds until one more request passes."),
                )
                .build(),
        ),
        (
            "Unavailable",
            problem(
                "`service_unavailable`: a store the request needs is down, the hashing pool is \
                 full, or the request took longer than `http.request_timeout`.",
            )
            .header(
                "Retry-After",
                described(Type::Integer, "Seconds to wait before retrying."),
            )
            .build(),
        ),
    ]
}

/// A problem+json response with the request id header.
fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .header("X-Request-Id", request_id_header())
}

fn request_id_header() -> Header {
    described(
        Type::String,
        "The client's `X-Request-Id` when sane (1-128 of `[A-Za-z0-9._:-]`), else a new one; \
         the server's log line of the request carries it.",
    )
}

fn rate_limit_headers() -> [(String, Header); 5] {
    [
        (
            "RateLimit",
            Type::String,
            "`\"scope\";r=REMAINING;t=SECONDS_UNTIL_FREE` (IETF draft).",
        ),
        (
            "RateLimit-Policy",
            Type::String,
            "`\"scope\";q=LIMIT;w=WINDOW_SECONDS` (IETF draft).",
        ),
        (
            "X-RateLimit-Limit",
            Type::Integer,
            "Requests allowed per window.",
        ),
        (
            "X-RateLimit-Remaining",
            Type::Integer,
            "Requests left in the window now.",
        ),
        (
            "X-RateLimit-Reset",
            Type::Integer,
            "Seconds until the window frees one request.",
        ),
    ]
    .map(|(name, kind, description)| (name.to_string(), described(kind, description)))
}

fn described(kind: Type, description: &str) -> Header {
    let mut header = Header::new(Object::with_type(kind));
    header.description = Some(description.to_string());
    header
}
