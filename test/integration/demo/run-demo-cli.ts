// Runs `switchback demo` (node + tsx on src/cli.ts) as a user would, bounded
// in time; optionally sends SIGINT once `interruptWhen` shows up in its output.
import { spawn } from 'node:child_process';

export interface DemoCliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runDemoCli(
  args: string[],
  options: { timeoutMs: number; interruptWhen?: string },
): Promise<DemoCliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'demo', ...args], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    const watch = () => {
      const { interruptWhen } = options;
      if (interrupted || interruptWhen === undefined) return;
      if (stdout.includes(interruptWhen) || stderr.includes(interruptWhen)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      watch();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      watch();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
