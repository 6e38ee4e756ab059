// Byte trie as a double array: the child of node s by byte c is t = base[s] + c when check[t] === s.

/** @typedef {import('./model-proto.js').PieceTable} PieceTable */

export class ByteTrie {
  /** @param {PieceTable} table @param {number[]} ids the pieces to hold, distinct */
  constructor(table, ids) {
    const tree = new LinkedTrie(table, ids), da = new DoubleArrayBuilder();
    // breadth first: place each node's children, then theirs
    const queue = new Int32Array(tree.size), cellOf = new Int32Array(tree.size), labels = [];
    let tail = 1;
    da.value[0] = tree.value[0];
    for (let qi = 0; qi < tail; qi++) {
      const node = queue[qi];
      labels.length = 0;
      for (let k = tree.firstChild[node]; k > 0; k = tree.nextSibling[k]) labels.push(tree.label[k]);
      if (labels.length === 0) continue;
      const b = da.place(cellOf[qi], labels);
      for (let k = tree.firstChild[node]; k > 0; k = tree.nextSibling[k]) {
        queue[tail] = k;
        cellOf[tail++] = b + tree.label[k];
        da.value[b + tree.label[k]] = tree.value[k];
      }
    }
    da.grow(da.last + 257); // every base[s] + c lookup stays in bounds
    this.base = da.base;
    this.check = da.check;
    /** value (piece id) at each node, -1 where no key ends */
    this.value = da.value;
  }

  /** The longest key that is a prefix of bytes[pos..end): its length (0 = none). */
  longestPrefix(bytes, pos, end) {
    let node = 0, best = 0;
    for (let i = pos; i < end; i++) {
      const t = this.base[node] + bytes[i];
      if (this.check[t] !== node) break;
      node = t;
      if (this.value[node] >= 0) best = i - pos + 1;
    }
    return best;
  }
}

/**
 * A trie built by insertion: the input of the double-array layout. Children are linked lists
 * (to enumerate them) and an open-addressing hash of (node, byte) → child (to find them).
 */
class LinkedTrie {
  /** @param {PieceTable} table @param {number[]} ids */
  constructor({ pool, offsets }, ids) {
    const cap = offsets[offsets.length - 1] + 1;
    this.firstChild = new Int32Array(cap);
    this.nextSibling = new Int32Array(cap);
    this.label = new Uint8Array(cap);
    this.value = new Int32Array(cap).fill(-1);
    this.size = 1;
    let bits = 10;
    while (1 << bits < 2 * cap) bits++;
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.hashKey = new Int32Array(1 << bits).fill(-1);
    this.hashChild = new Int32Array(1 << bits);
    for (const id of ids) {
      let node = 0;
      for (let i = offsets[id]; i < offsets[id + 1] - 1; i++) node = this.#child(node, pool[i]);
      this.value[node] = id;
    }
  }

  #child(node, c) {
    const key = node * 256 + c;
    let h = Math.imul(key, 0x9e3779b1) >>> this.shift; // Fibonacci hashing: the top bits
    while (this.hashKey[h] !== -1) {
      if (this.hashKey[h] === key) return this.hashChild[h];
      h = (h + 1) & this.mask;
    }
    const k = this.size++;
    this.hashKey[h] = key;
    this.hashChild[h] = k;
    this.label[k] = c;
    this.nextSibling[k] = this.firstChild[node];
    this.firstChild[node] = k;
    return k;
  }
}

/** Cells of a double array being filled; free cells form a circular list through cell 0 (the root). */
class DoubleArrayBuilder {
  constructor() {
    this.cap = 0;
    this.base = new Int32Array(0);
    this.check = new Int32Array(0);
    this.value = new Int32Array(0);
    this.next = new Int32Array(0);
    this.prev = new Int32Array(0);
    this.last = 0;
    this.grow(1024);
    // the root, and cells 1…255 left unused so that every free cell p gives a base p - c ≥ 1
    this.check[0] = -2;
    for (let i = 1; i < 256; i++) this.#claim(i, -2);
  }

  grow(need) {
    if (need < this.cap) return;
    const old = this.cap;
    let cap = Math.max(old, 1024);
    while (cap <= need) cap *= 2;
    const widen = (a, fill) => { const b = new Int32Array(cap).fill(fill); b.set(a); return b; };
    this.base = widen(this.base, 0);
    this.check = widen(this.check, -1);
    this.value = widen(this.value, -1);
    this.next = widen(this.next, 0);
    this.prev = widen(this.prev, 0);
    const tail = old ? this.prev[0] : 0;
    for (let i = Math.max(old, 1); i < cap; i++) { this.prev[i] = i - 1; this.next[i] = i + 1; }
    this.prev[Math.max(old, 1)] = tail;
    this.next[tail] = Math.max(old, 1);
    this.next[cap - 1] = 0;
    this.prev[0] = cap - 1;
    this.cap = cap;
  }

  /** Picks a base for `node` with the cells of all its child `labels` free, and claims them. */
  place(node, labels) {
    const first = labels[0], n = labels.length;
    for (let p = this.next[0]; ; p = this.next[p]) {
      if (p + 257 > this.cap) this.grow(p + 257);
      const b = p - first, check = this.check;
      let j = 1;
      while (j < n && check[b + labels[j]] === -1) j++;
      if (j < n) continue;
      this.base[node] = b;
      for (const c of labels) this.#claim(b + c, node);
      return b;
    }
  }

  #claim(cell, parent) {
    this.check[cell] = parent;
    this.next[this.prev[cell]] = this.next[cell];
    this.prev[this.next[cell]] = this.prev[cell];
    this.last = Math.max(this.last, cell);
  }
}
