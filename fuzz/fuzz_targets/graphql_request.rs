//! Fuzzes GraphQL request decoding as the /graphql endpoint does it: a JSON body, the parser, the
//! alias count — any bytes, never a panic.
#![no_main]
use account_recovery::http::query_limits::count_aliases;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<async_graphql::Request>(body)
        && let Ok(document) = async_graphql::parser::parse_query(&request.query)
    {
        let _ = count_aliases(&document);
    }
});
