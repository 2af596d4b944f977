//! The web dashboard: one HTML shell for every page path and the stylesheet and script modules
//! it loads, all compiled into the binary (no build step, nothing read from disk, nothing
//! fetched from another host). The pages talk to hush only through the JSON API, like any
//! other client; the security headers every response of the listener carries are set here.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page paths; each serves the shell, whose script draws the page the path names.
pub const PAGES: [&str; 5] = ["/", "/queries", "/devices", "/lists", "/rules"];

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// Module scripts are refused by browsers under any other type.
const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: [Asset; 9] = [
    Asset {
        name: "index.html",
        content_type: HTML,
        body: include_str!("assets/index.html"),
    },
    Asset {
        name: "style.css",
        content_type: CSS,
        body: include_str!("assets/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("assets/app.js"),
    },
    Asset {
        name: "chart.js",
        content_type: JS,
        body: include_str!("assets/chart.js"),
    },
    Asset {
        name: "overview.js",
        content_type: JS,
        body: include_str!("assets/overview.js"),
    },
    Asset {
        name: "queries.js",
        content_type: JS,
        body: include_str!("assets/queries.js"),
    },
    Asset {
        name: "devices.js",
        content_type: JS,
        body: include_str!("assets/devices.js"),
    },
    Asset {
        name: "lists.js",
        content_type: JS,
        body: include_str!("assets/lists.js"),
    },
    Asset {
        name: "rules.js",
        content_type: JS,
        body: include_str!("assets/rules.js"),
    },
];

/// A validator for every asset at once: they change only with the binary.
static ETAG_VALUE: LazyLock<String> = LazyLock::new(|| {
    let hash = ASSETS
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, asset| {
            asset.body.bytes().fold(hash, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            })
        });
    format!("\"{hash:016x}\"")
});

/// The dashboard's routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/assets/{name}", get(serve_asset))
        // Browsers ask for it on their own; a `data:` icon would break the CSP.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }));
    for page in PAGES {
        router = router.route(
            page,
            get(|headers: HeaderMap| async move { respond("index.html", &headers) }),
        );
    }
    router
}

async fn serve_asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    respond(&name, &headers)
}

fn respond(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = ETAG_VALUE.as_str();
    // Revalidated on every load (a new binary must show its own pages), answered 304 when the
    // browser's copy is current.
    let cache = [(CACHE_CONTROL, "no-cache"), (ETAG, etag)];
    if headers
        .get(IF_NONE_MATCH)
        .is_some_and(|given| given.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    ([(CONTENT_TYPE, asset.content_type)], cache, asset.body).into_response()
}

/// Adds the security headers to every response: scripts, styles, images and connections only
/// from this origin (so no inline script runs), no framing, no referrer, no MIME sniffing.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing the page loads may come from elsewhere: no absolute URL in any asset, except the
    /// SVG namespace, which is a name and never fetched.
    #[test]
    fn assets_name_no_other_host() {
        for asset in &ASSETS {
            for (at, _) in asset.body.match_indices("://") {
                let start = asset.body[..at]
                    .rfind(|c: char| !c.is_ascii_alphanumeric())
                    .map_or(0, |i| i + 1);
                let url: String = asset.body[start..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '\'' && *c != '"')
                    .collect();
                assert_eq!(
                    url, "http://www.w3.org/2000/svg",
                    "{} names {url}",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn every_asset_the_shell_loads_is_embedded() {
        let shell = ASSETS[0].body;
        for reference in shell.split("/assets/").skip(1) {
            let name: String = reference.chars().take_while(|c| *c != '"').collect();
            assert!(
                ASSETS.iter().any(|asset| asset.name == name),
                "{name} is not embedded"
            );
        }
        for asset in &ASSETS[2..] {
            for import in asset.body.split("from './").skip(1) {
                let name: String = import.chars().take_while(|c| *c != '\'').collect();
                assert!(
                    ASSETS.iter().any(|asset| asset.name == name),
                    "{name} is not embedded"
                );
            }
        }
    }
}
