//! Query-history benchmarks (a plain binary: `cargo bench --bench querylog`).
//!
//! 1. Writer throughput: rows/s that `Store::insert_batch` sustains into a fresh database, beside
//!    the cheapest possible SQLite bulk insert of the same rows (one bare table, no indexes, no
//!    interning) measured in the same run.
//! 2. API latency on a generated history of `HUSH_BENCH_ROWS` rows (default 1,000,000; the
//!    README's figures use 10,000,000) spread over 30 days: summary, top lists, timeline and
//!    filtered query pages, each the median of several runs, beside a full `COUNT(*)` scan of
//!    the same table as the same-run reference. `HUSH_BENCH_ROWS=0` runs the writer only.
//!
//! With `HUSH_BENCH_POSTGRES=postgres://…` (an empty database the bench may fill) both run on
//! PostgreSQL too, in the same run: the writer beside the SQLite writer, the API reads on the
//! same generated history beside the SQLite figures.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hush::dns::outcome::Status;
use hush::querylog;
use hush::store::time::unix_micros;
use hush::store::{Interner, QueryFilter, QueryRow, Store, TimeRange, TopKind};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

const DAY_US: i64 = 86_400_000_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let postgres = std::env::var("HUSH_BENCH_POSTGRES").ok();
    runtime.block_on(async {
        writer_throughput(postgres.as_deref()).await;
        let rows = std::env::var("HUSH_BENCH_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000u64);
        if rows == 0 {
            return;
        }
        let sqlite = api_latency(rows).await;
        if let Some(url) = &postgres {
            postgres_api_latency(url, rows, &sqlite).await;
        }
    });
}

/// The rows a writer benchmark writes.
#[derive(Clone, Copy)]
enum Mix {
    /// A household: a few thousand names with a long tail, two dozen clients, 30% blocked, a
    /// query every 400 ms.
    Home,
    /// The shared harness's blocked run (`../shared/bench`): 100,000 listed names asked in
    /// random order by one client, all blocked, 20,000 a second.
    Harness,
}

/// The harness's blocked run asks 20,000 names a second.
const HARNESS_STEP_US: i64 = 50;

fn sample_rows(count: usize, mix: Mix) -> Vec<QueryRow> {
    let upstream: Arc<str> = Arc::from("udp://9.9.9.9:53");
    // One string per list, shared by its rows, as the rule set hands them to the log.
    let list: Arc<str> = Arc::from("xiaomi-telemetry");
    let category: Arc<str> = Arc::from("telemetry");
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // The household's day of queries ends now; the harness's burst is live (today's, which
    // SQLite counts in its hourly tables only until the day ends).
    let now = unix_micros(SystemTime::now());
    let start = match mix {
        Mix::Home => now - DAY_US,
        Mix::Harness => now - count as i64 * HARNESS_STEP_US,
    };
    (0..count)
        .map(|i| {
            let r = next();
            let (domain, site, blocked, client, step_us) = match mix {
                Mix::Home => {
                    let domain = (r % 5_000) * (r / 5_000 % 5_000) / 5_000;
                    (domain, domain % 97, r % 10 < 3, r % 24 + 2, 400_000)
                }
                Mix::Harness => {
                    let domain = r % 100_000;
                    (domain, domain, true, 2, HARNESS_STEP_US)
                }
            };
            QueryRow {
                time_us: start + i as i64 * step_us,
                client_name: None,
                protocol: hush::dns::arrival::Protocol::Udp,
                client: format!("192.168.1.{client}"),
                domain: format!("host{domain}.site{site}.example"),
                qtype: if r % 4 == 0 { 28 } else { 1 },
                status: if blocked {
                    Status::Blocked
                } else {
                    Status::Forwarded
                },
                rcode: 0,
                rule: blocked.then(|| Arc::from(format!("site{site}.example"))),
                list: blocked.then(|| Arc::clone(&list)),
                category: blocked.then(|| Arc::clone(&category)),
                group: None,
                upstream: (!blocked).then(|| Arc::clone(&upstream)),
                duration_us: (r % 20_000) as i64,
            }
        })
        .collect()
}

/// A number from the environment, or the default.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a writer run measured.
struct WriteRate {
    rows_per_s: f64,
    /// CPU time of the whole process (the calling thread and SQLite's) per row.
    cpu_us_per_row: f64,
}

