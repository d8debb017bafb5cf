/**
 * AMQP 0-9-1 topic binding keys: `.`-separated words where `*` is exactly one word and `#` zero or
 * more, anywhere in the key. Kept in a trie so a publish walks the words of its key once per
 * matching path, never a regular expression built from what a client sent. A walk remembers the
 * (node, position) pairs it has been at, so keys with many `#` cost at most nodes × words steps.
 */
class TrieNode<T> {
  readonly id: number;
  /** Reached by a `#`: it may take one more word and stay here. */
  readonly isHash: boolean;
  readonly words = new Map<string, TrieNode<T>>();
  star: TrieNode<T> | undefined;
  hash: TrieNode<T> | undefined;
  readonly values = new Set<T>();

  constructor(id: number, isHash = false) {
    this.id = id;
    this.isHash = isHash;
  }

  get empty(): boolean {
    return this.values.size === 0 && this.words.size === 0 && this.star === undefined && this.hash === undefined;
  }
}

export class TopicTrie<T> {
  private nextId = 1;
  private readonly root = new TrieNode<T>(0);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(pattern: string, value: T): void {
    let node = this.root;
    for (const word of pattern.split('.')) node = this.child(node, word);
    if (!node.values.has(value)) this.count++;
    node.values.add(value);
  }

  remove(pattern: string, value: T): void {
    const path: [TrieNode<T>, string][] = [];
    let node: TrieNode<T> | undefined = this.root;
    for (const word of pattern.split('.')) {
      const next: TrieNode<T> | undefined = word === '*' ? node.star : word === '#' ? node.hash : node.words.get(word);
      if (next === undefined) return;
      path.push([node, word]);
      node = next;
    }
    if (!node.values.delete(value)) return;
    this.count--;
    // prune the branch it leaves empty
    for (let i = path.length - 1; i >= 0 && node.empty; i--) {
      const [parent, word] = path[i]!;
      if (word === '*') parent.star = undefined;
      else if (word === '#') parent.hash = undefined;
      else parent.words.delete(word);
      node = parent;
    }
  }

  /** Calls `visit` for every value whose pattern matches `key` (a value under several matching patterns may come more than once). */
  match(key: string, visit: (value: T) => void): void {
    if (this.count === 0) return;
    const words = key.split('.');
    const seen = new Set<number>();
    const walk = (node: TrieNode<T>, i: number): void => {
      const mark = node.id * (words.length + 1) + i;
      if (seen.has(mark)) return;
      seen.add(mark);
      // `#` takes zero words on the way in, then one more word at a time without leaving its node
      if (node.isHash && i < words.length) walk(node, i + 1);
      if (node.hash !== undefined) walk(node.hash, i);
      if (i === words.length) {
        for (const value of node.values) visit(value);
        return;
      }
      const word = words[i]!;
      const exact = node.words.get(word);
      if (exact !== undefined) walk(exact, i + 1);
      if (node.star !== undefined) walk(node.star, i + 1);
    };
    walk(this.root, 0);
  }

  private child(node: TrieNode<T>, word: string): TrieNode<T> {
    if (word === '*') return (node.star ??= new TrieNode<T>(this.nextId++));
    if (word === '#') return (node.hash ??= new TrieNode<T>(this.nextId++, true));
    let next = node.words.get(word);
    if (next === undefined) node.words.set(word, (next = new TrieNode<T>(this.nextId++)));
    return next;
  }
}
