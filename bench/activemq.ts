// Starts a fresh Apache ActiveMQ Classic 5.17 (Debian's `activemq` package) for one benchmark run:
// its own folder, KahaDB inside it, a STOMP and an MQTT connector on free ports (and, for the secure
// scenarios, the same over TLS with authentication and authorization), no JMX. Debian's build
// lacks the MQTT codec (mqtt-client.jar, package libmqtt-client-java): the instance's lib/ folder,
// which ActiveMQ adds to its class path, links to it; without it the MQTT port accepts connections and
// never answers CONNECT.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stopChild, track, watchExit } from './children.js';
import { BenchSetupError, freePort, tailOf, waitForPort } from './broker.js';
import type { ClientSecurity, RunningBroker } from './broker.js';

export const DEFAULT_ACTIVEMQ_HOME = '/usr/share/activemq';

export interface ActiveMqOptions {
  home: string;
  /** ActiveMQ takes 20-30 s to start on a small machine; the JVM is given far longer. */
  startTimeoutMs?: number;
  keepFolder?: boolean;
  /** ActiveMQ's job scheduler, which AMQ_SCHEDULED_DELAY needs; off (its default) for the scenarios. */
  schedulerSupport?: boolean;
  /** A user for the simple authentication plugin; without it, anyone connects. */
  user?: { name: string; password: string };
  /**
   * For the secure scenarios: STOMP and MQTT connectors over TLS presenting the key and certificate
   * of `keyStore` (PKCS12), `client.user` the only user (simple authentication plugin, in `group`),
   * and an authorization plugin granting `group` every queue and topic, as Ferry's rules do.
   */
  secure?: { keyStore: string; keyStorePassword: string; group: string; client: ClientSecurity; transport?: ActiveMqTlsTransport };
  /** With `user`: connections that give no user name still get in (a wrong password never does). */
  anonymousAccessAllowed?: boolean;
  /** An OpenWire (JMS) connector as well, on `ports.openwire` of the result. */
  openwire?: boolean;
  /**
   * Run in this folder and keep it, on these ports: a second start with the same folder and ports
   * is a restart that finds the first one's KahaDB (after a kill -9, say).
   */
  reuse?: { base: string; ports?: { stomp: number; mqtt?: number; openwire?: number } };
  /**
   * KahaDB's folder, shared with another instance: ActiveMQ's shared file system master/slave. The
   * instance that gets KahaDB's file lock is the master; the other (a slave) waits for the lock and
   * opens no port until it has it, so its start is called with `waitForPorts: false`.
   */
  sharedDataDir?: string;
  /** Default true: the start resolves once the connectors listen. */
  waitForPorts?: boolean;
  /**
   * Queues given a memoryLimit in bytes with producer flow control. Their messages wait in memory
   * (the VM cursor): with the default store cursor ActiveMQ pages persistent messages to KahaDB
   * past the limit rather than hold the producer.
   */
  queueMemoryLimits?: Readonly<Record<string, number>>;
}

/**
 * ActiveMQ's TLS transports: `ssl` (stomp+ssl, mqtt+ssl: a thread per connection, ActiveMQ's usual
 * TLS connector) or `nio+ssl` (the NIO selector, as the plain connectors use).
 */
export type ActiveMqTlsTransport = 'ssl' | 'nio+ssl';
export const ACTIVEMQ_TLS_TRANSPORTS: readonly ActiveMqTlsTransport[] = ['ssl', 'nio+ssl'];

interface SecurePorts {
  stomp: number;
  mqtt: number | undefined;
  keyStore: string;
  keyStorePassword: string;
  group: string;
  transport: ActiveMqTlsTransport;
}

export const MQTT_CLIENT_JAR = '/usr/share/java/mqtt-client.jar';

export const MQTT_CLIENT_INSTALL_HINT =
  `ActiveMQ's MQTT connector needs ${MQTT_CLIENT_JAR}: install it with \`sudo apt-get install libmqtt-client-java\`.`;

export function activeMqJar(home: string): string {
  return path.join(home, 'bin', 'activemq.jar');
}

export function activeMqInstalled(home: string): boolean {
  return existsSync(activeMqJar(home));
}

