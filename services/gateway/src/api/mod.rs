//! The resource API under `/api/v1`: each route of [`table::ROUTES`] becomes
//! a call of its RPC, with the request message filled from the body, the
//! path and the query string (proto3 JSON, field names as in the protos),
//! and the response message returned as JSON. The caller's bearer token and
//! trace context go with the call.

pub mod openapi;
pub mod rpc;
pub mod stats;
pub mod table;

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use kit::ServiceError;
use kit::error::Violations;
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use prost_reflect::{ReflectMessage, SerializeOptions, Value};
use std::sync::Arc;
use table::Route;

/// The values of a path's `{name}` parameters.
type PathParams = Vec<(&'static str, String)>;

/// A route of the table, resolved against the descriptors.
struct Compiled {
    route: &'static Route,
    method: MethodDescriptor,
    segments: Vec<Segment>,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(&'static str),
    /// `{name}` followed by a literal `suffix` (e.g. `:approve`, or "").
    Param {
        name: &'static str,
        suffix: &'static str,
    },
}

fn segments(path: &'static str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| match (s.strip_prefix('{'), s.find('}')) {
            (Some(_), Some(close)) => Segment::Param {
                name: &s[1..close],
                suffix: &s[close + 1..],
            },
            _ => Segment::Literal(s),
        })
        .collect()
}

/// The API: the table resolved once, and the upstreams.
#[derive(Clone)]
pub struct Api(Arc<Inner>);

struct Inner {
    upstreams: rpc::Upstreams,
    stats: stats::Cache,
    routes: Vec<Compiled>,
    openapi: serde_json::Value,
}

impl Api {
    /// Resolves every route's RPC; a route naming an unknown RPC or request
    /// field is a programming error reported at start.
    pub fn new(upstreams: rpc::Upstreams) -> anyhow::Result<Api> {
        let mut routes = Vec::new();
        for route in table::ROUTES {
            let method = upstreams
                .method(route.rpc)
                .ok_or_else(|| anyhow::anyhow!("route {} {}: no rpc {}", route.method, route.path, route.rpc))?;
            let segments = segments(route.path);
            let input = method.input();
            for segment in &segments {
                if let Segment::Param { name, .. } = segment {
                    anyhow::ensure!(
                        field_at(&input, name).is_some(),
                        "route {}: {} has no field {name}",
                        route.path,
                        input.full_name()
                    );
                }
            }
            for (name, _) in route.fixed {
                anyhow::ensure!(
                    input.get_field_by_name(name).is_some(),
                    "route {}: no field {name}",
                    route.path
                );
            }
            routes.push(Compiled {
                route,
                method,
                segments,
            });
        }
        let openapi = openapi::document(&routes_view(&routes));
        for c in &routes {
            if let Some(answer) = c.route.answer {
                anyhow::ensure!(
                    c.method.output().get_field_by_name(answer).is_some(),
                    "route {}: no answer field {answer}",
                    c.route.path
                );
            }
        }
        Ok(Api(Arc::new(Inner {
            upstreams,
            stats: stats::Cache::default(),
            routes,
            openapi,
        })))
    }

    /// Calls one of the gateway's own methods (`sanshi.gateway.v1`).
    async fn local(
        &self,
        method: &MethodDescriptor,
        input: DynamicMessage,
        token: Option<&str>,
    ) -> Result<DynamicMessage, tonic::Status> {
        use prost::Message as _;
        use sanshi_proto::gateway::v1 as pb;
        let token = token.ok_or_else(|| tonic::Status::unauthenticated("请先登录"))?;
        let bytes = input.encode_to_vec();
        let bad = |e: prost::DecodeError| tonic::Status::internal(e.to_string());
        let up = &self.0.upstreams;
        let answer = match method.name() {
            "GetOverview" => {
                let r = pb::GetOverviewRequest::decode(bytes.as_slice()).map_err(bad)?;
                stats::overview(up, &self.0.stats, token, &r.region)
                    .await?
                    .encode_to_vec()
            }
            "GetByRegion" => {
                let r = pb::GetByRegionRequest::decode(bytes.as_slice()).map_err(bad)?;
                stats::by_region(up, &self.0.stats, token, &r.region)
                    .await?
                    .encode_to_vec()
            }
            other => return Err(tonic::Status::unimplemented(other.to_string())),
        };
        DynamicMessage::decode(method.output(), answer.as_slice()).map_err(bad)
    }

