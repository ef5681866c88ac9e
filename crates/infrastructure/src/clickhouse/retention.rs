//! Retention in ClickHouse: whole monthly partitions that lie before every tenant's cutoff
//! are dropped (cheap: files are unlinked); what is left past a tenant's cutoff is deleted
//! with one `ALTER TABLE ... DELETE` per table and run, naming every tenant's cutoff at once.
//! Both work on 18.16 (no TTL) and current servers.
//!
//! The raw events, the audit log and the alert history are their own checkpoints (their
//! processors resume after the row with the largest source position): the rows of that
//! source event, and the partition holding them, are never removed, so a processor never
//! starts again from an older position and writes rows twice.

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use telemetry_application::ports::{
    AnalyticsBytes, AnalyticsRetention, PortError, StoreCutoffs, StoreEnforcement,
};
use telemetry_domain::tenant_policy::RetainedStore;
use telemetry_domain::values::TenantId;

use super::{port_error, ClickHouse};

/// How long a run waits for one table's delete to finish before reporting it unfinished
/// (ClickHouse goes on with it; the next run finds fewer rows).
const DELETE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(600);

/// One table of a store: its name, its time column, whether it is a checkpoint, and whether
/// whole partitions of it may be dropped.
struct Table {
    name: &'static str,
    time: &'static str,
    checkpoint: bool,
    droppable: bool,
}

const fn rollup(name: &'static str) -> Table {
    Table {
        name,
        time: "bucket",
        checkpoint: false,
        droppable: true,
    }
}

fn tables(store: RetainedStore) -> Vec<Table> {
    let logged = |name| Table {
        name,
        time: "occurred_at",
        checkpoint: true,
        droppable: true,
    };
    match store {
        // Never dropped whole: a row written into an old month while it is dropped could
        // be the newest, and a processor started again would then write its events again,
        // which the rollups (kept longer) would count twice. Deletes spare every row from
        // the checkpoint on.
        RetainedStore::Events => vec![Table {
            name: "events",
            time: "timestamp",
            checkpoint: true,
            droppable: false,
        }],
        RetainedStore::MinuteRollups => vec![
            rollup("event_counts_1m"),
            rollup("user_counts_1m"),
            rollup("metric_stats_1m"),
            rollup("metric_overall_1m"),
            rollup("metric_runs_1m"),
        ],
        RetainedStore::HourRollups => vec![
            rollup("event_counts_1h"),
            rollup("user_counts_1h"),
            rollup("metric_stats_1h"),
            rollup("metric_overall_1h"),
            rollup("metric_runs_1h"),
        ],
        RetainedStore::DayRollups => vec![
            rollup("event_counts_1d"),
            rollup("user_counts_1d"),
            rollup("metric_stats_1d"),
            rollup("metric_overall_1d"),
            rollup("metric_runs_1d"),
        ],
        RetainedStore::AuditLog => vec![logged("audit_log")],
        RetainedStore::AlertHistory => vec![logged("alert_history")],
    }
}

pub struct ClickHouseRetention {
    clickhouse: ClickHouse,
}

impl ClickHouseRetention {
    pub fn new(clickhouse: ClickHouse) -> Self {
        Self { clickhouse }
    }
}

