import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Destination } from '../api.js';
import { Card, Empty, ErrorBanner, Link, PageHeader, Spinner } from '../components/ui.js';
import { useConsole } from '../context.js';
import { useLoad } from '../hooks.js';
import { count } from '../format.js';
import { MessageBrowser } from './message-browser.js';

/** The dead-letter queues side by side with the one chosen, whose messages can be retried. */
export function DeadLetters(): JSX.Element {
  const { api } = useConsole();
  const queues = useLoad(
    async (): Promise<Destination[]> => [...(await api.destinations({ kind: 'queue', deadLetter: true, sort: 'depth', order: 'desc', offset: 0, limit: 200 })).items],
    [],
    3000,
  );
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const list = queues.data ?? [];
  useEffect(() => {
    if (chosen === undefined && list.length > 0) setChosen(list[0]!.name);
  }, [list.length]);

  return (
    <div class="page">
      <PageHeader title="Dead letters" subtitle="Messages that could not be delivered or expired. Retry sends them back to where they came from." />
      <ErrorBanner error={queues.error} onRetry={queues.reload} />
      {queues.data === undefined ? (
        queues.error === undefined && (
          <div class="center">
            <Spinner />
          </div>
        )
      ) : list.length === 0 ? (
        <Card>
          <Empty title="No dead letters">Every message so far was delivered or is still waiting. A message that fails its redeliveries lands here.</Empty>
        </Card>
      ) : (
        <>
          <div class="pick-bar" role="tablist" aria-label="Dead-letter queues">
            <span class="pick-bar-label">Dead-letter queues</span>
            {list.map((d) => (
              <button type="button" role="tab" aria-selected={chosen === d.name} class={`pick${chosen === d.name ? ' active' : ''}`} onClick={() => setChosen(d.name)}>
                <span class="mono">{d.name}</span>
                <span class={`count-pill${d.depth > 0 ? ' hot' : ''}`}>{count(d.depth)}</span>
              </button>
            ))}
            <span class="spacer" />
            {chosen !== undefined && <Link href={`/queues/${encodeURIComponent(chosen)}`}>Open {chosen} as a queue →</Link>}
          </div>
          {chosen !== undefined && <MessageBrowser queue={chosen} deadLetter onChanged={queues.reload} key={chosen} />}
        </>
      )}
    </div>
  );
}
