//! The README's "Rotating signing keys" procedure, step by step, as an
//! operator runs it: real config-file changes made with `authd key generate`
//! and `authd key rotate`, and `authd serve` restarted between stages. It
//! starts from a `SECRET_KEY` deployment, rotates to an HS256 `jwt.keys`
//! key, then to an EdDSA key, and checks after every restart that the
//! tokens of every earlier stage still work (nobody is logged out) until
//! their key is removed.

use crate::common;

use common::deployment::{accepted, login, register, Deployment, Pair};

const EMAIL: &str = "ada@example.com";

/// Restarts the server: the old one stops first, as on a single instance.
fn restart(
    deployment: &Deployment,
    server: common::process::ServeProcess,
) -> common::process::ServeProcess {
    drop(server);
    deployment.serve()
}

async fn all_accepted(server: &common::process::ServeProcess, pairs: &[&Pair]) {
    for (stage, pair) in pairs.iter().enumerate() {
        assert!(
            accepted(server, pair).await,
            "tokens of stage {stage} ({:?}) refused",
            pair.key()
        );
    }
}

fn key(kid: &str, alg: &str) -> (String, String) {
    (kid.to_string(), alg.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_secret_key_to_hs256_to_eddsa_nobody_is_logged_out() {
    let mut deployment = Deployment::new("# authd\n[log]\nlevel = \"info\"\n");

    // Stage 0: SECRET_KEY only. Its key is `default`, and key list says so.
    let list = deployment.cli(&["key", "list"]);
    assert!(
        list.contains("default") && list.contains("SECRET_KEY"),
        "{list}"
    );
    let mut server = deployment.serve();
    register(&server, EMAIL).await;
    let p0 = login(&server, EMAIL).await;
    assert_eq!(p0.key(), key("default", "HS256"));

    // Step 1 from SECRET_KEY: stage an HS256 key. `key generate` beside a
    // key in force prints it as `next`; SECRET_KEY's key keeps signing.
    let entry = deployment.cli(&["key", "generate", "--id", "hs-1"]);
    assert!(entry.contains("state = \"next\""), "{entry}");
    deployment.append_config(&entry);
    server = restart(&deployment, server);
    all_accepted(&server, &[&p0]).await;
    let p1 = login(&server, EMAIL).await;
    assert_eq!(p1.key(), key("default", "HS256"));
    let list = deployment.cli(&["key", "list", "--output", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        (&list[0]["id"], &list[0]["state"], &list[0]["signs"]),
        (&"hs-1".into(), &"next".into(), &false.into())
    );
    assert_eq!(
        (&list[1]["id"], &list[1]["signs"]),
        (&"default".into(), &true.into())
    );

    // Step 2: rotate; the new key signs, SECRET_KEY's verifies.
    deployment.cli(&["key", "rotate"]);
    server = restart(&deployment, server);
    all_accepted(&server, &[&p0, &p1]).await;
    let p2 = login(&server, EMAIL).await;
    assert_eq!(p2.key(), key("hs-1", "HS256"));

    // Step 3 would unset SECRET_KEY; first rotate on, from jwt.keys to an
    // asymmetric key: stage it (a key file, mode 0600), then rotate.
    let entry = deployment.cli(&[
        "key",
        "generate",
        "--algorithm",
        "ed25519",
        "--out",
        "ed-1.pem",
        "--id",
        "ed-1",
    ]);
    assert!(
        entry.contains("state = \"next\"") && entry.contains("algorithm = \"EdDSA\""),
        "{entry}"
    );
    deployment.append_config(&entry);
    server = restart(&deployment, server);
    all_accepted(&server, &[&p0, &p1, &p2]).await;
    let p3 = login(&server, EMAIL).await;
    assert_eq!(p3.key(), key("hs-1", "HS256"), "a next key does not sign");
    let jwks: serde_json::Value = reqwest::get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"][0]["kid"], "ed-1",
        "the next key is published: {jwks}"
    );

    deployment.cli(&["key", "rotate"]);
    server = restart(&deployment, server);
    all_accepted(&server, &[&p0, &p1, &p2, &p3]).await;
    let p4 = login(&server, EMAIL).await;
    assert_eq!(p4.key(), key("ed-1", "EdDSA"));

    // Last step, after jwt.refresh_ttl: remove the old keys (hs-1 from the
    // file, SECRET_KEY from the environment). Their tokens stop working;
    // the new key's keep working.
    let mut config: toml_edit::DocumentMut = deployment.read_config().parse().unwrap();
    let keys = config["jwt"]["keys"].as_array_of_tables_mut().unwrap();
    keys.retain(|entry| entry["id"].as_str() != Some("hs-1"));
    deployment.write_config(&config.to_string());
    deployment.set_secret_key(None);
    server = restart(&deployment, server);
    for (stage, pair) in [&p0, &p1, &p2, &p3].into_iter().enumerate() {
        assert!(
            !accepted(&server, pair).await,
            "stage {stage}: a removed key still verifies"
        );
    }
    all_accepted(&server, &[&p4]).await;
    let p5 = login(&server, EMAIL).await;
    assert_eq!(p5.key(), key("ed-1", "EdDSA"));
}
