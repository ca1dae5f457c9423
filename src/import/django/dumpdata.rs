//! A `manage.py dumpdata` file: a JSON array of `{"model", "pk", "fields"}`.
//! The user model is the one whose objects have `email` and `password`
//! fields; `token_blacklist.outstandingtoken` and `.blacklistedtoken`
//! objects, when the dump has them, are the SimpleJWT blacklist. The file is
//! read whole (a dump is a single JSON document); rows come out in id order.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::mapping::{compose_name, parse_time, DjangoUser, Rejected};
use super::{BlacklistedToken, ImportError, Source};

const OUTSTANDING: &str = "token_blacklist.outstandingtoken";
const BLACKLISTED: &str = "token_blacklist.blacklistedtoken";

#[derive(Deserialize)]
struct Object {
    model: String,
    #[serde(default)]
    pk: Value,
    #[serde(default)]
    fields: Map<String, Value>,
}

pub struct DumpdataSource {
    path: String,
    model: String,
    rows: std::vec::IntoIter<Result<DjangoUser, Rejected>>,
    count: u64,
    blacklist: Vec<BlacklistedToken>,
}

impl DumpdataSource {
    pub fn open(path: &Path) -> Result<DumpdataSource, ImportError> {
        let shown = path.display().to_string();
        let file = File::open(path)
            .map_err(|e| ImportError::Input(format!("cannot read {shown}: {e}")))?;
        let objects: Vec<Object> = serde_json::from_reader(BufReader::new(file)).map_err(|e| {
            ImportError::Input(format!(
                "{shown} is not the JSON of manage.py dumpdata: {e}"
            ))
        })?;
        let models: BTreeSet<&str> = objects
            .iter()
            .filter(|o| o.fields.contains_key("email") && o.fields.contains_key("password"))
            .map(|o| o.model.as_str())
            .collect();
        let model = match models.into_iter().collect::<Vec<_>>()[..] {
            [model] => model.to_string(),
            [] => return Err(ImportError::Input(format!("{shown} holds no user model (objects with email and password fields): dump it with manage.py dumpdata <app>.<user model>"))),
            ref several => return Err(ImportError::Input(format!("{shown} holds several user models ({}): dump only the one AUTH_USER_MODEL names", several.join(", ")))),
        };
        let mut rows: Vec<(i64, Result<DjangoUser, Rejected>)> = objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.model == model)
            .map(|(index, o)| match o.pk.as_i64() {
                Some(pk) => (pk, user(pk, &o.fields)),
                None => (
                    i64::MAX,
                    Err(Rejected {
                        row: format!("object {}", index + 1),
                        reason: "no integer pk (dumped with --natural-primary?)".into(),
                    }),
                ),
            })
            .collect();
        rows.sort_by_key(|(pk, _)| *pk);
        let blacklist = blacklist(&objects);
        Ok(DumpdataSource {
            path: shown,
            model,
            count: rows.len() as u64,
            rows: rows
                .into_iter()
                .map(|(_, row)| row)
                .collect::<Vec<_>>()
                .into_iter(),
            blacklist,
        })
    }
}

impl Source for DumpdataSource {
    fn describe(&self) -> String {
        format!("dumpdata {}", self.path)
    }

    fn table(&self) -> &str {
        &self.model
    }

    fn count(&mut self) -> Result<u64, ImportError> {
        Ok(self.count)
    }

    fn next_batch(
        &mut self,
        size: usize,
    ) -> Result<Vec<Result<DjangoUser, Rejected>>, ImportError> {
        Ok(self.rows.by_ref().take(size).collect())
    }

    fn blacklist(&mut self) -> Result<Vec<BlacklistedToken>, ImportError> {
        Ok(std::mem::take(&mut self.blacklist))
    }
}

fn user(pk: i64, fields: &Map<String, Value>) -> Result<DjangoUser, Rejected> {
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let flag =
        |name: &str, default: bool| fields.get(name).and_then(Value::as_bool).unwrap_or(default);
    let time = |name: &str| -> Result<Option<_>, Rejected> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_time(text)
                .map(Some)
                .ok_or_else(|| Rejected::new(pk, format!("{name} is not a date and time"))),
            Some(_) => Err(Rejected::new(pk, format!("{name} is not a date and time"))),
        }
    };
    Ok(DjangoUser {
        id: pk,
        email: text("email").unwrap_or_default().to_string(),
        password: text("password").unwrap_or_default().to_string(),
        full_name: compose_name(text("full_name"), text("first_name"), text("last_name")),
        is_active: flag("is_active", true),
        is_staff: flag("is_staff", false),
        is_superuser: flag("is_superuser", false),
        date_joined: time("date_joined")?,
        last_login: time("last_login")?,
    })
}

fn blacklist(objects: &[Object]) -> Vec<BlacklistedToken> {
    let outstanding: HashMap<i64, &Map<String, Value>> = objects
        .iter()
        .filter(|o| o.model == OUTSTANDING)
        .filter_map(|o| Some((o.pk.as_i64()?, &o.fields)))
        .collect();
    objects
        .iter()
        .filter(|o| o.model == BLACKLISTED)
        .filter_map(|o| {
            let token = outstanding.get(&o.fields.get("token")?.as_i64()?)?;
            Some(BlacklistedToken {
                jti: token.get("jti")?.as_str()?.to_string(),
                user_id: token.get("user").and_then(Value::as_i64),
                expires_at: parse_time(token.get("expires_at")?.as_str()?)?,
                blacklisted_at: o
                    .fields
                    .get("blacklisted_at")
                    .and_then(Value::as_str)
                    .and_then(parse_time),
            })
        })
        .collect()
}
