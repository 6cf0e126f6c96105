//! Rate-limit strings such as `50/hour`, parsed once at start-up.

use std::fmt;
use std::str::FromStr;

/// At most `count` requests per `period_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests allowed in one window.
    pub count: u64,
    /// Window length in seconds.
    pub period_secs: u64,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, unit) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a rate: write it as N/minute, N/hour…"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: the count must be a whole number"))?;
        if count == 0 {
            return Err(format!("`{s}`: the count must be at least 1"));
        }
        let period_secs = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (use second, minute, hour or day)"
                ))
            }
        };
        Ok(Rate { count, period_secs })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period_secs {
            1 => "second",
            60 => "minute",
            3_600 => "hour",
            86_400 => "day",
            other => return write!(f, "{}/{other}s", self.count),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// Parses every string of a limit list.
pub fn parse_rates(list: &[String]) -> Result<Vec<Rate>, String> {
    list.iter().map(|s| s.parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let r: Rate = "50/hour".parse().unwrap();
        assert_eq!(
            r,
            Rate {
                count: 50,
                period_secs: 3600
            }
        );
        assert_eq!(r.to_string(), "50/hour");
        assert_eq!("10 / Minute".parse::<Rate>().unwrap().period_secs, 60);
        assert!("0/day".parse::<Rate>().is_err());
        assert!("ten/day".parse::<Rate>().is_err());
        assert!("5/fortnight".parse::<Rate>().is_err());
        assert!("5".parse::<Rate>().is_err());
    }

    /// Every file of the `rate_spec` fuzz corpus through the same checks as the fuzz
    /// target: a spec that parses prints as one that parses back to the same rate.
    #[test]
    fn fuzz_corpus_specs_round_trip() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/rate_spec");
        let mut parsed = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let _ = parse_rates(&lines);
            for line in &lines {
                if let Ok(rate) = line.parse::<Rate>() {
                    assert_eq!(rate.to_string().parse::<Rate>(), Ok(rate), "{line:?}");
                    parsed += 1;
                }
            }
        }
        assert!(parsed >= 5, "the corpus holds valid specs ({parsed})");
    }
}
