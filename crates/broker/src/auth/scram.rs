//! SCRAM-SHA-256 / SCRAM-SHA-512, server side (RFC 5802, RFC 7677), sans I/O.
//!
//! Credentials are stored the way Kafka stores them (`ScramCredential`): salt, StoredKey,
//! ServerKey and the iteration count — never the password. The hash primitives (HMAC,
//! PBKDF2) are strait-client's [`ScramHash`], shared with the client side.
//!
//! A failed exchange says only "invalid credentials", whether the user is unknown or the
//! proof is wrong, so it does not reveal which user names exist.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use strait_client::scram::ScramHash;

/// Kafka's `ScramMechanism` minimum and maximum iteration counts.
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// `org.apache.kafka.clients.admin.ScramMechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(ScramMechanism::Sha256),
            "SCRAM-SHA-512" => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }
    pub fn hash(self) -> ScramHash {
        match self {
            ScramMechanism::Sha256 => ScramHash::Sha256,
            ScramMechanism::Sha512 => ScramHash::Sha512,
        }
    }
}

/// One stored credential (persisted in the metadata image). Byte fields are base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredentialRecord {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub iterations: i32,
    pub salt: String,
    pub stored_key: String,
    pub server_key: String,
}

impl std::fmt::Debug for ScramCredentialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentialRecord")
            .field("user", &self.user)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredentialRecord {
    /// From AlterUserScramCredentials' upsertion: the client sends the salted password.
    pub fn from_salted_password(
        user: &str,
        mechanism: ScramMechanism,
        iterations: i32,
        salt: &[u8],
        salted_password: &[u8],
    ) -> Self {
        let hash = mechanism.hash();
        let client_key = hash.hmac(salted_password, b"Client Key");
        ScramCredentialRecord {
            user: user.to_string(),
            mechanism,
            iterations,
            salt: BASE64.encode(salt),
            stored_key: BASE64.encode(hash.hash(&client_key)),
            server_key: BASE64.encode(hash.hmac(salted_password, b"Server Key")),
        }
    }

    /// From a clear-text password (bootstrap credentials in the broker config).
    pub fn from_password(
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
        iterations: i32,
    ) -> Self {
        let mut salt = [0u8; 24];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
        let salted =
            mechanism
                .hash()
                .salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
        Self::from_salted_password(user, mechanism, iterations, &salt, &salted)
    }
}

/// The one message a failed exchange gives (Kafka's wording).
pub fn invalid_credentials(mechanism: ScramMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    )
}

/// Server state after server-first, waiting for client-final.
pub struct ScramServer {
    mechanism: ScramMechanism,
    user: String,
    credential: Option<(Vec<u8>, Vec<u8>)>,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    client_nonce_len: usize,
}

impl std::fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A failed exchange: the message for the client (never containing secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramFailure(pub String);

fn attrs(msg: &str) -> Result<Vec<(&str, &str)>, ScramFailure> {
    msg.split(',')
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| ScramFailure("Invalid SCRAM message format".into()))
        })
        .collect()
}

