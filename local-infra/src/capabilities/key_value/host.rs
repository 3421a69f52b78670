//! The guests' side of the key-value stores: `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over the backends of `key_value.rs`,
//! each store an open handle in the instance's resource table.

use wasmtime::component::Resource;

use super::{CasHandle, KvBackend, KvError, StoreHandle};
use crate::bindings::host::fermyon::spin2_0_0::key_value as spin_kv;
use crate::bindings::host::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use crate::state::InstanceState;

impl From<KvError> for spin_kv::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => spin_kv::Error::NoSuchStore,
            KvError::AccessDenied => spin_kv::Error::AccessDenied,
            KvError::Backend(message) => spin_kv::Error::Other(message),
        }
    }
}

impl From<KvError> for wasi_kv::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => wasi_kv::Error::NoSuchStore,
            KvError::AccessDenied => wasi_kv::Error::AccessDenied,
            KvError::Backend(message) => wasi_kv::Error::Other(message),
        }
    }
}

type HostResult<T, E> = wasmtime::Result<Result<T, E>>;

impl InstanceState {
    fn kv_backend(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<KvBackend> {
        Ok(self.table.get(handle)?.backend.clone())
    }
}

/// The four data operations are the same in Spin's and WASI's key-value interfaces.
macro_rules! store_methods {
    ($error:ty) => {
        async fn get(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
        ) -> HostResult<Option<Vec<u8>>, $error> {
            Ok(self.kv_backend(&store)?.get(key).await.map_err(Into::into))
        }

        async fn set(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
            value: Vec<u8>,
        ) -> HostResult<(), $error> {
            Ok(self
                .kv_backend(&store)?
                .set(key, value)
                .await
                .map_err(Into::into))
        }

        async fn delete(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
        ) -> HostResult<(), $error> {
            Ok(self
                .kv_backend(&store)?
                .delete(key)
                .await
                .map_err(Into::into))
        }

        async fn exists(
            &mut self,
            store: Resource<StoreHandle>,
            key: String,
        ) -> HostResult<bool, $error> {
            Ok(self
                .kv_backend(&store)?
                .exists(key)
                .await
                .map_err(Into::into))
        }
    };
}

impl spin_kv::Host for InstanceState {}

impl spin_kv::HostStore for InstanceState {
    async fn open(&mut self, label: String) -> HostResult<Resource<StoreHandle>, spin_kv::Error> {
        match self.capabilities.key_value.open(&label) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    store_methods!(spin_kv::Error);

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> HostResult<Vec<String>, spin_kv::Error> {
        Ok(self.kv_backend(&store)?.keys().await.map_err(Into::into))
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wasi_kv::Host for InstanceState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> HostResult<Resource<StoreHandle>, wasi_kv::Error> {
        match self.capabilities.key_value.open(&identifier) {
            Ok(handle) => Ok(Ok(self.table.push(handle)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }
}

impl wasi_kv::HostBucket for InstanceState {
    store_methods!(wasi_kv::Error);

    async fn list_keys(
        &mut self,
        bucket: Resource<StoreHandle>,
        cursor: Option<String>,
    ) -> HostResult<wasi_kv::KeyResponse, wasi_kv::Error> {
        // Keys come sorted, so a cursor is simply the last key already returned.
        let keys = match self.kv_backend(&bucket)?.keys().await {
            Ok(mut keys) => {
                keys.sort();
                keys
            }
            Err(e) => return Ok(Err(e.into())),
        };
        let keys = match cursor {
            Some(after) => keys.into_iter().filter(|k| *k > after).collect(),
            None => keys,
        };
        Ok(Ok(wasi_kv::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        delta: i64,
    ) -> HostResult<i64, wasi_kv::Error> {
        Ok(self
            .kv_backend(&bucket)?
            .increment(key, delta)
            .await
            .map_err(Into::into))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> HostResult<(), atomics::CasError> {
        let CasHandle {
            backend,
            key,
            current,
        } = self.table.delete(cas)?;
        match backend
            .compare_and_swap(key.clone(), current.clone(), value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                let fresh = backend.get(key.clone()).await.ok().flatten();
                let retry = self.table.push(CasHandle {
                    backend,
                    key,
                    current: fresh,
                })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
        }
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> HostResult<Resource<CasHandle>, wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        let current = match backend.get(key.clone()).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(e.into())),
        };
        let handle = self.table.push(CasHandle {
            backend,
            key,
            current,
        })?;
        Ok(Ok(handle))
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> HostResult<Option<Vec<u8>>, wasi_kv::Error> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> HostResult<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match backend.get(key.clone()).await {
                Ok(value) => out.push((key, value)),
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> HostResult<(), wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        for (key, value) in key_values {
            if let Err(e) = backend.set(key, value).await {
                return Ok(Err(e.into()));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> HostResult<(), wasi_kv::Error> {
        let backend = self.kv_backend(&bucket)?;
        for key in keys {
            if let Err(e) = backend.delete(key).await {
                return Ok(Err(e.into()));
            }
        }
        Ok(Ok(()))
    }
}
