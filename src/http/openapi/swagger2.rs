//! The OpenAPI 3.1 document rewritten as Swagger 2.0, what drf-yasg served
//! at `/swagger.json` and `/swagger.yaml` ("legacy Swagger 2.0 support").
//! Made from the 3.1 document, never by hand, so the two cannot disagree.
//!
//! 2.0 cannot say everything 3.1 does; what it cannot is left out (and
//! docs/API.md lists it): a cookie security scheme (the refresh cookie), a
//! body schema per media type (each operation lists what it `produces`, each
//! response has one schema), `null` as a type (`x-nullable` instead),
//! `oneOf`/`anyOf` (the first alternative), and the license's SPDX
//! `identifier`.

use serde_json::{json, Map, Value};

/// `doc` (OpenAPI 3.1, as JSON) as a Swagger 2.0 document.
pub fn from_31(doc: &Value) -> Value {
    let components = &doc["components"];
    let mut out = Map::new();
    out.insert("swagger".into(), json!("2.0"));
    out.insert("info".into(), info(&doc["info"]));
    out.insert("consumes".into(), json!(["application/json"]));
    out.insert("produces".into(), json!(["application/json"]));

    let mut paths = Map::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let mut converted = Map::new();
        for (method, operation) in item.as_object().into_iter().flatten() {
            if operation.is_object() && is_method(method) {
                converted.insert(method.clone(), self::operation(operation, components));
            }
        }
        paths.insert(path.clone(), Value::Object(converted));
    }
    out.insert("paths".into(), Value::Object(paths));

    let definitions = map_values(&components["schemas"], schema);
    out.insert("definitions".into(), definitions);
    let responses = map_values(&components["responses"], |r| response(r).0);
    out.insert("responses".into(), responses);

    let mut security = Map::new();
    for (name, scheme) in components["securitySchemes"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if let Some(converted) = security_scheme(scheme) {
            security.insert(name.clone(), converted);
        }
    }
    out.insert("securityDefinitions".into(), Value::Object(security));
    if let Some(tags) = doc.get("tags") {
        out.insert("tags".into(), tags.clone());
    }
    Value::Object(out)
}

fn is_method(name: &str) -> bool {
    matches!(
        name,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch"
    )
}

fn info(info: &Value) -> Value {
    let mut info = info.clone();
    if let Some(object) = info.as_object_mut() {
        object.remove("summary");
        if let Some(license) = object.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    info
}

fn map_values(value: &Value, convert: impl Fn(&Value) -> Value) -> Value {
    Value::Object(
        value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, member)| (name.clone(), convert(member)))
            .collect(),
    )
}

/// Bearer (an HTTP scheme in 3.x) is an API key in the `Authorization`
/// header in 2.0; a cookie has no 2.0 form.
fn security_scheme(scheme: &Value) -> Option<Value> {
    let description = scheme.get("description").cloned();
    let mut out = match scheme["type"].as_str()? {
        "http" if scheme["scheme"].as_str()?.eq_ignore_ascii_case("bearer") => json!({
            "type": "apiKey", "in": "header", "name": "Authorization",
        }),
        "http" => json!({"type": "basic"}),
        "apiKey" if scheme["in"] == "header" || scheme["in"] == "query" => json!({
            "type": "apiKey", "in": scheme["in"], "name": scheme["name"],
        }),
        _ => return None,
    };
    if let Some(description) = description {
        out["description"] = description;
    }
    Some(out)
}

