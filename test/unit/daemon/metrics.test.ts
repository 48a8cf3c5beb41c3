import { describe, expect, it } from 'vitest';
import { createNodeMetrics } from '../../../src/daemon/metrics.js';
import { FakeObserver } from '../../integration/control/fake-observer.js';

describe('createNodeMetrics', () => {
  it('reads levels and totals from status() at scrape time', async () => {
    const observer = new FakeObserver();
    const { registry, close } = createNodeMetrics(observer);
    const text = await registry.metrics();
    close();

    // Path in use per peer: exactly one 1 per peer.
    expect(text).toMatch(/^switchback_peer_path\{peer="b",path="direct"\} 1$/m);
    expect(text).toMatch(/^switchback_peer_path\{peer="b",path="relay"\} 0$/m);
    expect(text).toMatch(/^switchback_peer_path\{peer="b",path="both"\} 0$/m);
    expect(text).toMatch(/^switchback_peer_path\{peer="c",path="relay"\} 1$/m);
    expect(text).toMatch(
      /^switchback_peer_state\{peer="c",state="usingRelay",reason="DIAL_REFUSED"\} 1$/m,
    );
    // RTT in seconds; absent for a path that never answered.
    expect(text).toMatch(/^switchback_path_rtt_seconds\{peer="b",path="direct"\} 0\.00042$/m);
    expect(text).toMatch(/^switchback_path_rtt_seconds\{peer="c",path="relay"\} 0\.0025$/m);
    expect(text).not.toMatch(/^switchback_path_rtt_seconds\{peer="c",path="direct"\}/m);
    expect(text).toMatch(/^switchback_path_jitter_seconds\{peer="b",path="relay"\} 0\.0003$/m);
    expect(text).toMatch(/^switchback_path_loss_ratio\{peer="c",path="relay"\} 0\.25$/m);
    expect(text).toMatch(
      /^switchback_path_frames_total\{peer="b",path="direct",direction="sent"\} 1200$/m,
    );
    expect(text).toMatch(
      /^switchback_path_bytes_total\{peer="b",path="relay",direction="received"\} 3800$/m,
    );
    expect(text).toMatch(/^switchback_peer_drops_total\{peer="b",reason="REPLAY"\} 3$/m);
    expect(text).toMatch(/^switchback_peer_upgrades_total\{peer="b"\} 1$/m);
    expect(text).toMatch(/^switchback_peer_fallbacks_total\{peer="c"\} 1$/m);
    expect(text).toMatch(/^switchback_relay_link_up 1$/m);
    expect(text).toMatch(/^switchback_uptime_seconds 3723$/m);
    expect(text).toMatch(/^# HELP switchback_peer_path \S/m);
    expect(text).toMatch(/^# TYPE switchback_path_bytes_total counter$/m);
  });

  it('follows the node between scrapes: new values, removed peers gone', async () => {
    const observer = new FakeObserver();
    const { registry, close } = createNodeMetrics(observer);
    await registry.metrics();
    observer.current.relay.state = 'reconnecting.waiting';
    observer.current.peers[0]!.path = 'both';
    observer.current.peers[0]!.paths.direct.framesSent = 1500;
    observer.current.peers.pop(); // "c" removed by a reload
    const text = await registry.metrics();
    close();
    expect(text).toMatch(/^switchback_relay_link_up 0$/m);
    expect(text).toMatch(/^switchback_peer_path\{peer="b",path="both"\} 1$/m);
    expect(text).toMatch(
      /^switchback_path_frames_total\{peer="b",path="direct",direction="sent"\} 1500$/m,
    );
    expect(text).not.toContain('peer="c"');
  });

  it('counts transitions as they happen, and fallbacks by reason', async () => {
    const observer = new FakeObserver();
    const { registry, close } = createNodeMetrics(observer);
    const fallback = {
      peer: 'b',
      machine: 'connection' as const,
      from: 'usingDirect.suspect',
      to: 'fallingBack',
      event: 'xstate.after.deadInterval',
      reason: 'HEARTBEAT_TIMEOUT',
      transport: 'relay' as const,
    };
    observer.emit(fallback);
    observer.emit({ ...fallback, from: 'usingDirect.healthy', reason: 'HEARTBEAT_TIMEOUT' });
    observer.emit({ ...fallback, from: 'attemptingDirect.dialing', reason: 'DIAL_REFUSED' });
    observer.emit({
      peer: 'relay',
      machine: 'relayLink',
      from: 'connecting',
      to: 'authenticating',
      event: 'OPEN',
      reason: 'STARTED',
    });
    // Moving inside fallingBack is not another fallback.
    observer.emit({ ...fallback, from: 'fallingBack', to: 'fallingBack.closing' });
    const text = await registry.metrics();
    expect(text).toMatch(
      /^switchback_transitions_total\{peer="b",machine="connection",to="fallingBack",reason="HEARTBEAT_TIMEOUT"\} 2$/m,
    );
    expect(text).toMatch(
      /^switchback_transitions_total\{peer="relay",machine="relayLink",to="authenticating",reason="STARTED"\} 1$/m,
    );
    expect(text).toMatch(/^switchback_fallbacks_total\{peer="b",reason="HEARTBEAT_TIMEOUT"\} 2$/m);
    // A failed upgrade attempt is not a fallback (issue 12): it has its own counter.
    expect(text).not.toMatch(/^switchback_fallbacks_total\{peer="b",reason="DIAL_REFUSED"\}/m);

    expect(observer.listenerCount).toBe(1);
    close();
    close(); // idempotent
    expect(observer.listenerCount).toBe(0);
  });

  it('shows which relay of the list is in use, and counts moves between relays by reason', async () => {
    const observer = new FakeObserver();
    const relay = observer.current.relay;
    relay.relays.push({
      url: 'ws://127.0.0.1:7001',
      state: 'failed',
      lastError: 'RELAY_CLOSED',
      lastErrorAt: Date.now(),
    });
    const { registry, close } = createNodeMetrics(observer);
    const moved = {
      peer: 'relay',
      machine: 'relayLink' as const,
      from: 'connected.steady',
      to: 'reconnecting.switching',
      event: 'RELAY_CLOSED',
      reason: 'RELAY_CLOSED',
      relay: { from: 'ws://127.0.0.1:7001', to: 'ws://127.0.0.1:7000' },
    };
    observer.emit(moved);
    observer.emit({ ...moved, reason: 'RELAY_DEAD' });
    // A transition on the same relay is no move.
    observer.emit({
      ...moved,
      from: 'connecting',
      to: 'reconnecting.backingOff',
      relay: undefined,
    });
    const text = await registry.metrics();
    close();
    expect(text).toMatch(/^switchback_relay_link_current\{url="ws:\/\/127\.0\.0\.1:7000"\} 1$/m);
    expect(text).toMatch(/^switchback_relay_link_current\{url="ws:\/\/127\.0\.0\.1:7001"\} 0$/m);
    expect(text).toMatch(/^switchback_relay_link_switches_total\{reason="RELAY_CLOSED"\} 1$/m);
    expect(text).toMatch(/^switchback_relay_link_switches_total\{reason="RELAY_DEAD"\} 1$/m);
  });

  it('uses its own registry per node, so two nodes in one process do not collide', async () => {
    const one = createNodeMetrics(new FakeObserver());
    const two = createNodeMetrics(new FakeObserver());
    expect(one.registry).not.toBe(two.registry);
    expect(await two.registry.metrics()).toContain('switchback_peer_path');
    one.close();
    two.close();
  });
});
