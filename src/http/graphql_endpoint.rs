//! `/graphql`: POST runs one operation from an `application/json` body; GET serves GraphiQL in
//! development and runs nothing (405).
use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{ConnectInfo, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    AppState,
    client_addr::client_addr,
    document_cache::ParsedDocument,
    graphiql,
    query_limits::{QUERY_TOO_COMPLEX, tag_shape_errors},
    trusted_documents::DOCUMENT_NOT_TRUSTED,
};
use crate::{
    domain::{challenge::ChallengeSolution, device::DeviceToken},
    graphql::{errors::top_level, i18n::Lang, request::Bearer},
};

/// A failure before GraphQL execution, in the GraphQL error shape.
fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"message": message, "extensions": {"code": code}}]})),
    )
        .into_response()
}

fn not_trusted() -> Response {
    reject(
        StatusCode::BAD_REQUEST,
        DOCUMENT_NOT_TRUSTED,
        "only the trusted documents of this service's clients run here",
    )
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// Runs a request on its parsed document (from the cache); a document that does not parse is
/// answered here, with its position.
async fn execute(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    parsed: Option<Arc<ParsedDocument>>,
) -> Response {
    let mut schema = &state.schema;
    let Some(parsed) = parsed else {
        return answer(headers, parse_failure(&request.query));
    };
    let mut schema_is_limited = true;
    if parsed.introspection_only
        && let Some(unlimited) = &state.introspection_schema
    {
        schema = unlimited;
        schema_is_limited = false;
    }
    let shape = &parsed.shape;
    let too_big = if shape.root_fields > state.limits.max_root_fields {
        Some("the operation has too many root fields")
    } else if shape.aliases > state.limits.max_aliases {
        Some("the query has too many aliases")
    } else if shape.fields > state.limits.max_complexity && schema_is_limited {
        // Each field costs at least 1, so this bounds the complexity whatever fragments hide.
        Some("the query has too many fields")
    } else {
        None
    };
    if let Some(message) = too_big {
        return reject(StatusCode::OK, QUERY_TOO_COMPLEX, message);
    }
    request.set_parsed_query(parsed.document.clone());
    let mut request = request
        .data(state.recovery.clone())
        .data(lang(headers))
        .data(Bearer::from_header(
            headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("")),
        ))
        .data(client_addr(peer, headers, &state.trusted_proxies));
    // A solved challenge, for a call past a target's limit (unreadable ones are ignored).
    if let Some(solution) = headers
        .get("x-challenge-solution")
        .and_then(|v| v.to_str().ok())
        .and_then(ChallengeSolution::parse)
    {
        request = request.data(solution);
    }
    // A device token (from `signIn`): its calls about its member count against it.
    if let Some(device) = headers
        .get("x-device-token")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DeviceToken::parse(v).ok())
    {
        request = request.data(device);
    }
    let mut response = schema.execute(request).await;
    tag_shape_errors(&mut response);
    answer(headers, response)
}

/// The media types of a GraphQL answer: `application/graphql-response+json` for clients that ask
/// for it, `application/json` for the others (also for `*/*` or no `Accept`).
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The answer as GraphQL over HTTP asks: a request that failed before execution (parse,
/// validation, variables) has no `data`, its errors a code, and — for clients of the
/// graphql-response media type — status 400; execution outcomes are 200.
fn answer(headers: &HeaderMap, mut response: async_graphql::Response) -> Response {
    let failed_request = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if failed_request {
        for error in &mut response.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", top_level::GRAPHQL_VALIDATION_FAILED);
            }
        }
    }
    let wants_graphql_response = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(GRAPHQL_RESPONSE));
    // Serialised once, straight from the response; a failed request is sent without `data`.
    let body = if failed_request {
        serde_json::to_vec(&json!({"errors": response.errors}))
    } else {
        serde_json::to_vec(&response)
    }
    .unwrap_or_else(|_| br#"{"errors":[{"message":"internal error"}]}"#.to_vec());
    let status = if failed_request && wants_graphql_response {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let media = if wants_graphql_response {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    };
    let mut answer = (status, [(header::CONTENT_TYPE, media)], body).into_response();
    answer.headers_mut().extend(response.http_headers);
    answer
}

/// A document that does not parse: where, without the parser's internals.
fn parse_failure(query: &str) -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new("the document is not valid GraphQL", None);
    if let Err(e) = async_graphql::parser::parse_query(query) {
        error.locations = e.positions().collect();
        if let Some(at) = error.locations.first() {
            error.message = format!("syntax error at line {}, column {}", at.line, at.column);
        }
    }
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", top_level::GRAPHQL_PARSE_FAILED);
    async_graphql::Response::from_errors(vec![error])
}

pub async fn post_graphql(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            top_level::BAD_REQUEST,
            "POST bodies must be application/json",
        );
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return reject(
            StatusCode::BAD_REQUEST,
            top_level::BAD_REQUEST,
            "one operation per request: batches are not accepted",
        );
    }
    let not_a_request = || {
        reject(
            StatusCode::BAD_REQUEST,
            top_level::BAD_REQUEST,
            "the body is not a GraphQL request object",
        )
    };
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return not_a_request();
    };
    match &state.trusted_documents {
        Some(trusted) if trusted.admit(&mut body).is_err() => return not_trusted(),
        // A persisted-document id means nothing to a service that keeps no documents.
        None if body.get("query").is_none() && body.get("documentId").is_some() => {
            return reject(
                StatusCode::BAD_REQUEST,
                top_level::BAD_REQUEST,
                "this service keeps no documents (TRUSTED_DOCUMENTS is not set): send the query",
            );
        }
        _ => {}
    }
    match serde_json::from_value::<async_graphql::Request>(body) {
        Ok(request) => {
            let parsed = state.documents.parse(&request.query);
            execute(&state, peer, &headers, request, parsed).await
        }
        Err(_) => not_a_request(),
    }
}

/// `GET /graphql` serves GraphiQL where it is on, and runs nothing: operations run over POST only,
/// so no token, code or name sits in a URL (access logs, history, Referer) and no link or image
/// can make a browser run one. Anything else is 405 with `Allow: POST`.
pub async fn get_graphql(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let asks_for_graphiql = query.as_deref().is_none_or(str::is_empty);
    if state.graphiql && asks_for_graphiql {
        return graphiql::page();
    }
    let mut refused = reject(
        StatusCode::METHOD_NOT_ALLOWED,
        top_level::BAD_REQUEST,
        "operations run over POST only (application/json)",
    );
    refused
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    refused
}
