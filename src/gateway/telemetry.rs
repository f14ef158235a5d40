//! The telemetry endpoint: `/metrics` (Prometheus text, optionally behind a bearer token) and
//! `/healthz` (always open: it shows nothing but `ok`, and liveness probes cannot send a token
//! kept in a Secret).
//!
//! ```text
//! GET /metrics -> [Authorization: Bearer <token>? else 401] -> Pipeline::render
//! GET /healthz -> "ok"
//! ```

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::auth::{BearerAuth, UNAUTHENTICATED};
use super::pipeline::Pipeline;

/// The routes, `auth` guarding `/metrics`.
pub(crate) fn router(pipeline: Arc<Pipeline>, auth: Option<BearerAuth>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move |headers: HeaderMap| {
                let (p, auth) = (pipeline.clone(), auth.clone());
                async move { metrics(&p, auth.as_ref(), &headers) }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
}

fn metrics(p: &Pipeline, auth: Option<&BearerAuth>, headers: &HeaderMap) -> Response {
    if let Some(auth) = auth {
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if !auth.check(presented) {
            tracing::debug!(
                protocol = "metrics",
                has_authorization = presented.is_some(),
                "unauthenticated request refused"
            );
            p.unauthenticated_scrape();
            let mut r = (StatusCode::UNAUTHORIZED, UNAUTHENTICATED).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return r;
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        p.render(),
    )
        .into_response()
}
