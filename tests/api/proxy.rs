//! A TCP proxy a test can cut: used to make a dependency unavailable to the service under
//! test without stopping the shared server other tests use.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    pub port: u16,
    upstream: Arc<std::sync::Mutex<String>>,
    accepted: Arc<std::sync::atomic::AtomicU64>,
    enabled: Arc<AtomicBool>,
    blackholed: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    silenced: watch::Sender<u64>,
}

impl TcpProxy {
    /// Forwards 127.0.0.1:<port> to `upstream` (host:port).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("address").port();
        let enabled = Arc::new(AtomicBool::new(true));
        let blackholed = Arc::new(AtomicBool::new(false));
        let (cut, _) = watch::channel(0u64);
        let (silenced, _) = watch::channel(0u64);
        let upstream = Arc::new(std::sync::Mutex::new(upstream.to_string()));
        let target = Arc::clone(&upstream);
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&accepted);
        let accepting = Arc::clone(&enabled);
        let holding = Arc::clone(&blackholed);
        let cuts = cut.clone();
        let silences = silenced.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                if holding.load(Ordering::SeqCst) {
                    // Accepted, and never a byte either way.
                    let mut cut_signal = cuts.subscribe();
                    tokio::spawn(async move {
                        let _ = cut_signal.changed().await;
                        drop(inbound);
                    });
                    continue;
                }
                let upstream = target.lock().expect("upstream").clone();
                let mut cut_signal = cuts.subscribe();
                let mut silence_signal = silences.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_signal.changed() => {}
                        _ = silence_signal.changed() => {
                            // Open, and never another byte: a peer that vanished.
                            let _ = cut_signal.changed().await;
                        }
                    }
                });
            }
        });
        Self {
            port,
            upstream,
            accepted,
            enabled,
            blackholed,
            cut,
            silenced,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        self.cut.send_modify(|generation| *generation += 1);
    }

    /// Open connections stay open but carry nothing more (a host gone without resetting
    /// them); new connections are forwarded as before.
    pub fn silence(&self) {
        self.silenced.send_modify(|generation| *generation += 1);
    }

    /// Every connection, open or new, is held open and carries nothing: a host that stopped
    /// answering but whose address still accepts connections (a hung server).
    pub fn blackhole(&self) {
        self.blackholed.store(true, Ordering::SeqCst);
        self.silence();
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// New connections go to `upstream` (host:port) from now on.
    pub fn redirect(&self, upstream: &str) {
        *self.upstream.lock().expect("upstream") = upstream.to_string();
    }

    /// New connections are forwarded again.
    pub fn enable(&self) {
        self.blackholed.store(false, Ordering::SeqCst);
        self.enabled.store(true, Ordering::SeqCst);
    }
}
