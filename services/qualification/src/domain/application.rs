//! An application's content as the applicant enters it, and the checks on
//! the form of each field.
//!
//! One type serves drafts and submissions. A draft may leave anything blank
//! (an empty string or list, `None`), because people fill the form over
//! several sittings; what they did type must still be well-formed, so a
//! mistyped ID number is caught while they remember where it came from.
//! [`validate_draft`] checks just that. At submission the pre-check
//! (`super::precheck`) runs the same field checks with every field required,
//! then the programme's rules that depend on the date.

use std::collections::HashSet;
use std::fmt;
use std::ops::RangeInclusive;

use chrono::NaiveDate;
use kit::error::FieldViolation;
use kit::pii::{CreditCode, IdCardNumber, PhoneNumber};
use kit::region::{RegionCode, RegionLevel};

use super::profession::Profession;
use super::specialty;

/// Violations point at `application.<field>`, as the API's request message names it.
pub(crate) const PREFIX: &str = "application";

pub const MAX_CERTIFICATES: usize = 10;
pub const MAX_SERVICE_REGIONS: usize = 20;

/// Rough bounding box of China, in degrees (WGS-84 or GCJ-02 alike: the box
/// is far coarser than their offset). It catches swapped or zero coordinates,
/// not a point just across a border.
pub const CHINA_LON: RangeInclusive<f64> = 73.0..=136.0;
pub const CHINA_LAT: RangeInclusive<f64> = 3.0..=54.0;

/// What the applicant typed. Text fields are raw (untrimmed, unparsed);
/// blank means "not filled yet".
#[derive(Clone, Default, PartialEq)]
pub struct ApplicationInput {
    pub real_name: String,
    pub id_number: String,
    pub phone: String,
    /// A [`Profession`] id (`planner`, `social_work`, …). Kept as text so an
    /// unknown id is reported on this field like any other bad input.
    pub profession: String,
    /// Tags from [`specialty::SPECIALTIES`].
    pub specialties: Vec<String>,
    pub employer_name: String,
    /// Unified social credit code of the employer.
    pub employer_credit_code: String,
    /// The day the applicant began practising the profession.
    pub practice_start: Option<NaiveDate>,
    pub certificates: Vec<Certificate>,
    /// District (6-digit) or street (9-digit) codes the applicant will serve.
    pub service_regions: Vec<String>,
    /// Where the applicant is usually based, for distance in matching.
    pub base_location: Option<Location>,
    /// The service commitment (服务承诺书) was signed.
    pub commitment_signed: bool,
    pub consent: Consent,
}

/// A professional certificate (注册执业证书, 职业资格证书, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificate {
    /// What it certifies, as printed (`一级注册建筑师`).
    pub kind: String,
    pub number: String,
    /// The issuing authority, as printed.
    pub issuer: String,
    /// The last day it is valid (有效期至), inclusive.
    pub valid_until: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lon: f64,
    pub lat: f64,
}

/// What the applicant agrees to share. Both default to "no": consent is
/// given, never assumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// Communities matched with the professional may see phone and employer.
    pub contact_visible_to_matched: bool,
    /// The professional is listed in the federation's public directory.
    pub federation_directory: bool,
}

/// Personal data stays out of logs even when someone logs the whole input.
impl fmt::Debug for ApplicationInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("ApplicationInput")
            .field("real_name", &redacted(&self.real_name))
            .field("id_number", &redacted(&self.id_number))
            .field("phone", &redacted(&self.phone))
            .field("profession", &self.profession)
            .field("specialties", &self.specialties)
            .field("employer_name", &self.employer_name)
            .field("employer_credit_code", &self.employer_credit_code)
            .field("practice_start", &self.practice_start)
            .field("certificates", &self.certificates)
            .field("service_regions", &self.service_regions)
            .field("base_location", &self.base_location)
            .field("commitment_signed", &self.commitment_signed)
            .field("consent", &self.consent)
            .finish()
    }
}

/// Checks that every filled field of a draft is well-formed. Blank fields,
/// an unsigned commitment and date rules (a practice start in the future,
/// an expired certificate) are left to the pre-check at submission, since a
/// draft is allowed to be unfinished.
pub fn validate_draft(input: &ApplicationInput) -> Vec<FieldViolation> {
    check_fields(input, Mode::Draft).violations
}

/// Whether blank fields are violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Draft,
    Submission,
}

