//! Open311 GeoReport v2 for resident-facing channels: service discovery, the
//! need categories as services, and needs as service requests, in the
//! specification's field names, formats and error lists (JSON).
//!
//! `jurisdiction_id` is a division code. Posting needs the channel's
//! `api_key`, issued by an admin (`POST /api/v1/channel-keys`). Reading is
//! open, as the specification has it, but what is shown depends on who
//! reads (docs/needs-privacy.md): without a key, anyone reads matching's
//! de-identified public summaries of a division they must name (category,
//! status, public notes, the street office as `address`, a position rounded
//! to street level; no resident's words, address, photos or account), the
//! last 90 days' at most, a bounded page at a time; with its key, a channel
//! reads what it reported in full (and others' needs of its region as
//! summaries).

use crate::api::rpc::Upstreams;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::matching::v1::need_service_client::NeedServiceClient;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use tonic::Code;

/// An Open311 error answer: `[{code, description}]` with the HTTP status.
pub struct Open311Error(StatusCode, Vec<(u16, String)>);

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let body: Vec<Value> = self
            .1
            .into_iter()
            .map(|(code, description)| json!({ "code": code, "description": description }))
            .collect();
        (self.0, Json(body)).into_response()
    }
}

impl From<tonic::Status> for Open311Error {
    fn from(status: tonic::Status) -> Self {
        let http = StatusCode::from_u16(kit::error::Problem::from_status(&status).status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut errors: Vec<(u16, String)> = tonic_types::StatusExt::get_details_bad_request(&status)
            .map(|bad| {
                bad.field_violations
                    .into_iter()
                    .map(|v| (http.as_u16(), format!("{}: {}", open311_field(&v.field), v.description)))
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty() {
            let description = match status.code() {
                Code::Internal | Code::Unknown | Code::DataLoss => "服务内部错误".to_string(),
                _ => kit::error::for_people(status.message())
                    .map_or_else(|| kit::error::Problem::from_status(&status).title, str::to_string),
            };
            errors.push((http.as_u16(), description));
        }
        Open311Error(http, errors)
    }
}

fn bad_request(description: &str) -> Open311Error {
    Open311Error(StatusCode::BAD_REQUEST, vec![(400, description.to_string())])
}

/// The GeoReport name of one of the platform's request fields.
fn open311_field(field: &str) -> &str {
    match field {
        "community_code" => "jurisdiction_id",
        "category_code" => "service_code",
        "location" | "location.longitude" | "location.latitude" => "lat/long",
        "address" => "address_string",
        "region_code" => "jurisdiction_id",
        "channel_key" => "api_key",
        f if f.starts_with("media_urls") => "media_url",
        f => f,
    }
}

fn needs(up: &Upstreams) -> Result<NeedServiceClient<kit::grpc::TracedChannel>, Open311Error> {
    up.channels
        .get("sanshi.matching.v1")
        .cloned()
        .map(NeedServiceClient::new)
        .ok_or_else(|| Open311Error(StatusCode::SERVICE_UNAVAILABLE, vec![(503, "服务暂不可用".into())]))
}

/// `/open311/v2/discovery.json`.
pub async fn discovery(headers: HeaderMap) -> Json<Value> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    Json(json!({
        "changeset": "2026-11-22T00:00:00Z",
        "contact": "三师进社区平台，各区县“三师进社区”工作专班",
        "key_service": "由市、区县或街道管理员在平台签发（POST /api/v1/channel-keys）",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": format!("http://{host}/open311/v2"),
            "changeset": "2026-11-22T00:00:00Z",
            "type": "production",
            "formats": ["application/json"],
        }],
    }))
}

fn service(c: &pb::NeedCategory) -> Value {
    json!({
        "service_code": c.code,
        "service_name": c.name,
        "description": c.description,
        "metadata": false,
        "type": "realtime",
        "keywords": c.specialties.join(","),
        "group": "社区需求",
    })
}

async fn categories(up: &Upstreams) -> Result<Vec<pb::NeedCategory>, Open311Error> {
    Ok(needs(up)?
        .list_need_categories(pb::ListNeedCategoriesRequest {})
        .await?
        .into_inner()
        .categories)
}

/// `/open311/v2/services.json`.
pub async fn services(State(up): State<Upstreams>) -> Result<Json<Value>, Open311Error> {
    Ok(Json(Value::Array(categories(&up).await?.iter().map(service).collect())))
}

