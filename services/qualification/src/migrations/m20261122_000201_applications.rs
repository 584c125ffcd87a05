use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The current state of each application; personal data sealed, the
        // rest of the form as JSON (it is read whole and never queried inside).
        m.create_table(
            Table::create()
                .table("applications")
                .col(string_len("id", 36).primary_key())
                .col(string_len("account_id", 36))
                .col(string_len("state", 32))
                .col(integer("version"))
                .col(string_len("real_name", 64))
                .col(blob_null("id_sealed"))
                .col(string_len_null("id_hash", 64))
                .col(blob_null("phone_sealed"))
                .col(string_len_null("profession", 32))
                .col(text("form"))
                .col(text("findings"))
                .col(integer_null("years_of_practice"))
                .col(string_len_null("qualified_until", 10))
                .col(string_len_null("duplicate_of", 36))
                .col(timestamp_with_time_zone_null("submitted_at"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("applications_account", "account_id"),
            ("applications_id_hash", "id_hash"),
            ("applications_state", "state"),
        ] {
            m.create_index(Index::create().name(name).table("applications").col(col).to_owned())
                .await?;
        }

        // Requested service regions, for scope checks and the reviewer queue.
        m.create_table(
            Table::create()
                .table("application_regions")
                .col(string_len("application_id", 36))
                .col(string_len("region_code", 12))
                .primary_key(Index::create().col("application_id").col("region_code"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("application_regions_code")
                .table("application_regions")
                .col("region_code")
                .to_owned(),
        )
        .await?;

        // Every submitted version, frozen.
        m.create_table(
            Table::create()
                .table("application_versions")
                .col(string_len("application_id", 36))
                .col(integer("version"))
                .col(string_len("real_name", 64))
                .col(blob_null("id_sealed"))
                .col(blob_null("phone_sealed"))
                .col(text("form"))
                .col(text("findings"))
                .col(timestamp_with_time_zone("submitted_at"))
                .primary_key(Index::create().col("application_id").col("version"))
                .to_owned(),
        )
        .await?;

        // Every decision: who, what, why, when. Append-only.
        m.create_table(
            Table::create()
                .table("decisions")
                .col(big_pk_auto("id"))
                .col(string_len("application_id", 36))
                .col(string_len("decision", 32))
                .col(string_len("from_state", 32))
                .col(string_len("to_state", 32))
                .col(text("reason"))
                .col(string_len("reviewer_account_id", 36))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("decisions_application")
                .table("decisions")
                .col("application_id")
                .to_owned(),
        )
        .await?;

        // Every read of unmasked personal data: who read whose, when.
        m.create_table(
            Table::create()
                .table("pii_reads")
                .col(big_pk_auto("id"))
                .col(string_len("application_id", 36))
                .col(string_len("reader_account_id", 36))
                .col(timestamp_with_time_zone("read_at"))
                .to_owned(),
        )
        .await
    }
}
