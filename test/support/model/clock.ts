/**
 * A controllable clock for model tests. Like xstate's SimulatedClock, time
 * only moves when the driver says so, but it also knows which timer belongs
 * to which delayed event (`xstate.after.<delay>.<stateId>`), so a path step
 * "connectTimeout fires" fires exactly that timer.
 *
 * Correlation: xstate's scheduler records the scheduled event in
 * `system.getSnapshot()._scheduledEvents` and then calls `clock.setTimeout`
 * synchronously, so the one scheduled event this clock has not seen yet is
 * the one being armed.
 */
import type { AnyActorRef, EventObject } from 'xstate';

interface Timer {
  id: number;
  due: number;
  fn: () => void;
  /** The delayed event this timer delivers, when known. */
  event?: EventObject;
}

interface ScheduledEvent {
  event: EventObject;
}

export class ModelClock {
  private nowMs = 0;
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();
  private readonly seen = new WeakSet<object>();
  private system: AnyActorRef['system'] | undefined;
  /** Timers fired while an earlier one was still pending (see fire()). */
  outOfOrder = 0;

  /** Call right after createActor(), before start(). */
  attach(system: AnyActorRef['system']): void {
    this.system = system;
  }

  now(): number {
    return this.nowMs;
  }

  setTimeout(fn: () => void, timeout: number): number {
    const id = this.nextId++;
    const timer: Timer = { id, due: this.nowMs + Math.max(0, timeout), fn };
    const scheduled = this.scheduledEvents();
    for (const entry of scheduled) {
      if (!this.seen.has(entry)) {
        this.seen.add(entry);
        timer.event = entry.event;
      }
    }
    this.timers.set(id, timer);
    return id;
  }

  clearTimeout(id: number): void {
    this.timers.delete(id);
  }

  /** Event types of the armed timers, earliest first. */
  pending(): string[] {
    return this.sorted().map((t) => t.event?.type ?? `timer#${t.id}`);
  }

  /**
   * Fires the timer that delivers `eventType`. Time moves to its due time.
   * The graph abstracts time away, so a path may fire a timer while an
   * earlier one is armed (e.g. stableAfter while suspectInterval is pending):
   * that is a run in which the earlier deadline was longer. It is allowed and
   * counted in `outOfOrder`, and the earlier timer stays armed.
   * Returns the ms that elapsed.
   */
  fire(eventType: string): number {
    const timers = this.sorted();
    const timer = timers.find((t) => t.event?.type === eventType);
    if (!timer) {
      throw new Error(
        `no timer armed for ${eventType}; armed: ${this.pending().join(', ') || 'none'}`,
      );
    }
    if (timers[0] !== timer && timers[0]!.due < timer.due) this.outOfOrder++;
    const elapsed = Math.max(0, timer.due - this.nowMs);
    this.nowMs = Math.max(this.nowMs, timer.due);
    this.timers.delete(timer.id);
    timer.fn();
    return elapsed;
  }

  private sorted(): Timer[] {
    return [...this.timers.values()].sort((a, b) => a.due - b.due || a.id - b.id);
  }

  private scheduledEvents(): ScheduledEvent[] {
    if (!this.system) return [];
    const snapshot = this.system.getSnapshot() as {
      _scheduledEvents: Record<string, ScheduledEvent>;
    };
    return Object.values(snapshot._scheduledEvents);
  }
}
