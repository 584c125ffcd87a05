//! The automatic pre-check run when an application is submitted.
//!
//! Hard violations block submission: the applicant fixes them, and no
//! reviewer spends time on an application that cannot pass. Soft findings
//! go with the application to the reviewer, who decides: they are facts the
//! platform cannot settle on its own (is the employer real, will the
//! certificate be renewed). Duplicate applicants are found by the store
//! (keyed hash of the ID number), not here.

use chrono::{Datelike, NaiveDate};
use kit::error::FieldViolation;
use kit::pii::{CreditCode, IdCardNumber, PhoneNumber};
use kit::region::{RegionCode, RegionLevel};

use super::application::{ApplicationInput, MAX_CERTIFICATES, Mode, check_fields, path};
use super::dates::full_years;
use super::profession::Profession;

/// Codes of soft findings, stable for the reviewer UI to group and filter by.
pub mod finding {
    /// Always raised: the employer's credit code is well-formed, but nobody
    /// has looked it up in the enterprise registry yet. The service drops it
    /// once such a lookup confirms the employer.
    pub const EMPLOYER_UNVERIFIED: &str = "employer_unverified";
    /// A certificate stops being valid within the warning period.
    pub const CERTIFICATE_EXPIRING: &str = "certificate_expiring";
    /// A 三师+ applicant listed no certificate; the reviewer judges their
    /// competence otherwise. (Core professions must list one.)
    pub const NO_CERTIFICATE: &str = "no_certificate";
    /// A street is listed together with the district that contains it.
    pub const REDUNDANT_SERVICE_REGION: &str = "redundant_service_region";
}

/// The programme's thresholds, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Whole years of practice required at submission.
    pub min_years_of_practice: u32,
    /// A certificate valid for at most this many more days is flagged.
    pub certificate_warning_days: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            min_years_of_practice: 5,
            certificate_warning_days: 90,
        }
    }
}

/// Something for the reviewer to weigh; it does not block submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// One of the [`finding`] codes.
    pub code: &'static str,
    /// Chinese, for the reviewer.
    pub message: String,
}

/// The application's values in canonical form, for the store: it encrypts
/// and hashes these, never the raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub id_number: IdCardNumber,
    pub birth_date: NaiveDate,
    pub phone: PhoneNumber,
    pub employer_credit_code: CreditCode,
    pub profession: Profession,
    /// Whole years of practice on the day of the check.
    pub years_of_practice: u32,
    /// Deduplicated, in input order.
    pub service_regions: Vec<RegionCode>,
    /// Trimmed.
    pub specialties: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precheck {
    pub hard: Vec<FieldViolation>,
    pub soft: Vec<Finding>,
    /// Present exactly when there are no hard violations.
    pub normalized: Option<Normalized>,
}

impl Precheck {
    pub fn passed(&self) -> bool {
        self.hard.is_empty()
    }
}

/// Whole years of practice from `start` to `on`: 2021-11-23 gives 4 years
/// on 2026-11-22 and 5 on 2026-11-23. A start after `on` gives 0.
pub fn years_of_practice(start: NaiveDate, on: NaiveDate) -> u32 {
    full_years(start, on)
}