/// CPU time this process has used so far (Linux: `/proc/self/stat`, in clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .skip(11)
                .take(2)
                .map(|field| field.parse().unwrap_or(0))
                .collect();
            Some(fields.iter().sum::<u64>())
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The rate of `store`'s writer for `rows`, in batches of `batch_size`.
async fn write_rate(store: &Store, rows: &[QueryRow], batch_size: usize) -> WriteRate {
    let mut interner = Interner::default();
    let cpu = process_cpu();
    let started = Instant::now();
    for batch in rows.chunks(batch_size) {
        store
            .insert_batch(batch, &mut interner)
            .await
            .expect("insert");
    }
    WriteRate {
        rows_per_s: rows.len() as f64 / started.elapsed().as_secs_f64(),
        cpu_us_per_row: (process_cpu() - cpu).as_secs_f64() * 1e6 / rows.len() as f64,
    }
}

/// A store on the PostgreSQL database `url`, emptied first.
async fn postgres_store(url: &str) -> Store {
    let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
    for sql in ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"] {
        sqlx::query(sql)
            .execute(&mut db)
            .await
            .expect("empty the database");
    }
    db.close().await.expect("close");
    Store::for_config(&postgres_config(url))
        .await
        .expect("open postgres store")
}

fn postgres_config(url: &str) -> hush::config::QueryLogConfig {
    hush::config::QueryLogConfig {
        database: url.parse().expect("url"),
        instance: Some("bench".to_owned()),
        config_dir: std::env::temp_dir(),
        ..Default::default()
    }
}

async fn writer_throughput(postgres: Option<&str>) {
    let writer_rows = setting("HUSH_BENCH_WRITER_ROWS", 200_000);
    let batch_size = setting("HUSH_BENCH_BATCH", querylog::MAX_BATCH);
    let rows = sample_rows(writer_rows, Mix::Home);
    let dir = tempfile::tempdir().expect("temp dir");

    let store = Store::open(&dir.path().join("writer.db"))
        .await
        .expect("open store");
    let hush_rate = write_rate(&store, &rows, batch_size).await;
    store.close().await;
    let harness_rows = sample_rows(writer_rows, Mix::Harness);
    let harness_store = Store::open(&dir.path().join("harness.db"))
        .await
        .expect("open store");
    let harness_rate = write_rate(&harness_store, &harness_rows, batch_size).await;
    harness_store.close().await;
    let reuse = std::env::var_os("HUSH_BENCH_POSTGRES_REUSE").is_some();
    let postgres_rate = match postgres {
        Some(url) if !reuse => {
            let store = postgres_store(url).await;
            let rate = write_rate(&store, &rows, batch_size).await;
            store.close().await;
            Some(rate)
        }
        _ => None,
    };

    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bare.db").display());
    let mut bare = SqliteConnection::connect(&url).await.expect("bare db");
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut bare)
        .await
        .expect("wal");
    sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut bare)
        .await
        .expect("sync");
    sqlx::query(
        "CREATE TABLE raw (time_us INTEGER, client TEXT, domain TEXT, qtype INTEGER, status INTEGER, \
         rcode INTEGER, rule TEXT, list TEXT, upstream TEXT, duration_us INTEGER)",
    )
    .execute(&mut bare)
    .await
    .expect("create");
    let cpu = process_cpu();
    let started = Instant::now();
    for batch in rows.chunks(batch_size) {
        let mut tx = bare.begin().await.expect("begin");
        for chunk in batch.chunks(500) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO raw ");
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.time_us)
                    .push_bind(row.client.clone())
                    .push_bind(row.domain.clone())
                    .push_bind(i64::from(row.qtype))
                    .push_bind(row.status.code())
                    .push_bind(i64::from(row.rcode))
                    .push_bind(row.rule.clone())
                    .push_bind(row.list.clone())
                    .push_bind(row.upstream.as_deref().map(str::to_owned))
                    .push_bind(row.duration_us);
            });
            insert.build().execute(&mut *tx).await.expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    let bare_rate = WriteRate {
        rows_per_s: writer_rows as f64 / started.elapsed().as_secs_f64(),
        cpu_us_per_row: (process_cpu() - cpu).as_secs_f64() * 1e6 / writer_rows as f64,
    };
    println!("writer: {writer_rows} rows in batches of {batch_size}");
    let line = |name: &str, rate: &WriteRate| {
        println!(
            "  {name:<28} {:>10.0} rows/s {:>6.2} µs CPU/row",
            rate.rows_per_s, rate.cpu_us_per_row
        );
    };
    line("hush insert_batch", &hush_rate);
    line("bare bulk insert (ref)", &bare_rate);
    println!(
        "  ratio hush/ref               {:>10.2} (rows/s) {:>6.2} (CPU/row)",
        hush_rate.rows_per_s / bare_rate.rows_per_s,
        hush_rate.cpu_us_per_row / bare_rate.cpu_us_per_row
    );
    line("hush, harness's blocked mix", &harness_rate);
    if let Some(rate) = postgres_rate {
        line("hush on PostgreSQL", &rate);
        println!(
            "  ratio PostgreSQL/SQLite      {:>10.2}",
            rate.rows_per_s / hush_rate.rows_per_s
        );
    }
}

