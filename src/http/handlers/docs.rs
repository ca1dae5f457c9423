//! The API's own documentation: the OpenAPI document (`/api/schema/`),
//! Swagger UI on it (`/swagger/`, every file served from the binary, so it
//! works without internet access) and ReDoc (`/redoc/`, its script from
//! `docs.redoc_script_url`).

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use hyper::StatusCode;

use crate::app::App;
use crate::http::error::ApiError;
use crate::http::openapi;
use crate::http::response::Response;

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

/// The OpenAPI document, as JSON.
#[utoipa::path(
    get,
    path = "/api/schema/",
    operation_id = "schema",
    tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document.", content_type = "application/json",
        body = Object)),
    security(()),
)]
pub fn schema(app: &App) -> Response {
    bytes_response(
        app.schema.clone(),
        HeaderValue::from_static("application/json"),
    )
}

/// Swagger UI on the schema.
///
/// The page and its files (`/swagger/swagger-ui.css`, ...) all come from
/// authd itself.
#[utoipa::path(
    get,
    path = "/swagger/",
    operation_id = "swagger_ui",
    tag = "operations",
    responses((status = 200, description = "The Swagger UI page.", content_type = "text/html", body = String)),
    security(()),
)]
pub fn swagger(file: &str) -> Result<Response, ApiError> {
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