    pub fn upstreams(&self) -> &rpc::Upstreams {
        &self.0.upstreams
    }

    pub fn openapi(&self) -> &serde_json::Value {
        &self.0.openapi
    }

    /// The route for `method` and `path` with its path parameters, or the
    /// methods the path allows.
    fn find(&self, method: &Method, path: &str) -> Result<(&Compiled, PathParams), Vec<&'static str>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut allowed = Vec::new();
        // The most literal match wins ("/applications:count" over "/applications/{id}").
        let mut best: Option<(usize, &Compiled, PathParams)> = None;
        for compiled in &self.0.routes {
            let Some(params) = matches(&compiled.segments, &parts) else {
                continue;
            };
            if compiled.route.method != method.as_str() {
                allowed.push(compiled.route.method);
                continue;
            }
            let literals = compiled.segments.len() - params.len();
            if best.as_ref().is_none_or(|(l, _, _)| literals > *l) {
                best = Some((literals, compiled, params));
            }
        }
        best.map(|(_, c, p)| (c, p)).ok_or(allowed)
    }
}

/// The parameters of `parts` if they fit `segments`.
fn matches(segments: &[Segment], parts: &[&str]) -> Option<PathParams> {
    if segments.len() != parts.len() {
        return None;
    }
    let mut params = Vec::new();
    for (segment, part) in segments.iter().zip(parts) {
        match segment {
            Segment::Literal(literal) if literal == part => {}
            Segment::Literal(_) => return None,
            Segment::Param { name, suffix } => {
                let value = part.strip_suffix(suffix)?;
                // A parameter is one whole segment with no action of its own.
                if value.is_empty() || (suffix.is_empty() && value.contains(':')) {
                    return None;
                }
                params.push((*name, percent_decode(value)?));
            }
        }
    }
    Some(params)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// For the OpenAPI document: each route with its request and response types.
pub struct RouteView<'a> {
    pub route: &'static Route,
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    pub path_params: Vec<&'a str>,
}

fn routes_view(routes: &[Compiled]) -> Vec<RouteView<'_>> {
    routes
        .iter()
        .map(|c| RouteView {
            route: c.route,
            input: c.method.input(),
            output: c.method.output(),
            path_params: c
                .segments
                .iter()
                .filter_map(|s| match s {
                    Segment::Param { name, .. } => Some(*name),
                    Segment::Literal(_) => None,
                })
                .collect(),
        })
        .collect()
}

