import { CronExpressionParser } from 'cron-parser';
import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { Logger } from './logger.js';
import { copyMessage, type Message, type PropertyValue } from './message.js';
import type { Persistence } from './persistence.js';
import { RecordType, decodeMessage, decodeScheduled, encodeMessage, encodeScheduled, type ScheduledRecord } from './records.js';
import type { TimerHandle, TimerQueue } from './timers.js';

/** ActiveMQ's scheduling properties, read from a message as it is sent. */
export const ScheduleProperty = {
  delay: 'AMQ_SCHEDULED_DELAY',
  period: 'AMQ_SCHEDULED_PERIOD',
  repeat: 'AMQ_SCHEDULED_REPEAT',
  cron: 'AMQ_SCHEDULED_CRON',
} as const;

interface Job {
  recordId: number;
  message: Message;
  state: ScheduledRecord;
  timer: TimerHandle | undefined;
}

function numberOf(value: PropertyValue | undefined, name: string): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'bigint' ? Number(value) : Number(value);
  if (!Number.isFinite(n) || n < 0) throw new FerryError('FERRY_DESTINATION_INVALID', `${name} must be a non-negative number, got "${String(value)}"`);
  return Math.trunc(n);
}

/**
 * Holds messages sent with AMQ_SCHEDULED_DELAY / PERIOD / REPEAT / CRON until they are due, then
 * hands them to `deliver`. Persistent ones are kept in the store, so they survive a restart and
 * are delivered at their time (or at once, if it passed while the broker was down). All jobs share
 * the broker's one timer queue.
 */
export class MessageScheduler {
  private readonly jobs = new Map<number, Job>();

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
    private readonly timers: TimerQueue,
    private readonly clock: () => number,
    /** Routes a due message; with `txId`, inside that store transaction. */
    private readonly deliver: (message: Message, txId: number | undefined) => void,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.jobs.size;
  }

  /** True when the message asks to be scheduled. */
  static wants(message: Message): boolean {
    const p = message.properties;
    return p.size > 0 && (p.has(ScheduleProperty.delay) || p.has(ScheduleProperty.cron) || p.has(ScheduleProperty.period) || p.has(ScheduleProperty.repeat));
  }

  /** Takes a message that asks to be scheduled; returns true when it wrote to the store. */
  schedule(message: Message, txId?: number): boolean {
    const p = message.properties;
    const delay = numberOf(p.get(ScheduleProperty.delay), ScheduleProperty.delay);
    const period = numberOf(p.get(ScheduleProperty.period), ScheduleProperty.period);
    const repeat = numberOf(p.get(ScheduleProperty.repeat), ScheduleProperty.repeat);
    const cronValue = p.get(ScheduleProperty.cron);
    const cron = typeof cronValue === 'string' && cronValue.trim() !== '' ? cronValue.trim() : undefined;
    const now = this.clock();
    const due = cron !== undefined ? this.nextCron(cron, now) : now + delay;
    const state: ScheduledRecord = { due, remaining: cron !== undefined ? -1 : repeat, period, cron, fired: 0, message: Buffer.alloc(0) };
    const job: Job = { recordId: 0, message, state, timer: undefined };
    let wrote = false;
    if (message.persistent) {
      job.recordId = this.persistence.allocateId();
      this.store.add(job.recordId, RecordType.Scheduled, this.encode(job), txId);
      wrote = true;
    } else job.recordId = -this.persistence.allocateId();
    this.jobs.set(job.recordId, job);
    this.arm(job);
    return wrote;
  }

  recover(recordId: number, data: Buffer): void {
    const state = decodeScheduled(data);
    const job: Job = { recordId, message: decodeMessage(state.message), state, timer: undefined };
    this.jobs.set(recordId, job);
    this.arm(job);
  }

  stop(): void {
    for (const job of this.jobs.values()) if (job.timer !== undefined) this.timers.cancel(job.timer);
  }

  private arm(job: Job): void {
    job.timer = this.timers.at(job.state.due, () => this.fire(job));
  }

  private fire(job: Job): void {
    job.timer = undefined;
    const { state } = job;
    state.fired++;
    // the first delivery keeps the message's id; repeats get ids of their own
    const message = state.fired === 1 ? job.message : copyMessage(job.message, { id: `${job.message.id}:${state.fired}` });
    const persistent = job.recordId > 0;
    const txId = persistent ? this.persistence.allocateId() : undefined;
    try {
      this.deliver(message, txId);
    } catch (err) {
      this.logger.warn({ event: 'scheduler.dropped', messageId: message.id, err }, 'a scheduled message could not be delivered');
    }
    const more = state.cron !== undefined || state.remaining > 0;
    if (more) {
      if (state.cron === undefined) state.remaining--;
      const now = this.clock();
      state.due = state.cron !== undefined ? this.nextCron(state.cron, now) : Math.max(now, state.due + state.period);
      if (persistent) this.store.update(job.recordId, RecordType.Scheduled, this.encode(job), txId);
      this.arm(job);
    } else {
      this.jobs.delete(job.recordId);
      if (persistent) this.store.delete(job.recordId, txId);
    }
    if (txId !== undefined) this.store.commit(txId);
  }

  private nextCron(expression: string, after: number): number {
    try {
      return CronExpressionParser.parse(expression, { currentDate: new Date(after) }).next().getTime();
    } catch (err) {
      throw new FerryError('FERRY_DESTINATION_INVALID', `${ScheduleProperty.cron} "${expression}" is not a cron expression: ${(err as Error).message}`, { cause: err });
    }
  }

  private encode(job: Job): Buffer {
    return encodeScheduled({ ...job.state, message: encodeMessage(job.message) });
  }
}
