//! Time as the hub speaks it: China Standard Time (UTC+08:00, no daylight saving), days that
//! start at Beijing midnight, and the two ways people write a time in a request.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// The UTC+08:00 offset.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// `t` in Beijing time.
pub fn in_beijing(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&beijing())
}

/// Unix milliseconds of the start of `day` in Beijing.
pub fn day_start_ms(day: NaiveDate) -> Option<i64> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(beijing()).single())
        .map(|t| t.timestamp_millis())
}

/// Unix milliseconds of an RFC 3339 time or a `YYYY-MM-DD` date (its Beijing midnight).
pub fn parse_time_ms(text: &str) -> Result<i64, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(day_start_ms)
        .ok_or_else(|| format!("`{text}` is neither an RFC 3339 time nor a YYYY-MM-DD date"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_beijing_days_and_times_keep_their_offset() {
        assert_eq!(parse_time_ms("2026-01-01"), Ok(1_767_196_800_000));
        assert_eq!(
            parse_time_ms("2026-01-01T00:00:00+08:00"),
            Ok(1_767_196_800_000)
        );
        assert_eq!(parse_time_ms("2025-12-31T16:00:00Z"), Ok(1_767_196_800_000));
        assert!(parse_time_ms("2026-13-01").is_err());
        assert!(parse_time_ms("yesterday").is_err());
    }
}
