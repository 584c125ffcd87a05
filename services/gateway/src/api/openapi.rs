//! The OpenAPI 3.1 document of the API, generated from the route table and
//! the protos' descriptors (the same ones the dispatcher maps requests
//! with), so it cannot drift from what is served.

use super::RouteView;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn reference(m: &MessageDescriptor) -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", m.full_name()) })
}

/// The schema of one value of `kind`, noting messages to describe.
fn kind_schema(kind: &Kind, todo: &mut Vec<MessageDescriptor>) -> Value {
    match kind {
        Kind::String => json!({ "type": "string" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({ "type": "integer", "format": "int32" }),
        Kind::Uint32 | Kind::Fixed32 => json!({ "type": "integer", "format": "int32", "minimum": 0 }),
        // Written as numbers (all far below 2^53); strings are accepted too.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({ "type": "integer", "format": "int64" })
        }
        Kind::Float | Kind::Double => json!({ "type": "number" }),
        Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Kind::Enum(e) => json!({
            "type": "string",
            "enum": e.values().map(|v| v.name().to_string()).collect::<Vec<_>>(),
        }),
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
            "google.protobuf.Duration" => json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$" }),
            "google.protobuf.FieldMask" => json!({ "type": "string", "description": "逗号分隔的字段名" }),
            "google.protobuf.Struct" => json!({ "type": "object" }),
            "google.protobuf.Value" => json!({}),
            _ => {
                todo.push(m.clone());
                reference(m)
            }
        },
    }
}

pub fn field_schema(field: &FieldDescriptor, todo: &mut Vec<MessageDescriptor>) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({ "type": "object" });
        };
        let value = entry.map_entry_value_field();
        return json!({ "type": "object", "additionalProperties": kind_schema(&value.kind(), todo) });
    }
    let one = kind_schema(&field.kind(), todo);
    if field.is_list() {
        json!({ "type": "array", "items": one })
    } else {
        one
    }
}

fn message_schema(m: &MessageDescriptor, todo: &mut Vec<MessageDescriptor>) -> Value {
    let mut properties = Map::new();
    for field in m.fields() {
        properties.insert(field.name().to_string(), field_schema(&field, todo));
    }
    json!({ "type": "object", "properties": properties })
}

/// Fields a GET route takes in its query string: every field that is not a
/// path parameter, fixed, or a message.
fn query_parameters(view: &RouteView<'_>, todo: &mut Vec<MessageDescriptor>) -> Vec<Value> {
    view.input
        .fields()
        .filter(|f| !view.path_params.iter().any(|p| p.split('.').next() == Some(f.name())))
        .filter(|f| !view.route.fixed.iter().any(|(n, _)| *n == f.name()))
        .filter(|f| !matches!(f.kind(), Kind::Message(_) | Kind::Bytes))
        .map(|f| {
            json!({
                "name": f.name(),
                "in": "query",
                "required": false,
                "schema": field_schema(&f, todo),
                "explode": false,
            })
        })
        .collect()
}

fn problem_response() -> Value {
    json!({
        "description": "错误（RFC 9457 problem details）",
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
    })
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for part in path
        .trim_start_matches("/api/v1")
        .split(['/', ':', '-', '{', '}', '.', '_'])
    {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    id
}

pub fn document(routes: &[RouteView<'_>]) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut todo: Vec<MessageDescriptor> = Vec::new();
    for view in routes {
        let r = view.route;
        let mut parameters: Vec<Value> = view
            .path_params
            .iter()
            .map(|name| {
                let schema = super::field_at(&view.input, name)
                    .map(|f| field_schema(&f, &mut todo))
                    .unwrap_or_else(|| json!({ "type": "string" }));
                json!({ "name": name, "in": "path", "required": true, "schema": schema })
            })
            .collect();
        if !r.body {
            parameters.extend(query_parameters(view, &mut todo));
        }
        let output = match r.answer.and_then(|name| view.output.get_field_by_name(name)) {
            Some(field) => match field.kind() {
                Kind::Message(m) => m,
                _ => view.output.clone(),
            },
            None => view.output.clone(),
        };
        let success = match r.status {
            204 => json!({ "description": "成功" }),
            _ => json!({
                "description": "成功",
                "content": { "application/json": { "schema": reference(&output) } },
            }),
        };
        let mut operation = json!({
            "operationId": operation_id(r.method, r.path),
            "summary": r.summary,
            "tags": [r.tag],
            "description": format!("gRPC `{}`", r.rpc),
            "parameters": parameters,
            "responses": {
                r.status.to_string(): success,
                "default": problem_response(),
            },
        });
        if r.tag == "auth" && r.rpc != "sanshi.identity.v1.AuthService/ChangePassword" {
            // Registering and logging in need no token.
            operation["security"] = json!([]);
        }
        todo.push(output);
        if r.body {
            operation["requestBody"] = json!({
                "content": { "application/json": { "schema": reference(&view.input) } },
            });
            todo.push(view.input.clone());
        }
        paths
            .entry(r.path.to_string())
            .or_default()
            .insert(r.method.to_ascii_lowercase(), operation);
    }
    let mut schemas = Map::new();
    while let Some(m) = todo.pop() {
        if schemas.contains_key(m.full_name()) {
            continue;
        }
        let schema = message_schema(&m, &mut todo);
        schemas.insert(m.full_name().to_string(), schema);
    }
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": { "type": "string", "format": "uri-reference" },
                "title": { "type": "string" },
                "status": { "type": "integer" },
                "detail": { "type": "string" },
                "instance": { "type": "string" },
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": { "field": { "type": "string" }, "description": { "type": "string" } },
                    },
                },
            },
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "三师进社区平台 API",
            "version": "v1",
            "description": "Dashboards' and channels' HTTP/JSON API. Field names are the protos' \
                (snake_case), enums their names (short names accepted in queries), 64-bit integers numbers. Lists take \
                page_size and page_token; errors are RFC 9457 problem details.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn operation_ids_read_as_the_path() {
        assert_eq!(
            super::operation_id("POST", "/api/v1/applications/{id}:approve"),
            "postApplicationsIdApprove"
        );
        assert_eq!(super::operation_id("GET", "/api/v1/points/entries"), "getPointsEntries");
    }
}
