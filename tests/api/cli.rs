//! The operator subcommands of the binary, run as an operator runs them: configured through
//! the environment, next to a running service.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use telemetry_server::config::Settings;

use crate::helpers::{log_batch, server_command, spawn_app, ACME_KEY};

const CATCH_UP: Duration = Duration::from_secs(60);

/// Runs a subcommand that must succeed; what it printed, trimmed.
fn run_ok(settings: &Settings, args: &[&str]) -> String {
    let output = server_command(settings).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn mint_token_prints_a_token_the_service_accepts_with_its_tenant_and_role() {
    let app = spawn_app().await;
    // Summaries answer once the read side is up (ClickHouse migrations run in the
    // background at start-up).
    app.ingest_ok(ACME_KEY, &log_batch("token", 1)).await;
    app.wait_for_events(ACME_KEY, "acme", 1, CATCH_UP).await;
    let token = run_ok(
        &app.settings,
        &["mint-token", "--tenant", "acme", "--role", "viewer"],
    );
    let read = |path: &str| app.client.get(app.url(path)).bearer_auth(&token).send();
    assert_eq!(
        read("/accounts/acme/summary").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        read("/accounts/globex/summary").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // A viewer reads rules but does not write them.
    assert_eq!(
        read("/alerts/rules").await.unwrap().status(),
        StatusCode::OK
    );
    let write = app
        .client
        .post(app.url("/alerts/rules"))
        .bearer_auth(&token)
        .json(
            &json!({"name": "slow", "metric": "latency", "aggregation": "max",
                      "window": "1m", "comparator": ">", "threshold": 100,
                      "channels": [{"url": "http://127.0.0.1:9/hook"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn mint_token_refuses_an_unknown_role_and_a_lifetime_past_a_year() {
    let app = spawn_app().await;
    let output = server_command(&app.settings)
        .args(["mint-token", "--tenant", "acme", "--role", "root"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no token printed");
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("--role"), "{error}");

    // A lifetime past a year (or one that overflows the expiry) is refused, not wrapped
    // around into a token born expired.
    for ttl in ["0", "31622401", "18446744073709551615"] {
        let output = server_command(&app.settings)
            .args(["mint-token", "--tenant", "acme", "--ttl", ttl])
            .output()
            .unwrap();
        assert!(!output.status.success(), "--ttl {ttl}");
        assert!(output.stdout.is_empty(), "no token printed for --ttl {ttl}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains("--ttl"), "{error}");
    }
}

#[tokio::test]
async fn the_rebuild_subcommand_makes_the_running_service_replay_the_read_model() {
    let app = spawn_app().await;
    app.ingest_ok(ACME_KEY, &log_batch("cli-rebuild", 40)).await;
    app.wait_for_events(ACME_KEY, "acme", 40, CATCH_UP).await;
    // Only a replay brings the raw events back; the rollups must not count them twice.
    app.clickhouse("TRUNCATE TABLE events").await;
    assert_eq!(app.queried_total(ACME_KEY).await, 0);

    run_ok(&app.settings, &["rebuild", "rollups"]);
    app.wait_for_events(ACME_KEY, "acme", 40, CATCH_UP).await;

    let unknown = server_command(&app.settings)
        .args(["rebuild", "nope"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}
