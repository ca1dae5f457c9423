//! The API's documentation: the OpenAPI document against the route table
//! (both ways) and the structural rules of OpenAPI 3.1, `authd openapi`,
//! Swagger UI served from the binary, and ReDoc.

use crate::common;

use std::collections::{BTreeSet, HashSet};

use authd::http::router::Route;
use common::server::TestServer;
use common::{stdout, TestDb};
use reqwest::Method;
use serde_json::Value;

async fn start(tweak: impl FnOnce(&mut authd::config::Config)) -> (TestServer, TestDb) {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db, tweak).await;
    (server, db)
}

async fn schema(server: &TestServer) -> Value {
    let reply = server.call(Method::GET, "/api/schema/", None, None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.body
}

/// (path, method) of every operation the document describes.
fn documented(schema: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in schema["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            operations.insert((path.clone(), method.to_uppercase()));
        }
    }
    operations
}

/// (path, method) of every route the router serves; HEAD and OPTIONS come
/// with GET and with every route, and are not operations of their own.
fn served() -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, route) in Route::all_paths() {
        for method in route.methods() {
            if method != Method::HEAD {
                operations.insert((path.to_string(), method.to_string()));
            }
        }
    }
    operations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_documents_every_route_the_router_serves_and_no_other() {
    let (server, _db) = start(|_| {}).await;
    let schema = schema(&server).await;
    let documented = documented(&schema);
    let served = served();
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );
    // Every documented path answers (not 404) as documented.
    for (path, method) in &documented {
        let reply = server.call(method.parse().unwrap(), path, None, None).await;
        assert_ne!(reply.status, 404, "{method} {path}");
        assert_ne!(reply.status, 405, "{method} {path}");
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_a_well_formed_openapi_3_1_document() {
    let (server, _db) = start(|_| {}).await;
    let schema = schema(&server).await;
    assert_eq!(schema["openapi"], "3.1.0");
    assert_eq!(schema["info"]["title"], "authd");
    assert!(schema["info"]["version"].is_string());
    let description = schema["info"]["description"].as_str().unwrap();
    for topic in ["Token flow", "Throttling", "Password reset", "Errors"] {
        assert!(
            description.contains(topic),
            "the description covers {topic}"
        );
    }
    let schemes = &schema["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refresh_cookie"]["in"], "cookie");
    assert_eq!(schemes["refresh_cookie"]["name"], "authd_refresh");

    // Every reference resolves inside the document.
    let mut found = Vec::new();
    refs(&schema, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(schema.pointer(pointer).is_some(), "{target} resolves");
    }

    let mut ids = HashSet::new();
    for (path, item) in schema["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'));
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_string()), "operationId {id} is unique");
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has a success"
            );
            assert!(
                responses.contains_key("503"),
                "{method} {path} documents 503"
            );
            for (status, response) in responses {
                assert!(status.len() == 3 && status.parse::<u16>().is_ok());
                // Errors are problem+json, directly or through a shared response.
                if status.starts_with('4') || status.starts_with('5') {
                    let response = match response["$ref"].as_str() {
                        Some(target) => &schema.pointer(&target[1..]).unwrap().clone(),
                        None => response,
                    };
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is problem+json"
                    );
                }
            }
        }
    }
    // The routes that read a body say which, and the throttled ones say 429.
    let login = &schema["paths"]["/api/auth/login/"]["post"];
    assert_eq!(
        login["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/LoginRequest"
    );
    for status in ["400", "401", "413", "415", "429"] {
        assert!(
            login["responses"][status].is_object(),
            "login documents {status}"
        );
    }
    assert!(login["responses"]["200"]["headers"]["X-RateLimit-Remaining"].is_object());
    let me = &schema["paths"]["/api/auth/me/"]["get"];
    assert_eq!(me["security"], serde_json::json!([{"bearer": []}]));
    assert_eq!(
        me["responses"]["401"]["$ref"],
        "#/components/responses/Unauthenticated"
    );
    let alias = &schema["paths"]["/api/auth/token/"]["post"];
    assert_eq!(alias["operationId"], "token");
    assert_eq!(alias["requestBody"], login["requestBody"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authd_openapi_prints_the_document_the_server_serves() {
    let (server, db) = start(|_| {}).await;
    let served = schema(&server).await;
    let output = db.authd().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(printed, served);

    let file = db.dir().join("openapi.json");
    let output = db
        .authd()
        .arg("openapi")
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success());
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written, served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_and_all_its_files_come_from_authd() {
    let (server, _db) = start(|_| {}).await;
    for path in ["/swagger/", "/swagger"] {
        let page = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["content-type"], "text/html");
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"));
        let html = page.text().await.unwrap();
        assert!(html.contains("<base href=\"/swagger/\">"));
        assert!(html.contains("swagger-ui-bundle.js"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no outside URL"
        );
    }
    for (file, kind) in [
        ("swagger-ui.css", "text/css"),
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui-standalone-preset.js", "javascript"),
    ] {
        let reply = server
            .client
            .get(server.url(&format!("/swagger/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{file}");
        let content_type = reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(content_type.contains(kind), "{file}: {content_type}");
        assert!(
            reply.bytes().await.unwrap().len() > 1000,
            "{file} has content"
        );
    }
    let initializer = server
        .client
        .get(server.url("/swagger/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("\"/api/schema/\""), "{initializer}");
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
    assert!(!initializer.contains("petstore"));
    server
        .call(Method::GET, "/swagger/nothing.js", None, None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redoc_loads_its_script_from_the_configured_url() {
    let (server, _db) = start(|config| {
        config.docs.redoc_script_url = "/static/redoc.standalone.js?v=2&x=\"y\"".into();
    })
    .await;
    let page = server
        .client
        .get(server.url("/redoc/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains("<redoc spec-url=\"/api/schema/\"></redoc>"));
    assert!(
        html.contains("<script src=\"/static/redoc.standalone.js?v=2&amp;x=&quot;y&quot;\">"),
        "{html}"
    );

    let (server, _db) = start(|_| {}).await;
    let html = server
        .client
        .get(server.url("/redoc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("src=\"https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js\""));
}

/// The body and content type of `GET path` with `accept`.
async fn fetch(server: &TestServer, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut request = server.client.get(server.url(path));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    let content_type = reply
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, reply.text().await.unwrap())
}

fn from_yaml(text: &str) -> Value {
    serde_norway::from_str(text).expect("the YAML parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_served_as_yaml_on_request_and_says_the_same_as_the_json() {
    let (server, _db) = start(|_| {}).await;
    let json = schema(&server).await;
    for (path, accept) in [
        ("/api/schema/?format=yaml", None),
        ("/api/schema/", Some("application/yaml")),
        ("/api/schema/", Some("application/vnd.oai.openapi")),
        (
            "/api/schema/",
            Some("application/json;q=0.5, application/yaml"),
        ),
    ] {
        let (status, content_type, body) = fetch(&server, path, accept).await;
        assert_eq!(status, 200, "{path} {accept:?}");
        assert_eq!(content_type, "application/yaml", "{path} {accept:?}");
        assert!(body.starts_with("openapi: 3.1.0"), "{body:.40}");
        assert_eq!(from_yaml(&body), json, "{path} {accept:?}");
    }
    // JSON stays the default, and `format` wins over `Accept`.
    for (path, accept) in [
        ("/api/schema/", Some("*/*")),
        ("/api/schema/?format=json", Some("application/yaml")),
        ("/api/schema/", Some("application/vnd.oai.openapi+json")),
    ] {
        let (status, content_type, body) = fetch(&server, path, accept).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/json", "{path} {accept:?}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json);
    }
    server
        .call(Method::GET, "/api/schema/?format=xml", None, None)
        .await
        .assert_problem(400, "validation_error");
}

/// Every `"type"` member of `value` that is not one string.
fn type_arrays(value: &Value, found: &mut usize) {
    match value {
        Value::Object(map) => {
            if map.get("type").is_some_and(Value::is_array) {
                *found += 1;
            }
            map.values().for_each(|v| type_arrays(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| type_arrays(v, found)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_3_0_is_served_on_request_for_older_client_generators() {
    let (server, _db) = start(|_| {}).await;
    let v31 = schema(&server).await;
    let mut nullable_in_31 = 0;
    type_arrays(&v31, &mut nullable_in_31);
    assert!(nullable_in_31 > 0, "the 3.1 document has `or null` types");

    let (status, content_type, body) = fetch(&server, "/api/schema/?version=3.0", None).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let v30: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v30["openapi"], "3.0.3");
    let mut left = 0;
    type_arrays(&v30, &mut left);
    assert_eq!(left, 0, "3.0 has no type arrays");
    assert_eq!(documented(&v30), documented(&v31));
    assert_eq!(
        v30["components"]["schemas"]["MeUpdate"]["properties"]["full_name"],
        serde_json::json!({"type": "string", "example": "Ada King", "maxLength": 150, "nullable": true})
    );
    let (_, content_type, yaml) =
        fetch(&server, "/api/schema/?version=3.0&format=yaml", None).await;
    assert_eq!(content_type, "application/yaml");
    assert_eq!(from_yaml(&yaml), v30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_2_0_is_served_at_drf_yasgs_paths_from_the_same_definitions() {
    let (server, _db) = start(|_| {}).await;
    let v31 = schema(&server).await;
    let (status, content_type, body) = fetch(&server, "/swagger.json", None).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let swagger: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(swagger["swagger"], "2.0");
    assert_eq!(swagger["info"]["title"], v31["info"]["title"]);
    assert_eq!(documented(&swagger), documented(&v31));
    let definitions: BTreeSet<_> = swagger["definitions"].as_object().unwrap().keys().collect();
    let schemas: BTreeSet<_> = v31["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(definitions, schemas);

    // Every reference resolves inside the 2.0 document.
    let mut found = Vec::new();
    refs(&swagger, &mut found);
    for target in found {
        assert!(
            target.starts_with("#/definitions/") || target.starts_with("#/responses/"),
            "{target}"
        );
        assert!(swagger.pointer(&target[1..]).is_some(), "{target} resolves");
    }
    let login = &swagger["paths"]["/api/auth/login/"]["post"];
    assert_eq!(
        login["parameters"][0]["schema"]["$ref"],
        "#/definitions/LoginRequest"
    );
    assert_eq!(login["parameters"][0]["in"], "body");
    assert!(login["responses"]["429"].is_object());
    assert_eq!(
        swagger["paths"]["/api/auth/me/"]["get"]["security"],
        serde_json::json!([{"bearer": []}])
    );
    assert_eq!(swagger["securityDefinitions"]["bearer"]["in"], "header");

    let (_, content_type, drf_yasg) = fetch(&server, "/swagger/?format=openapi", None).await;
    assert_eq!(content_type, "application/json");
    assert_eq!(serde_json::from_str::<Value>(&drf_yasg).unwrap(), swagger);
    assert!(body.starts_with("{\n  \"swagger\": \"2.0\""), "{body:.40}");
    let (status, content_type, yaml) = fetch(&server, "/swagger.yaml", None).await;
    assert_eq!((status, content_type.as_str()), (200, "application/yaml"));
    assert!(yaml.starts_with("swagger: '2.0'"), "{yaml:.40}");
    assert_eq!(from_yaml(&yaml), swagger);
    // The page itself is still the page.
    let (_, content_type, _) = fetch(&server, "/swagger/", None).await;
    assert_eq!(content_type, "text/html");
}
