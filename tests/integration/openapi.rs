//! `GET /api/openapi.json`: an OpenAPI 3.1 document that names every native endpoint, and real
//! responses of a running hush that validate against its schemas.

use hickory_proto::rr::RecordType;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The schema of `status`'s JSON response of `method path`, resolvable on its own: the
/// document's components ride along for its `$ref`s.
fn response_schema(spec: &Value, path: &str, method: &str, status: &str) -> Value {
    let schema =
        &spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    assert!(!schema.is_null(), "no schema for {method} {path} {status}");
    json!({ "allOf": [schema], "components": spec["components"] })
}

#[tokio::test]
async fn the_openapi_document_describes_what_hush_answers() {
    let upstream = Upstream::start().await;
    let hush = start_logged(upstream.addr, "tracker.example.com\n", "").await;
    for name in ["www.example.com.", "ads.tracker.example.com."] {
        udp_query(hush.dns, name, RecordType::A).await;
    }
    hush.wait_for_rows("", 2).await;
    let (status, spec) = hush.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let endpoints = [
        ("/api/health", "get"),
        ("/metrics", "get"),
        ("/api/auth", "get"),
        ("/api/auth", "post"),
        ("/api/auth", "delete"),
        ("/api/stats/summary", "get"),
        ("/api/stats/top", "get"),
        ("/api/stats/timeline", "get"),
        ("/api/queries", "get"),
        ("/api/report/clients", "get"),
        ("/api/blocking", "get"),
        ("/api/blocking", "post"),
        ("/api/check", "get"),
        ("/api/rules", "get"),
        ("/api/rules", "post"),
        ("/api/rules/{id}", "delete"),
        ("/api/lists", "get"),
        ("/api/lists/refresh", "post"),
        ("/api/groups", "get"),
        ("/api/clients", "get"),
    ];
    for (path, method) in endpoints {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is not described"
        );
    }
    assert_eq!(
        spec["paths"].as_object().unwrap().len(),
        endpoints
            .iter()
            .map(|(path, _)| path)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "every described path is served"
    );

    let (_, created) = hush
        .send(
            Method::POST,
            "/api/rules",
            Some(json!({"kind": "allow", "domain": "ok.example.com", "comment": "test"})),
        )
        .await;
    let samples = [
        ("/api/health", "/api/health", "get", "200"),
        ("/api/auth", "/api/auth", "get", "200"),
        ("/api/stats/summary", "/api/stats/summary", "get", "200"),
        (
            "/api/stats/top",
            "/api/stats/top?kind=clients",
            "get",
            "200",
        ),
        (
            "/api/stats/timeline",
            "/api/stats/timeline?bucket=1h",
            "get",
            "200",
        ),
        ("/api/queries", "/api/queries?limit=1", "get", "200"),
        ("/api/report/clients", "/api/report/clients", "get", "200"),
        ("/api/blocking", "/api/blocking", "get", "200"),
        (
            "/api/check",
            "/api/check?domain=ads.tracker.example.com",
            "get",
            "200",
        ),
        ("/api/rules", "/api/rules", "get", "200"),
        ("/api/lists", "/api/lists", "get", "200"),
        ("/api/groups", "/api/groups", "get", "200"),
        ("/api/clients", "/api/clients", "get", "200"),
        (
            "/api/check",
            "/api/check?domain=ads.tracker.example.com&client=127.0.0.1",
            "get",
            "200",
        ),
        (
            "/api/stats/top",
            "/api/stats/top?kind=nonsense",
            "get",
            "400",
        ),
    ];
    for (path, url, method, status) in samples {
        let (got, body) = hush.get(url).await;
        assert_eq!(got.to_string(), status, "{url}: {body}");
        let validator = jsonschema::validator_for(&response_schema(&spec, path, method, status))
            .unwrap_or_else(|err| panic!("{path}: the schema does not compile: {err}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{url} does not match its schema: {errors:?}\n{body}"
        );
    }
    let validator =
        jsonschema::validator_for(&response_schema(&spec, "/api/rules", "post", "201")).unwrap();
    assert!(validator.is_valid(&created), "{created}");
    // A schema that can fail: a summary without its numbers is refused.
    let summary =
        jsonschema::validator_for(&response_schema(&spec, "/api/stats/summary", "get", "200"))
            .unwrap();
    assert!(!summary.is_valid(&json!({"queries": "many"})));
}
