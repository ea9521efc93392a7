//! Import bench: the release binary's `member import` of `IMPORT_MEMBERS` (1,000,000) members on a
//! fresh PostgreSQL and a fresh MariaDB database, printing members/s, wall time and the import
//! process's peak RSS beside the database's own insert rate for as many rows, measured in the same
//! run. `cargo bench --bench member_import`; its variables are in docs/PERFORMANCE.md.
#[path = "support/service.rs"]
mod service;

use std::{
    io::{BufWriter, Write},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use service::{BENCH_SECRET_KEY, BenchDatabase, BenchMariaDb, binary, cli, env_or, psql};

/// The password of every plain line and, hashed once, of every `passwordHash` line.
const PASSWORD: &str = "Harbor-Blue-47";

/// Writes `members` lines, every `members / plain`-th with a plain password, the others sharing
/// one argon2id PHC hash; returns how many lines are plain, and the hash.
fn write_file(path: &Path, members: u64, plain: u64) -> (u64, String) {
    use argon2::PasswordHasher as _;
    let hash = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes())
        .expect("argon2")
        .to_string();
    let every = members.checked_div(plain).map_or(u64::MAX, |every| every.max(1));
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut plain_lines = 0;
    for i in 0..members {
        let secret = if i % every == every - 1 && plain_lines < plain {
            plain_lines += 1;
            format!(r#""password":"{PASSWORD}""#)
        } else {
            format!(r#""passwordHash":"{hash}""#)
        };
        writeln!(
            out,
            r#"{{"siteId":"site{}","loginId":"imp{i:07}","email":"imp{i:07}@bench.example","name":"Member {i}","ci":"CI-{i:07}","joinedAt":"2020-01-01T00:00:00Z",{secret}}}"#,
            i % 4
        )
        .unwrap();
    }
    out.flush().unwrap();
    (plain_lines, hash)
}

/// The file read line by line and each line parsed as JSON: the floor of any import's reading.
fn parse_rate(path: &Path) -> (u64, Duration) {
    use std::io::BufRead;
    let started = Instant::now();
    let mut lines = 0;
    for line in std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap()).lines() {
        let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert!(value.is_object());
        lines += 1;
    }
    (lines, started.elapsed())
}

/// A finished child: how long it ran, its CPU time, and its peak resident memory: the kernel's
/// high-water mark `VmHWM` of /proc/<pid>/status, read every 20 ms while it runs (the last
/// reading before it exits), and `ru_maxrss` from wait4 as a check (which also counts what this
/// process had resident when it spawned the child).
struct Finished {
    wall: Duration,
    cpu: Duration,
    hwm_kib: u64,
    max_rss_kib: i64,
    output: String,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn run_measured(env: &[(String, String)], args: &[&str]) -> Finished {
    let log = std::env::temp_dir().join(format!("ar-import-{}.log", std::process::id()));
    let started = Instant::now();
    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also gives its rusage"
    )]
    let child = Command::new(binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .expect("service binary");
    let pid = child.id();
    let sampler = std::thread::spawn(move || {
        let mut hwm = 0;
        // Until the process is gone (a zombie has no VmHWM line).
        while let Some(now) = vm_hwm_kib(pid) {
            hwm = hwm.max(now);
            std::thread::sleep(Duration::from_millis(20));
        }
        hwm
    });
    let mut status = 0;
    // SAFETY: wait4 on our own child, with pointers to locals that outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid as i32, "wait4");
    let output = std::fs::read_to_string(&log).unwrap_or_default()
        + &std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "account-recovery {args:?}: {output}"
    );
    let seconds = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    Finished {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        hwm_kib: sampler.join().unwrap(),
        max_rss_kib: usage.ru_maxrss,
        output,
    }
}

/// The database's own rate for the same rows: one `INSERT … SELECT` of `members` generated rows
/// (time-ordered ids as the import's UUIDv7, distinct keys, random digests, the same text sizes)
/// into a copy of the members table with its indexes, timed from the client, then dropped.
const PG_LIMIT: &str = "create table scratch (like members including all); \
insert into scratch (id, site_id, login_id, login_id_key, login_id_skeleton, email, name, member_type, \
join_type, ci_hash, ci_key_id, password_hash, password_changed_at, joined_at, status, created_at, \
updated_at, sign_in_locked, external_id, revision) \
select lpad(i::text, 36, '0'), 'site' || (i % 4), 'imp' || lpad(i::text, 7, '0'), 'imp' || lpad(i::text, 7, '0'), \
md5(i::text) || md5(i::text || 's'), 'imp' || lpad(i::text, 7, '0') || '@bench.example', 'Member ' || i, 'GENERAL', \
'CITIZEN', md5(i::text || 'c') || md5(i::text || 'd'), 'legacy', $$HASH$$, now(), now(), 'ACTIVE', now(), now(), \
false, null, 1 from generate_series(0, $$N$$ - 1) as i; drop table scratch";

const MYSQL_LIMIT: &str = "create table scratch like members; \
insert into scratch (id, site_id, login_id, login_id_key, login_id_skeleton, email, name, member_type, \
join_type, ci_hash, ci_key_id, password_hash, password_changed_at, joined_at, status, created_at, \
updated_at, sign_in_locked, external_id, revision) \
select lpad(seq, 36, '0'), concat('site', seq % 4), concat('imp', lpad(seq, 7, '0')), concat('imp', lpad(seq, 7, '0')), \
sha2(seq, 256), concat('imp', lpad(seq, 7, '0'), '@bench.example'), concat('Member ', seq), 'GENERAL', \
'CITIZEN', sha2(concat(seq, 'c'), 256), 'legacy', '$$HASH$$', now(), now(), 'ACTIVE', now(), now(), \
false, null, 1 from seq_0_to_$$LAST$$; drop table scratch";

