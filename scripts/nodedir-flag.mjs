// Prints `--nodedir=PREFIX` for node-gyp when the running Node's own headers
// sit next to it (PREFIX/include/node, as Node's packages and tarballs ship
// them) and are of this very version; otherwise prints nothing and node-gyp
// downloads the headers from nodejs.org as usual. So `npm ci` builds the TAP
// addon offline on any machine whose Node came with its headers. A nodedir
// set in npm's config (npm_config_nodedir) is left to win.
//
//   node-gyp rebuild --directory native $(node scripts/nodedir-flag.mjs)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function localHeaders() {
  if (process.env.npm_config_nodedir) return undefined;
  const prefix = dirname(dirname(process.execPath));
  try {
    const header = readFileSync(join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(header)?.[1];
    const version = [part('MAJOR'), part('MINOR'), part('PATCH')].join('.');
    return version === process.versions.node ? prefix : undefined;
  } catch {
    return undefined;
  }
}

const prefix = localHeaders();
if (prefix) process.stdout.write(`--nodedir=${prefix}\n`);
