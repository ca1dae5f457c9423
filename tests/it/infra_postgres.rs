//! Postgres as production runs it: TLS with libpq's `sslmode` semantics, on
//! a private server with a certificate from a CA the test makes, and pools
//! that behave when the server's connection slots run out.

use crate::common;

use authd::config::{Config, ConnectionUrl};
use authd::store::{self, postgres_tls, StoreError};
use common::pg_server::PrivatePostgres;
use common::tls::TestCa;

fn config(url: &str) -> Config {
    let mut config = Config::default();
    config.database.url = ConnectionUrl::new(url);
    config.database.connect_timeout = authd::config::Duration::secs(5);
    config
}

/// Whether a connection made as authd makes it is encrypted (the server's view).
fn encrypted(url: &str) -> bool {
    let target = postgres_tls::target(url).unwrap();
    let mut client = target.config.connect(target.tls).expect(url);
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

fn open_error(url: &str) -> String {
    match store::open(&config(url)) {
        Ok(_) => panic!("{url} should have been refused"),
        Err(StoreError::Unavailable(reason)) => reason.to_string(),
        Err(other) => panic!("{url}: unexpected error {other}"),
    }
}

#[test]
fn sslmodes_encrypt_and_verify_as_libpq_does() {
    let Some(pg) = PrivatePostgres::start(module_path!(), 20) else {
        return;
    };
    let ca = pg.ca.cert.display().to_string();

    // prefer (the default) uses the TLS the server offers; disable does not.
    assert!(encrypted(&pg.url("127.0.0.1", "")), "{}", pg.log());
    assert!(encrypted(&pg.url("127.0.0.1", "sslmode=prefer")));
    assert!(encrypted(&pg.url("127.0.0.1", "sslmode=require")));
    assert!(!encrypted(&pg.url("127.0.0.1", "sslmode=disable")));

    // verify-full: the chain and the name hold.
    let full = pg.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert!(encrypted(&full));
    let store = store::open(&config(&full)).expect("verify-full against the test CA");
    store.ping().unwrap();
    drop(store);

    // The certificate names localhost, not 127.0.0.1: verify-full refuses,
    // verify-ca (chain only) accepts.
    let error = open_error(&pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert!(error.contains("not valid for name"), "{error}");
    assert!(encrypted(&pg.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}")
    )));

    // Another CA: both verifying modes refuse, and so does require with a root file.
    let other = TestCa::new(pg.dir(), "other");
    let other = other.cert.display().to_string();
    for mode in ["verify-full", "verify-ca", "require"] {
        let error =
            open_error(&pg.url("localhost", &format!("sslmode={mode}&sslrootcert={other}")));
        assert!(
            error.contains("invalid peer certificate"),
            "{mode}: {error}"
        );
    }
}
