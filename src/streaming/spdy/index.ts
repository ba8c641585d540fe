// The SPDY/3.1 layer of the streaming server: sessions and streams over an
// upgraded HTTP/1.1 connection, as kubelet and crictl (client-go over
// moby/spdystream) speak it.
//
// What a user of this module must do:
// * Listen for 'stream' before yielding to the event loop: a SYN_STREAM that
//   finds no listener is refused (RST_STREAM REFUSED_STREAM).
// * reply() to every stream it keeps (spdystream waits for SYN_REPLY, and
//   drops DATA on an unreplied stream; a write replies first by itself),
//   and read, end() or reset() every stream: a stream nobody reads stops
//   the whole connection once its buffer is full (that is the backpressure).
// * Handle 'error' on every stream: a peer RST_STREAM or a lost connection
//   fails the stream with a SpdyStreamError, as a socket fails with
//   ECONNRESET. session.destroy() without an error closes streams quietly.
// * goAway() when done: GOAWAY, then the socket ends once every stream has
//   ended both ways; destroy() to cut it at once. 'close' comes once.

export { SpdySession, type SpdySessionOptions } from './session';
export { type SpdyStream } from './stream';
export { acceptSpdyUpgrade, negotiateProtocol, HEADER_PROTOCOL_VERSION, HEADER_ACCEPTED_PROTOCOL_VERSIONS } from './upgrade';
export { dialSpdy } from './dial';
export { SpdyProtocolError, SpdyStreamError } from './errors';
export { RstStatus } from './frame';
