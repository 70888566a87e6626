//! Queries of this layer run on PostgreSQL through sqlx: a connection, a transaction's
//! connection or the pool.

use super::{Cell, Executor, Param, Query, Row};
use crate::store::StoreError;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Column, Postgres, Row as _, TypeInfo, ValueRef};
use std::future::Future;
use std::sync::Arc;

/// `query` as sqlx's query, its parameters bound with their types.
fn prepared<'q>(query: &'q Query<'_>) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    let mut out = sqlx::query(&query.sql).persistent(query.persistent);
    for param in &query.params {
        out = match param {
            Param::Int(n) => out.bind(*n),
            Param::Text(s) => out.bind(s.as_deref()),
            Param::Bool(b) => out.bind(*b),
            Param::TextArray(xs) => out.bind(xs.as_slice()),
            Param::IntArray(xs) => out.bind(xs.as_slice()),
        };
    }
    out
}

/// sqlx's rows as plain [`Row`]s.
fn rows(pg: Vec<PgRow>) -> Result<Vec<Row>, StoreError> {
    let Some(first) = pg.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    pg.iter()
        .map(|row| {
            let cells = (0..columns.len())
                .map(|i| cell(row, i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Row::new(columns.clone(), cells))
        })
        .collect()
}

/// Column `i` of `row` as a [`Cell`], by its PostgreSQL type.
fn cell(row: &PgRow, i: usize) -> Result<Cell, StoreError> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Cell::Null);
    }
    let column = &row.columns()[i];
    Ok(match column.type_info().name() {
        "INT8" => Cell::Int(row.try_get::<i64, _>(i)?),
        "INT4" => Cell::Int(row.try_get::<i32, _>(i)?.into()),
        "INT2" => Cell::Int(row.try_get::<i16, _>(i)?.into()),
        "BOOL" => Cell::Int(row.try_get::<bool, _>(i)?.into()),
        "FLOAT8" => Cell::Real(row.try_get::<f64, _>(i)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => Cell::Text(row.try_get::<String, _>(i)?),
        "BYTEA" => Cell::Blob(row.try_get::<Vec<u8>, _>(i)?),
        other => {
            return Err(StoreError::Corrupt(format!(
                "column {}: the store does not read values of type {other}",
                column.name()
            )))
        }
    })
}

impl Executor for &mut sqlx::PgConnection {
    async fn fetch_rows(self, query: &Query<'_>) -> Result<Vec<Row>, StoreError> {
        rows(prepared(query).fetch_all(self).await?)
    }

    async fn execute_query(self, query: &Query<'_>) -> Result<u64, StoreError> {
        Ok(prepared(query).execute(self).await?.rows_affected())
    }
}

impl Executor for &sqlx::PgPool {
    async fn fetch_rows(self, query: &Query<'_>) -> Result<Vec<Row>, StoreError> {
        rows(prepared(query).fetch_all(self).await?)
    }

    async fn execute_query(self, query: &Query<'_>) -> Result<u64, StoreError> {
        Ok(prepared(query).execute(self).await?.rows_affected())
    }
}

impl Executor for &mut sqlx::Transaction<'_, Postgres> {
    fn fetch_rows(
        self,
        query: &Query<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        (&mut **self).fetch_rows(query)
    }

    fn execute_query(
        self,
        query: &Query<'_>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        (&mut **self).execute_query(query)
    }
}
