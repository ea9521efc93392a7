//! The service under measurement as a child process (the bench build of the real binary), with
//! its own PostgreSQL or MariaDB database and Redis key prefix, plus the psql/pgbench probes the
//! benches read.
#![allow(dead_code)] // each bench uses part of this file

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const BENCH_SECRET_KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
/// Limits high enough that nothing is refused while every counter still runs.
pub const HIGH_LIMITS: &str = "findId.client=1000000000/600,findId.id=1000000000/600,\
checkLoginId.client=1000000000/600,checkLoginId.id=1000000000/600,\
issueResetToken.client=1000000000/600,issueResetToken.id=1000000000/600,\
verifyResetToken.client=1000000000/600,verifyResetToken.id=1000000000/600,\
signIn.client=1000000000/600,signIn.id=1000000000/600,resetMail.id=1000000000/600";

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A PostgreSQL database made for one bench run and dropped with it.
pub struct BenchDatabase {
    pub admin_url: String,
    pub name: String,
}

impl BenchDatabase {
    pub fn create(admin_url: &str, label: &str) -> BenchDatabase {
        let name = format!(
            "ar_bench_{label}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        psql(admin_url, &format!("create database {name}"));
        BenchDatabase {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    pub fn url(&self) -> String {
        let base = self
            .admin_url
            .rsplit_once('/')
            .map_or(self.admin_url.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }

    /// Committed plus rolled-back transactions of this database so far. PostgreSQL's backends
    /// flush their counts at most every few seconds when idle, so callers wait before reading.
    pub fn transactions(&self) -> u64 {
        psql(
            &self.admin_url,
            &format!(
                "select xact_commit + xact_rollback from pg_stat_database where datname = '{}'",
                self.name
            ),
        )
        .trim()
        .parse()
        .unwrap_or(0)
    }

    pub fn scalar(&self, sql: &str) -> String {
        psql(&self.url(), sql).trim().to_owned()
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin_url,
                "-qAtc",
                &format!("drop database if exists {} with (force)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A MariaDB database made for one bench run (through the `mariadb` client) and dropped with it.
pub struct BenchMariaDb {
    /// The server's URL without a database, e.g. `mysql://root@127.0.0.1:3306`.
    pub server: String,
    pub name: String,
}

impl BenchMariaDb {
    pub fn create(server: &str, label: &str) -> BenchMariaDb {
        let name = format!(
            "ar_bench_{label}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let db = BenchMariaDb {
            server: server.trim_end_matches('/').to_owned(),
            name,
        };
        db.run(None, &format!("create database {}", db.name));
        db
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Runs `sql` (one or more statements) in this database; its rows tab-separated, trimmed.
    pub fn scalar(&self, sql: &str) -> String {
        self.run(Some(&self.name), sql)
    }

    fn run(&self, database: Option<&str>, sql: &str) -> String {
        let url = url::Url::parse(&self.server).expect("a mysql:// server URL");
        let mut command = Command::new("mariadb");
        command.args([
            "-h",
            url.host_str().unwrap_or("127.0.0.1"),
            "-P",
            &url.port().unwrap_or(3306).to_string(),
            "-u",
            if url.username().is_empty() {
                "root"
            } else {
                url.username()
            },
            "-N",
            "-B",
            "-e",
            sql,
        ]);
        if let Some(password) = url.password() {
            command.arg(format!("-p{password}"));
        }
        if let Some(database) = database {
            command.arg(database);
        }
        let out = command.output().expect("mariadb client on PATH");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for BenchMariaDb {
    fn drop(&mut self) {
        self.run(None, &format!("drop database if exists {}", self.name));
    }
}

pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .expect("psql on PATH");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pgbench -S -c 32 -j 2` on a scratch database: what the database alone can serve for
/// single-row reads on this machine right now.
pub fn pgbench_select_tps(admin_url: &str, clients: u32, seconds: u64) -> f64 {
    let db = BenchDatabase::create(admin_url, "pgbench");
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", &db.url()])
        .output()
        .expect("pgbench on PATH");
    assert!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let out = Command::new("pgbench")
        .args([
            "-S",
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            &db.url(),
        ])
        .output()
        .expect("pgbench on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("pgbench printed no tps: {text}"))
}

/// Raw argon2id hashes per second with the service's default parameters on `threads` threads.
pub fn raw_argon2_ops_per_sec(threads: usize, seconds: f64) -> f64 {
    use argon2::{Algorithm, Argon2, Params, Version};
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let argon = Argon2::new(
                    Algorithm::Argon2id,
                    Version::V0x13,
                    Params::new(19456, 2, 1, Some(32)).unwrap(),
                );
                let mut out = [0u8; 32];
                // Into one area reused for every hash, as the service's hashing threads do: a
                // fresh allocation per hash would pay page faults the service does not.
                let mut memory = vec![argon2::Block::default(); argon.params().block_count()];
                let mut n = 0u64;
                while Instant::now() < deadline {
                    argon
                        .hash_password_into_with_memory(
                            format!("password-{t}-{n}").as_bytes(),
                            b"bench-salt-16byt",
                            &mut out,
                            &mut memory,
                        )
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let started = Instant::now();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64().max(seconds)
}

/// The service binary running `serve` with `env`; stopped (SIGTERM) when dropped.
pub struct Service {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

/// Resident memory of a process, in bytes (0 once it is gone).
pub fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_account-recovery")
}

/// Runs a CLI subcommand of the service binary with `env`; panics with its output on failure.
pub fn cli(env: &[(String, String)], args: &[&str]) {
    let out = Command::new(binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("service binary");
    assert!(
        out.status.success(),
        "account-recovery {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Service {
    pub fn start(env: &[(String, String)], dir: &Path) -> Service {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("service-{port}.log"));
        let child = Command::new(binary())
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("BIND", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join(format!("service-{port}.err"))).unwrap())
            .spawn()
            .expect("service binary");
        let service = Service { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return service;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the service did not listen within 60 s; see {}",
            service.log.display()
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn graphql_url(&self) -> String {
        format!("http://127.0.0.1:{}/graphql", self.port)
    }

    /// Resident memory now, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.pid())
    }

    /// The sum of every sample of the metric families whose name ends with `suffix`.
    pub async fn metric_sum(&self, suffix: &str) -> Option<f64> {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let mut found = None;
        // The exporter separates families with blank lines.
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (name, value) = line.rsplit_once(' ')?;
            let family = name.split('{').next().unwrap_or(name);
            if family.ends_with(suffix) {
                *found.get_or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
            }
        }
        found
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
