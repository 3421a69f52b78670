//! Host-side bindings of the components' exported `api`s (one module per context's WIT world),
//! generated async so tests call them on the harness's runtime.

pub mod catalog;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod shipping;
pub mod users;
