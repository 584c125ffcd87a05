//! The synthetic nation, in memory: China's real urban communities (codes,
//! names, district centroids) at synthetic positions, and synthetic
//! professionals, matches and visits, each drawn from the seed alone (see
//! `super::rng`). Nothing here touches a database; the service modules
//! turn it into each service's rows.

use super::rng::{Rng, Stream};
use anyhow::Context as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use matching_solver::geo::{disc_offset, haversine_km, offset_km, stable_hash, synthetic_position};
use qualification::domain::Profession;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// How much of everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub communities: usize,
    pub professionals: usize,
    pub matches: usize,
    pub records: usize,
}

/// The national benchmark: every urban community of China.
pub const NATIONAL: Counts = Counts {
    communities: 111_430,
    professionals: 100_000,
    matches: 300_000,
    records: 2_000_000,
};

impl Counts {
    /// `scale` of each count, at least one of each (no records without matches).
    pub fn scaled(&self, scale: f64) -> Counts {
        let of = |n: usize| ((n as f64 * scale).round() as usize).max(1);
        Counts {
            communities: of(self.communities),
            professionals: of(self.professionals),
            matches: of(self.matches),
            records: of(self.records),
        }
    }
}

/// An urban community from the division data.
#[derive(Debug, Clone)]
pub struct Community {
    /// 12 digits; its prefixes are its street (9), district (6), city (4) and province (2).
    pub code: String,
    pub name: String,
    /// The district's centroid as the data gives it (none for a few newer districts).
    pub district_centroid: Option<(f64, f64)>,
    /// Synthetic, near the district's centroid; matching's own position once
    /// matching has the community (see `super::matching::positions`).
    pub lon: f64,
    pub lat: f64,
}

impl Community {
    pub fn street(&self) -> &str {
        &self.code[..9]
    }

    pub fn district(&self) -> &str {
        &self.code[..6]
    }

    pub fn city(&self) -> &str {
        &self.code[..4]
    }

    pub fn province(&self) -> &str {
        &self.code[..2]
    }
}

/// A file's text; `.gz` files are read through `gzip -dc`.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    if path.extension().is_some_and(|e| e == "gz") {
        let output = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(path)
            .output()
            .with_context(|| format!("run gzip -dc {}", path.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "gzip -dc {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        String::from_utf8(output.stdout).with_context(|| format!("{} is not UTF-8", path.display()))
    } else {
        std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
    }
}

/// The communities of a `code,name,street_code,district_code,district_lon,
/// district_lat` file (`services/matching-solver/data/communities-cn.csv.gz`),
/// placed as the matching benchmark places them: near their district's
/// centroid, or for the few districts without one near the first centroid
/// of their city, else of their province.
pub fn parse_communities(text: &str) -> anyhow::Result<Vec<Community>> {
    let mut rows = Vec::new();
    let mut fallback: HashMap<&str, (f64, f64)> = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let [code, name, _street, _district, lon, lat] = fields[..] else {
            anyhow::bail!("communities line {}: expected 6 fields", n + 1);
        };
        anyhow::ensure!(
            code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit()),
            "communities line {}: {code:?} is not a 12-digit community code",
            n + 1
        );
        let centroid = match (lon.parse::<f64>(), lat.parse::<f64>()) {
            (Ok(lon), Ok(lat)) => Some((lon, lat)),
            _ => None,
        };
        if let Some(centroid) = centroid {
            fallback.entry(&code[..4]).or_insert(centroid);
            fallback.entry(&code[..2]).or_insert(centroid);
        }
        rows.push((code, name, centroid));
    }
    rows.into_iter()
        .map(|(code, name, centroid)| {
            let (dlon, dlat) = centroid
                .or_else(|| fallback.get(&code[..4]).copied())
                .or_else(|| fallback.get(&code[..2]).copied())
                .with_context(|| format!("no centroid for community {code}"))?;
            let (lon, lat) = synthetic_position(code, dlon, dlat);
            Ok(Community {
                code: code.to_string(),
                name: name.to_string(),
                district_centroid: centroid,
                lon,
                lat,
            })
        })
        .collect()
}