fn unescape_name(name: &str) -> Result<String, ScramFailure> {
    // RFC 5802: ',' and '=' travel as =2C and =3D; any other '=' is malformed.
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return Err(ScramFailure(
                "Invalid user name encoding in SCRAM message".into(),
            ));
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ScramServer {
    /// Handles client-first. `lookup` returns the user's stored credential. An unknown
    /// user still gets a server-first (with a random salt) and fails at client-final, so
    /// the exchange does not reveal whether the user exists.
    pub fn start(
        mechanism: ScramMechanism,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredentialRecord>,
    ) -> Result<(Self, Vec<u8>), ScramFailure> {
        let text = std::str::from_utf8(client_first)
            .map_err(|_| ScramFailure("SCRAM client-first message is not UTF-8".into()))?;
        // gs2-header = cbind-flag "," [ "a=" authzid ] ","
        let mut parts = text.splitn(3, ',');
        let cbind = parts.next().unwrap_or_default();
        let authzid = parts.next().unwrap_or_default();
        let bare = parts
            .next()
            .ok_or_else(|| ScramFailure("Invalid SCRAM client-first message".into()))?;
        match cbind {
            "n" | "y" => {}
            _ => {
                return Err(ScramFailure(
                    "SCRAM channel binding is not supported".into(),
                ))
            }
        }
        let gs2_header = format!("{cbind},{authzid},");
        let attributes = attrs(bare)?;
        let mut user = None;
        let mut nonce = None;
        for (i, (k, v)) in attributes.iter().enumerate() {
            match (*k, i) {
                ("m", _) => {
                    return Err(ScramFailure(
                        "Mandatory SCRAM extensions are not supported".into(),
                    ))
                }
                ("n", 0) => user = Some(unescape_name(v)?),
                ("r", 1) => nonce = Some(*v),
                ("tokenauth", _) if v.eq_ignore_ascii_case("true") => {
                    return Err(ScramFailure(
                        "Delegation token authentication is not supported by Strait".into(),
                    ))
                }
                _ => {}
            }
        }
        let user =
            user.ok_or_else(|| ScramFailure("SCRAM client-first has no user name".into()))?;
        let client_nonce =
            nonce.ok_or_else(|| ScramFailure("SCRAM client-first has no nonce".into()))?;
        if client_nonce.is_empty() || client_nonce.contains(',') {
            return Err(ScramFailure("Invalid SCRAM client nonce".into()));
        }
        if let Some(a) = authzid.strip_prefix("a=") {
            if unescape_name(a)? != user {
                return Err(ScramFailure(
                    "Authentication failed: Client requested an authorization id that is different from username".into(),
                ));
            }
        } else if !authzid.is_empty() {
            return Err(ScramFailure("Invalid SCRAM gs2 header".into()));
        }
        // Alphanumeric, like Kafka's ScramFormatter (librdkafka 2.0.x mangles '+' and '/'
        // in the server nonce and then fails the exchange).
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut raw = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut raw);
        let suffix: String = raw
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        let nonce = format!("{client_nonce}{suffix}");
        let stored = lookup(&user).filter(|c| c.mechanism == mechanism);
        let (salt, iterations, credential) = match stored {
            Some(c) => {
                let decode = |s: &str| BASE64.decode(s).unwrap_or_default();
                (
                    c.salt.clone(),
                    c.iterations,
                    Some((decode(&c.stored_key), decode(&c.server_key))),
                )
            }
            None => {
                let mut fake = [0u8; 24];
                rand::Rng::fill_bytes(&mut rand::rng(), &mut fake);
                (BASE64.encode(fake), MIN_ITERATIONS, None)
            }
        };
        let server_first = format!("r={nonce},s={salt},i={iterations}");
        Ok((
            ScramServer {
                mechanism,
                user,
                credential,
                gs2_header,
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                client_nonce_len: client_nonce.len(),
                nonce,
            },
            server_first.into_bytes(),
        ))
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The user name the client claimed in client-first.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Verifies client-final; on success returns server-final (`v=<ServerSignature>`).
    pub fn finish(&self, client_final: &[u8]) -> Result<Vec<u8>, ScramFailure> {
        let fail = || ScramFailure(invalid_credentials(self.mechanism));
        let text = std::str::from_utf8(client_final)
            .map_err(|_| ScramFailure("SCRAM client-final message is not UTF-8".into()))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| ScramFailure("SCRAM client-final has no proof".into()))?;
        let attributes = attrs(without_proof)?;
        let channel = attributes
            .iter()
            .find(|(k, _)| *k == "c")
            .map(|(_, v)| BASE64.decode(v).unwrap_or_default())
            .unwrap_or_default();
        if channel != self.gs2_header.as_bytes() {
            return Err(ScramFailure("Invalid SCRAM channel binding".into()));
        }
        let nonce = attributes
            .iter()
            .find(|(k, _)| *k == "r")
            .map_or("", |(_, v)| *v);
        // librdkafka before 2.6.1 (librdkafka#4895; Debian's kcat) sends its client nonce
        // once more in front of the full nonce. Kafka 3.8.1-3.9 accepted that with
        // `endsWith`; so do we, but only in exactly that form, so the server nonce is
        // still required (no replay).
        let legacy = nonce.len() == self.client_nonce_len + self.nonce.len()
            && nonce.ends_with(self.nonce.as_str())
            && nonce.as_bytes().get(..self.client_nonce_len)
                == self.nonce.as_bytes().get(..self.client_nonce_len);
        if nonce != self.nonce && !legacy {
            return Err(ScramFailure("Invalid SCRAM nonce in client-final".into()));
        }
        let proof = BASE64.decode(proof).map_err(|_| fail())?;
        let (stored_key, server_key) = self.credential.as_ref().ok_or_else(fail)?;
        let hash = self.mechanism.hash();
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let client_signature = hash.hmac(stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(fail());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !ct_eq(&hash.hash(&client_key), stored_key) {
            return Err(fail());
        }
        let server_signature = hash.hmac(server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_client::scram::{ScramClient, ScramHash};

    fn exchange(
        mech: ScramMechanism,
        stored: &ScramCredentialRecord,
        user: &str,
        pw: &str,
    ) -> bool {
        let client = ScramClient::new(mech.hash(), user, pw, false);
        let Ok((server, first)) = ScramServer::start(mech, &client.client_first(), |u| {
            (u == stored.user).then(|| stored.clone())
        }) else {
            return false;
        };
        let (awaiting, client_final) = client.handle_server_first(&first).unwrap();
        match server.finish(&client_final) {
            Ok(server_final) => {
                awaiting.handle_server_final(&server_final).unwrap();
                true
            }
            Err(e) => {
                assert!(e.0.contains("invalid credentials"), "{e:?}");
                false
            }
        }
    }

    #[test]
    fn client_and_server_agree() {
        for mech in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let c = ScramCredentialRecord::from_password("we,ird=user", mech, "pw", 4096);
            assert!(exchange(mech, &c, "we,ird=user", "pw"));
            assert!(!exchange(mech, &c, "we,ird=user", "wrong"));
            assert!(!exchange(mech, &c, "nobody", "pw"));
            assert!(!format!("{c:?}").contains(&c.stored_key));
        }
        // A SHA-256 credential does not authenticate SCRAM-SHA-512.
        let c = ScramCredentialRecord::from_password("u", ScramMechanism::Sha256, "pw", 4096);
        assert!(!exchange(ScramMechanism::Sha512, &c, "u", "pw"));
    }

    #[test]
    fn nonce_checks_in_client_final() {
        let c = ScramCredentialRecord::from_password("u", ScramMechanism::Sha256, "pw", 4096);
        let client = ScramClient::with_nonce(ScramHash::Sha256, "u", "pw", "cnonce", false);
        let (server, first) =
            ScramServer::start(ScramMechanism::Sha256, &client.client_first(), |_| {
                Some(c.clone())
            })
            .unwrap();
        let (_, client_final) = client.handle_server_first(&first).unwrap();
        let text = String::from_utf8(client_final).unwrap();
        let full = server.nonce.clone();
        // librdkafka < 2.6.1 repeats its client nonce: accepted (proof still checked).
        let legacy = text.replace(&format!("r={full}"), &format!("r=cnonce{full}"));
        assert_eq!(
            server.finish(legacy.as_bytes()).unwrap_err().0,
            invalid_credentials(ScramMechanism::Sha256)
        );
        assert!(server.finish(text.as_bytes()).is_ok());
        // Anything else is refused before the proof: only the client nonce, or a stranger's.
        for bad in [
            text.replace(&format!("r={full}"), "r=cnonce"),
            text.replace(&format!("r={full}"), &format!("r=x{full}")),
        ] {
            assert!(
                server
                    .finish(bad.as_bytes())
                    .unwrap_err()
                    .0
                    .contains("nonce"),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_bad_client_first() {
        for bad in [
            &b"p=tls-unique,,n=u,r=abc"[..],
            b"n,,r=abc,n=u",
            b"n,,n=u",
            b"n,,n=u,r=abc,tokenauth=true",
            b"n,a=other,n=u,r=abc",
            b"n,,m=x,n=u,r=abc",
            b"n,,n=u=zz,r=abc",
            b"\xff",
        ] {
            assert!(
                ScramServer::start(ScramMechanism::Sha256, bad, |_| None).is_err(),
                "{bad:?}"
            );
        }
        assert!(ScramServer::start(ScramMechanism::Sha256, b"n,a=u,n=u,r=abc", |_| None).is_ok());
    }
}
