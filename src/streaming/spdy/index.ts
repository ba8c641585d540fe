// The SPDY/3.1 layer of the streaming server: sessions and streams over an
// upgraded HTTP/1.1 connection, as kubelet and crictl (client-go over
// moby/spdystream) speak it.

export { SpdySession, type SpdySessionOptions } from './session';
export { type SpdyStream } from './stream';
export { acceptSpdyUpgrade, negotiateProtocol, HEADER_PROTOCOL_VERSION, HEADER_ACCEPTED_PROTOCOL_VERSIONS } from './upgrade';
export { dialSpdy } from './dial';
export { SpdyProtocolError, SpdyStreamError } from './errors';
export { RstStatus } from './frame';
