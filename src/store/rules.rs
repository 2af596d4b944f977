//! Custom allow/deny rules added through the API, kept in SQLite so they survive restarts.

use std::fmt;
use std::str::FromStr;

use super::time::unix_micros;
use super::{Store, StoreError};
use crate::rules::Polarity;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Allow,
    Deny,
}

impl RuleKind {
    /// What a rule of this kind does to DNS.
    pub fn polarity(self) -> Polarity {
        match self {
            Self::Allow => Polarity::Allow,
            Self::Deny => Polarity::Block,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

impl FromStr for RuleKind {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            _ => Err(()),
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRule {
    pub id: i64,
    pub kind: RuleKind,
    pub domain: String,
    pub comment: Option<String>,
    pub created_us: i64,
}

type RuleRow = (i64, String, String, Option<String>, i64);

fn from_row((id, kind, domain, comment, created_us): RuleRow) -> Option<CustomRule> {
    Some(CustomRule {
        id,
        kind: kind.parse().ok()?,
        domain,
        comment,
        created_us,
    })
}

impl Store {
    pub async fn custom_rules(&self) -> Result<Vec<CustomRule>, StoreError> {
        let rows: Vec<RuleRow> = sqlx::query_as(
            "SELECT id, kind, domain, comment, created_us FROM custom_rules ORDER BY id",
        )
        .fetch_all(&self.pools().await?.reader)
        .await?;
        Ok(rows.into_iter().filter_map(from_row).collect())
    }

    /// Adds a rule; a rule of the same kind for the same domain is a [`StoreError::Duplicate`].
    pub async fn add_custom_rule(
        &self,
        kind: RuleKind,
        domain: &str,
        comment: Option<&str>,
    ) -> Result<CustomRule, StoreError> {
        let created_us = unix_micros(std::time::SystemTime::now());
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO custom_rules (kind, domain, comment, created_us) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (kind, domain) DO NOTHING RETURNING id",
        )
        .bind(kind.as_str())
        .bind(domain)
        .bind(comment)
        .bind(created_us)
        .fetch_optional(&self.pools().await?.writer)
        .await?;
        match inserted {
            Some((id,)) => Ok(CustomRule {
                id,
                kind,
                domain: domain.to_owned(),
                comment: comment.map(str::to_owned),
                created_us,
            }),
            None => Err(StoreError::Duplicate {
                kind,
                domain: domain.to_owned(),
            }),
        }
    }

    /// Deletes a rule; `false` when no rule has that id.
    pub async fn delete_custom_rule(&self, id: i64) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM custom_rules WHERE id = ?1")
            .bind(id)
            .execute(&self.pools().await?.writer)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}