/// `n` communities spread over the whole country (those whose codes hash
/// smallest), in code order; all of them when `n` is not smaller.
pub fn sample(mut all: Vec<Community>, n: usize) -> Vec<Community> {
    if n < all.len() {
        all.sort_by_cached_key(|c| (stable_hash(c.code.as_bytes()), c.code.clone()));
        all.truncate(n);
    }
    all.sort_by(|a, b| a.code.cmp(&b.code));
    all
}

/// Provinces by division code (GB/T 2260).
const PROVINCES: &[(&str, &str)] = &[
    ("11", "北京市"),
    ("12", "天津市"),
    ("13", "河北省"),
    ("14", "山西省"),
    ("15", "内蒙古自治区"),
    ("21", "辽宁省"),
    ("22", "吉林省"),
    ("23", "黑龙江省"),
    ("31", "上海市"),
    ("32", "江苏省"),
    ("33", "浙江省"),
    ("34", "安徽省"),
    ("35", "福建省"),
    ("36", "江西省"),
    ("37", "山东省"),
    ("41", "河南省"),
    ("42", "湖北省"),
    ("43", "湖南省"),
    ("44", "广东省"),
    ("45", "广西壮族自治区"),
    ("46", "海南省"),
    ("50", "重庆市"),
    ("51", "四川省"),
    ("52", "贵州省"),
    ("53", "云南省"),
    ("54", "西藏自治区"),
    ("61", "陕西省"),
    ("62", "甘肃省"),
    ("63", "青海省"),
    ("64", "宁夏回族自治区"),
    ("65", "新疆维吾尔自治区"),
];

/// The name of a region above community level. The project's data names
/// provinces and communities only (and Chongqing in full, which identity
/// and matching already hold); cities, districts and streets elsewhere are
/// named by their codes.
pub fn region_name(code: &str) -> String {
    match code.len() {
        2 => PROVINCES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(|| format!("省级区划{code}"), |(_, name)| name.to_string()),
        4 => format!("地市{code}"),
        6 => format!("区县{code}"),
        _ => format!("街道{code}"),
    }
}

/// A province's officials: an administrator (who confirms and rates visits
/// for its communities and invites professionals) and a reviewer (who
/// approved its professionals).
#[derive(Debug, Clone)]
pub struct Province {
    pub code: String,
    pub name: String,
    pub admin_id: String,
    pub reviewer_id: String,
    pub created_at: DateTime<Utc>,
}

impl Province {
    pub fn admin_username(code: &str) -> String {
        format!("natl-admin-{code}")
    }

    pub fn reviewer_username(code: &str) -> String {
        format!("natl-reviewer-{code}")
    }
}

#[derive(Debug, Clone)]
pub struct Certificate {
    pub kind: &'static str,
    pub number: String,
    pub issuer: &'static str,
    pub valid_until: NaiveDate,
}

/// A qualified professional and how they got there.
#[derive(Debug, Clone)]
pub struct Professional {
    pub account_id: String,
    pub application_id: String,
    pub username: String,
    pub real_name: String,
    pub phone: String,
    pub id_number: String,
    pub profession: Profession,
    pub specialties: Vec<String>,
    /// One region (their district, or their city); the first is the home region.
    pub service_regions: Vec<String>,
    /// The community they live in (index into [`World::communities`]).
    pub home: usize,
    /// Their base, within 2 km of home.
    pub lon: f64,
    pub lat: f64,
    pub employer_name: String,
    pub employer_credit_code: String,
    pub practice_start: NaiveDate,
    pub certificate: Certificate,
    pub federation_directory: bool,
    pub registered_at: DateTime<Utc>,
    pub applied_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    pub review_started_at: DateTime<Utc>,
    pub employer_verified_at: DateTime<Utc>,
    pub approved_at: DateTime<Utc>,
}

