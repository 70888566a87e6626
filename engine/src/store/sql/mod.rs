//! The SQL layer the stores' shared body is written against: a query with its parameters,
//! run on either database, and the rows it returns as plain values.
//!
//! Why not sqlx's own types: sqlx runs each SQLite statement on a worker thread of the
//! connection's, a round trip between threads per statement; on a small machine those hops
//! (two context switches each) cost more than the statements. The SQLite store runs
//! statements on the calling thread instead (`sqlite.rs`), the PostgreSQL store through sqlx
//! (`postgres.rs`); both take the queries built here, so one body of SQL serves both.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use super::StoreError;
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// A value bound to a query parameter. A null keeps its type: PostgreSQL checks a
/// parameter's type against the column's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    /// An integer (also a boolean on SQLite, which has no other).
    Int(Option<i64>),
    /// Text.
    Text(Option<String>),
    /// A boolean.
    Bool(Option<bool>),
    /// An array of text (PostgreSQL only: a whole batch in one parameter, `unnest`ed).
    TextArray(Vec<Option<String>>),
    /// An array of integers (PostgreSQL only, as [`Param::TextArray`]).
    IntArray(Vec<i64>),
}

/// A Rust value that can be bound to a query parameter.
pub(crate) trait IntoParam {
    /// The value as a parameter.
    fn into_param(self) -> Param;
}

macro_rules! int_params {
    ($($t:ty),*) => {$(
        impl IntoParam for $t {
            fn into_param(self) -> Param {
                Param::Int(Some(i64::from(self)))
            }
        }
        impl IntoParam for Option<$t> {
            fn into_param(self) -> Param {
                Param::Int(self.map(i64::from))
            }
        }
    )*};
}
int_params!(i64, i32, u32);

impl IntoParam for bool {
    fn into_param(self) -> Param {
        Param::Bool(Some(self))
    }
}

impl IntoParam for Option<bool> {
    fn into_param(self) -> Param {
        Param::Bool(self)
    }
}

impl IntoParam for &str {
    fn into_param(self) -> Param {
        Param::Text(Some(self.to_string()))
    }
}

impl IntoParam for String {
    fn into_param(self) -> Param {
        Param::Text(Some(self))
    }
}

impl IntoParam for &String {
    fn into_param(self) -> Param {
        Param::Text(Some(self.clone()))
    }
}

impl IntoParam for Option<&str> {
    fn into_param(self) -> Param {
        Param::Text(self.map(str::to_string))
    }
}

impl IntoParam for Option<String> {
    fn into_param(self) -> Param {
        Param::Text(self)
    }
}

impl IntoParam for &Option<String> {
    fn into_param(self) -> Param {
        Param::Text(self.clone())
    }
}

impl IntoParam for Vec<Option<String>> {
    fn into_param(self) -> Param {
        Param::TextArray(self)
    }
}

impl IntoParam for Vec<String> {
    fn into_param(self) -> Param {
        Param::TextArray(self.into_iter().map(Some).collect())
    }
}

impl IntoParam for Vec<i64> {
    fn into_param(self) -> Param {
        Param::IntArray(self)
    }
}

/// One value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// An integer or a boolean (0 or 1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// A Rust value a [`Cell`] can be read as.
pub(crate) trait FromCell: Sized {
    /// The cell as this type; `None` if it holds another kind of value.
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(n) => Some(*n != 0),
            _ => None,
        }
    }
}

impl FromCell for f64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Real(x) => Some(*x),
            Cell::Int(n) => Some(*n as f64),
            _ => None,
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// A result row: its columns' names (shared by the rows of one result) and values.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    columns: Arc<[String]>,
    cells: Vec<Cell>,
}

/// How a column of a [`Row`] is named: by name or by position.
pub(crate) trait ColumnIndex: std::fmt::Display + Copy {
    /// The column's position in `row`.
    fn position(self, row: &Row) -> Option<usize>;
}

