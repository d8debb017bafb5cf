import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, type Destination, type Kind } from '../api.js';
import { VirtualRows } from '../components/virtual-rows.js';
import { Badge, Button, Card, Dialog, Empty, ErrorBanner, Field, PageHeader, Tabs } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useDebounced } from '../hooks.js';
import { count } from '../format.js';
import { linkClick, navigate } from '../router.js';

const BLOCK = 100;
const ROW_HEIGHT = 40;
const REFRESH_MS = 3000;

interface Column {
  readonly key: keyof Destination;
  readonly label: string;
  readonly numeric?: boolean;
}

const QUEUE_COLUMNS: readonly Column[] = [
  { key: 'name', label: 'Name' },
  { key: 'depth', label: 'Waiting', numeric: true },
  { key: 'inFlight', label: 'In flight', numeric: true },
  { key: 'enqueued', label: 'Enqueued', numeric: true },
  { key: 'dequeued', label: 'Dequeued', numeric: true },
  { key: 'deadLettered', label: 'To DLQ', numeric: true },
  { key: 'consumers', label: 'Consumers', numeric: true },
  { key: 'producers', label: 'Producers', numeric: true },
];

const TOPIC_COLUMNS: readonly Column[] = [
  { key: 'name', label: 'Name' },
  { key: 'enqueued', label: 'Published', numeric: true },
  { key: 'dequeued', label: 'Delivered', numeric: true },
  { key: 'consumers', label: 'Subscribers', numeric: true },
  { key: 'producers', label: 'Producers', numeric: true },
];

/** A plain word filters by "contains"; a pattern with * or ? is passed as it is. */
function globOf(text: string): string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  return /[*?]/.test(t) ? t : `*${t}*`;
}

