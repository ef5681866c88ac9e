//! Authentication adapters: JWT (jsonwebtoken) and the cached API key directory.

mod api_keys;
mod jwt;

pub use api_keys::CachedApiKeyDirectory;
pub use jwt::{JwtCodec, JwtSettings};