/// The birth date encoded in an ID number (digits 7–14).
pub fn birth_date(id: &IdCardNumber) -> Option<NaiveDate> {
    // `IdCardNumber::parse` has already checked these digits are a real date;
    // `get` and `ok` only keep this free of panics should that ever change.
    let digits = id.as_str().get(6..14)?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// Checks a submitted application on `today`: every field present and
/// well-formed, then the programme's rules. All problems are reported at
/// once, so the applicant fixes them in one round.
pub fn precheck(input: &ApplicationInput, today: NaiveDate, rules: &Rules) -> Precheck {
    let checked = check_fields(input, Mode::Submission);
    let mut hard = checked.violations;
    let mut soft = Vec::new();

    let birth = checked.id_number.as_ref().and_then(birth_date);
    if birth.is_some_and(|birth| birth > today) {
        hard.push(FieldViolation::new(path("id_number"), "身份证号码中的出生日期晚于今天"));
    }

    let mut years = None;
    if let Some(start) = input.practice_start {
        let field = path("practice_start");
        if start > today {
            // Years of practice would also be short; one message says it better.
            hard.push(FieldViolation::new(field, "从业起始日期不能晚于今天"));
        } else {
            if let Some(birth) = birth.filter(|&birth| full_years(birth, start) < 18) {
                hard.push(FieldViolation::new(
                    field.clone(),
                    format!("从业起始日期早于年满18周岁之日（出生于{}年）", birth.year()),
                ));
            }
            let practised = years_of_practice(start, today);
            if practised < rules.min_years_of_practice {
                hard.push(FieldViolation::new(
                    field,
                    format!("从业年限不足{}年", rules.min_years_of_practice),
                ));
            }
            years = Some(practised);
        }
    }

    check_certificate_dates(input, today, rules, &mut hard, &mut soft);
    match checked.profession {
        Some(profession) if input.certificates.is_empty() && profession.is_core() => {
            hard.push(FieldViolation::new(
                path("certificates"),
                format!("{}须提供至少一项注册执业证书", profession.label()),
            ));
        }
        Some(_) if input.certificates.is_empty() => soft.push(Finding {
            code: finding::NO_CERTIFICATE,
            message: "未提供职业资格证书，请核实申请人的专业能力".into(),
        }),
        _ => {}
    }

    if let Some(code) = &checked.credit_code {
        soft.push(Finding {
            code: finding::EMPLOYER_UNVERIFIED,
            message: format!("工作单位尚未核实：{}（{}）", input.employer_name.trim(), code.as_str()),
        });
    }
    soft.extend(redundant_regions(&checked.service_regions));

    let normalized = match (
        hard.is_empty(),
        checked.id_number,
        birth,
        checked.phone,
        checked.credit_code,
        checked.profession,
        years,
    ) {
        (
            true,
            Some(id_number),
            Some(birth_date),
            Some(phone),
            Some(employer_credit_code),
            Some(profession),
            Some(years),
        ) => Some(Normalized {
            id_number,
            birth_date,
            phone,
            employer_credit_code,
            profession,
            years_of_practice: years,
            service_regions: checked.service_regions,
            specialties: input.specialties.iter().map(|s| s.trim().to_string()).collect(),
        }),
        // With no hard violations every required value parsed, so this arm
        // is reached only alongside a violation.
        _ => None,
    };
    Precheck { hard, soft, normalized }
}

/// An expired certificate blocks; one expiring soon is flagged. `valid_until`
/// is inclusive: a certificate valid until today is still valid today.
fn check_certificate_dates(
    input: &ApplicationInput,
    today: NaiveDate,
    rules: &Rules,
    hard: &mut Vec<FieldViolation>,
    soft: &mut Vec<Finding>,
) {
    // Too many is already one violation; the entries are not looked at.
    if input.certificates.len() > MAX_CERTIFICATES {
        return;
    }
    let dated = input
        .certificates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i, c, c.valid_until?)));
    for (i, cert, valid_until) in dated {
        let days_left = (valid_until - today).num_days();
        if days_left < 0 {
            hard.push(FieldViolation::new(
                path(&format!("certificates[{i}].valid_until")),
                format!("证书已过期（有效期至{valid_until}）"),
            ));
        } else if days_left <= i64::from(rules.certificate_warning_days) {
            soft.push(Finding {
                code: finding::CERTIFICATE_EXPIRING,
                message: format!(
                    "证书“{}”（编号{}）有效期至{valid_until}，{days_left}天后到期",
                    cert.kind.trim(),
                    cert.number.trim()
                ),
            });
        }
    }
}

