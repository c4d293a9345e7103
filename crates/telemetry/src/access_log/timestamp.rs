//! RFC 3339 UTC timestamps with millisecond precision (`2024-02-29T13:05:09.042Z`) for access-log
//! lines, computed from `SystemTime` without a date library and without allocating.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// Displays a `SystemTime` as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Times before 1970 are shown as the
/// epoch and times after year 9999 as the last millisecond of 9999, so the output always has the
/// fixed RFC 3339 shape that log pipelines parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Millis(pub SystemTime);

/// Milliseconds from the epoch to 9999-12-31T23:59:59.999Z.
const MAX_MILLIS: u64 = 253_402_300_799_999;

impl fmt::Display for Rfc3339Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self
            .0
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
            .min(MAX_MILLIS);
        let (secs, ms) = (millis / 1000, millis % 1000);
        let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            secs_of_day / 3600,
            secs_of_day / 60 % 60,
            secs_of_day % 60
        )
    }
}

/// Serde `serialize_with` helper writing a `SystemTime` as an RFC 3339 string.
pub(crate) fn serialize<S: Serializer>(
    time: &SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&Rfc3339Millis(*time))
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// The calendar repeats every 400 years (146 097 days). Counting from 0000-03-01 puts the leap
/// day at the end of each year, so month lengths within a year follow a fixed pattern that
/// `(153 * m + 2) / 5` reproduces for months starting in March.
pub(crate) fn civil_from_days(days_since_epoch: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719 468 counted from 0000-03-01.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    // Year within the era: subtract the leap days (every 4 years, except every 100, except
    // every 400) before dividing by 365.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Month counted from March = 0.
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(millis: u64) -> String {
        Rfc3339Millis(UNIX_EPOCH + Duration::from_millis(millis)).to_string()
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(1_709_215_509_042), "2024-02-29T14:05:09.042Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(at(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn out_of_range_is_clamped() {
        assert_eq!(
            Rfc3339Millis(UNIX_EPOCH - Duration::from_secs(10)).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(at(u64::MAX / 2), "9999-12-31T23:59:59.999Z");
    }

    /// Straightforward day counting, as an independent oracle for the closed-form conversion.
    fn naive_civil(mut days: u64) -> (u64, u64, u64) {
        // Divisible by 4 but not by 100, or divisible by 400.
        let leap = |y: u64| matches!((y % 4, y % 100, y % 400), (0, 1.., _) | (_, _, 0));
        let mut year = 1970;
        loop {
            let len = if leap(year) { 366 } else { 365 };
            if days < len {
                break;
            }
            days -= len;
            year += 1;
        }
        let months = [
            31,
            if leap(year) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let mut month = 1;
        for len in months {
            if days < len {
                break;
            }
            days -= len;
            month += 1;
        }
        (year, month, days + 1)
    }

    proptest::proptest! {
        #[test]
        fn matches_naive_calendar(days in 0u64..2_932_897) {
            proptest::prop_assert_eq!(civil_from_days(days), naive_civil(days));
        }
    }
}