/// Fills a store with `rows` rows over the last 30 days straight in SQL (far faster than the
/// writer, and the same schema and counts tables the writer keeps).
async fn generate(store_path: &std::path::Path, rows: u64) {
    let store = Store::open(store_path).await.expect("open store");
    store.close().await;
    let url = format!("sqlite://{}", store_path.display());
    let mut db = SqliteConnection::connect(&url).await.expect("connect");
    let now = unix_micros(SystemTime::now());
    let start = now - 30 * DAY_US;
    let step = (30 * DAY_US) / rows.max(1) as i64;
    let statements = [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         INSERT INTO domains (id, name) SELECT i, 'host' || i || '.site' || (i % 97) || '.example' FROM n"
            .to_owned(),
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) \
         INSERT INTO clients (id, address) SELECT i, '192.168.1.' || i FROM n"
            .to_owned(),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             INSERT INTO queries (time_us, client_id, domain_id, qtype, status, rcode, rule, list, category, upstream, duration_us) \
             SELECT {start} + i * {step}, 1 + abs(random()) % 40, \
                    1 + (abs(random()) % 20000) * (abs(random()) % 20000) / 20000, \
                    CASE WHEN i % 4 = 0 THEN 28 ELSE 1 END, s, 0, \
                    CASE WHEN s = 2 THEN 'site1.example' END, CASE WHEN s = 2 THEN 'xiaomi-telemetry' END, \
                    CASE WHEN s = 2 THEN 'telemetry' END, \
                    CASE WHEN s = 0 THEN 'udp://9.9.9.9:53' END, abs(random()) % 20000 \
             FROM (SELECT i, CASE abs(random()) % 10 WHEN 0 THEN 2 WHEN 1 THEN 2 WHEN 2 THEN 2 \
                                  WHEN 3 THEN 1 WHEN 4 THEN 1 ELSE 0 END AS s FROM n)",
            last = rows - 1
        ),
        "INSERT INTO minute_counts SELECT time_us / 60000000, status, COUNT(*) FROM queries GROUP BY 1, 2".to_owned(),
        "INSERT INTO hour_domains SELECT time_us / 3600000000, domain_id, status, COUNT(*) FROM queries GROUP BY 1, 2, 3"
            .to_owned(),
        "INSERT INTO hour_clients SELECT time_us / 3600000000, client_id, status, COUNT(*) FROM queries GROUP BY 1, 2, 3"
            .to_owned(),
        "INSERT INTO day_domains SELECT time_us / 86400000000, domain_id, status, COUNT(*) FROM queries GROUP BY 1, 2, 3"
            .to_owned(),
        "INSERT INTO day_clients SELECT time_us / 86400000000, client_id, status, COUNT(*) FROM queries GROUP BY 1, 2, 3"
            .to_owned(),
        "ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .expect("generate");
    }
    db.close().await.expect("close");
}

/// One API read, as the handlers issue it.
enum Read {
    Summary(TimeRange),
    Top(TopKind, TimeRange),
    Timeline(TimeRange),
    Page(QueryFilter),
}

