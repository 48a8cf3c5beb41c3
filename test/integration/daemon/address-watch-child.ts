// Run by address-watch.test.ts inside a namespace of its own: watches this
// namespace's addresses with the kernel's notifications and a 60 s backstop,
// and prints one line per change, so only netlink can report one in time.
import { netlinkAddressEvents, watchLocalAddresses } from '../../../src/daemon/address-watch.js';

const events = netlinkAddressEvents();
process.stdout.write(`mode ${events ? 'netlink' : 'poll'}\n`);
let changes = 0;
const stop = watchLocalAddresses(() => process.stdout.write(`changed ${++changes}\n`), {
  events,
  intervalMs: 60_000,
});
process.stdout.write('watching\n');
process.on('SIGTERM', () => {
  stop();
  process.exit(0);
});
// Keep running until the test stops us.
setInterval(() => {}, 1 << 30);