fn operation(operation: &Value, components: &Value) -> Value {
    let mut out = Map::new();
    for key in [
        "tags",
        "summary",
        "description",
        "operationId",
        "deprecated",
    ] {
        if let Some(member) = operation.get(key) {
            out.insert(key.into(), member.clone());
        }
    }
    let mut parameters: Vec<Value> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(parameter)
        .collect();
    if let Some(body) = operation.get("requestBody") {
        let content = body["content"].as_object();
        let schema_value = content
            .and_then(|c| c.values().find_map(|media| media.get("schema")))
            .map_or_else(|| json!({"type": "object"}), schema);
        let mut parameter = json!({
            "name": "body", "in": "body",
            "required": body["required"].as_bool().unwrap_or(false),
            "schema": schema_value,
        });
        if let Some(description) = body.get("description") {
            parameter["description"] = description.clone();
        }
        parameters.push(parameter);
        let consumes: Vec<&String> = content.into_iter().flat_map(|c| c.keys()).collect();
        out.insert("consumes".into(), json!(consumes));
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }

    let mut produces: Vec<String> = Vec::new();
    let mut responses = Map::new();
    for (status, answer) in operation["responses"].as_object().into_iter().flatten() {
        let (converted, media_types) = match answer.get("$ref").and_then(Value::as_str) {
            Some(target) => {
                let name = target.rsplit('/').next().unwrap_or_default();
                let shared = &components["responses"][name];
                (
                    json!({"$ref": format!("#/responses/{name}")}),
                    response(shared).1,
                )
            }
            None => response(answer),
        };
        for media_type in media_types {
            if !produces.contains(&media_type) {
                produces.push(media_type);
            }
        }
        responses.insert(status.clone(), converted);
    }
    if !produces.is_empty() {
        out.insert("produces".into(), json!(produces));
    }
    out.insert("responses".into(), Value::Object(responses));

    if let Some(requirements) = operation["security"].as_array() {
        // The refresh cookie has no 2.0 form: the requirements that name it
        // go; what remains says whether a Bearer token is needed.
        let kept: Vec<Value> = requirements
            .iter()
            .filter(|r| r.get("refresh_cookie").is_none())
            .cloned()
            .collect();
        let anonymous = kept
            .iter()
            .all(|r| r.as_object().is_some_and(Map::is_empty));
        out.insert(
            "security".into(),
            if anonymous {
                json!([])
            } else {
                Value::Array(kept)
            },
        );
    }
    Value::Object(out)
}

/// A 3.x parameter (its type under `schema`) as a 2.0 one (its type
/// inline); cookie parameters have no 2.0 form.
fn parameter(parameter: &Value) -> Option<Value> {
    let location = parameter["in"].as_str()?;
    if !matches!(location, "query" | "header" | "path") {
        return None;
    }
    let mut out = json!({
        "name": parameter["name"], "in": location,
        "required": parameter["required"].as_bool().unwrap_or(location == "path"),
    });
    if let Some(description) = parameter.get("description") {
        out["description"] = description.clone();
    }
    let inline = schema(&parameter["schema"]);
    for key in [
        "type",
        "format",
        "enum",
        "default",
        "minimum",
        "maximum",
        "maxLength",
        "minLength",
        "pattern",
    ] {
        if let Some(member) = inline.get(key) {
            out[key] = member.clone();
        }
    }
    if out.get("type").is_none() {
        out["type"] = json!("string");
    }
    Some(out)
}

/// A 3.x response as a 2.0 one, and the media types it can have.
fn response(response: &Value) -> (Value, Vec<String>) {
    let mut out = json!({
        "description": response["description"].as_str().unwrap_or(""),
    });
    let content = response["content"].as_object();
    let media_types: Vec<String> = content
        .into_iter()
        .flat_map(|c| c.keys().cloned())
        .collect();
    if let Some(body) = content.and_then(|c| c.values().find_map(|media| media.get("schema"))) {
        out["schema"] = schema(body);
    }
    let mut headers = Map::new();
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        let inline = schema(&header["schema"]);
        let mut converted = json!({"type": inline.get("type").cloned().unwrap_or(json!("string"))});
        if let Some(format) = inline.get("format") {
            converted["format"] = format.clone();
        }
        if let Some(description) = header.get("description") {
            converted["description"] = description.clone();
        }
        headers.insert(name.clone(), converted);
    }
    if !headers.is_empty() {
        out["headers"] = Value::Object(headers);
    }
    (out, media_types)
}

