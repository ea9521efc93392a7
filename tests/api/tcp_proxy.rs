//! A TCP proxy a test puts between the service and Redis or the database, then cuts and restores.
#![allow(dead_code)]

use std::io;
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// New connections are forwarded to the upstream.
    Forwarding,
    /// New connections are accepted and held open silently: nothing is forwarded, nothing is answered.
    Holding,
    /// New connections are accepted and reset at once.
    Refusing,
}

#[derive(Clone, Copy, Debug)]
struct State {
    mode: Mode,
    /// Bumped by every cut: a forwarded connection lives only while the generation it started in is current.
    generation: u64,
}

/// A TCP proxy listening on `127.0.0.1:<ephemeral port>` that forwards every connection to one upstream
/// address, and that a test can cut (killing live connections) and restore.
///
/// Dropping the proxy stops the accept loop and closes every connection it holds or forwards (the
/// connection tasks end on the next poll of the runtime they run on).
pub struct TcpProxy {
    port: u16,
    upstream: String,
    state: watch::Sender<State>,
    accept_loop: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `upstream` (e.g. "127.0.0.1:6379").
    ///
    /// The upstream is connected to once per accepted connection (it need not be reachable yet); when
    /// that connect fails, the client connection is closed.
    ///
    /// Test helper: panics on setup failure (cannot bind the listening socket). Must be called inside a
    /// Tokio runtime.
    pub async fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("TcpProxy: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("TcpProxy: no local address: {e}"))
            .port();
        let (state, rx) = watch::channel(State {
            mode: Mode::Forwarding,
            generation: 0,
        });
        let accept_loop = tokio::spawn(accept_loop(listener, upstream.to_owned(), rx));
        TcpProxy {
            port,
            upstream: upstream.to_owned(),
            state,
            accept_loop,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "127.0.0.1:{port}"
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The upstream address given to [`TcpProxy::start`].
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Cut, simulating a dead network: every open forwarded connection is closed at once, both towards
    /// the client and towards the upstream (with a reset, so the client's next read or write fails), and
    /// from now on new connections are accepted and then held silently, forwarding nothing and answering
    /// nothing. A client therefore sees its connect succeed and then its reads time out, not a refused
    /// connection (the harder case for the code under test). Held connections stay open until
    /// [`TcpProxy::restore`], [`TcpProxy::cut_refusing`] or the proxy is dropped, which close them.
    pub fn cut(&self) {
        self.set_cut(Mode::Holding);
    }

    /// Like [`TcpProxy::cut`], but new connections are accepted and reset at once (fast failure, like a
    /// refused connection: the client's first read returns an error or 0 bytes immediately). Connections
    /// held by an earlier [`TcpProxy::cut`] are closed too.
    pub fn cut_refusing(&self) {
        self.set_cut(Mode::Refusing);
    }

    /// Forward again: new connections reach the upstream; connections held while cut are closed (they are
    /// never forwarded, so the client must reconnect).
    pub fn restore(&self) {
        self.state.send_modify(|s| s.mode = Mode::Forwarding);
    }

    /// Whether the proxy is cut (by [`TcpProxy::cut`] or [`TcpProxy::cut_refusing`]).
    pub fn is_cut(&self) -> bool {
        self.state.borrow().mode != Mode::Forwarding
    }

    fn set_cut(&self, mode: Mode) {
        self.state.send_modify(|s| {
            s.mode = mode;
            s.generation += 1;
        });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Closes the listener; the connection tasks end because the watch sender goes away with `self`.
        self.accept_loop.abort();
    }
}

impl std::fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpProxy")
            .field("port", &self.port)
            .field("upstream", &self.upstream)
            .field("cut", &self.is_cut())
            .finish()
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, mut rx: watch::Receiver<State>) {
    loop {
        let client = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => {
                    // E.g. too many open files: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            // The proxy was dropped.
            changed = rx.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        let state = *rx.borrow();
        match state.mode {
            Mode::Forwarding => {
                tokio::spawn(forward(client, upstream.clone(), rx.clone(), state.generation));
            }
            Mode::Holding => {
                tokio::spawn(hold(client, rx.clone()));
            }
            Mode::Refusing => reset(client),
        }
    }
}

/// Forwards one connection until either side closes it or the proxy is cut (or dropped).
async fn forward(mut client: TcpStream, upstream: String, mut rx: watch::Receiver<State>, generation: u64) {
    let _ = client.set_nodelay(true);
    let mut server: Option<TcpStream> = None;
    let cut = tokio::select! {
        () = wait_until(&mut rx, |s| s.generation != generation) => true,
        () = async {
            let Ok(stream) = TcpStream::connect(&upstream).await else { return };
            let _ = stream.set_nodelay(true);
            let server = server.insert(stream);
            let _ = copy_bidirectional(&mut client, server).await;
        } => false,
    };
    if cut {
        reset(client);
        if let Some(server) = server {
            reset(server);
        }
    }
}

/// Holds one connection open without reading or writing until the proxy is no longer holding.
async fn hold(client: TcpStream, mut rx: watch::Receiver<State>) {
    wait_until(&mut rx, |s| s.mode != Mode::Holding).await;
    reset(client);
}

/// Returns once `done` holds for the current state, or once the proxy is dropped.
async fn wait_until(rx: &mut watch::Receiver<State>, done: impl Fn(&State) -> bool) {
    // `wait_for` checks the current value first, so a cut that happened before this task started counts.
    let _ = rx.wait_for(done).await;
}

/// Closes a connection abortively (RST), so the peer notices at once.
fn reset(stream: TcpStream) {
    let _: io::Result<()> = stream.set_zero_linger();
    drop(stream);
}
