//! A person's preferences and what they decide: which external channels carry
//! a category, when a delivery may go out (quiet hours), and when the daily
//! digest is due. Times of day are Beijing time (UTC+8), as people set them.

use super::templates::CATEGORIES;
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use kit::ServiceError;
use kit::error::Violations;
use serde::{Deserialize, Serialize};

/// China Standard Time has no daylight saving: a fixed UTC+8.
const BEIJING: Duration = Duration::hours(8);
const MINUTES_PER_DAY: i32 = 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryChannels {
    pub category: String,
    pub webhook: bool,
    pub email: bool,
}

/// Minutes after midnight, Beijing time; `start == end` means none. A window
/// may cross midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuietHours {
    pub start_minute: i32,
    pub end_minute: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub email: String,
    pub categories: Vec<CategoryChannels>,
    pub daily_digest: bool,
    pub digest_hour: i32,
    pub quiet: QuietHours,
}

impl Default for Preferences {
    /// Everything on every channel the person has, at once; the digest, if
    /// chosen, at 08:00.
    fn default() -> Self {
        Preferences {
            email: String::new(),
            categories: Vec::new(),
            daily_digest: false,
            digest_hour: 8,
            quiet: QuietHours::default(),
        }
    }
}

/// Which external channels carry a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels {
    pub webhook: bool,
    pub email: bool,
}

impl Preferences {
    /// Checks every field; the errors name them (Chinese, for people).
    pub fn validate(&self) -> Result<(), ServiceError> {
        let mut v = Violations::default();
        let email = self.email.trim();
        if !email.is_empty() && !is_email(email) {
            v.add("preferences.email", "请填写有效的电子邮箱地址");
        }
        for (i, c) in self.categories.iter().enumerate() {
            if !CATEGORIES.contains(&c.category.as_str()) {
                v.add(
                    format!("preferences.categories[{i}].category"),
                    format!("未知的通知类别，可选：{}", CATEGORIES.join("、")),
                );
            } else if self.categories[..i].iter().any(|o| o.category == c.category) {
                v.add(format!("preferences.categories[{i}].category"), "通知类别重复");
            }
        }
        if !(0..24).contains(&self.digest_hour) {
            v.add("preferences.digest_hour", "摘要发送时间应在 0 到 23 点之间");
        }
        for (field, minute) in [
            ("preferences.quiet_hours.start_minute", self.quiet.start_minute),
            ("preferences.quiet_hours.end_minute", self.quiet.end_minute),
        ] {
            if !(0..MINUTES_PER_DAY).contains(&minute) {
                v.add(field, "免打扰时间应在 0 到 1439 分钟之间（北京时间零点起）");
            }
        }
        v.into_result()
    }

    /// The external channels for `category`: both unless the person said otherwise;
    /// e-mail only with an address.
    pub fn channels(&self, category: &str) -> Channels {
        let chosen = self.categories.iter().find(|c| c.category == category);
        Channels {
            webhook: chosen.is_none_or(|c| c.webhook),
            email: !self.email.is_empty() && chosen.is_none_or(|c| c.email),
        }
    }

    /// When a delivery due `at` may go out: `at`, or the end of the quiet
    /// hours it falls in.
    pub fn release(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let QuietHours {
            start_minute: start,
            end_minute: end,
        } = self.quiet;
        if start == end {
            return at;
        }
        let local = at + BEIJING;
        let minute = (local.hour() * 60 + local.minute()) as i32;
        let inside = if start < end {
            (start..end).contains(&minute)
        } else {
            minute >= start || minute < end
        };
        if !inside {
            return at;
        }
        // Minutes until the window ends, wrapping past midnight.
        let wait = (end - minute).rem_euclid(MINUTES_PER_DAY);
        let released = at + Duration::minutes(wait as i64);
        // On the minute the window ends.
        released - Duration::seconds(released.second() as i64) - Duration::nanoseconds(released.nanosecond() as i64)
    }