/// A confirmed match (ended for some).
#[derive(Debug, Clone)]
pub struct Match {
    pub id: String,
    pub professional: usize,
    pub community: usize,
    /// Which of the professional's matches this is; it sets the time of day
    /// of its visits, so that one professional's visits never overlap.
    pub ordinal: usize,
    /// The community invited (else the professional applied).
    pub invited: bool,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub distance_km: f64,
}

/// A visit and what became of its record: submitted, confirmed, rated by
/// the community and scored.
#[derive(Debug, Clone)]
pub struct Visit {
    pub record_id: String,
    /// Index of the visit (of the record) in the run.
    pub index: usize,
    pub match_index: usize,
    pub service_type: &'static str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub check_in: (f64, f64),
    pub check_in_distance_km: f64,
    pub summary: String,
    pub residents_reached: i32,
    pub submitted_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub rated_at: DateTime<Utc>,
    pub rating_closes_at: DateTime<Utc>,
    pub scored_at: DateTime<Utc>,
    pub community_rating: i32,
    pub comment: &'static str,
}

/// Records' rating window (its default): a confirmed record is scored this long after.
pub const RATING_WINDOW_DAYS: i64 = 14;

/// Matching's default offer lifetime: a proposal expires this long after it was made.
const OFFER_DAYS: i64 = 7;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
const GIVEN_NAMES: &[&str] = &[
    "建国", "思远", "雨桐", "志强", "晓梅", "海峰", "静怡", "文博", "嘉欣", "立新", "明轩", "玉兰", "子涵", "浩然",
    "欣怡", "俊杰", "婷婷", "国华", "春燕", "宇航", "佳琪", "振华", "秀英", "伟", "磊", "洁", "敏", "军", "芳", "勇",
    "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "桂英",
];
const EMPLOYER_NAMES: &[&str] = &[
    "华夏", "中原", "东方", "城建", "筑境", "远景", "同创", "恒信", "宏图", "致远", "新城", "九州",
];
const EMPLOYER_KINDS: &[&str] = &[
    "规划设计研究院有限公司",
    "建筑设计有限公司",
    "工程咨询有限公司",
    "城市更新研究中心",
    "工程造价咨询事务所",
    "建设工程有限公司",
];
const PHONE_PREFIXES: &[&str] = &[
    "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "186", "187", "188", "189",
];

/// The standard service types (records' list) and what a visit of each did.
pub const SERVICE_TYPES: &[(&str, &str)] = &[
    ("survey", "走访楼栋，调研房屋、管线与公共空间现状"),
    ("resident-communication", "组织居民恳谈会，了解改造意愿与诉求"),
    ("plan-review", "审查改造设计方案，提出结构与消防意见"),
    ("deliberation", "参加社区议事会，协商改造事项与费用分摊"),
    ("evaluation", "回访已完工项目，评估改造效果与居民满意度"),
    ("policy-briefing", "宣讲城市更新与老旧小区改造政策"),
    ("micro-class", "开设社区微课堂，讲解适老化改造与加装电梯"),
    ("construction-guidance", "到施工现场跟踪指导，检查施工质量与安全"),
];
const COMMENTS: &[&str] = &["专业、耐心", "方案实用，居民认可", "讲解清楚", "响应及时", "很有帮助"];

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Everything the generator writes, before it is written.
#[derive(Debug)]
pub struct World {
    pub seed: u64,
    pub counts: Counts,
    /// Visits happen in `[start, end)`: from the first of January of the year
    /// before `until` to `until`, so over two calendar years.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub communities: Vec<Community>,
    /// In code order.
    pub provinces: Vec<Province>,
    pub professionals: Vec<Professional>,
    pub matches: Vec<Match>,
}