/// `/open311/v2/services/{service_code}.json`: no extra attributes.
pub async fn service_definition(
    State(up): State<Upstreams>,
    Path(file): Path<String>,
) -> Result<Json<Value>, Open311Error> {
    let code = file.strip_suffix(".json").unwrap_or(&file);
    if !categories(&up).await?.iter().any(|c| c.code == code) {
        return Err(Open311Error(
            StatusCode::NOT_FOUND,
            vec![(404, format!("没有服务 {code}"))],
        ));
    }
    Ok(Json(json!({ "service_code": code, "attributes": [] })))
}

fn time(t: &Option<prost_types::Timestamp>) -> Value {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

fn closed(state: i32) -> bool {
    [
        pb::NeedState::Resolved,
        pb::NeedState::ClosedNotResolved,
        pb::NeedState::Duplicate,
        pb::NeedState::NotApplicable,
    ]
    .iter()
    .any(|s| *s as i32 == state)
}

/// A need as a GeoReport service request. Matching has already shown the
/// reader only what they may see; for an anonymous (`public`) reader nothing
/// of the resident is taken even if it were there. Where there is no exact
/// address to show, `address` is the street office's area by name.
fn request_json(n: &pb::Need, names: &HashMap<String, String>, public: bool) -> Value {
    let address = if public || n.address.is_empty() {
        &n.agency_responsible
    } else {
        &n.address
    };
    let (description, media_url) = if public {
        (String::new(), String::new())
    } else {
        (n.description.clone(), n.media_urls.first().cloned().unwrap_or_default())
    };
    json!({
        "service_request_id": n.id,
        "status": if closed(n.state) { "closed" } else { "open" },
        "status_notes": n.status_note,
        "service_name": names.get(&n.category_code).cloned().unwrap_or_default(),
        "service_code": n.category_code,
        "description": description,
        "agency_responsible": n.agency_responsible,
        "service_notice": "",
        "requested_datetime": time(&n.request_time),
        "updated_datetime": time(&n.update_time),
        "expected_datetime": time(&n.expected_time),
        "address": address,
        "address_id": "",
        "zipcode": "",
        "lat": n.location.as_ref().map(|l| l.latitude),
        "long": n.location.as_ref().map(|l| l.longitude),
        "media_url": media_url,
    })
}

/// Requests per read: the ids one GET may name, and a list's page (the
/// default and the most; matching bounds public pages the same way).
const PAGE: i32 = 100;

/// The header naming the next page of a list (`page_token` asks for it).
const NEXT_PAGE: &str = "x-next-page-token";

/// Who reads requests: a channel by its key, or anyone without one.
enum Reader {
    /// The channel's own reports in full, others of its region as summaries.
    Key(String),
    /// Public summaries inside a division the reader must name.
    Anonymous { jurisdiction: String },
}

impl Reader {
    fn of(params: &HashMap<String, String>) -> Result<Reader, Open311Error> {
        if let Ok(key) = api_key(params) {
            return Ok(Reader::Key(key));
        }
        params
            .get("jurisdiction_id")
            .map(|j| j.trim().to_string())
            .filter(|j| !j.is_empty())
            .map(|jurisdiction| Reader::Anonymous { jurisdiction })
            .ok_or_else(|| bad_request("未提供 api_key 时须提供 jurisdiction_id（区划代码）"))
    }

    fn is_public(&self) -> bool {
        matches!(self, Reader::Anonymous { .. })
    }

    fn get(&self, id: String) -> pb::GetNeedRequest {
        match self {
            Reader::Key(key) => pb::GetNeedRequest {
                id,
                channel_key: key.clone(),
                ..Default::default()
            },
            Reader::Anonymous { jurisdiction } => pb::GetNeedRequest {
                id,
                public_view: true,
                region_code: jurisdiction.clone(),
                ..Default::default()
            },
        }
    }
}

fn api_key(params: &HashMap<String, String>) -> Result<String, Open311Error> {
    params
        .get("api_key")
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Open311Error(StatusCode::UNAUTHORIZED, vec![(401, "缺少 api_key".into())]))
}

