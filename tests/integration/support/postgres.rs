//! Private PostgreSQL clusters for the shared-store tests: `initdb` in a temp folder, a
//! loopback port, trust authentication, run as the `postgres` user when the tests run as root
//! (PostgreSQL refuses root). A watchdog stops each cluster and deletes its folder when the test
//! process ends. Without PostgreSQL's programs the tests skip with a note.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Which store a test body runs against.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in the test's folder.
    Sqlite,
    /// A fresh database of a private cluster.
    Postgres(String),
}

impl Backend {
    /// The `querylog.database` value.
    pub fn database(&self) -> String {
        match self {
            Self::Sqlite => "history.db".to_owned(),
            Self::Postgres(url) => url.clone(),
        }
    }

    /// A fresh PostgreSQL database in the shared test cluster, or `None` (with a note).
    pub fn postgres() -> Option<Self> {
        shared_cluster().map(|cluster| Self::Postgres(cluster.new_database()))
    }
}

/// One running cluster.
pub struct PgCluster {
    pub port: u16,
    data: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

static SHARED: OnceLock<Option<PgCluster>> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The cluster the tests share (each test takes a database of its own).
pub fn shared_cluster() -> Option<&'static PgCluster> {
    SHARED.get_or_init(PgCluster::start).as_ref()
}

/// PostgreSQL's programs, from Debian's versioned folder or the PATH.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(55_432)
}

impl PgCluster {
    /// A new cluster of its own (for tests that stop and start it), or `None` with a note.
    pub fn start() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            // .ci/run installs PostgreSQL where it can and then requires it: a CI run must not
            // pass by skipping these tests.
            assert!(
                std::env::var_os("HUSH_REQUIRE_POSTGRES").is_none(),
                "PostgreSQL is required (HUSH_REQUIRE_POSTGRES) but not installed"
            );
            eprintln!("note: PostgreSQL is not installed (.ci/run installs it); skipping");
            return None;
        };
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
        let data = tempfile::Builder::new()
            .prefix("hush-pg-")
            .tempdir()
            .ok()?
            .keep();
        if as_postgres {
            let _ = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status();
        }
        let cluster = Self {
            port: free_port(),
            data,
            bin,
            as_postgres,
        };
        let initdb = cluster.run(
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ],
            true,
        );
        let required = std::env::var_os("HUSH_REQUIRE_POSTGRES").is_some();
        if !initdb {
            assert!(!required, "initdb failed");
            eprintln!("note: initdb failed; skipping the PostgreSQL tests");
            return None;
        }
        if !cluster.pg_ctl_start() {
            assert!(!required, "PostgreSQL did not start");
            eprintln!("note: PostgreSQL did not start; skipping the PostgreSQL tests");
            return None;
        }
        cluster.watch_parent();
        Some(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Runs `program args… [data dir]`, quietly; true on success.
    fn run(&self, program: &str, args: &[&str], data_last: bool) -> bool {
        let mut command = self.command(program);
        command.args(args);
        if data_last {
            command.arg(&self.data);
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    fn pg_ctl_start(&self) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c max_connections=300",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        let started = self.run(
            "pg_ctl",
            &[
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-D",
                &self.data.to_string_lossy(),
                "start",
            ],
            false,
        );
        started && self.wait_until_accepting()
    }

    fn wait_until_accepting(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the server at once (as a crash or a pulled cable would look to hush).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-m",
                "immediate",
                "-D",
                &self.data.to_string_lossy(),
                "stop",
            ],
            false,
        );
    }

    /// Starts it again on the same port.
    pub fn restart(&self) {
        assert!(self.pg_ctl_start(), "PostgreSQL did not start again");
    }

    /// `postgres://…` of a new, empty database.
    pub fn new_database(&self) -> String {
        let name = format!("hush_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` in `database`, panicking on failure; returns what psql printed (tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-d", database, "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            output.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Stops the cluster and deletes its folder once this test process has ended.
    fn watch_parent(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!(
                "runuser -u postgres -- {} -m immediate -D {} stop",
                pg_ctl.display(),
                self.data.display()
            )
        } else {
            format!(
                "{} -m immediate -D {} stop",
                pg_ctl.display(),
                self.data.display()
            )
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {data}",
            pid = std::process::id(),
            data = self.data.display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}
