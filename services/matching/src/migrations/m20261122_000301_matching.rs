use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

use kit::db::create_index as index;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Communities: division data plus the profile workers maintain. The
        // profile is JSON (read whole); what lists filter on has its own column.
        m.create_table(
            Table::create()
                .table("communities")
                .col(string_len("code", 12).primary_key())
                .col(string_len("name", 128))
                .col(string_len("street_code", 9))
                .col(string_len("street_name", 128))
                .col(string_len("district_code", 6))
                .col(string_len("district_name", 128))
                .col(double("lon"))
                .col(double("lat"))
                .col(boolean("location_synthetic"))
                .col(text("profile"))
                .col(string_len("renovation", 16).default(""))
                .col(text("tags").default("[]"))
                .col(integer("demand"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(string_len_null("updated_by", 36))
                .to_owned(),
        )
        .await?;

        // The read model of qualified professionals (from qualification's
        // events) and what they set themselves (capacity, availability).
        m.create_table(
            Table::create()
                .table("professionals")
                .col(string_len("account_id", 36).primary_key())
                .col(string_len("application_id", 36))
                .col(string_len("real_name", 64))
                .col(string_len("profession", 32))
                .col(text("specialties"))
                .col(text("service_regions"))
                .col(double_null("lon"))
                .col(double_null("lat"))
                .col(string_len("employer_name", 128))
                .col(string_len("status", 16))
                .col(string_len("status_reason", 256).default(""))
                .col(string_len("qualified_until", 10).default(""))
                .col(integer("capacity"))
                .col(boolean("available"))
                .col(double("star_rating").default(0.0))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("professional_regions")
                .col(string_len("account_id", 36))
                .col(string_len("region_code", 12))
                .primary_key(Index::create().col("account_id").col("region_code"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "professional_regions",
            "professional_regions_code",
            &["region_code"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("matches")
                .col(string_len("id", 36).primary_key())
                .col(string_len("community_code", 12))
                .col(string_len("professional_id", 36))
                .col(string_len("initiated_by", 16))
                .col(string_len("state", 16))
                .col(string_len("message", 512).default(""))
                .col(string_len("created_by", 36))
                .col(double("distance_km"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("responded_at"))
                // Seconds the answering side took; kept for response statistics.
                .col(big_integer_null("response_secs"))
                .col(timestamp_with_time_zone_null("confirmed_at"))
                .col(timestamp_with_time_zone_null("ended_at"))
                .col(string_len("end_reason", 512).default(""))
                .col(string_len("ended_by", 16).default(""))
                .col(string_len("assignment_id", 36).default(""))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "matches",
            "matches_professional",
            &["professional_id", "state"],
            false,
        )
        .await?;
        index(m, "matches", "matches_community", &["community_code", "state"], false).await?;
        index(m, "matches", "matches_expiry", &["state", "expires_at"], false).await?;

        m.create_table(
            Table::create()
                .table("needs")
                .col(string_len("id", 36).primary_key())
                .col(string_len("community_code", 12))
                .col(string_len("category_code", 32))
                .col(text("description"))
                .col(double_null("lon"))
                .col(double_null("lat"))
                .col(string_len("address", 256))
                .col(text("media_urls"))
                .col(boolean("contact_consent"))
                .col(string_len("submitter_id", 36))
                .col(string_len("state", 24))
                .col(text("status_note"))
                .col(string_len("agency_responsible", 128))
                .col(string_len("professional_id", 36).default(""))
                .col(string_len("team_id", 36).default(""))
                .col(string_len("duplicate_of", 36).default(""))
                .col(timestamp_with_time_zone("requested_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone("expected_at"))
                .col(integer("satisfaction").default(0))
                .col(text("evaluation_comment"))
                .to_owned(),
        )
        .await?;
        index(m, "needs", "needs_community", &["community_code", "state"], false).await?;
        index(m, "needs", "needs_expected", &["expected_at"], false).await?;
        index(m, "needs", "needs_professional", &["professional_id"], false).await?;
        m.create_table(
            Table::create()
                .table("need_history")
                .col(string_len("need_id", 36))
                .col(integer("seq"))
                .col(string_len("from_state", 24))
                .col(string_len("to_state", 24))
                .col(string_len("action", 24))
                .col(text("note"))
                .col(string_len("actor_id", 36))
                .col(timestamp_with_time_zone("at"))
                .primary_key(Index::create().col("need_id").col("seq"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("teams")
                .col(string_len("id", 36).primary_key())
                .col(string_len("kind", 24))
                .col(string_len("name", 128))
                .col(string_len("region_code", 12))
                .col(string_len("region_name", 128))
                .col(string_len("parent_id", 36).default(""))
                // Set for kinds limited to one per region; unique, so two
                // concurrent creations cannot both succeed.
                .col(string_len_null("unique_key", 48))
                .col(string_len("created_by", 36))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        index(m, "teams", "teams_region", &["region_code"], false).await?;
        index(m, "teams", "teams_unique_key", &["unique_key"], true).await?;
        m.create_table(
            Table::create()
                .table("team_members")
                .col(string_len("team_id", 36))
                .col(string_len("account_id", 36))
                .col(string_len("display_name", 64))
                .col(string_len("role", 16))
                .col(boolean("resident"))
                .col(timestamp_with_time_zone("joined_at"))
                .primary_key(Index::create().col("team_id").col("account_id"))
                .to_owned(),
        )
        .await?;
        index(m, "team_members", "team_members_account", &["account_id"], false).await?;

        m.create_table(
            Table::create()
                .table("assignments")
                .col(string_len("id", 36).primary_key())
                .col(string_len("region_code", 12))
                .col(double("max_distance_km"))
                .col(string_len("state", 16))
                .col(text("result"))
                .col(integer("invitations_sent").default(0))
                .col(double("solve_millis"))
                .col(string_len("created_by", 36))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
