import { grown } from '../typed-columns.js';

/**
 * The journal's live records, one row per record in typed-array columns and found by id through an
 * open-addressing index of row numbers. A million waiting messages are two million live records;
 * as an object and a map entry each they were most of what the collector traced while recovery
 * ran, and most of the time recovery spent. Typed arrays hold no pointers, so they cost the
 * collector nothing.
 *
 * A row number is valid until the row is removed; `generation` tells a row that was removed and
 * reused since it was looked up from the one looked up. While `appendOnly` is set (recovery) removed
 * rows are not reused, so rows keep the order in which their ids were first added.
 */
export class RecordTable {
  /** Rows in use, live or removed (the next row appended gets this number). */
  high = 0;
  size = 0;
  appendOnly = false;
  /** While append-only: removed rows may be squeezed out when the columns fill (no one holds a row number meanwhile). */
  squeezable = false;
  /** Told of each row `squeeze` moves, so that what is kept beside the table by row moves with it. */
  moved: ((from: number, to: number) => void) | undefined = undefined;

  ids = new Float64Array(0);
  types = new Int32Array(0);
  /** Segment and file offset of the record's current data, and its length (a frame is shorter than a Buffer can be, under 4 GiB). */
  segs = new Int32Array(0);
  positions = new Float64Array(0);
  lengths = new Uint32Array(0);
  /** The add frame that creates the record on replay (segment and bytes), and its commit frame's segment (-1 if not transactional). */
  anchorSegs = new Int32Array(0);
  anchorBytes = new Uint32Array(0);
  anchorCommits = new Int32Array(0);
  /** The frame of its latest update (-1 if none), its bytes, and that update's commit frame's segment (-1 if not transactional). */
  latestSegs = new Int32Array(0);
  latestBytes = new Uint32Array(0);
  latestCommits = new Int32Array(0);
  /** Bumped each time a row is (re)used. */
  generations = new Uint32Array(0);
  /** 1 for a live row. */
  private live = new Uint8Array(0);
  private free: number[] = [];
  /** Row number + 1 per bucket (0: empty), linear probing. */
  private buckets = new Int32Array(1024);
  private mask = 1023;
  private shift = 22;

  /** The row of live record `id`, or -1. */
  rowOf(id: number): number {
    const { buckets, mask, ids } = this;
    for (let b = this.home(id); ; b = (b + 1) & mask) {
      const entry = buckets[b]!;
      if (entry === 0) return -1;
      if (ids[entry - 1] === id) return entry - 1;
    }
  }

  has(id: number): boolean {
    return this.rowOf(id) >= 0;
  }

  isLive(row: number): boolean {
    return row < this.high && this.live[row] === 1;
  }

  /** A new row for `id`, which must not be live; its columns are the caller's to fill. */
  insert(id: number): number {
    let row: number;
    if (!this.appendOnly && this.free.length > 0) row = this.free.pop()!;
    else {
      if (this.high === this.ids.length) this.makeRoom();
      row = this.high++;
    }
    this.ids[row] = id;
    this.live[row] = 1;
    this.generations[row] = (this.generations[row]! + 1) >>> 0;
    this.size++;
    if ((this.size << 1) > this.buckets.length) this.rebuildIndex(this.buckets.length << 1);
    else this.index(id, row);
    return row;
  }

  remove(row: number): void {
    const id = this.ids[row]!;
    this.live[row] = 0;
    this.size--;
    if (!this.appendOnly) this.free.push(row);
    // backward-shift deletion: entries after the hole that would no longer be found move into it
    const { buckets, mask, ids } = this;
    let hole = this.home(id);
    while (buckets[hole] !== row + 1) hole = (hole + 1) & mask;
    for (let b = (hole + 1) & mask; ; b = (b + 1) & mask) {
      const entry = buckets[b]!;
      if (entry === 0) break;
      const home = this.home(ids[entry - 1]!);
      // the entry may move into the hole only if its home is not between the hole and it (cyclically)
      if (hole <= b ? home > hole && home <= b : home > hole || home <= b) continue;
      buckets[hole] = entry;
      hole = b;
    }
    buckets[hole] = 0;
  }

  /** Ends append-only use: removed rows are reused from now on. */
  reuseRemoved(): void {
    this.appendOnly = false;
    this.squeezable = false;
    this.free = [];
    for (let row = this.high - 1; row >= 0; row--) if (this.live[row] === 0) this.free.push(row);
  }

  /** Live rows, in row order; safe while rows are added and removed (a row added meanwhile may or may not be seen). */
  *rows(): Generator<number> {
    for (let row = 0; row < this.high; row++) if (this.live[row] === 1) yield row;
  }

  private home(id: number): number {
    // Fibonacci hashing of both halves: ids are sequential, and a plain mask would pile ids one
    // table size apart (an old record and a new one) into one run
    return Math.imul((id | 0) ^ Math.imul((id / 0x100000000) | 0, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
  }

  private index(id: number, row: number): void {
    const { buckets, mask } = this;
    let b = this.home(id);
    while (buckets[b] !== 0) b = (b + 1) & mask;
    buckets[b] = row + 1;
  }

  private rebuildIndex(capacity: number): void {
    this.buckets = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.shift = 32 - Math.log2(capacity);
    for (let row = 0; row < this.high; row++) if (this.live[row] === 1) this.index(this.ids[row]!, row);
  }

  /** Columns are full: squeeze out removed rows when they are half of them (keeping row order), else grow. */
  private makeRoom(): void {
    const rows = this.ids.length;
    if (this.appendOnly && this.squeezable && rows >= 1024 && this.size <= rows >> 1) {
      this.squeeze();
      return;
    }
    const capacity = Math.max(1024, rows * 2);
    this.ids = grown(this.ids, capacity);
    this.types = grown(this.types, capacity);
    this.segs = grown(this.segs, capacity);
    this.positions = grown(this.positions, capacity);
    this.lengths = grown(this.lengths, capacity);
    this.anchorSegs = grown(this.anchorSegs, capacity);
    this.anchorBytes = grown(this.anchorBytes, capacity);
    this.anchorCommits = grown(this.anchorCommits, capacity);
    this.latestSegs = grown(this.latestSegs, capacity);
    this.latestBytes = grown(this.latestBytes, capacity);
    this.latestCommits = grown(this.latestCommits, capacity);
    this.generations = grown(this.generations, capacity);
    this.live = grown(this.live, capacity);
  }

  /** Moves live rows down over removed ones, in order, and reindexes. Callers holding row numbers must not be mid-flight (recovery only). */
  private squeeze(): void {
    let to = 0;
    for (let from = 0; from < this.high; from++) {
      if (this.live[from] === 0) continue;
      if (from !== to) {
        this.ids[to] = this.ids[from]!;
        this.types[to] = this.types[from]!;
        this.segs[to] = this.segs[from]!;
        this.positions[to] = this.positions[from]!;
        this.lengths[to] = this.lengths[from]!;
        this.anchorSegs[to] = this.anchorSegs[from]!;
        this.anchorBytes[to] = this.anchorBytes[from]!;
        this.anchorCommits[to] = this.anchorCommits[from]!;
        this.latestSegs[to] = this.latestSegs[from]!;
        this.latestBytes[to] = this.latestBytes[from]!;
        this.latestCommits[to] = this.latestCommits[from]!;
        this.generations[to] = this.generations[from]!;
        this.live[to] = 1;
        this.moved?.(from, to);
      }
      to++;
    }
    this.live.fill(0, to, this.high);
    this.high = to;
    this.rebuildIndex(this.buckets.length);
  }
}
