//! Events identity publishes on its EventStreamService: `AccountCreated`,
//! `AccountUpdated`, `RoleGranted`, `RoleRevoked` (package
//! `sanshi.identity.v1`). Other services keep read models of accounts from them.

use kit::events::EventPayload;

pub const PRODUCER: &str = "identity";
pub const ACCOUNT: &str = "account";

/// Publishes an account event inside the caller's transaction, which has
/// already written (and so locked) the account's rows.
pub async fn publish<P: EventPayload>(
    txn: &impl sea_orm::ConnectionTrait,
    account_id: &str,
    payload: &P,
) -> Result<(), sea_orm::DbErr> {
    kit::events::publish(txn, PRODUCER, ACCOUNT, account_id, payload)
        .await
        .map(|_| ())
}
