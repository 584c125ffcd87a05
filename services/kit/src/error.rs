//! One error type for every service, and the one mapping from it to gRPC
//! status codes and HTTP problem responses.
//!
//! Handlers return `Result<T, ServiceError>`; `From<ServiceError> for Status`
//! turns it into a rich gRPC status (`google.rpc.BadRequest` for invalid
//! input). The gateway turns a `Status` it receives into an RFC 9457 problem
//! with [`Problem::from_status`]. Internal errors are logged and never leak detail.

use serde::Serialize;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One invalid field of a request: `field` is its path (`account.phone`),
/// `description` says in Chinese what is wrong, for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("请求参数无效")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{resource} {id} 不存在")]
    NotFound { resource: &'static str, id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("服务内部错误")]
    Internal(#[source] anyhow::Error),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    pub fn permission_denied() -> Self {
        Self::PermissionDenied("无权执行此操作".into())
    }

    pub fn unauthenticated() -> Self {
        Self::Unauthenticated("请先登录".into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::NotFound { .. } => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::ResourceExhausted(_) => Code::ResourceExhausted,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(error: sea_orm::DbErr) -> Self {
        if crate::db::is_unavailable(&error) {
            // Temporary: the caller retries (HTTP 503 with Retry-After), and
            // readiness turns NOT_SERVING if it lasts (`Running::watch_database`).
            tracing::warn!(error = %error, "database unavailable");
            return Self::Unavailable("服务暂不可用，请稍后重试".into());
        }
        Self::Internal(error.into())
    }
}

impl From<sea_orm::TransactionError<ServiceError>> for ServiceError {
    fn from(error: sea_orm::TransactionError<ServiceError>) -> Self {
        match error {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(service) => service,
        }
    }
}

/// Accumulates field violations so that a request reports every bad field at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records the error of a parse result and returns its value, if any.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    /// Keeps the field violations of a validation that already names its
    /// fields (an INVALID_ARGUMENT `ServiceError`) and returns its value, if any.
    pub fn take<T>(&mut self, result: ServiceResult<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(ServiceError::InvalidArgument(violations)) => {
                self.0.extend(violations);
                None
            }
            Err(other) => {
                self.add("", other.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> ServiceResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self.0))
        }
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let summary = violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ");
                Status::with_error_details(Code::InvalidArgument, format!("请求参数无效: {summary}"), details)
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = format!("{source:#}"), "internal error");
                Status::internal("服务内部错误")
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

/// The HTTP status that stands for a gRPC code; the only such table in the platform.
pub fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::OutOfRange => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::FailedPrecondition => 422,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

/// Short Chinese title of a problem, per gRPC code.
fn problem_title(code: Code) -> &'static str {
    match code {
        Code::Ok => "成功",
        Code::InvalidArgument | Code::OutOfRange => "请求参数无效",
        Code::Unauthenticated => "未登录或登录已失效",
        Code::PermissionDenied => "没有权限",
        Code::NotFound => "资源不存在",
        Code::AlreadyExists | Code::Aborted => "资源冲突",
        Code::FailedPrecondition => "当前状态不允许此操作",
        Code::ResourceExhausted => "请求过于频繁",
        Code::Cancelled => "请求已取消",
        Code::Unimplemented => "功能未实现",
        Code::Unavailable => "服务暂不可用",
        Code::DeadlineExceeded => "请求超时",
        Code::Unknown | Code::Internal | Code::DataLoss => "服务内部错误",
    }
}

/// RFC 9457 problem details, as the gateway returns them (`application/problem+json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The gRPC code name, for clients that branch on it.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
}

/// The stable `type` of a problem: one URI reference per gRPC code, e.g.
/// `/problems/permission-denied`, that clients may branch on.
pub fn problem_type(code: Code) -> String {
    let mut kebab = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            kebab.push('-');
        }
        kebab.push(c.to_ascii_lowercase());
    }
    format!("/problems/{kebab}")
}

impl Problem {
    pub fn from_status(status: &Status) -> Self {
        let code = status.code();
        let errors = status
            .get_details_bad_request()
            .map(|bad| {
                bad.field_violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.description))
                    .collect()
            })
            .unwrap_or_default();
        let detail = match code {
            // Never forward internal detail to a browser.
            Code::Internal | Code::Unknown | Code::DataLoss => None,
            _ => for_people(status.message()).map(str::to_string),
        };
        let code_name = format!("{code:?}");
        Self {
            problem_type: problem_type(code),
            title: problem_title(code).into(),
            status: http_status(code),
            detail,
            code: code_name,
            errors,
        }
    }

    pub fn from_error(error: ServiceError) -> Self {
        Self::from_status(&Status::from(error))
    }
}

/// The message if it is meant for people: every message the platform writes
/// for them is Chinese, so one without a CJK character is a transport's or a
/// library's ("tcp connect error", "h2 protocol error") and stays in the logs.
pub fn for_people(message: &str) -> Option<&str> {
    let chinese = message
        .chars()
        .any(|c| matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{3000}'..='\u{303f}' | '\u{ff00}'..='\u{ffef}'));
    chinese.then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_bad_request_per_field() {
        let mut v = Violations::new();
        v.add("account.phone", "手机号码格式不正确");
        v.add("account.username", "用户名不能为空");
        let status = Status::from(v.into_result().unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("bad request details");
        let fields: Vec<_> = bad.field_violations.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["account.phone", "account.username"]);
        let problem = Problem::from_status(&status);
        assert_eq!(problem.status, 400);
        assert_eq!(problem.problem_type, "/problems/invalid-argument");
        assert_eq!(problem_type(Code::PermissionDenied), "/problems/permission-denied");
        assert_eq!(problem.errors.len(), 2);
    }

    #[test]
    fn transport_errors_do_not_reach_people() {
        let problem = Problem::from_status(&Status::unavailable("tcp connect error"));
        assert_eq!((problem.status, problem.detail), (503, None));
        let problem = Problem::from_status(&Status::unavailable("服务正在启动，请稍后重试"));
        assert_eq!(problem.detail.as_deref(), Some("服务正在启动，请稍后重试"));
        assert_eq!(for_people("upstream sanshi.identity.v1 not ready: dns error"), None);
        assert_eq!(
            for_people("该 request_id 已用于另一笔调整"),
            Some("该 request_id 已用于另一笔调整")
        );
    }

    #[test]
    fn internal_errors_do_not_leak_detail() {
        let status = Status::from(ServiceError::internal(anyhow::anyhow!(
            "connection to 10.0.0.5 refused"
        )));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("10.0.0.5"));
        let problem = Problem::from_status(&Status::internal("secret detail"));
        assert_eq!(problem.detail, None);
        assert_eq!(problem.status, 500);
    }

    #[test]
    fn http_mapping_covers_the_codes_services_use() {
        assert_eq!(http_status(Code::Unauthenticated), 401);
        assert_eq!(http_status(Code::PermissionDenied), 403);
        assert_eq!(http_status(Code::NotFound), 404);
        assert_eq!(http_status(Code::AlreadyExists), 409);
        assert_eq!(http_status(Code::FailedPrecondition), 422);
        assert_eq!(http_status(Code::ResourceExhausted), 429);
        assert_eq!(http_status(Code::Unavailable), 503);
    }
}
