//! `GET /.well-known/jwks.json`: the public signing keys (see
//! `crate::auth::jwks`), cacheable for `jwt.jwks_max_age`, with a strong
//! `ETag` so a verifier's revalidation costs a `304`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use hyper::{Request, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::http::response::Response;

/// A JSON Web Key Set (RFC 7517 section 5).
#[derive(Serialize, ToSchema)]
#[schema(as = JwkSet, example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k20261204-ed", "alg": "EdDSA", "use": "sig"}]}))]
pub struct JwkSetBody {
    keys: Vec<JwkBody>,
}

/// One public key (RFC 7517/7518, RFC 8037 for Ed25519). `kty` decides the
/// other members: `OKP` has `crv` (`Ed25519`) and `x`; `EC` has `crv`
/// (`P-256`), `x` and `y`; `RSA` has `n` and `e`.
#[derive(Serialize, ToSchema)]
#[schema(as = Jwk)]
pub struct JwkBody {
    /// `OKP`, `EC` or `RSA`.
    kty: String,
    /// The `kid` of the tokens this key verifies.
    kid: String,
    /// `EdDSA`, `ES256` or `RS256`: the only `alg` its tokens may carry.
    alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[schema(rename = "use")]
    use_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    e: Option<String>,
}

/// The public keys that verify authd's tokens.
///
/// Every asymmetric key (EdDSA, ES256, RS256) authd signs or verifies
/// with, including the `next` key a coming rotation will sign with, so a
/// verifier that caches this set for `max-age` already knows it. HS256
/// secrets are never published: with only HS256 keys the set is empty.
/// Match a token's `kid` to a key and accept only that key's `alg`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "tokens",
    params(("If-None-Match" = Option<String>, Header,
        description = "The `ETag` of a set you hold: `304` if it is still current.")),
    responses(
        (status = 200, description = "The key set.", body = JwkSetBody,
            content_type = "application/jwk-set+json",
            headers(
                ("Cache-Control" = String, description = "`public, max-age=N` (`jwt.jwks_max_age`, 300 s by default)."),
                ("ETag" = String, description = "A strong validator of this set."),
            )),
        (status = 304, description = "The set named by `If-None-Match` is current.",
            headers(
                ("Cache-Control" = String, description = "As on `200`."),
                ("ETag" = String, description = "As on `200`."),
            )),
    ),
    security(()),
)]
pub fn get(app: &App, request: &Request<Incoming>) -> Response {
    let jwks = &app.jwks;
    let current = request
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| jwks.matches(tags));
    let mut response = if current {
        let mut response = hyper::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = hyper::Response::new(Full::new(Bytes::from(jwks.body().to_string())));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        response
    };
    let max_age = app.config.jwt.jwks_max_age.as_secs();
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={max_age}")).expect("ASCII"),
    );
    headers.insert(
        ETAG,
        HeaderValue::from_str(jwks.etag()).expect("a hex tag is ASCII"),
    );
    response
}
