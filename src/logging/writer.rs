//! Where log lines go: stderr, through a bounded queue and a writer thread
//! for `serve`, so a request never waits on the terminal, a pipe or a log
//! shipper that is slow to read. When the queue is full a line is dropped
//! and counted (`authd_log_lines_dropped_total`, and a warning once the
//! queue has room again): losing lines under a flood beats slowing every
//! request down to the speed of stderr. Admin commands write synchronously,
//! since they log little and their lines must all arrive, in order with
//! their output.
//!
//! The writer thread batches the lines it finds queued into one write, and
//! [`LogGuard`] drains the queue when dropped, so lines logged before exit
//! are written.

use std::fmt;
use std::io::{BufWriter, IsTerminal};
use std::sync::OnceLock;
use std::time::Duration;

use tracing::field::Field;
use tracing::Subscriber;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, FormatFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines queued for the writer thread at most: a few MiB of typical lines,
/// far more than a second of the busiest request rate.
const QUEUED_LINES: usize = 16_384;

/// Bytes the writer thread gathers before a write to stderr.
const WRITE_BUFFER: usize = 64 * 1024;

/// The queue's drop counter, once `serve`'s writer is installed.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Through the bounded queue (see the module doc): for `serve`.
    Queued,
    /// Straight to stderr: for the admin commands.
    Direct,
}

/// Keeps the writer thread; dropping it writes what is still queued.
/// Hold it until the process exits.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

/// Lines dropped so far because the queue was full.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// Installs the global subscriber: `level` as [`super::env_filter`] reads
/// it, in `format`, written as `output` says.
pub fn init(level: &str, format: LogFormat, output: Output) -> LogGuard {
    let ansi = std::io::stderr().is_terminal();
    match output {
        Output::Direct => {
            install(level, format, ansi, std::io::stderr);
            LogGuard { _worker: None }
        }
        Output::Queued => {
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(QUEUED_LINES)
                .thread_name("authd-log")
                .finish(BufWriter::with_capacity(WRITE_BUFFER, std::io::stderr()));
            let _ = DROPPED.set(writer.error_counter());
            if !ansi {
                super::direct::install(writer.clone(), format);
            }
            install(level, format, ansi, writer);
            LogGuard {
                _worker: Some(guard),
            }
        }
    }
}

fn install<W>(level: &str, format: LogFormat, ansi: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber(
        super::env_filter(level),
        format,
        ansi,
        super::clock::Clock,
        writer,
    )
    .init();
}

/// The subscriber [`init`] installs, over any clock and writer: the tests
/// of the direct access line compare its bytes with this one's.
pub fn subscriber<T, W>(
    filter: EnvFilter,
    format: LogFormat,
    ansi: bool,
    timer: T,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    T: FormatTime + Send + Sync + 'static,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(timer)
        .with_writer(writer);
    match format {
        LogFormat::Pretty => Box::new(builder.with_ansi(ansi).fmt_fields(plain_fields()).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish(),
        ),
    }
}

/// The text format's fields, as tracing-subscriber's default writes them
/// (`name=value`, space-separated, the message bare) but without styling
/// each field name: the default paints every name through an ANSI style
/// even when colour is off, a fifth of what an access line costs.
fn plain_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(
        |writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            if field.name() == "message" {
                write!(writer, "{value:?}")
            } else {
                write!(writer, "{}={value:?}", field.name())
            }
        },
    )
    .display_messages()
    .delimited(" ")
}

/// Warns, every `every`, of the lines dropped since the last warning. The
/// warning goes through the same queue, so it is written once the queue
/// has room again.
pub async fn report_drops(every: Duration) {
    let mut reported = dropped_lines();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let dropped = dropped_lines();
        if dropped > reported {
            tracing::warn!(
                dropped = dropped - reported,
                total = dropped,
                "log lines dropped: stderr was read more slowly than lines were logged"
            );
            reported = dropped;
        }
    }
}
