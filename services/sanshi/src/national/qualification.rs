//! Qualification's part: each professional's approved application, as the
//! workflow leaves it (submitted version frozen, the employer verified, the
//! decisions recorded), personal data sealed by qualification's store.

use super::Progress;
use super::world::{Professional, World};
use chrono::NaiveDate;
use kit::pii::PiiCipher;
use qualification::domain::{Action, State, dates};
use qualification::store::{Application, DecisionRow, Form, StoredCertificate};
use sea_orm::DatabaseConnection;

/// Qualification's default validity (`rules.validity_months`).
const VALIDITY_MONTHS: u32 = 36;
const EMPLOYER_NOTE: &str = "已电话核实在职";

/// When the professional's qualification runs out.
pub fn qualified_until(p: &Professional) -> NaiveDate {
    dates::expiry(p.approved_at.date_naive(), VALIDITY_MONTHS)
}

fn application(p: &Professional) -> Application {
    Application {
        id: p.application_id.clone(),
        account_id: p.account_id.clone(),
        state: State::Approved,
        version: 1,
        real_name: p.real_name.clone(),
        id_number: p.id_number.clone(),
        phone: p.phone.clone(),
        form: Form {
            profession: p.profession.as_str().to_string(),
            specialties: p.specialties.clone(),
            employer_name: p.employer_name.clone(),
            employer_credit_code: p.employer_credit_code.clone(),
            employer_verified: true,
            employer_note: EMPLOYER_NOTE.into(),
            practice_start: Some(p.practice_start),
            certificates: vec![StoredCertificate {
                kind: p.certificate.kind.into(),
                number: p.certificate.number.clone(),
                issuer: p.certificate.issuer.into(),
                valid_until: Some(p.certificate.valid_until),
            }],
            service_regions: p.service_regions.clone(),
            base_location: Some((p.lon, p.lat)),
            commitment_signed: true,
            contact_visible_to_matched: true,
            federation_directory: p.federation_directory,
        },
        findings: Vec::new(),
        years_of_practice: Some(dates::full_years(p.practice_start, p.submitted_at.date_naive()) as i32),
        qualified_until: Some(qualified_until(p)),
        duplicate_of: None,
        submitted_at: Some(p.submitted_at),
        created_at: p.applied_at,
        updated_at: p.approved_at,
    }
}

/// The decisions that took the application from draft to approved.
fn decisions(world: &World, p: &Professional) -> Vec<(String, DecisionRow)> {
    let reviewer = &world.province_of(p.home).reviewer_id;
    let step = |action: &str, from: State, to: State, reason: String, by: &str, at| {
        let row = DecisionRow {
            decision: action.to_string(),
            from_state: from.as_str().into(),
            to_state: to.as_str().into(),
            reason,
            reviewer_account_id: by.to_string(),
            created_at: at,
        };
        (p.application_id.clone(), row)
    };
    vec![
        step(
            Action::Submit.as_str(),
            State::Draft,
            State::Submitted,
            "第 1 版".into(),
            &p.account_id,
            p.submitted_at,
        ),
        step(
            Action::StartReview.as_str(),
            State::Submitted,
            State::UnderReview,
            String::new(),
            reviewer,
            p.review_started_at,
        ),
        step(
            "verify_employer",
            State::UnderReview,
            State::UnderReview,
            format!("已核实：{EMPLOYER_NOTE}"),
            reviewer,
            p.employer_verified_at,
        ),
        step(
            Action::Approve.as_str(),
            State::UnderReview,
            State::Approved,
            "资料齐全，符合条件".into(),
            reviewer,
            p.approved_at,
        ),
    ]
}

pub async fn write_applications(
    db: &DatabaseConnection,
    world: &World,
    cipher: &PiiCipher,
    batch: usize,
) -> anyhow::Result<()> {
    let mut progress = Progress::new("qualification applications", world.professionals.len());
    for chunk in world.professionals.chunks(batch) {
        let apps: Vec<Application> = chunk.iter().map(application).collect();
        let steps: Vec<(String, DecisionRow)> = chunk.iter().flat_map(|p| decisions(world, p)).collect();
        let txn = kit::db::begin(db).await?;
        qualification::store::save_many(&txn, cipher, &apps).await?;
        qualification::store::freeze_versions(&txn, cipher, &apps).await?;
        qualification::store::record_decisions(&txn, &steps).await?;
        txn.commit().await?;
        progress.add(chunk.len());
    }
    Ok(())
}
