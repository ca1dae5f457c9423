//! `authd key rotate`: the rotation step that makes a staged key sign, done
//! in the config file so it survives restarts and every instance reading
//! that file agrees. The chosen `jwt.keys` entry (by default the one whose
//! `state` is `next`) moves first and loses its `state` (active). The file
//! is edited with toml_edit, so comments and layout stay; it is replaced
//! atomically, keeping its mode, and put back if the result does not load.
//! A running server reads keys at start only: restart it after.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use toml_edit::{DocumentMut, Item, Value};

use super::output;
use super::{CliError, Context};
use crate::config::{self, LoadOptions};

pub fn run(context: &Context, id: Option<&str>) -> Result<(), CliError> {
    let path = context.config_file.as_deref().ok_or_else(|| {
        CliError::Usage(
            "key rotate edits the config file, and none is in use: pass --config FILE (or set AUTHD_CONFIG)".into(),
        )
    })?;
    let text = fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", path.display())))?;
    let rotated = rotate(&text, id)
        .map_err(|message| CliError::Usage(format!("{}: {message}", path.display())))?;
    let Some((new_text, chosen)) = rotated else {
        return output::print(format!(
            "Key {:?} already signs ({} is unchanged).",
            id.unwrap_or_default(),
            path.display()
        ));
    };
    replace(path, &new_text)?;
    // The whole configuration (file, environment) must still load.
    if let Err(e) = config::load(LoadOptions::from_process(
        Some(path.to_path_buf()),
        Vec::new(),
    )) {
        replace(path, &text)?;
        return Err(CliError::Usage(format!(
            "{}: not rotated, the result would not load: {e}",
            path.display()
        )));
    }
    output::print(format!(
        "Key {chosen:?} now signs ({} rewritten); every other key keeps verifying.\nRestart authd on every instance. Remove the old key once the tokens it signed have expired (jwt.refresh_ttl).",
        path.display()
    ))
}

/// The file with `id` (or the one `next` key) first and active, and the
/// key's id; `None` when it already is.
fn rotate(text: &str, id: Option<&str>) -> Result<Option<(String, String)>, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    // (toml_edit's get_mut adds an empty item for a missing key.)
    let keys = doc
        .get_mut("jwt")
        .and_then(|jwt| jwt.get_mut("keys"))
        .filter(|keys| !keys.is_none())
        .ok_or("no jwt.keys in the file: add the new key there first (authd key generate)")?;
    let entries: Vec<(String, bool)> = match &*keys {
        Item::ArrayOfTables(tables) => tables
            .iter()
            .map(|t| {
                entry(
                    t.get("id").and_then(Item::as_str),
                    t.get("state").and_then(Item::as_str),
                )
            })
            .collect(),
        Item::Value(Value::Array(array)) => array
            .iter()
            .map(|v| {
                let table = v.as_inline_table();
                let field = |name| table.and_then(|t| t.get(name)).and_then(Value::as_str);
                entry(field("id"), field("state"))
            })
            .collect(),
        _ => return Err("jwt.keys is not a list of keys".into()),
    };
    let index = choose(&entries, id)?;
    let chosen = entries[index].0.clone();
    if index == 0 && !entries[0].1 {
        return Ok(None);
    }
    match keys {
        Item::ArrayOfTables(tables) => {
            let mut all: Vec<_> = tables.iter().cloned().collect();
            // Tables print in document position order: the first keeps the
            // first position whichever key it is.
            let positions: Vec<_> = all.iter().map(|t| t.position()).collect();
            let mut moved = all.remove(index);
            moved.remove("state");
            all.insert(0, moved);
            tables.clear();
            for (mut table, position) in all.into_iter().zip(positions) {
                if let Some(position) = position {
                    table.set_position(position);
                }
                tables.push(table);
            }
        }
        Item::Value(Value::Array(array)) => {
            let mut moved = array.remove(index);
            if let Some(table) = moved.as_inline_table_mut() {
                table.remove("state");
            }
            array.insert_formatted(0, moved);
            array.fmt();
        }
        _ => unreachable!("checked above"),
    }
    Ok(Some((doc.to_string(), chosen)))
}

