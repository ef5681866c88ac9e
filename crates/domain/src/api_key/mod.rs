//! API keys: one `ApiKey` aggregate per key, identified by the key's public id.
//!
//! The key itself is never stored: the aggregate keeps the SHA-256 digest of the key and the
//! tenant it belongs to. The id is derived from the digest, so authenticating a request is a
//! lookup of one aggregate by id followed by a comparison of digests.

mod aggregate;
mod commands;
mod errors;
mod events;

pub use aggregate::{ApiKey, API_KEY};
pub use commands::ApiKeyCommand;
pub use errors::ApiKeyError;
pub use events::ApiKeyEvent;
