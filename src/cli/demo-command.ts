import { DEMO_DURATION } from '../daemon/demo/demo-plan.js';
import { formatSummary } from '../daemon/demo/demo-summary.js';
import { createLiveView } from '../daemon/demo/live-view.js';
import { runDemo } from '../daemon/demo/run-demo.js';
import { type Command, UsageError } from './command.js';
import { positiveInt } from './values.js';

// `switchback demo`: the whole story on one machine, no root, no config —
// relay, upgrade, cut, fallback, restore, upgrade back — then a summary.
// The runner is src/daemon/demo/run-demo.ts; docs/demo.md explains the output.

/** Exit code after Ctrl-C, as shells report a process stopped by SIGINT. */
const EXIT_INTERRUPTED = 130;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'See it work: a relay and two nodes on loopback, the direct path cut and restored.',
  description: [
    'Starts a relay and two nodes (a, b) in this process on 127.0.0.1 with in-memory',
    'devices, pushes numbered frames both ways, waits for the direct path, cuts it',
    '(blackhole), shows the fallback to the relay, restores it, shows the upgrade',
    'back, and ends with a summary: failover time, recovery time, frames lost,',
    'duplicated and reordered, and the transitions taken. Prints the inspector URL',
    'of node a at the start. No root, no config, no network beyond loopback.',
    'See docs/demo.md.',
    '',
    'Exit codes: 0 verdict PASS (the run went as designed), 1 verdict FAIL or a',
    'runtime failure, 2 usage error, 130 interrupted (Ctrl-C).',
  ].join('\n'),
  options: [
    {
      name: 'duration',
      value: 'SECONDS',
      description: `How long the run lasts, ${DEMO_DURATION.minS} to ${DEMO_DURATION.maxS}; the acts scale with it.`,
      defaultText: String(DEMO_DURATION.defaultS),
    },
    {
      name: 'json',
      description:
        'Print only the summary, as one JSON object, on stdout (progress goes to stderr).',
    },
  ],
  async run(values, io) {
    const durationText = values.duration as string | undefined;
    const durationS =
      durationText === undefined ? DEMO_DURATION.defaultS : positiveInt('duration', durationText);
    if (durationS < DEMO_DURATION.minS || durationS > DEMO_DURATION.maxS) {
      throw new UsageError(
        `--duration ${durationS} is out of range; write a number of seconds from ${DEMO_DURATION.minS} to ${DEMO_DURATION.maxS}`,
      );
    }
    const json = values.json === true;
    const out = json ? io.stderr : io.stdout;
    const tty = (out as { isTTY?: boolean }).isTTY === true;
    const color = tty && !process.env.NO_COLOR;
    const view = createLiveView({ out, tty, color, progressLines: !json });
    if (!json) {
      io.stdout.write(
        `switchback demo: a relay and nodes a, b on 127.0.0.1 for about ${durationS} s (Ctrl-C stops it)\n`,
      );
    }

    let summary: Awaited<ReturnType<typeof runDemo>>;
    try {
      summary = await runDemo({ durationS, signal: io.signal, view });
    } catch (error) {
      if (io.signal.aborted) {
        io.stderr.write('switchback demo: interrupted; everything it started is stopped\n');
        return EXIT_INTERRUPTED;
      }
      throw error;
    }

    if (json) {
      io.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      const text = formatSummary(summary);
      io.stdout.write(`\n${color ? colorVerdict(text, summary.verdict) : text}`);
    }
    return summary.verdict === 'PASS' ? 0 : 1;
  },
};

function colorVerdict(text: string, verdict: 'PASS' | 'FAIL'): string {
  const code = verdict === 'PASS' ? '32' : '31';
  const lines = text.trimEnd().split('\n');
  const last = lines.pop() ?? '';
  return `${[...lines, `\x1b[1;${code}m${last}\x1b[0m`].join('\n')}\n`;
}