impl ColumnIndex for &str {
    fn position(self, row: &Row) -> Option<usize> {
        row.columns.iter().position(|c| c == self)
    }
}

impl ColumnIndex for usize {
    fn position(self, row: &Row) -> Option<usize> {
        (self < row.cells.len()).then_some(self)
    }
}

impl Row {
    /// A row of `cells`, named by `columns`.
    pub(crate) fn new(columns: Arc<[String]>, cells: Vec<Cell>) -> Self {
        Row { columns, cells }
    }

    /// The value of column `index` as a `T`; a missing column or a value of another kind
    /// is [`StoreError::Corrupt`].
    pub(crate) fn try_get<T: FromCell, I: ColumnIndex>(&self, index: I) -> Result<T, StoreError> {
        let at = index
            .position(self)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index} in the result")))?;
        let cell = &self.cells[at];
        T::from_cell(cell).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {index}: {cell:?} is not a {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// Something a query runs on: a connection, a transaction's connection or a pool.
pub(crate) trait Executor: Send {
    /// Runs `query` and returns every row it gives.
    fn fetch_rows(
        self,
        query: &Query<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;

    /// Runs `query` and returns how many rows it changed.
    fn execute_query(
        self,
        query: &Query<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// A statement with its parameters (`$1`, `$2`, … in the text, on both databases).
#[derive(Debug, Clone)]
pub(crate) struct Query<'q> {
    /// The SQL text.
    pub(crate) sql: Cow<'q, str>,
    /// The values of `$1`, `$2`, …
    pub(crate) params: Vec<Param>,
    /// Whether the prepared statement is kept for the next run of the same text.
    pub(crate) persistent: bool,
}

/// A statement of `sql`, parameters bound with [`Query::bind`].
pub(crate) fn query<'q>(sql: impl Into<Cow<'q, str>>) -> Query<'q> {
    Query {
        sql: sql.into(),
        params: Vec::new(),
        persistent: true,
    }
}

/// A statement whose rows are read as their first column, a `T`.
pub(crate) fn query_scalar<'q, T: FromCell>(sql: impl Into<Cow<'q, str>>) -> Scalar<'q, T> {
    Scalar {
        query: query(sql),
        _value: PhantomData,
    }
}

/// What running a statement changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows_affected: u64,
}

impl Done {
    /// How many rows the statement inserted, updated or deleted.
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl<'q> Query<'q> {
    /// Binds the next parameter.
    pub(crate) fn bind(mut self, value: impl IntoParam) -> Self {
        self.params.push(value.into_param());
        self
    }

    /// Whether the prepared statement is kept (the default) or prepared for this use only.
    pub(crate) fn persistent(mut self, keep: bool) -> Self {
        self.persistent = keep;
        self
    }

    /// Runs the statement for its changes.
    pub(crate) async fn execute(self, on: impl Executor) -> Result<Done, StoreError> {
        let rows_affected = on.execute_query(&self).await?;
        Ok(Done { rows_affected })
    }

    /// Runs the statement and returns its rows.
    pub(crate) async fn fetch_all(self, on: impl Executor) -> Result<Vec<Row>, StoreError> {
        on.fetch_rows(&self).await
    }

    /// Runs the statement and returns its first row, if any.
    pub(crate) async fn fetch_optional(self, on: impl Executor) -> Result<Option<Row>, StoreError> {
        Ok(on.fetch_rows(&self).await?.into_iter().next())
    }

    /// Runs the statement and returns its first row; none is [`StoreError::NotFound`].
    pub(crate) async fn fetch_one(self, on: impl Executor) -> Result<Row, StoreError> {
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::NotFound("the query returned no row".into()))
    }
}

/// A [`Query`] whose rows are read as their first column.
#[derive(Debug, Clone)]
pub(crate) struct Scalar<'q, T> {
    query: Query<'q>,
    _value: PhantomData<fn() -> T>,
}

impl<'q, T: FromCell> Scalar<'q, T> {
    /// Binds the next parameter.
    pub(crate) fn bind(mut self, value: impl IntoParam) -> Self {
        self.query = self.query.bind(value);
        self
    }

