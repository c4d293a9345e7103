//! Human-readable units used across the config: durations (`30s`, `250ms`, `1m30s`) and byte
//! sizes (`10MiB`, `512KiB`, `1GB`).
//!
//! Both types serialize back to their canonical human form so that `flexgate config migrate` and
//! the control plane's exports stay readable and round-trip exactly.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A duration written with units: `500ms`, `30s`, `5m`, `1h`, or a sum such as `1m30s`.
///
/// A bare integer is rejected on purpose: `timeout: 30` is ambiguous (seconds? milliseconds?) and the
/// original FlexGate mixed both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// The standard-library duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// Whether this duration is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

/// Why a unit string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

impl FromStr for Duration {
    type Err = UnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(UnitError(
                "empty duration; write e.g. `30s` or `250ms`".into(),
            ));
        }
        let mut total_ms: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(UnitError(format!(
                    "invalid duration `{input}`: expected a number followed by a unit (ms, s, m, h, d)"
                )));
            }
            let number: u128 = rest[..digits]
                .parse()
                .map_err(|_| UnitError(format!("invalid duration `{input}`: number too large")))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let factor_ms: u128 = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "" => {
                    return Err(UnitError(format!(
                        "invalid duration `{input}`: missing unit; write e.g. `{number}s` or `{number}ms`"
                    )))
                }
                other => {
                    return Err(UnitError(format!(
                        "invalid duration `{input}`: unknown unit `{other}` (use ms, s, m, h or d)"
                    )))
                }
            };
            total_ms = total_ms
                .checked_add(number.saturating_mul(factor_ms))
                .ok_or_else(|| UnitError(format!("invalid duration `{input}`: too large")))?;
        }
        let ms = u64::try_from(total_ms)
            .map_err(|_| UnitError(format!("invalid duration `{input}`: too large")))?;
        Ok(Duration::from_millis(ms))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        // Print the largest exact unit so that `90s` stays `90s` rather than `1m30s`: operators
        // recognise the value they wrote.
        for (unit, factor) in [
            ("d", 86_400_000u128),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms % factor == 0 {
                return write!(f, "{}{unit}", ms / factor);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, such as `30s` or `250ms`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write `{v}s` or `{v}ms`, not `{v}`"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write `{v}s` or `{v}ms`, not `{v}`"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$",
            "description": "A duration with units: `250ms`, `30s`, `5m`, `1h`, `1d`, or a sum such as `1m30s`.",
            "examples": ["30s", "250ms", "1m30s"]
        })
    }
}

/// A size in bytes written with units: `512B`, `64KiB`, `10MiB`, `1GiB` (binary) or `1KB`, `1MB`,
/// `1GB` (decimal). A bare integer means bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

impl ByteSize {
    /// A size of `bytes` bytes.
    pub const fn bytes(bytes: u64) -> Self {
        ByteSize(bytes)
    }

    /// A size of `n` KiB.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n * 1024)
    }

    /// A size of `n` MiB.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if digits == 0 {
            return Err(UnitError(format!(
                "invalid size `{input}`: expected a number followed by a unit such as `10MiB`"
            )));
        }
        let number: u64 = s[..digits]
            .parse()
            .map_err(|_| UnitError(format!("invalid size `{input}`: number too large")))?;
        let unit = s[digits..].trim();
        let factor: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => {
                return Err(UnitError(format!(
                    "invalid size `{input}`: unknown unit `{unit}` (use B, KiB, MiB, GiB, KB, MB or GB)"
                )))
            }
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| UnitError(format!("invalid size `{input}`: too large")))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= factor && b % factor == 0 {
                return write!(f, "{}{unit}", b / factor);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as `10MiB` or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]+\\s*([KMG]i?B|[kKmMgG]|B)?$"},
                {"type": "integer", "minimum": 0}
            ],
            "description": "A size: `512B`, `64KiB`, `10MiB`, `1GiB` (binary), `1KB`, `1MB`, `1GB` (decimal), or a number of bytes.",
            "examples": ["10MiB", "64KiB"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        for (input, ms, printed) in [
            ("250ms", 250, "250ms"),
            ("30s", 30_000, "30s"),
            ("1m30s", 90_000, "90s"),
            ("5m", 300_000, "5m"),
            ("2h", 7_200_000, "2h"),
            ("0s", 0, "0s"),
        ] {
            let d: Duration = input.parse().unwrap();
            assert_eq!(d.get().as_millis() as u64, ms, "{input}");
            assert_eq!(d.to_string(), printed);
        }
    }

    #[test]
    fn durations_reject_missing_or_unknown_units() {
        assert!("30"
            .parse::<Duration>()
            .unwrap_err()
            .0
            .contains("missing unit"));
        assert!("3 weeks".parse::<Duration>().is_err());
        assert!("s".parse::<Duration>().is_err());
        assert!("".parse::<Duration>().is_err());
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!("10MiB".parse::<ByteSize>().unwrap().get(), 10 << 20);
        assert_eq!("1KB".parse::<ByteSize>().unwrap().get(), 1000);
        assert_eq!("512".parse::<ByteSize>().unwrap().get(), 512);
        assert_eq!(ByteSize::mib(10).to_string(), "10MiB");
        assert!("10 parsecs".parse::<ByteSize>().is_err());
    }
}