impl World {
    /// Draws the professionals and matches for `counts` (whose communities
    /// are `communities`, already sampled and positioned).
    pub fn new(seed: u64, counts: Counts, until: NaiveDate, communities: Vec<Community>) -> anyhow::Result<World> {
        anyhow::ensure!(!communities.is_empty(), "no communities");
        let start = NaiveDate::from_ymd_opt(until.year() - 1, 1, 1).context("a year before --until")?;
        let window = (midnight(start), midnight(until));
        let provinces = provinces(seed, &communities, window.0);
        let mut world = World {
            seed,
            counts: Counts {
                communities: communities.len(),
                ..counts
            },
            window,
            communities,
            provinces,
            professionals: Vec::with_capacity(counts.professionals),
            matches: Vec::with_capacity(counts.matches),
        };
        for i in 0..counts.professionals {
            let professional = world.professional(i)?;
            world.professionals.push(professional);
        }
        let scopes = Scopes::of(&world.communities);
        for j in 0..counts.matches {
            let planned = world.plan_match(j, &scopes);
            world.matches.push(planned);
        }
        Ok(world)
    }

    /// The first of the two years (closed by the generator).
    pub fn first_year(&self) -> i32 {
        self.window.0.year()
    }

    pub fn province_of(&self, community: usize) -> &Province {
        let code = self.communities[community].province();
        let at = self
            .provinces
            .binary_search_by(|p| p.code.as_str().cmp(code))
            .unwrap_or_default();
        &self.provinces[at]
    }

    /// How many matches professional `p` has.
    pub fn matches_of(&self, p: usize) -> usize {
        let (n, professionals) = (self.counts.matches, self.counts.professionals.max(1));
        n / professionals + usize::from(p < n % professionals)
    }