impl Read {
    async fn run(&self, store: &Store) {
        let done = match self {
            Self::Summary(range) => store.summary(*range).await.map(drop),
            Self::Top(kind, range) => store.top(*kind, 10, *range).await.map(drop),
            Self::Timeline(range) => store.timeline(10, *range).await.map(drop),
            Self::Page(filter) => store.queries(filter).await.map(drop),
        };
        done.expect("read");
    }
}

/// Median of seven timed runs after one warm-up.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The API reads every backend is measured with, over `day` and `month` windows ending now.
fn cases(now: i64) -> Vec<(&'static str, Read)> {
    let day = TimeRange {
        from_us: now - DAY_US,
        to_us: now,
    };
    let month = TimeRange {
        from_us: now - 30 * DAY_US,
        to_us: now,
    };
    let page = |filter: QueryFilter| {
        Read::Page(QueryFilter {
            limit: 100,
            ..filter
        })
    };
    vec![
        ("summary, 24h", Read::Summary(day)),
        ("summary, 30d", Read::Summary(month)),
        ("top domains, 24h", Read::Top(TopKind::Domains, day)),
        ("top blocked, 24h", Read::Top(TopKind::Blocked, day)),
        ("top clients, 24h", Read::Top(TopKind::Clients, day)),
        ("top domains, 30d", Read::Top(TopKind::Domains, month)),
        ("timeline 10m, 24h", Read::Timeline(day)),
        ("queries, newest page", page(QueryFilter::default())),
        (
            "queries, status=blocked",
            page(QueryFilter {
                status: Some(Status::Blocked),
                ..Default::default()
            }),
        ),
        (
            "queries, client=one",
            page(QueryFilter {
                client: Some("192.168.1.7".into()),
                ..Default::default()
            }),
        ),
        (
            "queries, domain~site13.",
            page(QueryFilter {
                domain: Some("site13.".into()),
                ..Default::default()
            }),
        ),
        (
            // About 150 rows over 30 days, a few an hour at most: the slow case of a name
            // filter, whose rows are found hour by hour.
            "queries, domain=host15000. (rare)",
            page(QueryFilter {
                domain: Some("host15000.".into()),
                ..Default::default()
            }),
        ),
        (
            "queries, type=AAAA, 24h",
            page(QueryFilter {
                qtype: Some(28),
                from_us: Some(day.from_us),
                ..Default::default()
            }),
        ),
    ]
}

/// The median time of each of [`cases`] on `store`.
async fn measure(store: &Store) -> Vec<(&'static str, Duration)> {
    let mut measured = Vec::new();
    for (name, read) in cases(unix_micros(SystemTime::now())) {
        let mut times = Vec::new();
        for _ in 0..8 {
            let started = Instant::now();
            read.run(store).await;
            times.push(started.elapsed());
        }
        measured.push((name, median(times.split_off(1))));
    }
    measured
}

