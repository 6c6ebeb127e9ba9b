//! How amounts and times read in messages: taka with two decimals and thousands separators,
//! times in Bangladesh local time (Asia/Dhaka, UTC+6 all year, no DST).

use chrono::{DateTime, FixedOffset, Utc};

const DHAKA_OFFSET_SECS: i32 = 6 * 3600;

/// `amount` (smallest unit) as `Tk 1,215.00` for BDT, else `1,215.00 XYZ`.
pub fn money(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::with_capacity(units.len() + units.len() / 3);
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let number = format!("{sign}{grouped}.{:02}", abs % 100);
    if currency.eq_ignore_ascii_case("BDT") {
        format!("Tk {number}")
    } else {
        format!("{number} {currency}")
    }
}

/// `at` in Dhaka time, as `Fri 20 Mar 2026, 07:30`.
pub fn dhaka_time(at: DateTime<Utc>) -> String {
    let Some(offset) = FixedOffset::east_opt(DHAKA_OFFSET_SECS) else {
        return at.format("%a %d %b %Y, %H:%M UTC").to_string();
    };
    at.with_timezone(&offset)
        .format("%a %d %b %Y, %H:%M")
        .to_string()
}

/// `secs` as `5 minutes`, `1 minute` or `90 seconds`.
pub fn duration(secs: u64) -> String {
    match secs {
        60 => "1 minute".into(),
        s if s.is_multiple_of(60) => format!("{} minutes", s / 60),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn money_reads_as_taka_with_separators() {
        for (amount, text) in [
            (0, "Tk 0.00"),
            (5, "Tk 0.05"),
            (40_500, "Tk 405.00"),
            (121_550, "Tk 1,215.50"),
            (123_456_789, "Tk 1,234,567.89"),
        ] {
            assert_eq!(money(amount, "BDT"), text);
        }
        assert_eq!(money(100_000, "USD"), "1,000.00 USD");
    }

    #[test]
    fn times_are_shown_in_dhaka_time() {
        let at = Utc.with_ymd_and_hms(2026, 3, 19, 20, 30, 0).single();
        assert_eq!(
            at.map(dhaka_time).as_deref(),
            Some("Fri 20 Mar 2026, 02:30")
        );
    }

    #[test]
    fn durations_read_in_minutes_when_whole() {
        assert_eq!(duration(300), "5 minutes");
        assert_eq!(duration(60), "1 minute");
        assert_eq!(duration(90), "90 seconds");
    }
}
