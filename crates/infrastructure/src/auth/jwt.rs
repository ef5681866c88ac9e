//! Bearer tokens: HS256 with a shared secret, or RS256 with a key pair.
//!
//! `exp`, `iss` and `aud` are always checked, `nbf` when present; the token carries `sub`,
//! `tenant` and `role`. `aud` may be one audience or a list (as identity providers send it);
//! `iat` is not needed.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use telemetry_application::ports::{Role, TokenError, TokenVerifier, UserClaims};
use telemetry_domain::values::TenantId;

/// Key material and expected claims. Either `secret` (HS256) or `public_key_pem` (RS256).
#[derive(Clone, Default)]
pub struct JwtSettings {
    pub secret: Option<String>,
    pub public_key_pem: Option<String>,
    /// Only needed to mint RS256 tokens.
    pub private_key_pem: Option<String>,
    pub issuer: String,
    pub audience: String,
}

/// What the service reads of a token; the library checks `exp`, `nbf`, `iss` and `aud`
/// itself, from the token as sent.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
    tenant: String,
    role: String,
    /// Checked by the library (it is required); kept to tell the caller when it ends.
    #[serde(default)]
    exp: Option<u64>,
}

/// What a minted token holds.
#[derive(Debug, Serialize)]
struct Claims {
    sub: String,
    tenant: String,
    role: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
}

pub struct JwtCodec {
    algorithm: Algorithm,
    decoding: Option<DecodingKey>,
    encoding: Option<EncodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
}

