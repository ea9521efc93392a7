//! Runs the real service binary as a child process on an ephemeral port and captures what it prints.
#![allow(dead_code)]

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

/// The text of the log line the service prints once it listens; the port follows it.
const READY_TEXT: &str = "serving GraphQL on http://127.0.0.1:";
/// How long [`ServiceProcess::start`] waits for [`READY_TEXT`].
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait, once the process has exited, for the output readers to reach end of file.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The service binary running as a child process, listening on 127.0.0.1 on an ephemeral port.
///
/// Dropping it kills the process (SIGKILL) if it is still running.
pub struct ServiceProcess {
    binary: String,
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl ServiceProcess {
    /// Spawns `binary` with `args` (e.g. `["serve"]`) and exactly the environment variables in `env`, plus
    /// `PATH` and `HOME` from the parent (a value in `env` wins), plus `BIND=127.0.0.1:0` unless `env` sets
    /// `BIND`. Stdin is `/dev/null`; stdout and stderr are captured line by line into one shared buffer
    /// (see [`ServiceProcess::output`]).
    ///
    /// Waits up to 30 s for a line containing "serving GraphQL on http://127.0.0.1:" and takes the port
    /// from the digits after it. The line may contain ANSI colour codes (the plain `tracing` format) or be
    /// a JSON log line carrying the text in its "message" field.
    ///
    /// Test helper: panics on setup failure — the binary cannot be spawned, the process exits before the
    /// line, or the line does not come within 30 s (the process is killed) — with the captured output in
    /// the panic message. Must be called inside a Tokio runtime.
    pub async fn start(binary: &str, args: &[&str], env: &[(&str, &str)]) -> ServiceProcess {
        let mut command = Command::new(binary);
        command.args(args).env_clear();
        for name in ["PATH", "HOME"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        if !env.iter().any(|(name, _)| *name == "BIND") {
            command.env("BIND", "127.0.0.1:0");
        }
        // Like the in-process apps: the same answers whether or not web/dist has been built here.
        if !env.iter().any(|(name, _)| *name == "WEB_DIR") {
            command.env("WEB_DIR", "/nonexistent/web-dist");
        }
        command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("ServiceProcess: cannot spawn `{binary}` {args:?}: {e}"));

        let output = Arc::new(Mutex::new(String::new()));
        let (line_tx, mut lines) = mpsc::unbounded_channel();
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(read_lines(stdout, output.clone(), line_tx.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(read_lines(stderr, output.clone(), line_tx)));
        }
        let mut process = ServiceProcess {
            binary: binary.to_owned(),
            child,
            port: 0,
            output,
            readers,
        };

        let deadline = Instant::now() + READY_TIMEOUT;
        let mut lines_open = true;
        let failure = loop {
            tokio::select! {
                biased;
                line = lines.recv(), if lines_open => match line {
                    Some(line) => {
                        if let Some(port) = parse_ready_line(&line) {
                            process.port = port;
                            return process;
                        }
                    }
                    // Both pipes are closed: the process is exiting; the branch below reports it.
                    None => lines_open = false,
                },
                status = process.child.wait() => {
                    break match status {
                        Ok(status) => format!("exited ({status}) before printing {READY_TEXT:?}"),
                        Err(e) => format!("could not be waited for ({e}) before printing {READY_TEXT:?}"),
                    };
                }
                () = sleep_until(deadline) => {
                    let _ = process.child.start_kill();
                    let _ = process.child.wait().await;
                    break format!("did not print {READY_TEXT:?} within {READY_TIMEOUT:?} (killed)");
                }
            }
        };
        process.drain_output().await;
        panic!(
            "ServiceProcess: `{binary}` {args:?} {failure}; its output:\n{}",
            process.output()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// "http://127.0.0.1:{port}"
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The child's process id, while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the process printed so far (stdout and stderr interleaved by arrival, whole lines, each
    /// ending in '\n'), exactly as printed, ANSI colour codes included.
    pub fn output(&self) -> String {
        lock(&self.output).clone()
    }

    /// [`ServiceProcess::output`] with the ANSI escape sequences (colours) removed.
    pub fn output_plain(&self) -> String {
        strip_ansi(&self.output())
    }

    /// Waits up to `limit` for `needle` to appear in [`ServiceProcess::output_plain`]; true if it did.
    pub async fn wait_for_output(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.output_plain().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits up to `grace` for the process to exit; SIGKILL after that. Returns the exit code,
    /// or None when the process ended by a signal (e.g. the SIGKILL) or could not be waited for. Then waits
    /// briefly (up to 2 s) for the output pipes to reach end of file, so that [`ServiceProcess::output`]
    /// holds what the process printed while shutting down. Calling it again returns the same result.
    pub async fn stop(&mut self, grace: Duration) -> Option<i32> {
        let status: Option<ExitStatus> = match self.child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                if let Some(pid) = self.child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) {
                    // SAFETY: kill(2) has no memory-safety preconditions. `pid` is our own child, not yet
                    // reaped (`id()` returns None once it is), so the pid cannot have been reused.
                    unsafe {
                        libc::kill(pid, libc::SIGTERM);
                    }
                }
                match timeout(grace, self.child.wait()).await {
                    Ok(status) => status.ok(),
                    Err(_) => {
                        let _ = self.child.start_kill();
                        self.child.wait().await.ok()
                    }
                }
            }
        };
        self.drain_output().await;
        status.and_then(|status| status.code())
    }

    /// Waits (bounded) for the output readers to reach end of file. A grandchild that inherited the pipes
    /// can keep them open; then this gives up after [`DRAIN_TIMEOUT`].
    async fn drain_output(&mut self) {
        let _ = timeout(DRAIN_TIMEOUT, async {
            for reader in self.readers.iter_mut().filter(|r| !r.is_finished()) {
                let _ = reader.await;
            }
        })
        .await;
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.start_kill();
        }
        for reader in &self.readers {
            reader.abort();
        }
    }
}

