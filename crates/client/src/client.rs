//! The cluster-level client: bootstrap, metadata cache, one pooled connection per broker
//! id, and leader/controller routing.
//!
//! Concurrency: the metadata snapshot is an `Arc` swapped under a short `RwLock`, so
//! readers never wait on the network. Each broker id has its own async slot, so two tasks
//! asking for the same broker share one connection attempt, while different brokers
//! connect in parallel. A pooled connection is replaced when it is closed, when its SASL
//! session is about to expire, or when the broker's advertised address changed.
//!
//! Routing rules: metadata and read-only admin calls go to any live broker; topic,
//! partition, config and ACL mutations go to the controller when Metadata names one
//! (Kafka forwards from any broker since KIP-590, so "any" is the fallback); group calls go
//! to the group coordinator; data-plane calls take an explicit broker id, because the link
//! decides where to fetch from.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;

use crate::config::ClientConfig;
use crate::connection::{ConnectOptions, Connection};
use crate::error::ClientError;
use crate::metadata::{ClusterMetadata, MetadataTopics};
use crate::ErrorCode;

type Slot = Arc<tokio::sync::Mutex<Option<(String, Connection)>>>;

struct Inner {
    options: ConnectOptions,
    bootstrap: Vec<String>,
    metadata: RwLock<Arc<ClusterMetadata>>,
    pool: Mutex<HashMap<i32, Slot>>,
    bootstrap_conn: tokio::sync::Mutex<Option<Connection>>,
}