/// Bearer-token settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("configure either JWT_SECRET or JWT_PUBLIC_KEY_FILE, not both")]
    BothKeys,
    #[error("JWT_SECRET must be at least 32 bytes")]
    ShortSecret,
    #[error("JWT public key")]
    PublicKey(#[source] jsonwebtoken::errors::Error),
    #[error("JWT private key")]
    PrivateKey(#[source] jsonwebtoken::errors::Error),
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("minting needs JWT_SECRET (HS256) or JWT_PRIVATE_KEY_FILE (RS256)")]
    NoSigningKey,
    #[error("the token's lifetime is too long")]
    LifetimeTooLong,
    #[error("signing the token")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

impl JwtCodec {
    pub fn new(settings: &JwtSettings) -> Result<Self, JwtConfigError> {
        let (algorithm, decoding, encoding) = match (&settings.secret, &settings.public_key_pem) {
            (Some(_), Some(_)) => return Err(JwtConfigError::BothKeys),
            (Some(secret), None) => {
                if secret.len() < 32 {
                    return Err(JwtConfigError::ShortSecret);
                }
                (
                    Algorithm::HS256,
                    Some(DecodingKey::from_secret(secret.as_bytes())),
                    Some(EncodingKey::from_secret(secret.as_bytes())),
                )
            }
            (None, Some(public_pem)) => {
                let decoding = DecodingKey::from_rsa_pem(public_pem.as_bytes())
                    .map_err(JwtConfigError::PublicKey)?;
                let encoding = settings
                    .private_key_pem
                    .as_ref()
                    .map(|pem| EncodingKey::from_rsa_pem(pem.as_bytes()))
                    .transpose()
                    .map_err(JwtConfigError::PrivateKey)?;
                (Algorithm::RS256, Some(decoding), encoding)
            }
            (None, None) => (Algorithm::HS256, None, None),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self {
            algorithm,
            decoding,
            encoding,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// Mints a token for an operator or a test.
    pub fn mint(
        &self,
        subject: &str,
        tenant: &TenantId,
        role: Role,
        ttl: Duration,
    ) -> Result<String, MintError> {
        let Some(key) = &self.encoding else {
            return Err(MintError::NoSigningKey);
        };
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_string(),
            tenant: tenant.to_string(),
            role: role.as_str().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now
                .checked_add(ttl.as_secs())
                .ok_or(MintError::LifetimeTooLong)?,
            iat: now,
        };
        encode(&Header::new(self.algorithm), &claims, key).map_err(MintError::Signing)
    }
}

impl TokenVerifier for JwtCodec {
    fn verify(&self, token: &str) -> Result<UserClaims, TokenError> {
        let Some(key) = &self.decoding else {
            return Err(TokenError::NotConfigured);
        };
        let data =
            decode::<VerifiedClaims>(token, key, &self.validation).map_err(|error| match error
                .kind()
            {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(error.to_string()),
            })?;
        let claims = data.claims;
        let tenant_id = TenantId::parse(claims.tenant)
            .map_err(|error| TokenError::Invalid(format!("tenant claim {error}")))?;
        let role = Role::parse(&claims.role)
            .ok_or_else(|| TokenError::Invalid("role must be viewer, editor or admin".into()))?;
        Ok(UserClaims {
            subject: claims.sub,
            tenant_id,
            role,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(secret: &str, issuer: &str) -> JwtCodec {
        JwtCodec::new(&JwtSettings {
            secret: Some(secret.to_string()),
            issuer: issuer.to_string(),
            audience: "telemetry-api".to_string(),
            ..JwtSettings::default()
        })
        .unwrap()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minted_tokens_verify() {
        let codec = codec(SECRET, "telemetry");
        let tenant = TenantId::parse("acme").unwrap();
        let token = codec
            .mint("alice", &tenant, Role::Editor, Duration::from_secs(60))
            .unwrap();
        let claims = codec.verify(&token).unwrap();
        assert_eq!(claims.subject, "alice");
        assert_eq!(claims.tenant_id, tenant);
        assert_eq!(claims.role, Role::Editor);
    }

    #[test]
    fn wrong_issuer_or_secret_is_refused() {
        let tenant = TenantId::parse("acme").unwrap();
        let token = codec(SECRET, "someone-else")
            .mint("alice", &tenant, Role::Admin, Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            codec(SECRET, "telemetry").verify(&token),
            Err(TokenError::Invalid(_))
        ));
        let other = codec("another-secret-another-secret-xx", "telemetry");
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn expired_tokens_and_other_audiences_are_refused() {
        let codec = codec(SECRET, "telemetry");
        let now = jsonwebtoken::get_current_timestamp();
        let claims = |exp: u64, aud: &str| Claims {
            sub: "alice".into(),
            tenant: "acme".into(),
            role: "viewer".into(),
            iss: "telemetry".into(),
            aud: aud.into(),
            exp,
            iat: now - 600,
        };
        let sign = |claims: &Claims| {
            encode(
                &Header::new(Algorithm::HS256),
                claims,
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap()
        };
        // Beyond the 30 s leeway.
        let expired = sign(&claims(now - 120, "telemetry-api"));
        assert_eq!(codec.verify(&expired), Err(TokenError::Expired));
        let elsewhere = sign(&claims(now + 600, "another-api"));
        assert!(matches!(
            codec.verify(&elsewhere),
            Err(TokenError::Invalid(_))
        ));
        assert!(codec
            .verify(&sign(&claims(now + 600, "telemetry-api")))
            .is_ok());
    }

    #[test]
    fn audience_lists_and_tokens_without_iat_verify_and_not_yet_valid_ones_do_not() {
        let codec = codec(SECRET, "telemetry");
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |claims: serde_json::Value| {
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .unwrap()
        };
        let token = |aud: serde_json::Value, nbf: Option<u64>| {
            let mut claims = serde_json::json!({"sub": "alice", "tenant": "acme",
                "role": "viewer", "iss": "telemetry", "aud": aud, "exp": now + 600});
            if let Some(nbf) = nbf {
                claims["nbf"] = nbf.into();
            }
            sign(claims)
        };
        let listed = token(serde_json::json!(["other-api", "telemetry-api"]), None);
        assert_eq!(codec.verify(&listed).unwrap().subject, "alice");
        let others = token(serde_json::json!(["other-api"]), None);
        assert!(matches!(codec.verify(&others), Err(TokenError::Invalid(_))));
        let started = token(serde_json::json!("telemetry-api"), Some(now - 60));
        assert!(codec.verify(&started).is_ok());
        // Beyond the 30 s leeway.
        let later = token(serde_json::json!("telemetry-api"), Some(now + 600));
        assert!(matches!(codec.verify(&later), Err(TokenError::Invalid(_))));
    }

    const RS256_PRIVATE: &str = include_str!("testdata/rs256-private.pem");
    const RS256_PUBLIC: &str = include_str!("testdata/rs256-public.pem");

    #[test]
    fn rs256_tokens_verify_with_the_public_key_and_hs256_forgeries_do_not() {
        let settings = |private: Option<&str>| JwtSettings {
            public_key_pem: Some(RS256_PUBLIC.into()),
            private_key_pem: private.map(str::to_string),
            issuer: "telemetry".into(),
            audience: "telemetry-api".into(),
            ..JwtSettings::default()
        };
        let tenant = TenantId::parse("acme").unwrap();
        let signer = JwtCodec::new(&settings(Some(RS256_PRIVATE))).unwrap();
        let token = signer
            .mint("alice", &tenant, Role::Admin, Duration::from_secs(60))
            .unwrap();
        let verifier = JwtCodec::new(&settings(None)).unwrap();
        assert_eq!(verifier.verify(&token).unwrap().role, Role::Admin);
        // Only the private key signs: without it there is nothing to mint with.
        assert!(verifier
            .mint("alice", &tenant, Role::Admin, Duration::from_secs(60))
            .is_err());
        // A token signed with HS256 using the public key as the secret (the classic
        // algorithm confusion) is refused.
        let forged = JwtCodec::new(&JwtSettings {
            secret: Some(RS256_PUBLIC.into()),
            issuer: "telemetry".into(),
            audience: "telemetry-api".into(),
            ..JwtSettings::default()
        })
        .unwrap()
        .mint("mallory", &tenant, Role::Admin, Duration::from_secs(60))
        .unwrap();
        assert!(verifier.verify(&forged).is_err());
    }

    #[test]
    fn short_secrets_and_missing_keys_are_reported() {
        assert!(JwtCodec::new(&JwtSettings {
            secret: Some("short".into()),
            ..JwtSettings::default()
        })
        .is_err());
        let unconfigured = JwtCodec::new(&JwtSettings::default()).unwrap();
        assert_eq!(unconfigured.verify("x.y.z"), Err(TokenError::NotConfigured));
    }
}
