//! Which log events are kept: `log.level` is authd's own level, and every
//! dependency stays at `warn` unless named. A database driver at `debug`
//! logs its queries' parameters (password hashes, token ids), so raising
//! authd's level must never raise theirs. `RUST_LOG`, when set, is taken
//! as it is: an operator who names a crate there asked for its events.
//! How the lines are written is `writer`'s, their timestamps `clock`'s,
//! and the access line's fast path `direct`'s.

mod clock;
mod direct;
mod writer;

use tracing_subscriber::EnvFilter;

pub(crate) use direct::{write_access_line, AccessFields, ACCESS_TARGET};
// For `http::access_log`'s test that holds the direct line to tracing's bytes.
pub use writer::{dropped_lines, init, report_drops, LogGuard, Output};
#[cfg(test)]
pub(crate) use {clock::write_time, direct::format_access_line, writer::subscriber};

/// The crate's target: every event authd logs is under it.
const OWN_TARGET: &str = "authd";

/// The filter for `log.level`: its bare levels apply to authd's targets,
/// its `target=level` directives as written, on top of `warn` for the rest.
pub fn filter_directives(level: &str) -> String {
    let mut directives = vec!["warn".to_string()];
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if directive.contains('=') || directive.contains('[') {
            directives.push(directive.to_string());
        } else {
            directives.push(format!("{OWN_TARGET}={directive}"));
        }
    }
    directives.join(",")
}

/// `RUST_LOG` when set, else [`filter_directives`] of `log.level`.
pub fn env_filter(level: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_directives(level)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_levels_are_authds_and_dependencies_stay_at_warn() {
        assert_eq!(filter_directives("trace"), "warn,authd=trace");
        assert_eq!(filter_directives("info"), "warn,authd=info");
        assert_eq!(
            filter_directives("debug, tokio_postgres=debug"),
            "warn,authd=debug,tokio_postgres=debug",
            "a dependency named explicitly gets its level"
        );
        assert_eq!(filter_directives(""), "warn");
    }

    #[test]
    fn the_filter_drops_dependency_events_below_warn() {
        use tracing::level_filters::LevelFilter;
        use tracing_subscriber::layer::SubscriberExt;
        let filter = EnvFilter::new(filter_directives("trace"));
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::TRACE));
        let subscriber = tracing_subscriber::registry().with(filter);
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::enabled!(target: "authd::http", tracing::Level::TRACE));
            assert!(!tracing::enabled!(target: "tokio_postgres::query", tracing::Level::DEBUG));
            assert!(tracing::enabled!(target: "tokio_postgres::query", tracing::Level::WARN));
        });
    }
}