/// Fills the PostgreSQL store with `rows` rows like [`generate`] does for SQLite, then times the
/// same reads beside the SQLite figures of this run (`sqlite`).
async fn postgres_api_latency(url: &str, rows: u64, sqlite: &[(&'static str, Duration)]) {
    // HUSH_BENCH_POSTGRES_REUSE=1 reads the history the previous run generated.
    if std::env::var_os("HUSH_BENCH_POSTGRES_REUSE").is_some() {
        let store = Store::for_config(&postgres_config(url))
            .await
            .expect("open");
        return report_postgres(&measure(&store).await, sqlite);
    }
    let store = postgres_store(url).await;
    let mut db = sqlx::PgConnection::connect(url).await.expect("postgres");
    let now = unix_micros(SystemTime::now());
    let start = now - 30 * DAY_US;
    let step = (30 * DAY_US) / rows.max(1) as i64;
    let started = Instant::now();
    let statements = [
        "INSERT INTO instances (id, name) VALUES (1, 'bench')".to_owned(),
        "INSERT INTO domains (id, name) SELECT i, 'host' || i || '.site' || (i % 97) || '.example' \
         FROM generate_series(1, 20000) i"
            .to_owned(),
        "INSERT INTO clients (id, address) SELECT i, '192.168.1.' || i FROM generate_series(1, 40) i"
            .to_owned(),
        format!(
            "INSERT INTO queries (time_us, instance_id, client_id, domain_id, qtype, status, rcode, rule, \
             list, category, upstream, duration_us) \
             SELECT {start} + i * {step}, 1, 1 + floor(random() * 40)::int8, \
                    1 + (floor(random() * 20000)::int8 * floor(random() * 20000)::int8) / 20000, \
                    CASE WHEN i % 4 = 0 THEN 28 ELSE 1 END, s, 0, \
                    CASE WHEN s = 2 THEN 'site1.example' END, CASE WHEN s = 2 THEN 'xiaomi-telemetry' END, \
                    CASE WHEN s = 2 THEN 'telemetry' END, CASE WHEN s = 0 THEN 'udp://9.9.9.9:53' END, \
                    floor(random() * 20000)::int8 \
             FROM (SELECT i, CASE floor(random() * 10)::int WHEN 0 THEN 2 WHEN 1 THEN 2 WHEN 2 THEN 2 \
                          WHEN 3 THEN 1 WHEN 4 THEN 1 ELSE 0 END AS s \
                   FROM generate_series(0::int8, {last}) i) g",
            last = rows - 1
        ),
        // In time order, as the writer adds them: a period's counts lie together in the table.
        "INSERT INTO minute_counts SELECT time_us / 60000000, 1, status, COUNT(*) FROM queries GROUP BY 1, 3 ORDER BY 1"
            .to_owned(),
        "INSERT INTO hour_domains SELECT time_us / 3600000000, 1, domain_id, status, COUNT(*) FROM queries GROUP BY 1, 3, 4 ORDER BY 1"
            .to_owned(),
        "INSERT INTO hour_clients SELECT time_us / 3600000000, 1, client_id, status, COUNT(*) FROM queries GROUP BY 1, 3, 4 ORDER BY 1"
            .to_owned(),
        "INSERT INTO day_domains SELECT time_us / 86400000000, 1, domain_id, status, COUNT(*) FROM queries GROUP BY 1, 3, 4 ORDER BY 1"
            .to_owned(),
        "INSERT INTO day_clients SELECT time_us / 86400000000, 1, client_id, status, COUNT(*) FROM queries GROUP BY 1, 3, 4 ORDER BY 1"
            .to_owned(),
        "VACUUM ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut db)
            .await
            .expect("generate");
    }
    println!(
        "\nPostgreSQL: generated {rows} rows over 30 days in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    report_postgres(&measure(&store).await, sqlite);
}

fn report_postgres(measured: &[(&'static str, Duration)], sqlite: &[(&'static str, Duration)]) {
    println!("API reads on PostgreSQL beside SQLite (same rows, same run):");
    for ((name, postgres), (_, sqlite)) in measured.iter().zip(sqlite) {
        println!(
            "  {name:<34} {:>9.2} ms   SQLite {:>9.2} ms   ratio {:>5.2}",
            ms(*postgres),
            ms(*sqlite),
            postgres.as_secs_f64() / sqlite.as_secs_f64()
        );
    }
}

async fn api_latency(rows: u64) -> Vec<(&'static str, Duration)> {
    let dir = tempfile::tempdir().expect("temp dir");
    // HUSH_BENCH_DB keeps the generated history at that path and reuses it on the next run
    // (generating 10M rows takes minutes; the windows are relative to now, so reuse it within
    // the hour).
    let path = std::env::var_os("HUSH_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("history.db"));
    if path.exists() {
        println!("\nreusing the history in {}", path.display());
    } else {
        let started = Instant::now();
        generate(&path, rows).await;
        println!(
            "\ngenerated {rows} rows over 30 days in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    let store = Store::open(&path).await.expect("open");
    let url = format!("sqlite://{}", path.display());
    let mut db = SqliteConnection::connect(&url).await.expect("connect");
    let mut times = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let _: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM queries")
            .fetch_one(&mut db)
            .await
            .expect("count");
        times.push(started.elapsed());
    }
    let reference = median(times.split_off(1));

    println!("API reads on {rows} rows (median of 7 after a warm-up):");
    println!(
        "  {:<26} {:>9.2} ms   (reference: a full COUNT(*) of queries)",
        "COUNT(*)",
        ms(reference)
    );
    let measured = measure(&store).await;
    for (name, took) in &measured {
        println!(
            "  {name:<26} {:>9.2} ms   {:>6.3} of the reference",
            ms(*took),
            took.as_secs_f64() / reference.as_secs_f64()
        );
    }
    measured
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
