import { CronExpressionParser } from 'cron-parser';
import { FerryError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { Logger } from './logger.js';
import { copyMessage, type Message, type MessageInit, type PropertyValue } from './message.js';
import type { Persistence } from './persistence.js';
import { RecordType, decodeMessage, decodeScheduled, encodeMessage, encodeScheduled, type ScheduledRecord } from './records.js';
import { SchedulerCommand } from './scheduler-commands.js';
import type { TimerHandle, TimerQueue } from './timers.js';

/** ActiveMQ's scheduling properties, read from a message as it is sent. */
export const ScheduleProperty = {
  delay: 'AMQ_SCHEDULED_DELAY',
  period: 'AMQ_SCHEDULED_PERIOD',
  repeat: 'AMQ_SCHEDULED_REPEAT',
  cron: 'AMQ_SCHEDULED_CRON',
} as const;

interface Job {
  /** See ScheduledJob.id. */
  readonly id: string;
  recordId: number;
  message: Message;
  state: ScheduledRecord;
  timer: TimerHandle | undefined;
}

/** A job waiting in the scheduler, as operators see it. */
export interface ScheduledJob {
  /**
   * The job's own id (ActiveMQ's scheduledJobId), made by the broker when the message is scheduled:
   * unique, where a message's id is whatever its client chose. A job stored by an older build keeps
   * the id it had there, its message's id.
   */
  readonly id: string;
  readonly message: Message;
  /** When it comes due next, ms since the epoch. */
  readonly due: number;
  /** Deliveries left after the next one; -1 with a cron expression. */
  readonly remaining: number;
  readonly period: number;
  readonly cron: string | undefined;
}

/** Where due messages go: the broker's routing, told apart from its dispatch. */
export interface ScheduledDelivery {
  /** Routes a due message into its queues without dispatching them; with `txId`, inside that store transaction. */
  route(message: Message, txId: number | undefined): void;
  /** Dispatches every queue that `route` filled since the last call (called after the commit). */
  dispatch(): void;
}

/**
 * The most jobs handled in one batch: one store transaction and one dispatch per queue for all of
 * them. A batch of 1 KiB messages costs some milliseconds per thousand (mostly encoding their
 * records), so this keeps one turn of the event loop short enough that sockets and other timers
 * are served between batches; the rest of a burst follows in the next turns.
 */
export const SCHEDULER_BATCH = 2000;

const scheduleProperties: ReadonlySet<string> = new Set(Object.values(ScheduleProperty));

/**
 * The latest instant a Date holds, in the year 275760. A delay past it (Long.MAX_VALUE, a JMS
 * client's "never") waits until then: never in practice, and every due time stays one that the
 * management API and the console can show as a date.
 */
const LATEST_DUE = 8.64e15;

function dueAt(ms: number): number {
  return Math.min(ms, LATEST_DUE);
}

/**
 * One delivery of a job's message, as ActiveMQ's scheduler delivers it: without the scheduling
 * properties, so that a consumer forwarding what it received (a bridge, a route) does not schedule
 * it once more, and with `scheduledJobId` naming the job it came from. A message with a time to
 * live lives it from this delivery, as it would had it been sent now: a message re-sent to "retry
 * later" with a delay longer than its time to live is delivered, not dead-lettered on arrival.
 */
function deliveryOf(job: Job, now: number): Message {
  const original = job.message;
  const properties = new Map<string, PropertyValue>();
  for (const [name, value] of original.properties) if (!scheduleProperties.has(name)) properties.set(name, value);
  properties.set(SchedulerCommand.jobId, job.id);
  const types = original.propertyTypes === undefined ? undefined : new Map([...original.propertyTypes].filter(([name]) => !scheduleProperties.has(name)));
  // the first delivery keeps the message's id; repeats get ids of their own, made from the job's
  const id = job.state.fired === 1 ? original.id : `${job.id}:${job.state.fired}`;
  const changes: Partial<MessageInit> = { id, properties, propertyTypes: types };
  const { timestamp, expiration } = original;
  // as ActiveMQ: only a message with both a timestamp and an expiration is stamped anew
  if (timestamp > 0 && expiration > 0 && now > timestamp) {
    changes.timestamp = now;
    if (expiration > timestamp) changes.expiration = now + (expiration - timestamp);
  }
  return copyMessage(original, changes);
}

function repeatOf(message: Message): number {
  return numberOf(message.properties.get(ScheduleProperty.repeat), ScheduleProperty.repeat);
}

function numberOf(value: PropertyValue | undefined, name: string): number {
  if (value === undefined || value === null) return 0;
  const n = typeof value === 'bigint' ? Number(value) : Number(value);
  if (!Number.isFinite(n) || n < 0) throw new FerryError('FERRY_DESTINATION_INVALID', `${name} must be a non-negative number, got "${String(value)}"`);
  return Math.trunc(n);
}

/**
 * Holds messages sent with AMQ_SCHEDULED_DELAY / PERIOD / REPEAT / CRON until they are due, then
 * hands them to `delivery`. Every job is kept in the store, persistent or not, so it survives a
 * restart and is delivered at its time (or at once, if it passed while the broker was down). All jobs share
 * the broker's one timer queue.
 *
 * Jobs that come due together are handled as one batch (up to SCHEDULER_BATCH): their messages
 * are routed and their scheduled records deleted or updated in one store transaction, so a crash
 * leaves each of them either still scheduled or in its queues, and each queue they land in is
 * dispatched once for the batch instead of once per message.
 */
export class MessageScheduler {
  private readonly jobs = new Map<number, Job>();
  /** Jobs whose time has come, oldest due first, from `dueHead` on, waiting for the next batch. */
  private due: Job[] = [];
  private dueHead = 0;
  private batchQueued = false;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly persistence: Persistence,
    private readonly timers: TimerQueue,
    private readonly clock: () => number,
    private readonly delivery: ScheduledDelivery,
    private readonly logger: Logger,
    /** A new id, unique among the broker's ids across restarts: a job's (see ScheduledJob.id). */
    private readonly newJobId: () => string,
  ) {}

  get size(): number {
    return this.jobs.size;
  }

  /**
   * True when the message asks to be scheduled. A repeat count alone does not: ActiveMQ schedules
   * only on a delay, period or cron, and delivers a message with nothing but AMQ_SCHEDULED_REPEAT
   * once, at once (a leftover header must not turn one send into several deliveries).
   */
  static wants(message: Message): boolean {
    const p = message.properties;
    return p.size > 0 && (p.has(ScheduleProperty.delay) || p.has(ScheduleProperty.cron) || p.has(ScheduleProperty.period));
  }

  /**
   * Takes a message that asks to be scheduled; returns true, as it always writes to the store. A
   * non-persistent message is stored too, as ActiveMQ's job scheduler stores every job whatever its
   * delivery mode: a scheduled message outlives a restart, and is delivered non-persistent when due.
   */
  schedule(message: Message, txId?: number): boolean {
    const p = message.properties;
    const delay = numberOf(p.get(ScheduleProperty.delay), ScheduleProperty.delay);
    const period = numberOf(p.get(ScheduleProperty.period), ScheduleProperty.period);
    const repeat = numberOf(p.get(ScheduleProperty.repeat), ScheduleProperty.repeat);
    const cronValue = p.get(ScheduleProperty.cron);
    const cron = typeof cronValue === 'string' && cronValue.trim() !== '' ? cronValue.trim() : undefined;
    const now = this.clock();
    // as ActiveMQ's job scheduler: the first delivery waits the delay, or a period when there is
    // none, counted from the send or, with a cron, from the expression's first time; a cron's
    // later firings are its own times. With a repeat, a cron's runs wait it instead (startRun).
    const wait = delay > 0 ? delay : period;
    const due = dueAt(cron === undefined ? now + wait : this.nextCron(cron, now) + (repeat > 0 ? 0 : wait));
    const id = this.newJobId();
    const state: ScheduledRecord = { due, remaining: cron !== undefined ? -1 : repeat, period, cron, fired: 0, message: Buffer.alloc(0), persistent: message.persistent, jobId: id };
    const job: Job = { id, recordId: this.persistence.allocateId(), message, state, timer: undefined };
    this.store.add(job.recordId, RecordType.Scheduled, this.encode(job), txId);
    this.jobs.set(job.recordId, job);
    this.arm(job);
    return true;
  }

  recover(recordId: number, data: Buffer): void {
    const state = decodeScheduled(data);
    // stored by a build that kept due times past any date
    state.due = dueAt(state.due);
    const stored = decodeMessage(state.message);
    const message = stored.persistent === state.persistent ? stored : copyMessage(stored, { persistent: state.persistent });
    const job: Job = { id: state.jobId ?? message.id, recordId, message, state, timer: undefined };
    this.jobs.set(recordId, job);
    this.arm(job);
  }

  /** The waiting jobs, soonest first. */
  list(): ScheduledJob[] {
    const jobs: ScheduledJob[] = [];
    for (const job of this.jobs.values()) {
      const { due, remaining, period, cron } = job.state;
      jobs.push({ id: job.id, message: job.message, due, remaining, period, cron });
    }
    return jobs.sort((a, b) => a.due - b.due || (a.id < b.id ? -1 : 1));
  }

  /** Cancels the jobs `pick` chooses (their records leave the store); returns how many. */
  cancel(pick: (job: ScheduledJob) => boolean): number {
    let cancelled = 0;
    for (const job of [...this.jobs.values()]) {
      const { due, remaining, period, cron } = job.state;
      if (!pick({ id: job.id, message: job.message, due, remaining, period, cron })) continue;
      if (job.timer !== undefined) this.timers.cancel(job.timer);
      job.timer = undefined;
      this.jobs.delete(job.recordId);
      this.store.delete(job.recordId);
      cancelled++;
    }
    return cancelled;
  }

  stop(): void {
    this.stopped = true;
    for (const job of this.jobs.values()) if (job.timer !== undefined) this.timers.cancel(job.timer);
    // a job not yet handled is still in the store, and comes due again after a restart
    this.due = [];
    this.dueHead = 0;
  }

  private arm(job: Job): void {
    job.timer = this.timers.at(job.state.due, () => this.fire(job));
  }

  /**
   * A job's timer: the job joins the batch, which runs once this turn's timers have all run, so
   * that everything due at one moment goes out together.
   */
  private fire(job: Job): void {
    job.timer = undefined;
    this.due.push(job);
    this.queueBatch();
  }

  private queueBatch(): void {
    if (this.batchQueued || this.stopped) return;
    this.batchQueued = true;
    // a timer turn of the timer queue runs its due items one after another, synchronously: a
    // microtask runs after the last of them
    queueMicrotask(() => this.runBatch());
  }

  private runBatch(): void {
    this.batchQueued = false;
    if (this.stopped) return;
    const end = Math.min(this.due.length, this.dueHead + SCHEDULER_BATCH);
    const batch = this.due.slice(this.dueHead, end);
    if (end === this.due.length) {
      this.due = [];
      this.dueHead = 0;
    } else this.dueHead = end;
    if (this.due.length > 0) {
      // what the batch left goes in a later turn, after I/O
      this.batchQueued = true;
      setImmediate(() => this.runBatch());
    }
    let txId: number | undefined;
    for (const job of batch) {
      // cancelled after it came due, before its batch ran
      if (!this.jobs.has(job.recordId)) continue;
      txId ??= this.persistence.allocateId();
      this.fireOne(job, txId);
    }
    if (txId !== undefined) this.store.commit(txId);
    // after the commit record, so that an auto-acknowledged delete never precedes its add
    this.delivery.dispatch();
  }

  private fireOne(job: Job, txId: number): void {
    const { state } = job;
    state.fired++;
    if (state.cron !== undefined && repeatOf(job.message) > 0) this.startRun(job, txId);
    else {
      const message = deliveryOf(job, this.clock());
      try {
        this.delivery.route(message, txId);
      } catch (err) {
        this.logger.warn({ event: 'scheduler.dropped', messageId: message.id, err }, 'a scheduled message could not be delivered');
      }
    }
    const more = state.cron !== undefined || state.remaining > 0;
    if (more) {
      if (state.cron === undefined) state.remaining--;
      const now = this.clock();
      state.due = state.cron !== undefined ? this.nextCron(state.cron, now) : dueAt(Math.max(now, state.due + state.period));
      this.store.update(job.recordId, RecordType.Scheduled, this.encode(job), txId);
      this.arm(job);
    } else {
      this.jobs.delete(job.recordId);
      this.store.delete(job.recordId, txId);
    }
  }

  /**
   * A cron schedule with a repeat count does as ActiveMQ's: each time the expression fires, it
   * starts a run of its own, a job of `repeat` + 1 deliveries, the first after the delay (a period
   * when there is no delay) and the rest a period apart. The run is listed and cancelled on its
   * own, under an id of its own, which its message also takes: each run's deliveries have ids of
   * their own.
   */
  private startRun(cron: Job, txId: number): void {
    const p = cron.message.properties;
    const delay = numberOf(p.get(ScheduleProperty.delay), ScheduleProperty.delay);
    const { period } = cron.state;
    const id = this.newJobId();
    const message = copyMessage(cron.message, { id });
    const due = dueAt(this.clock() + (delay > 0 ? delay : period));
    const state: ScheduledRecord = { due, remaining: repeatOf(cron.message), period, cron: undefined, fired: 0, message: Buffer.alloc(0), persistent: cron.state.persistent, jobId: id };
    const run: Job = { id, recordId: this.persistence.allocateId(), message, state, timer: undefined };
    this.store.add(run.recordId, RecordType.Scheduled, this.encode(run), txId);
    this.jobs.set(run.recordId, run);
    this.arm(run);
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
