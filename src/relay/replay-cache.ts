/**
 * The AUTH signatures the relay has accepted recently, so a captured AUTH sent
 * again is refused as a replay (CloseCode.AUTH_REPLAYED) rather than as a bad
 * signature. Bounded: past `capacity` the oldest entry is forgotten; an AUTH
 * that old fails verification anyway, since its nonce was for another
 * connection.
 */
export class ReplayCache {
  private readonly seen = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(signature: Uint8Array): boolean {
    return this.seen.has(idOf(signature));
  }

  add(signature: Uint8Array): void {
    if (this.seen.size >= this.capacity) {
      const oldest = this.seen.values().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    this.seen.add(idOf(signature));
  }

  get size(): number {
    return this.seen.size;
  }
}

function idOf(signature: Uint8Array): string {
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString(
    'base64',
  );
}
