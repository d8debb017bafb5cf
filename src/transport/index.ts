export type { ProtocolAdapter, ProtocolModule } from './adapter.js';
export type { TransportConnection, TransportHandler } from './connection.js';
export { SocketConnection, addressWithPort } from './connection.js';
export { TcpListener, type TcpListenerOptions } from './tcp-listener.js';
export { WebSocketListener, originAllowed, type WebSocketListenerOptions } from './websocket-listener.js';
export { TlsCertificates, handshakeFailed, verifiedPeerCertificate, type TlsFiles } from './tls.js';
export { detectingAdapter } from './detect.js';
export { OpeningDeadlines, deadlineTimer } from './deadline.js';
export { DescriptorBudget, descriptorLimits, descriptorLimit, openDescriptors } from './descriptors.js';
