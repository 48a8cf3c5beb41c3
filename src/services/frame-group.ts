/**
 * The plain frames PeerSender gathers for one BATCH message (docs/protocol.md
 * §9.2): at most MAX_BATCH_BYTES of body, each frame behind its 2-byte length.
 *
 * A frame is kept either as the caller's view (a TAP read's frames stay valid
 * for the whole sendBatch call) or, with `copy`, in a staging buffer the group
 * owns — for views their producer reuses at once, as software GSO does with
 * its segments. The body bound also bounds the staged bytes, so one staging
 * buffer of MAX_BATCH_BYTES always holds them; it is reused after every
 * clear(), which is why the frames are valid only until then (sealing copies).
 *
 * Each frame carries its owner, the index of the input frame it came from (a
 * super-frame split in software yields many frames of one owner), so the
 * sender can tell which inputs a failed BATCH took down with it.
 */
import { BATCH_LENGTH_BYTES, ETHERNET_HEADER_BYTES, MAX_BATCH_BYTES } from '../protocol/frames.js';

export class FrameGroup {
  readonly frames: Uint8Array[] = [];
  readonly owners: number[] = [];
  #bytes = 0;
  #stage: Uint8Array | undefined;
  #staged = 0;

  /** Whether `frame` can travel in a BATCH at all: a full Ethernet header,
   * and with its length within one BATCH body. */
  static batchable(frame: Uint8Array): boolean {
    return (
      frame.length >= ETHERNET_HEADER_BYTES && BATCH_LENGTH_BYTES + frame.length <= MAX_BATCH_BYTES
    );
  }

  get length(): number {
    return this.frames.length;
  }

  /** Whether `frame` (batchable) still fits this group's body. */
  fits(frame: Uint8Array): boolean {
    return this.#bytes + BATCH_LENGTH_BYTES + frame.length <= MAX_BATCH_BYTES;
  }

  /** Adds a batchable frame that fits; with `copy`, a copy in the staging buffer. */
  add(frame: Uint8Array, owner: number, copy: boolean): void {
    let kept = frame;
    if (copy) {
      this.#stage ??= new Uint8Array(MAX_BATCH_BYTES);
      const at = this.#staged;
      this.#stage.set(frame, at);
      this.#staged = at + frame.length;
      kept = this.#stage.subarray(at, this.#staged);
    }
    this.frames.push(kept);
    this.owners.push(owner);
    this.#bytes += BATCH_LENGTH_BYTES + frame.length;
  }

  /** Empties the group; staged copies handed out before are overwritten from now on. */
  clear(): void {
    this.frames.length = 0;
    this.owners.length = 0;
    this.#bytes = 0;
    this.#staged = 0;
  }
}
