//! ClickHouse: client set-up, versioned DDL (`clickhouse/`), readiness.
//!
//! The same code talks to ClickHouse 18.16 (Debian's package, used by tests) and current
//! servers (docker-compose, production). 18.16 does not understand the typed RowBinary
//! header the `clickhouse` crate validates rows with, so validation is switched off and row
//! structs must match column types exactly.

mod alerts;
mod analytics;
mod catalog;
mod metric_runs;
mod migrations;
mod read_models;
mod retention;

use async_trait::async_trait;
use clickhouse::query::Query;
use clickhouse::Client;
use telemetry_application::ports::{DependencyCheck, LogPosition, PortError, RowPosition};
use telemetry_domain::values::Timestamp;

pub use alerts::ClickHouseAlertHistory;
pub use analytics::ClickHouseAnalytics;
pub use migrations::{apply_migrations, MigrationError, MIGRATIONS};
pub use read_models::ClickHouseReadModel;
pub use retention::ClickHouseRetention;

/// How to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct ClickHouseSettings {
    /// HTTP endpoint, such as `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Bound on one read; see [`ClickHouse::read`].
    pub query_timeout: std::time::Duration,
}

/// Clients for one ClickHouse database.
#[derive(Clone)]
pub struct ClickHouse {
    client: Client,
    /// `client` with the query timeout as `max_execution_time`, for reads that answer
    /// requests: a read the service gives up on is cancelled by the server too.
    reader: Client,
    server: Client,
    database: String,
    /// Whether the server limits how many partitions one INSERT may touch; asked once.
    partition_limit: std::sync::Arc<tokio::sync::OnceCell<bool>>,
    query_timeout: std::time::Duration,
}

impl ClickHouse {
    /// Fails when the database name is not a plain identifier (it is spliced into DDL).
    pub fn new(settings: &ClickHouseSettings) -> Result<Self, PortError> {
        let valid_name = !settings.database.is_empty()
            && settings
                .database
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid_name {
            return Err(PortError::failed(
                "CLICKHOUSE_DATABASE may only contain letters, digits and '_'",
            ));
        }
        let server = Client::default()
            .with_url(&settings.url)
            .with_user(&settings.user)
            .with_password(&settings.password)
            .with_validation(false);
        let client = server.clone().with_database(&settings.database);
        let seconds = settings.query_timeout.as_secs_f64().ceil().max(1.0);
        let reader = client
            .clone()
            .with_setting("max_execution_time", format!("{seconds}"));
        Ok(Self {
            client,
            reader,
            server,
            database: settings.database.clone(),
            partition_limit: Default::default(),
            query_timeout: settings.query_timeout,
        })
    }

    /// Runs a read that answers a request, bounded by the query timeout. The HTTP client has
    /// no deadline of its own: a ClickHouse gone silent (its host lost without resetting the
    /// connection) held a reader until the request timeout (a 408 after 30 s) instead of
    /// answering that the store is unavailable (503, which a client retries). A query made
    /// with [`ClickHouse::reader`] is also stopped by the server at the same time
    /// (`max_execution_time`), so one given up on does not go on loading it.
    pub(crate) async fn read<T>(
        &self,
        query: impl std::future::Future<Output = Result<T, clickhouse::error::Error>>,
    ) -> Result<T, PortError> {
        match tokio::time::timeout(self.query_timeout, query).await {
            Ok(result) => result.map_err(port_error),
            Err(_) => Err(PortError::unavailable(format!(
                "clickhouse did not answer a read within {} ms",
                self.query_timeout.as_millis()
            ))),
        }
    }

    /// Whether the server refuses an INSERT that touches more than
    /// `max_partitions_per_insert_block` partitions (current versions: 100 by default;
    /// 18.16 has no such limit, and no such setting).
    pub(crate) async fn limits_partitions_per_insert(&self) -> Result<bool, PortError> {
        self.partition_limit
            .get_or_try_init(|| async {
                let known: u64 = self
                    .server
                    .query(
                        "SELECT count() FROM system.settings \
                         WHERE name = 'max_partitions_per_insert_block'",
                    )
                    .fetch_one()
                    .await
                    .map_err(port_error)?;
                Ok(known > 0)
            })
            .await
            .copied()
    }