/// The outcome of the field checks: the violations, and the values that
/// parsed (each `None` when blank or malformed).
#[derive(Debug, Default)]
pub(crate) struct CheckedFields {
    pub violations: Vec<FieldViolation>,
    pub id_number: Option<IdCardNumber>,
    pub phone: Option<PhoneNumber>,
    pub credit_code: Option<CreditCode>,
    pub profession: Option<Profession>,
    /// The well-formed service regions, deduplicated, in input order.
    pub service_regions: Vec<RegionCode>,
}

impl CheckedFields {
    fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(FieldViolation::new(field, description));
    }

    /// A required field left blank: a violation only at submission.
    fn missing(&mut self, mode: Mode, field: impl Into<String>, description: &str) {
        if mode == Mode::Submission {
            self.add(field, description);
        }
    }

    /// A free-text field: blank is missing, otherwise at most `max_chars`.
    fn text(&mut self, mode: Mode, field: String, value: &str, label: &str, max_chars: usize) {
        let chars = value.trim().chars().count();
        if chars == 0 {
            self.missing(mode, field, &format!("请填写{label}"));
        } else if chars > max_chars {
            self.add(field, format!("{label}不能超过{max_chars}个字符"));
        }
    }

    /// A field parsed by one of `kit`'s types; its error text is the description.
    fn parsed<T, E: fmt::Display>(
        &mut self,
        mode: Mode,
        field: &str,
        value: &str,
        label: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let path = path(field);
        if value.trim().is_empty() {
            self.missing(mode, path, &format!("请填写{label}"));
            return None;
        }
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                self.add(path, error.to_string());
                None
            }
        }
    }
}

pub(crate) fn path(field: &str) -> String {
    format!("{PREFIX}.{field}")
}

/// The form of every field, and in [`Mode::Submission`] its presence.
pub(crate) fn check_fields(input: &ApplicationInput, mode: Mode) -> CheckedFields {
    let mut out = CheckedFields::default();

    let name_chars = input.real_name.trim().chars().count();
    if name_chars == 0 {
        out.missing(mode, path("real_name"), "请填写姓名");
    } else if !(2..=50).contains(&name_chars) {
        out.add(path("real_name"), "姓名应为2–50个字符");
    }
    out.id_number = out.parsed(mode, "id_number", &input.id_number, "身份证号码", IdCardNumber::parse);
    out.phone = out.parsed(mode, "phone", &input.phone, "手机号码", PhoneNumber::parse);

    let profession = input.profession.trim();
    if profession.is_empty() {
        out.missing(mode, path("profession"), "请选择专业类别");
    } else {
        out.profession = Profession::parse(profession);
        if out.profession.is_none() {
            out.add(path("profession"), format!("未知的专业类别：{profession}"));
        }
    }

    if input.specialties.is_empty() {
        out.missing(mode, path("specialties"), "请至少选择一项专业特长");
    }
    out.violations
        .extend(specialty::check(&path("specialties"), &input.specialties));

    out.text(mode, path("employer_name"), &input.employer_name, "工作单位名称", 100);
    out.credit_code = out.parsed(
        mode,
        "employer_credit_code",
        &input.employer_credit_code,
        "统一社会信用代码",
        CreditCode::parse,
    );

    if input.practice_start.is_none() {
        out.missing(mode, path("practice_start"), "请填写从业起始日期");
    }

    check_certificates(&mut out, mode, &input.certificates);
    check_service_regions(&mut out, mode, &input.service_regions);

    match input.base_location {
        None => out.missing(mode, path("base_location"), "请在地图上选择常驻位置"),
        Some(Location { lon, lat }) => {
            // `contains` is false for NaN, so NaN is rejected too.
            if !CHINA_LON.contains(&lon) {
                out.add(path("base_location.lon"), "经度应在73至136之间（中国境内）");
            }
            if !CHINA_LAT.contains(&lat) {
                out.add(path("base_location.lat"), "纬度应在3至54之间（中国境内）");
            }
        }
    }

    if !input.commitment_signed {
        out.missing(mode, path("commitment_signed"), "请签署服务承诺书");
    }
    out
}

