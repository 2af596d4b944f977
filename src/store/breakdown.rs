//! Breakdowns the counts tables do not keep, read from the raw rows of a window through the
//! time index (which carries the client and the status): queries by type and answer code, by
//! upstream, and by client per time slot. For the Pi-hole compatible API's summary, upstream
//! and history views; their cost grows with the window's rows, so they are for windows of a
//! day, not months.

use super::tables::push_time_range;
use super::time::TimeRange;
use super::{Store, StoreError};

/// Queries of one type with one answer code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeCount {
    pub qtype: u16,
    pub rcode: u16,
    pub count: i64,
}

/// Forwarded queries of one upstream, and their mean time.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamCount {
    pub upstream: String,
    pub count: i64,
    pub mean_seconds: f64,
}

/// One client's queries in one slot of a timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSlot {
    pub slot_start_us: i64,
    pub address: String,
    pub name: Option<String>,
    pub count: i64,
}

impl Store {
    pub async fn type_counts(&self, range: TimeRange) -> Result<Vec<TypeCount>, StoreError> {
        let mut sql = self.sql("SELECT qtype, rcode, COUNT(*) FROM queries WHERE ");
        push_time_range(&mut sql, range.from_us, range.to_us);
        sql.push(" GROUP BY qtype, rcode");
        let rows: Vec<(i64, i64, i64)> = self.fetch_all(sql).await?;
        Ok(rows
            .into_iter()
            .map(|(qtype, rcode, count)| TypeCount {
                qtype: u16::try_from(qtype).unwrap_or(0),
                rcode: u16::try_from(rcode).unwrap_or(0),
                count,
            })
            .collect())
    }

    pub async fn upstream_counts(
        &self,
        range: TimeRange,
    ) -> Result<Vec<UpstreamCount>, StoreError> {
        let mut sql = self.sql(
            "SELECT upstream, COUNT(*), CAST(AVG(duration_us) / 1e6 AS DOUBLE PRECISION) \
             FROM queries WHERE ",
        );
        push_time_range(&mut sql, range.from_us, range.to_us);
        sql.push(" AND upstream IS NOT NULL GROUP BY upstream ORDER BY 2 DESC");
        let rows: Vec<(String, i64, f64)> = self.fetch_all(sql).await?;
        Ok(rows
            .into_iter()
            .map(|(upstream, count, mean_seconds)| UpstreamCount {
                upstream,
                count,
                mean_seconds,
            })
            .collect())
    }

    /// Queries per client per slot of `slot_us`, slots aligned to the epoch.
    pub async fn client_slots(
        &self,
        range: TimeRange,
        slot_us: i64,
    ) -> Result<Vec<ClientSlot>, StoreError> {
        let mut sql = self.sql("SELECT t.slot * ");
        sql.push_bind(slot_us)
            .push(
                ", c.address, COALESCE(NULLIF(c.name, ''), NULLIF(l.name, '')), t.n FROM \
                 (SELECT time_us / ",
            )
            .push_bind(slot_us)
            .push(" AS slot, client_id, COUNT(*) AS n FROM queries WHERE time_us >= ")
            .push_bind(range.from_us)
            .push(" AND time_us < ")
            .push_bind(range.to_us)
            .push(
                " GROUP BY slot, client_id) t JOIN clients c ON c.id = t.client_id \
                 LEFT JOIN client_labels l ON l.address = c.address ORDER BY 1",
            );
        let rows: Vec<(i64, String, Option<String>, i64)> = self.fetch_all(sql).await?;
        Ok(rows
            .into_iter()
            .map(|(slot_start_us, address, name, count)| ClientSlot {
                slot_start_us,
                address,
                name,
                count,
            })
            .collect())
    }

    /// Distinct client addresses ever seen (within retention).
    pub async fn client_addresses(&self) -> Result<i64, StoreError> {
        let (count,): (i64,) = self
            .fetch_one(self.sql("SELECT COUNT(DISTINCT address) FROM clients"))
            .await?;
        Ok(count)
    }
}
