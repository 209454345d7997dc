//! SaslAuthenticate (key 36, v0-2) outside the authentication phase: ILLEGAL_SASL_STATE
//! (Strait grants no re-authentication: `session_lifetime_ms` is always 0). During
//! authentication the connection's SASL state machine ([`crate::auth::sasl`]) answers it.

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    _broker: &Broker,
    _ctx: &RequestContext,
    req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    crate::auth::sasl::authenticate_outside_auth(req)
}
