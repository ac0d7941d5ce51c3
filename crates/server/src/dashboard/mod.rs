//! The live dashboard: one page at `/`, served from the binary.
//!
//! Everything it needs is compiled in ([`include_str!`]): `index.html`, `app.js` (hand-written,
//! no framework; the charts are inline SVG it draws itself) and `style.css`. It loads
//! nothing from the network and reads only the public HTTP API, the same one documented at
//! `/api/openapi.json`: the circuits' series, the devices and their grants, the negotiation
//! log, forecast accuracy. It listens to `/api/events` and re-reads within the same second
//! as a change; when the coordinator restarts the browser reconnects by itself.
//!
//! Operator actions (priority, deadline, pause and resume, a circuit's limit) go through the
//! API with the bearer token, which the page asks for and keeps in the tab's
//! `sessionStorage`; the server never puts it in the page.
//!
//! A strict Content-Security-Policy (`'self'` only) makes "no network at run time" a rule
//! the browser enforces, not only a habit of the page.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::service::Handle;

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// Its script.
pub const APP_JS: &str = include_str!("app.js");
/// Its style sheet.
pub const STYLE_CSS: &str = include_str!("style.css");

/// Nothing but this origin: no scripts, styles, fonts or connections elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The assets change only with the binary; revalidating is cheap on loopback.
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}

/// The page's routes (merged into the API's router).
pub fn routes() -> Router<Handle> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}
