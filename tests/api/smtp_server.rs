//! A small, real SMTP server on 127.0.0.1 for the integration tests: SMTP (no AUTH) over TCP, plain or
//! with TLS (STARTTLS or implicit, with a certificate the test made), records every accepted message (decoded with mail-parser), can answer slowly, and can be stopped and
//! started again on the same port.
// A test binary that does not (yet) use every item must still build without warnings.
#![allow(dead_code)]

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use mail_parser::{MessageParser, PartType};
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::{JoinHandle, JoinSet},
    time::{Instant, sleep},
};

/// Largest message (the DATA, dot-unstuffed) the server accepts; a bigger one is answered with 552.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest command line (CRLF included) the server reads; a longer one is answered with 500.
const MAX_COMMAND_LINE: u64 = 4096;
/// DATA is read in pieces of at most this many bytes (a longer line is read in several pieces).
const DATA_CHUNK: u64 = 64 * 1024;
/// How long `start_on` keeps retrying the bind.
const BIND_RETRY_FOR: Duration = Duration::from_secs(5);

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// MAIL FROM address, without <>
    pub from: String,
    /// RCPT TO addresses, without <>
    pub to: Vec<String>,
    /// The DATA as received (dot-unstuffed), CRLF line ends
    pub raw: String,
    /// Decoded Subject ("" if none)
    pub subject: String,
    /// Decoded text/plain part ("" if none)
    pub text: String,
    /// Decoded text/html part
    pub html: Option<String>,
    /// Whether the message came over TLS
    pub tls: bool,
}

/// How a TLS test server speaks TLS, with the certificate and key of `config`.
#[derive(Clone)]
pub struct SmtpTls {
    /// `true`: TLS from the first byte (`smtps://`); `false`: STARTTLS offered after EHLO.
    pub implicit: bool,
    pub config: Arc<tokio_rustls::rustls::ServerConfig>,
}

/// State shared between the handle and the background tasks.
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    /// Number of messages accepted so far; `wait_for_messages` waits on it.
    count: watch::Sender<usize>,
    /// Connections accepted so far.
    connections: std::sync::atomic::AtomicUsize,
    reply_delay: Mutex<Duration>,
    tls: Option<SmtpTls>,
}

impl Shared {
    fn reply_delay(&self) -> Duration {
        *lock(&self.reply_delay)
    }

    fn record(&self, mail: ReceivedMail) {
        let n = {
            let mut messages = lock(&self.messages);
            messages.push(mail);
            messages.len()
        };
        self.count.send_replace(n);
    }
}

