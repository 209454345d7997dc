//! ApiVersions (key 18): the implemented-version table. Too-new versions never get here
//! (dispatch answers them with the v0 fallback).

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use strait_protocol::versions::api_versions_response;

use crate::broker::Broker;
use crate::dispatch::RequestContext;

pub fn handle(
    _broker: &Broker,
    _ctx: &RequestContext,
    _req: ApiVersionsRequest,
) -> ApiVersionsResponse {
    api_versions_response(None)
}
