//! Write forwarding (`mirror.produce.forwarding.enable=true`): the source-facing half.
//!
//! A producer moved to the destination before promote keeps writing: its Produce to an
//! ACTIVE mirror of a forwarding link is sent, bytes unchanged, to the source partition
//! leader with the client's acks, and the source's answer (base offset, or its error) is
//! the answer. The source assigns the offsets, so the acknowledged offset is the offset
//! the record gets in the mirror once the link copies it; nothing diverges.
//!
//! Producer ids: while any link forwards, a non-transactional InitProducerId on the
//! destination is forwarded to that link's source (one source only: forwarding links to
//! different source clusters are refused there, since an id from one source would collide
//! with the other's producers). The producer's sequences then live on the source, the
//! mirror copies them with the batches (mirrored producer state), and after promote the
//! same id continues with its next sequence on the destination.
//!
//! Error mapping (what the producer sees; see [`ForwardError`]):
//! * the source's partition error: its code unchanged (retriable stays retriable), the
//!   message prefixed with the link, so an ACL refusal says where the write went;
//! * source unreachable (connect failed, connection lost) or no answer within the produce
//!   timeout: REQUEST_TIMED_OUT, retriable for every Kafka client (NETWORK_EXCEPTION is
//!   not: librdkafka fails a produced message with it at once); an idempotent producer's
//!   retry is deduplicated by the source;
//! * the link cannot log in to the source: REQUEST_TIMED_OUT too (an operator fixes the
//!   link's credentials and the producers' retries go through), with the reason;
//! * InitProducerId: the source's error code; unreachable, REQUEST_TIMED_OUT as above;
//! * anything else (undecodable answer): UNKNOWN_SERVER_ERROR.
//!
//! Invariants: a forward never outlives the caller's deadline (the produce timeout); one
//! cached source client per link, rebuilt when an alter changes how the source is reached
//! (the link's client generation); requests for one partition leave in the order they
//! arrive (one multiplexed connection per source broker), so idempotent sequences stay in
//! order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use strait_client::produce::PRODUCE_MAX_VERSION;
use strait_client::{Client, ClientError};
use strait_protocol::ErrorCode;

use crate::manager::LinkManager;
use crate::shared::LinkShared;
use crate::state::LinkState;

/// Fault injection for tests (the promote race): source topics whose forwards wait this
/// long after the broker decided to forward and before anything is sent, and how many
/// forwards entered such a wait. Off (one atomic load per forward) unless a test sets it.
static TEST_DELAYS: std::sync::Mutex<Vec<(String, Duration)>> = std::sync::Mutex::new(Vec::new());
static TEST_DELAY_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static TEST_DELAYED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Test hook: delay every forward to `source_topic` by up to `delay`; `None` clears it and
/// releases the forwards waiting.
pub fn set_test_forward_delay(source_topic: &str, delay: Option<Duration>) {
    let mut d = crate::shared::lock(&TEST_DELAYS);
    d.retain(|(t, _)| t != source_topic);
    if let Some(delay) = delay {
        d.push((source_topic.to_string(), delay));
    }
    TEST_DELAY_SET.store(!d.is_empty(), std::sync::atomic::Ordering::Release);
}

/// Test hook: how many forwards have entered a [`set_test_forward_delay`] wait.
pub fn test_forwards_delayed() -> u64 {
    TEST_DELAYED.load(std::sync::atomic::Ordering::Acquire)
}

async fn test_delay(source_topic: &str) {
    if !TEST_DELAY_SET.load(std::sync::atomic::Ordering::Acquire) {
        return;
    }
    let delay = crate::shared::lock(&TEST_DELAYS)
        .iter()
        .find(|(t, _)| t == source_topic)
        .map(|(_, d)| *d);
    if let Some(d) = delay {
        TEST_DELAYED.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        // Until the delay passes or the test clears it (releases the held forwards).
        let until = Instant::now() + d;
        let held = || {
            crate::shared::lock(&TEST_DELAYS)
                .iter()
                .any(|(t, _)| t == source_topic)
        };
        while Instant::now() < until && held() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The source's acknowledgement of one forwarded partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// Why a forwarded write (or producer-id request) failed, as the client should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardError {
    pub code: ErrorCode,
    pub message: String,
    /// The source's per-batch errors (batch index, message), passed through.
    pub record_errors: Vec<(i32, Option<String>)>,
}

impl ForwardError {
    fn new(code: ErrorCode, message: String) -> Self {
        ForwardError {
            code,
            message,
            record_errors: Vec::new(),
        }
    }
}

/// Whether a link forwards produce to its ACTIVE mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    /// `mirror.produce.forwarding.enable=false` (or no such link): mirrors stay read-only.
    Off,
    On,
    /// Forwarding is configured but the link is paused (`cluster.link.paused`): nothing is
    /// copied, so a forwarded record would not reach the mirror; not forwarded.
    LinkPaused,
}

