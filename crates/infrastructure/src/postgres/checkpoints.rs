//! Processor checkpoints in Postgres (`processor_checkpoints`): for processors whose state
//! lives in Postgres, written in the same transaction as that state.

use sqlx::{PgPool, Postgres, Transaction};
use telemetry_application::ports::{LogPosition, PortError};

use super::port_error;

/// Processor `name`'s checkpoint, if it has one.
pub(super) async fn read_checkpoint(
    pool: &PgPool,
    name: &str,
) -> Result<Option<LogPosition>, PortError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position FROM processor_checkpoints WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(port_error)?;
    Ok(row.map(|(transaction_id, position)| LogPosition {
        transaction_id: u64::try_from(transaction_id).unwrap_or_default(),
        position,
    }))
}

/// Records `position` as processor `name`'s checkpoint, which only moves forward: a write
/// behind the recorded position comes from an instance that lost its lease to one that has
/// since processed further, and fails (the caller's transaction is then rolled back, and
/// that instance resumes from the checkpoint if it gets the lease again).
pub(super) async fn save_checkpoint(
    transaction: &mut Transaction<'_, Postgres>,
    name: &str,
    position: LogPosition,
) -> Result<(), PortError> {
    let saved = sqlx::query(
        "INSERT INTO processor_checkpoints (name, transaction_id, position) \
         VALUES ($1, $2::text::xid8, $3) \
         ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, \
             position = EXCLUDED.position, updated_at = now() \
         WHERE (processor_checkpoints.transaction_id, processor_checkpoints.position) \
             <= (EXCLUDED.transaction_id, EXCLUDED.position)",
    )
    .bind(name)
    .bind(position.transaction_id.to_string())
    .bind(position.position)
    .execute(&mut **transaction)
    .await
    .map_err(port_error)?;
    if saved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(PortError::failed(format!(
            "the checkpoint of {name} is already past {}/{}: another instance processed further",
            position.transaction_id, position.position
        )))
    }
}
