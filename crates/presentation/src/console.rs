//! The browser console: the single-page app built from `ui/` (`ui/dist`), served under
//! `/ui/` with its client-side routes falling back to its index page.
//!
//! Release builds carry the files in the binary; debug builds read them from `ui/dist` on
//! every request, so a rebuilt console shows without rebuilding the service. The build
//! writes `.br` and `.gz` siblings of text files, which are served to browsers that accept
//! them. Every answer carries a Content-Security-Policy that allows only this origin (no
//! inline script, no other origin, no framing); content-hashed assets are cacheable for a
//! year, everything else is revalidated.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::Embed;

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/ui/";

#[derive(Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../../ui/dist/"]
#[allow_missing = true]
struct ConsoleFiles;

/// Only this origin, for everything; no inline script or style, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Content-hashed files (Vite's `assets/`) never change under their name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The index page names the current assets: always revalidated.
const REVALIDATE: &str = "no-cache";

/// `GET /` and `/ui` lead to the console; `/ui/...` serves it.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to(CONSOLE_PATH) }))
        .route("/ui", get(|| async { Redirect::permanent(CONSOLE_PATH) }))
        .route(CONSOLE_PATH, get(index))
        .route("/ui/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if ConsoleFiles::get(&path).is_some() {
        return serve(&path, &headers);
    }
    // A missing file is a 404; any other path is a route of the app, which its index page
    // opens (a bookmarked `/ui/explorer?service=api`, say).
    let last = path.rsplit('/').next().unwrap_or_default();
    if path.starts_with("assets/") || last.contains('.') {
        return secured(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "no such file",
            )
                .into_response(),
        );
    }
    serve("index.html", &headers)
}

/// One of the console's files, compressed as the browser accepts, with its cache policy.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(original) = ConsoleFiles::get(path) else {
        return not_built();
    };
    let etag = format!(
        "\"{}\"",
        original.metadata.sha256_hash()[..12]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let mut response = if if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let accepted = accepted_encodings(headers);
        let compressed = [("br", ".br"), ("gzip", ".gz")]
            .into_iter()
            .filter(|(encoding, _)| accepted.contains(encoding))
            .find_map(|(encoding, suffix)| {
                ConsoleFiles::get(&format!("{path}{suffix}")).map(|file| (encoding, file))
            });
        let mut response = match compressed {
            Some((encoding, file)) => {
                let mut response = file.data.into_owned().into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
                response
            }
            None => original.data.into_owned().into_response(),
        };
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
        response
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, etag);
    }
    secured(response)
}

/// The answer while `ui/dist` is missing (a debug build before `make ui`).
fn not_built() -> Response {
    secured(
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html lang=\"en\"><title>Console not built</title>\
             <h1>The console is not built</h1><p>Run <code>make ui</code> (or \
             <code>make run</code>, which builds it) and reload. The API and \
             <a href=\"/docs\">Swagger UI</a> work without it.</p></html>\n",
        )
            .into_response(),
    )
}

/// Adds the console's security headers.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
}

/// The content codings the request accepts (`q=0` excluded).
fn accepted_encodings(headers: &HeaderMap) -> Vec<&'static str> {
    let mut accepted = Vec::new();
    for value in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
    {
        let mut parts = value.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|parameter| {
            let parameter = parameter.trim().replace(' ', "");
            parameter == "q=0" || parameter == "q=0.0" || parameter == "q=0.00"
        });
        if refused {
            continue;
        }
        for known in ["br", "gzip"] {
            if coding.eq_ignore_ascii_case(known) {
                accepted.push(known);
            }
        }
    }
    accepted
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn encodings_the_browser_refuses_are_not_served() {
        let accepted = |value| accepted_encodings(&headers(&[("accept-encoding", value)]));
        assert_eq!(accepted("gzip, deflate, br, zstd"), vec!["gzip", "br"]);
        assert_eq!(accepted("br;q=0, gzip;q=0.5"), vec!["gzip"]);
        assert_eq!(accepted("identity"), Vec::<&str>::new());
    }

    #[test]
    fn entity_tags_match_strongly_weakly_and_by_star() {
        assert!(if_none_match(
            &headers(&[("if-none-match", "\"ab\"")]),
            "\"ab\""
        ));
        assert!(if_none_match(
            &headers(&[("if-none-match", "W/\"ab\"")]),
            "\"ab\""
        ));
        assert!(if_none_match(
            &headers(&[("if-none-match", "\"x\", \"ab\"")]),
            "\"ab\""
        ));
        assert!(if_none_match(&headers(&[("if-none-match", "*")]), "\"ab\""));
        assert!(!if_none_match(
            &headers(&[("if-none-match", "\"x\"")]),
            "\"ab\""
        ));
        assert!(!if_none_match(&HeaderMap::new(), "\"ab\""));
    }

    #[test]
    fn scripts_and_pages_are_typed_and_unknown_files_are_not_sniffed() {
        assert_eq!(
            content_type("assets/index-3f2a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
