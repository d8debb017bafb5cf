import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { errorText, type PropertyType, type SendRequest } from '../api.js';
import { Button, Card, ErrorBanner, Field, Link, PageHeader } from '../components/ui.js';
import { useConsole } from '../context.js';
import { parseAddress } from '../format.js';

interface PropertyRow {
  readonly key: number;
  name: string;
  type: PropertyType;
  value: string;
}

const TYPES: readonly PropertyType[] = ['string', 'boolean', 'byte', 'short', 'int', 'long', 'float', 'double', 'bytes'];
const RANGES: Partial<Record<PropertyType, [number, number]>> = { byte: [-128, 127], short: [-32768, 32767], int: [-2147483648, 2147483647] };

/** A property's value as the API takes it; a sentence naming the property when it cannot be. */
function typedValue(p: PropertyRow): unknown {
  const v = p.value.trim();
  switch (p.type) {
    case 'string':
      return p.value;
    case 'boolean':
      if (v !== 'true' && v !== 'false') throw new Error(`property ${p.name}: a boolean is true or false`);
      return v === 'true';
    case 'long':
      if (!/^-?\d+$/.test(v)) throw new Error(`property ${p.name}: a long is a whole number`);
      return v;
    case 'bytes':
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new Error(`property ${p.name}: bytes are given in base64`);
      return v;
    case 'float':
    case 'double': {
      const n = Number(v);
      if (v === '' || !Number.isFinite(n)) throw new Error(`property ${p.name}: not a number`);
      return n;
    }
    default: {
      const n = Number(v);
      const [lo, hi] = RANGES[p.type]!;
      if (v === '' || !Number.isInteger(n) || n < lo || n > hi) throw new Error(`property ${p.name}: a ${p.type} is a whole number from ${lo} to ${hi}`);
      return n;
    }
  }
}

