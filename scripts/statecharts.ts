/**
 * Writes statecharts/ from src/machines (`npm run statecharts`), or with
 * `--check` regenerates in memory and exits 1 naming every stale file.
 * Offline and deterministic: same source, same bytes.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { machineRegistry } from '../src/machines/index.js';
import { renderJson } from './statecharts/json.js';
import { layoutChart } from './statecharts/layout.js';
import { renderMermaid } from './statecharts/mermaid.js';
import { renderReadme } from './statecharts/readme.js';
import { renderSvg } from './statecharts/svg.js';
import { walkMachine } from './statecharts/walk.js';

const OUT_DIR = join(import.meta.dirname, '..', 'statecharts');

export async function generateStatecharts(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of machineRegistry) {
    const chart = walkMachine(entry.machine);
    files.set(`${entry.id}.json`, renderJson(chart));
    files.set(`${entry.id}.mmd`, renderMermaid(chart));
    const geometry = await layoutChart(chart);
    files.set(`${entry.id}.svg`, renderSvg(geometry, `${entry.id} statechart`));
  }
  files.set('README.md', renderReadme(machineRegistry));
  return files;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const files = await generateStatecharts();
  if (check) {
    const stale: string[] = [];
    for (const [name, content] of files) {
      const current = await readFile(join(OUT_DIR, name), 'utf8').catch(() => null);
      if (current !== content) stale.push(`statecharts/${name}`);
    }
    if (stale.length) {
      console.error(`stale statecharts (run \`npm run statecharts\`): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log(`statecharts up to date (${files.size} files)`);
    return;
  }
  await mkdir(OUT_DIR, { recursive: true });
  for (const [name, content] of files) await writeFile(join(OUT_DIR, name), content);
  console.log(`wrote ${files.size} files to statecharts/`);
}

// Run only as a script: tests import generateStatecharts() without writing.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
