//! A minimal OTLP/gRPC client for the benchmarks: unary `Export` calls over one HTTP/2
//! connection (h2, which the service's own HTTP/2 server already builds on), one call at a
//! time per connection, as an exporter sends them.

use anyhow::{bail, Context};
use bytes::Bytes;
use h2::client::SendRequest;
use tokio::net::TcpStream;

/// One HTTP/2 connection to an OTLP/gRPC endpoint.
pub struct GrpcConnection {
    address: String,
    sender: SendRequest<Bytes>,
}

/// What one call answered: the gRPC status code and, when it is 0, the response message.
pub struct GrpcAnswer {
    pub code: u32,
    pub message: Bytes,
}

impl GrpcConnection {
    pub async fn connect(address: &str) -> anyhow::Result<Self> {
        let tcp = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        tcp.set_nodelay(true)?;
        let (sender, connection) = h2::client::handshake(tcp).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            address: address.to_string(),
            sender,
        })
    }

    /// A unary call of `method` (`/package.Service/Method`) with an encoded message.
    pub async fn call(
        &mut self,
        method: &str,
        api_key: &str,
        message: &[u8],
    ) -> anyhow::Result<GrpcAnswer> {
        let request = http::Request::post(format!("http://{}{method}", self.address))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("x-api-key", api_key)
            .body(())?;
        let mut sender = self.sender.clone().ready().await?;
        let (response, mut stream) = sender.send_request(request, false)?;
        let mut frame = Vec::with_capacity(5 + message.len());
        frame.push(0);
        frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
        frame.extend_from_slice(message);
        stream.send_data(Bytes::from(frame), true)?;
        let (head, mut body) = response.await?.into_parts();
        let mut received = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            received.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await?;
        let status = trailers
            .as_ref()
            .and_then(|trailers| trailers.get("grpc-status"))
            .or_else(|| head.headers.get("grpc-status"))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        let Some(code) = status else {
            bail!("no grpc-status in the answer (HTTP {})", head.status);
        };
        let message = if received.len() >= 5 {
            Bytes::copy_from_slice(&received[5..])
        } else {
            Bytes::new()
        };
        Ok(GrpcAnswer { code, message })
    }
}
