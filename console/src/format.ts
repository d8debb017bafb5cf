// How numbers, sizes, times and bodies are shown, in one place so every page says them alike.

const integer = new Intl.NumberFormat('en-US');
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export function count(n: number): string {
  return integer.format(n);
}

/** 1234 -> 1.2k: for the cards, where a digit or two is all the eye takes in. */
export function compact(n: number): string {
  if (Math.abs(n) < 10_000) return decimal.format(n);
  if (Math.abs(n) < 1_000_000) return `${decimal.format(n / 1000)}k`;
  if (Math.abs(n) < 1_000_000_000) return `${decimal.format(n / 1_000_000)}M`;
  return `${decimal.format(n / 1_000_000_000)}G`;
}

export function rate(n: number): string {
  return `${n < 10 ? decimal.format(n) : compact(Math.round(n))}/s`;
}

export function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${decimal.format(n / 1024 ** 3)} GiB`;
  if (n >= 1024 ** 2) return `${decimal.format(n / 1024 ** 2)} MiB`;
  if (n >= 1024) return `${decimal.format(n / 1024)} KiB`;
  return `${n} B`;
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Local time, to the millisecond: messages sent in one burst differ only there. */
export function timestamp(ms: number | string): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ago(iso: string, now = Date.now()): string {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  return `${duration(Math.max(0, (now - t) / 1000))} ago`;
}

export function base64ToBytes(data: string): Uint8Array {
  const binary = atob(data);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function textToBytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The classic dump: offset, 16 bytes in hex, the same bytes as ASCII. */
export function hexDump(data: Uint8Array, limit = 64 * 1024): string {
  const lines: string[] = [];
  const end = Math.min(data.length, limit);
  for (let offset = 0; offset < end; offset += 16) {
    const row = data.subarray(offset, Math.min(offset + 16, end));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  ${ascii}`);
  }
  if (data.length > end) lines.push(`… ${count(data.length - end)} more bytes`);
  return lines.join('\n');
}

/** `queue://orders` -> ['queue', 'orders']; a bare name is a queue. */
export function parseAddress(address: string): { kind: 'queue' | 'topic'; name: string } {
  const m = /^(queue|topic):\/\/(.+)$/.exec(address.trim());
  if (m !== null) return { kind: m[1] as 'queue' | 'topic', name: m[2]! };
  return { kind: 'queue', name: address.trim() };
}
