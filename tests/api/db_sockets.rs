//! The database connections send each statement at once (TCP_NODELAY): without it a statement
//! written in two parts waits for the server's delayed ACK. sqlx-core 0.9.0 did not set it, 0.9.1
//! does; this reads the option off the process's own sockets, so a regression cannot go unnoticed.
use std::os::fd::RawFd;

use account_recovery::app::{TokenBackend, connect_services};

use crate::helpers::{Backend, backend_settings, backend_test};

/// The remote port of a connected TCP socket.
fn peer_port(fd: RawFd) -> Option<u16> {
    // SAFETY: a zeroed sockaddr_storage is a valid out-buffer for getpeername, with its length.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: fd is an open descriptor of this process (or the call fails), addr/len as above.
    let ok = unsafe { libc::getpeername(fd, (&raw mut addr).cast(), &mut len) } == 0;
    if !ok {
        return None;
    }
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in>() };
            Some(u16::from_be(v4.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe { &*(&raw const addr).cast::<libc::sockaddr_in6>() };
            Some(u16::from_be(v6.sin6_port))
        }
        _ => None,
    }
}

fn nodelay(fd: RawFd) -> Option<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value/len are a valid out-buffer for an int option.
    let ok = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw mut value).cast(),
            &mut len,
        )
    } == 0;
    ok.then_some(value != 0)
}

/// TCP_NODELAY of every socket of this process connected to `port` (other tests' connections
/// included: they go through the same sqlx).
fn sockets_to(port: u16) -> Vec<(RawFd, bool)> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let fd: RawFd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            if !target.to_string_lossy().starts_with("socket:") || peer_port(fd)? != port {
                return None;
            }
            Some((fd, nodelay(fd)?))
        })
        .collect()
}

#[backend_test(servers)]
async fn database_connections_send_each_statement_at_once(backend: Backend) {
    let label = backend.name();
    let settings = backend_settings(&backend, &[]).await;
    let url = secrecy::ExposeSecret::expose_secret(&settings.database.url).to_owned();
    let port = url::Url::parse(&url).unwrap().port().unwrap_or(match backend {
        Backend::MySql(_) => 3306,
        _ => 5432,
    });
    let recovery = connect_services(&settings, TokenBackend::Configured)
        .await
        .expect("services");
    // A statement, so the pool surely holds an open connection.
    recovery
        .members
        .import(r#"{"loginId":"kim01","email":"kim@example.com","name":"Kim","password":"Blue-Harbor-47","ci":"CI-KIM"}"#, chrono::Utc::now())
        .await
        .expect("import");
    let sockets = sockets_to(port);
    assert!(!sockets.is_empty(), "[{label}] no socket to port {port} found");
    let delayed: Vec<RawFd> = sockets.iter().filter(|(_, on)| !on).map(|(fd, _)| *fd).collect();
    assert!(
        delayed.is_empty(),
        "[{label}] sockets to the database without TCP_NODELAY: {delayed:?} of {sockets:?}"
    );
}
