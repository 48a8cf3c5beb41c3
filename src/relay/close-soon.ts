import WebSocket from 'ws';

/** How long a refused client has to answer our close frame before its socket
 * is destroyed. ws alone waits 30 s, which would let clients that never answer
 * hold connection slots (and count toward maxConnections) long after refusal. */
export const CLOSE_ANSWER_MS = 1_000;

/** Sends a close frame with `code` and `reason`, then destroys the socket if the
 * client has not completed the close handshake within CLOSE_ANSWER_MS. */
export function closeSoon(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.CLOSED) return;
  ws.close(code, reason);
  const timer = setTimeout(() => ws.terminate(), CLOSE_ANSWER_MS);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}
