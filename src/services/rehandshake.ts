/**
 * Chart actor `rehandshake` (attemptingDirect.rehandshaking): prove, on the
 * new link itself, that the far end holds our end-to-end session — in both
 * directions — before any traffic moves (docs/protocol.md §11).
 *
 *   1. The dialer sends CHALLENGE(sessionId, nonceD).
 *   2. The listener answers RESPONSE(nonceL, mac_L): the dialer now knows its
 *      frames reach the listener and the listener's reach it.
 *   3. The dialer sends CONFIRM(mac_D): the listener knows the same.
 *   4. Both derive the attempt id from the exchange (dialerAttemptId,
 *      listenerAttemptId): the step's output, which the chart keeps as
 *      context.attemptId and MIGRATE carries (docs/protocol.md §12).
 *
 * One frame that happened to arrive directly is never enough: an asymmetric
 * block fails here instead of flapping later.
 */
import { fromPromise } from 'xstate';
import { RehandshakeError } from '../crypto/errors.js';
import {
  answerChallenge,
  checkConfirm,
  checkResponse,
  dialerAttemptId,
  listenerAttemptId,
  startProof,
} from '../crypto/rehandshake.js';
import type { ProvedAttempt } from '../machines/connection.js';
import { type Frame, type FrameOf, FrameType } from '../protocol/frames.js';
import { LinkClosedError } from './errors.js';
import type { PeerPorts } from './peer-ports.js';

export function rehandshakeActor(ports: PeerPorts) {
  return fromPromise<ProvedAttempt, { peer: string; linkId: string }>(async ({ input, signal }) => {
    const link = ports.link(input.linkId);
    const session = ports.session();
    if (!link || !session)
      throw new LinkClosedError(`${ports.name}: direct link gone before its proof`);

    const expect = async <T extends Frame['type']>(type: T): Promise<FrameOf<T>> => {
      const frame = await ports.nextProofFrame(input.linkId, signal);
      if (frame.type !== type) {
        throw new RehandshakeError(
          `${ports.name}: expected re-handshake frame 0x${type.toString(16)}, got 0x${frame.type.toString(16)}`,
        );
      }
      return frame as FrameOf<T>;
    };

    let attemptId: Uint8Array;
    if (link.initiator) {
      const { frame, state } = startProof(session); // 1.
      ports.sendRaw(input.linkId, frame);
      const response = await expect(FrameType.REHANDSHAKE_RESPONSE);
      const confirm = checkResponse(state, response); // 2.
      ports.sendRaw(input.linkId, confirm); // 3.
      attemptId = dialerAttemptId(state, response); // 4.
    } else {
      const challenge = await expect(FrameType.REHANDSHAKE_CHALLENGE); // 1.
      const { frame, state } = answerChallenge(session, challenge);
      ports.sendRaw(input.linkId, frame); // 2.
      checkConfirm(state, await expect(FrameType.REHANDSHAKE_CONFIRM)); // 3.
      attemptId = listenerAttemptId(state); // 4.
    }
    return { attemptId: Buffer.from(attemptId).toString('hex') };
  });
}