export function SendPage(props: { to: string }): JSX.Element {
  const { api, notify } = useConsole();
  const [to, setTo] = useState(props.to);
  const [body, setBody] = useState('');
  const [encoding, setEncoding] = useState<'text' | 'base64'>('text');
  const [persistent, setPersistent] = useState(true);
  const [priority, setPriority] = useState('4');
  const [ttl, setTtl] = useState('');
  const [correlationId, setCorrelationId] = useState('');
  const [type, setType] = useState('');
  const [replyTo, setReplyTo] = useState('');
  const [properties, setProperties] = useState<PropertyRow[]>([]);
  const [nextKey, setNextKey] = useState(1);
  const [error, setError] = useState<string | undefined>(undefined);
  const [sent, setSent] = useState<{ id: string; kind: 'queue' | 'topic'; name: string } | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const update = (key: number, change: Partial<PropertyRow>): void => setProperties((ps) => ps.map((p) => (p.key === key ? { ...p, ...change } : p)));

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    setSent(undefined);
    let request: SendRequest;
    const target = parseAddress(to);
    try {
      if (target.name === '') throw new Error('say where the message goes');
      const props: SendRequest['properties'] = {};
      for (const p of properties) {
        if (p.name.trim() === '') continue;
        props[p.name.trim()] = { type: p.type, value: typedValue(p) };
      }
      request = { body, bodyEncoding: encoding, persistent, properties: props };
      if (priority.trim() !== '') {
        const n = Number(priority);
        if (!Number.isInteger(n) || n < 0 || n > 9) throw new Error('priority is a whole number from 0 to 9, or empty for the default (4)');
        request.priority = n;
      }
      if (ttl.trim() !== '') {
        const n = Number(ttl);
        if (!Number.isInteger(n) || n < 0) throw new Error('time to live is a whole number of milliseconds');
        request.timeToLive = n;
      }
      if (correlationId !== '') request.correlationId = correlationId;
      if (type !== '') request.type = type;
      if (replyTo.trim() !== '') request.replyTo = /^(queue|topic):\/\//.test(replyTo.trim()) ? replyTo.trim() : `queue://${replyTo.trim()}`;
    } catch (err) {
      setError(errorText(err));
      return;
    }
    setBusy(true);
    try {
      const r = await api.send(target.kind, target.name, request);
      setSent({ id: r.id, ...target });
      notify(`Message sent to ${target.kind}://${target.name}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="page">
      <PageHeader title="Send a message" subtitle="To a queue or a topic, with any headers and typed properties." />
      <form class="send-form" onSubmit={(e) => void submit(e)}>
        <Card title="Message">
          <div class="form-grid">
            <Field label="Destination" hint="queue://name or topic://name (a bare name is a queue)">
              <input name="destination" value={to} onInput={(e) => setTo(e.currentTarget.value)} required placeholder="queue://orders.incoming" class="mono" />
            </Field>
            <Field label="Body encoding">
              <select name="bodyEncoding" value={encoding} onChange={(e) => setEncoding(e.currentTarget.value as 'text' | 'base64')}>
                <option value="text">Text</option>
                <option value="base64">Bytes (base64)</option>
              </select>
            </Field>
          </div>
          <Field label="Body">
            <textarea name="body" rows={8} class="mono" value={body} onInput={(e) => setBody(e.currentTarget.value)} placeholder='{"order": 1042, "status": "paid"}' />
          </Field>
        </Card>
        <Card title="Headers">
          <div class="form-grid form-grid-3">
            <Field label="Priority" hint="0 (lowest) to 9; empty: the default, 4">
              <input name="priority" type="number" min={0} max={9} value={priority} onInput={(e) => setPriority(e.currentTarget.value)} />
            </Field>
            <Field label="Time to live (ms)" hint="Empty: never expires">
              <input name="timeToLive" inputMode="numeric" value={ttl} onInput={(e) => setTtl(e.currentTarget.value)} />
            </Field>
            <Field label="Delivery">
              <label class="check-label">
                <input name="persistent" type="checkbox" checked={persistent} onChange={(e) => setPersistent(e.currentTarget.checked)} /> Persistent (kept on disk until consumed)
              </label>
            </Field>
            <Field label="Correlation id">
              <input name="correlationId" value={correlationId} onInput={(e) => setCorrelationId(e.currentTarget.value)} />
            </Field>
            <Field label="Type">
              <input name="type" value={type} onInput={(e) => setType(e.currentTarget.value)} />
            </Field>
            <Field label="Reply to">
              <input name="replyTo" value={replyTo} onInput={(e) => setReplyTo(e.currentTarget.value)} placeholder="queue://replies" class="mono" />
            </Field>
          </div>
        </Card>
        <Card
          title="Properties"
          actions={
            <Button
              small
              onClick={() => {
                setProperties((ps) => [...ps, { key: nextKey, name: '', type: 'string', value: '' }]);
                setNextKey((k) => k + 1);
              }}
            >
              Add property
            </Button>
          }
        >
          {properties.length === 0 ? (
            <p class="muted">No properties. Consumers' selectors match on properties, so add those they look for.</p>
          ) : (
            <div class="property-rows">
              {properties.map((p, i) => (
                <div class="property-row">
                  <input aria-label={`Property ${i + 1} name`} name={`property-name-${i}`} placeholder="name" value={p.name} onInput={(e) => update(p.key, { name: e.currentTarget.value })} class="mono" />
                  <select aria-label={`Property ${i + 1} type`} name={`property-type-${i}`} value={p.type} onChange={(e) => update(p.key, { type: e.currentTarget.value as PropertyType })}>
                    {TYPES.map((t) => (
                      <option value={t}>{t}</option>
                    ))}
                  </select>
                  <input aria-label={`Property ${i + 1} value`} name={`property-value-${i}`} placeholder="value" value={p.value} onInput={(e) => update(p.key, { value: e.currentTarget.value })} class="mono" />
                  <Button small variant="ghost" aria-label={`Remove property ${i + 1}`} onClick={() => setProperties((ps) => ps.filter((x) => x.key !== p.key))}>
                    ✕
                  </Button>
                </div>
              ))}
            </div>
          )}
        </Card>
        <ErrorBanner error={error} />
        {sent !== undefined && (
          <div class="banner banner-ok" role="status">
            <span class="banner-icon" aria-hidden="true">✓</span>
            <span class="banner-text">
              Sent as <span class="mono">{sent.id}</span>.{' '}
              {sent.kind === 'queue' && <Link href={`/queues/${encodeURIComponent(sent.name)}`}>Open {sent.name}</Link>}
            </span>
          </div>
        )}
        <div class="form-actions">
          <Button type="submit" variant="primary" disabled={busy}>
            {busy ? 'Sending…' : 'Send message'}
          </Button>
        </div>
      </form>
    </div>
  );
}