    /// See [`Query::persistent`].
    pub(crate) fn persistent(mut self, keep: bool) -> Self {
        self.query = self.query.persistent(keep);
        self
    }

    /// Runs the statement and returns the first column of every row.
    pub(crate) async fn fetch_all(self, on: impl Executor) -> Result<Vec<T>, StoreError> {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    }

    /// Runs the statement and returns the first column of its first row, if any.
    pub(crate) async fn fetch_optional(self, on: impl Executor) -> Result<Option<T>, StoreError> {
        self.query
            .fetch_optional(on)
            .await?
            .map(|row| row.try_get(0))
            .transpose()
    }

    /// Runs the statement and returns the first column of its first row.
    pub(crate) async fn fetch_one(self, on: impl Executor) -> Result<T, StoreError> {
        self.query.fetch_one(on).await?.try_get(0)
    }
}

/// Builds a statement of varying shape (a multi-row `VALUES` list), numbering its
/// parameters as they are pushed.
#[derive(Debug, Default)]
pub(crate) struct QueryBuilder {
    sql: String,
    params: Vec<Param>,
}

impl QueryBuilder {
    /// A statement starting with `sql`.
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        QueryBuilder {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a parameter holding `value`.
    pub(crate) fn push_bind(&mut self, value: impl IntoParam) -> &mut Self {
        self.params.push(value.into_param());
        let n = self.params.len();
        self.sql.push('$');
        self.sql.push_str(&n.to_string());
        self
    }

    /// A list of parameters separated by `separator` (`a IN (…)`).
    pub(crate) fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// Appends `VALUES (…), (…)`, one tuple per item, each filled by `row`.
    pub(crate) fn push_values<I, F>(&mut self, items: I, mut row: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.sql.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            row(self.separated(", "), item);
            self.sql.push(')');
        }
        self
    }

    /// The statement built.
    pub(crate) fn build(self) -> Query<'static> {
        Query {
            sql: Cow::Owned(self.sql),
            params: self.params,
            persistent: true,
        }
    }

    /// The statement built, its rows read as their first column.
    pub(crate) fn build_query_scalar<T: FromCell>(self) -> Scalar<'static, T> {
        Scalar {
            query: self.build(),
            _value: PhantomData,
        }
    }
}

/// A list of parameters being built: one tuple of a `VALUES` list, an `IN (…)` list.
pub(crate) struct Separated<'b> {
    builder: &'b mut QueryBuilder,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    /// Appends a parameter holding `value` to the list.
    pub(crate) fn push_bind(&mut self, value: impl IntoParam) -> &mut Self {
        if !self.first {
            self.builder.sql.push_str(self.separator);
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_values_list_numbers_its_parameters() {
        let mut q = QueryBuilder::new("INSERT INTO t (a, b) ");
        q.push_values([(1i64, "x"), (2, "y")], |mut b, (n, s)| {
            b.push_bind(n).push_bind(s);
        });
        q.push(" RETURNING a");
        let q = q.build();
        assert_eq!(
            q.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING a"
        );
        assert_eq!(
            q.params,
            vec![
                Param::Int(Some(1)),
                Param::Text(Some("x".into())),
                Param::Int(Some(2)),
                Param::Text(Some("y".into())),
            ]
        );
    }

    #[test]
    fn cells_are_read_by_name_or_position_and_checked() {
        let row = Row::new(
            Arc::from(vec!["n".to_string(), "s".to_string()]),
            vec![Cell::Int(1), Cell::Null],
        );
        assert_eq!(row.try_get::<i64, _>("n").ok(), Some(1));
        assert_eq!(row.try_get::<bool, _>(0).ok(), Some(true));
        assert_eq!(row.try_get::<Option<String>, _>("s").ok(), Some(None));
        assert!(matches!(
            row.try_get::<String, _>("s"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            row.try_get::<i64, _>("missing"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
