//! Fuzzes GraphQL request decoding as the /graphql endpoint does it: a JSON body, the parser, the
//! shape count (root fields, aliases and fields, fragments expanded) — any bytes, never a panic.
#![no_main]
use account_recovery::http::query_limits::Shape;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<async_graphql::Request>(body)
        && let Ok(document) = async_graphql::parser::parse_query(&request.query)
    {
        let _ = Shape::of(&document);
    }
});
