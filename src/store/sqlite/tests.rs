//! The open hours' bookkeeping against the raw rows, with the writer's clock set by the test:
//! after every step the hourly tables equal a count of the raw rows for every closed hour, hold
//! nothing the raw rows lack, and the readers' figures are exact for open hours too.

use std::sync::Arc;

use sqlx::{Connection, SqliteConnection};

use super::SqliteStore;
use super::open_hours::OpenHours;
use crate::dns::arrival::Protocol;
use crate::dns::outcome::Status;
use crate::store::time::{HOUR_US, this_hour};
use crate::store::{Engine, Interner, QueryRow, Store, TimeRange, TopKind};

fn row(time_us: i64, domain: &str, blocked_by: Option<&str>) -> QueryRow {
    QueryRow {
        time_us,
        client: "192.168.1.23".into(),
        client_name: None,
        protocol: Protocol::Udp,
        domain: domain.into(),
        qtype: 1,
        status: if blocked_by.is_some() {
            Status::Blocked
        } else {
            Status::Forwarded
        },
        rcode: 0,
        rule: blocked_by.map(Arc::from),
        list: blocked_by.map(Arc::from),
        category: None,
        group: None,
        upstream: None,
        duration_us: 10,
    }
}

/// Rows in `hour`: `names` each once, in its middle.
fn rows_in(hour: i64, names: &[&str], blocked_by: Option<&str>) -> Vec<QueryRow> {
    names
        .iter()
        .map(|name| row(hour * HOUR_US + HOUR_US / 2, name, blocked_by))
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    db: SqliteConnection,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let store = SqliteStore::open(&path, 1).await.unwrap();
        store.release().await;
        let db = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        Self {
            _dir: dir,
            path,
            db,
        }
    }

    /// A store as a fresh start of hush opens it, reading through the common interface too.
    async fn open(&self) -> (SqliteStore, Store) {
        let sqlite = SqliteStore::open(&self.path, 1).await.unwrap();
        let store = Store {
            engine: Engine::Sqlite(sqlite.clone()),
            instance: Arc::from("test"),
        };
        (sqlite, store)
    }

    async fn rows(&mut self, sql: &str, hour: i64) -> Vec<(i64, i64, String, i64)> {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(hour)
            .fetch_all(&mut self.db)
            .await
            .unwrap()
    }

    /// The hourly tables' rows of `hour`, and the same counted from the raw rows.
    async fn hour(&mut self, hour: i64) -> [Vec<(i64, i64, String, i64)>; 2] {
        let tables = "SELECT 0, domain_id, CAST(status AS TEXT), count FROM hour_domains \
                      WHERE hour = ?1 UNION ALL \
                      SELECT 1, client_id, CAST(status AS TEXT), count FROM hour_clients \
                      WHERE hour = ?1 UNION ALL \
                      SELECT 2, client_id, list, count FROM hour_client_lists WHERE hour = ?1 \
                      ORDER BY 1, 2, 3";
        let raw = format!(
            "SELECT 0, domain_id, CAST(status AS TEXT), COUNT(*) FROM queries \
             WHERE time_us / {HOUR_US} = ?1 GROUP BY 2, 3 UNION ALL \
             SELECT 1, client_id, CAST(status AS TEXT), COUNT(*) FROM queries \
             WHERE time_us / {HOUR_US} = ?1 GROUP BY 2, 3 UNION ALL \
             SELECT 2, client_id, list, COUNT(*) FROM queries \
             WHERE time_us / {HOUR_US} = ?1 AND list IS NOT NULL GROUP BY 2, 3 ORDER BY 1, 2, 3"
        );
        [self.rows(tables, hour).await, self.rows(&raw, hour).await]
    }

    async fn assert_complete(&mut self, hour: i64) {
        let [tables, raw] = self.hour(hour).await;
        assert!(!raw.is_empty(), "hour {hour} has rows");
        assert_eq!(
            tables, raw,
            "the hourly tables count hour {hour} completely"
        );
    }

    async fn assert_not_counted(&mut self, hour: i64) {
        let [tables, raw] = self.hour(hour).await;
        assert!(!raw.is_empty(), "hour {hour} has rows");
        assert!(tables.is_empty(), "hour {hour} is open: {tables:?}");
    }

    async fn first_open_hour(&mut self) -> i64 {
        sqlx::query_scalar("SELECT first_open_hour FROM hourly_counts_state")
            .fetch_one(&mut self.db)
            .await
            .unwrap()
    }
}

