//! SaslHandshake (key 17, v0-1) outside the authentication phase: after a connection has
//! authenticated, or on a listener without SASL, Kafka answers ILLEGAL_SASL_STATE. During
//! authentication the connection's SASL state machine ([`crate::auth::sasl`]) answers it.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    _broker: &Broker,
    _ctx: &RequestContext,
    req: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    crate::auth::sasl::handshake_outside_auth(req)
}