/// Streets whose district is listed too: harmless, but the applicant
/// probably meant something narrower, so the reviewer may ask.
fn redundant_regions(regions: &[RegionCode]) -> Vec<Finding> {
    regions
        .iter()
        .filter(|code| code.level() == RegionLevel::Street)
        .filter_map(|street| {
            let district = regions
                .iter()
                .find(|d| d.level() == RegionLevel::District && d.contains(street))?;
            Some(Finding {
                code: finding::REDUNDANT_SERVICE_REGION,
                message: format!("服务区域中街道{street}已包含在区县{district}内"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::application::{Certificate, Location};
    use super::*;

    const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CREDIT_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

    /// A GB 11643 number from 17 digits: appends the ISO 7064 MOD 11-2 check
    /// character, computed independently of `kit` so the tests check it.
    fn id(body: &str) -> String {
        assert_eq!(body.len(), 17);
        let sum: u32 = body.bytes().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        let check = (12 - sum % 11) % 11;
        let check = if check == 10 {
            'X'
        } else {
            char::from_digit(check, 10).unwrap()
        };
        format!("{body}{check}")
    }

    /// A GB 32100 code from 17 characters, with its MOD 31 check character.
    fn credit(body: &str) -> String {
        assert_eq!(body.len(), 17);
        let value = |c: u8| CREDIT_CHARS.iter().position(|&x| x == c).unwrap() as u32;
        let sum: u32 = body.bytes().zip(CREDIT_WEIGHTS).map(|(c, w)| value(c) * w).sum();
        let check = CREDIT_CHARS[((31 - sum % 31) % 31) as usize] as char;
        format!("{body}{check}")
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2026-11-23";

    /// A complete, valid application by an architect from Yuzhong, Chongqing,
    /// born 1985-06-12, practising since 2010.
    fn valid() -> ApplicationInput {
        ApplicationInput {
            real_name: "王建国".into(),
            id_number: id("50010319850612123"),
            phone: "138 1234 5678".into(),
            profession: "architect".into(),
            specialties: vec!["老旧小区改造".into(), " 加装电梯".into()],
            employer_name: "重庆市设计院有限公司".into(),
            employer_credit_code: "91440300708461136T".into(),
            practice_start: Some(d("2010-07-01")),
            certificates: vec![Certificate {
                kind: "一级注册建筑师".into(),
                number: "A501234567".into(),
                issuer: "住房和城乡建设部".into(),
                valid_until: Some(d("2028-12-31")),
            }],
            service_regions: vec!["500103".into(), "500104002".into()],
            base_location: Some(Location {
                lon: 106.57,
                lat: 29.55,
            }),
            commitment_signed: true,
            consent: Default::default(),
        }
    }

    fn check(input: &ApplicationInput) -> Precheck {
        precheck(input, d(TODAY), &Rules::default())
    }

    fn hard_fields(p: &Precheck) -> Vec<&str> {
        p.hard.iter().map(|v| v.field.as_str()).collect()
    }

    fn codes(p: &Precheck) -> Vec<&str> {
        p.soft.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_valid_application_passes_and_is_normalized() {
        let p = check(&valid());
        assert!(p.passed(), "{:?}", p.hard);
        assert_eq!(codes(&p), [finding::EMPLOYER_UNVERIFIED]);
        assert_eq!(
            p.soft[0].message,
            "工作单位尚未核实：重庆市设计院有限公司（91440300708461136T）"
        );
        let n = p.normalized.expect("normalized when passed");
        assert_eq!(n.id_number.as_str(), id("50010319850612123"));
        assert_eq!(n.birth_date, d("1985-06-12"));
        assert_eq!(n.phone.as_str(), "13812345678");
        assert_eq!(n.employer_credit_code.as_str(), "91440300708461136T");
        assert_eq!(n.profession, Profession::Architect);
        assert_eq!(n.years_of_practice, 16);
        assert_eq!(n.specialties, ["老旧小区改造", "加装电梯"]);
        let regions: Vec<_> = n.service_regions.iter().map(RegionCode::as_str).collect();
        assert_eq!(regions, ["500103", "500104002"]);
    }

    #[test]
    fn valid_id_numbers() {
        // GB 11643's own example, upper and lower case X.
        for number in ["11010519491231002X", "11010519491231002x"] {
            let p = check(&ApplicationInput {
                id_number: number.into(),
                practice_start: Some(d("1975-01-01")),
                ..valid()
            });
            assert!(p.passed(), "{number}: {:?}", p.hard);
            assert_eq!(p.normalized.unwrap().id_number.as_str(), "11010519491231002X");
        }
        // Computed check characters: Shanghai, Guangzhou, a leap day, and one
        // whose check character is X.
        for body in [
            "31010419800101001",
            "44010619900315452",
            "50010319880229001",
            "51010719830824018",
        ] {
            let number = id(body);
            let p = check(&ApplicationInput {
                id_number: number.clone(),
                ..valid()
            });
            assert!(p.passed(), "{number}: {:?}", p.hard);
        }
        assert!(id("51010719830824018").ends_with('X'), "covers the X check character");
    }

    #[test]
    fn invalid_id_numbers() {
        let gb_example_wrong_check = "110105194912310021".to_string();
        let bad = [
            gb_example_wrong_check,
            id("50010319850230123"),                 // Feb 30, correct check digit
            id("50010319000229123"),                 // 1900 is not a leap year
            id("50010319851312123"),                 // month 13
            "50010319850612123".into(),              // 17 characters
            format!("{}0", id("50010319850612123")), // 19 characters
            "5001031985061212A3".into(),             // letter inside
        ];
        for number in bad {
            let p = check(&ApplicationInput {
                id_number: number.clone(),
                ..valid()
            });
            assert_eq!(hard_fields(&p), ["application.id_number"], "{number}");
            assert_eq!(p.hard[0].description, "身份证号码应为 18 位，且校验位正确");
            assert_eq!(p.normalized, None);
        }
    }

    #[test]
    fn birth_date_in_the_future_is_refused() {
        let p = check(&ApplicationInput {
            id_number: id("50010320300101123"),
            ..valid()
        });
        assert!(hard_fields(&p).contains(&"application.id_number"));
        assert!(p.hard.iter().any(|v| v.description == "身份证号码中的出生日期晚于今天"));
    }

    #[test]
    fn credit_codes() {
        let with = |code: &str| {
            check(&ApplicationInput {
                employer_credit_code: code.into(),
                ..valid()
            })
        };
        // Lower case is accepted and normalised to upper case.
        let p = with(" 91440300708461136t ");
        assert!(p.passed());
        assert_eq!(
            p.normalized.unwrap().employer_credit_code.as_str(),
            "91440300708461136T"
        );
        // A computed one (a Beijing company).
        assert!(with(&credit("91110108MA01ABCD2")).passed());

        let wrong_check = format!("{}0", &credit("91110000100000000")[..17]);
        assert_ne!(wrong_check, credit("91110000100000000"), "0 must really be wrong");
        for bad in [
            "91110000100000000?".to_string(), // not in the alphabet
            wrong_check,
            "91440300708461136U".into(),  // wrong check
            "9144030070846113IT".into(),  // I is not used (looks like 1)
            "91440300708461136".into(),   // 17 characters
            "9144030070846113 6T".into(), // space inside
        ] {
            let p = with(&bad);
            assert_eq!(hard_fields(&p), ["application.employer_credit_code"], "{bad}");
            assert_eq!(p.hard[0].description, "统一社会信用代码应为 18 位，且校验位正确");
            assert!(!codes(&p).contains(&finding::EMPLOYER_UNVERIFIED), "nothing to verify");
        }
    }

    #[test]
    fn years_of_practice_boundary() {
        assert_eq!(years_of_practice(d("2021-11-23"), d("2026-11-22")), 4);
        assert_eq!(years_of_practice(d("2021-11-23"), d("2026-11-23")), 5);
        let start = ApplicationInput {
            practice_start: Some(d("2021-11-23")),
            ..valid()
        };
        let rules = Rules::default();
        let day_before = precheck(&start, d("2026-11-22"), &rules);
        assert_eq!(
            day_before.hard,
            [FieldViolation::new("application.practice_start", "从业年限不足5年")]
        );
        let on_the_day = precheck(&start, d("2026-11-23"), &rules);
        assert!(on_the_day.passed());
        assert_eq!(on_the_day.normalized.unwrap().years_of_practice, 5);
    }

    #[test]
    fn minimum_years_come_from_the_rules() {
        let rules = Rules {
            min_years_of_practice: 10,
            ..Rules::default()
        };
        let p = precheck(
            &ApplicationInput {
                practice_start: Some(d("2020-01-01")),
                ..valid()
            },
            d(TODAY),
            &rules,
        );
        assert_eq!(p.hard[0].description, "从业年限不足10年");
    }

    #[test]
    fn practice_start_in_the_future_is_one_violation() {
        let p = check(&ApplicationInput {
            practice_start: Some(d("2026-11-24")),
            ..valid()
        });
        assert_eq!(
            p.hard,
            [FieldViolation::new(
                "application.practice_start",
                "从业起始日期不能晚于今天"
            )]
        );
    }

    #[test]
    fn practice_must_start_at_eighteen_or_later() {
        // Born 1985-06-12: 18 on 2003-06-12.
        let from = |start: &str| {
            check(&ApplicationInput {
                practice_start: Some(d(start)),
                ..valid()
            })
        };
        let p = from("2003-06-11");
        assert_eq!(hard_fields(&p), ["application.practice_start"]);
        assert_eq!(p.hard[0].description, "从业起始日期早于年满18周岁之日（出生于1985年）");
        assert!(from("2003-06-12").passed());
    }

    #[test]
    fn expired_and_expiring_certificates() {
        let cert = |number: &str, valid_until: &str| Certificate {
            kind: "注册城乡规划师".into(),
            number: number.into(),
            issuer: "自然资源部".into(),
            valid_until: Some(d(valid_until)),
        };
        let input = ApplicationInput {
            profession: "planner".into(),
            certificates: vec![
                cert("P1", "2030-01-01"), // fine
                cert("P2", "2026-11-22"), // expired yesterday
                cert("P3", "2026-11-23"), // last valid day is today
                cert("P4", "2027-02-21"), // 90 days left
                cert("P5", "2027-02-22"), // 91 days left
            ],
            ..valid()
        };
        let p = check(&input);
        assert_eq!(
            p.hard,
            [FieldViolation::new(
                "application.certificates[1].valid_until",
                "证书已过期（有效期至2026-11-22）"
            )]
        );
        let expiring: Vec<_> = p
            .soft
            .iter()
            .filter(|f| f.code == finding::CERTIFICATE_EXPIRING)
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(
            expiring,
            [
                "证书“注册城乡规划师”（编号P3）有效期至2026-11-23，0天后到期",
                "证书“注册城乡规划师”（编号P4）有效期至2027-02-21，90天后到期",
            ]
        );
    }

    #[test]
    fn too_many_certificates_is_one_violation_whatever_their_dates() {
        let expired = Certificate {
            valid_until: Some(d("2020-01-01")),
            ..valid().certificates[0].clone()
        };
        let p = check(&ApplicationInput {
            certificates: vec![expired; 11],
            ..valid()
        });
        assert_eq!(
            p.hard,
            [FieldViolation::new("application.certificates", "证书最多10项")]
        );
    }

    #[test]
    fn core_professions_need_a_certificate_others_are_flagged() {
        let p = check(&ApplicationInput {
            certificates: vec![],
            ..valid()
        });
        assert_eq!(
            p.hard,
            [FieldViolation::new(
                "application.certificates",
                "建筑师须提供至少一项注册执业证书"
            )]
        );
        let p = check(&ApplicationInput {
            profession: "art_therapy".into(),
            certificates: vec![],
            ..valid()
        });
        assert!(p.passed());
        assert!(codes(&p).contains(&finding::NO_CERTIFICATE));
    }

    #[test]
    fn a_street_inside_a_listed_district_is_flagged() {
        let p = check(&ApplicationInput {
            service_regions: vec!["500103".into(), "500103001".into(), "500104002".into()],
            ..valid()
        });
        assert!(p.passed());
        let redundant: Vec<_> = p
            .soft
            .iter()
            .filter(|f| f.code == finding::REDUNDANT_SERVICE_REGION)
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(redundant, ["服务区域中街道500103001已包含在区县500103内"]);
    }

    #[test]
    fn region_levels_and_bounds_block_submission() {
        let p = check(&ApplicationInput {
            service_regions: vec!["50".into(), "500103001001".into()],
            base_location: Some(Location {
                lon: 29.55,
                lat: 106.57,
            }),
            ..valid()
        });
        assert_eq!(
            hard_fields(&p),
            [
                "application.service_regions[0]",
                "application.service_regions[1]",
                "application.base_location.lon",
                "application.base_location.lat",
            ]
        );
    }

    #[test]
    fn an_unsigned_commitment_blocks_submission() {
        let p = check(&ApplicationInput {
            commitment_signed: false,
            ..valid()
        });
        assert_eq!(
            p.hard,
            [FieldViolation::new("application.commitment_signed", "请签署服务承诺书")]
        );
        assert_eq!(p.normalized, None);
    }

    #[test]
    fn all_violations_are_reported_at_once() {
        let mut input = ApplicationInput {
            id_number: "110105194912310021".into(),
            phone: "12812345678".into(),
            specialties: vec!["城市更新".into(), "风水".into(), "城市更新".into()],
            employer_credit_code: "91110000100000000?".into(),
            practice_start: Some(d("2023-03-01")),
            service_regions: vec!["5001".into(), "500103".into(), "500103".into()],
            commitment_signed: false,
            ..valid()
        };
        input.certificates[0].valid_until = Some(d("2026-01-01"));
        let p = check(&input);
        assert_eq!(
            hard_fields(&p),
            [
                "application.id_number",
                "application.phone",
                "application.specialties[1]",
                "application.specialties[2]",
                "application.employer_credit_code",
                "application.service_regions[0]",
                "application.service_regions[2]",
                "application.commitment_signed",
                "application.practice_start",
                "application.certificates[0].valid_until",
            ]
        );
        assert_eq!(p.hard[8].description, "从业年限不足5年");
        assert_eq!(p.normalized, None);
        assert!(p.soft.is_empty(), "no employer to verify, no certificate expiring");
    }

    #[test]
    fn an_empty_application_lists_every_missing_field() {
        let p = check(&ApplicationInput::default());
        assert_eq!(p.hard.len(), 11);
        assert!(p.hard.iter().all(|v| v.field.starts_with("application.")));
        assert!(p.soft.is_empty());
        assert_eq!(p.normalized, None);
    }
}
