//! Reading requests at the edge: the JSON body (media type checked, size
//! bounded while reading), its fields as DRF-style validation errors, the
//! Bearer token, the refresh cookie, and who sent it ([`client_info`]).

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, USER_AGENT};
use hyper::{HeaderMap, Request};
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::{ApiError, FieldErrors};
use crate::domain::ClientInfo;

/// Who sent the request: the client IP the edge resolved through
/// `http.trusted_proxies`, and the first `User-Agent` (bytes that are not
/// UTF-8 replaced; cut to length by [`ClientInfo`]).
pub fn client_info(client_ip: std::net::IpAddr, headers: &HeaderMap) -> ClientInfo {
    let agent = headers
        .get(USER_AGENT)
        .map(|value| String::from_utf8_lossy(value.as_bytes()));
    ClientInfo::new(client_ip, agent.as_deref())
}

/// Reads the body as a JSON object, at most `limit` bytes.
///
/// A declared `Content-Length` over the limit is refused before reading; a
/// body that grows past it while streaming is refused as soon as it does. An
/// empty body without a `Content-Type` counts as `{}` (refresh and logout may
/// rely on the cookie alone).
pub async fn read_json(
    request: Request<Incoming>,
    limit: u64,
) -> Result<Map<String, Value>, ApiError> {
    let headers = request.headers();
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| is_json(v.to_str().unwrap_or("invalid")));
    if content_type == Some(false) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let body = read_limited(request.into_body(), limit).await?;
    if body.is_empty() && content_type.is_none() {
        return Ok(Map::new());
    }
    if content_type.is_none() {
        return Err(ApiError::UnsupportedMediaType);
    }
    parse_json_object(&body)
}

/// Parses a request body that must be one JSON object with unique keys.
///
/// A repeated key is refused rather than resolved: a proxy or firewall in
/// front of authd may read the other value, and the two would then
/// disagree about what the request says.
pub fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => serde_json::from_slice::<UniqueKeys>(body)
            .map(|object| object.0)
            .map_err(|_| ApiError::MalformedJson("The request body repeats a key.")),
        Ok(_) => Err(ApiError::MalformedJson(
            "The request body must be a JSON object.",
        )),
        Err(_) if body.is_empty() => Err(ApiError::MalformedJson(
            "The request body is empty; a JSON object is expected.",
        )),
        Err(_) => Err(ApiError::MalformedJson(
            "The request body is not valid JSON.",
        )),
    }
}

/// A JSON object read with a check that no key appears twice (at the top
/// level, where the fields are).
struct UniqueKeys(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UniqueKeys, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Map<String, Value>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(A::Error::custom("repeated key"));
                    }
                    let value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Object).map(UniqueKeys)
    }
}

async fn read_limited(body: Incoming, limit: u64) -> Result<Bytes, ApiError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge(limit as u64))
        }
        Err(_) => Err(ApiError::MalformedJson(
            "The request body could not be read.",
        )),
    }
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The fields of a JSON object, read one by one; problems are collected so
/// the client hears about every field at once.
pub struct Fields {
    map: Map<String, Value>,
    errors: FieldErrors,
}

const REQUIRED: &str = "This field is required.";

impl Fields {
    pub fn new(map: Map<String, Value>) -> Fields {
        Fields {
            map,
            errors: BTreeMap::new(),
        }
    }

    /// A required string, trimmed; blank is an error.
    pub fn string(&mut self, name: &str) -> Option<String> {
        let value = self.raw_string(name, true)?;
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.error(name, "This field may not be blank.");
            return None;
        }
        Some(trimmed.to_string())
    }

    /// A required secret (password, token), not trimmed; empty is an error.
    pub fn secret(&mut self, name: &str) -> Option<String> {
        let value = self.raw_string(name, true)?;
        if value.is_empty() {
            self.error(name, "This field may not be blank.");
            return None;
        }
        Some(value)
    }

    /// A string field's value without taking it (wrong types read as absent).
    pub fn peek_string(&self, name: &str) -> Option<String> {
        self.map
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// An optional string: absent or null is `None`.
    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        self.raw_string(name, false)
    }

    fn raw_string(&mut self, name: &str, required: bool) -> Option<String> {
        match self.map.remove(name) {
            None | Some(Value::Null) if required => {
                self.error(name, REQUIRED);
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                self.error(name, "Not a valid string.");
                None
            }
        }
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors
            .entry(name.to_string())
            .or_default()
            .push(message.into());
    }

    /// Err with every collected problem, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// The token of `Authorization: Bearer <token>`; any other shape is
/// `not_authenticated`.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::NotAuthenticated);
    };
    let value = value.to_str().map_err(|_| ApiError::NotAuthenticated)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ApiError::NotAuthenticated)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(ApiError::NotAuthenticated);
    }
    Ok(token)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn bearer_tokens_are_read_strictly() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer abc")])).unwrap(),
            "abc"
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer  abc ")])).unwrap(),
            "abc"
        );
        for bad in [
            "",
            "Bearer",
            "Bearer ",
            "Basic abc",
            "Token abc",
            "Bearer a b",
        ] {
            assert!(
                bearer_token(&headers(&[("authorization", bad)])).is_err(),
                "{bad:?}"
            );
        }
        assert!(bearer_token(&headers(&[])).is_err());
        assert!(bearer_token(&headers(&[
            ("authorization", "Bearer a"),
            ("authorization", "Bearer b")
        ]))
        .is_err());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = headers(&[("cookie", "a=1; authd_refresh=tok; x_authd_refresh=no")]);
        assert_eq!(cookie(&h, "authd_refresh"), Some("tok"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(
            cookie(&headers(&[("cookie", "authd_refresh=")]), "authd_refresh"),
            None
        );
    }

    #[test]
    fn fields_collect_drf_style_errors() {
        let map = serde_json::json!({"email": "  ", "password": 5, "name": null})
            .as_object()
            .unwrap()
            .clone();
        let mut fields = Fields::new(map);
        assert_eq!(fields.string("email"), None);
        assert_eq!(fields.secret("password"), None);
        assert_eq!(fields.optional_string("name"), None);
        assert_eq!(fields.string("missing"), None);
        let Err(ApiError::Validation(errors)) = fields.finish() else {
            panic!("expected validation errors")
        };
        assert_eq!(errors["email"], ["This field may not be blank."]);
        assert_eq!(errors["password"], ["Not a valid string."]);
        assert_eq!(errors["missing"], ["This field is required."]);
        assert!(!errors.contains_key("name"));
    }

    #[test]
    fn bodies_must_be_one_object_with_unique_keys() {
        let parsed = parse_json_object(br#"{"email": "a@example.com", "n": {"x": 1, "x": 2}}"#);
        assert_eq!(parsed.unwrap()["email"], "a@example.com");
        for (body, why) in [
            (
                &br#"{"email": "a@example.com", "email": "b@example.com"}"#[..],
                "repeats a key",
            ),
            (b"[1]", "must be a JSON object"),
            (b"", "is empty"),
            (b"{\"a\": \"\xff\"}", "not valid JSON"),
        ] {
            let Err(ApiError::MalformedJson(detail)) = parse_json_object(body) else {
                panic!("{body:?} is refused")
            };
            assert!(detail.contains(why), "{detail}");
        }
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonp"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