/// The top names over `[first, end)` hours, as the API reads them.
async fn top(store: &Store, first: i64, end: i64) -> Vec<(String, i64)> {
    let range = TimeRange {
        from_us: first * HOUR_US,
        to_us: end * HOUR_US,
    };
    let top = store.top(TopKind::Domains, 10, range).await.unwrap();
    top.into_iter()
        .map(|item| (item.name, item.count))
        .collect()
}

fn counts(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[tokio::test]
async fn open_hours_reach_the_tables_once_ended_and_readers_never_miss_them() {
    let mut fixture = Fixture::new().await;
    let h = this_hour() - 10;
    let (sqlite, store) = fixture.open().await;
    let mut interner = Interner::default();

    // The first batch of a connection recounts the open hours; its own rows wait in memory.
    let first = [rows_in(h, &["a.example", "a.example", "b.example"], None)].concat();
    sqlite.insert_batch(&first, &mut interner, h).await.unwrap();
    fixture.assert_not_counted(h).await;
    assert_eq!(fixture.first_open_hour().await, h);
    let expected = counts(&[("a.example", 2), ("b.example", 1)]);
    assert_eq!(
        top(&store, h, h + 2).await,
        expected,
        "read from the raw rows"
    );

    // The next hour: the ended hour's sums are written; a late row of it goes straight in.
    let second = [
        rows_in(h, &["b.example"], None),
        rows_in(h + 1, &["t.example", "t.example"], Some("trackers")),
    ]
    .concat();
    sqlite
        .insert_batch(&second, &mut interner, h + 1)
        .await
        .unwrap();
    fixture.assert_complete(h).await;
    fixture.assert_not_counted(h + 1).await;
    let expected = counts(&[("a.example", 2), ("b.example", 2), ("t.example", 2)]);
    assert_eq!(top(&store, h, h + 2).await, expected);

    // A restart loses the sums: the first batch recounts the open hour from the raw rows.
    store.close().await;
    let (sqlite, store) = fixture.open().await;
    let mut interner = Interner::default();
    let third = rows_in(h + 1, &["t.example", "c.example"], Some("trackers"));
    sqlite
        .insert_batch(&third, &mut interner, h + 1)
        .await
        .unwrap();
    let [tables, _] = fixture.hour(h + 1).await;
    let tracked: i64 = tables
        .iter()
        .filter(|(table, ..)| *table == 0)
        .map(|row| row.3)
        .sum();
    assert_eq!(tracked, 2, "the rows written before the restart, recounted");
    assert_eq!(top(&store, h + 1, h + 2).await[0], ("t.example".into(), 3));

    // Sums past their limit are written early; the hour stays open and ends up exact.
    *sqlite.open_hours.lock().await = OpenHours::with_limit(2);
    let fourth = rows_in(h + 1, &["d.example", "e.example", "f.example"], None);
    sqlite
        .insert_batch(&fourth, &mut interner, h + 1)
        .await
        .unwrap();
    // (Fresh sums belong to no connection: that batch recounted first, then wrote its own
    // out.) The next batch fits; the one after passes the limit with the sums kept.
    let fifth = rows_in(h + 1, &["d.example"], None);
    sqlite
        .insert_batch(&fifth, &mut interner, h + 1)
        .await
        .unwrap();
    sqlite
        .insert_batch(&fifth, &mut interner, h + 1)
        .await
        .unwrap();
    let expected = counts(&[
        ("d.example", 3),
        ("t.example", 3),
        ("c.example", 1),
        ("e.example", 1),
        ("f.example", 1),
    ]);
    assert_eq!(top(&store, h + 1, h + 2).await, expected);

    // An hour ends with no batch to close it: the writer's call does.
    sqlite.close_ended_periods(h + 2).await.unwrap();
    fixture.assert_complete(h).await;
    fixture.assert_complete(h + 1).await;
    assert_eq!(fixture.first_open_hour().await, h + 2);
    let all = top(&store, h, h + 2).await;
    let total: i64 = all.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 13, "every row counted once: {all:?}");
}

#[tokio::test]
async fn without_the_state_row_every_hour_is_counted_as_it_is_written() {
    let mut fixture = Fixture::new().await;
    sqlx::query("DELETE FROM hourly_counts_state")
        .execute(&mut fixture.db)
        .await
        .unwrap();
    let h = this_hour() - 3;
    let (sqlite, store) = fixture.open().await;
    let rows = rows_in(h, &["a.example", "b.example"], Some("trackers"));
    let mut interner = Interner::default();
    sqlite.insert_batch(&rows, &mut interner, h).await.unwrap();
    fixture.assert_complete(h).await;
    sqlite.close_ended_periods(h + 1).await.unwrap();
    let expected = counts(&[("a.example", 1), ("b.example", 1)]);
    assert_eq!(top(&store, h, h + 1).await, expected);
}
