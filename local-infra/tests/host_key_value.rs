//! The key-value capability (`fermyon:spin/key-value@2.0.0`) at the host boundary, on instance
//! state built from an inline manifest (no guest): what a store keeps and lists, that stores
//! are app-wide and apart from each other, and that a component opens only the labels it lists.

mod host_support;

use host_support::{HostApp, borrow};
use local_infra::bindings::host::fermyon::spin2_0_0::key_value::{Error, HostStore};
use local_infra::capabilities::key_value::StoreHandle;
use local_infra::state::InstanceState;
use wasmtime::component::Resource;

async fn app() -> HostApp {
    HostApp::load(
        &[
            ("web", r#"key_value_stores = ["default", "cache"]"#),
            ("other", "key_value_stores = []"),
        ],
        None,
    )
    .await
}

async fn open(state: &mut InstanceState, label: &str) -> Resource<StoreHandle> {
    state
        .open(label.into())
        .await
        .expect("no trap")
        .unwrap_or_else(|e| panic!("{label} opens: {e:?}"))
}

async fn set(state: &mut InstanceState, store: &Resource<StoreHandle>, key: &str, value: &str) {
    state
        .set(borrow(store), key.into(), value.as_bytes().to_vec())
        .await
        .expect("no trap")
        .expect("set");
}

async fn get(
    state: &mut InstanceState,
    store: &Resource<StoreHandle>,
    key: &str,
) -> Option<Vec<u8>> {
    state
        .get(borrow(store), key.into())
        .await
        .expect("no trap")
        .expect("get")
}

async fn exists(state: &mut InstanceState, store: &Resource<StoreHandle>, key: &str) -> bool {
    state
        .exists(borrow(store), key.into())
        .await
        .expect("no trap")
        .expect("exists")
}

async fn keys(state: &mut InstanceState, store: &Resource<StoreHandle>) -> Vec<String> {
    let mut keys = state
        .get_keys(borrow(store))
        .await
        .expect("no trap")
        .expect("get-keys");
    keys.sort();
    keys
}

#[tokio::test]
async fn a_granted_store_sets_gets_deletes_and_lists_its_keys() {
    let app = app().await;
    let mut writer = app.instance("web");
    let writer = writer.data_mut();
    let store = open(writer, "default").await;
    set(writer, &store, "a", "1").await;
    set(writer, &store, "b", "2").await;
    set(writer, &store, "a", "one").await;

    // Another instance of the app sees the same store.
    let mut reader = app.instance("web");
    let reader = reader.data_mut();
    let default = open(reader, "default").await;
    assert_eq!(
        get(reader, &default, "a").await.as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(get(reader, &default, "missing").await, None);
    assert!(exists(reader, &default, "b").await);
    assert!(!exists(reader, &default, "missing").await);
    assert_eq!(keys(reader, &default).await, ["a", "b"]);

    reader
        .delete(borrow(&default), "a".into())
        .await
        .expect("no trap")
        .expect("delete");
    assert_eq!(get(reader, &default, "a").await, None);
    assert!(!exists(reader, &default, "a").await);
    assert_eq!(keys(reader, &default).await, ["b"]);

    // Another label is another store, though both live in the app's one file.
    let cache = open(reader, "cache").await;
    assert!(keys(reader, &cache).await.is_empty());
    set(reader, &cache, "b", "cached").await;
    assert_eq!(get(reader, &default, "b").await.as_deref(), Some(&b"2"[..]));
    HostStore::drop(reader, cache).await.expect("dropped");
}

#[tokio::test]
async fn a_store_not_granted_is_refused() {
    let app = app().await;
    // Not listed by the component, whether the label is the app's (`default`) or not.
    app.assert_each_denied(
        &[("other", "default"), ("web", "sessions")],
        async |state, label| state.open(label).await.expect("no trap").err(),
        |refused| matches!(refused, Some(Error::AccessDenied)),
    )
    .await;
}