    /// The Beijing date whose digest is due at `now`, if the digest hour of
    /// that day has come (a person without the digest: at once, today, so
    /// that nothing waits for a digest they turned off).
    pub fn digest_due(&self, now: DateTime<Utc>) -> Option<NaiveDate> {
        let local = now + BEIJING;
        (!self.daily_digest || local.hour() as i32 >= self.digest_hour).then(|| local.date_naive())
    }
}

/// A plain check of an address's shape (the SMTP relay is the final judge).
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
        && !domain.contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 30).unwrap()
    }

    fn quiet(start: i32, end: i32) -> Preferences {
        Preferences {
            quiet: QuietHours {
                start_minute: start,
                end_minute: end,
            },
            ..Default::default()
        }
    }

    #[test]
    fn quiet_hours_hold_deliveries_until_they_end() {
        // 22:00–07:00 Beijing = 14:00–23:00 UTC.
        let night = quiet(22 * 60, 7 * 60);
        assert_eq!(night.release(utc(13, 59)), utc(13, 59), "21:59 is not quiet");
        assert_eq!(
            night.release(utc(15, 10)),
            Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap()
        );
        assert_eq!(
            night.release(utc(22, 59)),
            Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap()
        );
        assert_eq!(night.release(utc(23, 0)), utc(23, 0), "07:00 is not quiet");
        // 12:00–14:00 Beijing, a window inside one day.
        let noon = quiet(12 * 60, 14 * 60);
        assert_eq!(
            noon.release(utc(4, 30)),
            Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
        );
        assert_eq!(noon.release(utc(6, 0)), utc(6, 0));
        assert_eq!(quiet(0, 0).release(utc(4, 30)), utc(4, 30), "no window");
    }

    #[test]
    fn channels_follow_the_categories_chosen() {
        let mut p = Preferences {
            email: "wang@example.cn".into(),
            ..Default::default()
        };
        assert_eq!(
            p.channels("points"),
            Channels {
                webhook: true,
                email: true
            }
        );
        p.categories.push(CategoryChannels {
            category: "points".into(),
            webhook: true,
            email: false,
        });
        assert!(!p.channels("points").email);
        assert!(p.channels("matching").email);
        p.email.clear();
        assert!(!p.channels("matching").email, "no address, no e-mail");
    }

    #[test]
    fn the_digest_is_due_from_its_hour() {
        let p = Preferences {
            daily_digest: true,
            digest_hour: 8,
            ..Default::default()
        };
        // 23:30 UTC on the 21st is 07:30 on the 22nd in Beijing.
        assert_eq!(
            p.digest_due(Utc.with_ymd_and_hms(2026, 11, 21, 23, 30, 0).unwrap()),
            None
        );
        assert_eq!(
            p.digest_due(utc(0, 0)),
            Some(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap())
        );
        let off = Preferences::default();
        assert!(
            off.digest_due(Utc.with_ymd_and_hms(2026, 11, 21, 23, 30, 0).unwrap())
                .is_some()
        );
    }

    #[test]
    fn bad_preferences_name_their_fields() {
        let p = Preferences {
            email: "not an address".into(),
            categories: vec![
                CategoryChannels {
                    category: "weather".into(),
                    webhook: true,
                    email: true,
                },
                CategoryChannels {
                    category: "points".into(),
                    webhook: true,
                    email: true,
                },
                CategoryChannels {
                    category: "points".into(),
                    webhook: false,
                    email: true,
                },
            ],
            digest_hour: 24,
            quiet: QuietHours {
                start_minute: -1,
                end_minute: 1440,
            },
            ..Default::default()
        };
        let Err(ServiceError::InvalidArgument(violations)) = p.validate() else {
            panic!("bad preferences accepted")
        };
        let fields: Vec<String> = violations.iter().map(|f| f.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "preferences.email",
                "preferences.categories[0].category",
                "preferences.categories[2].category",
                "preferences.digest_hour",
                "preferences.quiet_hours.start_minute",
                "preferences.quiet_hours.end_minute",
            ]
        );
        assert!(is_email("li.na@cq.gov.cn"));
        assert!(!is_email("a@b"));
    }
}
