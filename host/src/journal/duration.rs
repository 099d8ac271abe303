//! Go-style durations (`1m0s`, `720h`, `1.5s`) for specs, as gazctl writes them.
//!
//! Serialized as Go's `time.Duration.String()` would print them; parsed from any
//! sequence of `<number><unit>` with units ns, us, µs, ms, s, m, h, or a bare
//! number of seconds.

use std::time::Duration;

use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

/// Parses a Go duration string.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" || s.is_empty() {
        return Ok(Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("duration {s:?}: {e}"));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let unit_len = rest[num_len..].find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len() - num_len);
        let (num, unit) = (&rest[..num_len], &rest[num_len..num_len + unit_len]);
        let n: f64 = num.parse().map_err(|_| format!("duration {s:?}: bad number {num:?}"))?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("duration {s:?}: unknown unit {unit:?}")),
        };
        total += n * scale;
        rest = &rest[num_len + unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("duration {s:?}: {e}"))
}

/// Formats like Go's `Duration.String()` for whole seconds (`1h0m0s`, `1m0s`, `5s`).
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 {
        return format!("{}s", d.as_secs_f64());
    }
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// serde `serialize_with`.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// serde `deserialize_with`: a Go duration string or a number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::String(s) => parse(&s).map_err(D::Error::custom),
        serde_json::Value::Number(n) => {
            let secs = n.as_f64().ok_or_else(|| D::Error::custom("bad duration number"))?;
            Duration::try_from_secs_f64(secs).map_err(D::Error::custom)
        }
        other => Err(D::Error::custom(format!("expected a duration, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_and_format() {
        for (text, secs) in [("1m0s", 60), ("720h", 720 * 3600), ("1h30m", 5400), ("5s", 5), ("0", 0), ("90", 90)] {
            assert_eq!(parse(text).unwrap(), Duration::from_secs(secs), "{text}");
        }
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(format(Duration::from_secs(60)), "1m0s");
        assert_eq!(format(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format(Duration::from_secs(5)), "5s");
        assert!(parse("5 parsecs").is_err());
        assert!(parse("m").is_err());
    }
}
