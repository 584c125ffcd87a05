//! Qualification's storage. ID and phone numbers are sealed with kit's
//! cipher and found by keyed hash; the rest of the form is JSON, read whole.

use crate::domain::{ApplicationInput, Certificate, Consent, Finding, Location, State};
use chrono::{DateTime, NaiveDate, Utc};
use kit::pii::PiiCipher;
use kit::{ServiceError, ServiceResult};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use serde::{Deserialize, Serialize};

/// The non-personal part of an application, stored as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Form {
    pub profession: String,
    pub specialties: Vec<String>,
    pub employer_name: String,
    pub employer_credit_code: String,
    pub employer_verified: bool,
    pub employer_note: String,
    pub practice_start: Option<NaiveDate>,
    pub certificates: Vec<StoredCertificate>,
    pub service_regions: Vec<String>,
    pub base_location: Option<(f64, f64)>,
    pub commitment_signed: bool,
    pub contact_visible_to_matched: bool,
    pub federation_directory: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredCertificate {
    pub kind: String,
    pub number: String,
    pub issuer: String,
    pub valid_until: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFinding {
    pub code: String,
    pub message: String,
}

impl From<&Finding> for StoredFinding {
    fn from(f: &Finding) -> Self {
        Self {
            code: f.code.to_string(),
            message: f.message.clone(),
        }
    }
}

/// An application as stored, with personal data opened.
#[derive(Debug, Clone)]
pub struct Application {
    pub id: String,
    pub account_id: String,
    pub state: State,
    pub version: i32,
    pub real_name: String,
    pub id_number: String,
    pub phone: String,
    pub form: Form,
    pub findings: Vec<StoredFinding>,
    pub years_of_practice: Option<i32>,
    pub qualified_until: Option<NaiveDate>,
    pub duplicate_of: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Application {
    pub fn input(&self) -> ApplicationInput {
        let f = &self.form;
        ApplicationInput {
            real_name: self.real_name.clone(),
            id_number: self.id_number.clone(),
            phone: self.phone.clone(),
            profession: f.profession.clone(),
            specialties: f.specialties.clone(),
            employer_name: f.employer_name.clone(),
            employer_credit_code: f.employer_credit_code.clone(),
            practice_start: f.practice_start,
            certificates: f
                .certificates
                .iter()
                .map(|c| Certificate {
                    kind: c.kind.clone(),
                    number: c.number.clone(),
                    issuer: c.issuer.clone(),
                    valid_until: c.valid_until,
                })
                .collect(),
            service_regions: f.service_regions.clone(),
            base_location: f.base_location.map(|(lon, lat)| Location { lon, lat }),
            commitment_signed: f.commitment_signed,
            consent: Consent {
                contact_visible_to_matched: f.contact_visible_to_matched,
                federation_directory: f.federation_directory,
            },
        }
    }

    /// Replaces the applicant's fields with `input`, keeping reviewer-owned ones.
    pub fn set_input(&mut self, input: ApplicationInput) {
        let keep = (self.form.employer_verified, self.form.employer_note.clone());
        self.real_name = input.real_name;
        self.id_number = input.id_number;
        self.phone = input.phone;
        self.form = Form {
            profession: input.profession,
            specialties: input.specialties,
            employer_name: input.employer_name,
            employer_credit_code: input.employer_credit_code,
            employer_verified: keep.0,
            employer_note: keep.1,
            practice_start: input.practice_start,
            certificates: input
                .certificates
                .into_iter()
                .map(|c| StoredCertificate {
                    kind: c.kind,
                    number: c.number,
                    issuer: c.issuer,
                    valid_until: c.valid_until,
                })
                .collect(),
            service_regions: input.service_regions,
            base_location: input.base_location.map(|l| (l.lon, l.lat)),
            commitment_signed: input.commitment_signed,
            contact_visible_to_matched: input.consent.contact_visible_to_matched,
            federation_directory: input.consent.federation_directory,
        };
    }
}

/// A recorded decision.
#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub decision: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
    pub reviewer_account_id: String,
    pub created_at: DateTime<Utc>,
}

fn sealed(cipher: &PiiCipher, value: &str) -> Option<Vec<u8>> {
    (!value.is_empty()).then(|| cipher.seal(value.as_bytes()))
}

/// The keyed hash that finds applications by ID number.
pub fn id_hash(cipher: &PiiCipher, id_number: &str) -> Option<String> {
    (!id_number.is_empty()).then(|| cipher.lookup_hash("id_card", &id_number.to_ascii_uppercase()))
}

fn json<T: Serialize>(value: &T) -> Result<String, DbErr> {
    serde_json::to_string(value).map_err(|e| DbErr::Custom(format!("encode json: {e}")))
}

/// The columns of an application row, in the order of [`row`].
const COLUMNS: [&str; 17] = [
    "id",
    "account_id",
    "state",
    "version",
    "real_name",
    "id_sealed",
    "id_hash",
    "phone_sealed",
    "profession",
    "form",
    "findings",
    "years_of_practice",
    "qualified_until",
    "duplicate_of",
    "submitted_at",
    "created_at",
    "updated_at",
];

/// An application's row: personal data sealed, the form as JSON.
fn row(cipher: &PiiCipher, app: &Application) -> Result<[sea_orm::sea_query::SimpleExpr; 17], DbErr> {
    let profession = (!app.form.profession.is_empty()).then(|| app.form.profession.clone());
    Ok([
        app.id.clone().into(),
        app.account_id.clone().into(),
        app.state.as_str().into(),
        app.version.into(),
        app.real_name.clone().into(),
        sealed(cipher, &app.id_number).into(),
        id_hash(cipher, &app.id_number).into(),
        sealed(cipher, &app.phone).into(),
        profession.into(),
        json(&app.form)?.into(),
        json(&app.findings)?.into(),
        app.years_of_practice.into(),
        app.qualified_until.map(|d| d.to_string()).into(),
        app.duplicate_of.clone().into(),
        app.submitted_at.into(),
        app.created_at.into(),
        app.updated_at.into(),
    ])
}

/// The application's service regions, each once.
fn region_codes(app: &Application) -> Vec<String> {
    let mut codes = app.form.service_regions.clone();
    codes.sort();
    codes.dedup();
    codes
}

/// Inserts or replaces the application row and its region index.
pub async fn save(db: &impl ConnectionTrait, cipher: &PiiCipher, app: &Application) -> Result<(), DbErr> {
    let values = row(cipher, app)?;
    db.execute(
        &Query::delete()
            .from_table("applications")
            .and_where(Expr::col("id").eq(app.id.clone()))
            .to_owned(),
    )
    .await?;
    db.execute(
        &Query::insert()
            .into_table("applications")
            .columns(COLUMNS)
            .values_panic(values)
            .to_owned(),
    )
    .await?;
    db.execute(
        &Query::delete()
            .from_table("application_regions")
            .and_where(Expr::col("application_id").eq(app.id.clone()))
            .to_owned(),
    )
    .await?;
    let codes = region_codes(app);
    if !codes.is_empty() {
        let mut insert = Query::insert()
            .into_table("application_regions")
            .columns(["application_id", "region_code"])
            .to_owned();
        for code in codes {
            insert.values_panic([app.id.clone().into(), code.into()]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Inserts new applications and their region index, many rows per
/// statement (bulk loads; [`save`] writes one application, new or not).
pub async fn save_many(db: &impl ConnectionTrait, cipher: &PiiCipher, apps: &[Application]) -> Result<(), DbErr> {
    let size = |a: &Application| 1024 + 64 * a.form.specialties.len() + 192 * a.form.certificates.len();
    for chunk in kit::db::chunks_by_width(apps, COLUMNS.len(), size) {
        let mut insert = Query::insert();
        insert.into_table("applications").columns(COLUMNS);
        for app in chunk {
            insert.values_panic(row(cipher, app)?);
        }
        db.execute(&insert).await?;
    }
    let regions: Vec<(&str, String)> = apps
        .iter()
        .flat_map(|app| region_codes(app).into_iter().map(move |code| (app.id.as_str(), code)))
        .collect();
    for chunk in kit::db::chunks_by_width(&regions, 2, |_| 64) {
        let mut insert = Query::insert();
        insert
            .into_table("application_regions")
            .columns(["application_id", "region_code"]);
        for (id, code) in chunk {
            insert.values_panic([(*id).into(), code.clone().into()]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// The columns of a frozen version, in the order of [`version_row`].
const VERSION_COLUMNS: [&str; 8] = [
    "application_id",
    "version",
    "real_name",
    "id_sealed",
    "phone_sealed",
    "form",
    "findings",
    "submitted_at",
];

fn version_row(cipher: &PiiCipher, app: &Application) -> Result<[sea_orm::sea_query::SimpleExpr; 8], DbErr> {
    Ok([
        app.id.clone().into(),
        app.version.into(),
        app.real_name.clone().into(),
        sealed(cipher, &app.id_number).into(),
        sealed(cipher, &app.phone).into(),
        json(&app.form)?.into(),
        json(&app.findings)?.into(),
        app.submitted_at.unwrap_or_else(Utc::now).into(),
    ])
}

/// Freezes the submitted version.
pub async fn freeze_version(db: &impl ConnectionTrait, cipher: &PiiCipher, app: &Application) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("application_versions")
        .columns(VERSION_COLUMNS)
        .values_panic(version_row(cipher, app)?)
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Freezes the current versions of many applications, many rows per
/// statement (bulk loads).
pub async fn freeze_versions(db: &impl ConnectionTrait, cipher: &PiiCipher, apps: &[Application]) -> Result<(), DbErr> {
    let size = |a: &Application| 1024 + 64 * a.form.specialties.len() + 192 * a.form.certificates.len();
    for chunk in kit::db::chunks_by_width(apps, VERSION_COLUMNS.len(), size) {
        let mut insert = Query::insert();
        insert.into_table("application_versions").columns(VERSION_COLUMNS);
        for app in chunk {
            insert.values_panic(version_row(cipher, app)?);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

fn row_to_application(cipher: &PiiCipher, row: &QueryResult) -> ServiceResult<Application> {
    let open = |column: &str| -> ServiceResult<String> {
        let sealed: Option<Vec<u8>> = row.try_get("", column)?;
        sealed
            .map(|s| cipher.open_string(&s).map_err(ServiceError::internal))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let state: String = row.try_get("", "state")?;
    let form: String = row.try_get("", "form")?;
    let findings: String = row.try_get("", "findings")?;
    let qualified_until: Option<String> = row.try_get("", "qualified_until")?;
    Ok(Application {
        id: row.try_get("", "id")?,
        account_id: row.try_get("", "account_id")?,
        state: State::parse(&state).ok_or_else(|| ServiceError::internal(anyhow::anyhow!("unknown state {state}")))?,
        version: row.try_get("", "version")?,
        real_name: row.try_get("", "real_name")?,
        id_number: open("id_sealed")?,
        phone: open("phone_sealed")?,
        form: serde_json::from_str(&form).map_err(ServiceError::internal)?,
        findings: serde_json::from_str(&findings).map_err(ServiceError::internal)?,
        years_of_practice: row.try_get("", "years_of_practice")?,
        qualified_until: qualified_until.and_then(|d| d.parse().ok()),
        duplicate_of: row.try_get("", "duplicate_of")?,
        submitted_at: row.try_get("", "submitted_at")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

pub async fn find(db: &impl ConnectionTrait, cipher: &PiiCipher, id: &str) -> ServiceResult<Option<Application>> {
    let select = Query::select()
        .column(sea_orm::sea_query::Asterisk)
        .from("applications")
        .and_where(Expr::col("id").eq(id))
        .to_owned();
    db.query_one(&select)
        .await?
        .map(|row| row_to_application(cipher, &row))
        .transpose()
}

/// Another application with the same ID number, if any.
pub async fn find_by_id_hash(db: &impl ConnectionTrait, hash: &str, except: &str) -> Result<Option<String>, DbErr> {
    let select = Query::select()
        .column("id")
        .from("applications")
        .and_where(Expr::col("id_hash").eq(hash))
        .and_where(Expr::col("id").ne(except))
        .order_by("created_at", Order::Asc)
        .limit(1)
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

pub async fn find_by_account(db: &impl ConnectionTrait, account_id: &str) -> Result<Option<String>, DbErr> {
    let select = Query::select()
        .column("id")
        .from("applications")
        .and_where(Expr::col("account_id").eq(account_id))
        .limit(1)
        .to_owned();
    Ok(match db.query_one(&select).await? {
        Some(row) => Some(row.try_get("", "id")?),
        None => None,
    })
}

/// Filters of the reviewer queue. `prefixes` is the caller's scope (any of
/// the application's service regions must start with one of them).
#[derive(Debug, Default)]
pub struct QueueFilter {
    pub prefixes: Vec<String>,
    pub region_prefix: Option<String>,
    pub state: Option<State>,
    pub profession: Option<String>,
    pub submitted_from: Option<DateTime<Utc>>,
    pub submitted_to: Option<DateTime<Utc>>,
}

fn region_match(prefixes: &[String]) -> Condition {
    let mut any = Condition::any();
    for prefix in prefixes {
        // A service region inside the prefix, or a district the prefix lies in
        // (a reviewer of a street sees applications for its whole district).
        any = any.add(kit::db::code_prefix("region_code", prefix));
        if prefix.len() > 6 {
            any = any.add(Expr::col("region_code").eq(prefix[..6].to_string()));
        }
    }
    any
}

fn in_regions(prefixes: &[String]) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column("application_id")
        .from("application_regions")
        .cond_where(region_match(prefixes))
        .to_owned()
}

/// A page of the queue, newest first, after `before_id`.
pub async fn list(
    db: &impl ConnectionTrait,
    cipher: &PiiCipher,
    filter: &QueueFilter,
    before_id: Option<&str>,
    limit: u64,
) -> ServiceResult<(Vec<Application>, i64)> {
    let mut cond = Condition::all().add(Expr::col("id").in_subquery(in_regions(&filter.prefixes)));
    if let Some(prefix) = &filter.region_prefix {
        cond = cond.add(Expr::col("id").in_subquery(in_regions(std::slice::from_ref(prefix))));
    }
    if let Some(state) = filter.state {
        cond = cond.add(Expr::col("state").eq(state.as_str()));
    }
    if let Some(profession) = &filter.profession {
        cond = cond.add(Expr::col("profession").eq(profession.clone()));
    }
    if let Some(from) = filter.submitted_from {
        cond = cond.add(Expr::col("submitted_at").gte(from));
    }
    if let Some(to) = filter.submitted_to {
        cond = cond.add(Expr::col("submitted_at").lt(to));
    }
    let count = Query::select()
        .expr_as(Expr::col(sea_orm::sea_query::Asterisk).count(), "n")
        .from("applications")
        .cond_where(cond.clone())
        .to_owned();
    let total: i64 = db
        .query_one(&count)
        .await?
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    let mut page = cond;
    if let Some(before) = before_id {
        page = page.add(Expr::col("id").lt(before));
    }
    let select = Query::select()
        .column(sea_orm::sea_query::Asterisk)
        .from("applications")
        .cond_where(page)
        .order_by("id", Order::Desc)
        .limit(limit)
        .to_owned();
    let rows = db.query_all(&select).await?;
    let apps = rows
        .iter()
        .map(|row| row_to_application(cipher, row))
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok((apps, total))
}

/// (application id, state, service region) inside `prefixes`, for counts.
/// (application, state, region served, profession) of the applications serving under `prefixes`.
pub async fn states_by_region(
    db: &impl ConnectionTrait,
    prefixes: &[String],
) -> Result<Vec<(String, String, String, String)>, DbErr> {
    let select = Query::select()
        .column(("applications", "id"))
        .column(("applications", "state"))
        .column(("applications", "profession"))
        .column(("application_regions", "region_code"))
        .from("applications")
        .inner_join(
            "application_regions",
            Expr::col(("application_regions", "application_id")).equals(("applications", "id")),
        )
        .cond_where(region_match(prefixes))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "id")?,
                r.try_get("", "state")?,
                r.try_get("", "region_code")?,
                r.try_get("", "profession")?,
            ))
        })
        .collect()
}

/// Approved applications whose validity ended on or before `today`.
pub async fn due_for_expiry(db: &impl ConnectionTrait, today: NaiveDate) -> Result<Vec<String>, DbErr> {
    let select = Query::select()
        .column("id")
        .from("applications")
        .and_where(Expr::col("state").eq(State::Approved.as_str()))
        // ISO dates compare as text.
        .and_where(Expr::col("qualified_until").lte(today.to_string()))
        .to_owned();
    db.query_all(&select)
        .await?
        .iter()
        .map(|r| r.try_get("", "id"))
        .collect()
}

pub async fn record_decision(db: &impl ConnectionTrait, application_id: &str, row: &DecisionRow) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("decisions")
        .columns([
            "application_id",
            "decision",
            "from_state",
            "to_state",
            "reason",
            "reviewer_account_id",
            "created_at",
        ])
        .values_panic([
            application_id.into(),
            row.decision.clone().into(),
            row.from_state.clone().into(),
            row.to_state.clone().into(),
            row.reason.clone().into(),
            row.reviewer_account_id.clone().into(),
            row.created_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Records many decisions, `(application id, decision)`, many rows per
/// statement (bulk loads); each application's in the order given.
pub async fn record_decisions(db: &impl ConnectionTrait, rows: &[(String, DecisionRow)]) -> Result<(), DbErr> {
    let size = |(id, row): &(String, DecisionRow)| 128 + id.len() + row.reason.len();
    for chunk in kit::db::chunks_by_width(rows, 7, size) {
        let mut insert = Query::insert();
        insert.into_table("decisions").columns([
            "application_id",
            "decision",
            "from_state",
            "to_state",
            "reason",
            "reviewer_account_id",
            "created_at",
        ]);
        for (application_id, row) in chunk {
            insert.values_panic([
                application_id.clone().into(),
                row.decision.clone().into(),
                row.from_state.clone().into(),
                row.to_state.clone().into(),
                row.reason.clone().into(),
                row.reviewer_account_id.clone().into(),
                row.created_at.into(),
            ]);
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

pub async fn decisions(db: &impl ConnectionTrait, application_id: &str) -> Result<Vec<DecisionRow>, DbErr> {
    let ids = [application_id.to_string()];
    Ok(decisions_of(db, &ids).await?.remove(application_id).unwrap_or_default())
}

/// The decisions of each of `application_ids` in the order they were taken,
/// in one query (a page of applications).
pub async fn decisions_of(
    db: &impl ConnectionTrait,
    application_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<DecisionRow>>, DbErr> {
    let mut out: std::collections::HashMap<String, Vec<DecisionRow>> = Default::default();
    if application_ids.is_empty() {
        return Ok(out);
    }
    let select = Query::select()
        .columns([
            "application_id",
            "decision",
            "from_state",
            "to_state",
            "reason",
            "reviewer_account_id",
            "created_at",
        ])
        .from("decisions")
        .and_where(Expr::col("application_id").is_in(application_ids.iter().cloned()))
        .order_by("id", Order::Asc)
        .to_owned();
    for r in db.query_all(&select).await? {
        out.entry(r.try_get("", "application_id")?)
            .or_default()
            .push(DecisionRow {
                decision: r.try_get("", "decision")?,
                from_state: r.try_get("", "from_state")?,
                to_state: r.try_get("", "to_state")?,
                reason: r.try_get("", "reason")?,
                reviewer_account_id: r.try_get("", "reviewer_account_id")?,
                created_at: r.try_get("", "created_at")?,
            });
    }
    Ok(out)
}

pub async fn log_pii_read(db: &impl ConnectionTrait, application_id: &str, reader: &str) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table("pii_reads")
        .columns(["application_id", "reader_account_id", "read_at"])
        .values_panic([application_id.into(), reader.into(), Utc::now().into()])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}
