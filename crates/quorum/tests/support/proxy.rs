//! A TCP proxy between two voters that the test can cut: while blocked it closes every
//! connection it carries and drops new ones at once, as a network partition would look to
//! both ends (connections reset, dials failing).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    blocked: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let (blocked, _) = watch::channel(false);
        let task = {
            let target = Arc::clone(&target);
            let blocked = blocked.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((inbound, _)) = listener.accept().await else {
                        continue;
                    };
                    if *blocked.borrow() {
                        drop(inbound);
                        continue;
                    }
                    let to = *target.lock().unwrap();
                    let mut cut = blocked.subscribe();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(to).await else {
                            return;
                        };
                        let mut inbound = inbound;
                        tokio::select! {
                            _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cut.wait_for(|b| *b) => {}
                        }
                    });
                }
            })
        };
        Proxy {
            addr,
            target,
            blocked,
            task,
        }
    }

    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }

    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.send_replace(blocked);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