impl std::fmt::Debug for ServiceProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProcess")
            .field("binary", &self.binary)
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .finish()
    }
}

/// Copies `stream` line by line into `output` and sends each line to `lines` (ignored once nobody listens).
async fn read_lines(
    stream: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    lines: mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let mut line = String::from_utf8_lossy(&buf).into_owned();
                if !line.ends_with('\n') {
                    line.push('\n');
                }
                lock(&output).push_str(&line);
                let _ = lines.send(line);
            }
        }
    }
}

fn lock(output: &Mutex<String>) -> MutexGuard<'_, String> {
    // A panic while holding the lock cannot leave a String half-updated in a harmful way.
    output.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The port in a "serving GraphQL on http://127.0.0.1:{port}..." line: plain, ANSI-coloured, or JSON (where
/// a serializer may have written '/' as "\/").
fn parse_ready_line(line: &str) -> Option<u16> {
    let plain = strip_ansi(line).replace("\\/", "/");
    let rest = &plain[plain.find(READY_TEXT)? + READY_TEXT.len()..];
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..digits].parse().ok().filter(|port| *port != 0)
}

/// Removes ANSI escape sequences: CSI sequences (`ESC [ ... final byte`, e.g. colours) and two-character
/// escapes.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            // Parameter and intermediate bytes, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn ready_line_variants() {
        let plain = "2026-01-01T00:00:00Z  INFO serving GraphQL on http://127.0.0.1:4321/graphql";
        assert_eq!(parse_ready_line(plain), Some(4321));
        let coloured = "\u{1b}[2m2026-01-01\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m serving GraphQL on \
                        http://127.0.0.1:\u{1b}[1m5555\u{1b}[0m/graphql\n";
        assert_eq!(parse_ready_line(coloured), Some(5555));
        let json =
            r#"{"level":"INFO","fields":{"message":"serving GraphQL on http://127.0.0.1:4322/graphql"}}"#;
        assert_eq!(parse_ready_line(json), Some(4322));
        let escaped = r#"{"fields":{"message":"serving GraphQL on http:\/\/127.0.0.1:4323\/graphql"}}"#;
        assert_eq!(parse_ready_line(escaped), Some(4323));
        assert_eq!(
            parse_ready_line("serving GraphQL on http://127.0.0.1:0/graphql"),
            None
        );
        assert_eq!(
            parse_ready_line("serving GraphQL on http://127.0.0.1:/graphql"),
            None
        );
        assert_eq!(parse_ready_line("listening on 127.0.0.1:80"), None);
    }

    #[test]
    fn strips_ansi() {
        assert_eq!(
            strip_ansi("\u{1b}[32m INFO\u{1b}[0m x\u{1b}[2m=\u{1b}[0m1"),
            " INFO x=1"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