/// Text of a query or path value as the field's type.
fn parse_value(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("应为{what}");
    Ok(match field.kind() {
        Kind::String => Value::String(text.to_string()),
        Kind::Bool => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(bad(" true 或 false")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(text.parse().map_err(|_| bad("整数"))?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(text.parse().map_err(|_| bad("整数"))?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(|_| bad("非负整数"))?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(|_| bad("非负整数"))?),
        Kind::Float => Value::F32(text.parse().map_err(|_| bad("数字"))?),
        Kind::Double => Value::F64(text.parse().map_err(|_| bad("数字"))?),
        Kind::Enum(e) => {
            // The full name (APPLICATION_STATE_APPROVED), the short one (approved) or the number.
            let prefix = e
                .values()
                .find(|v| v.number() == 0)
                .map(|v| v.name().trim_end_matches("UNSPECIFIED").to_string());
            let upper = text.to_ascii_uppercase();
            let found = e
                .get_value_by_name(&upper)
                .or_else(|| prefix.and_then(|p| e.get_value_by_name(&format!("{p}{upper}"))))
                .or_else(|| text.parse().ok().and_then(|n| e.get_value(n)));
            match found {
                Some(v) => Value::EnumNumber(v.number()),
                None => {
                    let names: Vec<String> = e.values().skip(1).map(|v| v.name().to_string()).collect();
                    return Err(format!("可选值：{}", names.join("、")));
                }
            }
        }
        Kind::Bytes | Kind::Message(_) => return Err("不能在地址中给出".into()),
    })
}

/// The field `path` names: `id`, or `account.id` inside a message field.
pub fn field_at(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    match path.split_once('.') {
        None => message.get_field_by_name(path),
        Some((head, rest)) => match message.get_field_by_name(head)?.kind() {
            Kind::Message(inner) => field_at(&inner, rest),
            _ => None,
        },
    }
}

/// Sets the field `path` names (see [`field_at`]) to `value`.
fn set_at(message: &mut DynamicMessage, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            if let Some(field) = message.descriptor().get_field_by_name(path) {
                message.set_field(&field, value);
            }
        }
        Some((head, rest)) => {
            if let Some(field) = message.descriptor().get_field_by_name(head)
                && let Some(inner) = message.get_field_mut(&field).as_message_mut()
            {
                set_at(inner, rest, value);
            }
        }
    }
}

fn set(message: &mut DynamicMessage, field: &FieldDescriptor, value: Value) {
    if field.is_list() {
        if let Value::List(list) = message.get_field_mut(field) {
            list.push(value);
        }
    } else {
        message.set_field(field, value);
    }
}

