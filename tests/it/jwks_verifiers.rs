//! Tokens signed with asymmetric keys verify in outside libraries from
//! `/.well-known/jwks.json` alone (PyJWT's `PyJWKClient`, npm `jose`'s
//! `createRemoteJWKSet` + `jwtVerify`), across a staged rotation:
//! EdDSA signing with an ES256 key `next`, then ES256 signing, then RS256.
//! A verifier that cached the set before the rotation verifies the new
//! key's tokens with the old server gone (the `next` key was published);
//! old and new tokens both verify during the overlap; once a key is
//! removed, its tokens fail in a verifier that fetches the set anew.

use crate::common;

use common::deployment::{login, register, Deployment, Pair};
use common::verifier::Tools;

const EMAIL: &str = "ada@example.com";

fn jwks_url(server: &common::process::ServeProcess) -> String {
    server.url("/.well-known/jwks.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_verifiers_follow_a_rotation_from_the_jwks_alone() {
    let Some(tools) = Tools::find("outside_verifiers_follow_a_rotation_from_the_jwks_alone") else {
        return;
    };
    // No SECRET_KEY: only asymmetric keys, the set is all a verifier has.
    let mut deployment = Deployment::new("[log]\nlevel = \"info\"\n");
    deployment.set_secret_key(None);
    for (algorithm, id) in [("ed25519", "ed-1"), ("es256", "es-1")] {
        let file = format!("{id}.pem");
        // The first key is active; beside it, the second is printed `next`.
        let entry = deployment.cli(&[
            "key",
            "generate",
            "--algorithm",
            algorithm,
            "--out",
            &file,
            "--id",
            id,
        ]);
        deployment.append_config(&entry);
    }

    // Stage A: ed-1 signs, es-1 is next.
    let server_a = deployment.serve();
    register(&server_a, EMAIL).await;
    let a: Pair = login(&server_a, EMAIL).await;
    assert_eq!(a.key(), ("ed-1".into(), "EdDSA".into()));
    let sub = &a.subject();
    let mut cached = tools.start(&jwks_url(&server_a), "authd");
    for verifier in &mut cached {
        verifier.accepts(&a.access, sub, "ed-1");
        verifier.accepts(&a.refresh, sub, "ed-1");
    }

    // Stage B: rotate to es-1. The verifiers that cached stage A's set
    // verify its tokens with stage A's server gone.
    deployment.cli(&["key", "rotate"]);
    let server_b = deployment.serve();
    drop(server_a);
    let b = login(&server_b, EMAIL).await;
    assert_eq!(b.key(), ("es-1".into(), "ES256".into()));
    for verifier in &mut cached {
        verifier.accepts(&b.access, sub, "es-1");
        verifier.accepts(&a.access, sub, "ed-1");
    }
    let mut fresh = tools.start(&jwks_url(&server_b), "authd");
    for verifier in &mut fresh {
        verifier.accepts(&a.access, sub, "ed-1");
        verifier.accepts(&b.access, sub, "es-1");
    }
    drop(fresh);

    // Stage C: ed-1 removed, an RS256 key staged; D: it signs.
    let mut config: toml_edit::DocumentMut = deployment.read_config().parse().unwrap();
    config["jwt"]["keys"]
        .as_array_of_tables_mut()
        .unwrap()
        .retain(|entry| entry["id"].as_str() != Some("ed-1"));
    deployment.write_config(&config.to_string());
    let entry = deployment.cli(&[
        "key",
        "generate",
        "--algorithm",
        "rs256",
        "--out",
        "rs-1.pem",
        "--id",
        "rs-1",
    ]);
    deployment.append_config(&entry);
    let server_c = deployment.serve();
    drop(server_b);
    let mut fresh = tools.start(&jwks_url(&server_c), "authd");
    for verifier in &mut fresh {
        verifier.refuses(&a.access);
        verifier.accepts(&b.access, sub, "es-1");
    }
    deployment.cli(&["key", "rotate"]);
    let server_d = deployment.serve();
    drop(server_c);
    let d = login(&server_d, EMAIL).await;
    assert_eq!(d.key(), ("rs-1".into(), "RS256".into()));
    // Cached at stage C, with rs-1 published as next: no refetch needed.
    for verifier in &mut fresh {
        verifier.accepts(&d.access, sub, "rs-1");
        verifier.accepts(&b.access, sub, "es-1");
    }
    let mut other_issuer = tools.start(&jwks_url(&server_d), "someone-else");
    for verifier in &mut other_issuer {
        verifier.refuses(&d.access);
    }
}