/// A client for one Kafka cluster. Cheap to clone; clones share the cache and the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bootstrap", &self.inner.bootstrap)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client and fetches the broker list from the first reachable bootstrap
    /// server.
    pub async fn connect(config: &ClientConfig) -> Result<Client, ClientError> {
        if config.bootstrap_servers.is_empty() {
            return Err(crate::error::ConfigError::new("bootstrap.servers", "is empty").into());
        }
        let client = Client {
            inner: Arc::new(Inner {
                options: ConnectOptions::new(config)?,
                bootstrap: config.bootstrap_servers.clone(),
                metadata: RwLock::new(Arc::new(ClusterMetadata::default())),
                pool: Mutex::new(HashMap::new()),
                bootstrap_conn: tokio::sync::Mutex::new(None),
            }),
        };
        client.refresh_metadata(&[]).await?;
        Ok(client)
    }

    /// The connection settings every pooled connection uses.
    pub fn options(&self) -> &ConnectOptions {
        &self.inner.options
    }

    /// The current metadata snapshot (never blocks on the network).
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner
            .metadata
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn store_metadata(&self, fresh: ClusterMetadata) -> Arc<ClusterMetadata> {
        let mut guard = self
            .inner
            .metadata
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let mut merged = (**guard).clone();
        merged.merge(fresh);
        let merged = Arc::new(merged);
        *guard = merged.clone();
        merged
    }

    /// Refreshes brokers, controller and cluster id, plus the given topics (none when
    /// `topics` is empty). Topics not named keep their cached entries.
    pub async fn refresh_metadata(
        &self,
        topics: &[&str],
    ) -> Result<Arc<ClusterMetadata>, ClientError> {
        let which = if topics.is_empty() {
            MetadataTopics::None
        } else {
            MetadataTopics::Some(topics)
        };
        let fresh = self.any_broker().await?.metadata(which).await?;
        Ok(self.store_metadata(fresh))
    }

    /// Refreshes metadata for every topic in the cluster.
    pub async fn refresh_all_metadata(&self) -> Result<Arc<ClusterMetadata>, ClientError> {
        let fresh = self
            .any_broker()
            .await?
            .metadata(MetadataTopics::All)
            .await?;
        // A full listing also forgets deleted topics.
        let mut guard = self
            .inner
            .metadata
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let fresh = Arc::new(fresh);
        *guard = fresh.clone();
        Ok(fresh)
    }

    /// The pooled connection to broker `id` (as cached in metadata), connecting if needed.
    pub async fn broker(&self, id: i32) -> Result<Connection, ClientError> {
        let address = self
            .metadata()
            .broker(id)
            .map(|b| b.address())
            .ok_or(ClientError::UnknownBroker(id))?;
        let slot = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone();
        let mut guard = slot.lock().await;
        if let Some((addr, conn)) = guard.as_ref() {
            if *addr == address && conn.is_usable() {
                return Ok(conn.clone());
            }
        }
        let conn = Connection::connect(&address, &self.inner.options).await?;
        *guard = Some((address, conn.clone()));
        Ok(conn)
    }

    /// Like [`Client::broker`], refreshing the broker list once if `id` is not cached
    /// (a coordinator or leader that joined after our last refresh).
    pub async fn broker_refreshing(&self, id: i32) -> Result<Connection, ClientError> {
        if self.metadata().broker(id).is_none() {
            self.refresh_metadata(&[]).await?;
        }
        self.broker(id).await
    }

    /// Any live connection: pooled, bootstrap, then a fresh one to a known broker, then
    /// the bootstrap list again.
    pub async fn any_broker(&self) -> Result<Connection, ClientError> {
        let slots: Vec<Slot> = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for slot in slots {
            if let Ok(guard) = slot.try_lock() {
                if let Some((_, conn)) = guard.as_ref().filter(|(_, c)| c.is_usable()) {
                    return Ok(conn.clone());
                }
            }
        }
        {
            let guard = self.inner.bootstrap_conn.lock().await;
            if let Some(conn) = guard.as_ref().filter(|c| c.is_usable()) {
                return Ok(conn.clone());
            }
        }
        let known: Vec<i32> = self.metadata().brokers.keys().copied().collect();
        for id in known {
            match self.broker(id).await {
                Ok(conn) => return Ok(conn),
                Err(e) if e.is_auth_failure() => return Err(e),
                Err(e) => tracing::debug!(broker = id, error = %e, "broker unreachable"),
            }
        }
        self.bootstrap_connection().await
    }

    async fn bootstrap_connection(&self) -> Result<Connection, ClientError> {
        let mut guard = self.inner.bootstrap_conn.lock().await;
        if let Some(conn) = guard.as_ref().filter(|c| c.is_usable()) {
            return Ok(conn.clone());
        }
        let mut errors = Vec::new();
        for addr in &self.inner.bootstrap {
            match Connection::connect(addr, &self.inner.options).await {
                Ok(conn) => {
                    *guard = Some(conn.clone());
                    return Ok(conn);
                }
                // Wrong credentials will not get better on the next server: say so.
                Err(e) if e.is_auth_failure() => return Err(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(ClientError::Bootstrap(errors.join("; ")))
    }

    /// The controller named by Metadata, or any broker when there is none (librdkafka's
    /// mock reports -1; KRaft clusters forward admin requests from any broker).
    pub async fn controller(&self) -> Result<Connection, ClientError> {
        match self.metadata().controller_id {
            Some(id) => match self.broker(id).await {
                Ok(conn) => Ok(conn),
                Err(ClientError::UnknownBroker(_)) => self.any_broker().await,
                Err(e) => Err(e),
            },
            None => self.any_broker().await,
        }
    }

    /// `(leader_id, leader_epoch)` of a partition, refreshing the topic's metadata once if
    /// the cache has no leader for it.
    pub async fn find_leader_and_epoch(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(i32, i32), ClientError> {
        if let Some(leader) = self.metadata().leader(topic, partition) {
            return Ok(leader);
        }
        let metadata = self.refresh_metadata(&[topic]).await?;
        let context = || format!("leader of {topic}-{partition}");
        let Some(t) = metadata.topic(topic) else {
            return Err(ClientError::kafka(
                ErrorCode::UnknownTopicOrPartition,
                None,
                context(),
            ));
        };
        if let Some(code) = t.error {
            return Err(ClientError::kafka(code, None, context()));
        }
        let Some(p) = t.partitions.get(&partition) else {
            return Err(ClientError::kafka(
                ErrorCode::UnknownTopicOrPartition,
                None,
                context(),
            ));
        };
        match p.leader_id {
            Some(id) => Ok((id, p.leader_epoch)),
            None => Err(ClientError::kafka(
                p.error.unwrap_or(ErrorCode::LeaderNotAvailable),
                None,
                context(),
            )),
        }
    }

    /// The leader's broker id for a partition.
    pub async fn find_leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        Ok(self.find_leader_and_epoch(topic, partition).await?.0)
    }

    /// The pooled connection to a partition's leader.
    pub async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Connection, ClientError> {
        let id = self.find_leader(topic, partition).await?;
        self.broker_refreshing(id).await
    }

    /// Groups items by the leader of their `(topic, partition)`.
    pub async fn group_by_leader<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> (&str, i32),
    ) -> Result<BTreeMap<i32, Vec<T>>, ClientError> {
        let mut out: BTreeMap<i32, Vec<T>> = BTreeMap::new();
        for item in items {
            let (topic, partition) = key(&item);
            let leader = self.find_leader(topic, partition).await?;
            out.entry(leader).or_default().push(item);
        }
        Ok(out)
    }

    /// Sends a pre-encoded request to any broker (Strait's private admin API keys).
    pub async fn send_raw(
        &self,
        api_key: i16,
        version: i16,
        body: &[u8],
    ) -> Result<Bytes, ClientError> {
        self.any_broker()
            .await?
            .send_raw(api_key, version, body)
            .await
    }

    /// Drops every pooled connection (in-flight requests fail).
    pub async fn close(&self) {
        let slots: Vec<Slot> = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Some((_, conn)) = slot.lock().await.take() {
                conn.close();
            }
        }
        if let Some(conn) = self.inner.bootstrap_conn.lock().await.take() {
            conn.close();
        }
    }
}
