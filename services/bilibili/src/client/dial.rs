//! Opening the WebSocket, behind a small trait so the connection logic can also run over an
//! in-memory pipe in unit tests (where tokio's paused clock is deterministic).

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Turns a handshake request into an open WebSocket.
pub(crate) trait Dialer: Send + Sync + 'static {
    /// The byte stream under the WebSocket.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Connects and performs the handshake.
    fn dial(
        &self,
        request: Request,
        config: WebSocketConfig,
    ) -> impl Future<Output = Result<WebSocketStream<Self::Stream>, tungstenite::Error>> + Send;
}

/// The real thing: TCP (plus TLS for `wss://`) to the host in the request URL.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TcpDialer;

impl Dialer for TcpDialer {
    type Stream = MaybeTlsStream<TcpStream>;

    async fn dial(
        &self,
        request: Request,
        config: WebSocketConfig,
    ) -> Result<WebSocketStream<Self::Stream>, tungstenite::Error> {
        // Nagle off: heartbeats and auth are tiny and latency matters more than packets.
        tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map(|(ws, _response)| ws)
    }
}
