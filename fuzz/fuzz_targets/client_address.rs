//! Fuzzes the client address from X-Forwarded-For behind a trusted proxy: any header bytes,
//! never a panic.
#![no_main]
use std::net::SocketAddr;

use account_recovery::http::client_addr::client_addr;
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(header) else { return };
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", value);
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let trusted: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    let _ = client_addr(peer, &headers, &trusted);
});