/// Builds the request of `compiled` from the body, path and query.
fn request(
    compiled: &Compiled,
    path: PathParams,
    query: Vec<(String, String)>,
    body: &Bytes,
) -> Result<DynamicMessage, ServiceError> {
    let input = compiled.method.input();
    let mut message = if compiled.route.body && !body.iter().all(u8::is_ascii_whitespace) {
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed = DynamicMessage::deserialize_with_options(input.clone(), &mut de, &DeserializeOptions::new())
            .and_then(|m| de.end().map(|_| m));
        parsed.map_err(|e| ServiceError::invalid("body", format!("请求体无效：{e}")))?
    } else {
        DynamicMessage::new(input.clone())
    };
    let mut v = Violations::default();
    for (name, text) in path {
        if let Some(field) = field_at(&input, name) {
            match parse_value(&field, &text) {
                Ok(value) => set_at(&mut message, name, value),
                Err(e) => v.add(name, e),
            }
        }
    }
    for (key, text) in query {
        let field = input
            .get_field_by_name(&key)
            .or_else(|| input.get_field_by_json_name(&key));
        match field {
            Some(field) if !compiled.route.fixed.iter().any(|(n, _)| *n == field.name()) => {
                for part in text
                    .split(',')
                    .filter(|p| field.is_list() || !p.is_empty() || text.is_empty())
                {
                    let one = if field.is_list() { part } else { text.as_str() };
                    match parse_value(&field, one) {
                        Ok(value) => set(&mut message, &field, value),
                        Err(e) => v.add(key.clone(), e),
                    }
                    if !field.is_list() {
                        break;
                    }
                }
            }
            _ => v.add(key.clone(), "不支持的查询参数"),
        }
    }
    for (name, text) in compiled.route.fixed {
        if let Some(field) = input.get_field_by_name(name) {
            match parse_value(&field, text) {
                Ok(value) => message.set_field(&field, value),
                Err(e) => v.add(*name, e),
            }
        }
    }
    v.into_result()?;
    Ok(message)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The route template (`/api/v1/records/{id}`) that answered a request, in
/// the response's extensions: the gateway's metrics count by it, never by
/// the raw path (a series per record).
#[derive(Debug, Clone, Copy)]
pub struct MatchedRoute(pub &'static str);

/// Serves every route of the table.
pub async fn dispatch(
    State(api): State<Api>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client.map(|axum::Extension(info)| info.0.ip().to_canonical());
    let (compiled, path) = match api.find(&method, uri.path()) {
        Ok(found) => found,
        Err(allowed) if allowed.is_empty() => {
            return ApiError::from(tonic::Status::not_found("没有这个接口")).into_response();
        }
        Err(allowed) => {
            let mut response = ApiError::from(ServiceError::FailedPrecondition(format!(
                "该接口不支持 {method}，可用：{}",
                allowed.join(", ")
            )))
            .into_response();
            *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
            if let Ok(value) = http::HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(http::header::ALLOW, value);
            }
            return response;
        }
    };
    let mut response = answer(&api, compiled, path, query, &headers, client, body)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(MatchedRoute(compiled.route.path));
    response
}

/// Calls the RPC of a matched route and answers as its route says.
async fn answer(
    api: &Api,
    compiled: &Compiled,
    path: PathParams,
    query: Option<String>,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Rejections are problem details too: a body over the limit is a 413, a
    // query string that is not form-encoded a 400.
    let body = body.map_err(|rejection| {
        let why = if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            "请求体过大".to_string()
        } else {
            tracing::info!(rejection = %rejection.body_text(), "request body refused");
            "请求体无法读取".to_string()
        };
        let mut problem = kit::error::Problem::from_error(ServiceError::invalid("body", why));
        problem.status = rejection.status().as_u16();
        ApiError(Box::new(problem))
    })?;
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ServiceError::invalid("query", format!("查询参数无效：{e}")))?;
    let input = request(compiled, path, query, &body)?;
    let token = bearer(headers);
    let output = if compiled.method.parent_service().full_name() == "sanshi.gateway.v1.StatsService" {
        api.local(&compiled.method, input, token.as_deref()).await?
    } else {
        api.0
            .upstreams
            .call_for(&compiled.method, input, token.as_deref(), client)
            .await?
    };
    let route = compiled.route;
    let status = http::StatusCode::from_u16(route.status).unwrap_or(http::StatusCode::OK);
    if status == http::StatusCode::NO_CONTENT {
        return Ok(status.into_response());
    }
    let output = match route
        .answer
        .and_then(|name| output.descriptor().get_field_by_name(name))
    {
        Some(field) => match output.get_field(&field).as_message() {
            Some(inner) => inner.clone(),
            None => DynamicMessage::new(output.descriptor()),
        },
        None => output,
    };
    Ok((
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        to_json(&output)?,
    )
        .into_response())
}