struct Outcome {
    backend: &'static str,
    import: Finished,
    /// The limit's time right before and right after the import, whose mean the ratio uses.
    limits: [Duration; 2],
    stored: u64,
    distinct_hashes: u64,
}

fn report(o: &Outcome, members: u64) {
    let rate = members as f64 / o.import.wall.as_secs_f64();
    let limit = (o.limits[0] + o.limits[1]) / 2;
    let limit_rate = members as f64 / limit.as_secs_f64();
    println!(
        "{:<8} import {:>6.0} members/s, wall {:>5.1} s, CPU {:>5.1} s, peak RSS {:>5.1} MiB (VmHWM; ru_maxrss {:.1}) \
         | INSERT…SELECT {:>6.0} rows/s ({:.1} s before, {:.1} s after) | ratio {:.2} | stored {}, {} distinct hashes",
        o.backend,
        rate,
        o.import.wall.as_secs_f64(),
        o.import.cpu.as_secs_f64(),
        o.import.hwm_kib as f64 / 1024.0,
        o.import.max_rss_kib as f64 / 1024.0,
        limit_rate,
        o.limits[0].as_secs_f64(),
        o.limits[1].as_secs_f64(),
        rate / limit_rate,
        o.stored,
        o.distinct_hashes,
    );
    println!(
        "          goal ≤ 180 s: {}",
        if o.import.wall <= Duration::from_secs(180) {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn env_for(url: &str) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), url.to_owned()),
        ("SECRET_KEY".into(), BENCH_SECRET_KEY.into()),
        ("DEMO".into(), "false".into()),
        ("RUST_LOG".into(), env_or("IMPORT_LOG", "info")),
    ]
}

fn timed(run: impl FnOnce() -> String) -> Duration {
    let started = Instant::now();
    run();
    started.elapsed()
}

fn main() {
    let members: u64 = env_or("IMPORT_MEMBERS", "1000000")
        .parse()
        .expect("IMPORT_MEMBERS");
    let plain: u64 = env_or("IMPORT_PLAIN", "2000").parse().expect("IMPORT_PLAIN");
    let backends = env_or("IMPORT_BACKENDS", "postgres,mysql");
    let dir = std::env::temp_dir().join(format!("ar-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("members.jsonl");
    let (plain, hash) = write_file(&file, members, plain);
    let size = std::fs::metadata(&file).unwrap().len();
    let (lines, parsing) = parse_rate(&file);
    println!(
        "file: {members} members ({plain} plain passwords, the rest one shared argon2id hash), {:.0} MB; \
         read and parsed as JSON in {:.1} s ({:.0} lines/s); HASH_CONCURRENCY {}",
        size as f64 / 1e6,
        parsing.as_secs_f64(),
        lines as f64 / parsing.as_secs_f64(),
        env_or("HASH_CONCURRENCY", "one per CPU"),
    );
    let args = ["member", "import", file.to_str().unwrap()];
    for backend in backends.split(',').map(str::trim) {
        let outcome = match backend {
            "postgres" => {
                let db = BenchDatabase::create(
                    &env_or("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
                    "import",
                );
                let env = env_for(&db.url());
                cli(&env, &["migrate"]);
                let sql = PG_LIMIT
                    .replace("$$HASH$$", &format!("'{hash}'"))
                    .replace("$$N$$", &members.to_string());
                let before = timed(|| psql(&db.url(), &sql));
                let import = run_measured(&env, &args);
                let limits = [before, timed(|| psql(&db.url(), &sql))];
                Outcome {
                    backend: "postgres",
                    stored: db.scalar("select count(*) from members").parse().unwrap(),
                    distinct_hashes: db
                        .scalar("select count(distinct password_hash) from members")
                        .parse()
                        .unwrap(),
                    import,
                    limits,
                }
            }
            "mysql" => {
                let db = BenchMariaDb::create(
                    &env_or("BENCH_MYSQL_SERVER", "mysql://root@127.0.0.1:3306"),
                    "import",
                );
                let env = env_for(&db.url());
                cli(&env, &["migrate"]);
                let sql = MYSQL_LIMIT
                    .replace("$$HASH$$", &hash)
                    .replace("$$LAST$$", &(members - 1).to_string());
                let before = timed(|| db.scalar(&sql));
                let import = run_measured(&env, &args);
                let limits = [before, timed(|| db.scalar(&sql))];
                Outcome {
                    backend: "mariadb",
                    stored: db.scalar("select count(*) from members").parse().unwrap(),
                    distinct_hashes: db
                        .scalar("select count(distinct password_hash) from members")
                        .parse()
                        .unwrap(),
                    import,
                    limits,
                }
            }
            other => panic!("IMPORT_BACKENDS: postgres and/or mysql, not {other}"),
        };
        report(&outcome, members);
        if std::env::var_os("IMPORT_SHOW_OUTPUT").is_some() {
            print!("{}", outcome.import.output);
        }
        assert_eq!(outcome.stored, members, "every member stored");
        assert_eq!(
            outcome.distinct_hashes,
            plain + 1,
            "each plain password hashed on its own"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
