//! Statements that run on either engine: the text is built for one [`Dialect`] (placeholders
//! `?` for SQLite, `$n` for PostgreSQL, and the few spellings that differ), every value is
//! bound in order as an [`Arg`]. The readers build their SQL once through this and the store
//! runs it on whichever engine is open, so a read is written once for both.

use std::fmt::Display;

use sqlx::{Arguments, AssertSqlSafe, Database, Encode, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    /// Text or NULL.
    OptText(Option<String>),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Self::OptText(value.map(str::to_owned))
    }
}

/// A statement being built: text and the values of its placeholders.
#[derive(Debug, Clone)]
pub struct Sql {
    dialect: Dialect,
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(dialect: Dialect, text: impl Display) -> Self {
        Self {
            dialect,
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    /// The statement as SQLite's `EXPLAIN QUERY PLAN`, for tests of index use.
    #[cfg(test)]
    pub fn explained(mut self) -> Self {
        self.text.insert_str(0, "EXPLAIN QUERY PLAN ");
        self
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn push(&mut self, text: impl Display) -> &mut Self {
        use std::fmt::Write as _;
        let _ = write!(self.text, "{text}");
        self
    }

    /// Appends a placeholder for `value`.
    pub fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                let number = self.args.len();
                self.push(format_args!("${number}"));
            }
        }
        self
    }

    /// Appends placeholders for `values`, comma separated.
    pub fn push_list<T: Into<Arg>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.push_bind(value);
        }
        self
    }

    /// `position(needle in haystack) > 0`: `needle` occurs literally in the `column` (no
    /// wildcards, unlike `LIKE`).
    pub fn push_contains(&mut self, column: &str, needle: String) -> &mut Self {
        match self.dialect {
            Dialect::Sqlite => self.push(format_args!("instr({column}, ")),
            Dialect::Postgres => self.push(format_args!("strpos({column}, ")),
        };
        self.push_bind(needle).push(") > 0")
    }

    /// The statement text and its values, for the engine it was built for.
    pub(super) fn into_parts<DB>(
        self,
    ) -> Result<(AssertSqlSafe<String>, DB::Arguments), sqlx::Error>
    where
        DB: Database,
        i64: for<'q> Encode<'q, DB> + Type<DB>,
        String: for<'q> Encode<'q, DB> + Type<DB>,
        Option<String>: for<'q> Encode<'q, DB> + Type<DB>,
    {
        let mut arguments = DB::Arguments::default();
        let added = self.args.into_iter().try_for_each(|arg| match arg {
            Arg::Int(value) => arguments.add(value),
            Arg::Text(value) => arguments.add(value),
            Arg::OptText(value) => arguments.add(value),
        });
        added.map_err(sqlx::Error::Encode)?;
        Ok((AssertSqlSafe(self.text), arguments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect_and_values_stay_in_order() {
        let build = |dialect| {
            let mut sql = Sql::new(dialect, "SELECT 1 WHERE a = ");
            sql.push_bind(1)
                .push(" AND b IN (")
                .push_list([2, 3])
                .push(")");
            sql.push(" AND ").push_contains("name", "x".into());
            sql
        };
        let sqlite = build(Dialect::Sqlite);
        assert_eq!(
            sqlite.text,
            "SELECT 1 WHERE a = ? AND b IN (?, ?) AND instr(name, ?) > 0"
        );
        let postgres = build(Dialect::Postgres);
        assert_eq!(
            postgres.text,
            "SELECT 1 WHERE a = $1 AND b IN ($2, $3) AND strpos(name, $4) > 0"
        );
        assert_eq!(
            postgres.args,
            vec![Arg::Int(1), Arg::Int(2), Arg::Int(3), Arg::Text("x".into())]
        );
    }
}
