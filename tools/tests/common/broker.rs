//! A real in-process Strait broker for the binaries to talk to.

/// A broker on an ephemeral port, served from its own thread and runtime so the tests
/// can block on child processes. Dropping it stops the broker.
pub struct Broker {
    pub addr: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let config = strait_broker::BrokerConfig::load(
            None,
            &[
                "listeners=PLAINTEXT://127.0.0.1:0".into(),
                format!("log.dirs={}", dir.path().display()),
            ],
        )
        .unwrap();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let running = strait_broker::RunningBroker::start(config).await.unwrap();
                port_tx.send(running.listeners[0].port).unwrap();
                let _ = stopped.await;
                running.shutdown();
            });
        });
        let port = port_rx.recv().unwrap();
        Broker {
            addr: format!("127.0.0.1:{port}"),
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
