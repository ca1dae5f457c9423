//! `/.well-known/jwks.json` over real HTTP: what it publishes (every
//! asymmetric key, `next` ones too, never an HS256 secret), its caching
//! headers and conditional requests, and that tokens signed with an
//! asymmetric key work through the API.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use authd::auth::key_material::generate_private_pem;
use authd::config::{KeyAlgorithm, KeyState, SigningKeyConfig};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use common::server::{access, runtime, TestServer, TEST_SECRET};
use common::TestDb;
use reqwest::StatusCode;

const JWKS: &str = "/.well-known/jwks.json";

/// A private key file of `algorithm` in `db`'s folder (mode 0600).
fn key_file(db: &TestDb, name: &str, algorithm: KeyAlgorithm) -> PathBuf {
    let path = db.dir().join(name);
    std::fs::write(&path, generate_private_pem(algorithm).unwrap().as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn asymmetric(
    id: &str,
    algorithm: KeyAlgorithm,
    file: PathBuf,
    state: KeyState,
) -> SigningKeyConfig {
    SigningKeyConfig {
        id: id.into(),
        algorithm,
        secret: Default::default(),
        private_key_file: Some(file),
        public_key_file: None,
        state,
    }
}

fn header(token: &str) -> serde_json::Value {
    let segment = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[test]
fn the_set_holds_every_asymmetric_key_and_revalidates_with_304() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let ed = key_file(&db, "ed.pem", KeyAlgorithm::EdDSA);
        let es = key_file(&db, "es.pem", KeyAlgorithm::ES256);
        let server = TestServer::start(&db, |config| {
            // SECRET_KEY stays set (TestServer's): its HS256 key `default`
            // is kept as a verify-only key and never published.
            config.jwt.keys = vec![
                asymmetric("ed1", KeyAlgorithm::EdDSA, ed, KeyState::Active),
                asymmetric("es1", KeyAlgorithm::ES256, es, KeyState::Next),
            ];
        })
        .await;
        let reply = server.client.get(server.url(JWKS)).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let headers = reply.headers().clone();
        assert_eq!(headers["content-type"], "application/jwk-set+json");
        assert_eq!(headers["cache-control"], "public, max-age=300");
        let etag = headers["etag"].to_str().unwrap().to_string();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
            "{etag}"
        );
        let text = reply.text().await.unwrap();
        assert!(
            !text.contains(TEST_SECRET) && !text.contains("\"oct\""),
            "{text}"
        );
        let set: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "{text}");
        assert_eq!(
            (
                &keys[0]["kid"],
                &keys[0]["alg"],
                &keys[0]["kty"],
                &keys[0]["crv"],
                &keys[0]["use"]
            ),
            (
                &"ed1".into(),
                &"EdDSA".into(),
                &"OKP".into(),
                &"Ed25519".into(),
                &"sig".into()
            )
        );
        assert_eq!(
            (
                &keys[1]["kid"],
                &keys[1]["alg"],
                &keys[1]["kty"],
                &keys[1]["crv"]
            ),
            (
                &"es1".into(),
                &"ES256".into(),
                &"EC".into(),
                &"P-256".into()
            )
        );
        assert!(
            keys.iter().all(|k| k.get("d").is_none()),
            "no private member"
        );

        let again = server
            .client
            .get(server.url(JWKS))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(again.headers()["cache-control"], "public, max-age=300");
        assert!(again.text().await.unwrap().is_empty());
        let stale = server
            .client
            .get(server.url(JWKS))
            .header("If-None-Match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::OK);

        // The EdDSA key signs; the API takes its tokens.
        server.register("ada@example.com").await;
        let token = access(&server.login("ada@example.com").await);
        assert_eq!(
            header(&token),
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed1"})
        );
        let me = server.get("/api/auth/me/", &token).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    });
}

#[test]
fn with_hs256_keys_only_the_set_is_empty_and_max_age_is_configurable() {
    runtime().block_on(async {
        let db = TestDb::sqlite();
        let server = TestServer::start(&db, |config| {
            config.jwt.jwks_max_age = authd::config::Duration::secs(60);
        })
        .await;
        let reply = server.client.get(server.url(JWKS)).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(reply.headers()["cache-control"], "public, max-age=60");
        assert_eq!(reply.text().await.unwrap(), r#"{"keys":[]}"#);
    });
}