/// A link's forwarding connection to its source (built on first use).
#[derive(Default)]
pub struct ForwardState {
    client: tokio::sync::Mutex<Option<(u64, Client)>>,
}

impl ForwardState {
    /// The cached source client, rebuilt when the link's connection settings changed.
    async fn client(&self, shared: &LinkShared) -> Result<Client, ClientError> {
        let generation = shared.client_generation();
        let mut slot = self.client.lock().await;
        if let Some((g, c)) = slot.as_ref() {
            if *g == generation {
                return Ok(c.clone());
            }
        }
        if let Some((_, old)) = slot.take() {
            tokio::spawn(async move { old.close().await });
        }
        let client = Client::connect(&shared.client_config()).await?;
        *slot = Some((generation, client.clone()));
        Ok(client)
    }
}

/// What a producer gets when the source cannot be reached (connect refused, connection
/// lost, link login failed), for Produce and InitProducerId alike: REQUEST_TIMED_OUT, which
/// Kafka clients retry (librdkafka and Java alike; for InitProducerId,
/// COORDINATOR_NOT_AVAILABLE would send Java looking for a transaction coordinator it has
/// no key for). Not NETWORK_EXCEPTION: in a Produce response librdkafka fails the message
/// with it at once ("Broker disconnected before response received"), seen with
/// confluent-kafka 2.x in `protocol-tests/test_write_forwarding.py`.
const SOURCE_UNREACHABLE: ErrorCode = ErrorCode::RequestTimedOut;

/// Errors after which the cached leader is probably wrong: refreshed in the background so
/// the producer's retry goes to the new leader.
fn stale_leader(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::NetworkException
            | SOURCE_UNREACHABLE
    )
}

/// A client-side failure as the producer should see it (module docs).
fn map_client_error(
    link: &str,
    what: &str,
    e: &ClientError,
    unreachable: ErrorCode,
) -> ForwardError {
    let code = match e {
        // The link's own login failed: not the producer's credentials, so not its error code.
        _ if e.is_auth_failure() => unreachable,
        ClientError::Kafka { code, .. } => *code,
        ClientError::Timeout { .. } => ErrorCode::RequestTimedOut,
        ClientError::Connect { .. }
        | ClientError::ConnectionClosed { .. }
        | ClientError::Bootstrap(_)
        | ClientError::Tls { .. } => unreachable,
        _ => ErrorCode::UnknownServerError,
    };
    ForwardError::new(
        code,
        format!(
            "{what} was forwarded over cluster link '{link}' to its source cluster and failed: {e}"
        ),
    )
}

fn timed_out(link: &str, what: &str, after: Duration) -> ForwardError {
    ForwardError::new(
        ErrorCode::RequestTimedOut,
        format!(
            "{what} was forwarded over cluster link '{link}' and the source cluster did not answer within {} ms",
            after.as_millis()
        ),
    )
}

