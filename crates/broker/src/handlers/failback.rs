//! Failback's private APIs: RestoreMirrors (key 20010, `mirrors --truncate-and-restore`),
//! ReverseMirrors (20011, `mirrors --reverse-and-start` / `--reverse-and-pause`) and
//! DescribeTopicLineage (20012, what a restoring peer asks to prove common history). The
//! link ([`strait_link::manager`]) owns the staging; these handlers only relay.

use std::time::Duration;

use strait_protocol::mirror_admin::{
    DescribeTopicLineageRequest, DescribeTopicLineageResponse, RestoreMirrorsRequest,
    RestoreMirrorsResponse, ReverseMirrorsRequest, ReverseMirrorsResponse, TopicLineage,
};
use strait_protocol::ErrorCode;

use super::private::{api, links};
use crate::broker::Broker;

/// The broker answers before a client with the same timeout gives up.
fn timeout(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0).clamp(1_000, 300_000))
}

pub async fn restore(broker: &Broker, req: RestoreMirrorsRequest) -> RestoreMirrorsResponse {
    let manager = match links(broker) {
        Ok(m) => m,
        Err(e) => {
            return RestoreMirrorsResponse {
                error_code: e.error_code(),
                error_message: e.message,
                results: Vec::new(),
            }
        }
    };
    match manager
        .truncate_and_restore(
            &req.topics,
            &req.link_name,
            req.pause,
            req.validate_only,
            timeout(req.timeout_ms),
        )
        .await
        .map_err(api)
    {
        Ok(results) => RestoreMirrorsResponse {
            results,
            ..Default::default()
        },
        Err(e) => RestoreMirrorsResponse {
            error_code: e.error_code(),
            error_message: e.message,
            results: Vec::new(),
        },
    }
}

pub async fn reverse(broker: &Broker, req: ReverseMirrorsRequest) -> ReverseMirrorsResponse {
    let manager = match links(broker) {
        Ok(m) => m,
        Err(e) => {
            return ReverseMirrorsResponse {
                error_code: e.error_code(),
                error_message: e.message,
                results: Vec::new(),
            }
        }
    };
    match manager
        .reverse_mirrors(
            &req.topics,
            &req.link_name,
            req.remote_link_name.as_deref(),
            req.pause_remote,
            req.validate_only,
            timeout(req.timeout_ms),
        )
        .await
        .map_err(api)
    {
        Ok(results) => ReverseMirrorsResponse {
            results,
            ..Default::default()
        },
        Err(e) => ReverseMirrorsResponse {
            error_code: e.error_code(),
            error_message: e.message,
            results: Vec::new(),
        },
    }
}

pub fn lineage(broker: &Broker, req: DescribeTopicLineageRequest) -> DescribeTopicLineageResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|name| match broker.topics.get(&name) {
            None => TopicLineage {
                topic: name,
                error_code: ErrorCode::UnknownTopicOrPartition.code(),
                ..Default::default()
            },
            Some(t) => {
                let m = t.mirror();
                TopicLineage {
                    topic: name,
                    error_code: 0,
                    topic_id: Some(t.topic_id.to_string()),
                    mirrored_topic_id: m.as_ref().and_then(|m| m.source_topic_id.clone()),
                    mirror_state: m.map(|m| m.state),
                }
            }
        })
        .collect();
    DescribeTopicLineageResponse { topics }
}