/// An entry's id and whether its state is `next`.
fn entry(id: Option<&str>, state: Option<&str>) -> (String, bool) {
    (id.unwrap_or_default().to_string(), state == Some("next"))
}

fn choose(entries: &[(String, bool)], id: Option<&str>) -> Result<usize, String> {
    if let Some(id) = id {
        return entries
            .iter()
            .position(|(each, _)| each == id)
            .ok_or_else(|| format!("no jwt.keys entry has id {id:?}"));
    }
    let next: Vec<_> = (0..entries.len()).filter(|&i| entries[i].1).collect();
    match next[..] {
        [one] => Ok(one),
        [] => Err("no jwt.keys entry has state = \"next\": stage the new key first (authd key generate), or name a key with --id".into()),
        _ => Err(format!(
            "several keys have state = \"next\" ({}): name one with --id",
            next.iter().map(|&i| entries[i].0.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Replaces `path` with `text` atomically (a sibling file renamed over it),
/// keeping its permissions: the file may hold secrets.
fn replace(path: &Path, text: &str) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::Failed(format!("cannot rewrite {}: {e}", path.display()));
    let mode = fs::metadata(path).map_err(fail)?.permissions().mode() & 0o7777;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.authd-rotate"));
    let _ = fs::remove_file(&temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .map_err(fail)?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    fs::rename(&temporary, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# authd
[jwt]
access_ttl = "15m"

# The key that signs today.
[[jwt.keys]]
id = "old"
algorithm = "EdDSA"
private_key_file = "/etc/authd/old.pem"

# Staged on 2026-12-01.
[[jwt.keys]]
id = "new"
algorithm = "EdDSA"
private_key_file = "/etc/authd/new.pem"
state = "next"

[log]
level = "info"
"#;

    #[test]
    fn the_next_key_moves_first_and_becomes_active_keeping_comments() {
        let (text, chosen) = rotate(FILE, None).unwrap().unwrap();
        assert_eq!(chosen, "new");
        let new_at = text.find("id = \"new\"").unwrap();
        let old_at = text.find("id = \"old\"").unwrap();
        assert!(new_at < old_at, "{text}");
        assert!(!text.contains("state"), "{text}");
        assert!(
            text.contains("# Staged on 2026-12-01.")
                && text.contains("# The key that signs today.")
        );
        assert!(text.find("[log]").unwrap() > old_at, "{text}");
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let ids: Vec<_> = parsed["jwt"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["new", "old"]);
        // Rotating again is a no-op for the now active key, an error without a next key.
        assert_eq!(rotate(&text, Some("new")).unwrap(), None);
        assert!(rotate(&text, None)
            .unwrap_err()
            .contains("state = \"next\""));
        // And back, by id.
        let (back, _) = rotate(&text, Some("old")).unwrap().unwrap();
        assert!(back.find("id = \"old\"").unwrap() < back.find("id = \"new\"").unwrap());
    }

    #[test]
    fn inline_key_lists_rotate_too() {
        let text = "[jwt]\nkeys = [{ id = \"a\", secret = \"x\" }, { id = \"b\", secret = \"y\", state = \"next\" }]\n";
        let (rotated, _) = rotate(text, None).unwrap().unwrap();
        let parsed: toml::Table = toml::from_str(&rotated).unwrap();
        let keys = parsed["jwt"]["keys"].as_array().unwrap();
        assert_eq!(keys[0]["id"].as_str(), Some("b"));
        assert!(keys[0].get("state").is_none());
        assert_eq!(keys[1]["id"].as_str(), Some("a"));
    }

    #[test]
    fn unclear_requests_are_refused() {
        let none = rotate("[jwt]\n", None);
        assert!(
            none.as_ref().is_err_and(|e| e.contains("no jwt.keys")),
            "{none:?}"
        );
        assert!(rotate(FILE, Some("nope")).unwrap_err().contains("\"nope\""));
        let two = FILE.replace(
            "private_key_file = \"/etc/authd/old.pem\"",
            "private_key_file = \"/etc/authd/old.pem\"\nstate = \"next\"",
        );
        assert!(rotate(&two, None).unwrap_err().contains("old, new"));
    }
}
