import { SwitchbackError } from '../../errors.js';

/** Stable codes of every error src/relay/cluster/ throws on purpose. */
export const ClusterErrorCode = {
  BAD_OPTION: 'BAD_OPTION', //       a relay name, server URL or timing that makes no sense
  AUTH_REFUSED: 'AUTH_REFUSED', //   nats-server refused our credentials
  BAD_MESSAGE: 'BAD_MESSAGE', //     a cluster message we cannot decode (counted, never thrown out)
} as const;
export type ClusterErrorCode = (typeof ClusterErrorCode)[keyof typeof ClusterErrorCode];

export class ClusterError<
  Code extends ClusterErrorCode = ClusterErrorCode,
> extends SwitchbackError<Code> {}
