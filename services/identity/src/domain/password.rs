//! The policy for passwords people choose: at registration, when an admin
//! creates an account, on a password change, and for bootstrap accounts.
//!
//! Online guessing tries the most common passwords first, in the disguises
//! people give them (`Password1`, `P@ssw0rd!`, `welcome2026`), then the
//! holder's own details. So a password must be 8–128 characters with letters
//! and digits, and is refused when it or its stem is on the bundled list of
//! common passwords (`data/common-passwords.txt`, zxcvbn's ranking: see its
//! header), when it is mostly repeated or sequential characters, or when it
//! contains the username or the phone number. (zxcvbn's full estimator is
//! not available to this build; its password list is its strongest part
//! against online guessing.)

use kit::pii::PhoneNumber;
use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// Shorter than 8 or longer than 128 characters.
    Length,
    /// Lacks letters or digits.
    Composition,
    ContainsUsername,
    ContainsPhone,
    /// On the common-password list, as typed or in light disguise.
    Common,
    /// Mostly repeated or sequential characters (`aaaaaaa1`, `abcd1234`).
    Predictable,
}

impl Weakness {
    /// What the person choosing the password is told.
    pub fn message(self) -> &'static str {
        match self {
            Weakness::Length | Weakness::Composition => "密码应为 8–128 位，且同时包含字母和数字",
            Weakness::ContainsUsername => "密码不能包含用户名",
            Weakness::ContainsPhone => "密码不能包含手机号",
            Weakness::Common => "密码过于常见，请换一个更难猜的密码",
            Weakness::Predictable => "密码含有过多重复或连续的字符，请换一个更难猜的密码",
        }
    }
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Weakness {}

/// Whose password it is: their details must not be in it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub username: &'a str,
    pub phone: Option<&'a PhoneNumber>,
}

