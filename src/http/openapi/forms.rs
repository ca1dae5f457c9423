//! Every form the API document is served in, made once when the server
//! starts from the one generated OpenAPI 3.1 document: 3.1 and 3.0, each
//! as JSON and YAML (`/api/schema/`), and Swagger 2.0 as JSON and YAML
//! (`/swagger.json`, `/swagger.yaml`). Also which form a request asks for:
//! `?format=json|yaml`, `?version=3.1|3.0`, or an `Accept` naming YAML
//! (`application/yaml`, or drf-spectacular's `application/vnd.oai.openapi`).

use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::{swagger2, v30};

pub const JSON: &str = "application/json";
pub const YAML: &str = "application/yaml";

/// One serialized document and its media type.
#[derive(Clone)]
pub struct Form {
    pub body: Bytes,
    pub content_type: &'static str,
}

/// The OpenAPI versions `/api/schema/` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V31,
    V30,
}

/// JSON or YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

/// The API document in every form, serialized once.
pub struct Documents {
    v31: [Form; 2],
    v30: [Form; 2],
    swagger: [Form; 2],
}

impl Documents {
    pub fn new(doc: &utoipa::openapi::OpenApi) -> Documents {
        let value = serde_json::to_value(doc).expect("the OpenAPI document serializes");
        Documents {
            // From the document itself, which keeps its members in order.
            v31: both(doc),
            v30: both(&Ordered(&v30::from_31(&value))),
            swagger: both(&Ordered(&swagger2::from_31(&value))),
        }
    }

    /// The OpenAPI document in `version` and `syntax`.
    pub fn openapi(&self, version: Version, syntax: Syntax) -> &Form {
        let forms = match version {
            Version::V31 => &self.v31,
            Version::V30 => &self.v30,
        };
        &forms[syntax as usize]
    }

    /// The Swagger 2.0 document in `syntax`.
    pub fn swagger(&self, syntax: Syntax) -> &Form {
        &self.swagger[syntax as usize]
    }
}

/// A converted document with its top-level members in the usual order
/// (the version first), where a JSON value would sort them.
struct Ordered<'a>(&'a Value);

const TOP_ORDER: &[&str] = &[
    "swagger",
    "openapi",
    "info",
    "consumes",
    "produces",
    "servers",
    "paths",
    "definitions",
    "responses",
    "components",
    "securityDefinitions",
    "security",
    "tags",
];

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(members) = self.0 else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(members.len()))?;
        for key in TOP_ORDER {
            if let Some(member) = members.get(*key) {
                map.serialize_entry(key, member)?;
            }
        }
        for (key, member) in members {
            if !TOP_ORDER.contains(&key.as_str()) {
                map.serialize_entry(key, member)?;
            }
        }
        map.end()
    }
}

fn both(doc: &impl Serialize) -> [Form; 2] {
    let mut json = serde_json::to_vec_pretty(doc).expect("the API document serializes");
    json.push(b'\n');
    let yaml = serde_norway::to_string(doc).expect("the API document serializes as YAML");
    [
        Form {
            body: Bytes::from(json),
            content_type: JSON,
        },
        Form {
            body: Bytes::from(yaml),
            content_type: YAML,
        },
    ]
}

/// What a request's query asks of `/api/schema/`: the members it names
/// (`None` when absent), or the name of a member whose value is unknown.
pub fn query(query: Option<&str>) -> Result<(Option<Syntax>, Option<Version>), &'static str> {
    let mut syntax = None;
    let mut version = None;
    for pair in query.unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "format" => {
                syntax = Some(match value {
                    "json" | "openapi-json" => Syntax::Json,
                    "yaml" | "openapi" => Syntax::Yaml,
                    _ => return Err("format"),
                })
            }
            "version" => {
                version = Some(match value {
                    "3.1" | "3.1.0" => Version::V31,
                    "3.0" | "3.0.3" => Version::V30,
                    _ => return Err("version"),
                })
            }
            _ => {}
        }
    }
    Ok((syntax, version))
}

/// The syntax an `Accept` header prefers: YAML when a YAML media type has
/// the highest quality of those named, JSON otherwise (the default).
pub fn accepted(accept: Option<&str>) -> Syntax {
    let mut best = (0.0_f32, Syntax::Json);
    for range in accept.unwrap_or_default().split(',') {
        let mut parts = range.split(';');
        let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let syntax = match media_type.as_str() {
            "application/yaml"
            | "application/x-yaml"
            | "text/yaml"
            | "application/vnd.oai.openapi" => Syntax::Yaml,
            "application/json" | "application/vnd.oai.openapi+json" => Syntax::Json,
            _ => continue,
        };
        if quality > best.0 {
            best = (quality, syntax);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_picks_yaml_only_when_it_is_preferred() {
        assert_eq!(accepted(None), Syntax::Json);
        assert_eq!(accepted(Some("*/*")), Syntax::Json);
        assert_eq!(accepted(Some("application/yaml")), Syntax::Yaml);
        assert_eq!(accepted(Some("application/vnd.oai.openapi")), Syntax::Yaml);
        assert_eq!(
            accepted(Some("application/vnd.oai.openapi+json")),
            Syntax::Json
        );
        assert_eq!(
            accepted(Some("application/json, application/yaml;q=0.5")),
            Syntax::Json
        );
        assert_eq!(
            accepted(Some("application/json;q=0.4, Application/YAML")),
            Syntax::Yaml
        );
    }

    #[test]
    fn the_query_names_format_and_version() {
        assert_eq!(query(None), Ok((None, None)));
        assert_eq!(
            query(Some("format=yaml&version=3.0")),
            Ok((Some(Syntax::Yaml), Some(Version::V30)))
        );
        assert_eq!(
            query(Some("format=json&lang=en")),
            Ok((Some(Syntax::Json), None))
        );
        assert_eq!(query(Some("format=xml")), Err("format"));
        assert_eq!(query(Some("version=2")), Err("version"));
    }
}
