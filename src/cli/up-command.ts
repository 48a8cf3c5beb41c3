import { randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { watchLocalAddresses } from '../daemon/address-watch.js';
import { ConfigError, loadConfig, type NodeConfig } from '../daemon/config.js';
import { startControlServer } from '../daemon/control-server.js';
import { attachInspector } from '../daemon/inspector/attach-inspector.js';
import { createLogger } from '../daemon/logger.js';
import { createNodeMetrics } from '../daemon/metrics.js';
import { Node } from '../daemon/node.js';
import { type Command, UsageError } from './command.js';

// `switchback up --config FILE`: run a node in the foreground until
// SIGINT/SIGTERM. docs/walkthrough.md runs two of them; docs/cli.md lists
// every option.

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** SIGINT/SIGTERM: everything is closed within this, or we exit anyway. */
const SHUTDOWN_BUDGET_MS = 2_000;

export const upCommand: Command = {
  name: 'up',
  summary: 'Run a node in the foreground: TAP device, relay link, direct paths.',
  description: [
    'Runs the node described by a TOML config file (see docs/walkthrough.md) until',
    'SIGINT or SIGTERM. Prints the control API address and the inspector URL (with',
    'its access token) on start. SIGHUP, or saving the config file, reloads the peer',
    'list without disturbing peers that did not change. Needs root (or CAP_NET_ADMIN)',
    'for the TAP device unless the config says device = "memory".',
    '',
    'Exit codes: 0 stopped by SIGINT/SIGTERM, 1 runtime failure (e.g. the TAP device',
    'or a listen address), 2 usage error (a bad flag, an unreadable or invalid config).',
  ].join('\n'),
  options: [
    { name: 'config', value: 'FILE', description: 'The node config (TOML). Required.' },
    {
      name: 'log-level',
      value: 'LEVEL',
      description: `One of ${LOG_LEVELS.join(', ')}.`,
      defaultText: 'info',
    },
    {
      name: 'redact-addresses',
      description: 'Hide IP addresses (and host:port) in every log line.',
    },
    {
      name: 'no-offload',
      description:
        'Open the TAP device without TSO/checksum offload (as config tap.offload = false): it reads and writes plain frames; super-frames from peers are segmented by this node.',
    },
    {
      name: 'no-superframes',
      description:
        'Do not advertise OFFLOAD_SUPERFRAMES (as config tap.superframes = false): peers split their super-frames into plain frames before sealing them.',
    },
    {
      name: 'inspect',
      value: 'stately',
      description:
        "Also forward the charts' inspection events to Stately's inspector (@statelyai/inspect).",
    },
  ],
  async run(values, io) {
    const file = values.config as string | undefined;
    if (!file)
      throw new UsageError('--config is required; write e.g. --config /etc/switchback/node.toml');
    const level = (values['log-level'] as string | undefined) ?? 'info';
    if (!LOG_LEVELS.includes(level)) {
      throw new UsageError(`--log-level ${level} is not one of ${LOG_LEVELS.join(', ')}`);
    }
    const inspect = values.inspect as string | undefined;
    if (inspect !== undefined && inspect !== 'stately') {
      throw new UsageError(`--inspect ${inspect}: the only inspector to forward to is "stately"`);
    }

    let config: NodeConfig;
    try {
      config = await loadConfig(file);
    } catch (error) {
      // A config the user must fix is a usage error (exit 2), as for status and ping.
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    if (values['no-offload'] === true)
      config = { ...config, tap: { ...config.tap, offload: false } };
    if (values['no-superframes'] === true)
      config = { ...config, tap: { ...config.tap, superframes: false } };
    const logger = createLogger({
      level: level as 'info',
      redactAddresses: values['redact-addresses'] === true,
    });
    let node: Node;
    try {
      node = await Node.start(config, { logger });
    } catch (error) {
      // The config names something that is not right (a missing key, our own key as a peer).
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    const closers: (() => Promise<void> | void)[] = [() => node.close()];
    const shutdown = async () => {
      const timer = setTimeout(() => {
        logger.error('shutdown took longer than 2 s: exiting anyway');
        process.exit(1);
      }, SHUTDOWN_BUDGET_MS);
      timer.unref();
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => {});
      clearTimeout(timer);
      logger.info('stopped');
    };

    try {
      const metrics = createNodeMetrics(node);
      closers.push(() => metrics.close());
      const token = randomBytes(18).toString('base64url');
      const control = await startControlServer({
        host: config.control.host,
        port: config.control.port,
        observer: node,
        metrics: metrics.registry,
        token,
        logger,
        allowRemote: config.controlAllowRemote,
      });
      closers.push(() => control.close());
      const inspector = await attachInspector(control, { observer: node, token, logger });
      closers.push(() => inspector.close());
      if (inspect === 'stately') {
        const { startStatelyBridge } = await import('../daemon/stately-bridge.js');
        const bridge = await startStatelyBridge({ observer: node, logger });
        closers.push(() => bridge.close());
        logger.info({ url: bridge.url }, 'stately inspector bridge listening');
      }
      const inspectorUrl = `${control.url}${inspector.pagePath}`;
      logger.info(
        {
          publicKey: node.publicKey,
          listen: node.status().listen,
          control: control.url,
          inspector: inspectorUrl,
        },
        `node up: ${config.peers.length} peer(s), ${relayList(config.relays)}`,
      );
      // The two addresses a person wants, in the same words everywhere: plain
      // lines on a terminal; under journald or a pipe, where stdout stays one
      // JSON object per line, log lines whose message is that same text.
      for (const [text, url] of startupLines(control.url, inspectorUrl)) {
        if ((io.stdout as { isTTY?: boolean }).isTTY) io.stdout.write(`${text}\n`);
        else logger.info({ url }, text);
      }
    } catch (error) {
      await shutdown();
      throw error;
    }

    // Reload the peer list on SIGHUP or when the file is saved.
    let reloading: Promise<void> = Promise.resolve();
    const reload = (why: string) => {
      reloading = reloading.then(async () => {
        try {
          const next = await loadConfig(file);
          const { added, removed } = node.updatePeers(next.peers);
          node.updateRelays(next.relays);
          logger.info({ added, removed, relays: next.relays }, `config reloaded (${why})`);
        } catch (error) {
          logger.error(`config not reloaded, keeping the running one: ${(error as Error).message}`);
        }
      });
    };
    const onHup = () => reload('SIGHUP');
    process.on('SIGHUP', onHup);
    let debounce: NodeJS.Timeout | undefined;
    const watcher = watch(config.file, () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => reload('file changed'), 200);
    });
    watcher.on('error', () => {});

    // Our own addresses changed: move the relay link and re-probe the paths now.
    const stopWatching = watchLocalAddresses(() => {
      logger.info('local addresses changed: moving the relay link, re-probing paths');
      node.networkChanged();
    });

    if (!io.signal.aborted)
      await new Promise((resolve) => io.signal.addEventListener('abort', resolve, { once: true }));
    logger.info('stopping: signal received');
    process.off('SIGHUP', onHup);
    watcher.close();
    clearTimeout(debounce);
    stopWatching();
    await reloading;
    await shutdown();
    // Sockets still finishing their close handshakes must not hold the process.
    setTimeout(() => process.exit(0), 100).unref();
    return 0;
  },
};

/** "relay URL", or "relays URL1, URL2 (tried in this order)". */
function relayList(urls: readonly string[]): string {
  return urls.length === 1 ? `relay ${urls[0]}` : `relays ${urls.join(', ')} (tried in order)`;
}

/** "control api: URL/status" and "inspector:   URL?token=…", each with its URL. */
export function startupLines(controlUrl: string, inspectorUrl: string): Array<[string, string]> {
  const status = `${controlUrl}/status`;
  return [
    [`control api: ${status}`, status],
    [`inspector:   ${inspectorUrl}`, inspectorUrl],
  ];
}
