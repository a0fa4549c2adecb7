//! HTTP dates (`Last-Modified`) and UTC calendar days, without a date crate for two lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01: Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Whole seconds since the epoch (0 before it).
fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The UTC day of `t`, `YYYY-MM-DD`.
pub fn day(t: SystemTime) -> String {
    let (y, m, d) = civil_from_days((epoch_secs(t) / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `t` as an HTTP date (RFC 9110 §5.6.7 IMF-fixdate), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
/// Truncated to the second, as HTTP dates are.
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = epoch_secs(t);
    let days = secs / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let s = secs % 86_400;
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn rfc_examples_and_leap_days() {
        // RFC 9110's own example.
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        // 2024-02-29 23:59:59 UTC, a leap day.
        assert_eq!(http_date(at(1_709_251_199)), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(day(at(1_709_251_199)), "2024-02-29");
        assert_eq!(day(at(1_709_251_200)), "2024-03-01");
        // Sub-second parts are dropped, not rounded.
        assert_eq!(http_date(at(59) + Duration::from_millis(999)), "Thu, 01 Jan 1970 00:00:59 GMT");
    }
}
