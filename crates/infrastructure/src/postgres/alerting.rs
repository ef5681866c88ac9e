//! Alerting state in Postgres: the rule catalog, the evaluator's windows and the notification
//! outbox. Every write by a processor stores its log position in the same transaction.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use telemetry_application::commands::TENANT_METADATA_KEY;
use telemetry_application::ports::{
    AlertRuleStore, AlertStateStore, Delivery, DeliveryQueue, DeliveryStatus, LogPosition,
    NewDelivery, PortError, RuleChange, RuleRecord,
};
use telemetry_domain::alert::window::SeriesWindow;
use telemetry_domain::alert_rule::{AlertRule, AlertRuleEvent, Channel, RuleDefinition};
use telemetry_domain::values::{TenantId, Timestamp};

use super::checkpoints::{read_checkpoint, save_checkpoint};
use super::port_error;

pub struct PostgresAlerting {
    pool: PgPool,
}

impl PostgresAlerting {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError> {
        read_checkpoint(&self.pool, name).await
    }
}

fn datetime(timestamp: Timestamp) -> DateTime<Utc> {
    timestamp.to_datetime()
}

fn timestamp(value: DateTime<Utc>) -> Result<Timestamp, PortError> {
    Timestamp::from_datetime(value).map_err(PortError::failed)
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, PortError> {
    serde_json::to_value(value).map_err(PortError::failed)
}

fn rule_record(row: &PgRow) -> Result<RuleRecord, PortError> {
    let definition: serde_json::Value = row.try_get("definition").map_err(port_error)?;
    let tenant: String = row.try_get("tenant_id").map_err(port_error)?;
    let version: i64 = row.try_get("version").map_err(port_error)?;
    Ok(RuleRecord {
        rule_id: row.try_get("rule_id").map_err(port_error)?,
        tenant_id: TenantId::parse(tenant).map_err(PortError::failed)?,
        definition: serde_json::from_value::<RuleDefinition>(definition)
            .map_err(PortError::failed)?,
        enabled: row.try_get("enabled").map_err(port_error)?,
        version: u64::try_from(version).unwrap_or_default(),
        created_at: timestamp(row.try_get("created_at").map_err(port_error)?)?,
        updated_at: timestamp(row.try_get("updated_at").map_err(port_error)?)?,
        watching_since: timestamp(row.try_get("watching_since").map_err(port_error)?)?,
    })
}

/// Whether the rule `rule_id`, as the catalog holds it, watches like `definition` (so its
/// watching goes on through the change). A rule the catalog does not hold has nothing to
/// go on with.
async fn watches_like(
    transaction: &mut sqlx::PgConnection,
    rule_id: &str,
    definition: &RuleDefinition,
) -> Result<bool, PortError> {
    let current: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT definition FROM alert_rules WHERE rule_id = $1")
            .bind(rule_id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(port_error)?;
    Ok(current
        .and_then(|current| serde_json::from_value::<RuleDefinition>(current).ok())
        .is_some_and(|current| current.watches_like(definition)))
}

const RULE_COLUMNS: &str =
    "rule_id, tenant_id, definition, enabled, version, created_at, updated_at, watching_since";

#[async_trait]
impl AlertRuleStore for PostgresAlerting {
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError> {
        PostgresAlerting::checkpoint(self, name).await
    }

    async fn apply(
        &self,
        name: &str,
        changes: &[RuleChange],
        position: LogPosition,
    ) -> Result<(), PortError> {
        let mut transaction = self.pool.begin().await.map_err(port_error)?;
        for change in changes {
            let statement = match change {
                RuleChange::Created(rule) => sqlx::query(
                    "INSERT INTO alert_rules (rule_id, tenant_id, definition, enabled, version, created_at, updated_at, watching_since) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $6) \
                     ON CONFLICT (rule_id) DO UPDATE SET definition = EXCLUDED.definition, \
                         enabled = EXCLUDED.enabled, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, \
                         watching_since = EXCLUDED.watching_since",
                )
                .bind(&rule.rule_id)
                .bind(rule.tenant_id.as_str())
                .bind(json(&rule.definition)?)
                .bind(rule.enabled)
                .bind(i64::try_from(rule.version).unwrap_or(i64::MAX))
                .bind(datetime(rule.created_at)),
                RuleChange::Updated {
                    rule_id,
                    definition,
                    version,
                    at,
                } => sqlx::query(
                    "UPDATE alert_rules SET definition = $2, version = $3, updated_at = $4, \
                         watching_since = CASE WHEN $5 THEN watching_since ELSE $4 END \
                     WHERE rule_id = $1",
                )
                .bind(rule_id)
                .bind(json(definition)?)
                .bind(i64::try_from(*version).unwrap_or(i64::MAX))
                .bind(datetime(*at))
                .bind(watches_like(&mut transaction, rule_id, definition).await?),
                RuleChange::Enabled {
                    rule_id,
                    enabled,
                    version,
                    at,
                } => sqlx::query(
                    "UPDATE alert_rules SET enabled = $2, version = $3, updated_at = $4, \
                         watching_since = CASE WHEN $2 AND NOT enabled THEN $4 ELSE watching_since END \
                     WHERE rule_id = $1",
                )
                .bind(rule_id)
                .bind(*enabled)
                .bind(i64::try_from(*version).unwrap_or(i64::MAX))
                .bind(datetime(*at)),
                RuleChange::Deleted { rule_id } => {
                    sqlx::query("DELETE FROM alert_rules WHERE rule_id = $1").bind(rule_id)
                }
            };
            statement
                .execute(&mut *transaction)
                .await
                .map_err(port_error)?;
        }
        save_checkpoint(&mut transaction, name, position).await?;
        transaction.commit().await.map_err(port_error)
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<RuleRecord>, PortError> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant_id = $1 ORDER BY created_at, rule_id"
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        rows.iter().map(rule_record).collect()
    }

    async fn enabled(&self) -> Result<Vec<RuleRecord>, PortError> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        rows.iter().map(rule_record).collect()
    }

    async fn count(&self, tenant: &TenantId) -> Result<u64, PortError> {
        // Rule streams are few: the primary key's aggregate_type prefix reads only them.
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE event_type = $2) - count(*) FILTER (WHERE event_type = $3) \
             FROM events WHERE aggregate_type = $1 AND metadata ->> $4 = $5",
        )
        .bind(<AlertRule as cqrs_es::Aggregate>::TYPE)
        .bind(AlertRuleEvent::CREATED)
        .bind(AlertRuleEvent::DELETED)
        .bind(TENANT_METADATA_KEY)
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

#[async_trait]
impl AlertStateStore for PostgresAlerting {
    async fn load(
        &self,
        name: &str,
    ) -> Result<(Option<LogPosition>, Vec<(String, String, SeriesWindow)>), PortError> {
        let position = self.checkpoint(name).await?;
        let rows: Vec<(String, String, serde_json::Value)> =
            sqlx::query_as("SELECT rule_id, series, state FROM alert_windows")
                .fetch_all(&self.pool)
                .await
                .map_err(port_error)?;
        let windows = rows
            .into_iter()
            .filter_map(|(rule_id, series, state)| {
                match serde_json::from_value::<SeriesWindow>(state) {
                    Ok(window) => Some((rule_id, series, window)),
                    Err(error) => {
                        // Written by an older version: the series starts with an empty window.
                        tracing::warn!(rule_id, series, error = %error, "alert window skipped");
                        None
                    }
                }
            })
            .collect();
        Ok((position, windows))
    }

    async fn save(
        &self,
        name: &str,
        position: LogPosition,
        windows: &[(String, String, Option<SeriesWindow>)],
    ) -> Result<(), PortError> {
        let mut upserts: (Vec<&str>, Vec<&str>, Vec<serde_json::Value>) = Default::default();
        let mut deletes: (Vec<&str>, Vec<&str>) = Default::default();
        for (rule_id, series, window) in windows {
            match window {
                Some(window) => {
                    upserts.0.push(rule_id);
                    upserts.1.push(series);
                    upserts.2.push(json(window)?);
                }
                None => {
                    deletes.0.push(rule_id);
                    deletes.1.push(series);
                }
            }
        }
        // One statement each, however many series changed (a tick can touch thousands).
        let mut transaction = self.pool.begin().await.map_err(port_error)?;
        if !upserts.0.is_empty() {
            sqlx::query(
                "INSERT INTO alert_windows (rule_id, series, state) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[]) \
                 ON CONFLICT (rule_id, series) DO UPDATE SET state = EXCLUDED.state",
            )
            .bind(&upserts.0)
            .bind(&upserts.1)
            .bind(&upserts.2)
            .execute(&mut *transaction)
            .await
            .map_err(port_error)?;
        }
        if !deletes.0.is_empty() {
            sqlx::query(
                "DELETE FROM alert_windows w USING UNNEST($1::text[], $2::text[]) AS d(rule_id, series) \
                 WHERE w.rule_id = d.rule_id AND w.series = d.series",
            )
            .bind(&deletes.0)
            .bind(&deletes.1)
            .execute(&mut *transaction)
            .await
            .map_err(port_error)?;
        }
        save_checkpoint(&mut transaction, name, position).await?;
        transaction.commit().await.map_err(port_error)
    }
}

const DELIVERY_COLUMNS: &str =
    "id, notification_id, tenant_id, channel, body, status, attempts, last_error, created_at, updated_at";

fn delivery(row: &PgRow) -> Result<Delivery, PortError> {
    let tenant: String = row.try_get("tenant_id").map_err(port_error)?;
    let channel: serde_json::Value = row.try_get("channel").map_err(port_error)?;
    let status: String = row.try_get("status").map_err(port_error)?;
    let attempts: i32 = row.try_get("attempts").map_err(port_error)?;
    Ok(Delivery {
        id: row.try_get("id").map_err(port_error)?,
        notification_id: row.try_get("notification_id").map_err(port_error)?,
        tenant_id: TenantId::parse(tenant).map_err(PortError::failed)?,
        channel: serde_json::from_value::<Channel>(channel).map_err(PortError::failed)?,
        body: row.try_get("body").map_err(port_error)?,
        status: match status.as_str() {
            "delivered" => DeliveryStatus::Delivered,
            "dead" => DeliveryStatus::Dead,
            _ => DeliveryStatus::Pending,
        },
        attempts: u32::try_from(attempts).unwrap_or_default(),
        last_error: row.try_get("last_error").map_err(port_error)?,
        created_at: row.try_get("created_at").map_err(port_error)?,
        updated_at: row.try_get("updated_at").map_err(port_error)?,
    })
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

#[async_trait]
impl DeliveryQueue for PostgresAlerting {
    async fn checkpoint(&self, name: &str) -> Result<Option<LogPosition>, PortError> {
        PostgresAlerting::checkpoint(self, name).await
    }

    async fn enqueue(
        &self,
        name: &str,
        deliveries: &[NewDelivery],
        position: LogPosition,
    ) -> Result<(), PortError> {
        let mut columns: [Vec<&str>; 4] = Default::default();
        let mut channels = Vec::with_capacity(deliveries.len());
        for new in deliveries {
            columns[0].push(&new.id);
            columns[1].push(&new.notification_id);
            columns[2].push(new.tenant_id.as_str());
            columns[3].push(&new.body);
            channels.push(json(&new.channel)?);
        }
        let mut transaction = self.pool.begin().await.map_err(port_error)?;
        if !deliveries.is_empty() {
            sqlx::query(
                "INSERT INTO notification_deliveries (id, notification_id, tenant_id, body, channel) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&columns[0])
            .bind(&columns[1])
            .bind(&columns[2])
            .bind(&columns[3])
            .bind(&channels)
            .execute(&mut *transaction)
            .await
            .map_err(port_error)?;
        }
        save_checkpoint(&mut transaction, name, position).await?;
        transaction.commit().await.map_err(port_error)
    }

    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<Delivery>, PortError> {
        let rows = sqlx::query(&format!(
            "UPDATE notification_deliveries SET attempts = attempts + 1, \
                 next_attempt_at = now() + make_interval(secs => $2), updated_at = now() \
             WHERE id IN (SELECT id FROM notification_deliveries \
                          WHERE status = 'pending' AND next_attempt_at <= now() \
                          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING {DELIVERY_COLUMNS}"
        ))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(seconds(lease))
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        rows.iter().map(delivery).collect()
    }

    async fn delivered(&self, delivery: &Delivery) -> Result<(), PortError> {
        sqlx::query(
            "UPDATE notification_deliveries SET status = 'delivered', last_error = NULL, updated_at = now() \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(&delivery.id)
        .execute(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(())
    }

    async fn failed(
        &self,
        delivery: &Delivery,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), PortError> {
        let statement = match retry_in {
            Some(wait) => sqlx::query(
                "UPDATE notification_deliveries SET last_error = $3, \
                     next_attempt_at = now() + make_interval(secs => $4), updated_at = now() \
                 WHERE id = $1 AND status = 'pending' AND attempts = $2",
            )
            .bind(&delivery.id)
            .bind(i32::try_from(delivery.attempts).unwrap_or(i32::MAX))
            .bind(error)
            .bind(seconds(wait)),
            None => sqlx::query(
                "UPDATE notification_deliveries SET status = 'dead', last_error = $3, updated_at = now() \
                 WHERE id = $1 AND status = 'pending' AND attempts = $2",
            )
            .bind(&delivery.id)
            .bind(i32::try_from(delivery.attempts).unwrap_or(i32::MAX))
            .bind(error),
        };
        statement.execute(&self.pool).await.map_err(port_error)?;
        Ok(())
    }

    async fn dead_letters(
        &self,
        tenant: &TenantId,
        limit: u64,
    ) -> Result<Vec<Delivery>, PortError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
             WHERE tenant_id = $1 AND status = 'dead' ORDER BY updated_at DESC, id LIMIT $2"
        ))
        .bind(tenant.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(port_error)?;
        rows.iter().map(delivery).collect()
    }

    async fn dead_letter(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<Delivery>, PortError> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
             WHERE id = $1 AND tenant_id = $2 AND status = 'dead'"
        ))
        .bind(id)
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(port_error)?;
        row.as_ref().map(delivery).transpose()
    }

    async fn purge_settled(
        &self,
        keep_delivered: Duration,
        keep_dead: Duration,
    ) -> Result<u64, PortError> {
        let result = sqlx::query(
            "DELETE FROM notification_deliveries \
             WHERE (status = 'delivered' AND updated_at < now() - make_interval(secs => $1)) \
                OR (status = 'dead' AND updated_at < now() - make_interval(secs => $2))",
        )
        .bind(seconds(keep_delivered))
        .bind(seconds(keep_dead))
        .execute(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(result.rows_affected())
    }

    async fn requeue(&self, tenant: &TenantId, id: &str) -> Result<bool, PortError> {
        let result = sqlx::query(
            "UPDATE notification_deliveries SET status = 'pending', attempts = 0, \
                 next_attempt_at = now(), updated_at = now() \
             WHERE id = $1 AND tenant_id = $2 AND status = 'dead'",
        )
        .bind(id)
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await
        .map_err(port_error)?;
        Ok(result.rows_affected() == 1)
    }
}
