/**
 * Base of every error Switchback throws on purpose. `code` is stable and is
 * what callers (and statechart guards) branch on; `message` is for people.
 * Lower-level errors are kept as `cause`.
 */
export class SwitchbackError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The stable code of any thrown value, or undefined when it has none. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
