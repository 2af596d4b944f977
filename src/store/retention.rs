//! Retention: old rows and counts are deleted in small steps so it never stalls writing. The
//! same statements serve both engines; on a shared database every instance prunes, and a step
//! that finds nothing left to delete is harmless.

use super::tables::{DAILY, HOURLY, MINUTE_COUNTS};
use super::time::MINUTE_US;
use super::{Store, StoreError};

impl Store {
    /// One small step of retention: deletes up to `batch` query rows older than `cutoff_us`,
    /// the per-minute counts before it, and the oldest hour (day) of hourly (daily) counts if it
    /// ended before it. Returns the rows deleted; call again until it returns 0.
    pub async fn delete_older_than(&self, cutoff_us: i64, batch: i64) -> Result<u64, StoreError> {
        let mut rows =
            self.sql("DELETE FROM queries WHERE id IN (SELECT id FROM queries WHERE time_us < ");
        rows.push_bind(cutoff_us)
            .push(" ORDER BY id LIMIT ")
            .push_bind(batch)
            .push(")");
        let mut deleted = self.execute(rows).await?;
        let mut minutes = self.sql(format_args!("DELETE FROM {MINUTE_COUNTS} WHERE minute < "));
        minutes.push_bind(cutoff_us.div_euclid(MINUTE_US));
        deleted += self.execute(minutes).await?;
        for period in [&HOURLY, &DAILY] {
            let cutoff = cutoff_us.div_euclid(period.size_us);
            for table in period.tables() {
                let sql = period.retention_sql(self.sql(""), table, cutoff);
                deleted += self.execute(sql).await?;
            }
        }
        Ok(deleted)
    }
}
