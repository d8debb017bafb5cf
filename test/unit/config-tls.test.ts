import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startOverrides } from '../../src/cli/start.js';
import { loadConfig } from '../../src/config/index.js';
import { protocolModules } from '../../src/protocols/registry.js';
import { runFerry } from '../helpers/process.js';
import { makeCertificates } from '../helpers/tls.js';

test('each protocol names its TLS port, and its TLS listener is off by default on that port', () => {
  const config = loadConfig(undefined);
  assert.deepEqual(
    protocolModules.map((m) => [m.name, m.defaultTlsPort]),
    [
      ['stomp', 61612],
      ['amqp', 5671],
      ['mqtt', 8883],
      ['openwire', 61617],
      ['amqp091', 5671],
    ],
  );
  for (const m of protocolModules) assert.deepEqual(config.listeners[`${m.name}Tls`], { enabled: false, host: '0.0.0.0', port: m.defaultTlsPort, maxConnections: 0 });
  assert.deepEqual(config.listeners.websocketTls, { enabled: false, host: '0.0.0.0', port: 61615, maxConnections: 0 });
  // the management API stays on loopback unless opened on purpose
  assert.deepEqual(config.listeners.httpTls, { enabled: false, host: '127.0.0.1', port: 8162, maxConnections: 0 });
  assert.equal(config.listeners.http.host, '127.0.0.1');
  assert.deepEqual(config.tls, { requestCert: false, requireCert: false, requireCertHttps: false });
});

test('a TLS port option or variable switches its listener on; off switches it off', () => {
  const { overrides, origins } = startOverrides(['--mqtt-tls-port', '0', '--http-tls-port', 'off', '--ws-tls-host', '127.0.0.1'], { FERRY_STOMP_TLS_PORT: '7000', FERRY_HTTP_TLS_PORT: '9000' });
  const config = loadConfig(undefined, new Map([...overrides, ['tls.cert', 'c.pem'], ['tls.key', 'k.pem']]), origins);
  assert.deepEqual(config.listeners.stompTls, { enabled: true, host: '0.0.0.0', port: 7000, maxConnections: 0 });
  assert.deepEqual(config.listeners.mqttTls, { enabled: true, host: '0.0.0.0', port: 0, maxConnections: 0 });
  assert.equal(config.listeners.httpTls.enabled, false, 'the option beats the variable');
  assert.equal(config.listeners.websocketTls.host, '127.0.0.1');
  assert.equal(config.listeners.amqpTls.enabled, false);
});

test('a TLS listener without tls.cert or tls.key is a configuration mistake that names the option', () => {
  const { overrides, origins } = startOverrides(['--amqp-tls-port', '5671'], {});
  assert.throws(() => loadConfig(undefined, overrides, origins), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'FERRY_CONFIG_INVALID');
    assert.match(err.message, /^--amqp-tls-port \(listeners\.amqpTls\.port\): .*tls\.cert/);
    return true;
  });
  assert.throws(() => loadConfig(undefined, new Map<string, string | boolean>([['listeners.httpTls.enabled', true], ['tls.cert', 'c.pem']])), /tls\.key/);
});

test('paths in a configuration file are relative to its folder; paths from options are not touched', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-config-'));
  mkdirSync(join(dir, 'conf'));
  const file = join(dir, 'conf', 'ferry.yaml');
  writeFileSync(file, 'tls:\n  cert: certs/server.pem\n  key: /etc/ferry/key.pem\n  ca: ../ca.pem\nsecurity:\n  users: users.yaml\n  ldap:\n    url: ldaps://ldap\n    userBase: o=x\n    ca: ldap-ca.pem\n');
  const config = loadConfig(file);
  assert.equal(config.tls.cert, join(dir, 'conf', 'certs', 'server.pem'));
  assert.equal(config.tls.key, '/etc/ferry/key.pem');
  assert.equal(config.tls.ca, join(dir, 'ca.pem'));
  assert.equal(config.security.users, join(dir, 'conf', 'users.yaml'));
  assert.equal(config.security.ldap?.ca, join(dir, 'conf', 'ldap-ca.pem'));
  const overridden = loadConfig(file, new Map([['tls.cert', 'mine.pem']]));
  assert.equal(overridden.tls.cert, 'mine.pem');
});

test('ferry start exits 78 with one line for a TLS listener without a certificate, and for certificate files that do not load', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-cli-'));
  const bare = await runFerry(['start', '--data', join(dir, 'data'), '--stomp-tls-port', '0', '--stomp-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--ws-port', 'off', '--http-port', 'off']);
  assert.equal(bare.code, 78);
  assert.equal(bare.stderr.trim().split('\n').length, 1, bare.stderr);
  assert.match(bare.stderr, /--stomp-tls-port/);

  const file = join(dir, 'ferry.yaml');
  writeFileSync(join(dir, 'server.pem'), 'not a certificate\n');
  writeFileSync(join(dir, 'server-key.pem'), 'not a key\n');
  writeFileSync(file, 'tls:\n  cert: server.pem\n  key: server-key.pem\n');
  const broken = await runFerry(['start', '--config', file, '--data', join(dir, 'data'), '--stomp-tls-port', '0', '--stomp-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--ws-port', 'off', '--http-port', 'off']);
  assert.equal(broken.code, 78);
  assert.equal(broken.stderr.trim().split('\n').length, 1, broken.stderr);
  assert.match(broken.stderr, /tls: the certificate .*server\.pem/);
});

test('ferry start exits 78 with one line naming the file for a tls.ca that holds no certificate', async () => {
  const certs = makeCertificates();
  const authorities = readFileSync(certs.ca);
  const cases: [string, Buffer][] = [
    ['truncated', authorities.subarray(0, 300)],
    ['garbage', Buffer.from('not a certificate\n')],
    ['empty', Buffer.alloc(0)],
    ['a key', readFileSync(certs.serverKey)],
    ['a good certificate and a truncated one', Buffer.concat([authorities, authorities.subarray(0, 300)])],
  ];
  for (const [what, content] of cases) {
    const ca = join(certs.dir, 'bad-ca.pem');
    writeFileSync(ca, content);
    const file = join(certs.dir, 'ferry.yaml');
    writeFileSync(file, `tls:\n  cert: ${certs.serverCert}\n  key: ${certs.serverKey}\n  ca: ${ca}\n`);
    const run = await runFerry(['start', '--config', file, '--data', join(certs.dir, 'data'), '--stomp-tls-port', '0', '--stomp-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--ws-port', 'off', '--http-port', 'off']);
    assert.equal(run.code, 78, `${what}: ${run.stderr}`);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, /bad-ca\.pem/, what);
  }
});

test('ferry start exits 78 with one line naming tls.ciphers for a cipher list OpenSSL cannot use', async () => {
  const certs = makeCertificates();
  const file = join(certs.dir, 'ferry.yaml');
  writeFileSync(file, `tls:\n  cert: ${certs.serverCert}\n  key: ${certs.serverKey}\n  ciphers: NO-SUCH-CIPHER\n`);
  const run = await runFerry(['start', '--config', file, '--data', join(certs.dir, 'data'), '--stomp-tls-port', '0', '--stomp-port', 'off', '--amqp-port', 'off', '--mqtt-port', 'off', '--ws-port', 'off', '--http-port', 'off']);
  assert.equal(run.code, 78, run.stderr);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /tls\.ciphers NO-SUCH-CIPHER/);
});
