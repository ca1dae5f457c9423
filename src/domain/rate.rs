//! `Rate`: a throttle rule such as `"5/minute"`: at most `count` requests in
//! any window of length `window`. Written `N/second|minute|hour|day` (or the
//! first letter, as the old service accepted) or `N/<duration>` such as
//! `"3/2s"`.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}: expected N/second, N/minute, N/hour, N/day or N/<duration> such as 3/2s, with N >= 1")]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(raw: &str) -> Result<Rate, RateError> {
        let error = || RateError(raw.to_string());
        let (count, period) = raw.trim().split_once('/').ok_or_else(error)?;
        let count: u32 = count.trim().parse().map_err(|_| error())?;
        let period = period.trim();
        let window = match period {
            "s" | "sec" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86_400),
            other => humantime::parse_duration(other).map_err(|_| error())?,
        };
        if count == 0 || window.is_zero() {
            return Err(error());
        }
        Ok(Rate { count, window })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.window.as_secs() {
            1 if self.window.subsec_nanos() == 0 => write!(f, "{}/second", self.count),
            60 if self.window.subsec_nanos() == 0 => write!(f, "{}/minute", self.count),
            3600 if self.window.subsec_nanos() == 0 => write!(f, "{}/hour", self.count),
            86_400 if self.window.subsec_nanos() == 0 => write!(f, "{}/day", self.count),
            _ => write!(
                f,
                "{}/{}",
                self.count,
                humantime::format_duration(self.window)
            ),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rate, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_old_services_forms_and_durations() {
        let rate = |s: &str| s.parse::<Rate>().unwrap();
        assert_eq!(
            rate("5/minute"),
            Rate {
                count: 5,
                window: Duration::from_secs(60)
            }
        );
        assert_eq!(
            rate("10/h"),
            Rate {
                count: 10,
                window: Duration::from_secs(3600)
            }
        );
        assert_eq!(
            rate("3/2s"),
            Rate {
                count: 3,
                window: Duration::from_secs(2)
            }
        );
        assert_eq!(
            rate(" 1 / day "),
            Rate {
                count: 1,
                window: Duration::from_secs(86_400)
            }
        );
    }

    #[test]
    fn round_trips_through_display() {
        for text in ["5/minute", "3/2s", "10/hour", "1/second", "2/day"] {
            assert_eq!(text.parse::<Rate>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "5",
            "0/minute",
            "-1/minute",
            "5/fortnight",
            "five/minute",
            "5/0s",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?}");
        }
    }
}