    fn professional(&self, i: usize) -> anyhow::Result<Professional> {
        let mut rng = Rng::item(self.seed, Stream::Professional, i as u64);
        let home = rng.below(self.communities.len() as u64) as usize;
        let community = &self.communities[home];
        let (east, north) = disc_offset(rng.next_u64(), 2.0);
        let (lon, lat) = offset_km(community.lon, community.lat, east, north);
        let profession = match rng.below(100) {
            0..32 => Profession::Planner,
            32..63 => Profession::Architect,
            63..93 => Profession::Engineer,
            _ => *rng.pick(&Profession::ALL[3..]),
        };
        let service_regions = if rng.chance(75) {
            vec![community.district().to_string()]
        } else {
            vec![community.city().to_string()]
        };
        let mut specialties: Vec<String> = Vec::new();
        let wanted = 2 + rng.below(2) as usize;
        while specialties.len() < wanted {
            let tag = rng.pick(qualification::domain::specialty::SPECIALTIES).to_string();
            if !specialties.contains(&tag) {
                specialties.push(tag);
            }
        }
        // Unique by construction: the birth day and sequence number follow from `i`.
        let birth = NaiveDate::from_ymd_opt(1965, 1, 1).context("a date")? + Duration::days((i % 9125) as i64);
        let id_body = format!(
            "{}{}{:03}",
            community.district(),
            birth.format("%Y%m%d"),
            (i / 9125) % 1000
        );
        let id_number = kit::pii::IdCardNumber::with_check(&id_body)?;
        let phone_tail = ((i / PHONE_PREFIXES.len()) as u64 * 7_919 + 1_234_567) % 100_000_000;
        let phone =
            kit::pii::PhoneNumber::parse(&format!("{}{phone_tail:08}", PHONE_PREFIXES[i % PHONE_PREFIXES.len()]))?;
        let employer = rng.below((EMPLOYER_NAMES.len() * EMPLOYER_KINDS.len()) as u64) as usize;
        let credit_code = kit::pii::CreditCode::with_check(&format!(
            "91{}{:09}",
            community.district(),
            (employer as u64 * 104_729 + 7) % 1_000_000_000
        ))?;
        let (kind, issuer) = certificate_of(profession);
        let practice_start =
            NaiveDate::from_ymd_opt(1995 + rng.below(21) as i32, 1 + rng.below(12) as u32, 1).context("a date")?;
        // Registered and approved some eight months before the window opens,
        // so that qualifications (valid for three years) last beyond it.
        let registered_at = self.window.0 - Duration::days(240) + rng.seconds(0, 60 * 86_400);
        let applied_at = registered_at + rng.seconds(3_600, 3 * 86_400);
        let submitted_at = applied_at + rng.seconds(3_600, 2 * 86_400);
        let review_started_at = submitted_at + rng.seconds(3_600, 5 * 86_400);
        let employer_verified_at = review_started_at + rng.seconds(600, 36_000);
        let approved_at = employer_verified_at + rng.seconds(600, 86_400);
        Ok(Professional {
            account_id: rng.uuid_v7(registered_at),
            application_id: rng.uuid_v7(applied_at),
            username: format!("natl-p{i:06}"),
            real_name: format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN_NAMES)),
            phone: phone.as_str().to_string(),
            id_number: id_number.as_str().to_string(),
            profession,
            specialties,
            service_regions,
            home,
            lon,
            lat,
            employer_name: format!(
                "{}{}",
                EMPLOYER_NAMES[employer % EMPLOYER_NAMES.len()],
                EMPLOYER_KINDS[employer / EMPLOYER_NAMES.len()]
            ),
            employer_credit_code: credit_code.as_str().to_string(),
            practice_start,
            certificate: Certificate {
                kind,
                number: format!("ZC{:08}", 10_000_000 + i),
                issuer,
                valid_until: NaiveDate::from_ymd_opt(2029, 12, 31).context("a date")?,
            },
            federation_directory: rng.chance(30),
            registered_at,
            applied_at,
            submitted_at,
            review_started_at,
            employer_verified_at,
            approved_at,
        })
    }

    /// Match `j`: professional `j % P`'s `j / P`-th, with a community of the
    /// region they serve. A professional with more matches than their region
    /// has communities serves some again: those earlier matches have ended.
    fn plan_match(&self, j: usize, scopes: &Scopes) -> Match {
        let professionals = self.professionals.len();
        let (p, ordinal) = (j % professionals, j / professionals);
        let professional = &self.professionals[p];
        let candidates = scopes.of_region(&professional.service_regions[0]);
        let n = candidates.len().max(1);
        let first = Rng::item(self.seed, Stream::MatchPlan, p as u64).below(n as u64) as usize;
        let community = candidates
            .get((first + ordinal) % n)
            .copied()
            .unwrap_or(professional.home);
        let served_again = ordinal + n < self.matches_of(p);
        let mut rng = Rng::item(self.seed, Stream::Match, j as u64);
        let created_at = professional.approved_at + Duration::days(2) + rng.seconds(0, 360 * 86_400);
        let confirmed_at = created_at + rng.seconds(3_600, 5 * 86_400);
        let ends = served_again || rng.chance(12);
        // Ended matches were open for four months of the window at least.
        let ended_at = ends.then(|| {
            let end = confirmed_at.max(self.window.0) + Duration::days(120) + rng.seconds(0, 300 * 86_400);
            end.min(self.window.1 - Duration::days(20))
        });
        let c = &self.communities[community];
        Match {
            id: rng.uuid_v7(created_at),
            professional: p,
            community,
            ordinal,
            invited: rng.chance(70),
            created_at,
            confirmed_at,
            ended_at,
            distance_km: haversine_km(professional.lon, professional.lat, c.lon, c.lat),
        }
    }

    /// When a match is open for visits: `(first day, days)`, a day after it
    /// was confirmed (or the window opened) until the day before it ended
    /// (or the window closes).
    fn visit_days(&self, m: &Match) -> (NaiveDate, i64) {
        let first = (m.confirmed_at.max(self.window.0) + Duration::days(1)).date_naive();
        let last = m.ended_at.unwrap_or(self.window.1).date_naive() - Duration::days(1);
        (first, (last - first).num_days().max(1))
    }

    /// Visit (record) `r`: to match `r % M`, the `r / M`-th of its visits,
    /// which are spread over the days the match was open, one a day at the
    /// match's time of day.
    pub fn visit(&self, r: usize) -> Visit {
        let matches = self.matches.len().max(1);
        let (j, nth) = (r % matches, r / matches);
        let of_match = self.counts.records / matches + usize::from(j < self.counts.records % matches);
        let m = &self.matches[j];
        let community = &self.communities[m.community];
        let mut rng = Rng::item(self.seed, Stream::Visit, r as u64);
        let (first_day, days) = self.visit_days(m);
        let day = (((nth as f64 + rng.unit()) * days as f64 / of_match.max(1) as f64) as i64).clamp(0, days - 1);
        // 08:00, 11:00, 14:00 or 17:00 in China (UTC+8), for up to two and a half hours.
        let start = midnight(first_day + Duration::days(day))
            + Duration::hours(3 * (m.ordinal % 4) as i64)
            + rng.seconds(0, 30 * 60);
        let end = start + rng.seconds(60 * 60, 150 * 60);
        let (service_type, did) = *rng.pick(SERVICE_TYPES);
        let (east, north) = disc_offset(rng.next_u64(), 0.3);
        let check_in = offset_km(community.lon, community.lat, east, north);
        let submitted_at = end + rng.seconds(20 * 60, 86_400);
        let confirmed_at = submitted_at + rng.seconds(3_600, 3 * 86_400);
        let rated_at = confirmed_at + rng.seconds(600, 2 * 86_400);
        let rating_closes_at = confirmed_at + Duration::days(RATING_WINDOW_DAYS);
        let scored_at = rating_closes_at + rng.seconds(1, 60);
        let community_rating = match rng.below(100) {
            0..50 => 5,
            50..85 => 4,
            _ => 3,
        };
        Visit {
            record_id: rng.uuid_v7(submitted_at),
            index: r,
            match_index: j,
            service_type,
            start,
            end,
            check_in,
            check_in_distance_km: haversine_km(check_in.0, check_in.1, community.lon, community.lat),
            summary: format!("{}：{did}", community.name),
            residents_reached: rng.between(3, 80) as i32,
            submitted_at,
            confirmed_at,
            rated_at,
            rating_closes_at,
            scored_at,
            community_rating,
            comment: rng.pick::<&str>(COMMENTS),
        }
    }
}