/// Each certificate's fields, and no number twice. Past the limit the
/// entries are not checked, so a huge list yields one violation.
fn check_certificates(out: &mut CheckedFields, mode: Mode, certificates: &[Certificate]) {
    if certificates.len() > MAX_CERTIFICATES {
        out.add(path("certificates"), format!("证书最多{MAX_CERTIFICATES}项"));
        return;
    }
    let mut numbers = HashSet::new();
    for (i, cert) in certificates.iter().enumerate() {
        let field = |name: &str| path(&format!("certificates[{i}].{name}"));
        out.text(mode, field("kind"), &cert.kind, "证书名称", 50);
        out.text(mode, field("number"), &cert.number, "证书编号", 50);
        out.text(mode, field("issuer"), &cert.issuer, "发证机关", 100);
        if cert.valid_until.is_none() {
            out.missing(mode, field("valid_until"), "请填写证书有效期");
        }
        // Numbers differ in case and spacing only by typing, not by issuer.
        let number = cert.number.trim().to_uppercase();
        if !number.is_empty() && !numbers.insert(number) {
            out.add(field("number"), "证书编号重复");
        }
    }
}

/// Each region must be a district or a street: matching works at those
/// levels, a province is too broad to promise service in, and a community
/// too narrow to be worth the reviewer's time.
fn check_service_regions(out: &mut CheckedFields, mode: Mode, regions: &[String]) {
    if regions.len() > MAX_SERVICE_REGIONS {
        out.add(path("service_regions"), format!("服务区域最多{MAX_SERVICE_REGIONS}个"));
        return;
    }
    if regions.is_empty() {
        out.missing(mode, path("service_regions"), "请至少选择一个服务区域");
    }
    for (i, raw) in regions.iter().enumerate() {
        let field = path(&format!("service_regions[{i}]"));
        match RegionCode::parse(raw) {
            Ok(code) if matches!(code.level(), RegionLevel::District | RegionLevel::Street) => {
                if out.service_regions.contains(&code) {
                    out.add(field, format!("服务区域重复：{code}"));
                } else {
                    out.service_regions.push(code);
                }
            }
            _ => out.add(field, "服务区域应为区县（6位）或街道（9位）区划代码"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn an_empty_draft_is_fine() {
        assert!(validate_draft(&ApplicationInput::default()).is_empty());
    }

    #[test]
    fn an_empty_submission_names_every_required_field() {
        let v = check_fields(&ApplicationInput::default(), Mode::Submission).violations;
        assert_eq!(
            fields(&v),
            [
                "application.real_name",
                "application.id_number",
                "application.phone",
                "application.profession",
                "application.specialties",
                "application.employer_name",
                "application.employer_credit_code",
                "application.practice_start",
                "application.service_regions",
                "application.base_location",
                "application.commitment_signed",
            ]
        );
        assert_eq!(v[1].description, "请填写身份证号码");
    }

    #[test]
    fn a_draft_reports_what_is_typed_wrong() {
        let draft = ApplicationInput {
            real_name: "王".into(),
            id_number: "110105194912310021".into(),
            phone: "1381234567".into(),
            profession: "landscape".into(),
            employer_credit_code: "91440300708461136U".into(),
            service_regions: vec!["50".into()],
            base_location: Some(Location { lon: 0.0, lat: 0.0 }),
            ..Default::default()
        };
        let v = validate_draft(&draft);
        assert_eq!(
            fields(&v),
            [
                "application.real_name",
                "application.id_number",
                "application.phone",
                "application.profession",
                "application.employer_credit_code",
                "application.service_regions[0]",
                "application.base_location.lon",
                "application.base_location.lat",
            ]
        );
        assert_eq!(v[1].description, "身份证号码应为 18 位，且校验位正确", "kit's message");
        assert_eq!(v[3].description, "未知的专业类别：landscape");
    }

    #[test]
    fn a_half_filled_certificate_is_fine_in_a_draft_only() {
        let input = ApplicationInput {
            certificates: vec![Certificate {
                kind: "一级注册建筑师".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(validate_draft(&input).is_empty());
        let v = check_fields(&input, Mode::Submission).violations;
        let cert_fields: Vec<_> = fields(&v).into_iter().filter(|f| f.contains("certificates")).collect();
        assert_eq!(
            cert_fields,
            [
                "application.certificates[0].number",
                "application.certificates[0].issuer",
                "application.certificates[0].valid_until",
            ]
        );
    }

    #[test]
    fn certificate_numbers_are_unique_ignoring_case_and_spaces() {
        let cert = |number: &str| Certificate {
            number: number.into(),
            ..Default::default()
        };
        let input = ApplicationInput {
            certificates: vec![cert("A501234567"), cert("b2"), cert(" a501234567 ")],
            ..Default::default()
        };
        let v = validate_draft(&input);
        assert_eq!(fields(&v), ["application.certificates[2].number"]);
        assert_eq!(v[0].description, "证书编号重复");
    }

    #[test]
    fn at_most_ten_certificates_reported_once() {
        let input = ApplicationInput {
            certificates: vec![Certificate::default(); 11],
            ..Default::default()
        };
        let v = check_fields(&input, Mode::Submission).violations;
        let cert: Vec<_> = v.iter().filter(|v| v.field.contains("certificates")).collect();
        assert_eq!(cert.len(), 1);
        assert_eq!(cert[0].field, "application.certificates");
        assert_eq!(cert[0].description, "证书最多10项");
    }

    #[test]
    fn text_fields_have_length_limits() {
        let input = ApplicationInput {
            real_name: "欧阳".repeat(26),
            employer_name: "设".repeat(101),
            ..Default::default()
        };
        let v = validate_draft(&input);
        assert_eq!(fields(&v), ["application.real_name", "application.employer_name"]);
        assert_eq!(v[1].description, "工作单位名称不能超过100个字符");
        let ok = ApplicationInput {
            real_name: " 买买提·艾力 ".into(),
            employer_name: "设".repeat(100),
            ..Default::default()
        };
        assert!(validate_draft(&ok).is_empty());
    }

    #[test]
    fn service_regions_are_districts_or_streets() {
        let regions = |codes: &[&str]| ApplicationInput {
            service_regions: codes.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        let checked = check_fields(&regions(&["500103", "500103001", " 500104 "]), Mode::Draft);
        assert!(checked.violations.is_empty());
        let codes: Vec<_> = checked.service_regions.iter().map(RegionCode::as_str).collect();
        assert_eq!(codes, ["500103", "500103001", "500104"], "trimmed");

        // province, city, community, malformed, 7 digits
        let v = validate_draft(&regions(&["50", "5001", "500103001001", "5001O3", "5001031"]));
        assert_eq!(v.len(), 5);
        for (i, violation) in v.iter().enumerate() {
            assert_eq!(violation.field, format!("application.service_regions[{i}]"));
            assert_eq!(violation.description, "服务区域应为区县（6位）或街道（9位）区划代码");
        }

        let v = validate_draft(&regions(&["500103", "500104", "500103"]));
        assert_eq!(
            v,
            [FieldViolation::new(
                "application.service_regions[2]",
                "服务区域重复：500103"
            )]
        );
    }

    #[test]
    fn one_to_twenty_service_regions() {
        let n = |count: usize| ApplicationInput {
            service_regions: (0..count).map(|i| format!("500{i:03}")).collect(),
            ..Default::default()
        };
        assert!(validate_draft(&n(20)).is_empty());
        assert_eq!(
            validate_draft(&n(21)),
            [FieldViolation::new("application.service_regions", "服务区域最多20个")]
        );
        let v = check_fields(&n(0), Mode::Submission).violations;
        assert!(v.contains(&FieldViolation::new(
            "application.service_regions",
            "请至少选择一个服务区域"
        )));
    }

    #[test]
    fn base_location_within_china_bounds() {
        let at = |lon: f64, lat: f64| ApplicationInput {
            base_location: Some(Location { lon, lat }),
            ..Default::default()
        };
        for (lon, lat) in [(106.55, 29.56), (73.0, 3.0), (136.0, 54.0), (87.6, 43.8)] {
            assert!(validate_draft(&at(lon, lat)).is_empty(), "{lon},{lat}");
        }
        assert_eq!(
            fields(&validate_draft(&at(72.99, 29.0))),
            ["application.base_location.lon"]
        );
        assert_eq!(
            fields(&validate_draft(&at(136.01, 29.0))),
            ["application.base_location.lon"]
        );
        assert_eq!(
            fields(&validate_draft(&at(106.0, 2.99))),
            ["application.base_location.lat"]
        );
        assert_eq!(
            fields(&validate_draft(&at(106.0, 54.01))),
            ["application.base_location.lat"]
        );
        // Swapped coordinates (lat, lon) are the usual mistake.
        assert_eq!(
            fields(&validate_draft(&at(29.56, 106.55))),
            ["application.base_location.lon", "application.base_location.lat"]
        );
        assert_eq!(validate_draft(&at(f64::NAN, f64::NAN)).len(), 2);
    }

    #[test]
    fn debug_output_hides_personal_data() {
        let input = ApplicationInput {
            real_name: "王建国".into(),
            id_number: "11010519491231002X".into(),
            phone: "13812345678".into(),
            ..Default::default()
        };
        let shown = format!("{input:?}");
        for secret in ["王建国", "11010519491231002X", "13812345678"] {
            assert!(!shown.contains(secret), "{secret} leaked");
        }
        assert!(shown.contains("<redacted>"));
    }
}
