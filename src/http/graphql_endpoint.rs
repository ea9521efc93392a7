//! `/graphql`: POST runs one operation from an `application/json` body; GET serves GraphiQL, or
//! runs a query (never a mutation) from the query string.
use std::{net::SocketAddr, sync::Arc};

use async_graphql_axum::GraphQLResponse;
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
use crate::graphql::{errors::top_level, i18n::Lang, request::Bearer};

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

/// Runs a request on its parsed document (from the cache; an unparsable one is left to GraphQL,
/// which reports the error properly).
async fn execute(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    parsed: Option<Arc<ParsedDocument>>,
) -> Response {
    let mut schema = &state.schema;
    if let Some(parsed) = parsed {
        if parsed.introspection_only
            && let Some(unlimited) = &state.introspection_schema
        {
            schema = unlimited;
        }
        if parsed.aliases > state.max_aliases {
            return reject(
                StatusCode::OK,
                QUERY_TOO_COMPLEX,
                "the query has too many aliases",
            );
        }
        request.set_parsed_query(parsed.document.clone());
    }
    let request = request
        .data(state.recovery.clone())
        .data(lang(headers))
        .data(Bearer::from_header(
            headers
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("")),
        ))
        .data(client_addr(peer, headers, &state.trusted_proxies));
    let mut response = schema.execute(request).await;
    tag_shape_errors(&mut response);
    GraphQLResponse::from(response).into_response()
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
    if let Some(trusted) = &state.trusted_documents
        && trusted.admit(&mut body).is_err()
    {
        return not_trusted();
    }
    match serde_json::from_value::<async_graphql::Request>(body) {
        Ok(request) => {
            let parsed = state.documents.parse(&request.query);
            execute(&state, peer, &headers, request, parsed).await
        }
        Err(_) => not_a_request(),
    }
}

pub async fn get_graphql(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        if !state.graphiql {
            return reject(
                StatusCode::NOT_FOUND,
                top_level::BAD_REQUEST,
                "GraphiQL is off; POST operations here",
            );
        }
        return graphiql::page();
    };
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(r) => r,
        Err(_) => {
            return reject(
                StatusCode::BAD_REQUEST,
                top_level::BAD_REQUEST,
                "malformed query string",
            );
        }
    };
    if let Some(trusted) = &state.trusted_documents
        && !trusted.admits_text(&request.query)
    {
        return not_trusted();
    }
    let parsed = state.documents.parse(&request.query);
    if parsed.as_ref().is_some_and(|p| p.has_mutation) {
        return reject(
            StatusCode::METHOD_NOT_ALLOWED,
            top_level::BAD_REQUEST,
            "mutations are accepted only over POST",
        );
    }
    execute(&state, peer, &headers, request, parsed).await
}
