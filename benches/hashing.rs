//! What one password hash costs with the default argon2id parameters
//! (m=19456 KiB, t=2, p=1): the price of every login, registration and
//! password change, and the ceiling of login throughput per core.
//! Run: `cargo bench --bench hashing`.

use authd::auth::PasswordHasher;
use authd::config::Config;
use authd::domain::PasswordHash;
use authd::domain::{Email, FullName, NewPassword, Password};

fn main() {
    divan::main();
}

fn hasher() -> PasswordHasher {
    PasswordHasher::new(Config::default().hash_params()).expect("default parameters are valid")
}

fn password() -> NewPassword {
    let email = Email::parse("ada@example.com").unwrap();
    NewPassword::parse(
        Password::new("correct horse battery staple"),
        &email,
        &FullName::default(),
    )
    .unwrap()
}

#[divan::bench(sample_count = 20)]
fn hash_default_params(bencher: divan::Bencher) {
    let hasher = hasher();
    let password = password();
    bencher.bench_local(|| hasher.hash(divan::black_box(&password)).unwrap());
}

#[divan::bench(sample_count = 20)]
fn verify_default_params(bencher: divan::Bencher) {
    let hasher = hasher();
    let hash: PasswordHash = hasher.hash(&password()).unwrap();
    let presented = Password::new("correct horse battery staple");
    bencher.bench_local(|| assert!(hasher.verify(divan::black_box(&presented), &hash)));
}

#[divan::bench]
fn password_policy_check(bencher: divan::Bencher) {
    let email = Email::parse("ada@example.com").unwrap();
    bencher.bench_local(|| {
        NewPassword::parse(
            Password::new("correct horse battery staple"),
            &email,
            &FullName::default(),
        )
        .is_ok()
    });
}
