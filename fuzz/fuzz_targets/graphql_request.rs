//! Fuzzes GraphQL request decoding as the /graphql endpoint does it: a JSON body, the alias
//! count, the parser — any bytes, never a panic.
#![no_main]
use account_recovery::http::query_limits::too_many_aliases;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<async_graphql::Request>(body) {
        let _ = too_many_aliases(&request.query, 10);
        let _ = async_graphql::parser::parse_query(&request.query);
    }
});