/// A running (or stopped) test SMTP server. Dropping it stops serving too (without waiting).
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    /// `true` once stopped: the accept loop and every connection task watch it.
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpServer {
    /// Binds 127.0.0.1:0 and serves in a background task.
    ///
    /// # Panics
    /// If the bind fails.
    pub async fn start() -> SmtpServer {
        match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => Self::serve(listener, None),
            Err(e) => panic!("test SMTP server: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// As `start`, speaking TLS as `tls` says.
    pub async fn start_tls(tls: SmtpTls) -> SmtpServer {
        match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => Self::serve(listener, Some(tls)),
            Err(e) => panic!("test SMTP server: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Binds 127.0.0.1:port (to come back on the same port after stop), retrying the bind for up to 5 s.
    ///
    /// # Panics
    /// If the port could still not be bound after 5 s.
    pub async fn start_on(port: u16) -> SmtpServer {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + BIND_RETRY_FOR;
        loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => return Self::serve(listener, None),
                Err(e) if Instant::now() >= deadline => {
                    panic!("test SMTP server: cannot bind {addr} within {BIND_RETRY_FOR:?}: {e}")
                }
                Err(_) => sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn serve(listener: TcpListener, tls: Option<SmtpTls>) -> SmtpServer {
        let port = match listener.local_addr() {
            Ok(addr) => addr.port(),
            Err(e) => panic!("test SMTP server: no local address: {e}"),
        };
        let shared = Arc::new(Shared {
            messages: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            connections: std::sync::atomic::AtomicUsize::new(0),
            reply_delay: Mutex::new(Duration::ZERO),
            tls,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), shutdown_rx));
        SmtpServer {
            port,
            shared,
            shutdown,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "smtp://127.0.0.1:{port}"
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Delay before every reply line the server sends (greeting included). Applies to open connections too.
    ///
    /// One delay per reply: a multi-line reply (EHLO's) is delayed once, then written whole.
    pub fn set_reply_delay(&self, delay: Duration) {
        *lock(&self.shared.reply_delay) = delay;
    }

    /// Closes the listener AND every open connection (so a pooled client connection dies too), and waits until
    /// the port is free. Messages recorded so far stay readable via `messages()`.
    ///
    /// Connections are cut without a reply (a reply being delayed is never sent). Calling it again is a no-op.
    pub async fn stop(&self) {
        self.shutdown.send_replace(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            // The task owns the listener and joins every connection task before it ends, so once it has
            // ended every socket of this server is closed. A panic in it has nothing left to clean up.
            let _ = task.await;
        }
    }

    /// Everything accepted so far (after the final 250 to DATA).
    ///
    /// A message is recorded as soon as its terminating "." has been read, just before the 250 is written, so
    /// it is here by the time the client's `send()` has returned `Ok`.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.messages).clone()
    }

    /// How many messages were accepted so far, without copying them.
    pub fn count(&self) -> usize {
        *self.shared.count.borrow()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until at least n messages were accepted or the timeout passes; returns `messages()` either way.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let mut count = self.shared.count.subscribe();
        // The sender lives in `self.shared`, so `wait_for` cannot fail for a closed channel here.
        let _ = tokio::time::timeout(timeout, count.wait_for(|&c| c >= n)).await;
        self.messages()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // The background tasks see this and end by themselves (if the runtime is still running).
        self.shutdown.send_replace(true);
    }
}

/// Locks a mutex, going on through poisoning (the data here stays consistent after any panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    // Cloned for each connection (`shutdown` itself is borrowed by the select below).
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let shared = Arc::clone(&shared);
                    let mut shutdown = for_connections.clone();
                    connections.spawn(async move {
                        tokio::select! {
                            () = stopped(&mut shutdown) => {}
                            () = handle_connection(stream, &shared) => {}
                        }
                    });
                }
                // E.g. too many open files, or a connection reset before it was accepted: keep serving.
                Err(_) => sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Every connection task watches the same signal and so ends (dropping its socket) at once; aborting is
    // only a fallback.
    if tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        connections.shutdown().await;
    }
}

/// Resolves once the server is stopped (or its handle is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender (the handle) was dropped without a stop: end all the same.
    let _ = shutdown.wait_for(|&stopped| stopped).await;
}

/// The SMTP transaction state of one connection.
#[derive(Default)]
struct Session {
    greeted: bool,
    from: Option<String>,
    to: Vec<String>,
}

impl Session {
    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }
}

/// How a conversation ended.
enum Ended {
    /// QUIT, end of stream.
    Closed,
    /// STARTTLS was accepted: the handshake comes next, then a new conversation without greeting.
    StartTls,
}

async fn handle_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    // An I/O or handshake error just ends the connection.
    match shared.tls.clone() {
        None => {
            let _ = converse_on(&mut stream, shared, Stage::Plain).await;
        }
        Some(tls) if tls.implicit => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
            if let Ok(mut stream) = acceptor.accept(stream).await {
                let _ = converse_on(&mut stream, shared, Stage::Tls { greet: true }).await;
            }
        }
        Some(tls) => {
            if let Ok(Ended::StartTls) = converse_on(&mut stream, shared, Stage::OffersStartTls).await {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
                if let Ok(mut stream) = acceptor.accept(stream).await {
                    let _ = converse_on(&mut stream, shared, Stage::Tls { greet: false }).await;
                }
            }
        }
    }
}

/// Where a conversation stands with respect to TLS.
#[derive(Clone, Copy)]
enum Stage {
    Plain,
    OffersStartTls,
    Tls { greet: bool },
}

async fn converse_on<S>(stream: &mut S, shared: &Shared, stage: Stage) -> io::Result<Ended>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let (reader, mut writer) = tokio::io::split(stream);
    // Empty when STARTTLS returns: the client waits for the 220 before its handshake.
    let mut reader = BufReader::new(reader);
    converse(&mut reader, &mut writer, shared, stage).await
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, shared: &Shared, text: &str) -> io::Result<()> {
    let delay = shared.reply_delay();
    if !delay.is_zero() {
        sleep(delay).await;
    }
    w.write_all(text.as_bytes()).await?;
    w.flush().await
}

