/**
 * The wasm backend's arena: bump allocation off the top, released blocks handed out again (first fit, merged with
 * their neighbours, zeroed), the top lowered when its last block goes, and a high-water mark that only moves when the
 * memory must hold more at once.
 */
import { describe, expect, it } from "vitest";
import { Arena } from "../../packages/tensor/src/wasm/arena.js";

describe("wasm arena", () => {
  it("reuses released blocks (zeroed) before growing, and its high-water mark stays", () => {
    const arena = new Arena();
    const a = arena.alloc(1024), b = arena.alloc(1024), c = arena.alloc(1024);
    expect([b - a, c - b]).toEqual([1024, 1024]);
    const high = arena.highWater, used = arena.used;
    arena.u8.fill(7, b, b + 1024);
    arena.release(b, 1024);
    expect(arena.used).toBe(used - 1024);
    const d = arena.alloc(512);
    expect(d).toBe(b);                                       // first fit: the hole b left
    expect(arena.u8.subarray(d, d + 512).every((v) => v === 0)).toBe(true);
    const e = arena.alloc(512);
    expect(e).toBe(b + 512);                                 // the rest of the hole
    expect(arena.highWater).toBe(high);
    expect(arena.used).toBe(used);
  });

  it("merges neighbouring holes, lowers the top when the last block goes, and grows only past the high-water mark", () => {
    const arena = new Arena();
    const a = arena.alloc(4096), b = arena.alloc(4096), c = arena.alloc(4096);
    const high = arena.highWater;
    arena.release(a, 4096);
    arena.release(b, 4096);                                  // merged with a's hole: 8 KiB from a
    expect(arena.alloc(8192)).toBe(a);
    arena.release(a, 8192);
    arena.release(c, 4096);                                  // the top block: the top falls back to a
    expect(arena.used).toBe(a);
    arena.u8.fill(9, a, a + 12288);
    const big = arena.alloc(16384);                          // off the lowered top, zeroed where it was used before
    expect(big).toBe(a);
    expect(arena.u8.subarray(big, big + 16384).every((v) => v === 0)).toBe(true);
    expect(arena.highWater).toBe(a + 16384);
    expect(arena.highWater).toBeGreaterThan(high);
  });

  it("refuses more than 4 GiB with a RangeError", () => {
    const arena = new Arena();
    expect(() => arena.alloc(2 ** 32)).toThrow(RangeError);
  });
});
