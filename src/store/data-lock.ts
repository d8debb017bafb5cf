import { randomUUID } from 'node:crypto';
import { linkSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../errors.js';

/** True when a process with this id runs (in this pid namespace), ours or another user's. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a broker killed with SIGKILL stays a zombie until its parent reaps it: it runs no more
  return !isZombie(pid);
}

/** Linux's state of the process is Z; false where there is no /proc to say. */
function isZombie(pid: number): boolean {
  return procStat(pid)?.state === 'Z';
}

/** The state and start time (clock ticks since boot) Linux gives a process; undefined where there is no /proc to say. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // pid (comm) state ...: the name may hold spaces and parentheses, the fields follow the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // starttime is field 22 of proc(5), the 20th after the name
  return { state: fields[0] ?? '', start: fields[19] ?? '' };
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * How a broker holds its data folder: `alone`, the only broker on it; `ha`, the primary of brokers
 * that share it, each started with `--ha`, of which the lease decides which one runs.
 */
export type FolderHolding = 'alone' | 'ha';

/**
 * Who wrote a lock or a takeover claim: a pid means one process only together with when that
 * process started and the boot it ran in, since a pid is handed out again once its process is gone
 * (after a reboot, in a new container). `token` names this one lock, for claims on taking it over.
 */
interface LockOwner {
  readonly pid: number;
  readonly holding: FolderHolding;
  readonly start?: string | undefined;
  readonly boot?: string | undefined;
  /**
   * The folder locked, as `<device>:<inode>`: a copy of the folder (`cp -a`, a restored backup)
   * carries the lock of the broker that runs on the original, which names a live process but not
   * the copy. Locks written by older brokers have none.
   */
  readonly folder?: string | undefined;
  readonly token: string;
}

const LOCK_FILE = 'lock';
/** `lock.takeover-<token>-<n>`: the one process that may remove the lock named `token`. */
const CLAIM_PREFIX = `${LOCK_FILE}.takeover-`;
/** Where a lock or a claim is written in full before it is linked into place. */
const DRAFT_PREFIX = `${LOCK_FILE}.draft-`;
/** How long a broker waits for another process that is taking over a lock to finish (ms). */
const TAKEOVER_WAIT = 5000;

/**
 * One broker per data folder: a `lock` file naming its owner (and `ha` for a primary that shares
 * the folder with its backups). A lock left by a process that no longer runs (a broker killed with
 * SIGKILL, a power loss) is taken over. The lease, not this file, decides between brokers started
 * with `--ha`: a primary takes over the lock of a live `--ha` broker, which lost its lease and is
 * fenced; it never takes over that of a broker started without `--ha`, which never looks at the
 * lease. The owner means something on this host only: brokers on several hosts share a folder only
 * with `--ha`.
 *
 * Node offers no file lock held by a descriptor, so two rules make this safe for any number of
 * brokers started at once: a lock appears whole or not at all (written aside, then hard-linked to
 * `lock`, which fails if one is there), and a lock is removed only by the process that created its
 * takeover claim (`lock.takeover-<its token>-1`, exclusively), so two brokers that both found one
 * stale never both remove it, nor one remove the lock the other has just made. A claim whose
 * claimant died before it finished is passed on to `-2`, and so on.
 */
export class DataFolderLock {
  private constructor(
    private readonly folder: string,
    private readonly token: string,
  ) {}

  static acquire(folder: string, holding: FolderHolding = 'alone'): DataFolderLock {
    const file = join(folder, LOCK_FILE);
    const here = folderIdentity(folder);
    const me = ownIdentity(holding, here);
    const waitUntil = Date.now() + TAKEOVER_WAIT;
    for (;;) {
      if (createWhole(folder, LOCK_FILE, me)) {
        // claims on locks gone for good; a late claimant finds the lock it claimed is not there
        sweepClaims(folder, (name) => !name.startsWith(`${CLAIM_PREFIX}${me.token}-`));
        return new DataFolderLock(folder, me.token);
      }
      const owner = readOwner(file);
      // removed since: try again
      if (owner === undefined) continue;
      DataFolderLock.refuseOwner(folder, owner, holding, here);
      const removed = removeClaimed(folder, owner.token, here);
      if (removed === 'busy') {
        if (Date.now() > waitUntil) {
          throw new FerryError('FERRY_STORE_LOCKED', `could not lock the data folder ${folder}: another process has been taking over its lock for ${TAKEOVER_WAIT} ms`);
        }
        pause(10);
      }
    }
  }

  /**
   * Throws FERRY_STORE_LOCKED when a running broker holds the folder in a way `holding` may not take
   * over, writing nothing: an `--ha` broker asks before it takes the lease, so that a folder a broker
   * without `--ha` holds gets no lease files and its log no `ha.primary`.
   */
  static refuseIfHeld(folder: string, holding: FolderHolding): void {
    const owner = readOwner(join(folder, LOCK_FILE));
    if (owner !== undefined) DataFolderLock.refuseOwner(folder, owner, holding, folderIdentity(folder));
  }

  private static refuseOwner(folder: string, owner: LockOwner, holding: FolderHolding, here: string | undefined): void {
    if (holding === 'ha' && owner.holding === 'ha') return;
    if (ownerRuns(owner, here)) throw new FerryError('FERRY_STORE_LOCKED', refusal(folder, owner, holding));
  }

  /** Removes the lock, unless another broker has taken it over since (a primary that lost its lease). */
  release(): void {
    removeClaimed(this.folder, this.token, folderIdentity(this.folder));
  }
}

function ownIdentity(holding: FolderHolding, folder: string | undefined): LockOwner {
  return { pid: process.pid, holding, start: procStat(process.pid)?.start, boot: bootId(), folder, token: randomUUID().replaceAll('-', '') };
}

function folderIdentity(folder: string): string | undefined {
  try {
    const stat = statSync(folder);
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote this lock, found in the folder `here` names, still runs, as far as this host can tell. */
function ownerRuns(owner: LockOwner, here: string | undefined): boolean {
  if (owner.pid === 0) return false;
  if (owner.pid === process.pid && (owner.start === undefined || owner.start === procStat(process.pid)?.start)) return false;
  const boot = bootId();
  // device and inode name a folder only on this host and until it reboots: another host may mount the
  // same folder under another device number
  if (owner.folder !== undefined && here !== undefined && owner.boot !== undefined && owner.boot === boot && owner.folder !== here) {
    // a copy of a folder whose broker runs on the original
    return false;
  }
  if (owner.boot !== undefined && boot !== undefined && owner.boot !== boot) {
    // written in an earlier boot of this machine, or on another machine: only brokers with --ha share
    // a folder between machines, so a lock without `ha` is from before a reboot
    return owner.holding === 'ha';
  }
  if (owner.start !== undefined && boot !== undefined) {
    const stat = procStat(owner.pid);
    if (stat !== undefined) return stat.state !== 'Z' && stat.start === owner.start;
  }
  return processAlive(owner.pid);
}

function serialize(owner: LockOwner): string {
  const marks = [String(owner.pid), ...(owner.holding === 'ha' ? ['ha'] : []), `token=${owner.token}`];
  if (owner.start !== undefined) marks.push(`start=${owner.start}`);
  if (owner.boot !== undefined) marks.push(`boot=${owner.boot}`);
  if (owner.folder !== undefined) marks.push(`folder=${owner.folder}`);
  return `${marks.join(' ')}\n`;
}

/** The owner a lock or claim names; a lock written before tokens were is named by its inode. */
function readOwner(file: string): LockOwner | undefined {
  let text: string;
  let inode: number;
  try {
    text = readFileSync(file, 'utf8');
    inode = statSync(file).ino;
  } catch {
    return undefined;
  }
  const [first, ...rest] = text.trim().split(/\s+/);
  const pid = Number(first);
  const fields = new Map<string, string>();
  let holding: FolderHolding = 'alone';
  for (const word of rest) {
    if (word === 'ha') holding = 'ha';
    const at = word.indexOf('=');
    if (at > 0) fields.set(word.slice(0, at), word.slice(at + 1));
  }
  // an empty or unreadable lock (an older broker killed between creating and writing it) names no one
  return {
    pid: Number.isInteger(pid) && pid > 0 ? pid : 0,
    holding,
    start: fields.get('start'),
    boot: fields.get('boot'),
    folder: fields.get('folder'),
    token: /^[0-9a-f]+$/.test(fields.get('token') ?? '') ? fields.get('token')! : `inode${inode}`,
  };
}

/**
 * Creates `name` in `folder` holding `owner`, unless it is there: false then. It is written to a
 * draft first, so that a reader never sees it empty or half written.
 */
function createWhole(folder: string, name: string, owner: LockOwner): boolean {
  const draft = join(folder, `${DRAFT_PREFIX}${randomUUID()}`);
  try {
    writeFileSync(draft, serialize(owner));
    linkSync(draft, join(folder, name));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new FerryError('FERRY_STORE_FAILED', `cannot lock the data folder ${folder}: ${(err as Error).message}`, { cause: err });
  } finally {
    rmSync(draft, { force: true });
  }
}

/**
 * Removes the lock named `token` once this process holds the claim on it: `busy` while another
 * running process holds that claim (it removes the lock), `done` otherwise, the lock then gone or
 * another's. The first claim is `-1`; a claim whose claimant no longer runs is followed by the next.
 */
function removeClaimed(folder: string, token: string, here: string | undefined): 'done' | 'busy' {
  const claimant: LockOwner = { ...ownIdentity('alone', here), token };
  for (let n = 1; ; n++) {
    const claim = `${CLAIM_PREFIX}${token}-${n}`;
    if (createWhole(folder, claim, claimant)) break;
    const other = readOwner(join(folder, claim));
    // a claim swept since by a new owner: the lock it was for is gone
    if (other === undefined) return 'done';
    if (ownerRuns(other, here)) return 'busy';
  }
  // claims on a lock outlive it until its next owner sweeps them: this one may have come late
  const file = join(folder, LOCK_FILE);
  if (readOwner(file)?.token === token) rmSync(file, { force: true });
  sweepClaims(folder, (name) => name.startsWith(`${CLAIM_PREFIX}${token}-`));
  return 'done';
}

function sweepClaims(folder: string, which: (name: string) => boolean): void {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(CLAIM_PREFIX) && which(name)) rmSync(join(folder, name), { force: true });
  }
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function refusal(folder: string, owner: LockOwner, holding: FolderHolding): string {
  // the lock may be a copy's, written by an older broker that did not record its folder
  const stale = `if process ${owner.pid} is not a Ferry broker using this folder, remove ${join(folder, LOCK_FILE)} and start again`;
  if (owner.holding === 'alone') {
    return `the data folder ${folder} is in use by process ${owner.pid}, a broker started without --ha${holding === 'ha' ? ', which shares it with no backup' : ''}; give this broker its own with --data (${stale})`;
  }
  return `the data folder ${folder} is in use by process ${owner.pid}, the primary of brokers started with --ha; start this one with --ha to be its backup, or give it its own folder with --data (${stale})`;
}