async fn converse<R, W>(r: &mut R, w: &mut W, shared: &Shared, stage: Stage) -> io::Result<Ended>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if !matches!(stage, Stage::Tls { greet: false }) {
        reply(w, shared, "220 localhost ESMTP test\r\n").await?;
    }
    let over_tls = matches!(stage, Stage::Tls { .. });
    let mut session = Session::default();
    let mut line = Vec::new();
    loop {
        match read_line(r, &mut line, MAX_COMMAND_LINE).await? {
            Line::Eof => return Ok(Ended::Closed),
            Line::TooLong => {
                skip_rest_of_line(r).await?;
                reply(w, shared, "500 5.5.2 Line too long\r\n").await?;
                continue;
            }
            Line::Complete => {}
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match command.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (command, ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                session.reset();
                session.greeted = true;
                let starttls = if matches!(stage, Stage::OffersStartTls) {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                let text = format!(
                    "250-localhost\r\n{starttls}250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n"
                );
                reply(w, shared, &text).await?;
            }
            "STARTTLS" if matches!(stage, Stage::OffersStartTls) => {
                reply(w, shared, "220 2.0.0 Ready to start TLS\r\n").await?;
                return Ok(Ended::StartTls);
            }
            "HELO" => {
                session.reset();
                session.greeted = true;
                reply(w, shared, "250 localhost\r\n").await?;
            }
            "MAIL" => {
                let text = if !session.greeted {
                    "503 5.5.1 Send EHLO or HELO first\r\n"
                } else if session.from.is_some() {
                    "503 5.5.1 Nested MAIL command\r\n"
                } else {
                    match path_after(arg, "FROM:") {
                        Some(from) => {
                            session.from = Some(from);
                            "250 2.1.0 OK\r\n"
                        }
                        None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
                    }
                };
                reply(w, shared, text).await?;
            }
            "RCPT" => {
                let text = if session.from.is_none() {
                    "503 5.5.1 Need MAIL before RCPT\r\n"
                } else {
                    match path_after(arg, "TO:") {
                        Some(to) if !to.is_empty() => {
                            session.to.push(to);
                            "250 2.1.5 OK\r\n"
                        }
                        _ => "501 5.5.4 Syntax: RCPT TO:<address>\r\n",
                    }
                };
                reply(w, shared, text).await?;
            }
            "DATA" => {
                if session.from.is_none() || session.to.is_empty() {
                    reply(w, shared, "503 5.5.1 Need MAIL and RCPT before DATA\r\n").await?;
                    continue;
                }
                reply(w, shared, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let Some(data) = read_data(r).await? else {
                    session.reset();
                    reply(w, shared, "552 5.3.4 Message too big\r\n").await?;
                    continue;
                };
                let from = session.from.take().unwrap_or_default();
                let to = std::mem::take(&mut session.to);
                shared.record(ReceivedMail {
                    tls: over_tls,
                    ..decode(from, to, data)
                });
                reply(w, shared, "250 2.0.0 OK: queued\r\n").await?;
            }
            "RSET" => {
                session.reset();
                reply(w, shared, "250 2.0.0 OK\r\n").await?;
            }
            "NOOP" => reply(w, shared, "250 2.0.0 OK\r\n").await?,
            "QUIT" => {
                reply(w, shared, "221 2.0.0 Bye\r\n").await?;
                w.shutdown().await?;
                return Ok(Ended::Closed);
            }
            _ => reply(w, shared, "502 5.5.2 Command not implemented\r\n").await?,
        }
    }
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>` (keyword matched case-insensitively), without the <>.
fn path_after(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_owned())
    } else {
        let addr = rest.split_whitespace().next()?;
        Some(addr.to_owned())
    }
}

enum Line {
    /// The connection closed (possibly in the middle of a line, which is then dropped).
    Eof,
    /// `buf` holds a whole line, its LF included.
    Complete,
    /// `buf` holds the first `limit` bytes of a longer line.
    TooLong,
}

async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>, limit: u64) -> io::Result<Line> {
    buf.clear();
    let n = (&mut *r).take(limit).read_until(b'\n', buf).await?;
    Ok(if buf.last() == Some(&b'\n') {
        Line::Complete
    } else if n as u64 == limit && n > 0 {
        Line::TooLong
    } else {
        Line::Eof
    })
}

async fn skip_rest_of_line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        match read_line(r, &mut buf, DATA_CHUNK).await? {
            Line::Complete => return Ok(()),
            Line::TooLong => {}
            Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// Reads DATA up to the line ".", undoing dot-stuffing and turning bare LF into CRLF. `None` if it was larger
/// than `MAX_MESSAGE_BYTES` (it is still read to its end, so the connection can go on).
async fn read_data<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    let mut at_line_start = true;
    let mut piece = Vec::new();
    loop {
        let complete = match read_line(r, &mut piece, DATA_CHUNK).await? {
            Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
            Line::Complete => true,
            Line::TooLong => false,
        };
        let mut bytes = piece.as_slice();
        if at_line_start {
            if bytes == b".\r\n" || bytes == b".\n" {
                return Ok((!too_big).then_some(data));
            }
            if let Some(unstuffed) = bytes.strip_prefix(b".") {
                bytes = unstuffed;
            }
        }
        at_line_start = complete;
        if too_big {
            continue;
        }
        if complete {
            let content = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            data.extend_from_slice(content);
            if data.last() != Some(&b'\r') {
                data.push(b'\r');
            }
            data.push(b'\n');
        } else {
            data.extend_from_slice(bytes);
        }
        if data.len() > MAX_MESSAGE_BYTES {
            too_big = true;
            data = Vec::new();
        }
    }
}

fn decode(from: String, to: Vec<String>, data: Vec<u8>) -> ReceivedMail {
    let (subject, text, html) = match MessageParser::default().parse(&data) {
        Some(message) => {
            let subject = message.subject().unwrap_or_default().to_owned();
            let text = match message.text_part(0).map(|part| &part.body) {
                Some(PartType::Text(text)) => text.to_string(),
                _ => String::new(),
            };
            let html = match message.html_part(0).map(|part| &part.body) {
                Some(PartType::Html(html)) => Some(html.to_string()),
                _ => None,
            };
            (subject, text, html)
        }
        None => (String::new(), String::new(), None),
    };
    let raw = match String::from_utf8(data) {
        Ok(raw) => raw,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    ReceivedMail {
        from,
        to,
        raw,
        subject,
        text,
        html,
        tls: false,
    }
}

#[cfg(test)]
mod tests {
    // Also compiled into the latency bench (harness = false), where the tests are not built.
    #[allow(unused_imports)]
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path_after("FROM:<a@b.c> BODY=8BITMIME", "FROM:").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(path_after("from: <a@b.c>", "FROM:").as_deref(), Some("a@b.c"));
        assert_eq!(path_after("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(path_after("TO:x@y.z", "TO:").as_deref(), Some("x@y.z"));
        assert_eq!(path_after("TO:<x@y.z", "TO:"), None);
        assert_eq!(path_after("FROM <a@b.c>", "FROM:"), None);
        assert_eq!(path_after("", "TO:"), None);
    }

    #[tokio::test]
    async fn data_is_unstuffed_and_crlf_normalised() {
        let input: &[u8] = b"Subject: x\nA: b\r\n\r\n..leading dot\r\n.\r\nafter";
        let mut r = BufReader::new(input);
        let data = read_data(&mut r).await.unwrap().unwrap();
        assert_eq!(data, b"Subject: x\r\nA: b\r\n\r\n.leading dot\r\n");
    }

    #[tokio::test]
    async fn data_over_the_limit_is_refused_but_read_to_its_end() {
        let mut input = vec![b'x'; MAX_MESSAGE_BYTES + 10];
        input.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
        let mut r = BufReader::new(input.as_slice());
        assert_eq!(read_data(&mut r).await.unwrap(), None);
        let mut line = Vec::new();
        assert!(matches!(
            read_line(&mut r, &mut line, 100).await.unwrap(),
            Line::Complete
        ));
        assert_eq!(line, b"NOOP\r\n");
    }
}
