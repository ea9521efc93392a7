//! CPU time of the processes a bench run involves, read from /proc: the service, every PostgreSQL
//! and Redis process, the bench itself, and the whole machine, so a window's work can be divided
//! by what it produced.
#![allow(dead_code)] // each bench uses part of this file

use std::{collections::HashMap, time::Duration};

/// Clock ticks per second of /proc's CPU counters.
fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / ticks_per_sec())
}

/// User plus system ticks of a process, all its threads (None once it is gone).
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: the fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time a process has used so far.
pub fn process_cpu(pid: u32) -> Duration {
    ticks_to_duration(process_ticks(pid).unwrap_or(0))
}

/// Ticks of every process whose command name is `comm`, by pid.
fn ticks_of(comm: &str) -> HashMap<u32, u64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .filter_map(|pid| Some((pid, process_ticks(pid)?)))
        .collect()
}

/// Busy ticks of the whole machine (every state but idle and iowait, all cores).
fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let values: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    values.iter().take(8).sum::<u64>()
        - values.get(3).copied().unwrap_or(0)
        - values.get(4).copied().unwrap_or(0)
}

/// Whether a PostgreSQL process serves `database` (its title names it).
fn serves(pid: u32, database: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
        String::from_utf8_lossy(&c)
            .split_whitespace()
            .any(|w| w == database)
    })
}

/// CPU counters at one moment.
pub struct Snapshot {
    service: u64,
    bench: u64,
    postgres: HashMap<u32, u64>,
    mariadb: HashMap<u32, u64>,
    redis: HashMap<u32, u64>,
    machine: u64,
}

/// CPU used between two snapshots, by whom.
#[derive(Debug, Clone, Copy)]
pub struct Used {
    pub service: Duration,
    /// Every `postgres` process: backends of every database, WAL writer, checkpointer…
    pub postgres: Duration,
    /// Of which the backends serving the bench's database.
    pub postgres_own_backends: Duration,
    /// The MariaDB server (one process, every database).
    pub mariadb: Duration,
    pub redis: Duration,
    /// This process: load driver, probes, test servers.
    pub bench: Duration,
    /// Every core, every process, other users' included.
    pub machine: Duration,
}

impl Used {
    /// Service, PostgreSQL and Redis together.
    pub fn pipeline(&self) -> Duration {
        self.service + self.postgres + self.redis
    }
}

impl Snapshot {
    pub fn take(service_pid: u32) -> Snapshot {
        Snapshot {
            service: process_ticks(service_pid).unwrap_or(0),
            bench: process_ticks(std::process::id()).unwrap_or(0),
            postgres: ticks_of("postgres"),
            mariadb: ticks_of("mariadbd"),
            redis: ticks_of("redis-server"),
            machine: machine_busy_ticks(),
        }
    }

    /// What each part used since `self`; `database` picks the PostgreSQL backends of the bench.
    /// A process started since counts whole; one that ended since is lost (pooled connections
    /// and servers live throughout).
    pub fn used_until(&self, later: &Snapshot, database: &str) -> Used {
        let grown = |before: &HashMap<u32, u64>, after: &HashMap<u32, u64>, keep: &dyn Fn(u32) -> bool| {
            after
                .iter()
                .filter(|(pid, _)| keep(**pid))
                .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
                .sum::<u64>()
        };
        Used {
            service: ticks_to_duration(later.service.saturating_sub(self.service)),
            postgres: ticks_to_duration(grown(&self.postgres, &later.postgres, &|_| true)),
            postgres_own_backends: ticks_to_duration(grown(&self.postgres, &later.postgres, &|pid| {
                serves(pid, database)
            })),
            mariadb: ticks_to_duration(grown(&self.mariadb, &later.mariadb, &|_| true)),
            redis: ticks_to_duration(grown(&self.redis, &later.redis, &|_| true)),
            bench: ticks_to_duration(later.bench.saturating_sub(self.bench)),
            machine: ticks_to_duration(later.machine.saturating_sub(self.machine)),
        }
    }
}
