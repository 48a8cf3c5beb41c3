import { SwitchbackError } from '../../errors.js';

export type DemoErrorCode =
  /** The nodes never reached the direct path, so there is nothing to cut. */
  'DEMO_NO_DIRECT_PATH';

export class DemoError extends SwitchbackError<DemoErrorCode> {}
