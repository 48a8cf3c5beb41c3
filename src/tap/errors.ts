import { SwitchbackError } from '../errors.js';

/**
 * Errors of the device layer. Callers branch on `code`; the message tells a
 * person what to do about it. The errno-level failure is kept as `cause`.
 */
export type TapErrorCode =
  | 'TAP_PERMISSION'
  | 'TAP_UNAVAILABLE'
  | 'TAP_NAME_INVALID'
  | 'TAP_NAME_IN_USE'
  | 'TAP_BAD_OPTION'
  | 'TAP_CONFIG_FAILED'
  | 'TAP_NATIVE_MISSING'
  | 'TAP_IO'
  | 'TAP_CLOSED'
  | 'TAP_OFFLOAD_REFUSED';

export class TapError extends SwitchbackError<TapErrorCode> {}

/** EPERM/EACCES on /dev/net/tun or TUNSETIFF: the process lacks CAP_NET_ADMIN. */
export class TapPermissionError extends TapError {
  constructor(options?: { cause?: unknown }) {
    super(
      'TAP_PERMISSION',
      'cannot create a TAP device: permission denied; run as root or grant CAP_NET_ADMIN (e.g. setcap cap_net_admin+ep $(which node))',
      options,
    );
  }
}

/** /dev/net/tun is missing or the tun driver is not loaded. */
export class TapUnavailableError extends TapError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(
      'TAP_UNAVAILABLE',
      `cannot open /dev/net/tun (${detail}); load the driver with "modprobe tun", or in a container pass --device /dev/net/tun`,
      options,
    );
  }
}

/** The kernel refused IFF_VNET_HDR, TUNSETVNETHDRSZ or TUNSETOFFLOAD: the
 * device can be opened, only without offload (the node falls back to plain). */
export class TapOffloadRefusedError extends TapError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('TAP_OFFLOAD_REFUSED', `the kernel refused TAP offload (${detail})`, options);
  }
}

export class TapNameInvalidError extends TapError {
  readonly deviceName: string;
  constructor(deviceName: string, why: string, options?: { cause?: unknown }) {
    super(
      'TAP_NAME_INVALID',
      `invalid TAP device name ${JSON.stringify(deviceName)}: ${why}`,
      options,
    );
    this.deviceName = deviceName;
  }
}

export class TapNameInUseError extends TapError {
  readonly deviceName: string;
  constructor(deviceName: string, options?: { cause?: unknown }) {
    super(
      'TAP_NAME_IN_USE',
      `TAP device name ${JSON.stringify(deviceName)} is in use by another process or another kind of interface; pick another name or let the kernel choose one`,
      options,
    );
    this.deviceName = deviceName;
  }
}

/** An option (MTU, address, MAC, batch size) that cannot be right. */
export class TapOptionError extends TapError {
  constructor(message: string) {
    super('TAP_BAD_OPTION', message);
  }
}

/** Setting MTU/address/link state failed (the `ip` command said why). */
export class TapConfigError extends TapError {
  readonly command: readonly string[];
  constructor(command: readonly string[], detail: string, options?: { cause?: unknown }) {
    super(
      'TAP_CONFIG_FAILED',
      `configuring the TAP device failed: ip ${command.join(' ')}: ${detail}`,
      options,
    );
    this.command = command;
  }
}

/** The native addon was not built (npm ci builds it; `npm run build:native` rebuilds it). */
export class TapNativeMissingError extends TapError {
  constructor(options?: { cause?: unknown }) {
    super(
      'TAP_NATIVE_MISSING',
      'the TAP native addon is not built; run "npm run build:native" (needs python3, make and a C compiler)',
      options,
    );
  }
}

/** A read or write on an open device failed for a reason other than a full queue. */
export class TapIoError extends TapError {
  constructor(deviceName: string, detail: string, options?: { cause?: unknown }) {
    super('TAP_IO', `${deviceName}: device i/o failed: ${detail}`, options);
  }
}

export class TapClosedError extends TapError {
  constructor(deviceName: string) {
    super('TAP_CLOSED', `${deviceName}: device is closed`);
  }
}
