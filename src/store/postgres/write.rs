//! Writing a batch into PostgreSQL: one transaction of a few statements whatever the batch
//! size. Rows and counts travel as one array per column and are unpacked by `UNNEST`, so each
//! statement is prepared once and sent with a handful of parameters; counts are added with
//! `ON CONFLICT … DO UPDATE`, keys sorted so that two writers never wait on each other in a
//! circle.

use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::PgStore;
use crate::store::StoreError;
use crate::store::batch::{
    BatchCounts, Dictionary, EVERY_DAY, HashMap, Interner, client_keys, row_ids, split_client_key,
};
use crate::store::row::QueryRow;
use crate::store::tables::{MINUTE_COUNTS, PERIODS, Subject};

impl PgStore {
    /// Writes `rows` as instance `instance` in one transaction. On error nothing is written and
    /// the interner is emptied (a database restored meanwhile may hold other ids).
    pub async fn insert_batch(
        &self,
        rows: &[QueryRow],
        instance: &str,
        interner: &mut Interner,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let pool = self.pool().await?;
        let written = async {
            let mut tx = pool.begin().await?;
            let instance_id = match interner.instance {
                Some(id) => id,
                None => instance_id(&mut tx, instance).await?,
            };
            let client_keys = client_keys(rows);
            let [name_lookup, client_lookup] = interner.look_up_rows(rows, &client_keys);
            let domains = resolve_ids(&mut tx, Dictionary::Domains, &name_lookup.missing).await?;
            let clients = resolve_ids(&mut tx, Dictionary::Clients, &client_lookup.missing).await?;
            let ids = row_ids(&name_lookup, &domains, &client_lookup, &clients);
            insert_rows(&mut tx, rows, &ids, instance_id).await?;
            let counts = BatchCounts::of(rows, &ids, EVERY_DAY);
            add_counts(&mut tx, &counts, instance_id).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((instance_id, domains, clients))
        }
        .await;
        match self.observe(written) {
            Ok((instance_id, domains, clients)) => {
                interner.instance = Some(instance_id);
                interner.remember(domains, clients);
                Ok(())
            }
            Err(err) => {
                interner.forget();
                Err(err)
            }
        }
    }
}

