use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

use kit::db::create_index as index;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Services districts added to the standard list.
        m.create_table(
            Table::create()
                .table("service_types")
                .col(string_len("district_code", 6))
                .col(string_len("code", 32))
                .col(string_len("name", 32))
                .primary_key(Index::create().col("district_code").col("code"))
                .to_owned(),
        )
        .await?;

        // Read model of matching's matches: who, where, and when active.
        m.create_table(
            Table::create()
                .table("match_views")
                .col(string_len("match_id", 36).primary_key())
                .col(string_len("professional_id", 36))
                .col(string_len("community_code", 12))
                .col(string_len("profession", 32))
                .col(double_null("professional_lon"))
                .col(double_null("professional_lat"))
                .col(string_len("state", 16))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("match_intervals")
                .col(string_len("match_id", 36))
                .col(timestamp_with_time_zone("from_at"))
                .col(timestamp_with_time_zone_null("to_at"))
                .primary_key(Index::create().col("match_id").col("from_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("community_positions")
                .col(string_len("code", 12).primary_key())
                .col(double("lon"))
                .col(double("lat"))
                .col(boolean("synthetic"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("records")
                .col(string_len("id", 36).primary_key())
                .col(string_len("match_id", 36))
                .col(string_len("professional_id", 36))
                .col(string_len("community_code", 12))
                .col(string_len("state", 16))
                .col(integer("version"))
                .col(text("content"))
                .col(timestamp_with_time_zone("start_at"))
                .col(timestamp_with_time_zone("end_at"))
                .col(boolean("far_check_in"))
                .col(double("check_in_distance_km"))
                .col(double("distance_km"))
                .col(string_len("distance_method", 64))
                .col(text("dispute_reason"))
                .col(text_null("pending_amendment"))
                .col(text("amendment_reason"))
                .col(integer("community_rating").default(0))
                .col(text("community_comment"))
                .col(timestamp_with_time_zone("submitted_at"))
                .col(timestamp_with_time_zone_null("confirmed_at"))
                .col(timestamp_with_time_zone_null("rating_closes_at"))
                .col(timestamp_with_time_zone_null("scored_at"))
                .col(timestamp_with_time_zone("updated_at"))
                // The submission's idempotency key and a hash of its body.
                .col(string_len("request_id", 128))
                .col(string_len("request_hash", 64))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "records",
            "records_request",
            &["professional_id", "request_id"],
            true,
        )
        .await?;
        index(
            m,
            "records",
            "records_professional_time",
            &["professional_id", "start_at"],
            false,
        )
        .await?;
        index(m, "records", "records_community", &["community_code", "state"], false).await?;
        index(m, "records", "records_scoring", &["state", "rating_closes_at"], false).await?;
        m.create_table(
            Table::create()
                .table("record_history")
                .col(string_len("record_id", 36))
                .col(integer("seq"))
                .col(integer("version"))
                .col(string_len("action", 32))
                .col(string_len("actor_id", 36))
                .col(text("reason"))
                .col(text_null("content"))
                .col(timestamp_with_time_zone("at"))
                .primary_key(Index::create().col("record_id").col("seq"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("rating_codes")
                .col(string_len("code", 16).primary_key())
                .col(string_len("record_id", 36))
                .col(timestamp_with_time_zone("expires_at"))
                .to_owned(),
        )
        .await?;
        index(m, "rating_codes", "rating_codes_record", &["record_id"], true).await?;
        m.create_table(
            Table::create()
                .table("resident_ratings")
                .col(string_len("record_id", 36))
                .col(string_len("contact_hash", 64))
                .col(integer("rating"))
                .col(text("comment"))
                .col(timestamp_with_time_zone("at"))
                .primary_key(Index::create().col("record_id").col("contact_hash"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("attachments")
                .col(string_len("id", 36).primary_key())
                .col(string_len("object_path", 128))
                .col(string_len("file_name", 128))
                .col(string_len("content_type", 64))
                .col(big_integer("size_bytes"))
                .col(string_len("sha256", 64))
                .col(string_len("uploader_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("surveys")
                .col(string_len("id", 36).primary_key())
                .col(string_len("kind", 16))
                .col(string_len("title", 128))
                .col(string_len("region_code", 12))
                .col(string_len("period", 16))
                .col(text("questions"))
                .col(timestamp_with_time_zone("opens_at"))
                .col(timestamp_with_time_zone_null("closes_at"))
                .col(string_len("created_by", 36))
                .to_owned(),
        )
        .await?;
        index(m, "surveys", "surveys_region", &["region_code"], false).await?;
        m.create_table(
            Table::create()
                .table("survey_responses")
                .col(string_len("survey_id", 36))
                .col(string_len("respondent_id", 36))
                .col(string_len("community_code", 12))
                .col(text("answers"))
                .col(timestamp_with_time_zone("at"))
                .primary_key(Index::create().col("survey_id").col("respondent_id"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "survey_responses",
            "survey_responses_community",
            &["community_code"],
            false,
        )
        .await?;
        Ok(())
    }
}