export const ACTIVEMQ_INSTALL_HINT =
  'ActiveMQ 5.17 was not found. Install it with `sudo apt-get install activemq` (Debian/Ubuntu; it needs\n' +
  'Java 17, e.g. `apt-get install openjdk-17-jre-headless`), or point --activemq-home at an unpacked\n' +
  'ActiveMQ 5.x whose bin/activemq.jar exists. To benchmark Ferry alone, pass --broker ferry.';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function brokerXml(
  dataDir: string,
  stompPort: number,
  mqttPort: number | undefined,
  schedulerSupport: boolean,
  user?: { name: string; password: string },
  secure?: SecurePorts,
  openwirePort?: number,
  anonymousAccessAllowed = false,
  queueMemoryLimits?: Readonly<Record<string, number>>,
): string {
  const data = escapeXml(dataDir);
  const group = escapeXml(secure?.group ?? 'users');
  // ActiveMQ's advisory topics (ActiveMQ.Advisory.>) are topics too: `topic=">"` grants them, which
  // every connection and consumer needs, and Ferry's rules grant every topic alike
  const authorization =
    secure === undefined
      ? ''
      : `      <authorizationPlugin>
        <map>
          <authorizationMap>
            <authorizationEntries>
              <authorizationEntry queue=">" read="${group}" write="${group}" admin="${group}"/>
              <authorizationEntry topic=">" read="${group}" write="${group}" admin="${group}"/>
            </authorizationEntries>
          </authorizationMap>
        </map>
      </authorizationPlugin>
`;
  const plugins =
    user === undefined
      ? ''
      : `    <plugins>
      <simpleAuthenticationPlugin anonymousAccessAllowed="${String(anonymousAccessAllowed)}">
        <users>
          <authenticationUser username="${escapeXml(user.name)}" password="${escapeXml(user.password)}" groups="${group}"/>
        </users>
      </simpleAuthenticationPlugin>
${authorization}    </plugins>
`;
  // the keystore is PKCS12, which Java 17 reads as it is; no truststore, since clients log in with
  // passwords rather than certificates
  const sslContext =
    secure === undefined
      ? ''
      : `    <sslContext>
      <sslContext keyStore="file:${escapeXml(secure.keyStore)}" keyStorePassword="${escapeXml(secure.keyStorePassword)}" keyStoreType="PKCS12"/>
    </sslContext>
`;
  const secureConnectors =
    secure === undefined
      ? ''
      : `      <transportConnector name="stomp-tls" uri="stomp+${secure.transport}://127.0.0.1:${secure.stomp}"/>
${secure.mqtt === undefined ? '' : `      <transportConnector name="mqtt-tls" uri="mqtt+${secure.transport}://127.0.0.1:${secure.mqtt}"/>\n`}`;
  const limits = Object.entries(queueMemoryLimits ?? {});
  const destinationPolicy =
    limits.length === 0
      ? ''
      : `    <destinationPolicy>
      <policyMap>
        <policyEntries>
${limits.map(([queue, bytes]) => `          <policyEntry queue="${escapeXml(queue)}" memoryLimit="${bytes}" producerFlowControl="true">\n            <pendingQueuePolicy><vmQueueCursor/></pendingQueuePolicy>\n          </policyEntry>\n`).join('')}        </policyEntries>
      </policyMap>
    </destinationPolicy>
`;
  // Everything not set here is ActiveMQ's default: KahaDB syncs each write batch to disk, producer
  // flow control is on, the STOMP prefetch is the broker's default for each destination kind.
  return `<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
                           http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="bench" useJmx="false"
          schedulerSupport="${String(schedulerSupport)}" dataDirectory="${data}">
    <persistenceAdapter>
      <kahaDB directory="${data}/kahadb"/>
    </persistenceAdapter>
${plugins}${sslContext}${destinationPolicy}    <transportConnectors>
${openwirePort === undefined ? '' : `      <transportConnector name="openwire" uri="tcp://127.0.0.1:${openwirePort}"/>\n`}      <transportConnector name="stomp" uri="stomp+nio://127.0.0.1:${stompPort}"/>
${mqttPort === undefined ? '' : `      <transportConnector name="mqtt" uri="mqtt+nio://127.0.0.1:${mqttPort}"/>\n`}${secureConnectors}    </transportConnectors>
  </broker>
</beans>
`;
}

// Debian's build logs through log4j 1.2; the conf folder is on the broker's class path.
const LOG4J_PROPERTIES = `log4j.rootLogger=INFO, out
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d{ISO8601} %-5p %c{1} - %m%n
`;

