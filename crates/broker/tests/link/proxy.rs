//! A TCP proxy in front of a source broker, for link tests: it sees what the link sends
//! (which connections carry Fetch requests, with which client id and fetch session ids),
//! and it can take the source away and bring it back (on a new address) while the link
//! keeps the proxy's address as its bootstrap and as the broker's advertised listener.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What one proxied connection carried.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub client_id: Option<String>,
    pub fetches: u64,
    /// Non-zero fetch session ids seen in its Fetch requests.
    pub sessions: BTreeSet<i32>,
}

struct State {
    target: Mutex<Option<String>>,
    conns: Mutex<Vec<ConnInfo>>,
    /// Bumped by [`Proxy::down`]: every open connection is cut.
    generation: watch::Sender<u64>,
}

pub struct Proxy {
    pub addr: String,
    state: Arc<State>,
}

impl Proxy {
    /// Listens on a free port; forwards nowhere until [`Proxy::up`].
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(State {
            target: Mutex::new(None),
            conns: Mutex::new(Vec::new()),
            generation: watch::channel(0).0,
        });
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let target = s.target.lock().unwrap().clone();
                let Some(target) = target else { continue };
                let s = s.clone();
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&target).await {
                        pipe(s, inbound, outbound).await;
                    }
                });
            }
        });
        Proxy { addr, state }
    }

    pub fn up(&self, target: &str) {
        *self.state.target.lock().unwrap() = Some(target.to_string());
    }

    /// The source is gone: new connections are refused and open ones cut.
    pub fn down(&self) {
        *self.state.target.lock().unwrap() = None;
        self.state.generation.send_modify(|g| *g += 1);
    }

    pub fn connections(&self) -> Vec<ConnInfo> {
        self.state.conns.lock().unwrap().clone()
    }
}

async fn pipe(state: Arc<State>, inbound: TcpStream, outbound: TcpStream) {
    let index = {
        let mut conns = state.conns.lock().unwrap();
        conns.push(ConnInfo::default());
        conns.len() - 1
    };
    let mut cut = state.generation.subscribe();
    let (mut ci, mut co) = inbound.into_split();
    let (mut si, mut so) = outbound.into_split();
    let upstream = async {
        loop {
            let mut len = [0u8; 4];
            if ci.read_exact(&mut len).await.is_err() {
                return;
            }
            let size = i32::from_be_bytes(len).max(0) as usize;
            let mut frame = vec![0u8; size];
            if ci.read_exact(&mut frame).await.is_err() {
                return;
            }
            record(&state, index, &frame);
            if so.write_all(&len).await.is_err() || so.write_all(&frame).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut si, &mut co).await;
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = cut.changed() => {}
    }
}

/// Notes the client id and, for Fetch v7+, the session id of one request frame.
fn record(state: &State, index: usize, frame: &[u8]) {
    let i16_at = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(api_key), Some(version)) = (i16_at(0), i16_at(2)) else {
        return;
    };
    let mut at = 8; // api key, version, correlation id
    let Some(id_len) = i16_at(at) else { return };
    at += 2;
    let client_id = if id_len >= 0 {
        let end = at + id_len as usize;
        let id = frame
            .get(at..end)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        at = end;
        id
    } else {
        None
    };
    let mut conns = state.conns.lock().unwrap();
    let info = &mut conns[index];
    if info.client_id.is_none() {
        info.client_id = client_id;
    }
    if api_key != 1 || version < 7 {
        return;
    }
    info.fetches += 1;
    if version >= 12 {
        // Flexible request header: tagged fields (a count of 0 in practice).
        let Some(&tags) = frame.get(at) else { return };
        if tags != 0 {
            return;
        }
        at += 1;
    }
    // replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level, then session_id.
    at += 4 + 4 + 4 + 4 + 1;
    if let Some(b) = frame.get(at..at + 4) {
        let session = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if session != 0 {
            info.sessions.insert(session);
        }
    }
}
