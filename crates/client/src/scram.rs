//! SCRAM-SHA-256 / SCRAM-SHA-512 client (RFC 5802, RFC 7677), sans I/O.
//!
//! The exchange is two round trips: client-first → server-first, client-final →
//! server-final. This module only builds and checks messages; [`crate::sasl`] carries them.
//!
//! Invariants (each is a check a broker or a man in the middle could otherwise exploit):
//! * the server nonce must extend our nonce;
//! * the iteration count is bounded: at least 4096 (Kafka's minimum) and at most
//!   [`MAX_ITERATIONS`], so a hostile server cannot make us burn CPU;
//! * mandatory extensions (`m=`) are refused, as the RFC requires;
//! * the server signature is verified in constant time before the exchange succeeds.
//!
//! As in Kafka (`ScramFormatter`), the user name is escaped (`=` → `=3D`, `,` → `=2C`) and
//! the password is used as UTF-8 without SASLprep.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's `ScramMechanism` minimum.
pub const MIN_ITERATIONS: u32 = 4096;
/// Upper bound we accept from a server (Kafka's own maximum is 16384).
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// The hash function of the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => hmac_of::<Hmac<Sha256>>(key, data),
            ScramHash::Sha512 => hmac_of::<Hmac<Sha512>>(key, data),
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)` = PBKDF2 with HMAC of this hash.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }

    /// Constant-time check that `HMAC(key, data) == expected`.
    fn verify_hmac(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        match self {
            ScramHash::Sha256 => verify_of::<Hmac<Sha256>>(key, data, expected),
            ScramHash::Sha512 => verify_of::<Hmac<Sha512>>(key, data, expected),
        }
    }
}

fn hmac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so new_from_slice cannot fail; keep it total anyway.
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn verify_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8], expected: &[u8]) -> bool {
    match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.verify_slice(expected).is_ok()
        }
        Err(_) => false,
    }
}

/// Escapes a user name for `n=` (RFC 5802 §5.1).
pub(crate) fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A failed exchange. Messages never contain the password or derived keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScramError(pub String);

/// Client state before the server-first message.
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    client_nonce: String,
    client_first_bare: String,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// Client state after sending client-final: what the server must prove.
pub struct ScramAwaitingServerFinal {
    hash: ScramHash,
    server_key: Vec<u8>,
    auth_message: String,
}

impl std::fmt::Debug for ScramAwaitingServerFinal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramAwaitingServerFinal")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// Splits `a=x,b=y` into attributes; values may contain `=` (base64).
fn attributes(msg: &str) -> Result<Vec<(char, &str)>, ScramError> {
    msg.split(',')
        .map(|part| {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(name), Some('=')) if name.is_ascii_alphabetic() => Ok((name, &part[2..])),
                _ => Err(ScramError(
                    "malformed SCRAM message from the server".to_string(),
                )),
            }
        })
        .collect()
}

impl ScramClient {
    /// Starts an exchange with a random nonce.
    pub fn new(hash: ScramHash, username: &str, password: &str, token_auth: bool) -> Self {
        let mut raw = [0u8; 24];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut raw);
        Self::with_nonce(hash, username, password, &BASE64.encode(raw), token_auth)
    }

    /// Starts an exchange with a given nonce (tests use the RFC's).
    pub fn with_nonce(
        hash: ScramHash,
        username: &str,
        password: &str,
        nonce: &str,
        token_auth: bool,
    ) -> Self {
        let mut client_first_bare = format!("n={},r={nonce}", sasl_name(username));
        if token_auth {
            // Kafka's extension syntax (KIP-48 delegation tokens): after the nonce.
            client_first_bare.push_str(",tokenauth=true");
        }
        ScramClient {
            hash,
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare,
        }
    }

    /// `client-first-message`: GS2 header `n,,` (no channel binding, no authzid) + bare.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Checks `server-first-message` and builds `client-final-message`.
    pub fn handle_server_first(
        self,
        server_first: &[u8],
    ) -> Result<(ScramAwaitingServerFinal, Vec<u8>), ScramError> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| ScramError("server-first message is not UTF-8".to_string()))?;
        let attrs = attributes(server_first)?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (i, (name, value)) in attrs.iter().enumerate() {
            match name {
                'm' if i == 0 => {
                    return Err(ScramError(
                        "server requires a mandatory SCRAM extension we do not support".into(),
                    ))
                }
                'e' => return Err(ScramError(format!("server rejected the exchange: {value}"))),
                'r' => nonce = Some(*value),
                's' => salt = Some(*value),
                'i' => iterations = Some(*value),
                _ => {}
            }
        }
        let nonce = nonce.ok_or_else(|| ScramError("server-first has no nonce".into()))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() <= self.client_nonce.len() {
            return Err(ScramError(
                "server nonce does not extend the client nonce".into(),
            ));
        }
        let salt = BASE64
            .decode(salt.ok_or_else(|| ScramError("server-first has no salt".into()))?)
            .map_err(|_| ScramError("server salt is not base64".into()))?;
        let iterations: u32 = iterations
            .ok_or_else(|| ScramError("server-first has no iteration count".into()))?
            .parse()
            .map_err(|_| ScramError("server iteration count is not a number".into()))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError(format!(
                "server iteration count {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            )));
        }

        let hash = self.hash;
        let salted = hash.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        // "biws" = base64("n,,"): the GS2 header we sent.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        let client_final = format!("{without_proof},p={}", BASE64.encode(proof));
        Ok((
            ScramAwaitingServerFinal {
                hash,
                server_key,
                auth_message,
            },
            client_final.into_bytes(),
        ))
    }
}

impl ScramAwaitingServerFinal {
    /// Verifies `server-final-message` (`v=<signature>`).
    pub fn handle_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| ScramError("server-final message is not UTF-8".into()))?;
        let attrs = attributes(text)?;
        if let Some((_, e)) = attrs.iter().find(|(n, _)| *n == 'e') {
            return Err(ScramError(format!("server rejected the exchange: {e}")));
        }
        let signature = attrs
            .iter()
            .find(|(n, _)| *n == 'v')
            .ok_or_else(|| ScramError("server-final has no verifier".into()))?
            .1;
        let signature = BASE64
            .decode(signature)
            .map_err(|_| ScramError("server signature is not base64".into()))?;
        if self
            .hash
            .verify_hmac(&self.server_key, self.auth_message.as_bytes(), &signature)
        {
            Ok(())
        } else {
            Err(ScramError(
                "server signature does not verify: the broker does not know our credentials \
                 (or the exchange was tampered with)"
                    .into(),
            ))
        }
    }
}

/// The server side of SCRAM, for in-process test brokers.
#[cfg(test)]
pub(crate) mod server {
    use super::*;

    /// What a broker stores for a SCRAM user (Kafka's `ScramCredential`).
    #[derive(Clone)]
    pub struct Credential {
        pub salt: Vec<u8>,
        pub iterations: u32,
        pub stored_key: Vec<u8>,
        pub server_key: Vec<u8>,
    }

    impl Credential {
        pub fn new(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
            let salted = hash.salted_password(password.as_bytes(), salt, iterations);
            Credential {
                salt: salt.to_vec(),
                iterations,
                stored_key: hash.hash(&hash.hmac(&salted, b"Client Key")),
                server_key: hash.hmac(&salted, b"Server Key"),
            }
        }
    }

    /// Server state between server-first and client-final.
    pub struct ScramServer {
        pub hash: ScramHash,
        pub credential: Credential,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    }

    impl ScramServer {
        /// Handles client-first; returns the state and server-first.
        pub fn start(
            hash: ScramHash,
            client_first: &[u8],
            server_nonce_suffix: &str,
            lookup: impl Fn(&str) -> Option<Credential>,
        ) -> Result<(Self, Vec<u8>), String> {
            let text = std::str::from_utf8(client_first).map_err(|e| e.to_string())?;
            let bare = text
                .strip_prefix("n,,")
                .ok_or("client-first must start with n,,")?;
            let attrs = attributes(bare).map_err(|e| e.0)?;
            let user = attrs
                .iter()
                .find(|(n, _)| *n == 'n')
                .ok_or("no user")?
                .1
                .replace("=2C", ",")
                .replace("=3D", "=");
            let client_nonce = attrs.iter().find(|(n, _)| *n == 'r').ok_or("no nonce")?.1;
            let credential = lookup(&user).ok_or("unknown user")?;
            let nonce = format!("{client_nonce}{server_nonce_suffix}");
            let server_first = format!(
                "r={nonce},s={},i={}",
                BASE64.encode(&credential.salt),
                credential.iterations
            );
            Ok((
                ScramServer {
                    hash,
                    credential,
                    client_first_bare: bare.to_string(),
                    server_first: server_first.clone(),
                    nonce,
                },
                server_first.into_bytes(),
            ))
        }

        /// Verifies client-final; returns server-final on success.
        pub fn finish(&self, client_final: &[u8]) -> Result<Vec<u8>, String> {
            let text = std::str::from_utf8(client_final).map_err(|e| e.to_string())?;
            let (without_proof, proof) = text.rsplit_once(",p=").ok_or("no proof")?;
            if without_proof != format!("c=biws,r={}", self.nonce) {
                return Err("channel binding or nonce mismatch".into());
            }
            let proof = BASE64.decode(proof).map_err(|e| e.to_string())?;
            let auth_message = format!(
                "{},{},{without_proof}",
                self.client_first_bare, self.server_first
            );
            let client_signature = self
                .hash
                .hmac(&self.credential.stored_key, auth_message.as_bytes());
            let client_key: Vec<u8> = proof
                .iter()
                .zip(&client_signature)
                .map(|(p, s)| p ^ s)
                .collect();
            if self.hash.hash(&client_key) != self.credential.stored_key {
                return Err("Authentication failed during authentication due to invalid credentials with SASL mechanism".into());
            }
            let server_signature = self
                .hash
                .hmac(&self.credential.server_key, auth_message.as_bytes());
            Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::server::*;
    use super::*;

    /// RFC 7677 §3: the SCRAM-SHA-256 example exchange, byte for byte.
    #[test]
    fn rfc7677_sha256_test_vector() {
        let client = ScramClient::with_nonce(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
            false,
        );
        assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let (awaiting, client_final) = client.handle_server_first(server_first).unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        awaiting
            .handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        // One flipped bit in the server signature must fail.
        assert!(awaiting
            .handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=")
            .is_err());
        assert!(awaiting.handle_server_final(b"e=invalid-proof").is_err());
    }

    #[test]
    fn sha512_round_trip_against_our_server() {
        let cred = Credential::new(ScramHash::Sha512, "s3cr=t,pw", b"salty-salt", 4096);
        let client = ScramClient::new(ScramHash::Sha512, "we,ird=user", "s3cr=t,pw", false);
        let first = client.client_first();
        assert!(String::from_utf8_lossy(&first).starts_with("n,,n=we=2Cird=3Duser,r="));
        let (server, server_first) = ScramServer::start(ScramHash::Sha512, &first, "SRV", |u| {
            (u == "we,ird=user").then(|| cred.clone())
        })
        .unwrap();
        let (awaiting, client_final) = client.handle_server_first(&server_first).unwrap();
        let server_final = server.finish(&client_final).unwrap();
        awaiting.handle_server_final(&server_final).unwrap();

        // Wrong password: the server refuses the proof.
        let client = ScramClient::new(ScramHash::Sha512, "we,ird=user", "wrong", false);
        let (server, server_first) =
            ScramServer::start(ScramHash::Sha512, &client.client_first(), "X", |_| {
                Some(cred.clone())
            })
            .unwrap();
        let (_, client_final) = client.handle_server_first(&server_first).unwrap();
        assert!(server.finish(&client_final).is_err());
    }

    #[test]
    fn rejects_hostile_server_first_messages() {
        let mk = || ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "abc", false);
        for bad in [
            &b"r=xyz123,s=c2FsdA==,i=4096"[..], // nonce not extending ours
            b"r=abc,s=c2FsdA==,i=4096",         // nonce not extended
            b"r=abcd,s=c2FsdA==,i=100",         // too few iterations
            b"r=abcd,s=c2FsdA==,i=99999999999", // not a u32 / too many
            b"r=abcd,s=c2FsdA==,i=2000000",     // above our cap
            b"m=ext,r=abcd,s=c2FsdA==,i=4096",  // mandatory extension
            b"r=abcd,s=!!,i=4096",              // bad salt
            b"garbage",
            b"\xff\xfe",
        ] {
            assert!(mk().handle_server_first(bad).is_err(), "{bad:?}");
        }
        let msg = mk()
            .handle_server_first(b"r=abcd,i=4096")
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "server-first has no salt");
    }

    #[test]
    fn token_auth_extension_follows_the_nonce() {
        let c = ScramClient::with_nonce(ScramHash::Sha256, "tok", "hmac", "n1", true);
        assert_eq!(c.client_first(), b"n,,n=tok,r=n1,tokenauth=true");
    }
}
