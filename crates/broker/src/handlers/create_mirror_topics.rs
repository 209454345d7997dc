//! CreateMirrorTopics (private key 20003): a mirror created by hand (`mirrors create`),
//! with the source's partition count and topic configs.

use strait_protocol::admin::{CreateMirrorTopicsRequest, CreateMirrorTopicsResponse};

use super::private::{api, item, links};
use crate::broker::Broker;
use crate::topics::validate_topic_name;

pub async fn handle(broker: &Broker, req: CreateMirrorTopicsRequest) -> CreateMirrorTopicsResponse {
    let mut results = Vec::with_capacity(req.mirrors.len());
    for m in req.mirrors {
        let outcome = match (validate_topic_name(&m.mirror_topic), links(broker)) {
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(manager)) => manager
                .create_mirror_topic(
                    &m.mirror_topic,
                    &m.link_name,
                    m.source_topic.as_deref(),
                    req.validate_only,
                )
                .await
                .map_err(api),
        };
        results.push(item(&m.mirror_topic, outcome));
    }
    CreateMirrorTopicsResponse { results }
}