/// A password that meets the policy, held in plain text only until it is hashed.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(password: &str, holder: Holder<'_>) -> Result<Self, Weakness> {
        if !(8..=128).contains(&password.chars().count()) {
            return Err(Weakness::Length);
        }
        if !(password.chars().any(char::is_alphabetic) && password.chars().any(|c| c.is_ascii_digit())) {
            return Err(Weakness::Composition);
        }
        let lower = password.to_lowercase();
        // Usernames are at least 3 characters; a shorter one is invalid anyway
        // and would refuse too many passwords by accident.
        let username = holder.username.to_lowercase();
        if username.chars().count() >= 3 && unleeted(&lower).iter().any(|form| form.contains(&username)) {
            return Err(Weakness::ContainsUsername);
        }
        // The last 8 digits: the number without its carrier prefix is as guessable.
        if let Some(phone) = holder.phone
            && password.contains(&phone.as_str()[3..])
        {
            return Err(Weakness::ContainsPhone);
        }
        if disguises(&lower).iter().any(|form| COMMON.contains(form.as_str())) {
            return Err(Weakness::Common);
        }
        let distinct = lower.chars().collect::<HashSet<_>>().len();
        if unpredictable_chars(&lower) < 4 || distinct < 5 {
            return Err(Weakness::Predictable);
        }
        Ok(Self(password.to_string()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

/// Leetspeak substitutions, undone. `1` stands for `i` or `l`: both are tried.
const LEET: [(char, char); 12] = [
    ('0', 'o'),
    ('!', 'i'),
    ('3', 'e'),
    ('4', 'a'),
    ('@', 'a'),
    ('5', 's'),
    ('$', 's'),
    ('7', 't'),
    ('+', 't'),
    ('8', 'b'),
    ('9', 'g'),
    ('|', 'l'),
];

fn unleet(text: &str, one: char) -> String {
    text.chars()
        .map(|c| match c {
            '1' => one,
            _ => LEET.iter().find(|(leet, _)| *leet == c).map_or(c, |(_, plain)| *plain),
        })
        .collect()
}

/// `lower` as typed and with leetspeak undone.
fn unleeted(lower: &str) -> [String; 3] {
    [lower.to_string(), unleet(lower, 'i'), unleet(lower, 'l')]
}

/// The forms a guesser's list would hold: as typed, without the digits and
/// symbols appended (`welcome2026!`), also without those prepended, each
/// also with leetspeak undone.
fn disguises(lower: &str) -> Vec<String> {
    let stem = lower.trim_end_matches(|c: char| !c.is_alphabetic());
    let core = stem.trim_start_matches(|c: char| !c.is_alphabetic());
    [lower, stem, core]
        .into_iter()
        .filter(|form| !form.is_empty())
        .flat_map(unleeted)
        .collect()
}

/// +1, 0 or -1 when `b` follows `a` in a sequence (`ab`, `aa`, `21`).
fn step(a: char, b: char) -> Option<i64> {
    let delta = b as u32 as i64 - a as u32 as i64;
    (a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() && (-1..=1).contains(&delta)).then_some(delta)
}

/// How many characters lie outside runs of three or more repeated (`aaa`)
/// or sequential (`abc`, `987`) ones.
fn unpredictable_chars(lower: &str) -> usize {
    let chars: Vec<char> = lower.chars().collect();
    let mut in_run = vec![false; chars.len()];
    let mut i = 0;
    while i + 2 < chars.len() {
        match step(chars[i], chars[i + 1]) {
            Some(delta) if step(chars[i + 1], chars[i + 2]) == Some(delta) => {
                let mut end = i + 2;
                while end + 1 < chars.len() && step(chars[end], chars[end + 1]) == Some(delta) {
                    end += 1;
                }
                in_run[i..=end].fill(true);
                // The run's last character may start the next one (`aaabc`).
                i = end;
            }
            _ => i += 1,
        }
    }
    in_run.iter().filter(|flag| !**flag).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str, username: &str, phone: Option<&str>) -> Result<(), Weakness> {
        let phone = phone.map(|p| PhoneNumber::parse(p).unwrap());
        NewPassword::parse(
            password,
            Holder {
                username,
                phone: phone.as_ref(),
            },
        )
        .map(|_| ())
    }

    #[test]
    fn the_list_is_loaded() {
        assert!(COMMON.len() > 10_000, "{}", COMMON.len());
        assert!(COMMON.contains("password") && COMMON.contains("woaini1314"));
        assert!(!COMMON.iter().any(|p| p.starts_with('#')));
    }

    #[test]
    fn the_platforms_demo_and_test_passwords_pass() {
        // identity::testing::PASSWORD and sanshi::dev::DEMO_PASSWORD, for every account that uses them.
        for username in [
            "admin",
            "city",
            "yuzhong",
            "dadukou",
            "jiefangbei",
            "auditor",
            "reviewer",
            "minshenglu",
            "zhuanjia01",
            "jumin01",
            "worker1",
            "wanggong",
        ] {
            assert_eq!(check("Sanshi2026", username, Some("13812345678")), Ok(()), "{username}");
        }
        // Self-registrations in the gateway and suite tests.
        for (username, phone) in [
            ("zhanggong", "13900001111"),
            ("lingong", "13800001201"),
            ("wanggong", "13800001203"),
        ] {
            assert_eq!(check("Register2026", username, Some(phone)), Ok(()), "{username}");
        }
        assert_eq!(check("NewSecret2027", "jiefangbei", None), Ok(()));
        for strong in ["Dragon#Xk92mq", "Sunshine-Apartment-12", "Jiefangbei-2026", "Hz7!kq2Lm"] {
            assert_eq!(check(strong, "someone", None), Ok(()), "{strong}");
        }
    }

    #[test]
    fn shape_rules_stay() {
        for bad in ["short1", "onlyletters", "12345678", &"a1".repeat(65)] {
            assert!(
                matches!(
                    check(bad, "xiaoli", None),
                    Err(Weakness::Length | Weakness::Composition)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn common_passwords_are_refused_in_disguise_too() {
        for common in [
            "password1",
            "Passw0rd",
            "P@ssw0rd!",
            "PASSWORD2026",
            "Welcome2026",
            "qwerty123",
            "Qwerty123!",
            "$ecret123",
            "admin@123",
            "1qaz2wsx",
            "iloveyou2",
            "woaini1314",
            "Chongqing2026",
            "zhang123456",
            "123password",
        ] {
            assert_eq!(check(common, "xiaoli", None), Err(Weakness::Common), "{common}");
        }
    }

    #[test]
    fn repeated_and_sequential_characters_are_refused() {
        assert!(matches!(
            check("aaaaaaa1", "xiaoli", None),
            Err(Weakness::Common | Weakness::Predictable)
        ));
        for predictable in [
            "abababab1",
            "12121212a",
            "zz12345678",
            "abc12345xyz",
            "aaaabbbb1234",
            "Nope12345",
        ] {
            assert_eq!(
                check(predictable, "xiaoli", None),
                Err(Weakness::Predictable),
                "{predictable}"
            );
        }
        assert_eq!(unpredictable_chars("sanshi2026"), 10);
        assert_eq!(unpredictable_chars("aaaaaaa1"), 1);
        assert_eq!(unpredictable_chars("x9876543y"), 2);
    }

    #[test]
    fn the_holders_details_are_refused() {
        assert_eq!(check("zhanggong1", "zhanggong", None), Err(Weakness::ContainsUsername));
        assert_eq!(
            check("My-ZhangGong-88", "zhanggong", None),
            Err(Weakness::ContainsUsername)
        );
        assert_eq!(
            check("Zh4ngg0ng!x7", "zhanggong", None),
            Err(Weakness::ContainsUsername)
        );
        assert_eq!(
            check("Li13812345678", "xiaoli", Some("13812345678")),
            Err(Weakness::ContainsPhone)
        );
        assert_eq!(
            check("Home-12345678", "xiaoli", Some("+86 138 1234 5678")),
            Err(Weakness::ContainsPhone),
            "its last 8 digits"
        );
        assert_eq!(check("Dragon#Xk92mq", "ab", None), Ok(()), "too short a name to check");
    }

    #[test]
    fn messages_are_for_people() {
        assert_eq!(Weakness::Common.to_string(), "密码过于常见，请换一个更难猜的密码");
        assert_eq!(Weakness::ContainsUsername.to_string(), "密码不能包含用户名");
        assert_eq!(Weakness::ContainsPhone.to_string(), "密码不能包含手机号");
        let debug = format!(
            "{:?}",
            NewPassword::parse(
                "Sanshi2026",
                Holder {
                    username: "city",
                    phone: None
                }
            )
        );
        assert!(!debug.contains("Sanshi2026"), "{debug}");
    }
}
