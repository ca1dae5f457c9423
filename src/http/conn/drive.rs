//! Serving one connection under its deadlines: hyper's connection future,
//! polled together with one timer and the connection's close requests.
//!
//! The timer is never set more than `Limits::step` ahead; when it fires,
//! the state says what the deadline is now (see `state`), so requests
//! starting and ending never touch it. A connection past its deadline, or
//! asked to close (shed while idle, or at shutdown), is closed gracefully:
//! an HTTP/1 connection finishes the response it is writing, an HTTP/2 one
//! sends GOAWAY and finishes its open streams. One that has not finished
//! closing `close_grace` later while no request of its own is running
//! (say, an HTTP/2 handshake left half done) is dropped.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;

use super::state::{CloseRequest, Conn, Limits, Verdict};

/// Runs `connection` to its end, closing it at its deadline or when asked.
pub async fn serve<C>(
    connection: C,
    conn: &Conn,
    limits: Limits,
    close_grace: Duration,
) -> Result<(), C::Error>
where
    C: GracefulConnection,
{
    let clock = conn.clock();
    let at = |millis| tokio::time::Instant::from_std(clock.instant(millis));
    let mut connection = pin!(connection);
    let step = limits.step().as_millis() as u64;
    // When the timer is set for, in milliseconds on the clock: it never
    // fires earlier, so "now" is at least that when it does.
    let mut armed = clock.now() + step;
    let mut timer = pin!(tokio::time::sleep_until(at(armed)));
    let mut closing = false;
    poll_fn(move |cx| loop {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        let mut close = false;
        if !closing {
            match conn.poll_close_request(cx.waker()) {
                // A request began between the pick and now: keep serving it.
                Some(CloseRequest::Shed) if conn.sheddable_since().is_none() => conn.decline_shed(),
                Some(_) => close = true,
                None => {}
            }
        }
        if !close {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = clock.now().max(armed);
            if closing {
                if !conn.is_busy() {
                    tracing::debug!("the connection did not close in time; dropping it");
                    return Poll::Ready(Ok(()));
                }
                armed = now + step;
                timer.as_mut().reset(at(armed));
                continue;
            }
            match conn.verdict(limits, now) {
                Verdict::CheckAt(millis) => {
                    armed = millis;
                    timer.as_mut().reset(at(armed));
                    continue;
                }
                Verdict::Expired => {
                    tracing::debug!("the connection's time without a request is over; closing it");
                }
            }
        }
        connection.as_mut().graceful_shutdown();
        closing = true;
        armed = clock.now() + close_grace.as_millis() as u64;
        timer.as_mut().reset(at(armed));
    })
    .await
}
