//! The OpenAPI 3.1 document rewritten as OpenAPI 3.0.3, for client
//! generators that do not read 3.1 yet (`/api/schema/?version=3.0`). The
//! two differ in their JSON Schema: 3.0 writes "or null" as `nullable`, has
//! one `example` instead of `examples`, no `const`, a boolean
//! `exclusiveMinimum`/`exclusiveMaximum`, and a license without `identifier`.
//! Everything else is the same document.

use serde_json::{Map, Value};

/// `doc` (OpenAPI 3.1, as JSON) as OpenAPI 3.0.3.
pub fn from_31(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc["openapi"] = Value::from("3.0.3");
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    if let Some(object) = doc.as_object_mut() {
        object.remove("jsonSchemaDialect");
        object.remove("webhooks");
    }
    rewrite_schemas(&mut doc);
    doc
}

/// Rewrites every Schema Object in the document: the members named
/// `schema` (parameters, media types, headers) and `components.schemas`.
fn rewrite_schemas(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                match key.as_str() {
                    "schema" => *member = schema(member),
                    "schemas" => {
                        if let Value::Object(schemas) = member {
                            for schema_value in schemas.values_mut() {
                                *schema_value = schema(schema_value);
                            }
                        }
                    }
                    // Examples of media types and parameters are values,
                    // not schemas.
                    "example" | "examples" => {}
                    _ => rewrite_schemas(member),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_schemas),
        _ => {}
    }
}

/// One JSON Schema (2020-12) as an OpenAPI 3.0 Schema Object.
pub fn schema(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (key, member) in map {
        match key.as_str() {
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
                let kept: Vec<Value> = alternatives
                    .iter()
                    .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                    .map(schema)
                    .collect();
                nullable |= kept.len() < alternatives.len();
                match kept.as_slice() {
                    // `T or null` is `T` with `nullable`; a `$ref` takes no
                    // siblings in 3.0, so it goes under `allOf`.
                    [one] => merge(&mut out, one),
                    _ => {
                        out.insert(key.clone(), Value::Array(kept));
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
            "properties" | "patternProperties" => {
                let rewritten = member
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(name, s)| (name.clone(), schema(s)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(rewritten));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), schema(member));
            }
            "allOf" => {
                let all = member.as_array().map(|a| a.iter().map(schema).collect());
                out.insert(key.clone(), Value::Array(all.unwrap_or_default()));
            }
            // JSON Schema 2020-12 keywords OpenAPI 3.0 does not have.
            "$schema"
            | "$id"
            | "$defs"
            | "contentMediaType"
            | "contentEncoding"
            | "propertyNames"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "prefixItems"
            | "contains"
            | "dependentRequired"
            | "dependentSchemas"
            | "if"
            | "then"
            | "else" => {}
            _ => {
                out.insert(key.clone(), member.clone());
            }
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    wrap_ref_with_siblings(out)
}

/// Adds the members of `alternative` to `out` (its own win).
fn merge(out: &mut Map<String, Value>, alternative: &Value) {
    if let Value::Object(members) = alternative {
        for (key, member) in members {
            out.insert(key.clone(), member.clone());
        }
    }
}

/// A `$ref` beside other members: in 3.0 the others would be ignored, so
/// the reference moves under `allOf`.
fn wrap_ref_with_siblings(mut out: Map<String, Value>) -> Value {
    if out.len() > 1 {
        if let Some(reference) = out.remove("$ref") {
            out.insert(
                "allOf".into(),
                Value::Array(vec![Value::Object(Map::from_iter([(
                    "$ref".to_string(),
                    reference,
                )]))]),
            );
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn or_null_becomes_nullable() {
        assert_eq!(
            schema(&json!({"type": ["string", "null"], "maxLength": 150})),
            json!({"type": "string", "maxLength": 150, "nullable": true})
        );
        assert_eq!(
            schema(
                &json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/S", "description": "d"}]})
            ),
            json!({"allOf": [{"$ref": "#/components/schemas/S"}], "description": "d", "nullable": true})
        );
        assert_eq!(
            schema(&json!({"const": "x", "examples": [1, 2], "exclusiveMinimum": 0})),
            json!({"enum": ["x"], "example": 1, "minimum": 0, "exclusiveMinimum": true})
        );
    }

    #[test]
    fn the_document_says_3_0_and_loses_the_license_identifier() {
        let doc = from_31(&json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "license": {"name": "MIT", "identifier": "MIT"}},
            "paths": {"/x": {"get": {"responses": {"200": {"description": "ok",
                "content": {"application/json": {"schema": {"type": ["integer", "null"]},
                    "example": {"type": ["kept"]}}}}}}}},
            "components": {"schemas": {"A": {"properties": {"b": {"type": ["string", "null"]}}}}}
        }));
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(doc["info"]["license"], json!({"name": "MIT"}));
        let media = &doc["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"];
        assert_eq!(
            media["schema"],
            json!({"type": "integer", "nullable": true})
        );
        assert_eq!(media["example"], json!({"type": ["kept"]}));
        assert_eq!(
            doc["components"]["schemas"]["A"]["properties"]["b"],
            json!({"type": "string", "nullable": true})
        );
    }
}
