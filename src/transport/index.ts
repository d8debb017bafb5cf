export type { ProtocolAdapter, ProtocolModule } from './adapter.js';
export type { TransportConnection, TransportHandler } from './connection.js';
export { SocketConnection } from './connection.js';
export { TcpListener, type TcpListenerOptions } from './tcp-listener.js';
export { WebSocketListener, type WebSocketListenerOptions } from './websocket-listener.js';
