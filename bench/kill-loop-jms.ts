// The kill loop's OpenWire clients: ActiveMQ's own JMS client in one JVM (bench/openwire/
// KillLoopClient.java) that outlives the broker runs, told what to do over its standard input.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compileJava, javaCommand, jmsClientMissing } from './java.js';

export class JmsKillLoopClient {
  private readonly sends = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private replies: ((line: string) => void)[] = [];
  /** Told of every message the consumer received, with its JMSRedelivered. */
  onDelivered: (n: number, redelivered: boolean) => void = () => {};

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.line(line));
  }

  /** The client, or why it cannot run (the JMS client's jars or Java missing). */
  static start(): JmsKillLoopClient | string {
    const missing = jmsClientMissing();
    if (missing !== undefined) return missing;
    const classPath = compileJava(fileURLToPath(new URL('../../bench/openwire/', import.meta.url)));
    const [java, args] = javaCommand(classPath, 'KillLoopClient', []);
    return new JmsKillLoopClient(spawn(java, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  /** Connects to a broker run; a plain tcp:// URL, since the loop restarts the broker itself. */
  async open(port: number, queue: string, consume: boolean, produce: boolean): Promise<void> {
    const reply = await this.command(`open tcp://127.0.0.1:${port}?jms.closeTimeout=2000 ${queue}${consume ? ' consume' : ''}${produce ? ' produce' : ''}`);
    if (reply !== 'opened') throw new Error(`JMS client: ${reply}`);
  }

  send(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sends.set(n, { resolve, reject });
      this.child.stdin!.write(`send ${n}\n`);
    });
  }

  async close(): Promise<void> {
    await this.command('close');
  }

  stop(): void {
    this.child.stdin!.end();
    this.child.kill();
  }

  private command(text: string): Promise<string> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.stdin!.write(`${text}\n`);
    });
  }

  private line(line: string): void {
    const [word, arg, flag] = line.split(' ');
    const n = Number(arg);
    if (word === 'delivered') this.onDelivered(n, flag === 'true');
    else if (word === 'confirmed' || word === 'failed') {
      const waiting = this.sends.get(n);
      this.sends.delete(n);
      if (word === 'confirmed') waiting?.resolve();
      else waiting?.reject(new Error(`send ${n} failed`));
    } else this.replies.shift()?.(line);
  }
}
