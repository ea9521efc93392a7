//! The SCIM handlers: each parses its request, makes one `Provisioning` call (PATCH: a read, then
//! a replacement of that very version) and maps the answer.
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    ScimCaller, ScimState, discovery,
    error::{ScimError, scim_json},
    filter, patch,
    representation::{etag, project, state_from, to_resource, version_in},
    urns::LIST_SCHEMA,
};
use crate::{
    domain::member::MemberId,
    recovery::{ports::ProvisionedMember, provisioning::ProvisioningError},
};

/// The page size when a search names none.
const DEFAULT_COUNT: u64 = 100;
/// Attempts at a PATCH without `If-Match` when another write lands between its read and write.
const PATCH_ATTEMPTS: usize = 3;

pub async fn service_provider_config(caller: ScimCaller) -> Response {
    scim_json(&discovery::service_provider_config(&caller.base)).into_response()
}

pub async fn resource_types(caller: ScimCaller) -> Response {
    scim_json(&discovery::list(vec![discovery::user_resource_type(
        &caller.base,
    )]))
    .into_response()
}

pub async fn resource_type(caller: ScimCaller, Path(id): Path<String>) -> Result<Response, ScimError> {
    if id != "User" {
        return Err(ScimError::not_found());
    }
    Ok(scim_json(&discovery::user_resource_type(&caller.base)).into_response())
}

pub async fn schemas(caller: ScimCaller) -> Response {
    scim_json(&discovery::list(discovery::schemas(&caller.base))).into_response()
}

pub async fn schema(caller: ScimCaller, Path(id): Path<String>) -> Result<Response, ScimError> {
    discovery::schemas(&caller.base)
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .map(|s| scim_json(&s).into_response())
        .ok_or_else(ScimError::not_found)
}

/// What a search asks for, from a query string or a SearchRequest body.
#[derive(Default)]
struct Search {
    filter: Option<String>,
    start_index: u64,
    count: Option<u64>,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

fn paths(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An integer parameter; RFC 7644 §3.4.2.4 reads values below 1 (startIndex) or 0 (count) as those.
fn integer(raw: &str, name: &str) -> Result<i64, ScimError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::bad("invalidValue", format!("{name}: must be an integer")))
}

fn search_of_query(query: Option<&str>) -> Result<Search, ScimError> {
    let mut search = Search {
        start_index: 1,
        ..Search::default()
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "filter" => search.filter = Some(value.into_owned()),
            "startIndex" => search.start_index = integer(&value, "startIndex")?.max(1).unsigned_abs(),
            "count" => search.count = Some(integer(&value, "count")?.max(0).unsigned_abs()),
            "attributes" => search.attributes = paths(&value),
            "excludedAttributes" => search.excluded = paths(&value),
            _ => {}
        }
    }
    Ok(search)
}

pub async fn list(
    caller: ScimCaller,
    State(state): State<ScimState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let search = search_of_query(query.as_deref())?;
    run_search(caller, state, search).await
}

pub async fn search(
    caller: ScimCaller,
    State(state): State<ScimState>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let body = json_body(&body)?;
    let text_list = |name: &str| -> Vec<String> {
        match body.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => paths(s),
            _ => Vec::new(),
        }
    };
    let number = |name: &str| body.get(name).and_then(Value::as_i64);
    let search = Search {
        filter: body.get("filter").and_then(Value::as_str).map(str::to_owned),
        start_index: number("startIndex").unwrap_or(1).max(1).unsigned_abs(),
        count: number("count").map(|c| c.max(0).unsigned_abs()),
        attributes: text_list("attributes"),
        excluded: text_list("excludedAttributes"),
    };
    run_search(caller, state, search).await
}

pub async fn search_everything(_caller: ScimCaller) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "search one resource type at a time: POST /Users/.search",
    )
}

