// The reproducible content of the peer scripts and of tests/data's vectors: the first n bytes of
//   blake2b512(seed || u64_le(0)) || blake2b512(seed || u64_le(1)) || ...
// with seed a UTF-8 string (tests/conftest.py `seeded_bytes` in Python).

import { createHash } from 'node:crypto';

export function seededBytes(seed, n) {
	const out = new Uint8Array(n);
	const base = createHash('blake2b512').update(Buffer.from(seed, 'utf8'));
	const ctr = Buffer.alloc(8);
	for (let i = 0, off = 0; off < n; i++, off += 64) {
		ctr.writeBigUInt64LE(BigInt(i));
		const d = base.copy().update(ctr).digest();
		out.set(off + 64 <= n ? d : d.subarray(0, n - off), off);
	}
	return out;
}