export function Destinations(props: { query: URLSearchParams }): JSX.Element {
  const { api, me, notify } = useConsole();
  const kind: Kind = props.query.get('kind') === 'topic' ? 'topic' : 'queue';
  const [filterText, setFilterText] = useState(props.query.get('filter') ?? '');
  const filter = useDebounced(filterText, 250);
  const [sort, setSort] = useState<{ key: keyof Destination; order: 'asc' | 'desc' }>({ key: 'name', order: 'asc' });
  const [total, setTotal] = useState<number | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [creating, setCreating] = useState(false);
  const [, setVersion] = useState(0);

  const queryKey = `${kind}|${filter}|${sort.key}|${sort.order}`;
  const blocks = useRef(new Map<number, readonly Destination[]>());
  const loading = useRef(new Set<number>());
  const range = useRef<[number, number]>([0, 0]);
  const currentKey = useRef(queryKey);

  const columns = kind === 'queue' ? QUEUE_COLUMNS : TOPIC_COLUMNS;

  const loadBlock = async (block: number, key: string): Promise<void> => {
    if (loading.current.has(block)) return;
    loading.current.add(block);
    try {
      const glob = globOf(filter);
      const page = await api.destinations({ kind, ...(glob === undefined ? {} : { filter: glob }), sort: sort.key, order: sort.order, offset: block * BLOCK, limit: BLOCK });
      if (currentKey.current !== key) return;
      blocks.current.set(block, page.items);
      setTotal(page.total);
      setError(undefined);
      setVersion((v) => v + 1);
    } catch (err) {
      if (currentKey.current === key) setError(errorText(err));
    } finally {
      loading.current.delete(block);
    }
  };

  const visibleBlocks = (): number[] => {
    const [start, end] = range.current;
    const out: number[] = [];
    for (let b = Math.floor(start / BLOCK); b <= Math.floor(Math.max(start, end - 1) / BLOCK); b++) out.push(b);
    return out;
  };

  // a new query starts from an empty cache and the top of the list
  useEffect(() => {
    currentKey.current = queryKey;
    blocks.current = new Map();
    loading.current = new Set();
    setTotal(undefined);
    void loadBlock(0, queryKey);
    const timer = setInterval(() => {
      if (document.hidden) return;
      for (const b of visibleBlocks()) void loadBlock(b, queryKey);
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [queryKey]);

  const onRange = (start: number, end: number): void => {
    range.current = [start, end];
    for (const b of visibleBlocks()) if (!blocks.current.has(b)) void loadBlock(b, currentKey.current);
  };

  const rowOf = (i: number): Destination | undefined => blocks.current.get(Math.floor(i / BLOCK))?.[i % BLOCK];

  const setKind = (k: Kind): void => navigate(`/destinations${k === 'topic' ? '?kind=topic' : ''}`, true);
  const sortBy = (key: keyof Destination): void =>
    setSort((s) => (s.key === key ? { key, order: s.order === 'asc' ? 'desc' : 'asc' } : { key, order: key === 'name' ? 'asc' : 'desc' }));

  const href = (d: Destination): string => `/${d.kind === 'queue' ? 'queues' : 'topics'}/${encodeURIComponent(d.name)}`;
  const template = kind === 'queue' ? 'dest-grid-queue' : 'dest-grid-topic';

  return (
    <div class="page page-fill">
      <PageHeader title="Destinations" subtitle="Queues and topics on this broker, sorted and filtered by the broker.">
        {me.manage && (
          <Button variant="primary" onClick={() => setCreating(true)}>
            New {kind}
          </Button>
        )}
      </PageHeader>
      <Card class="card-fill">
        <div class="toolbar">
          <Tabs
            value={kind}
            onChange={setKind}
            options={[
              { value: 'queue', label: 'Queues' },
              { value: 'topic', label: 'Topics' },
            ]}
          />
          <input class="search" type="search" placeholder="Filter by name (* and ? as wildcards)" aria-label="Filter by name" value={filterText} onInput={(e) => setFilterText(e.currentTarget.value)} />
          <span class="muted count">{total === undefined ? '' : `${count(total)} ${kind}${total === 1 ? '' : 's'}`}</span>
        </div>
        <ErrorBanner error={error} onRetry={() => void loadBlock(0, queryKey)} />
        <div class="vtable" role="table" aria-label={`${kind}s`} aria-rowcount={(total ?? 0) + 1}>
          <div class={`vhead ${template}`} role="row">
            {columns.map((c) => (
              <div role="columnheader" class="th-cell" aria-sort={sort.key === c.key ? (sort.order === 'asc' ? 'ascending' : 'descending') : 'none'}>
                <button type="button" class={`th${c.numeric === true ? ' num' : ''}${sort.key === c.key ? ' sorted' : ''}`} onClick={() => sortBy(c.key)}>
                  {c.label}
                  <span class="sort-mark" aria-hidden="true">
                    {sort.key === c.key ? (sort.order === 'asc' ? '▲' : '▼') : ''}
                  </span>
                </button>
              </div>
            ))}
          </div>
          {total === 0 ? (
            <Empty title={filter === '' ? `No ${kind}s yet` : `No ${kind} matches “${filter}”`}>
              {filter === '' ? `A ${kind} appears when a client first uses it${me.manage ? ', or create one here' : ''}.` : 'Try a shorter name or a wildcard.'}
            </Empty>
          ) : (
            <VirtualRows
              count={total ?? 0}
              rowHeight={ROW_HEIGHT}
              resetKey={queryKey}
              onRange={onRange}
              renderRow={(i) => {
                const d = rowOf(i);
                if (d === undefined) {
                  return (
                    <div class={`vcells ${template} placeholder`}>
                      <span class="skeleton" />
                    </div>
                  );
                }
                return (
                  <a class={`vcells ${template}`} href={href(d)} onClick={(e) => linkClick(e, href(d))}>
                    {columns.map((c) =>
                      c.key === 'name' ? (
                        <span role="cell" class="cell-name" title={d.name}>
                          {d.name}
                          {d.paused && <Badge tone="amber">paused</Badge>}
                          {d.loading && <Badge tone="amber">loading</Badge>}
                          {d.temporary && <Badge>temporary</Badge>}
                        </span>
                      ) : (
                        <span role="cell" class={`num${c.key === 'depth' && d.depth > 0 ? ' strong' : ''}`}>
                          {count(d[c.key] as number)}
                        </span>
                      ),
                    )}
                  </a>
                );
              }}
            />
          )}
        </div>
      </Card>
      {creating && <CreateDialog kind={kind} onClose={() => setCreating(false)} onCreated={(d) => {
        notify(`${d.kind === 'queue' ? 'Queue' : 'Topic'} ${d.name} created`);
        navigate(href(d));
      }} />}
    </div>
  );
}

function CreateDialog(props: { kind: Kind; onClose: () => void; onCreated: (d: Destination) => void }): JSX.Element {
  const { api } = useConsole();
  const [name, setName] = useState('');
  return (
    <Dialog
      title={`New ${props.kind}`}
      confirm={`Create ${props.kind}`}
      onClose={props.onClose}
      onConfirm={async () => {
        const d = await api.createDestination(props.kind, name.trim());
        props.onCreated(d);
      }}
    >
      <Field label="Name" hint="Dotted names group well: orders.eu.paid">
        <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} required placeholder="orders.incoming" />
      </Field>
    </Dialog>
  );
}
