//! Ids shared by the tests: the users a component test sends as (forwarded identities, as the
//! gateway sets them once it has verified a token), and fresh ids.

pub const ALICE: &str = "0190d7a0-0000-7000-8000-00000000a11c";
pub const BOB: &str = "0190d7a0-0000-7000-8000-000000000b0b";
pub const ADMIN: &str = "0190d7a0-0000-7000-8000-0000000ad111";

/// A new id (UUIDv7, as the app makes them).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Two products of the catalog's demo seed: the headphones and the speaker.
pub const DEMO_HEADPHONES: &str = "01a20f32-c33d-7008-946d-1d48dfc3c251";
pub const DEMO_SPEAKER: &str = "01a20f32-c33e-76aa-89de-060a7d680969";
