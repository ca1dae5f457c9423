//! The sliding window on Redis: one Lua script decides and records in one
//! atomic step, so the limit holds exactly across every instance sharing
//! the Redis, however many requests race.
//!
//! Each window is a sorted set of the requests that passed, scored by the
//! Redis server's own clock (`TIME`, microseconds), so instances with
//! skewed clocks still agree. The script drops entries older than the
//! window, counts the rest, adds this request only if it fits, sets the
//! key's expiry to the window, and returns (allowed, counted, microseconds
//! until the oldest entry leaves). The redis crate runs it with EVALSHA
//! and loads it again on NOSCRIPT (after a Redis restart or SCRIPT FLUSH).

use std::time::Duration;

use redis::Script;

use super::decision::Window;
use crate::kv::{Kv, KvError};

const SLIDING_WINDOW: &str = r"
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local member = ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
local counted = redis.call('ZCARD', key)
local allowed = 0
if counted < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window_us / 1000))
  counted = counted + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local until_free = 0
if oldest[2] then
  until_free = tonumber(oldest[2]) + window_us - now
end
return {allowed, counted, until_free}
";

pub struct RedisLimiter {
    kv: Kv,
    script: Script,
}

impl RedisLimiter {
    pub fn new(kv: Kv) -> RedisLimiter {
        RedisLimiter {
            kv,
            script: Script::new(SLIDING_WINDOW),
        }
    }

    /// Decides and records one request for `key` (without the prefix).
    pub async fn check(&self, key: &str, limit: u32, window: Duration) -> Result<Window, KvError> {
        let key = self.kv.key(key);
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        // Unique per request, so two passes in the same microsecond are two entries.
        let member = crate::auth::jwt::new_id();
        let script = &self.script;
        let (allowed, counted, until_free): (i64, i64, i64) = self
            .kv
            .run(|mut connection| {
                let mut invocation = script.key(&key);
                invocation.arg(limit).arg(window_us).arg(&member);
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        Ok(Window {
            allowed: allowed == 1,
            counted: u32::try_from(counted).unwrap_or(u32::MAX),
            until_free: Duration::from_micros(u64::try_from(until_free).unwrap_or(0)),
        })
    }
}