/// `POST /open311/v2/requests.json` (form-encoded as the specification says, or JSON).
pub async fn post_request(
    State(up): State<Upstreams>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, Open311Error> {
    // The specification's error list, in Chinese, also for a body over the limit.
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let why = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "请求体过大"
        } else {
            "请求体无法读取"
        };
        Open311Error(status, vec![(status.as_u16(), why.to_string())])
    })?;
    let json_body = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let params: HashMap<String, String> = if json_body {
        let value: HashMap<String, Value> =
            serde_json::from_slice(&body).map_err(|e| bad_request(&format!("请求体不是有效的 JSON：{e}")))?;
        value
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect()
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| bad_request(&format!("表单无效：{e}")))?
    };
    let key = api_key(&params)?;
    let get = |k: &str| params.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let coordinate = |k: &str| -> Result<Option<f64>, Open311Error> {
        match params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| bad_request(&format!("{k} 应为数字"))),
        }
    };
    let location = match (coordinate("lat")?, coordinate("long")?) {
        (Some(latitude), Some(longitude)) => Some(pb::Location { longitude, latitude }),
        (None, None) => None,
        _ => return Err(bad_request("lat 与 long 需同时提供")),
    };
    // A retried POST of the same report by the same channel creates one need.
    let request_id = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest([key.as_bytes(), &body[..]].concat());
        format!(
            "open311:{}",
            digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let need = needs(&up)?
        .submit_need(pb::SubmitNeedRequest {
            community_code: get("jurisdiction_id"),
            category_code: get("service_code"),
            description: get("description"),
            location,
            address: get("address_string"),
            media_urls: params
                .get("media_url")
                .filter(|u| !u.trim().is_empty())
                .into_iter()
                .cloned()
                .collect(),
            contact_consent: false,
            request_id,
            channel_key: key,
        })
        .await?
        .into_inner();
    Ok(Json(json!([{
        "service_request_id": need.id,
        "service_notice": format!("已受理，由{}负责办理", need.agency_responsible),
        "account_id": Value::Null,
    }])))
}

#[derive(Deserialize)]
pub struct ListParams {
    #[serde(flatten)]
    params: HashMap<String, String>,
}

/// `GET /open311/v2/requests.json`: by `service_request_id` (comma-separated),
/// or a list filtered by `jurisdiction_id`, `service_code`, `start_date`,
/// `end_date` and `status`, `page_size` at a time (at most 100; the next
/// page's `page_token` comes in the `X-Next-Page-Token` header).
pub async fn get_requests(
    State(up): State<Upstreams>,
    Query(ListParams { params }): Query<ListParams>,
) -> Result<Response, Open311Error> {
    let reader = Reader::of(&params)?;
    let names: HashMap<String, String> = categories(&up).await?.into_iter().map(|c| (c.code, c.name)).collect();
    let mut client = needs(&up)?;
    if let Some(ids) = params.get("service_request_id").filter(|v| !v.is_empty()) {
        let ids: Vec<&str> = ids.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if ids.len() > PAGE as usize {
            return Err(bad_request(&format!("service_request_id 一次最多 {PAGE} 个")));
        }
        let mut found = Vec::new();
        for id in ids {
            let need = client.get_need(reader.get(id.to_string())).await?.into_inner();
            found.push(request_json(&need, &names, reader.is_public()));
        }
        return Ok(Json(Value::Array(found)).into_response());
    }
    let date = |k: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, Open311Error> {
        match params.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => chrono::DateTime::parse_from_rfc3339(v)
                .map(|d| Some(d.with_timezone(&chrono::Utc)))
                .map_err(|_| bad_request(&format!("{k} 应为 W3C 日期时间，如 2026-11-01T00:00:00+08:00"))),
        }
    };
    let (start, end) = (date("start_date")?, date("end_date")?);
    let status = params.get("status").map(String::as_str).unwrap_or("");
    if !["", "open", "closed", "open,closed", "closed,open"].contains(&status) {
        return Err(bad_request("status 应为 open 或 closed"));
    }
    let page_size = match params.get("page_size").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => PAGE,
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=PAGE).contains(n))
            .ok_or_else(|| bad_request(&format!("page_size 应为 1 到 {PAGE} 的整数")))?,
    };
    let request = match &reader {
        Reader::Key(key) => pb::ListNeedsRequest {
            region_code: params.get("jurisdiction_id").cloned().unwrap_or_default(),
            channel_key: key.clone(),
            ..Default::default()
        },
        Reader::Anonymous { jurisdiction } => pb::ListNeedsRequest {
            region_code: jurisdiction.clone(),
            public_view: true,
            ..Default::default()
        },
    };
    let page = client
        .list_needs(pb::ListNeedsRequest {
            category_code: params.get("service_code").cloned().unwrap_or_default(),
            page_size,
            page_token: params.get("page_token").cloned().unwrap_or_default(),
            ..request
        })
        .await?
        .into_inner();
    let in_window = |n: &pb::Need| {
        let at = n
            .request_time
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32));
        start.is_none_or(|s| at.is_some_and(|a| a >= s)) && end.is_none_or(|e| at.is_some_and(|a| a <= e))
    };
    let wanted = |n: &pb::Need| match status {
        "open" => !closed(n.state),
        "closed" => closed(n.state),
        _ => true,
    };
    let mut response = Json(Value::Array(
        page.needs
            .iter()
            .filter(|n| in_window(n) && wanted(n))
            .map(|n| request_json(n, &names, reader.is_public()))
            .collect(),
    ))
    .into_response();
    if !page.next_page_token.is_empty()
        && let Ok(token) = HeaderValue::from_str(&page.next_page_token)
    {
        response.headers_mut().insert(HeaderName::from_static(NEXT_PAGE), token);
    }
    Ok(response)
}

