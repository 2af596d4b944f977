//! One query as the store keeps it: what the writer inserts and what paging reads back.

use std::sync::Arc;

use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};

use crate::dns::arrival::Protocol;
use crate::dns::outcome::Status;

/// One query of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRow {
    pub time_us: i64,
    pub client: String,
    /// The name the device gave itself, if it gave one.
    pub client_name: Option<String>,
    pub protocol: Protocol,
    pub domain: String,
    pub qtype: u16,
    pub status: Status,
    pub rcode: u16,
    /// Shared strings: list and category are the list's own, and the rule, made once per row,
    /// goes into the writer's statement without another copy.
    pub rule: Option<Arc<str>>,
    pub list: Option<Arc<str>>,
    pub category: Option<Arc<str>>,
    /// The group whose list blocked the query.
    pub group: Option<Arc<str>>,
    pub upstream: Option<Arc<str>>,
    pub duration_us: i64,
}

/// A row read back, with the id that orders the history and serves as the paging cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub id: i64,
    /// The hush instance that answered the query (`querylog.instance`).
    pub instance: String,
    pub row: QueryRow,
}

/// The columns of a listed row, as [`StoredRow`] reads them, but for `instance`.
pub(super) const ROW_COLUMNS: &str = "SELECT q.id, q.time_us, c.address AS client, \
    d.name AS domain, q.qtype, q.status, q.rcode, q.rule, q.list, q.category, q.upstream, \
    q.duration_us, q.protocol, q.group_name, COALESCE(NULLIF(c.name, ''), NULLIF(l.name, '')) AS client_name";

/// Read from either engine's rows.
impl<'r, R> FromRow<'r, R> for StoredRow
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let small = |column: &'static str| -> Result<u16, sqlx::Error> {
            let value: i64 = row.try_get(column)?;
            u16::try_from(value).map_err(|err| sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: Box::new(err),
            })
        };
        let code: i64 = row.try_get("status")?;
        let status = Status::from_code(code).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".to_owned(),
            source: format!("unknown status code {code}").into(),
        })?;
        let shared = |column: &'static str| -> Result<Option<Arc<str>>, sqlx::Error> {
            let text: Option<String> = row.try_get(column)?;
            Ok(text.map(Arc::from))
        };
        let code: i64 = row.try_get("protocol")?;
        let protocol = Protocol::from_code(code).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "protocol".to_owned(),
            source: format!("unknown protocol code {code}").into(),
        })?;
        Ok(Self {
            id: row.try_get("id")?,
            instance: row.try_get("instance")?,
            row: QueryRow {
                time_us: row.try_get("time_us")?,
                client: row.try_get("client")?,
                client_name: row.try_get("client_name")?,
                protocol,
                domain: row.try_get("domain")?,
                qtype: small("qtype")?,
                status,
                rcode: small("rcode")?,
                rule: shared("rule")?,
                list: shared("list")?,
                category: shared("category")?,
                group: shared("group_name")?,
                upstream: shared("upstream")?,
                duration_us: row.try_get("duration_us")?,
            },
        })
    }
}
