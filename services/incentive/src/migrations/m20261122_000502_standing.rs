//! Where points were earned, the professionals' read model, the awards per
//! record, the year's results (annual totals, carry-over and star ratings),
//! policies, expert-team proposals and the audit log.

use kit::db::create_index as index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The community served (awards) or the region an admin adjusted for.
        m.alter_table(
            Table::alter()
                .table("ledger_entries")
                .add_column(string_len("region_code", 12).default(""))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "ledger_entries",
            "ledger_entries_year_region",
            &["year", "region_code"],
            false,
        )
        .await?;
        index(
            m,
            "ledger_entries",
            "ledger_entries_year_professional",
            &["year", "professional_id"],
            false,
        )
        .await?;

        // Qualified professionals, from qualification's events.
        m.create_table(
            Table::create()
                .table("professionals")
                .col(string_len("account_id", 36).primary_key())
                .col(string_len("real_name", 64))
                .col(string_len("profession", 32))
                .col(text("specialties"))
                .col(text("service_regions"))
                .col(string_len("status", 16))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        // Years in which a professional's qualification lapsed (suspended,
        // revoked or expired): no star rating for those years.
        m.create_table(
            Table::create()
                .table("standing_lapses")
                .col(string_len("professional_id", 36))
                .col(integer("year"))
                .col(string_len("reason", 500))
                .primary_key(Index::create().col("professional_id").col("year"))
                .to_owned(),
        )
        .await?;

        // One row per scored record: what the record currently counts for.
        m.create_table(
            Table::create()
                .table("record_awards")
                .col(string_len("record_id", 36).primary_key())
                .col(string_len("professional_id", 36))
                .col(integer("year"))
                .col(string_len("region_code", 12))
                // The record version last applied; older versions are ignored.
                .col(integer("version"))
                // The satisfaction score (1–5) that counted, in thousandths; NULL: not rated.
                .col(big_integer_null("satisfaction_milli"))
                // Net points of the record (tenths).
                .col(big_integer("points"))
                .col(string_len("first_entry_id", 36))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "record_awards",
            "record_awards_year_professional",
            &["year", "professional_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("year_closings")
                .col(integer("year").primary_key())
                .col(string_len("state", 16))
                .col(boolean("aggregated").default(false))
                .col(string_len("started_by", 36))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .to_owned(),
        )
        .await?;
        // A professional's closed year: the annual total (carried over into the
        // next year's progressive bonus) and the star rating with its reason.
        m.create_table(
            Table::create()
                .table("annual_results")
                .col(string_len("professional_id", 36))
                .col(integer("year"))
                .col(big_integer("points"))
                .col(integer("services"))
                .col(integer("rated_services"))
                .col(big_integer("satisfaction_milli"))
                .col(boolean("in_good_standing"))
                .col(integer("previous_stars"))
                .col(integer("stars"))
                // Whether StarRatingChanged went out (true from the start when unchanged).
                .col(boolean("announced"))
                .primary_key(Index::create().col("professional_id").col("year"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "annual_results",
            "annual_results_year",
            &["year", "announced", "professional_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("policies")
                .col(string_len("id", 64).primary_key())
                .col(integer("position"))
                .col(string_len("title", 100))
                .col(text("description"))
                .col(integer("min_stars"))
                .col(big_integer("min_points"))
                .col(integer("min_services"))
                .col(string_len("region", 12))
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert()
            .into_table("policies")
            .columns([
                "id",
                "position",
                "title",
                "description",
                "min_stars",
                "min_points",
                "min_services",
                "region",
            ])
            .to_owned();
        for (i, p) in crate::domain::policies::standard().into_iter().enumerate() {
            seed.values_panic([
                p.id.into(),
                (i as i32).into(),
                p.title.into(),
                p.description.into(),
                p.min_stars.into(),
                p.min_points.into(),
                p.min_services.into(),
                p.region.into(),
            ]);
        }
        m.get_connection().execute(&seed).await?;

        m.create_table(
            Table::create()
                .table("expert_proposals")
                .col(string_len("id", 36).primary_key())
                .col(integer("year"))
                .col(string_len("state", 16))
                .col(string_len("proposed_by", 36))
                .col(string_len("confirmed_by", 36).default(""))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("confirmed_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("expert_candidates")
                .col(string_len("proposal_id", 36))
                .col(string_len("specialty", 64))
                .col(string_len("professional_id", 36))
                .col(integer("rank"))
                .col(integer("stars"))
                .col(big_integer("points"))
                .col(boolean("struck").default(false))
                .primary_key(
                    Index::create()
                        .col("proposal_id")
                        .col("specialty")
                        .col("professional_id"),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("audit_log")
                .col(string_len("id", 36).primary_key())
                .col(string_len("actor_id", 36))
                .col(string_len("action", 32))
                .col(string_len("target", 160))
                .col(text("detail"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        kit::db::append_only(m, "audit_log", "incentive audit log").await
    }
}
