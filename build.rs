//! Embeds the SQL migrations into the binary.
//!
//! `migrations/<backend>/NNNN_name.up.sql` and `.down.sql` become a static
//! list per backend (`SQLITE`, `POSTGRES`) in `$OUT_DIR/migrations.rs`, which
//! `src/store/migrate.rs` includes. The build fails when a version lacks its
//! down script, when versions are not 1, 2, 3, ... in order, or when the two
//! backends do not have the same versions and names: a schema change must be
//! written for both databases.

use std::{env, fs, path::Path};

const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

fn main() {
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    println!("cargo:rerun-if-changed=migrations");

    let mut code = String::new();
    let mut lists: Vec<Vec<(u32, String)>> = Vec::new();
    for backend in BACKENDS {
        let dir = Path::new(&root).join("migrations").join(backend);
        println!("cargo:rerun-if-changed={}", dir.display());
        let list = scan(&dir);
        code.push_str(&format!(
            "/// The embedded {backend} migrations, oldest first.\npub static {}: &[Migration] = &[\n",
            backend.to_uppercase()
        ));
        for (version, name) in &list {
            let file = |dir_kind: &str| {
                dir.join(format!("{version:04}_{name}.{dir_kind}.sql"))
                    .display()
                    .to_string()
            };
            code.push_str(&format!(
                "    Migration {{ version: {version}, name: {name:?}, up: include_str!({:?}), down: include_str!({:?}) }},\n",
                file("up"),
                file("down")
            ));
        }
        code.push_str("];\n");
        lists.push(list);
    }
    if lists[0] != lists[1] {
        panic!("migrations/sqlite and migrations/postgres must hold the same versions and names");
    }
    fs::write(out, code).expect("write migrations.rs");
}

/// Reads one backend folder into `(version, name)` pairs, checking the naming rules.
fn scan(dir: &Path) -> Vec<(u32, String)> {
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let file = entry.expect("read_dir entry").file_name();
        let file = file.to_string_lossy();
        let (stem, target) = if let Some(stem) = file.strip_suffix(".up.sql") {
            (stem, &mut ups)
        } else if let Some(stem) = file.strip_suffix(".down.sql") {
            (stem, &mut downs)
        } else {
            panic!("{}: unexpected file {file}", dir.display());
        };
        let (version, name) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{file}: expected NNNN_name"));
        let version: u32 = version
            .parse()
            .unwrap_or_else(|_| panic!("{file}: version is not a number"));
        target.push((version, name.to_string()));
    }
    ups.sort();
    downs.sort();
    if ups != downs {
        panic!(
            "{}: every up script needs a down script and vice versa",
            dir.display()
        );
    }
    for (index, (version, _)) in ups.iter().enumerate() {
        if *version as usize != index + 1 {
            panic!(
                "{}: versions must be 1, 2, 3, ... without gaps",
                dir.display()
            );
        }
    }
    ups
}
