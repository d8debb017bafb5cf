import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A scrolling list that renders only the rows in view (plus a few either side), whatever the
 * number of rows: the DOM holds a few dozen rows for ten thousand queues. Tells its owner which
 * rows are in view (`onRange`) so it can fetch just those from the server.
 */
export function VirtualRows(props: {
  count: number;
  rowHeight: number;
  /** Resets the scroll position when it changes (a new filter or sort). */
  resetKey: string;
  onRange: (start: number, end: number) => void;
  renderRow: (index: number) => ComponentChildren;
  class?: string;
}): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const overscan = 8;

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const observer = new ResizeObserver((entries) => setViewport(entries[0]?.contentRect.height ?? 600));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (box.current !== null) box.current.scrollTop = 0;
    setScrollTop(0);
  }, [props.resetKey]);

  const start = Math.max(0, Math.floor(scrollTop / props.rowHeight) - overscan);
  const end = Math.min(props.count, Math.ceil((scrollTop + viewport) / props.rowHeight) + overscan);

  useEffect(() => {
    props.onRange(start, end);
  }, [start, end, props.count, props.resetKey]);

  const rows: ComponentChildren[] = [];
  for (let i = start; i < end; i++) {
    rows.push(
      <div class="vrow" role="row" aria-rowindex={i + 2} key={i} style={{ transform: `translateY(${i * props.rowHeight}px)`, height: `${props.rowHeight}px` }}>
        {props.renderRow(i)}
      </div>,
    );
  }
  return (
    <div class={`vscroll ${props.class ?? ''}`} ref={box} onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)} role="rowgroup">
      <div class="vspace" style={{ height: `${props.count * props.rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