/// One JSON Schema (2020-12) as a Swagger 2.0 Schema Object.
pub fn schema(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return json!({});
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (key, member) in map {
        match key.as_str() {
            "$ref" => {
                let target = member.as_str().unwrap_or_default();
                let target = target.replace("#/components/schemas/", "#/definitions/");
                out.insert(key.clone(), Value::String(target));
            }
            "type" => match member {
                Value::Array(types) => {
                    let kept: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    nullable |= kept.len() < types.len();
                    if let [one] = kept[..] {
                        out.insert("type".into(), one.clone());
                    }
                }
                Value::String(t) if t == "null" => nullable = true,
                _ => {
                    out.insert(key.clone(), member.clone());
                }
            },
            "oneOf" | "anyOf" => {
                let alternatives = member.as_array().cloned().unwrap_or_default();
                let kept: Vec<&Value> = alternatives
                    .iter()
                    .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                nullable |= kept.len() < alternatives.len();
                if let Some(first) = kept.first() {
                    if let Value::Object(members) = schema(first) {
                        for (k, v) in members {
                            out.entry(k).or_insert(v);
                        }
                    }
                }
            }
            "const" => {
                out.insert("enum".into(), Value::Array(vec![member.clone()]));
            }
            "examples" => {
                if let Some(first) = member.as_array().and_then(|e| e.first()) {
                    out.insert("example".into(), first.clone());
                }
            }
            "exclusiveMinimum" | "exclusiveMaximum" if member.is_number() => {
                let bound = if key == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                out.insert(bound.into(), member.clone());
                out.insert(key.clone(), Value::Bool(true));
            }
            "properties" => {
                out.insert(key.clone(), map_values(member, schema));
            }
            "items" => {
                out.insert(key.clone(), schema(member));
            }
            "additionalProperties" => {
                let converted = if member.is_boolean() {
                    member.clone()
                } else {
                    schema(member)
                };
                out.insert(key.clone(), converted);
            }
            "allOf" => {
                let all = member.as_array().map(|a| a.iter().map(schema).collect());
                out.insert(key.clone(), Value::Array(all.unwrap_or_default()));
            }
            "title" | "description" | "default" | "format" | "multipleOf" | "maximum"
            | "minimum" | "maxLength" | "minLength" | "pattern" | "maxItems" | "minItems"
            | "uniqueItems" | "maxProperties" | "minProperties" | "required" | "enum"
            | "readOnly" | "example" | "discriminator" | "xml" | "externalDocs" => {
                out.insert(key.clone(), member.clone());
            }
            // `writeOnly`, `deprecated`, `contentMediaType`, ...: not 2.0.
            _ if key.starts_with("x-") => {
                out.insert(key.clone(), member.clone());
            }
            _ => {}
        }
    }
    if nullable {
        out.insert("x-nullable".into(), Value::Bool(true));
    }
    // A `$ref` takes no siblings in 2.0.
    if out.len() > 1 {
        if let Some(reference) = out.remove("$ref") {
            out.insert("allOf".into(), json!([{"$ref": reference}]));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_lose_what_2_0_cannot_say() {
        assert_eq!(
            schema(&json!({"type": ["string", "null"], "writeOnly": true, "maxLength": 9})),
            json!({"type": "string", "maxLength": 9, "x-nullable": true})
        );
        assert_eq!(
            schema(
                &json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/S", "description": "d"}]})
            ),
            json!({"allOf": [{"$ref": "#/definitions/S"}], "description": "d", "x-nullable": true})
        );
    }

    #[test]
    fn bodies_become_parameters_and_responses_take_one_schema() {
        let doc = from_31(&json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "license": {"name": "MIT", "identifier": "MIT"}},
            "paths": {"/x": {"post": {
                "operationId": "x",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}, "required": true},
                "responses": {
                    "200": {"description": "ok", "headers": {"H": {"schema": {"type": "integer"}, "description": "h"}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
                    "400": {"$ref": "#/components/responses/Bad"}
                },
                "security": [{}, {"refresh_cookie": []}]
            }}},
            "components": {
                "schemas": {"A": {"type": "object"}},
                "responses": {"Bad": {"description": "bad", "content": {"application/problem+json": {"schema": {"type": "object"}}}}},
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "refresh_cookie": {"type": "apiKey", "in": "cookie", "name": "c"}
                }
            }
        }));
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["info"]["license"], json!({"name": "MIT"}));
        let op = &doc["paths"]["/x"]["post"];
        assert_eq!(
            op["parameters"],
            json!([{"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/A"}}])
        );
        assert_eq!(
            op["produces"],
            json!(["application/json", "application/problem+json"])
        );
        assert_eq!(op["responses"]["400"], json!({"$ref": "#/responses/Bad"}));
        assert_eq!(
            op["responses"]["200"]["headers"]["H"],
            json!({"type": "integer", "description": "h"})
        );
        assert_eq!(op["security"], json!([]));
        assert_eq!(
            doc["securityDefinitions"],
            json!({"bearer": {"type": "apiKey", "in": "header", "name": "Authorization"}})
        );
    }
}