/// `GET /open311/v2/requests/{service_request_id}.json`.
pub async fn get_request(
    State(up): State<Upstreams>,
    Path(file): Path<String>,
    Query(ListParams { params }): Query<ListParams>,
) -> Result<Json<Value>, Open311Error> {
    let reader = Reader::of(&params)?;
    let id = file.strip_suffix(".json").unwrap_or(&file).to_string();
    let names: HashMap<String, String> = categories(&up).await?.into_iter().map(|c| (c.code, c.name)).collect();
    let need = needs(&up)?.get_need(reader.get(id)).await?.into_inner();
    Ok(Json(json!([request_json(&need, &names, reader.is_public())])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need() -> pb::Need {
        pb::Need {
            id: "n1".into(),
            category_code: "elevator".into(),
            description: "5栋老人多，希望加装电梯".into(),
            address: "民生路 5 栋".into(),
            media_urls: vec!["https://img.example.cn/5.jpg".into()],
            agency_responsible: "渝中区解放碑街道".into(),
            status_note: "已受理".into(),
            location: Some(pb::Location {
                longitude: 106.5815,
                latitude: 29.5527,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn anonymous_readers_get_nothing_of_the_resident() {
        let names = HashMap::from([("elevator".to_string(), "加装电梯".to_string())]);
        let public = request_json(&need(), &names, true);
        assert_eq!(public["description"], "");
        assert_eq!(public["media_url"], "");
        assert_eq!(public["address"], "渝中区解放碑街道", "the street, not the door");
        assert_eq!(public["status_notes"], "已受理");
        assert_eq!(public["service_name"], "加装电梯");
        let full = request_json(&need(), &names, false);
        assert_eq!(full["description"], "5栋老人多，希望加装电梯");
        assert_eq!(full["address"], "民生路 5 栋");
        assert_eq!(full["media_url"], "https://img.example.cn/5.jpg");
        // A summary (a channel reading others' needs) has no address: the street stands in.
        let summary = pb::Need {
            address: String::new(),
            ..need()
        };
        assert_eq!(request_json(&summary, &names, false)["address"], "渝中区解放碑街道");
    }

    #[test]
    fn anonymous_reads_name_a_jurisdiction() {
        let params = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(Reader::of(&params(&[])).is_err());
        assert!(Reader::of(&params(&[("jurisdiction_id", " ")])).is_err());
        let anonymous = Reader::of(&params(&[("jurisdiction_id", "500103")])).ok().unwrap();
        let get = anonymous.get("n1".into());
        assert!(get.public_view && get.channel_key.is_empty());
        assert_eq!(get.region_code, "500103");
        let keyed = Reader::of(&params(&[("api_key", "sk_1"), ("jurisdiction_id", "500103")]))
            .ok()
            .unwrap();
        let get = keyed.get("n1".into());
        assert!(!get.public_view && !keyed.is_public());
        assert_eq!(get.channel_key, "sk_1");
    }
}