async fn run_search(caller: ScimCaller, state: ScimState, search: Search) -> Result<Response, ScimError> {
    let filter = search.filter.as_deref().map(filter::parse).transpose()?;
    let count = search.count.unwrap_or(DEFAULT_COUNT);
    let page = state
        .recovery
        .provisioning
        .search(&caller.ctx, filter.as_ref(), search.start_index - 1, count)
        .await?;
    let resources: Vec<Value> = page
        .members
        .iter()
        .map(|m| project(resource(&caller, m), &search.attributes, &search.excluded))
        .collect();
    Ok(scim_json(&json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": page.total,
        "startIndex": search.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    }))
    .into_response())
}

pub async fn create(
    caller: ScimCaller,
    State(state): State<ScimState>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let wanted = state_from(&json_body(&body)?)?;
    let member = state.recovery.provisioning.create(&caller.ctx, wanted).await?;
    Ok(answer(&caller, &member, StatusCode::CREATED, &[], &[]))
}

pub async fn read(
    caller: ScimCaller,
    State(state): State<ScimState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimError> {
    let search = search_of_query(query.as_deref())?;
    let member = state
        .recovery
        .provisioning
        .get(&caller.ctx, &member_id(id)?)
        .await?;
    Ok(answer(
        &caller,
        &member,
        StatusCode::OK,
        &search.attributes,
        &search.excluded,
    ))
}

pub async fn replace(
    caller: ScimCaller,
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let wanted = state_from(&json_body(&body)?)?;
    let expected = if_match(&headers);
    let member = state
        .recovery
        .provisioning
        .replace(&caller.ctx, &member_id(id)?, expected.as_deref(), wanted)
        .await?;
    Ok(answer(&caller, &member, StatusCode::OK, &[], &[]))
}

pub async fn patch(
    caller: ScimCaller,
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ScimError> {
    let operations = json_body(&body)?;
    let id = member_id(id)?;
    let expected = if_match(&headers);
    let provisioning = &state.recovery.provisioning;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let current = provisioning.get(&caller.ctx, &id).await?;
        let read_version = crate::recovery::provisioning::version_of(&current);
        if expected.as_ref().is_some_and(|v| *v != read_version) {
            return Err(ProvisioningError::VersionMismatch.into());
        }
        let mut user = to_resource(&current, "");
        patch::apply(&mut user, &operations)?;
        // The version read is the one changed: a write in between fails this one, not overwrites.
        match provisioning
            .replace(&caller.ctx, &id, Some(&read_version), state_from(&user)?)
            .await
        {
            Ok(member) => return Ok(answer(&caller, &member, StatusCode::OK, &[], &[])),
            Err(ProvisioningError::VersionMismatch) if expected.is_none() && attempts < PATCH_ATTEMPTS => {}
            Err(e) => return Err(e.into()),
        }
    }
}

pub async fn withdraw(
    caller: ScimCaller,
    State(state): State<ScimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let expected = if_match(&headers);
    state
        .recovery
        .provisioning
        .withdraw(&caller.ctx, &member_id(id)?, expected.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A member id as the path names it; no id of ours is longer than a UUID.
fn member_id(raw: String) -> Result<MemberId, ScimError> {
    if raw.len() > 64 {
        return Err(ScimError::not_found());
    }
    Ok(MemberId(raw))
}

/// The version `If-Match` names; none for `*` or no header.
fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(version_in)
}

fn json_body(body: &[u8]) -> Result<Value, ScimError> {
    serde_json::from_slice(body).map_err(|_| ScimError::bad("invalidSyntax", "the body is not valid JSON"))
}

fn resource(caller: &ScimCaller, member: &ProvisionedMember) -> Value {
    to_resource(member, &format!("{}/Users/{}", caller.base, member.member.id.0))
}

/// A single User with its `ETag` (and `Location` when created).
fn answer(
    caller: &ScimCaller,
    member: &ProvisionedMember,
    status: StatusCode,
    attributes: &[String],
    excluded: &[String],
) -> Response {
    let body = project(resource(caller, member), attributes, excluded);
    let mut response = (status, scim_json(&body)).into_response();
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&etag(member)) {
        headers.insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("{}/Users/{}", caller.base, member.member.id.0))
    {
        headers.insert(header::LOCATION, location);
    }
    response
}
