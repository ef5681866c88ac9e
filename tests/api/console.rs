//! What the browser console stands on: the console's own files and headers, `GET /session`,
//! `GET /catalog`, `GET /timeseries/events` and the API key list and rotation.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, json as body_json, log_event, recent_timestamp, spawn_app, TestApp, ACME_KEY,
    GLOBEX_KEY,
};

const CATCH_UP: Duration = Duration::from_secs(30);

fn urlencode(value: &str) -> String {
    value.replace(':', "%3A").replace('+', "%2B")
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request failed")
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request failed")
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_its_routes_fall_back_to_its_page() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = client.get(app.url("/")).send().await.expect("request");
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/ui/");

    let index = app.get("/ui/").await;
    assert_eq!(
        index.status(),
        StatusCode::OK,
        "is the console built (make ui)?"
    );
    let headers = index.headers().clone();
    let policy = headers["content-security-policy"].to_str().expect("ascii");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("http"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let page = index.text().await.expect("body");
    assert!(
        !page.contains("<script>") && !page.contains("<style"),
        "inline code: {page}"
    );

    // A client-side route (a bookmarked view) opens the same page.
    let route = app.get("/ui/explorer?serviceName=api&type=log").await;
    assert_eq!(route.status(), StatusCode::OK);
    assert_eq!(route.text().await.expect("body"), page);

    // The page's script: content-hashed, cacheable for good, compressed when accepted,
    // and revalidated by its tag.
    let script = page
        .split('"')
        .find(|part| part.starts_with("/ui/assets/") && part.ends_with(".js"))
        .unwrap_or_else(|| panic!("no script in {page}"))
        .to_string();
    let asset = client
        .get(app.url(&script))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("request");
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers()["content-encoding"], "gzip");
    assert!(asset.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    let tag = asset.headers()["etag"].clone();
    let again = client
        .get(app.url(&script))
        .header("If-None-Match", tag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let missing = app.get("/ui/assets/missing-0000.js").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_session_says_who_the_caller_is_and_what_it_may_do() {
    let app = spawn_app().await;
    let by_key = body_json(app.get_with_key(ACME_KEY, "/session").await).await;
    assert_eq!(by_key["tenantId"], "acme");
    assert_eq!(by_key["credential"], "api_key");
    assert_eq!(by_key["keyId"].as_str().map(str::len), Some(16));
    assert_eq!(by_key["role"], Value::Null);
    assert_eq!(
        by_key["permissions"],
        json!(["ingest", "read", "write_rules"])
    );

    for (role, permissions) in [
        ("viewer", json!(["read"])),
        ("editor", json!(["read", "write_rules"])),
        ("admin", json!(["read", "write_rules", "administer"])),
    ] {
        let token = app.token("globex", role);
        let session = body_json(get_as(&app, &token, "/session").await).await;
        assert_eq!(session["tenantId"], "globex");
        assert_eq!(session["credential"], "token");
        assert_eq!(session["role"], role);
        assert_eq!(session["subject"], "test-user");
        assert_eq!(session["permissions"], permissions, "{role}");
        let expires = session["expiresAt"].as_str().expect("expiresAt");
        let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
        let left = expires.to_utc() - chrono::Utc::now();
        assert!(left > chrono::Duration::minutes(9) && left <= chrono::Duration::minutes(10));
    }

    let wrong = app
        .get_with_key("not-a-key-of-anyone-0001", "/session")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(wrong).await["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn the_catalog_lists_services_and_metrics_with_their_counts() {
    let app = spawn_app().await;
    let metric = |id: &str, name: &str, service: &str| {
        json!({"eventId": id, "eventType": "metric", "serviceName": service,
               "timestamp": recent_timestamp(), "payload": {"name": name, "value": 1.5}})
    };
    let mut batch = vec![
        metric("c-1", "latency", "checkout"),
        metric("c-2", "latency", "checkout"),
        metric("c-3", "latency", "api-gateway"),
        json!({"eventId": "c-4", "eventType": "metric", "serviceName": "worker",
               "timestamp": recent_timestamp(),
               "payload": {"name": "jobs.done", "value": 2, "kind": "counter"}}),
    ];
    batch.push(log_event("c-5"));
    batch.push(log_event("c-6"));
    app.ingest_ok(ACME_KEY, &Value::Array(batch)).await;
    app.ingest_ok(GLOBEX_KEY, &metric("g-1", "secret.metric", "globex-only"))
        .await;
    app.wait_for_events(ACME_KEY, "acme", 6, CATCH_UP).await;

    let catalog = eventually(CATCH_UP, Duration::from_millis(200), async || {
        let response = app.get_fresh(ACME_KEY, "/catalog").await;
        let catalog = body_json(response).await;
        (catalog["metrics"].as_array().map(Vec::len) == Some(2))
            .then(|| catalog.clone())
            .ok_or_else(|| format!("{catalog}"))
    })
    .await;
    assert_eq!(
        catalog["services"],
        json!([{"name": "api-gateway", "events": 3}, {"name": "checkout", "events": 2},
               {"name": "worker", "events": 1}])
    );
    assert_eq!(
        catalog["metrics"],
        json!([
            {"name": "jobs.done", "kind": "counter", "unit": null, "temporality": "delta",
             "samples": 1, "services": [{"name": "worker", "samples": 1}]},
            {"name": "latency", "kind": "gauge", "unit": null, "temporality": null,
             "samples": 3, "services": [
                {"name": "checkout", "samples": 2}, {"name": "api-gateway", "samples": 1}]}
        ])
    );
    // A range with nothing in it, and one that is not a range.
    let long_ago = "/catalog?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z";
    let empty = body_json(app.get_with_key(ACME_KEY, long_ago).await).await;
    assert_eq!(empty["services"], json!([]));
    assert_eq!(empty["from"], "2020-01-01T00:00:00Z");
    let backwards = "/catalog?from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z";
    let refused = app.get_with_key(ACME_KEY, backwards).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(refused).await["error"]["code"], "invalid_range");
}

#[tokio::test]
async fn events_per_interval_are_counted_by_type_from_the_rollups() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let at = |minutes_ago: i64| (now - chrono::Duration::minutes(minutes_ago)).to_rfc3339();
    let mut batch = Vec::new();
    for (index, (minutes_ago, event_type, service)) in [
        (3, "log", "api"),
        (3, "log", "api"),
        (3, "trace", "web"),
        (1, "metric", "api"),
        (1, "log", "web"),
    ]
    .into_iter()
    .enumerate()
    {
        let payload = if event_type == "metric" {
            json!({"name": "latency", "value": 3.0})
        } else {
            json!({})
        };
        batch.push(
            json!({"eventId": format!("s-{index}"), "eventType": event_type,
                          "serviceName": service, "timestamp": at(minutes_ago),
                          "payload": payload}),
        );
    }
    app.ingest_ok(ACME_KEY, &Value::Array(batch)).await;
    app.wait_for_events(ACME_KEY, "acme", 5, CATCH_UP).await;

    let range = format!(
        "from={}&to={}",
        urlencode(&at(10)),
        urlencode(&(now + chrono::Duration::minutes(1)).to_rfc3339())
    );
    let series = eventually(CATCH_UP, Duration::from_millis(200), async || {
        let response = app
            .get_fresh(ACME_KEY, &format!("/timeseries/events?{range}"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let series = body_json(response).await;
        let total: u64 = series["points"]
            .as_array()
            .map(|points| points.iter().filter_map(|p| p["total"].as_u64()).sum())
            .unwrap_or_default();
        (total == 5)
            .then(|| series.clone())
            .ok_or_else(|| format!("{series}"))
    })
    .await;
    assert_eq!(series["step"], "1m");
    let points = series["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{series}");
    assert_eq!(
        (&points[0]["log"], &points[0]["trace"], &points[0]["total"]),
        (&json!(2), &json!(1), &json!(3))
    );
    assert_eq!(
        (&points[1]["log"], &points[1]["metric"], &points[1]["total"]),
        (&json!(1), &json!(1), &json!(2))
    );
    let web = body_json(
        app.get_fresh(
            ACME_KEY,
            &format!("/timeseries/events?{range}&serviceName=web&eventType=log"),
        )
        .await,
    )
    .await;
    let totals: Vec<&Value> = web["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|point| &point["total"])
        .collect();
    assert_eq!(totals, [&json!(1)], "{web}");
    let refused = app
        .get_with_key(ACME_KEY, &format!("/timeseries/events?{range}&step=5m"))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admins_list_rotate_and_revoke_their_tenants_keys() {
    let app = spawn_app().await;
    let admin = app.token("acme", "admin");
    let issued = body_json(
        post_as(
            &app,
            &admin,
            "/admin/api-keys",
            &json!({"label": "ci runner"}),
        )
        .await,
    )
    .await;
    let (old_id, old_key) = (
        issued["keyId"].as_str().expect("keyId").to_string(),
        issued["key"].as_str().expect("key").to_string(),
    );
    let listed = eventually(CATCH_UP, Duration::from_millis(100), async || {
        let list = body_json(get_as(&app, &admin, "/admin/api-keys").await).await;
        list["data"]
            .as_array()
            .and_then(|keys| keys.iter().find(|key| key["keyId"] == old_id.as_str()))
            .cloned()
            .ok_or_else(|| format!("{list}"))
    })
    .await;
    assert_eq!(listed["label"], "ci runner");
    assert_eq!(listed["status"], "active");
    assert_eq!(listed["issuedBy"], "user:test-user");
    assert!(listed.get("key").is_none() && !listed.to_string().contains(&old_key));

    let rotated = post_as(
        &app,
        &admin,
        &format!("/admin/api-keys/{old_id}/rotate"),
        &json!({}),
    )
    .await;
    assert_eq!(rotated.status(), StatusCode::CREATED);
    let rotated = body_json(rotated).await;
    assert_eq!(rotated["label"], "ci runner");
    assert_eq!(rotated["replacedKeyId"], old_id.as_str());
    assert_eq!(rotated["replacedKeyRevoked"], true);
    let new_key = rotated["key"].as_str().expect("key");
    app.ingest_ok(new_key, &log_event("after-rotation")).await;
    let refused = app.ingest(&old_key, &log_event("old-key")).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    eventually(CATCH_UP, Duration::from_millis(100), async || {
        let list = body_json(get_as(&app, &admin, "/admin/api-keys").await).await;
        let status = |id: &str| {
            list["data"]
                .as_array()
                .and_then(|keys| keys.iter().find(|key| key["keyId"] == id))
                .map(|key| key["status"].clone())
        };
        (status(&old_id) == Some(json!("revoked"))
            && status(rotated["keyId"].as_str().unwrap_or_default()) == Some(json!("active")))
        .then_some(())
        .ok_or_else(|| format!("{list}"))
    })
    .await;

    // A revoked key is not rotated again; other tenants' keys and other callers are refused.
    let again = post_as(
        &app,
        &admin,
        &format!("/admin/api-keys/{old_id}/rotate"),
        &json!({}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let globex_admin = app.token("globex", "admin");
    let foreign = post_as(
        &app,
        &globex_admin,
        &format!(
            "/admin/api-keys/{}/rotate",
            rotated["keyId"].as_str().unwrap_or_default()
        ),
        &json!({}),
    )
    .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let globex_list = body_json(get_as(&app, &globex_admin, "/admin/api-keys").await).await;
    assert!(!globex_list.to_string().contains(&old_id), "{globex_list}");
    let viewer = app.token("acme", "viewer");
    assert_eq!(
        get_as(&app, &viewer, "/admin/api-keys").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_with_key(ACME_KEY, "/admin/api-keys").await.status(),
        StatusCode::FORBIDDEN
    );
}