/// Sends one partition's records to the source leader and reads its answer.
async fn produce_on_source(
    shared: &LinkShared,
    source_topic: &str,
    partition: i32,
    records: Bytes,
    acks: i16,
    timeout: Duration,
) -> Result<Forwarded, ForwardError> {
    let link = shared.name();
    let what = format!("the write to {source_topic}-{partition}");
    let client = shared
        .forward
        .client(shared)
        .await
        .map_err(|e| map_client_error(link, &what, &e, SOURCE_UNREACHABLE))?;
    let refresh = |code: ErrorCode| {
        if stale_leader(code) {
            let (client, topic) = (client.clone(), source_topic.to_string());
            tokio::spawn(async move { client.refresh_metadata(&[topic.as_str()]).await.ok() });
        }
    };
    let conn = match client.leader_connection(source_topic, partition).await {
        Ok(c) => c,
        Err(e) => {
            let mapped = map_client_error(link, &what, &e, SOURCE_UNREACHABLE);
            refresh(mapped.code);
            return Err(mapped);
        }
    };
    let version = conn
        .negotiate::<ProduceRequest>(PRODUCE_MAX_VERSION)
        .map_err(|e| map_client_error(link, &what, &e, SOURCE_UNREACHABLE))?;
    // acks=0 gets no response, which the multiplexed connection cannot match; the source
    // write is the same with acks=1, and the caller answers the client nothing anyway.
    let source_acks = if acks == 0 { 1 } else { acks };
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let req = ProduceRequest::default()
        .with_acks(source_acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(source_topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let response = match conn.send_with_timeout(&req, version, timeout).await {
        Ok(r) => r,
        Err(e) => {
            let mapped = map_client_error(link, &what, &e, SOURCE_UNREACHABLE);
            refresh(mapped.code);
            return Err(mapped);
        }
    };
    let Some(p) = response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .find(|p| p.index == partition)
    else {
        return Err(ForwardError::new(
            ErrorCode::UnknownServerError,
            format!("{what} was forwarded over cluster link '{link}' and the source's Produce response has no result for it"),
        ));
    };
    if let Some(code) = ErrorCode::try_from_code(p.error_code) {
        refresh(code);
        let detail = p
            .error_message
            .as_ref()
            .map_or_else(|| code.to_string(), |m| format!("{code}: {m}"));
        return Err(ForwardError {
            code,
            message: format!(
                "{what} was forwarded over cluster link '{link}' and the source cluster refused it ({detail})"
            ),
            record_errors: p
                .record_errors
                .iter()
                .map(|r| {
                    (
                        r.batch_index,
                        r.batch_index_error_message.as_ref().map(|m| m.to_string()),
                    )
                })
                .collect(),
        });
    }
    Ok(Forwarded {
        base_offset: p.base_offset,
        log_append_time_ms: p.log_append_time_ms,
        log_start_offset: p.log_start_offset,
    })
}

/// Who a link's source cluster is, to tell whether two forwarding links share a source:
/// its cluster id when known, else its bootstrap list.
fn source_identity(link: &LinkShared) -> String {
    link.status().source_cluster_id.unwrap_or_else(|| {
        let mut servers = link.config().bootstrap_servers.clone();
        servers.sort();
        format!("bootstrap:{}", servers.join(","))
    })
}

/// Asks the source for a non-transactional producer id (or, with an existing id and
/// epoch, KIP-360's epoch bump), with the link's credentials.
async fn init_producer_id_on_source(
    shared: &LinkShared,
    producer_id: i64,
    producer_epoch: i16,
    timeout: Duration,
) -> Result<(i64, i16), ForwardError> {
    let link = shared.name();
    let what = "InitProducerId";
    let unreachable = |e: &ClientError| map_client_error(link, what, e, SOURCE_UNREACHABLE);
    let client = shared
        .forward
        .client(shared)
        .await
        .map_err(|e| unreachable(&e))?;
    let conn = client.any_broker().await.map_err(|e| unreachable(&e))?;
    let version = conn
        .negotiate::<InitProducerIdRequest>(4)
        .map_err(|e| unreachable(&e))?;
    // Below v3 the request cannot name an existing producer: the source hands out a fresh
    // id, which is what an older Kafka does too.
    let (pid, epoch) = if version >= 3 {
        (producer_id, producer_epoch)
    } else {
        (-1, -1)
    };
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch);
    let resp = conn
        .send_with_timeout(&req, version, timeout)
        .await
        .map_err(|e| unreachable(&e))?;
    if let Some(code) = ErrorCode::try_from_code(resp.error_code) {
        return Err(ForwardError::new(
            code,
            format!("InitProducerId was forwarded over cluster link '{link}' (the producer ids of producers writing to its mirrors come from the source) and the source cluster refused it: {code}"),
        ));
    }
    Ok((resp.producer_id.0, resp.producer_epoch))
}

impl LinkManager {
    /// How `link` treats Produce to its ACTIVE mirrors (read per request: alters apply at
    /// once).
    pub fn forward_mode(&self, link: &str) -> ForwardMode {
        match self.get(link) {
            Some(l) if l.config().produce_forwarding => {
                if l.config().paused || l.status().state == LinkState::Paused {
                    ForwardMode::LinkPaused
                } else {
                    ForwardMode::On
                }
            }
            _ => ForwardMode::Off,
        }
    }

    /// Forwards one partition's records to the source partition leader of `link` (module
    /// docs), giving up at `deadline`.
    pub async fn forward_produce(
        &self,
        link: &str,
        source_topic: &str,
        partition: i32,
        records: Bytes,
        acks: i16,
        deadline: Instant,
    ) -> Result<Forwarded, ForwardError> {
        let Some(shared) = self.get(link) else {
            return Err(ForwardError::new(
                ErrorCode::InvalidRequest,
                format!("cluster link '{link}' no longer exists; the write was not forwarded"),
            ));
        };
        let timeout = deadline.saturating_duration_since(Instant::now());
        let work = async {
            test_delay(source_topic).await;
            produce_on_source(&shared, source_topic, partition, records, acks, timeout).await
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(timed_out(
                link,
                &format!("the write to {source_topic}-{partition}"),
                timeout,
            )),
        }
    }

    /// The producer-id rule of write forwarding: `None` when no link forwards (the
    /// destination allocates the id itself); otherwise the id from the forwarding link's
    /// source. Forwarding links whose sources are different clusters are refused: an id
    /// one source allocated may belong to another producer on the other.
    pub async fn forward_init_producer_id(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        deadline: Instant,
    ) -> Option<Result<(i64, i16, String), ForwardError>> {
        let links: Vec<Arc<LinkShared>> = self
            .running()
            .into_iter()
            .filter(|l| l.config().produce_forwarding)
            .collect();
        let first = links.first()?.clone();
        let identity = source_identity(&first);
        if let Some(other) = links.iter().find(|l| source_identity(l) != identity) {
            return Some(Err(ForwardError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "cluster links '{}' and '{}' both forward writes (mirror.produce.forwarding.enable=true) but mirror different source clusters; producer ids cannot come from both, so idempotent producers are refused until only links to one source forward",
                    first.name(),
                    other.name()
                ),
            )));
        }
        let timeout = deadline.saturating_duration_since(Instant::now());
        let work = init_producer_id_on_source(&first, producer_id, producer_epoch, timeout);
        Some(match tokio::time::timeout(timeout, work).await {
            Ok(r) => r.map(|(p, e)| (p, e, first.name().to_string())),
            Err(_) => Err(ForwardError::new(
                SOURCE_UNREACHABLE,
                format!(
                    "InitProducerId was forwarded over cluster link '{}' and the source cluster did not answer within {} ms",
                    first.name(),
                    timeout.as_millis()
                ),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_source_is_retriable() {
        let e = ClientError::Connect {
            broker: "b:1".into(),
            message: "refused".into(),
        };
        let m = map_client_error("l", "the write", &e, SOURCE_UNREACHABLE);
        assert_eq!(m.code, ErrorCode::RequestTimedOut);
        assert!(m.code.is_retriable());
        assert!(m.message.contains("cluster link 'l'"), "{}", m.message);
        let t = ClientError::Timeout {
            broker: "b:1".into(),
            what: "Produce".into(),
            after: Duration::from_millis(5),
        };
        assert_eq!(
            map_client_error("l", "w", &t, ErrorCode::NetworkException).code,
            ErrorCode::RequestTimedOut
        );
        let login = ClientError::Kafka {
            code: ErrorCode::SaslAuthenticationFailed,
            message: None,
            context: "x".into(),
        };
        assert_eq!(
            map_client_error("l", "w", &login, SOURCE_UNREACHABLE).code,
            ErrorCode::RequestTimedOut,
            "the link's login failure is not the producer's"
        );
        let k = ClientError::Kafka {
            code: ErrorCode::TopicAuthorizationFailed,
            message: None,
            context: "x".into(),
        };
        assert_eq!(
            map_client_error("l", "w", &k, ErrorCode::NetworkException).code,
            ErrorCode::TopicAuthorizationFailed
        );
    }
}
