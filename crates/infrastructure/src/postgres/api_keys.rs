//! The API key list in Postgres (`migrations/0010_api_key_catalog.sql`), written by the
//! `api_keys` processor together with its checkpoint.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use telemetry_application::ports::{
    ApiKeyCatalog, ApiKeyChange, ApiKeyRecord, CatalogStore, LogPosition, PortError,
};
use telemetry_domain::values::{ApiKeyId, TenantId, Timestamp};

use super::checkpoints::{read_checkpoint, save_checkpoint};
use super::port_error;

pub struct PostgresApiKeyCatalog {
    pool: PgPool,
}

impl PostgresApiKeyCatalog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn timestamp(value: DateTime<Utc>) -> Result<Timestamp, PortError> {
    Timestamp::from_datetime(value).map_err(PortError::failed)
}

fn key_record(row: &PgRow) -> Result<ApiKeyRecord, PortError> {
    let key_id: String = row.try_get("key_id").map_err(port_error)?;
    let tenant: String = row.try_get("tenant_id").map_err(port_error)?;
    let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at").map_err(port_error)?;
    Ok(ApiKeyRecord {
        key_id: ApiKeyId::parse(key_id).map_err(PortError::failed)?,
        tenant_id: TenantId::parse(tenant).map_err(PortError::failed)?,
        label: row.try_get("label").map_err(port_error)?,
        issued_at: timestamp(row.try_get("issued_at").map_err(port_error)?)?,
        issued_by: row.try_get("issued_by").map_err(port_error)?,
        revoked_at: revoked_at.map(timestamp).transpose()?,
        revoked_by: row.try_get("revoked_by").map_err(port_error)?,
    })
}

#[async_trait]
impl CatalogStore<ApiKeyChange> for PostgresApiKeyCatalog {
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError> {
        read_checkpoint(&self.pool, name).await
    }

    async fn apply(
        &self,
        name: &str,
        changes: &[ApiKeyChange],
        position: LogPosition,
    ) -> Result<(), PortError> {
        let mut transaction = self.pool.begin().await.map_err(port_error)?;
        for change in changes {
            let statement = match change {
                // Issuing an issued key again (start-up registers `API_KEYS` every time)
                // changes nothing: the first issue is the one listed.
                ApiKeyChange::Issued(key) => sqlx::query(
                    "INSERT INTO api_keys (key_id, tenant_id, label, issued_at, issued_by) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id) DO NOTHING",
                )
                .bind(key.key_id.as_str())
                .bind(key.tenant_id.as_str())
                .bind(&key.label)
                .bind(key.issued_at.to_datetime())
                .bind(&key.issued_by),
                ApiKeyChange::Revoked {
                    key_id,
                    revoked_at,
                    revoked_by,
                } => sqlx::query(
                    "UPDATE api_keys SET revoked_at = $2, revoked_by = $3 \
                     WHERE key_id = $1 AND revoked_at IS NULL",
                )
                .bind(key_id.as_str())
                .bind(revoked_at.to_datetime())
                .bind(revoked_by),
            };
            statement
                .execute(&mut *transaction)
                .await
                .map_err(port_error)?;
        }
        save_checkpoint(&mut transaction, name, position).await?;
        transaction.commit().await.map_err(port_error)
    }
}

#[async_trait]
impl ApiKeyCatalog for PostgresApiKeyCatalog {
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, PortError> {
        let rows = sqlx::query(
            "SELECT key_id, tenant_id, label, issued_at, issued_by, revoked_at, revoked_by \
             FROM api_keys WHERE tenant_id = $1 ORDER BY issued_at DESC, key_id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        rows.iter().map(key_record).collect()
    }
}
