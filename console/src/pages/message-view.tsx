import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { MessageDetail } from '../api.js';
import { Badge, Tabs } from '../components/ui.js';
import { base64ToBytes, bytes, hexDump, textToBytes, timestamp } from '../format.js';
// the broker's own bound, so the page never parses what the broker left out
import { modestJson } from '../../../src/management/json-body.js';

type BodyView = 'text' | 'json' | 'hex';

function bodyBytes(m: MessageDetail): Uint8Array {
  return m.body.encoding === 'base64' ? base64ToBytes(m.body.data) : textToBytes(m.body.data);
}

/** Bytes that decode as UTF-8 are shown as text too: many clients send text as bytes. */
function bodyText(m: MessageDetail): string | undefined {
  if (m.body.encoding === 'text') return m.body.data;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(base64ToBytes(m.body.data));
  } catch {
    return undefined;
  }
}

function jsonOf(m: MessageDetail, text: string | undefined): unknown {
  if (m.body.json !== undefined) return m.body.json;
  return text === undefined ? undefined : modestJson(text);
}

function propertyValue(p: MessageDetail['properties'][number]): string {
  if (p.type === 'bytes') return `${String(p.value)} (base64)`;
  if (typeof p.value === 'string') return p.value;
  return JSON.stringify(p.value);
}

/** One message whole: its headers, its typed properties and its body as text, pretty JSON or hex. */
export function MessageView(props: { message: MessageDetail }): JSX.Element {
  const m = props.message;
  const text = bodyText(m);
  const json = jsonOf(m, text);
  const [view, setView] = useState<BodyView>(json !== undefined ? 'json' : text !== undefined ? 'text' : 'hex');
  const options: { value: BodyView; label: string }[] = [];
  if (json !== undefined) options.push({ value: 'json', label: 'JSON' });
  if (text !== undefined) options.push({ value: 'text', label: 'Text' });
  options.push({ value: 'hex', label: 'Hex' });

  const headers: [string, JSX.Element | string][] = [
    ['Message id', <span class="mono">{m.id}</span>],
    ['Sent', timestamp(m.timestamp)],
    ['Delivery', `${m.persistent ? 'persistent' : 'non-persistent'}, priority ${m.priority}`],
    ['Expires', m.expiration === 0 ? 'never' : timestamp(m.expiration)],
    ['Deliveries', `${m.deliveryCount}${m.redelivered ? ' (redelivered)' : ''}`],
  ];
  if (m.correlationId !== null) headers.push(['Correlation id', <span class="mono">{m.correlationId}</span>]);
  if (m.type !== null) headers.push(['Type', m.type]);
  if (m.groupId !== null) headers.push(['Group', m.groupId]);
  if (m.replyTo !== null) headers.push(['Reply to', <span class="mono">{m.replyTo}</span>]);
  if (m.originalDestination !== null) headers.push(['Dead-lettered from', <span class="mono">{m.originalDestination}</span>]);

  return (
    <div class="message-view">
      <div class="message-section">
        <h3>Headers</h3>
        <dl class="facts facts-tight">
          {headers.map(([k, v]) => (
            <>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </>
          ))}
        </dl>
      </div>
      <div class="message-section">
        <h3>Properties</h3>
        {m.properties.length === 0 ? (
          <p class="muted">No properties.</p>
        ) : (
          <table class="table table-compact">
            <thead>
              <tr>
                <th>Name</th>
                <th>Type</th>
                <th>Value</th>
              </tr>
            </thead>
            <tbody>
              {m.properties.map((p) => (
                <tr>
                  <td class="mono">{p.name}</td>
                  <td>
                    <Badge tone="blue">{p.type}</Badge>
                  </td>
                  <td class="mono wrap">{propertyValue(p)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
      <div class="message-section">
        <div class="section-head">
          <h3>
            Body <span class="muted">{bytes(m.bodyBytes)} · {m.bodyKind}</span>
          </h3>
          <Tabs value={view} onChange={setView} options={options} />
        </div>
        <pre class="body-view" data-view={view}>
          {view === 'json' ? JSON.stringify(json, null, 2) : view === 'text' ? text : hexDump(bodyBytes(m))}
        </pre>
      </div>
    </div>
  );
}