/// The message as JSON: the protos' field names, every field (defaults too),
/// enums by name, 64-bit integers as numbers (all of the platform's are far
/// below 2^53).
pub fn to_json(message: &DynamicMessage) -> Result<Vec<u8>, ServiceError> {
    let mut json = serde_json::Serializer::new(Vec::new());
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    message
        .serialize_with_options(&mut json, &options)
        .map_err(|e| ServiceError::internal(anyhow::anyhow!("encode response: {e}")))?;
    Ok(json.into_inner())
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json(State(api): State<Api>) -> axum::Json<serde_json::Value> {
    axum::Json(api.openapi().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_literals_and_parameters() {
        assert_eq!(
            segments("/api/v1/applications/{id}:approve"),
            [
                Segment::Literal("api"),
                Segment::Literal("v1"),
                Segment::Literal("applications"),
                Segment::Param {
                    name: "id",
                    suffix: ":approve"
                }
            ]
        );
        let s = segments("/api/v1/applications/{id}");
        assert_eq!(
            matches(&s, &["api", "v1", "applications", "a%20b"]),
            Some(vec![("id", "a b".to_string())])
        );
        assert_eq!(
            matches(&s, &["api", "v1", "applications", "x:approve"]),
            None,
            "an action is not an id"
        );
        let approve = segments("/api/v1/applications/{id}:approve");
        assert_eq!(
            matches(&approve, &["api", "v1", "applications", "x:approve"]),
            Some(vec![("id", "x".to_string())])
        );
        assert_eq!(matches(&approve, &["api", "v1", "applications", ":approve"]), None);
    }
}

#[cfg(test)]
mod coverage {
    use super::*;

    fn api() -> Api {
        Api::new(rpc::Upstreams::new(Default::default()).unwrap()).unwrap()
    }

    /// Every RPC meant for people has a route: a new RPC without one fails here.
    #[test]
    fn every_user_facing_rpc_has_a_route() {
        let api = api();
        let mut missing = Vec::new();
        // Federation is for other platforms, on its own port with mTLS.
        let services = api.0.upstreams.pool.services();
        for service in services.filter(|s| s.package_name() != "sanshi.federation.v1") {
            for method in service.methods() {
                let name = format!("{}/{}", service.full_name(), method.name());
                if !table::INTERNAL_RPCS.contains(&name.as_str()) && !table::ROUTES.iter().any(|r| r.rpc == name) {
                    missing.push(name);
                }
            }
        }
        assert!(missing.is_empty(), "RPCs without a route: {missing:?}");
    }

    /// Every route is in the OpenAPI document, under its method.
    #[test]
    fn every_route_is_documented() {
        let api = api();
        let paths = &api.openapi()["paths"];
        for r in table::ROUTES {
            let operation = &paths[r.path][r.method.to_ascii_lowercase()];
            assert!(operation.is_object(), "{} {} is not in openapi.json", r.method, r.path);
            assert_eq!(operation["summary"], r.summary);
        }
        // And every schema it refers to is there.
        let text = api.openapi().to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(
                api.openapi()["components"]["schemas"][name].is_object(),
                "no schema {name}"
            );
        }
    }

    #[test]
    fn requests_take_path_query_and_fixed_fields() {
        let api = api();
        let (route, path) = api.find(&Method::POST, "/api/v1/applications/a1:approve").ok().unwrap();
        let message = request(route, path, vec![], &Bytes::from(r#"{"reason":"材料齐全"}"#)).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&to_json(&message).unwrap()).unwrap();
        assert_eq!(json["id"], "a1");
        assert_eq!(json["decision"], "DECISION_APPROVE");
        assert_eq!(json["reason"], "材料齐全");

        let (route, path) = api.find(&Method::GET, "/api/v1/applications").ok().unwrap();
        let query = vec![
            ("state".to_string(), "submitted".to_string()),
            ("page_size".to_string(), "20".to_string()),
        ];
        let json: serde_json::Value =
            serde_json::from_slice(&to_json(&request(route, path, query, &Bytes::new()).unwrap()).unwrap()).unwrap();
        assert_eq!(json["state"], "APPLICATION_STATE_SUBMITTED");
        assert_eq!(json["page_size"], 20);

        let (route, path) = api.find(&Method::GET, "/api/v1/applications").ok().unwrap();
        let bad = vec![
            ("state".to_string(), "nonsense".to_string()),
            ("page_size".to_string(), "many".to_string()),
            ("colour".to_string(), "red".to_string()),
        ];
        let Err(ServiceError::InvalidArgument(fields)) = request(route, path, bad, &Bytes::new()) else {
            panic!("bad query accepted")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["state", "page_size", "colour"]);

        // The most literal route wins; a known path with another method is not found as such.
        let (route, _) = api.find(&Method::GET, "/api/v1/applications:count").ok().unwrap();
        assert_eq!(
            route.route.rpc,
            "sanshi.qualification.v1.QualificationService/CountApplications"
        );
        assert_eq!(
            api.find(&Method::DELETE, "/api/v1/applications").err().unwrap(),
            ["POST", "GET"]
        );
    }
}
