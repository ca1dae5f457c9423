//! The API's own documentation: the OpenAPI document (`/api/schema/`, as
//! JSON or YAML, 3.1 or 3.0), the Swagger 2.0 document (`/swagger.json`,
//! `/swagger.yaml`), Swagger UI on it (`/swagger/`, every file served from
//! the binary, so it works without internet access) and ReDoc (`/redoc/`,
//! its script from `docs.redoc_script_url`).

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY};
use hyper::{Request, StatusCode};

use crate::app::App;
use crate::http::error::ApiError;
use crate::http::openapi;
use crate::http::openapi::forms::{self, Documents, Syntax};
use crate::http::response::Response;
use crate::http::router::swagger_asset;

/// Where Swagger UI's files are; the page names them relative to it.
const SWAGGER_BASE: &str = "/swagger/";

/// Swagger UI may load only what authd serves: its own files, the schema,
/// and "Try it out" requests to this origin.
const SWAGGER_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

static SWAGGER_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        utoipa_swagger_ui::Config::from(openapi::SCHEMA_PATH)
            // The default sends the schema to validator.swagger.io.
            .validator_url("none")
            .try_it_out_enabled(true)
            .persist_authorization(false)
            .display_request_duration(true),
    )
});

/// The OpenAPI document.
///
/// OpenAPI 3.1 as JSON by default. `?format=yaml` (or an `Accept` that
/// prefers `application/yaml` or `application/vnd.oai.openapi`) gives YAML,
/// `?format=json` JSON whatever the `Accept`; `?version=3.0` gives the same
/// document as OpenAPI 3.0.3, for client generators that do not read 3.1.
#[utoipa::path(
    get,
    path = "/api/schema/",
    operation_id = "schema",
    tag = "operations",
    params(
        ("format" = Option<String>, Query,
            description = "`json` (the default) or `yaml` (also drf-spectacular's `openapi-json` and `openapi`)."),
        ("version" = Option<String>, Query, description = "`3.1` (the default) or `3.0`."),
    ),
    responses((status = 200, description = "This OpenAPI document.", content(
        (Object = "application/json"),
        (Object = "application/yaml"),
    ))),
    security(()),
)]
pub fn schema(documents: &Documents, request: &Request<Incoming>) -> Result<Response, ApiError> {
    let (syntax, version) = forms::query(request.uri().query()).map_err(|field| {
        ApiError::field(
            field,
            match field {
                "format" => "Must be json or yaml.",
                _ => "Must be 3.1 or 3.0.",
            },
        )
    })?;
    let syntax = syntax.unwrap_or_else(|| {
        let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
        forms::accepted(accept)
    });
    let form = documents.openapi(version.unwrap_or(forms::Version::V31), syntax);
    let mut response = form_response(form);
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept"));
    Ok(response)
}

/// The API as a Swagger 2.0 document, JSON (drf-yasg's path).
///
/// Made from the same definitions as the OpenAPI document; what 2.0
/// cannot express (the refresh cookie as a security scheme, a body schema
/// per media type, `null` types) is left out.
#[utoipa::path(
    get,
    path = "/swagger.json",
    operation_id = "swagger_json",
    tag = "operations",
    responses((status = 200, description = "The Swagger 2.0 document.", content_type = "application/json",
        body = Object)),
    security(()),
)]
pub fn swagger_json(documents: &Documents) -> Response {
    form_response(documents.swagger(Syntax::Json))
}

/// The API as a Swagger 2.0 document, YAML (drf-yasg's path).
#[utoipa::path(
    get,
    path = "/swagger.yaml",
    operation_id = "swagger_yaml",
    tag = "operations",
    responses((status = 200, description = "The Swagger 2.0 document.", content_type = "application/yaml",
        body = Object)),
    security(()),
)]
pub fn swagger_yaml(documents: &Documents) -> Response {
    form_response(documents.swagger(Syntax::Yaml))
}

/// Swagger UI on the schema.
///
/// The page and its files (`/swagger/swagger-ui.css`, ...) all come from
/// authd itself. `/swagger/?format=openapi` answers the Swagger 2.0
/// document as JSON instead, as drf-yasg did.
#[utoipa::path(
    get,
    path = "/swagger/",
    operation_id = "swagger_ui",
    tag = "operations",
    params(("format" = Option<String>, Query,
        description = "`openapi`: the Swagger 2.0 document (JSON) instead of the page.")),
    responses((status = 200, description = "The Swagger UI page, or the Swagger 2.0 document.", content(
        (String = "text/html"),
        (Object = "application/json"),
    ))),
    security(()),
)]
pub fn swagger(documents: &Documents, request: &Request<Incoming>) -> Result<Response, ApiError> {
    let file = swagger_asset(request.uri().path());
    let wants_document = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "format=openapi"));
    if file.is_empty() && wants_document {
        return Ok(swagger_json(documents));
    }
    swagger_file(file)
}

fn swagger_file(file: &str) -> Result<Response, ApiError> {
    let served = utoipa_swagger_ui::serve(file, Arc::clone(&SWAGGER_CONFIG)).map_err(|error| {
        tracing::error!(%error, "Swagger UI file could not be prepared");
        ApiError::Internal
    })?;
    let Some(served) = served else {
        return Err(ApiError::NotFound);
    };
    let content_type =
        HeaderValue::from_str(&served.content_type).map_err(|_| ApiError::Internal)?;
    let body = if file.is_empty() || file == "index.html" {
        // The page is also served at `/swagger` (no slash), where its
        // relative file names would resolve to `/`.
        let page = String::from_utf8_lossy(&served.bytes).replacen(
            "<head>",
            &format!("<head>\n<base href=\"{SWAGGER_BASE}\">"),
            1,
        );
        Bytes::from(page)
    } else {
        Bytes::from(served.bytes.into_owned())
    };
    let mut response = bytes_response(body, content_type);
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SWAGGER_CSP),
    );
    Ok(response)
}

/// ReDoc on the schema.
///
/// Its script comes from `docs.redoc_script_url` (ReDoc's CDN by default;
/// point it at a self-hosted copy for offline use).
#[utoipa::path(
    get,
    path = "/redoc/",
    operation_id = "redoc",
    tag = "operations",
    responses((status = 200, description = "The ReDoc page.", content_type = "text/html", body = String)),
    security(()),
)]
pub fn redoc(app: &App) -> Response {
    let script = html_attribute(&app.config.docs.redoc_script_url);
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>authd API</title>\n</head>\n<body>\n\
         <redoc spec-url=\"{schema}\"></redoc>\n<script src=\"{script}\"></script>\n</body>\n</html>\n",
        schema = openapi::SCHEMA_PATH,
    );
    bytes_response(
        Bytes::from(page),
        HeaderValue::from_static("text/html; charset=utf-8"),
    )
}

fn form_response(form: &forms::Form) -> Response {
    bytes_response(
        form.body.clone(),
        HeaderValue::from_static(form.content_type),
    )
}

fn bytes_response(body: Bytes, content_type: HeaderValue) -> Response {
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// `text` made safe inside a double-quoted HTML attribute.
fn html_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_text_cannot_close_the_attribute() {
        assert_eq!(
            html_attribute("https://x/a.js?a=1&b=\"><script>"),
            "https://x/a.js?a=1&amp;b=&quot;&gt;&lt;script&gt;"
        );
    }
}
