//! Versioned ClickHouse DDL: the numbered files of `clickhouse/`, applied in order and
//! recorded in `schema_migrations`.
//!
//! Files are embedded at build time; a test checks that this list matches the folder.
//! Statements must be idempotent (`IF NOT EXISTS`), because a crash between a statement and
//! its record re-runs the file. ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`: an
//! `ALTER TABLE t ADD COLUMN c ...` statement is skipped when `t` already has `c`. Callers serialize concurrent instances (the server holds a
//! Postgres advisory lock while migrating).

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use telemetry_application::ports::PortError;

use super::{port_error, ClickHouse};

/// One DDL file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:expr, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../../../clickhouse/", $name)),
        }
    };
}

pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_events.sql"),
    migration!(2, "0002_rollups.sql"),
    migration!(3, "0003_audit_log.sql"),
    migration!(4, "0004_read_model_generations.sql"),
    migration!(5, "0005_metric_overall.sql"),
    migration!(6, "0006_alert_history.sql"),
    migration!(7, "0007_metric_kinds.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("clickhouse migration {name} was changed after it was applied")]
    ChecksumMismatch { name: &'static str },
    #[error("clickhouse migration {name} failed: {error}")]
    Statement {
        name: &'static str,
        error: PortError,
    },
    #[error(transparent)]
    Port(#[from] PortError),
}

#[derive(Row, Serialize, Deserialize)]
struct AppliedMigration {
    version: u32,
    name: String,
    checksum: String,
    applied_at: u32,
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32, name String, checksum String, applied_at DateTime
) ENGINE = MergeTree ORDER BY version";

/// Applies every migration not yet recorded; returns the versions applied now.
pub async fn apply_migrations(clickhouse: &ClickHouse) -> Result<Vec<u32>, MigrationError> {
    clickhouse.ensure_database().await?;
    let client = clickhouse.client();
    client
        .query(CREATE_TABLE)
        .execute()
        .await
        .map_err(port_error)?;
    let applied: Vec<AppliedMigration> = client
        .query("SELECT version, name, checksum, toUInt32(applied_at) FROM schema_migrations")
        .fetch_all()
        .await
        .map_err(port_error)?;

    let mut newly_applied = Vec::new();
    for migration in MIGRATIONS {
        let checksum = checksum(migration.sql);
        if let Some(previous) = applied.iter().find(|a| a.version == migration.version) {
            if previous.checksum != checksum {
                return Err(MigrationError::ChecksumMismatch {
                    name: migration.name,
                });
            }
            continue;
        }
        for statement in statements(migration.sql) {
            if let Some((table, column)) = added_column(&statement) {
                let present: u64 = client
                    .query(
                        "SELECT count() FROM system.columns \
                         WHERE database = currentDatabase() AND table = ? AND name = ?",
                    )
                    .bind(table)
                    .bind(column)
                    .fetch_one()
                    .await
                    .map_err(port_error)?;
                if present > 0 {
                    continue;
                }
            }
            client.query(&statement).execute().await.map_err(|error| {
                MigrationError::Statement {
                    name: migration.name,
                    error: port_error(error),
                }
            })?;
        }
        let mut insert = client
            .insert::<AppliedMigration>("schema_migrations")
            .await
            .map_err(port_error)?;
        let record = AppliedMigration {
            version: migration.version,
            name: migration.name.to_string(),
            checksum,
            applied_at: u32::try_from(chrono::Utc::now().timestamp()).unwrap_or_default(),
        };
        insert.write(&record).await.map_err(port_error)?;
        insert.end().await.map_err(port_error)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied clickhouse migration"
        );
        newly_applied.push(migration.version);
    }
    Ok(newly_applied)
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The table and column of an `ALTER TABLE <table> ADD COLUMN <column> ...` statement.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = statement.split_whitespace().take(6).collect();
    let keywords = [words.first()?, words.get(1)?, words.get(3)?, words.get(4)?];
    let expected = ["ALTER", "TABLE", "ADD", "COLUMN"];
    let is_add_column = keywords
        .iter()
        .zip(expected)
        .all(|(word, keyword)| word.eq_ignore_ascii_case(keyword));
    is_add_column
        .then(|| Some((words[2], *words.get(5)?)))
        .flatten()
}

/// Splits a file into statements: `--` comment lines dropped, `;` at a line end separates.
/// (The ClickHouse HTTP interface takes one statement per request.)
fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let statement = current.trim().trim_end_matches(';').trim().to_string();
            statements.push(statement);
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        statements.push(current.trim().to_string());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_clickhouse_folder_is_listed_in_order() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed);
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
            assert!(migration
                .name
                .starts_with(&format!("{:04}_", migration.version)));
        }
    }

    #[test]
    fn added_columns_are_recognised() {
        assert_eq!(
            added_column("ALTER TABLE events ADD COLUMN series_id String DEFAULT ''"),
            Some(("events", "series_id"))
        );
        assert_eq!(
            added_column("alter table t add column c\nUInt8"),
            Some(("t", "c"))
        );
        assert_eq!(added_column("ALTER TABLE events DROP COLUMN c"), None);
        assert_eq!(added_column("CREATE TABLE IF NOT EXISTS x (a UInt8)"), None);
        assert_eq!(added_column("ALTER TABLE t ADD COLUMN"), None);
    }

    #[test]
    fn statements_split_at_line_ending_semicolons() {
        let sql = "-- comment\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nSELECT ';';\nSELECT 2";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a (x UInt8)\nENGINE = Memory".to_string(),
                "SELECT ';'".to_string(),
                "SELECT 2".to_string()
            ]
        );
    }
}
