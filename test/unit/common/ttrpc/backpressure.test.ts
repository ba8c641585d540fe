// Regression: a peer that stops reading made the host queue every frame
// unsent, without bound, until the connection closed.

import { Duplex } from 'node:stream';
import t from 'tap';
import { FrameChannel, MAX_UNSENT_BYTES } from '../../../../common/ttrpc/channel';
import { PeerNotReadingError } from '../../../../common/ttrpc/errors';
import { MAX_FRAME_LENGTH, MessageType } from '../../../../common/ttrpc/frame';

/** A transport whose other end never reads: writes are accepted but never complete. */
function deafPeer(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _enc, _cb) {
      /* never calls back: nothing drains */
    },
  });
}

t.test('a channel whose peer stops reading fails once the unsent bytes pass the cap', async (t) => {
  const sock = deafPeer();
  const cap = 1 << 20;
  const ch = new FrameChannel(sock, () => undefined, MAX_FRAME_LENGTH, cap);
  const payload = new Uint8Array(300 << 10);
  let sent = 0;
  while (ch.send(1, MessageType.DATA, 0, payload)) sent++;
  t.ok(sent >= 3 && sent <= 4, `accepted ${sent} frames before the cap`);
  t.ok(sock.writableLength <= cap, 'never queued more than the cap');
  t.type(ch.closed, PeerNotReadingError, 'the connection is given up with a typed error');
  t.match(ch.closed?.message, /not reading/);
  t.notOk(ch.send(1, MessageType.DATA, 0, payload), 'nothing is queued after that');
});

t.test('the default cap leaves room for several maximum-size frames', async (t) => {
  t.ok(MAX_UNSENT_BYTES >= 2 * MAX_FRAME_LENGTH);
});
