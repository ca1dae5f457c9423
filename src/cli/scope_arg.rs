//! The `--scope` argument of `throttle` and `loadtest`: the throttle
//! scopes' names as clap possible values, so `--help` lists them and shell
//! completions offer them (a plain parser function would offer file names).

use clap::builder::{PossibleValuesParser, TypedValueParser};

use crate::throttle::Scope;

/// Parses one of `Scope::ALL`'s names into a `Scope`.
pub fn parser() -> impl TypedValueParser<Value = Scope> {
    PossibleValuesParser::new(Scope::ALL.map(Scope::name)).map(|name| {
        name.parse::<Scope>()
            .expect("every possible value is a scope's name")
    })
}
