//! The inspector page, served at `/ui/`: hand-written HTML, CSS and JavaScript, compiled into the
//! binary (no CDN, no build step). The page holds no data: everything it shows comes from `/api/`,
//! which the admin listener's access rules protect; the page asks for the token when the API does.

use super::{Body, whole};
use http::{Method, Response, StatusCode, header};

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// Answers a request for the page or its assets, or `None` for any other path.
pub fn handle(method: &Method, path: &str) -> Option<Response<Body>> {
    let (content_type, body) = match path {
        "/ui" | "/ui/" | "/ui/index.html" => ("text/html; charset=utf-8", INDEX),
        "/ui/app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/ui/app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    if *method != Method::GET && *method != Method::HEAD {
        let mut r = Response::new(whole("GET only\n"));
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return Some(r);
    }
    let mut r = Response::new(whole(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    // The page runs only its own script and talks only to this listener.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Some(r)
}