/// Matching's offer lifetime from a proposal's creation.
pub fn offer_expiry(created_at: DateTime<Utc>) -> DateTime<Utc> {
    created_at + Duration::days(OFFER_DAYS)
}

fn certificate_of(profession: Profession) -> (&'static str, &'static str) {
    match profession {
        Profession::Planner => ("注册城乡规划师", "自然资源部"),
        Profession::Architect => ("一级注册建筑师", "住房和城乡建设部"),
        Profession::Engineer => ("注册结构工程师", "住房和城乡建设部"),
        _ => ("专业技术资格证书", "人力资源和社会保障部"),
    }
}

/// The provinces of `communities`, with their officials.
fn provinces(seed: u64, communities: &[Community], window_start: DateTime<Utc>) -> Vec<Province> {
    let codes: BTreeSet<&str> = communities.iter().map(Community::province).collect();
    codes
        .into_iter()
        .map(|code| {
            let mut rng = Rng::item(seed, Stream::Official, code.parse().unwrap_or_default());
            let created_at = window_start - Duration::days(500);
            Province {
                code: code.to_string(),
                name: region_name(code),
                admin_id: rng.uuid_v7(created_at),
                reviewer_id: rng.uuid_v7(created_at),
                created_at,
            }
        })
        .collect()
}

/// The communities of each district and city.
struct Scopes(HashMap<String, Vec<usize>>);

impl Scopes {
    fn of(communities: &[Community]) -> Scopes {
        let mut scopes: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in communities.iter().enumerate() {
            scopes.entry(c.district().to_string()).or_default().push(i);
            scopes.entry(c.city().to_string()).or_default().push(i);
        }
        Scopes(scopes)
    }