    /// The client bound to the service's database.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client for reads that answer requests (see [`ClickHouse::read`]).
    pub(crate) fn reader(&self) -> &Client {
        &self.reader
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// `CREATE DATABASE IF NOT EXISTS`.
    pub async fn ensure_database(&self) -> Result<(), PortError> {
        self.server
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", self.database))
            .execute()
            .await
            .map_err(port_error)
    }
}

/// A ClickHouse read that answers a request, bounded by the query timeout
/// ([`ClickHouse::read`]): `query.fetch_all().within(&clickhouse).await`.
pub(crate) trait BoundedRead<T>:
    std::future::Future<Output = Result<T, clickhouse::error::Error>> + Sized
{
    fn within(
        self,
        clickhouse: &ClickHouse,
    ) -> impl std::future::Future<Output = Result<T, PortError>> {
        clickhouse.read(self)
    }
}

impl<T, F> BoundedRead<T> for F where
    F: std::future::Future<Output = Result<T, clickhouse::error::Error>>
{
}

/// ClickHouse error codes after which the same request can succeed later, so callers should
/// retry (and readers get 503, not 500):
/// - not set up yet: 60 unknown table, 81 unknown database (the schema is applied in the
///   background at start-up);
/// - overloaded: 159 timeout exceeded, 202 too many simultaneous queries, 241 memory limit
///   exceeded, 252 too many parts (inserts faster than merges).
const RETRYABLE_CODES: [u32; 6] = [60, 81, 159, 202, 241, 252];

/// The number after `Code: ` in a ClickHouse error (18.16 writes `Code: 60, e.displayText()`,
/// current versions `Code: 60. DB::Exception`).
fn error_code(message: &str) -> Option<u32> {
    let rest = &message[message.find("Code: ")? + "Code: ".len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// Classifies a ClickHouse client error.
pub(crate) fn port_error(error: clickhouse::error::Error) -> PortError {
    match &error {
        clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
            PortError::unavailable(error)
        }
        clickhouse::error::Error::BadResponse(message)
            if error_code(message).is_some_and(|code| RETRYABLE_CODES.contains(&code)) =>
        {
            PortError::unavailable(error)
        }
        _ => PortError::failed(error),
    }
}

/// Rows derived from the event log (audit entries, alert transitions) are listed newest
/// first by (second, log position); a page continues strictly before the last row it showed.
/// The first condition lets ClickHouse skip by the sort key, the tuple decides ties.
pub(crate) const OLDER_THAN: &str = " AND occurred_at <= toDateTime(?) \
     AND (toUInt32(occurred_at), src_tx, src_pos, src_idx) < (?, ?, ?, ?)";
pub(crate) const NEWEST_FIRST: &str =
    " ORDER BY occurred_at DESC, src_tx DESC, src_pos DESC, src_idx DESC LIMIT ?";

/// Binds the parameters of `OLDER_THAN`.
pub(crate) fn bind_older_than(query: Query, (at, source): (Timestamp, RowPosition)) -> Query {
    let seconds = at.as_micros().div_euclid(1_000_000);
    query
        .bind(seconds)
        .bind(seconds)
        .bind(source.event.transaction_id)
        .bind(source.event.position)
        .bind(source.index)
}

/// The time and log position of a row read back (`occurred_at` in whole seconds).
pub(crate) fn logged_at(
    occurred_at: u32,
    src_tx: u64,
    src_pos: i64,
    src_idx: u32,
) -> Result<(Timestamp, RowPosition), PortError> {
    let at =
        Timestamp::from_micros(i64::from(occurred_at) * 1_000_000).map_err(PortError::failed)?;
    let event = LogPosition {
        transaction_id: src_tx,
        position: src_pos,
    };
    Ok((
        at,
        RowPosition {
            event,
            index: src_idx,
        },
    ))
}

/// `/readyz` check: `SELECT 1`.
pub struct ClickHouseCheck {
    clickhouse: ClickHouse,
}

impl ClickHouseCheck {
    pub fn new(clickhouse: ClickHouse) -> Self {
        Self { clickhouse }
    }
}

#[async_trait]
impl DependencyCheck for ClickHouseCheck {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    async fn check(&self) -> Result<(), PortError> {
        self.clickhouse
            .server
            .query("SELECT 1")
            .execute()
            .await
            .map_err(port_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_both_message_formats() {
        let old = "Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist.";
        let new =
            "Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)";
        assert_eq!(error_code(old), Some(60));
        assert_eq!(error_code(new), Some(241));
        assert_eq!(error_code("bad response: 500"), None);
        let retryable = |message: &str| {
            port_error(clickhouse::error::Error::BadResponse(message.into())).is_unavailable()
        };
        assert!(retryable(old) && retryable(new));
        assert!(retryable(
            "Code: 202. DB::Exception: Too many simultaneous queries."
        ));
        assert!(!retryable(
            "Code: 62. DB::Exception: Max query size exceeded"
        ));
        assert!(!retryable("Code: 6012. DB::Exception: not a code we know"));
    }
}
