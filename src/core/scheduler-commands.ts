import type { Message, PropertyValue } from './message.js';

/**
 * ActiveMQ's scheduler management over messaging: a message sent to this topic with
 * AMQ_SCHEDULER_ACTION asks the scheduler to browse its jobs (one reply per job to the message's
 * reply-to, each carrying `scheduledJobId`), remove one job by id, or remove all (within
 * ACTION_START_TIME..ACTION_END_TIME when given), so existing ActiveMQ scripts keep working.
 */
export const SchedulerCommand = {
  destination: 'ActiveMQ.Scheduler.Management',
  action: 'AMQ_SCHEDULER_ACTION',
  browse: 'BROWSE',
  remove: 'REMOVE',
  removeAll: 'REMOVEALL',
  jobId: 'scheduledJobId',
  startTime: 'ACTION_START_TIME',
  endTime: 'ACTION_END_TIME',
} as const;

export function isSchedulerCommand(message: Message): boolean {
  return message.destination.kind === 'topic' && message.destination.name === SchedulerCommand.destination && message.properties.has(SchedulerCommand.action);
}

export interface SchedulerRequest {
  readonly action: 'BROWSE' | 'REMOVE' | 'REMOVEALL' | undefined;
  readonly jobId: string | undefined;
  /** The interval of due times the action applies to, ms since the epoch. */
  readonly from: number;
  readonly to: number;
}

function time(value: PropertyValue | undefined, otherwise: number): number {
  if (value === undefined || value === null) return otherwise;
  const n = Number(typeof value === 'bigint' ? value : String(value));
  return Number.isFinite(n) ? n : otherwise;
}

/** The request a command message carries; an unknown action is undefined (ActiveMQ ignores it too). */
export function schedulerRequest(message: Message): SchedulerRequest {
  const p = message.properties;
  const action = String(p.get(SchedulerCommand.action) ?? '').toUpperCase();
  const jobId = p.get(SchedulerCommand.jobId);
  return {
    action: action === 'BROWSE' || action === 'REMOVE' || action === 'REMOVEALL' ? action : undefined,
    jobId: jobId === undefined || jobId === null ? undefined : String(jobId),
    from: time(p.get(SchedulerCommand.startTime), 0),
    to: time(p.get(SchedulerCommand.endTime), Number.POSITIVE_INFINITY),
  };
}
