//! Rate-limit specs (`rate_limit.*` settings such as `50/hour`): any text, one spec per
//! line, through `vigil_config::Rate`'s parser and `parse_rates`. A spec that parses
//! prints as a spec that parses back to the same rate.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_config::{parse_rates, Rate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = parse_rates(&lines);
    for line in &lines {
        if let Ok(rate) = line.parse::<Rate>() {
            assert!(rate.count > 0 && rate.period_secs > 0, "{line:?}: {rate:?}");
            let printed = rate.to_string();
            assert_eq!(printed.parse::<Rate>(), Ok(rate), "{line:?} printed as {printed:?}");
        }
    }
});
