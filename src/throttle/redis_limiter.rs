//! The sliding window on Redis: one Lua script decides and records in one
//! atomic step, so the limit holds exactly across every instance sharing
//! the Redis, however many requests race.
//!
//! Each window is a sorted set of the requests that passed, scored by the
//! Redis server's own clock (`TIME`, microseconds), so instances with
//! skewed clocks still agree. A request counted by several scopes is one
//! script over their keys: it drops entries older than each window and
//! counts the rest; only if every window has room does it add the request
//! to each (and set each key's expiry to its window), so a refused request
//! is counted nowhere. It returns whether the request passed and, per key,
//! (had room, counted, microseconds until the oldest entry leaves). The
//! redis crate runs it with EVALSHA and loads it again on NOSCRIPT (after a
//! Redis restart or SCRIPT FLUSH).

use std::time::Duration;

use redis::Script;

use super::decision::Window;
use crate::kv::{Kv, KvError};

const SLIDING_WINDOWS: &str = r"
local member = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local counted = {}
local room = {}
local pass = 1
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 * i])
  local window_us = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
  counted[i] = redis.call('ZCARD', key)
  if counted[i] < limit then
    room[i] = 1
  else
    room[i] = 0
    pass = 0
  end
end
local result = {pass}
for i, key in ipairs(KEYS) do
  local window_us = tonumber(ARGV[2 * i + 1])
  if pass == 1 then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(window_us / 1000))
    counted[i] = counted[i] + 1
  end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local until_free = 0
  if oldest[2] then
    until_free = tonumber(oldest[2]) + window_us - now
  end
  table.insert(result, room[i])
  table.insert(result, counted[i])
  table.insert(result, until_free)
end
return result
";

pub struct RedisLimiter {
    kv: Kv,
    script: Script,
}

impl RedisLimiter {
    pub fn new(kv: Kv) -> RedisLimiter {
        RedisLimiter {
            kv,
            script: Script::new(SLIDING_WINDOWS),
        }
    }

    /// Decides and records one request counted by every window of `asks`
    /// (key without the prefix, limit, window); one window per ask.
    pub async fn check(&self, asks: &[(&str, u32, Duration)]) -> Result<Vec<Window>, KvError> {
        let keys: Vec<String> = asks.iter().map(|(key, _, _)| self.kv.key(key)).collect();
        // Unique per request, so two passes in the same microsecond are two entries.
        let member = crate::auth::jwt::new_id();
        let script = &self.script;
        let answer: Vec<i64> = self
            .kv
            .run(|mut connection| {
                let mut invocation = script.prepare_invoke();
                invocation.arg(&member);
                for (key, (_, limit, window)) in keys.iter().zip(asks) {
                    let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
                    invocation.key(key).arg(*limit).arg(window_us);
                }
                async move { invocation.invoke_async(&mut connection).await }
            })
            .await?;
        let per_key = answer.get(1..).unwrap_or_default();
        if per_key.len() != 3 * asks.len() {
            return Err(KvError::Redis(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "the throttle script answered an unexpected shape",
            ))));
        }
        Ok(per_key
            .chunks_exact(3)
            .map(|window| Window {
                allowed: window[0] == 1,
                counted: u32::try_from(window[1]).unwrap_or(u32::MAX),
                until_free: Duration::from_micros(u64::try_from(window[2]).unwrap_or(0)),
            })
            .collect())
    }
}
