//! Who may use the API and the dashboard, over real HTTP: the security headers on every
//! response, logging in with either secret, the session cookie and its CSRF token, bearer
//! tokens for scripts, slow and limited wrong passwords, and idle expiry.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::*;

const TOKEN: &str = "s3cret";

async fn hush_with(api: &str) -> (Upstream, LoggedHush) {
    let upstream = Upstream::start().await;
    let hush = start_logged(
        upstream.addr,
        "",
        &format!("[api]\nlisten = \"127.0.0.1:0\"\n{api}"),
    )
    .await;
    (upstream, hush)
}

/// A request of `method` to `path` with optional session cookie, CSRF token and JSON body.
async fn call(
    hush: &LoggedHush,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = hush.http.request(method, format!("{}{path}", hush.api));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, format!("hush_session={cookie}"));
    }
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-Token", csrf);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Logs in with `password`; returns the session id from the cookie and the CSRF token.
async fn log_in(hush: &LoggedHush, password: &str) -> (String, String) {
    let response = call(
        hush,
        Method::POST,
        "/api/auth",
        None,
        None,
        Some(json!({ "password": password })),
    )
    .await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie
        .strip_prefix("hush_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    (session, body["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (_upstream, hush) = hush_with("").await;
    for path in [
        "/",
        "/queries",
        "/devices",
        "/assets/app.js",
        "/assets/style.css",
        "/api/health",
        "/api/queries",
        "/api/nothing-here",
        "/assets/nothing-here.js",
        "/metrics",
    ] {
        let response = call(&hush, Method::GET, path, None, None, None).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    let page = call(&hush, Method::GET, "/devices", None, None, None).await;
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let etag = page.headers()["etag"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<script type=\"module\" src=\"/assets/app.js\">"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "no inline script");
    let script = call(&hush, Method::GET, "/assets/app.js", None, None, None).await;
    assert_eq!(
        script.headers()[CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    let missing = call(
        &hush,
        Method::GET,
        "/assets/nothing-here.js",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);
    let again = hush
        .http
        .get(format!("{}/assets/app.js", hush.api))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "unchanged assets are not sent again");
}

#[tokio::test]
async fn without_secrets_nothing_asks_for_a_login() {
    let (_upstream, hush) = hush_with("").await;
    let (status, auth) = hush.get("/api/auth").await;
    assert_eq!(status, 200);
    assert_eq!(
        auth,
        json!({"required": false, "authenticated": true, "csrf": null})
    );
    let (status, _) = hush.get("/api/queries").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_login_opens_a_cookie_session_whose_changes_need_the_csrf_token() {
    let (_upstream, hush) = hush_with(&format!("token = \"{TOKEN}\"\n")).await;
    let (_, anonymous) = hush.get("/api/auth").await;
    assert_eq!(
        anonymous,
        json!({"required": true, "authenticated": false, "csrf": null})
    );

    let started = Instant::now();
    let wrong = call(
        &hush,
        Method::POST,
        "/api/auth",
        None,
        None,
        Some(json!({"password": "guess"})),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered at once"
    );
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let (status, _) = hush
        .send(Method::POST, "/api/auth", Some(json!({"pass": TOKEN})))
        .await;
    assert_eq!(status, 422, "an unknown field is refused");

    let (session, csrf) = log_in(&hush, TOKEN).await;
    assert_ne!(session, csrf);
    let listed = call(
        &hush,
        Method::GET,
        "/api/queries",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(listed.status(), 200);
    let status: Value = call(&hush, Method::GET, "/api/auth", Some(&session), None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"required": true, "authenticated": true, "csrf": csrf})
    );

    let rule = || Some(json!({"kind": "deny", "domain": "ads.example.com"}));
    let forged = call(
        &hush,
        Method::POST,
        "/api/rules",
        Some(&session),
        None,
        rule(),
    )
    .await;
    assert_eq!(
        forged.status(),
        403,
        "a cookie alone cannot change anything"
    );
    let wrong_token = call(
        &hush,
        Method::POST,
        "/api/rules",
        Some(&session),
        Some("0000"),
        rule(),
    )
    .await;
    assert_eq!(wrong_token.status(), 403);
    let made = call(
        &hush,
        Method::POST,
        "/api/rules",
        Some(&session),
        Some(&csrf),
        rule(),
    )
    .await;
    assert_eq!(made.status(), 201);
    let scripted = hush
        .http
        .post(format!("{}/api/rules", hush.api))
        .bearer_auth(TOKEN)
        .json(&json!({"kind": "allow", "domain": "ok.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(scripted.status(), 201, "a bearer token needs no CSRF token");

    let forged_logout = call(
        &hush,
        Method::DELETE,
        "/api/auth",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(forged_logout.status(), 403);
    let logout = call(
        &hush,
        Method::DELETE,
        "/api/auth",
        Some(&session),
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(logout.status(), 204);
    assert!(
        logout.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = call(
        &hush,
        Method::GET,
        "/api/queries",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(after.status(), 401, "the session is over");
    let made_up = call(&hush, Method::GET, "/api/queries", Some("f00d"), None, None).await;
    assert_eq!(made_up.status(), 401);
}

#[tokio::test]
async fn the_password_hash_logs_in_and_the_token_is_no_password_without_it() {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
    let (_upstream, hush) = hush_with(&format!("password = \"{hash}\"\n")).await;
    log_in(&hush, "correct horse").await;
    let wrong = call(
        &hush,
        Method::POST,
        "/api/auth",
        None,
        None,
        Some(json!({"password": hash})),
    )
    .await;
    assert_eq!(wrong.status(), 401, "the hash itself is not the password");
    let bearer = hush
        .http
        .get(format!("{}/api/queries", hush.api))
        .bearer_auth("correct horse")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401, "the password is no bearer token");
}

#[tokio::test]
async fn wrong_passwords_are_limited_to_ten_a_minute_per_address() {
    let (_upstream, hush) = hush_with(&format!("token = \"{TOKEN}\"\n")).await;
    let attempt = |password: &str| {
        let request = hush
            .http
            .post(format!("{}/api/auth", hush.api))
            .json(&json!({ "password": password }));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    // Ten at once, so the test does not wait ten times for the delay of a wrong password.
    let mut first_ten = tokio::task::JoinSet::new();
    for _ in 0..10 {
        first_ten.spawn(attempt("guess"));
    }
    let statuses: Vec<u16> = first_ten.join_all().await;
    assert_eq!(statuses, vec![401; 10]);
    assert_eq!(attempt("guess").await, 429);
    assert_eq!(
        attempt(TOKEN).await,
        429,
        "not even the right one, for a minute"
    );
}

#[tokio::test]
async fn an_idle_session_ends() {
    let (_upstream, hush) =
        hush_with(&format!("token = \"{TOKEN}\"\nsession_timeout = \"1s\"\n")).await;
    let (session, _) = log_in(&hush, TOKEN).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let used = call(
        &hush,
        Method::GET,
        "/api/queries",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(used.status(), 200, "use restarts the idle time");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let used = call(
        &hush,
        Method::GET,
        "/api/queries",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(used.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let idle = call(
        &hush,
        Method::GET,
        "/api/queries",
        Some(&session),
        None,
        None,
    )
    .await;
    assert_eq!(idle.status(), 401);
}
