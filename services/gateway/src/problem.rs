//! Errors as RFC 9457 problem details (`application/problem+json`), using
//! kit's one mapping from gRPC codes to HTTP statuses.

use axum::response::{IntoResponse, Response};
use kit::error::Problem;
use tonic::Status;

/// Any failure of a gateway handler.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl From<Status> for ApiError {
    fn from(status: Status) -> Self {
        if status.code() == tonic::Code::Unavailable || status.code() == tonic::Code::Unknown {
            tracing::warn!(code = ?status.code(), message = status.message(), "upstream call failed");
        }
        Self(Box::new(Problem::from_status(&status)))
    }
}

impl From<kit::ServiceError> for ApiError {
    fn from(error: kit::ServiceError) -> Self {
        Self(Box::new(Problem::from_error(error)))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = http::StatusCode::from_u16(self.0.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        let mut response = (status, [(http::header::CONTENT_TYPE, "application/problem+json")], body).into_response();
        if status == http::StatusCode::SERVICE_UNAVAILABLE {
            // Unavailable is temporary (a service restarting, its database
            // away): clients and proxies retry after a short wait.
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("5"));
        }
        if status == http::StatusCode::TOO_MANY_REQUESTS {
            // A service's refusal (e.g. identity's lockout after failed logins)
            // says no time; the gateway's own limiter sets an exact one over this.
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("60"));
        }
        response
    }
}