    fn of_region(&self, code: &str) -> &[usize] {
        self.0.get(code).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "code,name,street_code,district_code,district_lon,district_lat\n\
        110101001001,多福巷社区居委会,110101001,110101,116.41649,39.928341\n\
        110101001002,银闸社区居委会,110101001,110101,116.41649,39.928341\n\
        110102002001,西长安街社区居委会,110102002,110102,116.36,39.91\n\
        150702001001,胜利社区居委会,150702001,150702,119.76,49.21\n\
        150703001001,新区社区居委会,150703001,150703,,\n\
        500103003013,民生路社区居委会,500103003,500103,106.57,29.55\n";

    fn world(counts: Counts) -> World {
        let communities = parse_communities(CSV).unwrap();
        let until = NaiveDate::from_ymd_opt(2026, 11, 15).unwrap();
        World::new(20, counts, until, communities).unwrap()
    }

    #[test]
    fn communities_without_a_centroid_borrow_one_from_their_city() {
        let communities = parse_communities(CSV).unwrap();
        assert_eq!(communities.len(), 6);
        let newer = communities.iter().find(|c| c.code == "150703001001").unwrap();
        assert!(newer.district_centroid.is_none());
        assert!(matching_solver::geo::valid_position(newer.lon, newer.lat));
        assert!(parse_communities("header\n1101,short,,,,\n").is_err());
        let two = sample(communities, 2);
        assert_eq!(two.len(), 2);
        assert!(two[0].code < two[1].code);
    }

    #[test]
    fn the_world_is_the_same_for_the_same_seed() {
        let counts = Counts {
            communities: 5,
            professionals: 4,
            matches: 9,
            records: 40,
        };
        let (a, b) = (world(counts), world(counts));
        assert_eq!(a.professionals[3].account_id, b.professionals[3].account_id);
        assert_eq!(a.matches[8].id, b.matches[8].id);
        assert_eq!(a.visit(39).record_id, b.visit(39).record_id);
        assert_eq!(a.provinces.len(), 3);
        assert_eq!(a.province_of(5).code, "50");
    }

    #[test]
    fn visits_fall_in_their_match_and_window_and_never_overlap() {
        let w = world(Counts {
            communities: 5,
            professionals: 3,
            matches: 9,
            records: 300,
        });
        let visits: Vec<Visit> = (0..300).map(|r| w.visit(r)).collect();
        for v in &visits {
            let m = &w.matches[v.match_index];
            assert!(v.start >= m.confirmed_at && v.start >= w.window.0, "{v:?}");
            assert!(
                v.end <= m.ended_at.unwrap_or(w.window.1) && v.end <= w.window.1,
                "{v:?}"
            );
            assert!(v.check_in_distance_km < 0.31);
            assert!(v.scored_at > v.rating_closes_at && v.rated_at < v.rating_closes_at);
            assert!(
                records::domain::record::STANDARD_SERVICE_TYPES
                    .iter()
                    .any(|(code, _)| *code == v.service_type)
            );
        }
        for (i, a) in visits.iter().enumerate() {
            for b in &visits[i + 1..] {
                let same = w.matches[a.match_index].professional == w.matches[b.match_index].professional;
                assert!(!(same && a.start < b.end && b.start < a.end), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn professionals_have_valid_personal_data_and_qualify() {
        let w = world(Counts {
            communities: 5,
            professionals: 50,
            matches: 50,
            records: 50,
        });
        let mut phones = std::collections::HashSet::new();
        for p in &w.professionals {
            assert!(kit::pii::IdCardNumber::parse(&p.id_number).is_ok());
            assert!(kit::pii::CreditCode::parse(&p.employer_credit_code).is_ok());
            assert!(phones.insert(p.phone.clone()), "phone numbers are unique");
            assert!(identity::domain::account::validate_username(&p.username).is_ok());
            let years = qualification::domain::dates::full_years(p.practice_start, p.submitted_at.date_naive());
            assert!(years >= 5);
            assert!(p.approved_at < w.window.0);
        }
    }
}
