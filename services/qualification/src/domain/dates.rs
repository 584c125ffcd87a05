//! Calendar arithmetic for qualifications: when one expires, and how many
//! whole years lie between two days (years of practice, age).
//!
//! Both lean the conservative way at month ends: a year is never counted
//! early and a qualification never lasts longer than its months. Dates are
//! calendar days in China; callers pass "today" so the rules stay testable.

use chrono::{Datelike, Months, NaiveDate};

/// The day a qualification approved (or renewed) on `approved_on` stops
/// being valid: the same day of the month `validity_months` later, or that
/// month's last day when it is shorter (approved 01-31, one month → 02-28/29).
/// It is valid up to the day before. A period past chrono's calendar
/// saturates to [`NaiveDate::MAX`], i.e. "does not expire in practice"; the
/// configuration bounds the months long before that.
pub fn expiry(approved_on: NaiveDate, validity_months: u32) -> NaiveDate {
    approved_on
        .checked_add_months(Months::new(validity_months))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether a qualification expiring on `expires_on` (see [`expiry`]) has
/// expired by `today`. The expiry day itself is already expired.
pub fn is_expired(expires_on: NaiveDate, today: NaiveDate) -> bool {
    today >= expires_on
}

/// Whole years from `from` to `on`: the number of anniversaries of `from`
/// reached by `on`, like an age (周岁). 0 when `on` is before `from`. The
/// anniversary of 02-29 in a common year is 03-01, so a year is never
/// counted a day early.
pub fn full_years(from: NaiveDate, on: NaiveDate) -> u32 {
    if on <= from {
        return 0;
    }
    let before_anniversary = (on.month(), on.day()) < (from.month(), from.day());
    let years = on.year() - from.year() - i32::from(before_anniversary);
    // `on > from` makes this non-negative; the fallback only satisfies the types.
    u32::try_from(years).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn whole_years_count_anniversaries() {
        assert_eq!(full_years(d("2021-11-23"), d("2026-11-22")), 4);
        assert_eq!(full_years(d("2021-11-23"), d("2026-11-23")), 5);
        assert_eq!(full_years(d("2021-11-23"), d("2026-11-24")), 5);
        assert_eq!(full_years(d("2021-11-23"), d("2021-11-23")), 0);
        assert_eq!(full_years(d("2021-11-23"), d("2022-11-22")), 0);
        assert_eq!(full_years(d("2021-12-31"), d("2022-01-01")), 0);
        assert_eq!(full_years(d("2026-01-01"), d("2021-01-01")), 0, "future start");
    }

    #[test]
    fn leap_day_anniversary_is_march_first_in_common_years() {
        assert_eq!(full_years(d("2020-02-29"), d("2021-02-28")), 0);
        assert_eq!(full_years(d("2020-02-29"), d("2021-03-01")), 1);
        assert_eq!(full_years(d("2020-02-29"), d("2024-02-29")), 4);
    }

    #[test]
    fn expiry_adds_calendar_months() {
        assert_eq!(expiry(d("2026-11-23"), 36), d("2029-11-23"));
        assert_eq!(expiry(d("2026-11-23"), 0), d("2026-11-23"));
        assert_eq!(expiry(d("2026-01-31"), 1), d("2026-02-28"), "clamped to month end");
        assert_eq!(expiry(d("2024-01-31"), 1), d("2024-02-29"));
        assert_eq!(expiry(d("2024-02-29"), 12), d("2025-02-28"));
        assert_eq!(expiry(d("2026-11-23"), u32::MAX), NaiveDate::MAX, "saturates");
    }

    #[test]
    fn expired_from_the_expiry_day_on() {
        let expires = expiry(d("2026-11-23"), 12);
        assert!(!is_expired(expires, d("2027-11-22")));
        assert!(is_expired(expires, d("2027-11-23")));
        assert!(is_expired(expires, d("2028-01-01")));
    }
}