/// The first instant after partition `YYYYMM` (epoch seconds).
fn month_end(partition: &str) -> Option<i64> {
    let value: u32 = partition.trim_matches('\'').parse().ok()?;
    let (year, month) = (i32::try_from(value / 100).ok()?, value % 100);
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some(next.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// The rows past `cutoffs` in `table` (tenant ids are validated names: letters, digits,
/// `_` and `-`, so quoting them is enough).
fn past_cutoffs(table: &Table, cutoffs: &StoreCutoffs) -> String {
    let quoted = |tenant: &telemetry_domain::values::TenantId| format!("'{}'", tenant.as_str());
    let time = table.time;
    let mut clauses = Vec::new();
    let chosen: Vec<String> = cutoffs.tenants.keys().map(quoted).collect();
    clauses.push(if chosen.is_empty() {
        format!("{time} < toDateTime({})", cutoffs.default_cutoff)
    } else {
        format!(
            "({time} < toDateTime({}) AND tenant_id NOT IN ({}))",
            cutoffs.default_cutoff,
            chosen.join(", ")
        )
    });
    for (tenant, cutoff) in &cutoffs.tenants {
        clauses.push(format!(
            "(tenant_id = {} AND {time} < toDateTime({cutoff}))",
            quoted(tenant)
        ));
    }
    format!("({})", clauses.join(" OR "))
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Checkpoint {
    src_tx: u64,
    src_pos: i64,
    partition: u32,
}

impl ClickHouseRetention {
    /// The source event of a checkpoint table's last row, and the partition holding it.
    async fn checkpoint(&self, table: &Table) -> Result<Option<Checkpoint>, PortError> {
        if !table.checkpoint {
            return Ok(None);
        }
        self.clickhouse
            .client()
            .query(&format!(
                "SELECT src_tx, src_pos, toYYYYMM({}) AS partition FROM {} \
                 ORDER BY src_tx DESC, src_pos DESC, src_idx DESC LIMIT 1",
                table.time, table.name
            ))
            .fetch_optional()
            .await
            .map_err(port_error)
    }

    async fn enforce_table(
        &self,
        table: &Table,
        cutoffs: &StoreCutoffs,
        done: &mut StoreEnforcement,
    ) -> Result<(), PortError> {
        let client = self.clickhouse.client();
        let checkpoint = self.checkpoint(table).await?;
        let partitions: Vec<String> = client
            .query(
                "SELECT DISTINCT partition FROM system.parts \
                 WHERE database = ? AND table = ? AND active ORDER BY partition",
            )
            .bind(self.clickhouse.database())
            .bind(table.name)
            .fetch_all()
            .await
            .map_err(port_error)?;
        let earliest = cutoffs.earliest();
        for partition in partitions {
            let Some(end) = month_end(&partition) else {
                continue;
            };
            let id = partition.trim_matches('\'');
            let holds_checkpoint = checkpoint
                .as_ref()
                .is_some_and(|row| row.partition.to_string() == id);
            if table.droppable && end <= earliest && !holds_checkpoint {
                client
                    .query(&format!("ALTER TABLE {} DROP PARTITION {id}", table.name))
                    .execute()
                    .await
                    .map_err(port_error)?;
                done.dropped_partitions.push(format!("{}:{id}", table.name));
            }
        }
        // Only rows strictly older than the checkpoint read above: the rows it resumes
        // after stay, and so does every row written since (a delete applies to the parts
        // present when it is issued, which may include rows written after that read).
        let mut predicate = past_cutoffs(table, cutoffs);
        if let Some(row) = &checkpoint {
            predicate.push_str(&format!(
                " AND (src_tx < {tx} OR (src_tx = {tx} AND src_pos < {pos}))",
                tx = row.src_tx,
                pos = row.src_pos
            ));
        }
        // The sort key starts with the tenant and the time: counting is a read of the few
        // granules past the cutoffs, and a table with nothing to delete is not rewritten.
        let past: u64 = client
            .query(&format!(
                "SELECT count() FROM {} WHERE {predicate}",
                table.name
            ))
            .fetch_one()
            .await
            .map_err(port_error)?;
        if past == 0 {
            return Ok(());
        }
        client
            .query(&format!(
                "ALTER TABLE {} DELETE WHERE {predicate}",
                table.name
            ))
            .execute()
            .await
            .map_err(port_error)?;
        done.deletes += 1;
        done.rows_past_cutoff += past;
        self.wait_for_mutations(table).await
    }

    /// Waits until ClickHouse has finished every mutation of `table` (deletes run in the
    /// background; 18.16 cannot wait for them in the statement).
    async fn wait_for_mutations(&self, table: &Table) -> Result<(), PortError> {
        let started = std::time::Instant::now();
        loop {
            let pending: u64 = self
                .clickhouse
                .client()
                .query(
                    "SELECT count() FROM system.mutations \
                     WHERE database = ? AND table = ? AND is_done = 0",
                )
                .bind(self.clickhouse.database())
                .bind(table.name)
                .fetch_one()
                .await
                .map_err(port_error)?;
            if pending == 0 {
                return Ok(());
            }
            if started.elapsed() > DELETE_PATIENCE {
                return Err(PortError::unavailable(format!(
                    "the delete of rows past retention in {} has not finished after {} s",
                    table.name,
                    DELETE_PATIENCE.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct TableSize {
    table: String,
    bytes: u64,
    rows: u64,
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct TableRows {
    table: String,
    rows: u64,
}

impl ClickHouseRetention {
    /// The bytes of `tenant`'s share of `tables` (tenant ids are validated names, quoted).
    async fn tenant_bytes(&self, tenant: &TenantId, tables: &[Table]) -> Result<u64, PortError> {
        let client = self.clickhouse.client();
        let names: Vec<&str> = tables.iter().map(|table| table.name).collect();
        let sizes: Vec<TableSize> = client
            .query(
                "SELECT table, sum(bytes_on_disk) AS bytes, sum(rows) AS rows FROM system.parts \
                 WHERE database = ? AND active AND has(?, table) GROUP BY table",
            )
            .bind(self.clickhouse.database())
            .bind(&names)
            .fetch_all()
            .await
            .map_err(port_error)?;
        if sizes.is_empty() {
            return Ok(0);
        }
        // The tenant's rows in every table at once: one round trip, not one per table. The
        // sort keys start with the tenant, so each count reads only its granules.
        let counts = sizes
            .iter()
            .map(|size| {
                format!(
                    "SELECT '{table}' AS table, count() AS rows FROM {table} \
                     WHERE tenant_id = '{tenant}'",
                    table = size.table,
                    tenant = tenant.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows: Vec<TableRows> = client
            .query(&counts)
            .fetch_all()
            .await
            .map_err(port_error)?;
        let mut bytes = 0u64;
        for size in sizes {
            let tenant_rows = rows
                .iter()
                .find(|row| row.table == size.table)
                .map_or(0, |row| row.rows);
            bytes = bytes.saturating_add(crate::share(size.bytes, tenant_rows, size.rows));
        }
        Ok(bytes)
    }
}

#[async_trait]
impl AnalyticsRetention for ClickHouseRetention {
    async fn stored_bytes(&self, tenant: &TenantId) -> Result<AnalyticsBytes, PortError> {
        let rollups: Vec<Table> = [
            RetainedStore::MinuteRollups,
            RetainedStore::HourRollups,
            RetainedStore::DayRollups,
        ]
        .into_iter()
        .flat_map(tables)
        .collect();
        Ok(AnalyticsBytes {
            raw_events: self
                .tenant_bytes(tenant, &tables(RetainedStore::Events))
                .await?,
            rollups: self.tenant_bytes(tenant, &rollups).await?,
        })
    }

    async fn enforce(&self, cutoffs: &StoreCutoffs) -> Result<StoreEnforcement, PortError> {
        let mut done = StoreEnforcement {
            store: cutoffs.store,
            dropped_partitions: Vec::new(),
            deletes: 0,
            rows_past_cutoff: 0,
        };
        for table in tables(cutoffs.store) {
            self.enforce_table(&table, cutoffs, &mut done).await?;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use telemetry_domain::values::TenantId;

    use super::*;

    #[test]
    fn partitions_end_with_their_month() {
        let end = |p| month_end(p).unwrap();
        assert_eq!(end("202611"), 1_796_083_200);
        assert_eq!(end("'202612'"), 1_798_761_600);
        assert!(month_end("tuple()").is_none());
    }

    #[test]
    fn one_delete_names_every_tenants_cutoff() {
        let cutoffs = StoreCutoffs {
            store: RetainedStore::Events,
            default_cutoff: 100,
            tenants: BTreeMap::from([(TenantId::parse("acme").unwrap(), 200)]),
        };
        let table = &tables(RetainedStore::Events)[0];
        assert_eq!(
            past_cutoffs(table, &cutoffs),
            "((timestamp < toDateTime(100) AND tenant_id NOT IN ('acme')) OR \
             (tenant_id = 'acme' AND timestamp < toDateTime(200)))"
        );
        assert_eq!(cutoffs.earliest(), 100);
    }
}
