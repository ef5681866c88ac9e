//! Processor state written by an instance that lost its lease cannot overwrite the state of
//! the instance that took over (against the real Postgres adapter).

use telemetry_application::alerting::window::SeriesWindow;
use telemetry_application::ports::{AlertStateStore, LogPosition};
use telemetry_infrastructure::postgres::{migrate, PgPool, PostgresAlerting};

use crate::helpers::test_settings;

#[tokio::test]
async fn a_processor_checkpoint_never_moves_back() {
    let settings = test_settings().await;
    let pool = PgPool::connect(settings.database.url.expose())
        .await
        .unwrap();
    migrate(&pool).await.unwrap();
    let store = PostgresAlerting::new(pool);
    let at = |position| LogPosition {
        transaction_id: 7,
        position,
    };
    let window = |basis: &str| SeriesWindow::new(basis.into(), 1_000_000);

    // The current owner saves at 10, then again at 10 (a tick saves at its position).
    let saved = [(
        "rule".to_string(),
        "checkout".to_string(),
        Some(window("a")),
    )];
    store.save("alerts", at(10), &saved).await.unwrap();
    store.save("alerts", at(10), &[]).await.unwrap();

    // A former owner still finishing a batch that ends at 9 is refused, and none of its
    // window changes land.
    let stale = [
        ("rule".to_string(), "checkout".to_string(), None),
        ("rule".to_string(), "billing".to_string(), Some(window("b"))),
    ];
    let refused = store.save("alerts", at(9), &stale).await;
    assert!(
        refused.is_err(),
        "a write behind the checkpoint was accepted"
    );

    let (position, windows) = store.load("alerts").await.unwrap();
    assert_eq!(position, Some(at(10)));
    assert_eq!(
        windows,
        vec![("rule".to_string(), "checkout".to_string(), window("a"))]
    );

    // Moving forward still works.
    store.save("alerts", at(11), &stale).await.unwrap();
    let (position, windows) = store.load("alerts").await.unwrap();
    assert_eq!(position, Some(at(11)));
    assert_eq!(windows.len(), 1);
}
