//! Client labels: the name a reverse lookup gave a client address, with when it was looked up.
//! Reads show a label wherever a client has no device name of its own.

use super::{Store, StoreError};

/// The SQL of a client's shown name, for a query that joins `clients c` and
/// `LEFT JOIN client_labels l ON l.address = c.address`: its device name, else its label.
pub(super) const SHOWN_NAME: &str = "COALESCE(NULLIF(c.name, ''), NULLIF(l.name, ''))";

impl Store {
    /// Client addresses with no label, or one looked up before `stale_before_us`.
    pub async fn unlabelled_clients(
        &self,
        stale_before_us: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut sql = self.sql(
            "SELECT DISTINCT c.address FROM clients c LEFT JOIN client_labels l ON l.address = c.address \
             WHERE l.updated_us IS NULL OR l.updated_us < ",
        );
        sql.push_bind(stale_before_us)
            .push(" LIMIT ")
            .push_bind(limit);
        let rows: Vec<(String,)> = self.fetch_all(sql).await?;
        Ok(rows.into_iter().map(|(address,)| address).collect())
    }

    /// Records what the lookup of `address` found (`None`: no name) at `now_us`.
    pub async fn set_client_label(
        &self,
        address: &str,
        name: Option<&str>,
        now_us: i64,
    ) -> Result<(), StoreError> {
        let mut sql = self.sql("INSERT INTO client_labels (address, name, updated_us) VALUES (");
        sql.push_bind(address)
            .push(", ")
            .push_bind(name.unwrap_or(""))
            .push(", ")
            .push_bind(now_us)
            // A lookup that finds nothing keeps the name an earlier one found: on a shared
            // database another instance may see a network this one cannot name.
            .push(
                ") ON CONFLICT (address) DO UPDATE SET name = CASE WHEN excluded.name = '' \
                 THEN client_labels.name ELSE excluded.name END, updated_us = excluded.updated_us",
            );
        self.execute(sql).await?;
        Ok(())
    }
}
