//! The host side of both WIT versions, `fermyon:spin/sqlite@2.0.0` and
//! `spin:sqlite/sqlite@3.0.0`, on [`InstanceState`]: conversions between their types and the
//! runtime's, and the resource methods (as Spin's `factor-sqlite/src/host.rs`). Apart because
//! nothing here decides anything; it only maps the guest's calls onto
//! [`SqliteAccess`](super::SqliteAccess) and [`ConnectionHandle`].

use wasmtime::component::Resource;

use super::{ConnectionHandle, QueryOutput, SqliteError, Value};
use crate::bindings::host::fermyon::spin2_0_0::sqlite as v2;
use crate::bindings::host::spin::sqlite::sqlite as v3;
use crate::state::InstanceState;

/// Both WIT versions generate structurally identical types; one macro maps each of them.
macro_rules! wit_conversions {
    ($wit:ident) => {
        impl From<$wit::Value> for Value {
            fn from(value: $wit::Value) -> Self {
                match value {
                    $wit::Value::Integer(i) => Value::Integer(i),
                    $wit::Value::Real(f) => Value::Real(f),
                    $wit::Value::Text(s) => Value::Text(s),
                    $wit::Value::Blob(b) => Value::Blob(b),
                    $wit::Value::Null => Value::Null,
                }
            }
        }

        impl From<Value> for $wit::Value {
            fn from(value: Value) -> Self {
                match value {
                    Value::Integer(i) => $wit::Value::Integer(i),
                    Value::Real(f) => $wit::Value::Real(f),
                    Value::Text(s) => $wit::Value::Text(s),
                    Value::Blob(b) => $wit::Value::Blob(b),
                    Value::Null => $wit::Value::Null,
                }
            }
        }

        impl From<SqliteError> for $wit::Error {
            fn from(e: SqliteError) -> Self {
                match e {
                    SqliteError::NoSuchDatabase => $wit::Error::NoSuchDatabase,
                    SqliteError::AccessDenied => $wit::Error::AccessDenied,
                    SqliteError::Io(message) => $wit::Error::Io(message),
                }
            }
        }

        impl From<QueryOutput> for $wit::QueryResult {
            fn from(output: QueryOutput) -> Self {
                $wit::QueryResult {
                    columns: output.columns,
                    rows: output
                        .rows
                        .into_iter()
                        .map(|values| $wit::RowResult {
                            values: values.into_iter().map(Into::into).collect(),
                        })
                        .collect(),
                }
            }
        }

        impl $wit::Host for InstanceState {}
    };
}

wit_conversions!(v2);
wit_conversions!(v3);

type HostResult<T, E> = wasmtime::Result<Result<T, E>>;

impl InstanceState {
    fn sqlite_open(
        &mut self,
        label: &str,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, SqliteError>> {
        match self.capabilities.sqlite.open(label) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn sqlite_execute(
        &mut self,
        connection: &Resource<ConnectionHandle>,
        statement: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryOutput, SqliteError>> {
        let handle = self.table.get(connection)?;
        Ok(handle.execute(statement, params).await)
    }
}

/// `open`, `execute` and `drop` are the same in both WIT versions; v3 adds two counters.
macro_rules! connection_methods {
    ($wit:ident) => {
        async fn open(
            &mut self,
            database: String,
        ) -> HostResult<Resource<ConnectionHandle>, $wit::Error> {
            Ok(self.sqlite_open(&database)?.map_err(Into::into))
        }

        async fn execute(
            &mut self,
            connection: Resource<ConnectionHandle>,
            statement: String,
            parameters: Vec<$wit::Value>,
        ) -> HostResult<$wit::QueryResult, $wit::Error> {
            let params = parameters.into_iter().map(Into::into).collect();
            Ok(self
                .sqlite_execute(&connection, statement, params)
                .await?
                .map(Into::into)
                .map_err(Into::into))
        }

        async fn drop(&mut self, connection: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
            self.table.delete(connection)?;
            Ok(())
        }
    };
}

impl v2::HostConnection for InstanceState {
    connection_methods!(v2);
}

impl v3::HostConnection for InstanceState {
    connection_methods!(v3);

    // The WIT gives these no error: a connection that cannot even open reads as 0, which is
    // also what a fresh connection says.
    async fn last_insert_rowid(
        &mut self,
        connection: Resource<ConnectionHandle>,
    ) -> wasmtime::Result<i64> {
        let handle = self.table.get(&connection)?;
        Ok(handle
            .read(rusqlite::Connection::last_insert_rowid)
            .unwrap_or(0))
    }

    async fn changes(&mut self, connection: Resource<ConnectionHandle>) -> wasmtime::Result<u64> {
        let handle = self.table.get(&connection)?;
        Ok(handle.read(rusqlite::Connection::changes).unwrap_or(0))
    }
}