async fn instance_id(tx: &mut PgConnection, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO instances (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM instances WHERE name = $1")
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
    Ok(id)
}

async fn insert_rows(
    tx: &mut PgConnection,
    rows: &[QueryRow],
    ids: &[(i64, i64)],
    instance: i64,
) -> Result<(), sqlx::Error> {
    let column = |value: fn(&QueryRow) -> i64| rows.iter().map(value).collect::<Vec<i64>>();
    let text = |value: fn(&QueryRow) -> Option<&str>| {
        rows.iter()
            .map(|row| value(row).map(str::to_owned))
            .collect::<Vec<Option<String>>>()
    };
    sqlx::query(
        "INSERT INTO queries (time_us, instance_id, client_id, domain_id, qtype, status, rcode, \
         rule, list, category, upstream, duration_us, protocol, group_name) \
         SELECT time_us, $1, client_id, domain_id, qtype, status, rcode, rule, list, category, \
         upstream, duration_us, protocol, group_name FROM UNNEST($2::int8[], $3::int8[], \
         $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::text[], $9::text[], $10::text[], \
         $11::text[], $12::int8[], $13::int8[], $14::text[]) AS r(time_us, client_id, domain_id, \
         qtype, status, rcode, rule, list, category, upstream, duration_us, protocol, group_name)",
    )
    .bind(instance)
    .bind(column(|row| row.time_us))
    .bind(ids.iter().map(|(_, client)| *client).collect::<Vec<i64>>())
    .bind(ids.iter().map(|(domain, _)| *domain).collect::<Vec<i64>>())
    .bind(column(|row| i64::from(row.qtype)))
    .bind(column(|row| row.status.code()))
    .bind(column(|row| i64::from(row.rcode)))
    .bind(text(|row| row.rule.as_deref()))
    .bind(text(|row| row.list.as_deref()))
    .bind(text(|row| row.category.as_deref()))
    .bind(text(|row| row.upstream.as_deref()))
    .bind(column(|row| row.duration_us))
    .bind(column(|row| row.protocol.code()))
    .bind(text(|row| row.group.as_deref()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Adds a batch's counts to every counts table, as instance `instance`.
async fn add_counts(
    tx: &mut PgConnection,
    counts: &BatchCounts<'_>,
    instance: i64,
) -> Result<(), sqlx::Error> {
    add_numeric(
        tx,
        MINUTE_COUNTS,
        ["minute", "status"],
        &counts.minutes,
        instance,
    )
    .await?;
    for (period, (by_subject, lists)) in PERIODS
        .iter()
        .zip(counts.periods.iter().zip(&counts.client_lists))
    {
        for (subject, sums) in [Subject::Domain, Subject::Client]
            .into_iter()
            .zip(by_subject)
        {
            let keys = [period.unit, subject.column(), "status"];
            add_numeric(tx, subject.table(period), keys, sums, instance).await?;
        }
        let mut sorted: Vec<_> = lists.iter().collect();
        sorted.sort_unstable();
        let unit = period.unit;
        let table = period.client_lists;
        let sql = format!(
            "INSERT INTO {table} ({unit}, instance_id, client_id, list, category, count) \
             SELECT k0, $1, k1, k2, k3, n FROM UNNEST($2::int8[], $3::int8[], $4::text[], \
             $5::text[], $6::int8[]) AS r(k0, k1, k2, k3, n) \
             ON CONFLICT ({unit}, instance_id, client_id, list, category) \
             DO UPDATE SET count = {table}.count + excluded.count"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance)
            .bind(
                sorted
                    .iter()
                    .map(|(key, _)| key.period)
                    .collect::<Vec<i64>>(),
            )
            .bind(
                sorted
                    .iter()
                    .map(|(key, _)| key.client)
                    .collect::<Vec<i64>>(),
            )
            .bind(
                sorted
                    .iter()
                    .map(|(key, _)| key.list.to_owned())
                    .collect::<Vec<String>>(),
            )
            .bind(
                sorted
                    .iter()
                    .map(|(key, _)| key.category.to_owned())
                    .collect::<Vec<String>>(),
            )
            .bind(sorted.iter().map(|(_, n)| **n).collect::<Vec<i64>>())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Adds `sums`, keyed by the integer columns `keys`, to `table`.
async fn add_numeric<const N: usize>(
    tx: &mut PgConnection,
    table: &str,
    keys: [&str; N],
    sums: &HashMap<[i64; N], i64>,
    instance: i64,
) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<(&[i64; N], &i64)> = sums.iter().collect();
    sorted.sort_unstable();
    let mut sql = QueryBuilder::<Postgres>::new(format!("INSERT INTO {table} ("));
    let columns = keys.join(", ");
    let aliases: Vec<String> = (0..N).map(|i| format!("k{i}")).collect();
    sql.push(format_args!(
        "{columns}, instance_id, count) SELECT {}, ",
        aliases.join(", ")
    ))
    .push_bind(instance)
    .push(", n FROM UNNEST(");
    for i in 0..N {
        sql.push_bind(sorted.iter().map(|(key, _)| key[i]).collect::<Vec<i64>>())
            .push("::int8[], ");
    }
    sql.push_bind(sorted.iter().map(|(_, n)| **n).collect::<Vec<i64>>())
        .push(format_args!(
            "::int8[]) AS r({}, n) ON CONFLICT ({columns}, instance_id) \
             DO UPDATE SET count = {table}.count + excluded.count",
            aliases.join(", ")
        ));
    sql.build().execute(&mut *tx).await?;
    Ok(())
}

/// Ids for the `missing` names or clients: inserted if new, then read back, one
/// statement each whatever their number.
async fn resolve_ids(
    tx: &mut PgConnection,
    dictionary: Dictionary,
    missing: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    if missing.is_empty() {
        return Ok(HashMap::default());
    }
    let rows: Vec<(String, i64)> = match dictionary {
        Dictionary::Domains => {
            let names: Vec<String> = missing.iter().map(|name| (*name).to_owned()).collect();
            sqlx::query(
                "INSERT INTO domains (name) SELECT * FROM UNNEST($1::text[]) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(&names)
            .execute(&mut *tx)
            .await?;
            sqlx::query_as("SELECT name, id FROM domains WHERE name = ANY($1)")
                .bind(&names)
                .fetch_all(&mut *tx)
                .await?
        }
        Dictionary::Clients => {
            let (addresses, names): (Vec<String>, Vec<String>) = missing
                .iter()
                .map(|key| {
                    let (address, name) = split_client_key(key);
                    (address.to_owned(), name.to_owned())
                })
                .unzip();
            sqlx::query(
                "INSERT INTO clients (address, name) SELECT * FROM UNNEST($1::text[], $2::text[]) \
                 ON CONFLICT (address, name) DO NOTHING",
            )
            .bind(&addresses)
            .bind(&names)
            .execute(&mut *tx)
            .await?;
            sqlx::query_as(
                "SELECT CASE c.name WHEN '' THEN c.address ELSE c.address || ' ' || c.name END, c.id \
                 FROM clients c JOIN UNNEST($1::text[], $2::text[]) AS k(address, name) \
                 ON c.address = k.address AND c.name = k.name",
            )
            .bind(&addresses)
            .bind(&names)
            .fetch_all(&mut *tx)
            .await?
        }
    };
    let mut found = HashMap::with_capacity_and_hasher(rows.len(), Default::default());
    found.extend(rows);
    Ok(found)
}
