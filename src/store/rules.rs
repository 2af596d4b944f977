//! Custom allow/deny rules added through the API, kept in the store so they survive restarts
//! (and, in a shared database, apply on every instance).

use std::fmt;
use std::str::FromStr;

use super::sql::Arg;
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The rules, oldest first. From a shared database that cannot be reached: the rules last
    /// read from it (kept in a file), so that a restart during an outage loses none.
    pub async fn custom_rules(&self) -> Result<Vec<CustomRule>, StoreError> {
        let read = self
            .fetch_all::<RuleRow>(
                self.sql(
                    "SELECT id, kind, domain, comment, created_us FROM custom_rules ORDER BY id",
                ),
            )
            .await
            .map(|rows| rows.into_iter().filter_map(from_row).collect::<Vec<_>>());
        let Some(shared) = self.shared() else {
            return read;
        };
        match read {
            Ok(rules) => {
                shared.keep_rules(&rules);
                Ok(rules)
            }
            // Nothing kept (an instance that never reached the database): no custom rules yet;
            // they arrive with the first synchronisation.
            Err(err) if err.is_unreachable() => Ok(shared.kept_rules().unwrap_or_default()),
            Err(err) => Err(err),
        }
    }

    /// Adds a rule; a rule of the same kind for the same domain is a [`StoreError::Duplicate`].
    pub async fn add_custom_rule(
        &self,
        kind: RuleKind,
        domain: &str,
        comment: Option<&str>,
    ) -> Result<CustomRule, StoreError> {
        let created_us = unix_micros(std::time::SystemTime::now());
        let mut sql =
            self.sql("INSERT INTO custom_rules (kind, domain, comment, created_us) VALUES (");
        sql.push_list([
            Arg::from(kind.as_str()),
            Arg::from(domain),
            Arg::from(comment),
            Arg::from(created_us),
        ])
        .push(") ON CONFLICT (kind, domain) DO NOTHING RETURNING id");
        let inserted: Option<(i64,)> = self.execute_returning(sql).await?.into_iter().next();
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
        let mut sql = self.sql("DELETE FROM custom_rules WHERE id = ");
        sql.push_bind(id);
        Ok(self.execute(sql).await? > 0)
    }
}