export async function startActiveMq(options: ActiveMqOptions): Promise<RunningBroker> {
  const home = path.resolve(options.home);
  if (!activeMqInstalled(home)) {
    throw new BenchSetupError('BENCH_ACTIVEMQ_MISSING', ACTIVEMQ_INSTALL_HINT);
  }
  const base = options.reuse?.base ?? mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-activemq-'));
  const fixed = options.reuse?.ports;
  const confDir = path.join(base, 'conf');
  const dataDir = options.sharedDataDir ?? path.join(base, 'data');
  const logFile = path.join(base, 'broker.log');
  const host = '127.0.0.1';
  const stompPort = fixed?.stomp ?? (await freePort(host));
  // without the codec the connector would hang every MQTT client; then ActiveMQ serves STOMP alone
  const mqttPort = existsSync(MQTT_CLIENT_JAR) ? fixed?.mqtt ?? (await freePort(host)) : undefined;
  const openwirePort = options.openwire === true ? fixed?.openwire ?? (await freePort(host)) : undefined;
  const secure: SecurePorts | undefined =
    options.secure === undefined
      ? undefined
      : {
          stomp: await freePort(host),
          mqtt: mqttPort === undefined ? undefined : await freePort(host),
          keyStore: options.secure.keyStore,
          keyStorePassword: options.secure.keyStorePassword,
          group: options.secure.group,
          transport: options.secure.transport ?? 'ssl',
        };
  const user = options.secure === undefined ? options.user : { name: options.secure.client.user, password: options.secure.client.password };
  mkdirSync(confDir, { recursive: true });
  if (mqttPort !== undefined && !existsSync(path.join(base, 'lib', 'mqtt-client.jar'))) {
    mkdirSync(path.join(base, 'lib'), { recursive: true });
    symlinkSync(MQTT_CLIENT_JAR, path.join(base, 'lib', 'mqtt-client.jar'));
  }
  mkdirSync(path.join(dataDir, 'tmp'), { recursive: true });
  const configFile = path.join(confDir, 'activemq.xml');
  writeFileSync(
    configFile,
    brokerXml(dataDir, stompPort, mqttPort, options.schedulerSupport === true, user, secure, openwirePort, options.anonymousAccessAllowed === true, options.queueMemoryLimits),
  );
  writeFileSync(path.join(confDir, 'log4j.properties'), LOG4J_PROPERTIES);

  const java = process.env['JAVA_HOME'] ? path.join(process.env['JAVA_HOME'], 'bin', 'java') : 'java';
  const logFd = openSync(logFile, 'a');
  // java is spawned directly, not through a shell or the `activemq` script, so that the child's pid
  // is the JVM's: that is the process whose CPU time is measured and which must be stopped.
  const child = spawn(
    java,
    [
      '-Xms512M',
      '-Xmx512M',
      '-Djava.awt.headless=true',
      `-Dactivemq.home=${home}`,
      `-Dactivemq.base=${base}`,
      `-Dactivemq.conf=${confDir}`,
      `-Dactivemq.data=${dataDir}`,
      `-Djava.io.tmpdir=${path.join(dataDir, 'tmp')}`,
      '-jar',
      activeMqJar(home),
      'start',
      `xbean:file:${configFile}`,
    ],
    { cwd: base, stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  track(child, options.keepFolder === true || options.reuse !== undefined ? undefined : base);
  const { exited, spawnError } = watchExit(child);

  const cleanUp = (): Promise<void> => stopChild(child);

  if (options.waitForPorts !== false) {
    try {
      await waitForPort(host, stompPort, options.startTimeoutMs ?? 180_000, exited);
      if (mqttPort !== undefined) await waitForPort(host, mqttPort, 30_000, exited);
      if (openwirePort !== undefined) await waitForPort(host, openwirePort, 30_000, exited);
      if (secure !== undefined) await waitForPort(host, secure.stomp, 30_000, exited);
      if (secure?.mqtt !== undefined) await waitForPort(host, secure.mqtt, 30_000, exited);
    } catch (err) {
      const log = tailOf(logFile);
      await cleanUp();
      const failed = spawnError();
      if (failed !== undefined) {
        throw new BenchSetupError('BENCH_JAVA_MISSING', `could not run ${java}: ${failed.message}`, {
          cause: failed,
        });
      }
      throw new BenchSetupError('BENCH_ACTIVEMQ_START', `ActiveMQ did not start:\n${log}`, { cause: err });
    }
  }
  const pid = child.pid;
  if (pid === undefined) throw new BenchSetupError('BENCH_ACTIVEMQ_START', 'ActiveMQ has no pid');

  return {
    name: 'activemq',
    pid,
    host,
    stompPort,
    ports: {
      ...(mqttPort === undefined ? {} : { mqtt: mqttPort }),
      ...(openwirePort === undefined ? {} : { openwire: openwirePort }),
      ...(secure === undefined ? {} : { 'stomp-tls': secure.stomp }),
      ...(secure?.mqtt === undefined ? {} : { 'mqtt-tls': secure.mqtt }),
    },
    ...(options.secure === undefined ? {} : { secure: options.secure.client }),
    logFile,
    exited,
    stop: cleanUp,
  };
}
